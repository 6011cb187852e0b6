//! A minimal reader of the flattened device tree (the DTB QEMU's virt boards pass, directly on
//! aarch64, through OpenSBI on riscv64): the RAM ranges, the reserved-memory ranges, the CPUs'
//! hardware ids (`MPIDR` affinity, RISC-V hart id), the PSCI method and the command line.
//! Nothing else of the tree is needed by the kernels.

use core::ops::Range;

const MAGIC: u32 = 0xD00D_FEED;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;
/// Deepest node path followed.
const MAX_DEPTH: usize = 16;

/// Most RAM ranges kept.
pub const MAX_RAM_RANGES: usize = 8;
/// Most reserved-memory ranges kept.
pub const MAX_RESERVED_RANGES: usize = 8;
/// Most CPUs kept.
pub const MAX_CPUS: usize = 256;

/// A device tree blob in memory.
#[derive(Debug, Clone, Copy)]
pub struct Fdt {
    blob: &'static [u8],
}

/// What the kernel takes from the tree.
#[derive(Debug)]
pub struct Machine {
    /// RAM ranges (`/memory*` `reg`), the first `nr_ram` entries.
    pub ram: [Range<usize>; MAX_RAM_RANGES],
    /// How many entries of `ram` are used.
    pub nr_ram: usize,
    /// Ranges firmware keeps for itself (`/reserved-memory/*` `reg`, e.g. OpenSBI's), the
    /// first `nr_reserved` entries.
    pub reserved: [Range<usize>; MAX_RESERVED_RANGES],
    /// How many entries of `reserved` are used.
    pub nr_reserved: usize,
    /// The hardware id of each CPU (`/cpus/cpu@*` `reg`: the `MPIDR` affinity on aarch64, the
    /// hart id on riscv64), the first `nr_cpus` entries.
    pub cpus: [u64; MAX_CPUS],
    /// How many entries of `cpus` are used.
    pub nr_cpus: usize,
    /// The PSCI conduit (`/psci` `method`: `"hvc"` or `"smc"`), if any.
    pub psci_method: Option<&'static str>,
    /// The command line (`/chosen` `bootargs`).
    pub bootargs: &'static str,
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Reads `cells` big-endian 32-bit cells as one number.
fn cells(bytes: &[u8], cells: u32) -> Option<(u64, &[u8])> {
    let len = 4 * cells as usize;
    let (number, rest) = (bytes.get(..len)?, bytes.get(len..)?);
    let value = number.chunks(4).try_fold(0u64, |acc, c| {
        Some((acc << 32) | u64::from(u32::from_be_bytes(c.try_into().ok()?)))
    })?;
    Some((value, rest))
}

/// Appends the `(address, size)` pairs of a `reg` value to `ranges` (its slots and the count of
/// used ones), dropping empty ranges and those beyond the slots; `false` if it is malformed.
fn read_ranges(
    mut value: &[u8],
    addr_cells: u32,
    size_cells: u32,
    (slots, used): (&mut [Range<usize>], &mut usize),
) -> bool {
    while !value.is_empty() {
        let parsed = cells(value, addr_cells)
            .and_then(|(a, r)| cells(r, size_cells).map(|(s, r)| (a, s, r)));
        let Some((addr, size, rest)) = parsed else {
            return false;
        };
        value = rest;
        if *used < slots.len() && size > 0 {
            slots[*used] = addr as usize..(addr + size) as usize;
            *used += 1;
        }
    }
    true
}

/// A NUL-terminated string at the start of `bytes`.
fn c_str(bytes: &[u8]) -> Option<&str> {
    let end = bytes.iter().position(|&b| b == 0)?;
    core::str::from_utf8(&bytes[..end]).ok()
}

impl Fdt {
    /// The blob at `addr`, if a device tree header is there.
    ///
    /// # Safety
    ///
    /// `addr` is readable memory of at least 40 bytes, and, if it holds a device tree header,
    /// of the size the header gives, unchanged for the rest of the run.
    pub unsafe fn at(addr: usize) -> Option<Fdt> {
        // SAFETY: the caller guarantees 40 readable bytes.
        let header = unsafe { core::slice::from_raw_parts(addr as *const u8, 40) };
        if be32(header, 0)? != MAGIC {
            return None;
        }
        let size = be32(header, 4)? as usize;
        // SAFETY: a valid header: the caller guarantees `size` readable, unchanging bytes.
        let blob = unsafe { core::slice::from_raw_parts(addr as *const u8, size) };
        Some(Fdt { blob })
    }

    /// The memory the blob occupies.
    pub fn range(&self) -> Range<usize> {
        let start = self.blob.as_ptr() as usize;
        start..start + self.blob.len()
    }

    /// Calls `f(path, property, value)` for every property; `path` holds the node names from
    /// the root's children down (the root's own properties have an empty path).
    fn walk(&self, mut f: impl FnMut(&[&'static str], &'static str, &'static [u8])) -> Option<()> {
        let blob = self.blob;
        let struct_off = be32(blob, 8)? as usize;
        let strings_off = be32(blob, 12)? as usize;
        let mut path: [&'static str; MAX_DEPTH] = [""; MAX_DEPTH];
        let mut depth = 0usize; // nodes open, the root included
        let mut at = struct_off;
        loop {
            let token = be32(blob, at)?;
            at += 4;
            match token {
                BEGIN_NODE => {
                    let name = c_str(blob.get(at..)?)?;
                    at = (at + name.len() + 1).next_multiple_of(4);
                    if (1..=MAX_DEPTH).contains(&depth) {
                        path[depth - 1] = name;
                    }
                    depth += 1;
                }
                END_NODE => depth = depth.checked_sub(1)?,
                PROP => {
                    let len = be32(blob, at)? as usize;
                    let name_off = be32(blob, at + 4)? as usize;
                    let value = blob.get(at + 8..at + 8 + len)?;
                    at = (at + 8 + len).next_multiple_of(4);
                    let name = c_str(blob.get(strings_off + name_off..)?)?;
                    let open = depth.saturating_sub(1).min(MAX_DEPTH);
                    f(&path[..open], name, value);
                }
                NOP => {}
                END => return Some(()),
                _ => return None,
            }
        }
    }

    /// The machine description, or why the tree cannot be used.
    pub fn machine(&self) -> Result<Machine, &'static str> {
        const EMPTY: Range<usize> = 0..0;
        let mut m = Machine {
            ram: [EMPTY; MAX_RAM_RANGES],
            nr_ram: 0,
            reserved: [EMPTY; MAX_RESERVED_RANGES],
            nr_reserved: 0,
            cpus: [0; MAX_CPUS],
            nr_cpus: 0,
            psci_method: None,
            bootargs: "",
        };
        // Defaults of the device-tree specification.
        let (mut root_addr_cells, mut root_size_cells, mut cpu_addr_cells) = (2u32, 1u32, 2u32);
        let mut bad = None;
        self.walk(|path, name, value| match (path, name) {
            ([], "#address-cells") => root_addr_cells = be32(value, 0).unwrap_or(2),
            ([], "#size-cells") => root_size_cells = be32(value, 0).unwrap_or(1),
            (["cpus"], "#address-cells") => cpu_addr_cells = be32(value, 0).unwrap_or(2),
            ([node], "reg") if node.starts_with("memory") => {
                let ranges = (&mut m.ram[..], &mut m.nr_ram);
                if !read_ranges(value, root_addr_cells, root_size_cells, ranges) {
                    bad = Some("a malformed memory node");
                }
            }
            (["reserved-memory", _], "reg") => {
                // QEMU's and OpenSBI's trees give /reserved-memory the root's cell sizes.
                let ranges = (&mut m.reserved[..], &mut m.nr_reserved);
                if !read_ranges(value, root_addr_cells, root_size_cells, ranges) {
                    bad = Some("a malformed reserved-memory node");
                }
            }
            (["cpus", node], "reg") if node.starts_with("cpu@") => {
                match cells(value, cpu_addr_cells) {
                    Some((mpidr, _)) if m.nr_cpus < MAX_CPUS => {
                        m.cpus[m.nr_cpus] = mpidr;
                        m.nr_cpus += 1;
                    }
                    Some(_) => bad = Some("more CPUs than this kernel supports"),
                    None => bad = Some("a malformed cpu node"),
                }
            }
            (["psci"], "method") => m.psci_method = c_str(value),
            (["chosen"], "bootargs") => m.bootargs = c_str(value).unwrap_or(""),
            _ => {}
        })
        .ok_or("the device tree is malformed")?;
        if let Some(reason) = bad {
            return Err(reason);
        }
        Ok(m)
    }
}
