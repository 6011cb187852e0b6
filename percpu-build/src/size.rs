//! Byte sizes as `percpu.toml` writes them, and as messages and reports print them.
//!
//! A size is either a TOML integer of bytes (`4096`, `0x1000`, `28_672`) or a string of a whole
//! number and a binary unit: `"28 KiB"`, `"2 MiB"`, `"512B"`. The units are `B`, `KiB`, `MiB`
//! and `GiB`, case-sensitive. Decimal units (`KB`, `MB`, `GB`) are rejected rather than
//! guessed: "2 MB" is 2 000 000 bytes to some readers and 2 MiB to others, and a page-size
//! mistake here silently changes the layout of every CPU.

use core::fmt;

/// What a size may be, as quoted in error messages.
pub const SIZE_ALLOWED: &str = "a size: an integer of bytes, or a string \"<integer> <unit>\" with unit B, KiB, MiB or GiB (e.g. \"28 KiB\")";

/// The binary units and their shifts.
const UNITS: [(&str, u32); 4] = [("B", 0), ("KiB", 10), ("MiB", 20), ("GiB", 30)];

/// Why a size string was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeError {
    /// The string is empty or has no leading number.
    NoNumber,
    /// A number without a unit (`"4096"`): a string needs a unit, an integer does not.
    NoUnit {
        /// The number written.
        number: u64,
    },
    /// A fraction (`"1.5 MiB"`): sizes are whole numbers of bytes.
    Fraction,
    /// A unit that is not one of `B`, `KiB`, `MiB`, `GiB`.
    BadUnit {
        /// The unit as written.
        unit: String,
        /// The unit that was probably meant, if there is one.
        suggestion: Option<&'static str>,
        /// The number written.
        number: u64,
    },
    /// The size does not fit in 64 bits.
    Overflow,
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeError::NoNumber => f.write_str("it does not start with a whole number"),
            SizeError::NoUnit { number } => write!(
                f,
                "a string needs a unit: write the integer {number} (bytes) or \"{number} B\""
            ),
            SizeError::Fraction => f.write_str(
                "sizes are whole numbers: use a smaller unit (e.g. \"1536 KiB\" for 1.5 MiB)",
            ),
            SizeError::BadUnit { unit, suggestion: Some(s), number } => {
                if unit.eq_ignore_ascii_case(s) {
                    write!(f, "units are case-sensitive: did you mean \"{number} {s}\"?")
                } else if matches!(unit.as_str(), "KB" | "kB" | "MB" | "GB") {
                    write!(
                        f,
                        "{unit} is a decimal unit, which sizes do not use: did you mean \"{number} {s}\" ({} bytes)?",
                        apply_unit(*number, s)
                            .map_or_else(|| "too many".to_string(), |b| b.to_string())
                    )
                } else {
                    write!(f, "unknown unit {unit:?}: did you mean \"{number} {s}\"?")
                }
            }
            SizeError::BadUnit { unit, suggestion: None, .. } => write!(f, "unknown unit {unit:?}"),
            SizeError::Overflow => f.write_str("it does not fit in 64 bits"),
        }
    }
}

impl std::error::Error for SizeError {}

/// `number` times the unit named `unit` (one of `UNITS`), or `None` on overflow.
fn apply_unit(number: u64, unit: &str) -> Option<u64> {
    let shift = UNITS.iter().find(|(u, _)| *u == unit)?.1;
    number.checked_mul(1 << shift)
}

/// The unit a mistyped unit most likely meant.
fn suggest_unit(unit: &str) -> Option<&'static str> {
    if let Some((u, _)) = UNITS.iter().find(|(u, _)| u.eq_ignore_ascii_case(unit)) {
        return Some(u);
    }
    match unit {
        "k" | "K" | "KB" | "kB" | "kb" | "Kb" => Some("KiB"),
        "m" | "M" | "MB" | "mb" | "Mb" => Some("MiB"),
        "g" | "G" | "GB" | "gb" | "Gb" => Some("GiB"),
        "b" | "byte" | "bytes" | "Byte" | "Bytes" => Some("B"),
        _ => None,
    }
}

/// Parses a size string: a whole number, optional spaces, and a unit (`B`, `KiB`, `MiB`, `GiB`).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, rest) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(SizeError::NoNumber);
    }
    let number: u64 = digits.parse().map_err(|_| SizeError::Overflow)?;
    if rest.starts_with(['.', ',']) {
        return Err(SizeError::Fraction);
    }
    let unit = rest.trim_start();
    if unit.is_empty() {
        return Err(SizeError::NoUnit { number });
    }
    if UNITS.iter().any(|(u, _)| *u == unit) {
        return apply_unit(number, unit).ok_or(SizeError::Overflow);
    }
    Err(SizeError::BadUnit { unit: unit.to_string(), suggestion: suggest_unit(unit), number })
}

/// A byte count that prints in the largest binary unit dividing it exactly: `28 KiB`,
/// `2 MiB`, `36 bytes`, `28673 bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, shift) in UNITS.iter().rev() {
            if *shift > 0 && n != 0 && n % (1 << shift) == 0 {
                return write!(f, "{} {unit}", n >> shift);
            }
        }
        if n == 1 { f.write_str("1 byte") } else { write!(f, "{n} bytes") }
    }
}

/// A byte count with both forms when they differ: `28 KiB (28672 bytes)`, `36 bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BytesExact(pub u64);

impl fmt::Display for BytesExact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = Bytes(self.0).to_string();
        if short.ends_with("bytes") || short.ends_with("byte") {
            f.write_str(&short)
        } else {
            write!(f, "{short} ({} bytes)", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_binary_units_with_or_without_space() {
        assert_eq!(parse_size("28 KiB"), Ok(28 << 10));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size(" 1 GiB "), Ok(1 << 30));
        assert_eq!(parse_size("512 B"), Ok(512));
        assert_eq!(parse_size("0 KiB"), Ok(0));
    }

    #[test]
    fn rejects_decimal_and_unknown_units_with_a_suggestion() {
        let e = parse_size("2 MB").unwrap_err();
        assert_eq!(e, SizeError::BadUnit { unit: "MB".into(), suggestion: Some("MiB"), number: 2 });
        assert_eq!(
            e.to_string(),
            "MB is a decimal unit, which sizes do not use: did you mean \"2 MiB\" (2097152 bytes)?"
        );
        assert_eq!(
            parse_size("4 kib").unwrap_err().to_string(),
            "units are case-sensitive: did you mean \"4 KiB\"?"
        );
        assert_eq!(
            parse_size("4 K").unwrap_err().to_string(),
            "unknown unit \"K\": did you mean \"4 KiB\"?"
        );
        assert_eq!(
            parse_size("4 pages").unwrap_err(),
            SizeError::BadUnit { unit: "pages".into(), suggestion: None, number: 4 }
        );
    }

    #[test]
    fn rejects_missing_numbers_units_fractions_and_overflow() {
        assert_eq!(parse_size(""), Err(SizeError::NoNumber));
        assert_eq!(parse_size("KiB"), Err(SizeError::NoNumber));
        assert_eq!(parse_size("-4 KiB"), Err(SizeError::NoNumber));
        assert_eq!(parse_size("4096"), Err(SizeError::NoUnit { number: 4096 }));
        assert_eq!(parse_size("1.5 MiB"), Err(SizeError::Fraction));
        assert_eq!(parse_size("99999999999999999999 B"), Err(SizeError::Overflow));
        assert_eq!(parse_size("17179869184 GiB"), Err(SizeError::Overflow));
    }

    #[test]
    fn prints_the_largest_exact_unit() {
        assert_eq!(Bytes(28 << 10).to_string(), "28 KiB");
        assert_eq!(Bytes(2 << 20).to_string(), "2 MiB");
        assert_eq!(Bytes(3 << 30).to_string(), "3 GiB");
        assert_eq!(Bytes(36).to_string(), "36 bytes");
        assert_eq!(Bytes(1).to_string(), "1 byte");
        assert_eq!(Bytes(0).to_string(), "0 bytes");
        assert_eq!(Bytes(1536).to_string(), "1536 bytes");
        assert_eq!(BytesExact(28 << 10).to_string(), "28 KiB (28672 bytes)");
        assert_eq!(BytesExact(36).to_string(), "36 bytes");
    }
}
