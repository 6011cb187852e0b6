//! The early physical frame allocator: one bit per 4 KiB frame over the span of RAM (set: free),
//! first fit from the lowest free frame, with any power-of-two alignment (2 MiB for the
//! embedded first chunk on x86_64).
//!
//! Giving memory back only sets bits, so it never fails for lack of room: the first-chunk setup
//! may return the unused tail of every unit, of any number of units, and the dynamic-chunk
//! backend single pages in any order, however scattered the free memory becomes. A free fails
//! only when it is wrong: not whole frames, outside RAM, or memory that is already free (a
//! double free). Linux's memblock, which this replaces, grows its region arrays for the same
//! reason.
//!
//! The bitmap itself lives in RAM: [`init`] puts it in the first frames that are neither
//! reserved nor outside RAM (for 128 MiB of RAM, 4 KiB). RAM is identity-mapped on both kernels,
//! so a frame's physical address is also the address the kernel uses to touch it.

use core::fmt;
use core::ops::Range;

/// The granule: every range starts and ends on a 4 KiB boundary.
pub const FRAME_SIZE: usize = 4096;

/// Bits per bitmap word.
const BITS: usize = u64::BITS as usize;

/// A request the allocator cannot satisfy or a free it cannot accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// No free run of frames holds `size` bytes at alignment `align`.
    OutOfMemory {
        /// Bytes asked for.
        size: usize,
        /// Alignment asked for.
        align: usize,
    },
    /// The alignment is not a power of two.
    BadAlign(usize),
    /// Part of the freed range is free already: a double free, or memory never allocated.
    DoubleFree(Range<usize>),
    /// A freed range does not start and end on frame boundaries.
    Unaligned(Range<usize>),
    /// A freed range lies (partly) outside the RAM the allocator manages.
    NotRam(Range<usize>),
    /// [`init`] found no whole frame of RAM.
    NoRam,
    /// [`init`] found no `bytes` of unreserved RAM in one piece for the bitmap.
    NoRoomForBitmap {
        /// Bytes the bitmap needs.
        bytes: usize,
    },
    /// [`init`] ran twice.
    AlreadyInitialized,
    /// An allocation or free before [`init`].
    NotInitialized,
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
            FrameError::NotRam(r) => write!(
                f,
                "freed range {:#x}..{:#x} is outside the RAM the frame allocator manages",
                r.start, r.end
            ),
            FrameError::NoRam => write!(f, "the memory map has no whole 4 KiB frame of RAM"),
            FrameError::NoRoomForBitmap { bytes } => write!(
                f,
                "no {bytes} bytes of unreserved RAM in one piece for the frame bitmap (boot QEMU \
                 with more memory, e.g. -m 256M)"
            ),
            FrameError::AlreadyInitialized => {
                write!(f, "the frame allocator was initialised twice")
            }
            FrameError::NotInitialized => {
                write!(f, "the frame allocator is used before frames::init")
            }
        }
    }
}

/// The bitmap: bit `i` stands for the frame at `base + i * FRAME_SIZE`; set means free.
/// Frames outside RAM and reserved frames are clear for good.
struct Bitmap {
    words: &'static mut [u64],
    /// Physical address of frame 0.
    base: usize,
    /// Frames covered (bits past this in the last word stay clear).
    frames: usize,
    /// Free frames.
    free: usize,
    /// Every frame below this one is in use.
    first_free: usize,
}

impl Bitmap {
    fn set(&mut self, frames: Range<usize>, free: bool) {
        for i in frames {
            let (word, bit) = (i / BITS, i % BITS);
            if free {
                self.words[word] |= 1 << bit;
            } else {
                self.words[word] &= !(1 << bit);
            }
        }
    }

    /// The first index in `from..to` whose bit equals `free`.
    fn find(&self, from: usize, to: usize, free: bool) -> Option<usize> {
        let mut i = from;
        while i < to {
            let (word, bit) = (i / BITS, i % BITS);
            let bits = (if free { self.words[word] } else { !self.words[word] }) >> bit;
            if bits != 0 {
                let found = i + bits.trailing_zeros() as usize;
                return (found < to).then_some(found);
            }
            i = (word + 1) * BITS;
        }
        None
    }

    /// The frame indices of the physical range `r` (whole frames), if it lies in the span.
    fn frames_of(&self, r: &Range<usize>) -> Option<Range<usize>> {
        let start = r.start.checked_sub(self.base)? / FRAME_SIZE;
        let end = r.end.checked_sub(self.base)? / FRAME_SIZE;
        (end <= self.frames).then_some(start..end)
    }

    /// First fit of `n` frames whose physical address is a multiple of `align`.
    fn alloc(&mut self, n: usize, align: usize) -> Option<usize> {
        let mut from = self.first_free;
        loop {
            let free = self.find(from, self.frames, true)?;
            let addr = (self.base + free * FRAME_SIZE).checked_next_multiple_of(align)?;
            let start = (addr - self.base) / FRAME_SIZE;
            let end = start.checked_add(n).filter(|&end| end <= self.frames)?;
            match self.find(start, end, false) {
                Some(used) => from = used + 1,
                None => {
                    self.set(start..end, false);
                    self.free -= n;
                    if (start..end).contains(&self.first_free) {
                        self.first_free = self.find(end, self.frames, true).unwrap_or(self.frames);
                    }
                    return Some(self.base + start * FRAME_SIZE);
                }
            }
        }
    }

    /// Marks the frames of `r` free; nothing changes on an error.
    fn free(&mut self, r: Range<usize>) -> Result<(), FrameError> {
        let frames = self.frames_of(&r).ok_or_else(|| FrameError::NotRam(r.clone()))?;
        if self.find(frames.start, frames.end, true).is_some() {
            return Err(FrameError::DoubleFree(r));
        }
        self.free += frames.len();
        self.first_free = self.first_free.min(frames.start);
        self.set(frames, true);
        Ok(())
    }
}

static FRAMES: spin::Mutex<Option<Bitmap>> = spin::Mutex::new(None);

fn round_up(x: usize) -> usize {
    x.div_ceil(FRAME_SIZE) * FRAME_SIZE
}

fn round_down(x: usize) -> usize {
    x / FRAME_SIZE * FRAME_SIZE
}

/// The whole frames of `r`.
fn inner(r: &Range<usize>) -> Range<usize> {
    round_up(r.start)..round_down(r.end)
}

/// Every frame that overlaps `r`.
fn outer(r: &Range<usize>) -> Range<usize> {
    round_down(r.start)..round_up(r.end)
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// The lowest `bytes` (whole frames) of `ram` that overlap no `reserved` range.
fn place(ram: &[Range<usize>], reserved: &[Range<usize>], bytes: usize) -> Option<usize> {
    ram.iter()
        .map(inner)
        .filter_map(|r| {
            let mut start = r.start;
            loop {
                let candidate = start..start.checked_add(bytes)?;
                if candidate.end > r.end {
                    return None;
                }
                match reserved.iter().map(outer).find(|res| overlaps(res, &candidate)) {
                    Some(res) => start = res.end,
                    None => return Some(start),
                }
            }
        })
        .min()
}

/// Hands every whole frame of `ram` except those overlapping `reserved` to the allocator, and
/// takes the bitmap's own frames from them (once, at boot).
///
/// # Safety
///
/// 1. Every range of `ram` is RAM, identity-mapped and writable.
/// 2. Whatever in `ram` is in use (the kernel image, firmware data the kernel still reads) lies
///    in a `reserved` range: everything else may be overwritten from now on.
pub unsafe fn init(ram: &[Range<usize>], reserved: &[Range<usize>]) -> Result<(), FrameError> {
    let mut frames = FRAMES.lock();
    if frames.is_some() {
        return Err(FrameError::AlreadyInitialized);
    }
    let whole = || ram.iter().map(inner).filter(|r| !r.is_empty());
    let base = whole().map(|r| r.start).min().ok_or(FrameError::NoRam)?;
    let end = whole().map(|r| r.end).max().ok_or(FrameError::NoRam)?;
    let nr_frames = (end - base) / FRAME_SIZE;
    let nr_words = nr_frames.div_ceil(BITS);
    let bytes = round_up(nr_words * size_of::<u64>());
    let at = place(ram, reserved, bytes).ok_or(FrameError::NoRoomForBitmap { bytes })?;
    // SAFETY: `at..at + bytes` is RAM (1: identity-mapped, writable, u64-aligned since it is a
    // frame address) that overlaps no reserved range, so nothing uses it (2); it is withdrawn
    // from the free frames below, so the allocator never hands it out.
    let words = unsafe {
        core::ptr::write_bytes(at as *mut u64, 0, nr_words);
        core::slice::from_raw_parts_mut(at as *mut u64, nr_words)
    };
    let mut bitmap = Bitmap { words, base, frames: nr_frames, free: 0, first_free: 0 };
    for r in whole() {
        let f = bitmap.frames_of(&r).expect("every RAM range lies in the span");
        bitmap.set(f, true);
    }
    for r in reserved.iter().chain([&(at..at + bytes)]) {
        let r = outer(r);
        let clipped = r.start.clamp(base, end)..r.end.clamp(base, end);
        let f = bitmap.frames_of(&clipped).expect("clipped to the span");
        bitmap.set(f, false);
    }
    bitmap.free = bitmap.words.iter().map(|w| w.count_ones() as usize).sum();
    bitmap.first_free = bitmap.find(0, nr_frames, true).unwrap_or(nr_frames);
    *frames = Some(bitmap);
    Ok(())
}

/// Allocates `size` bytes (rounded up to whole frames) aligned to `align` (at least a frame).
/// The memory is not cleared.
pub fn alloc(size: usize, align: usize) -> Result<usize, FrameError> {
    if !align.is_power_of_two() {
        return Err(FrameError::BadAlign(align));
    }
    let align = align.max(FRAME_SIZE);
    let n = round_up(size.max(1)) / FRAME_SIZE;
    let mut frames = FRAMES.lock();
    let bitmap = frames.as_mut().ok_or(FrameError::NotInitialized)?;
    bitmap.alloc(n, align).ok_or(FrameError::OutOfMemory { size, align })
}

/// As [`alloc`], and clears the memory.
pub fn alloc_zeroed(size: usize, align: usize) -> Result<usize, FrameError> {
    let start = alloc(size, align)?;
    // SAFETY: the frames were just taken out of the bitmap, so nothing else uses them, and RAM
    // is identity-mapped writable memory.
    unsafe { core::ptr::write_bytes(start as *mut u8, 0, round_up(size.max(1))) };
    Ok(start)
}

/// Gives back the `size` bytes at `start`: all of an allocation from [`alloc`] or a part of
/// it. Both must be multiples of [`FRAME_SIZE`] (rounding could free bytes still in use).
/// Never fails for lack of room; on an error nothing is freed.
pub fn free(start: usize, size: usize) -> Result<(), FrameError> {
    let Some(end) = start.checked_add(size) else {
        return Err(FrameError::NotRam(start..usize::MAX));
    };
    if !start.is_multiple_of(FRAME_SIZE) || !size.is_multiple_of(FRAME_SIZE) {
        return Err(FrameError::Unaligned(start..end));
    }
    if size == 0 {
        return Ok(());
    }
    FRAMES.lock().as_mut().ok_or(FrameError::NotInitialized)?.free(start..end)
}

/// Bytes currently free.
pub fn free_bytes() -> usize {
    FRAMES.lock().as_ref().map_or(0, |b| b.free * FRAME_SIZE)
}
