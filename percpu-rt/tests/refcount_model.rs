//! Model test of `PerCpuRef` against a plain sequential model: random `get`, `tryget`,
//! `tryget_live`, drops (on random CPUs, so a reference taken on one CPU is often put on
//! another), explicit `put`s of leaked references, `kill`, `switch_to_atomic`,
//! `switch_to_percpu`, `resurrect` and `reinit`, from every start mode. The model is the
//! number of references (the initial one included), the mode, whether it is dead, and how many
//! times the release ran; after every step the reference count's queries and the release count
//! must agree with it, and every refused call must be refused with the model's error.

use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::refcount::{RefError, StartMode};
use percpu_rt::{CpuId, PerCpuRef, Ref};
use proptest::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};

const CPUS: u32 = 3;

fn machine() -> &'static Machine {
    Machine::boot(MachineConfig::new(CPUS)).expect("boot")
}

fn count_release(releases: &AtomicU32) {
    releases.fetch_add(1, Ordering::Relaxed);
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Get(u32),
    TryGet(u32),
    TryGetLive(u32),
    Drop { which: usize, cpu: u32 },
    LeakAndPut { which: usize, cpu: u32 },
    Kill(u32),
    ToAtomic(u32),
    ToPercpu(u32),
    Resurrect(u32),
    Reinit(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let cpu = 0..CPUS;
    prop_oneof![
        4 => cpu.clone().prop_map(Op::Get),
        2 => cpu.clone().prop_map(Op::TryGet),
        2 => cpu.clone().prop_map(Op::TryGetLive),
        5 => (any::<usize>(), cpu.clone()).prop_map(|(which, cpu)| Op::Drop { which, cpu }),
        1 => (any::<usize>(), cpu.clone()).prop_map(|(which, cpu)| Op::LeakAndPut { which, cpu }),
        1 => cpu.clone().prop_map(Op::Kill),
        1 => cpu.clone().prop_map(Op::ToAtomic),
        1 => cpu.clone().prop_map(Op::ToPercpu),
        1 => cpu.clone().prop_map(Op::Resurrect),
        1 => cpu.prop_map(Op::Reinit),
    ]
}

/// The sequential model.
#[derive(Debug)]
struct Model {
    count: i64,
    dead: bool,
    forced: bool,
    has_counts: bool,
    releases: u32,
    released: bool,
}

impl Model {
    fn percpu(&self) -> bool {
        self.has_counts && !self.forced && !self.dead
    }
    fn put(&mut self) {
        self.count -= 1;
        if !self.percpu() && self.count == 0 && !self.released {
            self.released = true;
            self.releases += 1;
        }
    }
    fn tryget(&mut self, live: bool) -> bool {
        let ok = self.percpu() || (!(live && self.dead) && self.count > 0);
        if ok {
            self.count += 1;
        }
        ok
    }
}

/// References held by the test, put back on a CPU when dropped (a thread that is not a CPU
/// has no per-CPU count to put them on).
struct Held<'a>(&'static Machine, Vec<Ref<'a, AtomicU32>>);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let refs = std::mem::take(&mut self.1);
        self.0.run_on(CpuId::new(0), move || drop(refs));
    }
}

fn start() -> impl Strategy<Value = Option<StartMode>> {
    prop_oneof![
        Just(Some(StartMode::Percpu)),
        Just(Some(StartMode::Atomic)),
        Just(Some(StartMode::Dead)),
        Just(None), // atomic_only
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn refcount_follows_the_model(mode in start(), ops in proptest::collection::vec(op(), 1..80)) {
        let m = machine();
        let on = |cpu: u32| CpuId::new(cpu);
        let r = match mode {
            Some(mode) => PerCpuRef::with_mode(AtomicU32::new(0), count_release, mode).unwrap(),
            None => PerCpuRef::atomic_only(AtomicU32::new(0), count_release),
        };
        let mut model = Model {
            count: if mode == Some(StartMode::Dead) { 0 } else { 1 },
            dead: mode == Some(StartMode::Dead),
            forced: mode != Some(StartMode::Percpu) && mode != Some(StartMode::Dead),
            has_counts: mode.is_some(),
            releases: 0,
            released: mode == Some(StartMode::Dead),
        };
        let mut held = Held(m, Vec::new());
        for op in ops {
            match op {
                Op::Get(cpu) => {
                    held.1.push(m.run_on(on(cpu), || r.get()));
                    model.count += 1;
                }
                Op::TryGet(cpu) | Op::TryGetLive(cpu) => {
                    let live = matches!(op, Op::TryGetLive(_));
                    let got = m.run_on(on(cpu), || if live { r.tryget_live() } else { r.tryget() });
                    prop_assert_eq!(got.is_some(), model.tryget(live), "{:?} in {:?}", op, model);
                    held.1.extend(got);
                }
                Op::Drop { which, cpu } | Op::LeakAndPut { which, cpu } => {
                    if held.1.is_empty() {
                        continue;
                    }
                    let one = held.1.swap_remove(which % held.1.len());
                    if matches!(op, Op::Drop { .. }) {
                        m.run_on(on(cpu), move || drop(one));
                    } else {
                        let owner = Ref::leak(one);
                        prop_assert_eq!(m.run_on(on(cpu), || owner.put()), Ok(()));
                    }
                    model.put();
                }
                Op::Kill(cpu) => {
                    let got = m.run_on(on(cpu), || r.kill());
                    if model.dead {
                        prop_assert_eq!(got, Err(RefError::AlreadyDead));
                    } else {
                        prop_assert_eq!(got, Ok(()));
                        model.dead = true;
                        model.put();
                    }
                }
                Op::ToAtomic(cpu) => {
                    prop_assert_eq!(m.run_on(on(cpu), || r.switch_to_atomic()), Ok(()));
                    model.forced = true;
                }
                Op::ToPercpu(cpu) => {
                    let got = m.run_on(on(cpu), || r.switch_to_percpu());
                    if model.has_counts {
                        prop_assert_eq!(got, Ok(()));
                        model.forced = false;
                    } else {
                        prop_assert_eq!(got, Err(RefError::AtomicOnly));
                    }
                }
                Op::Resurrect(cpu) => {
                    let got = m.run_on(on(cpu), || r.resurrect());
                    if !model.dead {
                        prop_assert_eq!(got, Err(RefError::NotDead));
                    } else if model.count <= 0 {
                        prop_assert_eq!(got, Err(RefError::Released));
                    } else {
                        prop_assert_eq!(got, Ok(()));
                        model.dead = false;
                        model.count += 1;
                    }
                }
                Op::Reinit(cpu) => {
                    let got = m.run_on(on(cpu), || r.reinit());
                    if !model.dead {
                        prop_assert_eq!(got, Err(RefError::NotDead));
                    } else if model.count != 0 {
                        prop_assert_eq!(got, Err(RefError::NotZero { count: model.count }));
                    } else {
                        prop_assert_eq!(got, Ok(()));
                        model.dead = false;
                        model.count = 1;
                        model.released = false;
                    }
                }
            }
            prop_assert_eq!(r.is_percpu(), model.percpu(), "mode after {:?}: {:?}", op, model);
            prop_assert_eq!(r.is_dying(), model.dead);
            prop_assert_eq!(r.is_zero(), !model.percpu() && model.count == 0);
            prop_assert_eq!(r.is_released(), model.released);
            prop_assert_eq!(r.data().load(Ordering::Relaxed), model.releases, "releases after {:?}", op);
        }
        drop(held);
    }
}

#[test]
fn extra_puts_are_refused_in_atomic_mode_and_found_by_the_switch() {
    let m = machine();
    let r = PerCpuRef::new(AtomicU32::new(0), count_release).unwrap();
    // Per-CPU mode cannot see an extra put...
    assert_eq!(m.run_on(CpuId::new(0), || r.put()), Ok(()));
    // ...the switch to atomic mode sums it: the initial reference is gone, so the count
    // reached zero and the release ran.
    assert_eq!(r.kill(), Err(RefError::BelowZero { count: 0 }));
    assert_eq!(r.data().load(Ordering::Relaxed), 1);
    // Atomic mode refuses a put with nothing to drop, and leaves the count at zero.
    assert_eq!(r.put(), Err(RefError::BelowZero { count: -1 }));
    assert!(r.is_zero());
    assert!(r.reinit().is_ok(), "a zero count starts a new life");
    assert!(r.is_percpu());
    assert_eq!(r.kill(), Ok(()));
    assert_eq!(r.data().load(Ordering::Relaxed), 2, "one release per life");
}

#[test]
fn errors_say_what_to_change() {
    for e in [
        RefError::AlreadyDead,
        RefError::NotDead,
        RefError::NotZero { count: 2 },
        RefError::Released,
        RefError::BelowZero { count: -1 },
        RefError::InPinnedSection,
        RefError::NoGracePeriod,
        RefError::AtomicOnly,
    ] {
        let text = e.to_string();
        assert!(text.contains("PerCpuRef") && text.len() > 60, "{text}");
    }
}

#[test]
fn switching_inside_a_pinned_section_is_refused() {
    let m = machine();
    let r = PerCpuRef::new((), |_| {}).unwrap();
    m.run_on(CpuId::new(1), || {
        let guard = percpu_rt::PreemptGuard::new();
        assert_eq!(r.kill(), Err(RefError::InPinnedSection));
        assert_eq!(r.switch_to_atomic(), Err(RefError::InPinnedSection));
        drop(guard);
        assert_eq!(r.kill(), Ok(()));
    });
    assert!(r.is_released());
}

#[test]
fn atomic_only_needs_no_per_cpu_memory() {
    machine();
    let r = PerCpuRef::atomic_only(AtomicU32::new(0), count_release);
    let a = r.get();
    assert!(!r.is_percpu());
    assert_eq!(r.switch_to_percpu(), Err(RefError::AtomicOnly));
    r.kill().unwrap();
    assert!(r.tryget_live().is_none());
    assert_eq!(r.data().load(Ordering::Relaxed), 0);
    drop(a);
    assert_eq!(r.data().load(Ordering::Relaxed), 1);
    assert!(r.tryget().is_none(), "zero: tryget fails too");
}
