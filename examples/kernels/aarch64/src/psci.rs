//! PSCI (Arm's Power State Coordination Interface): starting CPUs and powering off, over the
//! conduit the device tree names (`hvc` on the virt board, `smc` when it emulates EL2).

use core::arch::asm;

/// `PSCI_VERSION`.
const VERSION: u32 = 0x8400_0000;
/// `CPU_ON` (SMC64).
const CPU_ON: u32 = 0xC400_0003;
/// `SYSTEM_OFF`.
const SYSTEM_OFF: u32 = 0x8400_0008;

/// How PSCI calls reach the firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0`: the hypervisor (QEMU's emulation when the guest has no EL2).
    Hvc,
    /// `smc #0`: the secure monitor (QEMU's emulation when the guest has EL2).
    Smc,
}

/// A PSCI call; returns x0.
fn call(conduit: Conduit, function: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let mut x0 = u64::from(function);
    // SAFETY: a PSCI call by the SMC calling convention: arguments in x0-x3, result in x0,
    // x4-x17 may be clobbered; the functions used here touch no memory of this program (CPU_ON
    // starts another CPU at an entry point this kernel provides).
    unsafe {
        match conduit {
            Conduit::Hvc => asm!(
                "hvc #0",
                inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
                out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                out("x15") _, out("x16") _, out("x17") _,
                options(nostack),
            ),
            Conduit::Smc => asm!(
                "smc #0",
                inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
                out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                out("x15") _, out("x16") _, out("x17") _,
                options(nostack),
            ),
        }
    }
    x0 as i64
}

/// PSCI's version as (major, minor).
pub fn version(conduit: Conduit) -> (u16, u16) {
    let v = call(conduit, VERSION, 0, 0, 0) as u32;
    ((v >> 16) as u16, v as u16)
}

/// Starts the CPU with affinity `mpidr` at physical address `entry`, with `context` in x0.
pub fn cpu_on(conduit: Conduit, mpidr: u64, entry: u64, context: u64) -> Result<(), &'static str> {
    match call(conduit, CPU_ON, mpidr, entry, context) {
        0 => Ok(()),
        -2 => Err("PSCI CPU_ON: invalid parameters (no such CPU?)"),
        -4 => Err("PSCI CPU_ON: the CPU is already on"),
        -5 => Err("PSCI CPU_ON: the CPU is already being started"),
        -6 => Err("PSCI CPU_ON: internal failure"),
        -9 => Err("PSCI CPU_ON: invalid entry address"),
        _ => Err("PSCI CPU_ON failed"),
    }
}

/// Powers the machine off (QEMU exits with status 0).
pub fn system_off(conduit: Conduit) -> ! {
    call(conduit, SYSTEM_OFF, 0, 0, 0);
    loop {
        core::hint::spin_loop();
    }
}
