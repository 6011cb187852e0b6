//! End to end: the fixture crate `tests/fixtures/linkcheck` (its `build.rs` is one percpu-build
//! call) is built with a nested `cargo build`, then `percpu-build inspect` reads the linked
//! binary. The variables must be exactly the fixture's and percpu-rt's own, the unit layout must
//! equal what the binary computes from the generated constants, and a static too large for the
//! fixed unit, or a bad configuration, must fail the build with its message.
//!
//! The fixture is copied to `$CARGO_TARGET_TMPDIR/linkcheck` (its manifest is kept as
//! `Cargo.toml.in`, so that the published package ships it; its path dependencies are made to
//! point at the percpu-rt and percpu-build under test, found by `cargo metadata`, and the nearest
//! `Cargo.lock` above this crate is its lock file, so the test also runs from the published
//! package) and built into
//! `$CARGO_TARGET_TMPDIR/linkcheck-target`, `--offline` unless that fails for want of a
//! download. The nested builds share one target directory, so the tests take turns.

use percpu_build::inspect::{self, InspectOptions, Inspection};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

static NESTED_BUILD: Mutex<()> = Mutex::new(());

/// The fixture's files, as they are copied (`Cargo.toml` from `Cargo.toml.in`).
const FILES: [&str; 7] = [
    "Cargo.toml",
    "build.rs",
    "percpu.toml",
    "bad-percpu.toml",
    "hot-percpu.toml",
    "link.ld",
    "src/main.rs",
];

/// The variables the fixture declares and the runtime's own: name → (size, align).
const EXPECTED: [(&str, u64, u64); 8] = [
    ("linkcheck::FLAG", 1, 1),
    ("linkcheck::COUNTER", 8, 8),
    ("linkcheck::SAMPLES", 20, 4),
    ("linkcheck::SHORT", 2, 2),
    ("linkcheck::stats::PAIR", 16, 8),
    ("percpu_rt::runtime_vars::CPU_ID", 4, 4),
    ("percpu_rt::runtime_vars::THIS_CPU_OFFSET", 8, 8),
    ("percpu_rt::runtime_vars::IRQ_GUARD_HELD", 1, 1),
];

/// The directories of the percpu-rt and percpu-rt-macros this crate is built against (the
/// workspace's, or the packages a published percpu-build resolves to), from `cargo metadata`.
fn runtime_dirs() -> (PathBuf, PathBuf) {
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let dir = |name: &str| {
        let manifest = metadata["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["manifest_path"].as_str())
            .unwrap_or_else(|| panic!("{name} among the packages"));
        Path::new(manifest).parent().unwrap().to_path_buf()
    };
    (dir("percpu-rt"), dir("percpu-rt-macros"))
}

struct Fixture {
    dir: PathBuf,
    target_dir: PathBuf,
}

impl Fixture {
    /// Copies the fixture (rewriting only files whose content changed, so Cargo's fingerprints
    /// stay valid between tests).
    fn prepare() -> Fixture {
        let this_crate = Path::new(env!("CARGO_MANIFEST_DIR"));
        let source = this_crate.join("tests/fixtures/linkcheck");
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let dir = tmp.join("linkcheck");
        for file in FILES {
            let from = if file == "Cargo.toml" { "Cargo.toml.in" } else { file };
            let mut text = fs::read_to_string(source.join(from)).unwrap();
            if file == "Cargo.toml" {
                let (runtime, macros) = runtime_dirs();
                text = text
                    .replace(
                        "\"../../../../percpu-rt\"",
                        &format!("{:?}", runtime.display().to_string()),
                    )
                    .replace("\"../../..\"", &format!("{:?}", this_crate.display().to_string()));
                if !runtime.join("../percpu-macros").exists() {
                    // Published packages name each other by version: the ones under test
                    // stand in for crates.io.
                    text.push_str(&format!(
                        "\n[patch.crates-io]\npercpu-rt = {{ path = {:?} }}\n\
                         percpu-rt-macros = {{ path = {:?} }}\n",
                        runtime.display().to_string(),
                        macros.display().to_string()
                    ));
                }
            }
            let dst = dir.join(file);
            fs::create_dir_all(dst.parent().unwrap()).unwrap();
            if fs::read_to_string(&dst).ok().as_deref() != Some(text.as_str()) {
                fs::write(&dst, text).unwrap();
            }
        }
        if !dir.join("Cargo.lock").exists() {
            let lock = this_crate
                .ancestors()
                .map(|d| d.join("Cargo.lock"))
                .find(|lock| lock.exists())
                .expect("a Cargo.lock above percpu-build");
            fs::copy(lock, dir.join("Cargo.lock")).unwrap();
        }
        Fixture { dir, target_dir: tmp.join("linkcheck-target") }
    }

    /// Runs `cargo <args> -- <rustc_args>` on the fixture, with none of the outer build's
    /// settings.
    fn cargo(&self, args: &[&str], rustc_args: &[&str]) -> Output {
        let run = |offline: bool| {
            let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
            cmd.args(args)
                .arg("--manifest-path")
                .arg(self.dir.join("Cargo.toml"))
                .arg("--target-dir")
                .arg(&self.target_dir)
                .current_dir(&self.dir);
            if offline {
                cmd.arg("--offline");
            }
            if !rustc_args.is_empty() {
                cmd.arg("--").args(rustc_args);
            }
            for var in [
                "CARGO_TARGET_DIR",
                "CARGO_BUILD_TARGET_DIR",
                "CARGO_BUILD_TARGET",
                "RUSTFLAGS",
                "CARGO_ENCODED_RUSTFLAGS",
                "CARGO_BUILD_RUSTFLAGS",
            ] {
                cmd.env_remove(var);
            }
            cmd.output().expect("run the nested cargo")
        };
        let out = run(true);
        if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("offline") {
            return run(false);
        }
        out
    }

    fn build(&self, features: &str) -> Output {
        self.cargo(&["build", "--features", features], &[])
    }

    fn binary(&self) -> PathBuf {
        self.target_dir.join("debug/linkcheck")
    }

    fn inspect(&self) -> Inspection {
        inspect::run(&InspectOptions {
            file: self.binary(),
            config: Some(self.dir.join("percpu.toml")),
            target: Some("x86_64-unknown-linux-gnu".into()),
            cpus: None,
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_built(out: &Output) {
    assert!(out.status.success(), "nested build failed:\n{}", text(&out.stderr));
}

/// Checks the variables are exactly [`EXPECTED`], with no unregistered symbol and no note.
fn assert_exact_variables(inspection: &Inspection) {
    let found: BTreeMap<&str, (u64, u64)> =
        inspection.variables.iter().map(|v| (v.name.as_str(), (v.size, v.align))).collect();
    let expected: BTreeMap<&str, (u64, u64)> =
        EXPECTED.iter().map(|&(n, s, a)| (n, (s, a))).collect();
    assert_eq!(found, expected, "variables (name → size, align)");
    assert!(inspection.unregistered.is_empty(), "{:?}", inspection.unregistered);
    assert!(inspection.notes.is_empty(), "{:?}", inspection.notes);
    for v in &inspection.variables {
        assert_eq!(v.symbol.as_deref(), Some(v.name.as_str()), "the template symbol of {}", v.name);
        assert_eq!(v.offset % v.align, 0, "{} is misaligned", v.name);
    }
    let used: u64 = inspection.variables.iter().map(|v| v.size).sum();
    let holes: u64 = inspection.holes.iter().map(|h| h.size).sum();
    assert_eq!(used + holes, inspection.static_size, "variables and holes tile the template");
}

/// The binary's own report: its static size and its `pcpu-alloc:` lines, from the generated
/// constants and percpu-rt's layout function.
fn run_binary(path: &Path) -> (u64, Vec<String>) {
    let out = Command::new(path).output().expect("run the fixture");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let static_size = stdout
        .lines()
        .find_map(|l| l.strip_prefix("static "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no static size in {stdout}"));
    let dump = stdout.lines().filter(|l| l.starts_with("pcpu-alloc:")).map(String::from).collect();
    (static_size, dump)
}

#[test]
fn inspect_lists_exactly_the_declared_variables_and_agrees_with_the_binary() {
    let _turn = NESTED_BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let fixture = Fixture::prepare();
    assert_built(&fixture.build(""));
    let inspection = fixture.inspect();
    assert!(inspection.pie, "a hosted executable is position-independent");
    assert_exact_variables(&inspection);

    let (static_size, dump) = run_binary(&fixture.binary());
    assert_eq!(inspection.static_size, static_size);
    let layout = inspection.layout.as_ref().unwrap();
    assert_eq!(layout.dump, dump, "build-time (inspect) and run-time layouts differ");
    assert_eq!((layout.cpus, layout.unit_size), (4, 64 << 10), "max_cpus and the fixed unit");
    assert_eq!(layout.max_static_size, Some(28 << 10));
    assert!(!layout.over_limit);

    // The command line, as JSON, says the same.
    let out = Command::new(env!("CARGO_BIN_EXE_percpu-build"))
        .arg("inspect")
        .arg(fixture.binary())
        .arg("--json")
        .arg("--config")
        .arg(fixture.dir.join("percpu.toml"))
        .args(["--target", "x86_64-unknown-linux-gnu"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(json["static_size"], static_size);
    assert_eq!(json["variables"].as_array().unwrap().len(), EXPECTED.len());
    assert_eq!(json["layout"]["unit_size"], 64 << 10);
    assert_eq!(json["layout"]["dump"][0], dump[0].as_str());
}

#[test]
fn a_static_non_pie_executable_stores_its_pointers_directly() {
    let _turn = NESTED_BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let fixture = Fixture::prepare();
    // Only the final crate gets the flags: its dependencies stay position-independent, which
    // a non-PIE link accepts, resolving their pointers at link time.
    let out = fixture.cargo(
        &["rustc", "--bin", "linkcheck"],
        &["-C", "relocation-model=static", "-C", "link-arg=-no-pie"],
    );
    assert_built(&out);
    let inspection = fixture.inspect();
    assert!(!inspection.pie, "linked with -no-pie");
    assert_exact_variables(&inspection);
    let (static_size, dump) = run_binary(&fixture.binary());
    assert_eq!(inspection.static_size, static_size);
    assert_eq!(inspection.layout.unwrap().dump, dump);
}

#[test]
fn a_kernel_script_includes_the_fragments_through_the_search_path() {
    let _turn = NESTED_BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let fixture = Fixture::prepare();
    assert_built(&fixture.build("include-script"));
    assert_exact_variables(&fixture.inspect());
}

#[test]
fn an_oversized_static_fails_the_link_with_the_configured_message() {
    let _turn = NESTED_BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let fixture = Fixture::prepare();
    for features in ["oversized", "oversized,include-script"] {
        let out = fixture.build(features);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{features}: the link should fail");
        let expected = format!(
            "ERROR(percpu): the #[percpu] statics need more than the 28672 bytes of static area \
             that the configured unit allows (unit_size 64 KiB (65536 bytes) minus reserved 8 KiB \
             (8192 bytes) and dynamic 28 KiB (28672 bytes), set at {}:3:13 for \
             x86_64-unknown-linux-gnu); raise unit_size, or lower dynamic_reserve or reserved, in \
             percpu.toml",
            fixture.dir.join("percpu.toml").display()
        );
        assert!(stderr.contains(&expected), "{features}: no ERROR(percpu) message in:\n{stderr}");
    }
}

#[test]
fn a_bad_config_fails_the_build_with_file_line_and_column() {
    let _turn = NESTED_BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let fixture = Fixture::prepare();
    let out = fixture.build("bad-config");
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "the build should fail");
    let expected = format!(
        "error: {}:2:13: key `atom_size`: found 3 MiB (3145728 bytes), allowed a power of two",
        fixture.dir.join("bad-percpu.toml").display()
    );
    assert!(stderr.contains(&expected), "no configuration error in:\n{stderr}");
}

#[test]
fn a_program_linked_without_the_fragment_is_told_to_call_configure() {
    let _turn = NESTED_BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let fixture = Fixture::prepare();
    let out = fixture.build("no-fragment");
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "the link should fail");
    assert!(
        stderr.contains("__percpu_start_defined_by_percpu_build_configure"),
        "the undefined symbol names the fix:\n{stderr}"
    );
}

#[test]
fn hot_statics_over_their_budget_fail_the_link_naming_the_key() {
    let _turn = NESTED_BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let fixture = Fixture::prepare();
    let out = fixture.build("hot-over-budget");
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "the link should fail");
    assert!(
        stderr.contains(
            "ERROR(percpu): the #[percpu(hot)] statics need more than the hot budget of 1 cache \
             line(s), 64 bytes, that `hot_lines` in percpu.toml allows"
        ),
        "no ERROR(percpu) message about hot_lines in:\n{stderr}"
    );

    // With `hot_lines = 3` the same statics link, and the program sees the budget.
    let out = fixture.build("hot-budget-raised");
    assert!(out.status.success(), "the link should pass:\n{}", text(&out.stderr));
    let run = Command::new(fixture.binary()).output().expect("run the fixture");
    assert!(text(&run.stdout).contains("hot_lines 3\n"), "{}", text(&run.stdout));

    // inspect shows the class, and that percpu.toml's budget of one line is exceeded.
    let inspection = fixture.inspect();
    let table = inspection.variables.iter().find(|v| v.name == "linkcheck::HOT_TABLE").unwrap();
    assert_eq!(table.class, "hot");
    assert!(table.offset + 64 <= inspection.classes.hot, "{:?}", inspection.classes);
    let report = percpu_build::report::text(&inspection);
    assert!(
        report.contains(&format!(
            "hot data: {} of 64 bytes (hot_lines = 1), EXCEEDED",
            inspection.classes.hot
        )),
        "{report}"
    );
}
