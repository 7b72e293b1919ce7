//! A local stack driven the way a GoHighLevel user and GoHighLevel itself would drive it,
//! through the sandbox's admin API, with the sandbox's own logs as the source of the counts.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use leadsync::consumer::Outcome;
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use leadsync_local::{SANDBOX_LOCATION_ID, Stack, StackOptions};
use leadsync_sandbox::DuplicateMode;
use leadsync_sandbox::keys::sign_ghl;

/// The CallTools bucket the default rule puts "cold lead" contacts in (sandbox default).
const COLD_LEADS_BUCKET: i64 = 11237;
/// The longest any one step may take before the run is declared broken.
const STEP_LIMIT: Duration = Duration::from_secs(60);

pub struct Harness {
    pub stack: Stack,
    http: reqwest::Client,
}

/// API calls one step cost, split the way the report needs them.
#[derive(Debug, Clone, Default)]
pub struct Calls {
    /// CallTools calls, without the bucket-name lookup.
    pub calltools: u32,
    /// `GET /api/buckets/`: once per cold start, reported on its own.
    pub bucket_lookups: u32,
    pub ghl: u32,
    /// GHL contact reads (`GET /contacts/{id}`), of `ghl`.
    pub ghl_reads: u32,
    /// GHL calls answered 429, of `ghl`.
    pub ghl_429s: u32,
    /// Consumer records of the step that ended in a retry (e.g. the contact's lease was busy).
    pub retries: u32,
    /// Every call and outcome of the step, one line each, to explain a figure over its target.
    pub detail: Vec<String>,
}

/// Where the consumer's results stood before a step.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    results: usize,
    finals: usize,
}

impl Harness {
    pub async fn start(moto_url: &str, name: &str, duplicate_mode: DuplicateMode) -> Result<Self> {
        Self::start_with(moto_url, name, duplicate_mode, &[]).await
    }

    /// The consumer's batching window as the template sets it and the local stack runs it.
    pub fn batching_window(&self) -> Duration {
        Duration::from_secs(self.stack.resources.batching_window_secs)
    }

    /// A stack whose functions also get `settings` (configuration variables).
    pub async fn start_with(
        moto_url: &str,
        name: &str,
        duplicate_mode: DuplicateMode,
        settings: &[(&str, &str)],
    ) -> Result<Self> {
        Self::start_options(
            name,
            StackOptions {
                moto_url: Some(moto_url.to_string()),
                duplicate_mode,
                settings: settings
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..StackOptions::default()
            },
        )
        .await
    }

    /// A stack started with `opts`, named after the bench process and `name`.
    pub async fn start_options(name: &str, opts: StackOptions) -> Result<Self> {
        let stack = Stack::start(StackOptions {
            stack_name: format!("bench-{}-{name}", std::process::id()),
            ..opts
        })
        .await
        .with_context(|| format!("starting the {name} local stack"))?;
        Ok(Self {
            stack,
            http: reqwest::Client::new(),
        })
    }

    /// How many CallTools contacts are in the Cold Leads bucket, by phone.
    pub async fn dialable_phones(&self) -> Result<std::collections::HashMap<String, usize>> {
        let v = self
            .admin(Method::GET, "/_sandbox/calltools/contacts", None)
            .await?;
        let mut phones = std::collections::HashMap::new();
        for c in v["contacts"].as_array().into_iter().flatten().filter(|c| {
            c["buckets"]
                .as_array()
                .is_some_and(|b| b.iter().any(|x| x.as_i64() == Some(COLD_LEADS_BUCKET)))
        }) {
            for p in c["_phone_numbers"].as_array().into_iter().flatten() {
                *phones.entry(text(p).to_string()).or_default() += 1;
            }
        }
        Ok(phones)
    }

    fn sandbox(&self) -> &str {
        self.stack
            .sandbox_url()
            .expect("the bench stack always runs the sandbox")
    }

    pub fn sandbox_client(&self) -> leadsync_sandbox::SandboxClient {
        leadsync_sandbox::SandboxClient::new(self.http.clone(), self.sandbox())
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        self.sandbox_client().call(method, path, body).await
    }

    /// Creates an untagged GHL contact and waits until its ContactCreate job is done.
    pub async fn create_contact(&self, first: &str, phone: &str) -> Result<String> {
        let mark = self.mark();
        let v = self
            .admin(
                Method::POST,
                "/_sandbox/ghl/contacts",
                Some(
                    json!({"firstName": first, "lastName": "Bench", "phone": phone,
                            "email": format!("{}@example.com", first.to_lowercase())}),
                ),
            )
            .await?;
        let id = v["contact"]["id"]
            .as_str()
            .context("the sandbox returned no contact id")?
            .to_string();
        self.settle(mark, 1).await?;
        Ok(id)
    }

    /// Adds "cold lead": GoHighLevel sends ContactTagUpdate and the workflow webhook.
    pub async fn tag_cold_lead(&self, id: &str) -> Result<()> {
        self.admin(
            Method::POST,
            &format!("/_sandbox/ghl/contacts/{id}/tags"),
            Some(json!({"tags": ["cold lead"]})),
        )
        .await
        .map(drop)
    }

    /// Renames the contact in GoHighLevel: one ContactUpdate webhook.
    pub async fn rename(&self, id: &str, first: &str) -> Result<()> {
        self.admin(
            Method::PATCH,
            &format!("/_sandbox/ghl/contacts/{id}"),
            Some(json!({"firstName": first})),
        )
        .await
        .map(drop)
    }

    /// Delivers a signed ContactUpdate for the contact as it is now (a change-free redelivery),
    /// with a fresh webhook id and timestamp; returns the round trip to the ingress's 202.
    pub async fn redeliver_unchanged(&self, id: &str) -> Result<Duration> {
        let contact = self
            .admin(Method::GET, &format!("/_sandbox/ghl/contacts/{id}"), None)
            .await?["contact"]
            .clone();
        let mut body = contact
            .as_object()
            .cloned()
            .context("the sandbox contact is an object")?;
        body.remove("dateUpdated");
        body.insert("type".into(), json!("ContactUpdate"));
        body.insert("locationId".into(), json!(SANDBOX_LOCATION_ID));
        body.insert(
            "timestamp".into(),
            json!(OffsetDateTime::now_utc().format(&Rfc3339)?),
        );
        body.insert(
            "webhookId".into(),
            json!(format!("bench-{:016x}", rand::random::<u64>())),
        );
        let bytes = Value::Object(body).to_string().into_bytes();
        let signature = sign_ghl(&bytes).ed25519_b64;
        let started = Instant::now();
        let resp = self
            .http
            .post(self.stack.webhook_url())
            .header("content-type", "application/json")
            .header("x-ghl-signature", signature)
            .body(bytes)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        let elapsed = started.elapsed();
        if status.as_u16() != 202 {
            bail!("ingress answered {status} to a signed redelivery: {text}");
        }
        Ok(elapsed)
    }

    /// Whether the contact with `phone` is in the Cold Leads bucket in CallTools.
    pub async fn dialable(&self, phone: &str) -> Result<bool> {
        Ok(self.dialable_id(phone).await?.is_some())
    }

    /// The CallTools id of the contact with `phone` once it is in the Cold Leads bucket.
    pub async fn dialable_id(&self, phone: &str) -> Result<Option<i64>> {
        let v = self
            .admin(Method::GET, "/_sandbox/calltools/contacts", None)
            .await?;
        Ok(v["contacts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| {
                c["_phone_numbers"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|x| x == phone))
                    && c["buckets"]
                        .as_array()
                        .is_some_and(|b| b.iter().any(|x| x.as_i64() == Some(COLD_LEADS_BUCKET)))
            })
            .and_then(|c| c["id"].as_i64()))
    }

    /// Waits until nothing is left in either direction: CallTools' hooks and GHL's webhooks
    /// delivered, and every job they made done (GHL writes bring GHL webhooks, whose jobs read
    /// the contact again).
    pub async fn settle_both_ways(&self) -> Result<()> {
        for _ in 0..2 {
            self.sandbox_client()
                .calltools_hooks_settled(STEP_LIMIT)
                .await?;
            self.drain().await?;
            let started = Instant::now();
            while self
                .admin(Method::GET, "/_sandbox/ghl/deliveries", None)
                .await?["in_flight"]
                .as_u64()
                != Some(0)
            {
                if started.elapsed() > STEP_LIMIT {
                    bail!("the sandbox's GHL webhooks were not delivered within {STEP_LIMIT:?}");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            self.drain().await?;
        }
        Ok(())
    }

    /// Waits until the job queue holds nothing, visible or in flight.
    async fn drain(&self) -> Result<()> {
        let started = Instant::now();
        while self
            .stack
            .queue_depth(&self.stack.resources.queue_url)
            .await?
            > 0
        {
            if started.elapsed() > STEP_LIMIT {
                bail!("the job queue did not drain within {STEP_LIMIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    pub async fn clear_call_logs(&self) -> Result<()> {
        self.admin(Method::DELETE, "/_sandbox/calltools/calls", None)
            .await?;
        self.admin(Method::DELETE, "/_sandbox/ghl/calls", None)
            .await?;
        Ok(())
    }

    /// The API calls the sandbox logged since the last clear, and the step's consumer outcomes.
    pub async fn calls(&self, mark: Mark) -> Result<Calls> {
        let calltools = self.sandbox_client().calls("calltools").await?;
        let ghl = self.sandbox_client().calls("ghl").await?;
        let is_bucket_lookup = |c: &Value| {
            c["method"] == "GET"
                && c["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/api/buckets"))
        };
        let bucket_lookups = calltools.iter().filter(|c| is_bucket_lookup(c)).count();
        let is_contact_read = |c: &&Value| {
            c["method"] == "GET"
                && c["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/contacts/"))
        };
        let ghl_reads = ghl.iter().filter(is_contact_read).count();
        let ghl_429s = ghl.iter().filter(|c| c["status"] == 429).count();
        let results = self.stack.results();
        let step = results.get(mark.results..).unwrap_or_default();
        let line = |service: &str, c: &Value| {
            let query = c["query"]
                .as_str()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            format!(
                "{} {service} {} {}{query} -> {}",
                text(&c["at"]),
                text(&c["method"]),
                text(&c["path"]),
                c["status"]
            )
        };
        let detail = calltools
            .iter()
            .map(|c| line("CallTools", c))
            .chain(ghl.iter().map(|c| line("GHL", c)))
            .chain(step.iter().map(|r| {
                format!(
                    "job {} -> {:?}",
                    r.job_id.as_deref().unwrap_or("?"),
                    r.outcome
                )
            }))
            .collect();
        Ok(Calls {
            calltools: count(calltools.len() - bucket_lookups),
            bucket_lookups: count(bucket_lookups),
            ghl: count(ghl.len()),
            ghl_reads: count(ghl_reads),
            ghl_429s: count(ghl_429s),
            retries: count(step.iter().filter(|r| is_retry(&r.outcome)).count()),
            detail,
        })
    }

    /// Consumer records settled since `mark`.
    pub fn results_since(&self, mark: Mark) -> Vec<leadsync::consumer::RecordResult> {
        let mut results = self.stack.results();
        results.drain(..mark.results.min(results.len()));
        results
    }

    pub fn mark(&self) -> Mark {
        let results = self.stack.results();
        Mark {
            results: results.len(),
            finals: results.iter().filter(|r| !is_retry(&r.outcome)).count(),
        }
    }

    /// Consumer records that reached a final outcome (anything but a retry).
    fn final_results(&self) -> usize {
        self.stack
            .results()
            .iter()
            .filter(|r| !is_retry(&r.outcome))
            .count()
    }

    /// Waits until `jobs` more jobs than at `mark` have a final outcome and the queue is empty
    /// (nothing visible, nothing in flight).
    pub async fn settle(&self, mark: Mark, jobs: usize) -> Result<()> {
        let started = Instant::now();
        while self.final_results() < mark.finals + jobs {
            if started.elapsed() > STEP_LIMIT {
                bail!(
                    "{jobs} job(s) did not finish within {STEP_LIMIT:?}; run with RUST_LOG=info to see why"
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.drain().await
    }

    /// One SQS receive of a message already waiting, on a scratch queue of the same moto: the
    /// hand-over the event source mapping cannot do faster.
    pub async fn sqs_receive_round_trips(&self, samples: usize) -> Result<Vec<Duration>> {
        let sqs = aws_sdk_sqs::Client::new(&self.stack.aws);
        let name = format!("bench-floor-{}", std::process::id());
        let url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await?
            .queue_url
            .context("moto returned no queue url")?;
        let mut out = Vec::with_capacity(samples);
        for _ in 0..samples {
            sqs.send_message()
                .queue_url(&url)
                .message_body("{}")
                .send()
                .await?;
            let started = Instant::now();
            let received = sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(1)
                .wait_time_seconds(1)
                .send()
                .await?;
            out.push(started.elapsed());
            for m in received.messages.unwrap_or_default() {
                if let Some(handle) = m.receipt_handle {
                    sqs.delete_message()
                        .queue_url(&url)
                        .receipt_handle(handle)
                        .send()
                        .await?;
                }
            }
        }
        sqs.delete_queue().queue_url(&url).send().await?;
        Ok(out)
    }

    pub async fn stop(self) {
        self.stack.stop().await;
    }
}

fn is_retry(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Retry { .. } | Outcome::Defer { .. })
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("?")
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
