//! Timing: pinning the measuring thread to one core, calibrating how many operations make one
//! sample, and interleaved sampling.
//!
//! The clock is `std::time::Instant`, i.e. `clock_gettime(CLOCK_MONOTONIC)` through the vDSO
//! (backed by the kernel's clocksource, which the driver prints). One sample is one timed call
//! of a loop of N operations, N chosen so that the sample lasts about [`Effort::sample`]
//! (milliseconds: the clock's own cost, tens of nanoseconds, is then below 0.01 %). Variants are
//! sampled in rounds, one sample of each per round, starting with a different variant each
//! round, so that a burst of noise on this shared machine spreads over all of them instead of
//! hitting one; the result is the distribution of the per-round samples, nothing subtracted.

use crate::stats::Stats;
use std::io;
use std::time::{Duration, Instant};

/// One measured loop: `run(n)` performs `n` operations.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    /// What is measured (a column of the table).
    pub subject: &'static str,
    /// The operation (a row of the table).
    pub op: &'static str,
    /// The loop.
    pub run: extern "C" fn(u64),
}

/// How long to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effort {
    /// Samples per variant (rounds), unless the budget runs out first.
    pub rounds: usize,
    /// Fewest samples per variant, whatever the budget.
    pub min_rounds: usize,
    /// The duration one sample aims at.
    pub sample: Duration,
    /// The time one call of [`sample_interleaved`] may take, roughly.
    pub budget: Duration,
}

impl Effort {
    /// The full run: 41 samples of about 2 ms per variant.
    pub const FULL: Effort = Effort {
        rounds: 41,
        min_rounds: 11,
        sample: Duration::from_millis(2),
        budget: Duration::from_secs(8),
    };

    /// `--quick`: 11 samples of about 0.5 ms (a smoke run; figures noisier).
    pub const QUICK: Effort = Effort {
        rounds: 11,
        min_rounds: 5,
        sample: Duration::from_micros(500),
        budget: Duration::from_secs(2),
    };

    /// [`Effort::QUICK`] if `quick`, else [`Effort::FULL`].
    pub fn new(quick: bool) -> Effort {
        if quick { Effort::QUICK } else { Effort::FULL }
    }
}

/// Pins the calling thread to `core` (`sched_setaffinity` on the thread).
pub fn pin_to_core(core: usize) -> io::Result<()> {
    // SAFETY: `cpu_set_t` is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if core >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "core number too large"));
    }
    // SAFETY: `core` is within the set (checked above).
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: pid 0 is the calling thread; the set is initialised and its size is passed.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// Pins the calling thread to `core`, or says on standard error why it could not.
pub fn pin_or_warn(core: usize) {
    if let Err(e) = pin_to_core(core) {
        eprintln!("warning: cannot pin to core {core} ({e}); measuring unpinned");
    }
}

/// How many cores are online (`sysconf(_SC_NPROCESSORS_ONLN)`; not the calling thread's
/// affinity, which pinning narrows).
pub fn available_cores() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// The operation count that makes one call of `run` last about `target` (at least 1). Also
/// warms the loop up (code, data and branch predictors).
pub fn calibrate(run: &mut dyn FnMut(u64), target: Duration) -> u64 {
    let mut n: u64 = 1;
    loop {
        let start = Instant::now();
        run(n);
        let took = start.elapsed();
        if took >= target / 4 || n >= 1 << 40 {
            let scaled = n as f64 * target.as_secs_f64() / took.as_secs_f64().max(1e-9);
            return (scaled as u64).clamp(1, n.saturating_mul(8));
        }
        n *= 2;
    }
}

/// Samples every `run` in interleaved rounds (see the module documentation); returns, per run,
/// the statistics of its nanoseconds per operation.
pub fn sample_interleaved(runs: &mut [&mut dyn FnMut(u64)], effort: &Effort) -> Vec<Stats> {
    let counts: Vec<u64> = runs.iter_mut().map(|run| calibrate(*run, effort.sample)).collect();
    let mut samples: Vec<Vec<f64>> = vec![Vec::with_capacity(effort.rounds); runs.len()];
    let started = Instant::now();
    for round in 0..effort.rounds.max(1) {
        if round >= effort.min_rounds && started.elapsed() > effort.budget {
            break;
        }
        for k in 0..runs.len() {
            let i = (k + round) % runs.len();
            let n = counts[i];
            let start = Instant::now();
            (runs[i])(n);
            let took = start.elapsed();
            samples[i].push(took.as_nanos() as f64 / n as f64);
        }
    }
    samples.iter().map(|s| Stats::from_samples(s).expect("at least one round")).collect()
}

/// [`sample_interleaved`] over [`Variant`]s.
pub fn sample_variants(variants: &[Variant], effort: &Effort) -> Vec<Stats> {
    let mut closures: Vec<Box<dyn FnMut(u64)>> =
        variants.iter().map(|v| Box::new(move |n| (v.run)(n)) as Box<dyn FnMut(u64)>).collect();
    let mut runs: Vec<&mut dyn FnMut(u64)> =
        closures.iter_mut().map(|c| c.as_mut() as &mut dyn FnMut(u64)).collect();
    sample_interleaved(&mut runs, effort)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_gives_every_run_its_samples() {
        let effort = Effort {
            rounds: 4,
            min_rounds: 4,
            sample: Duration::from_micros(10),
            budget: Duration::from_secs(60),
        };
        let (mut a, mut b) = (0u64, 0u64);
        let mut run_a = |n: u64| a += n;
        let mut run_b = |n: u64| b += n;
        let stats = sample_interleaved(&mut [&mut run_a, &mut run_b], &effort);
        assert_eq!(stats.len(), 2);
        assert!(stats.iter().all(|s| s.samples == 4));
        assert!(a > 0 && b > 0);
    }
}
