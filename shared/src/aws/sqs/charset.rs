//! SQS's message character set: `#x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD |
//! #x10000–#x10FFFF` (the XML 1.0 `Char` production), for message bodies and `String`
//! attribute values alike. SQS refuses a message with anything else (`InvalidMessageContents`);
//! text from a webhook or the Graph API can carry exactly that (U+FFFE, U+FFFF).

use std::borrow::Cow;
use std::fmt::Write;

/// Whether SQS takes `c` in a message body or a `String` attribute value. (Surrogates cannot
/// be a Rust `char`; they are outside the set too.)
pub fn sqs_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// JSON text as SQS takes it: every character outside the set written as a `\uXXXX` escape.
/// Valid for JSON text, where such characters can only stand inside strings: the result is
/// valid JSON that decodes to the same value.
pub fn escape_json(json: &str) -> Cow<'_, str> {
    if json.chars().all(sqs_allows) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if sqs_allows(c) {
            out.push(c);
        } else {
            // Every refused character is in the Basic Multilingual Plane: four digits suffice.
            let _ = write!(out, "\\u{:04X}", c as u32);
        }
    }
    Cow::Owned(out)
}

/// Plain text (an attribute value) as SQS takes it: characters outside the set become U+FFFD.
pub fn replace_refused(text: &str) -> Cow<'_, str> {
    if text.chars().all(sqs_allows) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if sqs_allows(c) { c } else { '\u{FFFD}' })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each edge of the set, with the character on either side of it.
    const EDGES: [(u32, bool); 17] = [
        (0x0, false),
        (0x8, false),
        (0x9, true),
        (0xA, true),
        (0xB, false),
        (0xC, false),
        (0xD, true),
        (0xE, false),
        (0x1F, false),
        (0x20, true),
        (0xD7FF, true),
        (0xE000, true),
        (0xFFFD, true),
        (0xFFFE, false),
        (0xFFFF, false),
        (0x10000, true),
        (0x10FFFF, true),
    ];

    #[test]
    fn the_set_is_sqs_documented_one_at_every_edge() {
        for (cp, allowed) in EDGES {
            let c = char::from_u32(cp).unwrap();
            assert_eq!(sqs_allows(c), allowed, "U+{cp:04X}");
        }
        assert!(sqs_allows('\u{7F}'), "DEL is inside #x20–#xD7FF");
    }

    #[test]
    fn escaped_json_is_inside_the_set_and_decodes_to_the_same_text() {
        for (cp, _) in EDGES {
            let c = char::from_u32(cp).unwrap();
            let text = format!("a{c}b{c}");
            let json = serde_json::to_string(&serde_json::json!({ "text": text })).unwrap();
            let escaped = escape_json(&json);
            assert!(escaped.chars().all(sqs_allows), "U+{cp:04X}: {escaped}");
            let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
            assert_eq!(back["text"], text.as_str(), "U+{cp:04X}");
        }
    }

    #[test]
    fn only_refused_characters_are_escaped() {
        assert!(matches!(escape_json(r#"{"t":"é😀\n"}"#), Cow::Borrowed(_)));
        assert_eq!(
            escape_json("{\"t\":\"x\u{FFFF}y\u{FFFE}\"}"),
            r#"{"t":"x\uFFFFy\uFFFE"}"#
        );
    }

    #[test]
    fn attribute_text_keeps_what_sqs_takes_and_replaces_the_rest() {
        assert_eq!(replace_refused("ok é\t"), "ok é\t");
        assert_eq!(replace_refused("a\u{FFFF}b\u{1}c"), "a\u{FFFD}b\u{FFFD}c");
    }
}
