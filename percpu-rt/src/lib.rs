#![doc = include_str!("../README.md")]
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Without `alloc` the dynamic allocator is absent, and the documentation of the access paths
// (shared with dynamic objects) names `PerCpuBox` all the same.
#![cfg_attr(not(feature = "alloc"), allow(rustdoc::broken_intra_doc_links))]

// The crate's own unit tests use `alloc` (strings for the dumps) even without the feature.
#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

/// Declares a per-CPU static. See the [crate documentation](crate#declaring).
pub use percpu_rt_macros::percpu;

#[cfg(feature = "alloc")]
pub mod allocator;
pub mod arch;
pub mod boot_memory;
#[cfg(feature = "alloc")]
pub mod counter;
mod cpu;
mod cpu_id;
pub mod debug;
pub mod first_chunk;
pub mod grace;
mod guard;
pub mod layout;
#[doc(hidden)]
pub mod linker;
pub mod mode;
mod ops;
mod platform;
#[doc(hidden)]
pub mod private;
mod probe;
#[cfg(feature = "alloc")]
pub mod refcount;
pub mod registry;
mod runtime_vars;
mod scalar;
pub mod settings;
mod slot;
mod storage;
pub mod template;
mod var;

#[cfg(feature = "hosted")]
pub mod hosted;

include!(concat!(env!("OUT_DIR"), "/private_path.rs"));

#[cfg(feature = "alloc")]
pub use allocator::PerCpuBox;
#[cfg(feature = "alloc")]
pub use counter::{PerCpuCounter, PerCpuCounters};
pub use cpu::{CpuNotPossible, cpu_offset, first_chunk_installed, nr_possible_cpus, possible_cpus};
pub use cpu_id::CpuId;
pub use guard::{GuardFor, IrqGuard, IrqGuardHeld, PinCpu, PreemptGuard, SharedWithPreemptGuard};
pub use platform::{NoopPlatform, Platform, PlatformAlreadySet, platform_is_set, set_platform};
#[cfg(feature = "alloc")]
pub use refcount::{PerCpuRef, Ref};
pub use scalar::{Bitwise, Integer, Scalar};
pub use settings::{BaseRegister, FirstChunkMode, Settings, TooManyCpus};
pub use var::PerCpu;
