//! The linker-script fragment that makes the per-CPU template: one generator, used by
//! percpu-build for every kernel and executable. This crate's own tests, examples and doc tests
//! link with its output for a hosted executable, checked in as `link/hosted-tests.ld` (a test
//! below keeps the file equal to the generator's output).
//!
//! What the fragment guarantees (docs/architecture.md, invariant 1):
//!
//! * every `#[percpu]` template lands in one output section, `.percpu`, page-aligned and kept
//!   (`KEEP`), between the symbols `__percpu_start` and `__percpu_end`, and padded to a page
//!   boundary, so that the template's pages hold nothing else;
//! * every variable descriptor lands in `.percpu_registry` (kept), between
//!   `__percpu_registry_start` and `__percpu_registry_end`: the registry is the array of
//!   descriptors between them, whatever the linker would do with unreferenced sections;
//! * link-time `ASSERT`s fail the link with a message that says what to change: `ERROR(percpu)`
//!   when the configuration is wrong (static data too large for the configured unit; on riscv64
//!   with `gp` as the base register, a `__global_pointer$`, with which the linker's gp
//!   relaxation would use `gp` as a global pointer), `BUG(percpu)` when an invariant of this
//!   crate broke.
//!
//! Three shapes: [`standalone_fragment`] is a complete script to pass with `-T` next to the
//! linker's default layout (`INSERT AFTER .data` for hosted PIE executables; `OVERWRITE_SECTIONS`
//! for kernels linked by ld.lld with its default layout, which works without a `.data` section). A
//! kernel with its own linker script `INCLUDE`s [`sections_fragment`] inside its `SECTIONS` command
//! and [`checks_fragment`] at the top level: the checks cannot go inside `SECTIONS`, where GNU ld
//! rejects `ASSERT(..);` as a syntax error and lld 14 fails on the statement after it.

use core::fmt::{self, Write};

/// The input section every `#[percpu]` static's descriptor is placed in.
pub const REGISTRY_SECTION: &str = ".percpu_registry";

/// The names the runtime links against (aliases of `__percpu_start`, `__percpu_end` and
/// `__percpu_settings`, which tools read). They say where they come from, so that a program
/// linked without the fragment fails with "undefined symbol:
/// __percpu_start_defined_by_percpu_build_configure" rather than a bare `__percpu_start`.
pub const START_ALIAS: &str = "__percpu_start_defined_by_percpu_build_configure";
/// See [`START_ALIAS`].
pub const END_ALIAS: &str = "__percpu_end_defined_by_percpu_build_configure";
/// See [`START_ALIAS`].
pub const SETTINGS_ALIAS: &str = "__percpu_settings_defined_by_percpu_build_configure";
/// See [`START_ALIAS`].
pub const REGISTRY_START_ALIAS: &str = "__percpu_registry_start_defined_by_percpu_build_configure";
/// See [`START_ALIAS`].
pub const REGISTRY_END_ALIAS: &str = "__percpu_registry_end_defined_by_percpu_build_configure";

/// The program's settings as the fragment links them in (`__percpu_settings` in
/// `.percpu_registry`, read back by `percpu_rt::Settings::linked`): a header, one 64-bit word
/// per field in the order of the constants below, then the length and bytes of the origin text
/// (the `percpu.toml` path).
pub mod record {
    /// First word: identifies the record.
    pub const MAGIC: u64 = 0x7065_7263_7075_5345; // "percpuSE"
    /// Second word: the record's layout version (2: `hot_lines` added; 3: `base_register`).
    pub const VERSION: u64 = 3;
    /// `page_size`.
    pub const PAGE_SIZE: usize = 0;
    /// `atom_size`.
    pub const ATOM_SIZE: usize = 1;
    /// `reserved`.
    pub const RESERVED: usize = 2;
    /// `dynamic_reserve`.
    pub const DYNAMIC_RESERVE: usize = 3;
    /// `early_reserve`.
    pub const EARLY_RESERVE: usize = 4;
    /// `min_unit_size`.
    pub const MIN_UNIT_SIZE: usize = 5;
    /// `unit_size`, 0 when not fixed.
    pub const UNIT_SIZE: usize = 6;
    /// `max_alloc_size`, 0 when not set (the allocator's default).
    pub const MAX_ALLOC_SIZE: usize = 7;
    /// `max_cpus`.
    pub const MAX_CPUS: usize = 8;
    /// `first_chunk`: 0 auto, 1 embed, 2 page.
    pub const FIRST_CHUNK: usize = 9;
    /// `empty_pages_low`.
    pub const EMPTY_PAGES_LOW: usize = 10;
    /// `empty_pages_high`.
    pub const EMPTY_PAGES_HIGH: usize = 11;
    /// `hot_lines`: the budget of `#[percpu(hot)]` data, in cache lines.
    pub const HOT_LINES: usize = 12;
    /// `base_register`: 0 the target's only or default register (`GS.base` on x86_64,
    /// `TPIDR_EL1` on aarch64, `tp` on riscv64, `$r21` on loongarch64), 1 `TPIDR_EL1`,
    /// 2 `TPIDR_EL2`, 3 `gp`, 4 `tp`, 5 `$r21` (see `percpu_rt::settings::BaseRegister`).
    pub const BASE_REGISTER: usize = 13;
    /// How many fields.
    pub const FIELDS: usize = 14;
}

/// The settings record's content: the field values (indexed by the [`record`] constants) and
/// where they come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingsRecord<'a> {
    /// The values.
    pub values: [u64; record::FIELDS],
    /// Where they come from (a `percpu.toml` path, or the defaults).
    pub origin: &'a str,
}

/// What the fragment is generated from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkerParams<'a> {
    /// Alignment of `.percpu` (the page size: the first-chunk setup requires a page-aligned
    /// template).
    pub page_size: usize,
    /// Largest static per-CPU size the configured unit allows
    /// (`unit - reserved - dynamic`); `None` for no limit.
    pub max_static_size: Option<usize>,
    /// Where that limit comes from, quoted in the link error (e.g. the `percpu.toml` path and
    /// the values behind it). Any `"` is written as `'` (linker-script strings have no escapes).
    pub limit_origin: &'a str,
    /// Where the standalone fragment puts its sections in the linker's default layout:
    /// `INSERT AFTER` this output section (hosted executables: `.data`, which the C library
    /// always has), or `None` for `OVERWRITE_SECTIONS` (ld.lld run directly: the sections go
    /// where the linker places such sections, even in a program without `.data`).
    pub insert_after: Option<&'a str>,
    /// The program's settings, linked in for `percpu_rt::Settings::linked`.
    pub settings: SettingsRecord<'a>,
    /// riscv64 with `gp` as the base register: fail the link if `__global_pointer$` is
    /// defined (the linker's gp relaxation would then use `gp` as a global pointer).
    pub forbid_global_pointer: bool,
}

impl LinkerParams<'static> {
    /// Parameters for a hosted (Linux user-space) executable with no configuration file:
    /// 4 KiB pages, no size limit, Linux's settings for a 64-bit target.
    pub const fn hosted_defaults() -> Self {
        LinkerParams {
            page_size: 4096,
            max_static_size: None,
            limit_origin: "",
            insert_after: Some(".data"),
            settings: SettingsRecord { values: LINUX_SETTINGS, origin: DEFAULTS_ORIGIN },
            forbid_global_pointer: false,
        }
    }
}

/// Linux's settings for a 64-bit target (what percpu-build resolves when `percpu.toml` sets
/// nothing), in record order; `max_cpus` is percpu-build's default, 64.
pub const LINUX_SETTINGS: [u64; record::FIELDS] = [
    4096,     // page_size
    4096,     // atom_size
    8 << 10,  // reserved
    28 << 10, // dynamic_reserve
    20 << 10, // early_reserve
    32 << 10, // min_unit_size
    0,        // unit_size: not fixed
    0,        // max_alloc_size: the allocator's default
    64,       // max_cpus
    0,        // first_chunk: auto
    2,        // empty_pages_low
    4,        // empty_pages_high
    1,        // hot_lines
    0,        // base_register: the target's default
];

/// Bytes per cache line: the unit of the hot budget, and the `shared_aligned` alignment.
pub const CACHE_LINE: usize = 64;

/// The `page_aligned` alignment: 4 KiB, the smallest page (the class's statics are whole 4 KiB
/// pages of every unit, whatever `page_size` is).
pub const PAGE_ALIGNED: usize = 4096;

/// The origin of [`LINUX_SETTINGS`].
pub const DEFAULTS_ORIGIN: &str = "Linux's defaults (no percpu.toml)";

/// Writes the `SECTIONS` body: the template and the registry (with the settings).
pub fn write_sections(out: &mut dyn Write, p: &LinkerParams<'_>) -> fmt::Result {
    let page = p.page_size;
    writeln!(
        out,
        "  /* percpu: the template of every #[percpu] static (one unit's static area). */"
    )?;
    writeln!(out, "  .percpu : ALIGN({page:#x})")?;
    writeln!(out, "  {{")?;
    writeln!(out, "    __percpu_start = .;")?;
    writeln!(out, "    {START_ALIAS} = .;")?;
    writeln!(
        out,
        "    /* The placement classes, in this order; hot first, in the first lines. */"
    )?;
    writeln!(out, "    __percpu_hot_start = .;")?;
    writeln!(out, "    KEEP(*(.percpu.hot))")?;
    writeln!(out, "    __percpu_hot_end = .;")?;
    writeln!(out, "    KEEP(*(.percpu))")?;
    writeln!(out, "    KEEP(*(.percpu.read_mostly))")?;
    writeln!(out, "    KEEP(*(.percpu.shared_aligned))")?;
    writeln!(out, "    __percpu_page_aligned_start = .;")?;
    writeln!(out, "    KEEP(*(.percpu.page_aligned))")?;
    writeln!(out, "    __percpu_page_aligned_end = .;")?;
    writeln!(out, "    KEEP(*(.percpu.*))")?;
    writeln!(out, "    __percpu_end = .;")?;
    writeln!(out, "    {END_ALIAS} = .;")?;
    writeln!(
        out,
        "    /* The template's pages hold nothing else (hosted machines revoke them after boot). */"
    )?;
    writeln!(out, "    . = ALIGN({page:#x});")?;
    writeln!(out, "  }}")?;
    writeln!(
        out,
        "  /* percpu: one descriptor per #[percpu] static, for iteration and inspection. */"
    )?;
    writeln!(out, "  .percpu_registry : ALIGN(8)")?;
    writeln!(out, "  {{")?;
    writeln!(out, "    __percpu_registry_start = .;")?;
    writeln!(out, "    {REGISTRY_START_ALIAS} = .;")?;
    writeln!(out, "    KEEP(*({REGISTRY_SECTION}))")?;
    writeln!(out, "    __percpu_registry_end = .;")?;
    writeln!(out, "    {REGISTRY_END_ALIAS} = .;")?;
    write_settings(out, &p.settings)?;
    writeln!(out, "  }}")?;
    Ok(())
}

/// Writes the settings record as data, inside `.percpu_registry` (see [`record`]): a section
/// of data statements alone is not allocated by every linker.
fn write_settings(out: &mut dyn Write, s: &SettingsRecord<'_>) -> fmt::Result {
    writeln!(
        out,
        "    /* The settings percpu-build resolved, read by percpu_rt::Settings::linked(). */"
    )?;
    writeln!(out, "    . = ALIGN(8);")?;
    writeln!(out, "    __percpu_settings = .;")?;
    writeln!(out, "    {SETTINGS_ALIAS} = .;")?;
    writeln!(out, "    QUAD({:#x}); QUAD({});", record::MAGIC, record::VERSION)?;
    for v in s.values {
        writeln!(out, "    QUAD({v:#x});")?;
    }
    writeln!(out, "    QUAD({});", s.origin.len())?;
    for chunk in s.origin.as_bytes().chunks(16) {
        write!(out, "   ")?;
        for b in chunk {
            write!(out, " BYTE({b:#04x});")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Writes the symbol aliases and link-time assertions (top level of a script).
pub fn write_checks(out: &mut dyn Write, p: &LinkerParams<'_>) -> fmt::Result {
    writeln!(
        out,
        "ASSERT(__percpu_start % {page:#x} == 0, \"BUG(percpu): .percpu is not page-aligned; the first-chunk setup needs a page-aligned template\");",
        page = p.page_size
    )?;
    let hot_lines = p.settings.values[record::HOT_LINES];
    let hot_bytes = hot_lines * CACHE_LINE as u64;
    writeln!(
        out,
        "ASSERT(__percpu_hot_end - __percpu_hot_start <= {hot_bytes}, \"ERROR(percpu): the #[percpu(hot)] statics need more than the hot budget of {hot_lines} cache line(s), {hot_bytes} bytes, that `hot_lines` in percpu.toml allows (percpu-rt's own hot statics take up to 32 of them); raise hot_lines, or make fewer statics hot\");"
    )?;
    writeln!(
        out,
        "ASSERT(__percpu_page_aligned_start == __percpu_page_aligned_end || (__percpu_page_aligned_end - __percpu_start) % {PAGE_ALIGNED:#x} == 0, \"BUG(percpu): the #[percpu(page_aligned)] statics do not end on a 4 KiB boundary of the template (each is whole 4 KiB pages); is .percpu.page_aligned placed by another linker script?\");"
    )?;
    if let Some(max) = p.max_static_size {
        write!(
            out,
            "ASSERT(__percpu_end - __percpu_start <= {max}, \"ERROR(percpu): the #[percpu] statics need more than the {max} bytes of static area that the configured unit allows ("
        )?;
        write_script_string(out, p.limit_origin)?;
        writeln!(
            out,
            "); raise unit_size, or lower dynamic_reserve or reserved, in percpu.toml\");"
        )?;
    }
    if p.forbid_global_pointer {
        writeln!(
            out,
            "ASSERT(!DEFINED(__global_pointer$), \"ERROR(percpu): __global_pointer$ is defined, but gp holds the per-CPU base (base_register = 'gp' in percpu.toml): the linker's gp relaxation would turn accesses near __global_pointer$ into gp-relative ones that miss their data. Remove __global_pointer$ from the linker script (and do not load it into gp at boot), or set base_register = 'tp'\");"
        )?;
    }
    Ok(())
}

/// Writes `text` for use inside a double-quoted linker-script string, which has no escapes:
/// a `"` becomes `'` and a line break a space, so no path or value can end the string early.
fn write_script_string(out: &mut dyn Write, text: &str) -> fmt::Result {
    for c in text.chars() {
        out.write_char(match c {
            '"' => '\'',
            '\n' | '\r' => ' ',
            c => c,
        })?;
    }
    Ok(())
}

/// Writes a complete script to pass with `-T`: the sections inserted after
/// [`LinkerParams::insert_after`] in the linker's default layout, then the checks.
pub fn write_standalone(out: &mut dyn Write, p: &LinkerParams<'_>) -> fmt::Result {
    writeln!(out, "/* Generated by percpu-build: the per-CPU template section. Do not edit. */")?;
    match p.insert_after {
        Some(after) => {
            writeln!(out, "SECTIONS")?;
            writeln!(out, "{{")?;
            write_sections(out, p)?;
            writeln!(out, "}}")?;
            writeln!(out, "INSERT AFTER {after};")?;
        }
        None => {
            writeln!(out, "OVERWRITE_SECTIONS")?;
            writeln!(out, "{{")?;
            write_sections(out, p)?;
            writeln!(out, "}}")?;
        }
    }
    write_checks(out, p)
}

/// Writes the body to `INCLUDE` inside a kernel linker script's `SECTIONS { ... }`: the output
/// sections only (see [`write_included_checks`] for the rest).
pub fn write_included(out: &mut dyn Write, p: &LinkerParams<'_>) -> fmt::Result {
    writeln!(out, "/* Generated by percpu-build: INCLUDE this inside SECTIONS {{ ... }}, and")?;
    writeln!(out, "   percpu-checks.ld at the top level of the script. Do not edit. */")?;
    write_sections(out, p)
}

/// Writes the symbol aliases and checks to `INCLUDE` at the top level of a kernel linker script
/// (outside `SECTIONS`), next to [`write_included`].
pub fn write_included_checks(out: &mut dyn Write, p: &LinkerParams<'_>) -> fmt::Result {
    writeln!(
        out,
        "/* Generated by percpu-build: INCLUDE this at the top level of the linker script"
    )?;
    writeln!(
        out,
        "   (outside SECTIONS), with percpu-sections.ld inside SECTIONS. Do not edit. */"
    )?;
    write_checks(out, p)
}

/// [`write_standalone`] into a new string.
// The crate's unit tests have `alloc` in any case.
#[cfg(any(feature = "alloc", test))]
pub fn standalone_fragment(p: &LinkerParams<'_>) -> ::alloc::string::String {
    let mut s = ::alloc::string::String::new();
    write_standalone(&mut s, p).expect("writing to a string cannot fail");
    s
}

/// [`write_included`] into a new string.
#[cfg(any(feature = "alloc", test))]
pub fn sections_fragment(p: &LinkerParams<'_>) -> ::alloc::string::String {
    let mut s = ::alloc::string::String::new();
    write_included(&mut s, p).expect("writing to a string cannot fail");
    s
}

/// [`write_included_checks`] into a new string.
#[cfg(any(feature = "alloc", test))]
pub fn checks_fragment(p: &LinkerParams<'_>) -> ::alloc::string::String {
    let mut s = ::alloc::string::String::new();
    write_included_checks(&mut s, p).expect("writing to a string cannot fail");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `link/hosted-tests.ld`, which the build script passes to this package's own test,
    /// example and doc-test executables, is the standalone fragment for
    /// [`LinkerParams::hosted_defaults`]. Run with `UPDATE_EXPECT=1` to rewrite it after an
    /// intended change of the generator.
    #[test]
    fn the_checked_in_hosted_fragment_is_the_generated_one() {
        extern crate std;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/link/hosted-tests.ld");
        let generated = standalone_fragment(&LinkerParams::hosted_defaults());
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            std::fs::write(path, &generated).expect("write link/hosted-tests.ld");
            return;
        }
        let checked_in = std::fs::read_to_string(path).expect("read link/hosted-tests.ld");
        assert!(
            checked_in == generated,
            "{path} differs from the generator's output; run with UPDATE_EXPECT=1 to rewrite \
             it. Generated:\n{generated}"
        );
    }

    #[test]
    fn hosted_defaults_have_no_size_limit() {
        let text = standalone_fragment(&LinkerParams::hosted_defaults());
        assert!(text.contains("  .percpu : ALIGN(0x1000)\n"));
        assert!(text.contains("INSERT AFTER .data;\n"));
        assert!(text.contains("BUG(percpu): .percpu is not page-aligned"));
        assert!(!text.contains("__percpu_end - __percpu_start <="), "no static-size limit");
        assert!(text.contains("the #[percpu(hot)] statics need more than the hot budget"));
        assert!(text.contains("    QUAD(0x7065726370755345); QUAD(3);\n    QUAD(0x1000);\n"));
        assert!(
            text.contains("    QUAD(33);\n    BYTE(0x4c); BYTE(0x69);"),
            "the origin's length and bytes"
        );
    }

    #[test]
    fn a_fixed_unit_asserts_the_static_size_with_its_origin() {
        let p = LinkerParams {
            page_size: 0x4000,
            max_static_size: Some(28672),
            limit_origin: "unit_size 64 KiB at \"/k/percpu.toml\":3:13\nnext",
            insert_after: Some(".data"),
            settings: SettingsRecord { values: LINUX_SETTINGS, origin: "k" },
            forbid_global_pointer: false,
        };
        let sections = sections_fragment(&p);
        assert!(sections.starts_with("/* Generated by percpu-build: INCLUDE this inside SECTIONS"));
        assert!(sections.contains("  .percpu : ALIGN(0x4000)\n"));
        assert!(!sections.contains("INSERT AFTER"));
        assert!(!sections.contains("ASSERT"), "no ASSERT inside SECTIONS (GNU ld, lld 14)");
        let text = checks_fragment(&p);
        assert!(text.starts_with("/* Generated by percpu-build: INCLUDE this at the top level"));
        assert!(!text.contains(".percpu :"));
        assert!(text.contains(
            "ASSERT(__percpu_end - __percpu_start <= 28672, \"ERROR(percpu): the #[percpu] statics \
             need more than the 28672 bytes of static area that the configured unit allows \
             (unit_size 64 KiB at '/k/percpu.toml':3:13 next); raise unit_size, or lower \
             dynamic_reserve or reserved, in percpu.toml\");\n"
        ));
        assert!(!text.contains("__global_pointer$"));
    }

    #[test]
    fn gp_as_the_base_register_refuses_a_global_pointer() {
        let p = LinkerParams { forbid_global_pointer: true, ..LinkerParams::hosted_defaults() };
        let checks = checks_fragment(&p);
        assert!(checks.contains(
            "ASSERT(!DEFINED(__global_pointer$), \"ERROR(percpu): __global_pointer$ is defined, \
             but gp holds the per-CPU base"
        ));
        assert!(!sections_fragment(&p).contains("__global_pointer$"), "checks only");
    }
}
