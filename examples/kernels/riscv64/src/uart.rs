//! The virt board's ns16550a UART at 0x1000_0000, already set up by OpenSBI.

/// Transmit holding register.
const THR: usize = 0x1000_0000;
/// Line status register.
const LSR: usize = 0x1000_0005;
/// LSR: the transmit holding register is empty.
const LSR_THRE: u8 = 1 << 5;

/// Writes one byte, waiting while the transmitter is busy.
pub fn write_byte(byte: u8) {
    // SAFETY: the UART's registers, identity-mapped as device memory (GiB 0); the console
    // serialises writers.
    unsafe {
        while (LSR as *const u8).read_volatile() & LSR_THRE == 0 {
            core::hint::spin_loop();
        }
        (THR as *mut u8).write_volatile(byte);
    }
}
