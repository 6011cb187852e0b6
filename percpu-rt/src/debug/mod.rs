//! The debug mode (feature `debug-checks`, in the spirit of Linux's `CONFIG_DEBUG_PREEMPT`):
//! checks of the rules the types cannot see, made at run time, and reported through the
//! platform ([`Platform::report`](crate::Platform::report); a panic by default). Without the
//! feature none of this is compiled in, and no operation costs anything more.
//!
//! What is checked:
//!
//! * **migration under a guard**: every guarded access (`get`, `get_mut`) and every guard's drop
//!   checks that the code still runs on the CPU the guard was taken on: a platform whose pin
//!   does not pin, or a migration inside a pinned section, is caught ([`DebugReport::Migrated`]);
//! * **a current-CPU pointer taken unpinned**: `this_cpu_ptr` outside any guard, as Linux's
//!   `check_preemption_disabled` ([`DebugReport::NotPinned`]), unless the platform says the
//!   code is pinned otherwise ([`Platform::pinned`](crate::Platform::pinned));
//! * **a base register that matches no unit**: after the first-chunk setup, every current-CPU
//!   access checks that the base register is a possible CPU's offset
//!   ([`DebugReport::NoUnit`]), and that it was loaded at all ([`DebugReport::BaseNotLoaded`]);
//! * **guards released out of order** ([`DebugReport::OutOfOrder`]).
//!
//! A report names the variable (from the registry, or the per-CPU pointer of a dynamic object),
//! the CPUs involved, and the call site (`#[track_caller]`).

use crate::cpu_id::CpuId;
use core::fmt;
use core::panic::Location;

/// A per-CPU variable, as a report names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variable {
    /// A `#[percpu]` static, from the registry.
    Static {
        /// Its module.
        module_path: &'static str,
        /// Its name.
        name: &'static str,
    },
    /// A dynamic object (or a static not in the registry), by its per-CPU pointer.
    Dynamic {
        /// The per-CPU pointer.
        per_cpu_ptr: usize,
    },
    /// No variable: a guard.
    None,
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variable::Static { module_path, name } => write!(f, "`{module_path}::{name}`"),
            Variable::Dynamic { per_cpu_ptr } => {
                write!(f, "the dynamic object at per-CPU pointer {per_cpu_ptr:#x}")
            }
            Variable::None => f.write_str("no variable"),
        }
    }
}

/// A misuse the debug mode caught. Its `Display` is the message a user sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DebugReport {
    /// The code moved to another CPU while it held a guard.
    Migrated {
        /// The variable accessed (or [`Variable::None`] when a guard was dropped).
        variable: Variable,
        /// The guard's CPU.
        taken_on: CpuId,
        /// The CPU the code runs on now.
        now_on: CpuId,
        /// Where the guard was taken.
        taken_at: &'static Location<'static>,
        /// Where the access (or the drop) was made.
        at: &'static Location<'static>,
    },
    /// `this_cpu_ptr` with no guard pinning the CPU.
    NotPinned {
        /// The variable.
        variable: Variable,
        /// The CPU it ran on.
        cpu: CpuId,
        /// The call site.
        at: &'static Location<'static>,
    },
    /// The base register holds an offset that is no possible CPU's.
    NoUnit {
        /// The variable.
        variable: Variable,
        /// The base register's value (the offset the copy was reached through).
        offset: usize,
        /// The call site.
        at: &'static Location<'static>,
    },
    /// After the setup, code ran with its base register never loaded (still 0: the template).
    BaseNotLoaded {
        /// The variable.
        variable: Variable,
        /// The call site.
        at: &'static Location<'static>,
    },
    /// A guard was dropped while a guard taken after it was still live.
    OutOfOrder {
        /// The CPU.
        cpu: CpuId,
        /// How many guards were live when this one was taken.
        depth: u32,
        /// How many are live now, this one included.
        live: u32,
        /// Where the guard was taken.
        taken_at: &'static Location<'static>,
    },
}

impl fmt::Display for DebugReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DebugReport::Migrated {
                variable: Variable::None, taken_on, now_on, taken_at, ..
            } => {
                write!(
                    f,
                    "percpu debug: a guard taken on CPU {taken_on} at {taken_at} was dropped on \
                     CPU {now_on}: the code migrated while it held the guard (does the \
                     platform's preempt_disable/irq_save really pin?)"
                )
            }
            DebugReport::Migrated { variable, taken_on, now_on, taken_at, at } => write!(
                f,
                "percpu debug: {variable} accessed at {at} on CPU {now_on}, under a guard taken on \
                 CPU {taken_on} at {taken_at}: the code migrated while it held the guard (does \
                 the platform's preempt_disable/irq_save really pin?)"
            ),
            DebugReport::NotPinned { variable, cpu, at } => write!(
                f,
                "percpu debug: this_cpu_ptr of {variable} at {at} on CPU {cpu} with the CPU not \
                 pinned: the pointer may be another CPU's copy by the time it is used; take a \
                 PreemptGuard (or an IrqGuard) first"
            ),
            DebugReport::NoUnit { variable, offset, at } => write!(
                f,
                "percpu debug: {variable} accessed at {at} through base register {offset:#x}, \
                 which is no possible CPU's offset: load it with first_chunk::load_base"
            ),
            DebugReport::BaseNotLoaded { variable, at } => write!(
                f,
                "percpu debug: {variable} accessed at {at} by a CPU whose base register was never \
                 loaded (it reaches the template): call first_chunk::load_base early in the CPU's \
                 bring-up"
            ),
            DebugReport::OutOfOrder { cpu, depth, live, taken_at } => write!(
                f,
                "percpu debug: a guard taken on CPU {cpu} at {taken_at} (guard {} on that CPU) was \
                 dropped while {live} guards were live: guards must be dropped in the reverse \
                 order they were taken",
                depth + 1
            ),
        }
    }
}

#[cfg(feature = "debug-checks")]
pub(crate) mod checks;
