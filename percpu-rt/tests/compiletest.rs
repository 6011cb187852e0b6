//! Compile-fail tests: every form `#[percpu]` rejects, and every misuse the access rules forbid,
//! with the expected compiler output checked in (`tests/ui/*.stderr`; regenerate with
//! `TRYBUILD=overwrite cargo test -p percpu-rt --test compiletest` and review the diff). Run on
//! the toolchain CI uses: compiler wording changes between releases.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    let count = std::fs::read_dir("tests/ui")
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "rs"))
        .count();
    assert!(count >= 15, "the glob must find the UI cases (found {count})");
}
