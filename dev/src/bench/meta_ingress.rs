//! Meta ingress in-process: one signed Messenger POST of 50 items through `Ingress::handle`
//! (verify, parse, one job per item, batch enqueue to a memory queue, event log stubbed) against
//! the least any receiver must do with the same bytes on the same core in the same run: verify the
//! HMAC and parse the JSON. Alternating chunks, median ratio, as in the GHL section.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use aws_lc_rs::hmac;
use hdrhistogram::Histogram;
use lambda_http::http::{HeaderMap, HeaderValue};
use leadsync::ingress::allow::AllowList;
use leadsync::ingress::{Ingress, IngressParts};
use leadsync::memory::{CountingEventLog, MemoryLedger, MemoryQueue};
use leadsync::sources::ghl::routes::GhlRoutes;
use leadsync::sources::ghl::verify::GhlVerifier;
use leadsync::sources::meta::routes::{META_PATH, MetaIngress, MetaRoutes};
use leadsync::sources::meta::verify::MetaVerifier;
use leadsync::support::secret::Secret;
use serde::Serialize;
use serde_json::{Value, json};

use leadsync_sandbox::keys;
use leadsync_sandbox::{SandboxConfig, meta_escaped_json, sign_meta};

/// Items per POST: Meta batches up to 1000, a busy Page sends a few dozen.
const ITEMS: usize = 50;
/// POSTs timed together.
const CHUNK: usize = 4;
/// Meta's answer budget.
const META_BUDGET: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Serialize)]
pub struct MetaIngressFigure {
    pub items_per_post: usize,
    pub body_bytes: usize,
    pub posts: usize,
    /// Items per second through ingress, and through verify + parse alone.
    pub ingress_items_per_sec: f64,
    pub floor_items_per_sec: f64,
    /// Median over back-to-back chunk pairs.
    pub ratio: f64,
    pub post_p50_us: f64,
    pub post_p99_us: f64,
    /// Meta's 5 s budget over the p99 of one POST.
    pub budget_headroom: f64,
}

pub fn measure(posts: usize, rounds: usize) -> Result<MetaIngressFigure> {
    let played = SandboxConfig::default();
    let body = batch_body(&played.meta_page_id);
    let signature = sign_meta(&played.meta_app_secret, body.as_bytes());
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-hub-signature-256", HeaderValue::from_str(&signature)?);
    let key = hmac::Key::new(hmac::HMAC_SHA256, played.meta_app_secret.as_bytes());
    let tag = hex::decode(&signature["sha256=".len()..])?;
    // Timers: ingress bounds every AWS call with a timeout, as it does in Lambda.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let chunks = posts.div_ceil(CHUNK).max(1);
    let mut best_ingress = vec![Duration::MAX; chunks];
    let mut best_floor = vec![Duration::MAX; chunks];
    let mut ratios = Vec::with_capacity(chunks * rounds);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    for _ in 0..rounds {
        let (ingress, queue) = ingress(&played)?;
        for chunk in 0..chunks {
            let start = Instant::now();
            for _ in 0..CHUNK {
                hmac::verify(&key, body.as_bytes(), &tag).map_err(|_| anyhow::anyhow!("HMAC"))?;
                let parsed: Value = serde_json::from_slice(body.as_bytes())?;
                std::hint::black_box(parsed);
            }
            let floor = start.elapsed();
            let start = Instant::now();
            for _ in 0..CHUNK {
                let t = Instant::now();
                let answer = runtime.block_on(ingress.handle(
                    "POST",
                    META_PATH,
                    "",
                    &headers,
                    body.as_bytes(),
                ));
                hist.saturating_record(t.elapsed().as_nanos() as u64);
                if answer.status != 200 {
                    bail!("ingress answered {}: {}", answer.status, answer.body);
                }
            }
            let through = start.elapsed();
            best_floor[chunk] = best_floor[chunk].min(floor);
            best_ingress[chunk] = best_ingress[chunk].min(through);
            ratios.push(floor.as_secs_f64() / through.as_secs_f64());
        }
        if queue.len() != chunks * CHUNK * ITEMS {
            bail!(
                "{} jobs queued, expected {}",
                queue.len(),
                chunks * CHUNK * ITEMS
            );
        }
    }
    ratios.sort_by(f64::total_cmp);
    let items = (chunks * CHUNK * ITEMS) as f64;
    let per_sec = |best: &[Duration]| items / best.iter().sum::<Duration>().as_secs_f64();
    let p99 = hist.value_at_quantile(0.99) as f64 / 1e3;
    Ok(MetaIngressFigure {
        items_per_post: ITEMS,
        body_bytes: body.len(),
        posts: chunks * CHUNK,
        ingress_items_per_sec: per_sec(&best_ingress),
        floor_items_per_sec: per_sec(&best_floor),
        ratio: ratios[ratios.len() / 2],
        post_p50_us: hist.value_at_quantile(0.50) as f64 / 1e3,
        post_p99_us: p99,
        budget_headroom: META_BUDGET.as_secs_f64() * 1e6 / p99.max(1.0),
    })
}

fn ingress(played: &SandboxConfig) -> Result<(Ingress, Arc<MemoryQueue>)> {
    let queue = Arc::new(MemoryQueue::default());
    let ingress = Ingress::new(
        IngressParts {
            max_body_bytes: 1_048_576,
            allow: AllowList::new(
                [],
                None,
                [
                    played.meta_page_id.clone(),
                    played.meta_ig_account_id.clone(),
                ],
            ),
            time_limits: leadsync::app::INGRESS_TIME_LIMITS,
            queue: queue.clone(),
            ledger: Arc::new(MemoryLedger::default()),
            events: Arc::new(CountingEventLog::default()),
        },
        vec![
            Arc::new(GhlRoutes {
                verifier: GhlVerifier::from_pem(keys::ED25519_PUBLIC_PEM, keys::RSA_PUBLIC_PEM)?,
                timestamp_tolerance: Duration::from_secs(300),
                workflow_secret: None,
                default_location_id: None,
            }),
            Arc::new(MetaRoutes {
                meta: Some(MetaIngress {
                    verifier: MetaVerifier::new(&Secret::new(played.meta_app_secret.clone())),
                    verify_token: None,
                }),
            }),
        ],
    );
    Ok((ingress, queue))
}

/// 50 items as a busy Page sends them: messages with non-ASCII text, echoes, receipts, split
/// over two entries, in Meta's escaped form.
fn batch_body(page: &str) -> String {
    let t = 1_795_428_000_000_i64;
    let item = |i: usize| {
        let user = format!("24000000000{:05}", i % 17);
        match i % 5 {
            0 => json!({"sender":{"id":page},"recipient":{"id":user},"timestamp":t + i as i64,
                        "message":{"mid":format!("m_bench_{i}"),"text":"Thanks! We'll call you today.","is_echo":true,"app_id":1}}),
            1 => json!({"sender":{"id":user},"recipient":{"id":page},"timestamp":t + i as i64,
                        "delivery":{"mids":[format!("m_bench_{}", i - 1)],"watermark":t}}),
            _ => json!({"sender":{"id":user},"recipient":{"id":page},"timestamp":t + i as i64,
                        "message":{"mid":format!("m_bench_{i}"),"text":format!("Grüße, is the offer still open? ({i}) 👋")}}),
        }
    };
    let items: Vec<Value> = (0..ITEMS).map(item).collect();
    let body = json!({"object":"page","entry":[
        {"id":page,"time":t,"messaging":items[..ITEMS / 2]},
        {"id":page,"time":t,"messaging":items[ITEMS / 2..]},
    ]});
    meta_escaped_json(&body)
}
