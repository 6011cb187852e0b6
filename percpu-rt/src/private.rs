//! The door for generated code: everything `#[percpu]` expansions touch, re-exported. Not
//! public API: reached only as `percpu_rt::__private_<version>::…` (see `build.rs`), so a
//! macro/runtime version mismatch fails to compile.

pub use crate::arch::Rmw;
pub use crate::cpu_id::CpuId;
pub use crate::mode::Local;
pub use crate::probe::{DebugProbe, ModeOf, NotDebug, NotScalar, ScalarProbe};
pub use crate::registry::{Class, DebugFn, Descriptor, InitFn};
pub use crate::slot::{Slot, StaticSlot};
pub use crate::storage::{
    InitialValue, LineAligned, PageAligned, Template, assert_per_cpu_type, checked_width,
};
pub use crate::{__percpu_static_ops as static_ops, PerCpu};
