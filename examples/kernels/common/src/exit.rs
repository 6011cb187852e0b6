//! The end of a run, in a form a harness can trust: exactly one final line, `PASS` or
//! `FAIL: <reason>`, and a QEMU exit status that stands for it.
//!
//! The statuses are [`PASS_STATUS`] (33) and [`FAIL_STATUS`] (35) on both architectures. On
//! x86_64 QEMU's `isa-debug-exit` device turns the value `v` written to its port into the status
//! `(v << 1) | 1`, so 0 (a triple fault under `-no-reboot`) and 1 (QEMU's own errors) can never
//! mean success; the aarch64 kernel uses the same numbers through semihosting's `SYS_EXIT`.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::try_arch;
use crate::console::print_line_emergency;

/// QEMU's exit status for `PASS`.
pub const PASS_STATUS: u8 = 33;
/// QEMU's exit status for `FAIL`.
pub const FAIL_STATUS: u8 = 35;

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Every check passed.
    Pass,
    /// A check failed, a CPU faulted or panicked.
    Fail,
}

impl ExitCode {
    /// The QEMU exit status for this outcome.
    pub const fn status(self) -> u8 {
        match self {
            ExitCode::Pass => PASS_STATUS,
            ExitCode::Fail => FAIL_STATUS,
        }
    }
}

/// Set by the first CPU that ends the run; later ones stop without printing.
static FINISHED: AtomicBool = AtomicBool::new(false);

/// Claims the final line; `false` if another CPU already ended the run.
fn claim_end() -> bool {
    !FINISHED.swap(true, Ordering::AcqRel)
}

/// Stops this CPU for good (another CPU is ending the run).
fn park() -> ! {
    match try_arch() {
        Some(arch) => arch.park(),
        None => loop {
            core::hint::spin_loop();
        },
    }
}

/// Prints `PASS` and exits QEMU with [`PASS_STATUS`].
pub fn pass() -> ! {
    if !claim_end() {
        park();
    }
    print_line_emergency(format_args!("PASS"));
    match try_arch() {
        Some(arch) => arch.exit(ExitCode::Pass),
        None => park(),
    }
}

/// Prints `FAIL: <reason>` and exits QEMU with [`FAIL_STATUS`].
pub fn fail(reason: fmt::Arguments<'_>) -> ! {
    if !claim_end() {
        park();
    }
    print_line_emergency(format_args!("FAIL: {reason}"));
    match try_arch() {
        Some(arch) => arch.exit(ExitCode::Fail),
        None => park(),
    }
}

/// Ends the run with `FAIL: <formatted reason>`.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        $crate::exit::fail(::core::format_args!($($arg)*))
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let hw = try_arch().map(|arch| arch.hw_cpu_id());
    match hw {
        Some(hw) => fail(format_args!("panic on the CPU with hardware id {hw:#x}: {info}")),
        None => fail(format_args!("panic: {info}")),
    }
}
