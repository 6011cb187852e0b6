//! The bare-metal toolchain: Debian's `rustc-web` (a rustc whose library source `-Zbuild-std` can
//! compile), `rust-web-src`, `lld` and QEMU (installed by `scripts/ensure-toolchain.sh`).

use std::process::Command;

use crate::workspace_root;

/// The rustc that builds the kernels.
pub const RUSTC: &str = "/usr/bin/rustc";

/// Runs `scripts/ensure-toolchain.sh`, which installs missing Debian packages and fails when a
/// tool is still missing (with `CI=true` and without: a missing tool is never a skip). Returns
/// the script's complaint on failure.
pub fn ensure() -> Result<(), String> {
    let script = workspace_root().join("scripts/ensure-toolchain.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{} failed ({}): the bare-metal toolchain is missing and could not be installed{}:\n{}{}",
        script.display(),
        out.status,
        if std::env::var("CI").as_deref() == Ok("true") { " (CI=true)" } else { "" },
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}
