//! **Build-script helper and ELF inspector for percpu-rt**: `percpu.toml` to unit layout,
//! generated constants and linker fragment; and `percpu-build inspect` for linked files.
//!
//! # In `build.rs`
//!
//! ```no_run
//! // build.rs
//! fn main() {
//!     percpu_build::configure();
//! }
//! ```
//!
//! reads `$CARGO_MANIFEST_DIR/percpu.toml` for the target being built (no file: Linux's
//! defaults for the target's pointer width), and writes to `OUT_DIR`:
//!
//! * `percpu_layout.rs`: documented constants (`PAGE_SIZE`, `ATOM_SIZE`, `RESERVED_SIZE`,
//!   `DYNAMIC_RESERVE`, `EARLY_RESERVE`, `MIN_UNIT_SIZE`, `UNIT_SIZE`, `MAX_ALLOC_SIZE`,
//!   `MAX_CPUS`, `FIRST_CHUNK`, `BASE_REGISTER`, `EMPTY_PAGES_LOW/HIGH`) and
//!   `layout_params(static_size)`, for the kernel to `include!`;
//! * `percpu.ld`: the linker fragment to pass with `-T` (hosted executables, or kernels that use
//!   the linker's default layout);
//! * `percpu-sections.ld` and `percpu-checks.ld`: the same, split for a kernel's own linker
//!   script, which `INCLUDE`s the first inside its `SECTIONS` command and the second at its top
//!   level (`OUT_DIR` is put on the linker's search path).
//!
//! For a Linux target it also prints `cargo:rustc-link-arg=-Wl,-T,<OUT_DIR>/percpu.ld`; for
//! other targets the kernel's script includes the fragment ([`Link`] chooses otherwise). A
//! configuration error stops the build with `path:line:col: key `name`: found ..., allowed ...`.
//! The library API itself ([`Builder::emit`], [`Config::load`]) returns errors and never panics:
//!
//! ```no_run
//! // build.rs of a kernel with its own linker script and its configuration elsewhere
//! fn main() {
//!     percpu_build::Builder::new()
//!         .config("../percpu.toml")
//!         .link(percpu_build::Link::Include)
//!         .run();
//! }
//! ```
//!
//! The file format and keys are documented in [`config`]. All layout arithmetic is
//! `percpu_rt::layout`'s, the code the kernel runs at boot; the linker text is
//! `percpu_rt::linker`'s.
//!
//! # `percpu-build inspect <ELF> [--json] [--config <percpu.toml>] [--target <triple>] [--cpus N]`
//!
//! With feature `inspect` (`cargo install percpu-build --features inspect`); without it the
//! crate is what a `build.rs` needs, the configuration reader and the generators, 14 crates in
//! all.
//!
//! Prints the static size, every per-CPU variable (name, crate, offset, size, alignment) with
//! the padding between them, and the unit layout (`static | reserved | dynamic | unused`, unit
//! size, units per allocation, memory for the possible CPUs) of a linked x86_64 or aarch64 ELF
//! file, PIE or static. `inspect::run` returns the same data.

// The examples above are build scripts: their `fn main` is the point.
#![allow(clippy::needless_doctest_main)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod builder;
pub mod config;
#[cfg(feature = "inspect")]
pub mod elf;
pub mod error;
pub mod gen_ld;
pub mod gen_rust;
#[cfg(feature = "inspect")]
pub mod inspect;
#[cfg(feature = "inspect")]
mod registry;
#[cfg(feature = "inspect")]
pub mod report;
pub mod size;
mod suggest;
pub mod target;
mod tree;
pub mod unit;

pub use builder::{BuildEnv, BuildError, Builder, Emitted, Link};
pub use config::{BaseRegister, Config, Key, Origin};
pub use error::{ConfigError, ErrorKind};
pub use percpu_rt::FirstChunkMode;
pub use target::TargetCfg;
pub use tree::Position;

/// The one call of a `build.rs`: [`Builder::new()`](Builder::new)`.`[`run()`](Builder::run).
/// On a configuration error it prints the message and exits the build script with status 1.
pub fn configure() -> Emitted {
    Builder::new().run()
}
