//! The x86_64 example kernel: boots through PVH under QEMU, finds the possible and present CPUs
//! in the ACPI MADT (or, without ACPI tables, through fw_cfg), starts the present ones with
//! INIT-SIPI-SIPI, sets up the per-CPU first chunk (embedded with a 2 MiB atom by default,
//! `percpu_alloc=page` for page mode), loads each CPU's `GS.base`, runs the shared per-CPU
//! checks on all CPUs at once and exits QEMU through `isa-debug-exit`.
//!
//! ```text
//! qemu-system-x86_64 -bios /usr/share/qemu/qboot.rom -smp 4 -m 128M -nographic -no-reboot \
//!     -net none -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel percpu-kernel-x86_64
//! ```
//!
//! The machine-specific parts live in this crate (start-up assembly, COM1, the exception
//! table, page tables, the local APIC, ACPI, fw_cfg, the PVH start info); the flow is
//! [`kernel_common::boot`].

#![no_std]
#![no_main]

extern crate alloc;

mod acpi;
mod apic;
mod boot;
mod cpu;
mod fw_cfg;
mod idt;
mod paging;
mod pvh;
mod serial;

use alloc::format;
use alloc::string::String;
use core::arch::asm;
use core::ops::Range;

// `frames` for `paging`, which finds it at `crate::frames` (the core-only kernel shares the
// file and has its own frame allocator).
use kernel_common::{Arch, BootInfo, ExitCode, fail, frames};
use percpu_rt::{CpuId, percpu};

/// The constants the build script generated from `percpu.toml` (not all of them are used).
#[allow(dead_code)]
mod layout {
    include!(concat!(env!("OUT_DIR"), "/percpu_layout.rs"));
}

/// Each CPU's local APIC id, written when it comes online and checked remotely.
#[percpu]
static APIC_ID: u32 = u32::MAX;

/// Work done by the kernel crate itself on each CPU (`add`: one `add gs:[rip + ...]`).
#[percpu]
static KERNEL_TICKS: u64 = 0;

/// Where the page-mode first chunk is mapped: 256 GiB, beyond the 4 GiB identity map.
const PAGE_MODE_VM_BASE: usize = 0x40_0000_0000;
/// The part of the address space the boot page tables map and the kernel allocates from:
/// from 1 MiB (below: firmware data and the trampoline) to 3 GiB (above: MMIO, uncached).
const RAM_WINDOW: Range<usize> = 0x10_0000..0xC000_0000;
/// Most possible CPUs (the percpu.toml `max_cpus`).
const MAX_CPUS: usize = layout::MAX_CPUS;
/// Highest APIC id the xAPIC start-up IPIs can address.
const MAX_XAPIC_ID: u32 = 0xFE;

/// The x86_64 machine.
struct X86;

impl Arch for X86 {
    fn name(&self) -> &'static str {
        "x86_64"
    }

    fn serial_write(&self, byte: u8) {
        serial::write_byte(byte);
    }

    fn exit(&self, code: ExitCode) -> ! {
        // isa-debug-exit: QEMU exits with (value << 1) | 1.
        let value = (code.status() - 1) / 2;
        // SAFETY: port 0xF4 is QEMU's isa-debug-exit device; without it the write is ignored
        // and the CPU halts below.
        unsafe { cpu::outb(0xF4, value) };
        cpu::halt_forever()
    }

    fn irq_save(&self) -> usize {
        cpu::irq_save()
    }

    fn irq_restore(&self, saved: usize) {
        cpu::irq_restore(saved)
    }

    fn undefined_instruction(&self) -> ! {
        // SAFETY: `ud2` raises #UD, which the exception table reports; nothing else happens.
        unsafe { asm!("ud2", options(noreturn, nomem, nostack)) }
    }

    fn hw_cpu_id(&self) -> u64 {
        u64::from(cpu::apic_id())
    }

    fn start_cpu(&self, cpu: CpuId, hw_id: u64, stack_top: usize) -> Result<(), String> {
        apic::start_ap(cpu.as_u32(), hw_id as u32, stack_top).map_err(String::from)
    }

    fn idle(&self) {
        // SAFETY: with interrupts masked, `hlt` stops this CPU until an NMI (`wake`), whose
        // handler returns at once; no memory is touched.
        unsafe { asm!("hlt", options(nostack, preserves_flags)) }
    }

    fn wake(&self, hw_id: u64) {
        // An undelivered NMI leaves the CPU halted; the caller wakes it again.
        let _ = apic::send_nmi(hw_id as u32);
    }

    fn park(&self) -> ! {
        cpu::halt_forever()
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
        APIC_ID.write(cpu::apic_id());
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
            let (want_apic, want_ticks) = match online_hw_ids.get(cpu.as_usize()) {
                Some(&hw_id) => (hw_id as u32, 2 * iterations),
                // Never online: the template's values.
                None => (u32::MAX, 0),
            };
            let apic = APIC_ID.read_on(cpu);
            if apic != want_apic {
                return Err(format!("CPU {cpu}: APIC_ID is {apic:#x}, expected {want_apic:#x}"));
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

static ARCH: X86 = X86;

/// The CPUs as the boot flow wants them: present first, the boot CPU as 0.
struct Cpus {
    /// APIC ids of the present CPUs, the first `present` entries.
    hw_ids: [u64; MAX_CPUS],
    present: usize,
    possible: usize,
    from: &'static str,
}

/// Checks the counts against this kernel's limits: the present CPUs must fit in `max_cpus`
/// (else the run fails: raise it in percpu.toml); possible CPUs beyond it are dropped with a
/// notice, as Linux does beyond `NR_CPUS`.
fn limit(present: usize, possible: usize) -> usize {
    if present > MAX_CPUS {
        fail!(
            "{present} CPUs are present, but this kernel is configured for at most {MAX_CPUS} \
             (max_cpus in percpu.toml)"
        );
    }
    if possible > MAX_CPUS {
        kernel_common::println!(
            "smpboot: {} possible CPUs beyond max_cpus = {MAX_CPUS} (percpu.toml) ignored",
            possible - MAX_CPUS
        );
    }
    possible.min(MAX_CPUS)
}

/// The CPUs of the MADT: the enabled ones are present (the boot CPU first, then table order),
/// the disabled but usable ones possible.
fn madt_cpus(madt: &acpi::MadtCpus) -> Cpus {
    let me = cpu::apic_id();
    let entries = madt.as_slice();
    if !entries.iter().any(|c| c.enabled && c.apic_id == me) {
        fail!("the boot CPU (APIC id {me}) is not an enabled CPU of the ACPI MADT");
    }
    let present = entries.iter().filter(|c| c.enabled).count();
    let possible = limit(present, entries.len());
    let mut hw_ids = [0u64; MAX_CPUS];
    hw_ids[0] = u64::from(me);
    let others = entries.iter().filter(|c| c.enabled && c.apic_id != me);
    for (slot, c) in hw_ids[1..].iter_mut().zip(others) {
        if c.apic_id > MAX_XAPIC_ID {
            fail!("CPU with APIC id {:#x}: x2APIC ids are beyond this kernel's xAPIC", c.apic_id);
        }
        *slot = u64::from(c.apic_id);
    }
    Cpus { hw_ids, present, possible, from: "ACPI MADT" }
}

/// Without ACPI tables: QEMU's fw_cfg counts, with APIC ids 0..n (QEMU's default topology).
fn fw_cfg_cpus() -> Cpus {
    let Some((present, apic_id_limit)) = fw_cfg::cpu_counts() else {
        fail!("no ACPI tables and no fw_cfg device: cannot tell which CPUs there are");
    };
    let present = usize::from(present);
    let me = cpu::apic_id();
    if present == 0 || me as usize >= present {
        fail!("fw_cfg counts {present} CPUs, but the boot CPU has APIC id {me}");
    }
    let possible = limit(present, usize::from(apic_id_limit).max(present));
    let mut hw_ids = [0u64; MAX_CPUS];
    hw_ids[0] = u64::from(me);
    let others = (0..present as u64).filter(|&id| id != u64::from(me));
    for (slot, id) in hw_ids[1..].iter_mut().zip(others) {
        *slot = id;
    }
    Cpus { hw_ids, present, possible, from: "fw_cfg" }
}

/// The boot CPU's first Rust code, entered from `long_mode_entry` with the PVH start info.
#[unsafe(no_mangle)]
extern "C" fn x86_boot_main(start_info: u32) -> ! {
    serial::init();
    kernel_common::arch::install(&ARCH);
    idt::load();
    apic::enable();

    // SAFETY: `start_info` is the PVH entry's ebx; its memory map and command line are below
    // the RAM window or reserved below.
    let params = match unsafe { pvh::parse(start_info as usize, RAM_WINDOW) } {
        Ok(params) => params,
        Err(e) => fail!("{e}"),
    };
    // The trampoline page is overwritten when the other CPUs start: the boot information must
    // not live there.
    let trampoline = boot::TRAMPOLINE_ADDR..boot::TRAMPOLINE_ADDR + 4096;
    if let Some(r) =
        params.firmware.iter().find(|r| r.start < trampoline.end && trampoline.start < r.end)
    {
        fail!(
            "the PVH boot information at {:#x}..{:#x} overlaps the AP trampoline page {:#x}",
            r.start,
            r.end,
            trampoline.start
        );
    }
    // SAFETY: the RSDP hint is the PVH start info's; qboot and SeaBIOS leave the ACPI tables
    // in low memory or in reserved E820 ranges, which nothing writes.
    let cpus = match unsafe { acpi::madt_cpus(params.rsdp) } {
        Ok(madt) => madt_cpus(&madt),
        Err(acpi::AcpiError::NoRsdp) => fw_cfg_cpus(),
        Err(e) => fail!("ACPI: {e}"),
    };
    let image = &raw const boot::__kernel_start as usize..&raw const boot::__kernel_end as usize;
    let [a, b, c] = params.firmware.clone();
    let reserved = [image, a, b, c];
    kernel_common::boot::boot_cpu_main(
        &ARCH,
        BootInfo {
            ram: &params.ram[..params.nr_ram],
            reserved: &reserved,
            cmdline: params.cmdline,
            hw_ids: &cpus.hw_ids[..cpus.present],
            nr_possible: cpus.possible,
            cpus_from: cpus.from,
            page_mode_vm_base: PAGE_MODE_VM_BASE,
            percpu: layout::SETTINGS,
        },
    )
}

/// Every other CPU's first Rust code, entered from the trampoline in long mode on the boot
/// CPU's page tables, with its own stack.
#[unsafe(no_mangle)]
extern "C" fn x86_ap_entry(cpu: u32) -> ! {
    // The kernel's GDT (the trampoline's copy in low memory is reused for the next CPU), then
    // reload every selector; GS last of all, before the per-CPU base is written.
    // SAFETY: `boot_gdt_ptr` describes the kernel's static GDT, whose 0x08 and 0x10 entries
    // are the 64-bit code and data segments this CPU already uses; the far return reloads CS.
    unsafe {
        asm!(
            "lgdt [{gdt}]",
            "push 0x08",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov {tmp:e}, 0x10",
            "mov ds, {tmp:e}",
            "mov es, {tmp:e}",
            "mov ss, {tmp:e}",
            "xor {tmp:e}, {tmp:e}",
            "mov fs, {tmp:e}",
            "mov gs, {tmp:e}",
            gdt = in(reg) &raw const boot::boot_gdt_ptr,
            tmp = out(reg) _,
        )
    }
    idt::load();
    apic::ap_entered(cpu);
    kernel_common::boot::secondary_main(CpuId::new(cpu))
}
