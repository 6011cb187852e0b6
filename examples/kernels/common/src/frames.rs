//! The early physical frame allocator: a sorted list of free physical ranges, first fit, with
//! any power-of-two alignment (2 MiB for the embedded first chunk on x86_64) and frees that
//! merge with their neighbours (the first-chunk setup gives back the unused tail of each
//! allocation).
//!
//! RAM is identity-mapped on both kernels, so a frame's physical address is also the address
//! the kernel uses to touch it.

use core::fmt;
use core::ops::Range;

/// The granule: every range starts and ends on a 4 KiB boundary.
pub const FRAME_SIZE: usize = 4096;

/// Room for this many disjoint free ranges (RAM regions, minus reservations, minus holes left
/// by aligned allocations).
const MAX_RANGES: usize = 64;

/// A request the allocator cannot satisfy or a free it cannot accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// No free range holds `size` bytes at alignment `align`.
    OutOfMemory {
        /// Bytes asked for.
        size: usize,
        /// Alignment asked for.
        align: usize,
    },
    /// The alignment is not a power of two.
    BadAlign(usize),
    /// The freed range overlaps memory that is already free (a double free).
    DoubleFree(Range<usize>),
    /// Too many disjoint free ranges to track.
    TooFragmented,
    /// A freed range does not start and end on frame boundaries.
    Unaligned(Range<usize>),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::OutOfMemory { size, align } => write!(
                f,
                "out of physical memory: no free range holds {size:#x} bytes aligned to {align:#x} \
                 (boot QEMU with more memory, e.g. -m 256M)"
            ),
            FrameError::BadAlign(a) => write!(f, "alignment {a:#x} is not a power of two"),
            FrameError::DoubleFree(r) => {
                write!(f, "frames {:#x}..{:#x} freed twice (or never allocated)", r.start, r.end)
            }
            FrameError::Unaligned(r) => write!(
                f,
                "freed range {:#x}..{:#x} is not made of whole {FRAME_SIZE}-byte frames",
                r.start, r.end
            ),
            FrameError::TooFragmented => {
                write!(f, "physical memory too fragmented: more than {MAX_RANGES} free ranges")
            }
        }
    }
}

/// Free physical ranges, sorted, disjoint and not adjacent.
struct FreeRanges {
    ranges: [Range<usize>; MAX_RANGES],
    len: usize,
}

const EMPTY: Range<usize> = 0..0;

impl FreeRanges {
    const fn new() -> Self {
        FreeRanges { ranges: [EMPTY; MAX_RANGES], len: 0 }
    }

    fn as_slice(&self) -> &[Range<usize>] {
        &self.ranges[..self.len]
    }

    fn insert_at(&mut self, i: usize, r: Range<usize>) -> Result<(), FrameError> {
        if self.len == MAX_RANGES {
            return Err(FrameError::TooFragmented);
        }
        self.ranges[i..=self.len].rotate_right(1);
        self.ranges[i] = r;
        self.len += 1;
        Ok(())
    }

    fn remove_at(&mut self, i: usize) {
        self.ranges[i..self.len].rotate_left(1);
        self.len -= 1;
        self.ranges[self.len] = EMPTY;
    }

    /// Adds `r` (must not overlap a free range), merging with neighbours.
    fn add(&mut self, r: Range<usize>) -> Result<(), FrameError> {
        if r.is_empty() {
            return Ok(());
        }
        let i = self.ranges[..self.len].partition_point(|f| f.end <= r.start);
        if i < self.len && self.ranges[i].start < r.end {
            return Err(FrameError::DoubleFree(r));
        }
        let joins_prev = i > 0 && self.ranges[i - 1].end == r.start;
        let joins_next = i < self.len && self.ranges[i].start == r.end;
        match (joins_prev, joins_next) {
            (true, true) => {
                self.ranges[i - 1].end = self.ranges[i].end;
                self.remove_at(i);
            }
            (true, false) => self.ranges[i - 1].end = r.end,
            (false, true) => self.ranges[i].start = r.start,
            (false, false) => self.insert_at(i, r)?,
        }
        Ok(())
    }

    /// Takes `r` out of the free ranges, wherever it overlaps them.
    fn remove(&mut self, r: Range<usize>) -> Result<(), FrameError> {
        let mut i = 0;
        while i < self.len {
            let f = self.ranges[i].clone();
            if f.end <= r.start || f.start >= r.end {
                i += 1;
                continue;
            }
            let left = f.start..r.start.max(f.start);
            let right = r.end.min(f.end)..f.end;
            match (left.is_empty(), right.is_empty()) {
                (true, true) => self.remove_at(i),
                (false, true) => {
                    self.ranges[i] = left;
                    i += 1;
                }
                (true, false) => {
                    self.ranges[i] = right;
                    i += 1;
                }
                (false, false) => {
                    self.ranges[i] = left;
                    self.insert_at(i + 1, right)?;
                    i += 2;
                }
            }
        }
        Ok(())
    }

    /// First fit of `size` bytes at `align`.
    fn alloc(&mut self, size: usize, align: usize) -> Result<usize, FrameError> {
        let found = self.as_slice().iter().find_map(|f| {
            let start = f.start.checked_add(align - 1)? & !(align - 1);
            let end = start.checked_add(size)?;
            (end <= f.end).then_some(start)
        });
        let start = found.ok_or(FrameError::OutOfMemory { size, align })?;
        self.remove(start..start + size)?;
        Ok(start)
    }
}

static FREE: spin::Mutex<FreeRanges> = spin::Mutex::new(FreeRanges::new());

fn round_up(x: usize) -> usize {
    x.div_ceil(FRAME_SIZE) * FRAME_SIZE
}

fn round_down(x: usize) -> usize {
    x / FRAME_SIZE * FRAME_SIZE
}

/// Hands the whole frames inside `ram` to the allocator (boot).
pub fn add_ram(ram: Range<usize>) -> Result<(), FrameError> {
    FREE.lock().add(round_up(ram.start)..round_down(ram.end))
}

/// Withdraws every frame that overlaps `r` (boot: the kernel image, firmware data).
pub fn reserve(r: Range<usize>) -> Result<(), FrameError> {
    FREE.lock().remove(round_down(r.start)..round_up(r.end))
}

/// Allocates `size` bytes (rounded up to whole frames) aligned to `align` (at least a frame).
/// The memory is not cleared.
pub fn alloc(size: usize, align: usize) -> Result<usize, FrameError> {
    if !align.is_power_of_two() {
        return Err(FrameError::BadAlign(align));
    }
    FREE.lock().alloc(round_up(size.max(1)), align.max(FRAME_SIZE))
}

/// As [`alloc`], and clears the memory.
pub fn alloc_zeroed(size: usize, align: usize) -> Result<usize, FrameError> {
    let start = alloc(size, align)?;
    // SAFETY: the frames were just taken out of the free list, so nothing else uses them, and
    // RAM is identity-mapped writable memory.
    unsafe { core::ptr::write_bytes(start as *mut u8, 0, round_up(size.max(1))) };
    Ok(start)
}

/// Gives back the `size` bytes at `start`: all of an allocation from [`alloc`] or a part of
/// it. Both must be multiples of [`FRAME_SIZE`] (rounding could free bytes still in use).
pub fn free(start: usize, size: usize) -> Result<(), FrameError> {
    if !start.is_multiple_of(FRAME_SIZE) || !size.is_multiple_of(FRAME_SIZE) {
        return Err(FrameError::Unaligned(start..start.wrapping_add(size)));
    }
    FREE.lock().add(start..start + size)
}

/// Bytes currently free.
pub fn free_bytes() -> usize {
    FREE.lock().as_slice().iter().map(|r| r.end - r.start).sum()
}
