//! The people on the other side of the played inboxes: who they are on which channel, and how
//! much of their profile Graph may reveal. PSIDs (Messenger) and IGSIDs (Instagram) are
//! separate id spaces, so a person always belongs to one channel.

use serde::{Deserialize, Serialize};

/// Messenger (through the Page) or Instagram (through the professional account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Channel {
    Messenger,
    Instagram,
}

impl Channel {
    /// The webhook's `object`.
    pub fn object(self) -> &'static str {
        match self {
            Self::Messenger => "page",
            Self::Instagram => "instagram",
        }
    }

    /// The Conversations API's `platform` and the Business Use Case type.
    pub fn platform(self) -> &'static str {
        match self {
            Self::Messenger => "messenger",
            Self::Instagram => "instagram",
        }
    }
}

/// What `GET /{user-id}` is allowed to reveal (research §5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProfileState {
    #[default]
    Ok,
    /// A phone-created account: error 2018218 "No profile available".
    Unavailable,
    /// Instagram without the person's consent: error 230. Messenger answers an empty object.
    NoConsent,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct MetaUser {
    pub id: String,
    pub channel: Channel,
    pub name: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub profile: ProfileState,
    pub follower_count: u64,
    pub is_verified_user: bool,
}

impl MetaUser {
    /// Given names, or the name's first word when none was given.
    pub fn first_name(&self) -> String {
        self.first_name.clone().unwrap_or_else(|| {
            self.name
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    }

    pub fn last_name(&self) -> String {
        self.last_name.clone().unwrap_or_else(|| {
            let mut words = self.name.split_whitespace();
            words.next();
            words.collect::<Vec<_>>().join(" ")
        })
    }

    /// Instagram always has a handle; one is made up from the name when none was given.
    pub fn username(&self) -> String {
        self.username.clone().unwrap_or_else(|| {
            let handle: String = self
                .name
                .to_lowercase()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            format!("{handle}_{}", &self.id[self.id.len() - 4..])
        })
    }
}

/// The admin body for a new person (`POST /_sandbox/meta/users`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    pub channel: Channel,
    pub name: String,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub profile: ProfileState,
    #[serde(default)]
    pub follower_count: u64,
    #[serde(default)]
    pub is_verified_user: bool,
}

/// `PATCH /_sandbox/meta/users/{id}`: only the fields given change.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserPatch {
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub profile: Option<ProfileState>,
    pub follower_count: Option<u64>,
    pub is_verified_user: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fall_back_to_the_full_name() {
        let user = MetaUser {
            id: "1300000000000001".into(),
            channel: Channel::Instagram,
            name: "Ada Lovelace".into(),
            first_name: None,
            last_name: None,
            username: None,
            profile: ProfileState::Ok,
            follower_count: 0,
            is_verified_user: false,
        };
        assert_eq!(user.first_name(), "Ada");
        assert_eq!(user.last_name(), "Lovelace");
        assert_eq!(user.username(), "adalovelace_0001");
    }
}
