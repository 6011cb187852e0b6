//! QEMU's firmware configuration device (fw_cfg) over I/O ports: the number of CPUs.

use crate::cpu::{inb, outw};

const SELECTOR: u16 = 0x510;
const DATA: u16 = 0x511;
const KEY_SIGNATURE: u16 = 0x0000;
const KEY_NB_CPUS: u16 = 0x0005;

/// Reads `N` bytes of item `key`.
fn read<const N: usize>(key: u16) -> [u8; N] {
    let mut bytes = [0u8; N];
    // SAFETY: the fw_cfg selector and data ports only select and stream configuration items.
    unsafe {
        outw(SELECTOR, key);
        for b in &mut bytes {
            *b = inb(DATA);
        }
    }
    bytes
}

/// The number of CPUs QEMU was started with (`-smp`), or `None` without fw_cfg.
pub fn cpu_count() -> Option<u16> {
    if read::<4>(KEY_SIGNATURE) != *b"QEMU" {
        return None;
    }
    Some(u16::from_le_bytes(read::<2>(KEY_NB_CPUS)))
}
