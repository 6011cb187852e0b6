//! Hole 7: a per-CPU static aligned above the page size cannot be placed aligned in every unit
//! (units are page-aligned), so the boot refuses it, naming the static, before any CPU can get
//! a misaligned reference. (Its own test executable: every boot here refuses.)

use percpu_rt::first_chunk::SetupError;
use percpu_rt::hosted::{BootError, Machine, MachineConfig};
use percpu_rt::{PreemptGuard, percpu};
use std::sync::atomic::{AtomicU64, Ordering};

#[repr(align(8192))]
struct Aligned(AtomicU64);

#[percpu]
static BIG: Aligned = Aligned(AtomicU64::new(0));

#[test]
fn the_boot_refuses_a_static_aligned_above_the_page() {
    // Before the boot the template is aligned (the linker aligns it).
    let pin = PreemptGuard::new();
    assert_eq!(BIG.get(&pin) as *const Aligned as usize % 8192, 0);
    BIG.get(&pin).0.store(1, Ordering::Relaxed);
    drop(pin);

    let err = Machine::boot(MachineConfig::new(3)).expect_err("an over-aligned static");
    match &err {
        BootError::Setup(SetupError::StaticOverAligned { name, align, page_size, .. }) => {
            assert_eq!((*name, *align, *page_size), ("BIG", 8192, 4096));
        }
        other => panic!("expected StaticOverAligned, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("hole7_over_aligned::BIG"), "{text}");
    assert!(text.contains("aligned to 8192 bytes"), "{text}");
    assert!(!percpu_rt::first_chunk_installed(), "nothing was installed");
}
