//! percpu-rt's registry as a linked file holds it: the `#[repr(C)]` `Descriptor`s of
//! `percpu_rt::registry`, one per `#[percpu]` static, between `__percpu_registry_start` and
//! `__percpu_registry_end` (or filling the `.percpu_registry` section), decoded from the file
//! with their pointers relocated for a PIE (`elf.rs`). What the descriptors mean, and their
//! cross-check with the template symbols, is `inspect.rs`'s.
//!
//! The file is untrusted: the registry is read only where it lies in the file (and, when the
//! file has a `.percpu_registry` section, inside it), so the walk is bounded by the file's size;
//! every address sum is checked, and strings longer than `MAX_STR` bytes are not believed.

use crate::elf::{Elf, Symbol, symbol_address};

/// Size of a `Descriptor` on a 64-bit target (see `percpu_rt::registry::Descriptor`).
pub const DESCRIPTOR_SIZE: u64 = 112;
/// Offsets of the descriptor fields read, from the layout documented on `Descriptor`.
const NAME: u64 = 0;
const MODULE_PATH: u64 = 16;
const DECLARED_TYPE: u64 = 32;
const SIZE: u64 = 56;
const ALIGN: u64 = 64;
const TEMPLATE: u64 = 72;
const INIT: u64 = 88;
const CLASS: u64 = 104;

/// The placement classes, by their byte in the descriptor (`percpu_rt::registry::Class`).
const CLASSES: [&str; 5] = ["hot", "", "read_mostly", "shared_aligned", "page_aligned"];

// The host build of percpu-rt is 64-bit like the files read: its descriptor must have the
// documented size, or the offsets above are stale.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(
    core::mem::size_of::<percpu_rt::registry::Descriptor>() as u64 == DESCRIPTOR_SIZE,
    "percpu_rt::registry::Descriptor changed layout: update the offsets in registry.rs"
);

/// Longest name or type string believed (a guard against reading garbage).
const MAX_STR: u64 = 4096;

/// A descriptor as read from the file.
pub(crate) struct RawDescriptor {
    /// The static's name.
    pub(crate) name: String,
    /// Its module (`module_path!()`).
    pub(crate) module_path: String,
    /// Its type as declared.
    pub(crate) declared_type: String,
    /// Size in bytes.
    pub(crate) size: u64,
    /// Alignment in bytes.
    pub(crate) align: u64,
    /// The template's address.
    pub(crate) template: u64,
    /// Whether it has a per-CPU initialiser.
    pub(crate) has_init: bool,
    /// Its placement class (`hot`, `read_mostly`, `shared_aligned`, `page_aligned`), or `""`.
    pub(crate) class: &'static str,
}

/// `address + offset`, or a note why not.
fn add(address: u64, offset: u64) -> Result<u64, String> {
    address.checked_add(offset).ok_or_else(|| format!("{address:#x} + {offset} wraps around"))
}

/// The `&'static str` (pointer, length) at `address`.
fn read_str(elf: &Elf<'_>, address: u64) -> Result<String, String> {
    let ptr = elf.pointer_at(address).ok_or_else(|| format!("no pointer at {address:#x}"))?;
    let len_at = add(address, 8)?;
    let len = elf.stored_u64(len_at).ok_or_else(|| format!("no length at {len_at:#x}"))?;
    if len > MAX_STR {
        return Err(format!("a string of {len} bytes at {ptr:#x} (not a descriptor?)"));
    }
    let bytes =
        elf.bytes_at(ptr, len).ok_or_else(|| format!("string at {ptr:#x} is not in the file"))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("string at {ptr:#x} is not UTF-8"))
}

fn read_descriptor(elf: &Elf<'_>, at: u64) -> Result<RawDescriptor, String> {
    let word = |offset: u64| {
        let address = add(at, offset)?;
        elf.stored_u64(address).ok_or_else(|| format!("no word at {address:#x}"))
    };
    let pointer = |offset: u64| {
        let address = add(at, offset)?;
        elf.pointer_at(address).ok_or_else(|| format!("no pointer at {address:#x}"))
    };
    Ok(RawDescriptor {
        name: read_str(elf, add(at, NAME)?)?,
        module_path: read_str(elf, add(at, MODULE_PATH)?)?,
        declared_type: read_str(elf, add(at, DECLARED_TYPE)?)?,
        size: word(SIZE)?,
        align: word(ALIGN)?,
        template: pointer(TEMPLATE)?,
        has_init: pointer(INIT)? != 0,
        class: {
            let address = add(at, CLASS)?;
            let byte =
                elf.bytes_at(address, 1).ok_or_else(|| format!("no class at {address:#x}"))?;
            CLASSES
                .get(usize::from(byte[0]))
                .ok_or_else(|| format!("class byte {} at {address:#x} is unknown", byte[0]))?
        },
    })
}

/// The descriptors of the registry, in order. A descriptor that cannot be read, a registry
/// that is not a whole number of descriptors, or no registry at all, is a note; a registry that
/// does not lie in the file (or in its section) is an error naming it.
pub(crate) fn read_registry(
    elf: &Elf<'_>,
    symbols: &[Symbol<'_>],
    notes: &mut Vec<String>,
) -> Result<Vec<RawDescriptor>, String> {
    let (reg_start, reg_len) = registry_range(elf, symbols, notes)?;
    if reg_len % DESCRIPTOR_SIZE != 0 {
        notes.push(format!(
            "the registry holds {reg_len} bytes, not a multiple of the {DESCRIPTOR_SIZE}-byte descriptor"
        ));
    }
    let mut descriptors = Vec::new();
    for i in 0..reg_len / DESCRIPTOR_SIZE {
        // Inside the registry, which lies in the file: no overflow.
        let at = reg_start + i * DESCRIPTOR_SIZE;
        match read_descriptor(elf, at) {
            Ok(d) => descriptors.push(d),
            Err(why) => notes.push(format!("descriptor at {at:#x} is unreadable: {why}")),
        }
    }
    Ok(descriptors)
}

/// The registry's range: from its bound symbols, or else its section; checked to lie in the
/// file (and in the section, when there is one), so that walking it is bounded by the file.
fn registry_range(
    elf: &Elf<'_>,
    symbols: &[Symbol<'_>],
    notes: &mut Vec<String>,
) -> Result<(u64, u64), String> {
    let section = elf.section(".percpu_registry");
    let bounds = (
        symbol_address(symbols, &["__percpu_registry_start"]),
        symbol_address(symbols, &["__percpu_registry_end"]),
    );
    let (start, len, from) = match (bounds, &section) {
        ((Some(s), Some(e)), _) if e >= s => (s, e - s, "its bound symbols"),
        (_, Some(r)) => (r.address, r.size / DESCRIPTOR_SIZE * DESCRIPTOR_SIZE, "its section"),
        (_, None) => {
            notes.push("no .percpu_registry section: no variable is described".to_string());
            return Ok((0, 0));
        }
    };
    let end = start + len; // `len` is at most `e - s`, or the section's size rounded down.
    if let Some(r) = &section {
        if r.end().is_none_or(|r_end| start < r.address || end > r_end) {
            return Err(format!(
                "the registry [{start:#x}, {end:#x}) from {from} is not inside the \
                 .percpu_registry section at {:#x} ({} bytes)",
                r.address, r.size
            ));
        }
    }
    if len > 0 && elf.bytes_at(start, len).is_none() {
        return Err(format!(
            "the registry [{start:#x}, {end:#x}) from {from} is not stored in the file"
        ));
    }
    Ok((start, len))
}
