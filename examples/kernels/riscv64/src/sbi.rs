//! The Supervisor Binary Interface calls this kernel makes to OpenSBI (SBI 2.0): start a hart
//! (HSM), send an inter-processor interrupt (IPI), fence the TLBs of every hart (RFENCE), and
//! shut the machine down (SRST).

use core::arch::asm;

/// HSM extension ("HSM").
const EID_HSM: usize = 0x0048_534D;
/// IPI extension ("sPI").
const EID_IPI: usize = 0x0073_5049;
/// RFENCE extension ("RFNC").
const EID_RFENCE: usize = 0x5246_4E43;
/// System reset extension ("SRST").
const EID_SRST: usize = 0x5352_5354;

/// An SBI error code (`SBI_ERR_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SbiError(pub isize);

impl SbiError {
    /// What the code means.
    pub fn describe(self) -> &'static str {
        match self.0 {
            -1 => "SBI_ERR_FAILED",
            -2 => "SBI_ERR_NOT_SUPPORTED",
            -3 => "SBI_ERR_INVALID_PARAM (no such hart)",
            -4 => "SBI_ERR_DENIED",
            -5 => "SBI_ERR_INVALID_ADDRESS",
            -6 => "SBI_ERR_ALREADY_AVAILABLE (the hart is already started)",
            -7 => "SBI_ERR_ALREADY_STARTED",
            -8 => "SBI_ERR_ALREADY_STOPPED",
            _ => "an unknown SBI error",
        }
    }
}

/// `ecall` with extension `eid`, function `fid` and four arguments; the value on success.
fn call(
    eid: usize,
    fid: usize,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
) -> Result<usize, SbiError> {
    let (error, value): (isize, usize);
    // SAFETY: an SBI call: OpenSBI handles it in M-mode and returns error and value in a0/a1;
    // the calls this kernel makes change no memory of the kernel's.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") a0 => error,
            inlateout("a1") a1 => value,
            in("a2") a2,
            in("a3") a3,
            in("a6") fid,
            in("a7") eid,
            options(nostack, preserves_flags),
        );
    }
    if error == 0 { Ok(value) } else { Err(SbiError(error)) }
}

/// Starts hart `hartid` in S-mode at physical address `entry`, MMU off, with `a0` = its hart id
/// and `a1` = `opaque`.
pub fn hart_start(hartid: u64, entry: u64, opaque: u64) -> Result<(), SbiError> {
    call(EID_HSM, 0, hartid as usize, entry as usize, opaque as usize, 0).map(|_| ())
}

/// Raises a supervisor software interrupt (`sip.SSIP`) on hart `hartid`.
pub fn send_ipi(hartid: u64) -> Result<(), SbiError> {
    call(EID_IPI, 0, 1, hartid as usize, 0, 0).map(|_| ())
}

/// `sfence.vma` of the whole address space on every started hart, this one included: page-table
/// changes become visible to every hart's translation (Sv39 allows caching invalid entries).
pub fn remote_sfence_vma_all() -> Result<(), SbiError> {
    // hart_mask_base = -1: every hart; size 2^64 - 1: the whole address space.
    call(EID_RFENCE, 1, 0, usize::MAX, 0, usize::MAX).map(|_| ())
}

/// Powers the machine off (QEMU exits with status 0). Returns only if the call failed.
pub fn shutdown() -> SbiError {
    match call(EID_SRST, 0, 0, 0, 0, 0) {
        Ok(_) => SbiError(-1),
        Err(e) => e,
    }
}
