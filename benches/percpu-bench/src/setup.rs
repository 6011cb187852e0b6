//! Item 4 of issue 7: the first-chunk setup for N possible CPUs (one node), measured three ways
//! (section `setup-N`, ns per setup):
//!
//! * `layout + checks`: what the setup computes before touching memory:
//!   `layout::build_alloc_info` (unit size, units per allocation, groups),
//!   `first_chunk::validate` (every check of Linux's `pcpu_setup_first_chunk`) and the unit
//!   table (`AllocInfo::unit_offsets` collected). No template copy.
//! * `embed (prefaulted arena)`: the whole `first_chunk::embed_first_chunk` (the same computation,
//!   the allocation of every unit from an `EarlyMemory`, the template copied into every unit, the
//!   runtime's per-CPU variables and `#[percpu(init)]` initialisers run per CPU, the unit tails
//!   given back), with an `EarlyMemory` that bumps through one `mmap`ed arena populated beforehand
//!   (`MAP_POPULATE`): no page fault, no system call; `free` does nothing.
//! * `embed (fresh mmap)`: the same with an `EarlyMemory` like hosted mode's: a fresh anonymous
//!   `mmap` per group, `munmap` for each tail given back, so the first touch of every unit's
//!   pages faults them in. Unmapping the chunk afterwards is not timed.
//!
//! `embed` returns the filled chunk without installing it, so it can be called repeatedly.

use bench_harness::Stats;
use bench_harness::record::{Record, Unit, info};
use bench_harness::timing::{Effort, pin_or_warn};
use core::hint::black_box;
use core::ptr::NonNull;
use percpu_rt::CpuId;
use percpu_rt::first_chunk::{self, EarlyMemory, SetupConfig};
use percpu_rt::layout::{LayoutParams, build_alloc_info};
use std::time::{Duration, Instant};

const PAGE: usize = 4096;

/// One way of setting up: runs one setup, adding the time of the setup alone to its argument.
type Way<'a> = dyn FnMut(&mut Duration) -> Result<(), String> + 'a;

/// Anonymous private read-write memory of `len` bytes (rounded up to pages).
fn map(len: usize, populate: bool) -> Result<usize, String> {
    let flags = libc::MAP_PRIVATE
        | libc::MAP_ANONYMOUS
        | libc::MAP_NORESERVE
        | if populate { libc::MAP_POPULATE } else { 0 };
    // SAFETY: a fresh anonymous mapping at an address the kernel chooses; the result is checked.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len.next_multiple_of(PAGE),
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(format!("mmap of {len} bytes: {}", std::io::Error::last_os_error()))
    } else {
        Ok(p as usize)
    }
}

/// Unmaps `[addr, addr + len)` (pages that are already unmapped are skipped by the kernel).
fn unmap(addr: usize, len: usize) {
    // SAFETY: only ranges this module mapped are unmapped, and nothing refers to them any more.
    unsafe { libc::munmap(addr as *mut libc::c_void, len.next_multiple_of(PAGE)) };
}

/// A bump allocator over one populated mapping; `free` does nothing, `reset` starts over.
struct Arena {
    base: usize,
    len: usize,
    next: usize,
}

impl EarlyMemory for Arena {
    fn alloc(&mut self, size: usize, align: usize, _cpu: CpuId) -> Option<NonNull<u8>> {
        let start = (self.base + self.next).next_multiple_of(align);
        let end = start.checked_add(size)?;
        if end > self.base + self.len {
            return None;
        }
        self.next = end - self.base;
        NonNull::new(start as *mut u8)
    }

    fn free(&mut self, _ptr: NonNull<u8>, _size: usize) {}
}

/// Fresh mappings per allocation (hosted mode's way); `free` unmaps.
#[derive(Default)]
struct FreshMmap {
    /// Every allocation, for unmapping after the measurement.
    maps: Vec<(usize, usize)>,
}

impl EarlyMemory for FreshMmap {
    fn alloc(&mut self, size: usize, align: usize, _cpu: CpuId) -> Option<NonNull<u8>> {
        // Over-map by the alignment, then trim the head and the tail.
        let span = size.checked_add(align.max(PAGE))?;
        let raw = map(span, false).ok()?;
        let start = raw.next_multiple_of(align.max(PAGE));
        if start > raw {
            unmap(raw, start - raw);
        }
        let end = (start + size).next_multiple_of(PAGE);
        if raw + span > end {
            unmap(end, raw + span - end);
        }
        self.maps.push((start, size));
        NonNull::new(start as *mut u8)
    }

    fn free(&mut self, ptr: NonNull<u8>, size: usize) {
        unmap(ptr.as_ptr() as usize, size);
    }
}

impl FreshMmap {
    fn release_all(&mut self) {
        for (addr, len) in self.maps.drain(..) {
            unmap(addr, len);
        }
    }
}

/// Times the three ways for `cpus` possible CPUs.
pub fn run(cpus: u32, effort: &Effort) -> Result<(), String> {
    pin_or_warn(0);
    // The checks refuse more than one CPU without a platform (preemption and interrupt hooks).
    let _ = percpu_rt::set_platform(&percpu_rt::NoopPlatform);
    let possible: Vec<CpuId> = (0..cpus).map(CpuId::new).collect();
    let cfg = SetupConfig::new(&possible);
    let params = LayoutParams::linux_defaults(percpu_rt::template::static_size());
    let template = percpu_rt::template::start() as usize;

    let ai = build_alloc_info(&params, &possible, None).map_err(|e| e.to_string())?;
    let arena_len = ai.nr_units() * ai.unit_size + ai.atom_size;
    info("setup_cpus", cpus);
    info("setup_unit_size", ai.unit_size);
    info("setup_static_size", ai.static_size);
    info("setup_chunk_bytes", ai.nr_units() * ai.unit_size);
    let base = map(arena_len, true)?;
    let mut arena = Arena { base, len: arena_len, next: 0 };
    let chunk_base = base.next_multiple_of(ai.atom_size);

    // Each way adds the time of its setup alone to `timed`.
    let mut checks = |timed: &mut Duration| {
        let start = Instant::now();
        let ai = build_alloc_info(&params, &possible, None).map_err(|e| e.to_string())?;
        first_chunk::validate(&ai, chunk_base, template, &cfg).map_err(|e| e.to_string())?;
        let units: Vec<(CpuId, usize)> = ai.unit_offsets().collect();
        black_box(units);
        *timed += start.elapsed();
        Ok::<_, String>(())
    };
    let mut embed_arena = |timed: &mut Duration| {
        arena.next = 0;
        let start = Instant::now();
        // SAFETY: the arena is a private writable mapping used by nothing else, not the
        // template; the chunk is dropped uninstalled before the arena is reused.
        let chunk = unsafe { first_chunk::embed_first_chunk(&params, &cfg, None, &mut arena) };
        *timed += start.elapsed();
        black_box(chunk.map_err(|e| e.to_string())?);
        Ok(())
    };
    let mut fresh = FreshMmap::default();
    let mut embed_fresh = |timed: &mut Duration| {
        let start = Instant::now();
        // SAFETY: every mapping is fresh, private and writable; the chunk is dropped
        // uninstalled before the mappings are released.
        let chunk = unsafe { first_chunk::embed_first_chunk(&params, &cfg, None, &mut fresh) };
        *timed += start.elapsed();
        black_box(chunk.map_err(|e| e.to_string())?);
        fresh.release_all();
        Ok(())
    };
    let mut ways: [&mut Way<'_>; 3] = [&mut checks, &mut embed_arena, &mut embed_fresh];
    let names = ["layout + checks", "embed (prefaulted arena)", "embed (fresh mmap)"];

    eprintln!("setup: {cpus} possible CPUs ...");
    // One sample: enough calls to last about one sample length (setup time only).
    let mut calls = [0u64; 3];
    for (way, calls) in ways.iter_mut().zip(&mut calls) {
        *calls = calls_per_sample(*way, effort.sample)?;
    }
    let mut samples: [Vec<f64>; 3] = Default::default();
    let started = Instant::now();
    for round in 0..effort.rounds {
        if round >= effort.min_rounds && started.elapsed() > effort.budget {
            break;
        }
        for k in 0..3 {
            let which = (k + round) % 3;
            let mut timed = Duration::ZERO;
            for _ in 0..calls[which] {
                (ways[which])(&mut timed)?;
            }
            samples[which].push(timed.as_nanos() as f64 / calls[which] as f64);
        }
    }
    unmap(base, arena_len);
    let section = format!("setup-{cpus}");
    for (s, name) in samples.iter().zip(names) {
        let stats = Stats::from_samples(s).ok_or("no setup sample")?;
        Record::new(&section, name, "setup", Unit::NsPerCall, stats).emit();
    }
    Ok(())
}

/// How many calls of `f` take about `target` of timed setup (at least 1); also warms up.
fn calls_per_sample(f: &mut Way<'_>, target: Duration) -> Result<u64, String> {
    let mut timed = Duration::ZERO;
    let mut calls = 0u64;
    while timed < target / 2 || calls < 2 {
        f(&mut timed)?;
        calls += 1;
    }
    let per_call = timed.as_secs_f64() / calls as f64;
    Ok(((target.as_secs_f64() / per_call) as u64).max(1))
}
