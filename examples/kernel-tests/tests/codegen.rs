//! The codegen check on every architecture's kernel: each by-value operation of kernel-lib's
//! probes (`examples/kernels/kernel-lib/src/probes.rs`), disassembled from the release ELF that
//! boots under QEMU, must be the expected instruction sequence, with no call:
//!
//! * x86_64: one `op gs:[SYM]` instruction on the `u64` template (plus register moves);
//! * aarch64: `mrs` of `TPIDR_EL1`/`EL2`, `adrp` + `#:lo12:` of the template (which LLD may
//!   relax into `nop` + `adr`), then one `ldr` /
//!   `str`, or one LSE atomic (`stadd`, `stclr`, `stset`, `steor`, `ldadd`, `swp`, `cas`) on the
//!   LSE build, one `ldxr`/`stxr` loop on the others;
//! * riscv64: `auipc` + `%pcrel_lo` of the template, `add` of `tp` or `gp`, then one `ld` / `sd`
//!   or one AMO (`amoadd.d`, `amoand.d`, `amoor.d`, `amoxor.d`, `amoswap.d`), `cmpxchg` an
//!   `lr.d`/`sc.d` loop, or `amocas.d` on the Zacas build;
//! * loongarch64: `pcalau12i` + `%pc_lo12` of the template, `add.d` of `$r21` or `$tp`, then one
//!   `ld.d` / `st.d` or one AM* atomic (`amadd.d`, `amand.d`, `amor.d`, `amxor.d`, `amswap.d`),
//!   `cmpxchg` an `ll.d`/`sc.d` loop (its failure exit through `dbar 0x700`).
//!
//! Between the required instructions only register arithmetic may appear (moves, constants,
//! the negation of `sub`, the comparison that makes `cmpxchg`'s `bool`); branches stay inside
//! the probe. The narrower statics and the dynamic object's probes are checked for their atomic
//! and for the absence of calls. The fast paths are printed (`--nocapture`): the README's
//! instruction table comes from them.

use std::path::PathBuf;

use kernel_tests::Kernel;
use kernel_tests::disasm::{self, Insn, Symbol};

fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("percpu-kernels")
}

/// The `u64` probes, by operation.
const OPS: [&str; 12] = [
    "read",
    "write",
    "add",
    "sub",
    "inc",
    "dec",
    "and",
    "or",
    "xor",
    "add_return",
    "xchg",
    "cmpxchg",
];

/// The instructions a `u64` probe's fast path must hold, in this order, after the address is
/// formed (`None` for the architectures whose single instruction is checked otherwise).
fn required(kernel: Kernel, op: &str) -> Vec<&'static str> {
    let lse = kernel == Kernel::Aarch64Lse;
    let zacas = kernel == Kernel::Riscv64Zacas;
    match (kernel.arch(), op) {
        ("aarch64", "read") => vec!["mrs", "adrp", "add", "ldr"],
        ("aarch64", "write") => vec!["mrs", "adrp", "add", "str"],
        ("aarch64", op) => {
            let mut v = vec!["mrs", "adrp", "add", "add"];
            v.extend(match (lse, op) {
                (true, "add" | "sub" | "inc" | "dec") => vec!["stadd"],
                (true, "and") => vec!["stclr"],
                (true, "or") => vec!["stset"],
                (true, "xor") => vec!["steor"],
                (true, "add_return") => vec!["ldadd"],
                (true, "xchg") => vec!["swp"],
                (true, _) => vec!["cas"],
                // `sub` adds the negation, as Linux's `this_cpu_sub`.
                (false, "add" | "sub" | "inc" | "dec" | "add_return") => {
                    vec!["ldxr", "add", "stxr", "cbnz"]
                }
                (false, "and") => vec!["ldxr", "and", "stxr", "cbnz"],
                (false, "or") => vec!["ldxr", "orr", "stxr", "cbnz"],
                (false, "xor") => vec!["ldxr", "eor", "stxr", "cbnz"],
                (false, "xchg") => vec!["ldxr", "stxr", "cbnz"],
                (false, _) => vec!["ldxr", "cmp", "b.ne", "stxr", "cbnz"],
            });
            v
        }
        ("riscv64", "read") => vec!["auipc", "add", "ld"],
        ("riscv64", "write") => vec!["auipc", "add", "sd"],
        ("riscv64", op) => {
            let mut v = vec!["auipc", "addi", "add"];
            v.extend(match op {
                "add" | "sub" | "inc" | "dec" | "add_return" => vec!["amoadd.d"],
                "and" => vec!["amoand.d"],
                "or" => vec!["amoor.d"],
                "xor" => vec!["amoxor.d"],
                "xchg" => vec!["amoswap.d"],
                _ if zacas => vec!["amocas.d"],
                _ => vec!["lr.d", "bne", "sc.d", "bnez"],
            });
            v
        }
        ("loongarch64", "read") => vec!["pcalau12i", "add.d", "ld.d"],
        ("loongarch64", "write") => vec!["pcalau12i", "add.d", "st.d"],
        ("loongarch64", op) => {
            let mut v = vec!["pcalau12i", "addi.d", "add.d"];
            v.extend(match op {
                "add" | "sub" | "inc" | "dec" | "add_return" => vec!["amadd.d"],
                "and" => vec!["amand.d"],
                "or" => vec!["amor.d"],
                "xor" => vec!["amxor.d"],
                "xchg" => vec!["amswap.d"],
                // The failure exit's `dbar 0x700` lies after the success path's `b`.
                _ => vec!["ll.d", "bne", "sc.d", "beqz", "b", "dbar"],
            });
            v
        }
        _ => Vec::new(),
    }
}

/// The instruction that touches the copy in the narrower and dynamic probes.
fn atomic_of(kernel: Kernel, probe: &str) -> &'static [&'static str] {
    let lse = kernel == Kernel::Aarch64Lse;
    let zacas = kernel == Kernel::Riscv64Zacas;
    match (kernel.arch(), probe) {
        ("x86_64", "u8_add") => &["add"],
        ("x86_64", "u8_cmpxchg" | "dyn_cmpxchg") => &["cmpxchg"],
        ("x86_64", "u16_xchg") => &["xchg"],
        ("x86_64", "u32_add_return") => &["xadd"],
        ("x86_64", "dyn_read") => &["mov"],
        ("x86_64", "dyn_add") => &["add"],
        ("aarch64", "u8_add") if lse => &["staddb"],
        ("aarch64", "u8_add") => &["ldxrb", "stxrb"],
        ("aarch64", "u8_cmpxchg") if lse => &["casb"],
        ("aarch64", "u8_cmpxchg") => &["ldxrb", "stxrb"],
        ("aarch64", "u16_xchg") if lse => &["swph"],
        ("aarch64", "u16_xchg") => &["ldxrh", "stxrh"],
        ("aarch64", "u32_add_return") if lse => &["ldadd"],
        ("aarch64", "dyn_add") if lse => &["stadd"],
        ("aarch64", "dyn_cmpxchg") if lse => &["cas"],
        ("aarch64", "u32_add_return" | "dyn_add" | "dyn_cmpxchg") => &["ldxr", "stxr"],
        ("aarch64", "dyn_read") => &["ldr"],
        ("riscv64", "u8_add") if zacas => &["amoadd.b"],
        ("riscv64", "u8_cmpxchg") if zacas => &["amocas.b"],
        ("riscv64", "u16_xchg") if zacas => &["amoswap.h"],
        ("riscv64", "u8_add" | "u8_cmpxchg" | "u16_xchg") => &["lr.w", "sc.w"],
        ("riscv64", "u32_add_return") => &["amoadd.w"],
        ("riscv64", "dyn_add") => &["amoadd.d"],
        ("riscv64", "dyn_cmpxchg") if zacas => &["amocas.d"],
        ("riscv64", "dyn_cmpxchg") => &["lr.d", "sc.d"],
        ("x86_64", "u128_cmpxchg") => &["cmpxchg16b"],
        ("aarch64", "u128_cmpxchg") if lse => &["casp"],
        ("aarch64", "u128_cmpxchg") => &["ldxp", "stxp"],
        ("riscv64", "u128_cmpxchg") => &["amocas.q"],
        ("loongarch64", "u8_add" | "u8_cmpxchg" | "u16_xchg") => &["ll.w", "sc.w"],
        ("loongarch64", "u32_add_return") => &["amadd.w"],
        ("loongarch64", "dyn_add") => &["amadd.d"],
        ("loongarch64", "dyn_cmpxchg") => &["ll.d", "sc.d"],
        ("loongarch64", "dyn_read") => &["ld.d"],
        _ => &["ld"],
    }
}

/// Register arithmetic that may sit between the required instructions (never a memory access,
/// never a branch out); from `move` on, loongarch64's.
const REGISTER_ONLY: &[&str] = &[
    "mov", "movz", "movn", "neg", "mvn", "cmp", "cset", "csinc", "add", "sub", "and", "orr", "eor",
    "xor", "sete", "setne", "lea", "li", "mv", "not", "seqz", "snez", "addi", "addiw", "slli",
    "srli", "sext.w", "zext.w", "andi", "lui", "or", "sll", "srl", "subw", "addw", "movzx",
    "movsx", "sext.b", "sext.h", "move", "ori", "addi.w", "addi.d", "add.w", "add.d", "sub.d",
    "sltui", "slli.d", "srli.d", "sll.d", "srl.d", "nor", "lu12i.w", "ext.w.b", "ext.w.h",
];

/// loongarch64's bit-field moves, register arithmetic too.
const BIT_FIELD: [&str; 2] = ["bstrpick.d", "bstrins.d"];

/// The probes of `kernel`: each fast path, by probe name (without `percpu_probe_`).
fn probes(kernel: Kernel) -> (Vec<(String, Symbol, Vec<Insn>)>, u64) {
    let elf = kernel_tests::elf(kernel, &work_dir());
    let symbols = disasm::symbols(&elf).unwrap_or_else(|e| panic!("{e}"));
    let template = symbols
        .iter()
        .find(|(name, _)| name.ends_with("probes::_::PROBE"))
        .map(|(_, s)| s.addr)
        .unwrap_or_else(|| {
            panic!("{}: no template symbol for kernel_lib::probes::PROBE", kernel.name())
        });
    let list = symbols
        .iter()
        .filter_map(|(name, sym)| {
            let short = name.strip_prefix("percpu_probe_")?;
            let insns =
                disasm::disassemble(&elf, kernel.arch(), *sym).unwrap_or_else(|e| panic!("{e}"));
            Some((short.to_string(), *sym, insns))
        })
        .collect();
    (list, template)
}

/// Checks every probe of `kernel`; returns the printed fast paths.
fn check_kernel(kernel: Kernel) -> String {
    let (probes, template) = probes(kernel);
    let mut report = format!("{} ({}):\n", kernel.name(), kernel.base_register());
    let mut failures = Vec::new();
    let names: Vec<&str> = probes.iter().map(|(n, _, _)| n.as_str()).collect();
    for op in OPS.iter().chain(&["u8_add", "u8_cmpxchg", "u16_xchg", "u32_add_return"]).chain(&[
        "dyn_read",
        "dyn_add",
        "dyn_cmpxchg",
    ]) {
        if !names.contains(op) {
            failures.push(format!("no percpu_probe_{op} in the kernel"));
        }
    }
    // 16-byte atomics everywhere but on riscv64 without Zacas and on loongarch64.
    let wide = !matches!(
        kernel,
        Kernel::Riscv64Tp | Kernel::Riscv64Gp | Kernel::Loongarch64R21 | Kernel::Loongarch64Tp
    );
    if names.contains(&"u128_cmpxchg") != wide {
        failures.push(format!(
            "percpu_probe_u128_cmpxchg is {} the kernel",
            if wide { "missing from" } else { "in" }
        ));
    }
    for (name, sym, insns) in &probes {
        let path = disasm::fast_path(insns);
        let shown: Vec<String> = path.iter().map(Insn::to_string).collect();
        report.push_str(&format!("  {name} ({}): {}\n", path.len(), shown.join("; ")));
        let fail =
            |what: String| format!("{}: percpu_probe_{name}: {what}: {shown:?}", kernel.name());
        if path.len() == insns.len() {
            failures.push(fail("no return instruction".into()));
        }
        if let Some(call) = path.iter().find(|i| disasm::is_call(i)) {
            failures.push(fail(format!("a call on the fast path ({call})")));
        }
        if let Some(out) = path.iter().find(|i| {
            disasm::branch_target(i).is_some_and(|t| t < sym.addr || t >= sym.addr + sym.size)
        }) {
            failures.push(fail(format!("a branch out of the probe ({out})")));
        }
        if OPS.contains(&name.as_str()) {
            failures.extend(check_static(kernel, name, path, template).map(fail));
        } else {
            let want = atomic_of(kernel, name);
            let mut rest = path.iter();
            for m in want {
                if !rest.any(|i| i.mnemonic == *m) {
                    failures.push(fail(format!("no `{m}` (expected {want:?})")));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}\n\n{report}", failures.join("\n"));
    report
}

/// The `u64` static probe `op`: the required sequence in order, nothing else but register
/// arithmetic, the base register read, the template's address formed.
fn check_static(kernel: Kernel, op: &str, path: &[Insn], template: u64) -> Option<String> {
    if kernel.arch() == "x86_64" {
        let gs: Vec<&Insn> = path.iter().filter(|i| i.operands.contains("gs:")).collect();
        let mnemonic = match op {
            "read" | "write" => "mov",
            "add_return" => "xadd",
            other => other,
        };
        return match gs.as_slice() {
            [one] if one.mnemonic == mnemonic => {
                let at = disasm::template_address("x86_64", path);
                (at != Some(template))
                    .then(|| format!("`{one}` is not on the template {template:#x}"))
            }
            _ => Some(format!("expected exactly one `{mnemonic} ..gs:..`")),
        };
    }
    let want = required(kernel, op);
    let mut k = 0;
    for (n, i) in path.iter().enumerate() {
        // LLD relaxes `adrp` + `add #:lo12:` of a near symbol into `nop` + `adr`.
        let relaxed = match i.mnemonic.as_str() {
            "nop" if path.get(n + 1).is_some_and(|next| next.mnemonic == "adr") => Some("adrp"),
            "adr" => Some("add"),
            _ => None,
        };
        if k < want.len() && (relaxed == Some(want[k]) || i.mnemonic == want[k]) {
            k += 1;
        } else if !REGISTER_ONLY.contains(&i.mnemonic.as_str())
            && !BIT_FIELD.contains(&i.mnemonic.as_str())
        {
            return Some(format!("`{i}` is neither in {want:?} nor register arithmetic"));
        }
    }
    if k < want.len() {
        return Some(format!("`{}` of {want:?} is missing or out of order", want[k]));
    }
    let base = match kernel.arch() {
        "aarch64" => {
            path.iter().any(|i| i.mnemonic == "mrs" && i.operands.ends_with(kernel.base_register()))
        }
        "loongarch64" => path.iter().any(|i| {
            i.mnemonic == "add.d" && i.operands.ends_with(&format!(", ${}", kernel.base_register()))
        }),
        _ => path.iter().any(|i| {
            i.mnemonic == "add" && i.operands.ends_with(&format!(", {}", kernel.base_register()))
        }),
    };
    if !base {
        return Some(format!("the base register {} is not read", kernel.base_register()));
    }
    let at = disasm::template_address(kernel.arch(), path);
    (at != Some(template)).then(|| {
        format!("the address formed is {at:x?}, not the template of PROBE at {template:#x}")
    })
}

#[test]
fn x86_64_operations_are_single_gs_instructions() {
    println!("{}", check_kernel(Kernel::X86_64));
}

#[test]
fn aarch64_operations_are_inline_exclusive_pair_loops_without_lse() {
    println!("{}", check_kernel(Kernel::Aarch64El1));
    println!("{}", check_kernel(Kernel::Aarch64El2));
}

#[test]
fn aarch64_operations_are_single_lse_atomics_with_lse() {
    println!("{}", check_kernel(Kernel::Aarch64Lse));
}

#[test]
fn riscv64_operations_are_single_amos_on_tp_or_gp() {
    println!("{}", check_kernel(Kernel::Riscv64Tp));
    println!("{}", check_kernel(Kernel::Riscv64Gp));
}

#[test]
fn riscv64_with_zacas_and_zabha_uses_amocas_and_byte_amos() {
    println!("{}", check_kernel(Kernel::Riscv64Zacas));
}

#[test]
fn loongarch64_operations_are_single_am_atomics_on_r21_or_tp() {
    println!("{}", check_kernel(Kernel::Loongarch64R21));
    println!("{}", check_kernel(Kernel::Loongarch64Tp));
}

/// loongarch64 has no 16-byte atomic: kernel-lib built with `wide-without-zacas` (which uses its
/// `u128` per-CPU statics on every target) must fail to compile with percpu-rt's message.
#[test]
fn loongarch64_refuses_16_byte_operations_at_compile_time() {
    kernel_tests::toolchain_ready();
    let result = kernel_tests::build::build_kernel_lib(
        Kernel::Loongarch64R21,
        &["wide-without-zacas"],
        &work_dir().join("target"),
    );
    let Err(errors) = result else {
        panic!("kernel-lib with 16-byte operations compiled for loongarch64");
    };
    for part in [
        "a 16-byte per-CPU scalar (u128, i128) needs 16-byte atomics, which this target lacks",
        "loongarch64 has none",
    ] {
        assert!(errors.contains(part), "no {part:?} in the errors:\n{errors}");
    }
}

/// riscv64 without Zacas has no 16-byte atomic: kernel-lib built with `wide-without-zacas`,
/// which uses its `u128` per-CPU statics there too, must fail to compile with percpu-rt's
/// message naming the fix (the same code compiles, and boots, with Zacas).
#[test]
fn riscv64_without_zacas_refuses_16_byte_operations_at_compile_time() {
    kernel_tests::toolchain_ready();
    let result = kernel_tests::build::build_kernel_lib(
        Kernel::Riscv64Tp,
        &["wide-without-zacas"],
        &work_dir().join("target"),
    );
    let Err(errors) = result else {
        panic!("kernel-lib with 16-byte operations compiled for riscv64 without Zacas");
    };
    for part in [
        "a 16-byte per-CPU scalar (u128, i128) needs 16-byte atomics, which this target lacks",
        "build with -C target-feature=+zacas",
    ] {
        assert!(errors.contains(part), "no {part:?} in the errors:\n{errors}");
    }
}

/// The lines `cargo expand` shows for kernel-lib's `PROBE` (a `u64` static) built for `kernel`:
/// from its doc comment to the next item's.
fn expansion_of_probe(kernel: Kernel) -> (usize, String) {
    kernel_tests::toolchain_ready();
    let text = kernel_tests::build::expand_kernel_lib(kernel, &work_dir().join("target"))
        .unwrap_or_else(|e| panic!("{e}"));
    let file = syn::parse_file(&text).expect("rustc's expansion is valid Rust");
    let pretty = prettyplease::unparse(&file);
    let lines: Vec<&str> = pretty.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with("pub static PROBE:"))
        .expect("kernel_lib::probes::PROBE in the expansion");
    let mut start = at;
    while start > 0 && lines[start - 1].trim_start().starts_with("///") {
        start -= 1;
    }
    let end = lines[at + 1..]
        .iter()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with("///") || l.starts_with("pub static ") || l.starts_with("macro_rules!")
        })
        .map_or(lines.len(), |e| at + 1 + e);
    (end - start, lines[start..end].join("\n"))
}

/// `cargo expand` of a `u64` static stays within the budget `percpu-rt/tests/expansion.rs`
/// holds the host's to (150 lines; x86_64's is 136) on aarch64 and riscv64 too: their
/// per-variable operations are as many `asm!` statements as x86_64's.
#[test]
fn a_u64_static_expands_within_its_budget_on_every_architecture() {
    let mut report = String::new();
    for kernel in [Kernel::Aarch64El1, Kernel::Aarch64Lse, Kernel::Riscv64Tp, Kernel::Riscv64Zacas]
    {
        let (n, text) = expansion_of_probe(kernel);
        report.push_str(&format!("{}: {n} lines\n", kernel.name()));
        assert!(
            n <= 150,
            "`cargo expand` of PROBE on {} is {n} lines, over 150:\n{text}",
            kernel.name()
        );
    }
    println!("{report}");
}

/// The same budget on loongarch64 (both register builds): its per-variable operations are as
/// many `asm!` statements as the others'.
#[test]
fn a_u64_static_expands_within_its_budget_on_loongarch64() {
    for kernel in [Kernel::Loongarch64R21, Kernel::Loongarch64Tp] {
        let (n, text) = expansion_of_probe(kernel);
        println!("{}: {n} lines", kernel.name());
        assert!(
            n <= 150,
            "`cargo expand` of PROBE on {} is {n} lines, over 150:\n{text}",
            kernel.name()
        );
    }
}
