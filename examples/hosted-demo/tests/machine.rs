//! The hosted machine across crates: variables declared in `demo-lib` land in the same
//! template as this crate's, show up in the same registry, and count exactly per CPU; a read
//! before the boot sees the template's value; and the demo binary runs end to end.

use core::sync::atomic::{AtomicU64, Ordering};
use percpu_rt::hosted::{Machine, MachineConfig};
use percpu_rt::{CpuId, PreemptGuard, percpu, template};

#[percpu]
static LOCAL_HITS: u64 = 5;

#[percpu]
static SEEN_BY: AtomicU64 = AtomicU64::new(0);

fn in_template(p: *const u8) -> bool {
    (template::start()..template::end()).contains(&p)
}

#[test]
fn variables_from_two_crates_share_one_template_and_count_exactly() {
    // Before setup: the template's initial values.
    assert_eq!(LOCAL_HITS.read(), 5);
    assert_eq!(demo_lib::CPU_TAG.read(), 7);
    assert_eq!(demo_lib::EVENTS.read(), 0);

    // Both crates' templates are inside `.percpu`, and both are registered.
    assert!(in_template(LOCAL_HITS.per_cpu_ptr() as *const u8));
    assert!(in_template(demo_lib::EVENTS.per_cpu_ptr() as *const u8));
    let names: Vec<(&str, &str)> =
        percpu_rt::registry::variables().iter().map(|v| (v.crate_name(), v.name())).collect();
    for want in [
        ("machine", "LOCAL_HITS"),
        ("demo_lib", "EVENTS"),
        ("demo_lib", "CPU_TAG"),
        ("percpu_rt", "CPU_ID"),
    ] {
        assert!(names.contains(&want), "{want:?} missing from {names:?}");
    }

    let machine = Machine::boot(MachineConfig::new(6)).unwrap();
    machine.run(|cpu| {
        assert_eq!(CpuId::current(), cpu);
        assert_eq!(LOCAL_HITS.read(), 5, "each copy starts from the declared initial value");
        assert_eq!(demo_lib::CPU_TAG.read(), cpu.as_u32() * 100, "demo-lib's initialiser ran");
        for _ in 0..(cpu.as_u32() + 1) * 10_000 {
            LOCAL_HITS.inc();
            demo_lib::record_event();
        }
        let pin = PreemptGuard::new();
        SEEN_BY.get(&pin).store(cpu.as_u32() as u64 + 1, Ordering::Relaxed);
    });
    let mut sum = 0;
    for cpu in percpu_rt::possible_cpus() {
        let n = (cpu.as_u32() as u64 + 1) * 10_000;
        assert_eq!(demo_lib::EVENTS.read_on(cpu), n, "exact per-CPU count");
        assert_eq!(LOCAL_HITS.read_on(cpu), n + 5);
        // Remote reads see the other CPUs' copies.
        assert_eq!(SEEN_BY.remote(cpu).load(Ordering::Relaxed), cpu.as_u32() as u64 + 1);
        sum += n;
    }
    assert_eq!(demo_lib::EVENTS.iter_possible().sum::<u64>(), sum);
    // (This thread is not a CPU: after the boot it reaches per-CPU data only remotely; the
    // template is revoked, see percpu_rt::hosted.)
}

#[test]
fn the_demo_runs_and_prints_the_variable_table() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hosted-demo"))
        .args(["--cpus", "3", "--packets", "2000"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("percpu: Embedded "), "{text}");
    assert!(text.contains("pcpu-alloc: [0] 0 [0] 1 [0] 2"), "{text}");
    assert!(text.contains("sum exact"), "{text}");
    for var in [
        "hosted_demo::PACKETS",
        "demo_lib::EVENTS",
        "demo_lib::CPU_TAG",
        "percpu_rt::runtime_vars::CPU_ID",
    ] {
        assert!(text.contains(var), "{var} missing:\n{text}");
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_hosted-demo"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown argument `--bogus`"));
}

#[test]
fn the_command_line_tool_behaves() {
    let demo = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hosted-demo")).args(args).output().unwrap()
    };
    // --help: the usage on stdout, status 0.
    let help = demo(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage: hosted-demo"));
    assert!(help.stderr.is_empty());
    // Out of range: an error naming the range and the setting, status 2.
    let many = demo(&["--cpus", "17"]);
    assert_eq!(many.status.code(), Some(2));
    let err = String::from_utf8_lossy(&many.stderr);
    assert!(err.contains("--cpus 17: between 1 and 16 (max_cpus in"), "{err}");
    // 16 CPUs: every line of the output fits 100 columns.
    let wide = demo(&["--cpus", "16", "--packets", "100"]);
    assert!(wide.status.success());
    let text = String::from_utf8(wide.stdout).unwrap();
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
    }
    assert!(text.contains("hosted_demo::SCRATCH: [u8; 4096]  [page_aligned]"), "{text}");
}
