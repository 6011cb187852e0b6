//! Instruction counts from `objdump -d -M intel --no-show-raw-insn`: the probes' instructions
//! on their fast path.
//!
//! The fast path of a probe is the straight line from its entry to its first `ret`, falling
//! through every conditional branch (the compiler lays cold paths, such as a lazy
//! `thread_local!`'s first-use initialisation or a failed compare, out of line) and following
//! unconditional jumps inside the function. Counted are all its instructions except the `ret`,
//! padding (`nop`, `int3`, `endbr64`) and register-to-register `mov`s, which only place
//! arguments and results in the registers the calling convention or the instruction demands
//! (`cmpxchg` takes its expected value in `rax`), and the stack-frame instructions (`push`,
//! `pop`, `sub rsp`/`add rsp`) a leaf probe needs only to align the stack around an `asm!` block
//! that is allowed to use it (ArceOS's): inlined into real code, both disappear or merge into
//! the caller's, as the measured loops show (their frame set-up is outside the loop).
//!
//! RIP-relative operands are shown with the symbol they reach (`gs:[rip+COUNTER]`), from
//! `objdump -C`'s annotation.

use std::collections::BTreeMap;

/// One disassembled instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Its address.
    pub addr: u64,
    /// Mnemonic and operands, whitespace collapsed, symbol comments removed.
    pub text: String,
}

impl Insn {
    fn mnemonic(&self) -> &str {
        self.text.split_whitespace().next().unwrap_or("")
    }

    fn operands(&self) -> Vec<&str> {
        match self.text.split_once(' ') {
            Some((_, ops)) => ops.split(',').map(str::trim).collect(),
            None => Vec::new(),
        }
    }

    /// The target of a direct jump (`jmp 2f760 <f+0x20>`).
    fn jump_target(&self) -> Option<u64> {
        let first = self.operands().first()?.split_whitespace().next()?.to_string();
        u64::from_str_radix(&first, 16).ok()
    }

    /// Whether it is counted (see the module documentation).
    pub fn counts(&self) -> bool {
        let m = self.mnemonic();
        if m == "ret" || m == "int3" || m == "endbr64" || m.starts_with("nop") || m == "data16" {
            return false;
        }
        if m == "push" || m == "pop" {
            return false;
        }
        let ops = self.operands();
        if (m == "sub" || m == "add") && ops.first() == Some(&"rsp") {
            return false;
        }
        if m == "mov" {
            let ops = self.operands();
            if ops.len() == 2 && ops.iter().all(|o| is_register(o)) {
                return false;
            }
        }
        true
    }
}

/// A general-purpose register name (`rax`, `r8d`, `sil`, ...).
fn is_register(operand: &str) -> bool {
    const NAMES: [&str; 16] = [
        "ax", "bx", "cx", "dx", "si", "di", "bp", "sp", "8", "9", "10", "11", "12", "13", "14",
        "15",
    ];
    let o = operand;
    NAMES.iter().any(|n| {
        if n.chars().all(|c| c.is_ascii_digit()) {
            ["", "d", "w", "b"].iter().any(|suffix| o == format!("r{n}{suffix}"))
        } else {
            let base = n.to_string();
            o == format!("r{base}")
                || o == format!("e{base}")
                || o == base
                || (base.ends_with('x') && o == format!("{}l", &base[..1]))
                || (!base.ends_with('x') && o == format!("{base}l"))
        }
    })
}

/// Every function whose name starts with `prefix`, with its instructions, from `objdump` text.
pub fn functions(objdump: &str, prefix: &str) -> BTreeMap<String, Vec<Insn>> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, Vec<Insn>)> = None;
    for line in objdump.lines() {
        if let Some(name) = line.strip_suffix(">:").and_then(|l| l.split_once(" <")).map(|(_, n)| n)
        {
            if let Some((n, insns)) = current.take() {
                out.insert(n, insns);
            }
            if name.starts_with(prefix) {
                current = Some((name.to_string(), Vec::new()));
            }
            continue;
        }
        let Some((_, insns)) = current.as_mut() else { continue };
        let Some((addr, text)) = line.split_once(":\t") else { continue };
        let Ok(addr) = u64::from_str_radix(addr.trim(), 16) else { continue };
        insns.push(Insn { addr, text: symbolize(text) });
    }
    if let Some((n, insns)) = current {
        out.insert(n, insns);
    }
    out
}

/// Collapses whitespace, and writes a RIP-relative operand with the last path segment of the
/// symbol in objdump's `# addr <symbol>` annotation (`[rip+0x5c0b0]` → `[rip+COUNTER]`).
fn symbolize(text: &str) -> String {
    let (insn, note) = match text.split_once('#') {
        Some((i, n)) => (i, Some(n)),
        None => (text, None),
    };
    let mut insn = insn.split_whitespace().collect::<Vec<_>>().join(" ").replace(", ", ",");
    let symbol = note
        .and_then(|n| n.split_once('<'))
        .and_then(|(_, s)| s.split('>').next())
        .map(|s| s.split("::").last().unwrap_or(s).to_string());
    if let (Some(symbol), Some(start)) = (symbol, insn.find("rip+0x")) {
        let end = insn[start + 4..].find(|c: char| !c.is_ascii_hexdigit() && c != 'x');
        let end = end.map_or(insn.len(), |e| start + 4 + e);
        insn.replace_range(start..end, &format!("rip+{symbol}"));
    }
    insn
}

/// The fast path of a function (see the module documentation), `ret` included.
pub fn fast_path(insns: &[Insn]) -> Vec<&Insn> {
    let mut path = Vec::new();
    let mut i = 0;
    while let Some(insn) = insns.get(i) {
        path.push(insn);
        if path.len() > insns.len() || insn.mnemonic() == "ret" {
            break;
        }
        if insn.mnemonic() == "jmp" {
            match insn.jump_target().and_then(|t| insns.iter().position(|x| x.addr == t)) {
                Some(target) => {
                    i = target;
                    continue;
                }
                None => break, // a tail call: the path leaves the function
            }
        }
        i += 1;
    }
    path
}

/// The counted instructions of `insns`' fast path, and the whole fast path as text.
pub fn count(insns: &[Insn]) -> (usize, Vec<String>) {
    let path = fast_path(insns);
    let n = path.iter().filter(|i| i.counts()).count();
    (n, path.iter().map(|i| i.text.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
0000000000013fa0 <probe_lazy_inc>:
   13fa0:\tcmp    BYTE PTR fs:0xffffffffffffffb0,0x1
   13fa9:\tjne    13fc1 <probe_lazy_inc+0x21>
   13fab:\tmov    rax,QWORD PTR fs:0xffffffffffffffa8
   13fb4:\tinc    rax
   13fb7:\tmov    QWORD PTR fs:0xffffffffffffffa8,rax
   13fc0:\tret
   13fc1:\tmov    BYTE PTR fs:0xffffffffffffffb0,0x1
   13fca:\tret
   13fcb:\tint3

0000000000013fe0 <other>:
   13fe0:\tret

0000000000014000 <probe_pcpu_cmpxchg>:
   14000:\tmov    rax,rdi
   14003:\tcmpxchg QWORD PTR gs:[rip+0x5c07b],rsi        # 8b008 <bench::ops::_::COUNTER>
   1400b:\tjmp    14010 <probe_pcpu_cmpxchg+0x10>
   1400d:\tnop
   14010:\tret
";

    #[test]
    fn probes_and_their_fast_paths() {
        let f = functions(LISTING, "probe_");
        assert_eq!(f.keys().collect::<Vec<_>>(), ["probe_lazy_inc", "probe_pcpu_cmpxchg"]);
        let (n, path) = count(&f["probe_lazy_inc"]);
        assert_eq!(n, 5);
        assert_eq!(path.last().unwrap(), "ret");
        assert_eq!(path[2], "mov rax,QWORD PTR fs:0xffffffffffffffa8");
        let (n, path) = count(&f["probe_pcpu_cmpxchg"]);
        assert_eq!(
            path,
            [
                "mov rax,rdi",
                "cmpxchg QWORD PTR gs:[rip+COUNTER],rsi",
                "jmp 14010 <probe_pcpu_cmpxchg+0x10>",
                "ret"
            ]
        );
        // The register move is not counted; the jump executes, so it is.
        assert_eq!(n, 2);
    }

    #[test]
    fn registers() {
        for r in ["rax", "eax", "ax", "al", "r8", "r8d", "r15b", "rsi", "esi", "sil", "rsp"] {
            assert!(is_register(r), "{r}");
        }
        for o in ["0x1", "QWORD PTR [rax]", "gs:0x4000000", "rip"] {
            assert!(!is_register(o), "{o}");
        }
    }
}
