//! x86_64 instructions the kernel needs, one small function each: port I/O, model-specific
//! registers, the interrupt flag, `cpuid`, control registers.

use core::arch::asm;

/// Writes a byte to an I/O port.
///
/// # Safety
///
/// Writing to `port` must have no effect on memory safety (a device register the caller owns).
#[inline]
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: forwarded from the caller.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

/// Writes a 16-bit word to an I/O port.
///
/// # Safety
///
/// As for [`outb`].
#[inline]
pub unsafe fn outw(port: u16, value: u16) {
    // SAFETY: forwarded from the caller.
    unsafe {
        asm!("out dx, ax", in("dx") port, in("ax") value, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a byte from an I/O port.
///
/// # Safety
///
/// Reading `port` must have no effect on memory safety.
#[inline]
pub unsafe fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: forwarded from the caller.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Reads a model-specific register.
///
/// # Safety
///
/// `msr` must exist on this CPU (`#GP` otherwise).
#[inline]
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: forwarded from the caller; ring 0.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// `RFLAGS.IF`.
const IF: u64 = 1 << 9;

/// Saves `RFLAGS` and masks interrupts.
#[inline]
pub fn irq_save() -> usize {
    let flags: u64;
    // SAFETY: reading RFLAGS and clearing IF in ring 0 touch no memory the compiler knows of
    // (the push/pop use the stack, hence no `nostack`).
    unsafe { asm!("pushfq", "pop {}", "cli", out(reg) flags, options(nomem)) }
    flags as usize
}

/// Restores the interrupt flag saved by [`irq_save`].
#[inline]
pub fn irq_restore(saved: usize) {
    if saved as u64 & IF != 0 {
        // SAFETY: re-enables interrupts that were enabled before the matching `irq_save`.
        unsafe { asm!("sti", options(nomem, nostack)) }
    }
}

/// The initial local APIC id of this CPU (`cpuid` leaf 1, `EBX[31:24]`).
///
/// Through `core`'s `__cpuid`, which knows when LLVM keeps `rbx` for itself: a hand-written
/// `cpuid` that saves and restores `rbx` around the instruction loses the result whenever the
/// compiler hands `rbx` to the asm as the output register (as it did once the debug mode's
/// checks changed the register pressure of the caller).
#[inline]
pub fn apic_id() -> u32 {
    core::arch::x86_64::__cpuid(1).ebx >> 24
}

/// `CR2`: the address of the last page fault.
#[inline]
pub fn cr2() -> u64 {
    let value: u64;
    // SAFETY: reading CR2 in ring 0 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) value, options(nomem, nostack, preserves_flags)) }
    value
}

/// `CR3`: the physical address of the page-table root (plus flags in the low bits).
#[inline]
pub fn cr3() -> u64 {
    let value: u64;
    // SAFETY: reading CR3 in ring 0 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) value, options(nomem, nostack, preserves_flags)) }
    value
}

/// Removes the TLB entry of the page containing `addr` on this CPU.
#[inline]
pub fn invlpg(addr: usize) {
    // SAFETY: dropping a TLB entry only makes the next access walk the page tables again.
    unsafe { asm!("invlpg [{}]", in(reg) addr, options(nostack, preserves_flags)) }
}

/// Waits about `us` microseconds: one write to the POST-code port 0x80 takes about a
/// microsecond on the ISA bus (the classic delay of x86 boot code; no timer needed).
pub fn udelay(us: u32) {
    for _ in 0..us {
        // SAFETY: port 0x80 is the POST diagnostic port; writing it has no other effect.
        unsafe { outb(0x80, 0) };
    }
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: with interrupts masked, `hlt` stops the CPU; nothing else is touched.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) }
    }
}
