//! The `percpu.toml` corpus: every `tests/configs/bad/NAME.toml` must fail with exactly the
//! message in `NAME.expected`, and every `tests/configs/good/NAME.toml` must resolve, for each
//! of its targets, to the values in `NAME.expected`.
//!
//! A file's first line may name the targets: `# targets: aarch64-unknown-none` (bad files
//! default to `x86_64-unknown-none`; good files to x86_64-unknown-none, aarch64-unknown-none and
//! x86_64-unknown-linux-gnu). Run with `UPDATE_EXPECT=1` to rewrite the `.expected` files after
//! an intended change, then review the diff.

use percpu_build::{Config, TargetCfg};
use std::fs;
use std::path::{Path, PathBuf};

const GOOD_TARGETS: [&str; 3] =
    ["x86_64-unknown-none", "aarch64-unknown-none", "x86_64-unknown-linux-gnu"];

/// The `.toml` files of a corpus directory, sorted; panics when there are none, so that a
/// moved directory cannot make the test pass vacuously.
fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs").join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .toml files in {}: the corpus is missing", root.display());
    files
}

/// The targets named on the first line (`# targets: a b`), or `default`.
fn targets(text: &str, default: &[&str]) -> Vec<String> {
    match text.lines().next().and_then(|l| l.strip_prefix("# targets:")) {
        Some(list) => list.split_whitespace().map(str::to_string).collect(),
        None => default.iter().map(|t| t.to_string()).collect(),
    }
}

/// The path messages show: relative to the package, so the expected text is stable.
fn shown(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().display().to_string()
}

/// A line diff of `expected` and `actual`, marking lines only in one of them.
fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => out.push_str(&format!("  {x}\n")),
            (x, y) => {
                if let Some(x) = x {
                    out.push_str(&format!("- {x}\n"));
                }
                if let Some(y) = y {
                    out.push_str(&format!("+ {y}\n"));
                }
            }
        }
    }
    out
}

/// Compares `actual` with the `.expected` file next to `toml` (or rewrites it under
/// `UPDATE_EXPECT=1`); returns a failure description.
fn check(toml: &Path, actual: &str) -> Option<String> {
    let expected_path = toml.with_extension("expected");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        fs::write(&expected_path, actual).unwrap();
        return None;
    }
    let expected = match fs::read_to_string(&expected_path) {
        Ok(text) => text,
        Err(_) => {
            return Some(format!(
                "{}: missing; run with UPDATE_EXPECT=1 to create it. Actual:\n{actual}",
                shown(&expected_path)
            ));
        }
    };
    (expected != actual).then(|| {
        format!("{} (- expected, + actual):\n{}", shown(&expected_path), diff(&expected, actual))
    })
}

#[test]
fn bad_configs_fail_with_their_exact_messages() {
    let mut failures = Vec::new();
    let files = corpus("bad");
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let mut actual = String::new();
        for triple in targets(&text, &["x86_64-unknown-none"]) {
            let target = TargetCfg::builtin(&triple).expect("a built-in target triple");
            match Config::parse(&text, &shown(file), &target) {
                Ok(_) => failures.push(format!("{}: accepted for {triple}", shown(file))),
                Err(e) => actual.push_str(&format!("{e}\n")),
            }
        }
        failures.extend(check(file, &actual));
    }
    assert!(files.len() >= 15, "only {} bad configs", files.len());
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The resolved values of a good config for one target, one key per line with its origin.
fn resolved(config: &Config) -> String {
    let mut out = format!("[{}]\n", config.target());
    for (key, value, origin) in config.settings() {
        out.push_str(&format!("{key} = {value}  # {origin}\n"));
    }
    if let Some(max) = config.max_static_size() {
        out.push_str(&format!("(static data fits up to {max} bytes)\n"));
    }
    out
}

#[test]
fn good_configs_resolve_per_target() {
    let mut failures = Vec::new();
    for file in corpus("good") {
        let text = fs::read_to_string(&file).unwrap();
        let mut actual = String::new();
        for triple in targets(&text, &GOOD_TARGETS) {
            let target = TargetCfg::builtin(&triple).expect("a built-in target triple");
            match Config::parse(&text, &shown(&file), &target) {
                Ok(c) => actual.push_str(&resolved(&c)),
                Err(e) => failures.push(format!("{} for {triple}: {e}", shown(&file))),
            }
        }
        failures.extend(check(&file, &actual));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_diff_marks_changed_lines() {
    assert_eq!(diff("a\nb\n", "a\nc\n"), "  a\n- b\n+ c\n");
    assert_eq!(diff("a\n", "a\nb\n"), "  a\n+ b\n");
}
