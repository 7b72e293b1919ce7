//! A Messenger / Instagram job: one webhook item, or a conversation found by the backfill. On the
//! queue it is `"kind": "meta_event.v1"`.

use serde::{Deserialize, Serialize};

use crate::domain::contact::ContactKey;
use crate::domain::job::{Job, JobPayload, Origin};
use crate::domain::source::Source;
use crate::sources::meta::event::MetaEvent;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetaJob {
    /// `meta:msg:<mid>` for messages (the same message twice is one job), otherwise a hash of
    /// the item.
    pub job_id: String,
    pub event: MetaEvent,
    pub received_at_ms: i64,
    /// Who created the contact if this job does: `webhook` or `backfill`.
    #[serde(default = "webhook")]
    pub origin: Origin,
    /// The item exactly as received, for the trace.
    pub payload: String,
}

fn webhook() -> Origin {
    Origin::Webhook
}

impl Job for MetaJob {
    fn id(&self) -> &str {
        &self.job_id
    }

    fn source(&self) -> Source {
        self.event.channel.source()
    }

    fn contact_key(&self) -> ContactKey {
        self.event
            .channel
            .contact_key(&self.event.account_id, &self.event.user_id)
    }

    fn received_at_ms(&self) -> i64 {
        self.received_at_ms
    }

    fn trigger(&self) -> &'static str {
        self.event.kind.name()
    }
}

impl JobPayload for MetaJob {
    const KIND: &'static str = "meta_event.v1";
}
