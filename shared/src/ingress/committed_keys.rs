//! Keys and secrets committed to this repository for the local stack: the sandbox's GHL signing
//! key pairs (`testdata/keys/`), its workflow secret, Meta app secret and verify token, and the
//! token the local stack's CallTools hook URLs carry.
//! Anyone can read them, so anyone could sign with them: outside the local stack (which sets
//! `LEADSYNC_LOCAL_STACK=1`, something template.yaml never does) ingress refuses to start with
//! one of them configured. Only SHA-256 fingerprints are kept here, and a test in the CLI crate
//! checks them against the sandbox's own keys and secrets.

use aws_lc_rs::digest;
use thiserror::Error;

use crate::app::config::Config;
use crate::support::pem::decode_pem;

/// SHA-256 of each committed public key's DER.
pub const PUBLIC_KEY_FINGERPRINTS: [&str; 2] = [
    // ghl_test_ed25519.pub.pem
    "bb0d7e3a5144f9d9e999d64d81991d073a97a2c79ab4030bcf863cf7849435c6",
    // ghl_test_rsa4096.pub.pem
    "eb66465ca1073dc85f90c847f6ae18555ff450d358c8bcab6c36dcb1b1f0e9f0",
];

/// SHA-256 of each committed secret.
pub const SECRET_FINGERPRINTS: [&str; 4] = [
    // the workflow secret
    "2372e964dada28e1b601253412602e0143e65ca310942d1abc3348c5f18b4b8a",
    // the Meta app secret
    "61dac0852a859c21a6569028dc6403b188fd8d66bdefa67ee49f825de58aedc6",
    // the Meta verify token
    "a12dd725ff0dcdde8d95f71a060351377624aecfbf6cef07041f59e78bbbf0fd",
    // the local stack's CallTools hook token
    "8a08b4a16beac5131e48b3dce9aabc8ae5593ce5a2d03a05e5b277ab4d8cefb9",
];

#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "{0} is the local stack's test key or secret, committed to the repository: anyone could sign \
     webhooks with it. Configure your own (docs/configuration.md); it is accepted only by `leadsync local`"
)]
pub struct CommittedKey(pub &'static str);

pub fn fingerprint(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}

/// Refuses a configuration that verifies webhooks with a committed key, unless it is the local
/// stack's. Secrets given as SSM parameters are checked once resolved.
pub fn refuse_committed_keys(cfg: &Config) -> Result<(), CommittedKey> {
    if cfg.local_stack {
        return Ok(());
    }
    let keys = [
        (
            "GHL_WEBHOOK_ED25519_PUBLIC_KEY",
            &cfg.ghl.ed25519_public_key_pem,
        ),
        ("GHL_WEBHOOK_RSA_PUBLIC_KEY", &cfg.ghl.rsa_public_key_pem),
    ];
    for (name, pem) in keys {
        // A key that does not decode is refused later, by the verifier, with its own error.
        if let Ok(der) = decode_pem(pem)
            && PUBLIC_KEY_FINGERPRINTS.contains(&fingerprint(&der).as_str())
        {
            return Err(CommittedKey(name));
        }
    }
    let secrets = [
        ("GHL_WORKFLOW_SECRET", &cfg.ghl.workflow_secret),
        ("META_APP_SECRET", &cfg.meta.app_secret),
        ("META_VERIFY_TOKEN", &cfg.meta.verify_token),
        ("CALLTOOLS_HOOK_TOKEN", &cfg.calltools.hook_token),
    ];
    for (name, source) in secrets {
        if let Some(secret) = source.value()
            && SECRET_FINGERPRINTS.contains(&fingerprint(secret.expose().as_bytes()).as_str())
        {
            return Err(CommittedKey(name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SANDBOX_ED25519: &str = include_str!("../../../testdata/keys/ghl_test_ed25519.pub.pem");

    fn config(pairs: &[(&str, &str)]) -> Config {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned()).unwrap()
    }

    #[test]
    fn ghl_published_keys_and_unknown_secrets_pass() {
        let cfg = config(&[("GHL_WORKFLOW_SECRET", "a-secret-of-our-own")]);
        assert_eq!(refuse_committed_keys(&cfg), Ok(()));
    }

    #[test]
    fn the_sandbox_signing_key_is_refused_outside_the_local_stack() {
        let cfg = config(&[("GHL_WEBHOOK_ED25519_PUBLIC_KEY", SANDBOX_ED25519)]);
        assert_eq!(
            refuse_committed_keys(&cfg),
            Err(CommittedKey("GHL_WEBHOOK_ED25519_PUBLIC_KEY"))
        );
        let local = config(&[
            ("GHL_WEBHOOK_ED25519_PUBLIC_KEY", SANDBOX_ED25519),
            ("LEADSYNC_LOCAL_STACK", "1"),
        ]);
        assert_eq!(refuse_committed_keys(&local), Ok(()));
    }

    #[test]
    fn the_sandbox_secrets_are_refused_outside_the_local_stack() {
        let cfg = config(&[("META_APP_SECRET", "sandbox-meta-app-secret")]);
        assert_eq!(
            refuse_committed_keys(&cfg),
            Err(CommittedKey("META_APP_SECRET"))
        );
        // local/src/lib.rs: LOCAL_CALLTOOLS_HOOK_TOKEN (its own test checks the fingerprint).
        let cfg = config(&[(
            "CALLTOOLS_HOOK_TOKEN",
            "local-calltools-hook-token-5f0c2a9e71d84b36",
        )]);
        assert_eq!(
            refuse_committed_keys(&cfg),
            Err(CommittedKey("CALLTOOLS_HOOK_TOKEN"))
        );
    }
}
