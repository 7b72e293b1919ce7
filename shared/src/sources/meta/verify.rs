//! `X-Hub-Signature-256`: HMAC-SHA256 of the exact body bytes, keyed with the app secret.
//!
//! Meta signs the body as it sends it — non-ASCII already escaped as `\uXXXX` — so the bytes
//! are verified as received, never parsed and re-serialised first.

use aws_lc_rs::hmac;
use thiserror::Error;

use crate::support::secret::Secret;

const PREFIX: &[u8] = b"sha256=";
/// `sha256=` and 64 lowercase hex digits.
const HEADER_LEN: usize = PREFIX.len() + 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MetaSignatureError {
    #[error("no X-Hub-Signature-256 header")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not sha256= and 64 hex digits")]
    Malformed,
    #[error("the signature does not match the body")]
    Invalid,
}

impl MetaSignatureError {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "signature_missing",
            Self::Malformed => "signature_malformed",
            Self::Invalid => "signature_invalid",
        }
    }
}

/// The app secret as an HMAC key, made once per cold start.
pub struct MetaVerifier {
    key: hmac::Key,
}

impl MetaVerifier {
    pub fn new(app_secret: &Secret) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, app_secret.expose().as_bytes()),
        }
    }

    pub fn verify(&self, header: Option<&[u8]>, body: &[u8]) -> Result<(), MetaSignatureError> {
        let tag = read_header(header)?;
        // Constant time, over the exact bytes received.
        hmac::verify(&self.key, body, &tag).map_err(|_| MetaSignatureError::Invalid)
    }

    /// The header value Meta would send for `body` (for tests and the sandbox).
    pub fn sign(&self, body: &[u8]) -> String {
        format!(
            "sha256={}",
            hex::encode(hmac::sign(&self.key, body).as_ref())
        )
    }
}

/// The tag a well-formed header carries. Also what a route without an app secret checks, so it
/// answers exactly as one whose secret the sender does not have.
pub fn read_header(header: Option<&[u8]>) -> Result<Vec<u8>, MetaSignatureError> {
    let header = header.ok_or(MetaSignatureError::Missing)?.trim_ascii();
    if header.len() != HEADER_LEN || !header[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        return Err(MetaSignatureError::Malformed);
    }
    hex::decode(&header[PREFIX.len()..]).map_err(|_| MetaSignatureError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> MetaVerifier {
        MetaVerifier::new(&Secret::new("app-secret"))
    }

    #[test]
    fn a_signature_over_the_exact_bytes_verifies() {
        let v = verifier();
        let body = br#"{"object":"page","entry":[]}"#;
        let sig = v.sign(body);
        assert_eq!(sig.len(), HEADER_LEN);
        assert_eq!(v.verify(Some(sig.as_bytes()), body), Ok(()));
        // Upper-case hex is still the same signature.
        let upper = format!("sha256={}", sig[7..].to_uppercase());
        assert_eq!(v.verify(Some(upper.as_bytes()), body), Ok(()));
    }

    #[test]
    fn escaped_unicode_is_verified_as_sent_not_as_reserialised() {
        let v = verifier();
        // What Meta sends for "Grüße": the escaped form is what it signs.
        let sent = br#"{"text":"Gr\u00fc\u00dfe"}"#;
        let sig = v.sign(sent);
        assert_eq!(v.verify(Some(sig.as_bytes()), sent), Ok(()));
        let reserialised =
            serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(sent).unwrap())
                .unwrap();
        assert_ne!(reserialised.as_slice(), &sent[..]);
        assert_eq!(
            v.verify(Some(sig.as_bytes()), &reserialised),
            Err(MetaSignatureError::Invalid)
        );
    }

    #[test]
    fn attacks_get_their_own_reasons() {
        let v = verifier();
        let body = b"{}";
        let good = v.sign(body);
        assert_eq!(v.verify(None, body), Err(MetaSignatureError::Missing));
        for bad in [
            "",
            "sha256=",
            "sha1=0123",
            &good[..good.len() - 1],
            &format!("{good}0"),
            &format!("sha256={}", "zz".repeat(32)),
            &good.replace("sha256=", "md5=xx"),
        ] {
            assert_eq!(
                v.verify(Some(bad.as_bytes()), body),
                Err(MetaSignatureError::Malformed),
                "{bad}"
            );
        }
        let mut flipped = good.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            v.verify(Some(&flipped), body),
            Err(MetaSignatureError::Invalid)
        );
        let other = MetaVerifier::new(&Secret::new("another-secret")).sign(body);
        assert_eq!(
            v.verify(Some(other.as_bytes()), body),
            Err(MetaSignatureError::Invalid)
        );
        assert_eq!(
            v.verify(Some(good.as_bytes()), b"{} "),
            Err(MetaSignatureError::Invalid)
        );
    }
}
