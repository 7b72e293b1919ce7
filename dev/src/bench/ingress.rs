//! Ingress in-process: `Ingress::handle` on a current-thread runtime, verification included,
//! queue, webhook ledger and event log stubbed at the port (`MemoryQueue`, `MemoryLedger`,
//! `CountingEventLog`, which checks every request was logged and keeps nothing), against the
//! limit it cannot beat: aws-lc-rs verifying the same signatures over the same bodies, on the
//! same core, in the same run. Raw and ingress alternate every chunk of ~1 ms of requests; the
//! ratio is the median over these back-to-back pairs, so a neighbour's load, which both halves of
//! a pair share, cancels out, and a burst that hits one half is outvoted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_lc_rs::signature::{ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use lambda_http::http::{self, HeaderMap, HeaderValue};
use leadsync::ingress::allow::AllowList;
use leadsync::ingress::{Ingress, IngressParts};
use leadsync::memory::{CountingEventLog, MemoryLedger, MemoryQueue};
use leadsync::sources::ghl::routes::{GHL_MARKETPLACE_PATH, GhlRoutes};
use leadsync::sources::ghl::verify::GhlVerifier;
use leadsync::sources::meta::routes::MetaRoutes;
use serde::Serialize;

use super::requests::{bodies, sign_all};
use leadsync_sandbox::keys::{self, GhlSignatures};

/// The ratio of ingress to raw verification throughput the issue asks for.
pub const TARGET_RATIO: f64 = 0.90;
/// Requests timed together: about a millisecond of work, short enough to fit between the
/// scheduler's interruptions on a shared machine.
pub(super) const CHUNK: usize = 20;

#[derive(Debug, Clone, Serialize)]
pub struct IngressFigure {
    pub scheme: &'static str,
    /// The only signature header each request carries.
    pub header: &'static str,
    pub body_bytes: usize,
    pub requests_per_round: usize,
    pub rounds: usize,
    /// The CPU both loops were pinned to, when pinning worked.
    pub pinned_cpu: Option<u32>,
    /// Requests per second, each chunk at its best round.
    pub ingress_per_sec: f64,
    pub raw_verify_per_sec: f64,
    /// Ingress over raw throughput: the median over back-to-back chunk pairs (what is judged).
    pub ratio: f64,
    /// `ingress_per_sec / raw_verify_per_sec`, for comparison.
    pub ratio_of_best: f64,
    pub target_ratio: f64,
    pub pass: bool,
    pub ingress_p50_us: f64,
    pub ingress_p99_us: f64,
    pub raw_p50_us: f64,
    pub raw_p99_us: f64,
}

#[derive(Clone, Copy)]
enum Scheme {
    Ed25519,
    Rsa,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Ed25519 => "Ed25519",
            Scheme::Rsa => "RSA-4096",
        }
    }

    fn header(self) -> &'static str {
        match self {
            Scheme::Ed25519 => "x-ghl-signature",
            Scheme::Rsa => "x-wh-signature",
        }
    }

    fn signature(self, sigs: &GhlSignatures) -> &str {
        match self {
            Scheme::Ed25519 => &sigs.ed25519_b64,
            Scheme::Rsa => &sigs.rsa_b64,
        }
    }

    fn raw_key(self) -> Result<ParsedPublicKey> {
        let (pem, alg): (_, &'static dyn aws_lc_rs::signature::VerificationAlgorithm) = match self {
            Scheme::Ed25519 => (keys::ED25519_PUBLIC_PEM, &ED25519),
            Scheme::Rsa => (keys::RSA_PUBLIC_PEM, &RSA_PKCS1_2048_8192_SHA256),
        };
        let der = keys::pem_to_der(pem, "PUBLIC KEY").context("sandbox public key PEM")?;
        let key = match self {
            // The raw 32-byte key follows the 12-byte SubjectPublicKeyInfo header.
            Scheme::Ed25519 => &der[12..],
            Scheme::Rsa => &der[..],
        };
        ParsedPublicKey::new(alg, key)
            .map_err(|e| anyhow::anyhow!("sandbox {} key: {e}", self.name()))
    }
}

/// One request, built before any timing: headers, body, and the decoded signature for the raw loop.
struct Prepared {
    headers: HeaderMap,
    body: Vec<u8>,
    raw_signature: Vec<u8>,
}

/// Measures both schemes over the same signed bodies. Runs on the calling thread (pinned when
/// `taskset` allows), with its own current-thread runtime.
pub fn measure(requests: usize, rounds: usize) -> Result<Vec<IngressFigure>> {
    let bodies = bodies(requests);
    let signatures = sign_all(&bodies);
    let pinned_cpu = pin_to_current_cpu();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    [Scheme::Ed25519, Scheme::Rsa]
        .into_iter()
        .map(|scheme| {
            let prepared = prepare(scheme, &bodies, &signatures)?;
            measure_scheme(&runtime, scheme, &prepared, rounds, pinned_cpu)
        })
        .collect()
}

fn measure_scheme(
    runtime: &tokio::runtime::Runtime,
    scheme: Scheme,
    prepared: &[Prepared],
    rounds: usize,
    pinned_cpu: Option<u32>,
) -> Result<IngressFigure> {
    let key = scheme.raw_key()?;
    let chunks: Vec<&[Prepared]> = prepared.chunks(CHUNK).collect();
    let mut raw = Timings::new(chunks.len());
    let mut ingress = Timings::new(chunks.len());
    let mut pair_ratios = Vec::with_capacity(chunks.len() * rounds.max(1));
    for round in 0..rounds.max(1) {
        // A fresh ingress per round: every webhook id is new to its ledger, as in production.
        let (sink, queue, log) = fresh_ingress()?;
        let mut logged = 0;
        for (k, chunk) in chunks.iter().enumerate() {
            let (mut raw_time, mut ingress_time) = (Duration::ZERO, Duration::ZERO);
            // Alternate which loop goes first, so neither always finds the body in a warm cache.
            for ingress_turn in [(k + round) % 2 == 1, (k + round) % 2 == 0] {
                if ingress_turn {
                    let elapsed =
                        runtime.block_on(ingress_chunk(&sink, chunk, &mut ingress.hist))?;
                    ingress.record(k, elapsed);
                    ingress_time = elapsed;
                    if queue.len() != chunk.len() {
                        bail!(
                            "{} of {} requests reached the queue",
                            queue.len(),
                            chunk.len()
                        );
                    }
                    logged += chunk.len();
                    if log.received() != logged {
                        bail!(
                            "{} of {logged} requests reached the event log",
                            log.received()
                        );
                    }
                    // SQS keeps nothing in the function's memory; neither does the stub, untimed.
                    queue.clear();
                } else {
                    let elapsed = raw_chunk(&key, chunk, &mut raw.hist)?;
                    raw.record(k, elapsed);
                    raw_time = elapsed;
                }
            }
            pair_ratios.push(raw_time.as_secs_f64() / ingress_time.as_secs_f64());
        }
    }
    pair_ratios.sort_by(f64::total_cmp);
    let ratio = pair_ratios[pair_ratios.len() / 2];
    let ingress_per_sec = ingress.per_sec(prepared.len());
    let raw_verify_per_sec = raw.per_sec(prepared.len());
    let quantile_us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1e3;
    Ok(IngressFigure {
        scheme: scheme.name(),
        header: scheme.header(),
        body_bytes: prepared.first().map_or(0, |p| p.body.len()),
        requests_per_round: prepared.len(),
        rounds: rounds.max(1),
        pinned_cpu,
        ingress_per_sec,
        raw_verify_per_sec,
        ratio,
        ratio_of_best: ingress_per_sec / raw_verify_per_sec,
        target_ratio: TARGET_RATIO,
        pass: ratio >= TARGET_RATIO,
        ingress_p50_us: quantile_us(&ingress.hist, 0.50),
        ingress_p99_us: quantile_us(&ingress.hist, 0.99),
        raw_p50_us: quantile_us(&raw.hist, 0.50),
        raw_p99_us: quantile_us(&raw.hist, 0.99),
    })
}

/// Per-chunk best times over the rounds, and every request's latency.
struct Timings {
    best: Vec<Duration>,
    hist: Histogram<u64>,
}

impl Timings {
    fn new(chunks: usize) -> Self {
        Self {
            best: vec![Duration::MAX; chunks],
            hist: histogram(),
        }
    }

    fn record(&mut self, chunk: usize, elapsed: Duration) {
        self.best[chunk] = self.best[chunk].min(elapsed);
    }

    /// Requests per second with each chunk at its best round: a chunk lasts about a millisecond,
    /// so one of the rounds almost always ran it undisturbed by the rest of the machine.
    fn per_sec(&self, requests: usize) -> f64 {
        requests as f64 / self.best.iter().sum::<Duration>().as_secs_f64()
    }
}

fn raw_chunk(
    key: &ParsedPublicKey,
    chunk: &[Prepared],
    hist: &mut Histogram<u64>,
) -> Result<Duration> {
    let start = Instant::now();
    for p in chunk {
        let t = Instant::now();
        let verified = key.verify_sig(&p.body, &p.raw_signature);
        hist.saturating_record(t.elapsed().as_nanos() as u64);
        if verified.is_err() {
            bail!("a prepared signature did not verify");
        }
    }
    Ok(start.elapsed())
}

async fn ingress_chunk(
    ingress: &Ingress,
    chunk: &[Prepared],
    hist: &mut Histogram<u64>,
) -> Result<Duration> {
    let start = Instant::now();
    for p in chunk {
        let t = Instant::now();
        let answer = ingress
            .handle("POST", GHL_MARKETPLACE_PATH, "", &p.headers, &p.body)
            .await;
        hist.saturating_record(t.elapsed().as_nanos() as u64);
        if answer.status != 202 {
            bail!(
                "ingress answered {} instead of 202: {}",
                answer.status,
                answer.body
            );
        }
    }
    Ok(start.elapsed())
}

fn fresh_ingress() -> Result<(Ingress, Arc<MemoryQueue>, Arc<CountingEventLog>)> {
    let queue = Arc::new(MemoryQueue::default());
    let log = Arc::new(CountingEventLog::default());
    let ingress = Ingress::new(
        IngressParts {
            max_body_bytes: 131_072,
            allow: AllowList::new([leadsync_local::SANDBOX_LOCATION_ID.to_string()], None, []),
            time_limits: leadsync::app::INGRESS_TIME_LIMITS,
            queue: queue.clone(),
            ledger: Arc::new(MemoryLedger::default()),
            events: log.clone(),
        },
        vec![
            Arc::new(GhlRoutes {
                verifier: GhlVerifier::from_pem(keys::ED25519_PUBLIC_PEM, keys::RSA_PUBLIC_PEM)?,
                timestamp_tolerance: Duration::from_secs(300),
                workflow_secret: None,
                default_location_id: None,
            }),
            Arc::new(MetaRoutes { meta: None }),
        ],
    );
    Ok((ingress, queue, log))
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static bounds are valid")
}

fn prepare(
    scheme: Scheme,
    bodies: &[Vec<u8>],
    signatures: &[GhlSignatures],
) -> Result<Vec<Prepared>> {
    bodies
        .iter()
        .zip(signatures)
        .map(|(body, sigs)| {
            let b64 = scheme.signature(sigs);
            let mut headers = HeaderMap::new();
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(scheme.header(), HeaderValue::from_str(b64)?);
            Ok(Prepared {
                headers,
                body: body.clone(),
                raw_signature: STANDARD.decode(b64)?,
            })
        })
        .collect()
}

/// Pins the calling thread to the CPU it is on, so raw and ingress loops share one core. Best
/// effort through `taskset` (no unsafe code here); `None` when that is not possible.
fn pin_to_current_cpu() -> Option<u32> {
    let task = std::fs::read_link("/proc/thread-self").ok()?;
    let tid = task.file_name()?.to_str()?.to_string();
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name start at field 3; "processor" is field 39.
    let cpu: u32 = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(36)?
        .parse()
        .ok()?;
    let status = std::process::Command::new("taskset")
        .args(["-p", "-c", &cpu.to_string(), &tid])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    status.success().then_some(cpu)
}
