//! Placement classes (issue 17): every class in its own run of the template, in the documented
//! order (hot, none, read_mostly, shared_aligned, page_aligned), the hot statics within the
//! unit's first cache line, and the aligned classes aligned on every CPU: `shared_aligned` to a
//! cache line and alone on it, `page_aligned` to a page and alone on it.

use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::registry::{self, Class};
use percpu_rt::{CpuId, IrqGuard, PreemptGuard, percpu};
use std::sync::atomic::{AtomicU64, Ordering};

#[percpu(hot)]
static HOT: u32 = 0;

#[percpu]
static PLAIN: u64 = 0;

#[percpu(read_mostly, init = |cpu| cpu.as_u32() * 3)]
static TUNING: u32 = 0;

#[percpu(shared_aligned)]
static SEEN: AtomicU64 = AtomicU64::new(0);

#[percpu(page_aligned, local)]
static PAGE: [u8; 100] = [0; 100];

#[test]
fn each_class_is_placed_in_order_and_aligned_on_every_cpu() {
    let vars = registry::variables();
    let of = |name: &str| vars.iter().find(|v| v.name() == name).unwrap();
    assert_eq!(of("HOT").class(), Class::Hot);
    assert_eq!(of("PLAIN").class(), Class::Default);
    assert_eq!(of("TUNING").class(), Class::ReadMostly);
    assert_eq!(of("SEEN").class(), Class::SharedAligned);
    assert_eq!(of("PAGE").class(), Class::PageAligned);

    // Order: every variable of a class lies before every variable of the next class.
    let mut by_offset: Vec<_> = vars.iter().collect();
    by_offset.sort_by_key(|v| v.offset());
    assert!(by_offset.windows(2).all(|w| w[0].class() <= w[1].class()), "{by_offset:#?}");
    // Hot: the first cache line of the unit, the runtime's own hot statics included.
    for v in vars.iter().filter(|v| v.class() == Class::Hot) {
        assert!(v.offset() + v.size() <= 64, "{} is not in the first line", v.name());
    }
    // Alone on its line / page: nothing else starts before the next boundary.
    let next_start = |v: &registry::Descriptor| {
        by_offset.iter().map(|w| w.offset()).filter(|&o| o > v.offset()).min().unwrap_or(usize::MAX)
    };
    assert!(next_start(of("SEEN")) >= of("SEEN").offset() + 64);
    assert!(next_start(of("PAGE")) >= of("PAGE").offset() + 4096);

    let machine = Machine::boot(MachineConfig::new(4)).expect("boot");
    machine.run(|cpu| {
        assert_eq!(TUNING.read(), cpu.as_u32() * 3, "init runs for a read_mostly static");
        HOT.inc();
        PLAIN.add(2);
        SEEN.get(&PreemptGuard::new()).store(u64::from(cpu.as_u32()), Ordering::Relaxed);
        PAGE.get_mut(&mut IrqGuard::new())[99] = cpu.as_u32() as u8 + 1;
    });
    for cpu in percpu_rt::possible_cpus() {
        assert_eq!(SEEN.ptr_on(cpu) as usize % 64, 0, "SEEN on {cpu:?}");
        assert_eq!(PAGE.ptr_on(cpu) as usize % 4096, 0, "PAGE on {cpu:?}");
        assert_eq!(SEEN.remote(cpu).load(Ordering::Relaxed), u64::from(cpu.as_u32()));
        // SAFETY: the CPUs are stopped; nothing touches CPU `cpu`'s PAGE.
        assert_eq!(unsafe { (*PAGE.ptr_on(cpu))[99] }, cpu.as_u32() as u8 + 1);
        let unit = percpu_rt::cpu_offset(cpu).unwrap() + percpu_rt::template::start() as usize;
        assert!(HOT.ptr_on(cpu) as usize - unit < 64, "HOT in the first line of {cpu:?}'s unit");
    }
    assert_eq!(HOT.iter_possible().sum::<u32>(), 4);
    assert_eq!(PLAIN.read_on(CpuId::new(3)), 2);
    let dump = machine.dump();
    let classes = dump.lines().last().unwrap();
    assert!(classes.starts_with("percpu: classes: hot "), "{dump}");
    assert!(classes.ends_with(", read_mostly 4, shared_aligned 64, page_aligned 4096"), "{dump}");
}
