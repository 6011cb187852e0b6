//! What the report says about the machine: processor, cores, kernel, clocksource, load,
//! compiler; read from `/proc`, `/sys` and `rustc -V`.

use std::process::Command;

/// The facts, as `(label, value)` lines.
pub fn describe() -> Vec<(&'static str, String)> {
    let read = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_string());
    let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let flags = field("flags").unwrap_or_default();
    let virt =
        if flags.split_whitespace().any(|f| f == "hypervisor") { ", virtual machine" } else { "" };
    let cpu = format!(
        "{} (family {}, model {}{virt}), {} MHz nominal",
        field("model name").unwrap_or_else(|| "unknown".into()),
        field("cpu family").unwrap_or_default(),
        field("model\t").or_else(|| field("model ")).unwrap_or_default(),
        field("cpu MHz").map(|m| m.split('.').next().unwrap_or("").to_string()).unwrap_or_default(),
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = read("/proc/meminfo")
        .and_then(|m| {
            let kb: u64 = m.lines().next()?.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{} GiB", (kb + (1 << 19)) >> 20))
        })
        .unwrap_or_default();
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    vec![
        ("processor", cpu),
        ("cores", format!("{cores} online, {memory} memory")),
        ("kernel", read("/proc/sys/kernel/osrelease").unwrap_or_default()),
        (
            "clock",
            format!(
                "std::time::Instant (clock_gettime(CLOCK_MONOTONIC), vDSO), clocksource {}",
                read("/sys/devices/system/clocksource/clocksource0/current_clocksource")
                    .unwrap_or_else(|| "unknown".into())
            ),
        ),
        (
            "transparent huge pages",
            read("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_else(|| "unknown".into()),
        ),
        ("load average at start", load_average()),
        (
            "compiler",
            format!(
                "{rustc}, release profile (opt-level 3); percpu-rt as a PIE and as a non-PIE \
                 executable (`--cfg percpu_x86_absolute`), ArceOS non-PIE"
            ),
        ),
    ]
}

/// `/proc/loadavg`'s first three fields.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
