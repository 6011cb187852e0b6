//! The README's example statics, alone: what `cargo expand` shows for them (the expansion test,
//! `tests/expansion.rs`, holds each one's line count to its budget). Run
//! `cargo expand -p percpu-rt --features hosted --example expansion` to read it.

use core::sync::atomic::AtomicU64;
use percpu_rt::percpu;

/// Packets received on this CPU.
#[percpu]
pub static RX_PACKETS: u64 = 0;

/// The last error this CPU saw.
#[percpu]
pub static LAST_ERROR: AtomicU64 = AtomicU64::new(0);

/// Queue lengths only this CPU touches.
#[percpu(local)]
pub static BACKLOG: [u32; 4] = [0; 4];

fn main() {
    RX_PACKETS.inc();
}
