//! The `percpu-build` command's failures: each is one clear message and exit status 2, never
//! a panic.

mod common;

use std::process::{Command, Output};

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_percpu-build")).args(args).output().unwrap()
}

/// Runs the command and returns its standard error, checking the exit status is 2.
fn fails(args: &[&std::ffi::OsStr]) -> String {
    let out = run(args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty());
    stderr
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

#[test]
fn a_file_that_is_not_elf() {
    let path = common::temp_file("script.sh", b"#!/bin/sh\necho hello\n");
    let err = fails(&[os("inspect"), path.as_os_str()]);
    assert_eq!(
        err,
        format!(
            "percpu-build: error: {}: not an ELF file (no \\x7fELF magic number)\n",
            path.display()
        )
    );
}

#[test]
fn a_missing_file() {
    let err = fails(&[os("inspect"), os("/nonexistent/kernel.elf")]);
    assert!(
        err.starts_with("percpu-build: error: /nonexistent/kernel.elf: cannot read: "),
        "{err}"
    );
}

#[test]
fn an_elf_without_a_percpu_section() {
    let path = common::temp_file("empty.elf", &common::empty_executable());
    let err = fails(&[os("inspect"), path.as_os_str()]);
    assert!(err.contains(": no .percpu section: the file has no #[percpu] statics, or was linked without percpu-build's linker fragment"), "{err}");
}

#[test]
fn a_relocatable_object() {
    let mut obj = common::empty_executable();
    obj[16] = 1; // ET_REL
    let path = common::temp_file("object.o", &obj);
    let err = fails(&[os("inspect"), path.as_os_str()]);
    assert!(
        err.contains("a relocatable object (.o): inspect the linked executable or kernel instead"),
        "{err}"
    );
}

#[test]
fn bad_target_cpus_and_config() {
    let elf = common::temp_file(
        "cli-args.elf",
        &common::build(common::X86_64, false, 8, &[common::SampleVar::new("k", "X", "u64", 0, 8)]),
    );
    let err = fails(&[os("inspect"), elf.as_os_str(), os("--target"), os("x86_64-none")]);
    assert_eq!(
        err,
        "percpu-build: error: --target x86_64-none: not a target rustc knows; allowed a built-in target triple; did you mean `x86_64-unknown-none`?\n"
    );
    let err = fails(&[os("inspect"), elf.as_os_str(), os("--cpus"), os("0")]);
    assert_eq!(err, "percpu-build: error: --cpus 0: allowed 1 to 8192\n");
    let config = common::temp_file("bad-percpu.toml", b"max_cpus = 4\npage_size = \"4 kB\"\n");
    let err = fails(&[os("inspect"), elf.as_os_str(), os("--config"), config.as_os_str()]);
    assert!(
        err.starts_with(&format!(
            "percpu-build: error: {}:2:13: key `page_size`: found the string \"4 kB\"",
            config.display()
        )),
        "{err}"
    );
}

#[test]
fn usage_errors_print_the_usage() {
    for args in [
        &[][..],
        &[os("inspect")][..],
        &[os("inspekt"), os("x")][..],
        &[os("inspect"), os("a"), os("b")][..],
        &[os("inspect"), os("--cpus"), os("many"), os("a")][..],
        &[os("inspect"), os("--verbose"), os("a")][..],
    ] {
        let err = fails(args);
        assert!(err.starts_with("percpu-build: "), "{err}");
        assert!(err.contains("usage: percpu-build inspect <ELF> [--json]"), "{err}");
    }
    let help = run(&[os("--help")]);
    assert!(help.status.success());
    assert!(String::from_utf8(help.stdout).unwrap().starts_with("usage: percpu-build inspect"));
}
