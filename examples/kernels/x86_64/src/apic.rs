//! Starting the other CPUs: the trampoline copied to low memory, then INIT-SIPI-SIPI through
//! the local APIC (xAPIC, memory-mapped, uncached in the boot page tables).

use crate::boot::{
    TRAMPOLINE_ADDR, ap_trampoline_cpu, ap_trampoline_cr3, ap_trampoline_end, ap_trampoline_stack,
    ap_trampoline_start,
};
use core::sync::atomic::{AtomicU32, Ordering};

use crate::cpu::{rdmsr, udelay};

/// `IA32_APIC_BASE`.
const APIC_BASE_MSR: u32 = 0x1B;
/// Spurious-interrupt vector register; bit 8 enables the APIC in software.
const SVR: usize = 0xF0;
/// Interrupt command register, low and high halves.
const ICR_LOW: usize = 0x300;
const ICR_HIGH: usize = 0x310;
/// ICR delivery status (send pending).
const ICR_PENDING: u32 = 1 << 12;
/// ICR: INIT, level assert.
const ICR_INIT: u32 = 0x0000_4500;
/// ICR: start-up, level assert (the vector is ORed in).
const ICR_STARTUP: u32 = 0x0000_4600;
/// ICR: NMI, level assert.
const ICR_NMI: u32 = 0x0000_4400;
/// Polls of [`AP_ENTERED`] (each about 10 µs) before a CPU counts as not started.
const ENTER_POLLS: u32 = 500_000;

/// The logical number of the last CPU that left the trampoline and entered the kernel
/// (`x86_ap_entry`), or `u32::MAX`: [`start_ap`] waits for it before the trampoline page may
/// be rewritten for the next CPU.
static AP_ENTERED: AtomicU32 = AtomicU32::new(u32::MAX);

fn apic_base() -> usize {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU.
    (unsafe { rdmsr(APIC_BASE_MSR) } & 0xFFFF_F000) as usize
}

fn read(reg: usize) -> u32 {
    // SAFETY: a local APIC register (identity-mapped, uncached MMIO); reads have no side effect.
    unsafe { ((apic_base() + reg) as *const u32).read_volatile() }
}

fn write(reg: usize, value: u32) {
    // SAFETY: a local APIC register; the caller is the boot CPU sending IPIs (start-up, NMI).
    unsafe { ((apic_base() + reg) as *mut u32).write_volatile(value) }
}

fn send_ipi(apic_id: u32, command: u32) -> Result<(), &'static str> {
    write(ICR_HIGH, apic_id << 24);
    write(ICR_LOW, command);
    for _ in 0..1_000_000 {
        if read(ICR_LOW) & ICR_PENDING == 0 {
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err("the local APIC did not deliver the IPI")
}

/// Enables the boot CPU's local APIC (software enable bit).
pub fn enable() {
    write(SVR, read(SVR) | 0x1FF);
}

/// Sends an NMI to the CPU with local APIC id `apic_id`: it leaves a `hlt` (the kernel's NMI
/// handler returns at once).
pub fn send_nmi(apic_id: u32) -> Result<(), &'static str> {
    send_ipi(apic_id, ICR_NMI)
}

/// Called by CPU `cpu` once it runs kernel code on the kernel's GDT and its own stack: it no
/// longer needs the trampoline page.
pub fn ap_entered(cpu: u32) {
    AP_ENTERED.store(cpu, Ordering::Release);
}

/// Starts the CPU with local APIC id `apic_id` as logical CPU `cpu` on the stack ending at
/// `stack_top`; it enters `x86_ap_entry(cpu)`. Returns once the CPU has left the trampoline
/// ([`ap_entered`]), so the next CPU can be started while this one comes online.
pub fn start_ap(cpu: u32, apic_id: u32, stack_top: usize) -> Result<(), &'static str> {
    let start = &raw const ap_trampoline_start as usize;
    let len = &raw const ap_trampoline_end as usize - start;
    let field = |sym: *const u8| (TRAMPOLINE_ADDR + (sym as usize - start)) as *mut u64;
    // SAFETY: the page at TRAMPOLINE_ADDR is low RAM the kernel keeps for the trampoline (the
    // frame allocator never hands out memory below 1 MiB), identity-mapped; no other CPU runs
    // the trampoline now (the previous one reported online first, after leaving it).
    unsafe {
        core::ptr::copy_nonoverlapping(start as *const u8, TRAMPOLINE_ADDR as *mut u8, len);
        field(&raw const ap_trampoline_cr3).write_volatile(crate::cpu::cr3());
        field(&raw const ap_trampoline_stack).write_volatile(stack_top as u64);
        field(&raw const ap_trampoline_cpu).write_volatile(u64::from(cpu));
    }
    AP_ENTERED.store(u32::MAX, Ordering::Release);
    let vector = (TRAMPOLINE_ADDR >> 12) as u32;
    send_ipi(apic_id, ICR_INIT)?;
    udelay(10_000);
    for _ in 0..2 {
        send_ipi(apic_id, ICR_STARTUP | vector)?;
        udelay(200);
    }
    for _ in 0..ENTER_POLLS {
        if AP_ENTERED.load(Ordering::Acquire) == cpu {
            return Ok(());
        }
        udelay(10);
    }
    Err("the CPU did not leave the start-up trampoline (INIT-SIPI-SIPI not answered)")
}
