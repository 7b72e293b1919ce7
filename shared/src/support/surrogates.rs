//! Unpaired surrogate escapes in JSON text (`"\uD800"`): valid JSON that no Rust string can hold,
//! so serde_json refuses the whole document. A JavaScript sender writes one when it cuts a
//! string inside an emoji; one name or message must not cost the rest of a webhook or a Graph
//! page. Each becomes `\uFFFD`, the replacement character, as a lossy UTF-8 decoder does;
//! paired surrogates and everything else are left as they are.

use std::borrow::Cow;

use serde::de::DeserializeOwned;

/// An API answer read with [`replace_lone_surrogates`] first: one cut emoji in one name reads
/// as U+FFFD instead of making the whole answer unreadable.
pub fn from_str_lenient<T: DeserializeOwned>(json: &str) -> serde_json::Result<T> {
    serde_json::from_str(&replace_lone_surrogates(json))
}

/// `json` with every unpaired `\uD800`–`\uDFFF` escape written as `\uFFFD`.
pub fn replace_lone_surrogates(json: &str) -> Cow<'_, str> {
    let bytes = json.as_bytes();
    if !has_surrogate_escape(bytes) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let mut kept = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(unit) = escaped_unit(bytes, i) else {
            // `\"`, `\\`, `\n`…: the escaped character is never the start of another escape.
            i += 2;
            continue;
        };
        let pair = (0xD800..=0xDBFF).contains(&unit)
            && escaped_unit(bytes, i + 6).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low));
        if pair {
            i += 12;
        } else if (0xD800..=0xDFFF).contains(&unit) {
            out.push_str(&json[kept..i]);
            out.push_str("\\uFFFD");
            i += 6;
            kept = i;
        } else {
            i += 6;
        }
    }
    out.push_str(&json[kept..]);
    Cow::Owned(out)
}

/// The code unit of the `\uXXXX` escape at `at`, if there is one.
fn escaped_unit(bytes: &[u8], at: usize) -> Option<u16> {
    let escape = bytes.get(at..at + 6)?;
    if escape[0] != b'\\' || escape[1] != b'u' {
        return None;
    }
    let hex = std::str::from_utf8(&escape[2..]).ok()?;
    u16::from_str_radix(hex, 16).ok()
}

/// A cheap first look: most documents have no `\uD…` escape at all.
fn has_surrogate_escape(bytes: &[u8]) -> bool {
    bytes
        .windows(3)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && matches!(w[2], b'd' | b'D'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(json: &str) -> String {
        serde_json::from_str::<String>(&replace_lone_surrogates(json)).unwrap()
    }

    #[test]
    fn serde_json_refuses_a_lone_surrogate_on_its_own() {
        assert!(serde_json::from_str::<String>(r#""a\uD800b""#).is_err());
    }

    #[test]
    fn a_lone_leading_or_trailing_surrogate_becomes_the_replacement_character() {
        assert_eq!(text_of(r#""a\uD800b""#), "a\u{FFFD}b");
        assert_eq!(text_of(r#""a\udfffb""#), "a\u{FFFD}b");
        assert_eq!(text_of(r#""\uD83D""#), "\u{FFFD}");
        assert_eq!(text_of(r#""\uD83D\uD83D\uDE00""#), "\u{FFFD}😀");
        assert_eq!(text_of(r#""\uDE00\uD83D""#), "\u{FFFD}\u{FFFD}");
    }

    #[test]
    fn pairs_and_other_escapes_are_left_alone() {
        for json in [
            r#""\uD83D\uDE00""#,
            r#""\uFFFF \u00e9 \n \" \\""#,
            r#""plain""#,
        ] {
            assert_eq!(replace_lone_surrogates(json), json);
        }
        assert_eq!(text_of(r#""\uD83D\uDE00""#), "😀");
    }

    #[test]
    fn an_escaped_backslash_before_u_is_not_an_escape() {
        assert_eq!(
            replace_lone_surrogates(r#""\\uD800""#),
            r#""\\uD800""#,
            "a backslash, then the letters uD800"
        );
        assert_eq!(text_of(r#""\\uD800\uD800""#), "\\uD800\u{FFFD}");
    }
}
