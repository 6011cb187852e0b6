//! `Link::Direct`: the standalone fragment passed to ld.lld run directly, with the linker's
//! default layout and `--gc-sections`, for a program that has per-CPU data and nothing in
//! `.data` (issue 11, item 9). Such a program has nothing to `INSERT AFTER`: the direct
//! fragment uses `OVERWRITE_SECTIONS`, and the template and the settings land in allocated
//! sections. The object is assembled from source here (`as`, from binutils).

use object::{Object, ObjectSection, ObjectSymbol, SectionFlags};
use percpu_build::config::Config;
use percpu_build::gen_ld;
use percpu_build::target::TargetCfg;
use std::path::Path;
use std::process::Command;

/// A program with `_start`, one per-CPU word, one registry entry and no `.data`.
const PROGRAM: &str = "
    .section .text
    .globl _start
_start:
    lea __percpu_start_defined_by_percpu_build_configure(%rip), %rax
    lea __percpu_settings_defined_by_percpu_build_configure(%rip), %rax
    ret
    .section .percpu,\"aw\"
    .quad 1
    .section .percpu_registry,\"a\"
    .quad 2
";

fn run(cmd: &mut Command) -> std::process::Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (run scripts/ensure-toolchain.sh)"))
}

fn link(dir: &Path, fragment: &str, name: &str) -> std::process::Output {
    let script = dir.join(format!("{name}.ld"));
    std::fs::write(&script, fragment).unwrap();
    run(Command::new("ld.lld")
        .arg(dir.join("program.o"))
        .arg(format!("-T{}", script.display()))
        .args(["--gc-sections", "-o"])
        .arg(dir.join(name)))
}

#[test]
fn the_direct_fragment_links_a_program_without_data() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("direct-link");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("program.s"), PROGRAM).unwrap();
    let out =
        run(Command::new("as").arg(dir.join("program.s")).arg("-o").arg(dir.join("program.o")));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let target = TargetCfg::builtin("x86_64-unknown-none").unwrap();
    let config = Config::defaults(&target).unwrap();
    // Inserted after .data, as for hosted executables: the linker has no .data to insert after.
    let inserted = gen_ld::generate(&config, Some(".data")).standalone;
    let out = link(&dir, &inserted, "inserted");
    assert!(!out.status.success(), "INSERT AFTER .data without .data is expected to fail");
    // The direct fragment places the sections itself.
    let direct = gen_ld::generate(&config, None).standalone;
    assert!(direct.starts_with("/* Generated") && direct.contains("OVERWRITE_SECTIONS"));
    let out = link(&dir, &direct, "direct");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let bytes = std::fs::read(dir.join("direct")).unwrap();
    let elf = object::File::parse(&*bytes).unwrap();
    let allocated_writable = |name: &str| {
        let s = elf.section_by_name(name).unwrap_or_else(|| panic!("no {name}"));
        match s.flags() {
            SectionFlags::Elf { sh_flags } => (sh_flags & 2 != 0, sh_flags & 1 != 0),
            _ => unreachable!(),
        }
    };
    assert_eq!(allocated_writable(".percpu"), (true, true), ".percpu is allocated, writable");
    assert!(allocated_writable(".percpu_registry").0, "the registry (and settings) allocated");
    let settings = elf.symbols().find(|s| s.name() == Ok("__percpu_settings")).unwrap();
    assert_ne!(settings.address(), 0, "the settings record has an address");
}
