//! The lines the benchmark binaries print for the driver: one result or one fact per line,
//! tab-separated, starting with `@bench` or `@info`. Anything else a binary prints is progress
//! text for a person.
//!
//! ```text
//! @bench  ops  percpu-rt  inc  ns/op  <median> <p10> <p90> <min> <max> <samples>
//! @info   static_size  4096
//! ```

use crate::stats::Stats;
use std::fmt;

/// The unit of a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds per operation.
    NsPerOp,
    /// Operations per second (all threads together).
    OpsPerSec,
    /// Nanoseconds per call.
    NsPerCall,
}

impl Unit {
    /// The unit as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::NsPerOp => "ns/op",
            Unit::OpsPerSec => "op/s",
            Unit::NsPerCall => "ns/call",
        }
    }

    /// The unit named `s`.
    pub fn parse(s: &str) -> Option<Unit> {
        [Unit::NsPerOp, Unit::OpsPerSec, Unit::NsPerCall].into_iter().find(|u| u.as_str() == s)
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One measured result.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Which benchmark (`ops`, `scaling-2`, `remote-64`, `setup-4096`, ...).
    pub section: String,
    /// What was measured (`percpu-rt`, `thread_local! const`, ...).
    pub subject: String,
    /// The operation (`inc`, `sum`, `embed`, ...).
    pub op: String,
    /// The unit of the statistics.
    pub unit: Unit,
    /// The statistics over the samples.
    pub stats: Stats,
}

impl Record {
    /// A record; tabs and line breaks in the names are replaced by spaces.
    pub fn new(section: &str, subject: &str, op: &str, unit: Unit, stats: Stats) -> Record {
        Record { section: clean(section), subject: clean(subject), op: clean(op), unit, stats }
    }

    /// Prints the record's line on standard output.
    pub fn emit(&self) {
        println!("{self}");
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        write!(
            f,
            "@bench\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.section,
            self.subject,
            self.op,
            self.unit,
            s.median,
            s.p10,
            s.p90,
            s.min,
            s.max,
            s.samples
        )
    }
}

/// Prints an `@info` line: a fact about the run (sizes, settings).
pub fn info(key: &str, value: impl fmt::Display) {
    println!("@info\t{}\t{}", clean(key), clean(&value.to_string()));
}

fn clean(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

/// A parsed line of a benchmark binary's output.
#[derive(Clone, Debug, PartialEq)]
pub enum Line {
    /// A result.
    Bench(Record),
    /// A fact: key and value.
    Info(String, String),
}

impl Line {
    /// Parses one line; `None` for progress text and malformed lines.
    pub fn parse(line: &str) -> Option<Line> {
        let fields: Vec<&str> = line.trim_end_matches(['\n', '\r']).split('\t').collect();
        match fields.as_slice() {
            ["@info", key, value] => Some(Line::Info(key.to_string(), value.to_string())),
            ["@bench", section, subject, op, unit, numbers @ ..] if numbers.len() == 6 => {
                let v: Vec<f64> =
                    numbers[..5].iter().map(|n| n.parse().ok()).collect::<Option<_>>()?;
                Some(Line::Bench(Record {
                    section: section.to_string(),
                    subject: subject.to_string(),
                    op: op.to_string(),
                    unit: Unit::parse(unit)?,
                    stats: Stats {
                        median: v[0],
                        p10: v[1],
                        p90: v[2],
                        min: v[3],
                        max: v[4],
                        samples: numbers[5].parse().ok()?,
                    },
                }))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_its_line() {
        let stats = Stats::from_samples(&[1.25, 1.5, 2.0, 0.75]).unwrap();
        let r = Record::new("ops", "thread_local!\tconst", "inc", Unit::NsPerOp, stats);
        let line = r.to_string();
        assert!(line.starts_with("@bench\tops\tthread_local! const\tinc\tns/op\t"));
        assert_eq!(Line::parse(&line), Some(Line::Bench(r)));
    }

    #[test]
    fn info_and_other_lines() {
        assert_eq!(
            Line::parse("@info\tstatic_size\t4096\n"),
            Some(Line::Info("static_size".into(), "4096".into()))
        );
        assert_eq!(Line::parse("running 12 variants..."), None);
        assert_eq!(Line::parse("@bench\tops\tx\tinc\tns/op\t1\t2"), None);
        assert_eq!(Line::parse("@bench\tops\tx\tinc\tfurlongs\t1\t1\t1\t1\t1\t1"), None);
    }
}
