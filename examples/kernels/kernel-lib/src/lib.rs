//! A library crate with per-CPU statics of its own, linked into both example kernels: its
//! `#[percpu]` statics land in the same `.percpu` template as the kernel crate's, and every
//! check here goes through percpu-rt's public API only.
//!
//! * [`run_on_cpu`] runs on every CPU at once: it checks that the CPU sees its own copy (its
//!   base register, the address of its copy, the template's initial values and the per-CPU
//!   initialiser), then updates its copies many times with the by-value operations, 8 to 64
//!   bits wide (one instruction each on x86_64; the address formed, then one atomic, on aarch64
//!   and riscv64), and uses the shared and local access modes under their guards.
//! * [`check_remote`] runs on the boot CPU afterwards: every online CPU's copies, read
//!   remotely, must hold exactly what that CPU's work produced; the units of possible CPUs that
//!   never came online must still hold the initial values (the template's, and the per-CPU
//!   initialiser's, which setup runs for every possible CPU); the template must be untouched.
//! * [`dynamic`] does the same with dynamically allocated per-CPU objects, allocated and freed
//!   by all CPUs at once.
//! * [`probes`] holds one exported function per by-value operation, kept in every kernel for
//!   the codegen check (examples/kernel-tests), which disassembles them.
//! * `wide` does the same with a 16-byte scalar, on every target with 16-byte atomics (all but
//!   riscv64 without Zacas, where such an operation is a compile error).
//! * [`facilities`] uses what kernels build on per-CPU memory, batched counters and a per-CPU
//!   reference count, on every CPU at once, killing the reference count while they use it.

#![no_std]

extern crate alloc;

pub mod dynamic;
pub mod probes;
#[cfg(any(
    not(any(target_arch = "riscv64", target_arch = "loongarch64")),
    target_feature = "zacas",
    feature = "wide-without-zacas"
))]
pub mod wide;

/// `body` on targets with 16-byte atomics (where [`wide`] is built), nothing elsewhere.
macro_rules! if_wide {
    ($($body:tt)*) => {
        #[cfg(any(
            not(any(target_arch = "riscv64", target_arch = "loongarch64")),
            target_feature = "zacas",
            feature = "wide-without-zacas"
        ))]
        {
            $($body)*
        }
    };
}
pub mod facilities;

use alloc::format;
use alloc::string::String;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use percpu_rt::{CpuId, IrqGuard, PreemptGuard, percpu};

/// The template value of [`MAGIC`]: every CPU's copy starts with it.
pub const MAGIC_INIT: u64 = 0x5EED_CAFE_F00D_D00D;
/// The template value of [`TAG`], which the per-CPU initialiser replaces in every copy.
pub const TAG_TEMPLATE: u32 = 7;

/// [`TAG`]'s per-CPU initialiser.
pub fn tag_of(cpu: CpuId) -> u32 {
    1000 + cpu.as_u32()
}

/// Events: `inc`.
#[percpu]
pub static EVENTS: u64 = 0;

/// Bytes: `add`.
#[percpu]
pub static BYTES: u32 = 0;

/// A signed balance: `add` and `sub`.
#[percpu]
pub static BALANCE: i64 = 0;

/// A byte counter that wraps around: `inc` past 255.
#[percpu]
pub static WRAPS: u8 = 0;

/// A sequence number advanced with `cmpxchg` only.
#[percpu]
pub static SEQUENCE: u64 = 0;

/// Sixteen flags toggled with `xor` and set with `or`.
#[percpu]
pub static FLAGS: u16 = 0;

/// A byte changed with `xchg`, `cmpxchg` and `sub` (8-bit read-modify-writes: one AMO or a
/// loop on the aligned word that holds it, depending on the architecture).
#[percpu]
pub static TOKEN: u8 = 0;

/// A halfword advanced with `add_return`.
#[percpu]
pub static TICKET: u16 = 0;

/// Sixteen bits set with `or` and cleared with `and`.
#[percpu]
pub static MASK: u16 = 0;

/// Never written: every copy must keep the template's value.
#[percpu]
pub static MAGIC: u64 = MAGIC_INIT;

/// Set per CPU by its initialiser at first-chunk setup ([`tag_of`]).
#[percpu(init = tag_of)]
pub static TAG: u32 = TAG_TEMPLATE;

/// Shared access mode: an atomic that the boot CPU reads on every CPU (`remote`).
#[percpu]
pub static LAST_ROUND: AtomicU64 = AtomicU64::new(0);

/// Bookkeeping only its CPU touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scratch {
    /// Rounds of work finished on this CPU.
    pub rounds: u64,
    /// A value derived from this CPU's counters at the end of its round.
    pub checksum: u64,
}

/// Local access mode: `&mut Scratch` only under this CPU's unique `IrqGuard`.
#[percpu(local)]
pub static SCRATCH: Scratch = Scratch { rounds: 0, checksum: 0 };

/// What [`LAST_ROUND`] holds on `cpu` after its work.
fn round_value(cpu: CpuId, iterations: u64) -> u64 {
    (u64::from(cpu.as_u32()) << 48) | iterations
}

/// What [`FLAGS`] holds after `iterations` rounds: round `i` toggles bit `i % 16`, and bit 15
/// is set with `or` at the end.
fn expected_flags(iterations: u64) -> u16 {
    let mut flags = 0u16;
    for bit in 0..16u64 {
        // Rounds 1..=iterations with i % 16 == bit.
        let toggles = if bit == 0 { iterations / 16 } else { (iterations + 16 - bit) / 16 };
        if toggles % 2 == 1 {
            flags |= 1 << bit;
        }
    }
    flags | 1 << 15
}

/// What [`MASK`] holds after `iterations` rounds: round `i` sets bit `i % 16` and clears bit
/// `(i + 5) % 16`.
fn expected_mask(iterations: u64) -> u16 {
    (1..=iterations).fold(0u16, |m, i| (m | 1 << (i % 16)) & !(1 << ((i + 5) % 16)))
}

/// What [`SCRATCH`]'s checksum is on `cpu` after its work.
fn expected_checksum(cpu: CpuId, iterations: u64) -> u64 {
    iterations ^ u64::from(cpu.as_u32())
}

/// Compares `what` on `cpu` with the expected value.
fn expect<T: PartialEq + fmt::Debug>(
    cpu: CpuId,
    what: &str,
    got: T,
    want: T,
) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("CPU {cpu}: {what} is {got:?}, expected {want:?}"))
    }
}

/// The current CPU's checks and work, `iterations` rounds of updates. Every CPU runs this at
/// the same time, right after its base register was loaded.
pub fn run_on_cpu(cpu: CpuId, iterations: u64) -> Result<(), String> {
    expect(cpu, "CpuId::current()", CpuId::current(), cpu)?;
    let offset = percpu_rt::cpu_offset(cpu).map_err(|e| format!("{e}"))?;
    expect(cpu, "the base register", percpu_rt::arch::read_base(), offset)?;

    // Its own copy: at template + offset, not the template, inside its unit.
    let template = MAGIC.per_cpu_ptr() as usize;
    // (A pointer to the current CPU's copy stays this CPU's only while the CPU is pinned.)
    let pin = PreemptGuard::new();
    let own = MAGIC.this_cpu_ptr() as usize;
    drop(pin);
    expect(cpu, "the address of its MAGIC copy", own, template.wrapping_add(offset))?;
    if own == template {
        return Err(format!("CPU {cpu}: its copy of MAGIC is the template itself"));
    }
    if let Some(unit) = percpu_rt::first_chunk::installed().and_then(|fc| fc.unit_addr(cpu)) {
        let static_end = unit + percpu_rt::template::static_size();
        if !(unit..static_end).contains(&own) {
            return Err(format!(
                "CPU {cpu}: its MAGIC copy {own:#x} is outside its unit's static area \
                 {unit:#x}..{static_end:#x}"
            ));
        }
    }

    // The template's initial values and the initialiser's.
    expect(cpu, "MAGIC", MAGIC.read(), MAGIC_INIT)?;
    expect(cpu, "TAG (per-CPU initialiser)", TAG.read(), tag_of(cpu))?;
    expect(cpu, "EVENTS before work", EVENTS.read(), 0)?;
    expect(cpu, "BALANCE before work", BALANCE.read(), 0)?;
    expect(cpu, "SEQUENCE before work", SEQUENCE.read(), 0)?;

    // The by-value operations, many times, while the other CPUs do the same on their copies.
    for i in 1..=iterations {
        EVENTS.inc();
        BYTES.add(3);
        BALANCE.add(5);
        BALANCE.sub(2);
        WRAPS.inc();
        FLAGS.xor(1 << (i % 16));
        if i % 8 == 0 {
            let current = SEQUENCE.read();
            expect(
                cpu,
                "cmpxchg on SEQUENCE",
                SEQUENCE.cmpxchg(current, current + 1),
                Ok(current),
            )?;
            expect(
                cpu,
                "a stale cmpxchg on SEQUENCE",
                SEQUENCE.cmpxchg(current, 0),
                Err(current + 1),
            )?;
        }
        if i % 1024 == 0 {
            // Only this CPU writes its copy: the running count is exact.
            expect(cpu, "EVENTS.add_return(0) during work", EVENTS.add_return(0), i)?;
        }
        MASK.or(1 << (i % 16));
        MASK.and(!(1 << ((i + 5) % 16)));
        if i % 4 == 0 {
            // Sub-word read-modify-writes that return what they replaced.
            let round = (i / 4) as u8;
            expect(cpu, "TOKEN.xchg", TOKEN.xchg(round), round.wrapping_sub(1))?;
            let next = round.wrapping_add(1);
            expect(cpu, "cmpxchg on TOKEN", TOKEN.cmpxchg(round, next), Ok(round))?;
            expect(cpu, "a stale cmpxchg on TOKEN", TOKEN.cmpxchg(round, 0), Err(next))?;
            TOKEN.sub(1);
            let ticket = (i / 4) as u16;
            expect(cpu, "TICKET.add_return(3)", TICKET.add_return(3), ticket.wrapping_mul(3))?;
        }
        if_wide! { wide::step(cpu, i)?; }
    }
    FLAGS.or(1 << 15);

    expect(cpu, "EVENTS", EVENTS.read(), iterations)?;
    expect(cpu, "BYTES", BYTES.read(), (iterations as u32).wrapping_mul(3))?;
    expect(cpu, "BALANCE", BALANCE.read(), 3 * iterations as i64)?;
    expect(cpu, "WRAPS", WRAPS.read(), iterations as u8)?;
    expect(cpu, "SEQUENCE", SEQUENCE.read(), iterations / 8)?;
    expect(cpu, "FLAGS", FLAGS.read(), expected_flags(iterations))?;
    expect(cpu, "TOKEN", TOKEN.read(), (iterations / 4) as u8)?;
    expect(cpu, "TICKET", TICKET.read(), ((iterations / 4) as u16).wrapping_mul(3))?;
    expect(cpu, "MASK", MASK.read(), expected_mask(iterations))?;
    probes::exercise().map_err(|e| format!("CPU {cpu}: {e}"))?;

    // Shared mode under a preemption guard, local mode under the interrupt guard.
    {
        let guard = PreemptGuard::new();
        LAST_ROUND.get(&guard).store(round_value(cpu, iterations), Ordering::Release);
    }
    {
        let mut guard = IrqGuard::new();
        if IrqGuard::try_new().is_ok() {
            return Err(format!("CPU {cpu}: a second IrqGuard was granted while one is live"));
        }
        let scratch = SCRATCH.get_mut(&mut guard);
        scratch.rounds += 1;
        scratch.checksum = expected_checksum(cpu, iterations);
    }
    Ok(())
}

/// What [`check_remote`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Online CPUs checked (they did the work).
    pub cpus: usize,
    /// Possible CPUs that were never online, checked for their initial values.
    pub offline: usize,
    /// Iterations per CPU.
    pub iterations: u64,
    /// Sum of [`EVENTS`] over all CPUs.
    pub events: u64,
    /// Sum of [`BALANCE`] over all CPUs.
    pub balance: i64,
    /// Sum of [`SEQUENCE`] over all CPUs.
    pub sequence: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kernel-lib: remote sums exact over {} online CPUs x {} rounds: EVENTS {} BALANCE {} \
             SEQUENCE {}; {} offline CPUs keep their initial values",
            self.cpus, self.iterations, self.events, self.balance, self.sequence, self.offline
        )
    }
}

/// Checks every possible CPU's copies from the calling CPU, after every CPU of `online`
/// finished [`run_on_cpu`] with `iterations` rounds: theirs hold what the work produced, the
/// other possible CPUs' (units set up for CPUs that never ran) their initial values.
pub fn check_remote(
    possible: &[CpuId],
    online: &[CpuId],
    iterations: u64,
) -> Result<Summary, String> {
    let listed: alloc::vec::Vec<CpuId> = percpu_rt::possible_cpus().collect();
    if listed != possible {
        return Err(format!("possible CPUs are {listed:?}, expected {possible:?}"));
    }
    if let Some(cpu) = online.iter().find(|cpu| !possible.contains(cpu)) {
        return Err(format!("CPU {cpu} is online but not possible"));
    }
    let beyond = CpuId::new(possible.len() as u32);
    if EVENTS.try_read_on(beyond).is_ok() {
        return Err(format!("CPU {beyond} is not possible, yet EVENTS.try_read_on accepted it"));
    }
    for &cpu in online {
        expect(cpu, "EVENTS", EVENTS.read_on(cpu), iterations)?;
        expect(cpu, "BYTES", BYTES.read_on(cpu), (iterations as u32).wrapping_mul(3))?;
        expect(cpu, "BALANCE", BALANCE.read_on(cpu), 3 * iterations as i64)?;
        expect(cpu, "WRAPS", WRAPS.read_on(cpu), iterations as u8)?;
        expect(cpu, "SEQUENCE", SEQUENCE.read_on(cpu), iterations / 8)?;
        expect(cpu, "FLAGS", FLAGS.read_on(cpu), expected_flags(iterations))?;
        expect(cpu, "TOKEN", TOKEN.read_on(cpu), (iterations / 4) as u8)?;
        expect(cpu, "TICKET", TICKET.read_on(cpu), ((iterations / 4) as u16).wrapping_mul(3))?;
        expect(cpu, "MASK", MASK.read_on(cpu), expected_mask(iterations))?;
        expect(cpu, "MAGIC", MAGIC.read_on(cpu), MAGIC_INIT)?;
        expect(cpu, "TAG", TAG.read_on(cpu), tag_of(cpu))?;
        expect(
            cpu,
            "LAST_ROUND",
            LAST_ROUND.remote(cpu).load(Ordering::Acquire),
            round_value(cpu, iterations),
        )?;
        // SAFETY: every CPU has finished its work (the caller's precondition), so nothing
        // writes this copy any more; it is a valid, initialised `Scratch`.
        let scratch = unsafe { SCRATCH.ptr_on(cpu).read() };
        let want = Scratch { rounds: 1, checksum: expected_checksum(cpu, iterations) };
        expect(cpu, "SCRATCH", scratch, want)?;
        if_wide! { wide::check(cpu, iterations)?; }
    }
    let offline: alloc::vec::Vec<CpuId> =
        possible.iter().copied().filter(|cpu| !online.contains(cpu)).collect();
    for &cpu in &offline {
        // The template's values, and the initialiser's: setup ran it for every possible CPU.
        expect(cpu, "EVENTS (offline)", EVENTS.read_on(cpu), 0)?;
        expect(cpu, "BYTES (offline)", BYTES.read_on(cpu), 0)?;
        expect(cpu, "BALANCE (offline)", BALANCE.read_on(cpu), 0)?;
        expect(cpu, "WRAPS (offline)", WRAPS.read_on(cpu), 0)?;
        expect(cpu, "SEQUENCE (offline)", SEQUENCE.read_on(cpu), 0)?;
        expect(cpu, "FLAGS (offline)", FLAGS.read_on(cpu), 0)?;
        expect(cpu, "TOKEN (offline)", TOKEN.read_on(cpu), 0)?;
        expect(cpu, "TICKET (offline)", TICKET.read_on(cpu), 0)?;
        expect(cpu, "MASK (offline)", MASK.read_on(cpu), 0)?;
        expect(cpu, "MAGIC (offline)", MAGIC.read_on(cpu), MAGIC_INIT)?;
        expect(cpu, "TAG (offline)", TAG.read_on(cpu), tag_of(cpu))?;
        expect(cpu, "LAST_ROUND (offline)", LAST_ROUND.remote(cpu).load(Ordering::Acquire), 0)?;
        // SAFETY: no CPU runs as `cpu` (it was never brought online), so nothing writes this
        // copy; setup filled it with the template's valid `Scratch`.
        let scratch = unsafe { SCRATCH.ptr_on(cpu).read() };
        expect(cpu, "SCRATCH (offline)", scratch, Scratch { rounds: 0, checksum: 0 })?;
        if_wide! { wide::check_offline(cpu)?; }
    }

    let n = online.len() as u64;
    let summary = Summary {
        cpus: online.len(),
        offline: offline.len(),
        iterations,
        events: EVENTS.iter_possible().sum(),
        balance: BALANCE.iter_possible().sum(),
        sequence: SEQUENCE.iter_possible().sum(),
    };
    if summary.events != n * iterations
        || summary.balance != 3 * (n * iterations) as i64
        || summary.sequence != n * (iterations / 8)
    {
        return Err(format!("remote sums are wrong: {summary}"));
    }

    // The template is where the copies came from, never where the work went.
    // SAFETY: the templates are valid statics of these types; after setup nothing writes
    // them (every CPU's base register points at its own unit), so these reads race with
    // nothing.
    let (events, magic, tag) = unsafe {
        (
            EVENTS.per_cpu_ptr().read_volatile(),
            MAGIC.per_cpu_ptr().read_volatile(),
            TAG.per_cpu_ptr().read_volatile(),
        )
    };
    if (events, magic, tag) != (0, MAGIC_INIT, TAG_TEMPLATE) {
        return Err(format!(
            "the template changed: EVENTS {events}, MAGIC {magic:#x}, TAG {tag} (a CPU worked on \
             the template instead of its unit)"
        ));
    }
    Ok(summary)
}
