//! A Messenger / Instagram job: the contact upserted on (channel, page, PSID), the event stored
//! (message once per `mid`, edits, unsends, reactions, receipts), the conversation moved
//! forward, a new contact's profile read from the Graph API, and — when a rule names the
//! channel and the person shared a phone number — the contact sent to CallTools.
//!
//! A profile that cannot be had (2018218, 230, throttling, an outage) never blocks or loses the
//! contact: it is stored with what is known and left for the backfill's enrichment.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::clock::Clock;
use crate::domain::contact::{Contact, ContactKey, normalize_phone};
use crate::domain::job::SyncJob;
use crate::domain::outcome::Outcome;
use crate::domain::sink::SinkId;
use crate::domain::source::Source;
use crate::ports::store::store_retry;
use crate::ports::store::{ContactState, StoreError};
use crate::sources::meta::Channel;
use crate::sources::meta::event::{EventKind, Message};
use crate::sources::meta::graph::{GraphApi, ProfileAnswer, StoredMessage};
use crate::sources::meta::job::MetaJob;
use crate::sources::meta::store::{Direction, MessageChange, MetaMessage, MetaStore, Receipt};
use crate::sources::{ContactSource, Read, ReadContext, not_mine};

/// Messenger and Instagram contacts: leadsync's own store, with profiles from the Graph API.
#[derive(Clone)]
pub struct MetaReader {
    pub store: Arc<dyn MetaStore>,
    pub graph: Arc<dyn GraphApi>,
}

#[async_trait]
impl ContactSource for MetaReader {
    fn serves(&self) -> &'static [Source] {
        &[Source::Messenger, Source::Instagram]
    }

    async fn read(&self, job: &SyncJob, state: ContactState, ctx: &ReadContext<'_>) -> Read {
        let Some(j) = job.payload::<MetaJob>() else {
            return not_mine("meta", job);
        };
        let e = &j.event;
        let key = e.channel.contact_key(&e.account_id, &e.user_id);
        let now = ctx.clock.now_ms();
        if let Err(e) = self.store_event(j, &key, now, ctx).await {
            return Read::Settled(store_retry(e), None);
        }
        let wanted = ctx.rules.membership_for_source(e.channel.as_str());
        let calltools = state.sink(SinkId::CallTools);
        if wanted.is_empty()
            && calltools.id.is_none()
            && calltools.unconfirmed_create_phone.is_none()
        {
            return Read::Settled(stored(j), None);
        }
        let contact = match self.store.contact(&key).await {
            Ok(Some(c)) => c,
            Ok(None) => return Read::Settled(stored(j), None),
            Err(e) => return Read::Settled(store_retry(e), None),
        };
        if contact.phone.is_none() {
            // Not dialable yet: the rule applies once the person shares a number.
            return Read::Settled(stored(j), None);
        }
        let first = contact
            .profile
            .first_name
            .clone()
            .or(contact.profile.name.clone());
        Read::Found {
            contact: Contact {
                first_name: first,
                last_name: contact.profile.last_name.clone(),
                email: contact.email.clone(),
                phone: contact.phone.clone(),
                tags: Vec::new(),
                version_ms: None,
                do_not_call: None,
                call: None,
            },
            wanted,
            state,
            // Counted where the contact is stored (`store_event`), not where it is dialed.
            counts_created: None,
        }
    }
}

fn stored(j: &MetaJob) -> Outcome {
    Outcome::Stored {
        what: j.event.kind.name(),
    }
}

impl MetaReader {
    /// Everything that goes into leadsync's own store for this event.
    async fn store_event(
        &self,
        j: &MetaJob,
        key: &ContactKey,
        now: i64,
        ctx: &ReadContext<'_>,
    ) -> Result<(), StoreError> {
        let e = &j.event;
        let store = &self.store;
        let created = if e.kind.is_activity() || j.origin == crate::domain::job::Origin::Backfill {
            store.create_contact(key, j.origin, now).await?
        } else {
            false
        };
        if created {
            metrics::counter!("contacts_created", "source" => e.channel.as_str(), "origin" => j.origin.as_str())
                .increment(1);
        }
        match &e.kind {
            EventKind::Message(m) => {
                let new = store
                    .put_message(key, &message_record(m, e.timestamp_ms))
                    .await?;
                store
                    .touch_conversation(key, Some(e.timestamp_ms), None, None)
                    .await?;
                if new && !m.echo {
                    metrics::histogram!("meta_message_latency_ms", "source" => e.channel.as_str())
                        .record((now - e.timestamp_ms).max(0) as f64);
                }
                if !m.echo
                    && let Some(shared) = &m.quick_reply
                {
                    let (phone, email) = reachable(shared, ctx.default_region);
                    store
                        .set_reachable(key, phone.as_deref(), email.as_deref())
                        .await?;
                }
            }
            EventKind::Postback {
                mid,
                title,
                payload,
            } => {
                let record = MetaMessage {
                    quick_reply: payload.clone(),
                    ..MetaMessage::new(
                        mid.clone().unwrap_or_else(|| j.job_id.clone()),
                        Direction::In,
                        "postback",
                        title.clone(),
                        e.timestamp_ms,
                    )
                };
                store.put_message(key, &record).await?;
                store
                    .touch_conversation(key, Some(e.timestamp_ms), None, None)
                    .await?;
            }
            EventKind::Edit {
                mid,
                text,
                num_edit,
            } => {
                let change = MessageChange::Edited {
                    text: text.clone(),
                    num_edit: (*num_edit).max(1),
                };
                store.change_message(key, mid, &change).await?;
            }
            EventKind::Unsend { mid } => {
                store
                    .change_message(key, mid, &MessageChange::Unsent)
                    .await?;
            }
            EventKind::Reaction {
                mid,
                action,
                reaction,
                emoji,
            } => {
                let reaction = (action != "unreact")
                    .then(|| emoji.clone().or(reaction.clone()))
                    .flatten();
                store
                    .change_message(key, mid, &MessageChange::Reacted { reaction })
                    .await?;
            }
            EventKind::Delivery { watermark, .. } => {
                store
                    .touch_conversation(key, None, Some((Receipt::Delivered, *watermark)), None)
                    .await?;
            }
            EventKind::Read { watermark } => {
                store
                    .touch_conversation(key, None, Some((Receipt::Read, *watermark)), None)
                    .await?;
            }
            EventKind::Conversation {
                conversation_id,
                messages,
                ..
            } => {
                store
                    .touch_conversation(key, Some(e.timestamp_ms), None, Some(conversation_id))
                    .await?;
                self.store_recent_messages(j, key, messages).await?;
            }
            EventKind::RefreshProfile => {}
        }
        if created || e.kind == EventKind::RefreshProfile {
            self.read_profile(key, e.channel, &e.user_id, ctx.clock)
                .await;
        }
        Ok(())
    }

    /// The conversation's most recent messages as the backfill read them, each stored once per
    /// `mid`.
    async fn store_recent_messages(
        &self,
        j: &MetaJob,
        key: &ContactKey,
        messages: &[StoredMessage],
    ) -> Result<(), StoreError> {
        for m in messages {
            let from_contact = m.from_id.as_deref() == Some(j.event.user_id.as_str());
            let direction = if from_contact {
                Direction::In
            } else {
                Direction::Out
            };
            let record = MetaMessage::new(
                m.mid.clone(),
                direction,
                "message",
                m.text.clone(),
                m.created_ms,
            );
            self.store.put_message(key, &record).await?;
        }
        Ok(())
    }

    /// Reads a contact's profile; on any failure the contact keeps what is known and is marked
    /// for enrichment. Never fails the job.
    async fn read_profile(
        &self,
        key: &ContactKey,
        channel: Channel,
        user_id: &str,
        clock: &dyn Clock,
    ) {
        let at = clock.now_ms();
        let (saved, outcome) = match self.graph.profile(channel, user_id).await {
            Ok(ProfileAnswer::Found(p)) => (self.store.set_profile(key, Ok(&p), at).await, "found"),
            Ok(ProfileAnswer::Unavailable { code, .. }) => {
                let why = format!("Meta gives no profile for this person (Graph error {code})");
                (
                    self.store.set_profile(key, Err(&why), at).await,
                    "unavailable",
                )
            }
            Err(e) => {
                tracing::warn!(contact = %key, error = %e, "profile not read; the contact is kept and marked for enrichment");
                (
                    self.store.set_profile(key, Err(&e.to_string()), at).await,
                    "failed",
                )
            }
        };
        metrics::counter!("meta_profile_reads", "source" => channel.as_str(), "outcome" => outcome)
            .increment(1);
        if let Err(e) = saved {
            tracing::warn!(contact = %key, error = %e, "profile outcome not saved; the backfill enriches the contact");
        }
    }
}

fn message_record(m: &Message, timestamp_ms: i64) -> MetaMessage {
    let direction = if m.echo {
        Direction::Out
    } else {
        Direction::In
    };
    MetaMessage {
        attachments: (!m.attachments.is_empty())
            .then(|| serde_json::to_string(&m.attachments).unwrap_or_default()),
        quick_reply: m.quick_reply.clone(),
        reply_to: m.reply_to.clone(),
        ..MetaMessage::new(
            m.mid.clone(),
            direction,
            "message",
            m.text.clone(),
            timestamp_ms,
        )
    }
}

/// A quick reply's payload is the phone number or email the person chose to share when it came
/// from Messenger's `user_phone_number` / `user_email` quick replies; anything else is neither.
fn reachable(payload: &str, default_region: &str) -> (Option<String>, Option<String>) {
    let payload = payload.trim();
    if is_email(payload) {
        return (None, Some(payload.to_string()));
    }
    let looks_like_phone = payload.chars().filter(char::is_ascii_digit).count() >= 7
        && payload
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let phone = looks_like_phone
        .then(|| normalize_phone(Some(payload), default_region).ok())
        .flatten();
    (phone, None)
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_phone_or_email_is_recognised_and_other_payloads_are_not() {
        assert_eq!(
            reachable("+1 (415) 555-0123", "US"),
            (Some("+14155550123".into()), None)
        );
        assert_eq!(
            reachable("ada@example.com", "US"),
            (None, Some("ada@example.com".into()))
        );
        for other in ["YES", "GET_STARTED", "12", "call me at 5", "a@b"] {
            assert_eq!(reachable(other, "US"), (None, None), "{other}");
        }
    }
}
