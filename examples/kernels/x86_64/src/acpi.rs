//! ACPI, as far as this kernel needs it: the CPUs of the MADT (the "APIC" table), read as
//! Linux reads them (`acpi_parse_lapic`, `acpi_parse_x2apic`, `acpi_is_processor_usable`).
//!
//! Each local APIC entry is a possible CPU: **enabled** ones are present at boot; disabled ones
//! are hot-pluggable (possible, not present) unless the table is revision 5 or later and the
//! entry lacks the "online capable" flag, which makes it unusable. QEMU lists every CPU of
//! `-smp N,maxcpus=M`, the first `N` enabled, in APIC-id order, with the APIC ids of the
//! topology (not always contiguous: `-smp 3,maxcpus=6,sockets=2,cores=3` gives 0, 1, 2, 4, 5,
//! 6).
//!
//! The root pointer (RSDP) comes from the PVH start info when the loader put it there, else
//! from the classic search of the BIOS area (the first KiB of the EBDA, then
//! `0xE0000..0x100000`), where qboot and SeaBIOS leave it.

use core::fmt;

/// Most MADT CPU entries kept (QEMU lists at most `maxcpus`; this kernel uses at most 64).
pub const MAX_ENTRIES: usize = 256;

/// The end of the identity map the boot page tables build: tables must lie below.
const MAPPED_END: u64 = 4 << 30;
/// Length of an SDT header.
const HEADER: usize = 36;
/// MADT entry types.
const LOCAL_APIC: u8 = 0;
const LOCAL_X2APIC: u8 = 9;
/// MADT entry flags.
const ENABLED: u32 = 1 << 0;
const ONLINE_CAPABLE: u32 = 1 << 1;

/// One CPU of the MADT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MadtCpu {
    /// Its local APIC id.
    pub apic_id: u32,
    /// Present at boot (else hot-pluggable).
    pub enabled: bool,
}

/// The usable CPUs of the MADT, in table order.
#[derive(Debug, Clone)]
pub struct MadtCpus {
    /// The first `len` entries are used.
    pub cpus: [MadtCpu; MAX_ENTRIES],
    /// How many entries of `cpus` are used.
    pub len: usize,
}

impl MadtCpus {
    /// The usable CPUs.
    pub fn as_slice(&self) -> &[MadtCpu] {
        &self.cpus[..self.len]
    }
}

/// Why the MADT could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcpiError {
    /// No RSDP in the start info or the BIOS area: the firmware installed no ACPI tables
    /// (e.g. `-machine acpi=off`).
    NoRsdp,
    /// The RSDT/XSDT names no "APIC" table.
    NoMadt,
    /// A table's checksum is wrong.
    BadChecksum(&'static str),
    /// A table lies beyond the identity-mapped first 4 GiB, or is cut short.
    BadTable(&'static str),
    /// More CPU entries than [`MAX_ENTRIES`].
    TooManyCpus,
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcpiError::NoRsdp => write!(f, "no ACPI root pointer (RSDP) in the BIOS area"),
            AcpiError::NoMadt => write!(f, "the ACPI tables have no MADT (\"APIC\")"),
            AcpiError::BadChecksum(t) => write!(f, "the ACPI {t} has a wrong checksum"),
            AcpiError::BadTable(t) => {
                write!(f, "the ACPI {t} is cut short or lies above the first 4 GiB")
            }
            AcpiError::TooManyCpus => {
                write!(f, "the MADT lists more than {MAX_ENTRIES} CPUs")
            }
        }
    }
}

/// `len` bytes of physical memory at `addr`, if they lie in the identity map.
///
/// # Safety
///
/// Firmware data: the caller knows `addr..addr + len` to be readable and never written while
/// the slice lives (ACPI tables, the BIOS area).
unsafe fn phys(addr: u64, len: usize) -> Option<&'static [u8]> {
    let end = addr.checked_add(len as u64)?;
    if addr == 0 || end > MAPPED_END {
        return None;
    }
    // SAFETY: below 4 GiB, identity-mapped (boot page tables); readable and unchanging by the
    // caller's promise.
    Some(unsafe { core::slice::from_raw_parts(addr as usize as *const u8, len) })
}

fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |acc, &b| acc.wrapping_add(b))
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn le64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

/// A checked table (header included) at `addr`.
///
/// # Safety
///
/// `addr` comes from the firmware's ACPI tables (or is the RSDP's table pointer): readable and
/// never written.
unsafe fn table(addr: u64, what: &'static str) -> Result<&'static [u8], AcpiError> {
    // SAFETY: forwarded from the caller.
    let header = unsafe { phys(addr, HEADER) }.ok_or(AcpiError::BadTable(what))?;
    let len = le32(header, 4) as usize;
    if len < HEADER {
        return Err(AcpiError::BadTable(what));
    }
    // SAFETY: forwarded from the caller; the header says the table is `len` bytes long.
    let bytes = unsafe { phys(addr, len) }.ok_or(AcpiError::BadTable(what))?;
    if sum(bytes) != 0 {
        return Err(AcpiError::BadChecksum(what));
    }
    Ok(bytes)
}

/// The RSDP at `addr`, if one is there: (revision, RSDT address, XSDT address).
///
/// # Safety
///
/// `addr..addr + 36` is readable firmware memory.
unsafe fn rsdp_at(addr: u64) -> Option<(u8, u64, u64)> {
    // SAFETY: forwarded from the caller.
    let v1 = unsafe { phys(addr, 20) }?;
    if &v1[..8] != b"RSD PTR " || sum(v1) != 0 {
        return None;
    }
    let revision = v1[15];
    let rsdt = u64::from(le32(v1, 16));
    if revision < 2 {
        return Some((revision, rsdt, 0));
    }
    // SAFETY: forwarded from the caller (a revision-2 RSDP is 36 bytes).
    let v2 = unsafe { phys(addr, 36) }?;
    if sum(v2) != 0 {
        return None;
    }
    Some((revision, rsdt, le64(v2, 24)))
}

/// Finds the RSDP: at `hint` if non-zero, else in the EBDA's first KiB or `0xE0000..0x100000`.
///
/// # Safety
///
/// `hint` is 0 or the boot protocol's RSDP address; the BIOS area is readable (identity-mapped
/// low memory) and, like the tables, never written by anyone during the search.
unsafe fn find_rsdp(hint: u64) -> Option<(u8, u64, u64)> {
    if hint != 0 {
        // SAFETY: forwarded from the caller.
        return unsafe { rsdp_at(hint) };
    }
    // SAFETY: the BIOS data area word at 0x40E holds the EBDA's segment.
    let ebda =
        unsafe { phys(0x40E, 2) }.map_or(0, |b| u64::from(u16::from_le_bytes([b[0], b[1]])) << 4);
    let areas = [ebda..ebda + 1024, 0xE0000..0x100000];
    areas.into_iter().filter(|r| r.start >= 0x400 && r.end <= 0x100000).find_map(|r| {
        // SAFETY: low memory below 1 MiB, readable (forwarded from the caller).
        r.step_by(16).find_map(|addr| unsafe { rsdp_at(addr) })
    })
}

/// The usable CPUs of the MADT.
///
/// # Safety
///
/// `rsdp_hint` is 0 or the RSDP address the boot protocol gave (PVH start info); the firmware's
/// ACPI tables and the BIOS area are readable and never written while this runs.
pub unsafe fn madt_cpus(rsdp_hint: u64) -> Result<MadtCpus, AcpiError> {
    // SAFETY: forwarded from the caller.
    let (_, rsdt, xsdt) = unsafe { find_rsdp(rsdp_hint) }.ok_or(AcpiError::NoRsdp)?;
    let (root, what, width) = if xsdt != 0 { (xsdt, "XSDT", 8) } else { (rsdt, "RSDT", 4) };
    // SAFETY: the root table's address comes from the checked RSDP (caller's promise).
    let root = unsafe { table(root, what) }?;
    let madt = root[HEADER..]
        .chunks_exact(width)
        .map(|entry| if width == 8 { le64(entry, 0) } else { u64::from(le32(entry, 0)) })
        // SAFETY: addresses listed in the checked root table (caller's promise).
        .find(|&addr| unsafe { phys(addr, 4) }.is_some_and(|sig| sig == b"APIC"))
        .ok_or(AcpiError::NoMadt)?;
    // SAFETY: as above.
    let madt = unsafe { table(madt, "MADT") }?;
    let online_capable_flag = madt[8] >= 5;
    let mut out = MadtCpus { cpus: [MadtCpu { apic_id: 0, enabled: false }; MAX_ENTRIES], len: 0 };
    let mut at = HEADER + 8; // header, local APIC address, flags
    while at + 2 <= madt.len() {
        let (kind, len) = (madt[at], usize::from(madt[at + 1]));
        let entry =
            madt.get(at..at + len).filter(|_| len >= 2).ok_or(AcpiError::BadTable("MADT"))?;
        let cpu = match kind {
            LOCAL_APIC if len >= 8 => Some((u32::from(entry[3]), le32(entry, 4))),
            LOCAL_X2APIC if len >= 16 => Some((le32(entry, 4), le32(entry, 8))),
            _ => None,
        };
        at += len;
        let Some((apic_id, flags)) = cpu else { continue };
        let enabled = flags & ENABLED != 0;
        let usable = enabled || !online_capable_flag || flags & ONLINE_CAPABLE != 0;
        // 0xFF in an xAPIC entry is no CPU; Linux skips it too.
        if !usable || (kind == LOCAL_APIC && apic_id == 0xFF) {
            continue;
        }
        if out.len == MAX_ENTRIES {
            return Err(AcpiError::TooManyCpus);
        }
        out.cpus[out.len] = MadtCpu { apic_id, enabled };
        out.len += 1;
    }
    Ok(out)
}
