//! The storage a `#[percpu]` static is made of: its [`Template`] in `.percpu` (the copy code
//! without a unit reaches, and what the linker lays out) and its [`InitialValue`] apart from it
//! (what every CPU's copy starts as). Reached by generated code through `private`.

use core::cell::UnsafeCell;

/// The template of one `#[percpu]` static: its initial value, in `.percpu`.
///
/// Interior mutability because before setup (base register 0) the boot CPU's accesses reach the
/// template itself, and the setup copies it into every unit.
#[repr(transparent)]
pub struct Template<T>(UnsafeCell<T>);

// SAFETY: the template is only accessed through its handle, whose access modes make concurrent
// access sound (see `crate::mode`).
unsafe impl<T> Sync for Template<T> {}

impl<T> core::fmt::Debug for Template<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Template").field(&self.get()).finish()
    }
}

impl<T> Template<T> {
    /// The template holding `value`.
    pub const fn new(value: T) -> Self {
        Template(UnsafeCell::new(value))
    }

    /// Its address.
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// The declared initial value of one `#[percpu]` static, kept apart from its template.
///
/// Before setup the boot CPU's accesses reach the template itself, so by the time the units
/// are filled the template may hold anything: a `Vec` that owns a heap buffer, a counter that
/// counted. Each CPU's copy starts from this value instead (docs/architecture.md, invariant 6): the
/// same const-evaluated bytes the template started with, copied as each use of a `const` copies
/// its value, so ownership is never duplicated. Nothing but the setup ever reads it, and
/// nothing writes it (interior mutability only keeps it out of read-only memory, so that an
/// all-zero value costs no file space).
#[repr(transparent)]
pub struct InitialValue<T>(UnsafeCell<T>);

// SAFETY: never accessed as a `T`: the setup copies its bytes, and nothing writes it.
unsafe impl<T> Sync for InitialValue<T> {}

impl<T> core::fmt::Debug for InitialValue<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("InitialValue")
    }
}

impl<T> InitialValue<T> {
    /// The initial value `value`.
    pub const fn new(value: T) -> Self {
        InitialValue(UnsafeCell::new(value))
    }

    /// Its bytes.
    pub const fn as_ptr(&self) -> *const u8 {
        self.0.get().cast_const().cast()
    }
}

/// Compile-time checks on a per-CPU type (spanned at the user's type by the macro).
pub const fn assert_per_cpu_type<T>() {
    assert!(
        core::mem::size_of::<T>() != 0,
        "a #[percpu] static cannot have a zero-sized type: there is nothing to keep per CPU"
    );
}

/// `width`, after checking at compile time that it is the size of `T`: the static operations of
/// a type written as a primitive use this width, and a name that shadows a primitive type must
/// not mislead them.
pub const fn checked_width<T>(width: usize) -> usize {
    assert!(
        core::mem::size_of::<T>() == width,
        "a #[percpu] static's type is named like a primitive type but has another size"
    );
    width
}

/// A template aligned to a cache line (64 bytes) and padded to whole lines: the
/// `shared_aligned` class, for data other CPUs touch, kept off its neighbours' lines.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct LineAligned<T>(pub T);

/// A template aligned to a 4 KiB page and padded to whole pages: the `page_aligned` class.
#[repr(C, align(4096))]
#[derive(Debug)]
pub struct PageAligned<T>(pub T);

// The alignments the linker fragment, the boot dump and inspect count with.
const _: () = assert!(core::mem::align_of::<LineAligned<u8>>() == crate::linker::CACHE_LINE);
const _: () = assert!(core::mem::align_of::<PageAligned<u8>>() == crate::linker::PAGE_ALIGNED);
