//! Instructions per operation on every architecture: `benches/arch-probes` (percpu-rt, the ArceOS
//! `percpu` crate 0.4.0 and `ax-percpu` 0.4.24, one exported probe per operation; x86_64, aarch64
//! with and without LSE, riscv64, loongarch64) built as a
//! static library for each target with Debian's rustc and `-Zbuild-std`, as the example kernels
//! are, and read with `llvm-objdump` (the LLVM of Debian's rustc-web, which knows every
//! architecture's instructions). Nothing is linked or run.
//!
//! A probe's *fast path* is its straight line from the entry to the first return (every branch
//! falls through: the compiler lays failures out of line). Counted are its instructions without
//! the return; a call is followed into its callee in the same library, whose fast path counts
//! too (ax-percpu's `CpuPin` goes through `cpu_local`'s functions), so the figure is what one
//! operation executes. A call out of the library (a platform hook) is counted as one and named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The LLVM tools of Debian's rustc-web (`rust-web-llvm` depends on `llvm-22`).
const OBJDUMP: &str = "llvm-objdump-22";
const NM: &str = "llvm-nm-22";

/// One build of the probes: a target and its target features.
#[derive(Clone, Copy, Debug)]
pub struct Flavor {
    /// The column heading.
    pub name: &'static str,
    /// The target triple.
    pub target: &'static str,
    /// Target features added (`+lse`), if any.
    pub features: Option<&'static str>,
}

/// Every flavor the report counts.
pub const FLAVORS: [Flavor; 5] = [
    Flavor { name: "x86_64", target: "x86_64-unknown-none", features: None },
    Flavor { name: "aarch64 (LSE)", target: "aarch64-unknown-none", features: Some("+lse") },
    Flavor { name: "aarch64 (v8.0)", target: "aarch64-unknown-none", features: None },
    Flavor { name: "riscv64", target: "riscv64gc-unknown-none-elf", features: None },
    Flavor { name: "loongarch64", target: "loongarch64-unknown-none", features: None },
];

/// The subjects, by probe prefix, with their names in the report.
pub const SUBJECTS: [(&str, &str); 3] =
    [("pcpu", "percpu-rt"), ("arceos", "ArceOS `percpu` 0.4.0"), ("ax", "`ax-percpu` 0.4.24")];

/// The operations, by probe suffix.
pub const OPS: [&str; 5] = ["read", "write", "inc", "add", "cmpxchg"];

/// One probe's fast path.
#[derive(Clone, Debug, Default)]
pub struct Count {
    /// Instructions executed (callees' included).
    pub insns: usize,
    /// Calls on the fast path (followed or not).
    pub calls: usize,
    /// The probe's own fast path, as printed.
    pub listing: Vec<String>,
}

/// Counts of every probe, by (flavor name, probe name).
pub type Counts = BTreeMap<(String, String), Count>;

/// Builds the probes for every flavor (or only the one named `only`) under `target_dir` and
/// counts them.
pub fn count_all(root: &Path, target_dir: &Path, only: Option<&str>) -> Result<Counts, String> {
    let mut counts = Counts::new();
    for flavor in FLAVORS.into_iter().filter(|f| only.is_none_or(|name| f.name == name)) {
        let lib = build(root, target_dir, flavor)?;
        let functions = read(&lib)?;
        for (subject, _) in SUBJECTS {
            for op in OPS {
                let probe = format!("probe_{subject}_{op}");
                let count = count(&functions, &probe, 0)
                    .ok_or_else(|| format!("{}: no {probe} in {}", flavor.name, lib.display()))?;
                counts.insert((flavor.name.to_string(), probe), count);
            }
        }
    }
    Ok(counts)
}

/// Builds `benches/arch-probes` for `flavor`; returns the static library.
fn build(root: &Path, target_dir: &Path, flavor: Flavor) -> Result<PathBuf, String> {
    let dir = target_dir.join(flavor.name.replace([' ', '(', ')', '.'], ""));
    eprintln!("building benches/arch-probes for {} ...", flavor.name);
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root.join("benches/arch-probes"))
        .args(["build", "--release", "--target", flavor.target])
        .arg("--target-dir")
        .arg(&dir)
        .env("RUSTC", "/usr/bin/rustc")
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .stderr(Stdio::inherit());
    if let Some(features) = flavor.features {
        cmd.args(["--config", &format!("build.rustflags=[\"-C\", \"target-feature={features}\"]")]);
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the probes for {} failed (see above)", flavor.name));
    }
    Ok(dir.join(flavor.target).join("release/libarch_probes.a"))
}

/// A function of the library: its instructions, each with the symbol it calls, if any.
type Functions = BTreeMap<String, Vec<(String, Option<String>)>>;

/// Every function of the library (one section per function), by mangled name.
fn read(lib: &Path) -> Result<Functions, String> {
    let nm = run(Command::new(NM).args(["--defined-only", "-j"]).arg(lib))?;
    let defined: Vec<&str> = nm.lines().filter(|l| !l.starts_with(".L") && !l.is_empty()).collect();
    let text = run(Command::new(OBJDUMP).args(["-dr", "--no-show-raw-insn"]).arg(lib))?;
    Ok(parse(&text, &defined))
}

/// The functions of `llvm-objdump -dr` output `text` whose labels are in `defined`.
fn parse(text: &str, defined: &[&str]) -> Functions {
    let mut functions = Functions::new();
    let mut current: Option<String> = None;
    // riscv64 puts a call's relocation on the `auipc` before its `jalr`.
    let mut pending: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("Disassembly of section") {
            current = None;
            continue;
        }
        if let Some(name) = line.strip_suffix(">:").and_then(|l| l.split_once(" <")).map(|x| x.1) {
            // A symbol label: a new function, unless a local label inside one.
            if !name.starts_with(".L") && defined.contains(&name) {
                current = Some(name.to_string());
                functions.insert(name.to_string(), Vec::new());
                pending = None;
            }
            continue;
        }
        let Some(f) = current.as_ref() else { continue };
        let insns = functions.get_mut(f).expect("inserted at its label");
        let trimmed = line.trim();
        if trimmed.contains(":  R_") || trimmed.contains(": R_") {
            // loongarch64: `R_LARCH_B26` on `bl`, `R_LARCH_CALL36` on the `pcaddu18i` before a
            // `jirl $ra`.
            let call = ["CALL", "PLT32", "JUMP26", "B26"].iter().any(|k| trimmed.contains(k));
            if call {
                let target = trimmed.split_whitespace().last().unwrap_or("");
                let target = target.split(['-', '+']).next().unwrap_or(target).to_string();
                match insns.last_mut() {
                    Some(last) if is_call(&last.0) && last.1.is_none() => last.1 = Some(target),
                    _ => pending = Some(target),
                }
            }
            continue;
        }
        // `     8:      \tretq`: a hex address, a colon, padding (its width differs between
        // LLVM versions), the instruction. Anything else (an archive member's `file format`
        // line) is not an instruction.
        let Some((address, insn)) = line.split_once(':') else { continue };
        let address = address.trim();
        if address.is_empty() || !address.chars().all(|c| c.is_ascii_hexdigit()) {
            continue;
        }
        let insn = insn.split('<').next().unwrap_or(insn);
        let insn: String = insn.split_whitespace().collect::<Vec<_>>().join(" ");
        if insn.is_empty() {
            continue;
        }
        let callee = if is_call(&insn) { pending.take() } else { None };
        insns.push((insn, callee));
    }
    functions
}

fn mnemonic(insn: &str) -> &str {
    insn.split_whitespace().next().unwrap_or("")
}

fn is_call(insn: &str) -> bool {
    (matches!(mnemonic(insn), "call" | "callq" | "bl" | "jalr" | "jal" | "blr")
        && !insn.starts_with("jal zero"))
        || insn.starts_with("jirl $ra")
}

fn is_return(insn: &str) -> bool {
    matches!(mnemonic(insn), "ret" | "retq") || insn == "jr ra"
}

/// The fast path of `name` and of what it calls in the library (up to four calls deep).
fn count(functions: &Functions, name: &str, depth: usize) -> Option<Count> {
    let insns = functions.get(name)?;
    let mut c = Count::default();
    for (insn, callee) in insns {
        if is_return(insn) {
            break;
        }
        c.insns += 1;
        c.listing.push(insn.clone());
        if is_call(insn) {
            c.calls += 1;
            if let Some(callee) = callee
                && depth < 4
                && let Some(inner) = count(functions, callee, depth + 1)
            {
                c.insns += inner.insns;
                c.calls += inner.calls;
            }
        }
    }
    Some(c)
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The report's table: instructions per operation, a column per architecture and subject.
pub fn render(counts: &Counts) -> String {
    let mut w = String::new();
    w.push_str(
        "### Instructions per operation on every architecture (fast path, from `llvm-objdump` of \
         `benches/arch-probes` built for each target)\n\n",
    );
    w.push_str("| op |");
    let mut rule = String::from("|---|");
    for flavor in FLAVORS {
        for (_, subject) in SUBJECTS {
            w.push_str(&format!(" {} {subject} |", flavor.name));
            rule.push_str("---|");
        }
    }
    w.push('\n');
    w.push_str(&rule);
    w.push('\n');
    for op in OPS {
        w.push_str(&format!("| `{op}` |"));
        for flavor in FLAVORS {
            for (prefix, _) in SUBJECTS {
                let key = (flavor.name.to_string(), format!("probe_{prefix}_{op}"));
                match counts.get(&key) {
                    Some(c) if c.calls > 0 => {
                        w.push_str(&format!(" {} ({} call{}) |", c.insns, c.calls, plural(c.calls)))
                    }
                    Some(c) => w.push_str(&format!(" {} |", c.insns)),
                    None => w.push_str(" – |"),
                }
            }
        }
        w.push('\n');
    }
    w.push_str(
        "\nCounted: every instruction from the probe's entry to its first return (branches fall \
         through), calls followed into the library and counted with their callees' fast paths. \
         percpu-rt's are inline and atomic (one `op gs:` instruction; LSE or one exclusive-pair \
         loop; one AMO or one LR/SC loop). ArceOS's `with_current` is a plain load, modify and \
         store on the copy (not atomic against an interrupt, and, without its `preempt` \
         feature, not against migration). `ax-percpu` creates a `CpuPin` per operation through \
         `cpu_local` (checking the area's self pointer and CPU index), and has no \
         read-modify-write on scalars: its `inc`, `add` and `cmpxchg` are an `AtomicU64`'s \
         `fetch_add` and `compare_exchange` borrowed under the pin.\n\n",
    );
    w.push_str("The fast paths, per architecture:\n\n");
    for flavor in FLAVORS {
        w.push_str(&format!("| {} | percpu-rt | ArceOS `percpu` 0.4.0 | `ax-percpu` 0.4.24 (the probe; callees counted above) |\n|---|---|---|---|\n", flavor.name));
        for op in OPS {
            w.push_str(&format!("| `{op}` |"));
            for (prefix, _) in SUBJECTS {
                let key = (flavor.name.to_string(), format!("probe_{prefix}_{op}"));
                let listing = counts.get(&key).map(|c| c.listing.join("; ")).unwrap_or_default();
                w.push_str(&format!(" `{listing}` |"));
            }
            w.push('\n');
        }
        w.push('\n');
    }
    w
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `llvm-objdump-22 -dr --no-show-raw-insn` of a static library: member headers, padded
    /// addresses, relocations on their own lines.
    const SAMPLE: &str = "
/t/libarch_probes.a(arch_probes-1.o):\tfile format elf64-x86-64

Disassembly of section .text.probe_pcpu_add:

0000000000000000 <probe_pcpu_add>:
       0:      \taddq\t%rdi, %gs:(%rip)
\t\t0000000000000004:  R_X86_64_PC32\t.percpu+0x4
       8:      \tretq

Disassembly of section .text.probe_ax_add:

0000000000000000 <probe_ax_add>:
       0:      \tpushq\t%rax
       1:      \tcallq\t0x6 <probe_ax_add+0x6>
\t\t0000000000000002:  R_X86_64_PLT32\thelper-0x4
       6:      \tpopq\t%rax
       7:      \tretq

0000000000000000 <helper>:
       0:      \tmovq\t%gs:0x8, %rax
       9:      \tretq
";

    #[test]
    fn counts_fast_paths_and_follows_calls() {
        let functions = parse(SAMPLE, &["probe_pcpu_add", "probe_ax_add", "helper"]);
        let add = count(&functions, "probe_pcpu_add", 0).unwrap();
        assert_eq!((add.insns, add.calls), (1, 0));
        assert_eq!(add.listing, ["addq %rdi, %gs:(%rip)"]);
        let ax = count(&functions, "probe_ax_add", 0).unwrap();
        assert_eq!((ax.insns, ax.calls), (4, 1), "{:?}", ax.listing);
    }

    /// loongarch64: a `pcaddu18i` + `jirl $ra` call whose `R_LARCH_CALL36` sits on the
    /// `pcaddu18i`, and a `bl` with `R_LARCH_B26`; `ret` ends the fast path.
    const LOONGARCH: &str = "
Disassembly of section .text.probe_ax_read:

0000000000000000 <probe_ax_read>:
       0:      \taddi.d\t$sp, $sp, -16
       4:      \tpcaddu18i\t$ra, 0
\t\t0000000000000004:  R_LARCH_CALL36\thelper
       8:      \tjirl\t$ra, $ra, 0
       c:      \tbl\t0
\t\t000000000000000c:  R_LARCH_B26\thelper
      10:      \tld.d\t$a0, $sp, 8
      14:      \tret

0000000000000000 <helper>:
       0:      \tmove\t$a0, $r21
       4:      \tret
";

    #[test]
    fn follows_loongarch64_calls() {
        let functions = parse(LOONGARCH, &["probe_ax_read", "helper"]);
        let read = count(&functions, "probe_ax_read", 0).unwrap();
        assert_eq!((read.insns, read.calls), (7, 2), "{:?}", read.listing);
        assert!(!is_call("jirl $zero, $ra, 0"));
    }
}
