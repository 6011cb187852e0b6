//! The kernel command line (`-append "..."`): space-separated `key=value` words.

/// The value of the last `key=value` word for `key`, if any.
pub fn value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_ascii_whitespace()
        .rev()
        .filter_map(|word| word.split_once('='))
        .find_map(|(k, v)| (k == key).then_some(v))
}
