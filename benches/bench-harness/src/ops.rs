//! [`current_cpu_ops!`](crate::current_cpu_ops): the five measured current-CPU operations of
//! one subject (a per-CPU `u64` of percpu-rt or of the ArceOS crate, a `thread_local!`, a shared
//! atomic), as loops to time and as probes to disassemble.
//!
//! The macro expands in the benchmark binary itself, not in this library: a `thread_local!`
//! accessed from a library crate compiles to the general-dynamic TLS sequence (a load of
//! `fs:0`, then an offset), while in the executable it is one `fs:`-relative instruction. The
//! baselines must get the code an executable author gets.

/// An address kept in the binary so that the linker does not drop a probe nobody calls.
#[derive(Debug)]
pub struct Keep(pub *const ());

// SAFETY: the addresses are never dereferenced or called through.
unsafe impl Sync for Keep {}

/// The operations every subject provides, by name, in table order.
pub const OPS: [&str; 5] = ["read", "write", "inc", "add", "cmpxchg"];

/// Generates `pub mod $name` with, for one subject:
///
/// * `probe_<name>_<op>`: one exported, never-inlined function per operation, holding that
///   operation alone (`read() -> u64`, `write(v)`, `inc()`, `add(v)`, `cmpxchg(old, new) ->
///   previous`), for `objdump`;
/// * `bench_<name>_<op>(n)`: a loop of `n` operations, each followed by
///   [`clobber`](crate::clobber) (and reads by [`sink`](crate::sink)), for timing;
/// * `variants()`: the five loops as [`Variant`](crate::Variant)s, and `check()`: a run of every
///   operation against its expected result, so that a broken subject is never timed.
///
/// ```
/// use std::cell::Cell;
/// thread_local! { static TLS: Cell<u64> = const { Cell::new(0) }; }
///
/// bench_harness::current_cpu_ops! {
///     mod tls_const = "thread_local! const";
///     read: || TLS.get(),
///     write: |v| TLS.set(v),
///     inc: || TLS.set(TLS.get() + 1),
///     add: |v| TLS.set(TLS.get() + v),
///     cmpxchg: |old, new| { let c = TLS.get(); if c == old { TLS.set(new) } c },
/// }
///
/// fn main() {
///     tls_const::check(); // every operation gives its expected result
///     assert_eq!(tls_const::variants().len(), 5);
/// }
/// ```
#[macro_export]
macro_rules! current_cpu_ops {
    (
        mod $name:ident = $subject:literal;
        read: $read:expr,
        write: $write:expr,
        inc: $inc:expr,
        add: $add:expr,
        cmpxchg: $cmpxchg:expr $(,)?
    ) => {
        #[doc = concat!("Probes and measured loops of `", $subject, "`.")]
        #[allow(clippy::redundant_closure_call)]
        pub mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::{clobber, sink};

            /// The subject's name in the tables.
            pub const SUBJECT: &str = $subject;

            #[doc = concat!("`read()` of `", $subject, "`, alone.")]
            #[inline(never)]
            #[unsafe(export_name = concat!("probe_", stringify!($name), "_read"))]
            pub extern "C" fn probe_read() -> u64 {
                ($read)()
            }

            #[doc = concat!("`write(v)` of `", $subject, "`, alone.")]
            #[inline(never)]
            #[unsafe(export_name = concat!("probe_", stringify!($name), "_write"))]
            pub extern "C" fn probe_write(v: u64) {
                ($write)(v)
            }

            #[doc = concat!("`inc()` of `", $subject, "`, alone.")]
            #[inline(never)]
            #[unsafe(export_name = concat!("probe_", stringify!($name), "_inc"))]
            pub extern "C" fn probe_inc() {
                ($inc)()
            }

            #[doc = concat!("`add(v)` of `", $subject, "`, alone.")]
            #[inline(never)]
            #[unsafe(export_name = concat!("probe_", stringify!($name), "_add"))]
            pub extern "C" fn probe_add(v: u64) {
                ($add)(v)
            }

            #[doc = concat!("`cmpxchg(old, new)` of `", $subject, "`, alone; returns the previous value.")]
            #[inline(never)]
            #[unsafe(export_name = concat!("probe_", stringify!($name), "_cmpxchg"))]
            pub extern "C" fn probe_cmpxchg(old: u64, new: u64) -> u64 {
                ($cmpxchg)(old, new)
            }

            /// Keeps the probes in the binary for `objdump`.
            #[used]
            static KEEP: [$crate::ops::Keep; 5] = [
                $crate::ops::Keep(probe_read as *const ()),
                $crate::ops::Keep(probe_write as *const ()),
                $crate::ops::Keep(probe_inc as *const ()),
                $crate::ops::Keep(probe_add as *const ()),
                $crate::ops::Keep(probe_cmpxchg as *const ()),
            ];

            #[doc = concat!("`n` reads of `", $subject, "`.")]
            #[inline(never)]
            #[unsafe(export_name = concat!("bench_", stringify!($name), "_read"))]
            pub extern "C" fn bench_read(n: u64) {
                for _ in 0..n {
                    sink(($read)());
                    clobber();
                }
            }

            #[doc = concat!("`n` writes of `", $subject, "` (of the loop counter).")]
            #[inline(never)]
            #[unsafe(export_name = concat!("bench_", stringify!($name), "_write"))]
            pub extern "C" fn bench_write(n: u64) {
                for i in 0..n {
                    ($write)(i);
                    clobber();
                }
            }

            #[doc = concat!("`n` increments of `", $subject, "`.")]
            #[inline(never)]
            #[unsafe(export_name = concat!("bench_", stringify!($name), "_inc"))]
            pub extern "C" fn bench_inc(n: u64) {
                for _ in 0..n {
                    ($inc)();
                    clobber();
                }
            }

            #[doc = concat!("`n` additions to `", $subject, "` of a value the compiler cannot see.")]
            #[inline(never)]
            #[unsafe(export_name = concat!("bench_", stringify!($name), "_add"))]
            pub extern "C" fn bench_add(n: u64) {
                let v = ::core::hint::black_box(3u64);
                for _ in 0..n {
                    ($add)(v);
                    clobber();
                }
            }

            #[doc = concat!("`n` successful compare-and-exchanges on `", $subject, "` (i to i + 1).")]
            #[inline(never)]
            #[unsafe(export_name = concat!("bench_", stringify!($name), "_cmpxchg"))]
            pub extern "C" fn bench_cmpxchg(n: u64) {
                ($write)(0);
                for i in 0..n {
                    sink(($cmpxchg)(i, i.wrapping_add(1)));
                    clobber();
                }
            }

            /// The five loops, in [`OPS`]($crate::ops::OPS) order.
            pub fn variants() -> [$crate::Variant; 5] {
                [
                    $crate::Variant { subject: SUBJECT, op: "read", run: bench_read },
                    $crate::Variant { subject: SUBJECT, op: "write", run: bench_write },
                    $crate::Variant { subject: SUBJECT, op: "inc", run: bench_inc },
                    $crate::Variant { subject: SUBJECT, op: "add", run: bench_add },
                    $crate::Variant { subject: SUBJECT, op: "cmpxchg", run: bench_cmpxchg },
                ]
            }

            /// Runs every operation once (probes and loops) against its expected result, on the
            /// current thread's copy; leaves the value 0.
            pub fn check() -> ::core::result::Result<(), ::std::string::String> {
                let expect = |what: &str, got: u64, want: u64| {
                    if got == want {
                        Ok(())
                    } else {
                        Err(::std::format!("{}: {what} gave {got}, expected {want}", SUBJECT))
                    }
                };
                probe_write(5);
                expect("write(5); read()", probe_read(), 5)?;
                probe_inc();
                expect("inc(); read()", probe_read(), 6)?;
                probe_add(4);
                expect("add(4); read()", probe_read(), 10)?;
                expect("cmpxchg(10, 1)", probe_cmpxchg(10, 1), 10)?;
                expect("cmpxchg(10, 1); read()", probe_read(), 1)?;
                expect("cmpxchg(7, 2)", probe_cmpxchg(7, 2), 1)?;
                expect("failed cmpxchg(7, 2); read()", probe_read(), 1)?;
                probe_write(0);
                bench_inc(100);
                expect("100 loop increments", probe_read(), 100)?;
                bench_add(100);
                expect("100 loop additions of 3", probe_read(), 400)?;
                bench_cmpxchg(100);
                expect("100 loop cmpxchg", probe_read(), 100)?;
                bench_write(100);
                expect("loop writes 0..100", probe_read(), 99)?;
                bench_read(100);
                probe_write(0);
                Ok(())
            }
        }
    };
}
