//! How a per-CPU variable may be accessed, as a type parameter of [`PerCpu`](crate::PerCpu).
//!
//! A copy that an interrupt handler may change with a scalar instruction must never be behind a
//! `&T`; a copy behind a `&mut T` must not be visible to anyone else. Each variable therefore has
//! exactly one of three access modes, chosen when it is declared:
//!
//! | mode | chosen for | current CPU | other CPUs |
//! |---|---|---|---|
//! | [`ByValue`] | `T: Scalar` (integers, `bool`, raw pointers) | `read`, `write`, `add`, `cmpxchg`, ...: one instruction, no guard | `read_on(cpu)`, `iter_possible()` (values) |
//! | [`Shared`] | every other `T` | `get(&guard) -> &T` (a [`PreemptGuard`](crate::PreemptGuard) for `T: Sync`, an [`IrqGuard`](crate::IrqGuard) for `T: Send`) | `remote(cpu) -> &T`, `iter_possible()` for `T: Sync` |
//! | [`Local`] | `#[percpu(local)]` | `get(&irq_guard) -> &T`, `get_mut(&mut irq_guard) -> &mut T` | raw pointers only (`ptr_on`, unsafe to use) |
//!
//! The `Local` mode is what gives `&mut T` soundly: the [`IrqGuard`](crate::IrqGuard) is unique
//! per CPU and masks interrupts, and nothing else can reach the copy.

mod sealed {
    pub trait Sealed {}
}

/// An access mode (sealed).
pub trait Mode: sealed::Sealed + 'static {}

/// By-value access with single-instruction scalar operations.
#[derive(Debug)]
pub enum ByValue {}
/// Shared references: `&T` on the current CPU under a pin guard, and on other CPUs for `T: Sync`.
#[derive(Debug)]
pub enum Shared {}
/// CPU-local exclusive access: `&mut T` under the CPU's unique [`IrqGuard`](crate::IrqGuard).
#[derive(Debug)]
pub enum Local {}

impl sealed::Sealed for ByValue {}
impl sealed::Sealed for Shared {}
impl sealed::Sealed for Local {}
impl Mode for ByValue {}
impl Mode for Shared {}
impl Mode for Local {}
