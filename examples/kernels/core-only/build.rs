//! Build script of the core-only kernel: percpu-build reads `percpu.toml` and writes the
//! per-CPU constants and linker fragments, which the x86_64 kernel's linker script (shared:
//! the same image layout, PVH note and boot code) INCLUDEs from `OUT_DIR`.

fn main() {
    percpu_build::Builder::new().link(percpu_build::Link::Include).run();
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("Cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg=-T{manifest}/../x86_64/link.ld");
    println!("cargo:rerun-if-changed=../x86_64/link.ld");
}
