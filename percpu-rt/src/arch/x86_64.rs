//! x86_64: `GS.base` and the `gs:`-relative operations.
//!
//! Every current-CPU scalar operation is ONE instruction of the form `op gs:[rip + SYM]` (static
//! variables, `SYM` being the variable's template) or `op gs:[reg]` (dynamic ones, `reg` holding
//! the per-CPU pointer). The address is formed from `GS.base` inside that instruction, and
//! interrupts are taken only between instructions, so no preemption or interrupt guard is
//! needed: the operation always acts on the copy of the CPU that executes it. No `lock` prefix
//! either: the data is CPU-local.
//!
//! The instruction text is generated once, by [`__percpu_gs_ops!`](crate::__percpu_gs_ops), for
//! both operand forms; `#[percpu]` expansions invoke it with their template symbol.

use core::arch::asm;

/// Which register holds the per-CPU base on this architecture.
pub const BASE_REGISTER: &str = "GS.base";

/// `IA32_GS_BASE`, the model-specific register behind `GS.base`.
#[derive(Debug)]
pub struct GsBaseMsr;

impl GsBaseMsr {
    /// The MSR number.
    pub const MSR: u32 = 0xC000_0101;

    /// Writes `GS.base` with `wrmsr`.
    ///
    /// # Safety
    ///
    /// Ring 0 only (`#GP` otherwise); `value` must be canonical (`#GP` otherwise); every later
    /// `gs:`-relative access on this CPU uses the new base.
    #[inline]
    pub unsafe fn write(value: u64) {
        // SAFETY: the caller guarantees ring 0 and a canonical value.
        unsafe {
            asm!(
                "wrmsr",
                in("ecx") Self::MSR,
                in("eax") value as u32,
                in("edx") (value >> 32) as u32,
                options(nostack, preserves_flags),
            );
        }
    }

    /// Reads `GS.base` with `rdmsr`.
    ///
    /// # Safety
    ///
    /// Ring 0 only (`#GP` otherwise).
    #[inline]
    pub unsafe fn read() -> u64 {
        let (lo, hi): (u32, u32);
        // SAFETY: the caller guarantees ring 0.
        unsafe {
            asm!(
                "rdmsr",
                in("ecx") Self::MSR,
                out("eax") lo,
                out("edx") hi,
                options(nomem, nostack, preserves_flags),
            );
        }
        ((hi as u64) << 32) | lo as u64
    }
}

/// Writes `GS.base` with `wrgsbase`.
///
/// # Safety
///
/// `CR4.FSGSBASE` must be set (`#UD` otherwise) and `value` canonical; every later
/// `gs:`-relative access on this CPU uses the new base.
///
/// # Exceptions
///
/// `#UD` if `CR4.FSGSBASE` is clear.
#[inline]
pub unsafe fn wrgsbase(value: u64) {
    // SAFETY: the caller guarantees that the instruction is enabled and the value canonical.
    unsafe { asm!("wrgsbase {}", in(reg) value, options(nostack, preserves_flags)) }
}

/// Reads `GS.base` with `rdgsbase`.
///
/// # Safety
///
/// `CR4.FSGSBASE` must be set (`#UD` otherwise).
#[inline]
pub unsafe fn rdgsbase() -> u64 {
    let value: u64;
    // SAFETY: the caller guarantees that the instruction is enabled.
    unsafe { asm!("rdgsbase {}", out(reg) value, options(nomem, nostack, preserves_flags)) }
    value
}

/// `arch_prctl` codes (`asm/prctl.h`).
#[cfg(feature = "hosted")]
const ARCH_SET_GS: libc::c_int = 0x1001;
#[cfg(feature = "hosted")]
const ARCH_GET_GS: libc::c_int = 0x1004;

/// Loads this CPU's per-CPU base register with `delta` (= `unit_base - __percpu_start`).
///
/// In a kernel this is `wrmsr IA32_GS_BASE` (load any segment selector into GS *before* this:
/// a selector load zeroes the base). With the `hosted` feature it is
/// `arch_prctl(ARCH_SET_GS, delta)` for the calling thread.
///
/// # Safety
///
/// `delta` must be `unit_base(cpu) - __percpu_start` for the unit of the CPU (or hosted thread)
/// that runs this, and that unit must hold an initialised copy of the template: every per-CPU
/// access on this CPU goes there from now on.
pub unsafe fn write_base(delta: usize) {
    #[cfg(feature = "hosted")]
    {
        // SAFETY: ARCH_SET_GS only changes this thread's GS base.
        let rc = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_SET_GS, delta) };
        assert!(
            rc == 0,
            "arch_prctl(ARCH_SET_GS, {delta:#x}) failed: {}; the per-CPU delta must be a user-space \
             address (units above the executable)",
            std::io::Error::last_os_error()
        );
    }
    #[cfg(not(feature = "hosted"))]
    {
        // SAFETY: forwarded from the caller (kernel mode, canonical delta).
        unsafe { GsBaseMsr::write(delta as u64) }
    }
}

/// Reads this CPU's per-CPU base register (`arch_prctl(ARCH_GET_GS)` with `hosted`).
///
/// The accessors never need this (they use `gs:` addressing, and `this_cpu_ptr` reads the
/// per-CPU offset variable with one `mov`); it is for diagnostics and tests.
pub fn read_base() -> usize {
    #[cfg(feature = "hosted")]
    {
        let mut value: libc::c_ulong = 0;
        // SAFETY: ARCH_GET_GS writes the thread's GS base to the given location.
        let rc = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_GET_GS, &mut value as *mut _) };
        assert!(rc == 0, "arch_prctl(ARCH_GET_GS) failed");
        value as usize
    }
    #[cfg(not(feature = "hosted"))]
    {
        // SAFETY: percpu-rt without `hosted` runs in ring 0 on x86_64.
        unsafe { GsBaseMsr::read() as usize }
    }
}

/// The current-CPU operations of one slot, by width. Implemented by [`__percpu_gs_ops!`]; not
/// public API.
///
/// The `p` argument is the slot's register operand (the per-CPU pointer of a dynamic slot);
/// static slots ignore it and address their template symbol directly.
///
/// # Safety
///
/// Each function accesses exactly the current CPU's copy of the slot (`GS.base` + per-CPU
/// pointer), with the width of `R`, and nothing else.
///
/// [`__percpu_gs_ops!`]: crate::__percpu_gs_ops
#[doc(hidden)]
pub unsafe trait GsOps {
    /// `mov`/`movzx` from the current CPU's copy.
    unsafe fn load<R: crate::scalar::Raw>(p: usize) -> R;
    /// `mov` to the current CPU's copy.
    unsafe fn store<R: crate::scalar::Raw>(p: usize, v: R);
    /// `add`.
    unsafe fn add<R: crate::scalar::Raw>(p: usize, v: R);
    /// `sub`.
    unsafe fn sub<R: crate::scalar::Raw>(p: usize, v: R);
    /// `and`.
    unsafe fn and<R: crate::scalar::Raw>(p: usize, v: R);
    /// `or`.
    unsafe fn or<R: crate::scalar::Raw>(p: usize, v: R);
    /// `xor`.
    unsafe fn xor<R: crate::scalar::Raw>(p: usize, v: R);
    /// `inc`.
    unsafe fn inc<R: crate::scalar::Raw>(p: usize);
    /// `dec`.
    unsafe fn dec<R: crate::scalar::Raw>(p: usize);
    /// `xadd`: adds `v`, returns the previous value.
    unsafe fn xadd<R: crate::scalar::Raw>(p: usize, v: R) -> R;
    /// `xchg`: stores `v`, returns the previous value.
    unsafe fn xchg<R: crate::scalar::Raw>(p: usize, v: R) -> R;
    /// `cmpxchg` (no `lock`): stores `new` if the copy holds `old`; returns the previous value.
    unsafe fn cmpxchg<R: crate::scalar::Raw>(p: usize, old: R, new: R) -> R;
    /// `cmpxchg16b` (no `lock`) on a 16-byte copy; returns the previous value.
    unsafe fn cmpxchg16(p: usize, old: u128, new: u128) -> u128;
}

/// Generates a [`GsOps`] implementation for one memory-operand form. Not public API.
///
/// `__percpu_gs_ops!(Type, p, "[rip + {m}]", m = sym TEMPLATE)` (a static's template) or
/// `__percpu_gs_ops!(Type, p, "[{m}]", m = in(reg) p)` (a dynamic per-CPU pointer in a
/// register). Widths of 1, 2, 4 and 8 bytes are single instructions; 16 bytes go through
/// `cmpxchg16b` (see [`gs128`]).
#[macro_export]
#[doc(hidden)]
macro_rules! __percpu_gs_ops {
    ($ty:ty, $p:ident, $mem:literal, $($operand:tt)*) => {
        // SAFETY: every instruction below addresses `gs:` + the slot's per-CPU pointer, i.e. the
        // current CPU's copy of the slot, with the width of `R` (see `GsOps`).
        unsafe impl $crate::private::GsOps for $ty {
            #[inline(always)]
            unsafe fn load<R: $crate::private::Raw>($p: usize) -> R {
                if R::SIZE == 16 {
                    // SAFETY: see the impl.
                    return unsafe { $crate::private::gs128::load::<Self, R>($p) };
                }
                let v: u64;
                // SAFETY: see the impl.
                unsafe {
                    match R::SIZE {
                        1 => ::core::arch::asm!(concat!("movzx {v:e}, byte ptr gs:", $mem), v = lateout(reg) v, $($operand)*, options(nostack, preserves_flags, readonly)),
                        2 => ::core::arch::asm!(concat!("movzx {v:e}, word ptr gs:", $mem), v = lateout(reg) v, $($operand)*, options(nostack, preserves_flags, readonly)),
                        4 => ::core::arch::asm!(concat!("mov {v:e}, dword ptr gs:", $mem), v = lateout(reg) v, $($operand)*, options(nostack, preserves_flags, readonly)),
                        _ => ::core::arch::asm!(concat!("mov {v}, qword ptr gs:", $mem), v = lateout(reg) v, $($operand)*, options(nostack, preserves_flags, readonly)),
                    }
                }
                R::from_bits(v as u128)
            }
            #[inline(always)]
            unsafe fn store<R: $crate::private::Raw>($p: usize, v: R) {
                if R::SIZE == 16 {
                    // SAFETY: see the impl.
                    unsafe { $crate::private::gs128::update::<Self, R>($p, |_| v) };
                    return;
                }
                let v = v.to_bits() as u64;
                // SAFETY: see the impl.
                unsafe {
                    match R::SIZE {
                        1 => ::core::arch::asm!(concat!("mov byte ptr gs:", $mem, ", {v:l}"), v = in(reg) v, $($operand)*, options(nostack, preserves_flags)),
                        2 => ::core::arch::asm!(concat!("mov word ptr gs:", $mem, ", {v:x}"), v = in(reg) v, $($operand)*, options(nostack, preserves_flags)),
                        4 => ::core::arch::asm!(concat!("mov dword ptr gs:", $mem, ", {v:e}"), v = in(reg) v, $($operand)*, options(nostack, preserves_flags)),
                        _ => ::core::arch::asm!(concat!("mov qword ptr gs:", $mem, ", {v}"), v = in(reg) v, $($operand)*, options(nostack, preserves_flags)),
                    }
                }
            }
            $crate::__percpu_gs_binop!(add, "add ", $p, $mem, $($operand)*);
            $crate::__percpu_gs_binop!(sub, "sub ", $p, $mem, $($operand)*);
            $crate::__percpu_gs_binop!(and, "and ", $p, $mem, $($operand)*);
            $crate::__percpu_gs_binop!(or, "or ", $p, $mem, $($operand)*);
            $crate::__percpu_gs_binop!(xor, "xor ", $p, $mem, $($operand)*);
            $crate::__percpu_gs_unop!(inc, "inc ", $p, $mem, $($operand)*);
            $crate::__percpu_gs_unop!(dec, "dec ", $p, $mem, $($operand)*);
            #[inline(always)]
            unsafe fn xadd<R: $crate::private::Raw>($p: usize, v: R) -> R {
                if R::SIZE == 16 {
                    // SAFETY: see the impl.
                    return unsafe { $crate::private::gs128::update::<Self, R>($p, |x| x.wrapping_add(v)) };
                }
                let mut v = v.to_bits() as u64;
                // SAFETY: see the impl.
                unsafe {
                    match R::SIZE {
                        1 => ::core::arch::asm!(concat!("xadd byte ptr gs:", $mem, ", {v:l}"), v = inout(reg) v, $($operand)*, options(nostack)),
                        2 => ::core::arch::asm!(concat!("xadd word ptr gs:", $mem, ", {v:x}"), v = inout(reg) v, $($operand)*, options(nostack)),
                        4 => ::core::arch::asm!(concat!("xadd dword ptr gs:", $mem, ", {v:e}"), v = inout(reg) v, $($operand)*, options(nostack)),
                        _ => ::core::arch::asm!(concat!("xadd qword ptr gs:", $mem, ", {v}"), v = inout(reg) v, $($operand)*, options(nostack)),
                    }
                }
                R::from_bits(v as u128)
            }
            #[inline(always)]
            unsafe fn xchg<R: $crate::private::Raw>($p: usize, v: R) -> R {
                if R::SIZE == 16 {
                    // SAFETY: see the impl.
                    return unsafe { $crate::private::gs128::update::<Self, R>($p, |_| v) };
                }
                let mut v = v.to_bits() as u64;
                // SAFETY: see the impl.
                unsafe {
                    match R::SIZE {
                        1 => ::core::arch::asm!(concat!("xchg byte ptr gs:", $mem, ", {v:l}"), v = inout(reg) v, $($operand)*, options(nostack, preserves_flags)),
                        2 => ::core::arch::asm!(concat!("xchg word ptr gs:", $mem, ", {v:x}"), v = inout(reg) v, $($operand)*, options(nostack, preserves_flags)),
                        4 => ::core::arch::asm!(concat!("xchg dword ptr gs:", $mem, ", {v:e}"), v = inout(reg) v, $($operand)*, options(nostack, preserves_flags)),
                        _ => ::core::arch::asm!(concat!("xchg qword ptr gs:", $mem, ", {v}"), v = inout(reg) v, $($operand)*, options(nostack, preserves_flags)),
                    }
                }
                R::from_bits(v as u128)
            }
            #[inline(always)]
            unsafe fn cmpxchg<R: $crate::private::Raw>($p: usize, old: R, new: R) -> R {
                if R::SIZE == 16 {
                    // SAFETY: see the impl.
                    return R::from_bits(unsafe {
                        <Self as $crate::private::GsOps>::cmpxchg16($p, old.to_bits(), new.to_bits())
                    });
                }
                let mut acc = old.to_bits() as u64;
                let new = new.to_bits() as u64;
                // SAFETY: see the impl.
                unsafe {
                    match R::SIZE {
                        1 => ::core::arch::asm!(concat!("cmpxchg byte ptr gs:", $mem, ", {n:l}"), n = in(reg) new, inout("rax") acc, $($operand)*, options(nostack)),
                        2 => ::core::arch::asm!(concat!("cmpxchg word ptr gs:", $mem, ", {n:x}"), n = in(reg) new, inout("rax") acc, $($operand)*, options(nostack)),
                        4 => ::core::arch::asm!(concat!("cmpxchg dword ptr gs:", $mem, ", {n:e}"), n = in(reg) new, inout("rax") acc, $($operand)*, options(nostack)),
                        _ => ::core::arch::asm!(concat!("cmpxchg qword ptr gs:", $mem, ", {n}"), n = in(reg) new, inout("rax") acc, $($operand)*, options(nostack)),
                    }
                }
                R::from_bits(acc as u128)
            }
            #[inline(always)]
            unsafe fn cmpxchg16($p: usize, old: u128, new: u128) -> u128 {
                let (mut lo, mut hi) = (old as u64, (old >> 64) as u64);
                // SAFETY: see the impl; rbx (reserved by LLVM) is saved in `t` and restored.
                unsafe {
                    ::core::arch::asm!(
                        "xchg {t}, rbx",
                        concat!("cmpxchg16b xmmword ptr gs:", $mem),
                        "mov rbx, {t}",
                        t = inout(reg) new as u64 => _,
                        in("rcx") (new >> 64) as u64,
                        inout("rax") lo,
                        inout("rdx") hi,
                        $($operand)*,
                        options(nostack),
                    );
                }
                ((hi as u128) << 64) | lo as u128
            }
        }
    };
}

/// One binary read-modify-write operation (`add`, `sub`, `and`, `or`, `xor`) for all widths.
#[macro_export]
#[doc(hidden)]
macro_rules! __percpu_gs_binop {
    ($name:ident, $op:literal, $p:ident, $mem:literal, $($operand:tt)*) => {
        #[inline(always)]
        unsafe fn $name<R: $crate::private::Raw>($p: usize, v: R) {
            if R::SIZE == 16 {
                // SAFETY: see `__percpu_gs_ops!`.
                unsafe { $crate::private::gs128::update::<Self, R>($p, |x| $crate::private::gs128::apply(stringify!($name), x, v)) };
                return;
            }
            let bits = v.to_bits() as u64;
            // SAFETY: see `__percpu_gs_ops!`.
            unsafe {
                match R::SIZE {
                    1 => ::core::arch::asm!(concat!($op, "byte ptr gs:", $mem, ", {v:l}"), v = in(reg) bits, $($operand)*, options(nostack)),
                    2 => ::core::arch::asm!(concat!($op, "word ptr gs:", $mem, ", {v:x}"), v = in(reg) bits, $($operand)*, options(nostack)),
                    4 => ::core::arch::asm!(concat!($op, "dword ptr gs:", $mem, ", {v:e}"), v = in(reg) bits, $($operand)*, options(nostack)),
                    _ => ::core::arch::asm!(concat!($op, "qword ptr gs:", $mem, ", {v}"), v = in(reg) bits, $($operand)*, options(nostack)),
                }
            }
        }
    };
}

/// One unary read-modify-write operation (`inc`, `dec`) for all widths.
#[macro_export]
#[doc(hidden)]
macro_rules! __percpu_gs_unop {
    ($name:ident, $op:literal, $p:ident, $mem:literal, $($operand:tt)*) => {
        #[inline(always)]
        unsafe fn $name<R: $crate::private::Raw>($p: usize) {
            if R::SIZE == 16 {
                let one = R::from_bits(1);
                // SAFETY: see `__percpu_gs_ops!`.
                unsafe { $crate::private::gs128::update::<Self, R>($p, |x| $crate::private::gs128::apply(stringify!($name), x, one)) };
                return;
            }
            // SAFETY: see `__percpu_gs_ops!`.
            unsafe {
                match R::SIZE {
                    1 => ::core::arch::asm!(concat!($op, "byte ptr gs:", $mem), $($operand)*, options(nostack)),
                    2 => ::core::arch::asm!(concat!($op, "word ptr gs:", $mem), $($operand)*, options(nostack)),
                    4 => ::core::arch::asm!(concat!($op, "dword ptr gs:", $mem), $($operand)*, options(nostack)),
                    _ => ::core::arch::asm!(concat!($op, "qword ptr gs:", $mem), $($operand)*, options(nostack)),
                }
            }
        }
    };
}

/// 16-byte operations built on the slot's `cmpxchg16b`: each step is one `gs:`-relative
/// `cmpxchg16b` on the copy of the CPU executing it, so a migration between steps only makes
/// the next compare fail and retry on the new CPU's copy.
#[doc(hidden)]
pub mod gs128 {
    use super::GsOps;
    use crate::scalar::Raw;

    /// Reads the current CPU's 16-byte copy (`cmpxchg16b` with equal old and new values).
    ///
    /// # Safety
    /// `p` is the slot operand of `G`, whose copies are 16-byte aligned.
    #[inline(always)]
    pub unsafe fn load<G: GsOps, R: Raw>(p: usize) -> R {
        // SAFETY: forwarded; storing 0 over 0 leaves the copy unchanged.
        R::from_bits(unsafe { G::cmpxchg16(p, 0, 0) })
    }

    /// Replaces the current CPU's copy `x` with `f(x)`; returns the previous value.
    ///
    /// # Safety
    /// As for [`load`].
    #[inline(always)]
    pub unsafe fn update<G: GsOps, R: Raw>(p: usize, mut f: impl FnMut(R) -> R) -> R {
        // SAFETY: forwarded.
        let mut current = unsafe { G::cmpxchg16(p, 0, 0) };
        loop {
            let new = f(R::from_bits(current)).to_bits();
            // SAFETY: forwarded.
            let previous = unsafe { G::cmpxchg16(p, current, new) };
            if previous == current {
                return R::from_bits(previous);
            }
            current = previous;
        }
    }

    /// The arithmetic of the named operation on 16-byte values.
    #[inline(always)]
    pub fn apply<R: Raw>(op: &str, x: R, v: R) -> R {
        let (a, b) = (x.to_bits(), v.to_bits());
        R::from_bits(match op.as_bytes() {
            b"add" | b"inc" => a.wrapping_add(b),
            b"sub" | b"dec" => a.wrapping_sub(b),
            b"and" => a & b,
            b"or" => a | b,
            b"xor" => a ^ b,
            _ => unreachable!("no 16-byte operation {op}"),
        })
    }
}

/// 16-byte atomics for remote access (`lock cmpxchg16b`).
pub(crate) mod atomic128 {
    use core::arch::asm;

    /// Atomic compare-and-exchange of the 16 bytes at `p`.
    ///
    /// # Safety
    /// `p` is valid for reads and writes and 16-byte aligned.
    #[inline]
    pub unsafe fn cas(p: *mut u128, old: u128, new: u128) -> Result<u128, u128> {
        let (mut lo, mut hi) = (old as u64, (old >> 64) as u64);
        // SAFETY: the caller guarantees a valid, aligned pointer; rbx is saved and restored.
        unsafe {
            asm!(
                "xchg {t}, rbx",
                "lock cmpxchg16b xmmword ptr [{p}]",
                "mov rbx, {t}",
                p = in(reg) p,
                t = inout(reg) new as u64 => _,
                in("rcx") (new >> 64) as u64,
                inout("rax") lo,
                inout("rdx") hi,
                options(nostack),
            );
        }
        let previous = ((hi as u128) << 64) | lo as u128;
        if previous == old { Ok(previous) } else { Err(previous) }
    }

    /// Atomic load of the 16 bytes at `p`.
    ///
    /// # Safety
    /// As for [`cas`] (the location must be writable: `cmpxchg16b` always writes).
    #[inline]
    pub unsafe fn load(p: *const u128) -> u128 {
        // SAFETY: forwarded; comparing with 0 and storing 0 never changes the value.
        match unsafe { cas(p as *mut u128, 0, 0) } {
            Ok(v) | Err(v) => v,
        }
    }
}
