//! The aarch64 example kernel for QEMU's virt board: runs at EL1 (or, built with the `el2`
//! feature, at EL2 under `-M virt,virtualization=on`) with the MMU on, starts every CPU with
//! PSCI `CPU_ON`, sets up the per-CPU first chunk (page mode by default, its pages mapped into
//! a virtual range above RAM; `percpu_alloc=embed` for embed mode), loads each CPU's
//! `TPIDR_EL1`/`TPIDR_EL2`, runs the shared per-CPU checks on all CPUs at once and exits QEMU
//! through semihosting.
//!
//! ```text
//! qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 4 -m 128M -nographic -semihosting \
//!     -kernel percpu-kernel-aarch64
//! ```
//!
//! The machine-specific parts live in this crate (start-up assembly and exception vectors,
//! the PL011 UART, PSCI, semihosting, the device tree, page tables); the flow is
//! [`kernel_common::boot`].

#![no_std]
#![no_main]

extern crate alloc;

mod boot;
mod paging;
mod pl011;
mod psci;
mod semihosting;

use alloc::format;
use alloc::string::String;
use core::arch::asm;
use core::ops::Range;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use kernel_common::{Arch, BootInfo, ExitCode, fail, fdt};
use percpu_rt::{CpuId, percpu};

use boot::SecondaryBoot;
use psci::Conduit;

/// The constants the build script generated from `percpu.toml` (not all of them are used).
#[allow(dead_code)]
mod layout {
    include!(concat!(env!("OUT_DIR"), "/percpu_layout.rs"));
}

/// Each CPU's `MPIDR_EL1` affinity, written when it comes online and checked remotely.
#[percpu]
static MPIDR: u64 = u64::MAX;

/// Work done by the kernel crate itself on each CPU (a pinned atomic add on aarch64).
#[percpu]
static KERNEL_TICKS: u64 = 0;

/// Where the page-mode first chunk is mapped: 256 GiB, above any RAM the kernel uses.
const PAGE_MODE_VM_BASE: usize = 0x40_0000_0000;
/// RAM the kernel may use: below the page-mode range.
const RAM_LIMIT: usize = PAGE_MODE_VM_BASE;
/// Where QEMU puts the device tree of an ELF kernel (the start of RAM).
const DTB_DEFAULT: usize = 0x4000_0000;
/// Most possible CPUs (the percpu.toml `max_cpus`, at most what the device-tree reader
/// keeps).
const MAX_CPUS: usize = {
    let configured = layout::MAX_CPUS;
    if configured < fdt::MAX_CPUS { configured } else { fdt::MAX_CPUS }
};
/// `MPIDR_EL1` affinity fields (Aff3, Aff2, Aff1, Aff0).
const MPIDR_AFFINITY: u64 = 0xFF_00FF_FFFF;

/// The PSCI conduit, from the device tree (0: unknown, 1: hvc, 2: smc).
static CONDUIT: AtomicU8 = AtomicU8::new(0);
/// Set once an exit was attempted: a fault now means semihosting is missing.
static EXITING: AtomicBool = AtomicBool::new(false);
/// The boot records of the secondary CPUs.
static SECONDARY_BOOT: spin::Mutex<[SecondaryBoot; MAX_CPUS]> =
    spin::Mutex::new([SecondaryBoot { stack_top: 0, cpu: 0 }; MAX_CPUS]);

fn conduit() -> Option<Conduit> {
    match CONDUIT.load(Ordering::Relaxed) {
        1 => Some(Conduit::Hvc),
        2 => Some(Conduit::Smc),
        _ => None,
    }
}

/// This CPU's `MPIDR_EL1` affinity.
fn mpidr() -> u64 {
    let value: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) value, options(nomem, nostack, preserves_flags)) }
    value & MPIDR_AFFINITY
}

/// The aarch64 machine (QEMU virt).
struct Aarch64 {
    name: &'static str,
}

impl Arch for Aarch64 {
    fn name(&self) -> &'static str {
        self.name
    }

    fn serial_write(&self, byte: u8) {
        pl011::write_byte(byte);
    }

    fn exit(&self, code: ExitCode) -> ! {
        EXITING.store(true, Ordering::SeqCst);
        semihosting::exit(u32::from(code.status()));
        // Only reached if semihosting returned: power off (QEMU then exits with status 0).
        match conduit() {
            Some(c) => psci::system_off(c),
            None => loop {
                core::hint::spin_loop();
            },
        }
    }

    fn irq_save(&self) -> usize {
        let daif: u64;
        // SAFETY: reading DAIF and masking IRQ and FIQ on this CPU touch no memory.
        unsafe {
            asm!("mrs {}, daif", "msr daifset, #3", out(reg) daif, options(nomem, nostack, preserves_flags))
        }
        daif as usize
    }

    fn irq_restore(&self, saved: usize) {
        // SAFETY: puts back the DAIF value read by the matching `irq_save`.
        unsafe {
            asm!("msr daif, {}", in(reg) saved as u64, options(nomem, nostack, preserves_flags))
        }
    }

    fn undefined_instruction(&self) -> ! {
        // SAFETY: `udf` raises an undefined-instruction exception, which the vectors report;
        // nothing else happens.
        unsafe { asm!("udf #0", options(noreturn, nomem, nostack)) }
    }

    fn hw_cpu_id(&self) -> u64 {
        mpidr()
    }

    fn start_cpu(&self, cpu: CpuId, hw_id: u64, stack_top: usize) -> Result<(), String> {
        let conduit =
            conduit().ok_or_else(|| String::from("no PSCI conduit in the device tree"))?;
        let mut records = SECONDARY_BOOT.lock();
        let record = records
            .get_mut(cpu.as_usize())
            .ok_or_else(|| format!("CPU {cpu} is beyond this kernel's {MAX_CPUS} CPUs"))?;
        *record = SecondaryBoot { stack_top: stack_top as u64, cpu: u64::from(cpu.as_u32()) };
        // The new CPU reads its record with the MMU and caches off.
        let at = record as *const SecondaryBoot as usize;
        paging::clean_to_poc(at, size_of::<SecondaryBoot>());
        let entry = &raw const boot::aarch64_secondary_entry as u64;
        psci::cpu_on(conduit, hw_id, entry, at as u64).map_err(String::from)
    }

    fn idle(&self) {
        // SAFETY: `wfe` waits for an event (`sev` from `wake`, or any other); nothing else
        // happens. (QEMU does not halt on it; the release is quick on this architecture, where
        // every CPU starts at once.)
        unsafe { asm!("wfe", options(nomem, nostack, preserves_flags)) }
    }

    fn wake(&self, _hw_id: u64) {
        // SAFETY: `sev` signals an event to every CPU; nothing else happens.
        unsafe { asm!("dsb ish", "sev", options(nostack, preserves_flags)) }
    }

    fn park(&self) -> ! {
        // Interrupts stay masked and the GIC is never set up: `wfi` stops this CPU for good
        // (QEMU halts it until an interrupt is pending, which never happens).
        loop {
            // SAFETY: `wfi` waits for an interrupt; nothing else happens.
            unsafe { asm!("msr daifset, #0xf", "wfi", options(nomem, nostack, preserves_flags)) }
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
        MPIDR.write(mpidr());
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
            let (want_mpidr, want_ticks) = match online_hw_ids.get(cpu.as_usize()) {
                Some(&hw_id) => (hw_id, 2 * iterations),
                // Never online: the template's values.
                None => (u64::MAX, 0),
            };
            let mpidr = MPIDR.read_on(cpu);
            if mpidr != want_mpidr {
                return Err(format!("CPU {cpu}: MPIDR is {mpidr:#x}, expected {want_mpidr:#x}"));
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

static ARCH_EL1: Aarch64 = Aarch64 {
    name: if cfg!(target_feature = "lse") {
        "aarch64 at EL1 with LSE atomics"
    } else {
        "aarch64 at EL1"
    },
};
static ARCH_EL1_FROM_EL2: Aarch64 = Aarch64 { name: "aarch64 at EL1 (entered at EL2)" };
static ARCH_EL2: Aarch64 = Aarch64 { name: "aarch64 at EL2" };

/// The boot CPU's first Rust code: MMU on, `.bss` clear; it loads the base register with 0
/// (`percpu_rt::arch::reset_base`) once the EL is checked. `dtb` is x0 at entry (0 for an ELF
/// kernel), `el` the exception level the kernel runs at, `entry_el` the one QEMU entered it at.
#[unsafe(no_mangle)]
extern "C" fn aarch64_boot_main(dtb: usize, el: u64, entry_el: u64) -> ! {
    pl011::init();
    let arch: &'static Aarch64 = match (el, entry_el) {
        (2, _) => &ARCH_EL2,
        (_, 2) => &ARCH_EL1_FROM_EL2,
        _ => &ARCH_EL1,
    };
    kernel_common::arch::install(arch);
    let built_for = if cfg!(feature = "el2") { 2 } else { 1 };
    if built_for == 2 && el != 2 {
        fail!(
            "this kernel was built for EL2 (feature el2: per-CPU base in TPIDR_EL2) but entered \
             at EL{el}; boot it with -M virt,virtualization=on"
        );
    }
    // SAFETY: nothing on this CPU has touched per-CPU data yet (the base register's reset value
    // is UNKNOWN); from here on accesses reach the template until the unit is loaded. After the
    // EL check: with feature el2 this writes TPIDR_EL2, which traps at EL1.
    unsafe { percpu_rt::arch::reset_base() };

    let dtb = if dtb != 0 { dtb } else { DTB_DEFAULT };
    // SAFETY: `dtb` is in RAM, identity-mapped below the kernel image; QEMU wrote the tree
    // there (if there is no header, `at` says so), and it is reserved below.
    let Some(tree) = (unsafe { fdt::Fdt::at(dtb) }) else {
        fail!("no device tree at {dtb:#x}: boot with QEMU's -M virt -kernel");
    };
    let machine = match tree.machine() {
        Ok(machine) => machine,
        Err(e) => fail!("device tree: {e}"),
    };
    let conduit = match machine.psci_method {
        Some("hvc") => Conduit::Hvc,
        Some("smc") => Conduit::Smc,
        Some(other) => fail!("the device tree names PSCI method {other:?}; expected hvc or smc"),
        None => fail!("the device tree names no PSCI method"),
    };
    CONDUIT.store(if conduit == Conduit::Hvc { 1 } else { 2 }, Ordering::Relaxed);
    let (major, minor) = psci::version(conduit);
    if major == 0 && minor < 2 {
        fail!("PSCI {major}.{minor}: CPU_ON needs PSCI 0.2 or later");
    }

    // The CPUs: every `/cpus/cpu@*` node is a possible CPU and, with QEMU's device tree, a
    // present one (Linux arm64's `smp_init_cpus` does the same). The boot CPU is logical CPU
    // 0, the others follow in device-tree order.
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
    let me = mpidr();
    let mut hw_ids = [0u64; MAX_CPUS];
    hw_ids[0] = me;
    let mut n = 1;
    for &id in machine.cpus[..nr_cpus].iter().filter(|&&id| id != me) {
        hw_ids[n] = id;
        n += 1;
    }
    if n != nr_cpus {
        fail!("the boot CPU (MPIDR {me:#x}) is not among the device tree's CPUs");
    }

    // RAM: the second GiB is in the boot map; map the rest of RAM below the limit.
    let mut ram: [Range<usize>; fdt::MAX_RAM_RANGES] = Default::default();
    for (slot, r) in ram.iter_mut().zip(&machine.ram[..machine.nr_ram]) {
        *slot = r.start..r.end.min(RAM_LIMIT);
        for gib in (slot.start >> 30)..slot.end.div_ceil(1 << 30) {
            if gib != 1
                && let Err(e) = paging::map_ram_gib(gib)
            {
                fail!("mapping RAM: {e}");
            }
        }
    }
    let image = &raw const boot::__kernel_start as usize..&raw const boot::__kernel_end as usize;
    let mut reserved: [Range<usize>; 2 + fdt::MAX_RESERVED_RANGES] = Default::default();
    reserved[0] = image;
    reserved[1] = tree.range();
    reserved[2..2 + machine.nr_reserved].clone_from_slice(&machine.reserved[..machine.nr_reserved]);
    let reserved = &reserved[..2 + machine.nr_reserved];
    kernel_common::boot::boot_cpu_main(
        arch,
        BootInfo {
            ram: &ram[..machine.nr_ram],
            reserved,
            cmdline: machine.bootargs,
            hw_ids: &hw_ids[..nr_cpus],
            nr_possible: nr_cpus,
            cpus_from: "device tree",
            page_mode_vm_base: PAGE_MODE_VM_BASE,
            percpu: layout::SETTINGS,
        },
    )
}

/// A secondary CPU's first Rust code: MMU on with the boot CPU's tables, own stack; it loads
/// the base register with 0 (`percpu_rt::arch::reset_base`).
#[unsafe(no_mangle)]
extern "C" fn aarch64_secondary_main(cpu: u64) -> ! {
    // SAFETY: a secondary CPU's first Rust code: nothing on it has touched per-CPU data.
    unsafe { percpu_rt::arch::reset_base() };
    kernel_common::boot::secondary_main(CpuId::new(cpu as u32))
}

const EXCEPTION_KINDS: [&str; 4] = ["synchronous", "IRQ", "FIQ", "SError"];
const EXCEPTION_ORIGINS: [&str; 4] =
    ["current EL with SP0", "current EL", "lower EL (AArch64)", "lower EL (AArch32)"];

/// The common exception path: reports and ends the run. The kernel never unmasks
/// interrupts, so every entry is a bug.
#[unsafe(no_mangle)]
extern "C" fn aarch64_exception(kind: u64, el: u64, esr: u64, elr: u64, far: u64) -> ! {
    if EXITING.load(Ordering::SeqCst) {
        kernel_common::console::print_line_emergency(format_args!(
            "the semihosting exit trapped (ESR {esr:#x}): boot with -semihosting; powering off"
        ));
        match conduit() {
            Some(c) => psci::system_off(c),
            None => loop {
                core::hint::spin_loop();
            },
        }
    }
    let what = EXCEPTION_KINDS[(kind % 4) as usize];
    let from = EXCEPTION_ORIGINS[(kind / 4) as usize % 4];
    fail!(
        "CPU exception on MPIDR {:#x} at EL{el}: {what} from {from}, ESR {esr:#x} (class \
         {:#x}), ELR {elr:#x}, FAR {far:#x}",
        mpidr(),
        esr >> 26
    )
}
