//! Reading a linked 64-bit little-endian ELF file (x86_64, aarch64, riscv64 or loongarch64; PIE or
//! static) with the `object` crate: sections, the symbol table, and the 64-bit words stored at
//! virtual addresses, with the `RELA` dynamic relocations of a position-independent executable applied
//! (`R_*_RELATIVE` and absolute ones; `REL` and packed `RELR` relocations keep their addend in
//! the word itself, which is what is read). Nothing here knows about per-CPU data;
//! `inspect.rs` gives the bytes their meaning.
//!
//! The file is untrusted: every offset and size it gives is checked against its length with
//! checked arithmetic (`object` checks the headers and tables it returns; this module checks the
//! loadable segments, reads names through [`MAX_NAME`]-byte windows, and bounds every lookup),
//! so that a corrupted file is a [`ElfError`], never a panic, a hang or an allocation larger
//! than a small multiple of the file.

use core::fmt;
use object::LittleEndian as LE;
use object::SectionIndex;
use object::elf::{self, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader, Rela, SectionHeader, SectionTable, Sym};
use std::collections::HashMap;

/// Longest symbol or section name read. Per-CPU template symbols and the bound symbols are a
/// few hundred bytes at most; longer names are left out, so that reading every name of the
/// file costs at most this much per symbol, whatever the string table holds.
pub const MAX_NAME: usize = 1024;

/// Most loadable pieces (`PT_LOAD` segments, or allocated sections without program headers)
/// believed: linked files have a handful. Each address lookup goes through them.
pub const MAX_LOADED: usize = 1024;

/// Why a file cannot be read as a supported ELF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// The file does not start with the ELF magic number.
    NotElf,
    /// A 32-bit or big-endian ELF.
    UnsupportedClass {
        /// `"32-bit"` or `"big-endian"`.
        what: &'static str,
    },
    /// An architecture other than x86_64, aarch64, riscv64 and loongarch64.
    UnsupportedMachine {
        /// `e_machine`.
        machine: u16,
    },
    /// Not a linked executable (a relocatable object, a core dump).
    NotLinked {
        /// `e_type`.
        elf_type: u16,
    },
    /// The headers are inconsistent or truncated.
    Malformed {
        /// What `object` reported, or which range lies outside the file.
        message: String,
    },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::NotElf => f.write_str("not an ELF file (no \\x7fELF magic number)"),
            ElfError::UnsupportedClass { what } => write!(
                f,
                "a {what} ELF file; percpu-build inspects 64-bit little-endian files (x86_64, aarch64, \
                 riscv64, loongarch64)"
            ),
            ElfError::UnsupportedMachine { machine } => write!(
                f,
                "an ELF file for machine {machine}; percpu-build inspects x86_64, aarch64, riscv64 and \
                 loongarch64 files"
            ),
            ElfError::NotLinked { elf_type: elf::ET_REL } => f.write_str(
                "a relocatable object (.o): inspect the linked executable or kernel instead",
            ),
            ElfError::NotLinked { elf_type } => write!(
                f,
                "an ELF file of type {elf_type}, not a linked executable; inspect the linked \
                 executable or kernel"
            ),
            ElfError::Malformed { message } => write!(
                f,
                "a malformed ELF file: {message}; the file is truncated or corrupted, rebuild it"
            ),
        }
    }
}

impl std::error::Error for ElfError {}

fn malformed(e: object::read::Error) -> ElfError {
    ElfError::Malformed { message: e.to_string() }
}

/// The architectures read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// `EM_X86_64`.
    X86_64,
    /// `EM_AARCH64`.
    Aarch64,
    /// `EM_RISCV` (64-bit).
    Riscv64,
    /// `EM_LOONGARCH` (64-bit).
    Loongarch64,
}

impl Machine {
    /// `target_arch` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Machine::X86_64 => "x86_64",
            Machine::Aarch64 => "aarch64",
            Machine::Riscv64 => "riscv64",
            Machine::Loongarch64 => "loongarch64",
        }
    }
}

/// A section's name and address range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Section index.
    pub index: usize,
    /// Virtual address.
    pub address: u64,
    /// Size in bytes.
    pub size: u64,
}

impl Section {
    /// The end address, or `None` if the section wraps the address space.
    pub fn end(&self) -> Option<u64> {
        self.address.checked_add(self.size)
    }
}

/// A symbol of the static symbol table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol<'d> {
    /// The (mangled) name, in the file's string table.
    pub name: &'d str,
    /// Value (address).
    pub address: u64,
    /// Size in bytes.
    pub size: u64,
    /// Index of the section it is defined in (`None` for undefined, absolute or common).
    pub section: Option<usize>,
    /// Whether it is a data object (`STT_OBJECT`).
    pub is_object: bool,
}

/// The address of the first of `names` the symbol table defines.
pub(crate) fn symbol_address(symbols: &[Symbol<'_>], names: &[&str]) -> Option<u64> {
    names.iter().find_map(|n| {
        symbols.iter().find(|s| s.name == *n && s.section.is_some()).map(|s| s.address)
    })
}

/// A loadable piece of the file: `[address, address + file_size)` is in the file at `offset`.
/// Checked when parsed: both ranges fit in `u64`, and the file range in the file.
#[derive(Clone, Copy, Debug)]
struct Loaded {
    address: u64,
    file_size: u64,
    offset: u64,
}

/// A parsed ELF file.
#[derive(Debug)]
pub struct Elf<'d> {
    data: &'d [u8],
    machine: Machine,
    elf_type: u16,
    has_interpreter: bool,
    sections: SectionTable<'d, FileHeader64<LE>>,
    /// The section-name string table (empty when the file has none).
    section_names: &'d [u8],
    loaded: Vec<Loaded>,
    /// The value the dynamic loader stores at an address (RELA relocations applied).
    relocated: HashMap<u64, u64>,
}

/// The name at `offset` of a string table: the bytes up to its NUL, if that comes within
/// [`MAX_NAME`] bytes and inside the table.
fn name_at(table: &[u8], offset: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let window = table.get(start..)?;
    let window = &window[..window.len().min(MAX_NAME + 1)];
    let len = window.iter().position(|&b| b == 0)?;
    Some(&window[..len])
}

/// Checks a loadable piece of the file: its file range inside the file, its address range
/// inside the address space.
fn loaded(
    what: &str,
    address: u64,
    file_size: u64,
    offset: u64,
    file_len: usize,
) -> Result<Loaded, ElfError> {
    let file_end = offset.checked_add(file_size);
    if file_end.is_none_or(|end| end > file_len as u64) {
        return Err(ElfError::Malformed {
            message: format!(
                "{what} holds file bytes [{offset:#x}, {offset:#x} + {file_size:#x}), past the \
                 end of the {file_len}-byte file"
            ),
        });
    }
    if address.checked_add(file_size).is_none() {
        return Err(ElfError::Malformed {
            message: format!(
                "{what} at address {address:#x} with {file_size:#x} bytes wraps the address space"
            ),
        });
    }
    Ok(Loaded { address, file_size, offset })
}

impl<'d> Elf<'d> {
    /// Parses `data`, checking it is a linked 64-bit little-endian x86_64, aarch64 or riscv64
    /// file.
    pub fn parse(data: &'d [u8]) -> Result<Elf<'d>, ElfError> {
        if !data.starts_with(&elf::ELFMAG) {
            return Err(ElfError::NotElf);
        }
        // e_ident[EI_CLASS] and e_ident[EI_DATA].
        match (data.get(4), data.get(5)) {
            (Some(&elf::ELFCLASS64), Some(&elf::ELFDATA2LSB)) => {}
            (Some(&elf::ELFCLASS32), _) => {
                return Err(ElfError::UnsupportedClass { what: "32-bit" });
            }
            (_, Some(&elf::ELFDATA2MSB)) => {
                return Err(ElfError::UnsupportedClass { what: "big-endian" });
            }
            _ => {
                return Err(ElfError::Malformed {
                    message: "bad ELF class or data encoding".into(),
                });
            }
        }
        let header = FileHeader64::<LE>::parse(data).map_err(malformed)?;
        let endian = LE;
        let machine = match header.e_machine(endian) {
            elf::EM_X86_64 => Machine::X86_64,
            elf::EM_AARCH64 => Machine::Aarch64,
            elf::EM_RISCV => Machine::Riscv64,
            elf::EM_LOONGARCH => Machine::Loongarch64,
            machine => return Err(ElfError::UnsupportedMachine { machine }),
        };
        let elf_type = header.e_type(endian);
        if elf_type != elf::ET_EXEC && elf_type != elf::ET_DYN {
            return Err(ElfError::NotLinked { elf_type });
        }
        let sections = header.sections(endian, data).map_err(malformed)?;
        // As `object` finds it for `sections` (which checked the index): none without sections.
        let section_names = if sections.is_empty() {
            &[][..]
        } else {
            header
                .shstrndx(endian, data)
                .and_then(|index| sections.section(SectionIndex(index as usize)))
                .and_then(|s| s.data(endian, data))
                .map_err(malformed)?
        };
        let program_headers = header.program_headers(endian, data).map_err(malformed)?;
        let mut pieces = Vec::new();
        for (i, p) in program_headers.iter().enumerate() {
            if p.p_type(endian) == elf::PT_LOAD {
                let what = format!("program header {i} (PT_LOAD)");
                let (address, file_size) = (p.p_vaddr(endian), p.p_filesz(endian));
                pieces.push(loaded(&what, address, file_size, p.p_offset(endian), data.len())?);
            }
        }
        if pieces.is_empty() {
            // No program headers (unusual for a linked file): fall back to the sections.
            for (i, s) in sections.iter().enumerate() {
                if s.sh_flags(endian) & u64::from(elf::SHF_ALLOC) != 0
                    && s.sh_type(endian) != elf::SHT_NOBITS
                {
                    let what = format!("section {i}");
                    let (address, size) = (s.sh_addr(endian), s.sh_size(endian));
                    pieces.push(loaded(&what, address, size, s.sh_offset(endian), data.len())?);
                }
            }
        }
        if pieces.len() > MAX_LOADED {
            return Err(ElfError::Malformed {
                message: format!(
                    "{} loadable segments, more than the {MAX_LOADED} believed",
                    pieces.len()
                ),
            });
        }
        let has_interpreter = program_headers.iter().any(|p| p.p_type(endian) == elf::PT_INTERP);
        let mut file = Elf {
            data,
            machine,
            elf_type,
            has_interpreter,
            sections,
            section_names,
            loaded: pieces,
            relocated: HashMap::new(),
        };
        file.relocated = file.dynamic_relocations()?;
        Ok(file)
    }

    /// The architecture.
    pub fn machine(&self) -> Machine {
        self.machine
    }

    /// Whether the file is position-independent (`ET_DYN`): its pointers are filled in by
    /// dynamic relocations.
    pub fn is_pie(&self) -> bool {
        self.elf_type == elf::ET_DYN
    }

    /// Whether the file asks for a dynamic loader (`PT_INTERP`): a hosted executable.
    pub fn has_interpreter(&self) -> bool {
        self.has_interpreter
    }

    /// The first section named `name`.
    pub fn section(&self, name: &str) -> Option<Section> {
        self.sections.iter().enumerate().find_map(|(index, s)| {
            (name_at(self.section_names, u64::from(s.sh_name(LE))) == Some(name.as_bytes()))
                .then(|| Section { index, address: s.sh_addr(LE), size: s.sh_size(LE) })
        })
    }

    /// Every symbol of the static symbol table (`.symtab`); empty when the file is stripped.
    /// Symbols whose name is not UTF-8, or longer than [`MAX_NAME`], or not in the string
    /// table, are left out (no per-CPU template or bound symbol is one of them).
    pub fn symbols(&self) -> Result<Vec<Symbol<'d>>, ElfError> {
        let table = self.sections.symbols(LE, self.data, elf::SHT_SYMTAB).map_err(malformed)?;
        if table.is_empty() {
            return Ok(Vec::new());
        }
        let strings = self
            .sections
            .section(table.string_section())
            .and_then(|s| s.data(LE, self.data))
            .map_err(malformed)?;
        let mut symbols = Vec::with_capacity(table.len());
        for sym in table.iter() {
            let Some(name) = name_at(strings, u64::from(sym.st_name(LE))) else { continue };
            let Ok(name) = core::str::from_utf8(name) else { continue };
            let shndx = sym.st_shndx(LE);
            let defined = shndx != elf::SHN_UNDEF && shndx < elf::SHN_LORESERVE;
            symbols.push(Symbol {
                name,
                address: sym.st_value(LE),
                size: sym.st_size(LE),
                section: defined.then_some(usize::from(shndx)),
                is_object: sym.st_type() == elf::STT_OBJECT,
            });
        }
        Ok(symbols)
    }

    /// `len` bytes of the file's image at virtual address `address`, if they are in the file.
    pub fn bytes_at(&self, address: u64, len: u64) -> Option<&'d [u8]> {
        let end = address.checked_add(len)?;
        // Each piece's address range was checked not to wrap when the file was parsed.
        let piece =
            self.loaded.iter().find(|l| l.address <= address && end <= l.address + l.file_size)?;
        let start = usize::try_from(piece.offset.checked_add(address - piece.address)?).ok()?;
        self.data.get(start..start.checked_add(usize::try_from(len).ok()?)?)
    }

    /// The 64-bit word stored in the file at `address`.
    pub fn stored_u64(&self, address: u64) -> Option<u64> {
        let bytes = self.bytes_at(address, 8)?;
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }

    /// The pointer at `address` as the program sees it once loaded at its link address: the
    /// dynamic relocation's value in a PIE, the stored word otherwise.
    pub fn pointer_at(&self, address: u64) -> Option<u64> {
        match self.relocated.get(&address) {
            Some(v) => Some(*v),
            None => self.stored_u64(address),
        }
    }

    /// The values the dynamic loader writes, by address, for a load at the link address
    /// (base 0 for a PIE): relative relocations give their addend, absolute 64-bit ones the
    /// defined symbol's value plus the addend. (`REL` and `RELR` relative relocations give the
    /// stored word, which [`pointer_at`](Self::pointer_at) reads without them.) One entry per
    /// relocation at most: the table is bounded by the file's size.
    fn dynamic_relocations(&self) -> Result<HashMap<u64, u64>, ElfError> {
        let (relative, absolute): (u32, &[u32]) = match self.machine {
            Machine::X86_64 => {
                (elf::R_X86_64_RELATIVE, &[elf::R_X86_64_64, elf::R_X86_64_GLOB_DAT])
            }
            Machine::Aarch64 => {
                (elf::R_AARCH64_RELATIVE, &[elf::R_AARCH64_ABS64, elf::R_AARCH64_GLOB_DAT])
            }
            Machine::Riscv64 => (elf::R_RISCV_RELATIVE, &[elf::R_RISCV_64]),
            Machine::Loongarch64 => (elf::R_LARCH_RELATIVE, &[elf::R_LARCH_64]),
        };
        let mut values = HashMap::new();
        for section in self.sections.iter() {
            // Only loaded relocation sections are dynamic; `--emit-relocs` leaves others behind,
            // already applied.
            if section.sh_flags(LE) & u64::from(elf::SHF_ALLOC) == 0 {
                continue;
            }
            let Some((relas, link)) = section.rela(LE, self.data).map_err(malformed)? else {
                continue;
            };
            let symbols = if link.0 != 0 {
                Some(self.sections.symbol_table_by_index(LE, self.data, link).map_err(malformed)?)
            } else {
                None
            };
            for rela in relas {
                let r_type = rela.r_type(LE, false);
                let offset = rela.r_offset(LE);
                let addend = rela.r_addend(LE) as u64;
                if r_type == relative {
                    values.insert(offset, addend);
                } else if absolute.contains(&r_type) {
                    let index = object::SymbolIndex(rela.r_sym(LE, false) as usize);
                    let sym = symbols.as_ref().and_then(|t| t.symbol(index).ok());
                    if let Some(sym) = sym.filter(|s| s.st_shndx(LE) != elf::SHN_UNDEF) {
                        values.insert(offset, sym.st_value(LE).wrapping_add(addend));
                    }
                }
            }
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-byte ELF header with no sections and no program headers.
    fn header(class: u8, data: u8, elf_type: u16, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(&elf::ELFMAG);
        h[4] = class;
        h[5] = data;
        h[6] = 1;
        h[16..18].copy_from_slice(&elf_type.to_le_bytes());
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[52..54].copy_from_slice(&64u16.to_le_bytes());
        h[54..56].copy_from_slice(&56u16.to_le_bytes());
        h[58..60].copy_from_slice(&64u16.to_le_bytes());
        h
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert_eq!(Elf::parse(b"#!/bin/sh\n").unwrap_err(), ElfError::NotElf);
        assert_eq!(Elf::parse(b"").unwrap_err(), ElfError::NotElf);
        let h32 = header(elf::ELFCLASS32, elf::ELFDATA2LSB, elf::ET_EXEC, elf::EM_X86_64);
        assert_eq!(Elf::parse(&h32).unwrap_err(), ElfError::UnsupportedClass { what: "32-bit" });
        let be = header(elf::ELFCLASS64, elf::ELFDATA2MSB, elf::ET_EXEC, elf::EM_X86_64);
        assert_eq!(Elf::parse(&be).unwrap_err(), ElfError::UnsupportedClass { what: "big-endian" });
        let ppc = header(elf::ELFCLASS64, elf::ELFDATA2LSB, elf::ET_EXEC, elf::EM_PPC64);
        assert_eq!(
            Elf::parse(&ppc).unwrap_err(),
            ElfError::UnsupportedMachine { machine: elf::EM_PPC64 }
        );
        let obj = header(elf::ELFCLASS64, elf::ELFDATA2LSB, elf::ET_REL, elf::EM_AARCH64);
        assert_eq!(Elf::parse(&obj).unwrap_err(), ElfError::NotLinked { elf_type: elf::ET_REL });
        let truncated =
            &header(elf::ELFCLASS64, elf::ELFDATA2LSB, elf::ET_EXEC, elf::EM_X86_64)[..40];
        assert!(matches!(Elf::parse(truncated).unwrap_err(), ElfError::Malformed { .. }));
    }

    #[test]
    fn an_empty_executable_has_no_sections() {
        let h = header(elf::ELFCLASS64, elf::ELFDATA2LSB, elf::ET_EXEC, elf::EM_AARCH64);
        let f = Elf::parse(&h).unwrap();
        assert_eq!(f.machine(), Machine::Aarch64);
        assert!(!f.is_pie());
        assert!(f.section(".percpu").is_none());
        assert!(f.symbols().unwrap().is_empty());
        assert_eq!(f.pointer_at(0x1000), None);
        let rv = header(elf::ELFCLASS64, elf::ELFDATA2LSB, elf::ET_EXEC, elf::EM_RISCV);
        assert_eq!(Elf::parse(&rv).unwrap().machine(), Machine::Riscv64);
        let la = header(elf::ELFCLASS64, elf::ELFDATA2LSB, elf::ET_EXEC, elf::EM_LOONGARCH);
        assert_eq!(Elf::parse(&la).unwrap().machine(), Machine::Loongarch64);
        assert_eq!(Machine::Loongarch64.name(), "loongarch64");
    }
}
