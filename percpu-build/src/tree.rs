//! The TOML document as a tree whose every key and value keeps its byte span in the source, so
//! that each configuration error can name the line and column it is about.
//!
//! `toml` parses: its spanned document (`toml::de::DeTable`, whose keys and values are
//! `toml::Spanned`) is turned into this owned tree. (serde's `Spanned` keys cannot describe a
//! date-time value, whose key toml deserializes without a span; the spanned document can.) The
//! schema checks live in `config/`: this file knows TOML, not per-CPU layouts.
//!
//! Two guards come first, so that every outcome is a tree or a located error:
//!
//! * Nesting. The document's events (`toml_parser`, the parser `toml` itself runs) are scanned
//!   for the depth of every value: a `[table]` header's parts, a dotted key's parts, and every
//!   array and inline table on the way. Past [`MAX_DEPTH`] the document is refused at that
//!   place (or at an error of the text before it), and `toml` never builds the deep part: the
//!   recursion of building, converting and dropping the tree grows with the depth, and
//!   `toml`'s own limits (80 levels of arrays and inline tables, each holding an 80-part
//!   dotted key) let it reach 6400 levels, beyond a thread's stack.
//! * Position. A parser error without a span (`toml` has one: "recursion limit", for dotted
//!   keys of 80 parts) is located by parsing prefixes of the text: the shortest prefix that
//!   reproduces it ends where it is.

use core::fmt;
use core::ops::Range;
use toml::Spanned;
use toml::de::{DeTable, DeValue};
use toml_parser::parser::EventReceiver;
use toml_parser::{ErrorSink, Source, Span};

/// The deepest nesting a document may have: the number of table-header parts, dotted-key
/// parts, arrays and inline tables enclosing a value. `percpu.toml` needs 3
/// (`target.<triple>.<key>`); the margin lets the schema say "found a table, allowed a size"
/// about values a few levels too deep.
pub const MAX_DEPTH: usize = 8;

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

/// Why a text is not a document this crate reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SyntaxError {
    /// The TOML parser's message (one line) and the byte offset it is about.
    Parser {
        /// The message.
        message: String,
        /// Byte offset of the error.
        offset: usize,
    },
    /// A value nested deeper than [`MAX_DEPTH`] levels, first at byte `offset`.
    TooDeep {
        /// Byte offset of the first key part, array or inline table past the limit.
        offset: usize,
    },
}

/// Parses a whole document into its top-level table entries, in source order.
pub(crate) fn parse(text: &str) -> Result<Vec<(Key, Node)>, SyntaxError> {
    parse_with_depth(text, MAX_DEPTH)
}

/// [`parse`] with another nesting limit (tests reach `toml`'s own limits with it).
fn parse_with_depth(text: &str, max_depth: usize) -> Result<Vec<(Key, Node)>, SyntaxError> {
    if let Some(deep) = too_deep(text, max_depth) {
        // `toml` never sees the deep part: the text before it may hold an earlier error, which
        // is the one to report (errors the cut itself causes are at `deep`).
        let before = text.get(..deep).unwrap_or_default();
        let (_, errors) = DeTable::parse_recoverable(before);
        let earlier = errors
            .iter()
            .filter_map(|e| Some((e.span()?.start, e)))
            .filter(|&(offset, _)| offset < deep)
            .min_by_key(|&(offset, _)| offset);
        return Err(match earlier {
            Some((offset, e)) => SyntaxError::Parser { message: one_line(e.message()), offset },
            None => SyntaxError::TooDeep { offset: deep },
        });
    }
    match DeTable::parse(text) {
        Ok(document) => Ok(table(document.get_ref())),
        Err(e) => {
            let message = one_line(e.message());
            let offset = match e.span() {
                Some(span) => span.start,
                None => locate(text, &message),
            };
            Err(SyntaxError::Parser { message, offset })
        }
    }
}

/// A parser message on one line.
fn one_line(message: &str) -> String {
    message.trim().replace('\n', " ")
}

/// The offset of the first place `text` nests deeper than `max_depth`.
fn too_deep(text: &str, max_depth: usize) -> Option<usize> {
    let source = Source::new(text);
    let tokens = source.lex().into_vec();
    let mut scan = DepthScan { max_depth, ..DepthScan::default() };
    toml_parser::parser::parse_document(&tokens, &mut scan, &mut ());
    scan.too_deep
}

/// The depth of every value, from the parser's events (see the module documentation).
#[derive(Debug, Default)]
struct DepthScan {
    max_depth: usize,
    /// The open arrays (`true`) and inline tables (`false`), with their depths.
    open: Vec<(usize, bool)>,
    /// Depth of the table the last `[header]` or `[[header]]` opened.
    table_depth: usize,
    /// Whether the key being read is a header's.
    in_header: bool,
    /// Parts of the key read so far.
    key_parts: usize,
    /// Depth of the value after the last `=`.
    value_depth: usize,
    /// Offset of the first event past `max_depth`.
    too_deep: Option<usize>,
}

impl DepthScan {
    /// Depth of the table the current key belongs to.
    fn key_base(&self) -> usize {
        match self.open.last() {
            _ if self.in_header => 0,
            Some(&(depth, _)) => depth,
            None => self.table_depth,
        }
    }

    /// Depth of a value that starts here: an array element, or the value after `=`.
    fn value_here(&self) -> usize {
        match self.open.last() {
            Some(&(depth, true)) => depth.saturating_add(1),
            _ => self.value_depth,
        }
    }

    /// Records `depth` at `span`; whether it is within the limit.
    fn check(&mut self, depth: usize, span: Span) -> bool {
        let within = depth <= self.max_depth;
        if !within && self.too_deep.is_none() {
            self.too_deep = Some(span.start());
        }
        within
    }

    fn open(&mut self, span: Span, is_array: bool) -> bool {
        let depth = self.value_here();
        self.open.push((depth, is_array));
        // `false` makes the parser skip the contents (and still report the close).
        self.check(depth, span)
    }

    fn header_open(&mut self) {
        self.in_header = true;
        self.key_parts = 0;
        self.open.clear();
    }

    fn header_close(&mut self, span: Span, extra: usize) {
        self.table_depth = self.key_parts.saturating_add(extra);
        self.check(self.table_depth, span);
        self.in_header = false;
        self.key_parts = 0;
    }
}

impl EventReceiver for DepthScan {
    fn std_table_open(&mut self, _span: Span, _error: &mut dyn ErrorSink) {
        self.header_open();
    }
    fn std_table_close(&mut self, span: Span, _error: &mut dyn ErrorSink) {
        self.header_close(span, 0);
    }
    fn array_table_open(&mut self, _span: Span, _error: &mut dyn ErrorSink) {
        self.header_open();
    }
    fn array_table_close(&mut self, span: Span, _error: &mut dyn ErrorSink) {
        // `[[a]]`: the array `a`, then the table that is its element.
        self.header_close(span, 1);
    }
    fn inline_table_open(&mut self, span: Span, _error: &mut dyn ErrorSink) -> bool {
        self.open(span, false)
    }
    fn inline_table_close(&mut self, _span: Span, _error: &mut dyn ErrorSink) {
        self.open.pop();
    }
    fn array_open(&mut self, span: Span, _error: &mut dyn ErrorSink) -> bool {
        self.open(span, true)
    }
    fn array_close(&mut self, _span: Span, _error: &mut dyn ErrorSink) {
        self.open.pop();
    }
    fn simple_key(
        &mut self,
        span: Span,
        _kind: Option<toml_parser::decoder::Encoding>,
        _error: &mut dyn ErrorSink,
    ) {
        self.key_parts = self.key_parts.saturating_add(1);
        self.check(self.key_base().saturating_add(self.key_parts), span);
    }
    fn key_val_sep(&mut self, _span: Span, _error: &mut dyn ErrorSink) {
        self.value_depth = self.key_base().saturating_add(self.key_parts);
        self.key_parts = 0;
    }
    fn scalar(
        &mut self,
        span: Span,
        _kind: Option<toml_parser::decoder::Encoding>,
        _error: &mut dyn ErrorSink,
    ) {
        self.check(self.value_here(), span);
    }
}

/// Where a parser error that has no span is: the end of the shortest prefix of `text` (first
/// by whole lines, then by characters within the line) whose parse reports `message` without
/// a span. Each step is one parse, so this takes a logarithmic number of them.
fn locate(text: &str, message: &str) -> usize {
    let reproduces = |end: usize| {
        let (_, errors) = DeTable::parse_recoverable(&text[..end]);
        errors
            .iter()
            .any(|e| e.span().is_none() && e.message().trim().replace('\n', " ") == message)
    };
    // Line ends (each including its newline), then the end of the text.
    let mut ends: Vec<usize> = text.match_indices('\n').map(|(i, _)| i + 1).collect();
    if ends.last() != Some(&text.len()) {
        ends.push(text.len());
    }
    let line = ends.partition_point(|&end| !reproduces(end));
    let Some(&line_end) = ends.get(line) else { return text.len() };
    let line_start = if line == 0 { 0 } else { ends[line - 1] };
    let boundaries: Vec<usize> = text[line_start..line_end]
        .char_indices()
        .map(|(i, c)| line_start + i + c.len_utf8())
        .collect();
    let at = boundaries.partition_point(|&end| !reproduces(end));
    match boundaries.get(at) {
        // The last character of the shortest prefix that shows the error.
        Some(&end) => text[..end].char_indices().next_back().map_or(line_start, |(i, _)| i),
        None => line_start,
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
        let SyntaxError::Parser { message, offset } = parse("a = \n").unwrap_err() else {
            panic!("a parser error")
        };
        assert_eq!(offset, 4);
        assert!(!message.is_empty());
    }

    /// The depth of `text`'s deepest value, by the scan: the smallest limit it passes.
    fn depth(text: &str) -> usize {
        (0..=64).find(|&max| too_deep(text, max).is_none()).unwrap()
    }

    #[test]
    fn the_depth_counts_header_and_key_parts_arrays_and_inline_tables() {
        assert_eq!(depth("a = 1"), 1);
        assert_eq!(depth("a.b.c = 1"), 3);
        assert_eq!(depth("[target.x]\nk = 1"), 3);
        assert_eq!(depth("[target.'cfg(unix)']\nk.l = 1\n[x]\ny = 2"), 4);
        assert_eq!(depth("[[a.b]]\nc = 1"), 4);
        assert_eq!(depth("a = [[1], 2]"), 3);
        assert_eq!(depth("a = {b = {c.d = [1]}}"), 5);
        assert_eq!(depth("a = [{b = 1}]"), 3);
    }

    #[test]
    fn nesting_past_the_limit_is_refused_where_it_happens() {
        let deep = format!("a = 1\nx = {}1{}\n", "[".repeat(8), "]".repeat(8));
        // `x` is 1 level deep, the eighth bracket 8, and the 1 inside it 9.
        assert_eq!(parse(&deep), Err(SyntaxError::TooDeep { offset: 18 }));
        let dotted = format!("[{}]\n", ["t"; 9].join("."));
        assert_eq!(parse(&dotted), Err(SyntaxError::TooDeep { offset: 17 }));
        // A parser error before the deep value is reported first.
        let both = format!("a\nb = {}{}\n", "[".repeat(9), "]".repeat(9));
        assert!(matches!(parse(&both), Err(SyntaxError::Parser { offset: 1, .. })));
        let after = format!("b = {}{}\na\n", "[".repeat(9), "]".repeat(9));
        assert_eq!(parse(&after), Err(SyntaxError::TooDeep { offset: 12 }));
    }

    /// Issue 11 item 4: 80 levels of inline tables, each holding a 79-part dotted key, make a
    /// 6320-level tree that overflowed a 2 MiB stack when it was dropped; and unbounded
    /// brackets recurse in the parser. Both are refused at the first level past the limit.
    #[test]
    fn pathological_nesting_is_refused_on_a_small_stack() {
        let key = vec!["k"; 79].join(".");
        let mut tables = String::from("x = ");
        for _ in 0..80 {
            tables.push_str(&format!("{{ {key} = "));
        }
        tables.push('1');
        tables.push_str(&" }".repeat(80));
        let brackets = format!("x = {}", "[".repeat(1_000_000));
        // An error before it: still reported without building the deep part.
        let after_an_error = format!("a\n{tables}");
        let outcome = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || (parse(&tables), parse(&brackets), parse(&after_an_error)))
            .unwrap()
            .join()
            .unwrap();
        // `x`, the inline table (both 1), then the eighth part of the key inside it: 9.
        assert_eq!(outcome.0, Err(SyntaxError::TooDeep { offset: 20 }));
        // The ninth bracket.
        assert_eq!(outcome.1, Err(SyntaxError::TooDeep { offset: 12 }));
        assert!(matches!(outcome.2, Err(SyntaxError::Parser { offset: 1, .. })), "{:?}", outcome.2);
    }

    /// Issue 11 item 4: `toml` reports a dotted key of 80 parts or more as "recursion limit",
    /// without a span; it is located on its line (the limit here is lifted to reach it).
    #[test]
    fn spanless_parser_errors_are_located() {
        let key = vec!["k"; 81].join(".");
        let text = format!("a = 1\n# {key}\n  {key} = 2\nb = 3\n");
        let Err(SyntaxError::Parser { message, offset }) = parse_with_depth(&text, usize::MAX)
        else {
            panic!("a parser error")
        };
        assert_eq!(message, "recursion limit");
        let at = Position::of(&text, offset);
        assert_eq!(at.line, 3, "{at}");
        assert!(at.column > 2, "{at}");
        // Non-ASCII text before it, and no newline at the end.
        let text = format!("\"é\" = 1\n{key} = 2");
        let Err(SyntaxError::Parser { offset, .. }) = parse_with_depth(&text, usize::MAX) else {
            panic!("a parser error")
        };
        assert_eq!(Position::of(&text, offset).line, 2, "{offset} in {text:?}");
    }

    #[test]
    fn positions_count_characters_from_one() {
        let text = "é = 1\nxy";
        assert_eq!(Position::of(text, 0), Position { line: 1, column: 1 });
        assert_eq!(Position::of(text, 5), Position { line: 1, column: 5 });
        assert_eq!(Position::of(text, text.len()), Position { line: 2, column: 3 });
    }
}
