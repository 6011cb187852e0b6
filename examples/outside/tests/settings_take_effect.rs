//! Issue 11, item 7: every setting of `percpu.toml` takes effect without being copied by hand.
//! This crate's percpu.toml sets `max_cpus`, `first_chunk`, `reserved`, `dynamic_reserve`,
//! `max_alloc_size` and `empty_pages_low/high` away from Linux's defaults; a hosted machine
//! booted with nothing but `MachineConfig::new` follows each of them.

use percpu_rt::allocator::{self, AllocError, PerCpuBox};
use percpu_rt::hosted::{BootError, Machine, MachineConfig};
use percpu_rt::{FirstChunkMode, Settings};

#[test]
fn the_linked_settings_reach_the_machine() {
    let s = Settings::linked();
    assert!(s.origin.ends_with("examples/outside/percpu.toml"), "{}", s.origin);
    assert_eq!(s.max_cpus, 8);
    assert_eq!(s.first_chunk, FirstChunkMode::Page);
    assert_eq!((s.reserved_size, s.dynamic_reserve), (12 << 10, 24 << 10));
    assert_eq!(s.max_alloc_size, Some(8 << 10));
    assert_eq!((s.empty_pages_low, s.empty_pages_high), (1, 3));

    // max_cpus: more CPUs are refused, naming the key and the file.
    let err = Machine::boot(MachineConfig::new(16)).expect_err("16 CPUs with max_cpus = 8");
    assert!(matches!(err, BootError::TooManyCpus(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("`max_cpus` is 8") && text.contains("percpu.toml"), "{text}");
    assert!(!percpu_rt::first_chunk_installed(), "nothing was installed");

    // first_chunk, reserved, dynamic_reserve: the boot lines of a page-mode first chunk with
    // 12 KiB reserved and at least 24 KiB dynamic.
    let machine = Machine::boot(MachineConfig::new(4)).expect("boot");
    assert_eq!(machine.config().mode, FirstChunkMode::Page);
    let dump = machine.dump();
    assert!(dump.starts_with("percpu: ") && dump.contains(" 4K pages/cpu "), "{dump}");
    assert!(dump.contains(" r12288 "), "{dump}");
    let chunk = machine.first_chunk();
    assert_eq!(chunk.origin(), percpu_rt::first_chunk::Origin::Page);
    assert!(chunk.dyn_size() >= 24 << 10, "{dump}");

    // max_alloc_size: 8 KiB is the largest dynamic allocation.
    let too_large = PerCpuBox::<[u8; 9000]>::zeroed().map(drop);
    assert_eq!(too_large, Err(AllocError::TooLarge { size: 9000, max: 8 << 10 }));
    let fits = PerCpuBox::<[u8; 8192]>::zeroed().expect("8 KiB fits");

    // empty_pages_low/high: with the first chunk full, the balance step keeps 1..=3 empty
    // populated pages of the dynamic chunks (Linux's band is 2..=4).
    let in_first_chunk = |b: &PerCpuBox<[u8; 4096]>| {
        b.as_per_cpu_ptr().addr().wrapping_sub(percpu_rt::template::start() as usize)
            < chunk.unit_size()
    };
    let (first, dynamic): (Vec<_>, Vec<_>) = (0..64)
        .map(|_| PerCpuBox::<[u8; 4096]>::zeroed().expect("allocate"))
        .partition(in_first_chunk);
    assert!(!first.is_empty() && dynamic.len() > 8);
    drop(dynamic);
    allocator::balance().expect("balance");
    let g = allocator::stats().expect("initialised").global;
    assert!((1..=3).contains(&g.empty_pop_pages), "band 1..=3, found {}", g.empty_pop_pages);
    drop((first, fits));
}
