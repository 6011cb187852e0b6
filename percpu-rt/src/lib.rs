//! **Per-CPU memory for Rust kernels**: `#[percpu]` statics whose current-CPU operations are one
//! instruction, a Linux-style first-chunk setup, and a dynamic per-CPU allocator.
//!
//! # The model
//!
//! Every `#[percpu] static` lives in one linker section, `.percpu`, bounded by
//! `__percpu_start`/`__percpu_end`: the *template*. At setup the template is copied into one
//! *unit* per possible CPU. A CPU's base register (`GS.base` on x86_64, `TPIDR_EL1`/`EL2` on
//! aarch64, `tp` or `gp` on riscv64, `$r21` or `$tp` on loongarch64) holds
//! `unit_base(cpu) - __percpu_start`, so a variable's copy on the current CPU is at
//! `&TEMPLATE + base`: on x86_64, `VAR.add(1)` is the single instruction
//! `add qword ptr gs:[rip + VAR_template], reg`, which no preemption or interrupt can split; on
//! aarch64, riscv64 and loongarch64 the address is formed first and the copy changed with one
//! atomic instruction, which needs no pin either ([`arch`]). Before setup the base is 0 and
//! accesses reach the template itself.
//!
//! ```text
//!             template (.percpu)        unit of CPU 0          unit of CPU 1
//!  __percpu_start ─► | A | B | C |     | A | B | C | free |   | A | B | C | free |  ...
//!                     ▲                 ▲                     ▲
//!                     &A                &A + offset(0)         &A + offset(1)
//! ```
//!
//! Each variable has one access mode (see [`mode`]): by value for scalars (one-instruction
//! operations, no guard), shared references under a pin guard for other types, or exclusive
//! `&mut T` for `#[percpu(local)]` variables under the CPU's unique [`IrqGuard`].
//!
//! # Example
//!
//! ```
//! use percpu_rt::{percpu, PreemptGuard};
//! use core::sync::atomic::{AtomicU32, Ordering};
//!
//! #[percpu]
//! static PACKETS: u64 = 0;            // by value: read/write/add/inc/cmpxchg...
//!
//! #[percpu]
//! static LAST_ERROR: AtomicU32 = AtomicU32::new(0);   // shared: &T under a guard
//!
//! PACKETS.add(3);
//! PACKETS.inc();
//! assert_eq!(PACKETS.read(), 4);
//! assert_eq!(PACKETS.cmpxchg(4, 10), Ok(4));
//!
//! let guard = PreemptGuard::new();
//! LAST_ERROR.get(&guard).store(5, Ordering::Relaxed);
//! drop(guard);
//!
//! let total: u64 = PACKETS.iter_possible().sum();    // every possible CPU's copy
//! assert_eq!(total, 10);
//! ```
//!
//! # Why the safe API is sound
//!
//! Safe code cannot obtain two live `&mut` to one copy or reach memory it does not own,
//! whatever threads a program starts:
//!
//! * the access mode of each variable ([`mode`]) decides which references exist; `&mut` only
//!   through the CPU's [`IrqGuard`], which is claimed with one atomic exchange (so it stays
//!   unique for code that shares a base register: threads before setup, two threads on one
//!   hosted CPU, interrupt handlers);
//! * code without a unit (base register 0: a CPU that has not called
//!   [`first_chunk::load_base`], a hosted thread that is not a CPU) reaches only the template:
//!   a dynamic object's current-CPU access panics there, and a hosted machine revokes the
//!   template after boot (`percpu_rt::hosted`, "Threads that are not CPUs");
//! * every CPU's copy starts as the declared initial value (or its per-CPU initialiser), never
//!   as whatever the template holds at setup, and every dynamic copy is dropped once, only if
//!   it was built;
//! * memory is released only by its owner: areas are owned ([`allocator::PerCpuArea`],
//!   [`PerCpuBox`]), freeing by pointer and the backend's page release are `unsafe`;
//! * a static aligned above the page (units are page-aligned) is refused at setup, naming it.
//!
//! # Declaring
//!
//! `#[percpu] [pub] static NAME: T = INIT;` in any crate. `INIT` must be a constant expression
//! (it is the template). Arguments: `local` (exclusive access mode), `init = |cpu| ..` (a
//! `fn(CpuId) -> T` run for every CPU's copy at setup), `crate = path` (where this crate is, if
//! renamed), and one placement class.
//!
//! ## Placement classes
//!
//! Like Linux's `DEFINE_PER_CPU_*` variants, a class says how a static is used, and so where in
//! every unit it goes. Each class is its own subsection of `.percpu`, placed in this order:
//!
//! | argument | Linux | placement |
//! |---|---|---|
//! | `hot` | `DEFINE_PER_CPU_CACHE_HOT` | first, packed into the first cache lines; the link fails (`ERROR(percpu)`) beyond `hot_lines` of percpu.toml (default 1 line; percpu-rt's own hot statics take up to 32 bytes of it) |
//! | (none) | `DEFINE_PER_CPU` | next |
//! | `read_mostly` | `DEFINE_PER_CPU_READ_MOSTLY` | together, away from data written often |
//! | `shared_aligned` | `DEFINE_PER_CPU_SHARED_ALIGNED` | on cache lines of its own (64 bytes), for data other CPUs touch |
//! | `page_aligned` | `DEFINE_PER_CPU_PAGE_ALIGNED` | on 4 KiB pages of its own in every unit |
//!
//! A class combines with `init` and with `local` (`local, shared_aligned` is refused: a local
//! variable is never touched by another CPU). `percpu-build inspect` shows each static's class
//! and the bytes of each class; the boot dump ([`first_chunk::FirstChunk::dump_classes`]) too.
//!
//! ```
//! # use percpu_rt::percpu;
//! # use core::sync::atomic::AtomicU64;
//! #[percpu(hot)]
//! static RUNQUEUE_LEN: u32 = 0;
//! #[percpu(read_mostly, init = |cpu| cpu.as_u32() % 2)]
//! static NODE: u32 = 0;
//! #[percpu(shared_aligned)]
//! static REMOTE_WAKEUPS: AtomicU64 = AtomicU64::new(0);
//! #[percpu(page_aligned, local)]
//! static STACK_GUARD_PAGE: [u8; 4096] = [0; 4096];
//! ```
//!
//! # The debug mode
//!
//! With feature `debug-checks` (compiled out otherwise, at no cost), the runtime checks at run
//! time what the types cannot see, as Linux's `CONFIG_DEBUG_PREEMPT` does: a migration while a
//! guard is held, `this_cpu_ptr` taken with nothing pinning the CPU, an access through a base
//! register that is no possible CPU's offset or was never loaded, guards dropped out of order.
//! A [`debug::DebugReport`] names the variable, the CPUs and the call site, and goes to
//! [`Platform::report`] (a panic unless the kernel overrides it):
//!
//! ```text
//! percpu debug: this_cpu_ptr of `net::RX_QUEUE` at src/net.rs:42:17 on CPU 3 with the CPU not
//! pinned: the pointer may be another CPU's copy by the time it is used; take a PreemptGuard (or
//! an IrqGuard) first
//! ```
//!
//! # Integrating
//!
//! * The executable or kernel links with the fragment from `percpu-build` (one call in
//!   `build.rs`), which defines the section and its bounds.
//! * The kernel registers its preemption and interrupt primitives once with
//!   [`set_platform`] (hosted mode and single-CPU kernels need not).
//! * Without the `alloc` feature, it gives percpu-rt its boot memory before the setup
//!   ([`boot_memory::provide`]; see "Features").
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `alloc` | yes | the `alloc` crate: the dynamic allocator ([`allocator`], [`PerCpuBox`], `Settings::alloc_config`); the first chunk's bookkeeping on the heap |
//! | `std` | no | `std::error::Error` for the error types; implies `alloc` |
//! | `hosted` | no | Linux user space as a machine (`percpu_rt::hosted`); implies `std` and `alloc` |
//! | `aarch64-el2` | no | the per-CPU base in `TPIDR_EL2` |
//!
//! **Without `alloc`** (`default-features = false`) percpu-rt needs `core` only: a kernel built
//! with `-Zbuild-std=core` and no heap uses it. Everything but the dynamic allocator works, with
//! the same checks and behaviour: `#[percpu]` statics and their operations, the guards, remote
//! access (`read_on`, `remote`, `iter_possible`), the [`registry`], [`Settings`], the layout
//! ([`layout`]) and the whole first-chunk setup ([`first_chunk`]: `embed`, `page`, the seed's
//! `setup_first_chunk`, `install`, `load_base`, [`cpu_offset`], the dump, every check). Two
//! differences:
//!
//! * the tables of the layout and the setup (groups, CPU maps, units, page lists, the CPU
//!   offset table) come from memory the kernel hands over once, before the setup
//!   ([`boot_memory::provide`], e.g. a [`boot_memory::StaticBuffer`]), instead of the heap; too
//!   little of it is a typed error ([`boot_memory::OutOfBootMemory`]) that says how much is
//!   needed, and nothing is set up;
//! * [`FirstChunk::install`](first_chunk::FirstChunk::install) has no dynamic allocator to hand
//!   the reserved and dynamic regions to: it skips that step, and the regions stay unused.
//!
//! Needing `alloc`: the [`allocator`] module and [`PerCpuBox`] (all of dynamic allocation),
//! `Settings::alloc_config`, and the `SetupError::Allocator` variant.
//!
//! # Platforms
//!
//! | target | base register | current-CPU scalar op |
//! |---|---|---|
//! | `x86_64` kernel | `GS.base` (`wrmsr` / `wrgsbase`) | one `op gs:[rip + SYM]` instruction |
//! | `x86_64` Linux, feature `hosted` | `GS.base` (`arch_prctl`) | one `op gs:[rip + SYM]` instruction |
//! | `aarch64` kernel | `TPIDR_EL1`, or `TPIDR_EL2` (feature `aarch64-el2`) | `mrs`, `adrp`/`add`, one atomic (LSE, or an exclusive pair): no pin, no call |
//! | `riscv64` kernel | `tp`, or `gp` (feature `riscv64-gp`) | `auipc`/`%pcrel_lo`, `add` of the base, one AMO (or LR/SC): no pin, no call |
//! | `loongarch64` kernel | `$r21`, or `$tp` (feature `loongarch64-tp`) | `pcalau12i`/`%pc_lo12`, `add.d` of the base, one AM* atomic (or LL/SC): no pin, no call |

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
pub use percpu_macros::percpu;

#[cfg(feature = "alloc")]
pub mod allocator;
pub mod arch;
pub mod boot_memory;
mod cpu;
pub mod debug;
pub mod first_chunk;
mod guard;
pub mod layout;
#[doc(hidden)]
pub mod linker;
mod local;
pub mod mode;
mod ops;
mod platform;
#[doc(hidden)]
pub mod private;
mod probe;
pub mod registry;
mod scalar;
pub mod settings;
mod slot;
mod storage;
pub mod template;
mod var;

#[cfg(feature = "hosted")]
pub mod hosted;

include!(concat!(env!("OUT_DIR"), "/private_path.rs"));

/// The README's examples, run as doctests (they use the dynamic allocator).
#[cfg(all(doctest, feature = "alloc"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "alloc")]
pub use allocator::PerCpuBox;
pub use cpu::{CpuId, CpuNotPossible, cpu_offset, is_set_up, nr_possible_cpus, possible_cpus};
pub use guard::{GuardFor, IrqGuard, IrqGuardHeld, PinCpu, PreemptGuard};
pub use platform::{NoPreemption, Platform, PlatformAlreadySet, platform_is_set, set_platform};
pub use scalar::{Bitwise, Integer, Scalar};
pub use settings::{BaseRegister, FirstChunkMode, Settings, TooManyCpus};
pub use var::PerCpu;
