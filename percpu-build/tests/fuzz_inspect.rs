//! Fuzzing `inspect` as a library call, deterministically (tests/fuzz/mod.rs): the sample
//! files of tests/common (an aarch64 static kernel, an x86_64 PIE with relative relocations, a
//! file whose descriptors disagree with its symbols, a bare header) corrupted by truncation,
//! bit flips in the whole file and in its tables, and fields of the ELF header, program
//! header, section headers, symbols, relocations and registry descriptors patched with
//! extreme values. Every case must give an inspection (which is then rendered as text and
//! JSON) or a one-line error, within the case limit and without a panic.

mod common;
mod fuzz;

use common::{AARCH64, SampleVar, X86_64, build, empty_executable, get_u64, put_u64};
use fuzz::{Budget, Case, Rng};
use percpu_build::inspect::{InspectOptions, inspect_data};
use percpu_build::report;
use std::sync::OnceLock;
use std::time::Duration;

/// The uncorrupted files.
fn samples() -> &'static [Vec<u8>] {
    static SAMPLES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let mut ticks = SampleVar::new("kernel", "TICKS", "u32", 8, 4);
        ticks.init = true;
        let mut legacy = SampleVar::new("kernel::irq", "LEGACY", "u16", 24, 2);
        legacy.described = false;
        let vars = vec![
            SampleVar::new("kernel::sched", "RUNQUEUE_LEN", "usize", 0, 8),
            ticks,
            SampleVar::new("percpu_rt::runtime_vars", "CPU_ID", "u32", 16, 4),
            legacy,
        ];
        let mut wrong = SampleVar::new("k", "WRONG_SIZE", "u64", 0, 8);
        wrong.symbol_size = Some(4);
        let outside = SampleVar::new("k", "OUTSIDE", "u64", 64, 8);
        vec![
            build(AARCH64, false, 32, &vars),
            build(X86_64, true, 32, &vars),
            build(AARCH64, true, 16, &[wrong, outside]),
            empty_executable(),
        ]
    })
}

/// The tables of a sample: (file offset, entry size, entries).
fn tables() -> [(usize, usize, usize); 6] {
    [
        (0, 64, 1),                                              // ELF header
        (common::PHDR, 56, 1),                                   // program header
        (common::SHDRS as usize, common::SHDR_SIZE, 8),          // section headers
        (common::SYMTAB as usize, common::SYM_SIZE, 10),         // symbols
        (common::RELA as usize, 24, 16),                         // relocations
        (common::REGISTRY as usize, common::DESCRIPTOR_SIZE, 3), // descriptors
    ]
}

/// Values that break arithmetic and bounds: edges of the file, of the sample's addresses, and
/// of `u64`.
fn extreme(r: &mut Rng, file_len: usize, old: u64) -> u64 {
    let len = file_len as u64;
    let values = [
        0,
        1,
        7,
        8,
        96,
        0x1000,
        0x2000,
        0x3000,
        0x3000 + 96,
        len,
        len.wrapping_sub(1),
        len + 1,
        len.wrapping_sub(8),
        0x7fff_ffff_ffff,
        0x1000_0000_0000_0000,
        1 << 63,
        u64::MAX,
        u64::MAX - 7,
        u64::MAX - 0xfff,
        old.wrapping_add(1 + r.below(64) as u64),
        old.wrapping_sub(1 + r.below(64) as u64),
        old ^ (1 << r.below(64)),
        r.next_u64(),
    ];
    *r.pick(&values)
}

/// Sets the 8-byte field at `at` to an extreme value; describes the change.
fn patch_word(r: &mut Rng, file: &mut [u8], what: &str, at: usize) -> String {
    if at + 8 > file.len() {
        return format!("{what}: past the end");
    }
    let old = get_u64(file, at);
    let value = extreme(r, file.len(), old);
    put_u64(file, at, value);
    format!("{what} at {at:#x}: {old:#x} -> {value:#x}")
}

/// One corruption of `file`, described.
fn corrupt(r: &mut Rng, file: &mut Vec<u8>) -> String {
    let len = file.len();
    match r.below(12) {
        0 => {
            let at = if r.chance(1, 2) {
                r.below(len + 1)
            } else {
                // A table boundary, give or take a few bytes.
                let (start, size, n) = *r.pick(&tables());
                (start + size * r.below(n + 1)).saturating_sub(r.below(9)).min(len)
            };
            file.truncate(at);
            format!("truncated to {at} bytes")
        }
        1 => {
            let flips = 1 + r.below(16);
            for _ in 0..flips {
                let at = r.below(len.max(1));
                if let Some(b) = file.get_mut(at) {
                    *b ^= 1 << r.below(8);
                }
            }
            format!("{flips} bits flipped anywhere")
        }
        2 => {
            let (start, size, n) = *r.pick(&tables());
            let at = start + r.below(size * n);
            if at < len {
                file[at] = r.next_u64() as u8;
            }
            format!("byte {at:#x} of a table set at random")
        }
        3 | 4 => {
            // Any 8-byte field of any table entry.
            let (start, size, n) = *r.pick(&tables());
            let at = start + size * r.below(n) + 8 * r.below(size / 8);
            patch_word(r, file, "a table word", at)
        }
        5 => {
            // A 2- or 4-byte field: counts, indices, names, types.
            let (start, size, n) = *r.pick(&tables());
            let width = *r.pick(&[2, 4]);
            let at = start + size * r.below(n) + width * r.below(size / width);
            if at + width > len {
                return "no field past the end".to_string();
            }
            let value = extreme(r, len, 0).to_le_bytes();
            file[at..at + width].copy_from_slice(&value[..width]);
            format!("{width}-byte field at {at:#x} set to {:x?}", &value[..width])
        }
        6 => {
            // p_offset, p_vaddr, p_filesz or p_memsz of the PT_LOAD.
            let field = *r.pick(&[8, 16, 32, 40]);
            patch_word(r, file, "a program header field", common::PHDR + field)
        }
        7 => {
            // st_value or st_size of a symbol: the bounds, or a template.
            let at = common::SYMTAB as usize + common::SYM_SIZE * (1 + r.below(8));
            let field = *r.pick(&[8, 16]);
            patch_word(r, file, "a symbol's value or size", at + field)
        }
        8 => {
            // sh_addr, sh_offset or sh_size of a section.
            let at = common::SHDRS as usize + common::SHDR_SIZE * (1 + r.below(7));
            let field = *r.pick(&[16, 24, 32]);
            patch_word(r, file, "a section header field", at + field)
        }
        9 => {
            let at = common::REGISTRY as usize + 8 * r.below(3 * common::DESCRIPTOR_SIZE / 8);
            patch_word(r, file, "a descriptor word", at)
        }
        10 => {
            let at = common::RELA as usize + 8 * r.below(3 * 16);
            patch_word(r, file, "a relocation word", at)
        }
        _ => {
            // A chunk of the file copied over another place.
            let from = r.below(len.max(1));
            let to = r.below(len.max(1));
            let n = (1 + r.below(256)).min(len - from.max(to));
            file.copy_within(from..from + n, to);
            format!("{n} bytes copied from {from:#x} to {to:#x}")
        }
    }
}

/// A corrupted file, with the options it is inspected with.
struct Input {
    file: Vec<u8>,
    cpus: Option<usize>,
}

fn generate(r: &mut Rng) -> Case<Input> {
    let sample = r.below(samples().len());
    let mut file = samples()[sample].clone();
    let n = 1 + r.below(3);
    let changes: Vec<String> = (0..n).map(|_| corrupt(r, &mut file)).collect();
    // Mostly few CPUs; the largest count rarely (its dump is long to render in a debug build).
    let cpus = if r.chance(1, 32) { Some(8192) } else { *r.pick(&[Some(1), Some(4), None]) };
    let description = format!("sample {sample}, cpus {cpus:?}: {}", changes.join("; "));
    Case { input: Input { file, cpus }, description }
}

fn check(input: &Input) -> Result<&'static str, String> {
    let opts = InspectOptions { cpus: input.cpus, ..Default::default() };
    match inspect_data("fuzz.elf", &input.file, &opts) {
        Ok(inspection) => {
            // What the command does with it.
            report::text(&inspection);
            serde_json::to_string(&inspection).map_err(|e| e.to_string())?;
            Ok(if inspection.notes.is_empty() { "inspections" } else { "inspections with notes" })
        }
        Err(e) => {
            let text = e.to_string();
            if text.is_empty() || text.contains('\n') {
                return Err(format!("an error that is not one line: {text:?}"));
            }
            if !text.starts_with("fuzz.elf: ") {
                return Err(format!("an error that does not name the file: {text:?}"));
            }
            Ok("errors")
        }
    }
}

#[test]
fn corrupted_files_give_an_inspection_or_a_one_line_error() {
    let budget = Budget::from_env(0x5EED_E1F0, 5000, Duration::from_secs(12));
    let summary = fuzz::run("fuzz_inspect", budget, generate, check, |i| i.file.clone());
    assert!(summary.cases >= 500, "only {} cases ran in the time budget", summary.cases);
    // The corruptions must leave many files readable, or the reader's paths go untested.
    let inspections: usize = summary
        .outcomes
        .iter()
        .filter(|(label, _)| label.starts_with("inspections"))
        .map(|(_, n)| n)
        .sum();
    assert!(inspections * 4 >= summary.cases, "{:?}", summary.outcomes);
}
