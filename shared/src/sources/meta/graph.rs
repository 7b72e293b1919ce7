//! The Graph API calls leadsync makes (research §5, §6): a contact's profile, a Page's
//! conversations and their most recent messages, and the apps subscribed to the Page.
//!
//! Errors keep Meta's meaning: the throttling codes wait as long as Meta says
//! (`estimated_time_to_regain_access`), an invalid token (190) is permanent, and a profile Meta
//! will not give (2018218, 230) is an answer, not a failure.

use std::num::NonZeroU32;
use std::time::Duration;

use async_trait::async_trait;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::Value;

use super::Channel;
use super::subscription::SubscribedApp;
use crate::ports::remote::{RemoteError, excerpt};
use crate::support::secret::Secret;
use crate::support::surrogates::from_str_lenient;

const SERVICE: &str = "Graph API";
pub const DEFAULT_GRAPH_VERSION: &str = "v26.0";
/// The Conversations API allows 2 calls per second per Page and per Instagram account, counted
/// over any one second: calls are spaced 550 ms apart (no burst), so no second ever holds
/// three, even when the network delays one call and not the next.
const CONVERSATIONS_SPACING: Duration = Duration::from_millis(550);
/// Only the 20 most recent messages of a conversation can be read in detail.
pub const READABLE_MESSAGES: usize = 20;

/// Profile fields each channel permits; asking for any other fails the whole request.
const MESSENGER_PROFILE_FIELDS: &str = "id,name,first_name,last_name,profile_pic";
const INSTAGRAM_PROFILE_FIELDS: &str = "id,name,username,profile_pic";

/// What Meta tells about a contact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Profile {
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    /// A URL that expires; kept for display, refreshed with the profile.
    pub profile_pic: Option<String>,
}

/// Why a profile could not be had; the contact is kept and marked for enrichment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileAnswer {
    Found(Profile),
    /// Meta will not give this profile (2018218: an account made with a phone number; 230:
    /// the person has not consented). Asking again later may succeed.
    Unavailable {
        code: i64,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: String,
    pub updated_ms: i64,
    /// Everyone in the thread, the Page / Instagram account included.
    pub participants: Vec<Participant>,
    /// The most recent messages in detail, newest first (at most [`READABLE_MESSAGES`]).
    pub messages: Vec<StoredMessage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Participant {
    pub id: String,
    pub name: Option<String>,
    pub username: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationsPage {
    pub conversations: Vec<Conversation>,
    /// The cursor for the next page; `None` on the last. A page may be empty and still have one.
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct StoredMessage {
    pub mid: String,
    pub created_ms: i64,
    pub from_id: Option<String>,
    pub text: Option<String>,
}

/// The Graph API, behind a trait so the consumer and backfill are driven in tests.
#[async_trait]
pub trait GraphApi: Send + Sync {
    async fn profile(&self, channel: Channel, user_id: &str) -> Result<ProfileAnswer, RemoteError>;
    async fn conversations(
        &self,
        page_id: &str,
        channel: Channel,
        after: Option<&str>,
    ) -> Result<ConversationsPage, RemoteError>;
    /// Every app subscribed to the Page's webhooks, each with its own fields (leadsync's app is
    /// missing when Meta unsubscribed it; other apps on the Page are listed too).
    async fn subscribed_apps(&self, page_id: &str) -> Result<Vec<SubscribedApp>, RemoteError>;
}

pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    token: Secret,
    page_size: u32,
    conversations_limiter: DefaultKeyedRateLimiter<String>,
}

impl GraphClient {
    /// `base_url` without the version (`https://graph.facebook.com`), `version` like `v26.0`.
    pub fn new(http: reqwest::Client, base_url: &str, version: &str, page_token: Secret) -> Self {
        let quota = Quota::with_period(CONVERSATIONS_SPACING)
            .expect("a non-zero period")
            .allow_burst(NonZeroU32::MIN);
        Self {
            http,
            base: format!("{}/{}", base_url.trim_end_matches('/'), version),
            token: page_token,
            // Each conversation brings its 20 most recent messages: small pages keep answers small.
            page_size: 25,
            conversations_limiter: RateLimiter::keyed(quota),
        }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, RemoteError> {
        let resp = self
            .http
            .get(format!("{}/{path}", self.base))
            .bearer_auth(self.token.expose())
            .query(query)
            .send()
            .await
            .map_err(|e| RemoteError::from_reqwest(SERVICE, &e))?;
        let status = resp.status().as_u16();
        let regain = regain_access(resp.headers());
        let text = resp
            .text()
            .await
            .map_err(|e| RemoteError::from_reqwest(SERVICE, &e))?;
        if status == 200 {
            return read_answer(&text).map_err(|e| RemoteError::Permanent {
                service: SERVICE,
                reason: format!(
                    "unreadable answer: {}",
                    crate::ports::remote::json_error(&e)
                ),
                status: Some(200),
                excerpt: excerpt(&text),
            });
        }
        Err(graph_error(status, regain, &text))
    }

    /// One node's `fields` (`GET /{id}?fields=…`): what `leadsync doctor` reads to tell that the
    /// Page token works and reaches the Page and the Instagram account.
    pub async fn node(&self, id: &str, fields: &str) -> Result<Value, RemoteError> {
        self.get(id, &[("fields", fields)]).await
    }

    /// Waits for the Conversations API's per-account budget before a call.
    async fn conversations_turn(&self, page_id: &str, channel: Channel) {
        let key = format!("{page_id}#{}", channel.as_str());
        self.conversations_limiter.until_key_ready(&key).await;
    }
}

#[async_trait]
impl GraphApi for GraphClient {
    async fn profile(&self, channel: Channel, user_id: &str) -> Result<ProfileAnswer, RemoteError> {
        let fields = match channel {
            Channel::Messenger => MESSENGER_PROFILE_FIELDS,
            Channel::Instagram => INSTAGRAM_PROFILE_FIELDS,
        };
        match self.get(user_id, &[("fields", fields)]).await {
            Ok(v) => Ok(ProfileAnswer::Found(
                serde_json::from_value(v).unwrap_or_default(),
            )),
            Err(RemoteError::Permanent {
                reason, excerpt, ..
            }) if profile_unavailable(&excerpt).is_some() => Ok(ProfileAnswer::Unavailable {
                code: profile_unavailable(&excerpt).unwrap_or_default(),
                reason,
            }),
            Err(e) => Err(e),
        }
    }

    async fn conversations(
        &self,
        page_id: &str,
        channel: Channel,
        after: Option<&str>,
    ) -> Result<ConversationsPage, RemoteError> {
        self.conversations_turn(page_id, channel).await;
        let limit = self.page_size.to_string();
        // The messages come with the conversations (field expansion): one call per page, not one
        // per conversation, under the Conversations API's 2 calls/s.
        let fields = format!(
            "participants,updated_time,messages.limit({READABLE_MESSAGES}){{id,created_time,from,to,message}}"
        );
        let mut query = vec![
            ("platform", channel.as_str()),
            ("fields", fields.as_str()),
            ("limit", limit.as_str()),
        ];
        if let Some(a) = after {
            query.push(("after", a));
        }
        let v = self
            .get(&format!("{page_id}/conversations"), &query)
            .await?;
        let conversations = v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let participants = c["participants"]["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| serde_json::from_value::<Participant>(p.clone()).ok())
                    .collect::<Vec<_>>();
                Some(Conversation {
                    id: c["id"].as_str()?.to_string(),
                    updated_ms: c["updated_time"]
                        .as_str()
                        .and_then(graph_time_ms)
                        .unwrap_or(0),
                    participants,
                    messages: recent_messages(&c["messages"]),
                })
            })
            .collect();
        // `next` says whether there is another page; the cursor is what to send for it.
        let after = v["paging"]["next"]
            .as_str()
            .and_then(|_| v["paging"]["cursors"]["after"].as_str())
            .map(str::to_string);
        Ok(ConversationsPage {
            conversations,
            after,
        })
    }

    async fn subscribed_apps(&self, page_id: &str) -> Result<Vec<SubscribedApp>, RemoteError> {
        let v = self.get(&format!("{page_id}/subscribed_apps"), &[]).await?;
        Ok(v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(SubscribedApp::from_graph)
            .collect())
    }
}

/// A 200 answer's JSON. A text cut inside an emoji leaves an unpaired surrogate escape, which
/// would make the whole page unreadable, and every run stop at it: it reads as U+FFFD.
fn read_answer(text: &str) -> serde_json::Result<Value> {
    from_str_lenient(text)
}

/// The detailed messages of a conversation's `messages` field; Meta details only the 20 most
/// recent (older ones carry no text and are not read).
fn recent_messages(messages: &Value) -> Vec<StoredMessage> {
    messages["data"]
        .as_array()
        .into_iter()
        .flatten()
        .take(READABLE_MESSAGES)
        .filter_map(|m| {
            Some(StoredMessage {
                mid: m["id"].as_str()?.to_string(),
                created_ms: m["created_time"].as_str().and_then(graph_time_ms)?,
                from_id: m["from"]["id"].as_str().map(str::to_string),
                text: m["message"].as_str().map(str::to_string),
            })
        })
        .collect()
}

/// Graph's time format, `2026-11-24T08:00:00+0000`, as epoch ms.
pub fn graph_time_ms(s: &str) -> Option<i64> {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory][offset_minute]"
    );
    time::OffsetDateTime::parse(s, &format)
        .or_else(|_| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339))
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The code of a "profile not available" answer, if that is what `body` is.
fn profile_unavailable(body: &str) -> Option<i64> {
    let v: Value = serde_json::from_str(body).ok()?;
    let (code, subcode) = (
        v["error"]["code"].as_i64(),
        v["error"]["error_subcode"].as_i64(),
    );
    match (code, subcode) {
        (_, Some(2018218)) => Some(2018218),
        (Some(230), _) => Some(230),
        _ => None,
    }
}

/// The longest `estimated_time_to_regain_access` (minutes) in `X-Business-Use-Case-Usage`.
fn regain_access(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v: Value =
        serde_json::from_slice(headers.get("x-business-use-case-usage")?.as_bytes()).ok()?;
    v.as_object()?
        .values()
        .flat_map(|uses| uses.as_array().cloned().unwrap_or_default())
        .filter_map(|u| u["estimated_time_to_regain_access"].as_u64())
        .max()
        .map(|minutes| Duration::from_secs(minutes * 60))
}

/// Throttling codes (research §6): wait, then call again.
const THROTTLE_CODES: [i64; 7] = [4, 17, 32, 613, 80001, 80002, 80006];
/// Per-Page limits (the Conversations API's 2 calls/s among them) pass in seconds.
const PAGE_THROTTLE_CODES: [i64; 4] = [32, 80001, 80002, 80006];
/// Without a regain estimate (or with 0: under a minute), a throttled call waits this long: a
/// few seconds for a per-Page limit, a minute for the app's and the user's hourly budgets.
const PAGE_THROTTLE_WAIT: Duration = Duration::from_secs(5);
const THROTTLE_WAIT: Duration = Duration::from_secs(60);

/// Meta's error answer in leadsync's terms.
pub fn graph_error(status: u16, regain: Option<Duration>, body: &str) -> RemoteError {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let error = &v["error"];
    let code = error["code"].as_i64();
    let transient_flag = error["is_transient"].as_bool() == Some(true);
    // Graph's code, subcode and type are what its error reference is looked up by; its
    // `message` is left out of the reason, which is logged: it can name the person.
    let reason = match code {
        Some(c) => {
            let subcode = error["error_subcode"]
                .as_i64()
                .map(|s| format!(", subcode {s}"))
                .unwrap_or_default();
            let kind = error["type"]
                .as_str()
                .map(|t| format!(", {t}"))
                .unwrap_or_default();
            format!("code {c}{subcode}{kind}")
        }
        None => format!("HTTP {status}"),
    };
    match code {
        Some(c) if THROTTLE_CODES.contains(&c) => RemoteError::Transient {
            service: SERVICE,
            reason: format!("throttled ({reason})"),
            status: Some(status),
            retry_after: Some(regain.filter(|d| !d.is_zero()).unwrap_or(
                if PAGE_THROTTLE_CODES.contains(&c) {
                    PAGE_THROTTLE_WAIT
                } else {
                    THROTTLE_WAIT
                },
            )),
        },
        Some(190) => RemoteError::Permanent {
            service: SERVICE,
            reason: format!(
                "the Page access token is invalid or expired ({reason}); configure a new META_PAGE_ACCESS_TOKEN"
            ),
            status: Some(status),
            excerpt: excerpt(body),
        },
        Some(1 | 2) => RemoteError::Transient {
            service: SERVICE,
            reason,
            status: Some(status),
            retry_after: None,
        },
        _ if transient_flag || status >= 500 || status == 429 => RemoteError::Transient {
            service: SERVICE,
            reason,
            status: Some(status),
            retry_after: None,
        },
        _ => RemoteError::Permanent {
            service: SERVICE,
            reason,
            status: Some(status),
            excerpt: excerpt(body),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_waits_as_long_as_meta_says_and_190_is_permanent() {
        let throttled = |code: i64, regain| {
            graph_error(
                400,
                regain,
                &format!(r#"{{"error":{{"message":"slow down","code":{code}}}}}"#),
            )
        };
        for code in THROTTLE_CODES {
            let e = throttled(code, None);
            assert!(e.is_transient(), "{code}");
            let wait = if PAGE_THROTTLE_CODES.contains(&code) {
                PAGE_THROTTLE_WAIT
            } else {
                THROTTLE_WAIT
            };
            assert!(
                matches!(e, RemoteError::Transient { retry_after: Some(d), .. } if d == wait),
                "{code}"
            );
        }
        let e = throttled(80006, Some(Duration::from_secs(300)));
        assert!(
            matches!(e, RemoteError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(300))
        );
        let e = graph_error(
            400,
            None,
            r#"{"error":{"message":"Invalid OAuth access token","type":"OAuthException","code":190}}"#,
        );
        assert!(!e.is_transient());
        assert!(e.to_string().contains("META_PAGE_ACCESS_TOKEN"), "{e}");
        assert!(
            graph_error(500, None, r#"{"error":{"code":2,"is_transient":true}}"#).is_transient()
        );
        assert!(graph_error(502, None, "<html>").is_transient());
        assert!(
            !graph_error(400, None, r#"{"error":{"code":100,"message":"bad field"}}"#)
                .is_transient()
        );
    }

    #[test]
    fn a_page_with_a_lone_surrogate_in_a_message_is_still_read() {
        let page = r#"{"data":[{"id":"c1","messages":{"data":[{"id":"m1","message":"cut \ud83d","created_time":"2025-01-01T00:00:00+0000"}]}}]}"#;
        assert!(serde_json::from_str::<Value>(page).is_err());
        let v = read_answer(page).unwrap();
        assert_eq!(
            v["data"][0]["messages"]["data"][0]["message"],
            "cut \u{FFFD}"
        );
    }

    #[test]
    fn profile_unavailable_codes() {
        assert_eq!(
            profile_unavailable(
                r#"{"error":{"code":100,"error_subcode":2018218,"message":"No profile available for this user."}}"#
            ),
            Some(2018218)
        );
        assert_eq!(
            profile_unavailable(r#"{"error":{"code":230,"message":"consent"}}"#),
            Some(230)
        );
        assert_eq!(profile_unavailable(r#"{"error":{"code":100}}"#), None);
    }

    #[test]
    fn graph_times_read_in_both_offset_forms() {
        assert_eq!(graph_time_ms("1970-01-01T00:00:01+0000"), Some(1000));
        assert_eq!(graph_time_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(graph_time_ms("yesterday"), None);
    }
}
