//! Multi-thread stress of the global per-CPU allocator on the hosted machine: every CPU thread
//! allocates (raw areas and `PerCpuBox`es of several sizes and alignments), writes its own CPU's
//! copy through the base register, checks that its data survives the other threads' work and
//! that the other CPUs' copies are untouched, and frees; a final check finds every count back
//! to zero and the allocator consistent, and the balance step returns to the first chunk.

use percpu_rt::allocator::{self, PerCpuArea, PerCpuBox};
use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::mode::ByValue;
use percpu_rt::{CpuId, PreemptGuard};
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
    Raw { area: PerCpuArea<'static>, size: usize, seed: u8 },
    Counter { b: PerCpuBox<u64, ByValue>, count: u64 },
    Shared { b: PerCpuBox<AtomicU64>, value: u64 },
}

fn check(obj: &Obj, me: CpuId) {
    match obj {
        Obj::Raw { area, size, seed } => {
            for cpu in percpu_rt::possible_cpus() {
                let p = area.ptr_on(cpu).unwrap();
                // SAFETY: a live area of `size` bytes in every unit; only this thread writes
                // it, and only its own CPU's copy.
                let bytes = unsafe { core::slice::from_raw_parts(p, *size) };
                let want = if cpu == me { *seed } else { 0 };
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

fn worker(cpu: CpuId, rounds: usize) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(cpu.as_u32() + 1));
    let mut live: Vec<Obj> = Vec::new();
    for round in 0..rounds {
        match rng.next() % 8 {
            0..=3 => {
                let size = match rng.next() % 4 {
                    0 => 1 + (rng.next() % 16) as usize,
                    1 => 1 + (rng.next() % 256) as usize,
                    2 => 1 + (rng.next() % 2048) as usize,
                    _ => 1 + (rng.next() % 20000) as usize,
                };
                let align = 1usize << (rng.next() % 7);
                let area = allocator::alloc(size, align).expect("allocation");
                assert_eq!(area.this_cpu_ptr() as usize % align, 0);
                let seed = (round as u8).max(1);
                // SAFETY: this CPU's copy of the fresh area; this thread is the CPU.
                unsafe { core::ptr::write_bytes(area.this_cpu_ptr(), seed, size) };
                live.push(Obj::Raw { area, size, seed });
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
    let done = AtomicBool::new(false);
    let checks = std::thread::scope(|s| {
        let checker = s.spawn(|| {
            let mut checks = 0u64;
            while !done.load(Ordering::Relaxed) {
                allocator::verify().expect("consistent during the stress");
                checks += 1;
                // Spaced out: the check holds the allocator's lock while it walks every chunk.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            checks
        });
        for _ in 0..3 {
            m.run(|cpu| worker(cpu, 3000));
            allocator::verify().expect("consistent after a run");
        }
        done.store(true, Ordering::Relaxed);
        checker.join().unwrap()
    });
    assert!(checks > 0);
    eprintln!("allocator_stress: {checks} consistency checks during the stress");
    let after = allocator::stats().unwrap().global;
    assert_eq!(after.nr_cur_alloc, before.nr_cur_alloc, "every allocation was freed");
    assert_eq!(after.nr_alloc - before.nr_alloc, after.nr_dealloc - before.nr_dealloc);
    assert!(after.nr_max_chunks > 1, "the stress should have needed more chunks: {after:?}");
    allocator::balance().expect("balance");
    allocator::verify().expect("consistent after balance");
    let stats = allocator::stats().unwrap();
    assert!(
        stats.chunks.iter().all(|c| c.kind != allocator::ChunkKind::Dynamic),
        "fully free chunks remain after balance:\n{stats}"
    );
}
