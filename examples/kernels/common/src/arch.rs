//! What each kernel provides to the shared boot flow: the [`Arch`] trait (serial port, exit,
//! interrupt masking, CPU start-up, page tables) and the [`BootInfo`] it gathers from firmware.

use alloc::string::String;
use core::ops::Range;
use percpu_rt::CpuId;

use crate::exit::ExitCode;
use percpu_rt::Settings;

/// One architecture's machine operations. Implemented once per kernel, as a `static`.
pub trait Arch: Sync {
    /// Name printed in the banner (e.g. `x86_64`, `aarch64 at EL2`).
    fn name(&self) -> &'static str;

    /// Writes one byte to the serial port, waiting while the transmitter is full. The console
    /// ([`crate::console`]) serialises callers.
    fn serial_write(&self, byte: u8);

    /// Ends the run: QEMU exits with the status that stands for `code` ([`ExitCode::status`]).
    fn exit(&self, code: ExitCode) -> !;

    /// Masks interrupts on this CPU; returns the previous state for [`Arch::irq_restore`].
    fn irq_save(&self) -> usize;

    /// Restores the interrupt state saved by [`Arch::irq_save`].
    fn irq_restore(&self, saved: usize);

    /// Raises a CPU exception on purpose, with an undefined instruction (the `fault=<cpu>`
    /// command-line test of the failure path): the kernel's exception handler must report it
    /// and end the run.
    fn undefined_instruction(&self) -> !;

    /// The hardware id of the CPU running this (local APIC id, `MPIDR_EL1` affinity bits).
    fn hw_cpu_id(&self) -> u64;

    /// Starts the CPU with hardware id `hw_id` as logical CPU `cpu`: it enters
    /// [`crate::boot::secondary_main`] on the stack that ends at `stack_top`. Returns once the
    /// next `start_cpu` may run (the start request is sent, and the CPU no longer needs
    /// anything a later start overwrites, such as a shared trampoline); the caller starts the
    /// other CPUs meanwhile and then waits for each to report online.
    fn start_cpu(&self, cpu: CpuId, hw_id: u64, stack_top: usize) -> Result<(), String>;

    /// Waits cheaply for [`Arch::wake`] (or any other event) on a CPU that has nothing to do:
    /// callers loop and re-check their condition. Under QEMU a halted CPU costs no host time,
    /// which matters with 64 emulated CPUs on two host cores.
    fn idle(&self);

    /// Ends an [`Arch::idle`] of the CPU with hardware id `hw_id` (it may wake others too).
    fn wake(&self, hw_id: u64);

    /// Stops this CPU for good, halted: its part of the run is over.
    fn park(&self) -> !;

    /// Makes sure every page-table level above the leaf entry of `virt` exists (Linux's
    /// `populate_pte`), allocating table pages from [`crate::frames`].
    fn populate_pte(&self, virt: usize) -> Result<(), &'static str>;

    /// Maps the 4 KiB page at `virt` to the physical page `phys` as normal, cacheable,
    /// writable, non-executable memory. The levels above must exist ([`Arch::populate_pte`]);
    /// the leaf must be empty.
    fn map_page(&self, virt: usize, phys: usize) -> Result<(), &'static str>;

    /// Removes the mapping of the 4 KiB page at `virt`, if any (a failed page-mode setup
    /// undoes its mappings), and flushes it from this CPU's TLB.
    fn unmap_page(&self, virt: usize);

    /// Called on every CPU once its per-CPU base register is loaded: records the kernel crate's
    /// own per-CPU state (e.g. the hardware id in a kernel `#[percpu]` static).
    fn cpu_online(&self, cpu: CpuId);

    /// The kernel crate's share of the concurrent per-CPU work, run on every CPU at once.
    fn kernel_percpu_work(&self, cpu: CpuId, iterations: u64) -> Result<(), String>;

    /// The kernel crate's remote checks, run on the boot CPU after every online CPU finished its
    /// work: CPU `i` of `online_hw_ids` (logical CPU `i`, hardware id `online_hw_ids[i]`) did
    /// `iterations` rounds; every other CPU of `possible` never ran and keeps its initial values.
    fn kernel_percpu_check(
        &self,
        online_hw_ids: &[u64],
        possible: &[CpuId],
        iterations: u64,
    ) -> Result<(), String>;
}

/// What the kernel learnt from firmware before the shared flow starts.
///
/// The kernel promises that `ram` is RAM, identity-mapped and writable, and that everything in
/// it still in use (the kernel image, firmware data it reads later) lies in `reserved`: the
/// frame allocator hands out the rest.
///
/// CPUs, as in Linux: every **possible** CPU (one that exists now or may be hot-plugged later)
/// gets a logical id below `nr_possible` and a unit in the first chunk; the **present** ones
/// (those the firmware says are there) come first, ids `0..hw_ids.len()`, the boot CPU as 0;
/// of those, the first `maxcpus=` (all by default) are brought **online**.
#[derive(Debug)]
pub struct BootInfo<'a> {
    /// Usable RAM, identity-mapped (virtual address = physical address).
    pub ram: &'a [Range<usize>],
    /// Parts of `ram` never to hand out: the kernel image, firmware tables, the trampoline.
    pub reserved: &'a [Range<usize>],
    /// The kernel command line (`-append`).
    pub cmdline: &'a str,
    /// Hardware ids of the present CPUs; the index is the logical CPU id and entry 0 is the
    /// boot CPU.
    pub hw_ids: &'a [u64],
    /// Possible CPUs: at least `hw_ids.len()`, at most the configured `max_cpus`. Logical ids
    /// `hw_ids.len()..nr_possible` are possible but not present (hot-pluggable).
    pub nr_possible: usize,
    /// Where the CPU counts come from (printed in the banner), e.g. `ACPI MADT`.
    pub cpus_from: &'static str,
    /// Start of the virtual range the page-mode first chunk is mapped into.
    pub page_mode_vm_base: usize,
    /// The per-CPU settings the kernel was built with (its `percpu.toml`, through the
    /// generated `SETTINGS`): layout, `max_cpus`, allocator settings, and the first-chunk mode
    /// used when the command line has no `percpu_alloc=`.
    pub percpu: Settings,
}

static ARCH: spin::Once<&'static dyn Arch> = spin::Once::new();

/// Registers the kernel's [`Arch`] (first thing at boot).
pub fn install(arch: &'static dyn Arch) {
    ARCH.call_once(|| arch);
}

/// The registered [`Arch`].
///
/// # Panics
///
/// Before [`install`].
pub fn arch() -> &'static dyn Arch {
    *ARCH.get().expect("kernel_common::arch::install runs first at boot")
}

/// The registered [`Arch`], or `None` before [`install`] (for the panic path).
pub fn try_arch() -> Option<&'static dyn Arch> {
    ARCH.get().copied()
}
