//! What `cargo expand` shows a user for the README's example statics (`examples/expansion.rs`),
//! held to its budget: at most 150 lines for a `u64` static (every operation one instruction,
//! one width), at most 50 for a struct static or a `local` one (no operation table). The
//! expansion is rustc's own (`-Zunpretty=expanded`), printed as cargo-expand prints it
//! (prettyplease). `PERCPU_SHOW_EXPANSION=1` prints it.

use std::process::Command;

/// `(static, budget)`.
const BUDGETS: [(&str, usize); 3] = [("RX_PACKETS", 150), ("LAST_ERROR", 50), ("BACKLOG", 50)];

/// The example's expansion, pretty-printed.
fn expanded() -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("expansion");
    let out = Command::new(cargo)
        .args(["rustc", "--quiet", "-p", "percpu-rt", "--features", "hosted"])
        .args(["--example", "expansion", "--profile=check", "--target-dir"])
        .arg(&target_dir)
        .args(["--", "-Zunpretty=expanded"])
        // rustc's expanded-source printer is unstable, as cargo-expand's use of it is.
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = syn::parse_file(&String::from_utf8(out.stdout).unwrap()).expect("valid Rust");
    prettyplease::unparse(&file)
}

/// Each example static's expansion: from its doc comment to the next static's (or `main`).
fn per_static(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("///") && !lines[i - 1].starts_with("///"))
        .filter(|&i| lines[i..].iter().any(|l| l.starts_with("pub static ")))
        .collect();
    let end = lines.iter().position(|l| l.starts_with("fn main")).unwrap();
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let e = starts.get(k + 1).copied().unwrap_or(end);
            let body = lines[s..e].join("\n");
            let name = lines[s..e]
                .iter()
                .find_map(|l| l.strip_prefix("pub static "))
                .and_then(|l| l.split(':').next())
                .unwrap()
                .to_string();
            (name, body)
        })
        .collect()
}

#[test]
fn each_static_expands_within_its_budget() {
    let text = expanded();
    if std::env::var_os("PERCPU_SHOW_EXPANSION").is_some() {
        println!("{text}");
    }
    let statics = per_static(&text);
    let mut report = String::new();
    for (name, budget) in BUDGETS {
        let body = &statics.iter().find(|(n, _)| n == name).unwrap().1;
        let n = body.lines().count();
        report.push_str(&format!("{name}: {n} lines (budget {budget})\n"));
        assert!(n <= budget, "`cargo expand` of {name} is {n} lines, over {budget}:\n{body}");
    }
    eprint!("{report}");

    // The README shows the `u64` static's expansion as it is.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("the workspace README");
    let (_, rx) = statics.iter().find(|(n, _)| n == "RX_PACKETS").unwrap();
    assert!(
        readme.contains(&format!("```text\n{rx}\n```")),
        "README.md's expansion block is stale; the real expansion is:\n{rx}"
    );
}
