//! The human-readable form of an [`Inspection`]: the variables by offset with the padding
//! between them, template symbols without descriptors, cross-check notes, and the unit layout.
//! (`--json` prints the same data with `serde_json`.)

use crate::inspect::Inspection;
use crate::size::{Bytes, BytesExact};
use core::fmt::{self, Write};

/// Renders `inspection` as text.
pub fn text(inspection: &Inspection) -> String {
    let mut out = String::new();
    write_text(&mut out, inspection).expect("writing to a String cannot fail");
    out
}

fn write_text(out: &mut String, r: &Inspection) -> fmt::Result {
    let kind = if r.pie { "position-independent executable" } else { "static executable" };
    writeln!(out, "{}: {} {kind}", r.file, r.arch)?;
    writeln!(
        out,
        ".percpu at {:#x}: {} of static per-CPU data ({})",
        r.percpu_start,
        BytesExact(r.static_size),
        r.static_size_from
    )?;
    writeln!(out)?;

    let crate_w = r.variables.iter().map(|v| v.crate_name.len()).max().unwrap_or(0).max(5);
    let name_w = r.variables.iter().map(|v| v.name.len()).max().unwrap_or(0).max(8);
    writeln!(out, "offset   size  align  {:crate_w$}  {:name_w$}  type", "crate", "variable")?;
    let mut holes = r.holes.iter().peekable();
    for v in &r.variables {
        while let Some(h) = holes.next_if(|h| h.offset < v.offset) {
            writeln!(out, "{:#06x} {:>6}         {:crate_w$}  (padding)", h.offset, h.size, "")?;
        }
        let init = if v.has_init { "  (per-CPU init)" } else { "" };
        let class = if v.class.is_empty() { String::new() } else { format!("  [{}]", v.class) };
        writeln!(
            out,
            "{:#06x} {:>6} {:>6}  {:crate_w$}  {:name_w$}  {}{class}{init}",
            v.offset, v.size, v.align, v.crate_name, v.name, v.declared_type
        )?;
    }
    for h in holes {
        let what = if h.before.is_none() { "(tail padding)" } else { "(padding)" };
        writeln!(out, "{:#06x} {:>6}         {:crate_w$}  {what}", h.offset, h.size, "")?;
    }
    let crates: std::collections::BTreeSet<&str> =
        r.variables.iter().map(|v| v.crate_name.as_str()).collect();
    writeln!(
        out,
        "{} variables from {} crates; {} of padding between them",
        r.variables.len(),
        crates.len(),
        BytesExact(r.padding())
    )?;
    let c = &r.classes;
    writeln!(
        out,
        "classes, in this order: hot {}, default {}, read_mostly {}, shared_aligned {}, \
         page_aligned {}",
        BytesExact(c.hot),
        BytesExact(c.default),
        BytesExact(c.read_mostly),
        BytesExact(c.shared_aligned),
        BytesExact(c.page_aligned)
    )?;

    if !r.unregistered.is_empty() {
        writeln!(out)?;
        writeln!(out, "template symbols without a descriptor:")?;
        for s in &r.unregistered {
            writeln!(out, "{:#06x} {:>6}  {}  ({})", s.offset, s.size, s.name, s.mangled)?;
        }
    }
    if !r.notes.is_empty() {
        writeln!(out)?;
        writeln!(out, "notes:")?;
        for n in &r.notes {
            writeln!(out, "  {n}")?;
        }
    }

    if let Some(l) = &r.layout {
        writeln!(out)?;
        let guessed = if r.target_inferred { ", guessed from the file; use --target" } else { "" };
        writeln!(
            out,
            "unit layout for {} ({}{guessed}), {} possible CPUs:",
            l.target, l.config, l.cpus
        )?;
        writeln!(
            out,
            "  | static {} | reserved {} | dynamic {} | unused {} |",
            Bytes(l.static_size as u64),
            Bytes(l.reserved_size as u64),
            Bytes(l.dynamic_size as u64),
            Bytes(l.unused_size as u64)
        )?;
        let per_alloc = if l.units_per_alloc == 1 { "unit" } else { "units" };
        writeln!(
            out,
            "  unit {}, {} {per_alloc} per allocation of {} ({} x {} atom)",
            BytesExact(l.unit_size as u64),
            l.units_per_alloc,
            Bytes(l.alloc_size as u64),
            l.alloc_size / l.atom_size,
            Bytes(l.atom_size as u64)
        )?;
        writeln!(
            out,
            "  first chunk: {} units, {} for {} CPUs",
            l.nr_units,
            BytesExact(l.total_size as u64),
            l.cpus
        )?;
        if let Some(max) = l.max_static_size {
            let verdict = if l.over_limit {
                "EXCEEDED: linking with this configuration fails (ERROR(percpu))"
            } else {
                "fits"
            };
            writeln!(out, "  fixed unit: static data up to {} bytes, {verdict}", max)?;
        }
        let verdict = if r.classes.hot > l.hot_budget as u64 {
            "EXCEEDED: linking with this configuration fails (ERROR(percpu)); raise hot_lines"
        } else {
            "fits"
        };
        writeln!(
            out,
            "  hot data: {} of {} bytes (hot_lines = {}), {verdict}",
            r.classes.hot, l.hot_budget, l.hot_lines
        )?;
        for line in &l.dump {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}
