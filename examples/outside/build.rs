//! The one call a user's build script makes: percpu.toml to layout and linker fragment.
fn main() {
    percpu_build::configure();
}
