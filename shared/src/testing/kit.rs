//! [`ConsumerKit`]: a real [`Consumer`] on in-memory parts, for tests that run a batch in
//! milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;

use crate::app::config::{CallToolsConfig, DuplicateMode, RetryPolicy, SecretSource};
use crate::consumer::{Consumer, ConsumerParts, RecordResult};
use crate::domain::clock::Clock;
use crate::domain::contact::{Contact, ContactKey};
use crate::domain::job::Origin;
use crate::domain::job::SyncJob;
use crate::domain::rules::{BucketRef, Rules};
use crate::domain::source::Source;
use crate::memory::MemoryEventLog;
use crate::sinks::calltools::CallToolsSink;
use crate::sinks::ghl::GhlSink;
use crate::sinks::ghl::outcomes::Outcomes;
use crate::sources::calltools::hook::{HookModel, Hooked};
use crate::sources::calltools::job::CallToolsJob;
use crate::sources::calltools::read::CallToolsReader;
use crate::sources::ghl::job::{GhlContactJob, GhlTrigger};
use crate::sources::ghl::read::GhlReader;
use crate::testing::calltools::FakeCallTools;
use crate::testing::clock::ManualClock;
use crate::testing::ghl::{FakeGhl, FakeGhlWrites};
use crate::testing::queue::MemoryRedelivery;
use crate::testing::store::MemoryStateStore;

/// Every part a consumer needs, in memory, sharing one [`ManualClock`]. Build the consumer once
/// per test with [`ConsumerKit::consumer`] (each build is a cold start: the sink's caches are
/// empty), then run batches through it and look at the parts.
pub struct ConsumerKit {
    pub clock: Arc<ManualClock>,
    pub store: Arc<MemoryStateStore>,
    pub redelivery: Arc<MemoryRedelivery>,
    pub events: Arc<MemoryEventLog>,
    pub ghl: Arc<FakeGhl>,
    pub calltools: Arc<FakeCallTools>,
    /// GoHighLevel's writes: where call outcomes go.
    pub ghl_writes: Arc<FakeGhlWrites>,
    /// What dispositions do in GHL.
    pub outcomes: Outcomes,
    pub rules: Rules,
    /// The configuration's defaults (`LEADSYNC_RETRY_*`, `LEADSYNC_DEFER_MAX_SECS`,
    /// `LEADSYNC_AUTH_WAIT_MAX_SECS`).
    pub retry: RetryPolicy,
    pub duplicate_mode: DuplicateMode,
    messages: AtomicU32,
}

impl ConsumerKit {
    /// The GHL location every [`ConsumerKit::ghl_job`] is for.
    pub const LOCATION: &str = "loc";
    /// How long an invocation has: the consumer function's timeout.
    pub const INVOCATION: Duration = Duration::from_secs(60);

    /// A kit for `rules`; CallTools has every bucket they name.
    pub fn new(rules: Rules) -> Self {
        let bucket_names: Vec<String> = rules
            .rules()
            .filter_map(|r| match &r.bucket {
                Some(BucketRef::Name(name)) => Some(name.clone()),
                _ => None,
            })
            .collect();
        let clock = Arc::new(ManualClock::default());
        Self {
            store: Arc::new(MemoryStateStore::new(clock.clone())),
            clock,
            redelivery: Arc::new(MemoryRedelivery::default()),
            events: Arc::new(MemoryEventLog::default()),
            ghl: Arc::new(FakeGhl::new(Vec::new())),
            calltools: Arc::new(FakeCallTools::with_buckets(&bucket_names)),
            ghl_writes: Arc::new(FakeGhlWrites::default()),
            outcomes: Outcomes::default(),
            rules,
            retry: RetryPolicy {
                base: Duration::from_secs(10),
                max: Duration::from_secs(900),
                defer_for: Duration::from_secs(86_400),
                auth_wait: Duration::from_secs(14_400),
            },
            duplicate_mode: DuplicateMode::Lookup,
            messages: AtomicU32::new(0),
        }
    }

    /// GHL has this contact in [`ConsumerKit::LOCATION`].
    pub fn with_contact(self, id: &str, contact: Contact) -> Self {
        self.ghl.put_contact(id, contact);
        self
    }

    /// A lead with a dialable phone and the default rules' tag.
    pub fn lead(first_name: &str) -> Contact {
        Contact {
            first_name: Some(first_name.to_string()),
            last_name: None,
            email: None,
            phone: Some("+14155550132".into()),
            tags: vec!["cold lead".into()],
            version_ms: None,
            do_not_call: None,
            call: None,
        }
    }

    pub fn contact_key(id: &str) -> ContactKey {
        ContactKey::ghl(Self::LOCATION, id)
    }

    /// The consumer, wired as `app::build_consumer` wires it, on the kit's parts.
    pub fn consumer(&self) -> Consumer {
        let cfg = CallToolsConfig {
            base_url: None,
            api_key: SecretSource::Unset,
            duplicate_mode: self.duplicate_mode,
            bucket_filter: Default::default(),
            phone_field: "mobile_phone_number".into(),
            email_field: "email".into(),
            request_timeout: Duration::from_secs(10),
            max_requests_per_second: None,
            hook_token: SecretSource::Unset,
        };
        Consumer::new(ConsumerParts {
            store: self.store.clone(),
            sources: vec![
                Arc::new(GhlReader::new(self.ghl.clone())),
                Arc::new(CallToolsReader::new(self.calltools.clone())),
            ],
            sinks: {
                let dialer: Arc<dyn crate::sinks::Sink> =
                    Arc::new(CallToolsSink::new(self.calltools.clone(), &cfg));
                let ghl: Arc<dyn crate::sinks::Sink> =
                    Arc::new(GhlSink::new(self.ghl_writes.clone(), self.outcomes.clone()));
                [Source::Ghl, Source::Messenger, Source::Instagram]
                    .into_iter()
                    .map(|s| (s, dialer.clone()))
                    .chain([(Source::CallTools, ghl)])
                    .collect()
            },
            redelivery: self.redelivery.clone(),
            events: self.events.clone(),
            rules: self.rules.clone(),
            retry: self.retry,
            default_region: "US".into(),
            clock: self.clock.clone(),
        })
    }

    /// A tag-update webhook's job for `contact_id`, received now, stamped `sent_ms` by GHL.
    pub fn ghl_job(&self, job_id: &str, contact_id: &str, sent_ms: Option<i64>) -> SyncJob {
        SyncJob::new(GhlContactJob {
            job_id: job_id.to_string(),
            location_id: Self::LOCATION.to_string(),
            contact_id: contact_id.to_string(),
            trigger: GhlTrigger::ContactTagUpdate,
            version_ms: sent_ms,
            received_at_ms: self.clock.now_ms(),
            arrival: None,
            payload: "{}".into(),
        })
    }

    /// A webhook's job for `contact_id` numbered as ingress numbers it (`arrival`), received now,
    /// stamped `sent_ms` by GHL (a Marketplace webhook) or not (the workflow's).
    pub fn counted_ghl_job(
        &self,
        job_id: &str,
        contact_id: &str,
        trigger: GhlTrigger,
        sent_ms: Option<i64>,
    ) -> SyncJob {
        let key = Self::contact_key(contact_id);
        SyncJob::new(GhlContactJob {
            job_id: job_id.to_string(),
            location_id: Self::LOCATION.to_string(),
            contact_id: contact_id.to_string(),
            trigger,
            version_ms: sent_ms,
            received_at_ms: self.clock.now_ms(),
            arrival: Some(self.store.count_webhook(&key)),
            payload: "{}".into(),
        })
    }

    /// The sink audit's job for `contact_id`: CallTools no longer holds what was applied.
    pub fn audit_job(&self, job_id: &str, contact_id: &str) -> SyncJob {
        SyncJob::new(GhlContactJob {
            job_id: job_id.to_string(),
            location_id: Self::LOCATION.to_string(),
            contact_id: contact_id.to_string(),
            trigger: GhlTrigger::Audit,
            version_ms: None,
            received_at_ms: self.clock.now_ms(),
            arrival: None,
            payload: "{}".into(),
        })
    }

    /// A CallTools `Call` hook's job: call `call_id` to CallTools contact `calltools_id`, filed
    /// under GHL contact `contact_id`, with a disposition posted or not.
    pub fn call_job(
        &self,
        call_id: i64,
        calltools_id: i64,
        contact_id: &str,
        disposed: bool,
    ) -> SyncJob {
        let hooked = Hooked {
            model: HookModel::Call,
            object_id: call_id,
            contact_id: calltools_id,
            disposition_id: disposed.then_some(3),
            flagged: disposed,
            recorded: false,
        };
        SyncJob::new(CallToolsJob::new(
            &hooked,
            Self::contact_key(contact_id),
            Origin::Webhook,
            self.clock.now_ms(),
            b"{}",
        ))
    }

    /// `job` as SQS delivers it the first time.
    pub fn message(&self, job: &SyncJob) -> SqsMessage {
        self.raw_message(&job.to_json())
    }

    /// Any body as SQS delivers it the first time.
    pub fn raw_message(&self, body: &str) -> SqsMessage {
        let n = self.messages.fetch_add(1, Ordering::SeqCst) + 1;
        let mut msg = SqsMessage::default();
        msg.message_id = Some(format!("m{n}"));
        msg.receipt_handle = Some(format!("rh{n}"));
        msg.body = Some(body.to_string());
        msg.attributes
            .insert("ApproximateReceiveCount".into(), "1".into());
        msg
    }

    /// The deadline of an invocation starting now.
    pub fn deadline(&self) -> i64 {
        self.clock.now().plus(Self::INVOCATION).get()
    }

    /// Runs one batch through `consumer` in an invocation starting now.
    pub async fn run(&self, consumer: &Consumer, batch: &[SqsMessage]) -> Vec<RecordResult> {
        consumer.process_batch(batch, self.deadline()).await
    }
}
