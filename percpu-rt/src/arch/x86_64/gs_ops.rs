//! x86_64's current-CPU operations: each is ONE instruction addressing `gs:` + the per-CPU
//! pointer. The address is formed from `GS.base` inside that instruction and interrupts are
//! taken only between instructions, so no preemption or interrupt guard is needed: the
//! operation always acts on the copy of the CPU that executes it. No `lock` prefix either: the
//! data is CPU-local (the IrqGuard's claim is the exception that wants one, and `xchg` with
//! memory has it implicitly).
//!
//! Two operand forms: `op gs:[reg]` with the per-CPU pointer in a register ([`PointerOps`], for
//! dynamic objects and for statics whose type the macro cannot see), and `op gs:[rip + SYM]`
//! naming a static's template symbol (`static_ops!`, emitted where the static is declared, one
//! width only; `op gs:[SYM]` with `--cfg percpu_x86_absolute` in a non-PIE kernel).

use super::Arch;
use crate::arch::{PointerOps, Rmw};
use core::arch::asm;

/// One asm statement per width for the `gs:[{p}]` form: `$op` is the mnemonic and operand text
/// before the memory operand, `$rest` what follows it (`"{v}"`-style, without the modifier).
macro_rules! by_width {
    ($size:expr, $mnemonic:literal, $after:literal, [$($operands:tt)*]) => {
        match $size {
            1 => asm!(concat!($mnemonic, " byte ptr gs:[{p}]", $after, "l}"), $($operands)*),
            2 => asm!(concat!($mnemonic, " word ptr gs:[{p}]", $after, "x}"), $($operands)*),
            4 => asm!(concat!($mnemonic, " dword ptr gs:[{p}]", $after, "e}"), $($operands)*),
            _ => asm!(concat!($mnemonic, " qword ptr gs:[{p}]", $after, "r}"), $($operands)*),
        }
    };
}

// SAFETY: every instruction addresses `gs:` + the per-CPU pointer, i.e. the current CPU's copy
// (GS.base holds the current CPU's offset), with the width given, and is one instruction, so it
// is atomic with respect to the current CPU, interrupts included.
unsafe impl PointerOps for Arch {
    #[inline(always)]
    unsafe fn load(p: usize, size: usize) -> u64 {
        let v: u64;
        // SAFETY: see the impl; the caller guarantees the copy is live and `size` bytes.
        unsafe {
            match size {
                1 => {
                    asm!("movzx {v:e}, byte ptr gs:[{p}]", v = lateout(reg) v, p = in(reg) p, options(nostack, preserves_flags, readonly))
                }
                2 => {
                    asm!("movzx {v:e}, word ptr gs:[{p}]", v = lateout(reg) v, p = in(reg) p, options(nostack, preserves_flags, readonly))
                }
                4 => {
                    asm!("mov {v:e}, dword ptr gs:[{p}]", v = lateout(reg) v, p = in(reg) p, options(nostack, preserves_flags, readonly))
                }
                _ => {
                    asm!("mov {v:r}, qword ptr gs:[{p}]", v = lateout(reg) v, p = in(reg) p, options(nostack, preserves_flags, readonly))
                }
            }
        }
        v
    }

    #[inline(always)]
    unsafe fn store(p: usize, size: usize, v: u64) {
        // SAFETY: see the impl.
        unsafe {
            by_width!(size, "mov", ", {v:", [p = in(reg) p, v = in(reg) v, options(nostack, preserves_flags)])
        }
    }

    #[inline(always)]
    unsafe fn rmw(p: usize, size: usize, op: Rmw, v: u64) {
        // SAFETY: see the impl.
        unsafe {
            match op {
                Rmw::Add => {
                    by_width!(size, "add", ", {v:", [p = in(reg) p, v = in(reg) v, options(nostack)])
                }
                Rmw::Sub => {
                    by_width!(size, "sub", ", {v:", [p = in(reg) p, v = in(reg) v, options(nostack)])
                }
                Rmw::And => {
                    by_width!(size, "and", ", {v:", [p = in(reg) p, v = in(reg) v, options(nostack)])
                }
                Rmw::Or => {
                    by_width!(size, "or", ", {v:", [p = in(reg) p, v = in(reg) v, options(nostack)])
                }
                Rmw::Xor => {
                    by_width!(size, "xor", ", {v:", [p = in(reg) p, v = in(reg) v, options(nostack)])
                }
            }
        }
    }

    #[inline(always)]
    unsafe fn step(p: usize, size: usize, up: bool) {
        // SAFETY: see the impl.
        unsafe {
            match (up, size) {
                (true, 1) => asm!("inc byte ptr gs:[{p}]", p = in(reg) p, options(nostack)),
                (true, 2) => asm!("inc word ptr gs:[{p}]", p = in(reg) p, options(nostack)),
                (true, 4) => asm!("inc dword ptr gs:[{p}]", p = in(reg) p, options(nostack)),
                (true, _) => asm!("inc qword ptr gs:[{p}]", p = in(reg) p, options(nostack)),
                (false, 1) => asm!("dec byte ptr gs:[{p}]", p = in(reg) p, options(nostack)),
                (false, 2) => asm!("dec word ptr gs:[{p}]", p = in(reg) p, options(nostack)),
                (false, 4) => asm!("dec dword ptr gs:[{p}]", p = in(reg) p, options(nostack)),
                (false, _) => asm!("dec qword ptr gs:[{p}]", p = in(reg) p, options(nostack)),
            }
        }
    }

    #[inline(always)]
    unsafe fn fetch_add(p: usize, size: usize, v: u64) -> u64 {
        let mut v = v;
        // SAFETY: see the impl.
        unsafe {
            by_width!(size, "xadd", ", {v:", [p = in(reg) p, v = inout(reg) v, options(nostack)])
        }
        truncate(v, size)
    }

    #[inline(always)]
    unsafe fn xchg(p: usize, size: usize, v: u64) -> u64 {
        let mut v = v;
        // SAFETY: see the impl.
        unsafe {
            by_width!(size, "xchg", ", {v:", [p = in(reg) p, v = inout(reg) v, options(nostack, preserves_flags)])
        }
        truncate(v, size)
    }

    #[inline(always)]
    unsafe fn cmpxchg(p: usize, size: usize, old: u64, new: u64) -> u64 {
        let mut acc = old;
        // SAFETY: see the impl; `cmpxchg` compares with and loads into rax.
        unsafe {
            by_width!(size, "cmpxchg", ", {v:", [p = in(reg) p, v = in(reg) new, inout("rax") acc, options(nostack)])
        }
        truncate(acc, size)
    }

    #[inline(always)]
    unsafe fn cmpxchg16(p: usize, old: u128, new: u128) -> u128 {
        let (mut lo, mut hi) = (old as u64, (old >> 64) as u64);
        // SAFETY: see the impl; rbx (reserved by LLVM) is saved in `t` and restored.
        unsafe {
            asm!(
                "xchg {t}, rbx",
                "cmpxchg16b xmmword ptr gs:[{p}]",
                "mov rbx, {t}",
                p = in(reg) p,
                t = inout(reg) new as u64 => _,
                in("rcx") (new >> 64) as u64,
                inout("rax") lo,
                inout("rdx") hi,
                options(nostack),
            );
        }
        ((hi as u128) << 64) | lo as u128
    }
}

/// The low `size` bytes of `v` (what an instruction of that width left in a register).
#[inline(always)]
fn truncate(v: u64, size: usize) -> u64 {
    if size >= 8 { v } else { v & ((1u64 << (size * 8)) - 1) }
}

/// The memory operand of the static operations: `[rip + {m}]` (position-independent), or
/// `[{m}]` with `--cfg percpu_x86_absolute` (non-PIE kernels: still one instruction, and one the
/// CPU can rename through when it has an immediate operand, e.g. `inc`).
#[cfg(not(percpu_x86_absolute))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_gs_symbol {
    () => {
        "gs:[rip + {m}]"
    };
}
/// See the other definition.
#[cfg(percpu_x86_absolute)]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_gs_symbol {
    () => {
        "gs:[{m}]"
    };
}

/// The per-variable operations of a static, inside its `Slot` impl: for a type written as a
/// primitive, one instruction per operation naming the template symbol, for that width only;
/// for any other type nothing (its operations take the `gs:[reg]` form). Not public API.
///
/// `static_ops!(TEMPLATE; TYPE)`. The width comes from the type's name, and a compile-time
/// assertion checks it against the type's size, so that a name shadowing a primitive cannot
/// mislead it.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_static_ops {
    ($t:ident; u8) => { $crate::__percpu_static_ops!(@ops $t; u8, 1, "byte", "l"); };
    ($t:ident; i8) => { $crate::__percpu_static_ops!(@ops $t; i8, 1, "byte", "l"); };
    ($t:ident; bool) => { $crate::__percpu_static_ops!(@ops $t; bool, 1, "byte", "l"); };
    ($t:ident; u16) => { $crate::__percpu_static_ops!(@ops $t; u16, 2, "word", "x"); };
    ($t:ident; i16) => { $crate::__percpu_static_ops!(@ops $t; i16, 2, "word", "x"); };
    ($t:ident; u32) => { $crate::__percpu_static_ops!(@ops $t; u32, 4, "dword", "e"); };
    ($t:ident; i32) => { $crate::__percpu_static_ops!(@ops $t; i32, 4, "dword", "e"); };
    ($t:ident; u64) => { $crate::__percpu_static_ops!(@ops $t; u64, 8, "qword", "r"); };
    ($t:ident; i64) => { $crate::__percpu_static_ops!(@ops $t; i64, 8, "qword", "r"); };
    ($t:ident; usize) => { $crate::__percpu_static_ops!(@ops $t; usize, 8, "qword", "r"); };
    ($t:ident; isize) => { $crate::__percpu_static_ops!(@ops $t; isize, 8, "qword", "r"); };
    ($t:ident; *const $p:ty) => { $crate::__percpu_static_ops!(@ops $t; *const $p, 8, "qword", "r"); };
    ($t:ident; *mut $p:ty) => { $crate::__percpu_static_ops!(@ops $t; *mut $p, 8, "qword", "r"); };
    ($t:ident; u128) => { $crate::__percpu_static_ops!(@wide $t; u128); };
    ($t:ident; i128) => { $crate::__percpu_static_ops!(@wide $t; i128); };
    ($t:ident; $($other:tt)*) => {};
    (@ops $t:ident; $ty:ty, $w:literal, $size:literal, $r:literal) => {
        const STATIC_OPS: usize = $crate::private::checked_width::<$ty>($w);
        unsafe fn load() -> u64 {
            let v: u64;
            // SAFETY: the current CPU's copy of this static (its template + GS.base).
            unsafe { $crate::__percpu_static_ops!(@asm "mov {v:", $r, "}, ", $size, " ptr ", $crate::__percpu_gs_symbol!(); $t, v = out(reg) v, options(nostack, readonly, preserves_flags)) };
            v
        }
        unsafe fn store(v: u64) {
            // SAFETY: as in `load`.
            unsafe { $crate::__percpu_static_ops!(@to "mov", $size, $r; $t, v = in(reg) v, options(nostack, preserves_flags)) };
        }
        unsafe fn rmw(op: $crate::private::Rmw, v: u64) {
            use $crate::private::Rmw::*;
            // SAFETY: as in `load`.
            unsafe {
                match op {
                    Add => $crate::__percpu_static_ops!(@to "add", $size, $r; $t, v = in(reg) v, options(nostack)),
                    Sub => $crate::__percpu_static_ops!(@to "sub", $size, $r; $t, v = in(reg) v, options(nostack)),
                    And => $crate::__percpu_static_ops!(@to "and", $size, $r; $t, v = in(reg) v, options(nostack)),
                    Or => $crate::__percpu_static_ops!(@to "or", $size, $r; $t, v = in(reg) v, options(nostack)),
                    Xor => $crate::__percpu_static_ops!(@to "xor", $size, $r; $t, v = in(reg) v, options(nostack)),
                }
            }
        }
        unsafe fn step(up: bool) {
            // SAFETY: as in `load`.
            unsafe {
                if up {
                    $crate::__percpu_static_ops!(@asm "inc ", $size, " ptr ", $crate::__percpu_gs_symbol!(); $t, options(nostack))
                } else {
                    $crate::__percpu_static_ops!(@asm "dec ", $size, " ptr ", $crate::__percpu_gs_symbol!(); $t, options(nostack))
                }
            }
        }
        unsafe fn fetch_add(mut v: u64) -> u64 {
            // SAFETY: as in `load`.
            unsafe { $crate::__percpu_static_ops!(@to "xadd", $size, $r; $t, v = inout(reg) v, options(nostack)) };
            v
        }
        unsafe fn xchg(mut v: u64) -> u64 {
            // SAFETY: as in `load`.
            unsafe { $crate::__percpu_static_ops!(@to "xchg", $size, $r; $t, v = inout(reg) v, options(nostack, preserves_flags)) };
            v
        }
        unsafe fn cmpxchg(mut old: u64, new: u64) -> u64 {
            // SAFETY: as in `load`; `cmpxchg` compares with and loads into rax.
            unsafe { $crate::__percpu_static_ops!(@to "cmpxchg", $size, $r; $t, v = in(reg) new, inout("rax") old, options(nostack)) };
            old
        }
    };
    // `op size ptr gs:[..], {v}`.
    (@to $op:literal, $size:literal, $r:literal; $t:ident, $($operands:tt)*) => {
        $crate::__percpu_static_ops!(@asm $op, " ", $size, " ptr ", $crate::__percpu_gs_symbol!(), ", {v:", $r, "}"; $t, $($operands)*)
    };
    (@asm $($text:expr),*; $t:ident, $($operands:tt)*) => {
        ::core::arch::asm!(concat!($($text),*), $($operands)*, m = sym $t)
    };
    (@wide $t:ident; $ty:ty) => {
        const STATIC_OPS: usize = $crate::private::checked_width::<$ty>(16);
        unsafe fn cmpxchg16(old: u128, new: u128) -> u128 {
            let (mut lo, mut hi) = (old as u64, (old >> 64) as u64);
            // SAFETY: the current CPU's copy of this static; rbx (reserved by LLVM) is saved in
            // `t` and restored.
            unsafe { ::core::arch::asm!("xchg {t}, rbx", concat!("cmpxchg16b xmmword ptr ", $crate::__percpu_gs_symbol!()), "mov rbx, {t}", t = inout(reg) new as u64 => _, in("rcx") (new >> 64) as u64, inout("rax") lo, inout("rdx") hi, m = sym $t, options(nostack)) };
            ((hi as u128) << 64) | lo as u128
        }
    };
}
