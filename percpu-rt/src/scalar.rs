//! Which types get the by-value scalar operations, and how they map to machine words.
//!
//! [`Scalar`] is implemented for every integer type, `bool` and thin raw pointers. It decides
//! which operations exist (never the text of a type: a type alias of `u64` is a `u64`), and maps
//! each value to its [`Raw`] machine word: `u8`, `u16`, `u32`, `u64` or `u128`. Arithmetic is
//! done on the raw word, which is exact for signed types too (two's complement, wrapping).

use core::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

mod sealed {
    pub trait Sealed {}
}

/// A machine word a per-CPU scalar is stored as. Not public API; used by generated code.
///
/// # Safety
///
/// `SIZE` is the size of `Self`, `Self` is a plain integer with no padding, and `atomic_load`
/// reads exactly `SIZE` bytes at the given address.
#[doc(hidden)]
pub unsafe trait Raw: Copy + Eq + sealed::Sealed + 'static {
    /// Size in bytes: 1, 2, 4, 8 or 16.
    const SIZE: usize;
    /// Zero-extends to 128 bits.
    fn to_bits(self) -> u128;
    /// Truncates from 128 bits.
    fn from_bits(bits: u128) -> Self;
    /// Two's-complement wrapping addition.
    fn wrapping_add(self, other: Self) -> Self;
    /// Two's-complement negation.
    fn wrapping_neg(self) -> Self;
    /// Atomic (relaxed) load, for reading another CPU's copy.
    ///
    /// # Safety
    /// `p` is valid for reads of `SIZE` bytes (and writes, for 16 bytes: the architecture's
    /// 16-byte load stores what it read) and aligned to `SIZE`.
    unsafe fn atomic_load(p: *const Self) -> Self;
    /// Atomic (relaxed) store, for writing another CPU's copy.
    ///
    /// # Safety
    /// `p` is valid for writes of `SIZE` bytes and aligned to `SIZE`.
    unsafe fn atomic_store(p: *mut Self, v: Self);
}

macro_rules! raw_word {
    ($t:ty, $atomic:ty) => {
        impl sealed::Sealed for $t {}
        // SAFETY: a primitive integer of that size; the atomic load reads exactly its bytes.
        unsafe impl Raw for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            #[inline(always)]
            fn to_bits(self) -> u128 {
                self as u128
            }
            #[inline(always)]
            fn from_bits(bits: u128) -> Self {
                bits as $t
            }
            #[inline(always)]
            fn wrapping_add(self, other: Self) -> Self {
                <$t>::wrapping_add(self, other)
            }
            #[inline(always)]
            fn wrapping_neg(self) -> Self {
                <$t>::wrapping_neg(self)
            }
            #[inline(always)]
            unsafe fn atomic_load(p: *const Self) -> Self {
                // SAFETY: the caller guarantees a valid, aligned pointer.
                unsafe { <$atomic>::from_ptr(p as *mut $t) }.load(Ordering::Relaxed)
            }
            #[inline(always)]
            unsafe fn atomic_store(p: *mut Self, v: Self) {
                // SAFETY: the caller guarantees a valid, aligned pointer.
                unsafe { <$atomic>::from_ptr(p) }.store(v, Ordering::Relaxed)
            }
        }
    };
}

raw_word!(u8, AtomicU8);
raw_word!(u16, AtomicU16);
raw_word!(u32, AtomicU32);
raw_word!(u64, AtomicU64);

impl sealed::Sealed for u128 {}
// SAFETY: a 16-byte integer; the load uses the architecture's 16-byte compare-and-exchange.
unsafe impl Raw for u128 {
    const SIZE: usize = 16;
    #[inline(always)]
    fn to_bits(self) -> u128 {
        self
    }
    #[inline(always)]
    fn from_bits(bits: u128) -> Self {
        bits
    }
    #[inline(always)]
    fn wrapping_add(self, other: Self) -> Self {
        u128::wrapping_add(self, other)
    }
    #[inline(always)]
    fn wrapping_neg(self) -> Self {
        u128::wrapping_neg(self)
    }
    #[inline(always)]
    unsafe fn atomic_load(p: *const Self) -> Self {
        // SAFETY: forwarded from the caller.
        unsafe { <crate::arch::Arch as crate::arch::WideOps>::load16(p) }
    }
    #[inline(always)]
    unsafe fn atomic_store(p: *mut Self, v: Self) {
        use crate::arch::{Arch, WideOps};
        // SAFETY: forwarded from the caller; each step is one 16-byte compare-and-exchange,
        // retried until it replaced what was there.
        unsafe {
            let mut seen = Arch::load16(p);
            while let Err(actual) = Arch::cas16(p, seen, v) {
                seen = actual;
            }
        }
    }
}

/// Fails to compile, when evaluated for a 16-byte scalar on an architecture without 16-byte
/// atomics (riscv64 without Zacas, loongarch64). Every generic path that reaches a 16-byte copy evaluates it
/// (`const { wide_check::<T>() }`), so the error comes at the first use of such a variable.
pub(crate) const fn wide_check<T: Scalar>() {
    assert!(
        <T::Raw as Raw>::SIZE != 16 || crate::arch::HAS_WIDE_ATOMICS,
        "a 16-byte per-CPU scalar (u128, i128) needs 16-byte atomics, which this target lacks \
         (riscv64 has them with Zacas: build with -C target-feature=+zacas; loongarch64 has \
         none); or keep the value \
         in two 8-byte per-CPU variables"
    );
}

/// A type whose per-CPU variables are accessed by value: `read`, `write`, `xchg`, `cmpxchg`
/// (and, for [`Integer`] and [`Bitwise`] types, arithmetic and bit operations), each one
/// instruction on the current CPU on x86_64.
///
/// Implemented for every integer type, `bool`, `*const T` and `*mut T`. A `#[percpu]` static of
/// a `Scalar` type gets the by-value API ([`mode::ByValue`](crate::mode::ByValue)) and no
/// references: a `&u64` to a copy that an interrupt handler may `add` to would be unsound.
///
/// # Safety
///
/// `into_raw`/`from_raw` are a lossless round trip and `Self` has the size and alignment of
/// `Self::Raw`.
pub unsafe trait Scalar: Copy + sealed::Sealed + 'static {
    /// The machine word this type is stored as.
    #[doc(hidden)]
    type Raw: Raw;
    /// The machine word for `self`.
    #[doc(hidden)]
    fn into_raw(self) -> Self::Raw;
    /// The value for a machine word produced by [`Scalar::into_raw`] (or by arithmetic on one,
    /// for [`Integer`] types, or by bit operations, for [`Bitwise`] types).
    #[doc(hidden)]
    fn from_raw(raw: Self::Raw) -> Self;
}

/// Integer types: `add`, `sub`, `inc`, `dec` and their `*_return` forms (wrapping).
pub trait Integer: Scalar {}

/// Types with bitwise `and`, `or` and `xor`: the integers and `bool`.
pub trait Bitwise: Scalar {}

macro_rules! integer {
    ($($t:ty => $raw:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        // SAFETY: same size and alignment as the raw word; `as` casts round-trip exactly.
        unsafe impl Scalar for $t {
            type Raw = $raw;
            #[inline(always)]
            fn into_raw(self) -> $raw {
                self as $raw
            }
            #[inline(always)]
            fn from_raw(raw: $raw) -> Self {
                raw as $t
            }
        }
        impl Integer for $t {}
        impl Bitwise for $t {}
    )*};
}

integer!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, i128 => u128);
#[cfg(target_pointer_width = "64")]
integer!(usize => u64, isize => u64);
#[cfg(target_pointer_width = "32")]
integer!(usize => u32, isize => u32);

// The unsigned types are their own raw words.
macro_rules! unsigned {
    ($($t:ty),*) => {$(
        // SAFETY: the type is its own raw word.
        unsafe impl Scalar for $t {
            type Raw = $t;
            #[inline(always)]
            fn into_raw(self) -> $t {
                self
            }
            #[inline(always)]
            fn from_raw(raw: $t) -> Self {
                raw
            }
        }
        impl Integer for $t {}
        impl Bitwise for $t {}
    )*};
}
unsigned!(u8, u16, u32, u64, u128);

impl sealed::Sealed for bool {}
// SAFETY: `bool` is one byte, 0 or 1; `from_raw` maps any byte to a valid bool.
unsafe impl Scalar for bool {
    type Raw = u8;
    #[inline(always)]
    fn into_raw(self) -> u8 {
        self as u8
    }
    #[inline(always)]
    fn from_raw(raw: u8) -> Self {
        raw != 0
    }
}
impl Bitwise for bool {}

#[cfg(target_pointer_width = "64")]
type PtrRaw = u64;
#[cfg(target_pointer_width = "32")]
type PtrRaw = u32;

impl<T: 'static> sealed::Sealed for *const T {}
impl<T: 'static> sealed::Sealed for *mut T {}
// SAFETY: thin pointers have the size of the pointer-width integer; the address round-trips
// and the provenance is exposed so that the pointer can be rebuilt.
unsafe impl<T: 'static> Scalar for *const T {
    type Raw = PtrRaw;
    #[inline(always)]
    fn into_raw(self) -> PtrRaw {
        self.expose_provenance() as PtrRaw
    }
    #[inline(always)]
    fn from_raw(raw: PtrRaw) -> Self {
        core::ptr::with_exposed_provenance(raw as usize)
    }
}
// SAFETY: as for `*const T`.
unsafe impl<T: 'static> Scalar for *mut T {
    type Raw = PtrRaw;
    #[inline(always)]
    fn into_raw(self) -> PtrRaw {
        self.expose_provenance() as PtrRaw
    }
    #[inline(always)]
    fn from_raw(raw: PtrRaw) -> Self {
        core::ptr::with_exposed_provenance_mut(raw as usize)
    }
}
