//! A kernel's `build.rs` pulls percpu-build without features: the configuration reader and the
//! generators, and nothing only `inspect` uses. This keeps that tree small (at most 15 crates
//! besides percpu-build), counted by `cargo tree` as a user's build would resolve it.

use std::collections::BTreeSet;
use std::process::Command;

/// The crates `cargo tree` lists for percpu-build with `features` (normal and build edges).
fn tree(features: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["tree", "-e", "normal,build", "--prefix", "none", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .args(["-p", "percpu-build"]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    let out = cmd.output().expect("run cargo tree");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "percpu-build")
        .map(str::to_string)
        .collect()
}

#[test]
fn the_build_dependency_is_small_and_inspect_stays_behind_its_feature() {
    let build = tree(&[]);
    println!("percpu-build for a build.rs: {} crates: {build:?}", build.len());
    assert!(build.len() <= 15, "{} crates: {build:?}", build.len());
    for only_inspect in ["object", "serde", "serde_json", "rustc-demangle", "lexopt"] {
        assert!(!build.contains(only_inspect), "{only_inspect} is in a build.rs's tree: {build:?}");
    }
    let cli = tree(&["inspect"]);
    assert!(cli.contains("object") && cli.contains("serde_json"), "{cli:?}");
}
