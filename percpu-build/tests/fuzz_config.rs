//! Fuzzing the configuration reader, deterministically (tests/fuzz/mod.rs): the corpus of
//! tests/configs mutated byte by byte, line by line and value by value, random documents, deep
//! nesting and long tokens, for several targets. Every case must give a configuration (whose
//! generated constants, linker fragments and unit layouts are then computed too) or a
//! one-line error with a line and column (or naming the default involved), within the case
//! limit and without a panic.

mod fuzz;

use fuzz::{Budget, Case, Rng};
use percpu_build::unit::unit_layout;
use percpu_build::{Config, TargetCfg, gen_ld, gen_rust};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

const TARGETS: [&str; 7] = [
    "riscv64gc-unknown-none-elf",
    "x86_64-unknown-none",
    "x86_64-unknown-none",
    "aarch64-unknown-none",
    "x86_64-unknown-linux-gnu",
    "i686-unknown-linux-gnu",
    "msp430-none-elf",
];

const KEYS: [&str; 19] = [
    "page_size",
    "atom_size",
    "reserved",
    "dynamic_reserve",
    "early_reserve",
    "min_unit_size",
    "unit_size",
    "max_alloc_size",
    "max_cpus",
    "first_chunk",
    "base_register",
    "empty_pages_low",
    "empty_pages_high",
    "target",
    "atom",
    "page-size",
    "PAGE_SIZE",
    "'max_cpus'",
    "a.b",
];

const VALUES: [&str; 48] = [
    "0",
    "1",
    "-1",
    "4",
    "4096",
    "0x1000",
    "0o777",
    "0b1",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "8192",
    "8193",
    "65536",
    "65537",
    "\"4294967296 GiB\"",
    "\"17179869184 GiB\"",
    "\"17179869183 GiB\"",
    "\"1 GiB\"",
    "\"1025 MiB\"",
    "\"2 MiB\"",
    "\"256 KiB\"",
    "\"4 KiB\"",
    "\"1 KiB\"",
    "\"0 B\"",
    "\"4 kB\"",
    "\"1.5 MiB\"",
    "\"\"",
    "\"GiB\"",
    "\"99999999999999999999 B\"",
    "true",
    "1e3",
    "nan",
    "-inf",
    "1979-05-27",
    "1979-05-27T07:32:00Z",
    "[]",
    "[1, [2]]",
    "{}",
    "{ a = 1 }",
    "\"embed\"",
    "\"page\"",
    "\"auto\"",
    "\"el1\"",
    "\"el2\"",
    "\"gp\"",
    "\"tp\"",
    "'''multi\nline'''",
];

const HEADERS: [&str; 16] = [
    "[target.x86_64-unknown-none]",
    "[target.aarch64-unknown-none]",
    "[target.i686-unknown-linux-gnu]",
    "[target.'cfg(target_arch = \"x86_64\")']",
    "[target.'cfg(target_arch = \"aarch64\")']",
    "[target.'cfg(unix)']",
    "[target.'cfg(all(target_pointer_width = \"64\", not(unix)))']",
    "[target.'cfg(any())']",
    "[target.'cfg(target_arch = \"x86-64\")']",
    "[target.'cfg(']",
    "[target.x86_64-none]",
    "[target]",
    "[[target]]",
    "[target.a.b.c]",
    "[other]",
    "[",
];

/// The corpus: every `.toml` of tests/configs, good and bad.
fn corpus() -> &'static [String] {
    static CORPUS: OnceLock<Vec<String>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs");
        let mut files = Vec::new();
        for dir in ["good", "bad"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "toml") {
                    files.push(std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        files.sort();
        assert!(files.len() > 40, "the corpus is missing: {} files", files.len());
        files
    })
}

/// A configuration case: the text (possibly not UTF-8) and the target.
struct Input {
    bytes: Vec<u8>,
    target: &'static str,
}

fn line(r: &mut Rng) -> String {
    match r.below(10) {
        0 => r.pick(&HEADERS).to_string(),
        1 => format!("# {}", r.pick(&VALUES)),
        2 => String::new(),
        3 => format!("{}.{} = {}", r.pick(&KEYS), r.pick(&KEYS), r.pick(&VALUES)),
        4 => format!("{} = {}", r.pick(&KEYS), r.pick(&VALUES)),
        _ => {
            let key = KEYS[r.below(13)];
            format!("{key} = {}", r.pick(&VALUES))
        }
    }
}

/// A random document of a few lines.
fn document(r: &mut Rng) -> String {
    (0..1 + r.below(12)).map(|_| line(r) + "\n").collect()
}

/// A document of plausible values for real keys, in the top level and target tables: most are
/// accepted, so that the generated files and unit layouts are exercised too.
fn plausible(r: &mut Rng) -> String {
    const SIZES: [&str; 12] = [
        "0",
        "4096",
        "\"4 KiB\"",
        "\"16 KiB\"",
        "\"20 KiB\"",
        "\"28 KiB\"",
        "\"32 KiB\"",
        "\"64 KiB\"",
        "\"256 KiB\"",
        "\"2 MiB\"",
        "\"512 MiB\"",
        "\"1 GiB\"",
    ];
    let mut text = String::new();
    for _ in 0..1 + r.below(6) {
        if r.chance(1, 6) {
            text.push_str(HEADERS[r.below(8)]);
            text.push('\n');
        }
        let key = KEYS[r.below(13)];
        let value = match key {
            "max_cpus" => r.pick(&["1", "4", "64", "8192"]).to_string(),
            "empty_pages_low" | "empty_pages_high" => r.below(10).to_string(),
            "first_chunk" => r.pick(&["\"embed\"", "\"page\"", "\"auto\""]).to_string(),
            "base_register" => r.pick(&["\"el1\"", "\"el2\"", "\"gp\"", "\"tp\""]).to_string(),
            "page_size" => r.pick(&["\"4 KiB\"", "\"16 KiB\"", "\"64 KiB\""]).to_string(),
            _ => r.pick(&SIZES).to_string(),
        };
        text.push_str(&format!("{key} = {value}\n"));
    }
    text
}

/// Nesting of every kind, up to a few hundred levels (up to `toml`'s own limits: 80 inline
/// tables each holding a 79-part dotted key), sometimes after other lines.
fn nesting(r: &mut Rng) -> String {
    let limit = if r.chance(1, 4) { 400 } else { 16 };
    let depth = 1 + r.below(limit);
    let key = r.pick(&KEYS[..13]).to_string();
    let deep = match r.below(5) {
        0 => format!("{key} = {}1{}", "[".repeat(depth), "]".repeat(depth)),
        1 => format!("{key} = {}1{}", "{ a = ".repeat(depth), " }".repeat(depth)),
        2 => format!("{} = 1", vec!["k"; depth].join(".")),
        3 => format!("[{}]\n{key} = 1", vec!["target"; depth].join(".")),
        _ => {
            let parts = if r.chance(1, 4) { 79 } else { 1 + r.below(12) };
            let dotted = vec!["k"; parts].join(".");
            let depth = depth.min(80);
            format!("x = {}1{}", format!("{{ {dotted} = ").repeat(depth), " }".repeat(depth))
        }
    };
    if r.chance(1, 3) { document(r) + &deep } else { deep }
}

/// One long token: a key, a string, a number, a header or a comment.
fn long_token(r: &mut Rng) -> String {
    let limit = if r.chance(1, 8) { 65_536 } else { 4096 };
    let n = 1 + r.below(limit);
    match r.below(5) {
        0 => format!("{} = 1", "k".repeat(n)),
        1 => format!("page_size = \"{}\"", "9".repeat(n)),
        2 => format!("max_cpus = {}", "1".repeat(n)),
        3 => format!("[target.{}]\nmax_cpus = 1", "x".repeat(n)),
        _ => format!("# {}\nmax_cpus = 4", "é".repeat(n)),
    }
}

/// Byte-level mutations of `text`.
fn mutate_bytes(r: &mut Rng, text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + r.below(4) {
        let at = r.below(bytes.len() + 1);
        match r.below(6) {
            0 if at < bytes.len() => bytes[at] ^= 1 << r.below(8),
            1 => bytes.insert(at, *r.pick(b"[]{}=.\"'#\n \\,0x-")),
            2 => bytes.truncate(at),
            3 if at < bytes.len() => {
                let end = (at + r.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            4 => {
                let end = (at + r.below(32)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                let to = r.below(bytes.len() + 1);
                bytes.splice(to..to, copy);
            }
            _ => bytes.insert(at, r.next_u64() as u8),
        }
    }
    bytes
}

/// Line-level mutations of `text`: a value replaced, a line inserted, removed or duplicated.
fn mutate_lines(r: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..1 + r.below(3) {
        let at = r.below(lines.len() + 1);
        match r.below(4) {
            0 if at < lines.len() => {
                if let Some(eq) = lines[at].find('=') {
                    let value = r.pick(&VALUES);
                    lines[at] = format!("{}= {value}", &lines[at][..eq]);
                }
            }
            1 if at < lines.len() => {
                lines.remove(at);
            }
            2 if at < lines.len() => {
                let copy = lines[at].clone();
                lines.insert(at, copy);
            }
            _ => {
                let new = line(r);
                lines.insert(at, new);
            }
        }
    }
    lines.join("\n") + "\n"
}

fn generate(r: &mut Rng) -> Case<Input> {
    let target = *r.pick(&TARGETS);
    let (how, bytes) = match r.below(24) {
        20..=23 => ("plausible values", plausible(r).into_bytes()),
        0..=5 => {
            let base = r.pick(corpus());
            ("corpus file, bytes mutated", mutate_bytes(r, base))
        }
        6..=11 => {
            let base = r.pick(corpus());
            ("corpus file, lines mutated", mutate_lines(r, base).into_bytes())
        }
        12..=15 => ("random document", document(r).into_bytes()),
        16..=17 => ("nesting", nesting(r).into_bytes()),
        18 => ("long token", long_token(r).into_bytes()),
        _ => {
            let doc = document(r);
            ("random document, bytes mutated", mutate_bytes(r, &doc))
        }
    };
    let shown = String::from_utf8_lossy(&bytes);
    let preview: String = shown.chars().take(300).collect();
    let description = format!("{how}, for {target}: {preview:?}");
    Case { input: Input { bytes, target }, description }
}

fn check(input: &Input) -> Result<&'static str, String> {
    let target = TargetCfg::builtin(input.target).unwrap();
    let result = match std::str::from_utf8(&input.bytes) {
        Ok(text) => Config::parse(text, "fuzz.toml", &target),
        Err(_) => {
            // Through the file reader, which locates the first byte that is not UTF-8.
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-config");
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{:?}.toml", std::thread::current().id()));
            std::fs::write(&path, &input.bytes).unwrap();
            return match Config::load(&path, &target) {
                Err(e) if e.position().is_some() => Ok("located errors (not UTF-8)"),
                Err(e) => Err(format!("no position: {e}")),
                Ok(_) => Err("a file that is not UTF-8 accepted".to_string()),
            };
        }
    };
    match result {
        Ok(config) => {
            // What the build script does with an accepted configuration.
            gen_rust::generate(&config);
            gen_ld::generate(&config, Some(gen_ld::DEFAULT_INSERT_AFTER));
            config.settings();
            for static_size in [4096, 1 << 40, usize::MAX] {
                let cpus = config.max_cpus().min(64);
                if let Err(e) = unit_layout(&config, static_size, cpus) {
                    let text = e.to_string();
                    if text.is_empty() || text.contains('\n') {
                        return Err(format!("unit layout error not one line: {text:?}"));
                    }
                }
            }
            Ok("configurations")
        }
        Err(e) => {
            let text = e.to_string();
            if text.contains('\n') {
                return Err(format!("a message of several lines: {text:?}"));
            }
            if !text.starts_with("fuzz.toml") {
                return Err(format!("a message without the file: {text:?}"));
            }
            match e.position() {
                Some(_) => Ok("located errors"),
                None if text.contains("(the default") => Ok("errors about a default"),
                None => Err(format!("neither a position nor the default involved: {text:?}")),
            }
        }
    }
}

#[test]
fn configurations_give_a_config_or_a_located_error() {
    let budget = Budget::from_env(0x5EED_C0F1, 5000, Duration::from_secs(10));
    let summary = fuzz::run("fuzz_config", budget, generate, check, |i| i.bytes.clone());
    assert!(summary.cases >= 500, "only {} cases ran in the time budget", summary.cases);
}
