//! Secrets that never print themselves and compare in constant time.

use std::fmt;

use aws_lc_rs::{constant_time, digest};

/// A secret string (API key, token, shared webhook secret).
///
/// `Debug` and `Display` print a placeholder so a secret cannot leak through a log line or an
/// error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with a presented value.
    ///
    /// Both sides are hashed first, so the comparison runs over equal-length digests and its
    /// timing says nothing about the secret's length or content.
    pub fn matches(&self, presented: &[u8]) -> bool {
        if self.0.is_empty() {
            return false;
        }
        let expected = digest::digest(&digest::SHA256, self.0.as_bytes());
        let actual = digest::digest(&digest::SHA256, presented);
        constant_time::verify_slices_are_equal(expected.as_ref(), actual.as_ref()).is_ok()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
    }

    #[test]
    fn matches_only_the_exact_value() {
        let s = Secret::new("s3cret");
        assert!(s.matches(b"s3cret"));
        assert!(!s.matches(b"s3cre"));
        assert!(!s.matches(b"s3cret "));
        assert!(!s.matches(b""));
    }

    #[test]
    fn an_empty_secret_matches_nothing() {
        assert!(!Secret::new("").matches(b""));
    }
}
