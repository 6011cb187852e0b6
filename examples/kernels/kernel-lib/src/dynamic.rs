//! Dynamic per-CPU objects ([`PerCpuBox`]) allocated, used and freed by every CPU at once.
//!
//! Before the concurrent phase the boot CPU ([`DynamicRun::prepare`]) allocates a counter
//! that every CPU increments, and enough 4 KiB filler objects to use up the first chunk's
//! dynamic area, so that the concurrent allocations need chunks from the kernel's backend.
//! Then every CPU ([`DynamicRun::run_on_cpu`]) allocates objects in a sliding window, checks
//! that its own copy is reached through its base register and that the other CPUs' copies
//! hold their initial values, updates its copy with the by-value operations and frees them
//! again, interleaved with the other CPUs' allocations and frees. Last, the boot CPU
//! ([`DynamicRun::check_remote`]) checks the counter on every CPU, frees everything, and asks
//! the allocator to verify itself and to give back the chunks that became free.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use percpu_rt::allocator::{self, PerCpuBox};
use percpu_rt::mode::{ByValue, Local, Shared};
use percpu_rt::{CpuId, IrqGuard, PreemptGuard};

/// Bytes of one filler object.
pub const FILLER_SIZE: usize = 4096;
/// Objects each CPU keeps alive at once.
const WINDOW: usize = 8;

/// A filler object: 4 KiB per CPU.
type Filler = [u64; FILLER_SIZE / 8];

/// What an object of round `round` initially holds on `cpu`.
fn tag(cpu: CpuId, round: u64) -> u64 {
    (u64::from(cpu.as_u32()) << 40) | round
}

/// What CPU `cpu` adds to its copy of every object it allocates.
fn bump(cpu: CpuId) -> u64 {
    u64::from(cpu.as_u32()) + 1
}

/// Allocator figures at one point of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Live allocations.
    pub live: u64,
    /// Chunks (the first chunk's dynamic and reserved regions count as one each).
    pub chunks: usize,
    /// Allocations made so far.
    pub allocated: u64,
}

fn snapshot() -> Result<Snapshot, String> {
    let stats = allocator::stats().ok_or("the dynamic allocator has no first chunk")?;
    Ok(Snapshot {
        live: stats.global.nr_cur_alloc,
        chunks: stats.global.nr_chunks,
        allocated: stats.global.nr_alloc,
    })
}

/// The objects shared by all CPUs during the concurrent phase.
#[derive(Debug)]
pub struct DynamicRun {
    /// Every CPU increments its copy once per round.
    rounds: PerCpuBox<u64, ByValue>,
    /// Every CPU advances its copy once per round with `add_return` (16-bit).
    tickets: PerCpuBox<u16, ByValue>,
    /// Every CPU advances its copy once per round with `cmpxchg` (8-bit).
    tokens: PerCpuBox<u8, ByValue>,
    /// Uses up the first chunk's dynamic area.
    filler: Vec<PerCpuBox<Filler, Shared>>,
    /// Before anything was allocated.
    before: Snapshot,
    /// After the counter and the filler were allocated.
    prepared: Snapshot,
}

/// What [`DynamicRun::check_remote`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DynamicSummary {
    /// CPUs.
    pub cpus: usize,
    /// Rounds per CPU.
    pub rounds: u64,
    /// Allocations made during the run.
    pub allocations: u64,
    /// Chunks before the run, after the filler, and after the balance step.
    pub chunks: (usize, usize, usize),
    /// Chunks the balance step destroyed.
    pub destroyed: usize,
}

impl fmt::Display for DynamicSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kernel-lib: {} dynamic allocations freed on {} CPUs x {} rounds, counter sums exact; \
             chunks {} -> {} -> {} ({} destroyed by balance)",
            self.allocations,
            self.cpus,
            self.rounds,
            self.chunks.0,
            self.chunks.1,
            self.chunks.2,
            self.destroyed
        )
    }
}

impl DynamicRun {
    /// The boot CPU, before the others start their work: the counter, and filler objects
    /// until a chunk beyond the first exists.
    pub fn prepare() -> Result<DynamicRun, String> {
        let before = snapshot()?;
        let rounds = PerCpuBox::<u64, ByValue>::new(0)
            .map_err(|e| format!("allocating the round counter: {e}"))?;
        let tickets = PerCpuBox::<u16, ByValue>::new(0)
            .map_err(|e| format!("allocating the ticket counter: {e}"))?;
        let tokens = PerCpuBox::<u8, ByValue>::new(0)
            .map_err(|e| format!("allocating the token counter: {e}"))?;
        let dyn_size =
            percpu_rt::first_chunk::installed().ok_or("no first chunk is installed")?.dyn_size();
        let mut filler = Vec::new();
        for _ in 0..=dyn_size / FILLER_SIZE {
            let object = PerCpuBox::<Filler, Shared>::zeroed()
                .map_err(|e| format!("allocating a {FILLER_SIZE}-byte filler object: {e}"))?;
            filler.push(object);
        }
        let prepared = snapshot()?;
        if prepared.chunks <= before.chunks {
            return Err(format!(
                "{} filler objects of {FILLER_SIZE} bytes did not need a chunk beyond the first \
                 ({} chunks before and after)",
                filler.len(),
                before.chunks
            ));
        }
        Ok(DynamicRun { rounds, tickets, tokens, filler, before, prepared })
    }

    /// Every CPU at once: `rounds` objects allocated, checked, updated and freed, a window
    /// of them alive at a time, plus a local-mode object per round.
    pub fn run_on_cpu(&self, cpu: CpuId, rounds: u64) -> Result<(), String> {
        let cpus: Vec<CpuId> = percpu_rt::possible_cpus().collect();
        let offset = percpu_rt::cpu_offset(cpu).map_err(|e| format!("{e}"))?;
        let mut live: VecDeque<(PerCpuBox<u64, ByValue>, u64)> = VecDeque::new();
        let retire = |object: PerCpuBox<u64, ByValue>, round: u64| -> Result<(), String> {
            let got = object.read();
            let want = tag(cpu, round) + bump(cpu);
            if got != want {
                return Err(format!(
                    "CPU {cpu}: dynamic object of round {round} holds {got:#x}, expected {want:#x}"
                ));
            }
            drop(object);
            Ok(())
        };
        for round in 1..=rounds {
            let object = PerCpuBox::<u64, ByValue>::new_with(|c| tag(c, round))
                .map_err(|e| format!("CPU {cpu}: allocating round {round}: {e}"))?;
            let pin = PreemptGuard::new();
            let own = object.this_cpu_ptr() as usize;
            drop(pin);
            let want = (object.per_cpu_ptr() as usize).wrapping_add(offset);
            if own != want {
                return Err(format!(
                    "CPU {cpu}: its copy of a dynamic object is at {own:#x}, expected {want:#x}"
                ));
            }
            for &c in &cpus {
                let got = object.read_on(c);
                if got != tag(c, round) {
                    return Err(format!(
                        "CPU {cpu}: CPU {c}'s copy of a new object holds {got:#x}, expected {:#x}",
                        tag(c, round)
                    ));
                }
            }
            object.add(bump(cpu));

            let scratch = PerCpuBox::<[u32; 8], Local>::new([0; 8])
                .map_err(|e| format!("CPU {cpu}: allocating a local object: {e}"))?;
            {
                let mut guard = IrqGuard::new();
                let s = scratch.get_mut(&mut guard);
                s[(round % 8) as usize] = round as u32;
                if s.iter().map(|&x| u64::from(x)).sum::<u64>() != round {
                    return Err(format!("CPU {cpu}: a fresh local object was not zero"));
                }
            }
            drop(scratch);

            self.rounds.inc();
            let ticket = self.tickets.add_return(1);
            if ticket != round as u16 {
                return Err(format!(
                    "CPU {cpu}: a dynamic u16 add_return gave {ticket} in round {round}"
                ));
            }
            let token = (round - 1) as u8;
            if let Err(found) = self.tokens.cmpxchg(token, token.wrapping_add(1)) {
                return Err(format!(
                    "CPU {cpu}: a dynamic u8 cmpxchg found {found}, expected {token} in round {round}"
                ));
            }
            live.push_back((object, round));
            if live.len() > WINDOW {
                let (object, round) = live.pop_front().expect("the window is not empty");
                retire(object, round)?;
            }
        }
        for (object, round) in live {
            retire(object, round)?;
        }
        Ok(())
    }

    /// The boot CPU, after every CPU of `online` finished [`DynamicRun::run_on_cpu`] with
    /// `rounds`: the counter on every possible CPU (`rounds` on the online ones, 0 on the
    /// others), then everything freed, the allocator verified and balanced.
    pub fn check_remote(
        self,
        possible: &[CpuId],
        online: &[CpuId],
        rounds: u64,
    ) -> Result<DynamicSummary, String> {
        for &cpu in possible {
            let got = self.rounds.read_on(cpu);
            let want = if online.contains(&cpu) { rounds } else { 0 };
            if got != want {
                return Err(format!("CPU {cpu}: the round counter is {got}, expected {want}"));
            }
            let got = (self.tickets.read_on(cpu), self.tokens.read_on(cpu));
            if got != (want as u16, want as u8) {
                return Err(format!(
                    "CPU {cpu}: the ticket and token counters are {got:?}, expected {want} (as u16, u8)"
                ));
            }
        }
        let total: u64 = self.rounds.iter_possible().sum();
        if total != rounds * online.len() as u64 {
            return Err(format!("the round counters sum to {total}"));
        }
        let DynamicRun { rounds: counter, tickets, tokens, filler, before, prepared } = self;
        drop((counter, tickets, tokens));
        drop(filler);
        let freed = snapshot()?;
        if freed.live != before.live {
            return Err(format!(
                "{} allocations live after everything was freed, {} before the run",
                freed.live, before.live
            ));
        }
        allocator::verify().map_err(|e| format!("the allocator's self-check: {e}"))?;
        let report = allocator::balance().map_err(|e| format!("the balance step: {e}"))?;
        let balanced = snapshot()?;
        allocator::verify().map_err(|e| format!("the allocator's self-check: {e}"))?;
        if balanced.chunks > prepared.chunks {
            return Err(format!(
                "{} chunks after the balance step, {} while the filler was live",
                balanced.chunks, prepared.chunks
            ));
        }
        Ok(DynamicSummary {
            cpus: online.len(),
            rounds,
            allocations: freed.allocated - before.allocated,
            chunks: (before.chunks, prepared.chunks, balanced.chunks),
            destroyed: report.chunks_destroyed,
        })
    }
}
