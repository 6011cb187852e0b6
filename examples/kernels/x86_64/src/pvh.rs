//! The PVH boot information (`struct hvm_start_info`, Xen's `arch-x86/hvm/start_info.h`): the
//! memory map and the command line.

use core::ops::Range;

/// `XEN_HVM_START_MAGIC_VALUE`.
const MAGIC: u32 = 0x336E_C578;
/// E820 type of usable RAM.
const E820_RAM: u32 = 1;

/// `struct hvm_start_info`, version 1.
#[repr(C)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

/// `struct hvm_memmap_table_entry`.
#[repr(C)]
struct MemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// Most RAM ranges kept from the memory map.
pub const MAX_RAM_RANGES: usize = 32;

/// What the kernel takes from the start info.
pub struct BootParams {
    /// Usable RAM ranges, the first `nr_ram` entries.
    pub ram: [Range<usize>; MAX_RAM_RANGES],
    /// How many entries of `ram` are used.
    pub nr_ram: usize,
    /// The command line (empty without one).
    pub cmdline: &'static str,
    /// Where the start info, the memory map and the command line are: never to be handed out.
    pub firmware: [Range<usize>; 3],
    /// The ACPI root pointer's physical address, or 0 when the loader did not say.
    pub rsdp: u64,
}

/// Reads the start info at physical address `addr`, keeping RAM in `window` (the part of the
/// address space the kernel maps and may allocate from).
///
/// # Safety
///
/// `addr` is the `ebx` value of the PVH entry: a valid start info, and the memory map and
/// command line it points to stay untouched for the rest of the run (the caller reserves
/// them or keeps them out of `window`).
pub unsafe fn parse(addr: usize, window: Range<usize>) -> Result<BootParams, &'static str> {
    // SAFETY: the caller guarantees a valid start info at `addr` (identity-mapped).
    let info = unsafe { &*(addr as *const StartInfo) };
    if info.magic != MAGIC {
        return Err("no PVH start info (bad magic): boot this kernel with QEMU's -kernel");
    }
    if info.version < 1 || info.memmap_entries == 0 {
        return Err("the PVH start info has no memory map (version 0)");
    }
    let _ = (info.flags, info.nr_modules, info.modlist_paddr, info.reserved);
    // SAFETY: version >= 1, so the memory map is `memmap_entries` entries at `memmap_paddr`.
    let entries = unsafe {
        core::slice::from_raw_parts(
            info.memmap_paddr as usize as *const MemmapEntry,
            info.memmap_entries as usize,
        )
    };
    const EMPTY: Range<usize> = 0..0;
    let memmap = info.memmap_paddr as usize;
    let mut params = BootParams {
        ram: [EMPTY; MAX_RAM_RANGES],
        nr_ram: 0,
        cmdline: "",
        firmware: [
            addr..addr + size_of::<StartInfo>(),
            memmap..memmap + size_of_val(entries),
            EMPTY,
        ],
        rsdp: info.rsdp_paddr,
    };
    for e in entries.iter().filter(|e| e.kind == E820_RAM) {
        let _ = e.reserved;
        let start = (e.addr as usize).max(window.start);
        let end = (e.addr.saturating_add(e.size) as usize).min(window.end);
        if start < end && params.nr_ram < MAX_RAM_RANGES {
            params.ram[params.nr_ram] = start..end;
            params.nr_ram += 1;
        }
    }
    if info.cmdline_paddr != 0 {
        // SAFETY: a NUL-terminated string at `cmdline_paddr` (the PVH boot protocol).
        let bytes = unsafe { core::ffi::CStr::from_ptr(info.cmdline_paddr as usize as *const _) };
        params.cmdline = bytes.to_str().map_err(|_| "the command line is not UTF-8")?;
        let cmdline = info.cmdline_paddr as usize;
        params.firmware[2] = cmdline..cmdline + bytes.count_bytes() + 1;
    }
    Ok(params)
}
