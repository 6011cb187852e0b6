//! How the report writes a figure: a number to three significant digits, and a median with its
//! p10–p90 range.

use bench_harness::Stats;

/// `x` with three significant digits (no decimals from 100 on).
pub fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// `median [p10–p90]`, scaled by `scale`.
/// `median [p10–p90]` of `s`, each multiplied by `scale`.
pub fn cell(s: &Stats, scale: f64) -> String {
    format!("{} [{}–{}]", num(s.median * scale), num(s.p10 * scale), num(s.p90 * scale))
}
