//! Every CPU of a hosted machine taking and putting references of one `PerCpuRef` at once,
//! references handed from CPU to CPU (taken on one, put on another), while another thread
//! kills, switches modes and revives it: the release runs exactly once per life, never while
//! a reference is held, `tryget_live` fails from the moment `kill` returns, and the grace
//! period lets no per-CPU count change slip past the switch to atomic mode.

use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::{CpuId, PerCpuRef, Ref};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

const CPUS: u32 = 4;

fn machine() -> &'static Machine {
    Machine::boot(MachineConfig::new(CPUS)).expect("boot")
}

/// The counted object: the references its holders see, and its releases.
struct Object {
    /// References held, counted by the holders themselves (exact).
    held: AtomicU64,
    releases: AtomicU32,
    /// Set by a holder that saw a release while it held a reference.
    broken: AtomicBool,
}

fn release(o: &Object) {
    if o.held.load(Ordering::SeqCst) != 0 {
        o.broken.store(true, Ordering::SeqCst);
    }
    o.releases.fetch_add(1, Ordering::SeqCst);
}

fn object() -> Object {
    Object { held: AtomicU64::new(0), releases: AtomicU32::new(0), broken: AtomicBool::new(false) }
}

/// Takes `r` while a holder, checks the object is not released, and gives it to `hand`
/// (another CPU puts it) or puts it here.
fn use_once<'a>(
    r: Ref<'a, Object>,
    releases_before: u32,
    hand: &Mutex<Vec<Ref<'a, Object>>>,
    i: u64,
) {
    r.held.fetch_add(1, Ordering::SeqCst);
    assert_eq!(r.releases.load(Ordering::SeqCst), releases_before, "released while held");
    r.held.fetch_sub(1, Ordering::SeqCst);
    if i % 3 == 0 {
        hand.lock().unwrap().push(r);
    } else {
        drop(r);
    }
    if i % 5 == 0 {
        drop(hand.lock().unwrap().pop());
    }
}

#[test]
fn kill_during_gets_and_puts_releases_once_after_the_last_put() {
    let m = machine();
    for life in 0..20u32 {
        let r = PerCpuRef::new(object(), release).unwrap();
        let hand = Mutex::new(Vec::new());
        let killed = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_micros(200 + 150 * u64::from(life)));
                r.kill().unwrap();
                killed.store(true, Ordering::SeqCst);
            });
            m.run(|_cpu| {
                let mut i = 0u64;
                loop {
                    let after_kill = killed.load(Ordering::SeqCst);
                    match r.tryget_live() {
                        Some(got) => {
                            assert!(!after_kill, "tryget_live succeeded after kill returned");
                            use_once(got, 0, &hand, i);
                        }
                        None => break,
                    }
                    i += 1;
                }
                // Plain gets still work on a dying object that has references.
                if let Some(extra) = r.tryget() {
                    drop(extra);
                }
            });
        });
        // The handed references not yet put hold the object; the last one releases it.
        let out = hand.lock().unwrap().len();
        assert_eq!(r.data().releases.load(Ordering::SeqCst), u32::from(out == 0));
        hand.lock().unwrap().clear();
        assert_eq!(r.data().releases.load(Ordering::SeqCst), 1, "released once, at the last put");
        assert!(!r.data().broken.load(Ordering::SeqCst));
        assert!(r.is_zero() && r.is_released());
    }
}

#[test]
fn mode_switches_during_traffic_keep_the_count_exact() {
    let m = machine();
    let r = PerCpuRef::new(object(), release).unwrap();
    let hand = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let switches = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                r.switch_to_atomic().unwrap();
                r.switch_to_percpu().unwrap();
                switches.fetch_add(1, Ordering::SeqCst);
            }
        });
        m.run(|cpu| {
            for i in 0..100_000u64 {
                let got = if i % 2 == 0 { r.get() } else { r.tryget_live().expect("alive") };
                use_once(got, 0, &hand, i + u64::from(cpu.as_u32()));
            }
        });
        stop.store(true, Ordering::SeqCst);
    });
    assert!(switches.load(Ordering::SeqCst) > 0, "the modes switched during the traffic");
    // Every reference is accounted for: with the handed ones out, the kill does not release...
    let out = hand.lock().unwrap().len();
    r.kill().unwrap();
    assert_eq!(r.data().releases.load(Ordering::SeqCst), u32::from(out == 0));
    // ...and the last of them does.
    hand.lock().unwrap().clear();
    assert_eq!(r.data().releases.load(Ordering::SeqCst), 1);
    assert!(!r.data().broken.load(Ordering::SeqCst));
}

#[test]
fn lives_restart_with_reinit_and_resurrect() {
    let m = machine();
    let r = PerCpuRef::new(object(), release).unwrap();
    for life in 1..=10u32 {
        let hand = Mutex::new(Vec::new());
        m.run(|cpu| {
            for i in 0..10_000u64 {
                use_once(r.get(), life - 1, &hand, i + u64::from(cpu.as_u32()));
            }
        });
        let held = m.run_on(CpuId::new(1), || r.get());
        r.kill().unwrap();
        // Brought back while a reference is held, then killed again: no release in between.
        r.resurrect().unwrap();
        assert!(r.is_percpu() && !r.is_dying());
        r.kill().unwrap();
        drop(held);
        hand.lock().unwrap().clear();
        assert_eq!(r.data().releases.load(Ordering::SeqCst), life);
        r.reinit().unwrap();
    }
    assert!(!r.data().broken.load(Ordering::SeqCst));
}
