//! The current-CPU operations on a per-CPU `u64` of percpu-rt and of its peers, one exported,
//! never-inlined function each, compiled for a bare-metal target as a static library that
//! `bench-report` disassembles (nothing is linked or run):
//!
//! * `probe_pcpu_<op>`: percpu-rt (`#[percpu]`, its by-value operations);
//! * `probe_arceos_<op>`: the ArceOS `percpu` crate 0.4.0 (`#[def_percpu]`, default features as
//!   an ArceOS kernel uses it: `read_current`, `write_current`, `with_current` for the others);
//! * `probe_ax_<op>`: `ax-percpu` 0.4.24 (`#[def_percpu]`): a scoped `CpuPin` from
//!   `with_cpu_pin`, then, since it has no read-modify-write on scalars, a per-CPU `AtomicU64`
//!   borrowed with `with_current` (its way to a counter an interrupt handler may update too):
//!   `load`, `store`, `fetch_add`, `compare_exchange`, relaxed, as `benches/axpercpu-bench`.

#![no_std]
#![allow(missing_docs)]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// A static library that uses `alloc` needs an allocator; nothing here allocates.
struct NoAlloc;

// SAFETY: never hands out memory (every allocation fails).
unsafe impl core::alloc::GlobalAlloc for NoAlloc {
    unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 {
        core::ptr::null_mut()
    }
    unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
}

#[global_allocator]
static ALLOCATOR: NoAlloc = NoAlloc;

#[percpu_rt::percpu]
static PCPU_COUNTER: u64 = 0;

#[percpu::def_percpu]
static ARCEOS_COUNTER: u64 = 0;

#[ax_percpu::def_percpu]
static AX_ATOMIC: AtomicU64 = AtomicU64::new(0);

macro_rules! probes {
    ($($name:ident($($arg:ident: $t:ty),*) -> $ret:ty = $body:expr;)*) => {$(
        #[unsafe(no_mangle)]
        #[inline(never)]
        pub extern "C" fn $name($($arg: $t),*) -> $ret {
            $body
        }
    )*};
}

/// `f` under ax-percpu's scoped pin (0 when the CPU has no area installed).
#[inline(always)]
fn ax<R: Default>(f: impl FnOnce(&ax_percpu::CpuPin<'_>) -> R) -> R {
    // SAFETY: the probes run with migration excluded (as the crate's contract asks); they are
    // only disassembled.
    unsafe { ax_percpu::with_cpu_pin(f) }.unwrap_or_default()
}

probes! {
    probe_pcpu_read() -> u64 = PCPU_COUNTER.read();
    probe_pcpu_write(v: u64) -> () = PCPU_COUNTER.write(v);
    probe_pcpu_inc() -> () = PCPU_COUNTER.inc();
    probe_pcpu_add(v: u64) -> () = PCPU_COUNTER.add(v);
    probe_pcpu_cmpxchg(old: u64, new: u64) -> u64 = match PCPU_COUNTER.cmpxchg(old, new) {
        Ok(v) | Err(v) => v,
    };

    probe_arceos_read() -> u64 = ARCEOS_COUNTER.read_current();
    probe_arceos_write(v: u64) -> () = ARCEOS_COUNTER.write_current(v);
    probe_arceos_inc() -> () = ARCEOS_COUNTER.with_current(|c| *c = c.wrapping_add(1));
    probe_arceos_add(v: u64) -> () = ARCEOS_COUNTER.with_current(|c| *c = c.wrapping_add(v));
    probe_arceos_cmpxchg(old: u64, new: u64) -> u64 = ARCEOS_COUNTER.with_current(|c| {
        let current = *c;
        if current == old {
            *c = new;
        }
        current
    });

    probe_ax_read() -> u64 = ax(|pin| AX_ATOMIC.with_current(pin, |a| a.load(Relaxed)));
    probe_ax_write(v: u64) -> () = ax(|pin| AX_ATOMIC.with_current(pin, |a| a.store(v, Relaxed)));
    probe_ax_inc() -> () = ax(|pin| AX_ATOMIC.with_current(pin, |a| {
        a.fetch_add(1, Relaxed);
    }));
    probe_ax_add(v: u64) -> () = ax(|pin| AX_ATOMIC.with_current(pin, |a| {
        a.fetch_add(v, Relaxed);
    }));
    probe_ax_cmpxchg(old: u64, new: u64) -> u64 = ax(|pin| AX_ATOMIC.with_current(pin, |a| {
        match a.compare_exchange(old, new, Relaxed, Relaxed) {
            Ok(v) | Err(v) => v,
        }
    }));
}
