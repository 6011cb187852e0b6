//! The `gp` rule, with the linker riscv64 kernels use (`ld.lld`, installed by
//! `scripts/ensure-toolchain.sh`): with `base_register = "gp"` the generated checks fail the
//! link of a script that defines `__global_pointer$` (the symbol linker gp relaxation rewrites
//! accesses against, which would then miss their data), name the fix, and let every other
//! link through: no `__global_pointer$`, an unreferenced `PROVIDE` of it (which defines
//! nothing), or `tp` as the base register.

use percpu_build::gen_ld;
use percpu_build::{Config, TargetCfg};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh directory under the test's temporary directory.
fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gp-relaxation").join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Links a one-section riscv64 program whose script holds `extra` (at the top level) and
/// INCLUDEs the fragments of `percpu_toml`; returns the linker's exit and messages.
fn link(name: &str, percpu_toml: &str, extra: &str) -> (bool, String) {
    let d = dir(name);
    let target = TargetCfg::builtin("riscv64gc-unknown-none-elf").unwrap();
    let config = Config::parse(percpu_toml, "percpu.toml", &target).unwrap();
    let fragments = gen_ld::generate(&config, None);
    fs::write(d.join("percpu-sections.ld"), &fragments.sections).unwrap();
    fs::write(d.join("percpu-checks.ld"), &fragments.checks).unwrap();
    fs::write(d.join("blob.bin"), [0u8; 16]).unwrap();
    let script = format!(
        "ENTRY(0x80200000)\nSECTIONS\n{{\n  . = 0x80200000;\n  .data : {{ *(.data) }}\n  \
         INCLUDE percpu-sections.ld\n}}\n{extra}\nINCLUDE percpu-checks.ld\n"
    );
    fs::write(d.join("link.ld"), script).unwrap();
    let out = Command::new("ld.lld")
        .current_dir(&d)
        .args(["-m", "elf64lriscv", "--format=binary", "blob.bin", "--format=default"])
        .args(["-L", ".", "-T", "link.ld", "-o", "kernel.elf"])
        .output()
        .expect("ld.lld is installed (lld; scripts/ensure-toolchain.sh installs it)");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

const GP: &str = "base_register = \"gp\"";

#[test]
fn gp_with_a_global_pointer_fails_the_link_and_says_why() {
    let (ok, messages) = link("gp-defined", GP, "__global_pointer$ = 0x80200800;");
    assert!(!ok, "the link succeeded:\n{messages}");
    assert!(
        messages
            .contains("ERROR(percpu): __global_pointer$ is defined, but gp holds the per-CPU base")
            && messages.contains("set base_register = 'tp'"),
        "{messages}"
    );
}

#[test]
fn gp_without_a_global_pointer_links() {
    let (ok, messages) = link("gp-absent", GP, "");
    assert!(ok, "{messages}");
    let (ok, messages) = link("gp-provided", GP, "PROVIDE(__global_pointer$ = 0x80200800);");
    assert!(ok, "an unreferenced PROVIDE defines nothing: {messages}");
}

#[test]
fn tp_does_not_care_about_the_global_pointer() {
    let (ok, messages) = link("tp-defined", "", "__global_pointer$ = 0x80200800;");
    assert!(ok, "{messages}");
}
