//! riscv64 start-up code, shared by the boot hart (`_start`, entered by OpenSBI) and the harts
//! started through SBI HSM `hart_start` (`riscv64_secondary_entry`).
//!
//! Every hart enters in S-mode with the MMU off (`satp` 0), its hart id in `a0`, and:
//!
//! 1. masks its supervisor interrupts (`sie` 0; `sstatus.SIE` is already clear) and keeps its
//!    hart id in `sscratch` (S-mode cannot read `mhartid`; nothing else uses `sscratch`);
//! 2. takes its stack, zeroes both candidate base registers (`tp` and `gp`: whichever holds
//!    the per-CPU base starts at 0, so early per-CPU accesses reach the template; the other is
//!    unused), enables the FPU (`sstatus.FS` = Initial: the target has `+f,+d`), installs its
//!    trap vector;
//! 3. turns on Sv39 paging with the identity map `boot_root` (the boot hart) or the table the
//!    boot hart runs on (`SecondaryBoot::satp`): GiB 0 (the virt board's devices: UART, test
//!    device, CLINT, PLIC) readable and writable, GiB 2 (RAM from 0x8000_0000, with OpenSBI and
//!    the kernel) readable, writable and executable;
//! 4. enters Rust: the boot hart clears `.bss` and calls `riscv64_boot_main(hartid, dtb)`,
//!    another hart calls `riscv64_secondary_main(cpu)`.
//!
//! A started hart's `opaque` argument (in `a1`) is the address of its [`SecondaryBoot`] record,
//! which it reads with the MMU off (RAM is identity-mapped, so the address is the same).

use core::arch::global_asm;

/// The boot record of a started hart, passed as the HSM `opaque` argument.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SecondaryBoot {
    /// Top of its stack.
    pub stack_top: u64,
    /// Its logical CPU number.
    pub cpu: u64,
    /// The `satp` value to run with (the boot hart's page table).
    pub satp: u64,
}

global_asm!(
    r#"
    .section .text.boot, "ax"
    .option push
    .option norelax
    .global _start
_start:
    csrw sie, zero
    csrw sscratch, a0                   # the hart id, for hw_cpu_id
    la sp, boot_stack_top
    li s1, 0                            # the boot hart
    mv s2, a1                           # the device tree
    la t0, boot_root
    srli t0, t0, 12
    li t1, 8                            # satp.MODE = Sv39
    slli t1, t1, 60
    or t0, t0, t1
    j 1f

    .global riscv64_secondary_entry
riscv64_secondary_entry:
    csrw sie, zero
    csrw sscratch, a0
    ld sp, 0(a1)                        # SecondaryBoot::stack_top
    ld s2, 8(a1)                        # SecondaryBoot::cpu
    ld t0, 16(a1)                       # SecondaryBoot::satp
    li s1, 1

1:  mv tp, zero                         # the per-CPU base (tp or gp) starts at 0
    mv gp, zero
    li t1, (1 << 13)                    # sstatus.FS = Initial
    csrs sstatus, t1
    la t1, riscv64_trap_entry
    csrw stvec, t1
    sfence.vma
    csrw satp, t0
    sfence.vma
    bnez s1, 3f
    la t0, __bss_start
    la t1, __bss_end
2:  bgeu t0, t1, 4f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 2b
4:  csrr a0, sscratch
    mv a1, s2
    call riscv64_boot_main
    j riscv64_park
3:  mv a0, s2
    call riscv64_secondary_main
    .global riscv64_park
riscv64_park:
    csrw sie, zero
    wfi
    j riscv64_park

    # Every trap is fatal in this kernel (interrupts stay masked): report it.
    .p2align 2
    .global riscv64_trap_entry
riscv64_trap_entry:
    csrr a0, scause
    csrr a1, sepc
    csrr a2, stval
    csrr a3, sscratch
    call riscv64_trap
    j riscv64_park
    .option pop

    # The boot identity map (Sv39 root, 1 GiB leaves): GiB 0 devices RW, GiB 2 RAM RWX; all
    # valid, accessed, dirty and global.
    .section .data.boot, "aw"
    .p2align 12
    .global boot_root
boot_root:
    .quad 0x00000000000000e7
    .quad 0
    .quad 0x00000000200000ef
    .fill 509, 8, 0

    .section .bss.boot, "aw", @nobits
    .p2align 12
boot_stack:
    .skip 65536
boot_stack_top:
"#
);

unsafe extern "C" {
    /// The started harts' entry point (physical = virtual address).
    pub static riscv64_secondary_entry: u8;
    /// First byte of the kernel image.
    pub static __kernel_start: u8;
    /// End of the kernel image (page-aligned, `.bss` included).
    pub static __kernel_end: u8;
}
