//! Hosted mode: Linux x86_64 user space as a machine. Threads act as CPUs: a CPU thread's
//! `GS.base` is set with `arch_prctl(ARCH_SET_GS)` to its unit's delta, so the same accessor
//! code as in a kernel runs, instruction for instruction, and the first chunk is set up by the
//! same code a kernel uses ([`first_chunk::embed`] over `mmap`, or
//! [`first_chunk::page`] over memfd pages mapped with `MAP_FIXED`).
//!
//! Rules of the machine: a CPU is run by at most one thread at a time ([`Machine::run_on`]
//! claims it), and per-CPU data is touched only by CPU threads, or by one thread before
//! [`Machine::boot`] (which then works on the template, as a boot CPU does).
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

mod memory;

use crate::cpu::CpuId;
use crate::first_chunk::{self, FirstChunk, SetupConfig, SetupError};
use crate::layout::LayoutParams;
use std::boxed::Box;
use std::fmt;
use std::string::String;
use std::sync::Mutex;
use std::vec::Vec;

/// How the hosted first chunk is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstChunkMode {
    /// Units allocated per group with `mmap`, atom-aligned, tails unmapped.
    Embed,
    /// Pages from a memfd, mapped one by one into a reserved range.
    Page,
}

/// The shape of a hosted machine.
#[derive(Clone, Debug)]
pub struct MachineConfig {
    /// The possible CPUs (may be sparse).
    pub cpus: Vec<CpuId>,
    /// The NUMA node of each CPU (same index as `cpus`); CPUs of one node form a group.
    /// Empty: one node.
    pub nodes: Vec<u32>,
    /// Embed or page.
    pub mode: FirstChunkMode,
    /// Reserved, dynamic, atom and unit minimums (the static size is the linked template's).
    pub layout: LayoutParams,
}

impl MachineConfig {
    /// `nr_cpus` CPUs (ids `0..nr_cpus`), one node, embed mode, Linux's default sizes.
    pub fn new(nr_cpus: u32) -> Self {
        MachineConfig {
            cpus: (0..nr_cpus).map(CpuId::new).collect(),
            nodes: Vec::new(),
            mode: FirstChunkMode::Embed,
            layout: LayoutParams::linux_defaults(0),
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

    /// Page mode instead of embed.
    pub fn with_mode(mut self, mode: FirstChunkMode) -> Self {
        self.mode = mode;
        self
    }

    /// Other layout parameters (its `static_size` is ignored).
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
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("cpus", &self.cpus)
            .field("chunk", &self.chunk.kind())
            .finish()
    }
}

impl Machine {
    /// Sets up the first chunk for `config` with the kernel's setup code and installs it. Once
    /// per process, as at boot (a second call returns `SetupError::AlreadyInstalled`).
    pub fn boot(config: MachineConfig) -> Result<&'static Machine, BootError> {
        if !config.nodes.is_empty() && config.nodes.len() != config.cpus.len() {
            return Err(BootError::NodesMismatch {
                cpus: config.cpus.len(),
                nodes: config.nodes.len(),
            });
        }
        // Threads never migrate between hosted CPUs: the no-op platform is exact here.
        let _ = crate::set_platform(&crate::NoPreemption);
        // Chunks beyond the first come from mmap (a caller may have registered another).
        let _ = crate::allocator::set_backend(&crate::allocator::hosted::HOSTED_BACKEND);
        let layout = LayoutParams { static_size: crate::template::static_size(), ..config.layout };
        let cfg = SetupConfig::new(&config.cpus);
        let node_of = |cpu: CpuId| {
            let i = config.cpus.iter().position(|&c| c == cpu).expect("a configured CPU");
            config.nodes.get(i).copied().unwrap_or(0)
        };
        let distance = |a: CpuId, b: CpuId| {
            if node_of(a) == node_of(b) { crate::layout::LOCAL_DISTANCE } else { 20 }
        };
        let chunk = match config.mode {
            FirstChunkMode::Embed => {
                let mut mem = memory::MmapMemory::default();
                // SAFETY: MmapMemory hands out fresh private mappings.
                unsafe { first_chunk::embed(&layout, &cfg, Some(&distance), &mut mem)? }
            }
            FirstChunkMode::Page => {
                let mut mem = memory::MemfdPages::new().map_err(BootError::Memfd)?;
                // SAFETY: the memfd pages are mapped writable at the addresses the setup asks
                // for, inside a range reserved for it alone; the mappings outlive the process's
                // use of them (the memfd object is leaked with the machine).
                let chunk = unsafe { first_chunk::page(&layout, &cfg, &mut mem)? };
                std::mem::forget(mem);
                chunk
            }
        };
        let chunk = chunk.install()?;
        let mut cpus = config.cpus.clone();
        cpus.sort_unstable();
        Ok(Box::leak(Box::new(Machine {
            busy: cpus.iter().map(|_| Mutex::new(())).collect(),
            cpus,
            chunk,
        })))
    }

    /// The machine's CPUs, ascending.
    pub fn cpus(&self) -> &[CpuId] {
        &self.cpus
    }

    /// The installed first chunk.
    pub fn first_chunk(&self) -> &'static FirstChunk {
        self.chunk
    }

    /// The boot lines, in Linux's format.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        self.chunk.dump(&mut s).expect("writing to a String cannot fail");
        s
    }

    /// Runs `f` on CPU `cpu`: on a thread whose `GS.base` is that CPU's delta, after any other
    /// thread running that CPU has finished.
    ///
    /// # Panics
    ///
    /// If `cpu` is not one of the machine's CPUs, or if `f` panics.
    pub fn run_on<R: Send>(&self, cpu: CpuId, f: impl FnOnce() -> R + Send) -> R {
        let index = self
            .cpus
            .binary_search(&cpu)
            .unwrap_or_else(|_| panic!("{}", crate::CpuNotPossible { cpu }));
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let _claimed = self.busy[index].lock().unwrap_or_else(|e| e.into_inner());
                    // SAFETY: this thread is now CPU `cpu` (claimed above, so no other thread
                    // runs it), and it has no references into another per-CPU area.
                    unsafe { first_chunk::load_base(cpu).expect("a machine CPU is possible") };
                    let result = f();
                    // SAFETY: back to the template (base 0); the thread ends right after.
                    unsafe { crate::arch::write_base(0) };
                    result
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Runs `f(cpu)` on every CPU at once (one thread each) and waits for all of them.
    pub fn run<F: Fn(CpuId) + Sync>(&self, f: F) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .cpus
                .iter()
                .map(|&cpu| {
                    let f = &f;
                    scope.spawn(move || self.run_on(cpu, || f(cpu)))
                })
                .collect();
            for h in handles {
                h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            }
        });
    }
}
