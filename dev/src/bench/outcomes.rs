//! Call outcomes back to GoHighLevel, end to end on the local stack: an agent gives a placed lead
//! a disposition in the sandbox's CallTools, its REST hook reaches ingress, the consumer reads
//! the call once from CallTools and writes GHL. Per disposition: hook → GHL updated (the note,
//! the last write, is there), and the calls each API logged. The floor is one hook delivery
//! answered by ingress plus one SQS receive, measured in the same run.
//!
//! Two mappings, each on its own stack: tags and a note (the default shape: no field
//! configured), and tags, the last-outcome field and a note.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;

use leadsync::sinks::calltools::client::CallToolsClient;
use leadsync::sources::calltools::subscription::subscribe;
use leadsync::support::secret::Secret;
use leadsync_sandbox::DuplicateMode;

use super::harness::Harness;
use super::{ms, progress};

/// How often GHL is polled while waiting for the outcome's note.
const NOTE_POLL: Duration = Duration::from_millis(5);
const LIMIT: Duration = Duration::from_secs(60);
const DISPOSITION: &str = "Not Interested";
const OUTCOMES: &str = r#"{"Not Interested": {"add_tags": ["not-interested"]}}"#;
const FIELD: &str = "fld_last_outcome";
/// GHL calls per disposition the issue asks for.
const GHL_TARGET: u32 = 2;

#[derive(Debug, Clone, Serialize)]
pub struct OutcomeCalls {
    /// What the mapping writes per disposition.
    pub effects: &'static str,
    pub dispositions: usize,
    /// GHL writes per disposition (tags, field + DND update, note).
    pub ghl_writes_mean: f64,
    pub ghl_writes_max: u32,
    pub ghl_target_max: u32,
    pub pass: bool,
    /// GHL reads the forward direction made because of those writes (GHL's webhooks for the
    /// tag and the field bring jobs that read the contact again; none writes to CallTools).
    pub ghl_echo_reads_mean: f64,
    /// CallTools hooks posted, and CallTools reads per hook (target 1).
    pub hooks: usize,
    pub calltools_reads_per_hook: f64,
    pub calltools_writes: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutcomesFigure {
    pub dispositions: usize,
    pub hook_to_ghl_p50_ms: f64,
    pub hook_to_ghl_p99_ms: f64,
    pub hook_to_ghl_max_ms: f64,
    /// One CallTools hook delivered to ingress and answered 202, p50.
    pub hook_round_trip_p50_ms: f64,
    /// One moto SQS receive of a waiting message, p50.
    pub sqs_receive_p50_ms: f64,
    /// The consumer's batching window, which a lone record waits out before Lambda invokes.
    pub batching_window_ms: f64,
    pub floor_p50_ms: f64,
    pub ratio_p50: f64,
    pub calls: Vec<OutcomeCalls>,
}

/// One disposition's cost and time.
struct Carried {
    latency: Duration,
    ghl_writes: u32,
    ghl_echo_reads: u32,
    hooks: usize,
    calltools_reads: u32,
    calltools_writes: u32,
    /// The call as the hook posted it, to deliver again for the floor.
    hook_body: Value,
}

pub async fn measure(moto_url: &str, latency_n: usize, calls_n: usize) -> Result<OutcomesFigure> {
    progress("call outcomes: tags + note");
    let plain = Harness::start_with(
        moto_url,
        "outcomes",
        DuplicateMode::MergeByPhone,
        &[("LEADSYNC_OUTCOMES", OUTCOMES)],
    )
    .await?;
    let measured = latency_and_floor(&plain, latency_n).await;
    let window = plain.batching_window();
    plain.stop().await;
    let (carried, round_trips, receives) = measured?;

    progress("call outcomes: tags + field + note");
    let with_field = Harness::start_with(
        moto_url,
        "outcomes-field",
        DuplicateMode::MergeByPhone,
        &[
            ("LEADSYNC_OUTCOMES", OUTCOMES),
            ("GHL_OUTCOME_FIELD_ID", FIELD),
        ],
    )
    .await?;
    let measured = dispositions(&with_field, calls_n, "Field").await;
    with_field.stop().await;
    let field = measured?;

    let hist = |samples: &[Duration]| {
        let mut h =
            Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("static bounds are valid");
        for d in samples {
            h.saturating_record(d.as_micros() as u64);
        }
        h
    };
    let q = |h: &Histogram<u64>, q: f64| ms(Duration::from_micros(h.value_at_quantile(q)));
    let latencies: Vec<Duration> = carried.iter().map(|c| c.latency).collect();
    let lat = hist(&latencies);
    let hook = q(&hist(&round_trips), 0.5);
    let sqs = q(&hist(&receives), 0.5);
    let floor = hook + sqs + ms(window);
    let p50 = q(&lat, 0.5);
    Ok(OutcomesFigure {
        dispositions: latencies.len(),
        hook_to_ghl_p50_ms: p50,
        hook_to_ghl_p99_ms: q(&lat, 0.99),
        hook_to_ghl_max_ms: ms(Duration::from_micros(lat.max())),
        hook_round_trip_p50_ms: hook,
        sqs_receive_p50_ms: sqs,
        batching_window_ms: ms(window),
        floor_p50_ms: floor,
        ratio_p50: if floor > 0.0 { p50 / floor } else { 0.0 },
        calls: vec![
            calls_of("tags + note", &carried),
            calls_of("tags + field + note", &field),
        ],
    })
}

/// `n` dispositions timed, then the floor: each hook delivered once more (a duplicate, which
/// ingress answers and the consumer finds done) and SQS receives.
async fn latency_and_floor(
    h: &Harness,
    n: usize,
) -> Result<(Vec<Carried>, Vec<Duration>, Vec<Duration>)> {
    let carried = dispositions(h, n, "Outcome").await?;
    let http = reqwest::Client::new();
    let url = h.stack.calltools_hook_url("call");
    let deliver = |body: String| {
        let request = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        async move {
            let started = Instant::now();
            let resp = request.send().await?;
            let status = resp.status();
            let _ = resp.bytes().await?;
            let elapsed = started.elapsed();
            if status.as_u16() != 202 {
                bail!("ingress answered {status} to a CallTools hook");
            }
            anyhow::Ok(elapsed)
        }
    };
    // The connection is opened outside the samples, as the sandbox's own deliveries keep theirs;
    // each sample waits for the consumer to finish the one before, as the latency samples do.
    if let Some(first) = carried.first() {
        deliver(first.hook_body.to_string()).await?;
        h.settle_both_ways().await?;
    }
    let mut round_trips = Vec::with_capacity(carried.len());
    for c in &carried {
        round_trips.push(deliver(c.hook_body.to_string()).await?);
        h.settle_both_ways().await?;
    }
    let receives = h.sqs_receive_round_trips(carried.len()).await?;
    Ok((carried, round_trips, receives))
}

/// Places `n` leads, subscribes the hooks, then gives each lead the disposition one at a time,
/// each step settled in both directions so every logged call belongs to it.
async fn dispositions(h: &Harness, n: usize, name: &str) -> Result<Vec<Carried>> {
    let mut leads = Vec::with_capacity(n);
    for i in 0..n {
        let phone = format!("+1415556{:04}", 100 + i);
        let id = h.create_contact(&format!("{name}{i}"), &phone).await?;
        let mark = h.mark();
        h.tag_cold_lead(&id).await?;
        let started = Instant::now();
        let ct = loop {
            if let Some(ct) = h.dialable_id(&phone).await? {
                break ct;
            }
            if started.elapsed() > LIMIT {
                bail!("lead {id} was not dialable within {LIMIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        h.settle(mark, 2).await?;
        leads.push((id, ct));
    }
    let api = CallToolsClient::new(
        reqwest::Client::new(),
        h.stack
            .config
            .calltools
            .base_url
            .clone()
            .context("the stack's CallTools base URL")?,
        Secret::new(leadsync_local::SANDBOX_CALLTOOLS_KEY),
    );
    subscribe(&api, |m| h.stack.calltools_hook_url(m.as_str())).await?;
    h.settle_both_ways().await?;

    let sb = h.sandbox_client();
    let mut out = Vec::with_capacity(n);
    for (id, ct) in leads {
        h.clear_call_logs().await?;
        let hooks_before = sb.calltools_hooks().await?.len();
        let started = Instant::now();
        let call = sb.calltools_dial(ct, Some(DISPOSITION), 42).await?;
        while sb.ghl_notes(&id).await?.is_empty() {
            if started.elapsed() > LIMIT {
                bail!("the outcome of lead {id} was not in GHL within {LIMIT:?}");
            }
            tokio::time::sleep(NOTE_POLL).await;
        }
        let latency = started.elapsed();
        h.settle_both_ways().await?;
        let ghl = sb.calls("ghl").await?;
        let calltools = sb.calls("calltools").await?;
        let hooks = sb.calltools_hooks().await?.len() - hooks_before;
        let is = |c: &Value, method: &str| c["method"] == method;
        out.push(Carried {
            latency,
            ghl_writes: count(
                ghl.iter()
                    .filter(|c| !is(c, "GET") && c["path"] != "/contacts/search"),
            ),
            ghl_echo_reads: count(ghl.iter().filter(|c| is(c, "GET"))),
            hooks,
            calltools_reads: count(calltools.iter().filter(|c| is(c, "GET"))),
            calltools_writes: count(calltools.iter().filter(|c| !is(c, "GET"))),
            hook_body: call,
        });
    }
    Ok(out)
}

fn calls_of(effects: &'static str, carried: &[Carried]) -> OutcomeCalls {
    let n = carried.len().max(1) as f64;
    let mean = |f: fn(&Carried) -> u32| carried.iter().map(|c| f64::from(f(c))).sum::<f64>() / n;
    let ghl_writes_max = carried.iter().map(|c| c.ghl_writes).max().unwrap_or(0);
    let hooks: usize = carried.iter().map(|c| c.hooks).sum();
    let reads: u32 = carried.iter().map(|c| c.calltools_reads).sum();
    OutcomeCalls {
        effects,
        dispositions: carried.len(),
        ghl_writes_mean: mean(|c| c.ghl_writes),
        ghl_writes_max,
        ghl_target_max: GHL_TARGET,
        pass: ghl_writes_max <= GHL_TARGET,
        ghl_echo_reads_mean: mean(|c| c.ghl_echo_reads),
        hooks,
        calltools_reads_per_hook: if hooks == 0 {
            0.0
        } else {
            f64::from(reads) / hooks as f64
        },
        calltools_writes: carried.iter().map(|c| c.calltools_writes).sum(),
    }
}

fn count<'a>(it: impl Iterator<Item = &'a Value>) -> u32 {
    u32::try_from(it.count()).unwrap_or(u32::MAX)
}
