//! x86_64 start-up code: the PVH entry of the boot CPU and the real-mode trampoline of the
//! other CPUs, both ending in 64-bit Rust code.
//!
//! **Boot CPU.** QEMU finds the 32-bit entry in the `XEN_ELFNOTE_PHYS32_ENTRY` note and enters
//! it in protected mode, paging off, with `ebx` = the PVH `hvm_start_info`. The code clears
//! `.bss`, builds page tables that identity-map the first 4 GiB with 2 MiB pages (the top GiB,
//! where the local and I/O APICs are, uncached), enables PAE, long mode and paging, loads a GDT
//! and far-jumps to 64-bit code, which calls `x86_boot_main(start_info)`.
//!
//! **Other CPUs.** The boot CPU copies the trampoline to [`TRAMPOLINE_ADDR`] and fills in its
//! data (page-table root, stack, logical CPU number), then sends INIT-SIPI-SIPI with vector
//! `TRAMPOLINE_ADDR >> 12`. The CPU starts in real mode at `0x0800:0000`; the trampoline
//! addresses its data relative to where it was copied, walks through protected mode into long
//! mode on the boot CPU's page tables, and leaves with an absolute jump to
//! `x86_ap_entry(cpu)`.

use core::arch::global_asm;

/// Where the AP trampoline runs (a 4 KiB-aligned address below 1 MiB; SIPI vector 8).
pub const TRAMPOLINE_ADDR: usize = 0x8000;

global_asm!(
    r#"
    .section .note.Xen, "a", @note
    .p2align 2
    .long 4                     /* name size: "Xen\0" */
    .long 8                     /* descriptor size */
    .long 18                    /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .p2align 2
    .quad pvh_start32
    .p2align 2

    .section .text.boot, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cli
    cld
    mov %ebx, %esi                      /* hvm_start_info, kept for x86_boot_main */

    /* Clear .bss (page tables and the boot stack live there). */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    shr $2, %ecx
    xor %eax, %eax
    rep stosl
    mov $boot_stack_top, %esp

    /* PML4[0] -> PDPT; PDPT[0..4] -> four page directories. */
    mov $boot_pdpt, %eax
    or $0x3, %eax
    mov %eax, boot_pml4
    mov $boot_pd, %eax
    or $0x3, %eax
    xor %ecx, %ecx
1:  mov %eax, boot_pdpt(,%ecx,8)
    add $0x1000, %eax
    inc %ecx
    cmp $4, %ecx
    jb 1b

    /* 2048 2 MiB pages, present + writable + large; from 3 GiB on also PCD | PWT. */
    xor %ecx, %ecx
2:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    cmp $1536, %ecx
    jb 3f
    or $0x18, %eax
3:  mov %eax, boot_pd(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jb 2b

    /* PAE, page-table root, long mode, paging (+ write protection in ring 0). */
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80010001, %eax
    mov %eax, %cr0

    lgdt boot_gdt_ptr
    ljmp $0x08, $long_mode_entry

    .code64
long_mode_entry:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    mov $boot_stack_top, %rsp
    mov %esi, %edi                      /* zero-extends start_info into the first argument */
    call x86_boot_main
4:  cli
    hlt
    jmp 4b

    .section .rodata.boot, "a"
    .p2align 3
    .global boot_gdt
boot_gdt:
    .quad 0                             /* null */
    .quad 0x00AF9B000000FFFF            /* 0x08: 64-bit code */
    .quad 0x00CF93000000FFFF            /* 0x10: data */
    .quad 0x00CF9B000000FFFF            /* 0x18: 32-bit code (the trampoline's step) */
boot_gdt_end:
    .p2align 3
    .global boot_gdt_ptr
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt

    .section .bss.boot, "aw", @nobits
    .p2align 12
    .global boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4096 * 4
boot_stack:
    .skip 65536
boot_stack_top:

    /* The AP trampoline: never run in place, copied to 0x8000 (TRAMPOLINE_ADDR). Addresses
       inside it are written as (label - ap_trampoline_start + 0x8000). */
    .section .rodata.trampoline, "a"
    .p2align 4
    .global ap_trampoline_start
ap_trampoline_start:
    .code16
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl (tramp_gdt_ptr - ap_trampoline_start + 0x8000)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x18, $(tramp_protected - ap_trampoline_start + 0x8000)

    .code32
tramp_protected:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov (ap_trampoline_cr3 - ap_trampoline_start + 0x8000), %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80010000, %eax
    mov %eax, %cr0
    ljmp $0x08, $(tramp_long - ap_trampoline_start + 0x8000)

    .code64
tramp_long:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %ax, %ax
    mov %ax, %fs
    mov %ax, %gs
    mov (ap_trampoline_stack - ap_trampoline_start + 0x8000), %rsp
    mov (ap_trampoline_cpu - ap_trampoline_start + 0x8000), %edi
    movabs $x86_ap_entry, %rax
    call *%rax
5:  cli
    hlt
    jmp 5b

    .p2align 3
tramp_gdt:
    .quad 0
    .quad 0x00AF9B000000FFFF
    .quad 0x00CF93000000FFFF
    .quad 0x00CF9B000000FFFF
tramp_gdt_end:
    .p2align 3
tramp_gdt_ptr:
    .word tramp_gdt_end - tramp_gdt - 1
    .long tramp_gdt - ap_trampoline_start + 0x8000
    .p2align 3
    .global ap_trampoline_cr3
ap_trampoline_cr3:
    .quad 0
    .global ap_trampoline_stack
ap_trampoline_stack:
    .quad 0
    .global ap_trampoline_cpu
ap_trampoline_cpu:
    .quad 0
    .global ap_trampoline_end
ap_trampoline_end:
    .text
"#,
    options(att_syntax)
);

unsafe extern "C" {
    /// First byte of the trampoline (in `.rodata`; copied to [`TRAMPOLINE_ADDR`]).
    pub static ap_trampoline_start: u8;
    /// End of the trampoline.
    pub static ap_trampoline_end: u8;
    /// The trampoline's page-table root field (32-bit physical address).
    pub static ap_trampoline_cr3: u8;
    /// The trampoline's stack-top field.
    pub static ap_trampoline_stack: u8;
    /// The trampoline's logical-CPU-number field.
    pub static ap_trampoline_cpu: u8;
    /// The kernel's GDT pointer (limit + base), for `lgdt` on the other CPUs.
    pub static boot_gdt_ptr: u8;
    /// First byte of the kernel image.
    pub static __kernel_start: u8;
    /// End of the kernel image (page-aligned, `.bss` included).
    pub static __kernel_end: u8;
}
