//! The interrupt descriptor table: the 32 CPU exceptions, each reported as
//! `FAIL: CPU exception ...` with its vector, error code, `rip` and `cr2`, except the NMI. The
//! kernel never enables interrupts, so any other entry here is a bug, and a visible one instead
//! of a triple fault.
//!
//! The NMI is the boot CPU's wake-up call for CPUs halted with interrupts masked (waiting for
//! the release, [`crate::apic::send_nmi`]): its handler returns at once, and the CPU goes on
//! after its `hlt`.

use core::arch::{asm, global_asm};

use kernel_common::fail;

// One 16-byte stub per vector: push a zero error code when the CPU pushes none, push the
// vector, join the common path, which calls `x86_exception(vector, error, rip)` on an aligned
// stack.
global_asm!(
    r#"
    .text
    .p2align 4
    .global x86_exception_stubs
x86_exception_stubs:
    .irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .p2align 4
    .if (\vec == 8) || ((\vec >= 10) && (\vec <= 14)) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    push $0
    .endif
    push $\vec
    jmp x86_exception_common
    .endr
    .p2align 4
    .global x86_nmi
x86_nmi:
    iretq
x86_exception_common:
    mov (%rsp), %rdi
    mov 8(%rsp), %rsi
    mov 16(%rsp), %rdx
    and $-16, %rsp
    call x86_exception
    ud2
"#,
    options(att_syntax)
);

unsafe extern "C" {
    /// The first stub; stub `n` is at `+ 16 * n`.
    static x86_exception_stubs: u8;
    /// The NMI handler: `iretq`.
    static x86_nmi: u8;
}

const VECTORS: usize = 32;
/// The NMI's vector.
const NMI: usize = 2;
/// Kernel code selector (the GDT of `boot.rs`).
const KERNEL_CS: u64 = 0x08;
/// Present, DPL 0, 64-bit interrupt gate.
const INTERRUPT_GATE: u64 = 0x8E;

/// Two quadwords per gate.
#[repr(C, align(16))]
struct Idt([u64; 2 * VECTORS]);

static IDT: spin::Once<Idt> = spin::Once::new();

fn build() -> Idt {
    let base = &raw const x86_exception_stubs as u64;
    let mut idt = Idt([0; 2 * VECTORS]);
    for v in 0..VECTORS {
        let handler = if v == NMI { &raw const x86_nmi as u64 } else { base + 16 * v as u64 };
        idt.0[2 * v] = (handler & 0xFFFF)
            | (KERNEL_CS << 16)
            | (INTERRUPT_GATE << 40)
            | ((handler >> 16) & 0xFFFF) << 48;
        idt.0[2 * v + 1] = handler >> 32;
    }
    idt
}

/// Loads the exception table on this CPU (every CPU, early).
pub fn load() {
    let idt = IDT.call_once(build);
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let pointer = Pointer { limit: (size_of::<Idt>() - 1) as u16, base: idt.0.as_ptr() as u64 };
    // SAFETY: the table is a static that lives forever, and every gate points at a stub above.
    unsafe { asm!("lidt [{}]", in(reg) &pointer, options(readonly, nostack, preserves_flags)) }
}

const NAMES: [&str; 21] = [
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack fault",
    "general protection",
    "page fault",
    "reserved",
    "x87 floating point",
    "alignment check",
    "machine check",
    "SIMD floating point",
    "virtualization",
];

/// The common exception path: reports and ends the run.
#[unsafe(no_mangle)]
extern "C" fn x86_exception(vector: u64, error: u64, rip: u64) -> ! {
    let name = NAMES.get(vector as usize).copied().unwrap_or("reserved");
    fail!(
        "CPU exception on APIC {}: {name} (vector {vector}) at rip {rip:#x}, error code {error:#x}, \
         cr2 {:#x}",
        crate::cpu::apic_id(),
        crate::cpu::cr2()
    )
}
