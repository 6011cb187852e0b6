//! The hosted base register: a Linux thread's `GS.base`, through `arch_prctl` (the kernel keeps
//! it per thread and restores it on every switch, as a kernel does per CPU).

/// `arch_prctl` codes (`asm/prctl.h`).
const ARCH_SET_GS: libc::c_int = 0x1001;
const ARCH_GET_GS: libc::c_int = 0x1004;

/// Sets the calling thread's `GS.base`.
///
/// # Panics
///
/// If the kernel refuses `delta` (not a user-space address).
pub(crate) fn set(delta: usize) {
    // SAFETY: ARCH_SET_GS only changes this thread's GS base, which nothing but percpu-rt's
    // gs-relative accesses uses in a hosted program.
    let rc = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_SET_GS, delta) };
    assert!(
        rc == 0,
        "arch_prctl(ARCH_SET_GS, {delta:#x}) failed: {}; the per-CPU delta must be a user-space \
         address (units above the executable)",
        std::io::Error::last_os_error()
    );
}

/// The calling thread's `GS.base`.
pub(crate) fn get() -> usize {
    let mut value: libc::c_ulong = 0;
    // SAFETY: ARCH_GET_GS writes the thread's GS base to the given location.
    let rc = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_GET_GS, &mut value as *mut _) };
    assert!(rc == 0, "arch_prctl(ARCH_GET_GS) failed: {}", std::io::Error::last_os_error());
    value as usize
}
