//! Links the benchmark the way `ax-percpu`'s own tests are linked on Linux (its `build.rs` passes
//! `-T host-test.ld` with feature `host-test`): `host-test.ld` here is that script, which inserts
//! its `.percpu.*` sections after `.data` of the default layout.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = std::path::Path::new(&dir).join("host-test.ld");
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    println!("cargo:rerun-if-changed=host-test.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
