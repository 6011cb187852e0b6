//! Links the benchmark the way the ArceOS `percpu` crate's own tests are linked on Linux: a
//! non-PIE executable with a linker script that places `.percpu` (see `arceos-percpu.x`).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = std::path::Path::new(&dir).join("arceos-percpu.x");
    println!("cargo:rustc-link-arg-bins=-no-pie");
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    println!("cargo:rerun-if-changed=arceos-percpu.x");
    println!("cargo:rerun-if-changed=build.rs");
}
