//! The linker-script fragments for a configuration. The text comes from `percpu_rt::linker`,
//! the project's one generator (percpu-rt's own build script uses it too); this file only maps
//! the configuration onto its parameters.

use crate::config::Config;
use percpu_rt::linker::{self, LinkerParams};

/// The output section the standalone fragment is inserted after, unless told otherwise.
pub const DEFAULT_INSERT_AFTER: &str = ".data";

/// The fragments of one configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragments {
    /// A complete script for `-T` next to the linker's default layout (`INSERT AFTER`).
    pub standalone: String,
    /// The output sections, to `INCLUDE` inside the `SECTIONS` command of a kernel's own script.
    pub sections: String,
    /// The symbol aliases and `ASSERT`s, to `INCLUDE` at the top level of that script.
    pub checks: String,
}

/// Generates the fragments; `insert_after` is the output section the standalone fragment
/// follows ([`DEFAULT_INSERT_AFTER`] for hosted executables).
pub fn generate(config: &Config, insert_after: &str) -> Fragments {
    let origin = config.limit_origin().unwrap_or_default();
    let params = LinkerParams {
        page_size: config.page_size(),
        max_static_size: config.max_static_size(),
        limit_origin: &origin,
        insert_after,
    };
    Fragments {
        standalone: linker::standalone_fragment(&params),
        sections: linker::sections_fragment(&params),
        checks: linker::checks_fragment(&params),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TargetCfg;

    #[test]
    fn the_limit_and_page_come_from_the_config() {
        let t = TargetCfg::builtin("aarch64-unknown-none").unwrap();
        let c = Config::parse("page_size = \"16 KiB\"\nunit_size = \"64 KiB\"\n", "k.toml", &t)
            .unwrap();
        let f = generate(&c, ".bss");
        assert!(f.standalone.contains(".percpu : ALIGN(0x4000)"));
        assert!(f.standalone.contains("INSERT AFTER .bss;"));
        let limit = c.max_static_size().unwrap();
        assert!(f.checks.contains(&format!("__percpu_end - __percpu_start <= {limit},")));
        assert!(f.checks.contains("set at k.toml:2:13 for aarch64-unknown-none"));
        assert!(f.sections.contains(".percpu : ALIGN(0x4000)") && !f.sections.contains("ASSERT"));
    }

    #[test]
    fn no_fixed_unit_means_no_limit() {
        let t = TargetCfg::builtin("x86_64-unknown-linux-gnu").unwrap();
        let f = generate(&Config::defaults(&t).unwrap(), DEFAULT_INSERT_AFTER);
        assert!(!f.standalone.contains("ERROR(percpu)"));
        assert_eq!(f.standalone, linker::standalone_fragment(&LinkerParams::hosted_defaults()));
    }
}
