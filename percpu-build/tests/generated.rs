//! The whole of `percpu_layout.rs`, pinned byte for byte: for each case below, the text
//! `gen_rust::generate` writes must equal `tests/generated/NAME.TRIPLE.expected`. Between them
//! the cases take every branch of the generator: a unit that follows the static size and a
//! fixed one, origins from the top level, `cfg` tables, a triple's table and the defaults, no
//! base register, `el1` and `el2`, loongarch64's `tp`.
//!
//! Run with `UPDATE_EXPECT=1` to rewrite the `.expected` files after an intended change, then
//! review the diff.

use percpu_build::{Config, TargetCfg, gen_rust};
use std::fs;
use std::path::Path;

/// `(config, target)`: a file of `tests/configs/good` (without `.toml`), or `None` for the
/// defaults alone.
const CASES: [(Option<&str>, &str); 4] = [
    (Some("kernel"), "aarch64-unknown-none"),
    (Some("fixed_unit"), "x86_64-unknown-none"),
    (None, "aarch64-unknown-none"),
    (Some("loongarch64_tp"), "loongarch64-unknown-none"),
];

/// The generated text for one case; the path messages and comments show is relative to the
/// package, so the text is the same on every machine.
fn generated(config: Option<&str>, triple: &str) -> String {
    let target = TargetCfg::builtin(triple).expect("a built-in target triple");
    let config = match config {
        Some(name) => {
            let shown = format!("tests/configs/good/{name}.toml");
            let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(&shown))
                .unwrap_or_else(|e| panic!("cannot read {shown}: {e}"));
            Config::parse(&text, &shown, &target)
        }
        None => Config::defaults(&target),
    };
    gen_rust::generate(&config.unwrap_or_else(|e| panic!("{e}")))
}

/// The first line where `expected` and `actual` differ, for the failure message.
fn first_difference(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let line = (0..e.len().max(a.len())).find(|&i| e.get(i) != a.get(i)).unwrap_or(e.len());
    format!(
        "line {}:\n- {}\n+ {}",
        line + 1,
        e.get(line).unwrap_or(&"(end of text)"),
        a.get(line).unwrap_or(&"(end of text)")
    )
}

#[test]
fn the_generated_file_is_pinned() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/generated");
    let mut failures = Vec::new();
    for (config, triple) in CASES {
        let actual = generated(config, triple);
        let expected_path = dir.join(format!("{}.{triple}.expected", config.unwrap_or("defaults")));
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            fs::create_dir_all(&dir).unwrap();
            fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let shown = expected_path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().display();
        match fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{shown} (- expected, + actual) {}",
                first_difference(&expected, &actual)
            )),
            Err(_) => failures.push(format!(
                "{shown}: missing; run with UPDATE_EXPECT=1 to create it. Actual:\n{actual}"
            )),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_first_difference_is_named() {
    assert_eq!(first_difference("a\nb\n", "a\nc\n"), "line 2:\n- b\n+ c");
    assert_eq!(first_difference("a\n", "a\nb\n"), "line 2:\n- (end of text)\n+ b");
}
