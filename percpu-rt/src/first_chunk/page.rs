//! The page first chunk (Linux's `pcpu_page_first_chunk`): one group, page atom; every page of
//! every unit comes from the caller's page allocator and is mapped into one virtual range the
//! caller reserves, through the caller's populate and map callbacks; then the units are
//! filled through the new mapping. The chunk is immutable afterwards: percpu mapped it once and
//! never changes it.

use super::units;
use super::{FirstChunk, Origin, PageAlloc, PhysPage, SetupConfig, SetupError, VmSpace, checks};
use crate::boot_memory::{self, Table};
use crate::layout::{LayoutParams, build_alloc_info};

/// Builds a page-mode first chunk for `cfg.possible` with the layout `params` (the atom is
/// forced to the page and all CPUs form one group). `mem` is the caller's page allocator and
/// virtual-memory primitives in one object.
///
/// # Safety
///
/// `mem.map_page(addr, page)` makes `addr` a writable mapping of `page` that stays in place
/// (per-CPU code owns it from then on), and the reserved range is not used by anything else:
/// after the setup, nothing maps, unmaps or releases inside it, or gives its pages back,
/// except the chunk's own calls (with `mem` as their virtual-memory space).
pub unsafe fn page_first_chunk<M: PageAlloc + VmSpace + ?Sized>(
    params: &LayoutParams,
    cfg: &SetupConfig<'_>,
    mem: &mut M,
) -> Result<FirstChunk, SetupError> {
    let params = LayoutParams { atom_size: cfg.page_size, page_size: cfg.page_size, ..*params };
    let ai = build_alloc_info(&params, cfg.possible, None)?;
    // A zero static size is reported by check 2, below.
    if ai.static_size != 0 {
        checks::check_static_covers_template(ai.static_size)?;
    }
    let page = cfg.page_size;
    let template_start = crate::template::start() as usize;
    // The checks that do not need the range (a page-aligned stand-in base for checks 4-5).
    checks::check_alloc_info(&ai, page, template_start, cfg)?;

    let units = boot_memory::collect(ai.unit_offsets())?;
    let unit_pages = ai.unit_size / page;
    let chunk_size = ai.nr_units() * ai.unit_size;

    // The offset table before the page list, so that, without `alloc`, the list's boot memory
    // is given back when the chunk is installed; the range's address is added below.
    let mut cpu_table = super::cpu_table(&units, 0)?;
    // Every page of every unit.
    let mut frames: Table<PhysPage> = boot_memory::with_capacity(units.len() * unit_pages)?;
    for &(cpu, _) in units.iter() {
        for index in 0..unit_pages {
            match mem.alloc_page(cpu) {
                Some(p) => frames.push(p),
                None => {
                    frames.iter().for_each(|&p| mem.free_page(p));
                    return Err(SetupError::OutOfPages { cpu, index });
                }
            }
        }
    }

    let Some(range) = mem.reserve(chunk_size, page) else {
        frames.iter().for_each(|&p| mem.free_page(p));
        return Err(SetupError::NoVirtualSpace { size: chunk_size });
    };
    let base = range.as_ptr() as usize;
    // Undoes the first `mapped` mappings (they were made in unit order, page by page), the
    // range and the pages.
    let undo = |mem: &mut M, mapped: usize, frames: &[PhysPage]| {
        for (u, &(_, offset)) in units.iter().enumerate() {
            for i in 0..unit_pages {
                if u * unit_pages + i < mapped {
                    mem.unmap_page(base + offset + i * page);
                }
            }
        }
        mem.release(range, chunk_size);
        frames.iter().for_each(|&p| mem.free_page(p));
    };
    if let Err(e) = checks::check_alloc_info(&ai, base, template_start, cfg)
        .and_then(|()| checks::check_deltas(&units, base, template_start))
    {
        undo(mem, 0, &frames);
        return Err(e);
    }
    cpu_table.rebase(base);

    let mut mapped = 0;
    for (u, &(cpu, offset)) in units.iter().enumerate() {
        for i in 0..unit_pages {
            let addr = base + offset + i * page;
            if let Err(error) = mem.populate_pte(addr) {
                undo(mem, mapped, &frames);
                return Err(SetupError::PopulateFailed { cpu, addr, error });
            }
            if let Err(error) = mem.map_page(addr, frames[u * unit_pages + i]) {
                undo(mem, mapped, &frames);
                return Err(SetupError::MapFailed { cpu, addr, error });
            }
            mapped += 1;
        }
    }

    // SAFETY: every unit is now mapped writable in the reserved range (caller's contract for
    // `mem`), private to per-CPU code, and separate from the template.
    unsafe { units::fill_units(&units, base) };
    Ok(FirstChunk {
        origin: Origin::Page,
        ai,
        base_addr: base,
        page_size: page,
        immutable: true,
        units,
        pages: Table::new(),
        frames,
        cpu_table: Some(cpu_table),
    })
}
