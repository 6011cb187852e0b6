//! COM1 output in whole lines (one lock, so that lines of several CPUs never interleave), and
//! the end of the run: exactly one final `PASS` or `FAIL: <reason>` line and QEMU's exit status
//! 33 or 35 through `isa-debug-exit` (as the other example kernels).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::{cpu, serial};

/// QEMU's exit status for `PASS` (`isa-debug-exit` turns `v` into `(v << 1) | 1`).
const PASS_STATUS: u8 = 33;
/// QEMU's exit status for `FAIL`.
const FAIL_STATUS: u8 = 35;

/// Serialises whole lines.
static LINE_LOCK: AtomicBool = AtomicBool::new(false);
/// Set by the first CPU that ends the run.
static FINISHED: AtomicBool = AtomicBool::new(false);

/// COM1, with `\n` turned into `\r\n`.
pub struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                serial::write_byte(b'\r');
            }
            serial::write_byte(byte);
        }
        Ok(())
    }
}

/// Runs `f` with the line lock held; `bounded`: give up waiting after a while (on the failure
/// path the holder may be the code that failed) and write regardless.
fn locked(bounded: bool, f: impl FnOnce(&mut Serial)) {
    let mut spins = 0u32;
    let mut held = false;
    while !bounded || spins < 10_000_000 {
        if LINE_LOCK
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            held = true;
            break;
        }
        spins += 1;
        core::hint::spin_loop();
    }
    f(&mut Serial);
    if held {
        LINE_LOCK.store(false, Ordering::Release);
    }
}

/// Prints one line.
pub fn print_line(args: fmt::Arguments<'_>) {
    locked(false, |s| {
        let _ = s.write_fmt(args);
        let _ = s.write_str("\n");
    });
}

/// Prints whatever `f` writes (several lines, e.g. the first-chunk dump) as one block.
pub fn print_block(f: impl FnOnce(&mut Serial) -> fmt::Result) {
    locked(false, |s| {
        let _ = f(s);
    });
}

/// Prints a line on the serial console.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print_line(::core::format_args!($($arg)*))
    };
}

/// Ends the run with `FAIL: <formatted reason>`.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        $crate::console::end(false, ::core::format_args!($($arg)*))
    };
}

/// Prints the final line (`PASS`, or `FAIL: reason`) and exits QEMU; a CPU that comes second
/// stops without printing.
pub fn end(pass: bool, reason: fmt::Arguments<'_>) -> ! {
    if FINISHED.swap(true, Ordering::AcqRel) {
        cpu::halt_forever();
    }
    locked(true, |s| {
        let _ = if pass { s.write_str("PASS\n") } else { writeln!(s, "FAIL: {reason}") };
    });
    let status = if pass { PASS_STATUS } else { FAIL_STATUS };
    // SAFETY: port 0xF4 is QEMU's isa-debug-exit device; without it the write is ignored and
    // the CPU halts below.
    unsafe { cpu::outb(0xF4, (status - 1) / 2) };
    cpu::halt_forever()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    end(false, format_args!("panic on the CPU with APIC id {}: {info}", cpu::apic_id()))
}
