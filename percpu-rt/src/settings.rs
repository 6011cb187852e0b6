//! [`Settings`]: everything `percpu.toml` configures for the runtime, in one value.
//!
//! percpu-build resolves `percpu.toml` for the target at build time and hands the result over
//! twice: as Rust constants in `OUT_DIR/percpu_layout.rs` (`SETTINGS`, for kernels to `include!`)
//! and as data linked into the program (`__percpu_settings` in the linker fragment's
//! `.percpu_registry`), which [`Settings::linked`] reads. Either way one value gives the layout
//! ([`Settings::layout_params`]), the first-chunk checks ([`Settings::setup_config`]), the dynamic
//! allocator's settings (`Settings::alloc_config`, with `alloc`), the first-chunk method and the
//! base register, so no key has to be copied by hand to take effect. A hosted machine uses the
//! linked settings by default.

#[cfg(feature = "alloc")]
use crate::allocator::AllocConfig;
use crate::cpu_id::CpuId;
use crate::first_chunk::SetupConfig;
use crate::layout::LayoutParams;
use crate::linker::record;
use core::fmt;

/// How the first chunk is set up (`first_chunk` in percpu.toml; Linux's `percpu_alloc=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FirstChunkMode {
    /// Embed, and fall back to page if that fails (Linux's default).
    #[default]
    Auto,
    /// Each group's units in one allocation of whole atoms
    /// ([`embed_first_chunk`](crate::first_chunk::embed_first_chunk)).
    Embed,
    /// Every page of every unit mapped separately
    /// ([`page_first_chunk`](crate::first_chunk::page_first_chunk)).
    Page,
}

impl FirstChunkMode {
    /// The name used in `percpu.toml` and on Linux's command line (`percpu_alloc=`).
    pub const fn name(self) -> &'static str {
        match self {
            FirstChunkMode::Auto => "auto",
            FirstChunkMode::Embed => "embed",
            FirstChunkMode::Page => "page",
        }
    }

    /// The mode named `name` (`"auto"`, `"embed"` or `"page"`).
    pub fn from_name(name: &str) -> Option<Self> {
        [FirstChunkMode::Auto, FirstChunkMode::Embed, FirstChunkMode::Page]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

impl fmt::Display for FirstChunkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The register holding the per-CPU base (`base_register` in percpu.toml). The runtime's is chosen
/// when percpu-rt is compiled ([`arch::BASE_REGISTER`](crate::arch::BASE_REGISTER): features
/// `aarch64-el2`, `riscv64-gp`, `loongarch64-tp`); the two must agree, which the constants
/// percpu-build generates assert at compile time and [`Settings::linked`] at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BaseRegister {
    /// The target's only or default register: `GS.base` on x86_64, `TPIDR_EL1` on aarch64,
    /// `tp` on riscv64, `$r21` on loongarch64.
    #[default]
    Default,
    /// aarch64 `TPIDR_EL1` (`"el1"`).
    TpidrEl1,
    /// aarch64 `TPIDR_EL2` (`"el2"`).
    TpidrEl2,
    /// riscv64 `gp` (`"gp"`).
    Gp,
    /// riscv64 or loongarch64 `tp` (`"tp"`).
    Tp,
    /// loongarch64 `$r21` (`"r21"`), the psABI's reserved register.
    R21,
}

impl BaseRegister {
    /// The value in the settings record (`linker::record::BASE_REGISTER`).
    pub const fn from_record(value: u64) -> BaseRegister {
        match value {
            1 => BaseRegister::TpidrEl1,
            2 => BaseRegister::TpidrEl2,
            3 => BaseRegister::Gp,
            4 => BaseRegister::Tp,
            5 => BaseRegister::R21,
            _ => BaseRegister::Default,
        }
    }

    /// The register as [`arch::BASE_REGISTER`](crate::arch::BASE_REGISTER) names it on this
    /// target.
    pub const fn register(self) -> &'static str {
        match self {
            BaseRegister::Default => default_register(),
            BaseRegister::TpidrEl1 => "TPIDR_EL1",
            BaseRegister::TpidrEl2 => "TPIDR_EL2",
            BaseRegister::Gp => "gp",
            BaseRegister::Tp => "tp",
            BaseRegister::R21 => "r21",
        }
    }
}

/// The register `BaseRegister::Default` stands for on this target.
const fn default_register() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "TPIDR_EL1"
    } else if cfg!(target_arch = "riscv64") {
        "tp"
    } else if cfg!(target_arch = "loongarch64") {
        "r21"
    } else {
        "GS.base"
    }
}

/// The per-CPU settings of a program, as `percpu.toml` configured them for its target (sizes
/// in bytes). See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// MMU page size (`page_size`).
    pub page_size: usize,
    /// First-chunk allocation granule (`atom_size`).
    pub atom_size: usize,
    /// Reserved area after the static one (`reserved`).
    pub reserved_size: usize,
    /// Requested dynamic area of the first chunk (`dynamic_reserve`).
    pub dynamic_reserve: usize,
    /// Smallest dynamic area (`early_reserve`).
    pub early_reserve: usize,
    /// Smallest unit (`min_unit_size`).
    pub min_unit_size: usize,
    /// A fixed unit (`unit_size`), or `None`.
    pub unit_size: Option<usize>,
    /// Largest dynamic allocation (`max_alloc_size`), or `None` for the allocator's default.
    pub max_alloc_size: Option<usize>,
    /// Most possible CPUs; CPU ids are below it (`max_cpus`).
    pub max_cpus: usize,
    /// The first-chunk method (`first_chunk`).
    pub first_chunk: FirstChunkMode,
    /// The allocator's low mark of empty populated pages (`empty_pages_low`).
    pub empty_pages_low: usize,
    /// Its high mark (`empty_pages_high`).
    pub empty_pages_high: usize,
    /// The budget of `#[percpu(hot)]` data, in cache lines (`hot_lines`).
    pub hot_lines: usize,
    /// The register holding the per-CPU base (`base_register`).
    pub base_register: BaseRegister,
    /// Where these come from: the `percpu.toml` path, or Linux's defaults.
    pub origin: &'static str,
}

/// The linked record: header, fields, origin length (the origin's bytes follow).
#[repr(C)]
struct Record {
    magic: u64,
    version: u64,
    values: [u64; record::FIELDS],
    origin_len: u64,
}

unsafe extern "C" {
    /// The settings record the linker fragment writes (`__percpu_settings`, in
    /// `.percpu_registry`), under the name that says where it comes from.
    static __percpu_settings_defined_by_percpu_build_configure: Record;
}

impl Settings {
    /// Linux's settings for a 64-bit target (what percpu-build resolves from an empty
    /// `percpu.toml`), with up to 64 CPUs.
    pub const LINUX: Settings =
        Settings::from_values(&crate::linker::LINUX_SETTINGS, crate::linker::DEFAULTS_ORIGIN);

    /// The settings from a record's values (see `linker::record`).
    pub const fn from_values(v: &[u64; record::FIELDS], origin: &'static str) -> Settings {
        const fn nonzero(x: u64) -> Option<usize> {
            if x == 0 { None } else { Some(x as usize) }
        }
        Settings {
            page_size: v[record::PAGE_SIZE] as usize,
            atom_size: v[record::ATOM_SIZE] as usize,
            reserved_size: v[record::RESERVED] as usize,
            dynamic_reserve: v[record::DYNAMIC_RESERVE] as usize,
            early_reserve: v[record::EARLY_RESERVE] as usize,
            min_unit_size: v[record::MIN_UNIT_SIZE] as usize,
            unit_size: nonzero(v[record::UNIT_SIZE]),
            max_alloc_size: nonzero(v[record::MAX_ALLOC_SIZE]),
            max_cpus: v[record::MAX_CPUS] as usize,
            first_chunk: match v[record::FIRST_CHUNK] {
                1 => FirstChunkMode::Embed,
                2 => FirstChunkMode::Page,
                _ => FirstChunkMode::Auto,
            },
            empty_pages_low: v[record::EMPTY_PAGES_LOW] as usize,
            empty_pages_high: v[record::EMPTY_PAGES_HIGH] as usize,
            hot_lines: v[record::HOT_LINES] as usize,
            base_register: BaseRegister::from_record(v[record::BASE_REGISTER]),
            origin,
        }
    }

    /// The settings percpu-build linked into this program (from its `percpu.toml`, or Linux's
    /// defaults when there is none).
    ///
    /// # Panics
    ///
    /// If the linked record is not one this version of percpu-rt reads (the program was linked
    /// with another version's fragment), or names another base register than the one this
    /// percpu-rt uses.
    pub fn linked() -> Settings {
        // SAFETY: the linker fragment defines `__percpu_settings` at the start of the record it
        // writes: the header and fields as 64-bit words, then `origin_len` bytes of text.
        let (header, origin) = unsafe {
            let r = &*core::ptr::addr_of!(__percpu_settings_defined_by_percpu_build_configure);
            let bytes = (r as *const Record).add(1).cast::<u8>();
            let ok = r.magic == record::MAGIC && r.version == record::VERSION;
            let len = if ok { r.origin_len as usize } else { 0 };
            (r, core::slice::from_raw_parts(bytes, len))
        };
        assert!(
            header.magic == record::MAGIC && header.version == record::VERSION,
            "the linked settings record (__percpu_settings) is not one this percpu-rt reads: build the \
             program with the percpu-build of the same version"
        );
        let origin = core::str::from_utf8(origin).unwrap_or("percpu.toml");
        let settings = Settings::from_values(&header.values, origin);
        let (configured, used) = (settings.base_register.register(), crate::arch::BASE_REGISTER);
        assert!(
            configured == used,
            "{origin} sets base_register to {configured}, but percpu-rt uses {used}: enable or \
             disable percpu-rt's aarch64-el2 / riscv64-gp / loongarch64-tp feature to match"
        );
        settings
    }

    /// The layout input for `static_size` bytes of static data (a fixed `unit_size` is the
    /// minimum unit, and the link already checked that the static data fits it).
    pub const fn layout_params(&self, static_size: usize) -> LayoutParams {
        LayoutParams {
            static_size,
            reserved_size: self.reserved_size,
            dyn_size: self.dynamic_reserve,
            early_dyn_size: self.early_reserve,
            page_size: self.page_size,
            atom_size: self.atom_size,
            min_unit_size: match self.unit_size {
                Some(u) => u,
                None => self.min_unit_size,
            },
        }
    }

    /// What the first-chunk checks compare against, for the possible CPUs `possible`: the page
    /// size, `max_cpus` as the CPU-id limit, the early dynamic size and the minimum unit.
    pub fn setup_config<'a>(&self, possible: &'a [CpuId]) -> SetupConfig<'a> {
        SetupConfig {
            page_size: self.page_size,
            max_cpus: u32::try_from(self.max_cpus).unwrap_or(u32::MAX),
            early_dyn_size: self.early_reserve,
            min_unit_size: self.min_unit_size,
            ..SetupConfig::new(possible)
        }
    }

    /// The dynamic allocator's settings (give them to
    /// [`allocator::configure`](crate::allocator::configure) before the first-chunk setup).
    /// With the `alloc` feature, which the dynamic allocator needs.
    #[cfg(feature = "alloc")]
    pub const fn alloc_config(&self) -> AllocConfig {
        AllocConfig {
            max_alloc_size: self.max_alloc_size,
            empty_pages_low: self.empty_pages_low,
            empty_pages_high: self.empty_pages_high,
        }
    }

    /// Checks a set of possible CPUs against `max_cpus`: their number, and every id below it.
    pub fn check_cpus(&self, possible: &[CpuId]) -> Result<(), TooManyCpus> {
        let highest = possible.iter().map(|c| c.as_usize()).max();
        if possible.len() > self.max_cpus || highest.is_some_and(|h| h >= self.max_cpus) {
            return Err(TooManyCpus {
                cpus: possible.len(),
                highest: highest.unwrap_or(0),
                max_cpus: self.max_cpus,
                origin: self.origin,
            });
        }
        Ok(())
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::LINUX
    }
}

/// More CPUs than `max_cpus` allows (or an id at or above it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyCpus {
    /// The CPUs asked for.
    pub cpus: usize,
    /// The highest id among them.
    pub highest: usize,
    /// The limit.
    pub max_cpus: usize,
    /// Where the limit comes from.
    pub origin: &'static str,
}

impl fmt::Display for TooManyCpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} CPUs (highest id {}) but `max_cpus` is {} ({}): CPU ids must be below max_cpus; \
             raise max_cpus in percpu.toml or use fewer CPUs",
            self.cpus, self.highest, self.max_cpus, self.origin
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TooManyCpus {}
