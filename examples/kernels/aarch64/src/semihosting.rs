//! Arm semihosting (QEMU's `-semihosting`): ending the run with an exit status.

use core::arch::asm;

/// `SYS_EXIT`.
const SYS_EXIT: u32 = 0x18;
/// `ADP_Stopped_ApplicationExit`: with the two-word block, the second word is the status.
const APPLICATION_EXIT: u64 = 0x2_0026;

/// Makes QEMU exit with `status`. Without `-semihosting` the `hlt` is an undefined
/// instruction and the exception handler takes over.
pub fn exit(status: u32) {
    let block = [APPLICATION_EXIT, u64::from(status)];
    // SAFETY: the semihosting trap reads the two-word block, which lives across the call;
    // QEMU does not return from SYS_EXIT.
    unsafe {
        asm!(
            "hlt #0xf000",
            inout("w0") SYS_EXIT => _,
            in("x1") block.as_ptr(),
            options(nostack, readonly),
        )
    }
}
