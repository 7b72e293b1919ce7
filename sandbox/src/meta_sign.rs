//! The bytes Meta puts on the wire for a webhook and the signatures over them (research §2):
//! the JSON body with every non-ASCII character escaped as `\uXXXX` (lowercase hex, surrogate
//! pairs for emoji), HMAC-SHA256 (and legacy SHA1) over exactly those bytes, keyed with the App
//! Secret. A receiver that parses and re-serialises before hashing gets raw UTF-8 and a mismatch,
//! which is the bug this form exists to catch.

use std::fmt::Write as _;

use aws_lc_rs::hmac;
use serde_json::Value;

/// `v` serialised compactly, then every non-ASCII character rewritten as `\uXXXX`. serde_json
/// only ever emits non-ASCII inside strings (keys included), so the rewrite cannot touch syntax.
pub fn meta_escaped_json(v: &Value) -> String {
    escape_non_ascii(&v.to_string())
}

/// The value for `X-Hub-Signature-256`: `sha256=` and the lowercase hex HMAC of `body`.
pub fn sign_meta(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex_hmac(hmac::HMAC_SHA256, app_secret, body))
}

/// The value for the older `X-Hub-Signature` header Meta still sends: `sha1=<hex>`.
pub fn sign_meta_sha1(app_secret: &str, body: &[u8]) -> String {
    format!(
        "sha1={}",
        hex_hmac(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, app_secret, body)
    )
}

fn hex_hmac(algorithm: hmac::Algorithm, secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(algorithm, secret.as_bytes());
    hex::encode(hmac::sign(&key, body).as_ref())
}

fn escape_non_ascii(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 8);
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                // Writing into a String cannot fail.
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn non_ascii_is_escaped_in_lowercase_with_surrogate_pairs() {
        let body = meta_escaped_json(&json!({"text": "äöå Grüße 👋", "ключ": 1}));
        assert_eq!(
            body,
            r#"{"text":"\u00e4\u00f6\u00e5 Gr\u00fc\u00dfe \ud83d\udc4b","\u043a\u043b\u044e\u0447":1}"#
        );
        assert!(body.is_ascii());
        let back: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(back["text"], "äöå Grüße 👋");
    }

    #[test]
    fn ascii_escapes_from_serde_are_left_alone() {
        let body = meta_escaped_json(&json!({"t": "a\"b\\c\n"}));
        assert_eq!(body, r#"{"t":"a\"b\\c\n"}"#);
    }

    #[test]
    fn signatures_are_lowercase_hex_hmacs_of_the_exact_bytes() {
        // RFC 4231 test case 2 (HMAC-SHA256) and RFC 2202 test case 2 (HMAC-SHA1).
        assert_eq!(
            sign_meta("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            sign_meta_sha1("Jefe", b"what do ya want for nothing?"),
            "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }
}
