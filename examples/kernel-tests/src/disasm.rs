//! Reading the by-value probes of a kernel ELF (kernel-lib's `probes` module: one exported,
//! never-inlined function per operation) with LLVM's tools, which read every architecture's
//! files: `llvm-nm` for the symbols, `llvm-objdump` for the instructions. Debian's rustc-web
//! brings them (`rust-web-llvm` depends on `llvm-22`: [`NM`], [`OBJDUMP`]).
//!
//! A probe's *fast path* is its instructions from the entry to the first return: what one
//! operation costs when it does not fail (a dynamic object's check that the CPU has a unit
//! branches away only on failure).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// LLVM's `nm`, of the LLVM Debian's rustc-web is built on.
pub const NM: &str = "llvm-nm-22";
/// LLVM's `objdump`, of the same LLVM (it knows LSE, Zacas and Zabha).
pub const OBJDUMP: &str = "llvm-objdump-22";

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insn {
    /// Its address.
    pub addr: u64,
    /// The mnemonic, lower case (`amoadd.d`, `stadd`, `inc`).
    pub mnemonic: String,
    /// The operands as printed (`zero, a0, (a1)`).
    pub operands: String,
}

impl std::fmt::Display for Insn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.operands.is_empty() {
            f.write_str(&self.mnemonic)
        } else {
            write!(f, "{} {}", self.mnemonic, self.operands)
        }
    }
}

/// A defined symbol: address and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol {
    /// Its address.
    pub addr: u64,
    /// Its size in bytes.
    pub size: u64,
}

/// Every defined symbol with a size, by (demangled) name.
pub fn symbols(elf: &Path) -> Result<BTreeMap<String, Symbol>, String> {
    let out = run(Command::new(NM).args(["-C", "-S", "--defined-only"]).arg(elf))?;
    let mut map = BTreeMap::new();
    for line in out.lines() {
        let mut fields = line.splitn(4, ' ');
        let (Some(addr), Some(size), Some(_kind), Some(name)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (Ok(addr), Ok(size)) = (u64::from_str_radix(addr, 16), u64::from_str_radix(size, 16))
        else {
            continue;
        };
        map.insert(name.to_string(), Symbol { addr, size });
    }
    Ok(map)
}

/// The instructions of `sym` (Intel syntax on x86_64).
pub fn disassemble(elf: &Path, arch: &str, sym: Symbol) -> Result<Vec<Insn>, String> {
    let mut cmd = Command::new(OBJDUMP);
    cmd.args(["-d", "--no-show-raw-insn"])
        .arg(format!("--start-address={:#x}", sym.addr))
        .arg(format!("--stop-address={:#x}", sym.addr + sym.size));
    if arch == "x86_64" {
        cmd.arg("--x86-asm-syntax=intel");
    }
    Ok(parse(&run(cmd.arg(elf))?))
}

/// The instruction lines of `llvm-objdump -d --no-show-raw-insn` output
/// (`<hex address>: <tab><mnemonic><tab><operands>`).
pub fn parse(text: &str) -> Vec<Insn> {
    text.lines()
        .filter_map(|line| {
            let (addr, rest) = line.split_once(':')?;
            let addr = u64::from_str_radix(addr.trim(), 16).ok()?;
            let rest = rest.trim();
            if rest.is_empty() {
                return None;
            }
            let (mnemonic, operands) = match rest.split_once(char::is_whitespace) {
                Some((m, o)) => (m, o.trim()),
                None => (rest, ""),
            };
            // Drop objdump's `<symbol+off>` annotations and `// =1` comments.
            let operands = operands.split(" //").next().unwrap_or("").trim().to_string();
            Some(Insn { addr, mnemonic: mnemonic.to_lowercase(), operands })
        })
        .collect()
}

/// The fast path of a function: its instructions up to (without) the first return.
pub fn fast_path(insns: &[Insn]) -> &[Insn] {
    let end = insns.iter().position(is_return).unwrap_or(insns.len());
    &insns[..end]
}

/// A return instruction (`ret`; `jr ra` on riscv64; `jirl $zero, $ra, 0` on loongarch64).
pub fn is_return(i: &Insn) -> bool {
    i.mnemonic == "ret"
        || (i.mnemonic == "jr" && i.operands == "ra")
        || (i.mnemonic == "jirl" && i.operands == "$zero, $ra, 0")
}

/// A call (or a jump through a register, which may be a tail call): `call`, `bl`, `blr`, `br`,
/// `jal`/`jalr` with a link register, `jr` to anything but `ra`, `tail`; loongarch64's `bl` and
/// `jirl` (but a return).
pub fn is_call(i: &Insn) -> bool {
    match i.mnemonic.as_str() {
        "jirl" => !is_return(i),
        "call" | "bl" | "blr" | "br" | "tail" | "jalr" | "blraa" | "blrab" => true,
        "jal" => !i.operands.starts_with("zero"),
        "jr" => i.operands != "ra",
        "jmp" => !i.operands.starts_with("0x"),
        _ => false,
    }
}

/// The target address of a direct branch, if `i` is one (`b.ne 0x4020..`, `bnez a4, 0x8021..`,
/// `jne 0x..`; loongarch64's `bne $a3, $a0, 16`, whose offset is relative to the branch).
pub fn branch_target(i: &Insn) -> Option<u64> {
    let branch = i.mnemonic.starts_with('b')
        || i.mnemonic.starts_with('j')
        || i.mnemonic.starts_with("cb")
        || i.mnemonic.starts_with("tb");
    let not_branch = ["bic", "bics", "bfi", "break"].contains(&i.mnemonic.as_str())
        || ["bstr", "bitrev", "bytepick"].iter().any(|p| i.mnemonic.starts_with(p));
    if !branch || not_branch {
        return None;
    }
    let last = i.operands.rsplit(", ").next()?.split_whitespace().next()?;
    match last.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        // loongarch64 prints a signed decimal offset from the branch itself.
        None => Some(i.addr.wrapping_add(last.parse::<i64>().ok()? as u64)),
    }
}

/// An immediate operand (`0x43`, `-0xc4`, `#0x8`, `#-8`, `42`).
pub fn immediate(text: &str) -> Option<i64> {
    let t = text.trim().trim_start_matches('#');
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let value = match t.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None => t.parse().ok()?,
    };
    Some(if negative { -value } else { value })
}

/// The address the first address-forming pair of a riscv64, loongarch64 or aarch64 fast path
/// computes: `auipc r, hi` + `addi r, r, lo` (or a load/store `lo(r)`), `pcalau12i r, hi` +
/// `addi.d r, r, lo` (or a load/store `r, lo`), `adrp r, page` + `add r, r, #lo` (or a
/// load/store `[.., #lo]`); on x86_64 the absolute `gs:[addr]` operand.
pub fn template_address(arch: &str, path: &[Insn]) -> Option<u64> {
    match arch {
        "loongarch64" => {
            let (k, hi) = path.iter().enumerate().find(|(_, i)| i.mnemonic == "pcalau12i")?;
            let (reg, imm) = hi.operands.split_once(", ")?;
            let page = (hi.addr & !0xfff).wrapping_add(((immediate(imm)? << 44) >> 32) as u64);
            // `add.d r, r, $r21` may sit between: the same register, base added.
            let lo = path[k + 1..].iter().find_map(|i| {
                let ops: Vec<&str> = i.operands.split(", ").collect();
                let memory = ["ld.", "st."].iter().any(|p| i.mnemonic.starts_with(p));
                (ops.len() == 3 && ops[1] == reg && (i.mnemonic == "addi.d" || memory))
                    .then(|| immediate(ops[2]))
                    .flatten()
            })?;
            Some(page.wrapping_add(lo as u64))
        }
        "riscv64" => {
            let (k, auipc) = path.iter().enumerate().find(|(_, i)| i.mnemonic == "auipc")?;
            let (reg, hi) = auipc.operands.split_once(", ")?;
            let base = auipc.addr.wrapping_add(((immediate(hi)? << 12) as i32 as i64) as u64);
            let lo = path[k + 1..].iter().find_map(|i| {
                let ops: Vec<&str> = i.operands.split(", ").collect();
                match i.mnemonic.as_str() {
                    "addi" if ops.len() == 3 && ops[1] == reg => immediate(ops[2]),
                    m if (m.starts_with('l') || m.starts_with('s')) && ops.len() == 2 => {
                        let (off, r) = ops[1].split_once('(')?;
                        let r = r.trim_end_matches(')');
                        // `add a0, a0, tp` may sit between: the same register, base added.
                        (r == reg || path[k + 1..].iter().any(|a| a.operands.starts_with(r)))
                            .then(|| immediate(off))
                            .flatten()
                    }
                    _ => None,
                }
            })?;
            Some(base.wrapping_add(lo as u64))
        }
        "aarch64" => {
            // LLD turns `adrp x, SYM` + `add x, x, #:lo12:SYM` into `nop` + `adr x, SYM` when
            // the symbol is near.
            if let Some(adr) = path.iter().find(|i| i.mnemonic == "adr") {
                let (_, at) = adr.operands.split_once(", ")?;
                return u64::from_str_radix(at.split_whitespace().next()?.strip_prefix("0x")?, 16)
                    .ok();
            }
            let (k, adrp) = path.iter().enumerate().find(|(_, i)| i.mnemonic == "adrp")?;
            let (_, page) = adrp.operands.split_once(", ")?;
            let page = u64::from_str_radix(page.split_whitespace().next()?.strip_prefix("0x")?, 16)
                .ok()?;
            let lo = path[k + 1..].iter().find_map(|i| {
                let ops = &i.operands;
                match i.mnemonic.as_str() {
                    "add" => {
                        let last = ops.rsplit(", ").next()?;
                        last.starts_with('#').then(|| immediate(last)).flatten()
                    }
                    m if m.starts_with("ldr") || m.starts_with("str") => {
                        let inside = ops.split_once('[')?.1.trim_end_matches(']');
                        immediate(inside.rsplit(", ").next()?)
                    }
                    _ => None,
                }
            })?;
            Some(page.wrapping_add(lo as u64))
        }
        _ => {
            let gs = path.iter().find_map(|i| i.operands.split_once("gs:[").map(|(_, r)| r))?;
            u64::from_str_radix(gs.split(']').next()?.strip_prefix("0x")?, 16).ok()
        }
    }
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
