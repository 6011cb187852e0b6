//! Threads that are not CPUs, after boot: the template is revoked, and a per-CPU access from
//! such a thread stops the process with a message instead of reaching the template.
//!
//! A thread that is not a CPU has base register 0, so its per-CPU accesses reach the template
//! (a static's) or the per-CPU pointer itself (a dynamic object's: memory it does not own). A
//! check on every access would cost the one-instruction operations their point, so the check is
//! the MMU's: [`revoke_template`] makes the template's pages inaccessible once every CPU's unit
//! is filled. No CPU touches the template after that (their base register points at their
//! unit), the setup reads the declared initial values, not the template, and remote accesses go
//! through the possible CPUs' offsets. A dynamic object's current-CPU accesses first read the
//! runtime's own `THIS_CPU_OFFSET` (see `local::require_unit`), which lives in the template too,
//! so they stop here as well, before touching the per-CPU pointer.
//!
//! The fault handler ([`on_fault`]) recognises a fault inside the revoked pages, writes one
//! message to standard error (naming the variable, from the registry) and aborts; any other
//! fault goes to the handler that was installed before (the standard library's stack-overflow
//! report, or the default action). It runs in signal context: it allocates nothing, formats into
//! a buffer on its stack and writes with `write(2)`.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};
use std::io;

/// The revoked range `[start, end)`; both 0 until the revocation.
static REVOKED_START: AtomicUsize = AtomicUsize::new(0);
static REVOKED_END: AtomicUsize = AtomicUsize::new(0);
/// The `SIGSEGV` action that was installed before ours (chained to for other faults).
static PREVIOUS: spin::Once<libc::sigaction> = spin::Once::new();

/// Installs the fault handler, then makes the template's pages inaccessible.
///
/// The linker fragment pads `.percpu` to a page boundary, so those pages hold the template and
/// nothing else.
pub(super) fn revoke_template() -> io::Result<()> {
    let page = crate::allocator::hosted::page_size();
    let start = crate::template::start() as usize;
    let end = (crate::template::end() as usize).next_multiple_of(page);
    if start % page != 0 || end <= start {
        return Ok(()); // Nothing to revoke (an empty template), or the setup refused already.
    }
    install_handler()?;
    REVOKED_START.store(start, Ordering::SeqCst);
    REVOKED_END.store(end, Ordering::SeqCst);
    // SAFETY: `[start, end)` is the template's pages, which hold nothing but the template (the
    // fragment pads the section to the page), and nothing reaches the template any more but
    // threads that are not CPUs, whose accesses are exactly what this refuses.
    let rc = unsafe { libc::mprotect(start as *mut libc::c_void, end - start, libc::PROT_NONE) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn install_handler() -> io::Result<()> {
    let mut result = Ok(());
    PREVIOUS.call_once(|| {
        // SAFETY: a zeroed `sigaction` is a valid value to fill in; `sigemptyset` initialises
        // the mask; `sigaction` installs `on_fault` (an `extern "C"` function with the
        // three-argument signature `SA_SIGINFO` requires) and stores the previous action.
        unsafe {
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = on_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = core::mem::zeroed();
            if libc::sigaction(libc::SIGSEGV, &action, &mut previous) != 0 {
                result = Err(io::Error::last_os_error());
            }
            previous
        }
    });
    result
}

/// The `SIGSEGV` handler.
extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid `siginfo_t` to an `SA_SIGINFO` handler; for SIGSEGV
    // `si_addr` is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    let (start, end) = (REVOKED_START.load(Ordering::Relaxed), REVOKED_END.load(Ordering::Relaxed));
    if (start..end).contains(&addr) {
        report(addr);
        // SAFETY: ends the process; nothing after it runs.
        unsafe { libc::abort() };
    }
    chain(sig, info, context);
}

/// Hands a fault that is not ours to the previous action.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let Some(previous) = PREVIOUS.get() else { return };
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Back to the default action; returning re-executes the faulting instruction, which
        // then takes it (a SIGSEGV cannot be ignored usefully).
        // SAFETY: a zeroed `sigaction` with `SIG_DFL` is the default disposition.
        unsafe {
            let mut default: libc::sigaction = core::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigemptyset(&mut default.sa_mask);
            libc::sigaction(sig, &default, core::ptr::null_mut());
        }
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous action was installed with SA_SIGINFO, so its handler has this
        // signature; it gets the same arguments the kernel gave us.
        unsafe {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                core::mem::transmute(handler);
            f(sig, info, context);
        }
    } else {
        // SAFETY: a handler installed without SA_SIGINFO takes the signal number only.
        unsafe {
            let f: extern "C" fn(libc::c_int) = core::mem::transmute(handler);
            f(sig);
        }
    }
}

/// Writes the message for a fault at `addr` in the revoked template.
fn report(addr: usize) {
    let mut buf = Buffer { bytes: [0; 1024], len: 0 };
    let var = crate::registry::variables().iter().find(|v| {
        let t = v.template() as usize;
        (t..t + v.size().max(1)).contains(&addr)
    });
    let _ = write!(buf, "percpu: per-CPU access ");
    let _ = match var {
        Some(v) if v.crate_name() == "percpu_rt" => write!(
            buf,
            "(to the runtime's own `{}`, which a dynamic object's access, CpuId::current() and the \
             guards read) ",
            v.name()
        ),
        Some(v) => write!(buf, "to `{}::{}` ", v.module_path(), v.name()),
        None => write!(buf, "at {addr:#x} "),
    };
    let _ = writeln!(
        buf,
        "from a thread that is not a CPU of the hosted machine (its base register is 0, so the \
         access reached the template, which Machine::boot revoked). After the boot, per-CPU data \
         is reached only on the machine's CPUs: run this code with Machine::run_on(cpu, ..) or \
         Machine::run(..) (see percpu_rt::hosted, \"Threads that are not CPUs\")."
    );
    // SAFETY: writes `len` initialised bytes of `buf` to standard error (async-signal-safe).
    unsafe { libc::write(2, buf.bytes.as_ptr().cast(), buf.len) };
}

/// A fixed buffer for formatting in signal context (no allocation); output beyond it is cut.
struct Buffer {
    bytes: [u8; 1024],
    len: usize,
}

impl Write for Buffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
