//! Everything `#[percpu]` expansions touch. Not public API: reached only as
//! `percpu_rt::__private_<version>::…` (see `build.rs`), so a macro/runtime version mismatch
//! fails to compile.

use core::cell::UnsafeCell;

pub use crate::registry::{DebugFn, Descriptor, InitFn};
pub use crate::scalar::Raw;
pub use linkme;

#[cfg(target_arch = "x86_64")]
pub use crate::arch::x86_64::{GsOps, gs128};

/// What a slot must provide on this architecture: the generated `gs:` operations on x86_64,
/// nothing on aarch64 (its operations go through the per-CPU pointer).
#[cfg(target_arch = "x86_64")]
pub use crate::arch::x86_64::GsOps as SlotOps;
/// What a slot must provide on this architecture: the generated `gs:` operations on x86_64,
/// nothing on aarch64 (its operations go through the per-CPU pointer).
#[cfg(not(target_arch = "x86_64"))]
pub trait SlotOps {}
#[cfg(not(target_arch = "x86_64"))]
impl<X: ?Sized> SlotOps for X {}

/// Where the copies of a per-CPU `T` are.
///
/// # Safety
///
/// `per_cpu_ptr` is the per-CPU pointer of a live per-CPU area of type `T` (for a static, its
/// template in `.percpu`): adding a possible CPU's offset gives that CPU's initialised copy. On
/// x86_64 the `GsOps` functions, called with `gs_operand()`, access exactly the current CPU's
/// copy.
pub unsafe trait Slot<T>: SlotOps {
    /// The per-CPU pointer (template address space).
    fn per_cpu_ptr(&self) -> *mut T;
    /// The register operand of the `gs:` operations (dynamic slots: the per-CPU pointer).
    #[inline(always)]
    fn gs_operand(&self) -> usize {
        0
    }
    /// Called before every current-CPU access. A static's copies are always reachable (with
    /// the base register still 0, the access reaches the template), so the default does
    /// nothing; a dynamic slot panics when the calling code runs where no unit is loaded, since
    /// its per-CPU pointer plus 0 is not memory it owns.
    #[inline(always)]
    #[track_caller]
    fn check_current(&self) {}
}

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
/// counted. Each CPU's copy starts from this value instead (ARCHITECTURE.md, invariant 6): the
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

/// `ScalarProbe::<T>::IS_SCALAR` is `true` for `T: Scalar` (inherent constant) and `false`
/// otherwise (the [`NotScalar`] fallback, in scope at the use site): the macro picks the access
/// mode from the compiler's answer, never from the text of the type.
pub struct ScalarProbe<T: ?Sized>(core::marker::PhantomData<T>);

impl<T: ?Sized> core::fmt::Debug for ScalarProbe<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ScalarProbe")
    }
}

impl<T: crate::Scalar> ScalarProbe<T> {
    /// `T` is a scalar.
    pub const IS_SCALAR: bool = true;
}

/// The fallback of [`ScalarProbe`].
pub trait NotScalar {
    /// Not a scalar.
    const IS_SCALAR: bool = false;
}
impl<T: ?Sized> NotScalar for ScalarProbe<T> {}

/// Turns the probe's answer into a mode type.
#[derive(Debug)]
pub struct ModeSelect<const SCALAR: bool>;

/// The mode type for a probe answer.
pub trait PickMode {
    /// `ByValue` for scalars, `Shared` otherwise.
    type Mode: crate::mode::Mode;
}
impl PickMode for ModeSelect<true> {
    type Mode = crate::mode::ByValue;
}
impl PickMode for ModeSelect<false> {
    type Mode = crate::mode::Shared;
}

/// `DebugProbe::<T>::FORMAT` is a formatter for `T: Debug`, `None` otherwise.
pub struct DebugProbe<T: ?Sized>(core::marker::PhantomData<T>);

impl<T: ?Sized> core::fmt::Debug for DebugProbe<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DebugProbe")
    }
}

impl<T: core::fmt::Debug> DebugProbe<T> {
    /// Formats a `T` behind a type-erased pointer.
    pub const FORMAT: Option<DebugFn> = Some(format_debug::<T>);
}

/// The fallback of [`DebugProbe`].
pub trait NotDebug {
    /// No formatter.
    const FORMAT: Option<DebugFn> = None;
}
impl<T: ?Sized> NotDebug for DebugProbe<T> {}

/// # Safety
/// `p` points to a valid `T` that nobody mutates during the call.
unsafe fn format_debug<T: core::fmt::Debug>(
    p: *const u8,
    f: &mut core::fmt::Formatter<'_>,
) -> core::fmt::Result {
    // SAFETY: forwarded from the caller.
    core::fmt::Debug::fmt(unsafe { &*p.cast::<T>() }, f)
}

/// The registry of every `#[percpu]` static in the program.
#[linkme::distributed_slice]
pub static PERCPU_REGISTRY: [Descriptor];

/// The x86_64 `gs:` operations of a static's slot, addressing its template symbol
/// position-independently: `op gs:[rip + SYM]`.
#[cfg(not(percpu_x86_absolute))]
#[macro_export]
#[doc(hidden)]
macro_rules! __percpu_static_ops {
    ($marker:ty, $template:ident) => {
        #[cfg(target_arch = "x86_64")]
        $crate::__percpu_gs_ops!($marker, _p, "[rip + {m}]", m = sym $template);
    };
}

/// The x86_64 `gs:` operations of a static's slot, addressing its template symbol absolutely:
/// `op gs:[SYM]` (`--cfg percpu_x86_absolute`, for non-PIE kernels: still one instruction, and
/// one the CPU can rename through when it has an immediate operand, e.g. `inc`).
#[cfg(percpu_x86_absolute)]
#[macro_export]
#[doc(hidden)]
macro_rules! __percpu_static_ops {
    ($marker:ty, $template:ident) => {
        #[cfg(target_arch = "x86_64")]
        $crate::__percpu_gs_ops!($marker, _p, "[{m}]", m = sym $template);
    };
}
pub use crate::__percpu_static_ops as static_ops;
