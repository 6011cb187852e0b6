//! Helpers for the outside tests: running a test body in a child process, for the failures
//! that stop a process (a per-CPU access from a thread that is not a CPU aborts it).
//!
//! A program that does what these tests do must not compile:
//!
//! ```compile_fail
//! // Freeing by pointer is unsafe: a live box's pointer must not be freed from safe code.
//! use percpu_rt::allocator::{self, PerCpuBox};
//! let b = PerCpuBox::<Vec<u64>, percpu_rt::mode::Local>::new(Vec::new()).unwrap();
//! allocator::free(b.as_per_cpu_ptr()).unwrap();
//! ```
//!
//! ```compile_fail
//! // The backend's page release is unsafe: it would unmap any page it is given.
//! use percpu_rt::allocator::Backend;
//! use percpu_rt::allocator::hosted::HOSTED_BACKEND;
//! let v = vec![0u8; 8192];
//! let g = percpu_rt::allocator::ChunkGeometry { unit_size: 4096, page_size: 4096, units: vec![], groups: vec![] };
//! HOSTED_BACKEND.depopulate(&g, v.as_ptr() as usize & !4095, 0..1);
//! ```
//!
//! ```compile_fail
//! // A reference cannot outlive its reference count (the value it points to dies with it).
//! use percpu_rt::PerCpuRef;
//! let r = {
//!     let count = PerCpuRef::new(String::from("device"), |_| {}).unwrap();
//!     count.get()
//! };
//! ```
//!
//! ```compile_fail
//! // A reference to a value that is not `Sync` cannot go to another thread.
//! use percpu_rt::PerCpuRef;
//! let count = PerCpuRef::atomic_only(std::cell::Cell::new(0u32), |_| {});
//! let r = count.get();
//! std::thread::scope(|s| { s.spawn(move || r.set(1)); });
//! ```

use std::process::{Command, Output};

/// Runs the test `name` (this function's caller) again in a child process and returns what it
/// did; in the child, runs `body` instead. Returns `None` in the child.
pub fn in_child(name: &str, body: impl FnOnce()) -> Option<Output> {
    const VAR: &str = "PERCPU_OUTSIDE_CHILD";
    if std::env::var(VAR).as_deref() == Ok(name) {
        body();
        return None;
    }
    let exe = std::env::current_exe().expect("the test executable");
    let output = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(VAR, name)
        .output()
        .expect("run the test executable again");
    Some(output)
}

/// Whether `output` is a process stopped by `SIGABRT` whose standard error contains `text`.
pub fn aborted_with(output: &Output, text: &str) -> bool {
    use std::os::unix::process::ExitStatusExt;
    let stderr = String::from_utf8_lossy(&output.stderr);
    output.status.signal() == Some(libc_sigabrt()) && stderr.contains(text)
}

fn libc_sigabrt() -> i32 {
    6
}
