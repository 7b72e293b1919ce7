//! What leadsync keeps of Messenger and Instagram: the contact (profile, how to reach them, who
//! created it), its one conversation with the Page, and the messages, keyed on `mid`.
//!
//! Every write is keyed on what it is about and conditional where order matters, so a webhook
//! delivered twice, two first messages processed at once, or an edit arriving before its message
//! all leave one contact, one conversation and one message per `mid`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::contact::ContactKey;
use crate::domain::job::Origin;
use crate::ports::store::StoreError;
use crate::sources::meta::graph::Profile;

/// A Meta contact as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaContact {
    pub origin: Origin,
    pub created_at_ms: i64,
    pub profile: Profile,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// When the profile was last read from the Graph API; `None` while it needs enrichment.
    pub profile_at_ms: Option<i64>,
    /// Why the profile is missing (the Graph API's answer), while it is.
    pub enrich_reason: Option<String>,
}

/// The contact's conversation with the Page or Instagram account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaConversation {
    /// The Graph API's id (`t_...`), once the backfill has seen it.
    pub conversation_id: Option<String>,
    pub last_activity_ms: i64,
    pub delivered_ms: Option<i64>,
    pub read_ms: Option<i64>,
}

/// One message, as first received and as edited since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaMessage {
    pub mid: String,
    /// `in` (from the contact) or `out` (an echo: from the Page).
    pub direction: Direction,
    /// `message` or `postback`.
    pub kind: String,
    pub text: Option<String>,
    /// JSON list of `{type, url}`.
    pub attachments: Option<String>,
    pub quick_reply: Option<String>,
    pub reply_to: Option<String>,
    pub created_ms: i64,
    pub edits: u32,
    pub deleted: bool,
    pub reaction: Option<String>,
}

impl MetaMessage {
    /// A message as first stored: not edited, deleted or reacted to, nothing attached.
    pub fn new(
        mid: impl Into<String>,
        direction: Direction,
        kind: &str,
        text: Option<String>,
        created_ms: i64,
    ) -> Self {
        Self {
            mid: mid.into(),
            direction,
            kind: kind.into(),
            text,
            attachments: None,
            quick_reply: None,
            reply_to: None,
            created_ms,
            edits: 0,
            deleted: false,
            reaction: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}

/// What changed in a stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageChange {
    Edited { text: String, num_edit: u32 },
    Unsent,
    Reacted { reaction: Option<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    Delivered,
    Read,
}

#[async_trait]
pub trait MetaStore: Send + Sync {
    /// Creates the contact unless it exists, in one conditional write (never find-then-create).
    /// `true` when this call created it.
    async fn create_contact(
        &self,
        key: &ContactKey,
        origin: Origin,
        at_ms: i64,
    ) -> Result<bool, StoreError>;
    async fn contact(&self, key: &ContactKey) -> Result<Option<MetaContact>, StoreError>;
    /// The profile read now (`Ok`), or why it could not be (`Err`: marked for enrichment).
    async fn set_profile(
        &self,
        key: &ContactKey,
        profile: Result<&Profile, &str>,
        at_ms: i64,
    ) -> Result<(), StoreError>;
    /// A phone number or email the person shared (quick reply).
    async fn set_reachable(
        &self,
        key: &ContactKey,
        phone: Option<&str>,
        email: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Stores a message once per `mid`; `true` when it is new. A message already edited or
    /// unsent keeps that.
    async fn put_message(&self, key: &ContactKey, m: &MetaMessage) -> Result<bool, StoreError>;
    /// Applies an edit (only a later one than stored), an unsend or a reaction, whether or not
    /// the message itself has arrived yet.
    async fn change_message(
        &self,
        key: &ContactKey,
        mid: &str,
        change: &MessageChange,
    ) -> Result<(), StoreError>;
    /// Moves the conversation's last activity (or a receipt watermark) forward, never back;
    /// creates the conversation if there is none.
    async fn touch_conversation(
        &self,
        key: &ContactKey,
        activity_ms: Option<i64>,
        receipt: Option<(Receipt, i64)>,
        conversation_id: Option<&str>,
    ) -> Result<(), StoreError>;
    async fn conversation(&self, key: &ContactKey) -> Result<Option<MetaConversation>, StoreError>;
    /// Messages by `mid`.
    async fn messages(&self, key: &ContactKey)
    -> Result<BTreeMap<String, MetaMessage>, StoreError>;
    /// The user ids of an account's contacts whose profile was never read (marked for
    /// enrichment) or was read before `older_than_ms`, oldest first, at most `limit`.
    async fn stale_profiles(
        &self,
        channel: crate::sources::meta::Channel,
        account_id: &str,
        older_than_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;
}

/// The Meta store in memory, for tests.
#[derive(Default)]
pub struct MemoryMetaStore {
    inner: Mutex<Memory>,
}

#[derive(Default)]
struct Memory {
    contacts: BTreeMap<String, MetaContact>,
    conversations: BTreeMap<String, MetaConversation>,
    messages: BTreeMap<String, BTreeMap<String, MetaMessage>>,
}

impl MemoryMetaStore {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Memory>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::permanent("meta store lock poisoned"))
    }
}

fn empty_message(mid: &str) -> MetaMessage {
    MetaMessage::new(mid, Direction::In, "message", None, 0)
}

#[async_trait]
impl MetaStore for MemoryMetaStore {
    async fn create_contact(
        &self,
        key: &ContactKey,
        origin: Origin,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut m = self.lock()?;
        let id = key.storage_id();
        if m.contacts.contains_key(&id) {
            return Ok(false);
        }
        m.contacts.insert(
            id,
            MetaContact {
                origin,
                created_at_ms: at_ms,
                profile: Profile::default(),
                phone: None,
                email: None,
                profile_at_ms: None,
                enrich_reason: None,
            },
        );
        Ok(true)
    }

    async fn contact(&self, key: &ContactKey) -> Result<Option<MetaContact>, StoreError> {
        Ok(self.lock()?.contacts.get(&key.storage_id()).cloned())
    }

    async fn set_profile(
        &self,
        key: &ContactKey,
        profile: Result<&Profile, &str>,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut m = self.lock()?;
        let c = m
            .contacts
            .get_mut(&key.storage_id())
            .ok_or_else(|| StoreError::permanent("no such contact"))?;
        match profile {
            Ok(p) => {
                c.profile = p.clone();
                c.profile_at_ms = Some(at_ms);
                c.enrich_reason = None;
            }
            Err(why) => c.enrich_reason = Some(why.to_string()),
        }
        Ok(())
    }

    async fn set_reachable(
        &self,
        key: &ContactKey,
        phone: Option<&str>,
        email: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut m = self.lock()?;
        if let Some(c) = m.contacts.get_mut(&key.storage_id()) {
            if let Some(p) = phone {
                c.phone = Some(p.into());
            }
            if let Some(e) = email {
                c.email = Some(e.into());
            }
        }
        Ok(())
    }

    async fn put_message(&self, key: &ContactKey, msg: &MetaMessage) -> Result<bool, StoreError> {
        let mut m = self.lock()?;
        let all = m.messages.entry(key.storage_id()).or_default();
        match all.get_mut(&msg.mid) {
            Some(existing) if existing.created_ms != 0 => Ok(false),
            Some(changed_first) => {
                // An edit, unsend or reaction came first: keep what it said.
                let keep = changed_first.clone();
                *changed_first = MetaMessage {
                    text: if keep.edits > 0 || keep.deleted {
                        keep.text
                    } else {
                        msg.text.clone()
                    },
                    edits: keep.edits,
                    deleted: keep.deleted,
                    reaction: keep.reaction,
                    ..msg.clone()
                };
                Ok(true)
            }
            None => {
                all.insert(msg.mid.clone(), msg.clone());
                Ok(true)
            }
        }
    }

    async fn change_message(
        &self,
        key: &ContactKey,
        mid: &str,
        change: &MessageChange,
    ) -> Result<(), StoreError> {
        let mut m = self.lock()?;
        let msg = m
            .messages
            .entry(key.storage_id())
            .or_default()
            .entry(mid.to_string())
            .or_insert_with(|| empty_message(mid));
        match change {
            MessageChange::Edited { text, num_edit } => {
                if *num_edit > msg.edits && !msg.deleted {
                    msg.text = Some(text.clone());
                    msg.edits = *num_edit;
                }
            }
            MessageChange::Unsent => {
                msg.deleted = true;
                msg.text = None;
                msg.attachments = None;
            }
            MessageChange::Reacted { reaction } => msg.reaction = reaction.clone(),
        }
        Ok(())
    }

    async fn touch_conversation(
        &self,
        key: &ContactKey,
        activity_ms: Option<i64>,
        receipt: Option<(Receipt, i64)>,
        conversation_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut m = self.lock()?;
        let c = m.conversations.entry(key.storage_id()).or_default();
        if let Some(a) = activity_ms {
            c.last_activity_ms = c.last_activity_ms.max(a);
        }
        match receipt {
            Some((Receipt::Delivered, w)) => c.delivered_ms = c.delivered_ms.max(Some(w)),
            Some((Receipt::Read, w)) => c.read_ms = c.read_ms.max(Some(w)),
            None => {}
        }
        if let Some(id) = conversation_id {
            c.conversation_id = Some(id.into());
        }
        Ok(())
    }

    async fn conversation(&self, key: &ContactKey) -> Result<Option<MetaConversation>, StoreError> {
        Ok(self.lock()?.conversations.get(&key.storage_id()).cloned())
    }

    async fn messages(
        &self,
        key: &ContactKey,
    ) -> Result<BTreeMap<String, MetaMessage>, StoreError> {
        Ok(self
            .lock()?
            .messages
            .get(&key.storage_id())
            .cloned()
            .unwrap_or_default())
    }

    async fn stale_profiles(
        &self,
        channel: crate::sources::meta::Channel,
        account_id: &str,
        older_than_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let prefix = channel.contact_key(account_id, "").storage_id();
        let m = self.lock()?;
        let mut stale: Vec<(i64, String)> = m
            .contacts
            .iter()
            .filter_map(|(id, c)| {
                let user = id.strip_prefix(&prefix)?;
                let at = c.profile_at_ms.unwrap_or(0);
                (at < older_than_ms).then(|| (at, user.to_string()))
            })
            .collect();
        stale.sort();
        Ok(stale.into_iter().take(limit).map(|(_, u)| u).collect())
    }
}
