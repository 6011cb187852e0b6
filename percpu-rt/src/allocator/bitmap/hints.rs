//! The hint records of a chunk map: free runs, per-block hints, the fit cache, and why a
//! position cannot be freed.

/// A free run: `len` bits from `start`. Empty when `len == 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Region {
    /// First bit.
    pub start: u32,
    /// Length in bits.
    pub len: u32,
}

impl Region {
    pub(super) const EMPTY: Region = Region { start: 0, len: 0 };

    #[inline(always)]
    pub(crate) fn end(self) -> u32 {
        self.start + self.len
    }
}

/// The hints of one block (one page of the unit). All positions are relative to the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    /// The largest free run inside the block.
    pub contig: Region,
    /// At least the length of every free run of the block other than `contig`.
    pub scan_hint: u32,
    /// Free bits from the block's first bit.
    pub left_free: u32,
    /// Free bits up to the block's last bit.
    pub right_free: u32,
    /// The first free bit, or the block size if none.
    pub first_free: u32,
}

impl Block {
    /// The hints of a fully allocated block.
    pub(super) const fn full(block_bits: u32) -> Block {
        Block {
            contig: Region::EMPTY,
            scan_hint: 0,
            left_free: 0,
            right_free: 0,
            first_free: block_bits,
        }
    }

    /// The hints of a fully free block.
    pub(super) const fn free(block_bits: u32) -> Block {
        Block {
            contig: Region { start: 0, len: block_bits },
            scan_hint: 0,
            left_free: block_bits,
            right_free: block_bits,
            first_free: 0,
        }
    }
}

/// "No area of at least `bits` bits aligned to at least `align` bits starts before `pos`."
/// `bits == 0`: no knowledge.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FitCache {
    pub(super) bits: u32,
    pub(super) align: u32,
    pub(super) pos: u32,
}

impl FitCache {
    /// Whether the cached knowledge applies to a request of `bits` aligned to `align`: an
    /// aligned fit for it would also be one for the cached shape.
    #[inline(always)]
    pub(super) fn covers(&self, bits: u32, align: u32) -> bool {
        self.bits != 0 && bits >= self.bits && align >= self.align
    }
}

/// Why a position cannot be freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AreaError {
    /// The granule is free: a double free, or a pointer never returned.
    NotAllocated,
    /// The granule is inside a live area that starts at the given bit.
    Interior {
        /// The area's first bit.
        start: u32,
    },
}
