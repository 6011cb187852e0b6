//! One exported, never-inlined function per by-value operation, for the codegen check
//! (`examples/kernel-tests/tests/codegen.rs`): it disassembles each kernel and asserts the
//! instruction sequence of every probe (x86_64: one `gs:` instruction; aarch64: `mrs`, `adrp` /
//! `#:lo12:`, one LSE atomic or one exclusive-pair loop; riscv64: `auipc`/`%pcrel_lo`, `add` of
//! `tp` or `gp`, one AMO or one LR/SC loop), none with a call.
//!
//! * `percpu_probe_<op>`: the operation on [`PROBE`], a `u64` static (its template symbol
//!   addressed directly, the per-variable sequences);
//! * `percpu_probe_u8_*`, `_u16_*`, `_u32_*`: narrower statics; `percpu_probe_u128_cmpxchg`
//!   a 16-byte one, on targets with 16-byte atomics (all but riscv64 without Zacas);
//! * `percpu_probe_dyn_*`: a dynamic object's operation (the per-CPU pointer in a register,
//!   after the check that the calling CPU has a unit).
//!
//! [`exercise`] calls every probe on the current CPU and checks what it did, so the probes are
//! both kept in the kernel and run on every CPU of every boot.

use alloc::format;
use alloc::string::String;

use percpu_rt::mode::ByValue;
use percpu_rt::{PerCpuBox, percpu};

/// The `u64` static of the probes.
#[percpu]
pub static PROBE: u64 = 0;

/// The `u8` static of the probes.
#[percpu]
pub static PROBE_U8: u8 = 0;

/// The `u16` static of the probes.
#[percpu]
pub static PROBE_U16: u16 = 0;

/// The `u32` static of the probes.
#[percpu]
pub static PROBE_U32: u32 = 0;

/// The `u128` static of the probes.
#[cfg(any(
    not(any(target_arch = "riscv64", target_arch = "loongarch64")),
    target_feature = "zacas",
    feature = "wide-without-zacas"
))]
#[percpu]
pub static PROBE_U128: u128 = 0;

/// `PROBE_U128.cmpxchg(old, new).is_ok()`
#[cfg(any(
    not(any(target_arch = "riscv64", target_arch = "loongarch64")),
    target_feature = "zacas",
    feature = "wide-without-zacas"
))]
#[unsafe(no_mangle)]
#[inline(never)]
pub fn percpu_probe_u128_cmpxchg(old: u128, new: u128) -> bool {
    PROBE_U128.cmpxchg(old, new).is_ok()
}

macro_rules! probes {
    ($($name:ident($($arg:ident: $t:ty),*) -> $ret:ty = $body:expr;)*) => {
        $(
            #[doc = concat!("`", stringify!($body), "`")]
            #[unsafe(no_mangle)]
            #[inline(never)]
            pub fn $name($($arg: $t),*) -> $ret {
                $body
            }
        )*
    };
}

probes! {
    percpu_probe_read() -> u64 = PROBE.read();
    percpu_probe_write(v: u64) -> () = PROBE.write(v);
    percpu_probe_add(v: u64) -> () = PROBE.add(v);
    percpu_probe_sub(v: u64) -> () = PROBE.sub(v);
    percpu_probe_inc() -> () = PROBE.inc();
    percpu_probe_dec() -> () = PROBE.dec();
    percpu_probe_and(v: u64) -> () = PROBE.and(v);
    percpu_probe_or(v: u64) -> () = PROBE.or(v);
    percpu_probe_xor(v: u64) -> () = PROBE.xor(v);
    percpu_probe_add_return(v: u64) -> u64 = PROBE.add_return(v);
    percpu_probe_xchg(v: u64) -> u64 = PROBE.xchg(v);
    percpu_probe_cmpxchg(old: u64, new: u64) -> bool = PROBE.cmpxchg(old, new).is_ok();
    percpu_probe_u8_add(v: u8) -> () = PROBE_U8.add(v);
    percpu_probe_u8_cmpxchg(old: u8, new: u8) -> bool = PROBE_U8.cmpxchg(old, new).is_ok();
    percpu_probe_u16_xchg(v: u16) -> u16 = PROBE_U16.xchg(v);
    percpu_probe_u32_add_return(v: u32) -> u32 = PROBE_U32.add_return(v);
    percpu_probe_dyn_read(b: &PerCpuBox<u64, ByValue>) -> u64 = b.read();
    percpu_probe_dyn_add(b: &PerCpuBox<u64, ByValue>, v: u64) -> () = b.add(v);
    percpu_probe_dyn_cmpxchg(b: &PerCpuBox<u64, ByValue>, old: u64, new: u64) -> bool =
        b.cmpxchg(old, new).is_ok();
}

/// Compares a probe's result with what it should be.
fn expect<T: PartialEq + core::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("{what} gave {got:?}, expected {want:?}")) }
}

/// Runs every probe once on the current CPU's copies and checks each result.
pub fn exercise() -> Result<(), String> {
    percpu_probe_write(10);
    expect("percpu_probe_read after write(10)", percpu_probe_read(), 10)?;
    percpu_probe_add(5);
    percpu_probe_sub(3);
    percpu_probe_inc();
    percpu_probe_inc();
    percpu_probe_dec();
    expect("add(5), sub(3), inc, inc, dec", percpu_probe_read(), 13)?;
    percpu_probe_or(0b10);
    percpu_probe_xor(0b1);
    percpu_probe_and(0b1110);
    expect("or(2), xor(1), and(14)", percpu_probe_read(), 14)?;
    expect("percpu_probe_add_return(2)", percpu_probe_add_return(2), 16)?;
    expect("percpu_probe_xchg(7)", percpu_probe_xchg(7), 16)?;
    expect("percpu_probe_cmpxchg(7, 9)", percpu_probe_cmpxchg(7, 9), true)?;
    expect("percpu_probe_cmpxchg(7, 1)", percpu_probe_cmpxchg(7, 1), false)?;
    expect("the probe after cmpxchg", percpu_probe_read(), 9)?;

    let before = PROBE_U8.read();
    percpu_probe_u8_add(250);
    expect("percpu_probe_u8_add(250)", PROBE_U8.read(), before.wrapping_add(250))?;
    let now = before.wrapping_add(250);
    expect("percpu_probe_u8_cmpxchg", percpu_probe_u8_cmpxchg(now, 0xA5), true)?;
    expect("a stale percpu_probe_u8_cmpxchg", percpu_probe_u8_cmpxchg(now, 0), false)?;
    PROBE_U16.write(0xBEEF);
    expect("percpu_probe_u16_xchg", percpu_probe_u16_xchg(0x1234), 0xBEEF)?;
    PROBE_U32.write(u32::MAX - 1);
    expect("percpu_probe_u32_add_return(3)", percpu_probe_u32_add_return(3), 1)?;
    #[cfg(any(
        not(any(target_arch = "riscv64", target_arch = "loongarch64")),
        target_feature = "zacas",
        feature = "wide-without-zacas"
    ))]
    {
        let wide = (0xFEED_u128 << 64) | u128::from(u64::MAX);
        PROBE_U128.write(wide);
        expect("percpu_probe_u128_cmpxchg", percpu_probe_u128_cmpxchg(wide, wide + 1), true)?;
        expect("a stale percpu_probe_u128_cmpxchg", percpu_probe_u128_cmpxchg(wide, 0), false)?;
        expect("the u128 probe after cmpxchg", PROBE_U128.read(), 0xFEEE_u128 << 64)?;
    }

    let object = PerCpuBox::<u64, ByValue>::new(40)
        .map_err(|e| format!("allocating a probe object: {e}"))?;
    percpu_probe_dyn_add(&object, 2);
    expect("percpu_probe_dyn_read after dyn_add(2)", percpu_probe_dyn_read(&object), 42)?;
    expect("percpu_probe_dyn_cmpxchg(42, 1)", percpu_probe_dyn_cmpxchg(&object, 42, 1), true)?;
    expect("percpu_probe_dyn_cmpxchg(42, 2)", percpu_probe_dyn_cmpxchg(&object, 42, 2), false)?;
    expect("the dynamic probe object", object.read(), 1)
}
