//! The hosted demo: a Linux process as a small multi-CPU machine. Threads act as CPUs (each
//! with its own `GS.base`), the first chunk is set up by the same code a kernel runs, every CPU
//! counts packets in its own per-CPU counters with one-instruction operations, and the demo
//! prints the boot dump, the counters, and a table of every registered per-CPU variable (from
//! this crate, from `demo-lib`, and percpu-rt's own) with its offset, size and each CPU's value.
//!
//! `cargo run -p hosted-demo -- [--cpus N] [--packets N] [--page]`

use core::sync::atomic::{AtomicU32, Ordering};
use percpu_rt::hosted::{FirstChunkMode, Machine, MachineConfig};
use percpu_rt::{CpuId, IrqGuard, PreemptGuard, percpu};
use std::process::ExitCode;

/// The layout constants generated from `percpu.toml` by `build.rs` (percpu-build); the demo
/// uses some of them.
#[allow(dead_code)]
mod percpu_layout {
    include!(concat!(env!("OUT_DIR"), "/percpu_layout.rs"));
}

/// Packets this CPU handled: touched on every packet, so in the unit's first cache line.
#[percpu(hot)]
static PACKETS: u64 = 0;

/// Bytes this CPU handled.
#[percpu]
static BYTES: u64 = 0;

/// The last queue this CPU polled (shared: other CPUs look at it, so it gets a cache line of
/// its own, away from the data its CPU writes on every packet).
#[percpu(shared_aligned)]
static LAST_QUEUE: AtomicU32 = AtomicU32::new(u32::MAX);

/// The packet size this CPU expects, set once per CPU and read on every packet.
#[percpu(read_mostly, init = |cpu| 64 + 64 * cpu.as_u32())]
static MIN_PACKET: u32 = 64;

/// Per-CPU scratch statistics, only ever touched by their own CPU.
#[derive(Default)]
struct Burst {
    largest: u32,
    count: u32,
}

impl core::fmt::Debug for Burst {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} bursts, largest {}", self.count, self.largest)
    }
}

#[percpu(local)]
static BURSTS: Burst = Burst { largest: 0, count: 0 };

/// A page of scratch space per CPU (page-aligned: a page of its own in every unit, as a buffer
/// handed to a device page by page would need).
#[percpu(page_aligned, local)]
static SCRATCH: [u8; 4096] = [0; 4096];

struct Options {
    cpus: u32,
    packets: u64,
    mode: FirstChunkMode,
}

/// What the command line asks for.
enum Command {
    Run(Options),
    Help,
}

fn usage() -> String {
    format!(
        "usage: hosted-demo [--cpus N] [--packets N] [--page]\n\n\
         \x20 --cpus N     CPUs (threads) to boot, 1 to {} (max_cpus in \
         examples/hosted-demo/percpu.toml); default 4\n\
         \x20 --packets N  packets each CPU handles; default 100000\n\
         \x20 --page       set up the first chunk page by page instead of embedding it\n\
         \x20 -h, --help   this text",
        percpu_layout::MAX_CPUS
    )
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut opts = Options { cpus: 4, packets: 100_000, mode: percpu_layout::FIRST_CHUNK };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let v = args.next().ok_or_else(|| format!("{name} needs a number"))?;
            v.parse().map_err(|_| format!("{name}: `{v}` is not a number"))
        };
        match arg.as_str() {
            "--cpus" => {
                let n = number("--cpus")?;
                let max = percpu_layout::MAX_CPUS as u64;
                if !(1..=max).contains(&n) {
                    return Err(format!(
                        "--cpus {n}: between 1 and {max} (max_cpus in examples/hosted-demo/percpu.toml)"
                    ));
                }
                opts.cpus = n as u32;
            }
            "--packets" => opts.packets = number("--packets")?,
            "--page" => opts.mode = FirstChunkMode::Page,
            "--help" | "-h" => return Ok(Command::Help),
            other => return Err(format!("unknown argument `{other}`; try --help")),
        }
    }
    Ok(Command::Run(opts))
}

/// What one CPU does: handle its share of packets.
fn handle_packets(cpu: CpuId, packets: u64) {
    let mut burst = 0;
    for i in 0..packets {
        let size = u64::from(MIN_PACKET.read()) + (i % 1400);
        PACKETS.inc();
        BYTES.add(size);
        demo_lib::record_event();
        burst += 1;
        if i % 1000 == 999 {
            let mut irq = IrqGuard::new();
            let b = BURSTS.get_mut(&mut irq);
            b.largest = b.largest.max(burst);
            b.count += 1;
            SCRATCH.get_mut(&mut irq)[(i % 4096) as usize] = burst as u8;
            burst = 0;
        }
    }
    let pin = PreemptGuard::new();
    LAST_QUEUE.get(&pin).store(cpu.as_u32() % 4, Ordering::Relaxed);
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Help) => {
            println!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("hosted-demo: {e}");
            return ExitCode::from(2);
        }
    };

    // Before setup: the boot thread works on the template.
    PACKETS.write(0);
    // The machine follows percpu.toml (its settings are linked in); --page overrides the mode.
    let config = MachineConfig::new(opts.cpus).with_mode(opts.mode);
    let machine = match Machine::boot(config) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("boot failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", machine.dump());
    println!();

    let per_cpu = opts.packets;
    println!("{} CPUs (threads) handle {per_cpu} packets each ...", machine.cpus().len());
    let start = std::time::Instant::now();
    machine.run(|cpu| handle_packets(cpu, per_cpu));
    let elapsed = start.elapsed();

    println!();
    println!("{:>5} {:>12} {:>14} {:>10}", "cpu", "packets", "bytes", "events");
    for cpu in percpu_rt::possible_cpus() {
        println!(
            "{:>5} {:>12} {:>14} {:>10}",
            cpu,
            PACKETS.read_on(cpu),
            BYTES.read_on(cpu),
            demo_lib::EVENTS.read_on(cpu)
        );
    }
    let total: u64 = PACKETS.iter_possible().sum();
    let bytes: u64 = BYTES.iter_possible().sum();
    println!("{:>5} {total:>12} {bytes:>14}", "total");
    let ok = total == per_cpu * machine.cpus().len() as u64;
    println!(
        "{} packets in {:.1} ms, {:.1} ns a packet per CPU (3 per-CPU updates); sum {}",
        total,
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e9 / per_cpu.max(1) as f64,
        if ok { "exact" } else { "WRONG" }
    );

    println!();
    print_variables();
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Columns the variable table fits in.
const WIDTH: usize = 100;
/// Longest value shown in full; longer ones are cut with `…`.
const LONGEST_VALUE: usize = 24;

/// Every registered per-CPU variable (this crate's, `demo-lib`'s, percpu-rt's own), one block
/// each: offset, size, type, name and class, then every CPU's value, as many per line as fit.
fn print_variables() {
    println!(
        "registered per-CPU variables ({} bytes of template), each CPU's value:",
        percpu_rt::template::static_size()
    );
    let cpus: Vec<CpuId> = percpu_rt::possible_cpus().collect();
    let mut vars: Vec<_> = percpu_rt::registry::variables().iter().collect();
    vars.sort_by_key(|v| v.offset());
    for v in vars {
        let class = v.class().name();
        let class = if class.is_empty() { String::new() } else { format!("  [{class}]") };
        println!(
            "{:#06x} {:>5} B  {}::{}: {}{class}",
            v.offset(),
            v.size(),
            v.module_path(),
            v.name(),
            v.declared_type()
        );
        let values: Vec<String> = cpus
            .iter()
            .map(|&cpu| {
                // SAFETY: every CPU thread has finished; nothing mutates any copy now.
                let shown =
                    unsafe { v.debug_on(cpu) }.map_or_else(|| "-".into(), |d| d.to_string());
                abbreviate(&shown)
            })
            .collect();
        let cpu_w = cpus.last().map_or(1, |c| c.to_string().len());
        let value_w = values.iter().map(|v| v.chars().count()).max().unwrap_or(1);
        let cell = 4 + cpu_w + 1 + value_w + 2;
        let per_line = ((WIDTH - 8) / cell).max(1);
        for line in cpus.iter().zip(&values).collect::<Vec<_>>().chunks(per_line) {
            let mut text = String::from("       ");
            for (cpu, value) in line {
                text += &format!(" cpu{:<cpu_w$} {value:>value_w$} ", cpu.to_string());
            }
            println!("{}", text.trim_end());
        }
    }
}

/// `value`, cut to [`LONGEST_VALUE`] characters with `…` when longer.
fn abbreviate(value: &str) -> String {
    if value.chars().count() <= LONGEST_VALUE {
        value.to_string()
    } else {
        let kept: String = value.chars().take(LONGEST_VALUE - 1).collect();
        format!("{kept}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Result<Command, String> {
        parse_args(line.split_whitespace().map(String::from))
    }

    #[test]
    fn the_command_line() {
        assert!(matches!(args("--help"), Ok(Command::Help)));
        assert!(matches!(args("-h"), Ok(Command::Help)));
        let Ok(Command::Run(o)) = args("--cpus 8 --packets 10 --page") else { panic!() };
        assert_eq!((o.cpus, o.packets, o.mode), (8, 10, FirstChunkMode::Page));
        let max = percpu_layout::MAX_CPUS;
        for bad in ["--cpus 0".to_string(), format!("--cpus {}", max + 1)] {
            let err = args(&bad).err().unwrap();
            assert!(err.contains(&format!("between 1 and {max}")), "{err}");
        }
        assert!(args("--cpus").err().unwrap().contains("needs a number"));
        assert!(args("--packets many").err().unwrap().contains("is not a number"));
        assert!(args("--frobnicate").err().unwrap().contains("try --help"));
    }

    #[test]
    fn long_values_are_cut() {
        assert_eq!(abbreviate("12345"), "12345");
        let long = format!("{:?}", [0u8; 64]);
        let cut = abbreviate(&long);
        assert_eq!(cut.chars().count(), LONGEST_VALUE);
        assert!(cut.ends_with('…'));
    }
}
