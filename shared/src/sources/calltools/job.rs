//! A CallTools job: one object a REST hook posted (or the backfill found), to be read again and
//! carried back to the GoHighLevel contact leadsync placed in CallTools. On the queue it is
//! `"kind": "calltools_hook.v1"`.

use serde::{Deserialize, Serialize};

use crate::domain::contact::ContactKey;
use crate::domain::job::{Job, JobPayload, Origin};
use crate::domain::source::Source;
use crate::sources::calltools::hook::{HookModel, Hooked};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallToolsJob {
    /// `calltools:call:<id>:<disposition id or none>:<received ms>:<GHL contact id>:<hash of the
    /// body>` and `calltools:contact:<id>:<received ms>:<GHL contact id>:<hash of the body>`: one
    /// job per delivery and GHL contact (an SQS
    /// redelivery of it is the same job). A disposition changed and changed back (A, B, A) posts
    /// the same call twice with one body, and the job marker would take the second A for the
    /// first. These jobs are idempotent through the contact's state instead, compared before
    /// anything is claimed or read: a call already carried with its disposition (`done`), a
    /// flag already known (`opted_out`).
    pub job_id: String,
    pub model: HookModel,
    pub object_id: i64,
    /// The CallTools contact, as the hook named it (checked against the read).
    pub calltools_contact_id: i64,
    /// The GoHighLevel contact leadsync placed as that CallTools contact: its lease, its state
    /// and its trace are where the outcome is filed.
    pub ghl: ContactKey,
    /// What the body said that decides whether the object is worth reading: a call's
    /// disposition was posted, a contact is flagged `do_not_contact`.
    pub flagged: bool,
    /// Call: the disposition's id as the body named it (what the job id carries).
    #[serde(default)]
    pub disposition_id: Option<i64>,
    /// Call: the body posted a recording link (a later post of a call carried already may
    /// bring one).
    #[serde(default)]
    pub recorded: bool,
    pub origin: Origin,
    pub received_at_ms: i64,
}

impl CallToolsJob {
    pub fn new(
        hooked: &Hooked,
        ghl: ContactKey,
        origin: Origin,
        received_at_ms: i64,
        body: &[u8],
    ) -> Self {
        let prefix = match hooked.model {
            HookModel::Call => format!(
                "calltools:call:{}:{}:{received_at_ms}",
                hooked.object_id,
                hooked
                    .disposition_id
                    .map_or_else(|| "none".to_string(), |d| d.to_string())
            ),
            HookModel::Contact => {
                format!("calltools:contact:{}:{received_at_ms}", hooked.object_id)
            }
        };
        // One delivery gives a job per GHL contact placed as that CallTools contact (CallTools
        // merged them by phone): each its own job, or the job marker would take the second
        // for the first.
        let job_id = crate::ingress::body_job_id(&format!("{prefix}:{}", ghl.id), body);
        Self {
            job_id,
            model: hooked.model,
            object_id: hooked.object_id,
            calltools_contact_id: hooked.contact_id,
            ghl,
            flagged: hooked.flagged,
            disposition_id: hooked.disposition_id,
            recorded: hooked.recorded,
            origin,
            received_at_ms,
        }
    }
}

impl Job for CallToolsJob {
    fn id(&self) -> &str {
        &self.job_id
    }

    fn source(&self) -> Source {
        Source::CallTools
    }

    fn contact_key(&self) -> ContactKey {
        self.ghl.clone()
    }

    fn received_at_ms(&self) -> i64 {
        self.received_at_ms
    }

    fn trigger(&self) -> &'static str {
        match (self.model, self.origin) {
            (HookModel::Call, Origin::Webhook) => "CallToolsCall",
            (HookModel::Contact, Origin::Webhook) => "CallToolsContact",
            (_, _) => "CallToolsBackfill",
        }
    }
}

impl JobPayload for CallToolsJob {
    const KIND: &'static str = "calltools_hook.v1";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job::SyncJob;

    fn hooked(disposition_id: Option<i64>) -> Hooked {
        Hooked {
            model: HookModel::Call,
            object_id: 5001,
            contact_id: 123,
            disposition_id,
            flagged: disposition_id.is_some(),
            recorded: false,
        }
    }

    #[test]
    fn each_delivery_of_a_call_is_its_own_job_named_by_call_and_disposition() {
        let ghl = ContactKey::ghl("loc", "c1");
        let a = CallToolsJob::new(&hooked(Some(3)), ghl.clone(), Origin::Webhook, 1, b"a");
        let again = CallToolsJob::new(&hooked(Some(3)), ghl.clone(), Origin::Webhook, 1, b"a");
        let later = CallToolsJob::new(&hooked(Some(3)), ghl.clone(), Origin::Webhook, 2, b"a");
        let none = CallToolsJob::new(&hooked(None), ghl, Origin::Webhook, 4, b"d");
        assert_eq!(a.job_id, again.job_id, "one delivery, one job");
        let merged = CallToolsJob::new(
            &hooked(Some(3)),
            ContactKey::ghl("loc", "c2"),
            Origin::Webhook,
            1,
            b"a",
        );
        assert_ne!(a.job_id, merged.job_id, "one job per GHL contact");
        assert_ne!(a.job_id, later.job_id, "the same body posted again later");
        assert!(
            a.job_id.starts_with("calltools:call:5001:3:1:"),
            "{}",
            a.job_id
        );
        assert!(none.job_id.starts_with("calltools:call:5001:none:4:"));
    }

    #[test]
    fn a_contact_posted_again_with_the_same_body_later_is_another_job() {
        let ghl = ContactKey::ghl("loc", "c1");
        let contact = Hooked {
            model: HookModel::Contact,
            object_id: 123,
            contact_id: 123,
            disposition_id: None,
            flagged: true,
            recorded: false,
        };
        let flagged = CallToolsJob::new(&contact, ghl.clone(), Origin::Webhook, 1, b"{}");
        let again = CallToolsJob::new(&contact, ghl, Origin::Webhook, 9, b"{}");
        assert_ne!(flagged.job_id, again.job_id);
        assert!(flagged.job_id.starts_with("calltools:contact:123:1:"));
    }

    #[test]
    fn it_travels_as_its_kind_and_is_filed_under_the_ghl_contact() {
        let job = SyncJob::new(CallToolsJob::new(
            &hooked(Some(3)),
            ContactKey::ghl("loc", "c1"),
            Origin::Webhook,
            7,
            b"{}",
        ));
        let back = SyncJob::from_json(&job.to_json()).unwrap();
        assert_eq!(back.kind(), "calltools_hook.v1");
        assert_eq!(back.source(), Source::CallTools);
        assert_eq!(back.contact_key(), ContactKey::ghl("loc", "c1"));
        assert_eq!(back.trigger(), "CallToolsCall");
        let payload = back.payload::<CallToolsJob>().unwrap();
        assert_eq!(
            (payload.object_id, payload.calltools_contact_id),
            (5001, 123)
        );
    }
}
