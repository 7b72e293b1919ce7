//! What a cold start costs: the size of the release binaries Lambda loads, and the time to build
//! the ingress from configuration, beside the time to parse its two public keys — the part of
//! the build that cannot be skipped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_lc_rs::signature::{ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use leadsync::app::config::Config;
use serde::Serialize;

use super::{percentile, us};
use leadsync_local::moto_sdk_config;
use leadsync_sandbox::keys;

#[derive(Debug, Clone, Serialize)]
pub struct BinaryFigure {
    pub name: &'static str,
    /// Where it was found; `None` when it is not built.
    pub path: Option<String>,
    pub bytes: Option<u64>,
    /// From the ELF header: `arm64`, `x86_64`, or `None` when not built or not ELF.
    pub arch: Option<&'static str>,
    /// The target for each function's arm64 bootstrap (a target, not a limit measured here).
    pub target_bytes: u64,
}

/// Each function's arm64 bootstrap at most 8 MiB.
pub const BINARY_TARGET_BYTES: u64 = 8 * 1024 * 1024;

impl BinaryFigure {
    /// Within the target; `None` when it is not an arm64 build (nothing to judge).
    pub fn pass(&self) -> Option<bool> {
        (self.arch == Some("arm64")).then(|| self.bytes.is_some_and(|b| b <= self.target_bytes))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ColdStartFigure {
    pub samples: usize,
    /// `leadsync::app::build_ingress`, the first time in this process.
    pub build_ingress_first_us: f64,
    pub build_ingress_p50_us: f64,
    /// Parsing the Ed25519 and the RSA-4096 public key from DER, once each, p50.
    pub key_parse_p50_us: f64,
    /// `build_ingress_first_us / key_parse_p50_us`: the cold start against its limit.
    pub ratio_first: f64,
    /// `build_ingress_p50_us / key_parse_p50_us`.
    pub ratio_p50: f64,
}

/// The Lambda binaries, where `cargo lambda build --release` or `cargo build --release` leaves
/// them. Never builds them.
pub fn binaries() -> Vec<BinaryFigure> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    // What `make lambda` (which `make bench` runs when one is missing) builds: as Lambda runs it.
    ["ingress", "consumer", "backfill"]
        .into_iter()
        .map(|name| {
            let candidates = [target.join("lambda").join(name).join("bootstrap")];
            let found = candidates.iter().find_map(|p| {
                std::fs::metadata(p)
                    .ok()
                    .filter(|m| m.is_file())
                    .map(|m| (p, m.len()))
            });
            BinaryFigure {
                name,
                path: found.map(|(p, _)| {
                    p.canonicalize()
                        .unwrap_or_else(|_| p.clone())
                        .display()
                        .to_string()
                }),
                bytes: found.map(|(_, len)| len),
                arch: found.and_then(|(p, _)| elf_arch(p)),
                target_bytes: BINARY_TARGET_BYTES,
            }
        })
        .collect()
}

pub async fn cold_start(moto_url: &str, samples: usize) -> Result<ColdStartFigure> {
    let samples = samples.max(1);
    let aws = moto_sdk_config(moto_url).await;
    let queue_url = format!("{moto_url}/123456789012/leadsync-bench");
    let cfg = Config::from_lookup(|k| match k {
        "LEADSYNC_TABLE" => Some("leadsync-bench".into()),
        "LEADSYNC_QUEUE_URL" => Some(queue_url.clone()),
        "GHL_WEBHOOK_ED25519_PUBLIC_KEY" => Some(keys::ED25519_PUBLIC_PEM.into()),
        "GHL_WEBHOOK_RSA_PUBLIC_KEY" => Some(keys::RSA_PUBLIC_PEM.into()),
        // The sandbox's committed keys, which ingress accepts only on the local stack, and its
        // location, without which ingress warns that every GHL webhook would be ignored.
        "LEADSYNC_LOCAL_STACK" => Some("1".into()),
        "GHL_LOCATION_ID" => Some(leadsync_local::SANDBOX_LOCATION_ID.into()),
        _ => None,
    })?;
    let mut builds = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let ingress = leadsync::app::build_ingress(&cfg, &aws)?;
        builds.push(started.elapsed());
        drop(ingress);
    }
    let first = builds[0];

    let ed =
        keys::pem_to_der(keys::ED25519_PUBLIC_PEM, "PUBLIC KEY").context("sandbox Ed25519 PEM")?;
    let rsa = keys::pem_to_der(keys::RSA_PUBLIC_PEM, "PUBLIC KEY").context("sandbox RSA PEM")?;
    let mut parses = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let parsed = (
            ParsedPublicKey::new(&ED25519, &ed[12..]),
            ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &rsa),
        );
        parses.push(started.elapsed());
        if parsed.0.is_err() || parsed.1.is_err() {
            anyhow::bail!("the sandbox public keys did not parse");
        }
    }
    builds.sort();
    parses.sort();
    let build = percentile(&builds, 0.5);
    let parse = percentile(&parses, 0.5);
    Ok(ColdStartFigure {
        samples,
        build_ingress_first_us: us(first),
        build_ingress_p50_us: us(build),
        key_parse_p50_us: us(parse),
        ratio_first: ratio(first, parse),
        ratio_p50: ratio(build, parse),
    })
}

/// The machine an ELF binary is for (`e_machine`, bytes 18–19, little-endian).
fn elf_arch(path: &std::path::Path) -> Option<&'static str> {
    let mut header = [0u8; 20];
    std::io::Read::read_exact(&mut std::fs::File::open(path).ok()?, &mut header).ok()?;
    if &header[..4] != b"\x7fELF" {
        return None;
    }
    match u16::from_le_bytes([header[18], header[19]]) {
        0x3e => Some("x86_64"),
        0xb7 => Some("arm64"),
        _ => None,
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        0.0
    } else {
        a.as_secs_f64() / b.as_secs_f64()
    }
}
