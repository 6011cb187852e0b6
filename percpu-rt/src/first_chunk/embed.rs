//! The embed first chunk (Linux's `pcpu_embed_first_chunk`): each group's units are one
//! allocation from the caller's early allocator, aligned to the atom (e.g. 2 MiB, so the chunk
//! sits in large pages of the kernel's direct map); every used unit gets the statics' initial
//! values, unused units and each unit's unused tail (beyond static + reserved + dynamic) are
//! given back, and the chunk is immutable.

use super::units;
use super::{FirstChunk, Origin, SetupConfig, SetupError, checks};
use crate::boot_memory::{self, Table};
use crate::cpu_id::CpuId;
use crate::layout::{GroupInfo, LayoutParams, build_alloc_info};
use core::ptr::NonNull;

/// The caller's early memory allocator (Linux's memblock).
pub trait EarlyMemory {
    /// `size` bytes aligned to `align`, preferably close to `cpu` (the group's first CPU, for
    /// NUMA placement); `None` when out of memory. The memory needs no initialisation.
    fn alloc(&mut self, size: usize, align: usize, cpu: CpuId) -> Option<NonNull<u8>>;
    /// Gives back `size` bytes at `ptr`: an unused unit, a unit's unused tail, or (on a failed
    /// setup) a whole allocation.
    fn free(&mut self, ptr: NonNull<u8>, size: usize);
}

/// Builds an embedded first chunk for `cfg.possible` with the layout `params` (its
/// `static_size` is usually `percpu_rt::template::static_size()`), grouping CPUs with
/// `distance` (see [`build_alloc_info`]).
///
/// # Safety
///
/// Memory returned by `mem.alloc` is writable, unused, and not the template; what the setup
/// does not give back belongs to per-CPU code from then on.
pub unsafe fn embed_first_chunk(
    params: &LayoutParams,
    cfg: &SetupConfig<'_>,
    distance: Option<&dyn Fn(CpuId, CpuId) -> u32>,
    mem: &mut dyn EarlyMemory,
) -> Result<FirstChunk, SetupError> {
    let mut ai = build_alloc_info(params, cfg.possible, distance)?;
    checks::check_static_size_nonzero(ai.static_size)?;
    checks::check_static_covers_template(ai.static_size)?;

    // One atom-aligned allocation per group. Until every group has one, a group's
    // `base_offset` holds its allocation's address (so no list of allocations is needed).
    let unit_size = ai.unit_size;
    let give_back = |mem: &mut dyn EarlyMemory, groups: &[GroupInfo], base: usize| {
        for g in groups {
            let at = NonNull::new((base + g.base_offset) as *mut u8).expect("an allocation");
            mem.free(at, g.nr_units() * unit_size);
        }
    };
    for i in 0..ai.groups.len() {
        let g = &ai.groups[i];
        let size = g.nr_units() * ai.unit_size;
        let first = g.cpu_map.iter().flatten().next().copied().unwrap_or_default();
        let Some(p) = mem.alloc(size, ai.atom_size, first) else {
            give_back(mem, &ai.groups[..i], 0);
            return Err(SetupError::OutOfMemory { group: i, size, align: ai.atom_size });
        };
        ai.groups[i].base_offset = p.as_ptr() as usize;
        if p.as_ptr() as usize % ai.atom_size != 0 {
            give_back(mem, &ai.groups[..=i], 0);
            return Err(SetupError::MisalignedMemory {
                addr: p.as_ptr() as usize,
                align: ai.atom_size,
            });
        }
    }
    let base = ai.groups.iter().map(|g| g.base_offset).min().expect("one group at least");
    for g in ai.groups.iter_mut() {
        g.base_offset -= base;
    }

    // All checks (and the bookkeeping) before any byte is written or given back.
    let template_start = crate::template::start() as usize;
    let prepared = checks::check_alloc_info(&ai, base, template_start, cfg).and_then(|()| {
        let units = boot_memory::collect(ai.unit_offsets())?;
        checks::check_deltas(&units, base, template_start)?;
        let cpu_table = super::cpu_table(&units, base)?;
        Ok((units, cpu_table))
    });
    let (units, cpu_table) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            give_back(mem, &ai.groups, base);
            return Err(e);
        }
    };

    // SAFETY: each unit lies inside an allocation from `mem` (caller: writable, unused, not the
    // template) and units do not overlap.
    unsafe { units::fill_units(&units, base) };

    // Give back unused units and every unit's tail.
    let size_sum = ai.size_sum();
    for g in &ai.groups {
        for (i, cpu) in g.cpu_map.iter().enumerate() {
            let unit = base + g.base_offset + i * ai.unit_size;
            let (start, len) = match cpu {
                None => (unit, ai.unit_size),
                Some(_) => (unit + size_sum, ai.unit_size - size_sum),
            };
            if len > 0 {
                mem.free(NonNull::new(start as *mut u8).expect("inside an allocation"), len);
            }
        }
    }

    Ok(FirstChunk {
        origin: Origin::Embed,
        ai,
        base_addr: base,
        page_size: cfg.page_size,
        immutable: true,
        units,
        pages: Table::new(),
        frames: Table::new(),
        cpu_table: Some(cpu_table),
    })
}
