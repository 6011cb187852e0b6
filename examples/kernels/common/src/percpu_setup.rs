//! The per-CPU first chunk of these kernels: the layout from the linker symbols and the
//! kernel's `percpu.toml` constants, built in one of Linux's two modes through
//! [`percpu_rt::first_chunk`], published, dumped in Linux's format, and each CPU's base
//! register loaded from it.
//!
//! * **embed**: each group's units are one allocation from the frame allocator, aligned to the
//!   configured atom (2 MiB on x86_64, so the chunk sits in the large pages of the identity
//!   map); the unused tails go back to the frame allocator.
//! * **page**: every page of every unit is a separate frame, mapped into a virtual range
//!   reserved above the identity map, through the kernel's page-table helpers
//!   ([`Arch::populate_pte`], [`Arch::map_page`]).
//!
//! The installed chunk is then handed to the dynamic allocator
//! ([`percpu_rt::allocator`]), whose further chunks come from [`crate::chunks`], in a virtual
//! range [`DYNAMIC_CHUNKS_OFFSET`] bytes above the page-mode range.

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt;
use core::ptr::NonNull;

use percpu_rt::CpuId;
use percpu_rt::Settings;
use percpu_rt::allocator;
use percpu_rt::first_chunk::{self, EarlyMemory, PageAlloc, PhysPage, VmError, VmSpace};

use crate::arch::Arch;
use crate::chunks::KernelChunks;
use crate::frames::FrameError;
use crate::{frames, println};

/// Where the dynamic allocator's chunks start, from the page-mode first chunk's range.
pub const DYNAMIC_CHUNKS_OFFSET: usize = 32 << 30;

/// How the first chunk is built (`first_chunk` in percpu.toml; `percpu_alloc=` on the command
/// line, as in Linux).
pub use percpu_rt::FirstChunkMode;

/// Memory the first-chunk setup gave back and the frame allocator refused. percpu-rt's
/// [`EarlyMemory::free`] and [`PageAlloc::free_page`] return nothing, so the kernel's callbacks
/// record the refusal (the memory stays allocated: leaked, never reused) and [`setup`] reports
/// it as an error once the builder returns, instead of aborting inside the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiveBackError {
    /// Physical address of the range.
    pub start: usize,
    /// Its size in bytes.
    pub size: usize,
    /// Why the frame allocator refused it.
    pub error: FrameError,
    /// Further refusals after this first one.
    pub more: usize,
}

impl fmt::Display for GiveBackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "percpu gave back {:#x} bytes at {:#x}, which the frame allocator refused: {}",
            self.size, self.start, self.error
        )?;
        if self.more > 0 {
            write!(f, " (and {} more refusals)", self.more)?;
        }
        Ok(())
    }
}

/// Records the first refused give-back and counts the others.
fn record_refusal(slot: &mut Option<GiveBackError>, start: usize, size: usize, error: FrameError) {
    match slot {
        Some(first) => first.more += 1,
        None => *slot = Some(GiveBackError { start, size, error, more: 0 }),
    }
}

/// The embed mode's early memory: the frame allocator.
#[derive(Debug, Default)]
struct FrameMemory {
    refused: Option<GiveBackError>,
}

impl EarlyMemory for FrameMemory {
    fn alloc(&mut self, size: usize, align: usize, _cpu: CpuId) -> Option<NonNull<u8>> {
        frames::alloc(size, align).ok().and_then(|start| NonNull::new(start as *mut u8))
    }

    fn free(&mut self, ptr: NonNull<u8>, size: usize) {
        let start = ptr.as_ptr() as usize;
        if let Err(e) = frames::free(start, size) {
            record_refusal(&mut self.refused, start, size, e);
        }
    }
}

/// The page mode's memory: frames for the pages, a bump range of virtual addresses for the
/// chunk, and the kernel's page tables.
struct PageMemory {
    arch: &'static dyn Arch,
    /// Next free virtual address of the range.
    next: usize,
    refused: Option<GiveBackError>,
}

impl PageAlloc for PageMemory {
    fn alloc_page(&mut self, _cpu: CpuId) -> Option<PhysPage> {
        frames::alloc(frames::FRAME_SIZE, frames::FRAME_SIZE).ok().map(|p| PhysPage(p as u64))
    }

    fn free_page(&mut self, page: PhysPage) {
        if let Err(e) = frames::free(page.0 as usize, frames::FRAME_SIZE) {
            record_refusal(&mut self.refused, page.0 as usize, frames::FRAME_SIZE, e);
        }
    }
}

impl VmSpace for PageMemory {
    fn reserve(&mut self, size: usize, align: usize) -> Option<NonNull<u8>> {
        let start = self.next.checked_next_multiple_of(align)?;
        self.next = start.checked_add(size)?;
        NonNull::new(start as *mut u8)
    }

    fn release(&mut self, base: NonNull<u8>, size: usize) {
        // Only the last reservation can be rolled back; an older one stays a hole.
        if base.as_ptr() as usize + size == self.next {
            self.next = base.as_ptr() as usize;
        }
    }

    fn populate_pte(&mut self, addr: usize) -> Result<(), VmError> {
        self.arch.populate_pte(addr).map_err(|reason| VmError { reason })
    }

    fn map_page(&mut self, addr: usize, page: PhysPage) -> Result<(), VmError> {
        self.arch.map_page(addr, page.0 as usize).map_err(|reason| VmError { reason })
    }

    fn unmap_page(&mut self, addr: usize) {
        self.arch.unmap_page(addr);
    }
}

/// Writes text to the console line by line.
struct Lines(String);

impl core::fmt::Write for Lines {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.push_str(s);
        Ok(())
    }
}

/// Builds and installs the first chunk for `cpus` in `mode`, prints the dump, and loads the
/// boot CPU's (CPU 0's) base register.
pub fn setup(
    arch: &'static dyn Arch,
    mode: FirstChunkMode,
    cpus: &[CpuId],
    vm_base: usize,
    settings: &Settings,
) -> Result<(), String> {
    if let Err(e) = allocator::configure(settings.alloc_config()) {
        return Err(format!("dynamic allocator settings ({}): {e}", settings.origin));
    }
    let params = settings.layout_params(percpu_rt::template::static_size());
    let setup = settings.setup_config(cpus);
    let mut early = FrameMemory::default();
    let mut pages = PageMemory { arch, next: vm_base, refused: None };
    let embed = |early: &mut FrameMemory| {
        // SAFETY: the frame allocator hands out writable, identity-mapped RAM that nothing
        // else uses, never the template (the kernel image is reserved); what the setup keeps
        // is never freed.
        unsafe { first_chunk::embed_first_chunk(&params, &setup, None, early) }
    };
    let page = |pages: &mut PageMemory| {
        // SAFETY: `map_page` installs a writable Normal-memory mapping that is never removed
        // afterwards, and the virtual range above `vm_base` is used by nothing else.
        unsafe { first_chunk::page_first_chunk(&params, &setup, pages) }
    };
    let (chunk, used) = match mode {
        FirstChunkMode::Embed => (embed(&mut early), FirstChunkMode::Embed),
        FirstChunkMode::Page => (page(&mut pages), FirstChunkMode::Page),
        FirstChunkMode::Auto => match embed(&mut early) {
            Ok(chunk) => (Ok(chunk), FirstChunkMode::Embed),
            Err(e) => {
                println!("percpu: embed first chunk failed ({e}), falling back to page");
                (page(&mut pages), FirstChunkMode::Page)
            }
        },
    };
    if let Some(refused) = early.refused.or(pages.refused) {
        return Err(refused.to_string());
    }
    let chunk = chunk.map_err(|e| e.to_string())?.install().map_err(|e| e.to_string())?;
    start_allocator(arch, vm_base + DYNAMIC_CHUNKS_OFFSET)?;

    let mut dump = Lines(String::new());
    chunk.dump(&mut dump).map_err(|_| "formatting the dump failed".to_string())?;
    chunk.dump_classes(&mut dump).map_err(|_| "formatting the dump failed".to_string())?;
    for line in dump.0.lines() {
        println!("{line}");
    }
    println!(
        "percpu: {} first chunk at {:#x}, template {:#x}..{:#x}",
        used.name(),
        chunk.base_addr(),
        percpu_rt::template::start() as usize,
        percpu_rt::template::end() as usize
    );
    // SAFETY: this is the boot CPU, CPU 0; no other CPU runs yet; nothing holds a reference
    // into the template (the boot flow takes no per-CPU references before this).
    unsafe { load_base(CpuId::new(0)) }
}

/// The backend of the dynamic allocator (registered once).
static CHUNKS: spin::Once<KernelChunks> = spin::Once::new();

/// Registers the kernel's backend for the dynamic allocator's further chunks, at
/// `chunks_base`. The first-chunk setup (`FirstChunk::install`) has handed the first chunk's
/// reserved and dynamic regions to the allocator already.
fn start_allocator(arch: &'static dyn Arch, chunks_base: usize) -> Result<(), String> {
    if !allocator::is_initialized() {
        return Err("the dynamic allocator did not get the first chunk at install".to_string());
    }
    let backend = CHUNKS.call_once(|| KernelChunks::new(arch, chunks_base));
    allocator::set_backend(backend).map_err(|_| "a dynamic-chunk backend was already set")?;
    Ok(())
}

/// Pages the dynamic allocator's backend has mapped for chunks beyond the first.
pub fn dynamic_pages_mapped() -> usize {
    CHUNKS.get().map_or(0, KernelChunks::mapped_pages)
}

/// Frames of dynamic chunks the frame allocator refused to take back
/// ([`KernelChunks::refused_frames`]).
pub fn dynamic_refused_frames() -> Option<GiveBackError> {
    CHUNKS.get().and_then(KernelChunks::refused_frames)
}

/// Loads the calling CPU's per-CPU base register for CPU `cpu`.
///
/// # Safety
///
/// 1. The caller runs on CPU `cpu`, after [`setup`] returned on the boot CPU (on x86_64: after
///    its last GS selector load).
/// 2. No other CPU loaded `cpu`'s base.
/// 3. Nothing on this CPU holds a reference into per-CPU data yet.
pub unsafe fn load_base(cpu: CpuId) -> Result<(), String> {
    // SAFETY: 1–3 from the caller are `first_chunk::load_base`'s conditions.
    unsafe { first_chunk::load_base(cpu) }.map_err(|e| e.to_string())
}
