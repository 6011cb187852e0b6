//! Hosted mode: Linux x86_64 user space as a machine. Threads act as CPUs: a CPU thread's
//! `GS.base` is set with `arch_prctl(ARCH_SET_GS)` to its unit's delta, so the same accessor
//! code as in a kernel runs, instruction for instruction.
//!
//! Rules of the machine: a CPU is run by at most one thread at a time ([`Machine::run_on`]
//! claims it), and per-CPU data is touched only by CPU threads, or by one thread before
//! [`Machine::boot`] (that thread then works on the template, as a boot CPU does).

use crate::cpu::{CpuId, CpuTable};
use std::boxed::Box;
use std::fmt;
use std::sync::Mutex;
use std::vec::Vec;

/// What went wrong bringing the hosted machine up.
#[derive(Debug)]
pub enum BootError {
    /// Zero CPUs were requested.
    NoCpus,
    /// A machine was booted already in this process (the per-CPU table is installed once).
    AlreadyBooted,
    /// `mmap` failed.
    Mmap(std::io::Error),
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::NoCpus => f.write_str("a hosted machine needs at least one CPU"),
            BootError::AlreadyBooted => f.write_str(
                "a hosted machine is already booted in this process: the per-CPU setup runs once, \
                 as in a kernel; share the &'static Machine instead of booting again",
            ),
            BootError::Mmap(e) => write!(f, "mmap of the per-CPU units failed: {e}"),
        }
    }
}

impl std::error::Error for BootError {}

/// A booted hosted machine.
pub struct Machine {
    cpus: Vec<CpuId>,
    busy: Vec<Mutex<()>>,
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine").field("cpus", &self.cpus).finish()
    }
}

impl Machine {
    /// Brings up `nr_cpus` CPUs (ids `0..nr_cpus`): one unit each, the template copied into
    /// every unit, per-CPU initialisers run, offsets installed.
    pub fn boot(nr_cpus: usize) -> Result<&'static Machine, BootError> {
        if nr_cpus == 0 {
            return Err(BootError::NoCpus);
        }
        if crate::is_set_up() {
            return Err(BootError::AlreadyBooted);
        }
        let page = 4096;
        let static_size = crate::template::static_size();
        let unit = static_size.div_ceil(page).max(1) * page;
        // SAFETY: an anonymous private mapping; the result is checked below.
        let base = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                unit * nr_cpus,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(BootError::Mmap(std::io::Error::last_os_error()));
        }
        let template = crate::template::start();
        let cpus: Vec<CpuId> = (0..nr_cpus as u32).map(CpuId::new).collect();
        let mut pairs = Vec::new();
        for (i, &cpu) in cpus.iter().enumerate() {
            let unit_base = base as usize + i * unit;
            // SAFETY: the unit is a fresh mapping of `unit >= static_size` bytes that does not
            // overlap the template.
            unsafe { core::ptr::copy_nonoverlapping(template, unit_base as *mut u8, static_size) };
            pairs.push((cpu, unit_base.wrapping_sub(template as usize)));
        }
        crate::cpu::install(CpuTable::new(&pairs)).map_err(|_| BootError::AlreadyBooted)?;
        for &cpu in &cpus {
            // SAFETY: the units are initialised copies and no CPU thread runs yet.
            unsafe { crate::local::init_cpu(cpu) };
        }
        let machine = Box::leak(Box::new(Machine {
            busy: cpus.iter().map(|_| Mutex::new(())).collect(),
            cpus,
        }));
        Ok(machine)
    }

    /// The machine's CPUs.
    pub fn cpus(&self) -> &[CpuId] {
        &self.cpus
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
            .iter()
            .position(|&c| c == cpu)
            .unwrap_or_else(|| panic!("{}", crate::CpuNotPossible { cpu }));
        let offset = crate::cpu_offset(cpu).expect("every machine CPU is possible");
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let _claimed = self.busy[index].lock().unwrap_or_else(|e| e.into_inner());
                    // SAFETY: this thread is now CPU `cpu`; its unit is initialised.
                    unsafe { crate::arch::write_base(offset) };
                    let result = f();
                    // SAFETY: back to the template; the thread ends right after.
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
