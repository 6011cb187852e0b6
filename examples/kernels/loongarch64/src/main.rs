//! The loongarch64 example kernel for QEMU's virt board, booted directly (no firmware): runs at
//! PLV0 with paging on (a direct-mapped window for the lower half, the TLB for the per-CPU
//! ranges in the upper half), wakes every other CPU through its IPI mailbox, sets up the
//! per-CPU first chunk (page mode by default; `percpu_alloc=embed` for embed mode), loads each
//! CPU's `$r21` (or, built with the `tp` feature, `$tp`), runs the shared per-CPU checks on all
//! CPUs at once and ends the run through the GED (PASS, status 0) or pvpanic (FAIL, status 1).
//!
//! ```text
//! qemu-system-loongarch64 -M virt -smp 4 -m 1G -nographic -no-reboot \
//!     -device pvpanic-pci -action panic=exit-failure -kernel percpu-kernel-loongarch64
//! ```
//!
//! The machine-specific parts live in this crate (start-up assembly, exception and TLB refill
//! entries, the mailbox, the UART, the exit devices, page tables); the flow is
//! [`kernel_common::boot`].

#![no_std]
#![no_main]

extern crate alloc;

mod boot;
mod paging;

use alloc::format;
use alloc::string::String;
use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel_common::{Arch, BootInfo, ExitCode, fail, fdt};
use percpu_rt::{CpuId, percpu};

/// The constants the build script generated from `percpu.toml` (not all of them are used).
#[allow(dead_code)]
mod layout {
    include!(concat!(env!("OUT_DIR"), "/percpu_layout.rs"));
}

/// Each CPU's hardware id (`CPUID`), written when it comes online and checked remotely.
#[percpu]
static CPU_HW_ID: u64 = u64::MAX;

/// Work done by the kernel crate itself on each CPU (`amadd.d` on the CPU's copy).
#[percpu]
static KERNEL_TICKS: u64 = 0;

/// Where QEMU puts the device tree for a direct kernel boot.
const FDT_ADDRESS: usize = 0x10_0000;
/// Where the page-mode first chunk is mapped: the start of the upper half, which only the TLB
/// translates (the lower half is the direct-mapped window).
const PAGE_MODE_VM_BASE: usize = paging::UPPER_HALF;
/// Most possible CPUs (the percpu.toml `max_cpus`, at most what the mailbox table holds).
const MAX_CPUS: usize = {
    let configured = layout::MAX_CPUS;
    if configured < fdt::MAX_CPUS { configured } else { fdt::MAX_CPUS }
};
/// Hardware ids (`CPUID`, 9 bits) the boot records cover.
const MAX_HW_IDS: usize = 512;
/// The ns16550a UART.
const UART: usize = 0x1fe0_01e0;
/// The GED's sleep control register: writing `SLP_EN | SLP_TYP 5` (0x34) powers off, status 0.
const GED_SLEEP_CONTROL: usize = 0x100e_001c;
/// The PCI configuration space (ECAM) of bus 0.
const ECAM: usize = 0x2000_0000;
/// Where the kernel puts pvpanic's BAR 0, in the PCI memory window.
const PVPANIC_BAR: usize = 0x4000_0000;
/// IOCSR registers of the IPI block.
const IOCSR_IPI_SEND: usize = 0x1040;
const IOCSR_MBUF_SEND: usize = 0x1048;
const IOCSR_IPI_EN: usize = 0x1004;
const IOCSR_IPI_CLEAR: usize = 0x100c;
/// The IPI vector `wake` sends (vector 0 is the start-up send's).
const WAKE_VECTOR: u32 = 1;
/// ECFG.LIE bit of the IPI interrupt line (ESTAT.IS bit 12).
const ECFG_IPI: usize = 1 << 12;
/// How often the mailbox and IPI are sent to a CPU that has not checked in.
const START_ROUNDS: u32 = 1000;
/// Spins between two sends.
const START_SPINS: u32 = 1 << 16;

/// The woken CPUs' boot records, by hardware id: `[2 * id]` the stack top, `[2 * id + 1]` the
/// logical CPU (read by `loongarch64_secondary_entry` with paging off).
#[unsafe(no_mangle)]
static loongarch64_secondary_boot: [AtomicU64; 2 * MAX_HW_IDS] =
    [const { AtomicU64::new(0) }; 2 * MAX_HW_IDS];
/// Set by each woken CPU, by hardware id, when it reached Rust.
static CHECKED_IN: [AtomicBool; MAX_HW_IDS] = [const { AtomicBool::new(false) }; MAX_HW_IDS];
/// Set once an exit was attempted.
static EXITING: AtomicBool = AtomicBool::new(false);

/// This CPU's hardware id (`CPUID`, CSR 0x20).
fn cpuid() -> u64 {
    let id: u64;
    // SAFETY: reading CPUID has no side effects.
    unsafe { asm!("csrrd {}, 0x20", out(reg) id, options(nomem, nostack, preserves_flags)) };
    id & 0x1ff
}

/// `iocsrwr.d value, addr`.
fn iocsr_write64(addr: usize, value: u64) {
    // SAFETY: a write to this CPU's IPI block in the IOCSR space; no memory is touched.
    unsafe {
        asm!("iocsrwr.d {}, {}", in(reg) value, in(reg) addr, options(nostack, preserves_flags))
    };
}

/// `iocsrwr.w value, addr`.
fn iocsr_write32(addr: usize, value: u32) {
    // SAFETY: as in `iocsr_write64`.
    unsafe {
        asm!("iocsrwr.w {}, {}", in(reg) value, in(reg) addr, options(nostack, preserves_flags))
    };
}

/// Writes `entry` to mailbox 0 of CPU `hw` (high half, then low half: the stub jumps once the
/// mailbox is non-zero) and sends it an IPI (Linux's `csr_mail_send` + `ipi_write_action`).
fn send_start(hw: u64, entry: u64) {
    for (slot, half) in [(1u64, entry >> 32), (0, entry & 0xffff_ffff)] {
        iocsr_write64(IOCSR_MBUF_SEND, (1 << 31) | (slot << 2) | (hw << 16) | (half << 32));
    }
    iocsr_write32(IOCSR_IPI_SEND, (1 << 31) | ((hw as u32) << 16));
}

/// The pvpanic-pci device's BAR 0, set up (memory decoding on), if the board has one.
fn pvpanic() -> Option<usize> {
    for dev in 0..32 {
        let config = ECAM + (dev << 15);
        // SAFETY: bus 0's configuration space, direct-mapped device memory; a slot without a
        // device reads all ones.
        unsafe {
            let id = (config as *const u32).read_volatile();
            if id == 0x0011_1b36 {
                ((config + 0x10) as *mut u32).write_volatile(PVPANIC_BAR as u32);
                ((config + 0x14) as *mut u32).write_volatile(0);
                let command = ((config + 4) as *const u16).read_volatile();
                ((config + 4) as *mut u16).write_volatile(command | 2);
                return Some(PVPANIC_BAR);
            }
        }
    }
    None
}

/// The loongarch64 machine (QEMU virt).
struct Loongarch64;

impl Arch for Loongarch64 {
    fn name(&self) -> &'static str {
        if cfg!(feature = "tp") {
            "loongarch64 (base in $tp)"
        } else {
            "loongarch64 (base in $r21)"
        }
    }

    fn serial_write(&self, byte: u8) {
        // SAFETY: the UART's registers, direct-mapped; the console serialises writers.
        unsafe {
            while ((UART + 5) as *const u8).read_volatile() & (1 << 5) == 0 {
                core::hint::spin_loop();
            }
            (UART as *mut u8).write_volatile(byte);
        }
    }

    fn exit(&self, code: ExitCode) -> ! {
        EXITING.store(true, Ordering::SeqCst);
        if code == ExitCode::Fail
            && let Some(bar) = pvpanic()
        {
            // SAFETY: pvpanic's event register; bit 0 (panicked) makes QEMU exit with status 1
            // under `-action panic=exit-failure`.
            unsafe { (bar as *mut u8).write_volatile(1) };
            self.park()
        }
        // SAFETY: the GED's sleep control register; 0x34 (SLP_EN, S5) powers the board off:
        // status 0. A failure without pvpanic ends the same way, and the harness tells it by the
        // FAIL line.
        unsafe { (GED_SLEEP_CONTROL as *mut u8).write_volatile(0x34) };
        self.park()
    }

    fn irq_save(&self) -> usize {
        let mut crmd: usize = 0;
        // SAFETY: clears CRMD.IE (bit 2) and returns the previous CRMD; no memory.
        unsafe {
            asm!("csrxchg {v}, {m}, 0x0", v = inout(reg) crmd, m = in(reg) 4usize,
                options(nomem, nostack, preserves_flags))
        };
        crmd & 4
    }

    fn irq_restore(&self, saved: usize) {
        if saved & 4 != 0 {
            // SAFETY: sets CRMD.IE again, as the matching `irq_save` found it.
            unsafe {
                asm!("csrxchg {v}, {m}, 0x0", v = inout(reg) 4usize => _, m = in(reg) 4usize,
                    options(nomem, nostack, preserves_flags))
            };
        }
    }

    fn undefined_instruction(&self) -> ! {
        // SAFETY: the all-zero word is no instruction: it raises an instruction-not-exist
        // exception, which the exception entry reports; nothing else happens.
        unsafe { asm!(".word 0", options(noreturn, nomem, nostack)) }
    }

    fn hw_cpu_id(&self) -> u64 {
        cpuid()
    }

    fn start_cpu(&self, cpu: CpuId, hw_id: u64, stack_top: usize) -> Result<(), String> {
        let hw = hw_id as usize;
        if hw >= MAX_HW_IDS {
            return Err(format!("hardware id {hw_id} is beyond the {MAX_HW_IDS} boot records"));
        }
        loongarch64_secondary_boot[2 * hw].store(stack_top as u64, Ordering::Relaxed);
        loongarch64_secondary_boot[2 * hw + 1].store(u64::from(cpu.as_u32()), Ordering::Release);
        let entry = &raw const boot::loongarch64_secondary_entry as u64;
        // The stub zeroes its mailbox when it starts, so a first send can be lost: send again
        // until the CPU checks in.
        for round in 1..=START_ROUNDS {
            send_start(hw_id, entry);
            for _ in 0..START_SPINS {
                if CHECKED_IN[hw].load(Ordering::Acquire) {
                    if round > 1 {
                        kernel_common::println!("cpu{cpu}: checked in after {round} sends");
                    }
                    return Ok(());
                }
                core::hint::spin_loop();
            }
        }
        Err(format!("no check-in after {START_ROUNDS} mailbox writes and IPIs"))
    }

    fn idle(&self) {
        // The IPI line enabled in ECFG with CRMD.IE clear: `idle` returns once an IPI is
        // pending (none is taken as an exception); then the IPI is acknowledged and the line
        // masked again. An IPI sent before the `idle` stays pending, so none is missed.
        // SAFETY: ECFG and this CPU's IPI registers only; no memory is touched.
        unsafe {
            asm!("csrxchg {v}, {m}, 0x4", "idle 0", "csrxchg $zero, {m}, 0x4",
                v = inout(reg) ECFG_IPI => _, m = in(reg) ECFG_IPI,
                options(nomem, nostack, preserves_flags))
        };
        iocsr_write32(IOCSR_IPI_CLEAR, u32::MAX);
    }

    fn wake(&self, hw_id: u64) {
        iocsr_write32(IOCSR_IPI_SEND, ((hw_id as u32) << 16) | WAKE_VECTOR);
    }

    fn park(&self) -> ! {
        // No interrupt enabled in ECFG: `idle` stops this CPU for good.
        loop {
            // SAFETY: masks every interrupt line and waits; nothing else happens.
            unsafe { asm!("csrwr $zero, 0x4", "idle 0", options(nomem, nostack, preserves_flags)) }
        }
    }

    fn populate_pte(&self, virt: usize) -> Result<(), &'static str> {
        paging::populate_pte(virt)
    }

    fn map_page(&self, virt: usize, phys: usize) -> Result<(), &'static str> {
        paging::map_page(virt, phys)
    }

    fn unmap_page(&self, virt: usize) {
        paging::unmap_page(virt)
    }

    fn cpu_online(&self, _cpu: CpuId) {
        CPU_HW_ID.write(cpuid());
    }

    fn kernel_percpu_work(&self, cpu: CpuId, iterations: u64) -> Result<(), String> {
        for _ in 0..iterations {
            KERNEL_TICKS.add(2);
        }
        let ticks = KERNEL_TICKS.read();
        if ticks != 2 * iterations {
            return Err(format!("CPU {cpu}: KERNEL_TICKS is {ticks}, expected {}", 2 * iterations));
        }
        Ok(())
    }

    fn kernel_percpu_check(
        &self,
        online_hw_ids: &[u64],
        possible: &[CpuId],
        iterations: u64,
    ) -> Result<(), String> {
        for &cpu in possible {
            let (want_hw, want_ticks) = match online_hw_ids.get(cpu.as_usize()) {
                Some(&hw_id) => (hw_id, 2 * iterations),
                // Never online: the template's values.
                None => (u64::MAX, 0),
            };
            let hw = CPU_HW_ID.read_on(cpu);
            if hw != want_hw {
                return Err(format!("CPU {cpu}: CPU_HW_ID is {hw:#x}, expected {want_hw:#x}"));
            }
            let ticks = KERNEL_TICKS.read_on(cpu);
            if ticks != want_ticks {
                return Err(format!("CPU {cpu}: KERNEL_TICKS is {ticks}, expected {want_ticks}"));
            }
        }
        let total: u64 = KERNEL_TICKS.iter_possible().sum();
        let want = 2 * iterations * online_hw_ids.len() as u64;
        if total != want {
            return Err(format!("KERNEL_TICKS sums to {total}, expected {want}"));
        }
        Ok(())
    }
}

static ARCH: Loongarch64 = Loongarch64;

/// The boot CPU's first Rust code: paging on, `.bss` clear, base register 0.
#[unsafe(no_mangle)]
extern "C" fn loongarch64_boot_main(a0: u64, a1: usize) -> ! {
    kernel_common::arch::install(&ARCH);
    // QEMU's direct kernel boot passes the command line as in Linux's non-EFI boot: a0 = 1,
    // a1 = its physical address (0: the start of the boot data below 1 MiB); the device tree's
    // /chosen has none.
    let cmdline = if a0 == 1 { command_line(a1) } else { "" };
    // SAFETY: QEMU's direct kernel boot puts the device tree there, in RAM (direct-mapped),
    // unchanged for the run and reserved below; if there is no header, `at` says so.
    let Some(tree) = (unsafe { fdt::Fdt::at(FDT_ADDRESS) }) else {
        fail!("no device tree at {FDT_ADDRESS:#x}: boot with QEMU's -M virt -kernel");
    };
    let machine = match tree.machine() {
        Ok(machine) => machine,
        Err(e) => fail!("device tree: {e}"),
    };
    let nr_cpus = machine.nr_cpus;
    if nr_cpus == 0 {
        fail!("the device tree lists no CPU");
    }
    if nr_cpus > MAX_CPUS {
        fail!(
            "{nr_cpus} CPUs, but this kernel is configured for at most {MAX_CPUS} (max_cpus in \
             percpu.toml)"
        );
    }
    // The boot CPU is logical CPU 0, the others follow by hardware id (QEMU lists them in
    // the tree from the highest down).
    let boot_hw = cpuid();
    let mut hw_ids = [0u64; MAX_CPUS];
    hw_ids[0] = boot_hw;
    let mut n = 1;
    for &id in machine.cpus[..nr_cpus].iter().filter(|&&id| id != boot_hw) {
        hw_ids[n] = id;
        n += 1;
    }
    hw_ids[1..n].sort_unstable();
    if n != nr_cpus {
        fail!("the boot CPU ({boot_hw}) is not among the device tree's CPUs");
    }
    // Reserved: the kernel image, the device tree, and everything below the kernel (QEMU's
    // boot data).
    let image = &raw const boot::__kernel_start as usize..&raw const boot::__kernel_end as usize;
    let mut reserved: [core::ops::Range<usize>; 3 + fdt::MAX_RESERVED_RANGES] = Default::default();
    reserved[0] = image.clone();
    reserved[1] = tree.range();
    reserved[2] = 0..image.start;
    reserved[3..3 + machine.nr_reserved].clone_from_slice(&machine.reserved[..machine.nr_reserved]);
    kernel_common::boot::boot_cpu_main(
        &ARCH,
        BootInfo {
            ram: &machine.ram[..machine.nr_ram],
            reserved: &reserved[..3 + machine.nr_reserved],
            cmdline: if machine.bootargs.is_empty() { cmdline } else { machine.bootargs },
            hw_ids: &hw_ids[..nr_cpus],
            nr_possible: nr_cpus,
            cpus_from: "device tree",
            page_mode_vm_base: PAGE_MODE_VM_BASE,
            percpu: layout::SETTINGS,
        },
    )
}

/// The command line's bytes, copied out of QEMU's boot data (the kernel reserves it).
static COMMAND_LINE: spin::Once<([u8; COMMAND_LINE_SIZE], usize)> = spin::Once::new();
/// QEMU's command line buffer size.
const COMMAND_LINE_SIZE: usize = 512;

/// The NUL-terminated command line at physical address `at` (possibly 0, which is RAM here: read
/// with `ld.bu`, not through a Rust pointer).
fn command_line(at: usize) -> &'static str {
    let (bytes, len) = COMMAND_LINE.call_once(|| {
        let mut bytes = [0u8; COMMAND_LINE_SIZE];
        let mut len = 0;
        while len < COMMAND_LINE_SIZE {
            let byte: u64;
            // SAFETY: QEMU's boot data, direct-mapped RAM below the kernel (reserved, never
            // handed out); a byte load with no other effect.
            unsafe {
                asm!("ld.bu {}, {}, 0", out(reg) byte, in(reg) at + len,
                    options(nostack, readonly, preserves_flags))
            };
            if byte == 0 {
                break;
            }
            bytes[len] = byte as u8;
            len += 1;
        }
        (bytes, len)
    });
    core::str::from_utf8(&bytes[..*len]).unwrap_or("")
}

/// A woken CPU's first Rust code: paging on, own stack, base register 0.
#[unsafe(no_mangle)]
extern "C" fn loongarch64_secondary_main(cpu: u64) -> ! {
    // Every IPI vector enabled (`wake` sends vector 1), the start-up IPI acknowledged.
    iocsr_write32(IOCSR_IPI_EN, u32::MAX);
    iocsr_write32(IOCSR_IPI_CLEAR, u32::MAX);
    CHECKED_IN[cpuid() as usize].store(true, Ordering::Release);
    kernel_common::boot::secondary_main(CpuId::new(cpu as u32))
}

/// ESTAT exception codes (`Ecode`, bits 21:16).
fn exception_name(ecode: u64) -> &'static str {
    match ecode {
        0 => "interrupt",
        1 => "page invalid (load)",
        2 => "page invalid (store)",
        3 => "page invalid (fetch)",
        4 => "page modification",
        5 => "page not readable",
        6 => "page not executable",
        7 => "page privilege",
        8 => "address error",
        9 => "address not aligned",
        0xa => "bound check",
        0xb => "system call",
        0xc => "breakpoint",
        0xd => "instruction not exist",
        0xe => "instruction privilege",
        0xf => "floating-point disabled",
        _ => "other exception",
    }
}

/// The exception path: returns (the access is retried) for a page-invalid exception on a page
/// mapped since its TLB pair was loaded; reports anything else and ends the run. The kernel
/// never enables interrupts, so every other exception is a bug (or the `fault=` test).
#[unsafe(no_mangle)]
extern "C" fn loongarch64_exception(estat: u64, era: u64, badv: u64, cpu: u64) {
    let ecode = (estat >> 16) & 0x3f;
    if (1..=4).contains(&ecode) && paging::is_mapped(badv as usize) {
        paging::flush_local();
        return;
    }
    if EXITING.load(Ordering::SeqCst) {
        kernel_common::console::print_line_emergency(format_args!(
            "the exit device write trapped (ESTAT {estat:#x}): parking"
        ));
        ARCH.park()
    }
    fail!(
        "CPU exception on CPU {cpu}: {} (ESTAT {estat:#x}), ERA {era:#x}, BADV {badv:#x}",
        exception_name(ecode)
    )
}
