//! The played Meta world: the people who message the Page or the Instagram account (see
//! [`crate::meta::users`]), one conversation per (person, account), and the messages in it. Graph answers and webhooks are
//! both rendered from here, so a backfill sees exactly what the webhooks announced.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::meta::ids::{conversation_id, message_id, user_id};
use crate::meta::subscription::OtherApp;
use crate::meta::users::{Channel, MetaUser, NewUser, ProfileState, UserPatch};
use crate::support::now_ms;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Attachment {
    #[serde(rename = "type")]
    pub kind: String,
    /// `fallback` attachments may have no payload, hence no URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct StoredMessage {
    pub mid: String,
    pub created_ms: i64,
    /// Sent by the Page or Instagram account (an echo), not by the person.
    pub from_business: bool,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub quick_reply: Option<String>,
    pub reply_to: Option<String>,
    pub num_edit: u32,
    /// Unsent on Instagram: gone from the Graph API, announced by `is_deleted`.
    pub deleted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Conversation {
    pub id: String,
    pub channel: Channel,
    pub user_id: String,
    pub updated_ms: i64,
    /// Oldest first; unsent ones stay in place (flagged) so indexes remain valid.
    pub messages: Vec<StoredMessage>,
}

/// Graph only reads the 20 most recent messages of a conversation in detail (research §5).
pub(crate) const READABLE_RECENT: usize = 20;

impl Conversation {
    /// The messages Graph lists, newest first, with their positions in `messages`.
    pub fn listed(&self) -> impl Iterator<Item = (usize, &StoredMessage)> {
        self.messages
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, m)| !m.deleted)
    }

    /// Whether the message at `index` is among the 20 most recent still listed.
    pub fn readable(&self, index: usize) -> bool {
        self.listed().take(READABLE_RECENT).any(|(i, _)| i == index)
    }
}

/// A message to store: who sent it and what it says.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewMessage {
    pub from_business: bool,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub quick_reply: Option<String>,
    pub reply_to: Option<String>,
}

/// Switchable Graph behaviours the research warns about (`POST /_sandbox/meta/quirks`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Quirks {
    /// The first conversations page is empty yet has `next` (research §5: "a page can be empty
    /// and still have next").
    pub empty_page_with_next: bool,
}

/// The fields `GET /{page-id}/subscribed_apps` lists while the app is subscribed.
pub(crate) const DEFAULT_SUBSCRIBED_FIELDS: [&str; 8] = [
    "messages",
    "messaging_postbacks",
    "message_echoes",
    "message_deliveries",
    "message_reads",
    "message_reactions",
    "message_edits",
    "standby",
];

pub(crate) struct MetaWorld {
    page_id: String,
    ig_account_id: String,
    users: HashMap<String, MetaUser>,
    conversations: HashMap<String, Conversation>,
    conversation_of_user: HashMap<String, String>,
    /// mid → (conversation id, index in its `messages`).
    message_index: HashMap<String, (String, usize)>,
    seq: u64,
    last_ms: i64,
    /// Empty while Meta has (silently) unsubscribed the app: no webhooks then.
    pub subscribed_fields: Vec<String>,
    /// Other apps subscribed to the same Page; `subscribed_apps` lists them too.
    pub other_apps: Vec<OtherApp>,
    pub quirks: Quirks,
}

/// A stored message's coordinates, returned to the admin caller and used for the webhook.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub mid: String,
    pub conversation_id: String,
    pub created_ms: i64,
}

impl MetaWorld {
    pub fn new(page_id: &str, ig_account_id: &str) -> Self {
        Self {
            page_id: page_id.to_owned(),
            ig_account_id: ig_account_id.to_owned(),
            users: HashMap::new(),
            conversations: HashMap::new(),
            conversation_of_user: HashMap::new(),
            message_index: HashMap::new(),
            seq: 0,
            last_ms: 0,
            subscribed_fields: DEFAULT_SUBSCRIBED_FIELDS.map(str::to_owned).to_vec(),
            other_apps: Vec::new(),
            quirks: Quirks::default(),
        }
    }

    /// The business side of a channel: the Page, or the Instagram professional account.
    pub fn account_id(&self, channel: Channel) -> &str {
        match channel {
            Channel::Messenger => &self.page_id,
            Channel::Instagram => &self.ig_account_id,
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Now, but strictly after every earlier event, so ordering by timestamp is unambiguous.
    pub fn next_ms(&mut self) -> i64 {
        self.last_ms = now_ms().max(self.last_ms + 1);
        self.last_ms
    }

    pub fn add_user(&mut self, new: NewUser) -> String {
        let id = user_id(new.channel, self.next_seq());
        self.users.insert(
            id.clone(),
            MetaUser {
                id: id.clone(),
                channel: new.channel,
                name: new.name,
                first_name: new.first_name,
                last_name: new.last_name,
                username: new.username,
                profile: new.profile,
                follower_count: new.follower_count,
                is_verified_user: new.is_verified_user,
            },
        );
        id
    }

    pub fn patch_user(&mut self, id: &str, patch: UserPatch) -> Option<&MetaUser> {
        let user = self.users.get_mut(id)?;
        if let Some(v) = patch.name {
            user.name = v;
        }
        if patch.first_name.is_some() {
            user.first_name = patch.first_name;
        }
        if patch.last_name.is_some() {
            user.last_name = patch.last_name;
        }
        if patch.username.is_some() {
            user.username = patch.username;
        }
        if let Some(v) = patch.profile {
            user.profile = v;
        }
        if let Some(v) = patch.follower_count {
            user.follower_count = v;
        }
        if let Some(v) = patch.is_verified_user {
            user.is_verified_user = v;
        }
        Some(user)
    }

    pub fn users(&self) -> impl Iterator<Item = &MetaUser> {
        self.users.values()
    }

    pub fn user(&self, id: &str) -> Option<&MetaUser> {
        self.users.get(id)
    }

    /// The person, if they exist on `channel` (a PSID is unknown to Instagram and vice versa).
    pub fn user_on(&self, channel: Channel, id: &str) -> Result<&MetaUser, String> {
        match self.users.get(id) {
            Some(u) if u.channel == channel => Ok(u),
            Some(_) => Err(format!("user {id} belongs to the other channel")),
            None => Err(format!("no Meta user {id}")),
        }
    }

    /// Appends a message to the person's conversation with the business, creating it first.
    pub fn add_message(
        &mut self,
        user_id: &str,
        new: NewMessage,
        at_ms: i64,
    ) -> Result<Stored, String> {
        let channel = self.users.get(user_id).ok_or("no such user")?.channel;
        let seq = self.next_seq();
        let account_id = self.account_id(channel).to_owned();
        let conversation_id = match self.conversation_of_user.get(user_id) {
            Some(id) => id.clone(),
            None => {
                let id = conversation_id(channel, &account_id, seq);
                self.conversation_of_user
                    .insert(user_id.to_owned(), id.clone());
                self.conversations.insert(
                    id.clone(),
                    Conversation {
                        id: id.clone(),
                        channel,
                        user_id: user_id.to_owned(),
                        updated_ms: at_ms,
                        messages: Vec::new(),
                    },
                );
                id
            }
        };
        let mid = message_id(channel, &account_id, seq);
        let conversation = self
            .conversations
            .get_mut(&conversation_id)
            .ok_or("conversation vanished")?;
        conversation.updated_ms = conversation.updated_ms.max(at_ms);
        self.message_index.insert(
            mid.clone(),
            (conversation_id.clone(), conversation.messages.len()),
        );
        conversation.messages.push(StoredMessage {
            mid: mid.clone(),
            created_ms: at_ms,
            from_business: new.from_business,
            text: new.text,
            attachments: new.attachments,
            quick_reply: new.quick_reply,
            reply_to: new.reply_to,
            num_edit: 0,
            deleted: false,
        });
        Ok(Stored {
            mid,
            conversation_id,
            created_ms: at_ms,
        })
    }

    /// The message and its conversation, unsent ones included.
    pub fn message(&self, mid: &str) -> Option<(&Conversation, usize)> {
        let (conversation_id, index) = self.message_index.get(mid)?;
        let conversation = self.conversations.get(conversation_id)?;
        Some((conversation, *index))
    }

    fn message_mut(&mut self, mid: &str) -> Option<&mut StoredMessage> {
        let (conversation_id, index) = self.message_index.get(mid)?;
        self.conversations
            .get_mut(conversation_id)?
            .messages
            .get_mut(*index)
    }

    /// Replaces the text; answers the new `num_edit`.
    pub fn edit_message(&mut self, mid: &str, text: &str) -> Option<u32> {
        let message = self.message_mut(mid)?;
        message.text = Some(text.to_owned());
        message.num_edit += 1;
        Some(message.num_edit)
    }

    pub fn unsend_message(&mut self, mid: &str) -> bool {
        self.message_mut(mid).map(|m| m.deleted = true).is_some()
    }

    pub fn conversation(&self, id: &str) -> Option<&Conversation> {
        self.conversations.get(id)
    }

    /// The channel's conversations, most recently updated first (ties broken by id, so paging
    /// is stable).
    pub fn conversations(&self, channel: Channel) -> Vec<&Conversation> {
        let mut list: Vec<&Conversation> = self
            .conversations
            .values()
            .filter(|c| c.channel == channel)
            .collect();
        list.sort_unstable_by(|a, b| {
            b.updated_ms
                .cmp(&a.updated_ms)
                .then_with(|| b.id.cmp(&a.id))
        });
        list
    }

    /// `count` people with `per_conversation` messages each, all in the past and without
    /// webhooks: the inbox a newly connected account brings along for the backfill.
    pub fn import(
        &mut self,
        channel: Channel,
        count: usize,
        per_conversation: usize,
    ) -> Result<Vec<String>, String> {
        let gap_ms = (i64::try_from(per_conversation).unwrap_or(i64::MAX) + 1) * 1000;
        let span_ms = i64::try_from(count).unwrap_or(i64::MAX) * gap_ms;
        let base_ms = self.next_ms() - span_ms - 1000;
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let n = self.seq + 1;
            let id = self.add_user(NewUser {
                channel,
                name: format!("Import{n} Backfill"),
                first_name: None,
                last_name: None,
                username: Some(format!("import{n}")),
                profile: ProfileState::Ok,
                follower_count: 0,
                is_verified_user: false,
            });
            let start_ms = base_ms + i64::try_from(i).unwrap_or(i64::MAX) * gap_ms;
            for j in 0..per_conversation {
                let message = NewMessage {
                    // Every third message is the business answering.
                    from_business: j % 3 == 2,
                    text: Some(format!("Imported message {j} from Import{n}")),
                    ..NewMessage::default()
                };
                let at_ms = start_ms + i64::try_from(j).unwrap_or(i64::MAX) * 1000;
                self.add_message(&id, message, at_ms)?;
            }
            ids.push(id);
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(world: &mut MetaWorld, channel: Channel) -> String {
        world.add_user(NewUser {
            channel,
            name: "Ada Lovelace".into(),
            first_name: None,
            last_name: None,
            username: None,
            profile: ProfileState::Ok,
            follower_count: 0,
            is_verified_user: false,
        })
    }

    #[test]
    fn one_conversation_per_person_and_only_the_20_latest_are_readable() {
        let mut world = MetaWorld::new("1", "2");
        let ada = person(&mut world, Channel::Messenger);
        let mids: Vec<String> = (0..25)
            .map(|i| {
                let at = world.next_ms();
                let text = Some(format!("m{i}"));
                let new = NewMessage {
                    text,
                    ..NewMessage::default()
                };
                world.add_message(&ada, new, at).unwrap().mid
            })
            .collect();
        assert_eq!(world.conversations(Channel::Messenger).len(), 1);
        let (conversation, oldest) = world.message(&mids[0]).unwrap();
        assert!(!conversation.readable(oldest));
        let (conversation, fifth) = world.message(&mids[5]).unwrap();
        assert!(conversation.readable(fifth));

        // Unsending one of the latest brings an older one back into the readable window.
        assert!(world.unsend_message(&mids[24]));
        let (conversation, fourth) = world.message(&mids[4]).unwrap();
        assert!(conversation.readable(fourth));
    }

    #[test]
    fn imports_are_in_the_past_and_newest_first() {
        let mut world = MetaWorld::new("1", "2");
        let ids = world.import(Channel::Instagram, 3, 4).unwrap();
        let listed = world.conversations(Channel::Instagram);
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[0].user_id, ids[2]);
        assert!(listed[0].updated_ms < now_ms());
        assert_eq!(listed[0].messages.len(), 4);
    }
}
