//! Boots the example kernels under QEMU: x86_64 (PVH, INIT-SIPI-SIPI), aarch64 (virt, PSCI) at
//! EL1 and, built with `el2`, at EL2 under `virtualization=on`, both with exclusive-pair atomics
//! on `cortex-a72` (1, 2, 3, 4, 5, 7, 8, 16 and 64 CPUs; 64 is the kernels' `max_cpus`), aarch64
//! with LSE atomics on `-cpu max`, and riscv64 (virt, OpenSBI, SBI HSM) with its per-CPU base
//! in `tp` and in `gp`, and with Zacas and Zabha (1, 2, 4, 8 and 16 harts), and loongarch64
//! (virt direct boot, mailbox + IPI) with its base in `$r21` and in `$tp` (1, 2, 4, 8 and 16
//! CPUs); every one in both
//! first-chunk modes; with more possible CPUs than online ones (x86_64: `-smp N,maxcpus=M`,
//! whose extra CPUs the ACPI MADT lists as hot-pluggable; all: the kernel's `maxcpus=`
//! parameter); checks the exit status and the markers of every boot (a unit for every possible
//! CPU, only the online ones started, each with the expected base register, their copies
//! exact, the offline units still holding their initial values), that failures are reported as
//! such, and inspects the kernel ELF files with `percpu-build inspect`. The kernel without a
//! heap (built with `-Zbuild-std=core`, percpu-rt without `alloc`) boots in both first-chunk
//! modes too. The disassembly of every kernel's by-value operations is checked in
//! `tests/codegen.rs`.
//!
//! The toolchain is installed when missing (a tool that stays missing fails the test: nothing
//! is skipped). Each kernel variant is built once, by whichever test needs it first.

use std::path::PathBuf;

use kernel_tests::markers::{Expected, check_fail, check_pass, check_pass_of};
use kernel_tests::qemu::Boot;
use kernel_tests::{FirstChunkMode, Kernel, build};

/// CPU counts `kernel` boots with, in both first-chunk modes: the x86_64 kernel and the two
/// aarch64 builds that have always been booted every way up to `max_cpus`, the newer variants
/// (aarch64 with LSE, riscv64) with 1 to 16 CPUs.
fn cpu_counts(kernel: Kernel) -> &'static [u32] {
    match kernel {
        Kernel::X86_64 | Kernel::Aarch64El1 | Kernel::Aarch64El2 => &[1, 2, 3, 4, 5, 7, 8, 16, 64],
        _ => &[1, 2, 4, 8, 16],
    }
}
/// From this many online CPUs on, a boot runs [`FEW_ITERATIONS`] rounds of per-CPU work
/// instead of the kernels' default 100 000: 63 or 64 emulated aarch64 CPUs on two host cores take
/// 10-20 s for the default (their per-CPU updates are atomic read-modify-writes, which TCG
/// emulates slowly), 3-5 s for 10 000.
const FEW_ITERATIONS_FROM: u32 = 32;
/// Rounds of per-CPU work for the largest CPU counts (`iterations=` on the command line).
const FEW_ITERATIONS: u64 = 10_000;

/// Where the nested builds put their output (kept between runs: rebuilds are incremental).
fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("percpu-kernels")
}

/// The ELF of `kernel`, built on first use.
fn elf(kernel: Kernel) -> PathBuf {
    kernel_tests::elf(kernel, &work_dir())
}

fn arch_banner(kernel: Kernel, virtualization: bool) -> &'static str {
    match (kernel, virtualization) {
        (Kernel::X86_64 | Kernel::X86_64Debug, _) => "x86_64",
        (Kernel::CoreOnly, _) => "x86_64 (core only)",
        (Kernel::Aarch64El1, false) => "aarch64 at EL1",
        (Kernel::Aarch64El1, true) => "aarch64 at EL1 (entered at EL2)",
        (Kernel::Aarch64El2, _) => "aarch64 at EL2",
        (Kernel::Aarch64Lse, _) => "aarch64 at EL1 with LSE atomics",
        (Kernel::Riscv64Tp, _) => "riscv64 (base in tp)",
        (Kernel::Riscv64Gp, _) => "riscv64 (base in gp)",
        (Kernel::Riscv64Zacas, _) => "riscv64 (base in tp) with Zacas and Zabha",
        (Kernel::Loongarch64R21, _) => "loongarch64 (base in $r21)",
        (Kernel::Loongarch64Tp, _) => "loongarch64 (base in $tp)",
    }
}

/// The kernel command line for `online` CPUs in `mode` (`None`: the kernel's default) with
/// `extra` parameters; `None` when empty.
fn command_line(mode: Option<FirstChunkMode>, online: u32, extra: &[&str]) -> Option<String> {
    let mut words: Vec<String> = extra.iter().map(|w| w.to_string()).collect();
    if let Some(mode) = mode {
        words.push(format!("percpu_alloc={}", mode.name()));
    }
    if online >= FEW_ITERATIONS_FROM {
        words.push(format!("iterations={FEW_ITERATIONS}"));
    }
    (!words.is_empty()).then(|| words.join(" "))
}

/// Runs every boot and checks it against its expectation; panics with every failing
/// transcript.
fn check_boots(cases: Vec<(Boot, Expected<'static>)>) {
    let total = cases.len();
    let mut failures = Vec::new();
    let mut other_boot_hart = 0;
    for (boot, want) in cases {
        match boot.run() {
            Ok(run) => {
                if let Err(e) = check_pass_of(boot.kernel, &run, &want) {
                    failures.push(e);
                } else if let Err(e) = check_base_register(&run, boot.kernel) {
                    failures.push(e);
                }
                // OpenSBI picks the boot hart; it becomes CPU 0 whatever its hart id.
                if boot.kernel.arch() == "riscv64"
                    && !run.lines().any(|l| l.starts_with("cpu0: online, hardware id 0x0,"))
                {
                    other_boot_hart += 1;
                }
            }
            Err(e) => failures.push(format!("{}: {e}", boot.shell_command())),
        }
    }
    if other_boot_hart > 0 {
        println!("{other_boot_hart} of {total} boots had a boot hart other than hart 0");
    }
    assert!(
        failures.is_empty(),
        "{} of {total} boots failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Every `cpuN: online` line must name the register the variant keeps its base in
/// (`tp = 0x...`, `TPIDR_EL2 = 0x...`).
fn check_base_register(run: &kernel_tests::qemu::Run, kernel: Kernel) -> Result<(), String> {
    let register = format!(", {} = 0x", kernel.base_register());
    match run.lines().find(|l| l.contains(": online, ") && !l.contains(&register)) {
        Some(line) => Err(format!("{line:?} does not name {register:?}\n{}", run.describe())),
        None => Ok(()),
    }
}

/// Boots `kernel` with every CPU count in `mode` (`None`: the kernel's default, no command
/// line) and checks each boot.
fn boots_everywhere(kernel: Kernel, mode: Option<FirstChunkMode>) {
    boots_with(kernel, mode, cpu_counts(kernel));
}

/// Boots `kernel` with each of `cpu_counts` CPUs in `mode` and checks each boot.
fn boots_with(kernel: Kernel, mode: Option<FirstChunkMode>, cpu_counts: &[u32]) {
    let elf = elf(kernel);
    let cases = cpu_counts
        .iter()
        .copied()
        .map(|cpus| {
            let mut boot = Boot::new(kernel, elf.clone(), cpus);
            boot.append = command_line(mode, cpus, &[]);
            let want = Expected::all_online(
                cpus,
                kernel.cpus_from(),
                mode.unwrap_or(kernel.default_mode()),
                arch_banner(kernel, boot.virtualization),
            );
            (boot, want)
        })
        .collect();
    check_boots(cases);
}

#[test]
fn x86_64_boots_with_its_embedded_first_chunk() {
    boots_everywhere(Kernel::X86_64, None);
}

/// `-smp 63` once failed in the embed mode (more free ranges than the frame allocator kept):
/// one below the largest count, where the units no longer fill the atoms evenly.
#[test]
fn x86_64_boots_63_cpus_in_either_mode() {
    boots_with(Kernel::X86_64, None, &[63]);
    boots_with(Kernel::X86_64, Some(FirstChunkMode::Page), &[63]);
}

#[test]
fn x86_64_boots_with_a_page_mode_first_chunk() {
    boots_everywhere(Kernel::X86_64, Some(FirstChunkMode::Page));
}

#[test]
fn aarch64_el1_boots_with_its_page_mode_first_chunk() {
    boots_everywhere(Kernel::Aarch64El1, None);
}

#[test]
fn aarch64_el1_boots_with_an_embedded_first_chunk() {
    boots_everywhere(Kernel::Aarch64El1, Some(FirstChunkMode::Embed));
}

#[test]
fn aarch64_el2_boots_with_its_page_mode_first_chunk() {
    boots_everywhere(Kernel::Aarch64El2, None);
}

#[test]
fn aarch64_el2_boots_with_an_embedded_first_chunk() {
    boots_everywhere(Kernel::Aarch64El2, Some(FirstChunkMode::Embed));
}

#[test]
fn aarch64_lse_boots_with_its_page_mode_first_chunk() {
    boots_everywhere(Kernel::Aarch64Lse, None);
}

#[test]
fn aarch64_lse_boots_with_an_embedded_first_chunk() {
    boots_everywhere(Kernel::Aarch64Lse, Some(FirstChunkMode::Embed));
}

#[test]
fn riscv64_tp_boots_with_its_page_mode_first_chunk() {
    boots_everywhere(Kernel::Riscv64Tp, None);
}

#[test]
fn riscv64_tp_boots_with_an_embedded_first_chunk() {
    boots_everywhere(Kernel::Riscv64Tp, Some(FirstChunkMode::Embed));
}

#[test]
fn riscv64_gp_boots_with_its_page_mode_first_chunk() {
    boots_everywhere(Kernel::Riscv64Gp, None);
}

#[test]
fn riscv64_gp_boots_with_an_embedded_first_chunk() {
    boots_everywhere(Kernel::Riscv64Gp, Some(FirstChunkMode::Embed));
}

#[test]
fn riscv64_zacas_boots_with_its_page_mode_first_chunk() {
    boots_everywhere(Kernel::Riscv64Zacas, None);
}

#[test]
fn riscv64_zacas_boots_with_an_embedded_first_chunk() {
    boots_everywhere(Kernel::Riscv64Zacas, Some(FirstChunkMode::Embed));
}

#[test]
fn loongarch64_r21_boots_with_its_page_mode_first_chunk() {
    boots_everywhere(Kernel::Loongarch64R21, None);
}

#[test]
fn loongarch64_r21_boots_with_an_embedded_first_chunk() {
    boots_everywhere(Kernel::Loongarch64R21, Some(FirstChunkMode::Embed));
}

#[test]
fn loongarch64_tp_boots_with_its_page_mode_first_chunk() {
    boots_everywhere(Kernel::Loongarch64Tp, None);
}

#[test]
fn loongarch64_tp_boots_with_an_embedded_first_chunk() {
    boots_everywhere(Kernel::Loongarch64Tp, Some(FirstChunkMode::Embed));
}

/// loongarch64 (base in `$r21` and in `$tp`, both first-chunk modes): every CPU of the device
/// tree is possible and present; `maxcpus=8` brings 8 of 16 online (the other 8 are never sent a
/// mailbox), and their units keep their initial values.
#[test]
fn loongarch64_sets_up_a_unit_for_every_possible_cpu() {
    let mut cases = Vec::new();
    for kernel in [Kernel::Loongarch64R21, Kernel::Loongarch64Tp] {
        let elf = elf(kernel);
        for mode in [FirstChunkMode::Page, FirstChunkMode::Embed] {
            let mut boot = Boot::new(kernel, elf.clone(), 16);
            boot.append = command_line(Some(mode), 8, &["maxcpus=8"]);
            let arch = arch_banner(kernel, false);
            let want = Expected {
                online: 8,
                present: 16,
                possible: 16,
                cpus_from: "device tree",
                mode,
                arch,
            };
            cases.push((boot, want));
        }
    }
    check_boots(cases);
}

/// riscv64 (base in `tp` and in `gp`, both first-chunk modes): every hart of the device tree is
/// possible and present; `maxcpus=8` brings 8 of 16 online, and the other 8 units keep their
/// initial values.
#[test]
fn riscv64_sets_up_a_unit_for_every_possible_hart() {
    let mut cases = Vec::new();
    for kernel in [Kernel::Riscv64Tp, Kernel::Riscv64Gp] {
        let elf = elf(kernel);
        for mode in [FirstChunkMode::Page, FirstChunkMode::Embed] {
            let mut boot = Boot::new(kernel, elf.clone(), 16);
            boot.append = command_line(Some(mode), 8, &["maxcpus=8"]);
            let arch = arch_banner(kernel, false);
            let want = Expected {
                online: 8,
                present: 16,
                possible: 16,
                cpus_from: "device tree",
                mode,
                arch,
            };
            cases.push((boot, want));
        }
    }
    check_boots(cases);
}

/// x86_64 with more possible CPUs than online ones, in both first-chunk modes: QEMU's
/// `-smp N,maxcpus=M` lists `M` CPUs in the ACPI MADT, the first `N` enabled (present) and the
/// others hot-pluggable; `maxcpus=K` on the command line brings only `K` of the present CPUs
/// online (as in Linux). Every possible CPU gets a unit, only the online ones start, and the
/// others' units keep their initial values. Without ACPI tables the kernel counts CPUs through
/// fw_cfg.
#[test]
fn x86_64_sets_up_a_unit_for_every_possible_cpu() {
    let kernel = Kernel::X86_64;
    let elf = elf(kernel);
    let arch = arch_banner(kernel, false);
    let mut cases = Vec::new();
    for mode in [FirstChunkMode::Embed, FirstChunkMode::Page] {
        // (present, possible, maxcpus=, online)
        for (present, possible, limit, online) in
            [(4, 8, None, 4), (8, 16, None, 8), (8, 16, Some(2), 2)]
        {
            let mut boot = Boot::new(kernel, elf.clone(), present);
            boot.max_cpus = Some(possible);
            let extra = limit.map(|k| format!("maxcpus={k}"));
            boot.append =
                command_line(Some(mode), online, &extra.as_deref().into_iter().collect::<Vec<_>>());
            let want = Expected { online, present, possible, cpus_from: "ACPI MADT", mode, arch };
            cases.push((boot, want));
        }
    }
    let mut no_acpi = Boot::new(kernel, elf.clone(), 4);
    no_acpi.max_cpus = Some(8);
    no_acpi.no_acpi = true;
    let want = Expected {
        online: 4,
        present: 4,
        possible: 8,
        cpus_from: "fw_cfg",
        mode: FirstChunkMode::Embed,
        arch,
    };
    cases.push((no_acpi, want));
    check_boots(cases);
}

/// x86_64 starts the CPUs by the APIC ids of the MADT, which need not be contiguous: with two
/// sockets of three cores QEMU numbers them 0, 1, 2, 4, 5, 6.
#[test]
fn x86_64_starts_cpus_by_their_madt_apic_ids() {
    let kernel = Kernel::X86_64;
    let mut boot = Boot::new(kernel, elf(kernel), 6);
    boot.topology = Some("sockets=2,cores=3".into());
    let run = boot.run().unwrap_or_else(|e| panic!("{e}"));
    let want = Expected::all_online(6, "ACPI MADT", FirstChunkMode::Embed, "x86_64");
    if let Err(e) = check_pass(&run, &want) {
        panic!("{e}");
    }
    let mut ids: Vec<&str> = run
        .lines()
        .filter(|l| l.starts_with("cpu") && l.contains(": online, "))
        .filter_map(|l| l.split("hardware id ").nth(1)?.split(',').next())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["0x0", "0x1", "0x2", "0x4", "0x5", "0x6"], "{}", run.describe());
}

/// aarch64 (EL1 and EL2 builds, both first-chunk modes): every CPU node of the device tree is
/// possible and present (Linux arm64 reads it the same way); `maxcpus=8` brings 8 of 16
/// online, and the other 8 units keep their initial values. QEMU's virt board has no CPU
/// hot-plug: with `-smp 4,maxcpus=8` its device tree lists the 4 CPUs it creates, so 4 are
/// possible.
#[test]
fn aarch64_sets_up_a_unit_for_every_possible_cpu() {
    let mut cases = Vec::new();
    for kernel in [Kernel::Aarch64El1, Kernel::Aarch64El2] {
        let elf = elf(kernel);
        for mode in [FirstChunkMode::Page, FirstChunkMode::Embed] {
            let mut boot = Boot::new(kernel, elf.clone(), 16);
            boot.append = command_line(Some(mode), 8, &["maxcpus=8"]);
            let arch = arch_banner(kernel, boot.virtualization);
            let want = Expected {
                online: 8,
                present: 16,
                possible: 16,
                cpus_from: "device tree",
                mode,
                arch,
            };
            cases.push((boot, want));
        }
    }
    let kernel = Kernel::Aarch64El1;
    let mut hotplug = Boot::new(kernel, elf(kernel), 4);
    hotplug.max_cpus = Some(8);
    let want = Expected::all_online(4, "device tree", FirstChunkMode::Page, "aarch64 at EL1");
    cases.push((hotplug, want));
    check_boots(cases);
}

/// The EL1 build entered at EL2 drops to EL1 and keeps its base in `TPIDR_EL1`.
#[test]
fn aarch64_el1_kernel_entered_at_el2_drops_to_el1() {
    let mut boot = Boot::new(Kernel::Aarch64El1, elf(Kernel::Aarch64El1), 4);
    boot.virtualization = true;
    let run = boot.run().unwrap_or_else(|e| panic!("{e}"));
    let want = Expected::all_online(
        4,
        "device tree",
        FirstChunkMode::Page,
        arch_banner(boot.kernel, true),
    );
    if let Err(e) = check_pass(&run, &want) {
        panic!("{e}");
    }
    assert!(
        run.lines().any(|l| l.starts_with("cpu3: online") && l.contains("TPIDR_EL1 = ")),
        "the EL1 build must keep its base in TPIDR_EL1:\n{}",
        run.describe()
    );
}

/// Failures end the run with one `FAIL: <reason>` line and the failure status, on both
/// architectures: the harness can trust the status.
#[test]
fn failures_are_reported_with_the_fail_status() {
    let mut x86 = Boot::new(Kernel::X86_64, elf(Kernel::X86_64), 2);
    x86.append = Some("percpu_alloc=nonsense".into());
    let run = x86.run().unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = check_fail(&run, "percpu_alloc=nonsense: unknown first-chunk mode") {
        panic!("{e}");
    }

    let mut no_cpus = Boot::new(Kernel::X86_64, elf(Kernel::X86_64), 2);
    no_cpus.append = Some("maxcpus=0".into());
    let run = no_cpus.run().unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = check_fail(&run, "maxcpus=0: expected a positive number") {
        panic!("{e}");
    }

    // One CPU more than max_cpus = 64 (percpu.toml) is refused with the setting to change.
    let too_many = [
        (Kernel::X86_64, "65 CPUs are present, but this kernel is configured for at most 64"),
        (Kernel::Aarch64El1, "65 CPUs, but this kernel is configured for at most 64"),
        (Kernel::Riscv64Tp, "65 CPUs, but this kernel is configured for at most 64"),
    ];
    for (kernel, reason) in too_many {
        let run = Boot::new(kernel, elf(kernel), 65).run().unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = check_fail(&run, reason) {
            panic!("{e}");
        }
    }

    let mut el2_at_el1 = Boot::new(Kernel::Aarch64El2, elf(Kernel::Aarch64El2), 2);
    el2_at_el1.virtualization = false;
    let run = el2_at_el1.run().unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = check_fail(&run, "built for EL2") {
        panic!("{e}");
    }
}

/// loongarch64 has no device that sets a chosen exit status: a failure reports a panic to
/// pvpanic-pci, which QEMU (`-action panic=exit-failure`) turns into status 1 (a pass powers off
/// through the GED with 0). A bad parameter, too many CPUs, and a CPU exception on a woken CPU
/// (`fault=3`: the all-zero word, instruction not exist) each end that way, with one `FAIL` line,
/// on both register builds.
#[test]
fn loongarch64_failures_are_reported_through_pvpanic() {
    for kernel in [Kernel::Loongarch64R21, Kernel::Loongarch64Tp] {
        let cases = [
            (4, "percpu_alloc=nonsense", "percpu_alloc=nonsense: unknown first-chunk mode"),
            // ESTAT 0xd....: exception code 0xd (INE); its low bits are the interrupts pending
            // at that moment (an IPI may be), so they are not compared.
            (4, "fault=3", "CPU exception on CPU 3: instruction not exist (ESTAT 0xd"),
            (65, "", "65 CPUs, but this kernel is configured for at most 64"),
        ];
        for (cpus, append, reason) in cases {
            let mut boot = Boot::new(kernel, elf(kernel), cpus);
            boot.append = (!append.is_empty()).then(|| append.to_string());
            let run = boot.run().unwrap_or_else(|e| panic!("{e}"));
            if let Err(e) = check_fail(&run, reason) {
                panic!("{e}");
            }
        }
    }
}

/// A CPU exception on a secondary CPU (`fault=<cpu>`: an undefined instruction) is reported by
/// the kernel's exception handler as `FAIL: CPU exception ...` with the failure status.
#[test]
fn cpu_exceptions_are_reported_with_the_fail_status() {
    let cases = [
        (Kernel::X86_64, "CPU exception on APIC 3: invalid opcode (vector 6)"),
        (Kernel::Aarch64El1, "at EL1: synchronous from current EL, ESR 0x2000000 (class 0x0)"),
        (Kernel::Aarch64El2, "at EL2: synchronous from current EL, ESR 0x2000000 (class 0x0)"),
        (Kernel::Aarch64Lse, "at EL1: synchronous from current EL, ESR 0x2000000 (class 0x0)"),
        (Kernel::Riscv64Tp, ": illegal instruction (scause 0x2), sepc 0x"),
        (Kernel::Riscv64Gp, ": illegal instruction (scause 0x2), sepc 0x"),
    ];
    for (kernel, reason) in cases {
        let mut boot = Boot::new(kernel, elf(kernel), 4);
        boot.append = Some("fault=3".into());
        let run = boot.run().unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = check_fail(&run, reason) {
            panic!("{e}");
        }
    }
}

/// The debug mode in a kernel (x86_64 built with `debug-checks`): correct per-CPU code is never
/// reported (the whole run passes, in both first-chunk modes), and each misuse done on purpose
/// (`debug_misuse=`) is reported through the kernel's hook, which ends the run with
/// `FAIL: percpu debug: ...` naming the variable, the CPUs and the call site.
#[test]
fn x86_64_debug_mode_passes_correct_code_and_reports_each_misuse() {
    let kernel = Kernel::X86_64Debug;
    let debug_elf = elf(kernel);
    let correct = [None, Some(FirstChunkMode::Page)]
        .into_iter()
        .map(|mode| {
            let mut boot = Boot::new(kernel, debug_elf.clone(), 4);
            boot.append = command_line(mode, 4, &[]);
            let banner = arch_banner(kernel, false);
            let mode = mode.unwrap_or(kernel.default_mode());
            (boot, Expected::all_online(4, kernel.cpus_from(), mode, banner))
        })
        .collect();
    check_boots(correct);

    let variable = "`kernel_common::misuse::MISUSED`";
    let misuses = [
        ("unpinned", format!("percpu debug: this_cpu_ptr of {variable} at common/src/misuse.rs:")),
        ("migrated", format!("percpu debug: {variable} accessed at common/src/misuse.rs:")),
        ("out_of_order", "percpu debug: a guard taken on CPU 0 at common/src/misuse.rs:".into()),
        ("wrong_base", format!("percpu debug: {variable} accessed at common/src/misuse.rs:")),
        ("unloaded", format!("percpu debug: {variable} accessed at common/src/misuse.rs:")),
    ];
    let tails = [
        "on CPU 0 with the CPU not pinned",
        "on CPU 1, under a guard taken on CPU 0",
        "was dropped while 2 guards were live",
        "which is no possible CPU's offset",
        "by a CPU whose base register was never loaded",
    ];
    for ((word, head), tail) in misuses.iter().zip(tails) {
        let mut boot = Boot::new(kernel, debug_elf.clone(), 2);
        boot.append = Some(format!("debug_misuse={word}"));
        let run = boot.run().unwrap_or_else(|e| panic!("{e}"));
        for part in [head.as_str(), tail] {
            if let Err(e) = check_fail(&run, part) {
                panic!("debug_misuse={word}: {e}");
            }
        }
    }

    // A kernel without the debug mode refuses the parameter.
    let mut plain = Boot::new(Kernel::X86_64, elf(Kernel::X86_64), 2);
    plain.append = Some("debug_misuse=unpinned".into());
    let run = plain.run().unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = check_fail(&run, "build the kernel with feature debug-checks") {
        panic!("{e}");
    }
}

/// The kernel without a heap (`examples/kernels/core-only`: `-Zbuild-std=core`, percpu-rt
/// without `alloc`; the build is refused if it compiles the `alloc` crate) boots in both
/// first-chunk modes, with every present CPU updating its copies and the boot CPU reading every
/// possible CPU's remotely, including CPUs that never came online (`-smp N,maxcpus=M`).
#[test]
fn core_only_kernel_boots_without_a_heap() {
    let kernel = Kernel::CoreOnly;
    let elf = elf(kernel);
    let arch = arch_banner(kernel, false);
    let mut cases = Vec::new();
    // (present, possible)
    for (present, possible) in [(1, 1), (2, 2), (4, 4), (3, 8), (16, 16)] {
        for mode in [FirstChunkMode::Embed, FirstChunkMode::Page] {
            let mut boot = Boot::new(kernel, elf.clone(), present);
            boot.max_cpus = (possible > present).then_some(possible);
            boot.append = Some(format!("percpu_alloc={}", mode.name()));
            let want =
                Expected { online: present, present, possible, cpus_from: "fw_cfg", mode, arch };
            cases.push((boot, want));
        }
    }
    check_boots(cases);
}

/// percpu-rt without `alloc`, and the core-only kernel's library on it (statics, guards,
/// remote reads, the first-chunk setup), compile with `core` alone for every kernel target:
/// the builds contain no `alloc` crate.
#[test]
fn percpu_rt_builds_on_core_alone_for_every_target() {
    kernel_tests::toolchain_ready();
    for target in [
        "x86_64-unknown-none",
        "aarch64-unknown-none",
        "riscv64gc-unknown-none-elf",
        "loongarch64-unknown-none",
    ] {
        if let Err(e) = build::build_core_only_library(target, &work_dir().join("target")) {
            panic!("{e}");
        }
    }
}

/// Without a heap, too little boot memory for percpu-rt's bookkeeping (`bootmem=` bytes) ends
/// the setup with the typed error, which says how much to give.
#[test]
fn core_only_kernel_reports_too_little_boot_memory() {
    let kernel = Kernel::CoreOnly;
    let mut boot = Boot::new(kernel, elf(kernel), 2);
    boot.append = Some("bootmem=256".into());
    let run = boot.run().unwrap_or_else(|e| panic!("{e}"));
    let reason = "the first-chunk setup failed: the boot memory for the first chunk's bookkeeping \
                  is exhausted";
    if let Err(e) = check_fail(&run, reason) {
        panic!("{e}");
    }
    assert!(
        run.lines()
            .any(|l| l.contains("give percpu_rt::boot_memory::provide a buffer of at least")),
        "{}",
        run.describe()
    );
}

/// The `pcpu-alloc:` lines of a transcript or report, trimmed.
fn pcpu_alloc_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("pcpu-alloc: "))
        .map(String::from)
        .collect()
}

/// `percpu-build inspect` reads every kernel ELF: the variables of the kernel crate, of
/// kernel-lib and of percpu-rt in one template, and, for 4 CPUs, exactly the unit layout the
/// kernel computed at boot (build-time and boot-time layouts agree).
#[test]
fn percpu_build_inspects_the_kernel_elf_files() {
    let cli = build::percpu_build_cli(&work_dir().join("percpu-build-target"))
        .unwrap_or_else(|e| panic!("{e}"));
    for kernel in Kernel::ALL {
        let elf = elf(kernel);
        let config = kernel.crate_dir().join("percpu.toml");
        let out = std::process::Command::new(&cli)
            .arg("inspect")
            .arg(&elf)
            .arg("--config")
            .arg(&config)
            .args(["--target", kernel.target(), "--cpus", "4"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", cli.display()));
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "percpu-build inspect {} failed ({}):\n{report}\n{}",
            elf.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let variables: &[&str] = match kernel {
            Kernel::CoreOnly => &["percpu_kernel_core_only::HW_ID", "percpu_kernel_core_only::TAG"],
            _ => match kernel.arch() {
                "x86_64" => {
                    &["percpu_kernel_x86_64::APIC_ID", "kernel_lib::EVENTS", "kernel_lib::TAG"]
                }
                "aarch64" => {
                    &["percpu_kernel_aarch64::MPIDR", "kernel_lib::EVENTS", "kernel_lib::TAG"]
                }
                "loongarch64" => &[
                    "percpu_kernel_loongarch64::CPU_HW_ID",
                    "kernel_lib::EVENTS",
                    "kernel_lib::TAG",
                ],
                _ => &["percpu_kernel_riscv64::HARTID", "kernel_lib::EVENTS", "kernel_lib::TAG"],
            },
        };
        for &variable in variables.iter().chain(&["percpu_rt::runtime_vars::CPU_ID"]) {
            assert!(
                report.lines().any(|l| l.contains(variable)),
                "{}: the report lists no {variable}:\n{report}",
                kernel.name()
            );
        }

        let boot = Boot::new(kernel, elf.clone(), 4);
        let run = boot.run().unwrap_or_else(|e| panic!("{e}"));
        let want = Expected::all_online(
            4,
            kernel.cpus_from(),
            kernel.default_mode(),
            arch_banner(kernel, boot.virtualization),
        );
        if let Err(e) = check_pass_of(kernel, &run, &want) {
            panic!("{e}");
        }
        let at_boot = pcpu_alloc_lines(&run.output);
        let at_build = pcpu_alloc_lines(&report);
        assert!(
            !at_boot.is_empty() && at_boot == at_build,
            "{}: the layout at boot {at_boot:#?} differs from percpu-build's {at_build:#?}",
            kernel.name()
        );
    }
}

/// The x86_64 kernel is non-PIE and built with `--cfg percpu_x86_absolute`: its current-CPU
/// operations are single `op gs:[SYM]` instructions on template addresses in `.percpu`.
#[test]
fn x86_64_kernel_updates_per_cpu_data_with_single_gs_instructions() {
    let elf = elf(Kernel::X86_64);
    let objdump = |args: &[&str]| {
        let out = std::process::Command::new("objdump")
            .args(args)
            .arg(&elf)
            .output()
            .unwrap_or_else(|e| panic!("cannot run objdump: {e}"));
        assert!(out.status.success(), "objdump {args:?} failed: {}", out.status);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // `.percpu`'s line in the section table: index, name, size, VMA, ...
    let headers = objdump(&["-h"]);
    let percpu = headers
        .lines()
        .map(str::split_whitespace)
        .find_map(|mut f| {
            let (_, name, size, vma) = (f.next()?, f.next()?, f.next()?, f.next()?);
            let size = u64::from_str_radix(size, 16).ok()?;
            let vma = u64::from_str_radix(vma, 16).ok()?;
            (name == ".percpu").then_some(vma..vma + size)
        })
        .unwrap_or_else(|| panic!("no .percpu section:\n{headers}"));
    let code = objdump(&["-d", "-M", "intel", "--no-show-raw-insn"]);
    let on_template = |mnemonic: &str| {
        code.lines().filter(|l| l.contains(mnemonic)).any(|l| {
            l.split("gs:0x").nth(1).is_some_and(|rest| {
                let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
                u64::from_str_radix(&hex, 16).is_ok_and(|a| percpu.contains(&a))
            })
        })
    };
    for mnemonic in
        ["inc    QWORD PTR gs:0x", "add    QWORD PTR gs:0x", "mov    rax,QWORD PTR gs:0x"]
    {
        assert!(on_template(mnemonic), "no `{mnemonic}..` on a template address in {percpu:x?}");
    }
    assert!(
        !code.contains("gs:[rip"),
        "a rip-relative gs: access in a kernel built with percpu_x86_absolute"
    );
}
