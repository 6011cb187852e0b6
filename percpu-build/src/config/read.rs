//! Reading `percpu.toml`: its bytes (at most [`MAX_CONFIG_SIZE`], UTF-8), its TOML tree, and
//! then its tables, each turned into checked raw values that keep their positions: the top
//! level, every `[target.<triple>]` (a triple rustc knows, or the target's own) and every
//! `[target.'cfg(..)']` (an expression that parses, naming no `target_arch` or `target_os`
//! that no target has).
//!
//! Each key and value is checked on its own here (a known key, a value of the right kind in
//! its range: `check_alone` of `schema.rs`), in every table, whether or not the table applies
//! to the target. Which table wins, the defaults and the checks between keys are
//! `resolve.rs`'s.

use super::schema::{FirstChunk, Key, Kind, MAX_CONFIG_SIZE, MAX_DEPTH, check_alone};
use crate::error::{ConfigError, ErrorKind};
use crate::size::{SIZE_ALLOWED, parse_size};
use crate::suggest::closest;
use crate::target::{TargetCfg, impossible_values};
use crate::tree::{self, Node, Position, SyntaxError, Value};
use cfg_expr::Expression;
use std::io::Read;
use std::path::Path;

/// Error-building context: the file's path and text.
pub(super) struct Source<'a> {
    /// What messages call the file.
    pub(super) path: &'a str,
    /// Its text.
    pub(super) text: &'a str,
}

impl Source<'_> {
    /// The line and column of byte `offset` of the text.
    pub(super) fn pos(&self, offset: usize) -> Position {
        Position::of(self.text, offset)
    }

    /// An error at `position` of the file, about `key` (as the file qualifies it).
    pub(super) fn err(
        &self,
        position: Position,
        key: Option<String>,
        kind: ErrorKind,
    ) -> ConfigError {
        ConfigError::new(self.path, Some(position), key, kind)
    }
}

/// `key` as messages name it: `table.key`, or `key` at the top level.
pub(super) fn qualified(table: &str, key: &str) -> String {
    if table.is_empty() { key.to_string() } else { format!("{table}.{key}") }
}

/// A checked value of a key, before defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Raw {
    /// A size or count.
    Number(u64),
    /// The index of a choice.
    Choice(usize),
}

/// One `key = value` of a table, checked on its own.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    /// The key.
    pub(super) key: Key,
    /// Its value.
    pub(super) value: Raw,
    /// Position of the value.
    pub(super) position: Position,
}

/// Which targets a table applies to.
#[derive(Clone, Debug)]
pub(super) enum Selector {
    /// The top level: every target.
    Top,
    /// `[target.<triple>]`.
    Triple(String),
    /// `[target.'cfg(..)']`.
    Cfg(Box<Expression>),
}

/// A table of keys: the top level, or one `[target.<x>]`.
#[derive(Clone, Debug)]
pub(super) struct Table {
    /// `""`, `target.<triple>` or `target.'cfg(..)'`.
    pub(super) name: String,
    /// Which targets it applies to.
    pub(super) selector: Selector,
    /// Its keys, in file order.
    pub(super) entries: Vec<Entry>,
}

/// The text of the file at `path` (`shown` is what messages call it): at most
/// [`MAX_CONFIG_SIZE`] bytes, UTF-8.
pub(super) fn read_file(path: &Path, shown: &str) -> Result<String, ConfigError> {
    let read_error =
        |message: String| ConfigError::new(shown, None, None, ErrorKind::Read { message });
    // At most one byte more than allowed: a device such as /dev/zero ends here too.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_SIZE + 1).read_to_end(&mut bytes))
        .map_err(|e| read_error(e.to_string()))?;
    if bytes.len() as u64 > MAX_CONFIG_SIZE {
        return Err(read_error(format!(
            "it has more than {} (a percpu.toml is a few hundred bytes; is this the right \
             file?)",
            crate::size::Bytes(MAX_CONFIG_SIZE)
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = String::from_utf8_lossy(&bytes[..valid]);
        let kind = ErrorKind::NotUtf8 { byte: bytes[valid] };
        ConfigError::new(shown, Some(Position::of(&before, valid)), None, kind)
    })
}

/// Parses the text as TOML and reads every table of the document.
pub(super) fn read_document(
    src: &Source<'_>,
    target: &TargetCfg,
) -> Result<Vec<Table>, ConfigError> {
    let top = tree::parse(src.text).map_err(|e| match e {
        SyntaxError::Parser { message, offset } => {
            ConfigError::new(src.path, Some(src.pos(offset)), None, ErrorKind::Syntax { message })
        }
        SyntaxError::TooDeep { offset } => ConfigError::new(
            src.path,
            Some(src.pos(offset)),
            None,
            ErrorKind::TooDeep { max: MAX_DEPTH },
        ),
    })?;
    read_tables(src, &top, target)
}

/// Reads every table of the document, checking each key and value on its own.
fn read_tables(
    src: &Source<'_>,
    top: &[(tree::Key, Node)],
    target: &TargetCfg,
) -> Result<Vec<Table>, ConfigError> {
    let mut tables = vec![Table { name: String::new(), selector: Selector::Top, entries: vec![] }];
    for (key, node) in top {
        if key.name != "target" {
            let entry = read_entry(src, "", key, node, true)?;
            tables[0].entries.push(entry);
            continue;
        }
        let Value::Table(targets) = &node.value else {
            return Err(src.err(
                src.pos(node.span.start),
                Some("target".into()),
                ErrorKind::NotATable { found: node.value.describe() },
            ));
        };
        for (tkey, tnode) in targets {
            let (name, selector) = read_selector(src, tkey, target)?;
            let Value::Table(entries) = &tnode.value else {
                return Err(src.err(
                    src.pos(tnode.span.start),
                    Some(name),
                    ErrorKind::NotATable { found: tnode.value.describe() },
                ));
            };
            let entries = entries
                .iter()
                .map(|(k, n)| read_entry(src, &name, k, n, false))
                .collect::<Result<Vec<_>, _>>()?;
            tables.push(Table { name, selector, entries });
        }
    }
    Ok(tables)
}

/// The name and selector of `[target.<key>]`.
fn read_selector(
    src: &Source<'_>,
    key: &tree::Key,
    target: &TargetCfg,
) -> Result<(String, Selector), ConfigError> {
    let raw = &key.name;
    let key_start = src.pos(key.span.start);
    if raw.starts_with("cfg(") {
        let name = format!("target.'{raw}'");
        let expr = Expression::parse(raw).map_err(|e| {
            // The cfg-expr span is relative to the text inside `cfg( )`, and the key is quoted.
            let quoted = usize::from(src.text[key.span.clone()].starts_with(['\'', '"']));
            let inner = if raw.ends_with(')') { 4 } else { 0 };
            let offset = key.span.start + quoted + inner + e.span.start;
            src.err(
                src.pos(offset),
                Some(name.clone()),
                ErrorKind::BadCfg { reason: e.reason.to_string() },
            )
        })?;
        if let Some((cfg_name, value, suggestion)) = impossible_values(&expr, target) {
            return Err(src.err(
                key_start,
                Some(name),
                ErrorKind::ImpossibleCfg { name: cfg_name, value, suggestion },
            ));
        }
        return Ok((name, Selector::Cfg(Box::new(expr))));
    }
    let name = format!("target.{raw}");
    if raw != target.triple() && TargetCfg::builtin(raw).is_none() {
        return Err(src.err(
            key_start,
            Some(name),
            ErrorKind::UnknownTriple { suggestion: TargetCfg::suggest_triple(raw) },
        ));
    }
    Ok((name, Selector::Triple(raw.clone())))
}

/// Checks one `key = value` on its own: a known key, a value of the right type and range.
fn read_entry(
    src: &Source<'_>,
    table: &str,
    key: &tree::Key,
    node: &Node,
    top_level: bool,
) -> Result<Entry, ConfigError> {
    let shown = qualified(table, &key.name);
    let Some(k) = Key::from_name(&key.name) else {
        let mut allowed: Vec<&'static str> = Key::ALL.iter().map(|k| k.name()).collect();
        if top_level {
            allowed.push("target");
        }
        let suggestion = closest(&key.name, allowed.iter().copied());
        return Err(src.err(
            src.pos(key.span.start),
            Some(shown),
            ErrorKind::UnknownKey { allowed, suggestion },
        ));
    };
    let position = src.pos(node.span.start);
    let err = |kind| src.err(position, Some(shown.clone()), kind);
    let value =
        match (k.kind(), &node.value) {
            (Kind::Size, Value::Integer(Some(i))) if *i < 0 => {
                return Err(err(ErrorKind::Negative { found: *i, allowed: SIZE_ALLOWED }));
            }
            (Kind::Size, Value::Integer(Some(i))) => Raw::Number(*i as u64),
            (Kind::Size, Value::String(s)) => Raw::Number(parse_size(s).map_err(|reason| {
                err(ErrorKind::BadSize { found: node.value.describe(), reason })
            })?),
            (Kind::Size, other) => {
                return Err(err(ErrorKind::WrongType {
                    found: other.describe(),
                    allowed: SIZE_ALLOWED,
                }));
            }
            (Kind::Count, Value::Integer(Some(i))) if *i < 0 => {
                return Err(err(ErrorKind::Negative { found: *i, allowed: "a whole number" }));
            }
            (Kind::Count, Value::Integer(Some(i))) => Raw::Number(*i as u64),
            (Kind::Count, other) => {
                return Err(err(ErrorKind::WrongType {
                    found: other.describe(),
                    allowed: "a whole number (a TOML integer, without quotes)",
                }));
            }
            (Kind::Choice(names), Value::String(s)) => match names.iter().position(|n| n == s) {
                Some(i) => Raw::Choice(i),
                None => {
                    return Err(err(ErrorKind::BadChoice {
                        found: node.value.describe(),
                        allowed: names,
                        suggestion: closest(s, names.iter().copied()),
                    }));
                }
            },
            (Kind::Choice(names), other) => {
                return Err(err(ErrorKind::WrongType {
                    found: other.describe(),
                    allowed: if names == FirstChunk::NAMES {
                        "one of the strings \"embed\", \"page\", \"auto\""
                    } else {
                        "one of the strings \"el1\", \"el2\" (aarch64), \"tp\", \"gp\" (riscv64), \
                         \"r21\", \"tp\" (loongarch64)"
                    },
                }));
            }
        };
    if let Raw::Number(n) = value {
        check_alone(k, n).map_err(err)?;
    }
    Ok(Entry { key: k, value, position })
}
