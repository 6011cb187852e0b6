//! "Did you mean ...?": the closest of a set of known words to a mistyped one.

/// Longest word (in bytes) for which a suggestion is looked for.
const MAX_WORD: usize = 128;

/// Levenshtein distance between `a` and `b`, by characters, ASCII case ignored.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo: at most a
/// third of the word's length in edits (and at least 2), or a candidate containing the word (or
/// contained in it) when the word has at least 4 characters (`atom` for `atom_size`).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // No word this crate suggests (keys, units, choices, target triples, architectures) is
    // near this long: a longer one is not a typo, and comparing it would cost its length for
    // every candidate.
    if word.len() > MAX_WORD {
        return None;
    }
    let lower = word.to_ascii_lowercase().replace('-', "_");
    let chars = word.chars().count();
    let limit = (chars / 3).max(2);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let d = if lower.len() >= 4 && (candidate.contains(&lower) || lower.contains(candidate)) {
            candidate.len().abs_diff(lower.len()).min(limit)
        } else if candidate.chars().count().abs_diff(chars) > limit {
            // The distance is at least the difference in length: too far, and not computed, so
            // that a long word (a mangled key, a whole line) costs no more than a short one.
            continue;
        } else {
            distance(&lower, candidate)
        };
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 4] = ["page_size", "atom_size", "dynamic_reserve", "reserved"];

    #[test]
    fn finds_typos_prefixes_and_case() {
        assert_eq!(closest("dynamic_reserv", KEYS), Some("dynamic_reserve"));
        assert_eq!(closest("page-size", KEYS), Some("page_size"));
        assert_eq!(closest("PAGE_SIZE", KEYS), Some("page_size"));
        assert_eq!(closest("atom", KEYS), Some("atom_size"));
        assert_eq!(closest("reserve", KEYS), Some("reserved"));
        assert_eq!(closest("dynamic", KEYS), Some("dynamic_reserve"));
    }

    #[test]
    fn gives_up_on_unrelated_words() {
        assert_eq!(closest("colour", KEYS), None);
        assert_eq!(closest("x", KEYS), None);
    }

    #[test]
    fn long_words_are_rejected_without_comparing_them() {
        // (tests/regressions.rs times a megabyte-long target triple through the whole reader.)
        assert_eq!(closest(&"x".repeat(1 << 16), KEYS), None);
        assert_eq!(closest(&format!("{}page_size", "x".repeat(1 << 16)), KEYS), None);
        // Up to the limit, a word containing a key is matched, and others are compared.
        let long = format!("{}page_size", "x".repeat(MAX_WORD - 9));
        assert_eq!(closest(&long, KEYS), Some("page_size"));
        assert_eq!(closest(&"x".repeat(MAX_WORD), KEYS), None);
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "SAME"), 0);
    }
}
