//! Code that has no per-CPU unit (base register 0) after the first-chunk setup, as a kernel CPU
//! that has not loaded its base register: static accesses reach the template (owned memory),
//! but a dynamic object's current-CPU access panics with a message instead of reaching its
//! per-CPU pointer plus 0, which is memory it does not own. Once the base is loaded, the same
//! accesses reach the CPU's copy. (The setup here is the kernel's, without a hosted machine,
//! so the template stays readable; a hosted machine revokes it, see `examples/outside`.)

mod common;

use percpu_rt::allocator::PerCpuBox;
use percpu_rt::first_chunk::{self, SetupConfig};
use percpu_rt::layout::LayoutParams;
use percpu_rt::mode::{ByValue, Local};
use percpu_rt::{CpuId, IrqGuard, PreemptGuard, percpu, template};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

#[percpu]
static HITS: u64 = 0;

fn panic_text(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the access must panic");
    match payload.downcast_ref::<&str>() {
        Some(text) => text.to_string(),
        None => payload.downcast_ref::<String>().cloned().unwrap_or_default(),
    }
}

#[test]
fn dynamic_access_without_a_unit_panics_and_static_access_reaches_the_template() {
    common::ensure_platform();
    let possible: Vec<CpuId> = [0, 1].map(CpuId::new).to_vec();
    let cfg = SetupConfig::new(&possible);
    let params = LayoutParams::linux_defaults(template::static_size());
    let mut mem = common::TestMemory::default();
    // SAFETY: fresh leaked allocations, owned by the per-CPU code from now on.
    let chunk = unsafe { first_chunk::embed_first_chunk(&params, &cfg, None, &mut mem) }.unwrap();
    chunk.install().unwrap();

    // This thread never loaded a base register: a static still reaches the template, and no
    // CPU's copy (the debug mode reports the access instead).
    #[cfg(not(feature = "debug-checks"))]
    {
        HITS.inc();
        assert_eq!(HITS.read(), 1, "a static still reaches the template");
    }
    #[cfg(feature = "debug-checks")]
    assert!(panic_text(|| HITS.inc()).contains("base register was never loaded"));
    assert_eq!(HITS.iter_possible().sum::<u64>(), 0, "and no CPU's copy");

    let counter = PerCpuBox::<u64, ByValue>::new(0).unwrap();
    let text = panic_text(|| counter.write(0xdead_beef));
    assert!(text.contains("has no per-CPU unit"), "{text}");
    assert!(text.contains("load_base"), "the message says what to do: {text}");
    assert!(
        panic_text(|| {
            counter.read();
        })
        .contains("has no per-CPU unit")
    );
    assert!(counter.iter_possible().all(|v| v == 0), "nothing was written anywhere");

    let shared = PerCpuBox::<AtomicU64>::new_with(|_| AtomicU64::new(0)).unwrap();
    let pin = PreemptGuard::new();
    assert!(
        panic_text(|| {
            shared.get(&pin);
        })
        .contains("has no per-CPU unit")
    );
    drop(pin);
    let local = PerCpuBox::<Vec<u64>, Local>::new(Vec::new()).unwrap();
    // The IrqGuard's own flag is a per-CPU static: taking one here reaches the template (the
    // debug mode reports that).
    #[cfg(not(feature = "debug-checks"))]
    {
        let mut irq = IrqGuard::new();
        assert!(panic_text(|| local.get_mut(&mut irq).push(1)).contains("has no per-CPU unit"));
    }
    #[cfg(feature = "debug-checks")]
    assert!(panic_text(|| drop(IrqGuard::new())).contains("base register was never loaded"));

    // With CPU 1's base loaded, the same accesses reach CPU 1's copies.
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: this thread acts as CPU 1 and is the only one doing so; it holds no
            // reference into the template.
            unsafe { first_chunk::load_base(CpuId::new(1)).unwrap() };
            counter.write(7);
            shared.get(&PreemptGuard::new()).store(8, Ordering::Relaxed);
            local.get_mut(&mut IrqGuard::new()).push(9);
            // SAFETY: back to base 0; the thread ends.
            unsafe { percpu_rt::arch::write_base(0) };
        });
    });
    assert_eq!((counter.read_on(CpuId::new(0)), counter.read_on(CpuId::new(1))), (0, 7));
    assert_eq!(shared.remote(CpuId::new(1)).load(Ordering::Relaxed), 8);
}
