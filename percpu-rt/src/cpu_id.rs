//! [`CpuId`], the kernel's logical CPU number: a plain value type, with no dependency on the
//! rest of the runtime (the runtime's table of possible CPUs is `cpu.rs`; the current CPU's
//! id, [`CpuId::current`], is one of the runtime's own per-CPU statics, `runtime_vars.rs`).

use core::fmt;

/// A CPU's identity: the kernel's logical CPU number. Possible CPU ids may be sparse.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct CpuId(u32);

impl CpuId {
    /// The CPU with logical number `id` (not checked: an id that is not possible is reported by
    /// the accessors that take it).
    pub const fn new(id: u32) -> Self {
        CpuId(id)
    }

    /// The logical number.
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// The logical number, as an index.
    pub const fn as_usize(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for CpuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cpu{}", self.0)
    }
}

impl fmt::Display for CpuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u32> for CpuId {
    fn from(id: u32) -> Self {
        CpuId(id)
    }
}
