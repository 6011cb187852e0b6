//! Chunk lists by largest free run ("slots"), so that a request looks first at the fullest
//! chunks that can hold it and never at chunks that cannot.
//!
//! Slot `s` (for `1 <= s < free`) holds chunks whose largest free run is `[2^(s-1), 2^s)` bits;
//! slot 0 chunks with no free bit. After the size slots come two lists:
//! * `free`: chunks with nothing allocated (searched last, destroyed by the balance step);
//! * `relegated`: chunks whose largest run is long enough for a request but misaligned for it
//!   (the search failed there). They are searched after every size slot, before `free`, and go
//!   back to their size slot on their next allocation or free. Without this, a stream of
//!   aligned requests would walk every such chunk on every request.
//!
//! A non-empty bitmask over the slots makes the first candidate slot one `trailing_zeros`.
//! Lists are doubly linked through per-chunk links, so moves are O(1). A chunk that became
//! fuller goes to the front of its new list (it is the one being filled); one that became
//! emptier goes to the back (so it can drain and be reclaimed).

use super::chunk::{ChunkId, NIL};
use alloc::vec;
use alloc::vec::Vec;

/// Not in any list (the reserved chunk, or a destroyed one).
pub(crate) const UNLISTED: u8 = u8::MAX;

#[derive(Clone, Copy, Debug)]
struct Links {
    slot: u8,
    prev: ChunkId,
    next: ChunkId,
}

const NO_LINKS: Links = Links { slot: UNLISTED, prev: NIL, next: NIL };

/// The slot lists.
#[derive(Debug)]
pub(crate) struct Slots {
    heads: Vec<ChunkId>,
    tails: Vec<ChunkId>,
    links: Vec<Links>,
    nonempty: u64,
    free: u8,
    relegated: u8,
}

impl Slots {
    /// Lists for chunks of at most `max_bits` bits.
    pub(crate) fn new(max_bits: u32) -> Self {
        let free = (u32::BITS - max_bits.leading_zeros() + 1) as u8;
        let n = free as usize + 2;
        debug_assert!(n <= 64);
        Slots {
            heads: vec![NIL; n],
            tails: vec![NIL; n],
            links: Vec::new(),
            nonempty: 0,
            free,
            relegated: free + 1,
        }
    }

    /// The list of fully free chunks.
    pub(crate) fn free_slot(&self) -> u8 {
        self.free
    }

    /// The list of relegated chunks.
    pub(crate) fn relegated_slot(&self) -> u8 {
        self.relegated
    }

    /// The size slot of a largest free run of `bits` bits.
    #[inline(always)]
    pub(crate) fn size_slot(bits: u32) -> u8 {
        (u32::BITS - bits.leading_zeros()) as u8
    }

    /// The size slots that may hold a chunk with a run of `bits` bits (`bits >= 1`), as a mask.
    #[inline(always)]
    pub(crate) fn candidates(&self, bits: u32) -> u64 {
        let size_slots = (1u64 << self.free) - 1;
        self.nonempty & size_slots & (!0u64 << Self::size_slot(bits))
    }

    /// The first chunk of list `slot`.
    #[inline(always)]
    pub(crate) fn head(&self, slot: u8) -> ChunkId {
        self.heads[slot as usize]
    }

    /// The chunk after `id` in its list.
    #[inline(always)]
    pub(crate) fn next(&self, id: ChunkId) -> ChunkId {
        self.links[id as usize].next
    }

    /// The list `id` is in.
    #[inline(always)]
    pub(crate) fn slot_of(&self, id: ChunkId) -> u8 {
        self.links.get(id as usize).map_or(UNLISTED, |l| l.slot)
    }

    /// Makes room for links of chunk `id`.
    pub(crate) fn reserve(&mut self, id: ChunkId) {
        if self.links.len() <= id as usize {
            self.links.resize(id as usize + 1, NO_LINKS);
        }
    }

    /// Takes `id` out of its list.
    pub(crate) fn unlink(&mut self, id: ChunkId) {
        let l = self.links[id as usize];
        if l.slot == UNLISTED {
            return;
        }
        let s = l.slot as usize;
        if l.prev == NIL {
            self.heads[s] = l.next;
        } else {
            self.links[l.prev as usize].next = l.next;
        }
        if l.next == NIL {
            self.tails[s] = l.prev;
        } else {
            self.links[l.next as usize].prev = l.prev;
        }
        if self.heads[s] == NIL {
            self.nonempty &= !(1 << s);
        }
        self.links[id as usize] = NO_LINKS;
    }

    /// Puts `id` (unlisted) at the front or the back of list `slot`.
    pub(crate) fn link(&mut self, id: ChunkId, slot: u8, front: bool) {
        debug_assert_eq!(self.links[id as usize].slot, UNLISTED);
        let s = slot as usize;
        let l = &mut self.links[id as usize];
        l.slot = slot;
        if self.heads[s] == NIL {
            l.prev = NIL;
            l.next = NIL;
            self.heads[s] = id;
            self.tails[s] = id;
        } else if front {
            l.prev = NIL;
            l.next = self.heads[s];
            self.links[self.heads[s] as usize].prev = id;
            self.heads[s] = id;
        } else {
            l.prev = self.tails[s];
            l.next = NIL;
            self.links[self.tails[s] as usize].next = id;
            self.tails[s] = id;
        }
        self.nonempty |= 1 << s;
    }

    /// Moves `id` to list `slot` (front if that slot is lower, i.e. the chunk got fuller).
    #[inline]
    pub(crate) fn move_to(&mut self, id: ChunkId, slot: u8) {
        let cur = self.links[id as usize].slot;
        if cur == slot {
            return;
        }
        self.unlink(id);
        self.link(id, slot, slot < cur);
    }

    /// Moves `id` to list `slot` if it is in a list ([`Slots::move_to`]); the reserved chunk
    /// stays unlisted.
    #[inline]
    pub(crate) fn move_if_listed(&mut self, id: ChunkId, slot: u8) {
        let cur = self.slot_of(id);
        if cur != slot && cur != UNLISTED {
            self.unlink(id);
            self.link(id, slot, slot < cur);
        }
    }

    /// Every chunk of list `slot`, in order.
    pub(crate) fn iter(&self, slot: u8) -> impl Iterator<Item = ChunkId> + '_ {
        let mut id = self.heads[slot as usize];
        core::iter::from_fn(move || {
            if id == NIL {
                return None;
            }
            let cur = id;
            id = self.links[cur as usize].next;
            Some(cur)
        })
    }

    /// Number of lists.
    pub(crate) fn nr_slots(&self) -> u8 {
        self.heads.len() as u8
    }

    /// Bytes of metadata.
    pub(crate) fn metadata_bytes(&self) -> usize {
        (self.heads.len() + self.tails.len()) * 4 + self.links.len() * core::mem::size_of::<Links>()
    }
}
