//! A seeded, deterministic fuzz runner for the test suite: case `i` of a run is generated from
//! its own generator state (seed and `i`), so any case can be generated again alone. Each case
//! runs on a worker thread with a 2 MiB stack (a test thread's), under a watchdog: a case that
//! panics, fails its check, or runs past [`CASE_LIMIT`] fails the test with its number, its
//! description and, in `$CARGO_TARGET_TMPDIR/fuzz-failures/`, its input.
//!
//! `PERCPU_FUZZ_SEED` (hex or decimal), `PERCPU_FUZZ_CASES` and `PERCPU_FUZZ_SECONDS` override
//! a run's seed, case count and time budget (a budget ends the run early, never fails it).

use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest a single case may take (debug build, a loaded 2-core machine: generous).
pub const CASE_LIMIT: Duration = Duration::from_secs(10);

/// SplitMix64: small, fast, and the same sequence on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next_u64() % den < num
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A run's seed, case count and time budget.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub seed: u64,
    pub cases: usize,
    pub time: Duration,
}

impl Budget {
    /// The defaults, unless the environment overrides them.
    pub fn from_env(seed: u64, cases: usize, time: Duration) -> Budget {
        let var = |name: &str| std::env::var(name).ok();
        let number = |text: String| match text.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => text.parse().ok(),
        };
        Budget {
            seed: var("PERCPU_FUZZ_SEED").and_then(number).unwrap_or(seed),
            cases: var("PERCPU_FUZZ_CASES").and_then(number).map_or(cases, |n| n as usize),
            time: var("PERCPU_FUZZ_SECONDS").and_then(number).map_or(time, Duration::from_secs),
        }
    }

    /// The generator of case `i`.
    pub fn rng(&self, i: usize) -> Rng {
        let mut r = Rng::new(self.seed ^ (i as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
        r.next_u64();
        r
    }
}

/// One generated case: the input and how it was made.
pub struct Case<I> {
    pub input: I,
    pub description: String,
}

/// What a run did.
#[derive(Debug)]
pub struct Summary {
    pub cases: usize,
    pub elapsed: Duration,
    pub slowest: Duration,
    /// How many cases ended each way (the labels `check` returns).
    pub outcomes: BTreeMap<&'static str, usize>,
}

enum Event {
    Started(usize),
    Failed(usize, String),
    Finished(Summary),
}

/// Runs up to `budget.cases` cases of `generate`, each checked by `check` (which returns how
/// the case ended, or a failure description); fails the test on the first failing, panicking
/// or hanging case.
/// `save` turns an input into the bytes written next to a failure report.
pub fn run<I: 'static>(
    name: &'static str,
    budget: Budget,
    generate: fn(&mut Rng) -> Case<I>,
    check: fn(&I) -> Result<&'static str, String>,
    save: fn(&I) -> Vec<u8>,
) -> Summary {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name(format!("fuzz-{name}"))
        .stack_size(2 << 20)
        .spawn(move || {
            let started = Instant::now();
            let mut slowest = Duration::ZERO;
            let mut cases = 0;
            let mut outcomes = BTreeMap::new();
            for i in 0..budget.cases {
                if started.elapsed() > budget.time {
                    break;
                }
                let case = generate(&mut budget.rng(i));
                let _ = tx.send(Event::Started(i));
                let case_start = Instant::now();
                let outcome = catch_unwind(AssertUnwindSafe(|| check(&case.input)));
                slowest = slowest.max(case_start.elapsed());
                let failure = match outcome {
                    Ok(Ok(label)) => {
                        *outcomes.entry(label).or_insert(0) += 1;
                        None
                    }
                    Ok(Err(why)) => Some(why),
                    Err(panic) => Some(format!(
                        "panicked: {}",
                        panic
                            .downcast_ref::<String>()
                            .map(String::as_str)
                            .or_else(|| panic.downcast_ref::<&str>().copied())
                            .unwrap_or("(no message)")
                    )),
                };
                if let Some(why) = failure {
                    let _ = tx.send(Event::Failed(i, why));
                    return;
                }
                cases += 1;
            }
            let elapsed = started.elapsed();
            let _ = tx.send(Event::Finished(Summary { cases, elapsed, slowest, outcomes }));
        })
        .unwrap();

    let mut current = None;
    let fail = |i: usize, why: String| -> ! {
        let case = generate(&mut budget.rng(i));
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{name}-{:#x}-{i}.bin", budget.seed));
        let _ = std::fs::write(&file, save(&case.input));
        panic!(
            "{name}: case {i} of seed {:#x} {why}\n  made by: {}\n  input: {}\n  rerun: \
             PERCPU_FUZZ_SEED={:#x} PERCPU_FUZZ_CASES={} cargo test -p percpu-build --test {name}",
            budget.seed,
            case.description,
            file.display(),
            budget.seed,
            i + 1
        );
    };
    loop {
        match rx.recv_timeout(CASE_LIMIT) {
            Ok(Event::Started(i)) => current = Some(i),
            Ok(Event::Failed(i, why)) => fail(i, why),
            Ok(Event::Finished(summary)) => {
                worker.join().unwrap();
                // Straight to the terminal, past the test harness's capture: CI logs show it.
                let outcomes: Vec<String> =
                    summary.outcomes.iter().map(|(label, n)| format!("{n} {label}")).collect();
                let _ = writeln!(
                    std::io::stderr(),
                    "{name}: {} cases in {:.1} s (slowest {} ms, seed {:#x}): {}; no panic, no \
                     hang",
                    summary.cases,
                    summary.elapsed.as_secs_f64(),
                    summary.slowest.as_millis(),
                    budget.seed,
                    outcomes.join(", ")
                );
                return summary;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => match current {
                Some(i) => fail(i, format!("did not finish within {CASE_LIMIT:?}")),
                None => panic!("{name}: the first case was not generated within {CASE_LIMIT:?}"),
            },
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{name}: the worker died"),
        }
    }
}
