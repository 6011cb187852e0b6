//! `percpu-build inspect`: what a linked executable or kernel holds per CPU, as data.
//!
//! * the static size: `__percpu_end - __percpu_start` (or the `.percpu` section's size);
//! * every variable, from the registry descriptors in `.percpu_registry` (the `#[repr(C)]`
//!   `Descriptor` of `percpu_rt::registry`, pointers relocated for a PIE, decoded by
//!   `registry.rs`), cross-checked with the template symbols in `.percpu` (demangled, `::_::`
//!   and hash removed);
//! * the padding holes between variables, and template symbols that have no descriptor;
//! * the unit layout the target's configuration gives that static size (`unit.rs`).
//!
//! The file is untrusted: the registry is read only where it lies in the file (`registry.rs`),
//! so the walk is bounded by the file's size; every address sum is checked; a range that does
//! not fit is an [`InspectError::Elf`] naming it. Notes are at most one per descriptor and per
//! symbol.
//!
//! Rendering is `report.rs`'s job; the CLI (`main.rs`) only parses arguments.

use crate::config::{Config, MAX_CPUS_LIMIT};
use crate::elf::{Elf, ElfError, Symbol, symbol_address};
use crate::error::ConfigError;
use crate::registry::read_registry;
use crate::target::TargetCfg;
use crate::unit::{UnitLayout, unit_layout};
use core::fmt;
use percpu_rt::layout::LayoutError;
use percpu_rt::linker::{CACHE_LINE, PAGE_ALIGNED};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

pub use crate::registry::DESCRIPTOR_SIZE;

/// One `#[percpu]` static of the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Variable {
    /// Full path: `crate::module::NAME`.
    pub name: String,
    /// The crate that declares it.
    pub crate_name: String,
    /// The declaring module (`crate::module`).
    pub module_path: String,
    /// Its type as declared.
    pub declared_type: String,
    /// Offset in the template (and in every unit).
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Alignment in bytes (of the template: a line or a page for the aligned classes).
    pub align: u64,
    /// Template address (link-time).
    pub address: u64,
    /// The demangled template symbol (`::_::` and hash removed), if the file has symbols.
    pub symbol: Option<String>,
    /// Whether it has a per-CPU initialiser.
    pub has_init: bool,
    /// Its placement class (`hot`, `read_mostly`, `shared_aligned`, `page_aligned`), or `""`.
    pub class: String,
}

/// Bytes of the template no variable uses (alignment padding, or the tail).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hole {
    /// Offset of the first unused byte.
    pub offset: u64,
    /// Unused bytes.
    pub size: u64,
    /// The variable before the hole.
    pub after: Option<String>,
    /// The variable after the hole (`None` for tail padding).
    pub before: Option<String>,
}

/// A data symbol in `.percpu` that no registry descriptor describes (placed there by hand,
/// by C code, or by a mismatched runtime).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TemplateSymbol {
    /// Demangled name (`::_::` and hash removed).
    pub name: String,
    /// First path segment.
    pub crate_name: String,
    /// Offset in the template.
    pub offset: u64,
    /// Size in bytes (`st_size`).
    pub size: u64,
    /// The symbol as stored.
    pub mangled: String,
}

/// The bytes of the template each placement class takes (`#[percpu(hot)]`, ...), in the order
/// the linker fragment places them: from the class's first variable to the end of its last,
/// the padding of an aligned class included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Classes {
    /// `#[percpu(hot)]`, first in every unit (budget: `hot_lines` of percpu.toml).
    pub hot: u64,
    /// No class.
    pub default: u64,
    /// `#[percpu(read_mostly)]`.
    pub read_mostly: u64,
    /// `#[percpu(shared_aligned)]`, each in whole cache lines.
    pub shared_aligned: u64,
    /// `#[percpu(page_aligned)]`, each in whole pages.
    pub page_aligned: u64,
}

/// Everything `inspect` reports about one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Inspection {
    /// The file, as given.
    pub file: String,
    /// `x86_64`, `aarch64`, `riscv64` or `loongarch64`.
    pub arch: &'static str,
    /// Whether the file is position-independent (`ET_DYN`).
    pub pie: bool,
    /// Address of `__percpu_start` (or of `.percpu`).
    pub percpu_start: u64,
    /// Bytes of static per-CPU data.
    pub static_size: u64,
    /// Where the static size was read: `"__percpu_end - __percpu_start"` or `".percpu size"`.
    pub static_size_from: &'static str,
    /// The variables, by offset.
    pub variables: Vec<Variable>,
    /// The bytes each placement class takes.
    pub classes: Classes,
    /// Unused bytes between and after the variables, by offset.
    pub holes: Vec<Hole>,
    /// Template symbols without a descriptor, by offset.
    pub unregistered: Vec<TemplateSymbol>,
    /// Inconsistencies found by the cross-check (none in a healthy file).
    pub notes: Vec<String>,
    /// The target the layout was computed for, and whether it was guessed from the file.
    pub target: Option<String>,
    /// Whether `target` was guessed from the file (no `--target`).
    pub target_inferred: bool,
    /// The unit layout for the target's configuration.
    pub layout: Option<UnitLayout>,
}

impl Inspection {
    /// Bytes of padding between variables (the tail after the last one not counted).
    pub fn padding(&self) -> u64 {
        self.holes.iter().filter(|h| h.before.is_some()).map(|h| h.size).sum()
    }

    /// The target triple a file most likely was built for: `*-unknown-linux-gnu` when it asks
    /// for a dynamic loader, `*-unknown-none` otherwise.
    pub fn likely_target(&self, elf_has_interpreter: bool) -> &'static str {
        match (self.arch, elf_has_interpreter) {
            ("aarch64", true) => "aarch64-unknown-linux-gnu",
            ("aarch64", false) => "aarch64-unknown-none",
            ("riscv64", true) => "riscv64gc-unknown-linux-gnu",
            ("riscv64", false) => "riscv64gc-unknown-none-elf",
            ("loongarch64", true) => "loongarch64-unknown-linux-gnu",
            ("loongarch64", false) => "loongarch64-unknown-none",
            (_, true) => "x86_64-unknown-linux-gnu",
            _ => "x86_64-unknown-none",
        }
    }
}

/// Why a file cannot be inspected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InspectError {
    /// The file cannot be read.
    Read {
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// The file is not a supported ELF file.
    Elf {
        /// The file.
        path: String,
        /// Why.
        error: ElfError,
    },
    /// The file has no `.percpu` section.
    NoPercpuSection {
        /// The file.
        path: String,
    },
    /// `--target` names a target rustc does not know.
    UnknownTarget {
        /// The triple given.
        triple: String,
        /// The closest built-in triple.
        suggestion: Option<&'static str>,
    },
    /// `--cpus` is out of range.
    BadCpus {
        /// The value given.
        cpus: usize,
    },
    /// The configuration is invalid.
    Config(ConfigError),
    /// The layout arithmetic rejects the static size with this configuration.
    Layout {
        /// The file.
        path: String,
        /// The static size read from the file.
        static_size: u64,
        /// Where the static size was read.
        static_size_from: &'static str,
        /// Why.
        error: LayoutError,
    },
}

impl fmt::Display for InspectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InspectError::Read { path, message } => write!(f, "{path}: cannot read: {message}"),
            InspectError::Elf { path, error } => write!(f, "{path}: {error}"),
            InspectError::NoPercpuSection { path } => write!(
                f,
                "{path}: no .percpu section: the file has no #[percpu] statics, or was linked \
                 without percpu-build's linker fragment (call percpu_build::configure() in build.rs)"
            ),
            InspectError::UnknownTarget { triple, suggestion } => {
                write!(
                    f,
                    "--target {triple}: not a target rustc knows; allowed a built-in target triple"
                )?;
                if let Some(s) = suggestion {
                    write!(f, "; did you mean `{s}`?")?;
                }
                Ok(())
            }
            InspectError::BadCpus { cpus } => {
                write!(f, "--cpus {cpus}: allowed 1 to {MAX_CPUS_LIMIT}")
            }
            InspectError::Config(e) => fmt::Display::fmt(e, f),
            InspectError::Layout { path, static_size, static_size_from, error } => write!(
                f,
                "{path}: no unit layout holds its {static_size} bytes of static per-CPU data \
                 ({static_size_from}): {error}"
            ),
        }
    }
}

impl std::error::Error for InspectError {}

/// What `percpu-build inspect` was asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InspectOptions {
    /// The ELF file.
    pub file: PathBuf,
    /// `--config`: the `percpu.toml` to lay the unit out with (default: the defaults).
    pub config: Option<PathBuf>,
    /// `--target`: the triple to resolve the configuration for (default: guessed from the file).
    pub target: Option<String>,
    /// `--cpus`: possible CPUs (default: the configuration's `max_cpus`).
    pub cpus: Option<usize>,
}

/// Inspects `opts.file` and lays its unit out for the target's configuration.
pub fn run(opts: &InspectOptions) -> Result<Inspection, InspectError> {
    let path = opts.file.display().to_string();
    let read_error = |message: String| InspectError::Read { path: path.clone(), message };
    // Only a regular file has an end: a device (/dev/zero) or a pipe would be read forever.
    let metadata = std::fs::metadata(&opts.file).map_err(|e| read_error(e.to_string()))?;
    if !metadata.is_file() {
        return Err(read_error(
            "not a regular file (a directory, device or pipe); give the linked ELF file".into(),
        ));
    }
    let data = std::fs::read(&opts.file).map_err(|e| read_error(e.to_string()))?;
    inspect_data(&path, &data, opts)
}

/// [`run`] on the bytes of a file already read (`path` names it in messages; `opts.file` is
/// not read).
pub fn inspect_data(
    path: &str,
    data: &[u8],
    opts: &InspectOptions,
) -> Result<Inspection, InspectError> {
    let elf =
        Elf::parse(data).map_err(|error| InspectError::Elf { path: path.to_string(), error })?;
    let mut inspection = inspect_elf(path, &elf)?;

    let (triple, inferred) = match &opts.target {
        Some(t) => (t.clone(), false),
        None => (inspection.likely_target(elf.has_interpreter()).to_string(), true),
    };
    let target = TargetCfg::builtin(&triple).ok_or_else(|| InspectError::UnknownTarget {
        suggestion: TargetCfg::suggest_triple(&triple),
        triple: triple.clone(),
    })?;
    let config = match &opts.config {
        Some(p) => Config::load(p, &target),
        None => Config::defaults(&target),
    }
    .map_err(InspectError::Config)?;
    let cpus = opts.cpus.unwrap_or(config.max_cpus());
    if cpus == 0 || cpus > MAX_CPUS_LIMIT {
        return Err(InspectError::BadCpus { cpus });
    }
    let layout_error = |error| InspectError::Layout {
        path: path.to_string(),
        static_size: inspection.static_size,
        static_size_from: inspection.static_size_from,
        error,
    };
    let static_size =
        usize::try_from(inspection.static_size).map_err(|_| layout_error(LayoutError::Overflow))?;
    let layout = unit_layout(&config, static_size, cpus).map_err(layout_error)?;
    inspection.target = Some(triple);
    inspection.target_inferred = inferred;
    inspection.layout = Some(layout);
    Ok(inspection)
}

/// `crate::module::_::NAME::h0123..` → `crate::module::NAME`: the demangled path without the
/// anonymous `const _` block the template lives in, and without the hash.
pub fn demangle_template(mangled: &str) -> String {
    let full = match rustc_demangle::try_demangle(mangled) {
        Ok(d) => format!("{d:#}"),
        Err(_) => mangled.to_string(),
    };
    full.split("::").filter(|seg| *seg != "_").collect::<Vec<_>>().join("::")
}

fn first_segment(path: &str) -> String {
    path.split("::").next().unwrap_or(path).to_string()
}

/// The size of a template of `size` bytes in `class`: padded to whole cache lines
/// (`shared_aligned`) or pages (`page_aligned`), as the runtime's alignment wrappers are.
fn padded_size(class: &str, size: u64) -> u64 {
    let to = match class {
        "shared_aligned" => CACHE_LINE as u64,
        "page_aligned" => PAGE_ALIGNED as u64,
        _ => return size,
    };
    size.div_ceil(to).saturating_mul(to)
}

/// The bytes of the template each placement class takes: from its first variable to the end
/// of its last (an aligned class's padding included), as the boot dump's `percpu: classes:`
/// line counts them.
fn class_bytes(variables: &[Variable]) -> Classes {
    let bytes = |class: &str| {
        let mut run = (u64::MAX, 0u64);
        for v in variables.iter().filter(|v| v.class == class) {
            run = (run.0.min(v.offset), run.1.max(v.offset + padded_size(class, v.size)));
        }
        run.1.saturating_sub(run.0)
    };
    Classes {
        hot: bytes("hot"),
        default: bytes(""),
        read_mostly: bytes("read_mostly"),
        shared_aligned: bytes("shared_aligned"),
        page_aligned: bytes("page_aligned"),
    }
}

/// Inspects a parsed file (no layout: see [`run`]).
pub fn inspect_elf(path: &str, elf: &Elf<'_>) -> Result<Inspection, InspectError> {
    let malformed = |error| InspectError::Elf { path: path.to_string(), error };
    let corrupted = |message| malformed(ElfError::Malformed { message });
    let percpu = elf
        .section(".percpu")
        .ok_or_else(|| InspectError::NoPercpuSection { path: path.to_string() })?;
    let percpu_end = percpu.end().ok_or_else(|| {
        corrupted(format!(
            "the .percpu section at {:#x} with {} bytes wraps the address space",
            percpu.address, percpu.size
        ))
    })?;
    let symbols = elf.symbols().map_err(malformed)?;
    let mut notes = Vec::new();
    if symbols.is_empty() {
        notes.push(
            "the file has no symbol table (stripped): bounds come from the sections, and \
             variables are not cross-checked with their template symbols"
                .to_string(),
        );
    }

    // The template: [start, end).
    let bounds = (
        symbol_address(&symbols, &["__percpu_start"]),
        symbol_address(&symbols, &["__percpu_end"]),
    );
    let (start, end, static_size_from) = match bounds {
        (Some(s), Some(e)) if e >= s => {
            // The fragment pads the section to its page boundary (at most 64 KiB pages).
            let padding = percpu.size.checked_sub(e - s);
            if padding.is_none_or(|p| p >= 64 << 10 || (s + percpu.size) % 4096 != 0 && p != 0) {
                notes.push(format!(
                    "__percpu_end - __percpu_start is {} bytes but .percpu is {} bytes (more \
                     than the padding to a page boundary)",
                    e - s,
                    percpu.size
                ));
            }
            (s, e, "__percpu_end - __percpu_start")
        }
        _ => (percpu.address, percpu_end, ".percpu size"),
    };
    let static_size = end - start;

    // The registry: its descriptors, in order.
    let descriptors = read_registry(elf, &symbols, &mut notes).map_err(corrupted)?;

    // Template symbols, by address, each demangled once; and by (address, name).
    let templates: Vec<(&Symbol<'_>, String)> = symbols
        .iter()
        .filter(|s| s.section == Some(percpu.index) && s.is_object)
        .map(|s| (s, demangle_template(s.name)))
        .collect();
    let mut by_address: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    let mut by_name: HashMap<(u64, &str), usize> = HashMap::new();
    for (i, (s, name)) in templates.iter().enumerate() {
        by_address.entry(s.address).or_default().push(i);
        by_name.entry((s.address, name.as_str())).or_insert(i);
    }

    let mut variables = Vec::new();
    for d in &descriptors {
        let path = format!("{}::{}", d.module_path, d.name);
        let offset = d.template.wrapping_sub(start);
        if d.template < start || offset.saturating_add(d.size) > static_size {
            notes.push(format!(
                "{path}: its descriptor points at {:#x}, outside the template [{start:#x}, {end:#x})",
                d.template
            ));
            continue;
        }
        let symbol = by_name
            .get(&(d.template, path.as_str()))
            .or_else(|| by_address.get(&d.template).and_then(|v| v.first()))
            .map(|&i| &templates[i]);
        let symbol_name = symbol.map(|(_, name)| name.clone());
        match symbol {
            None if !symbols.is_empty() => {
                notes.push(format!("{path}: no template symbol at {:#x}", d.template));
            }
            // An aligned class's template is padded to its alignment (a line, a page).
            Some((s, name)) if s.size != d.size && s.size != padded_size(d.class, d.size) => notes
                .push(format!(
                    "{path}: the descriptor says {} bytes, the symbol {name} says {}",
                    d.size, s.size
                )),
            Some((_, name)) if *name != path => {
                notes.push(format!("{path}: the template symbol at {:#x} is {name}", d.template))
            }
            _ => {}
        }
        variables.push(Variable {
            name: path,
            crate_name: first_segment(&d.module_path),
            module_path: d.module_path.clone(),
            declared_type: d.declared_type.clone(),
            offset,
            size: d.size,
            // An aligned class's template is aligned to its line or page.
            align: d.align.max(padded_size(d.class, 1)),
            address: d.template,
            symbol: symbol_name,
            has_init: d.has_init,
            class: d.class.to_string(),
        });
    }
    variables.sort_by(|a, b| (a.offset, &a.name).cmp(&(b.offset, &b.name)));
    for pair in variables.windows(2) {
        if pair[0].offset == pair[1].offset {
            notes.push(format!(
                "{} and {} share offset {:#x}",
                pair[0].name, pair[1].name, pair[0].offset
            ));
        }
    }

    // Symbols no accepted descriptor describes: outside the template (a note), or unregistered.
    let described: BTreeSet<u64> = variables.iter().map(|v| v.address).collect();
    let mut unregistered = Vec::new();
    for &i in by_address.values().flatten() {
        let (s, name) = &templates[i];
        if described.contains(&s.address) {
            continue;
        }
        if s.address < start || s.address.saturating_add(s.size) > end {
            notes.push(format!(
                "{name}: the symbol is in .percpu at {:#x}, outside the template [{start:#x}, {end:#x})",
                s.address
            ));
            continue;
        }
        unregistered.push(TemplateSymbol {
            crate_name: first_segment(name),
            name: name.clone(),
            offset: s.address - start,
            size: s.size,
            mangled: s.name.to_string(),
        });
    }

    let holes = find_holes(&variables, &unregistered, static_size, &mut notes);
    Ok(Inspection {
        file: path.to_string(),
        arch: elf.machine().name(),
        pie: elf.is_pie(),
        percpu_start: start,
        static_size,
        static_size_from,
        classes: class_bytes(&variables),
        variables,
        holes,
        unregistered,
        notes,
        target: None,
        target_inferred: false,
        layout: None,
    })
}

/// The unused ranges of `[0, static_size)` between the variables and unregistered symbols.
fn find_holes(
    variables: &[Variable],
    unregistered: &[TemplateSymbol],
    static_size: u64,
    notes: &mut Vec<String>,
) -> Vec<Hole> {
    let mut items: Vec<(u64, u64, &str)> = variables
        .iter()
        .map(|v| (v.offset, v.size, v.name.as_str()))
        .chain(unregistered.iter().map(|s| (s.offset, s.size, s.name.as_str())))
        .collect();
    items.sort();
    let mut holes = Vec::new();
    let mut cursor = 0;
    let mut last: Option<&str> = None;
    for (offset, size, name) in items {
        if offset > cursor {
            holes.push(Hole {
                offset: cursor,
                size: offset - cursor,
                after: last.map(str::to_string),
                before: Some(name.to_string()),
            });
        } else if offset < cursor {
            if let Some(prev) = last.filter(|_| size > 0) {
                notes.push(format!("{name} overlaps {prev} at offset {offset:#x}"));
            }
        }
        cursor = cursor.max(offset.saturating_add(size));
        last = Some(name);
    }
    if static_size > cursor {
        holes.push(Hole {
            offset: cursor,
            size: static_size - cursor,
            after: last.map(str::to_string),
            before: None,
        });
    }
    holes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_names_lose_the_const_block_and_hash() {
        assert_eq!(
            demangle_template("_ZN11hosted_demo1_7COUNTER17hb5d8c3881ec88bb7E"),
            "hosted_demo::COUNTER"
        );
        assert_eq!(
            demangle_template("_ZN9percpu_rt5local1_6CPU_ID17ha3b3d8df0de5d43eE"),
            "percpu_rt::local::CPU_ID"
        );
        assert_eq!(demangle_template("plain_c_symbol"), "plain_c_symbol");
    }

    fn var(name: &str, offset: u64, size: u64) -> Variable {
        Variable {
            name: name.into(),
            crate_name: first_segment(name),
            module_path: String::new(),
            declared_type: String::new(),
            offset,
            size,
            align: 1,
            address: offset,
            symbol: None,
            has_init: false,
            class: String::new(),
        }
    }

    #[test]
    fn holes_between_and_after_variables() {
        let vars = [var("a::X", 0, 1), var("a::Y", 8, 8), var("a::Z", 16, 4)];
        let mut notes = vec![];
        let holes = find_holes(&vars, &[], 24, &mut notes);
        assert_eq!(
            holes,
            vec![
                Hole {
                    offset: 1,
                    size: 7,
                    after: Some("a::X".into()),
                    before: Some("a::Y".into())
                },
                Hole { offset: 20, size: 4, after: Some("a::Z".into()), before: None },
            ]
        );
        assert!(notes.is_empty());
        let overlapping = [var("a::X", 0, 8), var("a::Y", 4, 8)];
        find_holes(&overlapping, &[], 12, &mut notes);
        assert_eq!(notes, vec!["a::Y overlaps a::X at offset 0x4".to_string()]);
    }
}
