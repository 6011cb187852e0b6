//! The COM1 serial port (16550 UART at I/O port 0x3F8), polled.

use crate::cpu::{inb, outb};

const COM1: u16 = 0x3F8;
/// Line status register: bit 5, transmit holding register empty.
const LSR: u16 = COM1 + 5;
const LSR_THR_EMPTY: u8 = 1 << 5;

/// Sets 115200 baud, 8N1, FIFOs on, interrupts off.
pub fn init() {
    // SAFETY: COM1's registers belong to this driver; programming them affects only the port.
    unsafe {
        outb(COM1 + 1, 0x00); // no interrupts
        outb(COM1 + 3, 0x80); // divisor latch access
        outb(COM1, 0x01); // divisor 1: 115200 baud
        outb(COM1 + 1, 0x00);
        outb(COM1 + 3, 0x03); // 8 bits, no parity, one stop bit
        outb(COM1 + 2, 0xC7); // FIFOs on and cleared
        outb(COM1 + 4, 0x03); // DTR, RTS
    }
}

/// Writes one byte, waiting for room in the transmitter.
pub fn write_byte(byte: u8) {
    // SAFETY: reading the line status and writing the data register of COM1 only.
    unsafe {
        while inb(LSR) & LSR_THR_EMPTY == 0 {
            core::hint::spin_loop();
        }
        outb(COM1, byte);
    }
}
