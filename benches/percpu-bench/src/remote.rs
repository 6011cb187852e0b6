//! Item 3 of issue 7: summing a per-CPU counter over every possible CPU (remote reads:
//! `COUNTER.iter_possible().sum()`), on a hosted machine of N possible CPUs, against what a
//! kernel author writes without per-CPU support: an array of N counters, each alone on its cache
//! lines, summed with relaxed loads (section `remote-N`, ns per whole sum).
//!
//! A third sum reads the same per-CPU copies through a pointer per CPU computed beforehand:
//! the difference to the first is the runtime's per-CPU lookup, the difference to the array is
//! where the copies are (one unit, at least a page, per CPU).
//!
//! Two more sums read counters laid out like the units in plain memory, one unit size apart
//! and one unit size plus a cache line apart: the first shows the cost of the layout alone
//! (every copy at the same offset of a page-aligned unit, so all copies compete for the same
//! cache sets), the second the same distance without that alignment.
//!
//! Every CPU's copy is first set by that CPU itself (`run_on` each CPU in turn), and both sums
//! are checked against the expected total before timing. The summing thread is hosted CPU 0,
//! pinned to core 0.

use crate::baselines::Padded;
use bench_harness::record::{Record, Unit, info};
use bench_harness::timing::{self, Effort, pin_or_warn};
use bench_harness::{clobber, sink};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use percpu_rt::CpuId;
use percpu_rt::hosted::Machine;
use percpu_rt::percpu;

/// The counter summed over all possible CPUs.
#[percpu]
static REMOTE_COUNTER: u64 = 0;

/// The per-CPU sum (exported for `objdump`).
#[inline(never)]
#[unsafe(no_mangle)]
pub fn remote_sum_percpu() -> u64 {
    REMOTE_COUNTER.iter_possible().fold(0u64, u64::wrapping_add)
}

/// The baseline's sum over `counters` (exported for `objdump`).
#[inline(never)]
#[unsafe(no_mangle)]
pub fn remote_sum_array(counters: &[Padded]) -> u64 {
    counters.iter().fold(0u64, |sum, c| sum.wrapping_add(c.0.load(Relaxed)))
}

/// The same copies summed through a precomputed address per CPU (exported for `objdump`): the
/// memory traffic of the per-CPU sum without the runtime's per-CPU lookups.
#[inline(never)]
#[unsafe(no_mangle)]
pub fn remote_sum_pointers(copies: &[usize]) -> u64 {
    copies.iter().fold(0u64, |sum, &p| {
        // SAFETY: every pointer is a possible CPU's copy of `REMOTE_COUNTER` (`ptr_on`), aligned
        // and live for the program; its owner no longer writes it, and the load is atomic.
        let value = unsafe { AtomicU64::from_ptr(p as *mut u64) }.load(Relaxed);
        sum.wrapping_add(value)
    })
}

/// Counters `stride` bytes apart in one anonymous mapping (the units' layout without percpu-rt):
/// counter `i` holds `i + 1`.
struct Strided {
    base: usize,
    len: usize,
    addrs: Vec<usize>,
}

impl Strided {
    fn new(count: usize, stride: usize) -> Result<Strided, String> {
        let len = (count * stride).next_multiple_of(4096);
        // SAFETY: a fresh private anonymous mapping; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        let base = p as usize;
        let addrs: Vec<usize> = (0..count).map(|i| base + i * stride).collect();
        for (i, &a) in addrs.iter().enumerate() {
            // SAFETY: inside the mapping (i * stride + 8 <= len), 8-aligned (stride is).
            unsafe { (a as *mut u64).write(i as u64 + 1) };
        }
        Ok(Strided { base, len, addrs })
    }
}

impl Drop for Strided {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, no longer referred to.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

/// Boots a machine of `cpus` possible CPUs and times both sums.
pub fn run(cpus: u32, effort: &Effort) -> Result<(), String> {
    let machine = Machine::boot(crate::machine_of(cpus)).map_err(|e| e.to_string())?;
    info("remote_cpus", cpus);
    for &cpu in machine.cpus() {
        machine.run_on(cpu, || REMOTE_COUNTER.write(u64::from(cpu.as_u32()) + 1));
    }
    let array: Vec<Padded> = (0..u64::from(cpus)).map(|i| Padded(AtomicU64::new(i + 1))).collect();
    // Plain memory with the units' layout: one counter per unit size, and the same shifted by
    // one cache line per CPU (so that the counters stop sharing a cache set).
    let unit = machine.first_chunk().unit_size();
    let strided = Strided::new(cpus as usize, unit)?;
    let staggered = Strided::new(cpus as usize, unit + 64)?;
    let copies: Vec<usize> =
        machine.cpus().iter().map(|&cpu| REMOTE_COUNTER.ptr_on(cpu) as usize).collect();
    let expected = u64::from(cpus) * (u64::from(cpus) + 1) / 2;
    machine.run_on(CpuId::new(0), || {
        pin_or_warn(0);
        let sums = [
            remote_sum_percpu(),
            remote_sum_pointers(&copies),
            remote_sum_pointers(&strided.addrs),
            remote_sum_pointers(&staggered.addrs),
            remote_sum_array(&array),
        ];
        if sums != [expected; 5] {
            return Err(format!("sums {sums:?}, expected {expected} each"));
        }
        let strided_loop = |addrs: &[usize], n: u64| {
            for _ in 0..n {
                sink(remote_sum_pointers(addrs));
                clobber();
            }
        };
        let mut unit_stride_loop = |n: u64| strided_loop(&strided.addrs, n);
        let mut staggered_loop = |n: u64| strided_loop(&staggered.addrs, n);
        let mut percpu_loop = |n: u64| {
            for _ in 0..n {
                sink(remote_sum_percpu());
                clobber();
            }
        };
        let mut pointers_loop = |n: u64| {
            for _ in 0..n {
                sink(remote_sum_pointers(&copies));
                clobber();
            }
        };
        let mut array_loop = |n: u64| {
            for _ in 0..n {
                sink(remote_sum_array(&array));
                clobber();
            }
        };
        eprintln!("remote: {cpus} possible CPUs ...");
        let stats = timing::sample_interleaved(
            &mut [
                &mut percpu_loop,
                &mut pointers_loop,
                &mut unit_stride_loop,
                &mut staggered_loop,
                &mut array_loop,
            ],
            effort,
        );
        let section = format!("remote-{cpus}");
        Record::new(&section, "percpu-rt iter_possible().sum()", "sum", Unit::NsPerCall, stats[0])
            .emit();
        Record::new(
            &section,
            "same copies, precomputed pointers",
            "sum",
            Unit::NsPerCall,
            stats[1],
        )
        .emit();
        Record::new(&section, "plain memory, unit stride", "sum", Unit::NsPerCall, stats[2]).emit();
        Record::new(&section, "plain memory, unit + 64 B stride", "sum", Unit::NsPerCall, stats[3])
            .emit();
        Record::new(&section, "padded AtomicU64 array", "sum", Unit::NsPerCall, stats[4]).emit();
        Ok(())
    })
}
