//! What kernels build on per-CPU memory, on every CPU at once: batched counters
//! ([`PerCpuCounter`], [`PerCpuCounters`]) and a per-CPU reference count ([`PerCpuRef`]).
//!
//! * [`FacilitiesRun::prepare`] (boot CPU, before the CPUs are released): the counters, and a
//!   reference count holding one reference for every online CPU (given up with
//!   [`Ref::leak`], each CPU puts its own at the end of its work).
//! * [`FacilitiesRun::run_on_cpu`] (every CPU at once): adds of its own pattern to a shared
//!   counter (folding into the shared count many times), to two counters of one allocation,
//!   `limited_add`s up to a limit until refused; then references taken with `tryget_live`
//!   and put, checking that the object is not released while held, until `tryget_live`
//!   fails. CPU 0 kills the reference count in the middle of that, while the other CPUs'
//!   gets and puts run, and checks that `tryget_live` fails once `kill` returned.
//! * [`FacilitiesRun::check`] (boot CPU, afterwards): exact sums, the limit never passed, the
//!   release run exactly once, after the last put; then a new life (`reinit`, `kill`).

use alloc::format;
use alloc::string::String;
use core::cmp::Ordering as Cmp;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

use percpu_rt::refcount::RefError;
use percpu_rt::{CpuId, PerCpuCounter, PerCpuCounters, PerCpuRef, Ref};

/// The limit of the `limited_add` counter.
pub const LIMIT: i64 = 10_000;
/// `tryget_live` rounds a CPU other than 0 makes at most before it must have seen the kill.
const MAX_GETS: u64 = 50_000_000;

/// The counted object.
#[derive(Debug, Default)]
pub struct Object {
    /// References its holders count themselves (exact).
    held: AtomicU64,
    /// Times the release ran.
    releases: AtomicU32,
    /// Set by the release if it ran while a holder held a reference.
    early: AtomicBool,
}

fn release(object: &Object) {
    if object.held.load(Ordering::SeqCst) != 0 {
        object.early.store(true, Ordering::SeqCst);
    }
    object.releases.fetch_add(1, Ordering::SeqCst);
}

/// The objects every CPU shares.
#[derive(Debug)]
pub struct FacilitiesRun {
    counter: PerCpuCounter,
    /// Events and bytes, in one allocation.
    pair: PerCpuCounters<2>,
    limited: PerCpuCounter,
    /// `limited_add`s that succeeded, counted by the CPUs.
    limited_ok: AtomicI64,
    object: PerCpuRef<Object>,
    /// References taken with `tryget_live` by all CPUs.
    gets: AtomicU64,
    /// Whether CPU 0's `kill` returned.
    killed: AtomicBool,
    online: usize,
}

/// What CPU `cpu` adds per round.
fn step(cpu: CpuId) -> i64 {
    i64::from(cpu.as_u32()) + 1
}

impl FacilitiesRun {
    /// Allocates the counters and the reference count, with one reference per online CPU.
    pub fn prepare(online: usize) -> Result<Self, String> {
        let run = FacilitiesRun {
            counter: PerCpuCounter::new(0).map_err(|e| format!("counter: {e}"))?,
            pair: PerCpuCounters::new([0, 0]).map_err(|e| format!("counters: {e}"))?,
            limited: PerCpuCounter::with_batch(0, 16).map_err(|e| format!("counter: {e}"))?,
            limited_ok: AtomicI64::new(0),
            object: PerCpuRef::new(Object::default(), release)
                .map_err(|e| format!("reference count: {e}"))?,
            gets: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            online,
        };
        for _ in 0..online {
            let _ = Ref::leak(run.object.get());
        }
        Ok(run)
    }

    /// CPU `cpu`'s share: `rounds` rounds of counter work, then references until the kill.
    pub fn run_on_cpu(&self, cpu: CpuId, rounds: u64) -> Result<(), String> {
        let s = step(cpu);
        for i in 0..rounds {
            self.counter.add(s);
            if i % 2 == 1 {
                self.counter.add(-s);
            }
            self.pair[0].inc();
            self.pair[1].add(64);
        }
        let mut mine = 0;
        while self.limited.limited_add(LIMIT, 1) {
            mine += 1;
        }
        self.limited_ok.fetch_add(mine, Ordering::SeqCst);

        let mut gets = 0u64;
        loop {
            let killed = self.killed.load(Ordering::SeqCst);
            let Some(r) = self.object.tryget_live() else { break };
            if killed {
                return Err(format!("CPU {cpu}: tryget_live succeeded after kill returned"));
            }
            r.held.fetch_add(1, Ordering::SeqCst);
            if r.releases.load(Ordering::SeqCst) != 0 {
                return Err(format!("CPU {cpu}: the object was released while held"));
            }
            r.held.fetch_sub(1, Ordering::SeqCst);
            drop(r);
            gets += 1;
            if cpu.as_u32() == 0 && gets == rounds {
                // Kill while the other CPUs get and put.
                self.object.kill().map_err(|e| format!("CPU 0: kill: {e}"))?;
                self.killed.store(true, Ordering::SeqCst);
                if self.object.tryget_live().is_some() {
                    return Err("CPU 0: tryget_live succeeded right after kill".into());
                }
            } else if gets > MAX_GETS {
                return Err(format!("CPU {cpu}: no kill after {MAX_GETS} references"));
            }
        }
        self.gets.fetch_add(gets, Ordering::SeqCst);
        // This CPU's reference from `prepare`: the last CPU to get here releases the object.
        self.object.put().map_err(|e| format!("CPU {cpu}: put: {e}"))
    }

    /// On the boot CPU once every CPU is done: sums, limit, release.
    pub fn check(self, online: &[CpuId], rounds: u64) -> Result<FacilitiesSummary, String> {
        let net = rounds as i64 - (rounds / 2) as i64;
        let want: i64 = online.iter().map(|&c| step(c) * net).sum();
        let expect = |what: &str, got: i64, want: i64| {
            if got == want { Ok(()) } else { Err(format!("{what}: {got}, expected {want}")) }
        };
        expect("counter sum", self.counter.sum(), want)?;
        if (self.counter.read() - want).abs() > self.counter.error_bound() {
            return Err(format!("counter read {} too far from {want}", self.counter.read()));
        }
        if self.counter.compare(want) != Cmp::Equal
            || self.counter.compare(want + self.counter.error_bound() + 1) != Cmp::Less
        {
            return Err("counter compare disagrees with its sum".into());
        }
        let n = online.len() as i64 * rounds as i64;
        expect("events", self.pair[0].sum(), n)?;
        expect("bytes", self.pair[1].sum(), 64 * n)?;
        let limited = self.limited.sum();
        expect("limited_add successes", limited, self.limited_ok.load(Ordering::SeqCst))?;
        if limited > LIMIT || limited < LIMIT - 2 * online.len() as i64 {
            return Err(format!("limited counter at {limited}, limit {LIMIT}"));
        }
        let object = self.object.data();
        expect("releases", i64::from(object.releases.load(Ordering::SeqCst)), 1)?;
        if object.early.load(Ordering::SeqCst) {
            return Err("the release ran while a reference was held".into());
        }
        if !self.object.is_zero() || !self.object.is_dying() || self.object.tryget_live().is_some()
        {
            return Err("the killed reference count is not dead at zero".into());
        }
        if self.object.kill() != Err(RefError::AlreadyDead) {
            return Err("a second kill was not refused".into());
        }
        // A new life, killed again on this CPU alone: the release runs once more.
        self.object.reinit().map_err(|e| format!("reinit: {e}"))?;
        let r = self.object.tryget_live().ok_or("tryget_live failed after reinit")?;
        self.object.kill().map_err(|e| format!("kill after reinit: {e}"))?;
        expect("releases", i64::from(object.releases.load(Ordering::SeqCst)), 1)?;
        drop(r);
        expect(
            "releases after the second life",
            i64::from(object.releases.load(Ordering::SeqCst)),
            2,
        )?;
        Ok(FacilitiesSummary {
            cpus: self.online,
            counter: want,
            limited,
            gets: self.gets.load(Ordering::SeqCst),
        })
    }
}

/// What [`FacilitiesRun::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FacilitiesSummary {
    /// CPUs that worked.
    pub cpus: usize,
    /// The counter's exact sum.
    pub counter: i64,
    /// The limited counter's sum.
    pub limited: i64,
    /// References taken before the kill stopped them.
    pub gets: u64,
}

impl fmt::Display for FacilitiesSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kernel-lib: counters and reference counts on {} CPUs: counter sum {} exact, \
             limited_add stopped at {} (limit {LIMIT}), {} references before the kill, \
             released once per life",
            self.cpus, self.counter, self.limited, self.gets
        )
    }
}
