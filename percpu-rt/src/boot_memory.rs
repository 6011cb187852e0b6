//! Where the first chunk's bookkeeping lives: the heap with the `alloc` feature, memory the
//! kernel hands over once ([`provide`]) without it.
//!
//! The layout ([`AllocInfo`](crate::layout::AllocInfo): groups and their CPU maps), the
//! first chunk's unit table and page lists, the per-CPU offset table behind
//! [`cpu_offset`](crate::cpu_offset) and the checks' scratch tables are [`Table`]s. With
//! `alloc` (the default) a `Table<T>` *is* `Vec<T>`, on the heap as it always was. Without
//! `alloc` there is no heap to take them from, so, as Linux takes them from memblock before its
//! page allocator exists, percpu-rt takes them from one region the kernel gives it before the
//! setup:
//!
//! ```
//! use percpu_rt::boot_memory::{self, StaticBuffer};
//!
//! static BOOKKEEPING: StaticBuffer<{ 16 << 10 }> = StaticBuffer::new();
//!
//! let memory = BOOKKEEPING.take().expect("taken once");
//! boot_memory::provide(memory).expect("provided once");
//! ```
//!
//! The region is used as a stack: each table is carved off its top, and freeing the topmost
//! table gives its bytes back (a table freed below a live one is reused once everything above
//! it is freed too). Scratch tables of the setup go away before it returns; what stays for good
//! is the installed chunk's layout and unit table and the CPU offset table: at most
//! `64 n + 8 m + 72 g + 256` bytes for `n` possible CPUs with ids below `m`, in `g` groups
//! (e.g. 5.4 KiB for 64 CPUs in 8 groups). At its peak the setup needs at most
//! `8 n + m + 32 g + 128` bytes more for scratch and, in page mode until
//! [`install`](crate::first_chunk::FirstChunk::install), `8 n p + 32` bytes for the list of
//! the `p` pages of each unit (what lets a failed setup give them back). [`usage`] reports what
//! was used; a region that is too small (or missing) makes the setup fail with
//! [`OutOfBootMemory`], which says how much more is needed, and nothing is set up.
//!
//! CONTEXT: tables are made and dropped by the setup at boot (and by
//! [`FirstChunk::unmap_pages`](crate::first_chunk::FirstChunk::unmap_pages) and
//! [`populate`](crate::first_chunk::FirstChunk::populate) of a mutable chunk), under a spin
//! lock that does not mask interrupts: not from interrupt handlers.

use core::fmt;
#[cfg(not(feature = "alloc"))]
pub use core_table::Table;

/// A growable table of `T`: `Vec<T>` with the `alloc` feature (see the module documentation).
#[cfg(feature = "alloc")]
pub type Table<T> = alloc::vec::Vec<T>;

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};

/// The boot memory cannot hold a table the setup needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfBootMemory {
    /// Bytes the failing request needed (its alignment padding and header included).
    pub requested: usize,
    /// Bytes in use when it failed.
    pub in_use: usize,
    /// Bytes of boot memory ([`provide`]); 0 when none was provided.
    pub capacity: usize,
}

impl fmt::Display for OutOfBootMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.capacity == 0 {
            write!(
                f,
                "percpu-rt is built without the `alloc` feature and has no boot memory for the \
                 first chunk's bookkeeping ({} bytes needed so far): call \
                 percpu_rt::boot_memory::provide with a buffer before the layout and first-chunk \
                 setup (or build with `alloc` and a heap)",
                self.requested
            )
        } else {
            write!(
                f,
                "the boot memory for the first chunk's bookkeeping is exhausted: {} more bytes \
                 needed, {} of {} in use; give percpu_rt::boot_memory::provide a buffer of at \
                 least {} bytes",
                self.requested,
                self.in_use,
                self.capacity,
                self.in_use.saturating_add(self.requested)
            )
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for OutOfBootMemory {}

/// [`provide`] was called a second time; the boot memory it was given first stays in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadyProvided;

impl fmt::Display for AlreadyProvided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "percpu-rt's boot memory was provided already: call percpu_rt::boot_memory::provide \
             once, before the first-chunk setup, with a buffer large enough for all of it",
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for AlreadyProvided {}

/// How much of the boot memory is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes provided ([`provide`]); 0 when none was.
    pub capacity: usize,
    /// Bytes in use now (with `alloc`: always 0, the heap holds the tables).
    pub in_use: usize,
    /// The most bytes ever in use at once: the size the buffer needs.
    pub peak: usize,
}

/// Hands percpu-rt the memory for its bookkeeping; once, before the layout is computed and the
/// first chunk set up. Without the `alloc` feature this is required: every table of the layout,
/// the setup and the CPU offset table comes from here. With `alloc` the heap holds them and this
/// memory stays unused.
///
/// The memory stays percpu-rt's for good (the installed first chunk's tables live in it).
pub fn provide(memory: &'static mut [MaybeUninit<u8>]) -> Result<(), AlreadyProvided> {
    let mut arena = ARENA.lock();
    if arena.base.is_some() {
        return Err(AlreadyProvided);
    }
    arena.capacity = memory.len();
    arena.base = core::ptr::NonNull::new(memory.as_mut_ptr().cast::<u8>());
    Ok(())
}

/// How much of the boot memory is used.
pub fn usage() -> Usage {
    let arena = ARENA.lock();
    Usage { capacity: arena.capacity, in_use: arena.top, peak: arena.peak }
}

/// A buffer in a `static` for [`provide`], handed out once, so that a kernel without a heap
/// needs no `unsafe` (nor `static mut`) to give percpu-rt its boot memory.
pub struct StaticBuffer<const N: usize> {
    taken: AtomicBool,
    bytes: UnsafeCell<[MaybeUninit<u8>; N]>,
}

// SAFETY: the bytes are reached only through `take`, which hands them out once (an atomic
// swap), as `&'static mut`; until then and afterwards the buffer itself touches them never.
unsafe impl<const N: usize> Sync for StaticBuffer<N> {}

impl<const N: usize> StaticBuffer<N> {
    /// An untaken buffer of `N` bytes (in `.bss`).
    pub const fn new() -> Self {
        StaticBuffer {
            taken: AtomicBool::new(false),
            bytes: UnsafeCell::new([MaybeUninit::uninit(); N]),
        }
    }

    /// The bytes, the first time; `None` afterwards.
    // One `&mut` ever comes out of the shared reference: the atomic swap hands it out once.
    #[allow(clippy::mut_from_ref)]
    pub fn take(&'static self) -> Option<&'static mut [MaybeUninit<u8>]> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: the swap above returned `false` exactly once, so this is the only reference
        // to the bytes ever made, and the buffer is `'static`.
        Some(unsafe { &mut *self.bytes.get() })
    }
}

impl<const N: usize> Default for StaticBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for StaticBuffer<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticBuffer")
            .field("size", &N)
            .field("taken", &self.taken.load(Ordering::Relaxed))
            .finish()
    }
}

/// The boot memory: a stack of blocks, each `[Header | padding | data]`.
struct Arena {
    base: Option<core::ptr::NonNull<u8>>,
    capacity: usize,
    /// Bytes from `base` in use (the next block starts here).
    top: usize,
    peak: usize,
    /// Offset of the topmost block's header, or [`NO_BLOCK`].
    last: usize,
}

// SAFETY: the arena owns the provided memory (`&'static mut`, handed over for good); the mutex
// around it serialises every access to the bookkeeping, and the blocks it hands out are
// disjoint.
unsafe impl Send for Arena {}

const NO_BLOCK: usize = usize::MAX;

/// The header in front of each block.
#[cfg_attr(feature = "alloc", allow(dead_code))]
struct Header {
    /// Where the block starts (the `top` before it was carved).
    start: usize,
    /// The header of the block below, or [`NO_BLOCK`].
    prev: usize,
    /// Freed, but not yet popped: a live block lies above it.
    freed: bool,
}

static ARENA: spin::Mutex<Arena> =
    spin::Mutex::new(Arena { base: None, capacity: 0, top: 0, peak: 0, last: NO_BLOCK });

#[cfg_attr(feature = "alloc", allow(dead_code))]
impl Arena {
    fn header(&self, at: usize) -> *mut Header {
        let base = self.base.expect("a block exists only in provided memory");
        base.as_ptr().wrapping_add(at).cast::<Header>()
    }

    /// Carves `size` bytes aligned to `align` (a power of two) off the top. Returns the data
    /// and the block's header offset.
    fn alloc(&mut self, size: usize, align: usize) -> Result<(*mut u8, usize), OutOfBootMemory> {
        let base = self.base.map_or(0, |b| b.as_ptr() as usize);
        let place = || {
            let start = base.checked_add(self.top)?;
            let header = start.checked_next_multiple_of(align_of::<Header>())?;
            let data = header.checked_add(size_of::<Header>())?.checked_next_multiple_of(align)?;
            let end = data.checked_add(size)?;
            Some((header - base, data, end - start))
        };
        let Some((header, data, len)) = place() else {
            return Err(self.out_of_memory(usize::MAX));
        };
        if self.base.is_none() || len > self.capacity - self.top {
            return Err(self.out_of_memory(len));
        }
        // SAFETY: `header..data + size` lies inside the provided memory (checked just above),
        // above every live block, and the header is aligned for `Header`.
        unsafe {
            self.header(header).write(Header { start: self.top, prev: self.last, freed: false })
        };
        self.top += len;
        self.peak = self.peak.max(self.top);
        self.last = header;
        Ok((data as *mut u8, header))
    }

    fn out_of_memory(&self, requested: usize) -> OutOfBootMemory {
        OutOfBootMemory { requested, in_use: self.top, capacity: self.capacity }
    }

    /// Frees the block whose header is at `header`, then pops every freed block off the top.
    fn free(&mut self, header: usize) {
        // SAFETY: `header` is the header of a live block this arena carved (the caller's
        // table), inside the provided memory.
        unsafe { (*self.header(header)).freed = true };
        while self.last != NO_BLOCK {
            // SAFETY: `last` is the header of the topmost block, live or freed.
            let top = unsafe { &*self.header(self.last) };
            if !top.freed {
                break;
            }
            self.top = top.start;
            self.last = top.prev;
        }
    }
}

/// A table with room for `n` elements: empty, and `push` never fails below `n`.
pub(crate) fn with_capacity<T>(n: usize) -> Result<Table<T>, OutOfBootMemory> {
    #[cfg(feature = "alloc")]
    {
        Ok(Table::with_capacity(n))
    }
    #[cfg(not(feature = "alloc"))]
    {
        Table::try_with_capacity(n)
    }
}

/// The elements of `iter` in a table (the iterator is walked twice without `alloc`: once to
/// count, once to fill).
pub(crate) fn collect<I>(iter: I) -> Result<Table<I::Item>, OutOfBootMemory>
where
    I: IntoIterator,
    I::IntoIter: Clone,
{
    let iter = iter.into_iter();
    #[cfg(feature = "alloc")]
    {
        Ok(iter.collect())
    }
    #[cfg(not(feature = "alloc"))]
    {
        let mut table = with_capacity(iter.clone().count())?;
        table.extend(iter);
        Ok(table)
    }
}

/// `n` copies of `value` in a table.
pub(crate) fn filled<T: Clone>(value: T, n: usize) -> Result<Table<T>, OutOfBootMemory> {
    collect(core::iter::repeat_n(value, n))
}

/// Boot memory for the crate's own unit tests without `alloc` (each test executable provides
/// one buffer, shared by its tests).
#[cfg(all(test, not(feature = "alloc")))]
pub(crate) fn for_tests() {
    static MEMORY: StaticBuffer<{ 4 << 20 }> = StaticBuffer::new();
    static PROVIDED: spin::Once = spin::Once::new();
    PROVIDED.call_once(|| provide(MEMORY.take().expect("taken once")).expect("provided once"));
}

#[cfg(not(feature = "alloc"))]
mod core_table {
    use super::{ARENA, NO_BLOCK, OutOfBootMemory};
    use core::fmt;
    use core::ops::{Deref, DerefMut};
    use core::ptr::NonNull;

    /// A table of `T` in the boot memory ([`provide`](super::provide)): a vector with a fixed
    /// capacity, chosen when it is made. It offers the part of `Vec`'s interface that the
    /// bookkeeping uses, with the same names, so that code written against it also compiles
    /// with the `alloc` feature, where `Table<T>` is `Vec<T>`.
    pub struct Table<T> {
        ptr: NonNull<T>,
        len: usize,
        cap: usize,
        /// The arena block's header offset; [`NO_BLOCK`] for a table without memory.
        block: usize,
    }

    // SAFETY: a table owns its elements exclusively, as a `Vec` does; the arena behind the
    // memory is locked for every allocation and free.
    unsafe impl<T: Send> Send for Table<T> {}
    // SAFETY: shared access gives `&[T]` only.
    unsafe impl<T: Sync> Sync for Table<T> {}

    impl<T> Table<T> {
        /// An empty table without memory (as `Vec::new`).
        pub const fn new() -> Self {
            Table { ptr: NonNull::dangling(), len: 0, cap: 0, block: NO_BLOCK }
        }

        /// An empty table with room for `n` elements, carved from the boot memory.
        pub(crate) fn try_with_capacity(n: usize) -> Result<Self, OutOfBootMemory> {
            if n == 0 || size_of::<T>() == 0 {
                let cap = if size_of::<T>() == 0 { usize::MAX } else { 0 };
                return Ok(Table { cap, ..Table::new() });
            }
            let mut arena = ARENA.lock();
            let Some(bytes) = n.checked_mul(size_of::<T>()) else {
                return Err(arena.out_of_memory(usize::MAX));
            };
            let (data, block) = arena.alloc(bytes, align_of::<T>())?;
            let ptr = NonNull::new(data.cast::<T>()).expect("arena memory is not null");
            Ok(Table { ptr, len: 0, cap: n, block })
        }

        /// Number of elements.
        pub fn len(&self) -> usize {
            self.len
        }

        /// Whether there is none.
        pub fn is_empty(&self) -> bool {
            self.len == 0
        }

        /// Room for this many elements.
        pub fn capacity(&self) -> usize {
            self.cap
        }

        /// Appends `value`.
        ///
        /// # Panics
        ///
        /// When the table is full: its capacity is fixed when it is made.
        pub fn push(&mut self, value: T) {
            assert!(self.len < self.cap, "a boot-memory table is full (capacity {})", self.cap);
            // SAFETY: `len < cap`, so the slot is inside the table's memory, and unused.
            unsafe { self.ptr.as_ptr().add(self.len).write(value) };
            self.len += 1;
        }

        /// Removes the last element.
        pub fn pop(&mut self) -> Option<T> {
            if self.len == 0 {
                return None;
            }
            self.len -= 1;
            // SAFETY: the element at the old `len - 1` was initialised; `len` no longer covers
            // it, so it is read out exactly once.
            Some(unsafe { self.ptr.as_ptr().add(self.len).read() })
        }

        /// Drops every element; the memory stays the table's.
        pub fn clear(&mut self) {
            while self.pop().is_some() {}
        }

        /// The elements.
        pub fn as_slice(&self) -> &[T] {
            // SAFETY: the first `len` elements are initialised and owned by the table.
            unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
        }

        /// The elements, mutable.
        pub fn as_mut_slice(&mut self) -> &mut [T] {
            // SAFETY: as in `as_slice`, and `&mut self` makes the access exclusive.
            unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
        }

        /// A copy in a new table.
        pub(crate) fn try_clone(&self) -> Result<Self, OutOfBootMemory>
        where
            T: Clone,
        {
            let mut copy = Table::try_with_capacity(self.len)?;
            copy.extend(self.iter().cloned());
            Ok(copy)
        }
    }

    impl<T> Drop for Table<T> {
        fn drop(&mut self) {
            self.clear();
            if self.block != NO_BLOCK {
                ARENA.lock().free(self.block);
            }
        }
    }

    impl<T> Default for Table<T> {
        fn default() -> Self {
            Table::new()
        }
    }

    impl<T> Deref for Table<T> {
        type Target = [T];
        fn deref(&self) -> &[T] {
            self.as_slice()
        }
    }

    impl<T> DerefMut for Table<T> {
        fn deref_mut(&mut self) -> &mut [T] {
            self.as_mut_slice()
        }
    }

    impl<T> Extend<T> for Table<T> {
        /// # Panics
        ///
        /// When the table becomes full.
        fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
            for value in iter {
                self.push(value);
            }
        }
    }

    /// # Panics
    ///
    /// When the boot memory cannot hold the table, as a `Vec` aborts when the heap cannot
    /// (percpu-rt itself never collects this way: its setup reports [`OutOfBootMemory`]).
    impl<T> FromIterator<T> for Table<T> {
        fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
            let mut iter = iter.into_iter();
            // Without a count up front: grow by moving into a larger table.
            let mut table = Table::new();
            loop {
                let Some(value) = iter.next() else { return table };
                if table.len == table.cap {
                    let wanted = (table.cap * 2).max(iter.size_hint().0 + 1).max(4);
                    let mut larger: Table<T> =
                        Table::try_with_capacity(wanted).unwrap_or_else(|e| panic!("{e}"));
                    // SAFETY: the two tables' memory is disjoint; the elements move to
                    // `larger`, and `table` forgets them (its length is 0 before it drops).
                    unsafe {
                        core::ptr::copy_nonoverlapping(
                            table.ptr.as_ptr(),
                            larger.ptr.as_ptr(),
                            table.len,
                        );
                    }
                    larger.len = table.len;
                    table.len = 0;
                    table = larger;
                }
                table.push(value);
            }
        }
    }

    /// # Panics
    ///
    /// When the boot memory cannot hold the copy, as a `Vec` aborts when the heap cannot.
    impl<T: Clone> Clone for Table<T> {
        fn clone(&self) -> Self {
            self.try_clone().unwrap_or_else(|e| panic!("{e}"))
        }
    }

    impl<T: fmt::Debug> fmt::Debug for Table<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Debug::fmt(self.as_slice(), f)
        }
    }

    impl<T: PartialEq> PartialEq for Table<T> {
        fn eq(&self, other: &Self) -> bool {
            self.as_slice() == other.as_slice()
        }
    }

    impl<T: Eq> Eq for Table<T> {}

    impl<'a, T> IntoIterator for &'a Table<T> {
        type Item = &'a T;
        type IntoIter = core::slice::Iter<'a, T>;
        fn into_iter(self) -> Self::IntoIter {
            self.iter()
        }
    }

    impl<'a, T> IntoIterator for &'a mut Table<T> {
        type Item = &'a mut T;
        type IntoIter = core::slice::IterMut<'a, T>;
        fn into_iter(self) -> Self::IntoIter {
            self.iter_mut()
        }
    }
}
