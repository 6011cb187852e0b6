//! loongarch64's 16-byte atomics: none. LA64 has no 16-byte atomic instruction, so 16-byte
//! per-CPU scalars are a compile error (`HAS_WIDE_ATOMICS`, asserted by every generic path that
//! reaches a 16-byte copy).

use crate::arch::WideOps;

impl WideOps for super::Arch {
    unsafe fn cas16(_p: *mut u128, _old: u128, _new: u128) -> Result<u128, u128> {
        // Every caller is generic over the scalar type and asserts at compile time that the
        // architecture has 16-byte atomics (`percpu_rt::arch::HAS_WIDE_ATOMICS`): a program
        // that would reach this does not compile.
        unreachable!("loongarch64 has no 16-byte atomics")
    }
}
