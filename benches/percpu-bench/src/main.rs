//! `percpu-bench`: percpu-rt measured in hosted mode (threads act as CPUs, `GS.base` set per
//! thread), for issue 7. Normally run by `bench-report` (`./scripts/bench.sh`), which combines
//! its results with `arceos-bench`'s; run alone it prints `@bench` lines (see
//! `bench_harness::record`) and progress on standard error.
//!
//! ```text
//! percpu-bench ops    [--quick]            current-CPU ops against the baselines; scaling
//! percpu-bench remote --cpus N [--quick]   summing a per-CPU counter over N possible CPUs
//! percpu-bench setup  --cpus N [--quick]   first-chunk setup for N possible CPUs
//! percpu-bench facilities [--quick]        PerCpuCounter and PerCpuRef against atomics, 1-2 CPUs
//! percpu-bench facilities-sum --cpus N [--quick]   PerCpuCounter read/sum/compare, N CPUs
//! ```
//!
//! A hosted machine boots once per process, so each CPU count is its own process.

mod addressing;
#[path = "../../common/baselines.rs"]
mod baselines;
mod facilities;
mod ops;
mod remote;
mod setup;

use bench_harness::Effort;
use std::process::ExitCode;

const USAGE: &str = "usage: percpu-bench ops [--quick]\n       percpu-bench remote --cpus N \
                     [--quick]\n       percpu-bench setup --cpus N [--quick]\n       percpu-bench \
                     facilities [--quick]\n       percpu-bench facilities-sum --cpus N [--quick]";

/// A machine of `cpus` possible CPUs: the linked settings (Linux's defaults, no
/// `percpu.toml`), with `max_cpus` raised to fit (Linux's default, 64, is below the 1024
/// possible CPUs of the remote and sum benchmarks).
pub(crate) fn machine_of(cpus: u32) -> percpu_rt::hosted::MachineConfig {
    let settings = percpu_rt::Settings {
        max_cpus: percpu_rt::Settings::linked().max_cpus.max(cpus as usize),
        ..percpu_rt::Settings::linked()
    };
    percpu_rt::hosted::MachineConfig::with_settings(cpus, settings)
}

/// The parsed command line.
struct Args {
    command: String,
    cpus: Option<u32>,
    effort: Effort,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let command = args.next().ok_or_else(|| USAGE.to_string())?;
    let mut parsed = Args { command, cpus: None, effort: Effort::FULL };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => parsed.effort = Effort::QUICK,
            "--cpus" => {
                let v = args.next().ok_or("--cpus needs a number")?;
                let n: u32 = v.parse().map_err(|_| format!("--cpus: `{v}` is not a number"))?;
                if n == 0 {
                    return Err("--cpus: at least 1".into());
                }
                parsed.cpus = Some(n);
            }
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = match (args.command.as_str(), args.cpus) {
        ("ops", None) => ops::run(&args.effort),
        ("remote", Some(n)) => remote::run(n, &args.effort),
        ("setup", Some(n)) => setup::run(n, &args.effort),
        ("facilities", None) => facilities::run(&args.effort),
        ("facilities-sum", Some(n)) => facilities::run_sum(n, &args.effort),
        ("remote" | "setup" | "facilities-sum", None) => {
            Err(format!("{} needs --cpus N", args.command))
        }
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("percpu-bench {}: {e}", args.command);
            ExitCode::FAILURE
        }
    }
}
