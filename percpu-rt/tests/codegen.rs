//! The codegen check: in a release build, every current-CPU operation on a per-CPU `u64` is a
//! single `gs:`-relative instruction on the variable's template symbol (plus, where the
//! operation has operands, the moves that put them in registers). Builds
//! `examples/codegen_probe.rs` twice — position-independent (the default: `op gs:[rip + SYM]`)
//! and as a non-PIE executable with `--cfg percpu_x86_absolute` (`op gs:[SYM]`) — and reads the
//! disassembly with `objdump`.

use std::process::Command;

/// The instructions of `function` in `objdump` output (Intel syntax).
fn body<'a>(disassembly: &'a str, function: &str) -> Vec<&'a str> {
    let header = format!("<{function}>:");
    let start = disassembly
        .find(&header)
        .unwrap_or_else(|| panic!("{function} not found in the probe's disassembly"));
    let mut insns = Vec::new();
    for line in disassembly[start..].lines().skip(1) {
        let Some(insn) = line.split_once(":\t").map(|(_, i)| i.trim()) else { break };
        insns.push(insn);
        if insn.starts_with("ret") {
            break;
        }
    }
    insns
}

/// Builds the probe in release with `rustflags` into its own target directory; returns the
/// binary's path.
fn build_probe(name: &str, rustflags: &str) -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let host = "x86_64-unknown-linux-gnu";
    let status = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "-p", "percpu-rt", "--features", "hosted"])
        .args(["--example", "codegen_probe", "--target", host])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the codegen probe ({name}) failed");
    target_dir.join(host).join("release/examples/codegen_probe")
}

#[test]
fn every_u64_operation_is_one_gs_instruction() {
    check_probe(&build_probe("codegen-probe", ""), "gs:[rip+");
}

#[test]
fn non_pie_kernels_can_address_the_template_absolutely() {
    let flags = "--cfg percpu_x86_absolute -C relocation-model=static -C link-arg=-no-pie";
    check_probe(&build_probe("codegen-probe-absolute", flags), "gs:0x");
}

/// Checks every probe of `binary`: one `gs:` instruction whose operand starts with `form`.
fn check_probe(binary: &std::path::Path, form: &str) {
    let binary = binary.to_path_buf();
    let out = Command::new("objdump")
        .args(["-d", "-M", "intel", "--no-show-raw-insn"])
        .arg(&binary)
        .output()
        .expect("objdump is installed (binutils; scripts/ensure-toolchain.sh checks it)");
    assert!(out.status.success());
    let disassembly = String::from_utf8(out.stdout).unwrap();
    // The template's address, from the symbol table.
    let nm = Command::new("nm").arg(&binary).output().expect("nm is installed (binutils)");
    let template = String::from_utf8(nm.stdout)
        .unwrap()
        .lines()
        .find(|l| l.contains("PROBE_COUNTER"))
        .and_then(|l| usize::from_str_radix(l.split_whitespace().next()?, 16).ok())
        .expect("the template symbol is in the symbol table");
    // Probe smoke run: the binary works too.
    assert!(Command::new(&binary).status().unwrap().success());

    let expected = [
        ("percpu_probe_read", "mov rax,QWORD PTR "),
        ("percpu_probe_write", "mov QWORD PTR "),
        ("percpu_probe_add", "add QWORD PTR "),
        ("percpu_probe_sub", "sub QWORD PTR "),
        ("percpu_probe_inc", "inc QWORD PTR "),
        ("percpu_probe_dec", "dec QWORD PTR "),
        ("percpu_probe_and", "and QWORD PTR "),
        ("percpu_probe_or", "or QWORD PTR "),
        ("percpu_probe_xor", "xor QWORD PTR "),
        ("percpu_probe_add_return", "xadd QWORD PTR "),
        ("percpu_probe_xchg", "xchg QWORD PTR "),
        ("percpu_probe_cmpxchg", "cmpxchg QWORD PTR "),
    ];
    let mut report = String::new();
    for (function, op) in expected {
        let insns = body(&disassembly, function);
        let gs: Vec<&&str> = insns.iter().filter(|i| i.contains("gs:")).collect();
        report.push_str(&format!("{function}: {}\n", insns.join(" ; ")));
        assert_eq!(
            gs.len(),
            1,
            "{function} must touch per-CPU data with exactly one gs: instruction: {insns:?}"
        );
        let normalized = gs[0].split_whitespace().collect::<Vec<_>>().join(" ");
        let want = format!("{op}{form}").split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(normalized.starts_with(&want), "{function}: expected `{op}...`, got `{}`", gs[0]);
        assert!(
            gs[0].contains("PROBE_COUNTER") || gs[0].contains(&format!("gs:{template:#x}")),
            "{function}: the operand must be the template symbol itself ({template:#x}): {}",
            gs[0]
        );
        // Nothing but register moves and the return around the one access: no loads of a
        // pointer, no calls, no preemption or interrupt toggling.
        for i in &insns {
            let mnemonic = i.split_whitespace().next().unwrap();
            assert!(
                i.contains("gs:")
                    || ["mov", "ret", "xor", "cmp", "sete", "setne", "add"].contains(&mnemonic),
                "{function}: unexpected instruction `{i}`"
            );
            assert!(
                !i.contains("PTR [") || i.contains("gs:"),
                "{function}: a memory access besides the per-CPU one: {i}"
            );
        }
    }
    println!("{report}");
}
