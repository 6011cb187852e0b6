//! The debug mode's checks (feature `debug-checks`), called by the accessors and the guards;
//! what they find is reported through the platform as a [`DebugReport`].

use super::{DebugReport, Variable};
use crate::cpu_id::CpuId;
use crate::runtime_vars::{CPU_ID, GUARD_DEPTH};
use core::panic::Location;

impl Variable {
    /// The variable whose per-CPU pointer is `p`.
    pub(crate) fn of(p: usize) -> Variable {
        crate::registry::variables().iter().find(|v| v.template() as usize == p).map_or(
            Variable::Dynamic { per_cpu_ptr: p },
            |v| Variable::Static { module_path: v.module_path(), name: v.name() },
        )
    }
}

fn report(r: DebugReport) {
    crate::platform::platform().report(&r);
}

/// The current CPU as its own copy says, without the checks (they use it).
fn current() -> CpuId {
    CpuId::new(crate::ops::unchecked::read_unchecked(CPU_ID.slot()))
}

/// Whether, after the setup, the base register is a possible CPU's offset: the calling code
/// has a unit, and the checks may read their bookkeeping through the base. Before the setup
/// every thread shares the template, and nothing is checked or counted.
fn in_a_unit() -> bool {
    if !crate::cpu::first_chunk_installed() {
        return false;
    }
    // The register itself (not this CPU's offset variable, read through it), and a scan
    // of the offsets (not this CPU's id read through it): a wrong base reaches memory no
    // unit owns.
    let offset = crate::arch::read_base();
    offset != 0 && crate::cpu::possible_offsets().any(|(_, o)| o == offset)
}

/// Any current-CPU access, after the setup: the base register was loaded, with a possible
/// CPU's offset. Returns whether it was (and the later checks can run).
#[track_caller]
pub(crate) fn on_access(p: usize) -> bool {
    if !crate::cpu::first_chunk_installed() || in_a_unit() {
        return true;
    }
    let at = Location::caller();
    let variable = Variable::of(p);
    match crate::arch::read_base() {
        0 => report(DebugReport::BaseNotLoaded { variable, at }),
        offset => report(DebugReport::NoUnit { variable, offset, at }),
    }
    false
}

/// A guarded access: also on the guard's CPU.
#[track_caller]
pub(crate) fn on_guarded_access(p: usize, guard: &GuardRecord) {
    if !on_access(p) || !guard.counted {
        return;
    }
    let now_on = current();
    if now_on != guard.cpu {
        report(DebugReport::Migrated {
            variable: Variable::of(p),
            taken_on: guard.cpu,
            now_on,
            taken_at: guard.taken_at,
            at: Location::caller(),
        });
    }
}

/// `this_cpu_ptr`: also pinned, by one of this crate's guards or by the platform's means.
#[track_caller]
pub(crate) fn on_raw_pointer(p: usize) {
    if !on_access(p) || !crate::cpu::first_chunk_installed() {
        return;
    }
    let pinned = crate::platform::platform()
        .pinned()
        .unwrap_or_else(|| crate::ops::unchecked::read_unchecked(GUARD_DEPTH.slot()) > 0);
    if !pinned {
        report(DebugReport::NotPinned {
            variable: Variable::of(p),
            cpu: current(),
            at: Location::caller(),
        });
    }
}

/// What a guard records in the debug mode (`pub` only so that the sealed guard trait can
/// name it; not reachable from outside the crate).
#[derive(Clone, Copy, Debug)]
pub struct GuardRecord {
    pub(crate) cpu: CpuId,
    /// Taken in a unit after the setup: on this CPU's count of live guards.
    counted: bool,
    /// How many guards were live on the CPU before this one.
    depth: u32,
    taken_at: &'static Location<'static>,
}

impl GuardRecord {
    /// A guard taken here, now.
    #[track_caller]
    pub(crate) fn take() -> GuardRecord {
        let taken_at = Location::caller();
        if !in_a_unit() {
            return GuardRecord { cpu: current(), counted: false, depth: 0, taken_at };
        }
        let depth = crate::ops::unchecked::read_unchecked(GUARD_DEPTH.slot());
        crate::ops::unchecked::write_unchecked(GUARD_DEPTH.slot(), depth + 1);
        GuardRecord { cpu: current(), counted: true, depth, taken_at }
    }

    /// The guard is dropped: on its CPU, the last one taken. The count is updated before
    /// anything is reported (a report may panic, and a kernel may go on after one).
    pub(crate) fn release(&self) {
        if !self.counted || !in_a_unit() {
            return;
        }
        let now_on = current();
        if now_on != self.cpu {
            // This CPU's count is not the guard's; leave both alone.
            return report(DebugReport::Migrated {
                variable: Variable::None,
                taken_on: self.cpu,
                now_on,
                taken_at: self.taken_at,
                at: self.taken_at,
            });
        }
        let live = crate::ops::unchecked::read_unchecked(GUARD_DEPTH.slot());
        if live <= self.depth {
            // Already counted out: a guard taken before this one was dropped first, and
            // reported then.
            return;
        }
        // Dropping a guard also counts out every guard taken after it, so one misuse is
        // reported once, and the guards still live after it drop quietly.
        crate::ops::unchecked::write_unchecked(GUARD_DEPTH.slot(), self.depth);
        if live != self.depth + 1 {
            report(DebugReport::OutOfOrder {
                cpu: now_on,
                depth: self.depth,
                live,
                taken_at: self.taken_at,
            });
        }
    }
}
