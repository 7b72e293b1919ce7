//! How Meta's ids and times look, so leadsync's parsers meet realistic values: numeric PSIDs and
//! IGSIDs in separate id spaces, `t_` Messenger thread ids, opaque base64 Instagram thread and
//! message ids, `m_` Messenger mids, and Graph's `+0000` timestamps.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::meta::users::Channel;

/// The app whose token the sandbox accepts; echoes of its own sends carry it as `app_id`.
pub const APP_ID: u64 = 1_000_000_000_000_099;
pub(crate) const APP_NAME: &str = "leadsync";
/// The played Page's display name, as participants and `from` show it.
pub(crate) const PAGE_NAME: &str = "Sandbox Page";
/// The played Instagram professional account's handle.
pub(crate) const IG_USERNAME: &str = "sandbox.business";

/// A PSID (`24…`) or IGSID (`13…`): 16 digits, the leading pair keeps the spaces apart.
pub(crate) fn user_id(channel: Channel, seq: u64) -> String {
    match channel {
        Channel::Messenger => format!("24{:014}", seq),
        Channel::Instagram => format!("13{:014}", seq),
    }
}

/// Messenger threads are `t_<digits>`; Instagram threads are base64 of an internal key, which
/// is why leadsync must treat conversation ids as opaque.
pub(crate) fn conversation_id(channel: Channel, account_id: &str, seq: u64) -> String {
    match channel {
        Channel::Messenger => format!("t_{}", 100_000_000_000_000 + seq),
        Channel::Instagram => {
            URL_SAFE_NO_PAD.encode(format!("ig_d:1:IGMessageThread:{account_id}:{seq}"))
        }
    }
}

/// Messenger mids start `m_`; Instagram mids are base64 (`aWdf…`) like Instagram's own.
pub(crate) fn message_id(channel: Channel, account_id: &str, seq: u64) -> String {
    let key = format!("ig_item:1:IGMessage:{account_id}:{seq:020}");
    match channel {
        Channel::Messenger => format!("m_{}", URL_SAFE_NO_PAD.encode(format!("sb{key}"))),
        Channel::Instagram => URL_SAFE_NO_PAD.encode(key),
    }
}

/// `2026-11-24T08:00:00+0000`: the form Graph gives `updated_time` and `created_time`.
pub(crate) fn graph_time(ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]+0000"
    ))
    .unwrap_or_default()
}

/// An `fbtrace_id` like Graph's: 11 characters of base64-ish noise.
pub(crate) fn fbtrace_id() -> String {
    crate::support::ghl_id().chars().take(11).collect()
}

/// Graph paths start with a version like `v26.0`.
pub(crate) fn is_graph_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let Some((major, minor)) = rest.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_the_two_channels_never_collide() {
        let psid = user_id(Channel::Messenger, 7);
        let igsid = user_id(Channel::Instagram, 7);
        assert_eq!(psid.len(), 16);
        assert_eq!(igsid.len(), 16);
        assert_ne!(psid, igsid);
        assert!(conversation_id(Channel::Messenger, "1", 3).starts_with("t_"));
        assert!(message_id(Channel::Messenger, "1", 3).starts_with("m_"));
        assert!(message_id(Channel::Instagram, "1", 3).starts_with("aWdf"));
    }

    #[test]
    fn graph_times_have_a_plus_0000_offset() {
        assert_eq!(graph_time(1_795_507_200_000), "2026-11-24T08:00:00+0000");
    }

    #[test]
    fn versions_look_like_v_major_dot_minor() {
        assert!(is_graph_version("v26.0"));
        assert!(!is_graph_version("v26"));
        assert!(!is_graph_version("contacts"));
        assert!(!is_graph_version("v.0"));
    }
}
