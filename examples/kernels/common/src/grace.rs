//! The kernels' pinned sections and grace period ([`percpu_rt::grace`]): every CPU counts its
//! sections in a per-CPU word, and [`GRACE`] waits for every CPU that was inside one to leave
//! it. These kernels have no scheduler, so the sections pin nothing; they are counted only so
//! that a `PerCpuRef` can switch to atomic mode.
//!
//! The word holds the nesting count (low 16 bits) and the number of outermost sections ended
//! (above them). A section starts with a sequentially consistent read-modify-write of the word
//! and a full fence, so no inter-processor interrupt is needed: the grace period's fence and
//! its reads of the words, against the sections' fences, rule out a section that neither is
//! seen by the grace period nor sees what was stored before it (the store-buffering pattern).
//!
//! The word is reached through the base register directly, not through percpu-rt's by-value
//! operations: on aarch64 those pin the CPU through the platform's `preempt_disable`, which
//! is this code.

use core::sync::atomic::{AtomicU64, Ordering, fence};
use percpu_rt::grace::GracePeriod;
use percpu_rt::percpu;

/// The nesting count's bits of a word.
const NEST_MASK: u64 = 0xffff;
/// One ended outermost section, in a word.
const GENERATION: u64 = NEST_MASK + 1;

/// This CPU's pinned sections.
#[percpu]
static SECTIONS: AtomicU64 = AtomicU64::new(0);

/// The current CPU's word, or `None` before it loaded its base register (no unit: it runs no
/// per-CPU reader yet).
fn this_cpu_word() -> Option<&'static AtomicU64> {
    let base = percpu_rt::arch::read_base();
    if base == 0 {
        return None;
    }
    let copy = (SECTIONS.per_cpu_ptr() as usize).wrapping_add(base) as *const AtomicU64;
    // SAFETY: a loaded base register holds this CPU's offset, so `copy` is this CPU's copy of
    // SECTIONS in its unit, which lives as long as the kernel; only atomics reach it.
    Some(unsafe { &*copy })
}

/// Enters a pinned section on this CPU (the platform's `preempt_disable`).
pub fn enter() {
    if let Some(word) = this_cpu_word() {
        word.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }
}

/// Leaves the innermost pinned section (the platform's `preempt_enable`).
pub fn exit() {
    if let Some(word) = this_cpu_word() {
        let before = word.fetch_sub(1, Ordering::Release);
        if before & NEST_MASK == 1 {
            word.fetch_add(GENERATION, Ordering::Release);
        }
    }
}

/// The kernels' grace period.
#[derive(Debug)]
pub struct KernelGrace;

impl GracePeriod for KernelGrace {
    fn synchronize(&self) {
        fence(Ordering::SeqCst);
        for cpu in percpu_rt::possible_cpus() {
            let word = SECTIONS.remote(cpu);
            let seen = word.load(Ordering::SeqCst);
            if seen & NEST_MASK == 0 {
                continue;
            }
            loop {
                let now = word.load(Ordering::Acquire);
                if now & NEST_MASK == 0 || now >> 16 != seen >> 16 {
                    break;
                }
                core::hint::spin_loop();
            }
        }
        fence(Ordering::SeqCst);
    }

    fn in_pinned_section(&self) -> bool {
        this_cpu_word().is_some_and(|w| w.load(Ordering::Relaxed) & NEST_MASK != 0)
    }
}

/// The registered instance.
pub static GRACE: KernelGrace = KernelGrace;
