//! `inspect` on exact, hand-built ELF files (tests/common): an aarch64 static kernel (pointers
//! stored in place), an x86_64 PIE (pointers in `R_X86_64_RELATIVE` relocations), and the
//! cross-check findings (template symbols without a descriptor, size and symbol mismatches).

mod common;

use common::{AARCH64, RISCV, SampleVar, X86_64, build, temp_file};
use percpu_build::inspect::{self, Hole, InspectOptions, Inspection};
use std::process::Command;

fn kernel_vars() -> Vec<SampleVar> {
    let mut ticks = SampleVar::new("kernel", "TICKS", "u32", 8, 4);
    ticks.init = true;
    let mut legacy = SampleVar::new("kernel::irq", "LEGACY", "u16", 24, 2);
    legacy.described = false;
    vec![
        SampleVar::new("kernel::sched", "RUNQUEUE_LEN", "usize", 0, 8),
        ticks,
        SampleVar::new("percpu_rt::runtime_vars", "CPU_ID", "u32", 16, 4),
        legacy,
    ]
}

fn inspect_sample(name: &str, bytes: &[u8]) -> Inspection {
    let path = temp_file(name, bytes);
    inspect::run(&InspectOptions { file: path, ..Default::default() })
        .unwrap_or_else(|e| panic!("{e}"))
}

fn check_kernel(i: &Inspection) {
    let vars: Vec<(&str, &str, u64, u64, bool)> = i
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.crate_name.as_str(), v.offset, v.size, v.has_init))
        .collect();
    assert_eq!(
        vars,
        vec![
            ("kernel::sched::RUNQUEUE_LEN", "kernel", 0, 8, false),
            ("kernel::TICKS", "kernel", 8, 4, true),
            ("percpu_rt::runtime_vars::CPU_ID", "percpu_rt", 16, 4, false),
        ]
    );
    assert_eq!(i.variables[0].declared_type, "usize");
    assert_eq!(i.variables[0].symbol.as_deref(), Some("kernel::sched::RUNQUEUE_LEN"));
    assert_eq!(i.unregistered.len(), 1);
    assert_eq!(
        (i.unregistered[0].name.as_str(), i.unregistered[0].offset),
        ("kernel::irq::LEGACY", 24)
    );
    assert_eq!(
        i.holes,
        vec![
            Hole {
                offset: 12,
                size: 4,
                after: Some("kernel::TICKS".into()),
                before: Some("percpu_rt::runtime_vars::CPU_ID".into())
            },
            Hole {
                offset: 20,
                size: 4,
                after: Some("percpu_rt::runtime_vars::CPU_ID".into()),
                before: Some("kernel::irq::LEGACY".into())
            },
            Hole { offset: 26, size: 6, after: Some("kernel::irq::LEGACY".into()), before: None },
        ]
    );
    assert!(i.notes.is_empty(), "{:?}", i.notes);
    assert_eq!((i.static_size, i.static_size_from), (32, "__percpu_end - __percpu_start"));
}

#[test]
fn an_aarch64_static_kernel_stores_pointers_in_place() {
    let i = inspect_sample("aarch64-kernel.elf", &build(AARCH64, false, 32, &kernel_vars()));
    assert_eq!((i.arch, i.pie), ("aarch64", false));
    check_kernel(&i);
    assert_eq!((i.target.as_deref(), i.target_inferred), (Some("aarch64-unknown-none"), true));
    let layout = i.layout.unwrap();
    assert_eq!((layout.cpus, layout.unit_size, layout.static_size), (64, 40 << 10, 32));
    assert_eq!(layout.dump[0], "pcpu-alloc: s32 r8192 d32736 u40960 alloc=10*4096");
}

#[test]
fn a_riscv64_static_kernel_is_read_like_the_others() {
    let i = inspect_sample("riscv64-kernel.elf", &build(RISCV, false, 32, &kernel_vars()));
    assert_eq!((i.arch, i.pie), ("riscv64", false));
    check_kernel(&i);
    assert_eq!(
        (i.target.as_deref(), i.target_inferred),
        (Some("riscv64gc-unknown-none-elf"), true)
    );
    let layout = i.layout.unwrap();
    assert_eq!(layout.dump[0], "pcpu-alloc: s32 r8192 d32736 u40960 alloc=10*4096");
}

#[test]
fn a_riscv64_pie_fills_pointers_with_relative_relocations() {
    let i = inspect_sample("riscv64-pie.elf", &build(RISCV, true, 32, &kernel_vars()));
    assert_eq!((i.arch, i.pie), ("riscv64", true));
    check_kernel(&i);
}

#[test]
fn an_x86_64_pie_fills_pointers_with_relative_relocations() {
    let bytes = build(X86_64, true, 32, &kernel_vars());
    let i = inspect_sample("x86_64-pie.elf", &bytes);
    assert_eq!((i.arch, i.pie), ("x86_64", true));
    check_kernel(&i);
    // Without the relocations the descriptors' pointers are 0: nothing would be readable.
    let elf = percpu_build::elf::Elf::parse(&bytes).unwrap();
    let registry = elf.section(".percpu_registry").unwrap();
    assert_eq!(elf.stored_u64(registry.address), Some(0));
    assert_ne!(elf.pointer_at(registry.address), Some(0));
}

#[test]
fn the_cross_check_reports_mismatches() {
    let mut wrong_size = SampleVar::new("k", "WRONG_SIZE", "u64", 0, 8);
    wrong_size.symbol_size = Some(4);
    let mut no_symbol = SampleVar::new("k", "NO_SYMBOL", "u32", 8, 4);
    no_symbol.symbol_size = None;
    let outside = SampleVar::new("k", "OUTSIDE", "u64", 64, 8);
    let vars = [wrong_size, no_symbol, outside];
    let i = inspect_sample("mismatch.elf", &build(AARCH64, false, 16, &vars));
    assert_eq!(
        i.notes,
        vec![
            "k::WRONG_SIZE: the descriptor says 8 bytes, the symbol k::WRONG_SIZE says 4"
                .to_string(),
            "k::NO_SYMBOL: no template symbol at 0x2008".to_string(),
            "k::OUTSIDE: its descriptor points at 0x2040, outside the template [0x2000, 0x2010)"
                .to_string(),
            "k::OUTSIDE: the symbol is in .percpu at 0x2040, outside the template [0x2000, 0x2010)"
                .to_string(),
        ]
    );
    let names: Vec<&str> = i.variables.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["k::WRONG_SIZE", "k::NO_SYMBOL"]);
    assert!(i.unregistered.is_empty());
}

#[test]
fn the_command_prints_text_and_json() {
    let path = temp_file("cli-kernel.elf", &build(AARCH64, false, 32, &kernel_vars()));
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_percpu-build"))
            .arg("inspect")
            .arg(&path)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(&["--cpus", "4"]);
    for line in [
        "aarch64 static executable",
        ".percpu at 0x2000: 32 bytes of static per-CPU data (__percpu_end - __percpu_start)",
        "0x0008      4      4  kernel     kernel::TICKS                    u32  (per-CPU init)",
        "0x000c      4                    (padding)",
        "0x001a      6                    (tail padding)",
        "3 variables from 2 crates; 8 bytes of padding between them",
        "template symbols without a descriptor:",
        "unit layout for aarch64-unknown-none ((defaults), guessed from the file; use --target), 4 possible CPUs:",
        "  | static 32 bytes | reserved 8 KiB | dynamic 32736 bytes | unused 0 bytes |",
        "  pcpu-alloc: [0] 0 [0] 1 [0] 2 [0] 3 ",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&run(&["--json", "--target", "aarch64-unknown-none"])).unwrap();
    assert_eq!(json["arch"], "aarch64");
    assert_eq!(json["target"], "aarch64-unknown-none");
    assert_eq!(json["target_inferred"], false);
    assert_eq!(json["variables"][1]["name"], "kernel::TICKS");
    assert_eq!(json["variables"][1]["has_init"], true);
    assert_eq!(json["unregistered"][0]["offset"], 24);
    assert_eq!(json["layout"]["cpus"], 64);
}
