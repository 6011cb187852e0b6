//! Per-CPU misuse on purpose, for the debug mode (`debug_misuse=<what>` on the command line):
//! after the run's checks, the boot CPU does one thing the debug mode of percpu-rt catches.
//! A kernel built with `debug-checks` reports it through [`KernelPlatform`]'s hook as
//! `FAIL: percpu debug: ...`; a kernel built without the feature refuses the parameter.
//!
//! [`KernelPlatform`]: crate::platform::KernelPlatform

use core::sync::atomic::{AtomicU64, Ordering};

use percpu_rt::{CpuId, PreemptGuard, percpu};

use crate::fail;

/// The variable misused.
#[percpu]
static MISUSED: AtomicU64 = AtomicU64::new(0);

/// One misuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misuse {
    /// `this_cpu_ptr` with nothing pinning the CPU.
    Unpinned,
    /// A guard taken on CPU 0, used after the code "migrated" to CPU 1 (its base loaded).
    Migrated,
    /// Two guards, the first dropped first.
    OutOfOrder,
    /// An access through a base register 8 bytes past CPU 0's offset.
    WrongBase,
    /// An access through base register 0 after the setup.
    Unloaded,
}

impl Misuse {
    /// The values of `debug_misuse=`.
    const NAMES: [(&'static str, Misuse); 5] = [
        ("unpinned", Misuse::Unpinned),
        ("migrated", Misuse::Migrated),
        ("out_of_order", Misuse::OutOfOrder),
        ("wrong_base", Misuse::WrongBase),
        ("unloaded", Misuse::Unloaded),
    ];

    /// The misuse `debug_misuse=<word>` names (the kernel must have the debug mode, and a
    /// migration needs a second CPU).
    pub fn parse(word: &str, nr_possible: usize) -> Result<Misuse, &'static str> {
        if !cfg!(feature = "debug-checks") {
            return Err(
                "the debug mode is not built in: build the kernel with feature debug-checks",
            );
        }
        let misuse = Misuse::NAMES
            .iter()
            .find(|(name, _)| *name == word)
            .map(|&(_, m)| m)
            .ok_or("expected unpinned, migrated, out_of_order, wrong_base or unloaded")?;
        if misuse == Misuse::Migrated && nr_possible < 2 {
            return Err("a migration needs a second possible CPU");
        }
        Ok(misuse)
    }

    /// Does it on the boot CPU (every other CPU is parked). Returns only if nothing reported it.
    pub fn commit(self) {
        let cpu0 = CpuId::new(0);
        match self {
            Misuse::Unpinned => {
                let _ = MISUSED.this_cpu_ptr();
            }
            Misuse::Migrated => {
                let guard = PreemptGuard::new();
                // SAFETY: CPU 1 is parked and touches no per-CPU data; this CPU holds no
                // reference into a copy. It plays CPU 1 from here (the run ends with the report).
                if let Err(e) = unsafe { percpu_rt::first_chunk::load_base(CpuId::new(1)) } {
                    fail!("debug_misuse=migrated: {e}");
                }
                MISUSED.get(&guard).fetch_add(1, Ordering::Relaxed);
            }
            Misuse::OutOfOrder => {
                let first = PreemptGuard::new();
                let _second = PreemptGuard::new();
                drop(first);
            }
            Misuse::WrongBase | Misuse::Unloaded => {
                let base = match (self, percpu_rt::cpu_offset(cpu0)) {
                    (Misuse::Unloaded, _) => 0,
                    (_, Ok(offset)) => offset + 8,
                    (_, Err(e)) => fail!("debug_misuse=wrong_base: {e}"),
                };
                // SAFETY: the next per-CPU access is reported (the report ends the run) before
                // it reaches memory through this base.
                unsafe { percpu_rt::arch::write_base(base) };
                MISUSED.get(&PreemptGuard::new()).fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
