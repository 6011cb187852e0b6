//! loongarch64's current-CPU instruction sequences, as macros shared by the two operand forms:
//! `sym T` names a static's template symbol (the per-variable operations, `static_ops.rs`,
//! expanded in the crate that declares the static), `ptr p` takes a per-CPU pointer in a
//! register (`LocalOps`, `local.rs`). `BASE` below is `$r21` or `$tp` (`registers.rs`). Not
//! public API.
//!
//! | operation | `sym T` | `ptr p` |
//! |---|---|---|
//! | read | `pcalau12i v, %pc_hi20(T); add.d v, v, BASE; ld.d v, v, %pc_lo12(T)` | `add.d v, p, BASE; ld.d v, v, 0` |
//! | write | `pcalau12i a, %pc_hi20(T); add.d a, a, BASE; st.d v, a, %pc_lo12(T)` | `add.d a, p, BASE; st.d v, a, 0` |
//! | read-modify-write | `pcalau12i a, %pc_hi20(T); addi.d a, a, %pc_lo12(T); add.d a, a, BASE` + one AM* on `a` | `add.d a, p, BASE` + one AM* on `a` |
//!
//! The AM* atomics (`.w`, `.d`): `amadd`, `amand`, `amor`, `amxor`, `amswap`; their form is
//! `am<op> rd, rk, rj` (`rd` the old value, `rk` the operand, `rj` the address), and `rd` must
//! differ from `rk` and `rj` (else the instruction is invalid): the sequences without a result
//! write `$zero`, those with one take it in a register the compiler keeps apart from every
//! input (`out`, never `lateout`). `cmpxchg` is an `ll`/`sc` loop (`ll.w` sign-extends, so the
//! expected value is compared sign-extended from its width; its failure exit passes
//! `dbar 0x700`). 8- and 16-bit copies use the
//! aligned word that holds them: `or` and `xor` one `amor.w`/`amxor.w` of the shifted value,
//! `and` one `amand.w` of the shifted value with ones elsewhere, `add`, `xchg` and `cmpxchg` an
//! `ll.w`/`sc.w` loop on the word that changes the copy's bits only. All accesses are relaxed,
//! as Linux's `this_cpu_*` operations are.

/// The address-forming sequences, reads and writes.
///
/// * `@asm sym T; [lines]; operands` / `@asm ptr p; [lines]; operands`: an `asm!` whose first
///   lines leave this CPU's copy's address in `{a}`, then `lines`.
/// * `load LD; sym T | ptr p; v`, `store ST; sym T | ptr p; value`: one
///   `ld.bu`/`ld.hu`/`ld.wu`/`ld.d` or `st.b`/`st.h`/`st.w`/`st.d`.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_la {
    (@asm sym $t:ident; [$($line:expr),*]; $($operands:tt)*) => {
        ::core::arch::asm!(
            "pcalau12i {a}, %pc_hi20({m})", "addi.d {a}, {a}, %pc_lo12({m})",
            concat!("add.d {a}, {a}, ", $crate::__percpu_la_base!()),
            $($line,)* m = sym $t, $($operands)*
        )
    };
    (@asm ptr $p:ident; [$($line:expr),*]; $($operands:tt)*) => {
        ::core::arch::asm!(
            concat!("add.d {a}, {p}, ", $crate::__percpu_la_base!()), $($line,)* p = in(reg) $p,
            $($operands)*
        )
    };
    (load $ld:literal; sym $t:ident; $v:ident) => {
        ::core::arch::asm!(
            "pcalau12i {v}, %pc_hi20({m})", concat!("add.d {v}, {v}, ", $crate::__percpu_la_base!()),
            concat!($ld, " {v}, {v}, %pc_lo12({m})"),
            v = out(reg) $v, m = sym $t, options(nostack, readonly, preserves_flags)
        )
    };
    (load $ld:literal; ptr $p:ident; $v:ident) => {
        ::core::arch::asm!(
            concat!("add.d {v}, {p}, ", $crate::__percpu_la_base!()), concat!($ld, " {v}, {v}, 0"),
            p = in(reg) $p, v = lateout(reg) $v, options(nostack, readonly, preserves_flags)
        )
    };
    (store $st:literal; sym $t:ident; $v:expr) => {
        ::core::arch::asm!(
            "pcalau12i {a}, %pc_hi20({m})", concat!("add.d {a}, {a}, ", $crate::__percpu_la_base!()),
            concat!($st, " {v}, {a}, %pc_lo12({m})"),
            a = out(reg) _, v = in(reg) $v, m = sym $t, options(nostack, preserves_flags)
        )
    };
    (store $st:literal; ptr $p:ident; $v:expr) => {
        ::core::arch::asm!(
            concat!("add.d {a}, {p}, ", $crate::__percpu_la_base!()), concat!($st, " {v}, {a}, 0"),
            a = out(reg) _, p = in(reg) $p, v = in(reg) $v, options(nostack, preserves_flags)
        )
    };
}

/// One AM* atomic on the copy, `SZ` = `w` or `d`: `add`, `sub`, `and`, `or`, `xor` (value, no
/// result: `rd` = `$zero`), `fetch_add` and `xchg` (`value => old`; `old` in an `out` register,
/// apart from the operand and the address, as `amadd rd, rk, rj` requires).
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_la_amo {
    (@amo $op:literal, $sz:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_la!(@asm $k $x; [concat!($op, ".", $sz, " $zero, {v}, {a}")];
            a = out(reg) _, v = in(reg) $v, options(nostack, preserves_flags))
    };
    (add $sz:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_la_amo!(@amo "amadd", $sz; $k $x; $v)
    };
    (sub $sz:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_la_amo!(@amo "amadd", $sz; $k $x; ($v).wrapping_neg())
    };
    (and $sz:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_la_amo!(@amo "amand", $sz; $k $x; $v)
    };
    (or $sz:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_la_amo!(@amo "amor", $sz; $k $x; $v)
    };
    (xor $sz:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_la_amo!(@amo "amxor", $sz; $k $x; $v)
    };
    (fetch_add $sz:literal; $k:ident $x:ident; $v:expr => $o:ident) => {
        $crate::__percpu_la!(@asm $k $x; [concat!("amadd.", $sz, " {o}, {v}, {a}")];
            a = out(reg) _, v = in(reg) $v, o = out(reg) $o, options(nostack, preserves_flags))
    };
    (xchg $sz:literal; $k:ident $x:ident; $v:expr => $o:ident) => {
        $crate::__percpu_la!(@asm $k $x; [concat!("amswap.", $sz, " {o}, {v}, {a}")];
            a = out(reg) _, v = in(reg) $v, o = out(reg) $o, options(nostack, preserves_flags))
    };
}

/// Compare-and-exchange of a `w` or `d` copy (`SZ`), `SX` the signed type of its width: `old`
/// (in: expected, out: previous) and `new`. An `ll`/`sc` loop: `sc` writes 1 to its register on
/// success, 0 when the LL bit was lost (then the loop retries). The exit without `sc` (the value
/// differs) passes `dbar 0x700`, as Linux's `__WEAK_LLSC_MB` and LLVM's own `cmpxchg` do: an `ll`
/// left without its `sc` is fenced from what follows on LoongArch cores with weak LL/SC.
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_la_cas {
    ($sz:literal $sx:ty; $k:ident $x:ident; $o:ident, $new:expr) => {
        $crate::__percpu_la!(@asm $k $x; [
            concat!("2: ll.", $sz, " {o}, {a}, 0"), "bne {o}, {e}, 3f", "move {s}, {n}",
            concat!("sc.", $sz, " {s}, {a}, 0"), "beqz {s}, 2b", "b 4f", "3: dbar 0x700", "4:"];
            a = out(reg) _, o = out(reg) $o, s = out(reg) _, e = in(reg) ($o as $sx as i64 as u64),
            n = in(reg) $new, options(nostack, preserves_flags))
    };
}

/// An 8- or 16-bit copy (`SZ` = `b` or `h`, `MASK` = `0xff` or `0xffff`, `SX` its signed type):
/// the operations of `__percpu_la_amo!` and `cas`, through the aligned word that holds it, the
/// copy's bits shifted into place (`{s}`: the shift, `{k}`: the copy's bits in the word).
#[doc(hidden)]
#[macro_export]
macro_rules! __percpu_la_sub {
    (@word $k:ident $x:ident; [$($line:expr),*]; $($operands:tt)*) => {
        $crate::__percpu_la!(@asm $k $x; [
            "andi {s}, {a}, 3", "slli.d {s}, {s}, 3", "bstrins.d {a}, $zero, 1, 0", $($line),*];
            a = out(reg) _, s = out(reg) _, $($operands)*)
    };
    // `word = word ^ ((f(word) ^ word) & k)`: only the copy's bits change.
    (@loop $k:ident $x:ident; $mask:literal; $f:literal, $v:expr; [$($after:expr),*]; $($o:tt)*) => {
        $crate::__percpu_la_sub!(@word $k $x; [
            "sll.d {v}, {v}, {s}", "sll.d {k}, {k}, {s}", "2: ll.w {o}, {a}, 0", $f,
            "xor {n}, {n}, {o}", "and {n}, {n}, {k}", "xor {n}, {n}, {o}", "sc.w {n}, {a}, 0",
            "beqz {n}, 2b" $(, $after)*];
            v = inout(reg) $v => _, k = inout(reg) $mask as u64 => _, n = out(reg) _, $($o)*
            options(nostack, preserves_flags))
    };
    (@amo $op:literal; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_la_sub!(@word $k $x; ["sll.d {v}, {v}, {s}", concat!($op, " $zero, {v}, {a}")];
            v = inout(reg) $v => _, options(nostack, preserves_flags))
    };
    (add $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_la_sub!(@loop $k $x; $mask; "add.d {n}, {o}, {v}", $v; []; o = out(reg) _,)
    };
    (sub $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_la_sub!(@loop $k $x; $mask; "add.d {n}, {o}, {v}", ($v).wrapping_neg(); [];
            o = out(reg) _,)
    };
    (fetch_add $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr => $old:ident) => {
        $crate::__percpu_la_sub!(@loop $k $x; $mask; "add.d {n}, {o}, {v}", $v;
            ["and {o}, {o}, {k}", "srl.d {o}, {o}, {s}"]; o = out(reg) $old,)
    };
    (xchg $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr => $old:ident) => {
        $crate::__percpu_la_sub!(@loop $k $x; $mask; "move {n}, {v}", $v;
            ["and {o}, {o}, {k}", "srl.d {o}, {o}, {s}"]; o = out(reg) $old,)
    };
    (and $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr) => {
        // Ones everywhere but where the copy's new bits are zero.
        $crate::__percpu_la_sub!(@word $k $x;
            ["sll.d {v}, {v}, {s}", "nor {v}, {v}, $zero", "amand.w $zero, {v}, {a}"];
            v = inout(reg) !($v) & $mask => _, options(nostack, preserves_flags))
    };
    (or $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_la_sub!(@amo "amor.w"; $k $x; ($v) & $mask)
    };
    (xor $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $v:expr) => {
        $crate::__percpu_la_sub!(@amo "amxor.w"; $k $x; ($v) & $mask)
    };
    // Compares and replaces the copy's bits only.
    (cas $sz:literal $mask:literal $sx:ty; $k:ident $x:ident; $o:ident, $new:expr) => {
        $crate::__percpu_la!(@asm $k $x; [
            "andi {s}, {a}, 3", "slli.d {s}, {s}, 3", "bstrins.d {a}, $zero, 1, 0",
            "sll.d {e}, {e}, {s}", "sll.d {v}, {v}, {s}", "sll.d {k}, {k}, {s}",
            "2: ll.w {o}, {a}, 0", "and {n}, {o}, {k}", "bne {n}, {e}, 3f", "xor {n}, {o}, {n}",
            "or {n}, {n}, {v}", "sc.w {n}, {a}, 0", "beqz {n}, 2b", "b 4f", "3: dbar 0x700",
            "4: and {o}, {o}, {k}", "srl.d {o}, {o}, {s}"];
            a = out(reg) _, s = out(reg) _, e = inout(reg) $o & $mask => _,
            v = inout(reg) $new & $mask => _, k = inout(reg) $mask as u64 => _, o = out(reg) $o,
            n = out(reg) _, options(nostack, preserves_flags))
    };
}
