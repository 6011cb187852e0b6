//! The TOML document as a tree whose every key and value keeps its byte span in the source, so
//! that each configuration error can name the line and column it is about.
//!
//! `toml` parses: its spanned document (`toml::de::DeTable`, whose keys and values are
//! `toml::Spanned`) is turned into this owned tree. (serde's `Spanned` keys cannot describe a
//! date-time value, whose key toml deserializes without a span; the spanned document can.) The
//! schema checks live in `config.rs`: this file knows TOML, not per-CPU layouts.

use core::fmt;
use core::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One TOML value and where it is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    /// Byte range of the value in the source.
    pub span: Range<usize>,
    /// The value.
    pub value: Value,
}

/// A key of a table and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    /// The key, unquoted.
    pub name: String,
    /// Byte range of the key in the source (with its quotes, if quoted).
    pub span: Range<usize>,
}

/// A TOML value whose children keep their spans.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// An integer (`None` when it does not fit in 64 bits).
    Integer(Option<i64>),
    /// A float, as written.
    Float(String),
    /// A boolean.
    Boolean(bool),
    /// A string.
    String(String),
    /// An offset date-time, local date-time, local date or local time, as written.
    Datetime(String),
    /// An array.
    Array(Vec<Node>),
    /// A table (standard, inline or dotted), in source order.
    Table(Vec<(Key, Node)>),
}

impl Value {
    /// How the value is described in "found ..." messages: its TOML type and its text.
    pub fn describe(&self) -> String {
        match self {
            Value::Integer(Some(i)) => format!("the integer {i}"),
            Value::Integer(None) => "an integer too large for 64 bits".to_string(),
            Value::Float(x) => format!("the float {x}"),
            Value::Boolean(b) => format!("the boolean {b}"),
            Value::String(s) => format!("the string {s:?}"),
            Value::Datetime(d) => format!("the date-time {d}"),
            Value::Array(_) => "an array".to_string(),
            Value::Table(_) => "a table".to_string(),
        }
    }
}

fn node(spanned: &Spanned<DeValue<'_>>) -> Node {
    let value = match spanned.get_ref() {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => Value::Integer(i64::from_str_radix(i.as_str(), i.radix()).ok()),
        DeValue::Float(x) => Value::Float(x.to_string()),
        DeValue::Boolean(b) => Value::Boolean(*b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(items) => Value::Array(items.iter().map(node).collect()),
        DeValue::Table(t) => Value::Table(table(t)),
    };
    Node { span: spanned.span(), value }
}

/// The entries of a table, in source order.
fn table(t: &DeTable<'_>) -> Vec<(Key, Node)> {
    let mut entries: Vec<(Key, Node)> = t
        .iter()
        .map(|(k, v)| (Key { name: k.get_ref().to_string(), span: k.span() }, node(v)))
        .collect();
    entries.sort_by_key(|(k, _)| k.span.start);
    entries
}

/// A TOML syntax error: the parser's message and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// The parser's message (one line).
    pub message: String,
    /// Byte offset of the error, if the parser knows it.
    pub offset: Option<usize>,
}

/// Parses a whole document into its top-level table entries, in source order.
pub(crate) fn parse(text: &str) -> Result<Vec<(Key, Node)>, SyntaxError> {
    match DeTable::parse(text) {
        Ok(document) => Ok(table(document.get_ref())),
        Err(e) => Err(SyntaxError {
            message: e.message().trim().replace('\n', " "),
            offset: e.span().map(|s| s.start),
        }),
    }
}

/// A 1-based line and column (in characters), as compilers print them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` of `text` (clamped to the text).
    pub fn of(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_keep_their_spans_in_nested_tables() {
        let text = "a = 1\n[target.'cfg(unix)']\nb = \"2 KiB\"\n";
        let top = parse(text).unwrap();
        assert_eq!(top[0].0.name, "a");
        assert_eq!(&text[top[0].1.span.clone()], "1");
        let Value::Table(targets) = &top[1].1.value else { panic!("target is a table") };
        assert_eq!(targets[0].0.name, "cfg(unix)");
        assert_eq!(&text[targets[0].0.span.clone()], "'cfg(unix)'");
        let Value::Table(inner) = &targets[0].1.value else { panic!("cfg table") };
        assert_eq!(inner[0].1.value, Value::String("2 KiB".into()));
        assert_eq!(Position::of(text, inner[0].1.span.start), Position { line: 3, column: 5 });
    }

    #[test]
    fn datetimes_and_arrays_are_values_too() {
        let top = parse("d = 1979-05-27\nv = [1, 2]\n").unwrap();
        assert_eq!(top[0].1.value, Value::Datetime("1979-05-27".into()));
        assert_eq!(top[0].1.value.describe(), "the date-time 1979-05-27");
        assert!(matches!(&top[1].1.value, Value::Array(v) if v.len() == 2));
    }

    #[test]
    fn syntax_errors_carry_an_offset() {
        let e = parse("a = \n").unwrap_err();
        assert!(e.offset.is_some());
        assert!(!e.message.is_empty());
    }

    #[test]
    fn positions_count_characters_from_one() {
        let text = "é = 1\nxy";
        assert_eq!(Position::of(text, 0), Position { line: 1, column: 1 });
        assert_eq!(Position::of(text, 5), Position { line: 1, column: 5 });
        assert_eq!(Position::of(text, text.len()), Position { line: 2, column: 3 });
    }
}
