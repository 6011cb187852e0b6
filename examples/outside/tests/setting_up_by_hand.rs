//! Setting up per-CPU memory by hand in a Linux process, without a `Machine`, the way a
//! kernel's boot code does it (issue 13, item 7: the hosted memory providers are public): the
//! settings linked into the program, the allocator's configuration, an embedded first chunk
//! from `MmapMemory`, its installation, and each "CPU" (a thread) loading its base register.
//! The one test of this crate that writes `unsafe`: the setup's contracts are the kernel's.

use percpu_rt::first_chunk::{self, FirstChunk};
use percpu_rt::hosted::MmapMemory;
use percpu_rt::{CpuId, NoopPlatform, PerCpuBox, Settings, allocator, percpu, template};

#[percpu]
static HITS: u64 = 0;

#[test]
fn a_first_chunk_set_up_and_used_without_a_machine() {
    let cpus: Vec<CpuId> = (0..3).map(CpuId::new).collect();
    let settings = Settings::linked();
    percpu_rt::set_platform(&NoopPlatform).expect("the first platform");
    allocator::configure(settings.alloc_config()).expect("the allocator's settings");
    let params = settings.layout_params(template::static_size());
    let mut memory = MmapMemory::new();
    // SAFETY: MmapMemory hands out fresh private mappings, which the per-CPU code owns from
    // now on; nothing else gives them back.
    let chunk = unsafe {
        first_chunk::embed_first_chunk(&params, &settings.setup_config(&cpus), None, &mut memory)
    }
    .expect("an embedded first chunk");
    let chunk: &'static FirstChunk = chunk.install().expect("installed once");
    assert_eq!(chunk.alloc_info().nr_units(), 3);

    let counters = PerCpuBox::<u64, percpu_rt::mode::ByValue>::new(0).expect("a dynamic object");
    std::thread::scope(|s| {
        for &cpu in &cpus {
            let counters = &counters;
            s.spawn(move || {
                // SAFETY: this thread acts as CPU `cpu` and is the only one doing so; it holds
                // no reference into the template.
                unsafe { first_chunk::load_base(cpu) }.expect("a possible CPU");
                for _ in 0..=cpu.as_u32() {
                    HITS.inc();
                    counters.add(10);
                }
                // SAFETY: back to no unit before the thread ends; nothing of this CPU's is
                // referenced any more.
                unsafe { percpu_rt::arch::write_base(0) };
            });
        }
    });
    assert_eq!(HITS.iter_possible().collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(counters.iter_possible().sum::<u64>(), 60);
}
