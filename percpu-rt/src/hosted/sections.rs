//! The hosted machine's platform and grace period: pinned sections counted per thread, and a
//! [`GracePeriod`] that waits for them with `membarrier(2)` ordering the readers.
//!
//! Threads never migrate between hosted CPUs, so the preemption hooks need not pin anything;
//! they only count, so that a grace period can see who is inside a section. Every thread that
//! enters a section gets a *word* (nesting count in the low 16 bits, the number of outermost
//! sections it ended above them), registered once in a list the grace period scans, and given
//! back when the thread ends. Only its thread writes a word, with plain stores (no
//! read-modify-write, no fence): a section costs a thread-local load and two stores at each
//! end. An interrupt-like signal handler on the same thread nests inside the interrupted
//! section and puts the count back before returning, so a stale store after it is still right.
//!
//! [`HostedGrace::synchronize`] orders itself against those plain stores the way user-space
//! RCU does (liburcu's `membarrier` flavour): `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`
//! runs a full barrier on every thread of the process that is running (and one that is not
//! runs one when it is switched in), so a section that began before the call is in the
//! snapshot, and one that begins after it sees what the caller stored before. It then waits
//! for every word that was inside a section to be outside, or to have ended a section since.
//!
//! Threads spawned by a CPU thread share its CPU (`hosted` module documentation); they have
//! words of their own, so their sections are seen too.

use crate::grace::GracePeriod;
use crate::platform::Platform;
use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering, compiler_fence, fence};
use std::boxed::Box;
use std::sync::Mutex;
use std::vec::Vec;

/// The nesting count's bits of a word.
const NEST_MASK: u64 = 0xffff;
/// One ended outermost section, in a word.
const GENERATION: u64 = NEST_MASK + 1;

/// One thread's sections, on cache lines of its own (threads on other cores write theirs at
/// every section).
#[repr(align(128))]
struct Word {
    /// Nesting count (low 16 bits) and generation (the rest).
    value: AtomicU64,
    /// Whether a live thread owns the word.
    in_use: AtomicBool,
}

/// Every word ever handed out (free ones are reused); leaked, so `'static`.
static WORDS: Mutex<Vec<&'static Word>> = Mutex::new(Vec::new());

std::thread_local! {
    /// The calling thread's word, once it has one: a `const` thread-local without a
    /// destructor, so reading it is one `fs:`-relative load.
    static WORD: Cell<Option<&'static Word>> = const { Cell::new(None) };
    /// Gives the word back when the thread ends (touched once, when the word is claimed, so
    /// that its destructor is registered).
    static OWNER: Owner = const { Owner };
}

/// Its destructor gives the thread's word back.
struct Owner;

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(word) = WORD.with(Cell::take) {
            // A thread that ends inside a section (a guard forgotten) has left it.
            let value = word.value.load(Ordering::Relaxed);
            word.value.store((value & !NEST_MASK) + GENERATION, Ordering::Release);
            word.in_use.store(false, Ordering::Release);
        }
    }
}

/// Whether the hosted platform is the registered one, so that the runtime's own readers
/// (`PerCpuRef`) may count their sections here directly instead of through the platform.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Registers the hosted platform (and, where `membarrier` is available, the grace period);
/// whether the platform is the hosted one.
pub(crate) fn register() -> bool {
    if crate::set_platform(&HOSTED_PLATFORM).is_err() {
        return false;
    }
    ACTIVE.store(true, Ordering::Release);
    if HostedGrace::available() {
        let _ = crate::grace::set_grace_period(&HOSTED_GRACE);
    }
    true
}

/// The hosted platform's `preempt_disable`, inlined, if it is the registered platform.
#[inline(always)]
pub(crate) fn try_enter() -> bool {
    let active = ACTIVE.load(Ordering::Relaxed);
    if active {
        enter();
    }
    active
}

/// Whether the hosted platform is the registered one (it never stops being).
#[inline(always)]
pub(crate) fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// The hosted platform's `preempt_enable`, inlined (after [`try_enter`] returned `true`).
#[inline(always)]
pub(crate) fn exit_entered() {
    exit();
}

/// The calling thread's word, handed out on its first section; `None` once its thread-locals
/// are being destroyed (its last destructors run no per-CPU readers).
#[inline(always)]
fn word() -> Option<&'static Word> {
    match WORD.with(Cell::get) {
        Some(word) => Some(word),
        None => claim_for_thread(),
    }
}

/// Claims a word for the calling thread.
#[cold]
fn claim_for_thread() -> Option<&'static Word> {
    OWNER.try_with(|_| ()).ok()?;
    let word = claim();
    WORD.with(|w| w.set(Some(word)));
    Some(word)
}

/// A free word, or a new one.
#[cold]
fn claim() -> &'static Word {
    let mut words = WORDS.lock().unwrap_or_else(|e| e.into_inner());
    for &word in words.iter() {
        if word.in_use.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return word;
        }
    }
    let word: &'static Word =
        Box::leak(Box::new(Word { value: AtomicU64::new(0), in_use: AtomicBool::new(true) }));
    words.push(word);
    word
}

/// Enters a pinned section on the calling thread.
#[inline(always)]
fn enter() {
    // A thread whose thread-locals are already destroyed (its last destructors) has no word:
    // its sections are not seen, and it runs no per-CPU reader any more.
    if let Some(word) = word() {
        let value = word.value.load(Ordering::Relaxed);
        word.value.store(value + 1, Ordering::Relaxed);
        // Keeps the compiler from moving the section's accesses above the store; the
        // processor's side is the grace period's `membarrier`.
        compiler_fence(Ordering::SeqCst);
    }
}

/// Leaves the innermost pinned section of the calling thread.
#[inline(always)]
fn exit() {
    if let Some(word) = word() {
        let value = word.value.load(Ordering::Relaxed);
        let next = if value & NEST_MASK == 1 {
            (value & !NEST_MASK) + GENERATION
        } else {
            value.wrapping_sub(1)
        };
        // Release: everything the section did happens before a grace period that sees this.
        word.value.store(next, Ordering::Release);
    }
}

/// The hosted platform: no pinning needed (threads never migrate between hosted CPUs), no
/// interrupts to mask; the preemption hooks count the thread's sections for [`HostedGrace`].
#[derive(Debug)]
pub(crate) struct HostedPlatform;

// SAFETY: hosted CPU threads never move to another CPU (a thread's base register is its CPU's
// until it ends) and no interrupt handler touches per-CPU data, as for `NoopPlatform`; the
// hooks only count sections.
unsafe impl Platform for HostedPlatform {
    #[inline]
    fn preempt_disable(&self) {
        enter();
    }
    #[inline]
    fn preempt_enable(&self) {
        exit();
    }
    fn irq_save(&self) -> usize {
        0
    }
    fn irq_restore(&self, _saved: usize) {}
    fn pinned(&self) -> Option<bool> {
        Some(true)
    }
}

static HOSTED_PLATFORM: HostedPlatform = HostedPlatform;

/// `membarrier(2)` commands (`linux/membarrier.h`).
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

/// Runs `membarrier(cmd)`; whether the kernel did.
fn membarrier(cmd: libc::c_long) -> bool {
    // SAFETY: membarrier takes no pointers; it only issues barriers (or registers the process
    // for them).
    unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0, 0) == 0 }
}

/// The hosted grace period (see the module documentation).
#[derive(Debug)]
pub(crate) struct HostedGrace;

impl HostedGrace {
    /// Registers the process for expedited barriers; whether the kernel allows them (without
    /// them the hosted machine registers no grace period).
    pub(crate) fn available() -> bool {
        membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)
    }
}

impl GracePeriod for HostedGrace {
    fn synchronize(&self) {
        fence(Ordering::SeqCst);
        let ok = membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
        assert!(ok, "membarrier(PRIVATE_EXPEDITED) failed after the registration succeeded");
        let inside: Vec<(&'static Word, u64)> = WORDS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|&word| (word, word.value.load(Ordering::Acquire)))
            .filter(|&(_, value)| value & NEST_MASK != 0)
            .collect();
        for (word, seen) in inside {
            let mut spins = 0u32;
            loop {
                let value = word.value.load(Ordering::Acquire);
                if value & NEST_MASK == 0 || value >> 16 != seen >> 16 {
                    break;
                }
                spins += 1;
                if spins < 64 {
                    core::hint::spin_loop();
                } else {
                    // The thread may be switched out inside its section.
                    std::thread::yield_now();
                }
            }
        }
        fence(Ordering::SeqCst);
    }

    fn in_pinned_section(&self) -> bool {
        WORD.with(Cell::get).is_some_and(|w| w.value.load(Ordering::Relaxed) & NEST_MASK != 0)
    }
}

static HOSTED_GRACE: HostedGrace = HostedGrace;
