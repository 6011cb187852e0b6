//! The PL011 UART of QEMU's virt board (at 0x0900_0000, Device memory in the boot map), polled.

const BASE: usize = 0x0900_0000;
const DR: usize = 0x00;
const FR: usize = 0x18;
const IBRD: usize = 0x24;
const FBRD: usize = 0x28;
const LCR_H: usize = 0x2C;
const CR: usize = 0x30;
/// Flag register: transmit FIFO full.
const FR_TXFF: u32 = 1 << 5;
/// Flag register: busy transmitting.
const FR_BUSY: u32 = 1 << 3;

fn write_reg(offset: usize, value: u32) {
    // SAFETY: a PL011 register, mapped as Device memory; this driver owns the UART.
    unsafe { ((BASE + offset) as *mut u32).write_volatile(value) }
}

fn read_reg(offset: usize) -> u32 {
    // SAFETY: as in `write_reg`; reading FR has no side effect.
    unsafe { ((BASE + offset) as *const u32).read_volatile() }
}

/// 115200 baud from the virt board's 24 MHz clock, 8N1, FIFOs on, transmitter enabled.
pub fn init() {
    while read_reg(FR) & FR_BUSY != 0 {
        core::hint::spin_loop();
    }
    write_reg(CR, 0);
    write_reg(IBRD, 13);
    write_reg(FBRD, 1);
    write_reg(LCR_H, 0x70);
    write_reg(CR, 0x301);
}

/// Writes one byte, waiting for room in the transmit FIFO.
pub fn write_byte(byte: u8) {
    while read_reg(FR) & FR_TXFF != 0 {
        core::hint::spin_loop();
    }
    write_reg(DR, u32::from(byte));
}
