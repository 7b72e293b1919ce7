//! Cold start and memory as Lambda sees them: each function's real binary started through a
//! Lambda Runtime API (`leadsync_local::runtime_api`) with an invocation waiting, timed from
//! process start to the first answer, beside an empty Rust function started the same way; then
//! the same process under load, and its peak resident memory (`VmHWM`).
//!
//! The events are real work on the local stack: a freshly signed ContactTagUpdate for ingress
//! (DynamoDB claim, count and SQS send on moto), one job for a tagged sandbox contact for the
//! consumer (GHL read, CallTools create), the daily schedule for the backfill (a full run over
//! the sandbox's contacts).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::http::HeaderMap;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{ms, percentile, progress};
use leadsync::domain::job::SyncJob;
use leadsync::sources::ghl::job::{GhlContactJob, GhlTrigger};
use leadsync_local::apigw::api_gateway_event;
use leadsync_local::runtime_api::{Answer, FunctionProcess, FunctionSpec, http_status};
use leadsync_local::{SANDBOX_LOCATION_ID, Stack, StackOptions};
use leadsync_sandbox::SandboxClient;
use leadsync_sandbox::keys::sign_ghl;

use crate::sqs_records::{sqs_event, sqs_record};

/// Targets for process start → first answer (issue 19, target 4), on this machine.
const INGRESS_TARGET_MS: f64 = 25.0;
const WORKER_TARGET_MS: f64 = 60.0;
/// They deploy at 128 MB; half of it for the process at its peak.
pub const RSS_TARGET_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct LambdaFigure {
    pub function: &'static str,
    pub binary: String,
    pub samples: usize,
    /// Process start → first invocation answered, p50 and worst.
    pub cold_p50_ms: f64,
    pub cold_max_ms: f64,
    /// Process start → its first ask for an event, p50: what Lambda reports as Init Duration.
    /// The rest of the cold figure is the first invocation.
    pub init_p50_ms: f64,
    /// The empty function's p50 measured the same way in this run.
    pub empty_p50_ms: f64,
    /// The same kind of event again in the same process, p50: what the first invocation paid
    /// for being first is `cold − empty − warm`.
    pub warm_p50_ms: f64,
    pub target_ms: f64,
    pub pass: bool,
    /// Invocations of the load the peak is taken after (beyond the cold starts).
    pub load_invocations: usize,
    pub peak_rss_bytes: Option<u64>,
    pub rss_target_bytes: u64,
    pub rss_pass: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LambdaColdStarts {
    pub empty_p50_ms: f64,
    pub empty_init_p50_ms: f64,
    pub empty_peak_rss_bytes: Option<u64>,
    pub functions: Vec<LambdaFigure>,
}

/// Where the function binaries are: beside the running executable (`target/<profile>/`), which
/// `make bench` (release) and `cargo test --workspace` (debug) both build.
fn binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().context("the executable has a directory")?;
    if dir.ends_with("deps") {
        dir = dir.parent().context("deps/ has a parent")?;
    }
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "{} is not built: cargo build {}-p ingress -p consumer -p backfill -p leadsync-dev --bins",
            path.display(),
            if dir.ends_with("release") {
                "--release "
            } else {
                ""
            }
        );
    }
    Ok(path)
}

pub async fn measure(moto_url: &str, samples: usize, load: usize) -> Result<LambdaColdStarts> {
    let samples = samples.max(1);
    let stack = Stack::start(StackOptions {
        stack_name: format!("bench-{}-lambda", std::process::id()),
        moto_url: Some(moto_url.to_string()),
        start_consumer: false,
        ..StackOptions::default()
    })
    .await?;
    let measured = run(&stack, samples, load).await;
    stack.stop().await;
    measured
}

async fn run(stack: &Stack, samples: usize, load: usize) -> Result<LambdaColdStarts> {
    let sandbox = SandboxClient::new(
        reqwest::Client::new(),
        stack
            .sandbox_url()
            .context("the bench stack runs the sandbox")?,
    );
    // Tagged contacts GHL sent no webhook for: the consumer's jobs and the backfill's run.
    let imported = sandbox
        .call(
            Method::POST,
            "/_sandbox/ghl/contacts/import",
            Some(json!({"count": 2 * samples + load, "tags": ["cold lead"]})),
        )
        .await?;
    let ids: Vec<String> = serde_json::from_value(imported["ids"].clone())?;

    progress("Lambda cold start: the empty function");
    let empty = Function {
        name: "empty",
        binary: binary("empty-function")?,
        timeout: Duration::from_secs(3),
    };
    let nothing = |_: usize| Ok(b"{}".to_vec());
    let empty_run = empty.measure(stack, samples, nothing, &[]).await?;
    let empty_p50 = p50_ms(&empty_run.colds);

    // Cold and warm invocations take ids[..2 samples]; the load the rest.
    let (first, rest) = ids.split_at(2 * samples);
    let load_webhooks = rest
        .iter()
        .map(|id| webhook_event(id))
        .collect::<Result<Vec<_>>>()?;
    let load_batches = rest
        .chunks(10)
        .enumerate()
        .map(|(i, chunk)| backfill_batch(&format!("load-{i}"), chunk))
        .collect::<Result<Vec<_>>>()?;
    let full_run = vec![br#"{}"#.to_vec()];
    let one_job = |i: usize| backfill_batch(&format!("one-{i}"), &first[i..=i]);
    let webhook = |i: usize| webhook_event(&first[i]);
    // The resume tick, every few minutes, is the backfill's usual invocation; a full run over
    // the imported contacts is its load.
    let tick = |_: usize| Ok(br#"{"resume":true}"#.to_vec());

    let mut functions = Vec::new();
    let runs = [
        Run {
            name: "ingress",
            target_ms: INGRESS_TARGET_MS,
            timeout: Duration::from_secs(10),
            event: &webhook,
            load: &load_webhooks,
        },
        Run {
            name: "consumer",
            target_ms: WORKER_TARGET_MS,
            timeout: Duration::from_secs(stack.resources.consumer_timeout_secs),
            event: &one_job,
            load: &load_batches,
        },
        Run {
            name: "backfill",
            target_ms: WORKER_TARGET_MS,
            timeout: Duration::from_secs(stack.resources.backfill_timeout_secs),
            event: &tick,
            load: &full_run,
        },
    ];
    for Run {
        name,
        target_ms,
        timeout,
        event,
        load,
    } in runs
    {
        progress(&format!("Lambda cold start: {name}"));
        let f = Function {
            name,
            binary: binary(name)?,
            timeout,
        };
        let Measured {
            colds: cold,
            inits,
            warms: warm,
            rss,
        } = f.measure(stack, samples, event, load).await?;
        let cold_p50 = p50_ms(&cold);
        functions.push(LambdaFigure {
            function: name,
            binary: f.binary.display().to_string(),
            samples,
            cold_p50_ms: cold_p50,
            cold_max_ms: cold.iter().map(|d| ms(*d)).fold(0.0, f64::max),
            init_p50_ms: p50_ms(&inits),
            empty_p50_ms: empty_p50,
            warm_p50_ms: p50_ms(&warm),
            target_ms,
            pass: cold_p50 <= target_ms,
            load_invocations: load.len(),
            peak_rss_bytes: rss,
            rss_target_bytes: RSS_TARGET_BYTES,
            rss_pass: rss.map(|b| b <= RSS_TARGET_BYTES),
        });
    }
    Ok(LambdaColdStarts {
        empty_p50_ms: empty_p50,
        empty_init_p50_ms: p50_ms(&empty_run.inits),
        empty_peak_rss_bytes: empty_run.rss,
        functions,
    })
}

/// The event of the i-th invocation.
type EventFn<'a> = dyn Fn(usize) -> Result<Vec<u8>> + 'a;

/// One function's part of the figure: its target, its events and its load.
struct Run<'a> {
    name: &'static str,
    target_ms: f64,
    timeout: Duration,
    event: &'a EventFn<'a>,
    load: &'a [Vec<u8>],
}

/// One function's samples, each sorted.
struct Measured {
    colds: Vec<Duration>,
    inits: Vec<Duration>,
    warms: Vec<Duration>,
    rss: Option<u64>,
}

struct Function {
    name: &'static str,
    binary: PathBuf,
    timeout: Duration,
}

impl Function {
    /// `samples` cold starts with `event(i)`, each answered and followed by one warm invocation
    /// with `event(samples + i)` in the same process; the last process then takes the `load`
    /// invocations before its peak is read.
    async fn measure(
        &self,
        stack: &Stack,
        samples: usize,
        event: impl Fn(usize) -> Result<Vec<u8>>,
        load: &[Vec<u8>],
    ) -> Result<Measured> {
        let mut colds = Vec::with_capacity(samples);
        let mut inits = Vec::with_capacity(samples);
        let mut warms = Vec::with_capacity(samples);
        let mut rss = None;
        for i in 0..samples {
            let spec = FunctionSpec::of_stack(stack, &self.binary, self.name, self.timeout);
            let cold = FunctionProcess::cold_start(spec, &event(i)?).await?;
            let mut process = cold.process;
            answered(self.name, &cold.answer, &process)?;
            colds.push(cold.elapsed);
            inits.push(cold.init);
            let started = Instant::now();
            let answer = process.invoke(&event(samples + i)?).await?;
            warms.push(started.elapsed());
            answered(self.name, &answer, &process)?;
            if i + 1 == samples {
                for e in load {
                    let answer = process.invoke(e).await?;
                    answered(self.name, &answer, &process)?;
                }
                rss = process.peak_rss_bytes();
            }
            process.stop().await;
        }
        colds.sort();
        inits.sort();
        warms.sort();
        Ok(Measured {
            colds,
            inits,
            warms,
            rss,
        })
    }
}

/// An answer that is an error, or an HTTP answer other than 2xx, stops the bench: a figure of
/// a function that failed is no figure.
fn answered(name: &str, answer: &Answer, process: &FunctionProcess) -> Result<()> {
    let v = answer
        .json()
        .with_context(|| format!("{name}:\n{}", process.output()))?;
    if let Some(status) = http_status(&v)
        && !(200..300).contains(&status)
    {
        bail!("{name} answered {status}: {v}\n{}", process.output());
    }
    if v["batchItemFailures"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
    {
        bail!("{name} failed records back: {v}\n{}", process.output());
    }
    Ok(())
}

/// A ContactTagUpdate for the contact, signed now with a fresh webhook id: a new delivery, so
/// every invocation claims, counts and enqueues.
fn webhook_event(contact_id: &str) -> Result<Vec<u8>> {
    let body = json!({
        "type": "ContactTagUpdate",
        "locationId": SANDBOX_LOCATION_ID,
        "id": contact_id,
        "tags": ["cold lead"],
        "timestamp": OffsetDateTime::now_utc().format(&Rfc3339)?,
        "webhookId": format!("bench-{:016x}", rand::random::<u64>()),
    })
    .to_string();
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse()?);
    headers.insert(
        "x-ghl-signature",
        sign_ghl(body.as_bytes()).ed25519_b64.parse()?,
    );
    let event = api_gateway_event(
        "POST",
        "/webhooks/ghl",
        "",
        "POST /webhooks/ghl",
        &headers,
        body.as_bytes(),
    );
    Ok(serde_json::to_vec(&event)?)
}

/// An SQS batch with one backfill job per contact, as the consumer receives it.
fn backfill_batch(batch: &str, contact_ids: &[String]) -> Result<Vec<u8>> {
    let job_time = leadsync::domain::clock::now_ms();
    let records: Vec<Value> = contact_ids
        .iter()
        .enumerate()
        .map(|(k, id)| {
            let job = SyncJob::new(GhlContactJob {
                job_id: format!("bf:bench-{batch}-{k}"),
                location_id: SANDBOX_LOCATION_ID.into(),
                contact_id: id.clone(),
                trigger: GhlTrigger::Backfill,
                version_ms: None,
                received_at_ms: job_time,
                arrival: None,
                payload: String::new(),
            });
            sqs_record(&format!("bench-{batch}-{k}"), job.to_json(), job_time)
        })
        .collect();
    Ok(serde_json::to_vec(&sqs_event(records))?)
}

fn p50_ms(sorted: &[Duration]) -> f64 {
    if sorted.is_empty() {
        0.0
    } else {
        ms(percentile(sorted, 0.5))
    }
}
