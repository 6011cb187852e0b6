//! Host-side harness for the bare-metal example kernels in `examples/kernels`.
//!
//! * [`toolchain::ensure`] makes sure Debian's `rustc-web`, `rust-web-src`, `lld` and QEMU are
//!   installed (it runs `scripts/ensure-toolchain.sh`, which installs what is missing and fails,
//!   never skips, when a tool is still missing);
//! * [`build::build`] builds one kernel variant with a nested cargo and the bare-metal
//!   toolchain (`RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1`, `-Zbuild-std` from the kernels'
//!   `.cargo/config.toml`, or `core` alone for the kernel without a heap, whose build must not
//!   contain the `alloc` crate);
//! * [`qemu::Boot`] is one boot: the QEMU command line (the same one the kernels' README gives
//!   for booting by hand; `-smp N[,maxcpus=M]`, `gic-version=3` on aarch64 beyond 8 CPUs,
//!   OpenSBI's `-bios default` on riscv64, pvpanic-pci on loongarch64),
//!   run under a deadline that grows with the CPU count, with QEMU killed when it passes;
//! * [`markers`] judges a transcript by its exit status and by markers, never by whole
//!   transcripts (the CPUs' lines interleave in any order): among them the possible, present
//!   and online CPU counts, a first-chunk unit for every possible CPU, and only the online
//!   CPUs started.
//!
//! The tests in `tests/qemu.rs` put these together.

pub mod build;
pub mod disasm;
pub mod markers;
pub mod qemu;
pub mod toolchain;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// One bootable kernel build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// `percpu-kernel-x86_64` for `x86_64-unknown-none`.
    X86_64,
    /// `percpu-kernel-aarch64` for `aarch64-unknown-none`, per-CPU base in `TPIDR_EL1`, exclusive
    /// load/store atomics (ARMv8.0; booted on `cortex-a72`, which has no LSE).
    Aarch64El1,
    /// `percpu-kernel-aarch64` with feature `el2`, per-CPU base in `TPIDR_EL2`; boots with
    /// `-M virt,virtualization=on`.
    Aarch64El2,
    /// `percpu-kernel-aarch64` at EL1 built with `-C target-feature=+lse`: LSE atomics
    /// (`stadd`, `ldadd`, `swp`, `cas`, `casp`); boots on `-cpu max`.
    Aarch64Lse,
    /// `percpu-kernel-riscv64` for `riscv64gc-unknown-none-elf`, per-CPU base in `tp` (RV64GC:
    /// AMOs, LR/SC for `cmpxchg`, masked word sequences for 8 and 16 bits).
    Riscv64Tp,
    /// `percpu-kernel-riscv64` with feature `gp`: per-CPU base in `gp`.
    Riscv64Gp,
    /// `percpu-kernel-riscv64` (base in `tp`) built with `+zacas,+zabha`: `amocas` for
    /// `cmpxchg` (`amocas.q` for 16 bytes) and byte/halfword AMOs; boots on a CPU with both.
    Riscv64Zacas,
    /// `percpu-kernel-loongarch64` for `loongarch64-unknown-none`, per-CPU base in `$r21` (AM*
    /// atomics, `ll`/`sc` for `cmpxchg`, masked word sequences for 8 and 16 bits).
    Loongarch64R21,
    /// `percpu-kernel-loongarch64` with feature `tp`: per-CPU base in `$tp`.
    Loongarch64Tp,
    /// `percpu-kernel-x86_64` with feature `debug-checks`: percpu-rt's debug mode, and
    /// `debug_misuse=` to trigger its reports. Not in [`Kernel::ALL`]: its own tests boot it.
    X86_64Debug,
    /// `percpu-kernel-core-only` for `x86_64-unknown-none`: no heap, built with
    /// `-Zbuild-std=core` against percpu-rt without its `alloc` feature.
    CoreOnly,
}

impl Kernel {
    /// Every variant.
    pub const ALL: [Kernel; 10] = [
        Kernel::X86_64,
        Kernel::Aarch64El1,
        Kernel::Aarch64El2,
        Kernel::Aarch64Lse,
        Kernel::Riscv64Tp,
        Kernel::Riscv64Gp,
        Kernel::Riscv64Zacas,
        Kernel::Loongarch64R21,
        Kernel::Loongarch64Tp,
        Kernel::CoreOnly,
    ];

    /// A short name (`x86_64`, `aarch64-el1`, ..., `riscv64-zacas`, `core-only`), used for file
    /// names.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::X86_64 => "x86_64",
            Kernel::Aarch64El1 => "aarch64-el1",
            Kernel::Aarch64El2 => "aarch64-el2",
            Kernel::Aarch64Lse => "aarch64-lse",
            Kernel::Riscv64Tp => "riscv64-tp",
            Kernel::Riscv64Gp => "riscv64-gp",
            Kernel::Riscv64Zacas => "riscv64-zacas",
            Kernel::Loongarch64R21 => "loongarch64-r21",
            Kernel::Loongarch64Tp => "loongarch64-tp",
            Kernel::X86_64Debug => "x86_64-debug",
            Kernel::CoreOnly => "core-only",
        }
    }

    /// The target architecture.
    pub fn arch(self) -> &'static str {
        match self {
            Kernel::X86_64 | Kernel::X86_64Debug | Kernel::CoreOnly => "x86_64",
            Kernel::Aarch64El1 | Kernel::Aarch64El2 | Kernel::Aarch64Lse => "aarch64",
            Kernel::Riscv64Tp | Kernel::Riscv64Gp | Kernel::Riscv64Zacas => "riscv64",
            Kernel::Loongarch64R21 | Kernel::Loongarch64Tp => "loongarch64",
        }
    }

    /// The cargo package.
    pub fn package(self) -> &'static str {
        match self {
            Kernel::CoreOnly => "percpu-kernel-core-only",
            _ => match self.arch() {
                "x86_64" => "percpu-kernel-x86_64",
                "aarch64" => "percpu-kernel-aarch64",
                "loongarch64" => "percpu-kernel-loongarch64",
                _ => "percpu-kernel-riscv64",
            },
        }
    }

    /// The target triple.
    pub fn target(self) -> &'static str {
        match self.arch() {
            "x86_64" => "x86_64-unknown-none",
            "aarch64" => "aarch64-unknown-none",
            "loongarch64" => "loongarch64-unknown-none",
            _ => "riscv64gc-unknown-none-elf",
        }
    }

    /// Whether QEMU boots it as an x86_64 machine (else aarch64).
    pub fn is_x86_64(self) -> bool {
        self.target().starts_with("x86_64")
    }

    /// Cargo features of the build.
    pub fn features(self) -> &'static [&'static str] {
        match self {
            Kernel::Aarch64El2 => &["el2"],
            Kernel::Riscv64Gp => &["gp"],
            Kernel::Loongarch64Tp => &["tp"],
            Kernel::X86_64Debug => &["debug-checks"],
            _ => &[],
        }
    }

    /// Target features added to the kernels' rustflags (which change `core` too: such a
    /// variant builds in a target directory of its own).
    pub fn target_features(self) -> Option<&'static str> {
        match self {
            Kernel::Aarch64Lse => Some("+lse"),
            Kernel::Riscv64Zacas => Some("+zacas,+zabha"),
            _ => None,
        }
    }

    /// QEMU's `-cpu`, if the board's default is not the one (aarch64's `cortex-a72` has no LSE,
    /// `max` has; riscv64's default `rv64` needs Zacas and Zabha turned on).
    pub fn qemu_cpu(self) -> Option<&'static str> {
        match self {
            Kernel::Aarch64El1 | Kernel::Aarch64El2 => Some("cortex-a72"),
            Kernel::Aarch64Lse => Some("max"),
            Kernel::Riscv64Zacas => Some("rv64,zacas=true,zabha=true"),
            _ => None,
        }
    }

    /// The register its banner and `cpuN: online` lines name.
    pub fn base_register(self) -> &'static str {
        match self {
            Kernel::X86_64 | Kernel::X86_64Debug | Kernel::CoreOnly => "GS.base",
            Kernel::Aarch64El1 | Kernel::Aarch64Lse => "TPIDR_EL1",
            Kernel::Aarch64El2 => "TPIDR_EL2",
            Kernel::Riscv64Tp | Kernel::Riscv64Zacas => "tp",
            Kernel::Riscv64Gp => "gp",
            Kernel::Loongarch64R21 => "r21",
            Kernel::Loongarch64Tp => "tp",
        }
    }

    /// QEMU's exit status for `PASS`: 33 and 35 where the kernel chooses the status
    /// (`isa-debug-exit`, semihosting, the riscv64 test device); loongarch64's virt board has
    /// no such device: its GED powers off with 0 (which therefore counts only with the `PASS`
    /// line), pvpanic-pci with `-action panic=exit-failure` exits with 1.
    pub fn pass_status(self) -> i32 {
        if self.arch() == "loongarch64" { 0 } else { 33 }
    }

    /// QEMU's exit status for `FAIL` (see [`Kernel::pass_status`]).
    pub fn fail_status(self) -> i32 {
        if self.arch() == "loongarch64" { 1 } else { 35 }
    }

    /// The standard-library crates the build compiles (`-Zbuild-std`), when not the kernels'
    /// `.cargo/config.toml` choice (`core` and `alloc`): `core` alone for the kernel without a
    /// heap, so that nothing it links can name `alloc`.
    pub fn build_std(self) -> Option<&'static str> {
        match self {
            Kernel::CoreOnly => Some("core"),
            _ => None,
        }
    }

    /// Where the kernel takes its CPUs from, as its banner says: the ACPI MADT on x86_64 (QEMU
    /// with qboot always has ACPI tables unless `-machine acpi=off`), the device tree on
    /// aarch64, riscv64 and loongarch64, fw_cfg for the core-only kernel.
    pub fn cpus_from(self) -> &'static str {
        match self {
            Kernel::CoreOnly => "fw_cfg",
            _ if self.arch() == "x86_64" => "ACPI MADT",
            _ => "device tree",
        }
    }

    /// The first-chunk mode the kernel uses when the command line does not choose
    /// (`first_chunk` in its `percpu.toml`).
    pub fn default_mode(self) -> FirstChunkMode {
        match self.arch() {
            "x86_64" => FirstChunkMode::Embed,
            _ => FirstChunkMode::Page,
        }
    }

    /// The kernel crate's directory (its `percpu.toml` is there).
    pub fn crate_dir(self) -> PathBuf {
        match self {
            Kernel::CoreOnly => kernels_dir().join("core-only"),
            _ => kernels_dir().join(self.arch()),
        }
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

/// Makes sure the toolchain is installed ([`toolchain::ensure`], once per process); panics with
/// the installer's complaint otherwise.
pub fn toolchain_ready() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = READY.get_or_init(toolchain::ensure) {
        panic!("{e}");
    }
}

/// The ELF of `kernel`, built on first use (once per process, one slot per variant, so that a
/// test waits only for the variant it boots) under `work_dir` (`target/` for the nested builds,
/// `elf/` for the copies; kept between runs: rebuilds are incremental). Panics with the build's
/// errors.
pub fn elf(kernel: Kernel, work_dir: &Path) -> PathBuf {
    type Slot = OnceLock<Result<PathBuf, String>>;
    static SLOTS: Mutex<Vec<(Kernel, &'static Slot)>> = Mutex::new(Vec::new());
    toolchain_ready();
    let slot = {
        let mut slots = SLOTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match slots.iter().find(|(k, _)| *k == kernel) {
            Some((_, slot)) => *slot,
            None => {
                let slot: &'static Slot = Box::leak(Box::default());
                slots.push((kernel, slot));
                slot
            }
        }
    };
    match slot.get_or_init(|| build::build(kernel, &work_dir.join("target"), &work_dir.join("elf")))
    {
        Ok(path) => path.clone(),
        Err(e) => panic!("{e}"),
    }
}
