//! What both parts of the allocator benchmark use: the machine, the timed backend, the timers,
//! the workload loops and Linux's figures.

use percpu_rt::allocator::hosted::{HOSTED_BACKEND, HostedBackend};
use percpu_rt::allocator::{self, Backend, BackendError, ChunkGeometry, ChunkKind, PerCpuPtr};
use percpu_rt::hosted::{Machine, MachineConfig};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The sizes and alignments of Linux's table.
pub const SIZES: [(usize, usize); 5] = [(4, 4), (16, 8), (64, 8), (256, 8), (1024, 8)];

/// Linux 6.1 (UML, native speed), ns per operation, on one CPU model: for each row of
/// [`SIZES`], alloc r1, r2, r3, free in order, reverse, alternating; then the aligned case
/// (4 bytes aligned 8), alloc and free in order.
pub struct LinuxFigures {
    name: String,
    rows: Option<([[f64; 6]; 5], [f64; 2])>,
    /// Whether `rows` were measured on this CPU's model; if not, they are the nearest table,
    /// for reference only (no ratio against them is a goal's comparison).
    pub same_model: bool,
}

/// Linux 6.1 measured under User-Mode Linux (-O2, `init_on_alloc=1`, medians of 3 boots) on an
/// Intel Xeon of this machine kind.
const LINUX_INTEL: ([[f64; 6]; 5], [f64; 2]) = (
    [
        [85.3, 76.7, 79.0, 18.8, 18.9, 20.3],
        [80.0, 79.9, 78.9, 20.1, 20.1, 23.5],
        [87.5, 87.5, 88.0, 21.0, 20.8, 23.2],
        [110.7, 113.2, 113.3, 25.2, 25.3, 29.4],
        [234.7, 236.0, 234.5, 42.1, 39.9, 63.4],
    ],
    [2353.1, 21.3],
);

/// The same, on an AMD EPYC of family 26 (Zen 5).
const LINUX_AMD: ([[f64; 6]; 5], [f64; 2]) = (
    [
        [78.2, 76.3, 88.0, 20.9, 22.6, 21.6],
        [77.5, 78.1, 82.1, 22.1, 23.2, 23.5],
        [93.3, 90.4, 90.9, 23.8, 29.3, 24.6],
        [105.9, 98.8, 101.6, 28.2, 31.9, 34.4],
        [163.4, 153.8, 174.0, 47.2, 44.0, 80.4],
    ],
    [1976.1, 22.0],
);

/// Linux 6.1 measured under User-Mode Linux with `scripts/linux-uml-bench.sh` (medians of 6
/// boots, 2026-12-02; calibration: a plain loop ran at the host's speed inside UML), on an AMD
/// EPYC of family 23, model 1 (Zen 1, 2 GHz).
const LINUX_AMD_ZEN1: ([[f64; 6]; 5], [f64; 2]) = (
    [
        [225.9, 228.8, 224.6, 50.5, 61.0, 52.8],
        [218.3, 222.4, 220.2, 50.8, 54.7, 57.2],
        [234.6, 231.6, 233.4, 56.9, 58.7, 70.3],
        [262.8, 262.8, 262.4, 61.9, 60.8, 70.7],
        [428.4, 430.9, 432.0, 98.1, 98.2, 121.8],
    ],
    [3600.4, 51.5],
);

/// `/proc/cpuinfo`'s model name.
pub fn cpu_model() -> String {
    cpuinfo_field("model name").unwrap_or_else(|| "unknown".into())
}

/// The first value of `field` in `/proc/cpuinfo`.
fn cpuinfo_field(field: &str) -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.split(':').next().is_some_and(|k| k.trim() == field))
        .and_then(|l| l.split(':').nth(1))
        .map(|v| v.trim().to_string())
}

/// The x86 CPU family and model numbers of `/proc/cpuinfo`.
pub fn cpu_family_model() -> (Option<u32>, Option<u32>) {
    let number = |field: &str| cpuinfo_field(field).and_then(|v| v.parse().ok());
    (number("cpu family"), number("model"))
}

/// The family of the AMD EPYC that `LINUX_AMD` was measured on (Zen 5).
const LINUX_AMD_FAMILY: u32 = 26;

impl LinuxFigures {
    /// The table measured on this CPU model, if there is one; else the nearest one, marked as
    /// not this model. An AMD EPYC's virtual CPU shows only "AMD EPYC" as its model name, so the
    /// family and model numbers tell the generations apart (family 23 is Zen 1 and 2, 25 Zen 3
    /// and 4, 26 Zen 5). `scripts/linux-uml-bench.sh` measures a table for another CPU.
    pub fn for_this_cpu() -> LinuxFigures {
        let model = cpu_model();
        if model.contains("AMD EPYC") {
            match cpu_family_model() {
                (Some(LINUX_AMD_FAMILY), _) => LinuxFigures {
                    name: "the AMD EPYC Zen 5 table".into(),
                    rows: Some(LINUX_AMD),
                    same_model: true,
                },
                (Some(23), Some(1)) => LinuxFigures {
                    name: "the AMD EPYC Zen 1 (family 23, model 1) table".into(),
                    rows: Some(LINUX_AMD_ZEN1),
                    same_model: true,
                },
                (family, model) => LinuxFigures {
                    name: format!(
                        "none matches this CPU, an AMD EPYC of family {} model {} (Linux's AMD tables are from a Zen 5, family {LINUX_AMD_FAMILY}, and a Zen 1, family 23 model 1; \
                         ratios against the Zen 5 one are shown under the single-CPU table, for reference only)",
                        family.map_or("unknown".into(), |f| f.to_string()),
                        model.map_or("unknown".into(), |m| m.to_string())
                    ),
                    rows: Some(LINUX_AMD),
                    same_model: false,
                },
            }
        } else if model.contains("Intel") && model.contains("Xeon") {
            LinuxFigures {
                name: "the Intel Xeon table".into(),
                rows: Some(LINUX_INTEL),
                same_model: true,
            }
        } else {
            LinuxFigures {
                name: "none matches this CPU (no ratios)".into(),
                rows: None,
                same_model: false,
            }
        }
    }

    /// Which table the ratios use, for the report's header.
    pub fn describe(&self) -> String {
        format!(
            "{} (Linux 6.1 measured under User-Mode Linux: `LINUX_INTEL`/`LINUX_AMD`/`LINUX_AMD_ZEN1` in `percpu-rt/benches/allocator/common.rs`)",
            self.name
        )
    }

    pub fn row(&self, size: usize, align: usize) -> Option<[f64; 6]> {
        let i = SIZES.iter().position(|&s| s == (size, align))?;
        self.rows.map(|r| r.0[i])
    }

    pub fn aligned(&self) -> Option<[f64; 2]> {
        self.rows.map(|r| r.1)
    }
}

/// The hosted backend, with the time spent in it counted.
pub struct TimedBackend {
    ns: AtomicU64,
}

pub static TIMED: TimedBackend = TimedBackend { ns: AtomicU64::new(0) };

impl TimedBackend {
    /// Runs `f`, counting its time: the thread's CPU time when the loops report CPU time
    /// ([`cpu_time`]), so that the cold table subtracts like from like; wall clock otherwise.
    fn timed<R>(&self, f: impl FnOnce() -> R) -> R {
        let (t, c) = (Instant::now(), cpu_time().then(thread_cpu_ns));
        let r = f();
        let ns = match c {
            Some(c) => thread_cpu_ns() - c,
            None => t.elapsed().as_nanos() as u64,
        };
        self.ns.fetch_add(ns, Ordering::Relaxed);
        r
    }
}

// SAFETY: forwards every call to the hosted backend, which upholds the contract.
unsafe impl Backend for TimedBackend {
    fn create_chunk(&self, g: &ChunkGeometry) -> Result<usize, BackendError> {
        self.timed(|| HOSTED_BACKEND.create_chunk(g))
    }
    unsafe fn populate(
        &self,
        g: &ChunkGeometry,
        base: usize,
        pages: Range<usize>,
    ) -> Result<(), BackendError> {
        // SAFETY: forwarded from the caller (the allocator).
        self.timed(|| unsafe { HOSTED_BACKEND.populate(g, base, pages) })
    }
    unsafe fn depopulate(&self, g: &ChunkGeometry, base: usize, pages: Range<usize>) {
        // SAFETY: forwarded from the caller (the allocator).
        self.timed(|| unsafe { HOSTED_BACKEND.depopulate(g, base, pages) })
    }
    unsafe fn destroy_chunk(&self, g: &ChunkGeometry, base: usize) {
        // SAFETY: forwarded from the caller (the allocator).
        self.timed(|| unsafe { HOSTED_BACKEND.destroy_chunk(g, base) })
    }
}

pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Whether CPU time is reported instead of wall-clock time.
pub fn cpu_time() -> bool {
    std::env::var_os("PERCPU_BENCH_CPU_TIME").is_some_and(|v| v != "0")
}

/// Boots the hosted machine with the timing wrapper as the allocator's backend (registered
/// first, so the machine keeps it instead of the plain hosted backend).
pub fn boot(cpus: u32) -> &'static Machine {
    allocator::set_backend(&TIMED).expect("the benchmark registers the allocator's backend first");
    let m = Machine::boot(MachineConfig::new(cpus)).expect("boot the hosted machine");
    assert!(allocator::is_initialized(), "the first-chunk setup hands its chunk to the allocator");
    m
}

/// This thread's CPU time, in ns (unaffected by other processes taking the CPU).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Pins the calling thread to core `core` (modulo the cores there are).
pub fn pin_to_core(core: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET and sched_setaffinity only touch it.
    unsafe {
        let n = libc::sysconf(libc::_SC_NPROCESSORS_ONLN).max(1) as usize;
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        libc::CPU_SET(core % n, &mut set);
        libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Time spent in the backend from here on, measured around each backend call.
pub struct BackendClock;

impl BackendClock {
    pub fn start() -> BackendClock {
        TIMED.ns.store(0, Ordering::Relaxed);
        BackendClock
    }

    pub fn ns_per(self, n: usize) -> f64 {
        TIMED.ns.load(Ordering::Relaxed) as f64 / n as f64
    }
}

/// Wall-clock and CPU time of the loops, summed, to show how much other processes took.
pub static WALL_NS: AtomicU64 = AtomicU64::new(0);
pub static CPU_NS: AtomicU64 = AtomicU64::new(0);

/// A timed loop: wall-clock ns per operation (Linux's definition); the thread's CPU time is
/// recorded too.
pub struct Timer {
    wall: Instant,
    cpu: u64,
}

impl Timer {
    pub fn start() -> Timer {
        Timer { wall: Instant::now(), cpu: thread_cpu_ns() }
    }

    pub fn ns_per(self, n: usize) -> f64 {
        let wall = self.wall.elapsed().as_nanos() as u64;
        let cpu = thread_cpu_ns() - self.cpu;
        WALL_NS.fetch_add(wall, Ordering::Relaxed);
        CPU_NS.fetch_add(cpu, Ordering::Relaxed);
        if cpu_time() { cpu as f64 / n as f64 } else { wall as f64 / n as f64 }
    }
}

/// The pointers of a round's areas (8 bytes each, as Linux's benchmark keeps them), allocated
/// and touched once, outside the timed loops, and reused.
pub struct Slots {
    ptrs: Vec<PerCpuPtr>,
    size: usize,
    align: usize,
}

/// Room for `n` pointers, every page of it touched.
pub fn slots(n: usize) -> Slots {
    Slots { ptrs: vec![PerCpuPtr::from_addr(0); n], size: 0, align: 0 }
}

/// Allocates an area for every slot. The owners are given up (`into_raw`): [`free_all`] frees
/// by pointer with the shape (`free_raw_sized`, through the CPU's cache where there is one, as
/// an owner's drop; checked through the chunks where there is none, as `free_raw`).
pub fn alloc_all(slots: &mut Slots, size: usize, align: usize) -> f64 {
    slots.size = size;
    slots.align = align;
    let t = Timer::start();
    for p in slots.ptrs.iter_mut() {
        *p = allocator::alloc(size, align).expect("allocation").into_raw();
    }
    t.ns_per(slots.ptrs.len())
}

#[derive(Clone, Copy)]
pub enum Order {
    Forward,
    Reverse,
    Alternating,
}

/// Frees every slot's area, in `order`.
pub fn free_all(slots: &mut Slots, order: Order) -> f64 {
    let (n, size, align) = (slots.ptrs.len(), slots.size, slots.align);
    let free = |p: &PerCpuPtr| {
        // SAFETY: every pointer comes from `into_raw` of an area `alloc_all` allocated with
        // this size and alignment, and each is freed exactly once.
        unsafe { allocator::free_raw_sized(*p, size, align) }.expect("free")
    };
    let t = Timer::start();
    match order {
        Order::Forward => slots.ptrs.iter().for_each(free),
        Order::Reverse => slots.ptrs.iter().rev().for_each(free),
        Order::Alternating => {
            slots.ptrs.iter().step_by(2).for_each(free);
            slots.ptrs.iter().skip(1).step_by(2).for_each(free);
        }
    }
    t.ns_per(n)
}

pub fn populated_per_cpu_bytes() -> usize {
    let g = allocator::stats().expect("initialised").global;
    g.populated_pages * g.page_size
}

/// Resident pages of every dynamic chunk's units, by `mincore`.
pub fn mincore_pages() -> usize {
    let stats = allocator::stats().expect("initialised");
    let geo = allocator::global().expect("initialised").geometry().clone();
    stats
        .chunks
        .iter()
        .filter(|c| c.kind == ChunkKind::Dynamic)
        .map(|c| {
            geo.units
                .iter()
                .map(|&(_, off)| {
                    HostedBackend::mincore_resident(c.base + off, geo.unit_size).unwrap_or(0)
                })
                .sum::<usize>()
        })
        .sum()
}

/// A tiny deterministic generator (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The median of `v` (not empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 }
}
