//! QEMU's firmware configuration device (fw_cfg) over I/O ports: the number of CPUs, when the
//! ACPI tables cannot tell (`-machine acpi=off`).

use crate::cpu::{inb, outw};

const SELECTOR: u16 = 0x510;
const DATA: u16 = 0x511;
const KEY_SIGNATURE: u16 = 0x0000;
const KEY_NB_CPUS: u16 = 0x0005;
const KEY_MAX_CPUS: u16 = 0x000F;

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

/// The CPU counts QEMU was started with, or `None` without fw_cfg: `FW_CFG_NB_CPUS`, the CPUs
/// present at boot (`-smp N`), and `FW_CFG_MAX_CPUS`, one more than the highest APIC id of
/// `maxcpus=M` (equal to `M` with QEMU's default topology, where APIC ids run 0..M).
pub fn cpu_counts() -> Option<(u16, u16)> {
    if read::<4>(KEY_SIGNATURE) != *b"QEMU" {
        return None;
    }
    let present = u16::from_le_bytes(read::<2>(KEY_NB_CPUS));
    let apic_id_limit = u16::from_le_bytes(read::<2>(KEY_MAX_CPUS));
    Some((present, apic_id_limit))
}
