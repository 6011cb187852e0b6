//! The boot flow both kernels share, from the first Rust code on the boot CPU to the final
//! `PASS`/`FAIL` line ([`boot_cpu_main`]), and the path of every other CPU
//! ([`secondary_main`]).

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use kernel_lib::dynamic::DynamicRun;
use kernel_lib::facilities::FacilitiesRun;
use percpu_rt::CpuId;

use crate::arch::{Arch, BootInfo, arch, install};
use crate::misuse::Misuse;
use crate::percpu_setup::{self, FirstChunkMode};
use crate::smp::{self, CpuState};
use crate::{cmdline, fail, frames, heap, println};

/// Bytes of heap (percpu-rt's tables, layouts, the checks' bookkeeping).
const HEAP_SIZE: usize = 4 << 20;
/// Bytes of stack for each secondary CPU.
const STACK_SIZE: usize = 64 << 10;
/// Iterations of the concurrent per-CPU work when the command line has no `iterations=`.
const DEFAULT_ITERATIONS: u64 = 100_000;

/// Iterations of the per-CPU work, from the command line (read by every CPU).
static ITERATIONS: AtomicU64 = AtomicU64::new(DEFAULT_ITERATIONS);
/// Rounds of dynamic allocation per CPU for every this many iterations.
const ITERATIONS_PER_DYNAMIC_ROUND: u64 = 500;

/// The dynamic objects all CPUs share during the concurrent work: read-locked by every CPU
/// for its work, taken by the boot CPU for the remote checks.
static DYNAMIC: spin::RwLock<Option<DynamicRun>> = spin::RwLock::new(None);
/// The counters and the reference count every CPU uses at once.
static FACILITIES: spin::RwLock<Option<FacilitiesRun>> = spin::RwLock::new(None);

/// The CPU that raises an exception on purpose (`fault=<cpu>`), or `u64::MAX` for none.
static FAULT_CPU: AtomicU64 = AtomicU64::new(u64::MAX);

/// Rounds of dynamic allocation per CPU.
fn dynamic_rounds() -> u64 {
    (ITERATIONS.load(Ordering::Relaxed) / ITERATIONS_PER_DYNAMIC_ROUND).max(1)
}

/// `n` followed by `word`, with an `s` unless `n` is 1 (no allocation: the banner comes before
/// the heap).
struct Count(usize, &'static str);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}{}", self.0, self.1, if self.0 == 1 { "" } else { "s" })
    }
}

/// The boot CPU's path: everything from the console to the final line. Never returns: the run
/// ends with QEMU's exit.
pub fn boot_cpu_main(arch: &'static dyn Arch, info: BootInfo<'_>) -> ! {
    install(arch);
    let nr_present = info.hw_ids.len();
    let nr_possible = info.nr_possible;
    println!(
        "percpu example kernel on {}: {}, {nr_present} present ({}), command line {:?}",
        arch.name(),
        Count(nr_possible, "possible CPU"),
        info.cpus_from,
        info.cmdline
    );
    if nr_present == 0 || nr_possible < nr_present {
        fail!(
            "{nr_present} present CPUs of {nr_possible} possible: the kernel's CPU list is wrong"
        );
    }
    if percpu_rt::set_platform(&crate::platform::PLATFORM).is_err() {
        fail!("a per-CPU platform was registered before the kernel registered its own");
    }

    // Memory: every RAM range minus the reservations, then the heap.
    // SAFETY: `BootInfo`'s contract: `ram` is identity-mapped writable RAM, and what in it is
    // still in use lies in `reserved`.
    if let Err(e) = unsafe { frames::init(info.ram, info.reserved) } {
        fail!("memory map: {e}");
    }
    let heap_start = match frames::alloc(HEAP_SIZE, frames::FRAME_SIZE) {
        Ok(start) => start,
        Err(e) => fail!("heap: {e}"),
    };
    // SAFETY: the frames were just taken from the allocator, which hands them to nobody else,
    // and RAM is identity-mapped; this is the only call.
    unsafe { heap::init(heap_start, HEAP_SIZE) };
    println!(
        "memory: {} KiB free for frames after a {} KiB heap",
        frames::free_bytes() >> 10,
        HEAP_SIZE >> 10
    );

    let mode = match cmdline::value(info.cmdline, "percpu_alloc") {
        None => info.percpu.first_chunk,
        Some(word) => match FirstChunkMode::from_name(word) {
            Some(mode) => mode,
            None => fail!("percpu_alloc={word}: unknown first-chunk mode; use embed, page or auto"),
        },
    };
    // Linux's `maxcpus=`: bring at most this many CPUs online at boot (the rest stay present
    // and possible).
    let nr_online = match cmdline::value(info.cmdline, "maxcpus") {
        None => nr_present,
        Some(word) => match word.parse::<usize>() {
            Ok(n) if n > 0 => n.min(nr_present),
            _ => fail!("maxcpus={word}: expected a positive number of CPUs to bring online"),
        },
    };
    if let Some(word) = cmdline::value(info.cmdline, "fault") {
        match word.parse::<u64>() {
            Ok(cpu) if cpu < nr_online as u64 => FAULT_CPU.store(cpu, Ordering::Relaxed),
            _ => fail!("fault={word}: expected a CPU number below {nr_online} (the online CPUs)"),
        }
    }
    let misuse = cmdline::value(info.cmdline, "debug_misuse").map(|word| {
        Misuse::parse(word, nr_possible).unwrap_or_else(|e| fail!("debug_misuse={word}: {e}"))
    });
    if let Some(word) = cmdline::value(info.cmdline, "iterations") {
        match word.parse::<u64>() {
            Ok(n) if n > 0 => ITERATIONS.store(n, Ordering::Relaxed),
            _ => fail!("iterations={word}: expected a positive number"),
        }
    }

    // The per-CPU first chunk: a unit for every possible CPU (Linux's
    // `for_each_possible_cpu`), the dump, the boot CPU's base register.
    let possible: Vec<CpuId> = (0..nr_possible as u32).map(CpuId::new).collect();
    let online = &possible[..nr_online];
    let online_hw: Vec<(CpuId, u64)> =
        online.iter().copied().zip(info.hw_ids.iter().copied()).collect();
    if let Err(e) = percpu_setup::setup(arch, mode, &possible, info.page_mode_vm_base, &info.percpu)
    {
        fail!("per-CPU first chunk ({}): {e}", mode.name());
    }
    smp::init(nr_possible);
    cpu_online(CpuId::new(0));
    // The grace period counts pinned sections in per-CPU words: registered once they exist.
    if percpu_rt::grace::set_grace_period(&crate::grace::GRACE).is_err() {
        fail!("a grace period was registered before the kernel registered its own");
    }

    // The other CPUs to bring online: all started, then each awaited.
    for &(cpu, hw_id) in &online_hw[1..] {
        let stack = match frames::alloc(STACK_SIZE, frames::FRAME_SIZE) {
            Ok(stack) => stack,
            Err(e) => fail!("stack for CPU {cpu}: {e}"),
        };
        if let Err(e) = arch.start_cpu(cpu, hw_id, stack + STACK_SIZE) {
            fail!("starting CPU {cpu} (hardware id {hw_id:#x}): {e}");
        }
    }
    for &(cpu, hw_id) in &online_hw[1..] {
        if !smp::wait_for(cpu, CpuState::Online) {
            fail!("CPU {cpu} (hardware id {hw_id:#x}) did not come online");
        }
    }
    println!(
        "smp: {} online of {nr_possible} possible ({nr_present} present)",
        Count(nr_online, "CPU")
    );

    // The shared dynamic objects, then everyone works at once; then the boot CPU checks every
    // copy from here.
    match DynamicRun::prepare() {
        Ok(run) => *DYNAMIC.write() = Some(run),
        Err(e) => fail!("dynamic per-CPU objects: {e}"),
    }
    match FacilitiesRun::prepare(nr_online) {
        Ok(run) => *FACILITIES.write() = Some(run),
        Err(e) => fail!("counters and reference counts: {e}"),
    }
    if let Err(stuck) = smp::release(&online_hw) {
        fail!("CPUs {stuck:?} did not react to the release");
    }
    run_checks_on(CpuId::new(0));
    for cpu in online {
        if !smp::wait_for(*cpu, CpuState::Done) {
            fail!(
                "CPUs {:?} did not finish their per-CPU work",
                smp::lagging(online, CpuState::Done)
            );
        }
    }
    let iterations = ITERATIONS.load(Ordering::Relaxed);
    match kernel_lib::check_remote(&possible, online, iterations) {
        Ok(summary) => println!("{summary}"),
        Err(e) => fail!("remote check (kernel-lib): {e}"),
    }
    if let Err(e) = arch.kernel_percpu_check(&info.hw_ids[..nr_online], &possible, iterations) {
        fail!("remote check (kernel): {e}");
    }
    // Checked (and freed) before the dynamic objects' check counts what is still live.
    let Some(facilities) = FACILITIES.write().take() else {
        fail!("the counters disappeared before the check");
    };
    match facilities.check(online, dynamic_rounds()) {
        Ok(summary) => println!("{summary}"),
        Err(e) => fail!("counters and reference counts: {e}"),
    }
    let Some(run) = DYNAMIC.write().take() else {
        fail!("the dynamic objects disappeared before the remote check");
    };
    match run.check_remote(&possible, online, dynamic_rounds()) {
        Ok(summary) => println!(
            "{summary}; {} pages still mapped for dynamic chunks",
            percpu_setup::dynamic_pages_mapped()
        ),
        Err(e) => fail!("remote check (dynamic): {e}"),
    }
    if let Some(refused) = percpu_setup::dynamic_refused_frames() {
        fail!("dynamic chunks: {refused}");
    }
    println!("heap: {} bytes in use of {} KiB", heap::used(), heap::size() >> 10);
    if let Some(misuse) = misuse {
        println!("debug: {misuse:?} on purpose");
        misuse.commit();
        fail!("debug_misuse: {misuse:?} was not reported");
    }
    crate::exit::pass()
}

/// Every CPU, once its base register is loaded: checks that it sees itself, lets the kernel
/// record its own per-CPU state, and reports online.
fn cpu_online(cpu: CpuId) {
    let current = CpuId::current();
    if current != cpu {
        fail!("CPU {cpu} reads CpuId::current() = {current}: its base register points elsewhere");
    }
    arch().cpu_online(cpu);
    println!(
        "cpu{cpu}: online, hardware id {:#x}, {} = {:#x}",
        arch().hw_cpu_id(),
        percpu_rt::arch::BASE_REGISTER,
        percpu_rt::arch::read_base()
    );
    smp::set(cpu, CpuState::Online);
}

/// Every CPU's share of the concurrent work.
fn run_checks_on(cpu: CpuId) {
    if FAULT_CPU.load(Ordering::Relaxed) == u64::from(cpu.as_u32()) {
        arch().undefined_instruction();
    }
    let iterations = ITERATIONS.load(Ordering::Relaxed);
    if let Err(e) = kernel_lib::run_on_cpu(cpu, iterations) {
        fail!("CPU {cpu} (kernel-lib): {e}");
    }
    if let Err(e) = arch().kernel_percpu_work(cpu, iterations) {
        fail!("CPU {cpu} (kernel): {e}");
    }
    {
        let dynamic = DYNAMIC.read();
        let Some(run) = dynamic.as_ref() else {
            fail!("CPU {cpu}: no dynamic objects were prepared");
        };
        if let Err(e) = run.run_on_cpu(cpu, dynamic_rounds()) {
            fail!("CPU {cpu} (dynamic): {e}");
        }
    }
    {
        let facilities = FACILITIES.read();
        let Some(run) = facilities.as_ref() else {
            fail!("CPU {cpu}: no counters were prepared");
        };
        if let Err(e) = run.run_on_cpu(cpu, dynamic_rounds()) {
            fail!("CPU {cpu} (counters and reference counts): {e}");
        }
    }
    smp::set(cpu, CpuState::Done);
}

/// A secondary CPU's path, entered from the kernel's start-up code with a stack, paging on and
/// base register 0. Never returns: after its work the CPU parks until QEMU exits.
pub fn secondary_main(cpu: CpuId) -> ! {
    // SAFETY: this runs on CPU `cpu` (the kernel started it as that CPU), after the first
    // chunk was set up on the boot CPU, before any per-CPU access on this CPU.
    if let Err(e) = unsafe { percpu_setup::load_base(cpu) } {
        fail!("CPU {cpu}: loading the per-CPU base register: {e}");
    }
    cpu_online(cpu);
    smp::wait_for_release(cpu);
    run_checks_on(cpu);
    arch().park()
}
