//! One boot of a kernel under QEMU: the command line, and a run under a deadline.
//!
//! QEMU runs with TCG (QEMU's default; TOOLCHAIN.md: the machine's `/dev/kvm` cannot run a real
//! kernel), standard input from `/dev/null` (so `-nographic` does not take a terminal), the
//! serial console on standard output. When the deadline passes QEMU is killed and the run
//! reports a timeout with what was printed so far.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::Kernel;

/// QEMU's firmware for x86_64: qboot boots the PVH kernel quickly and prints nothing.
pub const QBOOT: &str = "/usr/share/qemu/qboot.rom";

/// QEMU virt's default interrupt controller, GICv2, has room for this many CPUs; more need
/// `gic-version=3` (the kernels never touch the GIC, so either works for them).
pub const GICV2_MAX_CPUS: u32 = 8;

/// Memory for every boot: enough for 64 CPUs in either first-chunk mode (4 MiB heap, 64 KiB
/// stack per CPU, the first chunk and the dynamic chunks; about 120 MiB stay free).
pub const MEMORY: &str = "128M";

/// One boot.
#[derive(Debug, Clone)]
pub struct Boot {
    /// Which kernel build.
    pub kernel: Kernel,
    /// Its ELF file.
    pub elf: PathBuf,
    /// `-smp N`: the CPUs present at boot.
    pub cpus: u32,
    /// `-smp N,maxcpus=M`: the possible CPUs, when more than the present ones (QEMU's
    /// hot-pluggable maximum; the x86_64 MADT lists them, the aarch64 virt device tree does
    /// not).
    pub max_cpus: Option<u32>,
    /// More of `-smp`, e.g. `sockets=2,cores=3` (a topology with gaps between APIC ids).
    pub topology: Option<String>,
    /// aarch64: `-M virt,virtualization=on` (the CPUs start at EL2).
    pub virtualization: bool,
    /// x86_64: `-machine acpi=off` (no ACPI tables: the kernel counts CPUs through fw_cfg).
    pub no_acpi: bool,
    /// The kernel command line (`-append`), if any.
    pub append: Option<String>,
}

impl Boot {
    /// A boot of `kernel` from `elf` with `cpus` CPUs, EL2 for the EL2 build, no command line.
    pub fn new(kernel: Kernel, elf: PathBuf, cpus: u32) -> Boot {
        Boot {
            kernel,
            elf,
            cpus,
            max_cpus: None,
            topology: None,
            virtualization: kernel == Kernel::Aarch64El2,
            no_acpi: false,
            append: None,
        }
    }

    /// The `-smp` value.
    pub fn smp(&self) -> String {
        let mut smp = self.cpus.to_string();
        if let Some(max) = self.max_cpus {
            smp.push_str(&format!(",maxcpus={max}"));
        }
        if let Some(topology) = &self.topology {
            smp.push(',');
            smp.push_str(topology);
        }
        smp
    }

    /// aarch64's `-M` value: `virt`, with `virtualization=on` for EL2 and `gic-version=3`
    /// beyond [`GICV2_MAX_CPUS`] CPUs.
    fn aarch64_machine(&self) -> String {
        let mut machine = String::from("virt");
        if self.virtualization {
            machine.push_str(",virtualization=on");
        }
        if self.cpus.max(self.max_cpus.unwrap_or(0)) > GICV2_MAX_CPUS {
            machine.push_str(",gic-version=3");
        }
        machine
    }

    /// How long this boot may take before QEMU is killed: generous for a machine that other
    /// work keeps busy (boots take 0.1 to a few seconds; 64 emulated CPUs on two host cores
    /// are the slowest), and finite: one minute plus four seconds per emulated CPU.
    pub fn timeout(&self) -> Duration {
        let cpus = self.cpus.max(self.max_cpus.unwrap_or(0));
        Duration::from_secs(60 + 4 * u64::from(cpus))
    }

    /// The program and its arguments.
    pub fn argv(&self) -> Vec<String> {
        let mut argv: Vec<String> = match self.kernel.arch() {
            "x86_64" => vec![
                "qemu-system-x86_64".into(),
                "-bios".into(),
                QBOOT.into(),
                "-no-reboot".into(),
                "-net".into(),
                "none".into(),
                "-device".into(),
                "isa-debug-exit,iobase=0xf4,iosize=0x04".into(),
            ],
            "aarch64" => {
                vec!["qemu-system-aarch64".into(), "-M".into(), self.aarch64_machine()]
            }
            // Direct kernel boot; the kernel powers off through the GED (PASS, status 0) or
            // reports a panic to pvpanic-pci, which QEMU turns into status 1 (FAIL).
            "loongarch64" => vec![
                "qemu-system-loongarch64".into(),
                "-M".into(),
                "virt".into(),
                "-no-reboot".into(),
                "-device".into(),
                "pvpanic-pci".into(),
                "-action".into(),
                "panic=exit-failure".into(),
            ],
            // OpenSBI (`-bios default`) enters the kernel in S-mode; it exits through the
            // board's test device.
            _ => vec![
                "qemu-system-riscv64".into(),
                "-M".into(),
                "virt".into(),
                "-bios".into(),
                "default".into(),
            ],
        };
        if let Some(cpu) = self.kernel.qemu_cpu() {
            argv.extend(["-cpu".into(), cpu.into()]);
        }
        if self.kernel.arch() == "aarch64" {
            argv.push("-semihosting".into());
        }
        if self.no_acpi && self.kernel.arch() == "x86_64" {
            argv.extend(["-machine".into(), "acpi=off".into()]);
        }
        argv.extend([
            "-accel".into(),
            "tcg".into(),
            "-smp".into(),
            self.smp(),
            "-m".into(),
            MEMORY.into(),
            "-nographic".into(),
            "-kernel".into(),
            self.elf.display().to_string(),
        ]);
        if let Some(append) = &self.append {
            argv.extend(["-append".into(), append.clone()]);
        }
        argv
    }

    /// The command line, quoted for a shell (printed with every failure, to rerun by hand).
    pub fn shell_command(&self) -> String {
        self.argv()
            .iter()
            .map(|a| {
                if a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./,=:".contains(c)) {
                    a.clone()
                } else {
                    format!("'{a}'")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Boots and waits at most [`Boot::timeout`]; QEMU is killed when it runs longer.
    pub fn run(&self) -> Result<Run, String> {
        let timeout = self.timeout();
        let argv = self.argv();
        let start = Instant::now();
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let out_reader = thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout.read_to_end(&mut bytes);
            bytes
        });
        let err_reader = thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            bytes
        });
        let deadline = start + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("waiting for QEMU: {e}"));
                }
            }
        };
        let output = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
        let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
        Ok(Run {
            status,
            output,
            stderr,
            elapsed: start.elapsed(),
            command: self.shell_command(),
            pass_status: self.kernel.pass_status(),
            fail_status: self.kernel.fail_status(),
        })
    }
}

/// What one boot did.
#[derive(Debug, Clone)]
pub struct Run {
    /// QEMU's exit status; `None` when it was killed at the deadline.
    pub status: Option<ExitStatus>,
    /// The serial console (QEMU's standard output).
    pub output: String,
    /// QEMU's own messages (standard error).
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
    /// The command line, to rerun by hand.
    pub command: String,
    /// The exit status that stands for `PASS` on this kernel ([`Kernel::pass_status`]).
    pub pass_status: i32,
    /// The exit status that stands for `FAIL` ([`Kernel::fail_status`]).
    pub fail_status: i32,
}

impl Run {
    /// The exit code, if QEMU exited (rather than being killed or dying from a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// The console lines, without the serial line's carriage returns.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.output.lines().map(|l| l.trim_end_matches('\r'))
    }

    /// The whole run, for a failure message.
    pub fn describe(&self) -> String {
        let status = match self.status {
            None => format!("killed after {:.1} s (timeout)", self.elapsed.as_secs_f64()),
            Some(s) => format!("{s} after {:.2} s", self.elapsed.as_secs_f64()),
        };
        format!(
            "$ {}\n{status}\n--- serial console ---\n{}--- QEMU stderr ---\n{}",
            self.command, self.output, self.stderr
        )
    }
}
