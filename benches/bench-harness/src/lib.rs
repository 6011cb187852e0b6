//! The measuring tools shared by the benchmark binaries of issue 7 (`percpu-bench`,
//! `arceos-bench`) and by their driver (`bench-report`): CPU pinning, interleaved sampling of
//! tight loops, order statistics, the compiler barriers that keep a loop of N operations N
//! operations, the macro that generates the measured loops and the disassembly probes of one
//! per-CPU-like variable, and the line format the binaries print their results in.
//!
//! Nothing here depends on percpu-rt or on the ArceOS crate: each binary links only the per-CPU
//! implementation it measures, because both use a `.percpu` section and would collide.

pub mod opaque;
pub mod ops;
pub mod record;
pub mod stats;
pub mod timing;

pub use opaque::{clobber, sink};
pub use record::{Line, Record, Unit};
pub use stats::Stats;
pub use timing::{Effort, Variant};
