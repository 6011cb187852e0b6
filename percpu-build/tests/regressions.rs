//! The inputs of issue 11 ("the tools must meet every bad input with a one-line located error;
//! never hang, never panic"), each a named test that failed (panicked, hung or gave no
//! position) before the fix. Hangs are caught by a deadline: the command is killed, or the
//! library call abandoned, and the test fails.

mod common;

use common::{AARCH64, SampleVar, X86_64, build, put_u64, symbol_value_at, temp_file};
use percpu_build::inspect::{InspectError, InspectOptions, inspect_data};
use percpu_build::{Config, ConfigError, ErrorKind, Position, TargetCfg};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any of these may take (the old code took minutes, or forever).
const DEADLINE: Duration = Duration::from_secs(20);

/// Runs `f` on another thread and fails if it has not answered by the deadline.
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(DEADLINE).unwrap_or_else(|e| panic!("no answer within {DEADLINE:?}: {e}"))
}

/// Runs `percpu-build inspect <file> <extra>`, killing it at the deadline; returns the exit
/// status and standard error, after checking that it printed nothing on standard output.
fn inspect_command(file: &std::path::Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_percpu-build"))
        .arg("inspect")
        .arg(file)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("percpu-build inspect {} ran past {DEADLINE:?}", file.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    assert!(stdout.is_empty(), "{}", String::from_utf8_lossy(&stdout));
    (status.code(), reader.join().unwrap())
}

/// Checks the command failed the way every bad file must: status 2, one line, no panic.
fn fails_with_one_line(file: &std::path::Path, extra: &[&str]) -> String {
    let (code, stderr) = inspect_command(file, extra);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

fn kernel() -> Vec<u8> {
    let vars = [
        SampleVar::new("kernel", "RUNQUEUE_LEN", "usize", 0, 8),
        SampleVar::new("kernel", "TICKS", "u32", 8, 4),
    ];
    build(AARCH64, false, 16, &vars)
}

fn x86_64() -> TargetCfg {
    TargetCfg::builtin("x86_64-unknown-none").unwrap()
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    let text = text.to_string();
    within(move || Config::parse(&text, "percpu.toml", &x86_64()))
}

fn at(line: usize, column: usize) -> Option<Position> {
    Some(Position { line, column })
}

// Item 1: `atom_size = "4294967296 GiB"` hung `Config::parse` and so the build script.

#[test]
fn item1_an_atom_of_4294967296_gib_is_refused_at_once() {
    let e = parse("atom_size = \"4294967296 GiB\"\n").unwrap_err();
    assert_eq!(e.position(), at(1, 13));
    assert_eq!(
        e.to_string(),
        "percpu.toml:1:13: key `atom_size`: found 4294967296 GiB (4611686018427387904 bytes), \
         allowed at most 1 GiB: the largest huge page (1 GiB on x86_64 and aarch64); the first \
         chunk is allocated in whole atoms, so a larger atom only wastes memory"
    );
    // 2^44 and 2^46 bytes took seconds; each size key has its bound.
    for (key, value) in [
        ("atom_size", "16384 GiB"),
        ("atom_size", "65536 GiB"),
        ("page_size", "1 GiB"),
        ("reserved", "2 GiB"),
        ("dynamic_reserve", "2 GiB"),
        ("early_reserve", "2 GiB"),
        ("min_unit_size", "2 GiB"),
        ("unit_size", "2 GiB"),
        ("max_alloc_size", "2 GiB"),
    ] {
        let e = parse(&format!("{key} = \"{value}\"")).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::SizeOutOfRange { .. }), "{e}");
        assert_eq!(e.key(), Some(key));
    }
}

#[test]
fn item1_the_build_script_path_answers_at_once_through_inspect() {
    let elf = temp_file("item1.elf", &kernel());
    let config = temp_file("item1-percpu.toml", b"atom_size = \"4294967296 GiB\"\n");
    let err = fails_with_one_line(&elf, &["--config", config.to_str().unwrap()]);
    assert!(err.contains("item1-percpu.toml:1:13: key `atom_size`: found 4294967296 GiB"), "{err}");
}

// Item 2: `__percpu_end` patched to 0x1000000000000000 made `inspect` exit 101 (the layout
// arithmetic overflowed: a panic in debug builds, overlapping groups in release builds).

#[test]
fn item2_a_static_size_beyond_the_address_space_is_a_layout_error() {
    let mut file = kernel();
    let at = symbol_value_at(&file, "__percpu_end");
    put_u64(&mut file, at, 0x1000_0000_0000_0000);
    let opts = InspectOptions::default();
    let e = within(move || inspect_data("patched.elf", &file, &opts)).unwrap_err();
    assert!(matches!(e, InspectError::Layout { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "patched.elf: no unit layout holds its 1152921504606838784 bytes of static per-CPU data \
         (__percpu_end - __percpu_start): 64 units of 1152921504606875648 bytes do not fit the \
         address space; lower the static, reserved or dynamic size, or the number of possible \
         CPUs"
    );
}

#[test]
fn item2_the_command_exits_2_not_101() {
    let mut file = kernel();
    let at = symbol_value_at(&file, "__percpu_end");
    put_u64(&mut file, at, 0x1000_0000_0000_0000);
    let path = temp_file("item2.elf", &file);
    let err = fails_with_one_line(&path, &[]);
    assert!(err.contains("do not fit the address space"), "{err}");
}

// Item 3: a registry end symbol of 0x7fffffffffff looped without end (2.8 GB resident after
// 10 s); a huge `p_offset` panicked with "attempt to add with overflow" in elf.rs.

#[test]
fn item3_a_registry_end_of_0x7fffffffffff_is_refused() {
    let mut file = kernel();
    let at = symbol_value_at(&file, "__percpu_registry_end");
    put_u64(&mut file, at, 0x7fff_ffff_ffff);
    let path = temp_file("item3-registry.elf", &file);
    let err = fails_with_one_line(&path, &[]);
    assert!(
        err.ends_with(
            "item3-registry.elf: a malformed ELF file: the registry [0x3000, 0x7fffffffffff) \
             from its bound symbols is not inside the .percpu_registry section at 0x3000 (224 \
             bytes); the file is truncated or corrupted, rebuild it\n"
        ),
        "{err}"
    );
    // Without the section to bound it, the file does: the range is not stored in it.
    let name_at = common::SHDRS as usize + 3 * common::SHDR_SIZE; // .percpu_registry's sh_name
    file[name_at..name_at + 4].copy_from_slice(&0u32.to_le_bytes());
    let opts = InspectOptions::default();
    let e = within(move || inspect_data("unnamed.elf", &file, &opts)).unwrap_err();
    assert!(e.to_string().contains("is not stored in the file"), "{e}");
}

#[test]
fn item3_a_huge_p_offset_is_refused() {
    for (field, value) in [(8, u64::MAX - 0xfff), (8, 1 << 62), (32, u64::MAX), (16, u64::MAX)] {
        // p_offset, p_filesz, p_vaddr of the PT_LOAD.
        let mut file = kernel();
        put_u64(&mut file, common::PHDR + field, value);
        let path = temp_file(&format!("item3-phdr-{field}-{value:x}.elf"), &file);
        let err = fails_with_one_line(&path, &[]);
        assert!(err.contains(": a malformed ELF file: program header 0 (PT_LOAD) "), "{err}");
    }
}

#[test]
fn item3_every_read_of_a_corrupted_registry_is_checked() {
    // Descriptor words pointing anywhere, lengths of any size: notes, never a panic.
    for value in [0, 1, u64::MAX, u64::MAX - 7, 0x7fff_ffff_ffff, 1 << 63] {
        for word in 0..12 {
            let mut file = build(X86_64, false, 16, &[SampleVar::new("k", "X", "u64", 0, 8)]);
            put_u64(&mut file, common::REGISTRY as usize + 8 * word, value);
            let opts = InspectOptions { cpus: Some(2), ..Default::default() };
            match within(move || inspect_data("words.elf", &file, &opts)) {
                Ok(i) => assert!(i.variables.len() <= 1),
                Err(e) => assert_eq!(e.to_string().lines().count(), 1, "{e}"),
            }
        }
    }
}

// Item 4: errors without a place.

#[test]
fn item4_a_dotted_key_past_the_recursion_limit_is_located() {
    // toml said "TOML syntax error: recursion limit", with no line or column.
    let key = vec!["a"; 100].join(".");
    let e = parse(&format!("max_cpus = 4\n{key} = 1\n")).unwrap_err();
    assert_eq!(e.position(), at(2, 17), "{e}");
    assert_eq!(e.kind(), &ErrorKind::TooDeep { max: 8 });
    assert!(e.to_string().starts_with("percpu.toml:2:17: found a value nested more than 8"));
}

#[test]
fn item4_deep_nesting_is_located_and_does_not_overflow_the_stack() {
    // 80 inline tables of 79-part dotted keys: a 6320-level tree overflowed the test's stack.
    let key = vec!["k"; 79].join(".");
    let mut text = String::from("x = ");
    for _ in 0..80 {
        text.push_str(&format!("{{ {key} = "));
    }
    text.push('1');
    text.push_str(&" }".repeat(80));
    let e = parse(&text).unwrap_err();
    assert_eq!(e.position(), at(1, 21), "{e}");
    for deep in [format!("a = {}", "[".repeat(100_000)), format!("a = {}", "{b = ".repeat(50_000))]
    {
        let e = parse(&deep).unwrap_err();
        assert!(e.position().is_some(), "{e}");
    }
}

#[test]
fn item4_empty_pages_high_set_alone_is_blamed_with_the_default_low_mark() {
    // It blamed the unset `empty_pages_low`, with no position.
    let e = parse("max_cpus = 4\nempty_pages_high = 1\n").unwrap_err();
    assert_eq!(e.position(), at(2, 20));
    assert_eq!(e.key(), Some("empty_pages_high"));
    assert_eq!(
        e.to_string(),
        "percpu.toml:2:20: key `empty_pages_high`: found 1, allowed at least empty_pages_low = 2 \
         (the default); the allocator populates pages when fewer than empty_pages_low are free \
         and releases them above empty_pages_high: raise empty_pages_high, or set \
         empty_pages_low below it"
    );
    // Both set: the low mark is blamed, with where the high one is.
    let e = parse("empty_pages_low = 8\nempty_pages_high = 4\n").unwrap_err();
    assert_eq!((e.position(), e.key()), (at(1, 19), Some("empty_pages_low")));
}

#[test]
fn item4_a_file_that_is_not_utf8_is_located() {
    let path = temp_file("latin1-percpu.toml", b"max_cpus = 4\n# caf\xe9\n");
    let e = Config::load(&path, &x86_64()).unwrap_err();
    assert_eq!(e.position(), at(2, 6));
    assert!(e.to_string().ends_with(":2:6: found the byte 0xe9, which is not UTF-8; allowed a UTF-8 text file, as TOML requires: save percpu.toml as UTF-8"), "{e}");
}

#[test]
fn item4_an_unknown_triple_of_a_megabyte_is_answered_at_once() {
    // Its "did you mean" compared it with every built-in triple, character by character.
    let text = format!("[target.{}]\nmax_cpus = 4\n", "x".repeat(1 << 20));
    let e = parse(&text).unwrap_err();
    assert_eq!(e.position(), at(1, 9));
    assert!(matches!(e.kind(), ErrorKind::UnknownTriple { suggestion: None }), "{e}");
}

#[test]
fn item4_all_sizes_zero_is_an_error_not_a_division_by_zero() {
    let text = "reserved = 0\ndynamic_reserve = 0\nearly_reserve = 0\nmin_unit_size = 0\n";
    let e = parse(text).unwrap_err();
    assert_eq!(e.position(), at(4, 17));
    assert!(e.to_string().contains("a unit would be empty"), "{e}");
}

// Found with the above: files without an end.

#[test]
#[cfg(unix)]
fn devices_and_huge_files_are_refused_not_read_forever() {
    let dev_zero = std::path::Path::new("/dev/zero");
    let err = fails_with_one_line(dev_zero, &[]);
    assert_eq!(
        err,
        "percpu-build: error: /dev/zero: cannot read: not a regular file (a directory, device or \
         pipe); give the linked ELF file\n"
    );
    let e = within(|| Config::load(std::path::Path::new("/dev/zero"), &x86_64())).unwrap_err();
    assert!(e.to_string().contains("it has more than 1 MiB"), "{e}");
    let big = temp_file("big-percpu.toml", &vec![b'#'; (1 << 20) + 1]);
    let e = Config::load(&big, &x86_64()).unwrap_err();
    assert!(e.to_string().contains("it has more than 1 MiB"), "{e}");
    let just_fits = temp_file("fits-percpu.toml", &vec![b'#'; 1 << 20]);
    assert!(Config::load(&just_fits, &x86_64()).is_ok());
}
