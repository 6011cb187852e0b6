//! Build script of percpu-rt.
//!
//! 1. Writes the version-stamped private module path that `#[percpu]` expansions name
//!    (`__private_<version>`), so a macro/runtime version mismatch fails to compile.
//! 2. For this package's own test, example and doc-test executables on Linux, passes the
//!    linker fragment that places `.percpu` between `__percpu_start`/`__percpu_end`:
//!    `link/hosted-tests.ld`, the output of the generator percpu-build uses (`src/linker.rs`)
//!    for a hosted executable, checked in (a unit test of `src/linker.rs` keeps it current).

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let version = env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    let ident = format!("__private_{}", version.replace(['.', '-', '+'], "_"));
    fs::write(
        out.join("private_path.rs"),
        format!("#[doc(hidden)]\npub use crate::private as {ident};\n"),
    )
    .expect("write OUT_DIR/private_path.rs");

    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        let script = PathBuf::from(manifest_dir).join("link").join("hosted-tests.ld");
        println!("cargo:rustc-link-arg=-Wl,-T,{}", script.display());
    }
    // `--cfg percpu_x86_absolute` (in a non-PIE kernel's rustflags) selects `op gs:[SYM]`
    // instead of `op gs:[rip + SYM]` for static variables.
    println!("cargo::rustc-check-cfg=cfg(percpu_x86_absolute)");
    println!("cargo:rerun-if-changed=link/hosted-tests.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
