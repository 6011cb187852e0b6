//! Why `inc` and `cmpxchg` of percpu-rt are slower than the `thread_local!` and ArceOS ones in
//! the back-to-back loops of item 1 (section `addressing`, ns/op, on hosted CPU 0, pinned):
//! the same memory incremented through different addressing modes, several counters
//! incremented in turn instead of one, and `cmpxchg` with a register-addressed operand.
//!
//! Each measured iteration depends on the previous one through memory (the same counter is
//! read, changed and written again), so the loops measure the latency of store-to-load
//! forwarding. Recent Intel cores skip that latency for some instruction forms (for example an
//! `inc` whose address is absolute or in a register); the loops here show which forms on the
//! machine that runs them, with the instructions written out in `asm!`.

use bench_harness::clobber;
use core::arch::asm;
use percpu_rt::percpu;

/// A plain (not per-CPU) static, for an `inc [rip + SYM]` without a segment.
static mut PLAIN: u64 = 0;

/// The counter of the register-addressed loops (its own, so the loops do not disturb item 1's).
#[percpu]
static ADDRESSED: u64 = 0;

/// `n` increments of this CPU's copy of `ADDRESSED` through a register holding its address
/// (`inc qword ptr [reg]`: the form ArceOS's `with_current` compiles to).
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C" fn bench_addr_inc_reg(n: u64) {
    let p = ADDRESSED.this_cpu_ptr();
    for _ in 0..n {
        // SAFETY: `p` is this CPU's copy of a `u64`; the calling thread is the only one running
        // this hosted CPU, and only it touches `ADDRESSED`.
        unsafe { asm!("inc qword ptr [{p}]", p = in(reg) p, options(nostack)) };
        clobber();
    }
}

/// `n` increments of a plain static through RIP-relative addressing, no segment.
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C" fn bench_addr_inc_rip_plain(n: u64) {
    for _ in 0..n {
        // SAFETY: `PLAIN` is only ever touched by this loop, run by one thread at a time.
        unsafe { asm!("inc qword ptr [rip + {s}]", s = sym PLAIN, options(nostack)) };
        clobber();
    }
}

/// `n` compare-and-exchanges (`cmpxchg`, no `lock`) on this CPU's copy of `ADDRESSED` through a
/// register holding its address.
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C" fn bench_addr_cmpxchg_reg(n: u64) {
    let p = ADDRESSED.this_cpu_ptr();
    ADDRESSED.write(0);
    for i in 0..n {
        let mut previous = i;
        // SAFETY: as in `bench_addr_inc_reg`.
        unsafe {
            asm!(
                "cmpxchg qword ptr [{p}], {new}",
                p = in(reg) p,
                new = in(reg) i.wrapping_add(1),
                inout("rax") previous,
                options(nostack),
            )
        };
        bench_harness::sink(previous);
        clobber();
    }
}

#[percpu]
static SPREAD0: u64 = 0;
#[percpu]
static SPREAD1: u64 = 0;
#[percpu]
static SPREAD2: u64 = 0;
#[percpu]
static SPREAD3: u64 = 0;
#[percpu]
static SPREAD4: u64 = 0;
#[percpu]
static SPREAD5: u64 = 0;
#[percpu]
static SPREAD6: u64 = 0;
#[percpu]
static SPREAD7: u64 = 0;

thread_local! {
    static TLS_SPREAD: [core::cell::Cell<u64>; 8] = const { [const { core::cell::Cell::new(0) }; 8] };
}

/// About `n` increments (rounded down to a multiple of 8) spread over eight per-CPU counters,
/// each incremented once every eight operations.
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C" fn bench_addr_inc_spread_percpu(n: u64) {
    for _ in 0..n / 8 {
        SPREAD0.inc();
        SPREAD1.inc();
        SPREAD2.inc();
        SPREAD3.inc();
        SPREAD4.inc();
        SPREAD5.inc();
        SPREAD6.inc();
        SPREAD7.inc();
        clobber();
    }
}

/// The same over eight `thread_local!` const counters.
#[inline(never)]
#[unsafe(no_mangle)]
pub extern "C" fn bench_addr_inc_spread_tls(n: u64) {
    TLS_SPREAD.with(|counters| {
        for _ in 0..n / 8 {
            for c in counters {
                c.set(c.get().wrapping_add(1));
            }
            clobber();
        }
    });
}
