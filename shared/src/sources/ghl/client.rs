//! GoHighLevel API v2: reading one contact (`GET /contacts/{id}`) and searching them
//! (`POST /contacts/search`), `Version: 2021-07-28`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

use crate::domain::contact::Contact;
use crate::ports::remote::{RemoteError, json_error, retry_after};
use crate::sources::ghl::auth::{AccessToken, StaticToken};
use crate::sources::ghl::dnd::{DndSettings, do_not_call};
use crate::sources::ghl::read_refusal::{ReadRefusal, read_refusal};
use crate::sources::ghl::search::{SearchPage, SearchQuery, parse_page};
use crate::sources::ghl::webhook::parse_iso_ms;
use crate::support::secret::Secret;
use crate::support::surrogates::from_str_lenient;

const SERVICE: &str = "GoHighLevel";
pub const API_VERSION: &str = "2021-07-28";

/// The part of the GHL API the consumer needs.
#[async_trait]
pub trait GhlApi: Send + Sync {
    /// The contact as GHL has it now; `None` when GHL says definitely that it does not exist
    /// (deleted; see [`crate::sources::ghl::read_refusal`]). Any other refusal is an error.
    async fn get_contact(&self, contact_id: &str) -> Result<Option<Contact>, RemoteError>;
    /// One page of `POST /contacts/search`.
    async fn search_contacts(&self, query: &SearchQuery) -> Result<SearchPage, RemoteError>;
}

pub struct GhlClient {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    token: Arc<dyn AccessToken>,
    limiter: Option<DefaultDirectRateLimiter>,
}

impl GhlClient {
    /// A client with a Private Integration Token.
    pub fn new(http: reqwest::Client, base_url: impl Into<String>, token: Secret) -> Self {
        Self::with_access(http, base_url, Arc::new(StaticToken(token)))
    }

    /// A client whose token comes from `token` (OAuth, refreshed as it expires).
    pub fn with_access(
        http: reqwest::Client,
        base_url: impl Into<String>,
        token: Arc<dyn AccessToken>,
    ) -> Self {
        Self {
            http,
            base_url: base_url.into(),
            token,
            limiter: None,
        }
    }

    /// Spaces requests to at most `per_second` from this client: GHL allows 100 requests per
    /// 10 s per location, and a burst of webhooks would otherwise spend it in a second.
    pub fn with_rate_limit(mut self, per_second: Option<NonZeroU32>) -> Self {
        self.limiter = per_second.map(|n| RateLimiter::direct(spaced(n)));
        self
    }
}

/// A burst of `per_second` (a sink's few writes for one contact go at once), then a steady rate
/// that keeps any 10 s within 98 % of `10 × per_second`. GHL counts requests in a sliding 10 s
/// window; `Quota::per_second(n)` alone lets its burst of `n` go ahead of `n` per second, so a
/// client kept busy (a backfill, a bulk tagging) sent `11 n` in 10 s and drew 429s. The 2 %
/// margin keeps network jitter from putting one request more in a window: at 10 per second, a
/// burst of 10 and then 8.8 per second, 98 per 10 s.
fn spaced(per_second: NonZeroU32) -> Quota {
    let n = f64::from(per_second.get());
    let steady_per_second = (0.98 * 10.0 * n - n) / 10.0;
    Quota::with_period(Duration::from_secs_f64(1.0 / steady_per_second))
        .unwrap_or_else(|| Quota::per_second(per_second))
        .allow_burst(per_second)
}

#[derive(Deserialize)]
struct ContactEnvelope {
    contact: ContactJson,
}

/// A contact as GHL's API writes it, in `GET /contacts/{id}` and in search pages.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContactJson {
    pub id: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    tags: Vec<String>,
    date_updated: Option<String>,
    date_added: Option<String>,
    dnd: Option<bool>,
    dnd_settings: Option<DndSettings>,
}

impl ContactJson {
    /// The contact, versioned by `dateUpdated` (or `dateAdded` for one never updated).
    pub(crate) fn into_contact(self) -> Contact {
        let version_ms = self
            .date_updated
            .as_deref()
            .or(self.date_added.as_deref())
            .and_then(parse_iso_ms);
        Contact {
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            phone: self.phone,
            tags: self.tags,
            version_ms,
            do_not_call: do_not_call(self.dnd, self.dnd_settings.as_ref()),
            call: None,
        }
    }
}

/// Reads a `GET /contacts/{id}` answer (`{"contact": {...}}`). Public, rather than private to
/// [`GhlClient::get_contact`], so the fuzz crate can reach the parser GHL's answers go through.
pub fn parse_contact(text: &str) -> Result<Contact, serde_json::Error> {
    let env: ContactEnvelope = from_str_lenient(text)?;
    Ok(env.contact.into_contact())
}

/// GHL writes `null` for an empty list as for an empty text (research, corrections of
/// 2026-12-04, "Nulls"); `#[serde(default)]` alone only covers a missing key.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A 200 whose body could not be read: GHL changed shape, retrying will not help.
fn unreadable(reason: String, text: &str) -> RemoteError {
    RemoteError::Permanent {
        service: SERVICE,
        reason,
        status: Some(200),
        excerpt: crate::ports::remote::excerpt(text),
    }
}

impl GhlClient {
    /// Sends one API request after the rate limit, with the token and `Version` header; returns
    /// the status, the wait GHL asked for (if any) and the body. A token GHL refuses (401) is
    /// given back to its source and the request sent once more with the next one.
    pub(crate) async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, Option<std::time::Duration>, String), RemoteError> {
        let a = self.send_budgeted(req).await?;
        Ok((a.status, a.wait, a.text))
    }

    /// [`GhlClient::send`], keeping what the answer's `X-RateLimit-*` headers said.
    async fn send_budgeted(&self, req: reqwest::RequestBuilder) -> Result<Answered, RemoteError> {
        let retry = req.try_clone();
        let answer = self.send_once(req).await?;
        match retry {
            Some(again) if answer.status == 401 && self.token.refused(&answer.token).await => {
                self.send_once(again).await
            }
            _ => Ok(answer),
        }
    }

    async fn send_once(&self, req: reqwest::RequestBuilder) -> Result<Answered, RemoteError> {
        let token = self.token.current().await?;
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        let resp = req
            .bearer_auth(token.expose())
            .header("Version", API_VERSION)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| RemoteError::from_reqwest(SERVICE, &e))?;
        let status = resp.status().as_u16();
        let wait = retry_after(resp.headers()).or_else(|| interval_hint(resp.headers()));
        let budget = RateBudget::from_headers(resp.headers());
        let text = resp
            .text()
            .await
            .map_err(|e| RemoteError::from_reqwest(SERVICE, &e))?;
        Ok(Answered {
            status,
            wait,
            text,
            token,
            budget,
        })
    }

    /// One search page and the rate budget GHL announced with it: what `leadsync doctor` reads
    /// to say whether the token, the location and the `Version` header work, and how much of
    /// the day's budget is left.
    pub async fn search_with_budget(
        &self,
        query: &SearchQuery,
    ) -> Result<(SearchPage, RateBudget), RemoteError> {
        let url = format!("{}/contacts/search", self.base_url);
        let a = self
            .send_budgeted(self.http.post(&url).json(&query.body()))
            .await?;
        Ok((search_page(a.status, a.wait, &a.text, query)?, a.budget))
    }
}

/// One answer, as [`GhlClient`] reads it.
struct Answered {
    status: u16,
    wait: Option<std::time::Duration>,
    text: String,
    /// The token it was sent with, given back to its source when GHL refuses it.
    token: Secret,
    budget: RateBudget,
}

/// GHL's `X-RateLimit-*` headers (research §3.5): the burst window (100 per 10 s) and the day
/// (200,000), per app and location. `None` where a header is missing or unreadable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateBudget {
    pub burst_max: Option<u64>,
    pub burst_remaining: Option<u64>,
    pub daily_max: Option<u64>,
    pub daily_remaining: Option<u64>,
}

impl RateBudget {
    fn from_headers(headers: &reqwest::header::HeaderMap) -> Self {
        let read = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse().ok();
        Self {
            burst_max: read("x-ratelimit-max"),
            burst_remaining: read("x-ratelimit-remaining"),
            daily_max: read("x-ratelimit-limit-daily"),
            daily_remaining: read("x-ratelimit-daily-remaining"),
        }
    }
}

/// A search answer: the page, or why not.
fn search_page(
    status: u16,
    wait: Option<std::time::Duration>,
    text: &str,
    query: &SearchQuery,
) -> Result<SearchPage, RemoteError> {
    if status != 200 {
        return Err(RemoteError::from_status(SERVICE, status, wait, text));
    }
    let body: serde_json::Value = from_str_lenient(text).map_err(|e| {
        unreadable(
            format!("unreadable search answer: {}", json_error(&e)),
            text,
        )
    })?;
    parse_page(&body, query.page_limit).map_err(|reason| unreadable(reason, text))
}

#[async_trait]
impl GhlApi for GhlClient {
    async fn get_contact(&self, contact_id: &str) -> Result<Option<Contact>, RemoteError> {
        let url = format!("{}/contacts/{}", self.base_url, contact_id);
        let (status, wait, text) = self.send(self.http.get(&url)).await?;
        match status {
            200 => parse_contact(&text)
                .map(Some)
                .map_err(|e| unreadable(format!("unreadable contact: {}", json_error(&e)), &text)),
            400 | 404 | 422 => {
                let refusal = read_refusal(status, wait, &text);
                let meaning = match &refusal {
                    ReadRefusal::NotFound => "not_found",
                    ReadRefusal::Failed(e) if e.is_transient() => "transient",
                    ReadRefusal::Failed(_) => "permanent",
                };
                metrics::counter!("ghl_contact_read_refused", "status" => status.to_string(), "meaning" => meaning)
                    .increment(1);
                match refusal {
                    ReadRefusal::NotFound => Ok(None),
                    ReadRefusal::Failed(e) => Err(e),
                }
            }
            _ => Err(RemoteError::from_status(SERVICE, status, wait, &text)),
        }
    }

    async fn search_contacts(&self, query: &SearchQuery) -> Result<SearchPage, RemoteError> {
        let url = format!("{}/contacts/search", self.base_url);
        let (status, wait, text) = self.send(self.http.post(&url).json(&query.body())).await?;
        search_page(status, wait, &text, query)
    }
}

/// GHL documents no `Retry-After`; `X-RateLimit-Interval-Milliseconds` says when the burst
/// window resets, which is when a retry can succeed.
fn interval_hint(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    let remaining: u64 = headers
        .get("x-ratelimit-remaining")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    if remaining > 0 {
        return None;
    }
    let ms: u64 = headers
        .get("x-ratelimit-interval-milliseconds")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(std::time::Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_kept_busy_stays_under_ghls_100_requests_per_10_s() {
        use governor::clock::FakeRelativeClock;
        let clock = FakeRelativeClock::default();
        let limiter =
            RateLimiter::direct_with_clock(spaced(NonZeroU32::new(10).unwrap()), clock.clone());
        // Ask every millisecond for 30 s; count what is let through in each sliding 10 s window.
        let mut admitted = Vec::new();
        for ms in 0..30_000u64 {
            if limiter.check().is_ok() {
                admitted.push(ms);
            }
            clock.advance(Duration::from_millis(1));
        }
        let most_in_a_window = admitted
            .iter()
            .map(|start| {
                admitted
                    .iter()
                    .filter(|t| (*start..start + 10_000).contains(t))
                    .count()
            })
            .max()
            .unwrap();
        assert!(
            (95..=99).contains(&most_in_a_window),
            "{most_in_a_window} in 10 s"
        );
        // The first ten go one millisecond after the other, as asked: a sink's few writes for
        // one contact do not wait on each other.
        assert_eq!(admitted[..11], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 114]);
    }

    #[test]
    fn a_contact_with_null_fields_reads_them_as_absent() {
        let env: ContactEnvelope = serde_json::from_str(
            r#"{"contact": {"id": "c1", "firstName": null, "lastName": null, "email": null,
                "phone": null, "tags": null, "dateUpdated": null, "dateAdded": null,
                "companyName": null, "customFields": null}}"#,
        )
        .unwrap();
        assert_eq!(env.contact.id.as_deref(), Some("c1"));
        assert_eq!(env.contact.into_contact(), Contact::default());
    }

    #[test]
    fn a_contact_whose_name_ends_in_a_cut_emoji_is_still_read() {
        let answer =
            r#"{"contact": {"id": "c1", "firstName": "Ada \ud83d", "phone": "+14155550100"}}"#;
        assert!(serde_json::from_str::<ContactEnvelope>(answer).is_err());
        let env: ContactEnvelope = from_str_lenient(answer).unwrap();
        let contact = env.contact.into_contact();
        assert_eq!(contact.first_name.as_deref(), Some("Ada \u{FFFD}"));
        assert_eq!(contact.phone.as_deref(), Some("+14155550100"));
    }

    #[test]
    fn a_contact_without_those_keys_reads_the_same() {
        let env: ContactEnvelope = serde_json::from_str(r#"{"contact": {"id": "c1"}}"#).unwrap();
        assert_eq!(env.contact.into_contact(), Contact::default());
    }
}
