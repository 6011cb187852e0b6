//! The serial console: whole lines under one lock, so that lines printed by several CPUs at
//! once never interleave.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::try_arch;

/// Serialises whole lines.
static LINE_LOCK: AtomicBool = AtomicBool::new(false);

/// Writes to the serial port through [`crate::Arch::serial_write`], turning `\n` into `\r\n`.
/// Holds no lock: callers hold [`LINE_LOCK`].
struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(arch) = try_arch() {
            for byte in s.bytes() {
                if byte == b'\n' {
                    arch.serial_write(b'\r');
                }
                arch.serial_write(byte);
            }
        }
        Ok(())
    }
}

/// Prints one line (the arguments and a newline) while holding the line lock.
pub fn print_line(args: fmt::Arguments<'_>) {
    while LINE_LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
    let _ = Serial.write_fmt(args);
    let _ = Serial.write_str("\n");
    LINE_LOCK.store(false, Ordering::Release);
}

/// Prints one line on the failure path: waits a bounded time for the line lock (its holder may
/// be the code that failed) and then prints regardless.
pub fn print_line_emergency(args: fmt::Arguments<'_>) {
    let mut spins = 0u32;
    let mut locked = false;
    while spins < 10_000_000 {
        if LINE_LOCK
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            locked = true;
            break;
        }
        spins += 1;
        core::hint::spin_loop();
    }
    // A line in progress on another CPU is cut; start ours on a fresh line.
    let _ = Serial.write_str(if locked { "" } else { "\n" });
    let _ = Serial.write_fmt(args);
    let _ = Serial.write_str("\n");
    if locked {
        LINE_LOCK.store(false, Ordering::Release);
    }
}

/// Prints a line on the serial console (whole lines never interleave between CPUs).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print_line(::core::format_args!($($arg)*))
    };
}
