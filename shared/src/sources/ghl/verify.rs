//! GoHighLevel Marketplace webhook signatures, verified over the exact raw body bytes.
//!
//! `x-ghl-signature` (Ed25519) is checked first; only when it is absent is the legacy
//! `x-wh-signature` (RSA-SHA256, PKCS#1 v1.5, GHL's 4096-bit key) tried — the order of GHL's own
//! SDK, so a forged RSA header cannot rescue a bad Ed25519 one. Once GHL has retired the legacy
//! header (quoted for both 2026-07-01 and 2026-09-01), `GHL_LEGACY_SIGNATURE=refuse` turns the
//! RSA path off; `webhooks_legacy_signature{outcome}` shows whether anything still uses it.

use aws_lc_rs::signature::{ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine;
use thiserror::Error;

use crate::support::pem::decode_pem;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows it.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const ED25519_SIGNATURE_LEN: usize = 64;
/// Longest base64 signature accepted: RSA-8192 is 1024 bytes, 1368 base64 characters.
const MAX_SIGNATURE_B64_LEN: usize = 1400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    Ed25519,
    Rsa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("no x-ghl-signature or x-wh-signature header")]
    Missing,
    #[error("the signature header is empty, too long or not base64")]
    Malformed,
    #[error("the signature does not match the body")]
    Invalid,
}

impl SignatureError {
    /// A short stable reason for metrics and answers.
    pub fn reason(self) -> &'static str {
        match self {
            SignatureError::Missing => "signature_missing",
            SignatureError::Malformed => "signature_malformed",
            SignatureError::Invalid => "signature_invalid",
        }
    }
}

#[derive(Debug, Error)]
#[error("webhook public key {which}: {reason}")]
pub struct KeyError {
    which: &'static str,
    reason: String,
}

/// Both GHL public keys, parsed once per cold start.
pub struct GhlVerifier {
    ed25519: ParsedPublicKey,
    rsa: ParsedPublicKey,
    legacy: LegacySignature,
}

/// Whether a body signed only with the legacy `x-wh-signature` is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacySignature {
    Accept,
    Refuse,
}

impl std::fmt::Debug for GhlVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GhlVerifier")
    }
}

impl GhlVerifier {
    pub fn from_pem(ed25519_pem: &str, rsa_pem: &str) -> Result<Self, KeyError> {
        let ed_der = decode_pem(ed25519_pem).map_err(|reason| KeyError {
            which: "Ed25519",
            reason,
        })?;
        let raw = match ed_der.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
            Some(raw) => raw,
            None if ed_der.len() == 32 => &ed_der[..],
            None => {
                return Err(KeyError {
                    which: "Ed25519",
                    reason: "not an Ed25519 SubjectPublicKeyInfo".into(),
                });
            }
        };
        let ed25519 = ParsedPublicKey::new(&ED25519, raw).map_err(|e| KeyError {
            which: "Ed25519",
            reason: e.to_string(),
        })?;
        let rsa_der = decode_pem(rsa_pem).map_err(|reason| KeyError {
            which: "RSA",
            reason,
        })?;
        let rsa =
            ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &rsa_der).map_err(|e| KeyError {
                which: "RSA",
                reason: e.to_string(),
            })?;
        Ok(Self {
            ed25519,
            rsa,
            legacy: LegacySignature::Accept,
        })
    }

    pub fn with_legacy(mut self, legacy: LegacySignature) -> Self {
        self.legacy = legacy;
        self
    }

    /// Verifies the header values (`x-ghl-signature`, `x-wh-signature`) against `body`.
    pub fn verify(
        &self,
        ghl: Option<&[u8]>,
        wh: Option<&[u8]>,
        body: &[u8],
    ) -> Result<SignatureScheme, SignatureError> {
        if let Some(sig) = ghl {
            let sig = decode_signature(sig)?;
            if sig.len() != ED25519_SIGNATURE_LEN {
                return Err(SignatureError::Invalid);
            }
            return self
                .ed25519
                .verify_sig(body, &sig)
                .map(|()| SignatureScheme::Ed25519)
                .map_err(|_| SignatureError::Invalid);
        }
        if let Some(sig) = wh {
            if self.legacy == LegacySignature::Refuse {
                metrics::counter!("webhooks_legacy_signature", "outcome" => "refused").increment(1);
                // Answered as a body without `x-ghl-signature`, which it is.
                return Err(SignatureError::Missing);
            }
            metrics::counter!("webhooks_legacy_signature", "outcome" => "checked").increment(1);
            let sig = decode_signature(sig)?;
            return self
                .rsa
                .verify_sig(body, &sig)
                .map(|()| SignatureScheme::Rsa)
                .map_err(|_| SignatureError::Invalid);
        }
        Err(SignatureError::Missing)
    }
}

fn decode_signature(value: &[u8]) -> Result<Vec<u8>, SignatureError> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > MAX_SIGNATURE_B64_LEN {
        return Err(SignatureError::Malformed);
    }
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| SignatureError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::config::{GHL_ED25519_PUBLIC_KEY, GHL_RSA_PUBLIC_KEY};

    #[test]
    fn ghl_published_keys_parse() {
        GhlVerifier::from_pem(GHL_ED25519_PUBLIC_KEY, GHL_RSA_PUBLIC_KEY).unwrap();
    }

    #[test]
    fn garbage_keys_are_refused_with_the_key_named() {
        let err = GhlVerifier::from_pem(
            "-----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----",
            GHL_RSA_PUBLIC_KEY,
        )
        .unwrap_err();
        assert!(err.to_string().contains("Ed25519"), "{err}");
    }

    #[test]
    fn missing_empty_and_non_base64_signatures_are_rejected() {
        let v = GhlVerifier::from_pem(GHL_ED25519_PUBLIC_KEY, GHL_RSA_PUBLIC_KEY).unwrap();
        assert_eq!(v.verify(None, None, b"{}"), Err(SignatureError::Missing));
        assert_eq!(
            v.verify(Some(b""), None, b"{}"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            v.verify(Some(b"not base64!"), None, b"{}"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            v.verify(Some(b"AAAA"), None, b"{}"),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            v.verify(None, Some(b"AAAA"), b"{}"),
            Err(SignatureError::Invalid)
        );
        let long = vec![b'A'; 2000];
        assert_eq!(
            v.verify(Some(&long), None, b"{}"),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn the_legacy_header_is_not_checked_once_refused() {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::RsaKeyPair;
        let private = include_str!("../../../../testdata/keys/ghl_test_rsa4096.pem");
        let public = include_str!("../../../../testdata/keys/ghl_test_rsa4096.pub.pem");
        let ed = include_str!("../../../../testdata/keys/ghl_test_ed25519.pub.pem");
        let key = RsaKeyPair::from_pkcs8(&decode_pem(private).unwrap()).unwrap();
        let mut sig = vec![0; key.public_modulus_len()];
        let body = br#"{"type":"ContactCreate"}"#;
        key.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            body,
            &mut sig,
        )
        .unwrap();
        let sig = base64::engine::general_purpose::STANDARD.encode(sig);
        let v = GhlVerifier::from_pem(ed, public).unwrap();
        assert_eq!(
            v.verify(None, Some(sig.as_bytes()), body),
            Ok(SignatureScheme::Rsa)
        );
        let v = v.with_legacy(LegacySignature::Refuse);
        assert_eq!(
            v.verify(None, Some(sig.as_bytes()), body),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn a_bad_ed25519_signature_does_not_fall_back_to_rsa() {
        let v = GhlVerifier::from_pem(GHL_ED25519_PUBLIC_KEY, GHL_RSA_PUBLIC_KEY).unwrap();
        let sig64 = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
        assert_eq!(
            v.verify(Some(sig64.as_bytes()), Some(b"irrelevant"), b"{}"),
            Err(SignatureError::Invalid)
        );
    }
}
