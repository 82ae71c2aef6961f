//! The regular expressions of `match(pattern, s)`, compiled the same way at compile time (constant
//! patterns are checked by [`crate::lower`]) and at run time (the engine), with bounds so that an
//! untrusted pattern cannot exhaust memory or time.

use std::fmt;

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 4096;

/// Largest compiled program and lazy-DFA cache of one pattern, in bytes.
const SIZE_LIMIT: usize = 1 << 20;

/// A compiled `match` pattern: it holds for a string when it matches the *whole* string
/// (Souffle's semantics).
#[derive(Clone)]
pub struct Pattern(regex::Regex);

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.0.as_str())
    }
}

fn build(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(SIZE_LIMIT)
        .nest_limit(100)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => {
                format!("the pattern compiles to more than {limit} bytes")
            }
            other => {
                // The syntax error's own rendering spans lines; keep its last line.
                let text = other.to_string();
                text.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid pattern")
                    .trim()
                    .trim_start_matches("error: ")
                    .to_string()
            }
        })
}

impl Pattern {
    /// Compiles `pattern` (Rust `regex` syntax: no backreferences or look-around).
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(format!(
                "the pattern is {} bytes long, the limit is {MAX_PATTERN_LEN}",
                pattern.len()
            ));
        }
        // Checked on its own first, so that the anchoring group below cannot be closed early by
        // the pattern (`a)|(b`).
        build(pattern)?;
        build(&format!(r"\A(?:{pattern})\z")).map(Pattern)
    }

    /// Whether the pattern matches all of `s`.
    pub fn matches(&self, s: &str) -> bool {
        self.0.is_match(s)
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn matches_whole_strings_only() {
        let p = Pattern::new("a|ab").unwrap();
        assert!(p.matches("ab"));
        assert!(p.matches("a"));
        assert!(!p.matches("abc"));
        assert!(!p.matches("xab"));
        assert!(Pattern::new("foo.*").unwrap().matches("foobar"));
        assert!(!Pattern::new("foo").unwrap().matches("foobar"));
    }

    #[test]
    fn rejects_bad_and_huge_patterns() {
        assert!(Pattern::new("a)|(b").is_err());
        assert!(Pattern::new("(").is_err());
        assert!(Pattern::new(&"a".repeat(5000)).is_err());
        assert!(Pattern::new(r"\w{1000}{1000}").is_err());
        let e = Pattern::new("(a").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
    }
}
