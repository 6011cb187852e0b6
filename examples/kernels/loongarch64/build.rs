//! Build script of the loongarch64 example kernel: percpu-build reads `percpu.toml` (for the target
//! and features being built) and writes the per-CPU constants (`OUT_DIR/percpu_layout.rs`) and
//! the linker fragments (`OUT_DIR/percpu-sections.ld`, `OUT_DIR/percpu-checks.ld`), which the
//! kernel's own linker script `link.ld` INCLUDEs from `OUT_DIR`, on the linker's search path.

fn main() {
    percpu_build::Builder::new().link(percpu_build::Link::Include).run();
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("Cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg=-T{manifest}/link.ld");
    println!("cargo:rerun-if-changed=link.ld");
}
