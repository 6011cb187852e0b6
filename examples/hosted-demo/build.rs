//! Reads percpu.toml for the target, writes the layout constants and the linker fragment to
//! OUT_DIR, and links the fragment into the demo and its tests (percpu-build).
fn main() {
    percpu_build::configure();
}
