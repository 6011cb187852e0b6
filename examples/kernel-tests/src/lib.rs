//! Host-side harness for the bare-metal example kernels in `examples/kernels`.
//!
//! * [`toolchain::ensure`] makes sure Debian's `rustc-web`, `rust-web-src`, `lld` and QEMU are
//!   installed (it runs `scripts/ensure-toolchain.sh`, which installs what is missing and fails,
//!   never skips, when a tool is still missing);
//! * [`build::build`] builds one kernel variant with a nested cargo and the bare-metal
//!   toolchain (`RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1`, `-Zbuild-std` from the kernels'
//!   `.cargo/config.toml`);
//! * [`qemu::Boot`] is one boot: the QEMU command line (the same one the kernels' README gives
//!   for booting by hand; `-smp N[,maxcpus=M]`, `gic-version=3` on aarch64 beyond 8 CPUs),
//!   run under a deadline that grows with the CPU count, with QEMU killed when it passes;
//! * [`markers`] judges a transcript by its exit status and by markers, never by whole
//!   transcripts (the CPUs' lines interleave in any order): among them the possible, present
//!   and online CPU counts, a first-chunk unit for every possible CPU, and only the online
//!   CPUs started.
//!
//! The tests in `tests/qemu.rs` put these together.

pub mod build;
pub mod markers;
pub mod qemu;
pub mod toolchain;

use std::path::PathBuf;

/// One bootable kernel build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// `percpu-kernel-x86_64` for `x86_64-unknown-none`.
    X86_64,
    /// `percpu-kernel-aarch64` for `aarch64-unknown-none`, per-CPU base in `TPIDR_EL1`.
    Aarch64El1,
    /// `percpu-kernel-aarch64` with feature `el2`, per-CPU base in `TPIDR_EL2`; boots with
    /// `-M virt,virtualization=on`.
    Aarch64El2,
    /// `percpu-kernel-x86_64` with feature `debug-checks`: percpu-rt's debug mode, and
    /// `debug_misuse=` to trigger its reports. Not in [`Kernel::ALL`]: its own tests boot it.
    X86_64Debug,
}

impl Kernel {
    /// Every variant.
    pub const ALL: [Kernel; 3] = [Kernel::X86_64, Kernel::Aarch64El1, Kernel::Aarch64El2];

    /// A short name (`x86_64`, `aarch64-el1`, `aarch64-el2`), used for file names.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::X86_64 => "x86_64",
            Kernel::Aarch64El1 => "aarch64-el1",
            Kernel::Aarch64El2 => "aarch64-el2",
            Kernel::X86_64Debug => "x86_64-debug",
        }
    }

    /// The cargo package.
    pub fn package(self) -> &'static str {
        match self {
            Kernel::X86_64 | Kernel::X86_64Debug => "percpu-kernel-x86_64",
            Kernel::Aarch64El1 | Kernel::Aarch64El2 => "percpu-kernel-aarch64",
        }
    }

    /// The target triple.
    pub fn target(self) -> &'static str {
        match self {
            Kernel::X86_64 | Kernel::X86_64Debug => "x86_64-unknown-none",
            Kernel::Aarch64El1 | Kernel::Aarch64El2 => "aarch64-unknown-none",
        }
    }

    /// Cargo features of the build.
    pub fn features(self) -> &'static [&'static str] {
        match self {
            Kernel::Aarch64El2 => &["el2"],
            Kernel::X86_64Debug => &["debug-checks"],
            Kernel::X86_64 | Kernel::Aarch64El1 => &[],
        }
    }

    /// Where the kernel takes its CPUs from, as its banner says: the ACPI MADT on x86_64 (QEMU
    /// with qboot always has ACPI tables unless `-machine acpi=off`), the device tree on
    /// aarch64.
    pub fn cpus_from(self) -> &'static str {
        match self {
            Kernel::X86_64 | Kernel::X86_64Debug => "ACPI MADT",
            Kernel::Aarch64El1 | Kernel::Aarch64El2 => "device tree",
        }
    }

    /// The first-chunk mode the kernel uses when the command line does not choose
    /// (`first_chunk` in its `percpu.toml`).
    pub fn default_mode(self) -> FirstChunkMode {
        match self {
            Kernel::X86_64 | Kernel::X86_64Debug => FirstChunkMode::Embed,
            Kernel::Aarch64El1 | Kernel::Aarch64El2 => FirstChunkMode::Page,
        }
    }

    /// The kernel crate's directory (its `percpu.toml` is there).
    pub fn crate_dir(self) -> PathBuf {
        kernels_dir().join(match self {
            Kernel::X86_64 | Kernel::X86_64Debug => "x86_64",
            Kernel::Aarch64El1 | Kernel::Aarch64El2 => "aarch64",
        })
    }
}

/// How the first chunk is built (the kernels' `percpu_alloc=` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FirstChunkMode {
    /// Units in atom-aligned memory from the early allocator.
    Embed,
    /// Units mapped page by page into a reserved virtual range.
    Page,
}

impl FirstChunkMode {
    /// The value of `percpu_alloc=`.
    pub fn name(self) -> &'static str {
        match self {
            FirstChunkMode::Embed => "embed",
            FirstChunkMode::Page => "page",
        }
    }
}

/// The main workspace's root directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The kernels' cargo workspace.
pub fn kernels_dir() -> PathBuf {
    workspace_root().join("examples/kernels")
}
