//! A tiny writer of 64-bit little-endian ELF executables, for tests that need exact files:
//! an aarch64 or x86_64 kernel or PIE with a `.percpu` template, a registry of `Descriptor`s
//! (pointers stored in place, or as `R_*_RELATIVE` dynamic relocations for a PIE), and
//! template symbols. Every section sits in the file at its virtual address, under one PT_LOAD.

#![allow(dead_code)]

/// `EM_X86_64`.
pub const X86_64: u16 = 62;
/// `EM_AARCH64`.
pub const AARCH64: u16 = 183;
/// `EM_RISCV`.
pub const RISCV: u16 = 243;

/// One per-CPU variable of a sample.
#[derive(Clone, Debug)]
pub struct SampleVar {
    pub module: &'static str,
    pub name: &'static str,
    pub ty: &'static str,
    pub offset: u64,
    pub size: u64,
    pub align: u64,
    /// The template symbol's `st_size` (`None`: no symbol).
    pub symbol_size: Option<u64>,
    /// Whether the registry describes it.
    pub described: bool,
    pub init: bool,
}

impl SampleVar {
    pub fn new(
        module: &'static str,
        name: &'static str,
        ty: &'static str,
        offset: u64,
        size: u64,
    ) -> Self {
        SampleVar {
            module,
            name,
            ty,
            offset,
            size,
            align: size.min(8),
            symbol_size: Some(size),
            described: true,
            init: false,
        }
    }
}

pub const RODATA: u64 = 0x1000;
pub const PERCPU: u64 = 0x2000;
pub const REGISTRY: u64 = 0x3000;
pub const RELA: u64 = 0x4000;
pub const SYMTAB: u64 = 0x5000;
pub const STRTAB: u64 = 0x6000;
pub const SHSTRTAB: u64 = 0x7000;
pub const SHDRS: u64 = 0x8000;
/// File offset of the one program header (PT_LOAD), right after the ELF header.
pub const PHDR: usize = 64;
/// Size of a symbol table entry (`Elf64_Sym`).
pub const SYM_SIZE: usize = 24;
/// Size of a section header (`Elf64_Shdr`).
pub const SHDR_SIZE: usize = 64;
/// Size of a `Descriptor` in the registry (the 13 words `build` writes per variable).
pub const DESCRIPTOR_SIZE: usize = percpu_build::inspect::DESCRIPTOR_SIZE as usize;

/// Overwrites the little-endian word at `at`.
pub fn put_u64(file: &mut [u8], at: usize, value: u64) {
    file[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// The little-endian word at `at`.
pub fn get_u64(file: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(file[at..at + 8].try_into().unwrap())
}

/// File offset of the symbol table entry of `name` in a file from [`build`].
pub fn symbol_entry(file: &[u8], name: &str) -> usize {
    let (symtab, strtab) = (SYMTAB as usize, STRTAB as usize);
    (1..)
        .map(|i| symtab + i * SYM_SIZE)
        .take_while(|&at| at + SYM_SIZE <= strtab)
        .find(|&at| {
            let st_name = u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
            let bytes = &file[strtab + st_name..];
            bytes.starts_with(name.as_bytes()) && bytes.get(name.len()) == Some(&0)
        })
        .unwrap_or_else(|| panic!("no symbol {name}"))
}

/// File offset of the `st_value` of symbol `name` in a file from [`build`].
pub fn symbol_value_at(file: &[u8], name: &str) -> usize {
    symbol_entry(file, name) + 8
}

/// The Rust v0-free legacy mangling of `module::_::name` with a fixed hash, as rustc emits for
/// a template static inside `const _: () = { .. }`.
pub fn mangle(module: &str, name: &str) -> String {
    let mut s = String::from("_ZN");
    for seg in module.split("::").chain(["_", name]) {
        s.push_str(&format!("{}{seg}", seg.len()));
    }
    s.push_str("17h0123456789abcdefE");
    s
}

/// A section header: (type, flags, address = file offset, size, link, info, align, entsize).
type SectionHeader = (u32, u64, u64, u64, u32, u32, u64, u64);

fn put(buf: &mut Vec<u8>, at: u64, bytes: &[u8]) {
    let at = at as usize;
    if buf.len() < at + bytes.len() {
        buf.resize(at + bytes.len(), 0);
    }
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Builds the file. `static_size` is the template size (`__percpu_end - __percpu_start`).
pub fn build(machine: u16, pie: bool, static_size: u64, vars: &[SampleVar]) -> Vec<u8> {
    let mut f = vec![0u8; SHDRS as usize];
    let relative: u32 = match machine {
        AARCH64 => 1027,
        RISCV => 3,
        _ => 8,
    };

    // Strings in .rodata, descriptors in the registry.
    let mut rodata: Vec<u8> = Vec::new();
    let mut string = |s: &str| {
        let at = RODATA + rodata.len() as u64;
        rodata.extend_from_slice(s.as_bytes());
        (at, s.len() as u64)
    };
    let mut registry: Vec<u8> = Vec::new();
    let mut relocs: Vec<(u64, u64)> = Vec::new();
    for v in vars.iter().filter(|v| v.described) {
        let base = REGISTRY + registry.len() as u64;
        let mut d = [0u64; DESCRIPTOR_SIZE / 8];
        let (name, name_len) = string(v.name);
        let (module, module_len) = string(v.module);
        let (ty, ty_len) = string(v.ty);
        d[0] = name;
        d[1] = name_len;
        d[2] = module;
        d[3] = module_len;
        d[4] = ty;
        d[5] = ty_len;
        d[6] = 0x9000; // type_name: a function pointer, not read
        d[7] = v.size;
        d[8] = v.align;
        d[9] = PERCPU + v.offset;
        d[10] = 0; // debug
        d[11] = if v.init { 0x9100 } else { 0 };
        d[12] = 0xA000 + v.offset; // the initial value: a pointer, not read
        d[13] = 1; // the class: none
        for (i, word) in d.iter_mut().enumerate() {
            let is_pointer = matches!(i, 0 | 2 | 4 | 6 | 9 | 12) || (i == 11 && *word != 0);
            if pie && is_pointer {
                relocs.push((base + 8 * i as u64, *word));
                *word = 0; // a PIE stores 0; the loader writes the addend
            }
        }
        for word in d {
            registry.extend_from_slice(&word.to_le_bytes());
        }
    }
    put(&mut f, RODATA, &rodata);
    put(&mut f, PERCPU, &vec![0xAA; static_size as usize]);
    put(&mut f, REGISTRY, &registry);
    let mut rela = Vec::new();
    for (offset, addend) in &relocs {
        rela.extend_from_slice(&offset.to_le_bytes());
        rela.extend_from_slice(&u64::from(relative).to_le_bytes());
        rela.extend_from_slice(&addend.to_le_bytes());
    }
    put(&mut f, RELA, &rela);

    // Symbols: bounds (NOTYPE, global) and templates (OBJECT, global).
    let mut strtab = vec![0u8];
    let mut symtab = vec![0u8; 24];
    let mut symbol = |name: &str, value: u64, size: u64, shndx: u16, object: bool| {
        let st_name = strtab.len() as u32;
        strtab.extend_from_slice(name.as_bytes());
        strtab.push(0);
        symtab.extend_from_slice(&st_name.to_le_bytes());
        symtab.push((1 << 4) | u8::from(object));
        symtab.push(0);
        symtab.extend_from_slice(&shndx.to_le_bytes());
        symtab.extend_from_slice(&value.to_le_bytes());
        symtab.extend_from_slice(&size.to_le_bytes());
    };
    symbol("__percpu_start", PERCPU, 0, 2, false);
    symbol("__percpu_end", PERCPU + static_size, 0, 2, false);
    let reg_end = REGISTRY + registry.len() as u64;
    symbol("__percpu_registry_start", REGISTRY, 0, 3, false);
    symbol("__percpu_registry_end", reg_end, 0, 3, false);
    for v in vars {
        if let Some(size) = v.symbol_size {
            symbol(&mangle(v.module, v.name), PERCPU + v.offset, size, 2, true);
        }
    }
    put(&mut f, SYMTAB, &symtab);
    put(&mut f, STRTAB, &strtab);

    // Section headers.
    let names = [
        "",
        ".rodata",
        ".percpu",
        ".percpu_registry",
        ".rela.dyn",
        ".symtab",
        ".strtab",
        ".shstrtab",
    ];
    let mut shstrtab = Vec::new();
    let mut name_at = Vec::new();
    for n in names {
        name_at.push(shstrtab.len() as u32);
        shstrtab.extend_from_slice(n.as_bytes());
        shstrtab.push(0);
    }
    put(&mut f, SHSTRTAB, &shstrtab);
    let headers: [SectionHeader; 8] = [
        (0, 0, 0, 0, 0, 0, 0, 0),
        (1, 2, RODATA, rodata.len() as u64, 0, 0, 1, 0),
        (1, 3, PERCPU, static_size, 0, 0, 4096, 0),
        (1, 3, REGISTRY, registry.len() as u64, 0, 0, 8, 0),
        (4, 2, RELA, rela.len() as u64, 0, 0, 8, 24),
        (2, 0, SYMTAB, symtab.len() as u64, 6, 1, 8, 24),
        (3, 0, STRTAB, strtab.len() as u64, 0, 0, 1, 0),
        (3, 0, SHSTRTAB, shstrtab.len() as u64, 0, 0, 1, 0),
    ];
    let mut shdrs = Vec::new();
    for (i, (ty, flags, addr, size, link, info, align, entsize)) in headers.into_iter().enumerate()
    {
        shdrs.extend_from_slice(&name_at[i].to_le_bytes());
        shdrs.extend_from_slice(&ty.to_le_bytes());
        shdrs.extend_from_slice(&flags.to_le_bytes());
        // Non-allocated sections have address 0.
        let vaddr = if flags & 2 != 0 { addr } else { 0 };
        shdrs.extend_from_slice(&vaddr.to_le_bytes());
        shdrs.extend_from_slice(&addr.to_le_bytes()); // file offset = address
        shdrs.extend_from_slice(&size.to_le_bytes());
        shdrs.extend_from_slice(&link.to_le_bytes());
        shdrs.extend_from_slice(&info.to_le_bytes());
        shdrs.extend_from_slice(&align.to_le_bytes());
        shdrs.extend_from_slice(&entsize.to_le_bytes());
    }
    put(&mut f, SHDRS, &shdrs);
    let total = f.len() as u64;

    // ELF header and the one PT_LOAD (file offset = virtual address).
    let mut h = Vec::new();
    h.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    h.extend_from_slice(&(if pie { 3u16 } else { 2u16 }).to_le_bytes());
    h.extend_from_slice(&machine.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes()); // entry
    h.extend_from_slice(&64u64.to_le_bytes()); // phoff
    h.extend_from_slice(&SHDRS.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, 1, 64, names.len() as u16, 7] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    h.extend_from_slice(&6u32.to_le_bytes()); // RW
    for v in [0u64, 0, 0, total, total, 0x1000] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    put(&mut f, 0, &h);
    f
}

/// A bare 64-byte ELF header (x86_64 executable, no sections).
pub fn empty_executable() -> Vec<u8> {
    let mut h = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&X86_64.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&[0; 24]); // entry, phoff, shoff
    h.extend_from_slice(&0u32.to_le_bytes());
    for v in [64u16, 56, 0, 64, 0, 0] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h
}

/// Writes `bytes` to a fresh file under the test's temporary directory.
pub fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("percpu-build-samples");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}
