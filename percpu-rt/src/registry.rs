//! The registry: one [`Descriptor`] per `#[percpu]` static in the program, in any crate,
//! collected at link time: each expansion places its descriptor in the `.percpu_registry`
//! section, which the linker fragment keeps and bounds with its own symbols, so the registry
//! is the array between them.

use crate::cpu::CpuNotPossible;
use crate::cpu_id::CpuId;
use crate::storage::{InitialValue, Template};
use core::fmt;

/// Formats a value behind a type-erased pointer (see [`Descriptor::debug_on`]).
pub type DebugFn = unsafe fn(*const u8, &mut fmt::Formatter<'_>) -> fmt::Result;

/// Writes a CPU's initial value into its copy (see `#[percpu(init = ..)]`).
pub type InitFn = unsafe fn(*mut u8, CpuId);

/// What the runtime knows of one `#[percpu]` static.
///
/// The layout is `#[repr(C)]` and stable within a minor version, so that offline tools
/// (`percpu-build inspect`) can read the registry out of a linked ELF file: on a 64-bit target,
/// `name` (pointer, length) at 0, `module_path` at 16, `declared_type` at 32, `type_name` at 48,
/// `size` at 56, `align` at 64, `template` at 72, `debug` at 80, `init` at 88, `initial` at 96,
/// `class` (one byte, [`Class`] as `u8`) at 104; 112 bytes.
#[repr(C)]
pub struct Descriptor {
    name: &'static str,
    module_path: &'static str,
    declared_type: &'static str,
    type_name: fn() -> &'static str,
    size: usize,
    align: usize,
    template: *const u8,
    debug: Option<DebugFn>,
    init: Option<InitFn>,
    initial: *const u8,
    class: Class,
}

/// Where in the template a static is placed: its `#[percpu(..)]` placement class. The linker
/// fragment lays the classes out in this order (the order of the values), each in its own
/// subsection of `.percpu`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// `#[percpu(hot)]`: the first cache lines of every unit (`.percpu.hot`), within the budget
    /// `hot_lines` of percpu.toml (Linux's `DEFINE_PER_CPU_CACHE_HOT`).
    Hot = 0,
    /// No class (`.percpu`).
    Default = 1,
    /// `#[percpu(read_mostly)]`: read far more often than written, kept together
    /// (`.percpu.read_mostly`; Linux's `DEFINE_PER_CPU_READ_MOSTLY`).
    ReadMostly = 2,
    /// `#[percpu(shared_aligned)]`: cache-line aligned and padded, for data other CPUs touch
    /// (`.percpu.shared_aligned`; Linux's `DEFINE_PER_CPU_SHARED_ALIGNED`).
    SharedAligned = 3,
    /// `#[percpu(page_aligned)]`: 4 KiB aligned and padded (`.percpu.page_aligned`; Linux's
    /// `DEFINE_PER_CPU_PAGE_ALIGNED`).
    PageAligned = 4,
}

impl Class {
    /// The attribute argument (`"hot"`, ...), or `""` for [`Class::Default`].
    pub const fn name(self) -> &'static str {
        match self {
            Class::Default => "",
            Class::Hot => "hot",
            Class::ReadMostly => "read_mostly",
            Class::SharedAligned => "shared_aligned",
            Class::PageAligned => "page_aligned",
        }
    }
}

// SAFETY: the descriptor is immutable; `template` is only an address.
unsafe impl Sync for Descriptor {}

impl Descriptor {
    /// Describes the static whose template is `template` and whose declared initial value is
    /// `initial` (never touched by anything but the setup, which copies it into every CPU's
    /// unit). Not public API: used by generated code.
    #[doc(hidden)]
    pub const fn new<T>(
        template: &'static Template<T>,
        initial: &'static InitialValue<T>,
        name: &'static str,
        module_path: &'static str,
        declared_type: &'static str,
        debug: Option<DebugFn>,
        init: Option<InitFn>,
    ) -> Self {
        Descriptor {
            name,
            module_path,
            declared_type,
            type_name: core::any::type_name::<T>,
            size: core::mem::size_of::<T>(),
            align: core::mem::align_of::<T>(),
            template: template.get().cast_const().cast(),
            debug,
            init,
            initial: initial.as_ptr(),
            class: Class::Default,
        }
    }

    /// The same static, in placement class `class`. Not public API: used by generated code.
    #[doc(hidden)]
    pub const fn in_class(self, class: Class) -> Self {
        Descriptor { class, ..self }
    }

    /// Its placement class.
    pub fn class(&self) -> Class {
        self.class
    }

    /// The static's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The module that declares it (`crate::module`).
    pub fn module_path(&self) -> &'static str {
        self.module_path
    }

    /// The crate that declares it.
    pub fn crate_name(&self) -> &'static str {
        self.module_path.split("::").next().unwrap_or(self.module_path)
    }

    /// Its type as written in the declaration (for display; a type alias shows as the alias).
    pub fn declared_type(&self) -> &'static str {
        self.declared_type
    }

    /// Its type, as `core::any::type_name` spells it.
    pub fn type_name(&self) -> &'static str {
        (self.type_name)()
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Alignment in bytes.
    pub fn align(&self) -> usize {
        self.align
    }

    /// The template's address (the per-CPU pointer of the static).
    pub fn template(&self) -> *const u8 {
        self.template
    }

    /// Offset from the start of the template section (`__percpu_start`): the variable's offset
    /// inside every CPU's unit.
    pub fn offset(&self) -> usize {
        self.template as usize - crate::template::start() as usize
    }

    /// Whether the static has a per-CPU initialiser (`#[percpu(init = ..)]`).
    pub fn has_init(&self) -> bool {
        self.init.is_some()
    }

    /// The per-CPU initialiser.
    pub(crate) fn init_fn(&self) -> Option<InitFn> {
        self.init
    }

    /// The pristine initial value: `size` bytes that only the setup reads.
    pub(crate) fn initial(&self) -> *const u8 {
        self.initial
    }

    /// CPU `cpu`'s copy.
    pub fn ptr_on(&self, cpu: CpuId) -> Result<*const u8, CpuNotPossible> {
        Ok((self.template as usize).wrapping_add(crate::cpu::cpu_offset(cpu)?) as *const u8)
    }

    /// A `Display` of CPU `cpu`'s value with its `Debug` formatting, or `None` when the type
    /// does not implement `Debug` (or `cpu` is not possible).
    ///
    /// # Safety
    ///
    /// While the returned value is formatted, nothing may mutate that CPU's copy (call it when
    /// the CPUs are quiescent, e.g. in a diagnostic dump after they have stopped, or for
    /// `Sync` types that tolerate concurrent readers).
    pub unsafe fn debug_on(&self, cpu: CpuId) -> Option<impl fmt::Display + '_> {
        let debug = self.debug?;
        let ptr = self.ptr_on(cpu).ok()?;
        struct Show(DebugFn, *const u8);
        impl fmt::Display for Show {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // SAFETY: the caller of `debug_on` guarantees a valid, quiescent copy.
                unsafe { (self.0)(self.1, f) }
            }
        }
        Some(Show(debug, ptr))
    }
}

impl fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Descriptor")
            .field("name", &self.name)
            .field("module_path", &self.module_path)
            .field("type", &self.type_name())
            .field("size", &self.size)
            .field("align", &self.align)
            .field("offset", &self.offset())
            .field("class", &self.class)
            .finish()
    }
}

unsafe extern "C" {
    // The bounds the linker fragment puts around `.percpu_registry` (`linker::REGISTRY_*_ALIAS`).
    static __percpu_registry_start_defined_by_percpu_build_configure: u8;
    static __percpu_registry_end_defined_by_percpu_build_configure: u8;
}

/// Every `#[percpu]` static of the program, from every crate, in link order.
pub fn variables() -> &'static [Descriptor] {
    let start = &raw const __percpu_registry_start_defined_by_percpu_build_configure;
    let end = &raw const __percpu_registry_end_defined_by_percpu_build_configure;
    let len = (end as usize - start as usize) / core::mem::size_of::<Descriptor>();
    let start = start.cast::<Descriptor>();
    // SAFETY: the fragment keeps every input section `.percpu_registry` between the two
    // symbols, and only `#[percpu]` expansions put anything there: one `Descriptor` static
    // each, so the range is an array of `len` descriptors (8-byte aligned, no padding between
    // them: the size is a multiple of the alignment), immutable and live for the program.
    unsafe { core::slice::from_raw_parts(start, len) }
}
