//! Boot support shared by the example kernels (x86_64, aarch64 and riscv64).
//!
//! Each kernel's assembly entry brings its CPU to a Rust function with a stack, paging on and
//! per-CPU base register 0, gathers what the firmware says about the machine into a
//! [`BootInfo`], implements [`Arch`], and hands over to [`boot::boot_cpu_main`]. From there the
//! flow is the same on both architectures:
//!
//! 1. console, [`percpu_rt::Platform`] hooks, physical frame allocator, heap;
//! 2. the per-CPU first chunk, with a unit for every possible CPU (embed or page mode,
//!    `percpu_alloc=` on the command line) and its Linux-format dump, then the boot CPU loads
//!    its base register;
//! 3. the other CPUs to bring online (the present ones, or the first `maxcpus=`) are started
//!    all at once, each loads its own base register, reports online and idles;
//! 4. all online CPUs run the per-CPU checks of [`kernel_lib`] and of the kernel crate at once,
//!    and allocate, use and free dynamic per-CPU objects at once ([`chunks`] maps the
//!    allocator's further chunks), then park;
//! 5. the boot CPU checks every possible CPU's copies remotely (the offline ones must hold
//!    their initial values) and ends the run with `PASS` or `FAIL: <reason>` and a QEMU exit
//!    status ([`exit`]).

#![no_std]

extern crate alloc;

pub mod arch;
pub mod boot;
pub mod chunks;
pub mod cmdline;
pub mod console;
pub mod exit;
pub mod fdt;
pub mod frames;
pub mod grace;
pub mod heap;
pub mod misuse;
pub mod percpu_setup;
pub mod platform;
pub mod smp;

pub use arch::{Arch, BootInfo};
pub use exit::ExitCode;
