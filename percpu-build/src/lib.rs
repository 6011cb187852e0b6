//! Build-script helper for percpu-rt (grows into the full `percpu.toml` pipeline).

/// Emits the linker fragment for a hosted executable and the `cargo:` lines that use it.
pub fn hosted() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let script = out.join("percpu.ld");
    let text = percpu_rt::linker::standalone_fragment(&percpu_rt::linker::LinkerParams::hosted_defaults());
    std::fs::write(&script, text).expect("write percpu.ld");
    println!("cargo:rustc-link-arg=-Wl,-T,{}", script.display());
}
