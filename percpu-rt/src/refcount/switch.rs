//! [`PerCpuRef`]'s mode changes: `switch_to_atomic`, `switch_to_percpu`, `kill`, `resurrect`
//! and `reinit`, serialised by the reference count's switch lock (Linux's
//! `percpu_ref_switch_lock`), each finished when it returns (Linux's `_sync` variants: the
//! grace period is waited for on the caller's thread, not in an RCU callback).

use super::{ATOMIC, BIAS, DEAD, PerCpuRef, RefError};
use crate::grace::{self, GracePeriod};
use core::sync::atomic::Ordering;

impl<T> PerCpuRef<T> {
    /// The switch lock, after checking that waiting is allowed here.
    fn lock_switch(&self) -> Result<spin::MutexGuard<'_, bool>, RefError> {
        if grace::grace_period().is_some_and(|g| g.in_pinned_section()) {
            return Err(RefError::InPinnedSection);
        }
        Ok(self.switching.lock())
    }

    /// The grace period a switch from per-CPU mode needs.
    fn grace_for_switch(&self) -> Result<Option<&'static dyn GracePeriod>, RefError> {
        if self.state.load(Ordering::Relaxed) & ATOMIC != 0 {
            return Ok(None);
        }
        grace::grace_period().ok_or(RefError::NoGracePeriod).map(Some)
    }

    /// Per-CPU to atomic mode (switch lock held), setting `extra` (`DEAD`) with the mode; with
    /// `grace`, the mode was per-CPU. Returns the folded count if it is below one.
    fn to_atomic(&self, extra: usize, grace: Option<&'static dyn GracePeriod>) -> Option<i64> {
        let state = self.state.load(Ordering::Relaxed);
        self.state.store(state | ATOMIC | extra, Ordering::Relaxed);
        let (grace, counts) = match (grace, &self.counts) {
            (Some(grace), Some(counts)) => (grace, counts),
            _ => return None,
        };
        // Every `get`/`put` that saw per-CPU mode ends before this returns, its count change
        // visible here; every later one sees the new state (the grace period's contract).
        grace.synchronize();
        let sum = counts.iter_possible().fold(0i64, i64::wrapping_add);
        let now =
            self.count.fetch_add(sum.wrapping_sub(BIAS), Ordering::AcqRel) + sum.wrapping_sub(BIAS);
        (now <= 0).then_some(now)
    }

    /// Atomic to per-CPU mode (switch lock held; alive, with counts).
    fn to_percpu(&self) {
        let Some(counts) = &self.counts else { return };
        let state = self.state.load(Ordering::Relaxed);
        if state & (ATOMIC | DEAD) != ATOMIC {
            return;
        }
        // No CPU touches its count in atomic mode (the switch to it waited for them): zero
        // them, bias the atomic count, then publish per-CPU mode; the release store makes the
        // zeroes visible to every `get`/`put` that sees the new mode.
        for cpu in crate::possible_cpus() {
            counts.write_on(cpu, 0);
        }
        self.count.fetch_add(BIAS, Ordering::Relaxed);
        self.state.store(state & !ATOMIC, Ordering::Release);
    }

    /// Switches to atomic mode and stays there until
    /// [`switch_to_percpu`](Self::switch_to_percpu) (Linux's
    /// `percpu_ref_switch_to_atomic_sync`); returns once every CPU counts atomically. The
    /// references held stay held.
    ///
    /// CONTEXT: may wait for a grace period; never inside a pinned section
    /// ([`RefError::InPinnedSection`]).
    pub fn switch_to_atomic(&self) -> Result<(), RefError> {
        let folded = {
            let mut forced = self.lock_switch()?;
            let grace = self.grace_for_switch()?;
            *forced = true;
            self.to_atomic(0, grace)
        };
        self.broken(folded)
    }

    /// After a switch to atomic mode that folded the counts to `folded` (only when below one):
    /// a count of zero has lost its last reference to an extra put, and releases now.
    fn broken(&self, folded: Option<i64>) -> Result<(), RefError> {
        match folded {
            None => Ok(()),
            Some(count) => {
                if count == 0 {
                    self.run_release();
                }
                Err(RefError::BelowZero { count })
            }
        }
    }

    /// Goes back to per-CPU mode (Linux's `percpu_ref_switch_to_percpu`), unless the count is
    /// dead, in which case it will on [`resurrect`](Self::resurrect)/[`reinit`](Self::reinit).
    ///
    /// CONTEXT: as [`switch_to_atomic`](Self::switch_to_atomic) (it takes the same lock).
    pub fn switch_to_percpu(&self) -> Result<(), RefError> {
        if self.counts.is_none() {
            return Err(RefError::AtomicOnly);
        }
        let mut forced = self.lock_switch()?;
        *forced = false;
        self.to_percpu();
        Ok(())
    }

    /// Starts the end (Linux's `percpu_ref_kill`): marks the count dead, so that
    /// [`tryget_live`](Self::tryget_live) fails from now on, switches to atomic mode (waiting
    /// for a grace period), and drops the initial reference; the `put` that takes the count to
    /// zero runs the release (this call, if no other reference is held).
    ///
    /// Killing twice is [`RefError::AlreadyDead`] (Linux warns); a count found below zero by
    /// the switch is [`RefError::BelowZero`] (the count is dead and atomic all the same).
    ///
    /// CONTEXT: as [`switch_to_atomic`](Self::switch_to_atomic).
    pub fn kill(&self) -> Result<(), RefError> {
        let folded = {
            let _locked = self.lock_switch()?;
            if self.state.load(Ordering::Relaxed) & DEAD != 0 {
                return Err(RefError::AlreadyDead);
            }
            let grace = self.grace_for_switch()?;
            self.to_atomic(DEAD, grace)
        };
        // Outside the lock: the release may switch this count again (reinit).
        self.broken(folded)?;
        self.put_one()
    }

    /// Brings a killed count back to life with its initial reference (Linux's
    /// `percpu_ref_resurrect`), in per-CPU mode unless
    /// [`switch_to_atomic`](Self::switch_to_atomic) forced atomic mode. Only before the count
    /// reaches zero ([`RefError::Released`] after: use [`reinit`](Self::reinit)).
    ///
    /// CONTEXT: as [`switch_to_atomic`](Self::switch_to_atomic).
    pub fn resurrect(&self) -> Result<(), RefError> {
        let forced = self.lock_switch()?;
        let state = self.state.load(Ordering::Relaxed);
        if state & DEAD == 0 {
            return Err(RefError::NotDead);
        }
        // The initial reference again, only if the last one is not gone (else its put may be
        // running the release right now).
        self.count
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |c| (c > 0).then_some(c + 1))
            .map_err(|_| RefError::Released)?;
        self.state.store(state & !DEAD, Ordering::Release);
        if !*forced {
            self.to_percpu();
        }
        Ok(())
    }

    /// Starts a new life after the count reached zero (Linux's `percpu_ref_reinit`): the
    /// initial reference again, alive, in per-CPU mode unless atomic mode is forced; the
    /// release will run again after the next [`kill`](Self::kill).
    ///
    /// [`RefError::NotDead`] if it was not killed, [`RefError::NotZero`] while references
    /// are held.
    ///
    /// CONTEXT: as [`switch_to_atomic`](Self::switch_to_atomic); it may also wait for the
    /// release of the previous life to finish being called.
    pub fn reinit(&self) -> Result<(), RefError> {
        let forced = self.lock_switch()?;
        let state = self.state.load(Ordering::Relaxed);
        if state & DEAD == 0 {
            return Err(RefError::NotDead);
        }
        self.count
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .map_err(|count| RefError::NotZero { count })?;
        // The put that took the count to zero marks the release as run right after; wait for
        // it, so that this life's flag is not set by the previous life's put.
        let mut spins = 0u32;
        while !self.released.load(Ordering::Acquire) {
            spins = spins.wrapping_add(1);
            relax(spins);
        }
        self.released.store(false, Ordering::Release);
        self.state.store(state & !DEAD, Ordering::Release);
        if !*forced {
            self.to_percpu();
        }
        Ok(())
    }
}

/// One step of a short wait: a spin hint, and on a hosted machine a yield now and then (the
/// thread waited for may be switched out).
fn relax(spins: u32) {
    core::hint::spin_loop();
    #[cfg(feature = "std")]
    if spins % 64 == 0 {
        std::thread::yield_now();
    }
    #[cfg(not(feature = "std"))]
    let _ = spins;
}
