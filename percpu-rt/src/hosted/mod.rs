//! Hosted mode: Linux x86_64 user space as a machine. Threads act as CPUs: a CPU thread's
//! `GS.base` is set with `arch_prctl(ARCH_SET_GS)` to its unit's delta, so the same accessor
//! code as in a kernel runs, instruction for instruction, and the first chunk is set up by the
//! same code a kernel uses ([`first_chunk::embed_first_chunk`] over `mmap`, or
//! [`first_chunk::page_first_chunk`] over memfd pages mapped with `MAP_FIXED`).
//!
//! # Threads that are not CPUs
//!
//! A hosted CPU is a thread that [`Machine::run_on`] (or [`Machine::run`]) started for it: its
//! `GS.base` holds that CPU's offset, and at most one such thread runs a CPU at a time. Every
//! other thread — the program's main thread, the thread that booted the machine, the test
//! harness's threads — has base 0, like a kernel CPU that has not loaded its base register.
//! The rules:
//!
//! * **Before [`Machine::boot`]** any thread may use per-CPU statics: base 0 reaches the
//!   template, as a boot CPU does before the first-chunk setup. Nothing written there reaches
//!   the CPUs: each CPU's copy starts as the declared initial value (or the per-CPU
//!   initialiser), and what the template holds stays there, never dropped, as no static is.
//! * **After [`Machine::boot`]** only the machine's CPUs may. The boot revokes the template
//!   (its pages become inaccessible), so a per-CPU access from a thread that is not a CPU —
//!   a static, a dynamic object, `CpuId::current()`, a guard's `cpu()` — stops the process
//!   with a message that names the variable and says to use `run_on`, instead of silently
//!   reaching the template (or, for a dynamic object, memory it does not own).
//! * **A thread spawned by a CPU thread runs on that CPU** (it inherits the base register, as
//!   a task forked on a CPU starts there). Exclusive access stays exclusive: the
//!   [`IrqGuard`](crate::IrqGuard) is claimed with one atomic exchange, so only one of the
//!   threads sharing a CPU holds it at a time; by-value operations of two such threads at once
//!   may lose updates (they are one-CPU operations, not atomics across cores).
//!
//! # Testing per-CPU code
//!
//! A machine boots once per process, as a kernel does. Each test calls [`Machine::boot`] with
//! the configuration it needs: the first call boots, later calls with the same configuration
//! return the same machine (a different one is [`BootError::AlreadyBooted`]: put it in another
//! test executable). Each test then runs its per-CPU code on the machine's CPUs with
//! [`Machine::run_on`] or [`Machine::run`], and checks the copies remotely (`read_on`,
//! `iter_possible`, `remote`). Per-CPU statics keep their values from test to test: give each
//! test its own statics, or dynamic objects ([`PerCpuBox`](crate::PerCpuBox)).
//!
//! The machine follows the program's `percpu.toml` ([`Settings::linked`]): its layout,
//! first-chunk mode, `max_cpus` and the dynamic allocator's settings.
//!
//! # Platform and grace period
//!
//! [`Machine::boot`] registers the hosted platform (threads never migrate between hosted
//! CPUs, so it pins nothing; its preemption hooks count each thread's pinned sections) and,
//! where the kernel offers `membarrier(2)`, a [grace period](crate::grace) over those
//! sections, so that a [`PerCpuRef`](crate::PerCpuRef) can switch to atomic mode. A program
//! that registered another platform before the boot keeps it and gets no grace period (its
//! `PerCpuRef`s then report `RefError::NoGracePeriod` instead of switching) unless it
//! registers one itself.
//!
//! ```
//! use percpu_rt::hosted::{Machine, MachineConfig};
//! use percpu_rt::percpu;
//!
//! #[percpu]
//! static TICKS: u64 = 0;
//!
//! let machine = Machine::boot(MachineConfig::new(4)).unwrap();
//! machine.run(|_cpu| {
//!     for _ in 0..1000 {
//!         TICKS.inc();
//!     }
//! });
//! assert_eq!(TICKS.iter_possible().sum::<u64>(), 4000);
//! ```

pub(crate) mod gs_base;
mod memory;
mod not_a_cpu;
pub(crate) mod sections;

use crate::cpu_id::CpuId;
use crate::first_chunk::{self, FirstChunk, SetupError};
use crate::layout::LayoutParams;
use crate::settings::{Settings, TooManyCpus};
use std::boxed::Box;
use std::cell::RefCell;
use std::fmt;
use std::string::String;
use std::sync::Mutex;
use std::vec::Vec;

/// How the hosted first chunk is built: embed (units allocated per group with `mmap`,
/// atom-aligned, tails unmapped), page (pages from a memfd, mapped one by one into a reserved
/// range), or auto (embed, falling back to page).
pub use crate::settings::FirstChunkMode;
pub use memory::{MemfdPages, MmapMemory};

/// The shape of a hosted machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineConfig {
    /// The possible CPUs (may be sparse).
    pub cpus: Vec<CpuId>,
    /// The NUMA node of each CPU (same index as `cpus`); CPUs of one node form a group.
    /// Empty: one node.
    pub nodes: Vec<u32>,
    /// Embed, page or auto.
    pub mode: FirstChunkMode,
    /// Reserved, dynamic, atom and unit minimums (the static size is the linked template's).
    pub layout: LayoutParams,
    /// The program's settings: `max_cpus`, the first-chunk checks, the allocator's settings
    /// (and, through [`MachineConfig::new`], the mode and the layout).
    pub settings: Settings,
}

impl MachineConfig {
    /// `nr_cpus` CPUs (ids `0..nr_cpus`), one node, with the settings linked into the program
    /// ([`Settings::linked`]: its `percpu.toml`, or Linux's defaults): their layout, first-chunk
    /// mode, `max_cpus` and allocator settings.
    pub fn new(nr_cpus: u32) -> Self {
        MachineConfig::with_settings(nr_cpus, Settings::linked())
    }

    /// `nr_cpus` CPUs with `settings` instead of the linked ones.
    pub fn with_settings(nr_cpus: u32, settings: Settings) -> Self {
        MachineConfig {
            cpus: (0..nr_cpus).map(CpuId::new).collect(),
            nodes: Vec::new(),
            mode: settings.first_chunk,
            layout: settings.layout_params(0),
            settings,
        }
    }

    /// These CPU ids instead (any order; may be sparse).
    pub fn with_cpus(mut self, cpus: &[u32]) -> Self {
        self.cpus = cpus.iter().copied().map(CpuId::new).collect();
        self
    }

    /// The node of each CPU (same order as the CPUs).
    pub fn with_nodes(mut self, nodes: &[u32]) -> Self {
        self.nodes = nodes.to_vec();
        self
    }

    /// Another first-chunk mode than the settings'.
    pub fn with_mode(mut self, mode: FirstChunkMode) -> Self {
        self.mode = mode;
        self
    }

    /// Other layout parameters than the settings' (its `static_size` is ignored).
    pub fn with_layout(mut self, layout: LayoutParams) -> Self {
        self.layout = layout;
        self
    }
}

/// What went wrong bringing the hosted machine up.
#[derive(Debug)]
pub enum BootError {
    /// `nodes` does not give one node per CPU.
    NodesMismatch {
        /// CPUs.
        cpus: usize,
        /// Nodes given.
        nodes: usize,
    },
    /// The first-chunk setup refused.
    Setup(SetupError),
    /// The memfd for page mode could not be created.
    Memfd(std::io::Error),
    /// The template could not be revoked from threads that are not CPUs.
    Revoke(std::io::Error),
    /// More CPUs than `max_cpus` allows (or an id at or above it).
    TooManyCpus(TooManyCpus),
    /// The allocator refused the settings' `max_alloc_size` or `empty_pages_low/high`.
    Allocator(crate::allocator::ConfigError),
    /// A machine with another configuration runs in this process already (a machine boots
    /// once per process; booting again with the same configuration returns it).
    AlreadyBooted {
        /// The configuration of the machine that runs.
        running: Box<MachineConfig>,
    },
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::NodesMismatch { cpus, nodes } => write!(
                f,
                "{nodes} nodes given for {cpus} CPUs: give one node per CPU, or none for one node"
            ),
            BootError::Setup(e) => write!(f, "first-chunk setup failed: {e}"),
            BootError::Memfd(e) => {
                write!(f, "memfd_create for the page-mode first chunk failed: {e}")
            }
            BootError::Revoke(e) => write!(
                f,
                "making the template inaccessible to threads that are not CPUs failed: {e}"
            ),
            BootError::TooManyCpus(e) => write!(f, "{e}"),
            BootError::Allocator(e) => write!(f, "the dynamic allocator's settings: {e}"),
            BootError::AlreadyBooted { running } => write!(
                f,
                "a hosted machine with another configuration runs in this process already \
                 ({} CPUs, {} mode): a machine boots once per process; ask for the same \
                 configuration to share it (each test calling Machine::boot with it gets the same \
                 machine), or run the other configuration in its own test executable",
                running.cpus.len(),
                running.mode
            ),
        }
    }
}

impl std::error::Error for BootError {}

impl From<SetupError> for BootError {
    fn from(e: SetupError) -> Self {
        BootError::Setup(e)
    }
}

/// A booted hosted machine.
pub struct Machine {
    cpus: Vec<CpuId>,
    busy: Vec<Mutex<()>>,
    chunk: &'static FirstChunk,
    config: MachineConfig,
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("cpus", &self.cpus)
            .field("chunk", &self.chunk.origin())
            .finish()
    }
}

impl Machine {
    /// Sets up the first chunk for `config` with the kernel's setup code and installs it, once
    /// per process, as at boot. Later calls with an equal `config` return the same machine (so
    /// each test of a test executable can call it); another configuration is an error,
    /// [`BootError::AlreadyBooted`].
    pub fn boot(config: MachineConfig) -> Result<&'static Machine, BootError> {
        static BOOTED: Mutex<Option<&'static Machine>> = Mutex::new(None);
        let mut booted = BOOTED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(machine) = *booted {
            return if machine.config == config {
                Ok(machine)
            } else {
                Err(BootError::AlreadyBooted { running: Box::new(machine.config.clone()) })
            };
        }
        let machine = Self::boot_first(config)?;
        *booted = Some(machine);
        Ok(machine)
    }

    fn boot_first(config: MachineConfig) -> Result<&'static Machine, BootError> {
        if !config.nodes.is_empty() && config.nodes.len() != config.cpus.len() {
            return Err(BootError::NodesMismatch {
                cpus: config.cpus.len(),
                nodes: config.nodes.len(),
            });
        }
        config.settings.check_cpus(&config.cpus).map_err(BootError::TooManyCpus)?;
        // Threads never migrate between hosted CPUs: the hosted platform pins nothing and only
        // counts pinned sections, for the grace period (registered with it, where the kernel
        // offers `membarrier`; a program that registered another platform first keeps it, and
        // has no grace period unless it registers one).
        sections::register();
        // Chunks beyond the first come from mmap (a caller may have registered another).
        let _ = crate::allocator::set_backend(&crate::allocator::hosted::HOSTED_BACKEND);
        if !crate::allocator::is_initialized() {
            crate::allocator::configure(config.settings.alloc_config())
                .map_err(BootError::Allocator)?;
        }
        let layout = LayoutParams { static_size: crate::template::static_size(), ..config.layout };
        let cfg = config.settings.setup_config(&config.cpus);
        let node_of = |cpu: CpuId| {
            let i = config.cpus.iter().position(|&c| c == cpu).expect("a configured CPU");
            config.nodes.get(i).copied().unwrap_or(0)
        };
        let distance = |a: CpuId, b: CpuId| {
            if node_of(a) == node_of(b) { crate::layout::LOCAL_DISTANCE } else { 20 }
        };
        let mut mmap = MmapMemory::new();
        let mut memfd = None;
        let mut embed = || {
            // SAFETY: MmapMemory hands out fresh private mappings.
            unsafe { first_chunk::embed_first_chunk(&layout, &cfg, Some(&distance), &mut mmap) }
        };
        let mut page = || -> Result<FirstChunk, BootError> {
            let mem = memfd.insert(MemfdPages::new().map_err(BootError::Memfd)?);
            // SAFETY: the memfd pages are mapped writable at the addresses the setup asks for,
            // inside a range reserved for it alone; the mappings outlive the process's use of
            // them (the memfd object is leaked with the machine).
            Ok(unsafe { first_chunk::page_first_chunk(&layout, &cfg, mem)? })
        };
        let chunk = match config.mode {
            FirstChunkMode::Embed => embed()?,
            FirstChunkMode::Page => page()?,
            // Linux's `percpu_alloc=auto`: embed, and page if that fails.
            FirstChunkMode::Auto => match embed() {
                Ok(chunk) => chunk,
                Err(_) => page()?,
            },
        };
        let chunk = match chunk.install() {
            Ok(chunk) => chunk,
            Err(e) => {
                let error = e.error.clone();
                // SAFETY: the chunk was never installed, so no CPU uses it; it came from these
                // allocators.
                let _ = unsafe {
                    let chunk = e.into_chunk();
                    match memfd.as_mut() {
                        Some(mem) => chunk.release_paged(mem),
                        None => chunk.release_embedded(&mut mmap),
                    }
                };
                return Err(BootError::Setup(error));
            }
        };
        std::mem::forget(memfd);
        not_a_cpu::revoke_template().map_err(BootError::Revoke)?;
        let mut cpus = config.cpus.clone();
        cpus.sort_unstable();
        Ok(Box::leak(Box::new(Machine {
            busy: cpus.iter().map(|_| Mutex::new(())).collect(),
            cpus,
            chunk,
            config,
        })))
    }

    /// The configuration it was booted with.
    pub fn config(&self) -> &MachineConfig {
        &self.config
    }

    /// The machine's CPUs, ascending.
    pub fn cpus(&self) -> &[CpuId] {
        &self.cpus
    }

    /// The installed first chunk.
    pub fn first_chunk(&self) -> &'static FirstChunk {
        self.chunk
    }

    /// The boot lines, in Linux's format, then the placement classes' line.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        self.chunk.dump(&mut s).expect("writing to a String cannot fail");
        self.chunk.dump_classes(&mut s).expect("writing to a String cannot fail");
        s
    }

    /// Runs `f` on CPU `cpu`: on a thread whose `GS.base` is that CPU's delta, after any other
    /// thread running that CPU has finished.
    ///
    /// # Panics
    ///
    /// If `cpu` is not one of the machine's CPUs, if the calling thread already runs `cpu` (or
    /// waits for a thread that does: the call could never start), or if `f` panics. See
    /// [`Machine::try_run_on`] for the first two as errors.
    #[track_caller]
    pub fn run_on<R: Send>(&self, cpu: CpuId, f: impl FnOnce() -> R + Send) -> R {
        match self.try_run_on(cpu, f) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Machine::run_on`], with a CPU that is not the machine's, or one the calling thread
    /// runs already, reported as an error (`f` is then not called).
    ///
    /// # Panics
    ///
    /// If `f` panics (the panic is resumed on the calling thread).
    pub fn try_run_on<R: Send>(
        &self,
        cpu: CpuId,
        f: impl FnOnce() -> R + Send,
    ) -> Result<R, RunError> {
        let held = RUNNING.with(|r| r.borrow().clone());
        self.run_on_from(&held, cpu, f)
    }

    /// `try_run_on` from a thread whose chain of waiting callers holds `held`.
    fn run_on_from<R: Send>(
        &self,
        held: &[CpuId],
        cpu: CpuId,
        f: impl FnOnce() -> R + Send,
    ) -> Result<R, RunError> {
        let index = self.cpus.binary_search(&cpu).map_err(|_| RunError::NotACpu { cpu })?;
        // Nested: this thread runs `cpu`, or waits (through run_on calls) for one that does, or
        // inherited `cpu`'s base register from a CPU thread that spawned it.
        if held.contains(&cpu) || crate::arch::read_base() == self.offset(cpu) {
            return Err(RunError::Nested { cpu });
        }
        let mut chain = held.to_vec();
        chain.push(cpu);
        Ok(std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let _claimed = self.busy[index].lock().unwrap_or_else(|e| e.into_inner());
                    RUNNING.with(|r| *r.borrow_mut() = chain);
                    // SAFETY: this thread is now CPU `cpu` (claimed above, so no other thread
                    // that run_on started runs it), and it has no references into another
                    // per-CPU area.
                    unsafe { first_chunk::load_base(cpu).expect("a machine CPU is possible") };
                    let result = f();
                    // SAFETY: back to base 0 (no unit); the thread ends right after.
                    unsafe { crate::arch::write_base(0) };
                    result
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }))
    }

    /// `cpu`'s per-CPU offset (the value its threads' base register holds).
    fn offset(&self, cpu: CpuId) -> usize {
        crate::cpu_offset(cpu).expect("a machine CPU is possible")
    }

    /// Runs `f(cpu)` on every CPU at once (one thread each) and waits for all of them.
    ///
    /// # Panics
    ///
    /// If the calling thread runs one of the CPUs (see [`Machine::run_on`]), or if `f` panics.
    #[track_caller]
    pub fn run<F: Fn(CpuId) + Sync>(&self, f: F) {
        let held = RUNNING.with(|r| r.borrow().clone());
        if let Some(&cpu) = self
            .cpus
            .iter()
            .find(|&&c| held.contains(&c) || crate::arch::read_base() == self.offset(c))
        {
            panic!("{}", RunError::Nested { cpu });
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .cpus
                .iter()
                .map(|&cpu| {
                    let (f, held) = (&f, &held);
                    scope.spawn(move || {
                        self.run_on_from(held, cpu, || f(cpu)).unwrap_or_else(|e| panic!("{e}"))
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            }
        });
    }
}

std::thread_local! {
    /// The CPUs this thread runs, or waits for through `run_on` calls (nesting detection).
    static RUNNING: RefCell<Vec<CpuId>> = const { RefCell::new(Vec::new()) };
}

/// [`Machine::try_run_on`] could not run the closure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunError {
    /// The CPU is not one of the machine's.
    NotACpu {
        /// The CPU named.
        cpu: CpuId,
    },
    /// The calling thread runs that CPU already, or waits for the thread that does (a
    /// `run_on` inside `run_on` for the same CPU): the call could never start.
    Nested {
        /// The CPU named.
        cpu: CpuId,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::NotACpu { cpu } => write!(f, "{}", crate::CpuNotPossible { cpu: *cpu }),
            RunError::Nested { cpu } => write!(
                f,
                "run_on(CPU {cpu}) from code that already runs on CPU {cpu} (or waits for the \
                 thread that does): it could never start; call the code directly instead of \
                 through run_on"
            ),
        }
    }
}

impl std::error::Error for RunError {}
