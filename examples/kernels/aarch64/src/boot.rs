//! aarch64 start-up code, shared by the boot CPU (`_start`) and the CPUs started through
//! PSCI `CPU_ON` (`aarch64_secondary_entry`).
//!
//! Every CPU, with interrupts masked:
//!
//! 1. finds its exception level. The EL1 build entered at EL2 (`-M virt,virtualization=on`)
//!    configures EL2 for an AArch64 EL1 and drops to EL1; the EL2 build stays at EL2 (and,
//!    entered at EL1, runs there just long enough for Rust to report the mismatch);
//! 2. takes its stack, enables FP/SIMD (`core` contains NEON code), installs its exception
//!    vectors and zeroes its per-CPU base register (`TPIDR_EL1`/`TPIDR_EL2`, whose reset value
//!    is unknown: 0 makes early per-CPU accesses reach the template);
//! 3. turns the MMU on with the static identity map `boot_l1_el1`/`boot_l1_el2`: the first
//!    GiB (the virt board's devices, UART included) as Device-nGnRnE, the second (the start of
//!    RAM, with the kernel) as Normal write-back inner-shareable memory; caches on;
//! 4. enters Rust: the boot CPU clears `.bss` and calls `aarch64_boot_main(dtb, el,
//!    entry_el)` (the level it runs at and the one it was entered at), another CPU calls
//!    `aarch64_secondary_main(cpu)`.
//!
//! A secondary CPU's `CPU_ON` context is the address of its [`SecondaryBoot`] record, which the
//! boot CPU cleaned to the point of coherency: the new CPU reads it with the MMU and caches
//! off.

use core::arch::global_asm;

/// `MAIR_ELx`: attribute 0 Device-nGnRnE, attribute 1 Normal write-back read/write-allocate.
pub const MAIR: u64 = 0xFF00;
/// `TCR_EL1`: 39-bit VA (T0SZ 25, walks start at level 1), 4 KiB granule, write-back
/// inner-shareable walks, TTBR1 walks disabled (EPD1), 40-bit IPA.
pub const TCR_EL1: u64 = 25 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23) | (2 << 32);
/// `TCR_EL2` (non-VHE): as `TCR_EL1` for the single range, 40-bit PA, RES1 bits 23 and 31.
pub const TCR_EL2: u64 = 25 | (1 << 8) | (1 << 10) | (3 << 12) | (2 << 16) | (1 << 23) | (1 << 31);
/// `SCTLR_EL1` RES1 bits (ARMv8.0), MMU and caches off.
pub const SCTLR_EL1_OFF: u64 = 0x30D0_0800;
/// `SCTLR_EL1`: MMU, data and instruction caches, stack alignment checks.
pub const SCTLR_EL1_ON: u64 = SCTLR_EL1_OFF | 1 | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 12);
/// `SCTLR_EL2` (non-VHE) RES1 bits, MMU and caches off.
pub const SCTLR_EL2_OFF: u64 = 0x30C5_0830;
/// `SCTLR_EL2`: MMU, data and instruction caches, stack alignment checks.
pub const SCTLR_EL2_ON: u64 = SCTLR_EL2_OFF | 1 | (1 << 2) | (1 << 3) | (1 << 12);

/// The boot record of a secondary CPU, passed as the `CPU_ON` context.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SecondaryBoot {
    /// Top of its stack.
    pub stack_top: u64,
    /// Its logical CPU number.
    pub cpu: u64,
}

global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    mov x19, x0                         /* device tree (0 for an ELF kernel under QEMU) */
    mov x20, #0                         /* the boot CPU */
    adrp x21, boot_stack_top
    add x21, x21, :lo12:boot_stack_top
    mov x22, #0
    b 1f

    .global aarch64_secondary_entry
aarch64_secondary_entry:
    mov x19, #0
    mov x20, #1                         /* a secondary CPU: x0 = &SecondaryBoot */
    ldr x21, [x0]
    ldr x22, [x0, #8]

1:  msr daifset, #0xf
    mrs x9, CurrentEL
    ubfx x9, x9, #2, #2
    mov x23, x9                         /* the EL entered at, for Rust */
    cmp x9, #2
    b.ne el1_setup
    .if {el2}
    b el2_setup
    .else
    /* The EL1 kernel entered at EL2: EL1 is AArch64, its timer and FP are not trapped, it
       reads its own MIDR/MPIDR; drop to EL1h with everything masked. */
    mov x0, #(1 << 31)
    msr hcr_el2, x0
    mov x0, #3
    msr cnthctl_el2, x0
    msr cntvoff_el2, xzr
    mov x0, #0x33ff
    msr cptr_el2, x0
    msr hstr_el2, xzr
    mrs x0, midr_el1
    msr vpidr_el2, x0
    mrs x0, mpidr_el1
    msr vmpidr_el2, x0
    ldr x0, ={sctlr_el1_off}
    msr sctlr_el1, x0
    mov x0, #0x3c5
    msr spsr_el2, x0
    adr x0, el1_setup
    msr elr_el2, x0
    eret
    .endif

el1_setup:
    mov sp, x21
    mov x0, #(3 << 20)
    msr cpacr_el1, x0
    isb
    adrp x0, vectors_el1
    add x0, x0, :lo12:vectors_el1
    msr vbar_el1, x0
    ldr x0, ={mair}
    msr mair_el1, x0
    ldr x0, ={tcr_el1}
    msr tcr_el1, x0
    adrp x0, boot_l1_el1
    msr ttbr0_el1, x0
    isb
    tlbi vmalle1
    dsb nsh
    isb
    ldr x0, ={sctlr_el1_on}
    msr sctlr_el1, x0
    isb
    ic iallu
    dsb nsh
    isb
    b enter_rust

    .if {el2}
el2_setup:
    mov sp, x21
    mov x0, #(1 << 31)
    msr hcr_el2, x0
    mov x0, #0x33ff
    msr cptr_el2, x0
    mov x0, #(3 << 20)
    msr cpacr_el1, x0
    isb
    adrp x0, vectors_el2
    add x0, x0, :lo12:vectors_el2
    msr vbar_el2, x0
    ldr x0, ={mair}
    msr mair_el2, x0
    ldr x0, ={tcr_el2}
    msr tcr_el2, x0
    adrp x0, boot_l1_el2
    msr ttbr0_el2, x0
    isb
    tlbi alle2
    dsb nsh
    isb
    ldr x0, ={sctlr_el2_on}
    msr sctlr_el2, x0
    isb
    ic iallu
    dsb nsh
    isb
    .endif

enter_rust:
    cbnz x20, 3f
    adrp x0, __bss_start
    add x0, x0, :lo12:__bss_start
    adrp x1, __bss_end
    add x1, x1, :lo12:__bss_end
2:  cmp x0, x1
    b.hs 4f
    str xzr, [x0], #8
    b 2b
4:  mov x0, x19
    mrs x1, CurrentEL
    ubfx x1, x1, #2, #2
    mov x2, x23
    bl aarch64_boot_main
    b park
3:  mov x0, x22
    bl aarch64_secondary_main
park:
    wfe
    b park
    .ltorg

    /* Exception vectors: 16 entries of 0x80 bytes; each passes its index and EL to the
       common path, which reads the syndrome and calls aarch64_exception. */
    .macro VECTORS el
    .p2align 11
    .global vectors_el\el
vectors_el\el:
    .irp kind, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    .p2align 7
    mov x0, #\kind
    b exception_el\el
    .endr
exception_el\el:
    mov x1, #\el
    mrs x2, esr_el\el
    mrs x3, elr_el\el
    mrs x4, far_el\el
    bl aarch64_exception
    b park
    .endm

    .text
    VECTORS 1
    .if {el2}
    VECTORS 2
    .endif

    /* The boot identity maps (level-1 tables, 1 GiB blocks): Device below 1 GiB, Normal
       from 1 GiB (RAM). The EL2 regime has one privilege level: AP[1] is RES1, bit 54 is XN. */
    .section .data.boot, "aw"
    .p2align 12
    .global boot_l1_el1
boot_l1_el1:
    .quad 0x0060000000000401
    .quad 0x0000000040000705
    .fill 510, 8, 0
    .global boot_l1_el2
boot_l1_el2:
    .quad 0x0040000000000441
    .quad 0x0000000040000745
    .fill 510, 8, 0

    .section .bss.boot, "aw", @nobits
    .p2align 12
boot_stack:
    .skip 65536
boot_stack_top:
"#,
    el2 = const cfg!(feature = "el2") as u8,
    mair = const MAIR,
    tcr_el1 = const TCR_EL1,
    tcr_el2 = const TCR_EL2,
    sctlr_el1_off = const SCTLR_EL1_OFF,
    sctlr_el1_on = const SCTLR_EL1_ON,
    sctlr_el2_on = const SCTLR_EL2_ON,
);

unsafe extern "C" {
    /// The secondary CPUs' entry point (physical = virtual address).
    pub static aarch64_secondary_entry: u8;
    /// First byte of the kernel image.
    pub static __kernel_start: u8;
    /// End of the kernel image (page-aligned, `.bss` included).
    pub static __kernel_end: u8;
}
