//! riscv64's current-CPU instruction sequences, as macros shared by the two operand forms:
//! `sym T` names a static's template symbol (the per-variable operations, `static_ops.rs`,
//! expanded in the crate that declares the static), `ptr p` takes a per-CPU pointer in a
//! register (`PointerOps`, `by_pointer.rs`). `BASE` below is `tp` or `gp` (`registers.rs`). Not
//! public API.
//!
//! | operation | `sym T` | `ptr p` |
//! |---|---|---|
//! | read | `auipc v, %pcrel_hi(T); add v, v, BASE; ld v, %pcrel_lo(1b)(v)` | `add v, p, BASE; ld v, 0(v)` |
//! | write | `auipc a, %pcrel_hi(T); add a, a, BASE; sd v, %pcrel_lo(1b)(a)` | `add a, p, BASE; sd v, 0(a)` |
//! | read-modify-write | `auipc a, %pcrel_hi(T); addi a, a, %pcrel_lo(1b); add a, a, BASE` + one AMO on `(a)` | `add a, p, BASE` + one AMO on `(a)` |
//!
//! The AMOs: `amoadd`, `amoand`, `amoor`, `amoxor`, `amoswap` (`.w`, `.d`; `.b`, `.h` with
//! Zabha); `cmpxchg` is `amocas` with Zacas (`amocas.q` for 16 bytes), an LR/SC loop otherwise.
//! Without Zabha, 8- and 16-bit copies use the aligned word that holds them: `or` and `xor` one
//! `amoor.w`/`amoxor.w` of the shifted value, `and` one `amoand.w` of the shifted value with
//! ones elsewhere, `add`, `xchg` and `cmpxchg` an LR/SC loop on the word that changes the
//! copy's bits only. The extension choice is made when percpu-rt is compiled (target features
//! apply to the whole build). Symbol-addressed sequences are assembled with `.option norelax`:
//! the linker never rewrites them (`registers.rs`: the `gp` rule). All accesses are relaxed, as
//! Linux's `this_cpu_*` operations are. (No `preserves_flags`: RISC-V has no flags.)

/// The address-forming sequences, reads and writes (common to every extension set).
///
/// * `@asm sym T; [lines]; operands` / `@asm ptr p; [lines]; operands`: an `asm!` whose first
///   lines leave this CPU's copy's address in `{a}`, then `lines`.
/// * `load LD; sym T | ptr p; v`, `store ST; sym T | ptr p; value`: one `lbu`/`lhu`/`lwu`/`ld`
///   or `sb`/`sh`/`sw`/`sd`.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rv {
    (@asm sym $t:ident; [$($line:expr),*]; $($operands:tt)*) => {
        ::core::arch::asm!(
            ".option push", ".option norelax", "1: auipc {a}, %pcrel_hi({m})",
            "addi {a}, {a}, %pcrel_lo(1b)", concat!("add {a}, {a}, ", $crate::__percpu_rv_base!()),
            $($line,)* ".option pop", m = sym $t, $($operands)*
        )
    };
    (@asm ptr $p:ident; [$($line:expr),*]; $($operands:tt)*) => {
        ::core::arch::asm!(
            concat!("add {a}, {p}, ", $crate::__percpu_rv_base!()), $($line,)* p = in(reg) $p,
            $($operands)*
        )
    };
    (load $ld:literal; sym $t:ident; $v:ident) => {
        ::core::arch::asm!(
            ".option push", ".option norelax", "1: auipc {v}, %pcrel_hi({m})",
            concat!("add {v}, {v}, ", $crate::__percpu_rv_base!()),
            concat!($ld, " {v}, %pcrel_lo(1b)({v})"), ".option pop",
            v = out(reg) $v, m = sym $t, options(nostack, readonly)
        )
    };
    (load $ld:literal; ptr $p:ident; $v:ident) => {
        ::core::arch::asm!(
            concat!("add {v}, {p}, ", $crate::__percpu_rv_base!()), concat!($ld, " {v}, 0({v})"),
            p = in(reg) $p, v = lateout(reg) $v, options(nostack, readonly)
        )
    };
    (store $st:literal; sym $t:ident; $v:expr) => {
        ::core::arch::asm!(
            ".option push", ".option norelax", "1: auipc {a}, %pcrel_hi({m})",
            concat!("add {a}, {a}, ", $crate::__percpu_rv_base!()),
            concat!($st, " {v}, %pcrel_lo(1b)({a})"), ".option pop",
            a = out(reg) _, v = in(reg) $v, m = sym $t, options(nostack)
        )
    };
    (store $st:literal; ptr $p:ident; $v:expr) => {
        ::core::arch::asm!(
            concat!("add {a}, {p}, ", $crate::__percpu_rv_base!()), concat!($st, " {v}, 0({a})"),
            a = out(reg) _, p = in(reg) $p, v = in(reg) $v, options(nostack)
        )
    };
}

/// One AMO on the copy, `SZ` = `w` or `d` (or `b`, `h` with Zabha): `add`, `sub`, `and`, `or`,
/// `xor` (value, no result), `fetch_add` and `xchg` (`value => old`).
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rv_amo {
    (@amo $op:literal, $sz:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_rv!(@asm $k $x; [concat!($op, ".", $sz, " zero, {v}, ({a})")];
            a = out(reg) _, v = in(reg) $v, options(nostack))
    };
    (add $sz:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_rv_amo!(@amo "amoadd", $sz; $k $x; $v)
    };
    (sub $sz:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_rv_amo!(@amo "amoadd", $sz; $k $x; ($v).wrapping_neg())
    };
    (and $sz:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_rv_amo!(@amo "amoand", $sz; $k $x; $v)
    };
    (or $sz:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_rv_amo!(@amo "amoor", $sz; $k $x; $v)
    };
    (xor $sz:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_rv_amo!(@amo "amoxor", $sz; $k $x; $v)
    };
    (fetch_add $sz:literal; $k:ident $x:ident; $v:expr => $o:ident) => {
        $crate::__percpu_rv!(@asm $k $x; [concat!("amoadd.", $sz, " {o}, {v}, ({a})")];
            a = out(reg) _, v = in(reg) $v, o = lateout(reg) $o, options(nostack))
    };
    (xchg $sz:literal; $k:ident $x:ident; $v:expr => $o:ident) => {
        $crate::__percpu_rv!(@asm $k $x; [concat!("amoswap.", $sz, " {o}, {v}, ({a})")];
            a = out(reg) _, v = in(reg) $v, o = lateout(reg) $o, options(nostack))
    };
}

/// Compare-and-exchange of a `w` or `d` copy (`SZ`), `SX` the signed type of its width: `old`
/// (in: expected, out: previous) and `new`. Zacas: one `amocas`.
#[cfg(target_feature = "zacas")]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rv_cas {
    ($sz:literal $sx:ty; $k:ident $x:ident; $o:ident, $new:expr) => {
        $crate::__percpu_rv!(@asm $k $x; [concat!("amocas.", $sz, " {o}, {n}, ({a})")];
            a = out(reg) _, o = inout(reg) ($o as $sx as i64 as u64) => $o, n = in(reg) $new,
            options(nostack))
    };
    (cas16; $k:ident $x:ident; $lo:ident, $hi:ident, $new:expr) => {
        $crate::__percpu_rv!(@asm $k $x; ["amocas.q a0, a2, ({a})"];
            a = out(reg) _, inout("a0") $lo, inout("a1") $hi, in("a2") $new as u64,
            in("a3") ($new >> 64) as u64, options(nostack))
    };
}

/// Compare-and-exchange of a `w` or `d` copy, without Zacas: an LR/SC loop (`lr.w` sign-extends,
/// so the expected value is compared sign-extended from its width `SX`).
#[cfg(not(target_feature = "zacas"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rv_cas {
    ($sz:literal $sx:ty; $k:ident $x:ident; $o:ident, $new:expr) => {
        $crate::__percpu_rv!(@asm $k $x; [
            concat!("2: lr.", $sz, " {o}, ({a})"), "bne {o}, {e}, 3f",
            concat!("sc.", $sz, " {s}, {n}, ({a})"), "bnez {s}, 2b", "3:"];
            a = out(reg) _, o = out(reg) $o, s = out(reg) _, e = in(reg) ($o as $sx as i64 as u64),
            n = in(reg) $new, options(nostack))
    };
}

/// An 8- or 16-bit copy (`SZ` = `b` or `h`, `MASK` = `0xff` or `0xffff`, `SX` its signed type):
/// the operations of `__percpu_rv_amo!` and `cas`. Zabha: its byte and halfword AMOs (and,
/// with Zacas too, `amocas.b`/`amocas.h`).
#[cfg(target_feature = "zabha")]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rv_sub {
    (cas $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $($args:tt)*) => {
        $crate::__percpu_rv_sub_cas!($sz $mask $sx; $k $x; $($args)*)
    };
    ($op:ident $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $($args:tt)*) => {
        $crate::__percpu_rv_amo!($op $sz; $k $x; $($args)*)
    };
}

/// An 8- or 16-bit copy without Zabha: the aligned word that holds it, the copy's bits shifted
/// into place (`{s}`: the shift, `{k}`: the copy's bits in the word).
#[cfg(not(target_feature = "zabha"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rv_sub {
    (@word $k:ident $x:ident; [$($line:expr),*]; $($operands:tt)*) => {
        $crate::__percpu_rv!(@asm $k $x; [
            "andi {s}, {a}, 3", "slli {s}, {s}, 3", "andi {a}, {a}, -4", $($line),*];
            a = out(reg) _, s = out(reg) _, $($operands)*)
    };
    // `word = word ^ ((f(word) ^ word) & k)`: only the copy's bits change.
    (@loop $k:ident $x:ident; $mask:literal; $f:literal, $v:expr; [$($after:expr),*]; $($o:tt)*) => {
        $crate::__percpu_rv_sub!(@word $k $x; [
            "sll {v}, {v}, {s}", "sll {k}, {k}, {s}", "2: lr.w {o}, ({a})", $f,
            "xor {n}, {n}, {o}", "and {n}, {n}, {k}", "xor {n}, {n}, {o}", "sc.w {n}, {n}, ({a})",
            "bnez {n}, 2b" $(, $after)*];
            v = inout(reg) $v => _, k = inout(reg) $mask as u64 => _, n = out(reg) _, $($o)*
            options(nostack))
    };
    (@amo $op:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_rv_sub!(@word $k $x; ["sll {v}, {v}, {s}", concat!($op, " zero, {v}, ({a})")];
            v = inout(reg) $v => _, options(nostack))
    };
    (add $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_rv_sub!(@loop $k $x; $mask; "add {n}, {o}, {v}", $v; []; o = out(reg) _,)
    };
    (sub $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_rv_sub!(@loop $k $x; $mask; "add {n}, {o}, {v}", ($v).wrapping_neg(); [];
            o = out(reg) _,)
    };
    (fetch_add $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr => $old:ident) => {
        $crate::__percpu_rv_sub!(@loop $k $x; $mask; "add {n}, {o}, {v}", $v;
            ["and {o}, {o}, {k}", "srl {o}, {o}, {s}"]; o = out(reg) $old,)
    };
    (xchg $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr => $old:ident) => {
        $crate::__percpu_rv_sub!(@loop $k $x; $mask; "mv {n}, {v}", $v;
            ["and {o}, {o}, {k}", "srl {o}, {o}, {s}"]; o = out(reg) $old,)
    };
    (and $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr) => {
        // Ones everywhere but where the copy's new bits are zero.
        $crate::__percpu_rv_sub!(@word $k $x; ["sll {v}, {v}, {s}", "not {v}, {v}", "amoand.w zero, {v}, ({a})"];
            v = inout(reg) !($v) & $mask => _, options(nostack))
    };
    (or $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_rv_sub!(@amo "amoor.w"; $k $x; $v)
    };
    (xor $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_rv_sub!(@amo "amoxor.w"; $k $x; $v)
    };
    (cas $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $($args:tt)*) => {
        $crate::__percpu_rv_sub_cas!($sz $mask $sx; $k $x; $($args)*)
    };
}

/// Compare-and-exchange of an 8- or 16-bit copy with Zabha and Zacas: one `amocas.b`/`.h`.
#[cfg(all(target_feature = "zabha", target_feature = "zacas"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rv_sub_cas {
    ($sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $o:ident, $new:expr) => {
        $crate::__percpu_rv_cas!($sz $sx; $k $x; $o, $new)
    };
}

/// Compare-and-exchange of an 8- or 16-bit copy otherwise: an LR/SC loop on its aligned word
/// that compares and replaces the copy's bits only.
#[cfg(not(all(target_feature = "zabha", target_feature = "zacas")))]
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_rv_sub_cas {
    ($sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $o:ident, $new:expr) => {
        $crate::__percpu_rv!(@asm $k $x; [
            "andi {s}, {a}, 3", "slli {s}, {s}, 3", "andi {a}, {a}, -4", "sll {e}, {e}, {s}",
            "sll {v}, {v}, {s}", "sll {k}, {k}, {s}", "2: lr.w {o}, ({a})", "and {n}, {o}, {k}",
            "bne {n}, {e}, 3f", "xor {n}, {o}, {n}", "or {n}, {n}, {v}", "sc.w {n}, {n}, ({a})",
            "bnez {n}, 2b", "3: and {o}, {o}, {k}", "srl {o}, {o}, {s}"];
            a = out(reg) _, s = out(reg) _, e = inout(reg) $o => _, v = inout(reg) $new => _,
            k = inout(reg) $mask as u64 => _, o = out(reg) $o, n = out(reg) _, options(nostack))
    };
}
