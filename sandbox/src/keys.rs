//! The sandbox's fixed webhook signing keys. TEST ONLY: the private halves are committed in
//! `testdata/keys/` (see its README), so anything that trusts these public keys trusts everyone.
//!
//! The local stack configures leadsync's ingress with [`ED25519_PUBLIC_PEM`] and
//! [`RSA_PUBLIC_PEM`], and the sandbox signs every Marketplace webhook with [`sign_ghl`] the
//! way GoHighLevel does (research §2.1, §2.2).

use std::sync::LazyLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// SPKI PEM of the Ed25519 key behind `x-ghl-signature`.
pub const ED25519_PUBLIC_PEM: &str = include_str!("../../testdata/keys/ghl_test_ed25519.pub.pem");
/// SPKI PEM of the RSA-4096 key behind the legacy `x-wh-signature`.
pub const RSA_PUBLIC_PEM: &str = include_str!("../../testdata/keys/ghl_test_rsa4096.pub.pem");

/// Meta signs with an HMAC of the App Secret, not a key pair; the helpers live in
/// [`super::meta_sign`] and are repeated here so every webhook signer is found in one place.
pub use super::meta_sign::{meta_escaped_json, sign_meta, sign_meta_sha1};

const ED25519_PRIVATE_PEM: &str = include_str!("../../testdata/keys/ghl_test_ed25519.pem");
const RSA_PRIVATE_PEM: &str = include_str!("../../testdata/keys/ghl_test_rsa4096.pem");

/// Both signatures GoHighLevel could put on one webhook body, base64 like the headers carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhlSignatures {
    /// Value for `x-ghl-signature`: Ed25519 over the body bytes.
    pub ed25519_b64: String,
    /// Value for `x-wh-signature`: RSASSA-PKCS1-v1_5 with SHA-256 over the body bytes.
    pub rsa_b64: String,
}

// The key files are compiled in and checked by the tests below, so a failure here is a broken
// build, not bad input: panicking once at first use is the honest outcome.
static ED25519_KEY: LazyLock<Ed25519KeyPair> = LazyLock::new(|| {
    let der = pem_to_der(ED25519_PRIVATE_PEM, "PRIVATE KEY").expect("committed Ed25519 PEM");
    Ed25519KeyPair::from_pkcs8(&der).expect("committed Ed25519 PKCS#8 key")
});
static RSA_KEY: LazyLock<RsaKeyPair> = LazyLock::new(|| {
    let der = pem_to_der(RSA_PRIVATE_PEM, "PRIVATE KEY").expect("committed RSA PEM");
    RsaKeyPair::from_pkcs8(&der).expect("committed RSA PKCS#8 key")
});

/// Signs `body` exactly as given: GoHighLevel signs the bytes it sends, so the sandbox signs the
/// serialized payload once and sends those very bytes (and re-sends them on retries).
pub fn sign_ghl(body: &[u8]) -> GhlSignatures {
    let ed25519_b64 = STANDARD.encode(ED25519_KEY.sign(body).as_ref());
    let mut rsa_sig = vec![0u8; RSA_KEY.public_modulus_len()];
    RSA_KEY
        .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), body, &mut rsa_sig)
        .expect("RSA-4096 PKCS#1 signing of an in-memory buffer");
    GhlSignatures {
        ed25519_b64,
        rsa_b64: STANDARD.encode(rsa_sig),
    }
}

/// Decodes the first PEM block with the given label. Text before the block (our TEST-ONLY
/// banner) is ignored, as OpenSSL does.
pub fn pem_to_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let b64: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).ok()
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{ED25519, KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    use super::*;

    #[test]
    fn ingress_refuses_exactly_these_keys_and_secrets_outside_the_local_stack() {
        use leadsync::ingress::committed_keys::{
            PUBLIC_KEY_FINGERPRINTS, SECRET_FINGERPRINTS, fingerprint,
        };
        for pem in [ED25519_PUBLIC_PEM, RSA_PUBLIC_PEM] {
            let der = pem_to_der(pem, "PUBLIC KEY").unwrap();
            assert!(PUBLIC_KEY_FINGERPRINTS.contains(&fingerprint(&der).as_str()));
        }
        let played = crate::SandboxConfig::default();
        for secret in [
            crate::SANDBOX_WORKFLOW_SECRET,
            &played.meta_app_secret,
            &played.meta_verify_token,
        ] {
            assert!(SECRET_FINGERPRINTS.contains(&fingerprint(secret.as_bytes()).as_str()));
        }
    }

    #[test]
    fn public_pems_belong_to_the_committed_private_keys() {
        let ed_spki = pem_to_der(ED25519_PUBLIC_PEM, "PUBLIC KEY").unwrap();
        assert_eq!(ed_spki.len(), 44, "12-byte SPKI header + 32-byte key");
        assert_eq!(&ed_spki[12..], ED25519_KEY.public_key().as_ref());

        let rsa_spki = pem_to_der(RSA_PUBLIC_PEM, "PUBLIC KEY").unwrap();
        let derived = RSA_KEY.public_key().as_der().unwrap();
        assert_eq!(rsa_spki, derived.as_ref());
        assert_eq!(
            RSA_KEY.public_modulus_len(),
            512,
            "RSA-4096 like GoHighLevel's key"
        );
    }

    #[test]
    fn signatures_verify_with_the_public_pems() {
        let body = br#"{"type":"ContactCreate","id":"abc"}"#;
        let sigs = sign_ghl(body);

        let ed_spki = pem_to_der(ED25519_PUBLIC_PEM, "PUBLIC KEY").unwrap();
        let ed_sig = STANDARD.decode(&sigs.ed25519_b64).unwrap();
        UnparsedPublicKey::new(&ED25519, &ed_spki[ed_spki.len() - 32..])
            .verify(body, &ed_sig)
            .unwrap();

        let rsa_spki = pem_to_der(RSA_PUBLIC_PEM, "PUBLIC KEY").unwrap();
        let rsa_sig = STANDARD.decode(&sigs.rsa_b64).unwrap();
        assert_eq!(rsa_sig.len(), 512);
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &rsa_spki)
            .verify(body, &rsa_sig)
            .unwrap();
    }

    #[test]
    fn a_changed_body_fails_verification() {
        let sigs = sign_ghl(b"{}");
        let ed_spki = pem_to_der(ED25519_PUBLIC_PEM, "PUBLIC KEY").unwrap();
        let ed_sig = STANDARD.decode(&sigs.ed25519_b64).unwrap();
        assert!(
            UnparsedPublicKey::new(&ED25519, &ed_spki[12..])
                .verify(b"{ }", &ed_sig)
                .is_err()
        );
    }
}
