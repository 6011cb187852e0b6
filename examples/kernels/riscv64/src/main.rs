//! The riscv64 example kernel for QEMU's virt board under OpenSBI: runs in S-mode with Sv39
//! paging, starts every other hart with SBI HSM `hart_start`, sets up the per-CPU first chunk
//! (page mode by default, its pages mapped into a virtual range above RAM;
//! `percpu_alloc=embed` for embed mode), loads each hart's `tp` (or, built with the `gp`
//! feature, `gp`), runs the shared per-CPU checks on all harts at once and exits QEMU through
//! the virt board's test device.
//!
//! ```text
//! qemu-system-riscv64 -M virt -smp 4 -m 128M -nographic -bios default \
//!     -kernel percpu-kernel-riscv64
//! ```
//!
//! OpenSBI picks the boot hart (not always hart 0): it becomes logical CPU 0, and every other
//! hart of the device tree is started. The machine-specific parts live in this crate (start-up
//! assembly and trap entry, SBI calls, the UART, page tables); the flow is
//! [`kernel_common::boot`].

#![no_std]
#![no_main]

extern crate alloc;

mod boot;
mod paging;
mod sbi;
mod uart;

use alloc::format;
use alloc::string::String;
use core::arch::asm;
use core::ops::Range;
use core::sync::atomic::{AtomicBool, Ordering};

use kernel_common::{Arch, BootInfo, ExitCode, fail, fdt};
use percpu_rt::{CpuId, percpu};

use boot::SecondaryBoot;

/// The constants the build script generated from `percpu.toml` (not all of them are used).
#[allow(dead_code)]
mod layout {
    include!(concat!(env!("OUT_DIR"), "/percpu_layout.rs"));
}

/// Each hart's id, written when it comes online and checked remotely.
#[percpu]
static HARTID: u64 = u64::MAX;

/// Work done by the kernel crate itself on each hart (`amoadd.d` on the hart's copy).
#[percpu]
static KERNEL_TICKS: u64 = 0;

/// Where the page-mode first chunk is mapped: 128 GiB, above any RAM the kernel uses and below
/// the end of the Sv39 lower half (256 GiB), with the dynamic chunks 32 GiB above it.
const PAGE_MODE_VM_BASE: usize = 0x20_0000_0000;
/// RAM the kernel may use: below the page-mode range.
const RAM_LIMIT: usize = PAGE_MODE_VM_BASE;
/// Most possible CPUs (the percpu.toml `max_cpus`, at most what the device-tree reader keeps).
const MAX_CPUS: usize = {
    let configured = layout::MAX_CPUS;
    if configured < fdt::MAX_CPUS { configured } else { fdt::MAX_CPUS }
};
/// The virt board's test device (`sifive_test`): `(status << 16) | 0x3333` makes QEMU exit with
/// `status`.
const TEST_DEVICE: usize = 0x10_0000;
/// `sstatus.SIE`: supervisor interrupts enabled.
const SSTATUS_SIE: usize = 1 << 1;
/// `sie.SSIE` / `sip.SSIP`: the supervisor software interrupt (the SBI IPI).
const SSI: usize = 1 << 1;

/// Set once an exit was attempted: a trap now means the test device is missing (then the
/// trap path powers off through SBI, status 0, which the harness never takes for a pass).
static EXITING: AtomicBool = AtomicBool::new(false);
/// The boot records of the started harts.
static SECONDARY_BOOT: spin::Mutex<[SecondaryBoot; MAX_CPUS]> =
    spin::Mutex::new([SecondaryBoot { stack_top: 0, cpu: 0, satp: 0 }; MAX_CPUS]);

/// This hart's id (kept in `sscratch` by the start-up code).
fn hartid() -> u64 {
    let id: u64;
    // SAFETY: reading sscratch has no side effects; the start-up code stored the hart id there
    // and nothing changes it.
    unsafe { asm!("csrr {}, sscratch", out(reg) id, options(nomem, nostack, preserves_flags)) };
    id
}

/// The riscv64 machine (QEMU virt under OpenSBI).
struct Riscv64;

impl Arch for Riscv64 {
    fn name(&self) -> &'static str {
        match (cfg!(feature = "gp"), cfg!(all(target_feature = "zacas", target_feature = "zabha")))
        {
            (true, false) => "riscv64 (base in gp)",
            (true, true) => "riscv64 (base in gp) with Zacas and Zabha",
            (false, false) => "riscv64 (base in tp)",
            (false, true) => "riscv64 (base in tp) with Zacas and Zabha",
        }
    }

    fn serial_write(&self, byte: u8) {
        uart::write_byte(byte);
    }

    fn exit(&self, code: ExitCode) -> ! {
        EXITING.store(true, Ordering::SeqCst);
        let value = (u32::from(code.status()) << 16) | 0x3333;
        // SAFETY: the test device's register, identity-mapped (GiB 0); writing it ends the run.
        unsafe { (TEST_DEVICE as *mut u32).write_volatile(value) };
        // QEMU ends the run asynchronously, after this hart has moved on: nothing may follow the
        // write that ends it differently (an SBI shutdown here, through the same device, would
        // race it and win with status 0). Park until QEMU exits.
        self.park()
    }

    fn irq_save(&self) -> usize {
        let sstatus: usize;
        // SAFETY: clears sstatus.SIE on this hart and returns the previous sstatus; no memory.
        unsafe {
            asm!("csrrci {}, sstatus, 2", out(reg) sstatus, options(nomem, nostack, preserves_flags))
        };
        sstatus & SSTATUS_SIE
    }

    fn irq_restore(&self, saved: usize) {
        if saved & SSTATUS_SIE != 0 {
            // SAFETY: sets sstatus.SIE again, as the matching `irq_save` found it.
            unsafe { asm!("csrsi sstatus, 2", options(nomem, nostack, preserves_flags)) };
        }
    }

    fn undefined_instruction(&self) -> ! {
        // SAFETY: `unimp` raises an illegal-instruction exception, which the trap entry reports;
        // nothing else happens.
        unsafe { asm!("unimp", options(noreturn, nomem, nostack)) }
    }

    fn hw_cpu_id(&self) -> u64 {
        hartid()
    }

    fn start_cpu(&self, cpu: CpuId, hw_id: u64, stack_top: usize) -> Result<(), String> {
        let mut records = SECONDARY_BOOT.lock();
        let record = records
            .get_mut(cpu.as_usize())
            .ok_or_else(|| format!("CPU {cpu} is beyond this kernel's {MAX_CPUS} CPUs"))?;
        *record = SecondaryBoot {
            stack_top: stack_top as u64,
            cpu: u64::from(cpu.as_u32()),
            satp: paging::satp(),
        };
        // The new hart reads its record with the MMU off, at the same (identity) address.
        let at = record as *const SecondaryBoot as u64;
        let entry = &raw const boot::riscv64_secondary_entry as u64;
        sbi::hart_start(hw_id, entry, at).map_err(|e| format!("SBI hart_start: {}", e.describe()))
    }

    fn idle(&self) {
        // SAFETY: `wfi` waits for a pending interrupt enabled in `sie` (the SBI IPI, with
        // sstatus.SIE clear: no trap is taken), then the IPI's pending bit is cleared.
        unsafe {
            asm!("csrs sie, {ssi}", "wfi", "csrc sip, {ssi}", ssi = in(reg) SSI, options(nomem, nostack, preserves_flags))
        }
    }

    fn wake(&self, hw_id: u64) {
        if let Err(e) = sbi::send_ipi(hw_id) {
            fail!("SBI send_ipi to hart {hw_id}: {}", e.describe());
        }
    }

    fn park(&self) -> ! {
        // Every interrupt disabled in `sie`: `wfi` stops this hart for good (QEMU halts it; an
        // early wake-up goes back to sleep).
        loop {
            // SAFETY: masks this hart's supervisor interrupts and waits; nothing else happens.
            unsafe { asm!("csrw sie, zero", "wfi", options(nomem, nostack, preserves_flags)) }
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
        HARTID.write(hartid());
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
            let (want_hart, want_ticks) = match online_hw_ids.get(cpu.as_usize()) {
                Some(&hw_id) => (hw_id, 2 * iterations),
                // Never online: the template's values.
                None => (u64::MAX, 0),
            };
            let hart = HARTID.read_on(cpu);
            if hart != want_hart {
                return Err(format!("CPU {cpu}: HARTID is {hart:#x}, expected {want_hart:#x}"));
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

static ARCH: Riscv64 = Riscv64;

/// The boot hart's first Rust code: paging on, `.bss` clear, base register 0. `hartid` and
/// `dtb` are what OpenSBI passed in `a0` and `a1`.
#[unsafe(no_mangle)]
extern "C" fn riscv64_boot_main(hartid: u64, dtb: usize) -> ! {
    kernel_common::arch::install(&ARCH);
    // SAFETY: `dtb` is OpenSBI's device tree, in RAM (identity-mapped), unchanged for the run
    // and reserved below; if there is no header, `at` says so.
    let Some(tree) = (unsafe { fdt::Fdt::at(dtb) }) else {
        fail!("no device tree at {dtb:#x} (a1 at entry): boot with QEMU's -M virt -bios default");
    };
    let machine = match tree.machine() {
        Ok(machine) => machine,
        Err(e) => fail!("device tree: {e}"),
    };

    // The harts: every `/cpus/cpu@*` node is a possible and present CPU. OpenSBI's boot hart
    // (any of them) is logical CPU 0, the others follow in device-tree order.
    let nr_cpus = machine.nr_cpus;
    if nr_cpus == 0 {
        fail!("the device tree lists no hart");
    }
    if nr_cpus > MAX_CPUS {
        fail!(
            "{nr_cpus} CPUs, but this kernel is configured for at most {MAX_CPUS} (max_cpus in \
             percpu.toml)"
        );
    }
    let mut hw_ids = [0u64; MAX_CPUS];
    hw_ids[0] = hartid;
    let mut n = 1;
    for &id in machine.cpus[..nr_cpus].iter().filter(|&&id| id != hartid) {
        hw_ids[n] = id;
        n += 1;
    }
    if n != nr_cpus {
        fail!("the boot hart ({hartid}) is not among the device tree's harts");
    }

    // RAM: GiB 2 is in the boot map; map the rest of RAM below the limit.
    let mut ram: [Range<usize>; fdt::MAX_RAM_RANGES] = Default::default();
    for (slot, r) in ram.iter_mut().zip(&machine.ram[..machine.nr_ram]) {
        *slot = r.start..r.end.min(RAM_LIMIT);
        for gib in (slot.start >> 30)..slot.end.div_ceil(1 << 30) {
            if gib != 2
                && let Err(e) = paging::map_ram_gib(gib)
            {
                fail!("mapping RAM: {e}");
            }
        }
    }
    // Reserved: the kernel image, the device tree, OpenSBI's own memory (its reserved-memory
    // nodes) and anything else below the kernel.
    let image = &raw const boot::__kernel_start as usize..&raw const boot::__kernel_end as usize;
    let below_kernel = machine.ram[0].start.min(image.start)..image.start;
    let mut reserved: [Range<usize>; 3 + fdt::MAX_RESERVED_RANGES] = Default::default();
    reserved[0] = image;
    reserved[1] = tree.range();
    reserved[2] = below_kernel;
    reserved[3..3 + machine.nr_reserved].clone_from_slice(&machine.reserved[..machine.nr_reserved]);
    kernel_common::boot::boot_cpu_main(
        &ARCH,
        BootInfo {
            ram: &ram[..machine.nr_ram],
            reserved: &reserved[..3 + machine.nr_reserved],
            cmdline: machine.bootargs,
            hw_ids: &hw_ids[..nr_cpus],
            nr_possible: nr_cpus,
            cpus_from: "device tree",
            page_mode_vm_base: PAGE_MODE_VM_BASE,
            percpu: layout::SETTINGS,
        },
    )
}

/// A started hart's first Rust code: paging on with the boot hart's table, own stack, base
/// register 0.
#[unsafe(no_mangle)]
extern "C" fn riscv64_secondary_main(cpu: u64) -> ! {
    kernel_common::boot::secondary_main(CpuId::new(cpu as u32))
}

/// `scause` exception codes (interrupt bit clear).
const EXCEPTIONS: [&str; 16] = [
    "instruction address misaligned",
    "instruction access fault",
    "illegal instruction",
    "breakpoint",
    "load address misaligned",
    "load access fault",
    "store/AMO address misaligned",
    "store/AMO access fault",
    "environment call from U-mode",
    "environment call from S-mode",
    "reserved",
    "reserved",
    "instruction page fault",
    "load page fault",
    "reserved",
    "store/AMO page fault",
];

/// The trap path: reports and ends the run. The kernel never enables interrupts, so every
/// trap is a bug (or the `fault=` test).
#[unsafe(no_mangle)]
extern "C" fn riscv64_trap(scause: u64, sepc: u64, stval: u64, hart: u64) -> ! {
    if EXITING.load(Ordering::SeqCst) {
        kernel_common::console::print_line_emergency(format_args!(
            "writing the test device trapped (scause {scause:#x}): powering off"
        ));
        let _ = sbi::shutdown();
        ARCH.park()
    }
    let interrupt = scause >> 63 == 1;
    let code = scause & !(1 << 63);
    let what = match (interrupt, EXCEPTIONS.get(code as usize)) {
        (false, Some(name)) => name,
        (true, _) => "interrupt",
        (false, None) => "unknown exception",
    };
    fail!(
        "CPU exception on hart {hart}: {what} (scause {scause:#x}), sepc {sepc:#x}, stval \
         {stval:#x}"
    )
}
