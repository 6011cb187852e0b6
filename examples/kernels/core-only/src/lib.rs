//! The per-CPU part of the kernel without a heap, for any target: `#[percpu]` statics, the
//! first-chunk setup and the checks, written against percpu-rt without its `alloc` feature
//! (this crate has no `alloc` either). The x86_64 binary (`main.rs`) boots the machine and
//! calls these; the QEMU harness also builds this library for `aarch64-unknown-none` with
//! `-Zbuild-std=core`, so that percpu-rt and code using it are known to need `core` only on
//! both kernel targets.
//!
//! Errors are values without a heap: [`Failure`] (with `Display`), and percpu-rt's own.

#![no_std]

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use percpu_rt::first_chunk::{self, EarlyMemory, FirstChunk, PageAlloc, SetupError, VmSpace};
use percpu_rt::{CpuId, CpuNotPossible, FirstChunkMode, IrqGuard, PreemptGuard, percpu, template};

/// The constants the build script generated from `percpu.toml` (not all of them are used).
#[allow(dead_code, missing_docs)]
pub mod layout {
    include!(concat!(env!("OUT_DIR"), "/percpu_layout.rs"));
}

/// Rounds of per-CPU work on every CPU.
pub const ITERATIONS: u64 = 100_000;
/// What the boot CPU adds to [`EVENTS`] before the setup, where it reaches the template.
pub const BEFORE_SETUP: u64 = 5;

/// Events: `inc` and `add_return`, one instruction each on the current CPU's copy on x86_64.
#[percpu]
pub static EVENTS: u64 = 0;

/// Each CPU's hardware id (x86_64: its local APIC id), written when it comes online.
#[percpu]
pub static HW_ID: u64 = u64::MAX;

/// Set for every possible CPU by its initialiser at setup ([`tag_of`]).
#[percpu(init = tag_of)]
pub static TAG: u32 = 7;

/// [`TAG`]'s per-CPU initialiser.
pub fn tag_of(cpu: CpuId) -> u32 {
    1000 + cpu.as_u32()
}

/// Shared access mode: each CPU stores under a `PreemptGuard`, the boot CPU reads remotely.
#[percpu]
pub static LAST_ROUND: AtomicU64 = AtomicU64::new(0);

/// Local access mode: `&mut` only under the CPU's unique `IrqGuard`.
#[percpu(local)]
pub static SCRATCH: [u64; 2] = [0; 2];

/// What [`LAST_ROUND`] holds on `cpu` after its work.
fn round_value(cpu: CpuId) -> u64 {
    (u64::from(cpu.as_u32()) << 48) | ITERATIONS
}

/// A failed check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `what` on `cpu` is `got`, not `want`.
    Check {
        /// The CPU whose copy (or view) is wrong.
        cpu: CpuId,
        /// What was checked.
        what: &'static str,
        /// What was found.
        got: u64,
        /// What was expected.
        want: u64,
    },
    /// A CPU that should have a unit has none.
    NotPossible(CpuNotPossible),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Check { cpu, what, got, want } => {
                write!(f, "CPU {cpu}: {what} is {got:#x}, expected {want:#x}")
            }
            Failure::NotPossible(e) => fmt::Display::fmt(e, f),
        }
    }
}

/// `Ok` when `got == want`.
fn expect(cpu: CpuId, what: &'static str, got: u64, want: u64) -> Result<(), Failure> {
    if got == want { Ok(()) } else { Err(Failure::Check { cpu, what, got, want }) }
}

/// Before the setup (boot CPU, base register 0): statics reach the template.
pub fn before_setup() -> Result<(), Failure> {
    let cpu = CpuId::new(0);
    EVENTS.add(BEFORE_SETUP);
    expect(cpu, "EVENTS before the setup", EVENTS.read(), BEFORE_SETUP)?;
    expect(cpu, "TAG before the setup", TAG.read().into(), 7)
}

/// Builds the first chunk for the possible CPUs `cpus` in `mode` (`Embed` or `Page`; `Auto`
/// is the caller's choice between them) with the settings of `percpu.toml`.
///
/// # Safety
///
/// As for [`first_chunk::embed_first_chunk`] with `early` and
/// [`first_chunk::page_first_chunk`] with `pages`: memory from `early` is writable, unused and
/// not the template; `pages` maps writable pages that stay, in a range nothing else uses.
pub unsafe fn build_first_chunk<P: PageAlloc + VmSpace>(
    mode: FirstChunkMode,
    cpus: &[CpuId],
    early: &mut dyn EarlyMemory,
    pages: &mut P,
) -> Result<FirstChunk, SetupError> {
    let settings = layout::SETTINGS;
    let params = settings.layout_params(template::static_size());
    let cfg = settings.setup_config(cpus);
    match mode {
        // SAFETY: forwarded from the caller.
        FirstChunkMode::Page => unsafe { first_chunk::page_first_chunk(&params, &cfg, pages) },
        // SAFETY: forwarded from the caller.
        FirstChunkMode::Embed | FirstChunkMode::Auto => unsafe {
            first_chunk::embed_first_chunk(&params, &cfg, None, early)
        },
    }
}

/// The first things CPU `cpu` (hardware id `hw_id`) does with its base register loaded: it
/// sees its own unit, and records its hardware id. Returns its base register.
pub fn cpu_online(cpu: CpuId, hw_id: u64) -> Result<usize, Failure> {
    expect(cpu, "CpuId::current()", CpuId::current().as_u32().into(), cpu.as_u32().into())?;
    let offset = percpu_rt::cpu_offset(cpu).map_err(Failure::NotPossible)?;
    let base = percpu_rt::arch::read_base();
    expect(cpu, "the base register", base as u64, offset as u64)?;
    HW_ID.write(hw_id);
    Ok(base)
}

/// CPU `cpu`'s share of the work, on its own copies, while the others do the same.
pub fn work(cpu: CpuId) -> Result<(), Failure> {
    // Its copies start from the declared initial values, not from what the template held.
    expect(cpu, "EVENTS before the work", EVENTS.read(), 0)?;
    expect(cpu, "TAG (per-CPU initialiser)", TAG.read().into(), tag_of(cpu).into())?;
    for i in 1..=ITERATIONS {
        EVENTS.inc();
        if i % 1024 == 0 {
            expect(cpu, "EVENTS.add_return(0) during the work", EVENTS.add_return(0), i)?;
        }
    }
    expect(cpu, "EVENTS after the work", EVENTS.read(), ITERATIONS)?;
    LAST_ROUND.get(&PreemptGuard::new()).store(round_value(cpu), Ordering::Release);
    let mut guard = IrqGuard::new();
    expect(cpu, "a second IrqGuard granted", IrqGuard::try_new().is_ok().into(), 0)?;
    let scratch = SCRATCH.get_mut(&mut guard);
    scratch[0] += 1;
    scratch[1] = ITERATIONS ^ u64::from(cpu.as_u32());
    let [rounds, checksum] = *SCRATCH.get(&guard);
    drop(guard);
    expect(cpu, "SCRATCH rounds", rounds, 1)?;
    expect(cpu, "SCRATCH checksum", checksum, ITERATIONS ^ u64::from(cpu.as_u32()))
}

/// Reads every possible CPU's copies remotely (boot CPU, after the work): the first `online`
/// CPUs' are exact (`hw_id_of` gives their hardware ids), the others hold their initial values;
/// the template still holds what the boot CPU wrote before the setup. Returns the sum of
/// [`EVENTS`] over the possible CPUs.
pub fn check_remote(
    online: usize,
    possible: usize,
    hw_id_of: impl Fn(CpuId) -> u64,
) -> Result<u64, Failure> {
    let boot = CpuId::new(0);
    expect(
        boot,
        "the number of possible CPUs",
        percpu_rt::nr_possible_cpus() as u64,
        possible as u64,
    )?;
    for cpu in percpu_rt::possible_cpus() {
        let on = cpu.as_usize() < online;
        let (events, hw_id, last) =
            if on { (ITERATIONS, hw_id_of(cpu), round_value(cpu)) } else { (0, u64::MAX, 0) };
        expect(cpu, "EVENTS read remotely", EVENTS.read_on(cpu), events)?;
        expect(cpu, "HW_ID read remotely", HW_ID.read_on(cpu), hw_id)?;
        expect(cpu, "TAG read remotely", TAG.read_on(cpu).into(), tag_of(cpu).into())?;
        let got = LAST_ROUND.remote(cpu).load(Ordering::Acquire);
        expect(cpu, "LAST_ROUND read remotely", got, last)?;
    }
    let total: u64 = EVENTS.iter_possible().sum();
    expect(boot, "EVENTS summed over the possible CPUs", total, ITERATIONS * online as u64)?;
    // SAFETY: the template of EVENTS is a `u64` static; nothing writes it after the setup
    // (every CPU reaches its own unit), so this read races with nothing.
    let template = unsafe { EVENTS.per_cpu_ptr().read_volatile() };
    expect(boot, "EVENTS's template", template, BEFORE_SETUP)?;
    Ok(total)
}
