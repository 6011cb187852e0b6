//! [`setup_first_chunk`]: a first chunk from the caller's page callback, with the interface of
//! Linux's original `pcpu_setup_first_chunk(get_page_fn, static_size, unit_size, free_size,
//! base_addr, populate_pte_fn)` (Tejun Heo, 2009) and its meaning kept:
//!
//! * `get_page(cpu, i)` returns page `i` of `cpu`'s unit, or `None` for the end; it must return
//!   the same number of pages for every CPU, at least enough to cover the static area;
//! * `unit_size`: `None` for automatic (`max(PCPU_MIN_UNIT_SIZE, static pages)`), or a page
//!   multiple of at least `static_size + free_size`;
//! * `free_size`: `None` for the rest of the unit; given, the area after `static_size +
//!   free_size` is left alone;
//! * `base_addr`: `None`, and the setup reserves a virtual range and maps the pages there (the
//!   chunk is then percpu's: mutable); or the address where the caller already allocated and
//!   mapped the chunk (then `unit_size` is required, `populate_pte` must be `None`, and the chunk
//!   is immutable);
//! * `populate_pte`: called for every page address before it is mapped; `None` when the caller
//!   has already built the page tables.
//!
//! Units are laid out by CPU index (the i-th possible CPU's unit at `i * unit_size`); there is
//! no reserved area; the dynamic area is the free size, limited to the pages the callback
//! returned (pages it did not return are never used).

use super::checks;
use super::units;
use super::{FirstChunk, Origin, PhysPage, SetupConfig, SetupError, VmSpace};
use crate::boot_memory::{self, Table};
use crate::cpu_id::CpuId;
use crate::layout::{AllocInfo, GroupInfo, MIN_UNIT_SIZE};
use core::ptr::NonNull;

/// The six parameters of [`setup_first_chunk`], as Linux's original
/// `pcpu_setup_first_chunk` took them.
pub struct SetupArgs<'a> {
    /// `get_page_fn`: page `i` of `cpu`'s unit, or `None` past the last one.
    pub get_page: &'a mut dyn FnMut(CpuId, usize) -> Option<PhysPage>,
    /// Bytes of static per-CPU data (non-zero).
    pub static_size: usize,
    /// Unit size; `None` for automatic.
    pub unit_size: Option<usize>,
    /// Free bytes after the static area; `None` for the rest of the unit.
    pub free_size: Option<usize>,
    /// Where the caller already allocated and mapped the chunk; `None` to let the setup map it.
    pub base_addr: Option<NonNull<u8>>,
    /// `populate_pte_fn`, called for every page address before mapping; `None` if the page
    /// tables exist.
    pub populate_pte: Option<&'a mut dyn FnMut(usize) -> Result<(), super::VmError>>,
}

impl core::fmt::Debug for SetupArgs<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SetupArgs")
            .field("static_size", &self.static_size)
            .field("unit_size", &self.unit_size)
            .field("free_size", &self.free_size)
            .field("base_addr", &self.base_addr)
            .field("populate_pte", &self.populate_pte.is_some())
            .finish_non_exhaustive()
    }
}

/// The callback-style setup: checks, collects the pages, maps them (unless the caller did), fills
/// the units and installs the chunk. Returns the unit size.
///
/// `cfg` gives the possible CPUs and the page size; `vm` is used only when `base_addr` is
/// `None` (to reserve the chunk's range and map the pages). Use [`prepare`] to get the
/// [`FirstChunk`] without installing it.
///
/// # Safety
///
/// With `base_addr`, every unit (`base_addr + i * unit_size`, one per possible CPU) is writable
/// memory of `unit_size` bytes that per-CPU code owns from now on. Without it, `vm` maps pages
/// so that writes through the mapped addresses reach them.
pub unsafe fn setup_first_chunk(
    args: SetupArgs<'_>,
    cfg: &SetupConfig<'_>,
    vm: &mut dyn VmSpace,
) -> Result<usize, SetupError> {
    // Refused before anything is reserved or mapped; a chunk that still fails to install (a
    // setup racing this one) gives its range and mappings back.
    if super::installed().is_some() || crate::first_chunk_installed() {
        return Err(SetupError::AlreadyInstalled);
    }
    // SAFETY: forwarded from the caller.
    let chunk = unsafe { prepare(args, cfg, vm)? };
    let unit_size = chunk.unit_size();
    if let Err(super::InstallError { error, chunk }) = chunk.install() {
        // A caller-mapped chunk (`base_addr`) stays the caller's: nothing to give back.
        let _ = chunk.release_mapped(vm);
        return Err(error);
    }
    Ok(unit_size)
}

/// [`setup_first_chunk`] without the installation.
///
/// # Safety
///
/// As for [`setup_first_chunk`].
pub unsafe fn prepare(
    args: SetupArgs<'_>,
    cfg: &SetupConfig<'_>,
    vm: &mut dyn VmSpace,
) -> Result<FirstChunk, SetupError> {
    let page = cfg.page_size;
    let SetupArgs { get_page, static_size, unit_size, free_size, base_addr, mut populate_pte } =
        args;

    // The 2009 interface's own sanity checks.
    checks::check_static_size_nonzero(static_size)?;
    if let (None, Some(free_size)) = (unit_size, free_size) {
        return Err(SetupError::FreeSizeWithoutUnitSize { free_size });
    }
    if let Some(unit_size) = unit_size {
        let free = free_size.unwrap_or(0);
        if unit_size < static_size + free {
            return Err(SetupError::UnitSmallerThanStaticPlusFree {
                unit_size,
                static_size,
                free_size: free,
            });
        }
        if unit_size % page != 0 {
            return Err(SetupError::UnitNotPageAligned { unit_size, page_size: page });
        }
    }
    if base_addr.is_some() && unit_size.is_none() {
        return Err(SetupError::BaseWithoutUnitSize);
    }
    if base_addr.is_some() && populate_pte.is_some() {
        return Err(SetupError::BaseWithPopulate);
    }
    let template_size = crate::template::static_size();
    if static_size < template_size {
        return Err(SetupError::StaticSizeBelowTemplate { static_size, template_size });
    }

    let unit_size =
        unit_size.unwrap_or_else(|| MIN_UNIT_SIZE.max(static_size.div_ceil(page) * page));
    let unit_pages = unit_size / page;
    let static_pages = static_size.div_ceil(page);

    // The chunk's tables first, then the scratch list of pages, so that, without `alloc`, the
    // list's boot memory is given back when the setup returns. Units are laid out by CPU index;
    // the offset table gets the chunk's address once it is known.
    let immutable = base_addr.is_some();
    let mut cpu_map = boot_memory::collect(cfg.possible.iter().copied().map(Some))?;
    cpu_map.sort_unstable();
    let nr_cpus = cpu_map.len();
    let units = boot_memory::collect(
        cpu_map.iter().flatten().enumerate().map(|(i, &cpu)| (cpu, i * unit_size)),
    )?;
    let mut cpu_table = super::cpu_table(&units, 0)?;
    // For a chunk the setup maps: the page at each page of each unit.
    let mut page_table =
        boot_memory::filled(None, if immutable { 0 } else { nr_cpus * unit_pages })?;
    let mut groups = boot_memory::with_capacity(1)?;

    // Collect the pages, checking that they cover the static area and agree in number. Unit
    // `u`'s pages are `pages[u * unit_pages..][..nr_pages]`.
    let mut pages: Table<PhysPage> = boot_memory::with_capacity(nr_cpus * unit_pages)?;
    let mut nr_pages: Option<usize> = None;
    for &cpu in cpu_map.iter().flatten() {
        let unit_start = pages.len();
        let mut count = 0;
        while count < unit_pages {
            match get_page(cpu, count) {
                Some(p) => pages.push(p),
                None => break,
            }
            count += 1;
        }
        if count < static_pages {
            return Err(SetupError::PagesDontCoverStatic {
                cpu,
                pages: count,
                needed: static_pages,
            });
        }
        match nr_pages {
            None => nr_pages = Some(count),
            Some(expected) if expected != count => {
                return Err(SetupError::PageCountMismatch { cpu, pages: count, expected });
            }
            Some(_) => {}
        }
        // Every unit's slice starts at a multiple of `unit_pages`: pad to the next one.
        let pad = unit_start + unit_pages - pages.len();
        pages.extend(core::iter::repeat_n(PhysPage(0), pad));
    }
    let nr_pages = nr_pages.unwrap_or(0);

    // The free (dynamic) area: as given, within what the pages cover.
    let free = free_size.unwrap_or(unit_size - static_size);
    let dyn_size = free.min(nr_pages * page - static_size.min(nr_pages * page));
    groups.push(GroupInfo { base_offset: 0, cpu_map });
    let ai = AllocInfo {
        static_size,
        reserved_size: 0,
        dyn_size,
        unit_size,
        atom_size: page,
        alloc_size: unit_size,
        groups,
    };
    // The same checks as the modern form, where they apply to the callback form's parameters.
    let relaxed = SetupConfig { early_dyn_size: 0, min_unit_size: 0, ..*cfg };
    let template_start = crate::template::start() as usize;
    let probe_base = base_addr.map_or(page, |b| b.as_ptr() as usize);
    checks::check_alloc_info(&ai, probe_base, template_start, &relaxed)?;
    debug_assert!(units.iter().copied().eq(ai.unit_offsets()), "the layout's units");
    let cpus = || units.iter().map(|&(cpu, _)| cpu);
    let chunk_size = unit_size * nr_cpus;

    let (base, origin) = match base_addr {
        Some(b) => (b.as_ptr() as usize, Origin::Given),
        None => {
            let b = vm
                .reserve(chunk_size, page)
                .ok_or(SetupError::NoVirtualSpace { size: chunk_size })?;
            (b.as_ptr() as usize, Origin::Mapped)
        }
    };
    let release = |vm: &mut dyn VmSpace| {
        if !immutable {
            vm.release(NonNull::new(base as *mut u8).expect("reserved"), chunk_size);
        }
    };
    if let Err(e) = checks::check_deltas(&units, base, template_start) {
        release(vm);
        return Err(e);
    }
    cpu_table.rebase(base);

    if !immutable {
        // Populate the page tables, then map; on failure undo what was done (the first
        // `mapped` pages, in unit order, page by page).
        let mut mapped = 0;
        let result = (|| {
            for (u, cpu) in cpus().enumerate() {
                for i in 0..nr_pages {
                    let addr = base + u * unit_size + i * page;
                    if let Some(populate) = populate_pte.as_mut() {
                        populate(addr).map_err(|error| SetupError::PopulateFailed {
                            cpu,
                            addr,
                            error,
                        })?;
                    }
                    let p = pages[u * unit_pages + i];
                    vm.map_page(addr, p).map_err(|error| SetupError::MapFailed {
                        cpu,
                        addr,
                        error,
                    })?;
                    mapped += 1;
                    page_table[u * unit_pages + i] = Some(p);
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            for u in 0..nr_cpus {
                for i in 0..nr_pages {
                    if u * nr_pages + i < mapped {
                        vm.unmap_page(base + u * unit_size + i * page);
                    }
                }
            }
            release(vm);
            return Err(e);
        }
    }

    // SAFETY: every unit is mapped (by us above, or by the caller per the safety contract),
    // writable, private to per-CPU code and separate from the template.
    unsafe { units::fill_units(&units, base) };
    Ok(FirstChunk {
        origin,
        ai,
        base_addr: base,
        page_size: page,
        immutable,
        units,
        pages: page_table,
        frames: Table::new(),
        cpu_table: Some(cpu_table),
    })
}
