//! The baselines kernel authors reach for instead of a per-CPU variable, measured with exactly
//! the loops and probes of the per-CPU subjects (`bench_harness::current_cpu_ops!`):
//!
//! * `thread_local!` with a `const` initializer (`Cell<u64>`): no initialisation check, one
//!   `fs:`-relative instruction per access in an executable;
//! * `thread_local!` with a lazy initializer (`Cell<u64>`): a state check on every access;
//! * one `AtomicU64` shared by all threads (relaxed ordering, `fetch_add` for the additions,
//!   `compare_exchange` for cmpxchg).
//!
//! This file is compiled into each benchmark binary (`#[path]`), not into a library: a
//! `thread_local!` used from a library crate compiles to the slower general-dynamic TLS
//! sequence, and the baselines must get what an executable's own code gets.

use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

thread_local! {
    /// The `const`-initialised thread-local counter.
    static TLS_CONST: Cell<u64> = const { Cell::new(0) };
    /// The lazily initialised thread-local counter (deliberately not `const`: this is the
    /// lazy form, with its state check on every access).
    #[allow(clippy::missing_const_for_thread_local)]
    static TLS_LAZY: Cell<u64> = Cell::new(0);
}

/// An atomic alone on its pair of cache lines (no false sharing with anything else).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded(pub AtomicU64);

/// The counter every thread shares.
pub static SHARED: Padded = Padded(AtomicU64::new(0));

bench_harness::current_cpu_ops! {
    mod tls_const = "thread_local! const";
    read: || TLS_CONST.get(),
    write: |v| TLS_CONST.set(v),
    inc: || TLS_CONST.set(TLS_CONST.get().wrapping_add(1)),
    add: |v: u64| TLS_CONST.set(TLS_CONST.get().wrapping_add(v)),
    cmpxchg: |old, new| {
        let current = TLS_CONST.get();
        if current == old {
            TLS_CONST.set(new);
        }
        current
    },
}

bench_harness::current_cpu_ops! {
    mod tls_lazy = "thread_local! lazy";
    read: || TLS_LAZY.get(),
    write: |v| TLS_LAZY.set(v),
    inc: || TLS_LAZY.set(TLS_LAZY.get().wrapping_add(1)),
    add: |v: u64| TLS_LAZY.set(TLS_LAZY.get().wrapping_add(v)),
    cmpxchg: |old, new| {
        let current = TLS_LAZY.get();
        if current == old {
            TLS_LAZY.set(new);
        }
        current
    },
}

bench_harness::current_cpu_ops! {
    mod atomic = "shared AtomicU64";
    read: || SHARED.0.load(Relaxed),
    write: |v| SHARED.0.store(v, Relaxed),
    inc: || {
        SHARED.0.fetch_add(1, Relaxed);
    },
    add: |v| {
        SHARED.0.fetch_add(v, Relaxed);
    },
    cmpxchg: |old, new| match SHARED.0.compare_exchange(old, new, Relaxed, Relaxed) {
        Ok(previous) | Err(previous) => previous,
    },
}
