//! Model test of `PerCpuCounter` against a plain sequential model: random operations (adds of
//! every size around the batch, on random CPUs, `set`, `limited_add` near and far from its
//! limit, `compare` near and far), each checked against an `i64` that is the exact value.
//! After every operation: `sum()` is the model, `read()` is within `error_bound()` of it,
//! `read_positive`/`sum_positive` clamp, and every CPU's delta stays within the batch (seen
//! through `compare` with a `rhs` just past the bound, which must answer from the count).

use core::cmp::Ordering;
use percpu_rt::counter::{CounterError, MAX_BATCH, default_batch};
use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::{CpuId, PerCpuCounter, PerCpuCounters};
use proptest::prelude::*;

const CPUS: u32 = 3;

fn machine() -> &'static Machine {
    Machine::boot(MachineConfig::new(CPUS)).expect("boot")
}

#[derive(Debug, Clone)]
enum Op {
    Add { cpu: u32, amount: i64 },
    Set(i64),
    Limited { cpu: u32, limit_offset: i64, amount: i64 },
    Compare { offset: i64 },
}

/// Amounts around the batch edges: 0, ±1, ±(batch − 1), ±batch, ±(batch + 1), and random.
fn amount(batch: i64) -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0i64),
        Just(1),
        Just(-1),
        Just(batch - 1),
        Just(1 - batch),
        Just(batch),
        Just(-batch),
        Just(batch + 1),
        Just(-batch - 1),
        -3 * batch..3 * batch,
    ]
}

fn op(batch: i64) -> impl Strategy<Value = Op> {
    let bound = batch * i64::from(CPUS);
    prop_oneof![
        6 => (0..CPUS, amount(batch)).prop_map(|(cpu, amount)| Op::Add { cpu, amount }),
        1 => (-1000i64..1000).prop_map(Op::Set),
        3 => (0..CPUS, -2 * bound..2 * bound, amount(batch))
            .prop_map(|(cpu, limit_offset, amount)| Op::Limited { cpu, limit_offset, amount }),
        2 => prop_oneof![Just(0i64), Just(1), Just(-1), Just(bound), Just(-bound), Just(bound + 1),
                         Just(-bound - 1), -3 * bound..3 * bound]
            .prop_map(|offset| Op::Compare { offset }),
    ]
}

fn check(counter: &PerCpuCounter, model: i64) {
    assert_eq!(counter.sum(), model, "sum is exact");
    assert!((counter.read() - model).abs() <= counter.error_bound(), "read within the bound");
    assert_eq!(counter.read_positive(), counter.read().max(0));
    assert_eq!(counter.sum_positive(), model.max(0));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn counter_follows_the_model(
        (batch, ops) in (1i32..40).prop_flat_map(|b| (Just(b), proptest::collection::vec(op(i64::from(b)), 1..120))),
        start in -100i64..100,
    ) {
        let m = machine();
        let counter = PerCpuCounter::with_batch(start, batch).unwrap();
        let mut model = start;
        check(&counter, model);
        for op in ops {
            match op {
                Op::Add { cpu, amount } => {
                    m.run_on(CpuId::new(cpu), || counter.add(amount));
                    model += amount;
                }
                Op::Set(v) => {
                    counter.set(v);
                    model = v;
                }
                Op::Limited { cpu, limit_offset, amount } => {
                    let limit = model + limit_offset;
                    let fits = if amount > 0 { model + amount <= limit } else { model + amount >= limit };
                    let added = m.run_on(CpuId::new(cpu), || counter.limited_add(limit, amount));
                    prop_assert_eq!(added, amount == 0 || fits, "limited_add({}, {}) at {}", limit, amount, model);
                    if added {
                        model += amount;
                    }
                }
                Op::Compare { offset } => {
                    let rhs = model + offset;
                    prop_assert_eq!(counter.compare(rhs), model.cmp(&rhs), "compare({}) at {}", rhs, model);
                }
            }
            check(&counter, model);
        }
    }

    #[test]
    fn counters_in_one_allocation_are_independent(
        ops in proptest::collection::vec((0usize..4, 0..CPUS, -100i64..100), 1..200),
    ) {
        let m = machine();
        let counters = PerCpuCounters::<4>::with_batch([1, 2, 3, 4], 8).unwrap();
        let mut model = [1i64, 2, 3, 4];
        for (i, cpu, amount) in ops {
            m.run_on(CpuId::new(cpu), || counters[i].add(amount));
            model[i] += amount;
        }
        for i in 0..4 {
            prop_assert_eq!(counters[i].sum(), model[i]);
        }
    }
}

#[test]
fn compare_far_from_rhs_answers_from_the_count() {
    let m = machine();
    let counter = PerCpuCounter::with_batch(0, 10).unwrap();
    // Leave 9 in every CPU's delta: the count is 0, the exact value 27.
    for cpu in 0..CPUS {
        m.run_on(CpuId::new(cpu), || counter.add(9));
    }
    assert_eq!(counter.read(), 0);
    assert_eq!(counter.sum(), 27);
    assert_eq!(counter.error_bound(), 30);
    // Far: the count alone decides (and is right, because the bound holds).
    assert_eq!(counter.compare(-31), Ordering::Greater);
    assert_eq!(counter.compare(31), Ordering::Less);
    // Near: the sum decides, and the count alone would have been wrong.
    assert_eq!(counter.compare(26), Ordering::Greater);
    assert_eq!(counter.compare(27), Ordering::Equal);
    // A fold moves this CPU's delta (and the amount) into the count.
    m.run_on(CpuId::new(0), || counter.add(1));
    assert_eq!(counter.read(), 10);
    assert_eq!(counter.sum(), 28);
}

#[test]
fn set_keeps_concurrent_deltas_and_is_exact() {
    let m = machine();
    let counter = PerCpuCounter::with_batch(0, 100).unwrap();
    m.run_on(CpuId::new(1), || counter.add(50));
    counter.set(7);
    assert_eq!(counter.sum(), 7);
    m.run_on(CpuId::new(1), || counter.add(-50));
    assert_eq!(counter.sum(), -43);
}

#[test]
fn limited_add_is_exact_at_the_limit() {
    let m = machine();
    let counter = PerCpuCounter::with_batch(0, 16).unwrap();
    // Fill up to exactly 100 one by one from all CPUs in turn: the fast path may be used far
    // from the limit, the exact sum near it; never one past.
    let mut added = 0;
    for i in 0..200u32 {
        if m.run_on(CpuId::new(i % CPUS), || counter.limited_add(100, 1)) {
            added += 1;
        }
    }
    assert_eq!(added, 100);
    assert_eq!(counter.sum(), 100);
    // A floor for negative amounts.
    assert!(m.run_on(CpuId::new(2), || counter.limited_add(0, -100)));
    assert!(!m.run_on(CpuId::new(2), || counter.limited_add(0, -1)));
    assert!(counter.limited_add(0, 0), "adding nothing always fits");
    assert_eq!(counter.sum(), 0);
}

#[test]
fn extreme_amounts_wrap_like_the_model() {
    let m = machine();
    let counter = PerCpuCounter::new(i64::MAX).unwrap();
    m.run_on(CpuId::new(0), || counter.add(1));
    assert_eq!(counter.sum(), i64::MIN);
    m.run_on(CpuId::new(0), || counter.add(i64::MIN));
    assert_eq!(counter.sum(), 0);
    assert!(m.run_on(CpuId::new(1), || counter.limited_add(i64::MAX, i64::MAX)));
    assert!(!m.run_on(CpuId::new(1), || counter.limited_add(i64::MAX, 1)));
    assert_eq!(counter.sum(), i64::MAX);
}

#[test]
fn batches_are_checked_and_defaulted() {
    machine();
    assert_eq!(default_batch(), 32.max(2 * CPUS as i32));
    for bad in [0, -1, MAX_BATCH + 1] {
        let e = PerCpuCounter::with_batch(0, bad).unwrap_err();
        assert_eq!(e, CounterError::Batch { batch: bad });
        assert!(e.to_string().contains("1..="), "{e}");
    }
    assert_eq!(PerCpuCounter::with_batch(0, MAX_BATCH).unwrap().batch(), MAX_BATCH);
}
