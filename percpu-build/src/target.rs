//! The target a configuration is resolved for: its triple and its `cfg` values, taken from the
//! build script's environment (`TARGET`, `CARGO_CFG_*`) or from rustc's built-in target list
//! (for `percpu-build inspect --target` and for tests). `cfg(...)` expressions are parsed and
//! evaluated with the `cfg-expr` crate, exactly as Cargo evaluates `[target.'cfg(..)']` tables.

use cfg_expr::expr::TargetPredicate;
use cfg_expr::{Expression, Predicate};
use std::collections::{BTreeMap, BTreeSet};

/// The target being built, as a set of `cfg` names and `name = "value"` pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetCfg {
    triple: String,
    /// `name = "value"` pairs (a name may have several values, e.g. `target_feature`).
    values: BTreeMap<String, BTreeSet<String>>,
    /// Names set with no value (`unix`, `debug_assertions`) or with any value.
    names: BTreeSet<String>,
}

impl TargetCfg {
    /// From a triple and the `CARGO_CFG_<NAME>=<v1>,<v2>` variables Cargo gives build scripts
    /// (`CARGO_FEATURE_<NAME>` variables become `feature = "<name>"`). Other variables are
    /// ignored.
    pub fn from_vars<I, K, V>(triple: &str, vars: I) -> TargetCfg
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut cfg = TargetCfg::empty(triple);
        for (key, value) in vars {
            let (key, value) = (key.as_ref(), value.as_ref());
            if let Some(name) = key.strip_prefix("CARGO_CFG_") {
                let name = name.to_ascii_lowercase();
                if value.is_empty() {
                    cfg.insert(&name, None);
                } else {
                    for v in value.split(',') {
                        cfg.insert(&name, Some(v));
                    }
                }
            } else if let Some(feature) = key.strip_prefix("CARGO_FEATURE_") {
                cfg.insert("feature", Some(&feature.to_ascii_lowercase()));
            }
        }
        cfg
    }

    /// From the build script's environment: `TARGET` and every `CARGO_CFG_*` variable. `None`
    /// when `TARGET` is not set (not running under Cargo).
    pub fn from_env() -> Option<TargetCfg> {
        let triple = std::env::var("TARGET").ok()?;
        let vars = std::env::vars().filter(|(k, _)| k.starts_with("CARGO_"));
        Some(TargetCfg::from_vars(&triple, vars))
    }

    /// A target rustc knows by name (`x86_64-unknown-none`, `aarch64-unknown-none`,
    /// `x86_64-unknown-linux-gnu`, ...), with the `cfg` values rustc gives it by default (no
    /// target features, no `debug_assertions`).
    pub fn builtin(triple: &str) -> Option<TargetCfg> {
        let info = cfg_expr::targets::get_builtin_target_by_triple(triple)?;
        let mut cfg = TargetCfg::empty(triple);
        cfg.insert("target_arch", Some(info.arch.as_str()));
        cfg.insert("target_os", Some(info.os.as_ref().map_or("none", |o| o.as_str())));
        cfg.insert("target_env", Some(info.env.as_ref().map_or("", |e| e.as_str())));
        cfg.insert("target_vendor", Some(info.vendor.as_ref().map_or("unknown", |v| v.as_str())));
        cfg.insert("target_abi", Some(info.abi.as_ref().map_or("", |a| a.as_str())));
        cfg.insert("target_pointer_width", Some(&info.pointer_width.to_string()));
        cfg.insert("target_endian", Some(endian_name(info.endian)));
        cfg.insert("panic", Some(info.panic.as_str()));
        for family in info.families.iter() {
            cfg.insert("target_family", Some(family.as_str()));
            cfg.insert(family.as_str(), None);
        }
        for atomic in info.has_atomics.iter() {
            cfg.insert("target_has_atomic", Some(&atomic.to_string()));
        }
        Some(cfg)
    }

    /// Every built-in target triple rustc knows, for suggestions.
    pub fn builtin_triples() -> impl Iterator<Item = &'static str> {
        cfg_expr::targets::ALL_BUILTINS.iter().map(|t| t.triple.as_str())
    }

    /// The built-in triple a mistyped one most likely meant: the shortest triple that has
    /// every `-`-separated part of it (`x86_64-none` → `x86_64-unknown-none`), else the closest
    /// by edits.
    pub fn suggest_triple(raw: &str) -> Option<&'static str> {
        let parts: Vec<&str> = raw.split('-').filter(|p| !p.is_empty()).collect();
        let by_parts = TargetCfg::builtin_triples()
            .filter(|t| {
                let tparts: Vec<&str> = t.split('-').collect();
                parts.iter().all(|p| tparts.contains(p))
            })
            .min_by_key(|t| t.len());
        by_parts.or_else(|| crate::suggest::closest(raw, TargetCfg::builtin_triples()))
    }

    fn empty(triple: &str) -> TargetCfg {
        TargetCfg { triple: triple.to_string(), values: BTreeMap::new(), names: BTreeSet::new() }
    }

    fn insert(&mut self, name: &str, value: Option<&str>) {
        self.names.insert(name.to_string());
        if let Some(v) = value {
            self.values.entry(name.to_string()).or_default().insert(v.to_string());
        }
    }

    /// The target triple (`TARGET`).
    pub fn triple(&self) -> &str {
        &self.triple
    }

    /// The single value of `name` (`target_arch`, `target_os`, ...), if it has exactly one.
    pub fn value(&self, name: &str) -> Option<&str> {
        let set = self.values.get(name)?;
        if set.len() == 1 { set.iter().next().map(String::as_str) } else { None }
    }

    /// `target_arch` (`x86_64`, `aarch64`, ...); empty if unknown.
    pub fn arch(&self) -> &str {
        self.value("target_arch").unwrap_or("")
    }

    /// `target_pointer_width` in bits (64 if unknown).
    pub fn pointer_width(&self) -> u32 {
        self.value("target_pointer_width").and_then(|w| w.parse().ok()).unwrap_or(64)
    }

    /// Whether `name = "value"` holds.
    pub fn has_value(&self, name: &str, value: &str) -> bool {
        self.values.get(name).is_some_and(|set| set.contains(value))
    }

    /// Whether the parsed `cfg(...)` expression holds for this target.
    pub fn matches(&self, expr: &Expression) -> bool {
        expr.eval(|pred| self.predicate(pred))
    }

    fn predicate(&self, pred: &Predicate<'_>) -> bool {
        match pred {
            Predicate::Target(tp) => {
                let (name, value) = target_predicate(tp);
                self.has_value(name, &value)
            }
            Predicate::Test => self.names.contains("test"),
            Predicate::DebugAssertions => self.names.contains("debug_assertions"),
            Predicate::ProcMacro => self.names.contains("proc_macro"),
            Predicate::Feature(f) => {
                self.has_value("feature", &f.replace('-', "_").to_ascii_lowercase())
            }
            Predicate::TargetFeature(f) => self.has_value("target_feature", f),
            Predicate::Flag(name) => self.names.contains(*name),
            Predicate::KeyValue { key, val } => self.has_value(key, val),
        }
    }
}

/// `target_endian` spelling.
fn endian_name(e: cfg_expr::targets::Endian) -> &'static str {
    match e {
        cfg_expr::targets::Endian::little => "little",
        cfg_expr::targets::Endian::big => "big",
    }
}

/// The `name = "value"` pair a target predicate tests.
fn target_predicate(tp: &TargetPredicate) -> (&'static str, String) {
    match tp {
        TargetPredicate::Abi(a) => ("target_abi", a.as_str().to_string()),
        TargetPredicate::Arch(a) => ("target_arch", a.as_str().to_string()),
        TargetPredicate::Endian(e) => ("target_endian", endian_name(*e).to_string()),
        TargetPredicate::Env(e) => ("target_env", e.as_str().to_string()),
        TargetPredicate::Family(f) => ("target_family", f.as_str().to_string()),
        TargetPredicate::HasAtomic(h) => ("target_has_atomic", h.to_string()),
        TargetPredicate::Os(o) => ("target_os", o.as_str().to_string()),
        TargetPredicate::Panic(p) => ("panic", p.as_str().to_string()),
        TargetPredicate::PointerWidth(w) => ("target_pointer_width", w.to_string()),
        TargetPredicate::Vendor(v) => ("target_vendor", v.as_str().to_string()),
    }
}

/// Values of `target_arch` or `target_os` in `expr` that no built-in target has and that the
/// current target does not have either: such a `cfg` can never match, which is almost always
/// a typo (`"x86-64"`, `"arm64"`). Returns `(name, value, closest built-in value)`.
pub(crate) fn impossible_values(
    expr: &Expression,
    target: &TargetCfg,
) -> Option<(&'static str, String, Option<String>)> {
    for pred in expr.predicates() {
        let Predicate::Target(tp) = pred else { continue };
        let (name, value) = target_predicate(&tp);
        let known: BTreeSet<String> = match tp {
            TargetPredicate::Arch(_) => cfg_expr::targets::ALL_BUILTINS
                .iter()
                .map(|t| t.arch.as_str().to_string())
                .collect(),
            TargetPredicate::Os(_) => cfg_expr::targets::ALL_BUILTINS
                .iter()
                .map(|t| t.os.as_ref().map_or("none", |o| o.as_str()).to_string())
                .collect(),
            _ => continue,
        };
        if !known.contains(&value) && !target.has_value(name, &value) {
            let suggestion = crate::suggest::closest(&value, known.iter().map(String::as_str))
                .map(str::to_string);
            return Some((name, value, suggestion));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(s: &str) -> Expression {
        Expression::parse(s).unwrap()
    }

    #[test]
    fn builtin_targets_know_arch_os_and_width() {
        let t = TargetCfg::builtin("aarch64-unknown-none").unwrap();
        assert_eq!((t.arch(), t.pointer_width()), ("aarch64", 64));
        assert!(t.matches(&expr(r#"cfg(all(target_arch = "aarch64", target_os = "none"))"#)));
        assert!(!t.matches(&expr("cfg(unix)")));
        let linux = TargetCfg::builtin("x86_64-unknown-linux-gnu").unwrap();
        assert!(linux.matches(&expr(r#"cfg(all(unix, target_env = "gnu", target_os = "linux"))"#)));
        assert!(linux.matches(&expr(r#"cfg(target_has_atomic = "64")"#)));
        assert!(TargetCfg::builtin("x86_64-none").is_none());
    }

    #[test]
    fn cargo_variables_give_flags_lists_and_features() {
        let t = TargetCfg::from_vars(
            "x86_64-unknown-none",
            [
                ("CARGO_CFG_TARGET_ARCH", "x86_64"),
                ("CARGO_CFG_TARGET_OS", "none"),
                ("CARGO_CFG_TARGET_FEATURE", "fxsr,sse,sse2"),
                ("CARGO_CFG_DEBUG_ASSERTIONS", ""),
                ("CARGO_CFG_MY_KERNEL", ""),
                ("CARGO_FEATURE_BIG_UNITS", "1"),
                ("PATH", "/bin"),
            ],
        );
        assert!(t.matches(&expr(r#"cfg(target_feature = "sse2")"#)));
        assert!(t.matches(&expr("cfg(debug_assertions)")));
        assert!(t.matches(&expr("cfg(my_kernel)")));
        assert!(t.matches(&expr(r#"cfg(feature = "big-units")"#)));
        assert!(t.matches(&expr(r#"cfg(not(target_os = "linux"))"#)));
        assert!(!t.matches(&expr("cfg(test)")));
        assert_eq!(t.pointer_width(), 64);
    }

    #[test]
    fn arch_typos_are_found() {
        let t = TargetCfg::builtin("x86_64-unknown-none").unwrap();
        let (name, value, suggestion) =
            impossible_values(&expr(r#"cfg(target_arch = "x86-64")"#), &t).unwrap();
        assert_eq!(
            (name, value.as_str(), suggestion.as_deref()),
            ("target_arch", "x86-64", Some("x86_64"))
        );
        assert!(impossible_values(&expr(r#"cfg(target_os = "none")"#), &t).is_none());
    }
}
