//! Hole 4: every value is dropped exactly once, and only if it was initialised. When
//! `PerCpuBox::new_with`'s initialiser panics for one CPU, exactly the copies already built are
//! dropped and the area is freed; when one copy's drop panics, the other copies are still
//! dropped and the area freed.

use percpu_rt::allocator::{self, PerCpuBox};
use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::mode::Local;
use percpu_rt::{CpuId, possible_cpus};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

/// The copies dropped so far, by CPU; a drop of anything that is not a built copy records
/// `None` (and would be a double drop of garbage).
static DROPPED: Mutex<Vec<Option<u32>>> = Mutex::new(Vec::new());
const MAGIC: u64 = 0x5eed_1e55_5eed_1e55;

struct Tracked {
    magic: u64,
    cpu: u32,
    /// Owns heap memory, as the `Vec`s that made glibc abort did.
    _heap: Vec<u64>,
    panic_on_drop: bool,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let who = (self.magic == MAGIC).then_some(self.cpu);
        self.magic = 0;
        DROPPED.lock().unwrap_or_else(|e| e.into_inner()).push(who);
        if self.panic_on_drop && who.is_some() {
            panic!("drop of CPU {}'s copy panics", self.cpu);
        }
    }
}

fn tracked(cpu: CpuId, panic_on_drop: bool) -> Tracked {
    Tracked { magic: MAGIC, cpu: cpu.as_u32(), _heap: vec![1, 2, 3], panic_on_drop }
}

fn live_allocations() -> u64 {
    let g = allocator::stats().expect("initialised").global;
    g.nr_alloc - g.nr_dealloc
}

#[test]
fn values_are_dropped_once_and_only_if_initialised() {
    let _machine = Machine::boot(MachineConfig::new(4)).expect("boot");
    let live = live_allocations();

    // The initialiser panics for the third CPU: the first two copies are dropped, once each.
    let third = possible_cpus().nth(2).unwrap();
    let result = catch_unwind(|| {
        PerCpuBox::<Tracked, Local>::new_with(|cpu| {
            assert!(cpu != third, "initialiser fails for CPU {cpu}");
            tracked(cpu, false)
        })
    });
    assert!(result.is_err(), "the panic reaches the caller");
    let dropped = std::mem::take(&mut *DROPPED.lock().unwrap());
    assert_eq!(dropped, [Some(0), Some(1)], "exactly the built copies, once each");
    assert_eq!(live_allocations(), live, "the area is freed");

    // One copy's drop panics: every other copy is still dropped, and the area freed.
    let b = PerCpuBox::<Tracked, Local>::new_with(|cpu| tracked(cpu, cpu.as_u32() == 1)).unwrap();
    assert_eq!(live_allocations(), live + 1);
    let result = catch_unwind(AssertUnwindSafe(|| drop(b)));
    assert!(result.is_err(), "the drop's panic reaches the caller");
    let dropped = std::mem::take(&mut *DROPPED.lock().unwrap());
    assert_eq!(dropped, [Some(0), Some(1), Some(2), Some(3)], "every copy, once each");
    assert_eq!(live_allocations(), live, "the area is freed");
    allocator::verify().expect("the allocator is consistent");
}
