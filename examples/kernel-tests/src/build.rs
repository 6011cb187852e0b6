//! Building a kernel variant with a nested cargo and the bare-metal toolchain.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::toolchain::RUSTC;
use crate::{Kernel, kernels_dir};

/// Environment variables of the outer (host) build that must not reach the nested one: its
/// target directory, flags and wrappers, and any per-target or per-profile override.
fn leaks_into_nested_cargo(key: &str) -> bool {
    matches!(
        key,
        "RUSTFLAGS"
            | "CARGO_ENCODED_RUSTFLAGS"
            | "CARGO_BUILD_RUSTFLAGS"
            | "RUSTDOCFLAGS"
            | "CARGO_ENCODED_RUSTDOCFLAGS"
            | "RUSTC_WRAPPER"
            | "RUSTC_WORKSPACE_WRAPPER"
            | "CARGO_BUILD_TARGET"
            | "CARGO_BUILD_TARGET_DIR"
            | "CARGO_MAKEFLAGS"
            | "MAKEFLAGS"
            | "MFLAGS"
    ) || key.starts_with("CARGO_TARGET_")
        || key.starts_with("CARGO_PROFILE_")
}

/// The cargo that runs this process's build (`CARGO`), or `cargo` from `PATH`.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The target directory of `kernel` under `target_dir`: its own subdirectory when it adds target
/// features (they change every crate, `core` included, so the variants would rebuild each other
/// in a shared directory).
pub fn target_dir_of(kernel: Kernel, target_dir: &Path) -> PathBuf {
    match kernel.target_features() {
        Some(_) => target_dir.join(kernel.name()),
        None => target_dir.to_path_buf(),
    }
}

/// The release ELF of `kernel` built in `target_dir`.
pub fn elf_path(kernel: Kernel, target_dir: &Path) -> PathBuf {
    target_dir_of(kernel, target_dir).join(kernel.target()).join("release").join(kernel.package())
}

/// Held from a build's start to its copy: the variants of one architecture share a package and
/// so the output path in a shared target directory, so another test's build must not replace
/// the ELF before it is copied (cargo's own lock covers only the build).
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Whether a verbose cargo log names a unit of the `alloc` crate (built or up to date:
/// `Compiling alloc v0.0.0 (...)`, `Fresh alloc v0.0.0 (...)`).
fn names_alloc_crate(cargo_log: &str) -> bool {
    cargo_log.lines().map(str::trim_start).any(|l| {
        ["Compiling ", "Fresh "]
            .iter()
            .any(|verb| l.strip_prefix(verb).is_some_and(|rest| rest.starts_with("alloc v0.0.0 (")))
    })
}

/// Builds `kernel` (release) with its target directory `target_dir`, and copies the ELF to
/// `out_dir/percpu-kernel-<variant>.elf` (the variants of an architecture share a package and so
/// an output path). Returns the copy.
///
/// A kernel with its own [`Kernel::build_std`] (`core` alone) is built with that
/// `-Zbuild-std`, verbosely, and the build is refused when its units include the `alloc`
/// crate: what it links is then known to need `core` only.
pub fn build(kernel: Kernel, target_dir: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    let _serialised = BUILD_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut cmd = Command::new(cargo());
    cmd.current_dir(kernels_dir())
        .args(["build", "--release", "-p", kernel.package(), "--target", kernel.target()])
        .arg("--target-dir")
        .arg(target_dir_of(kernel, target_dir));
    if !kernel.features().is_empty() {
        cmd.args(["--features", &kernel.features().join(",")]);
    }
    if let Some(features) = kernel.target_features() {
        // Appended to the rustflags of the kernels' .cargo/config.toml (Cargo joins arrays).
        let flags =
            format!("target.{}.rustflags=[\"-C\", \"target-feature={features}\"]", kernel.target());
        cmd.args(["--config", &flags]);
    }
    if let Some(crates) = kernel.build_std() {
        // On the command line, `-Zbuild-std` replaces the `[unstable]` table's choice.
        cmd.arg(format!("-Zbuild-std={crates}")).arg("-v");
    }
    for (key, _) in std::env::vars_os() {
        if let Some(k) = key.to_str()
            && leaks_into_nested_cargo(k)
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUSTC", RUSTC).env("RUSTC_BOOTSTRAP", "1");
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building {} ({}) failed ({}):\n{}",
            kernel.name(),
            kernel.target(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if kernel.build_std().is_some() && names_alloc_crate(&String::from_utf8_lossy(&out.stderr)) {
        return Err(format!(
            "building {} with -Zbuild-std={} compiled the alloc crate",
            kernel.name(),
            kernel.build_std().unwrap_or_default()
        ));
    }
    let built = elf_path(kernel, target_dir);
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let copy = out_dir.join(format!("percpu-kernel-{}.elf", kernel.name()));
    std::fs::copy(&built, &copy)
        .map_err(|e| format!("copying {} to {}: {e}", built.display(), copy.display()))?;
    Ok(copy)
}

/// The source of kernel-lib as `kernel`'s build expands it (`cargo rustc -- -Zunpretty=expanded`:
/// what `cargo expand` prints, before pretty-printing), with the target, features and target
/// features of `kernel`, in its target directory under `target_dir` (only kernel-lib is
/// expanded; its dependencies are the build's own).
pub fn expand_kernel_lib(kernel: Kernel, target_dir: &Path) -> Result<String, String> {
    let _serialised = BUILD_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut cmd = Command::new(cargo());
    cmd.current_dir(kernels_dir())
        .args(["rustc", "--release", "-p", "kernel-lib", "--target", kernel.target()])
        .arg("--target-dir")
        .arg(target_dir_of(kernel, target_dir));
    if let Some(features) = kernel.target_features() {
        let flags =
            format!("target.{}.rustflags=[\"-C\", \"target-feature={features}\"]", kernel.target());
        cmd.args(["--config", &flags]);
    }
    // The runtime's register feature (the kernels' `el2`/`gp`/`tp` turn it on).
    let register_feature = match kernel {
        Kernel::Aarch64El2 => Some("aarch64-el2"),
        Kernel::Riscv64Gp => Some("riscv64-gp"),
        Kernel::Loongarch64Tp => Some("loongarch64-tp"),
        _ => None,
    };
    if let Some(feature) = register_feature {
        cmd.args(["--features", &format!("percpu-rt/{feature}")]);
    }
    cmd.args(["--", "-Zunpretty=expanded"]);
    for (key, _) in std::env::vars_os() {
        if let Some(k) = key.to_str()
            && leaks_into_nested_cargo(k)
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUSTC", RUSTC).env("RUSTC_BOOTSTRAP", "1");
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "expanding kernel-lib for {} failed ({}):\n{}",
            kernel.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Builds kernel-lib alone (release) as `kernel`'s build would, plus its own `features`, in
/// `kernel`'s target directory under `target_dir`: `Err` with the compiler's messages when it
/// does not compile.
pub fn build_kernel_lib(
    kernel: Kernel,
    features: &[&str],
    target_dir: &Path,
) -> Result<(), String> {
    let _serialised = BUILD_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut cmd = Command::new(cargo());
    cmd.current_dir(kernels_dir())
        .args(["build", "--release", "-p", "kernel-lib", "--target", kernel.target()])
        .arg("--target-dir")
        .arg(target_dir_of(kernel, target_dir));
    if let Some(features) = kernel.target_features() {
        let flags =
            format!("target.{}.rustflags=[\"-C\", \"target-feature={features}\"]", kernel.target());
        cmd.args(["--config", &flags]);
    }
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    for (key, _) in std::env::vars_os() {
        if let Some(k) = key.to_str()
            && leaks_into_nested_cargo(k)
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUSTC", RUSTC).env("RUSTC_BOOTSTRAP", "1");
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Builds the library of the kernel without a heap (its per-CPU statics, setup and checks, on
/// percpu-rt without `alloc`) for `target` with `-Zbuild-std=core` (release, in `target_dir`,
/// so the bare-metal `core` the kernels use is reused): `Err` when it does not compile, or when
/// the build contains the `alloc` crate.
pub fn build_core_only_library(target: &str, target_dir: &Path) -> Result<(), String> {
    let _serialised = BUILD_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut cmd = Command::new(cargo());
    cmd.current_dir(kernels_dir())
        .args(["build", "--release", "-p", Kernel::CoreOnly.package(), "--lib", "--target"])
        .arg(target)
        .arg("--target-dir")
        .arg(target_dir)
        .args(["-Zbuild-std=core", "-v"]);
    for (key, _) in std::env::vars_os() {
        if let Some(k) = key.to_str()
            && leaks_into_nested_cargo(k)
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUSTC", RUSTC).env("RUSTC_BOOTSTRAP", "1");
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "building the core-only library for {target} with -Zbuild-std=core failed ({}):\n{log}",
            out.status
        ));
    }
    if names_alloc_crate(&log) {
        return Err(format!(
            "building the core-only library for {target} with -Zbuild-std=core compiled alloc"
        ));
    }
    Ok(())
}

/// Builds percpu-build's command-line tool from the main workspace into `target_dir` (its own,
/// so that the outer build's copy of the tool, built with the outer build's features, is left
/// alone) and returns its path.
pub fn percpu_build_cli(target_dir: &Path) -> Result<PathBuf, String> {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(crate::workspace_root())
        .args(["build", "-p", "percpu-build", "--features", "inspect", "--bin", "percpu-build"])
        .arg("--message-format=json")
        .arg("--target-dir")
        .arg(target_dir);
    for (key, _) in std::env::vars_os() {
        if let Some(k) = key.to_str()
            && leaks_into_nested_cargo(k)
        {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "building percpu-build failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // The artifact message of the binary: `..."executable":"/path/percpu-build",...`.
    const KEY: &str = "\"executable\":\"";
    stdout
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
        .filter_map(|l| {
            let start = l.find(KEY)? + KEY.len();
            let end = start + l[start..].find('"')?;
            Some(PathBuf::from(&l[start..end]))
        })
        .find(|p| p.file_name().is_some_and(|n| n == "percpu-build"))
        .ok_or_else(|| format!("cargo built no percpu-build executable:\n{stdout}"))
}

#[cfg(test)]
mod tests {
    use super::names_alloc_crate;

    #[test]
    fn finds_the_alloc_crate_in_a_verbose_cargo_log() {
        let core_only = "   Compiling core v0.0.0 (/usr/lib/rustlib/src/rust/library/core)\n       \
                         Fresh compiler_builtins v0.1.160 (/x)\n   Compiling percpu-rt v0.1.0 (/p)\n";
        assert!(!names_alloc_crate(core_only));
        let with_alloc = "       Fresh core v0.0.0 (/c)\n       Fresh alloc v0.0.0 (/usr/lib/rustlib/src/rust/library/alloc)\n";
        assert!(names_alloc_crate(with_alloc));
        assert!(names_alloc_crate("   Compiling alloc v0.0.0 (/a)\n"));
        assert!(!names_alloc_crate("   Compiling allocator-api2 v0.2.0 (/a)\n"));
    }
}
