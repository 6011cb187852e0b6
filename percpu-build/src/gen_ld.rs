//! The linker-script fragments for a configuration. The text comes from `percpu_rt::linker`,
//! the project's one generator (percpu-rt's own build script uses it too); this file only maps
//! the configuration onto its parameters.

use crate::config::Config;
use crate::config::{BaseRegister, Key, Origin};
use percpu_rt::FirstChunkMode;
use percpu_rt::linker::{self, LinkerParams, SettingsRecord, record};

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
pub fn generate(config: &Config, insert_after: Option<&str>) -> Fragments {
    let origin = config.limit_origin().unwrap_or_default();
    let params = LinkerParams {
        page_size: config.page_size(),
        max_static_size: config.max_static_size(),
        limit_origin: &origin,
        insert_after,
        settings: SettingsRecord {
            values: settings_values(config),
            origin: settings_origin(config),
        },
        forbid_global_pointer: config.base_register() == Some(BaseRegister::Gp),
    };
    Fragments {
        standalone: linker::standalone_fragment(&params),
        sections: linker::sections_fragment(&params),
        checks: linker::checks_fragment(&params),
    }
}

/// Where the linked settings come from: the file, or the runtime's name for the defaults.
pub(crate) fn settings_origin(config: &Config) -> &str {
    match config.path() {
        crate::config::DEFAULTS_PATH => linker::DEFAULTS_ORIGIN,
        path => path,
    }
}

/// The configuration as the runtime's settings record (`percpu_rt::Settings`), in record
/// order: what a program reads back with `percpu_rt::Settings::linked()`.
pub fn settings_values(c: &Config) -> [u64; record::FIELDS] {
    let mut v = [0u64; record::FIELDS];
    v[record::PAGE_SIZE] = c.page_size() as u64;
    v[record::ATOM_SIZE] = c.atom_size() as u64;
    v[record::RESERVED] = c.reserved() as u64;
    v[record::DYNAMIC_RESERVE] = c.dynamic_reserve() as u64;
    v[record::EARLY_RESERVE] = c.early_reserve() as u64;
    v[record::MIN_UNIT_SIZE] = c.min_unit_size() as u64;
    v[record::UNIT_SIZE] = c.unit_size().unwrap_or(0) as u64;
    // Unset: the allocator's own default (Linux's 32 KiB, or the unit if smaller).
    v[record::MAX_ALLOC_SIZE] = match c.origin(Key::MaxAllocSize) {
        Origin::Default => 0,
        Origin::File { .. } => c.max_alloc_size() as u64,
    };
    v[record::MAX_CPUS] = c.max_cpus() as u64;
    v[record::FIRST_CHUNK] = match c.first_chunk() {
        FirstChunkMode::Auto => 0,
        FirstChunkMode::Embed => 1,
        FirstChunkMode::Page => 2,
    };
    v[record::EMPTY_PAGES_LOW] = c.empty_pages_low() as u64;
    v[record::EMPTY_PAGES_HIGH] = c.empty_pages_high() as u64;
    v[record::HOT_LINES] = c.hot_lines() as u64;
    v[record::BASE_REGISTER] = match c.base_register() {
        None => 0,
        Some(BaseRegister::El1) => 1,
        Some(BaseRegister::El2) => 2,
        Some(BaseRegister::Gp) => 3,
        Some(BaseRegister::Tp) => 4,
        Some(BaseRegister::R21) => 5,
    };
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::TargetCfg;
    use percpu_rt::{CpuId, FirstChunkMode, Settings};

    /// The runtime settings a `percpu.toml` text links into an x86_64 kernel.
    fn settings(text: &str) -> Settings {
        let t = TargetCfg::builtin("x86_64-unknown-none").unwrap();
        let c = Config::parse(text, "k.toml", &t).unwrap();
        Settings::from_values(&settings_values(&c), "k.toml")
    }

    /// Each key of docs/configuration.md's table changes what the runtime does with the settings:
    /// the layout, the first-chunk checks, the allocator's settings, `max_cpus`, the mode.
    #[test]
    fn every_key_reaches_the_runtime() {
        let d = settings("");
        let cpus = [CpuId::new(0)];
        let layout = |s: &Settings| s.layout_params(4096);
        assert_eq!(d, Settings { origin: "k.toml", ..Settings::LINUX });

        let s = settings("page_size = \"16 KiB\"");
        assert_eq!((layout(&s).page_size, s.setup_config(&cpus).page_size), (16 << 10, 16 << 10));
        let s = settings("atom_size = \"2 MiB\"");
        assert_eq!(layout(&s).atom_size, 2 << 20);
        let s = settings("reserved = \"12 KiB\"");
        assert_eq!(layout(&s).reserved_size, 12 << 10);
        let s = settings("dynamic_reserve = \"40 KiB\"");
        assert_eq!(layout(&s).dyn_size, 40 << 10);
        let s = settings("early_reserve = \"24 KiB\"");
        assert_eq!(
            (layout(&s).early_dyn_size, s.setup_config(&cpus).early_dyn_size),
            (24 << 10, 24 << 10)
        );
        let s = settings("min_unit_size = \"64 KiB\"");
        assert_eq!(
            (layout(&s).min_unit_size, s.setup_config(&cpus).min_unit_size),
            (64 << 10, 64 << 10)
        );
        let s = settings("unit_size = \"128 KiB\"");
        assert_eq!((s.unit_size, layout(&s).min_unit_size), (Some(128 << 10), 128 << 10));
        let s = settings("max_alloc_size = \"8 KiB\"");
        assert_eq!(s.alloc_config().max_alloc_size, Some(8 << 10));
        assert_eq!(d.alloc_config().max_alloc_size, None, "unset: the allocator's default");
        let s = settings("max_cpus = 8");
        assert_eq!(s.setup_config(&cpus).max_cpus, 8);
        assert!(s.check_cpus(&[CpuId::new(8)]).is_err() && d.check_cpus(&[CpuId::new(8)]).is_ok());
        for (name, mode) in [("embed", FirstChunkMode::Embed), ("page", FirstChunkMode::Page)] {
            assert_eq!(settings(&format!("first_chunk = \"{name}\"")).first_chunk, mode);
        }
        assert_eq!(d.first_chunk, FirstChunkMode::Auto);
        let s = settings("empty_pages_low = 1\nempty_pages_high = 3");
        let a = s.alloc_config();
        assert_eq!((a.empty_pages_low, a.empty_pages_high), (1, 3));
        assert_eq!((settings("hot_lines = 3").hot_lines, d.hot_lines), (3, 1));
        // `base_register` is also checked against percpu-rt's feature at compile time
        // (gen_rust) and by `Settings::linked` at run time.
        assert_eq!(d.base_register, percpu_rt::BaseRegister::Default);
        let rv = TargetCfg::builtin("riscv64gc-unknown-none-elf").unwrap();
        for (name, register) in
            [("gp", percpu_rt::BaseRegister::Gp), ("tp", percpu_rt::BaseRegister::Tp)]
        {
            let c = Config::parse(&format!("base_register = \"{name}\""), "k.toml", &rv).unwrap();
            let s = Settings::from_values(&settings_values(&c), "k.toml");
            assert_eq!(s.base_register, register);
        }
        // loongarch64: `$r21` by default (recorded as such, not as "the default"), or `$tp`.
        let la = TargetCfg::builtin("loongarch64-unknown-none").unwrap();
        for (text, register, name) in [
            ("", percpu_rt::BaseRegister::R21, "r21"),
            ("base_register = \"r21\"", percpu_rt::BaseRegister::R21, "r21"),
            ("base_register = \"tp\"", percpu_rt::BaseRegister::Tp, "tp"),
        ] {
            let c = Config::parse(text, "k.toml", &la).unwrap();
            let s = Settings::from_values(&settings_values(&c), "k.toml");
            assert_eq!((s.base_register, s.base_register.register()), (register, name));
        }
    }

    #[test]
    fn gp_as_the_base_register_fails_the_link_with_a_global_pointer() {
        let rv = TargetCfg::builtin("riscv64gc-unknown-none-elf").unwrap();
        let gp = generate(&Config::parse("base_register = \"gp\"", "k.toml", &rv).unwrap(), None);
        assert!(gp.checks.contains("ASSERT(!DEFINED(__global_pointer$)"));
        assert!(gp.standalone.contains("ASSERT(!DEFINED(__global_pointer$)"));
        let tp = generate(&Config::defaults(&rv).unwrap(), None);
        assert!(!tp.checks.contains("__global_pointer$"));
    }

    #[test]
    fn the_limit_and_page_come_from_the_config() {
        let t = TargetCfg::builtin("aarch64-unknown-none").unwrap();
        let c = Config::parse("page_size = \"16 KiB\"\nunit_size = \"64 KiB\"\n", "k.toml", &t)
            .unwrap();
        let f = generate(&c, Some(".bss"));
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
        let f = generate(&Config::defaults(&t).unwrap(), Some(DEFAULT_INSERT_AFTER));
        assert!(!f.standalone.contains("__percpu_end - __percpu_start <="));
        assert_eq!(f.standalone, linker::standalone_fragment(&LinkerParams::hosted_defaults()));
    }
}
