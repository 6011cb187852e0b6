//! Multi-thread stress of the global per-CPU allocator on the hosted machine: every CPU thread
//! allocates (raw areas and `PerCpuBox`es of several sizes and alignments, one at a time and in
//! batches), writes its own CPU's copy through the base register, checks that its data survives
//! the other threads' work and that the other CPUs' copies are untouched, and frees, into its
//! own CPU's cache or, for objects it hands to a mailbox, into another CPU's. Meanwhile another
//! thread checks the whole allocator (caches included) and runs the balance step, which drains
//! every cache while the CPUs use them. A final check finds every count back to zero, the
//! allocator consistent, most calls served by the caches, and the balance step returns to the
//! first chunk.

use percpu_rt::allocator::{self, PerCpuArea, PerCpuBox};
use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::mode::ByValue;
use percpu_rt::{CpuId, PreemptGuard};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const CPUS: u32 = 4;

/// Boots the machine (its first-chunk setup hands the first chunk to the allocator, and it
/// registers the hosted backend).
fn boot() -> &'static Machine {
    let m = Machine::boot(MachineConfig::new(CPUS)).expect("boot the hosted machine");
    assert!(allocator::is_initialized(), "the first-chunk setup hands its chunk to the allocator");
    m
}

/// A tiny deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

enum Obj {
    Raw { area: PerCpuArea<'static>, size: usize, seed: u8, owner: CpuId },
    Counter { b: PerCpuBox<u64, ByValue>, count: u64 },
    Shared { b: PerCpuBox<AtomicU64>, value: u64 },
}

/// Objects a CPU hands over for another CPU to check and free (a cross-CPU free).
static MAILBOX: Mutex<Vec<Obj>> = Mutex::new(Vec::new());

fn check(obj: &Obj, me: CpuId) {
    match obj {
        Obj::Raw { area, size, seed, owner } => {
            for cpu in percpu_rt::possible_cpus() {
                let p = area.ptr_on(cpu).unwrap();
                // SAFETY: a live area of `size` bytes in every unit; only the thread that holds
                // it writes it, and only its owner CPU's copy.
                let bytes = unsafe { core::slice::from_raw_parts(p, *size) };
                let want = if cpu == *owner { *seed } else { 0 };
                assert!(bytes.iter().all(|&b| b == want), "area {area:?} on CPU {cpu} damaged");
            }
        }
        Obj::Counter { b, count } => {
            assert_eq!(b.read(), *count);
            for cpu in percpu_rt::possible_cpus() {
                let want = if cpu == me { *count } else { u64::from(cpu.as_u32()) };
                assert_eq!(b.read_on(cpu), want);
            }
        }
        Obj::Shared { b, value } => {
            let guard = PreemptGuard::new();
            assert_eq!(b.get(&guard).load(Ordering::Relaxed), *value);
            drop(guard);
            for (cpu, v) in b.iter_possible() {
                if cpu != me {
                    assert_eq!(v.load(Ordering::Relaxed), 7);
                }
            }
        }
    }
}

/// Writes `seed` into this CPU's copy of a fresh raw area.
fn raw(area: PerCpuArea<'static>, size: usize, align: usize, seed: u8, cpu: CpuId) -> Obj {
    assert_eq!(area.this_cpu_ptr() as usize % align, 0);
    // SAFETY: this CPU's copy of the fresh area; this thread is the CPU.
    unsafe { core::ptr::write_bytes(area.this_cpu_ptr(), seed, size) };
    Obj::Raw { area, size, seed, owner: cpu }
}

fn worker(cpu: CpuId, rounds: usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(cpu.as_u32() + 1));
    let mut live: Vec<Obj> = Vec::new();
    for round in 0..rounds {
        match rng.next() % 12 {
            0..=3 => {
                // Half the time a few shapes used over and over (what the caches are for),
                // else any size and alignment.
                let (size, align) = match rng.next() % 6 {
                    0..=2 => ([4, 8, 24, 64][(rng.next() % 4) as usize], 8),
                    3 => (1 + (rng.next() % 256) as usize, 1 << (rng.next() % 7)),
                    4 => (1 + (rng.next() % 2048) as usize, 1 << (rng.next() % 7)),
                    _ => (1 + (rng.next() % 20000) as usize, 1 << (rng.next() % 7)),
                };
                let area = allocator::alloc(size, align).expect("allocation");
                live.push(raw(area, size, align, (round as u8).max(1), cpu));
            }
            4 => {
                let b = PerCpuBox::<u64, ByValue>::new_with(|c| u64::from(c.as_u32())).unwrap();
                let n = rng.next() % 50;
                b.write(0);
                for _ in 0..n {
                    b.inc();
                }
                live.push(Obj::Counter { b, count: n });
            }
            5 => {
                let b = PerCpuBox::<AtomicU64>::new_with(|_| AtomicU64::new(7)).unwrap();
                let value = rng.next();
                b.get(&PreemptGuard::new()).store(value, Ordering::Relaxed);
                live.push(Obj::Shared { b, value });
            }
            6 => {
                // A batch: raw areas of one size, or boxes.
                let n = 1 + (rng.next() % 8) as usize;
                if rng.next() % 2 == 0 {
                    let size = 1 + (rng.next() % 100) as usize;
                    for area in allocator::alloc_many(n, size, 8).expect("batch") {
                        live.push(raw(area, size, 8, (round as u8).max(1), cpu));
                    }
                } else {
                    let boxes = PerCpuBox::<AtomicU64>::new_many_with(n, |_, _| AtomicU64::new(7));
                    for b in boxes.expect("batch of boxes") {
                        let value = rng.next();
                        b.get(&PreemptGuard::new()).store(value, Ordering::Relaxed);
                        live.push(Obj::Shared { b, value });
                    }
                }
            }
            7 => {
                // Hand a raw area to the mailbox, or check and free one another CPU left.
                if rng.next() % 2 == 0 {
                    if let Some(i) = live.iter().position(|o| matches!(o, Obj::Raw { .. })) {
                        MAILBOX.lock().unwrap().push(live.swap_remove(i));
                    }
                } else if let Some(obj) = MAILBOX.lock().unwrap().pop() {
                    check(&obj, cpu);
                    drop(obj); // into this CPU's cache, whoever allocated it
                }
            }
            _ => {
                if !live.is_empty() {
                    let i = (rng.next() % live.len() as u64) as usize;
                    let obj = live.swap_remove(i);
                    check(&obj, cpu);
                    if let Obj::Raw { area, .. } = obj {
                        // (An owned area is freed once, by its owner: the double free that
                        // could free another CPU's fresh allocation at the same address cannot
                        // be written. Frees by pointer are checked in allocator_model.rs.)
                        allocator::free(area).expect("free");
                    }
                }
            }
        }
        if round % 64 == 0 {
            for obj in &live {
                check(obj, cpu);
            }
        }
    }
    for obj in live.drain(..) {
        check(&obj, cpu);
        if let Obj::Raw { area, .. } = obj {
            allocator::free(area).expect("free");
        }
    }
}

#[test]
fn threads_allocate_write_check_and_free() {
    let m = boot();
    let before = allocator::stats().unwrap().global;
    // Meanwhile a thread checks the allocator's consistency, again and again: the check must
    // hold at any moment (sleeping allocations populate their pages outside the lock).
    // The balance step runs meanwhile too (it drains every CPU's cache while the CPUs use them).
    let done = AtomicBool::new(false);
    let (checks, balances) = std::thread::scope(|s| {
        let checker = s.spawn(|| {
            let (mut checks, mut balances) = (0u64, 0u64);
            while !done.load(Ordering::Relaxed) {
                allocator::verify().expect("consistent during the stress");
                checks += 1;
                if checks % 3 == 0 {
                    allocator::balance().expect("balance during the stress");
                    balances += 1;
                }
                // Spaced out: the check holds the allocator's lock while it walks every chunk.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            (checks, balances)
        });
        for _ in 0..3 {
            m.run(|cpu| worker(cpu, 3000));
            allocator::verify().expect("consistent after a run");
        }
        done.store(true, Ordering::Relaxed);
        checker.join().unwrap()
    });
    assert!(checks > 0 && balances > 0);
    eprintln!(
        "allocator_stress: {checks} consistency checks and {balances} balance steps during the stress"
    );
    // What the mailbox still holds is freed here, by a thread that is not a CPU (through the
    // chunks).
    MAILBOX.lock().unwrap().clear();
    let after = allocator::stats().unwrap().global;
    assert_eq!(after.nr_cur_alloc, before.nr_cur_alloc, "every allocation was freed");
    assert_eq!(after.nr_alloc - before.nr_alloc, after.nr_dealloc - before.nr_dealloc);
    assert!(after.nr_max_chunks > 1, "the stress should have needed more chunks: {after:?}");
    let (cached, all) =
        (after.nr_cache_alloc - before.nr_cache_alloc, after.nr_alloc - before.nr_alloc);
    eprintln!("allocator_stress: {cached} of {all} allocations came from a CPU's cache");
    assert!(cached * 10 > all, "the caches should serve many allocations: {cached} of {all}");
    allocator::balance().expect("balance");
    allocator::verify().expect("consistent after balance");
    let stats = allocator::stats().unwrap();
    assert!(
        stats.chunks.iter().all(|c| c.kind != allocator::ChunkKind::Dynamic),
        "fully free chunks remain after balance:\n{stats}"
    );
}
