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
    /// `calltools:call:<id>:<disposition id or none>`: every delivery of the same call with the
    /// same disposition is one job (CallTools may post it more than once); a disposition chosen
    /// or changed later is a new one. `calltools:contact:<id>:<received ms>:<hash of the body>`
    /// for contacts: one job per delivery.
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
        let job_id = match hooked.model {
            HookModel::Call => format!(
                "calltools:call:{}:{}",
                hooked.object_id,
                hooked
                    .disposition_id
                    .map_or_else(|| "none".to_string(), |d| d.to_string())
            ),
            // Per delivery: a flag set, lifted and set again posts the same body, and the job
            // marker would take the third for the first. Contact jobs are idempotent through
            // the state instead (`opted_out`, compared before anything is read).
            HookModel::Contact => crate::ingress::body_job_id(
                &format!("calltools:contact:{}:{received_at_ms}", hooked.object_id),
                body,
            ),
        };
        Self {
            job_id,
            model: hooked.model,
            object_id: hooked.object_id,
            calltools_contact_id: hooked.contact_id,
            ghl,
            flagged: hooked.flagged,
            disposition_id: hooked.disposition_id,
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
        }
    }

    #[test]
    fn the_same_call_with_the_same_disposition_is_one_job_and_a_new_disposition_another() {
        let ghl = ContactKey::ghl("loc", "c1");
        let a = CallToolsJob::new(&hooked(Some(3)), ghl.clone(), Origin::Webhook, 1, b"a");
        let b = CallToolsJob::new(&hooked(Some(3)), ghl.clone(), Origin::Webhook, 2, b"b");
        let c = CallToolsJob::new(&hooked(Some(4)), ghl.clone(), Origin::Webhook, 3, b"c");
        let none = CallToolsJob::new(&hooked(None), ghl, Origin::Webhook, 4, b"d");
        assert_eq!(a.job_id, b.job_id);
        assert_ne!(a.job_id, c.job_id);
        assert_eq!(none.job_id, "calltools:call:5001:none");
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
