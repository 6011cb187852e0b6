//! The build-script API: one call in `build.rs` reads `percpu.toml` for the target being built,
//! writes `OUT_DIR/percpu_layout.rs`, `OUT_DIR/percpu.ld`, `OUT_DIR/percpu-sections.ld` and
//! `OUT_DIR/percpu-checks.ld`, and prints the `cargo:` lines that link them.

use crate::config::Config;
use crate::error::ConfigError;
use crate::target::TargetCfg;
use crate::{gen_ld, gen_rust};
use core::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// File name of the generated constants in `OUT_DIR`.
pub const LAYOUT_RS: &str = "percpu_layout.rs";
/// File name of the standalone linker script in `OUT_DIR` (for `-T`).
pub const STANDALONE_LD: &str = "percpu.ld";
/// File name of the sections-only fragment in `OUT_DIR` (for `INCLUDE` inside `SECTIONS`).
pub const SECTIONS_LD: &str = "percpu-sections.ld";
/// File name of the checks fragment in `OUT_DIR` (for `INCLUDE` at the script's top level).
pub const CHECKS_LD: &str = "percpu-checks.ld";
/// The configuration file looked for in `CARGO_MANIFEST_DIR` when none is named.
pub const DEFAULT_CONFIG: &str = "percpu.toml";

/// How the fragment reaches the linker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Link {
    /// [`Link::Driver`] for Linux targets (hosted executables), [`Link::Include`] for others.
    #[default]
    Auto,
    /// The linker is run through a C compiler driver (`cc`), as for hosted Linux executables
    /// (PIE): `cargo:rustc-link-arg=-Wl,-T,<OUT_DIR>/percpu.ld`. The fragment is inserted into
    /// the linker's default layout.
    Driver,
    /// The linker is run directly (`linker = "ld.lld"`), relying on its default layout:
    /// `cargo:rustc-link-arg=-T<OUT_DIR>/percpu.ld`.
    Direct,
    /// The kernel has its own linker script, with `INCLUDE percpu-sections.ld` inside its
    /// `SECTIONS { ... }` and `INCLUDE percpu-checks.ld` at its top level; `OUT_DIR` is on the
    /// linker's search path, so nothing else is needed.
    Include,
    /// Print no link argument (the files are still written).
    None,
}

/// What a build script runs in: where to write, where the package is, which target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildEnv {
    /// `OUT_DIR`.
    pub out_dir: PathBuf,
    /// `CARGO_MANIFEST_DIR`.
    pub manifest_dir: PathBuf,
    /// `TARGET` and the `CARGO_CFG_*` values.
    pub target: TargetCfg,
}

impl BuildEnv {
    /// The environment Cargo gives a build script.
    pub fn from_env() -> Result<BuildEnv, BuildError> {
        let var = |name: &'static str| {
            std::env::var_os(name).ok_or(BuildError::NotInBuildScript { var: name })
        };
        Ok(BuildEnv {
            out_dir: PathBuf::from(var("OUT_DIR")?),
            manifest_dir: PathBuf::from(var("CARGO_MANIFEST_DIR")?),
            target: TargetCfg::from_env().ok_or(BuildError::NotInBuildScript { var: "TARGET" })?,
        })
    }
}

/// Why the build script cannot produce the layout.
#[derive(Debug)]
pub enum BuildError {
    /// `percpu.toml` is invalid.
    Config(ConfigError),
    /// A variable Cargo sets for build scripts is missing.
    NotInBuildScript {
        /// The variable.
        var: &'static str,
    },
    /// A generated file cannot be written.
    Write {
        /// The file.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(e) => fmt::Display::fmt(e, f),
            BuildError::NotInBuildScript { var } => write!(
                f,
                "{var} is not set: percpu_build::Builder runs in a build script (build.rs) that \
                 Cargo runs"
            ),
            BuildError::Write { path, error } => {
                write!(f, "cannot write {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Config(e) => Some(e),
            BuildError::Write { error, .. } => Some(error),
            BuildError::NotInBuildScript { .. } => None,
        }
    }
}

impl From<ConfigError> for BuildError {
    fn from(e: ConfigError) -> Self {
        BuildError::Config(e)
    }
}

/// What [`Builder::emit`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emitted {
    /// The resolved configuration.
    pub config: Config,
    /// The configuration file read, or `None` when the default file is absent (defaults).
    pub config_file: Option<PathBuf>,
    /// `OUT_DIR/percpu_layout.rs`.
    pub layout_rs: PathBuf,
    /// `OUT_DIR/percpu.ld`.
    pub standalone_ld: PathBuf,
    /// `OUT_DIR/percpu-sections.ld`.
    pub sections_ld: PathBuf,
    /// `OUT_DIR/percpu-checks.ld`.
    pub checks_ld: PathBuf,
    /// The link mode used ([`Link::Auto`] resolved).
    pub link: Link,
}

/// The build-script entry point. `Builder::new().emit()` is [`configure`](crate::configure)
/// without the exit on error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Builder {
    config: Option<PathBuf>,
    link: Link,
    insert_after: Option<String>,
}

impl Builder {
    /// Defaults: `$CARGO_MANIFEST_DIR/percpu.toml` (absent means Linux's defaults), [`Link::Auto`].
    pub fn new() -> Self {
        Builder::default()
    }

    /// Reads this configuration file instead (relative paths are from `CARGO_MANIFEST_DIR`).
    /// Unlike the default file, a file named here must exist.
    pub fn config(mut self, path: impl Into<PathBuf>) -> Self {
        self.config = Some(path.into());
        self
    }

    /// How the fragment reaches the linker (default [`Link::Auto`]).
    pub fn link(mut self, link: Link) -> Self {
        self.link = link;
        self
    }

    /// The output section the standalone `percpu.ld` inserts `.percpu` after (default `.data`).
    pub fn insert_after(mut self, section: impl Into<String>) -> Self {
        self.insert_after = Some(section.into());
        self
    }

    /// Does everything in Cargo's build-script environment, printing the `cargo:` lines to
    /// standard output.
    pub fn emit(self) -> Result<Emitted, BuildError> {
        let env = BuildEnv::from_env()?;
        self.emit_in(&env, &mut io::stdout().lock())
    }

    /// Like [`Builder::emit`], and on error prints the message (`path:line:col: key ...`) and
    /// exits the build script with status 1, which fails the build with the message shown.
    pub fn run(self) -> Emitted {
        match self.emit() {
            Ok(emitted) => emitted,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1)
            }
        }
    }

    /// Does everything for `env`, writing the `cargo:` lines to `cargo`.
    pub fn emit_in(self, env: &BuildEnv, cargo: &mut dyn Write) -> Result<Emitted, BuildError> {
        let (config, config_file) = match &self.config {
            Some(p) => {
                let path = env.manifest_dir.join(p);
                (Config::load(&path, &env.target)?, Some(path))
            }
            None => {
                let path = env.manifest_dir.join(DEFAULT_CONFIG);
                if path.exists() {
                    (Config::load(&path, &env.target)?, Some(path))
                } else {
                    (Config::defaults(&env.target)?, None)
                }
            }
        };
        let link = match self.link {
            Link::Auto if env.target.has_value("target_os", "linux") => Link::Driver,
            Link::Auto => Link::Include,
            other => other,
        };
        // ld.lld run directly places the sections itself (`OVERWRITE_SECTIONS`): a kernel with
        // per-CPU statics and no `.data` has nothing to insert after.
        let insert_after = match (&self.insert_after, link) {
            (Some(after), _) => Some(after.as_str()),
            (None, Link::Direct) => None,
            (None, _) => Some(gen_ld::DEFAULT_INSERT_AFTER),
        };
        let fragments = gen_ld::generate(&config, insert_after);
        let layout_rs = env.out_dir.join(LAYOUT_RS);
        let standalone_ld = env.out_dir.join(STANDALONE_LD);
        let sections_ld = env.out_dir.join(SECTIONS_LD);
        let checks_ld = env.out_dir.join(CHECKS_LD);
        write_if_changed(&layout_rs, &gen_rust::generate(&config))?;
        write_if_changed(&standalone_ld, &fragments.standalone)?;
        write_if_changed(&sections_ld, &fragments.sections)?;
        write_if_changed(&checks_ld, &fragments.checks)?;

        let out = |cargo: &mut dyn Write, line: String| {
            writeln!(cargo, "{line}")
                .map_err(|error| BuildError::Write { path: "stdout".into(), error })
        };
        // A missing default file prints no rerun-if-changed: Cargo then reruns the script when
        // any file of the package changes, so creating percpu.toml later takes effect. (A
        // rerun-if-changed on a missing path would rerun it, and rebuild, on every build.)
        if let Some(file) = &config_file {
            out(cargo, format!("cargo:rerun-if-changed={}", file.display()))?;
        }
        out(cargo, format!("cargo:rustc-link-search=native={}", env.out_dir.display()))?;
        match link {
            Link::Driver => {
                out(cargo, format!("cargo:rustc-link-arg=-Wl,-T,{}", standalone_ld.display()))?;
            }
            Link::Direct => {
                out(cargo, format!("cargo:rustc-link-arg=-T{}", standalone_ld.display()))?
            }
            Link::Include | Link::None | Link::Auto => {}
        }
        Ok(Emitted { config, config_file, layout_rs, standalone_ld, sections_ld, checks_ld, link })
    }
}

/// Writes `text` to `path` unless it already holds exactly that, so an unchanged layout does
/// not make Cargo rebuild the crates that include it.
fn write_if_changed(path: &Path, text: &str) -> Result<(), BuildError> {
    if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(());
    }
    std::fs::write(path, text)
        .map_err(|error| BuildError::Write { path: path.to_path_buf(), error })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(dir: &Path, triple: &str) -> BuildEnv {
        let out_dir = dir.join("out");
        std::fs::create_dir_all(&out_dir).unwrap();
        BuildEnv {
            out_dir,
            manifest_dir: dir.to_path_buf(),
            target: TargetCfg::builtin(triple).unwrap(),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("percpu-build-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn hosted_without_a_file_uses_defaults_and_links_through_the_driver() {
        let dir = scratch("hosted");
        let env = env(&dir, "x86_64-unknown-linux-gnu");
        let mut cargo = Vec::new();
        let e = Builder::new().emit_in(&env, &mut cargo).unwrap();
        assert_eq!((e.link, e.config_file.as_ref()), (Link::Driver, None));
        let lines = String::from_utf8(cargo).unwrap();
        let out = env.out_dir.display();
        assert_eq!(
            lines,
            format!(
                "cargo:rustc-link-search=native={out}\ncargo:rustc-link-arg=-Wl,-T,{out}/percpu.ld\n"
            )
        );
        for file in [LAYOUT_RS, STANDALONE_LD, SECTIONS_LD, CHECKS_LD] {
            assert!(env.out_dir.join(file).exists(), "{file}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bare_metal_with_a_file_includes_and_reruns_on_change() {
        let dir = scratch("kernel");
        std::fs::write(dir.join("percpu.toml"), "unit_size = \"64 KiB\"\n").unwrap();
        let env = env(&dir, "aarch64-unknown-none");
        let mut cargo = Vec::new();
        let e = Builder::new().emit_in(&env, &mut cargo).unwrap();
        assert_eq!(e.link, Link::Include);
        let lines = String::from_utf8(cargo).unwrap();
        assert!(lines.starts_with(&format!(
            "cargo:rerun-if-changed={}\n",
            dir.join("percpu.toml").display()
        )));
        assert!(!lines.contains("rustc-link-arg"));
        let checks = std::fs::read_to_string(&e.checks_ld).unwrap();
        assert!(checks.contains("ERROR(percpu)"));
        let mut cargo = Vec::new();
        Builder::new().link(Link::Direct).emit_in(&env, &mut cargo).unwrap();
        assert!(
            String::from_utf8(cargo)
                .unwrap()
                .contains(&format!("cargo:rustc-link-arg=-T{}", e.standalone_ld.display()))
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_named_file_must_exist_and_errors_name_it() {
        let dir = scratch("named");
        let env = env(&dir, "x86_64-unknown-none");
        let err = Builder::new().config("kernel.toml").emit_in(&env, &mut Vec::new()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{}: cannot read", dir.join("kernel.toml").display())),
            "{text}"
        );
        std::fs::write(dir.join("kernel.toml"), "page_size = 3000\n").unwrap();
        let err = Builder::new().config("kernel.toml").emit_in(&env, &mut Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:1:13: key `page_size`: found 3000 bytes, allowed a power of two (e.g. 4 KiB, 16 KiB, 64 KiB, 2 MiB)",
                dir.join("kernel.toml").display()
            )
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
