//! aarch64's current-CPU instruction sequences, as macros shared by the two operand forms:
//! `sym T` names a static's template symbol (the per-variable operations, `static_ops.rs`,
//! expanded in the crate that declares the static), `ptr p` takes a per-CPU pointer in a
//! register (`PointerOps`, `by_pointer.rs`). Not public API.
//!
//! Every sequence forms this CPU's copy's address first, then accesses it with exactly one
//! single-copy-atomic access (see the module documentation for why that needs no pin):
//!
//! | operation | `sym T` | `ptr p` |
//! |---|---|---|
//! | read | `mrs a, tpidr; adrp t, T; add a, a, t; ldr v, [a, #:lo12:T]` | `mrs a, tpidr; ldr v, [p, a]` |
//! | write | the same with `str` | `mrs a, tpidr; str v, [p, a]` |
//! | read-modify-write | `mrs a, tpidr; adrp t, T; add t, t, #:lo12:T; add a, a, t` + one atomic on `[a]` | `mrs a, tpidr; add a, a, p` + one atomic on `[a]` |
//!
//! The atomic is LSE when the build has the `lse` target feature (`stadd`, `stclr`, `stset`,
//! `steor`, `ldadd`, `swp`, `cas`, `casp`), an exclusive load/store loop otherwise (`ldxr`/`stxr`,
//! `ldxp`/`stxp`). The choice is made when percpu-rt is compiled (target features apply to the
//! whole build). All accesses are relaxed, as Linux's `this_cpu_*` operations are.

/// The address-forming sequences, reads and writes (common to LSE and exclusive-pair builds).
///
/// * `@asm sym T; [lines]; operands` / `@asm ptr p; [lines]; operands`: an `asm!` whose first
///   lines leave this CPU's copy's address in `{a}`, then `lines`.
/// * `load SFX R; sym T | ptr p; v` and `store SFX R; sym T | ptr p; value`: `ldr`/`str` with
///   the size suffix `SFX` (`b`, `h`, or none) on a `w` or `x` register (`R`).
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_a64 {
    (@asm sym $t:ident; [$($line:expr),*]; $($operands:tt)*) => {
        ::core::arch::asm!(
            $crate::__percpu_a64_base!(), "adrp {t}, {m}", "add {t}, {t}, #:lo12:{m}",
            "add {a}, {a}, {t}", $($line,)* t = out(reg) _, m = sym $t, $($operands)*
        )
    };
    (@asm ptr $p:ident; [$($line:expr),*]; $($operands:tt)*) => {
        ::core::arch::asm!(
            $crate::__percpu_a64_base!(), "add {a}, {a}, {p}", $($line,)* p = in(reg) $p,
            $($operands)*
        )
    };
    (load $sfx:literal $r:literal; sym $t:ident; $v:ident) => {
        ::core::arch::asm!(
            $crate::__percpu_a64_base!(), "adrp {t}, {m}", "add {a}, {a}, {t}",
            concat!("ldr", $sfx, " {v:", $r, "}, [{a}, #:lo12:{m}]"),
            a = out(reg) _, t = out(reg) _, v = lateout(reg) $v, m = sym $t,
            options(nostack, readonly, preserves_flags)
        )
    };
    (load $sfx:literal $r:literal; ptr $p:ident; $v:ident) => {
        ::core::arch::asm!(
            $crate::__percpu_a64_base!(), concat!("ldr", $sfx, " {v:", $r, "}, [{p}, {a}]"),
            a = out(reg) _, p = in(reg) $p, v = lateout(reg) $v,
            options(nostack, readonly, preserves_flags)
        )
    };
    (store $sfx:literal $r:literal; sym $t:ident; $v:expr) => {
        ::core::arch::asm!(
            $crate::__percpu_a64_base!(), "adrp {t}, {m}", "add {a}, {a}, {t}",
            concat!("str", $sfx, " {v:", $r, "}, [{a}, #:lo12:{m}]"),
            a = out(reg) _, t = out(reg) _, v = in(reg) $v, m = sym $t,
            options(nostack, preserves_flags)
        )
    };
    (store $sfx:literal $r:literal; ptr $p:ident; $v:expr) => {
        ::core::arch::asm!(
            $crate::__percpu_a64_base!(), concat!("str", $sfx, " {v:", $r, "}, [{p}, {a}]"),
            a = out(reg) _, p = in(reg) $p, v = in(reg) $v, options(nostack, preserves_flags)
        )
    };
}

/// The atomic read-modify-writes on this CPU's copy, LSE form: `OP SFX R; sym T | ptr p; ..`
/// with `OP` one of `add`, `sub`, `and`, `or`, `xor` (value `v`, no result), `fetch_add`
/// (`v => old`), `xchg` (`v => old`), `cas` (`old_in_out, new`) or `cas16` (`lo, hi, new`).
#[cfg(target_feature = "lse")]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_a64_amo {
    (@st $op:literal, $sfx:literal $r:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_a64!(@asm $k $x; [concat!($op, $sfx, " {v:", $r, "}, [{a}]")];
            a = out(reg) _, v = in(reg) $v, options(nostack, preserves_flags))
    };
    (add $sfx:literal $r:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_a64_amo!(@st "stadd", $sfx $r; $k $x; $v)
    };
    (sub $sfx:literal $r:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_a64_amo!(@st "stadd", $sfx $r; $k $x; ($v).wrapping_neg())
    };
    (and $sfx:literal $r:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_a64_amo!(@st "stclr", $sfx $r; $k $x; !($v))
    };
    (or $sfx:literal $r:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_a64_amo!(@st "stset", $sfx $r; $k $x; $v)
    };
    (xor $sfx:literal $r:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_a64_amo!(@st "steor", $sfx $r; $k $x; $v)
    };
    (fetch_add $sfx:literal $r:literal; $k:ident $x:ident; $v:expr => $o:ident) => {
        $crate::__percpu_a64!(@asm $k $x; [concat!("ldadd", $sfx, " {v:", $r, "}, {o:", $r, "}, [{a}]")];
            a = out(reg) _, v = in(reg) $v, o = lateout(reg) $o, options(nostack, preserves_flags))
    };
    (xchg $sfx:literal $r:literal; $k:ident $x:ident; $v:expr => $o:ident) => {
        $crate::__percpu_a64!(@asm $k $x; [concat!("swp", $sfx, " {v:", $r, "}, {o:", $r, "}, [{a}]")];
            a = out(reg) _, v = in(reg) $v, o = lateout(reg) $o, options(nostack, preserves_flags))
    };
    (cas $sfx:literal $r:literal; $k:ident $x:ident; $o:ident, $new:expr) => {
        $crate::__percpu_a64!(@asm $k $x; [concat!("cas", $sfx, " {o:", $r, "}, {n:", $r, "}, [{a}]")];
            a = out(reg) _, o = inout(reg) $o, n = in(reg) $new, options(nostack, preserves_flags))
    };
    (cas16; $k:ident $x:ident; $lo:ident, $hi:ident, $new:expr) => {
        $crate::__percpu_a64!(@asm $k $x; ["casp x0, x1, x2, x3, [{a}]"];
            a = out(reg) _, inout("x0") $lo, inout("x1") $hi, in("x2") $new as u64,
            in("x3") ($new >> 64) as u64, options(nostack, preserves_flags))
    };
}

/// The atomic read-modify-writes on this CPU's copy, exclusive-pair form (no LSE): the same
/// operations as the LSE definition, each one `ldxr`/`stxr` loop.
#[cfg(not(target_feature = "lse"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_a64_amo {
    (@loop $op:literal, $sfx:literal $r:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_a64!(@asm $k $x; [
            concat!("2: ldxr", $sfx, " {o:", $r, "}, [{a}]"),
            concat!($op, " {o:", $r, "}, {o:", $r, "}, {v:", $r, "}"),
            concat!("stxr", $sfx, " {s:w}, {o:", $r, "}, [{a}]"), "cbnz {s:w}, 2b"];
            a = out(reg) _, o = out(reg) _, s = out(reg) _, v = in(reg) $v, options(nostack))
    };
    (add $sfx:literal $r:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_a64_amo!(@loop "add", $sfx $r; $k $x; $v)
    };
    (sub $sfx:literal $r:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_a64_amo!(@loop "sub", $sfx $r; $k $x; $v)
    };
    (and $sfx:literal $r:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_a64_amo!(@loop "and", $sfx $r; $k $x; $v)
    };
    (or $sfx:literal $r:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_a64_amo!(@loop "orr", $sfx $r; $k $x; $v)
    };
    (xor $sfx:literal $r:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_a64_amo!(@loop "eor", $sfx $r; $k $x; $v)
    };
    (fetch_add $sfx:literal $r:literal; $k:ident $x:ident; $v:expr => $o:ident) => {
        $crate::__percpu_a64!(@asm $k $x; [
            concat!("2: ldxr", $sfx, " {o:", $r, "}, [{a}]"),
            concat!("add {n:", $r, "}, {o:", $r, "}, {v:", $r, "}"),
            concat!("stxr", $sfx, " {s:w}, {n:", $r, "}, [{a}]"), "cbnz {s:w}, 2b"];
            a = out(reg) _, o = out(reg) $o, n = out(reg) _, s = out(reg) _, v = in(reg) $v,
            options(nostack))
    };
    (xchg $sfx:literal $r:literal; $k:ident $x:ident; $v:expr => $o:ident) => {
        $crate::__percpu_a64!(@asm $k $x; [
            concat!("2: ldxr", $sfx, " {o:", $r, "}, [{a}]"),
            concat!("stxr", $sfx, " {s:w}, {v:", $r, "}, [{a}]"), "cbnz {s:w}, 2b"];
            a = out(reg) _, o = out(reg) $o, s = out(reg) _, v = in(reg) $v,
            options(nostack, preserves_flags))
    };
    (cas $sfx:literal $r:literal; $k:ident $x:ident; $o:ident, $new:expr) => {
        $crate::__percpu_a64!(@asm $k $x; [
            concat!("2: ldxr", $sfx, " {o:", $r, "}, [{a}]"), concat!("cmp {o:", $r, "}, {e:", $r, "}"),
            "b.ne 3f", concat!("stxr", $sfx, " {s:w}, {n:", $r, "}, [{a}]"), "cbnz {s:w}, 2b", "3:"];
            a = out(reg) _, o = out(reg) $o, s = out(reg) _, e = in(reg) $o, n = in(reg) $new,
            options(nostack))
    };
    // A failed compare stores the pair it read back: only a successful `stxp` makes the
    // `ldxp` single-copy atomic.
    (cas16; $k:ident $x:ident; $lo:ident, $hi:ident, $new:expr) => {
        $crate::__percpu_a64!(@asm $k $x; [
            "2: ldxp {lo}, {hi}, [{a}]", "cmp {lo}, {el}", "ccmp {hi}, {eh}, #0, eq", "b.ne 3f",
            "stxp {s:w}, {nl}, {nh}, [{a}]", "cbnz {s:w}, 2b", "b 4f",
            "3: stxp {s:w}, {lo}, {hi}, [{a}]", "cbnz {s:w}, 2b", "4:"];
            a = out(reg) _, lo = out(reg) $lo, hi = out(reg) $hi, s = out(reg) _,
            el = in(reg) $lo, eh = in(reg) $hi, nl = in(reg) $new as u64,
            nh = in(reg) ($new >> 64) as u64, options(nostack))
    };
}
