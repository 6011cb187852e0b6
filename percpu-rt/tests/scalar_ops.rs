//! Every by-value operation on every scalar width, with wrap-around and sign cases, run twice:
//! on the template (from a thread with base 0, as a boot CPU before setup), then, once the
//! machine is booted, on a hosted CPU (through `GS.base`, the kernel's access path). Each check
//! also proves the copies are separate. One test runs both phases in that order: after the boot
//! only the machine's CPUs may touch per-CPU data (the template is revoked).

use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::{CpuId, percpu};

/// Where a check runs: on the template before the boot, or on CPU 1 after it.
#[derive(Clone, Copy)]
enum Phase {
    Template,
    Cpu(&'static Machine),
}

/// Runs `check` in `phase`. On CPU 1 it also checks that the copy started from the declared
/// initial value, ended where the check left it, and that CPU 0's copy was never touched.
macro_rules! on_template_and_cpu {
    ($phase:expr, $var:ident, $t:ty, $init:expr, $check:expr) => {{
        match $phase {
            Phase::Template => {
                $check;
            }
            Phase::Cpu(m) => {
                let cpu1 = CpuId::new(1);
                let last: $t = m.run_on(cpu1, || {
                    assert_eq!($var.read(), $init, "CPU 1 starts from the initial value");
                    $check;
                    $var.read()
                });
                assert_eq!($var.read_on(cpu1), last);
                assert_eq!($var.read_on(CpuId::new(0)), $init, "CPU 0's copy is untouched");
            }
        }
    }};
}

macro_rules! integer_tests {
    ($($name:ident: $t:ty),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[percpu]
            static V: $t = 3;

            fn check() {
                let (min, max) = (<$t>::MIN, <$t>::MAX);
                V.write(3);
                assert_eq!(V.read(), 3);
                // add, sub, inc, dec, with wrap-around at both ends.
                V.write(max);
                V.inc();
                assert_eq!(V.read(), min, "MAX + 1 wraps to MIN");
                V.dec();
                assert_eq!(V.read(), max, "MIN - 1 wraps to MAX");
                V.add(2);
                assert_eq!(V.read(), min.wrapping_add(1));
                V.sub(3);
                assert_eq!(V.read(), max.wrapping_sub(1));
                V.write(10);
                V.add(5);
                V.sub(7);
                assert_eq!(V.read(), 8);
                // The *_return forms return the new value; fetch_add the old one.
                assert_eq!(V.add_return(4), 12);
                assert_eq!(V.sub_return(2), 10);
                assert_eq!(V.inc_return(), 11);
                assert_eq!(V.dec_return(), 10);
                assert_eq!(V.fetch_add(5), 10);
                assert_eq!(V.read(), 15);
                V.write(max);
                assert_eq!(V.add_return(1), min);
                // Bit operations.
                V.write(0b1100);
                V.and(0b1010);
                assert_eq!(V.read(), 0b1000);
                V.or(0b0001);
                assert_eq!(V.read(), 0b1001);
                V.xor(0b1111);
                assert_eq!(V.read(), 0b0110);
                // xchg and cmpxchg, success and failure.
                assert_eq!(V.xchg(42), 0b0110);
                assert_eq!(V.cmpxchg(42, 7), Ok(42));
                assert_eq!(V.read(), 7);
                assert_eq!(V.cmpxchg(42, 9), Err(7));
                assert_eq!(V.read(), 7, "a failed cmpxchg stores nothing");
                V.write(3);
            }

            pub(crate) fn every_operation(phase: Phase) {
                on_template_and_cpu!(phase, V, $t, 3, check());
            }
        }
    )*};
}

macro_rules! signed_tests {
    ($($name:ident: $t:ty),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[percpu]
            static S: $t = -1;

            fn check() {
                S.write(5);
                S.add(-7);
                assert_eq!(S.read(), -2, "negative adds subtract");
                S.sub(-3);
                assert_eq!(S.read(), 1, "negative subs add");
                assert_eq!(S.add_return(-10), -9);
                assert_eq!(S.sub_return(-9), 0);
                assert_eq!(S.dec_return(), -1);
                S.write(<$t>::MIN);
                S.dec();
                assert_eq!(S.read(), <$t>::MAX, "MIN - 1 wraps to MAX");
                S.inc();
                assert_eq!(S.read(), <$t>::MIN, "MAX + 1 wraps to MIN");
                assert_eq!(S.cmpxchg(<$t>::MIN, -5), Ok(<$t>::MIN));
                assert_eq!(S.cmpxchg(<$t>::MIN, 0), Err(-5));
                S.write(-1);
            }

            pub(crate) fn sign_cases(phase: Phase) {
                on_template_and_cpu!(phase, S, $t, -1, check());
            }
        }
    )*};
}

integer_tests!(u8_: u8, u16_: u16, u32_: u32, u64_: u64, u128_: u128, usize_: usize);
integer_tests!(i8_: i8, i16_: i16, i32_: i32, i64_: i64, i128_: i128, isize_: isize);
signed_tests!(i8_signed: i8, i16_signed: i16, i32_signed: i32, i64_signed: i64, i128_signed: i128, isize_signed: isize);

/// A type alias of a scalar is a scalar: the mode comes from the compiler, not the type's text.
type Ticks = core::primitive::u32;

#[percpu]
static ALIASED: Ticks = 1;

fn type_alias_gets_scalar_ops(phase: Phase) {
    on_template_and_cpu!(phase, ALIASED, Ticks, 1, {
        ALIASED.add(2);
        assert_eq!(ALIASED.read(), 3);
        ALIASED.write(1);
    });
}

#[percpu]
static FLAG: bool = false;

fn bool_operations(phase: Phase) {
    on_template_and_cpu!(phase, FLAG, bool, false, {
        FLAG.write(true);
        assert!(FLAG.read());
        FLAG.and(false);
        assert!(!FLAG.read());
        FLAG.or(true);
        assert!(FLAG.read());
        FLAG.xor(true);
        assert!(!FLAG.read());
        assert!(!FLAG.xchg(true));
        assert_eq!(FLAG.cmpxchg(true, false), Ok(true));
        assert_eq!(FLAG.cmpxchg(true, false), Err(false));
        FLAG.write(false);
    });
}

static TARGETS: [u64; 2] = [11, 22];

#[percpu]
static CURSOR: *const u64 = core::ptr::null();

#[percpu]
static MUT_CURSOR: *mut u8 = core::ptr::null_mut();

fn pointer_operations(phase: Phase) {
    let check = || {
        let (a, b) = (&TARGETS[0] as *const u64, &TARGETS[1] as *const u64);
        CURSOR.write(a);
        assert_eq!(CURSOR.read(), a);
        // SAFETY: `a` points into a live static.
        assert_eq!(unsafe { *CURSOR.read() }, 11);
        assert_eq!(CURSOR.xchg(b), a);
        assert_eq!(CURSOR.cmpxchg(b, a), Ok(b));
        assert_eq!(CURSOR.cmpxchg(b, a), Err(a));
        let mut byte = 0u8;
        let p: *mut u8 = &mut byte;
        MUT_CURSOR.write(p);
        assert_eq!(MUT_CURSOR.read(), p);
        MUT_CURSOR.write(core::ptr::null_mut());
        CURSOR.read() as usize
    };
    match phase {
        Phase::Template => assert_eq!(check(), &TARGETS[0] as *const u64 as usize),
        Phase::Cpu(m) => {
            let cpu1 = CpuId::new(1);
            let on_cpu = m.run_on(cpu1, check);
            assert_eq!(CURSOR.read_on(cpu1) as usize, on_cpu);
            assert!(CURSOR.read_on(CpuId::new(0)).is_null(), "CPU 0's copy is untouched");
        }
    }
}

/// Every check of this file, in `phase`.
fn every_check(phase: Phase) {
    u8_::every_operation(phase);
    u16_::every_operation(phase);
    u32_::every_operation(phase);
    u64_::every_operation(phase);
    u128_::every_operation(phase);
    usize_::every_operation(phase);
    i8_::every_operation(phase);
    i16_::every_operation(phase);
    i32_::every_operation(phase);
    i64_::every_operation(phase);
    i128_::every_operation(phase);
    isize_::every_operation(phase);
    i8_signed::sign_cases(phase);
    i16_signed::sign_cases(phase);
    i32_signed::sign_cases(phase);
    i64_signed::sign_cases(phase);
    i128_signed::sign_cases(phase);
    isize_signed::sign_cases(phase);
    type_alias_gets_scalar_ops(phase);
    bool_operations(phase);
    pointer_operations(phase);
}

#[test]
fn every_operation_on_the_template_then_on_a_cpu() {
    every_check(Phase::Template);
    let machine = Machine::boot(MachineConfig::new(2)).expect("boot");
    every_check(Phase::Cpu(machine));
}
