//! The linker-script fragment that makes the per-CPU template: one generator, used by
//! percpu-build for every kernel and executable, and by this crate's own build script for its
//! tests (which is why this file depends on nothing but `core`).
//!
//! What the fragment guarantees (ARCHITECTURE.md, invariant 1):
//!
//! * every `#[percpu]` template lands in one output section, `.percpu`, page-aligned and kept
//!   (`KEEP`), between the symbols `__percpu_start` and `__percpu_end`;
//! * every variable descriptor lands in `.percpu_registry`, between `__percpu_registry_start` and
//!   `__percpu_registry_end`; the section names that `linkme` expects are provided from those
//!   bounds, so the registry works whether or not the linker would synthesise `__start_*` symbols
//!   (lld's `-z start-stop-gc`, static archives, custom scripts);
//! * link-time `ASSERT`s fail the link with a message that says what to change: `ERROR(percpu)`
//!   when the configuration is wrong (static data too large for the configured unit), `BUG(percpu)`
//!   when an invariant of this crate broke.
//!
//! Two shapes: [`standalone_fragment`] is a complete script to pass with `-T` next to the
//! linker's default layout (`INSERT AFTER .data`, for hosted PIE executables and for kernels that
//! rely on a default script); [`sections_fragment`] is the body to `INCLUDE` inside the `SECTIONS`
//! command of a kernel's own linker script.

use core::fmt::{self, Write};

/// Name of the registry's `linkme` distributed slice (see `private::REGISTRY`).
pub const REGISTRY_SLICE: &str = "PERCPU_REGISTRY";

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
    /// the values behind it).
    pub limit_origin: &'a str,
    /// Output section after which the standalone fragment inserts its sections.
    pub insert_after: &'a str,
}

impl LinkerParams<'static> {
    /// Parameters for a hosted (Linux user-space) executable with no configuration file:
    /// 4 KiB pages and no size limit.
    pub const fn hosted_defaults() -> Self {
        LinkerParams {
            page_size: 4096,
            max_static_size: None,
            limit_origin: "",
            insert_after: ".data",
        }
    }
}

/// Writes the `SECTIONS` body (the two output sections and the symbols linkme needs).
pub fn write_sections(out: &mut dyn Write, p: &LinkerParams<'_>) -> fmt::Result {
    let page = p.page_size;
    let r = REGISTRY_SLICE;
    writeln!(out, "  /* percpu: the template of every #[percpu] static (one unit's static area). */")?;
    writeln!(out, "  .percpu : ALIGN({page:#x})")?;
    writeln!(out, "  {{")?;
    writeln!(out, "    __percpu_start = .;")?;
    writeln!(out, "    KEEP(*(.percpu .percpu.*))")?;
    writeln!(out, "    __percpu_end = .;")?;
    writeln!(out, "  }}")?;
    writeln!(out, "  /* percpu: one descriptor per #[percpu] static, for iteration and inspection. */")?;
    writeln!(out, "  .percpu_registry : ALIGN(8)")?;
    writeln!(out, "  {{")?;
    writeln!(out, "    __percpu_registry_start = .;")?;
    writeln!(out, "    KEEP(*(linkme_{r}))")?;
    writeln!(out, "    __percpu_registry_end = .;")?;
    writeln!(out, "    __percpu_registry_dupcheck_start = .;")?;
    writeln!(out, "    KEEP(*(linkm2_{r}))")?;
    writeln!(out, "    __percpu_registry_dupcheck_end = .;")?;
    writeln!(out, "  }}")?;
    Ok(())
}

/// Writes the symbol aliases and link-time assertions (top level of a script).
pub fn write_checks(out: &mut dyn Write, p: &LinkerParams<'_>) -> fmt::Result {
    let r = REGISTRY_SLICE;
    writeln!(out, "PROVIDE(__start_linkme_{r} = __percpu_registry_start);")?;
    writeln!(out, "PROVIDE(__stop_linkme_{r} = __percpu_registry_end);")?;
    writeln!(out, "PROVIDE(__start_linkm2_{r} = __percpu_registry_dupcheck_start);")?;
    writeln!(out, "PROVIDE(__stop_linkm2_{r} = __percpu_registry_dupcheck_end);")?;
    writeln!(
        out,
        "ASSERT(__percpu_start % {page:#x} == 0, \"BUG(percpu): .percpu is not page-aligned; the first-chunk setup needs a page-aligned template\");",
        page = p.page_size
    )?;
    if let Some(max) = p.max_static_size {
        writeln!(
            out,
            "ASSERT(__percpu_end - __percpu_start <= {max}, \"ERROR(percpu): the #[percpu] statics need more than the {max} bytes of static area the configured unit allows ({origin}); raise min_unit_size, or lower dynamic_reserve or reserved, in percpu.toml\");",
            origin = p.limit_origin
        )?;
    }
    Ok(())
}

/// Writes a complete script to pass with `-T`: the sections inserted after
/// [`LinkerParams::insert_after`] in the linker's default layout, then the checks.
pub fn write_standalone(out: &mut dyn Write, p: &LinkerParams<'_>) -> fmt::Result {
    writeln!(out, "/* Generated by percpu-build: the per-CPU template section. Do not edit. */")?;
    writeln!(out, "SECTIONS")?;
    writeln!(out, "{{")?;
    write_sections(out, p)?;
    writeln!(out, "}}")?;
    writeln!(out, "INSERT AFTER {};", p.insert_after)?;
    write_checks(out, p)
}

/// Writes the body to `INCLUDE` inside a kernel linker script's `SECTIONS { ... }`, followed by
/// the checks (which a script may contain anywhere, including inside `SECTIONS`).
pub fn write_included(out: &mut dyn Write, p: &LinkerParams<'_>) -> fmt::Result {
    writeln!(out, "/* Generated by percpu-build: INCLUDE this inside SECTIONS {{ ... }}. Do not edit. */")?;
    write_sections(out, p)?;
    write_checks(out, p)
}

/// [`write_standalone`] into a new string.
pub fn standalone_fragment(p: &LinkerParams<'_>) -> ::alloc::string::String {
    let mut s = ::alloc::string::String::new();
    write_standalone(&mut s, p).expect("writing to a string cannot fail");
    s
}

/// [`write_included`] into a new string.
pub fn sections_fragment(p: &LinkerParams<'_>) -> ::alloc::string::String {
    let mut s = ::alloc::string::String::new();
    write_included(&mut s, p).expect("writing to a string cannot fail");
    s
}
