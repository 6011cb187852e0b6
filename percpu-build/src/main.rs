//! The `percpu-build` command: parses the arguments, calls [`percpu_build::inspect::run`], and
//! prints the result as text or JSON. Exit status: 0 on success, 2 on any error (bad usage, a
//! file that cannot be inspected, an invalid configuration).

use percpu_build::inspect::{self, InspectOptions};
use percpu_build::report;
use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "\
usage: percpu-build inspect <ELF> [--json] [--config <percpu.toml>] [--target <triple>] [--cpus N]

Prints the per-CPU layout of a linked x86_64, aarch64, riscv64 or loongarch64 ELF file: the static
size, every #[percpu] variable (crate, offset, size, alignment), the padding between them, and the
unit layout the target's configuration gives it.

options:
  --json                 print the same data as JSON
  --config <percpu.toml> lay the unit out with this configuration (default: Linux's defaults)
  --target <triple>      resolve the configuration for this target (default: guessed from the
                         file: *-unknown-linux-gnu if it has a dynamic loader, else *-unknown-none)
  --cpus <N>             possible CPUs (default: max_cpus of the configuration)
  -h, --help             print this help
  -V, --version          print the version";

enum Command {
    Help,
    Version,
    Inspect { options: InspectOptions, json: bool },
}

fn parse_args() -> Result<Command, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let mut subcommand = None;
    let mut options = InspectOptions::default();
    let mut file = None;
    let mut json = false;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("json") => json = true,
            Long("config") => options.config = Some(parser.value()?.into()),
            Long("target") => options.target = Some(parser.value()?.string()?),
            Long("cpus") => options.cpus = Some(parser.value()?.parse()?),
            Value(v) if subcommand.is_none() => {
                let name = v.string()?;
                if name != "inspect" {
                    return Err(
                        format!("unknown command `{name}`: the command is `inspect`").into()
                    );
                }
                subcommand = Some(name);
            }
            Value(v) if file.is_none() => file = Some(v),
            _ => return Err(arg.unexpected()),
        }
    }
    if subcommand.is_none() {
        return Err("missing the command: `inspect`".into());
    }
    options.file = file.ok_or("missing the ELF file to inspect")?.into();
    Ok(Command::Inspect { options, json })
}

fn main() -> ExitCode {
    let (options, json) = match parse_args() {
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("percpu-build {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Inspect { options, json }) => (options, json),
        Err(e) => {
            eprintln!("percpu-build: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let inspection = match inspect::run(&options) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("percpu-build: error: {e}");
            return ExitCode::from(2);
        }
    };
    let text = if json {
        match serde_json::to_string_pretty(&inspection) {
            Ok(mut t) => {
                t.push('\n');
                t
            }
            Err(e) => {
                eprintln!("percpu-build: error: cannot encode JSON: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        report::text(&inspection)
    };
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}
