//! loongarch64 start-up code, shared by the boot CPU (`_start`, entered by QEMU's direct kernel
//! boot) and the CPUs woken through their IPI mailbox (`loongarch64_secondary_entry`, which
//! QEMU's stub at 0x1c00_0000 jumps to once the mailbox holds its address).
//!
//! Every CPU enters at PLV0 in direct-address mode (`CRMD` = 0x8, interrupts off) and:
//!
//! 1. takes its stack (the boot CPU: `boot_stack`; another CPU: its record in
//!    `loongarch64_secondary_boot`, found by its `CPUID`), zeroes both candidate base registers (`$r21` and `$tp`: whichever
//!    holds the per-CPU base starts at 0, so early per-CPU accesses reach the template);
//! 2. enables the FPU (`EUEN.FPE`: the target has `+f,+d`), installs the exception entry
//!    (`EENTRY`) and the TLB refill entry (`TLBRENTRY`), both 4 KiB-aligned;
//! 3. turns on paging (`CRMD.PG`): direct-mapped window 0 (`DMW0`, segment 0, cached, PLV0)
//!    maps every address below 2^60 to the same physical address, so the kernel, RAM and the
//!    devices stay where they were; the per-CPU ranges of page mode lie in the upper half of
//!    the 48-bit address space, which only the TLB maps, refilled by `loongarch64_tlb_refill`
//!    from the three-level page table `boot_root` (`PGDH`; 4 KiB pages, `PWCL` below);
//! 4. enters Rust: the boot CPU clears `.bss` and calls `loongarch64_boot_main()`, another CPU
//!    calls `loongarch64_secondary_main(cpu)`.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text.boot, "ax"
    .global _start
_start:
    move $s3, $a0                       # QEMU's boot arguments: a0 = argc-like flag,
    move $s4, $a1                       # a1 = the command line (physical address)
    la.pcrel $sp, boot_stack_top
    li.d $s1, 0                         # the boot CPU
    b 1f

    .global loongarch64_secondary_entry
loongarch64_secondary_entry:
    csrrd $t0, 0x20                     # CPUID
    andi $t0, $t0, 0x1ff
    slli.d $t0, $t0, 4                  # 16-byte records
    la.pcrel $t1, loongarch64_secondary_boot
    add.d $t1, $t1, $t0
    ld.d $sp, $t1, 0                    # the stack top
    ld.d $s2, $t1, 8                    # the logical CPU
    li.d $s1, 1

1:  move $r21, $zero                    # the per-CPU base ($r21 or $tp) starts at 0
    move $tp, $zero
    li.d $t0, 0x11                      # DMW0: segment 0, MAT = cached, PLV0
    csrwr $t0, 0x180
    csrwr $zero, 0x181
    li.d $t0, 1                         # EUEN.FPE
    csrwr $t0, 0x2
    csrwr $zero, 0x4                    # ECFG: one exception entry, no interrupt enabled
    la.pcrel $t0, loongarch64_exception_entry
    csrwr $t0, 0xc                      # EENTRY
    la.pcrel $t0, loongarch64_tlb_refill
    csrwr $t0, 0x88                     # TLBRENTRY (physical = virtual here)
    li.d $t0, 0x13e4d52c                # PWCL: PT 12/9, Dir1 21/9, Dir2 30/9, 64-bit PTEs
    csrwr $t0, 0x1c
    csrwr $zero, 0x1d                   # PWCH: no Dir3/Dir4
    li.d $t0, 12                        # STLBPS and TLBREHI.PS: 4 KiB pages
    csrwr $t0, 0x1e
    li.d $t0, 12
    csrwr $t0, 0x8e
    csrwr $zero, 0x18                   # ASID 0
    la.pcrel $t0, boot_root
    csrwr $t0, 0x19                     # PGDL (never walked: DMW0 covers the lower half)
    la.pcrel $t0, boot_root
    csrwr $t0, 0x1a                     # PGDH
    invtlb 0, $zero, $zero
    li.d $t0, 0xb0                      # CRMD: PLV0, IE = 0, PG = 1, DATF = DATM = cached
    csrwr $t0, 0x0
    bnez $s1, 3f
    la.pcrel $t0, __bss_start
    la.pcrel $t1, __bss_end
2:  bgeu $t0, $t1, 4f
    st.d $zero, $t0, 0
    addi.d $t0, $t0, 8
    b 2b
4:  move $a0, $s3
    move $a1, $s4
    bl loongarch64_boot_main
    b loongarch64_park
3:  move $a0, $s2
    bl loongarch64_secondary_main
    .global loongarch64_park
loongarch64_park:
    csrwr $zero, 0x4
    idle 0
    b loongarch64_park

    # Every exception but a page-invalid one on a page mapped since (its TLB pair was loaded
    # before) is fatal: `loongarch64_exception` reports it. For those it returns after flushing
    # this CPU's TLB, and the access is retried.
    .p2align 12
    .global loongarch64_exception_entry
loongarch64_exception_entry:
    addi.d $sp, $sp, -160
    st.d $ra, $sp, 0
    st.d $a0, $sp, 8
    st.d $a1, $sp, 16
    st.d $a2, $sp, 24
    st.d $a3, $sp, 32
    st.d $a4, $sp, 40
    st.d $a5, $sp, 48
    st.d $a6, $sp, 56
    st.d $a7, $sp, 64
    st.d $t0, $sp, 72
    st.d $t1, $sp, 80
    st.d $t2, $sp, 88
    st.d $t3, $sp, 96
    st.d $t4, $sp, 104
    st.d $t5, $sp, 112
    st.d $t6, $sp, 120
    st.d $t7, $sp, 128
    st.d $t8, $sp, 136
    csrrd $a0, 0x5                      # ESTAT
    csrrd $a1, 0x6                      # ERA
    csrrd $a2, 0x7                      # BADV
    csrrd $a3, 0x20                     # CPUID
    bl loongarch64_exception
    ld.d $ra, $sp, 0
    ld.d $a0, $sp, 8
    ld.d $a1, $sp, 16
    ld.d $a2, $sp, 24
    ld.d $a3, $sp, 32
    ld.d $a4, $sp, 40
    ld.d $a5, $sp, 48
    ld.d $a6, $sp, 56
    ld.d $a7, $sp, 64
    ld.d $t0, $sp, 72
    ld.d $t1, $sp, 80
    ld.d $t2, $sp, 88
    ld.d $t3, $sp, 96
    ld.d $t4, $sp, 104
    ld.d $t5, $sp, 112
    ld.d $t6, $sp, 120
    ld.d $t7, $sp, 128
    ld.d $t8, $sp, 136
    addi.d $sp, $sp, 160
    ertn

    # TLB refill (entered in direct-address mode, at the physical address): the hardware walk
    # of the table PGD names (PGDH for the upper half), an even/odd pair of 4 KiB PTEs.
    .p2align 12
    .global loongarch64_tlb_refill
loongarch64_tlb_refill:
    csrwr $t0, 0x8b                     # TLBRSAVE
    csrrd $t0, 0x1b                     # PGD
    lddir $t0, $t0, 2
    lddir $t0, $t0, 1
    ldpte $t0, 0
    ldpte $t0, 1
    tlbfill
    csrrd $t0, 0x8b
    ertn

    # The root of the upper half's page table (filled by paging.rs).
    .section .bss.boot, "aw", @nobits
    .p2align 12
    .global boot_root
boot_root:
    .skip 4096
boot_stack:
    .skip 65536
boot_stack_top:
"#
);

unsafe extern "C" {
    /// The woken CPUs' entry point (physical = virtual address).
    pub static loongarch64_secondary_entry: u8;
    /// The root page table (upper half).
    pub static boot_root: u8;
    /// First byte of the kernel image.
    pub static __kernel_start: u8;
    /// End of the kernel image (page-aligned, `.bss` included).
    pub static __kernel_end: u8;
}
