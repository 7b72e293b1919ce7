//! Harness for the end-to-end tests: one moto per test binary (it exits with the binary), and
//! for each test its own stack — own table, queues, sandbox and ports — so tests run in parallel
//! without seeing each other.
#![forbid(unsafe_code)]

pub mod log_leaks;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use leadsync::aws::dynamo::DynamoStore;
use leadsync::domain::contact::ContactKey;
use leadsync::ports::store::ContactState;
use leadsync::ports::store::StateStore;
use leadsync_local::logs::StackLogs;
use leadsync_local::moto::Moto;
use leadsync_local::{SANDBOX_LOCATION_ID, Stack, StackOptions};
use leadsync_sandbox::{DuplicateMode, PersonalData};
use serde_json::{Value, json};

static MOTO: OnceLock<Moto> = OnceLock::new();
static STACKS: AtomicU32 = AtomicU32::new(0);

fn moto() -> &'static Moto {
    MOTO.get_or_init(|| Moto::start().expect("moto starts (run `make venv` first)"))
}

fn moto_url() -> String {
    moto().url.clone()
}

/// The process id of this test binary's moto, which every stack it starts shares.
pub fn moto_pid() -> u32 {
    moto().pid()
}

/// A running local stack plus a client for its sandbox.
pub struct TestStack {
    pub stack: Stack,
    pub http: reqwest::Client,
    _no_leaks: NoLeaks,
}

/// Fails the test, when its stack's life ends, if a line its functions logged carries personal
/// data ([`log_leaks`]): after `stop`, or when the stack is dropped without it. A test that
/// already failed is left to its own message.
struct NoLeaks {
    logs: Arc<StackLogs>,
    known: Box<dyn Fn() -> PersonalData + Send + Sync>,
}

impl Drop for NoLeaks {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let found = log_leaks::leaks(&self.logs.lines(), &(self.known)());
        assert!(
            found.is_empty(),
            "personal data in the functions' logs:\n{}",
            found
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

pub struct StackBuilder {
    settings: HashMap<String, String>,
    duplicate_mode: DuplicateMode,
    start_consumer: bool,
}

/// A stack whose sandbox CallTools account merges a second create for a known phone
/// (`DuplicateMode::MergeByPhone`, leadsync in `merge` mode). Such an account hides a duplicate
/// create, so a test whose point is "one contact per phone" picks
/// `duplicate_mode(DuplicateMode::AllowDuplicates)` (leadsync in `lookup` mode) or asserts on the
/// creates sent (`calltools_creates_for`).
pub fn stack() -> StackBuilder {
    StackBuilder {
        settings: HashMap::new(),
        duplicate_mode: DuplicateMode::MergeByPhone,
        start_consumer: true,
    }
}

impl StackBuilder {
    pub fn setting(mut self, k: &str, v: &str) -> Self {
        self.settings.insert(k.into(), v.into());
        self
    }

    pub fn duplicate_mode(mut self, m: DuplicateMode) -> Self {
        self.duplicate_mode = m;
        self
    }

    /// Leaves jobs on the queue instead of consuming them.
    pub fn without_consumer(mut self) -> Self {
        self.start_consumer = false;
        self
    }

    pub async fn start(self) -> Result<TestStack> {
        let n = STACKS.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{}-{}", std::process::id(), n);
        let stack = Stack::start(StackOptions {
            stack_name: name,
            moto_url: Some(moto_url()),
            settings: self.settings,
            duplicate_mode: self.duplicate_mode,
            ghl_retry_interval: Duration::from_millis(500),
            start_consumer: self.start_consumer,
            ..StackOptions::default()
        })
        .await?;
        let known = stack
            .sandbox
            .as_ref()
            .context("tests run with the sandbox")?
            .personal_data();
        let _no_leaks = NoLeaks {
            logs: stack.logs.clone(),
            known: Box::new(known),
        };
        Ok(TestStack {
            stack,
            http: reqwest::Client::new(),
            _no_leaks,
        })
    }
}

impl TestStack {
    pub fn sandbox(&self) -> &str {
        self.stack
            .sandbox_url()
            .expect("tests run with the sandbox")
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        self.sandbox_client().call(method, path, body).await
    }

    /// Creates a GHL contact (which fires ContactCreate) and returns its id.
    pub async fn create_ghl_contact(&self, first: &str, phone: &str) -> Result<String> {
        let v = self
            .admin(
                reqwest::Method::POST,
                "/_sandbox/ghl/contacts",
                Some(json!({"firstName": first, "lastName": "Tester", "phone": phone, "email": format!("{}@example.com", first.to_lowercase())})),
            )
            .await?;
        Ok(v["contact"]["id"]
            .as_str()
            .context("contact id")?
            .to_string())
    }

    pub async fn update_ghl_contact(&self, id: &str, fields: Value) -> Result<Value> {
        self.admin(
            reqwest::Method::PATCH,
            &format!("/_sandbox/ghl/contacts/{id}"),
            Some(fields),
        )
        .await
    }

    pub async fn tag(&self, id: &str, tag: &str) -> Result<Value> {
        self.admin(
            reqwest::Method::POST,
            &format!("/_sandbox/ghl/contacts/{id}/tags"),
            Some(json!({"tags": [tag]})),
        )
        .await
    }

    /// Removes `tag` in GHL (which fires ContactTagUpdate), as `tag` adds one.
    pub async fn untag(&self, id: &str, tag: &str) -> Result<Value> {
        self.admin(
            reqwest::Method::DELETE,
            &format!("/_sandbox/ghl/contacts/{id}/tags"),
            Some(json!({"tags": [tag]})),
        )
        .await
    }

    pub async fn ghl_contact(&self, id: &str) -> Result<Value> {
        Ok(self
            .admin(
                reqwest::Method::GET,
                &format!("/_sandbox/ghl/contacts/{id}"),
                None,
            )
            .await?["contact"]
            .clone())
    }

    pub async fn calltools_contacts(&self) -> Result<Vec<Value>> {
        let v = self
            .admin(reqwest::Method::GET, "/_sandbox/calltools/contacts", None)
            .await?;
        Ok(v["contacts"].as_array().cloned().unwrap_or_default())
    }

    pub async fn seed_calltools_contact(&self, body: Value) -> Result<Value> {
        self.admin(
            reqwest::Method::POST,
            "/_sandbox/calltools/contacts",
            Some(body),
        )
        .await
    }

    /// Every CallTools API call the sandbox saw.
    pub async fn calltools_calls(&self) -> Result<Vec<Value>> {
        self.sandbox_client().calls("calltools").await
    }

    /// Calls the sandbox's Meta admin API: `POST /_sandbox/meta/<path>`.
    pub async fn meta(&self, path: &str, body: Value) -> Result<Value> {
        self.sandbox_client()
            .call(
                reqwest::Method::POST,
                &format!("/_sandbox/meta/{path}"),
                Some(body),
            )
            .await
    }

    /// Messenger / Instagram contacts, conversations and messages as the consumer stored them.
    pub fn meta_store(&self) -> leadsync::aws::dynamo::meta::DynamoMetaStore {
        leadsync::aws::dynamo::meta::DynamoMetaStore::new(
            aws_sdk_dynamodb::Client::new(&self.stack.aws),
            &self.stack.resources.table,
        )
    }

    pub fn sandbox_client(&self) -> leadsync_sandbox::SandboxClient {
        leadsync_sandbox::SandboxClient::new(self.http.clone(), self.sandbox())
    }

    /// The creates (`POST /api/contacts/`) leadsync sent CallTools for `phone`, whatever the
    /// account did with them: a merge-by-phone account folds a second create into the first
    /// contact, this log does not.
    pub async fn calltools_creates_for(&self, phone: &str) -> Result<Vec<Value>> {
        Ok(self
            .calltools_calls()
            .await?
            .into_iter()
            .filter(|c| c["method"] == "POST" && c["path"] == "/api/contacts/")
            .filter(|c| c["request_json"].to_string().contains(phone))
            .collect())
    }

    /// CallTools calls that write (POST/PATCH/PUT/DELETE).
    pub async fn calltools_writes(&self) -> Result<Vec<Value>> {
        Ok(self
            .calltools_calls()
            .await?
            .into_iter()
            .filter(|c| c["method"].as_str().is_some_and(|m| m != "GET"))
            .collect())
    }

    /// How the sandbox GHL delivers webhooks: duplicates, reordering, drops.
    pub async fn set_delivery(&self, spec: Value) -> Result<()> {
        self.admin(reqwest::Method::POST, "/_sandbox/ghl/delivery", Some(spec))
            .await?;
        Ok(())
    }

    /// The sandbox's OAuth chain: `settings` as `POST /_sandbox/ghl/oauth` takes them (`{}`
    /// only reads it).
    pub async fn oauth(&self, settings: Value) -> Result<Value> {
        self.admin(reqwest::Method::POST, "/_sandbox/ghl/oauth", Some(settings))
            .await
    }

    /// This stack's numbers, as `leadsync stats` reads them.
    pub fn stats_target(&self) -> leadsync_cli::stats::Target {
        let mut accounts = Vec::new();
        if let Some(l) = &self.stack.config.ghl.default_location_id {
            accounts.push(("ghl".to_string(), l.clone()));
        }
        leadsync_cli::stats::Target {
            metrics: leadsync_cli::stats::metrics::StackMetrics {
                client: aws_sdk_cloudwatch::Client::new(&self.stack.aws),
                namespace: self.stack.metrics.namespace.clone(),
                service: self.stack.metrics.service.clone(),
            },
            sqs: aws_sdk_sqs::Client::new(&self.stack.aws),
            dlq_url: Some(self.stack.resources.dlq_url.clone()),
            queue_url: Some(self.stack.resources.queue_url.clone()),
            checkpoints: Some(leadsync::aws::dynamo::backfill::DynamoCheckpoints::new(
                aws_sdk_dynamodb::Client::new(&self.stack.aws),
                self.stack.resources.table.clone(),
            )),
            accounts,
        }
    }

    /// A backfill scan of the sandbox's GHL location with `rules`, over this stack's table: what
    /// a test runs beside the stack's own backfill.
    pub fn ghl_scan(
        &self,
        rules: leadsync::domain::rules::Rules,
    ) -> leadsync::sources::ghl::scan::GhlScan {
        leadsync::sources::ghl::scan::GhlScan::new(
            Arc::new(leadsync::sources::ghl::client::GhlClient::new(
                reqwest::Client::new(),
                self.sandbox().to_string(),
                leadsync::support::secret::Secret::new(leadsync_local::SANDBOX_GHL_TOKEN),
            )),
            Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&self.stack.aws),
                &self.stack.resources.table,
            )),
            rules,
            SANDBOX_LOCATION_ID.into(),
            leadsync::sources::ghl::search::MAX_PAGE_LIMIT,
        )
    }

    /// A CallTools client of the sandbox account, as a person or another integration uses it.
    pub fn calltools_client(&self) -> Result<leadsync::sinks::calltools::client::CallToolsClient> {
        Ok(leadsync::sinks::calltools::client::CallToolsClient::new(
            reqwest::Client::new(),
            self.stack
                .config
                .calltools
                .base_url
                .clone()
                .context("the stack's CallTools base URL")?,
            leadsync::support::secret::Secret::new(leadsync_local::SANDBOX_CALLTOOLS_KEY),
        ))
    }

    /// This stack as `leadsync` commands see `make dev`'s (what `.local/stack.json` says).
    pub fn target(&self) -> leadsync_cli::target::Target {
        let s = &self.stack;
        leadsync_cli::target::Target::Local(Box::new(leadsync_cli::target::StackInfo {
            webhook_url: s.webhook_url(),
            workflow_url: s.workflow_url(),
            sandbox_url: s.sandbox_url().map(str::to_string),
            moto_url: s.moto_url.clone(),
            table: s.resources.table.clone(),
            queue_url: s.resources.queue_url.clone(),
            dlq_url: s.resources.dlq_url.clone(),
            lambda_url: s.lambda.as_ref().map(|l| l.url.clone()),
            backfill_function: Some(s.resources.backfill_function.clone()),
            ghl_location_id: s.config.ghl.default_location_id.clone(),
            meta_page_id: s.config.meta.page_id.clone(),
            meta_ig_account_id: s.config.meta.ig_account_id.clone(),
            meta_app_id: s.config.meta.app_id.clone(),
            meta_page_token: None,
            stack_name: Some(s.metrics.service.clone()),
            metrics_namespace: Some(s.metrics.namespace.clone()),
            environment: s.environment.clone(),
        }))
    }

    /// The played CallTools account's variants (`placement`: `inline` / `ignored`;
    /// `bucket_listing`: `both` / `buckets_only` / `lists_only`; `deletes`: `allowed` /
    /// `forbidden`), set before the first job.
    pub async fn set_calltools_modes(&self, modes: Value) -> Result<()> {
        self.sandbox_client().set_calltools_modes(modes).await?;
        Ok(())
    }

    /// How the played GoHighLevel account behaves where research leaves variants open (see
    /// [`leadsync_sandbox::SandboxClient::ghl_account`]); only the keys given change.
    pub async fn ghl_account(&self, changes: Value) -> Result<Value> {
        self.sandbox_client().ghl_account(changes).await
    }

    /// Makes GoHighLevel answer reads of `contact_id` with `answer` (`not_found_400`,
    /// `not_found_404`, `invalid_version_400`, `unprocessable_422`); `None` answers it again.
    pub async fn refuse_reads(&self, contact_id: &str, answer: Option<&str>) -> Result<()> {
        let answers = match answer {
            Some(a) => json!({ contact_id: a }),
            None => json!({}),
        };
        self.ghl_account(json!({ "read_answers": answers })).await?;
        Ok(())
    }

    pub async fn set_faults(&self, faults: Value) -> Result<()> {
        self.admin(
            reqwest::Method::POST,
            "/_sandbox/calltools/faults",
            Some(faults),
        )
        .await?;
        Ok(())
    }

    /// CallTools contacts carrying `phone`.
    pub async fn calltools_with_phone(&self, phone: &str) -> Result<Vec<Value>> {
        Ok(self
            .calltools_contacts()
            .await?
            .into_iter()
            .filter(|c| {
                c["_phone_numbers"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|x| x == phone))
            })
            .collect())
    }

    pub async fn contact_state(&self, ghl_id: &str) -> Result<Option<ContactState>> {
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.stack.aws),
            &self.stack.resources.table,
        );
        Ok(store
            .contact_state(&ContactKey::ghl(SANDBOX_LOCATION_ID, ghl_id))
            .await?)
    }

    /// Posts a webhook body to ingress with the given headers.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<(u16, Value)> {
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Posts a Marketplace webhook signed with the sandbox's Ed25519 test key.
    pub async fn post_signed(&self, body: &[u8]) -> Result<(u16, Value)> {
        let sig = leadsync_sandbox::keys::sign_ghl(body);
        self.post(
            &self.stack.webhook_url(),
            &[("x-ghl-signature", sig.ed25519_b64)],
            body,
        )
        .await
    }

    /// Messages on a queue: visible, in flight or delayed.
    pub async fn queue_depth(&self, url: &str) -> Result<u64> {
        self.stack.queue_depth(url).await
    }

    /// Messages in the dead-letter queue, received (and made visible again at once).
    pub async fn dead_letters(&self) -> Result<Vec<aws_sdk_sqs::types::Message>> {
        let out = aws_sdk_sqs::Client::new(&self.stack.aws)
            .receive_message()
            .queue_url(&self.stack.resources.dlq_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_attribute_names("All")
            .send()
            .await?;
        Ok(out.messages.unwrap_or_default())
    }

    pub async fn stop(self) {
        self.stack.stop().await;
    }
}

/// A Marketplace webhook body for a contact event.
pub fn marketplace_body(
    event_type: &str,
    contact_id: &str,
    timestamp_ms: i64,
    webhook_id: &str,
) -> Vec<u8> {
    let ts = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(timestamp_ms) * 1_000_000)
        .expect("valid time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    format!(
        r#"{{"type":"{event_type}","locationId":"{SANDBOX_LOCATION_ID}","id":"{contact_id}","tags":["cold lead"],"timestamp":"{ts}","webhookId":"{webhook_id}"}}"#
    )
    .into_bytes()
}

/// Polls `check` until it returns `Some`, or fails after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the queue has drained and nothing is in flight.
pub async fn drained(t: &TestStack, limit: Duration) -> Result<()> {
    let url = t.stack.resources.queue_url.clone();
    eventually(limit, "the job queue to drain", || async {
        Ok((t.queue_depth(&url).await? == 0).then_some(()))
    })
    .await
}

/// Waits until the sandbox's GHL has no webhook left to deliver (none held back, on the wire or
/// waiting to retry), so its delivery log is final and the jobs they made are on the queue.
pub async fn webhooks_delivered(t: &TestStack, limit: Duration) -> Result<()> {
    eventually(limit, "the sandbox's webhooks to be delivered", || async {
        let v = t
            .admin(reqwest::Method::GET, "/_sandbox/ghl/deliveries", None)
            .await?;
        Ok((v["in_flight"].as_u64() == Some(0)).then_some(()))
    })
    .await
}

/// Waits until every webhook of the changes made so far is delivered and every job they made is
/// consumed: what a "two webhooks, one write" check must wait for (the queue alone can be empty
/// while GHL's second webhook is still on its way).
pub async fn settled(t: &TestStack, limit: Duration) -> Result<()> {
    webhooks_delivered(t, limit).await?;
    drained(t, limit).await
}

/// Creates a tagged contact whose phone CallTools refuses and waits until its jobs are parked:
/// every webhook of the change delivered, a job in the DLQ for each (a parked job saves no read,
/// so none covers another: one per GHL webhook route), and the job queue drained.
pub async fn parked_contact(t: &TestStack, first: &str, phone: &str) -> Result<String> {
    t.set_faults(json!({"reject_phones": [phone]})).await?;
    let id = t.create_tagged_contact(first, phone, "cold lead").await?;
    webhooks_delivered(t, Duration::from_secs(30)).await?;
    let accepted = t
        .deliveries()
        .await?
        .iter()
        .filter(|d| d["contactId"] == id.as_str() && d["status"] == 202)
        .count();
    eventually(
        Duration::from_secs(30),
        "a parked job for each accepted webhook",
        || async { Ok((t.dead_letters().await?.len() >= accepted.max(1)).then_some(())) },
    )
    .await?;
    drained(t, Duration::from_secs(30)).await?;
    Ok(id)
}

impl TestStack {
    /// The backfill function as `leadsync backfill run` reaches it: through the Lambda Invoke
    /// API, here the local stack's.
    pub fn backfill_function(&self) -> Result<leadsync_cli::commands::backfill::BackfillFunction> {
        let lambda = self
            .stack
            .lambda
            .as_ref()
            .context("the local stack runs the backfill")?;
        Ok(leadsync_cli::commands::backfill::BackfillFunction::new(
            &self.stack.aws,
            Some(&lambda.url),
            &self.stack.resources.backfill_function,
        ))
    }

    /// Runs the backfill to its end and returns the finished run.
    pub async fn run_backfill(&self) -> Result<leadsync::backfill::Run> {
        let ending = self
            .backfill_function()?
            .run_to_end(&leadsync::backfill::Request::default(), |_| {})
            .await?;
        match ending {
            leadsync::backfill::Ending::Finished(run) => Ok(run),
            other => bail!("the run did not finish: {other:?}"),
        }
    }

    /// Every webhook delivery attempt the sandbox GHL made.
    pub async fn deliveries(&self) -> Result<Vec<Value>> {
        let v = self
            .admin(reqwest::Method::GET, "/_sandbox/ghl/deliveries", None)
            .await?;
        Ok(v["deliveries"].as_array().cloned().unwrap_or_default())
    }

    /// Creates a GHL contact that already carries `tag` (one ContactCreate webhook).
    pub async fn create_tagged_contact(
        &self,
        first: &str,
        phone: &str,
        tag: &str,
    ) -> Result<String> {
        let v = self
            .admin(
                reqwest::Method::POST,
                "/_sandbox/ghl/contacts",
                Some(json!({"firstName": first, "lastName": "Tester", "phone": phone, "tags": [tag]})),
            )
            .await?;
        Ok(v["contact"]["id"]
            .as_str()
            .context("contact id")?
            .to_string())
    }

    /// The consumer's outcome for a job id, once it has one that is final.
    pub async fn final_outcome(&self, job_id: &str) -> Result<leadsync::consumer::Outcome> {
        eventually(
            Duration::from_secs(30),
            &format!("a final outcome for {job_id}"),
            || async {
                Ok(self
                    .stack
                    .results()
                    .into_iter()
                    .filter(|r| r.job_id.as_deref() == Some(job_id))
                    .map(|r| r.outcome)
                    .find(|o| {
                        !matches!(
                            o,
                            leadsync::consumer::Outcome::Retry { .. }
                                | leadsync::consumer::Outcome::Defer { .. }
                        )
                    }))
            },
        )
        .await
    }
}

impl TestStack {
    /// Subscribes CallTools' hooks to this stack as an operator would:
    /// `leadsync calltools subscribe`.
    pub async fn subscribe_calltools(&self) -> Result<()> {
        use leadsync_cli::commands::calltools::{CallToolsArgs, CallToolsCommand, SubscribeArgs};
        let args = CallToolsArgs {
            command: CallToolsCommand::Subscribe(SubscribeArgs::default()),
        };
        leadsync_cli::commands::calltools::run(args, &self.target()).await
    }

    /// Runs the backfill of `source` (`calltools_calls`, …) to its end.
    pub async fn run_backfill_of(&self, source: &str) -> Result<leadsync::backfill::Run> {
        let req = leadsync::backfill::Request {
            source: Some(source.to_string()),
            ..Default::default()
        };
        match self.backfill_function()?.run_to_end(&req, |_| {}).await? {
            leadsync::backfill::Ending::Finished(run) => Ok(run),
            other => bail!("the run did not finish: {other:?}"),
        }
    }
}

/// Waits until both directions are quiet: CallTools' hooks delivered, their jobs consumed, the
/// GHL webhooks of what those jobs wrote delivered, and their jobs consumed.
pub async fn both_ways_settled(t: &TestStack, limit: Duration) -> Result<()> {
    t.sandbox_client().calltools_hooks_settled(limit).await?;
    drained(t, limit).await?;
    settled(t, limit).await
}

/// The contact with this phone once it is dialable from the bucket: in it, and not flagged
/// `do_not_contact` (a flagged contact in a bucket is never called).
pub async fn in_bucket(t: &TestStack, phone: &str, bucket: i64) -> Result<Value> {
    eventually(
        Duration::from_secs(30),
        "the contact in its CallTools bucket, dialable",
        || async {
            Ok(t.calltools_with_phone(phone).await?.into_iter().find(|c| {
                c["do_not_contact"] != true
                    && c["buckets"]
                        .as_array()
                        .is_some_and(|b| b.iter().any(|x| x.as_i64() == Some(bucket)))
            }))
        },
    )
    .await
}

pub const COLD_LEADS: i64 = 11237;
pub const SECOND: Duration = Duration::from_secs(1);
