//! CallTools REST API client (research/ghl_calltools.md §5): `Authorization: Token <key>`,
//! trailing slashes on every path, bodies read as text first because errors can be HTML.

use std::num::NonZeroU32;
use std::sync::Mutex;

use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ports::remote::{RemoteError, json_error, retry_after};
use crate::support::secret::Secret;

const SERVICE: &str = "CallTools";
/// CallTools' largest page (research §5.1).
const PAGE_SIZE: &str = "250";
/// [`PAGE_SIZE`] as a number: what a listing costs per contact.
pub const LISTING_PAGE: u64 = 250;
/// The query parameter that filters the contact listing by bucket, DRF style (`?buckets=<id>`).
/// UNCONFIRMED: research §5.1 documents query filters in general (`?first_name=bob`) and no
/// bucket filter; a filter CallTools does not know is ignored silently (§5.3).
pub const BUCKET_FILTER_PARAM: &str = "buckets";

/// What a create answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// A new contact with this id; `answer` is the contact as CallTools rendered it, the only
    /// evidence of what the create's `add_buckets`/`add_tags` did.
    New { id: i64, answer: Value },
    /// The account merged the create into an existing contact with the same phone
    /// (`{"duplicate_contacts":[id],"duplicate_action":"MERGE"}`).
    Merged(i64),
}

/// A contact as a list/lookup returns it: its id and every phone it carries.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedContact {
    pub id: i64,
    #[serde(rename = "_phone_numbers", default)]
    pub phone_numbers: Vec<String>,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl ListedContact {
    /// Whether this contact really has `e164` — a lookup whose filter was ignored returns
    /// every contact in the account, so the answer is never trusted blindly.
    pub fn has_phone(&self, e164: &str) -> bool {
        self.phone_numbers.iter().any(|p| p == e164)
            || [
                "mobile_phone_number",
                "home_phone_number",
                "office_phone_number",
                "phone_number",
            ]
            .iter()
            .any(|f| self.fields.get(*f).and_then(Value::as_str) == Some(e164))
    }
}

/// One page of a contact listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactsPage {
    /// The contacts as CallTools renders them.
    pub contacts: Vec<Value>,
    /// How many the whole listing holds, when the answer says (DRF's `count`).
    pub count: Option<u64>,
    /// Whether another page follows.
    pub more: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NamedItem {
    pub id: i64,
    pub name: String,
}

/// The CallTools operations leadsync uses.
#[async_trait]
pub trait CallToolsApi: Send + Sync {
    async fn create_contact(&self, body: &Map<String, Value>) -> Result<Created, RemoteError>;
    /// The contact as the PATCH answered it, or `None` when it no longer exists (404). An empty
    /// answer is `Value::Null`: it shows nothing.
    async fn update_contact(
        &self,
        id: i64,
        body: &Map<String, Value>,
    ) -> Result<Option<Value>, RemoteError>;
    /// `PATCH /api/buckets/{id}/` (`add_contacts` / `remove_contacts`): the bucket as answered,
    /// or `None` when there is no such bucket (404).
    async fn patch_bucket(
        &self,
        bucket_id: i64,
        body: &Map<String, Value>,
    ) -> Result<Option<Value>, RemoteError>;
    async fn find_by_phone(&self, e164: &str) -> Result<Vec<ListedContact>, RemoteError>;
    /// One contact as CallTools renders it now, `None` when it answers 404 (deleted).
    async fn get_contact(&self, id: i64) -> Result<Option<Value>, RemoteError>;
    /// One call as CallTools renders it now (`GET /api/calls/{id}/`, the shape its `Call` REST
    /// hook posts), `None` when it answers 404.
    async fn get_call(&self, id: i64) -> Result<Option<Value>, RemoteError>;
    /// Page `page` (from 1) of the calls started at or after `since_ms`, oldest first
    /// (`GET /api/calls/?start_time__gte=…&ordering=start_time`), and whether another follows.
    /// An account may ignore the filter (research: CallTools drops filters it does not know);
    /// the caller checks each call's time.
    async fn calls_page(&self, since_ms: i64, page: u32)
    -> Result<(Vec<Value>, bool), RemoteError>;
    /// Page `page` (from 1, 250 a page) of `GET /api/contacts/?buckets=<bucket>`. Whether an
    /// account honours the filter is UNCONFIRMED ([`BUCKET_FILTER_PARAM`]): one that ignores it
    /// lists every contact, so the caller checks that each listed contact shows the bucket.
    async fn contacts_in_bucket(&self, bucket: i64, page: u32)
    -> Result<ContactsPage, RemoteError>;
    /// Every bucket, from `/api/buckets/` or, where an account does not serve it, `/api/lists/`.
    async fn list_buckets(&self) -> Result<Vec<NamedItem>, RemoteError>;
    async fn find_tag(&self, name: &str) -> Result<Option<i64>, RemoteError>;
    async fn create_tag(&self, name: &str) -> Result<i64, RemoteError>;
}

pub struct CallToolsClient {
    http: reqwest::Client,
    base_url: String,
    key: Secret,
    limiter: Option<DefaultDirectRateLimiter>,
    /// The bucket listing path this account serves, once seen (per cold start).
    listing: Mutex<Option<&'static str>>,
}

/// Where accounts list their buckets (research, corrections of 2026-12-04): both are seen in
/// the wild, and an account may serve only one of them.
const LISTING_PATHS: [&str; 2] = ["/api/buckets/", "/api/lists/"];

impl CallToolsClient {
    pub fn new(http: reqwest::Client, base_url: impl Into<String>, key: Secret) -> Self {
        Self {
            http,
            base_url: base_url.into(),
            key,
            limiter: None,
            listing: Mutex::new(None),
        }
    }

    /// Spaces requests to at most `per_second` from this client (one Lambda execution
    /// environment): CallTools' limits are per API key, and bursts end in 429s.
    pub fn with_rate_limit(mut self, per_second: Option<NonZeroU32>) -> Self {
        self.limiter = per_second.map(|n| RateLimiter::direct(Quota::per_second(n)));
        self
    }

    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        debug_assert!(
            path.ends_with('/'),
            "CallTools paths need the trailing slash"
        );
        self.http
            .request(method, format!("{}{}", self.base_url, path))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Token {}", self.key.expose()),
            )
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// Sends, and returns the status and body text of a 2xx or 404 answer; other failures are
    /// classified.
    pub(crate) async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, String), RemoteError> {
        let (status, text, wait) = self.send_any(req).await?;
        if (200..300).contains(&status) || status == 404 {
            Ok((status, text))
        } else {
            Err(RemoteError::from_status(SERVICE, status, wait, &text))
        }
    }

    /// Sends, and returns the status, body text and `Retry-After` of any answer.
    async fn send_any(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, String, Option<std::time::Duration>), RemoteError> {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => {
                let class = if e.is_timeout() { "timeout" } else { "network" };
                sink_response(class);
                return Err(RemoteError::from_reqwest(SERVICE, &e));
            }
        };
        let status = resp.status().as_u16();
        sink_response(status_class(status));
        let wait = retry_after(resp.headers());
        let text = resp
            .text()
            .await
            .map_err(|e| RemoteError::from_reqwest(SERVICE, &e))?;
        Ok((status, text, wait))
    }

    /// A 2xx answer as JSON (an empty body is `Null`), or `None` for a 404.
    async fn send_found(&self, req: reqwest::RequestBuilder) -> Result<Option<Value>, RemoteError> {
        let (status, text) = self.send(req).await?;
        if status == 404 {
            return Ok(None);
        }
        if text.trim().is_empty() {
            return Ok(Some(Value::Null));
        }
        parse_json(status, &text).map(Some)
    }

    pub(crate) async fn send_json(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<Value, RemoteError> {
        let (status, text) = self.send(req).await?;
        if status == 404 {
            return Err(RemoteError::from_status(SERVICE, status, None, &text));
        }
        parse_json(status, &text)
    }

    pub(crate) async fn all_pages<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, RemoteError> {
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let page_str = page.to_string();
            let mut q: Vec<(&str, &str)> = query.to_vec();
            q.extend([("page_size", PAGE_SIZE), ("page", page_str.as_str())]);
            let value = self
                .send_json(self.request(reqwest::Method::GET, path).query(&q))
                .await?;
            let page_of: Page<T> =
                serde_json::from_value(value).map_err(|e| unreadable(200, &json_error(&e)))?;
            out.extend(page_of.results);
            if page_of.next.is_none() {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// Every bucket listed at `path`, or `None` when the account does not serve that path.
    async fn buckets_at(&self, path: &str) -> Result<Option<Vec<NamedItem>>, RemoteError> {
        let first = self
            .request(reqwest::Method::GET, path)
            .query(&[("page_size", PAGE_SIZE), ("page", "1")]);
        let (status, text, wait) = self.send_any(first).await?;
        if listing_not_served(status, &text) {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(RemoteError::from_status(SERVICE, status, wait, &text));
        }
        let page: Page<NamedItem> = serde_json::from_value(parse_json(status, &text)?)
            .map_err(|e| unreadable(status, &json_error(&e)))?;
        if page.next.is_none() {
            return Ok(Some(page.results));
        }
        // More than one page: the path is served, read it all the ordinary way.
        self.all_pages(path, &[]).await.map(Some)
    }

    fn remembered_listing(&self) -> Option<&'static str> {
        self.listing.lock().ok().and_then(|l| *l)
    }

    fn remember_listing(&self, path: &'static str) {
        if let Ok(mut l) = self.listing.lock() {
            if l.is_none() && path != LISTING_PATHS[0] {
                metrics::counter!("calltools_bucket_listing_fallback").increment(1);
                tracing::info!(
                    path,
                    "CallTools serves bucket names only at the fallback path"
                );
            }
            *l = Some(path);
        }
    }
}

/// What `leadsync doctor` reads and writes to learn how an account is set up. Not part of
/// [`CallToolsApi`]: the sync never needs them.
impl CallToolsClient {
    /// The account's first contact as CallTools renders it (its keys are the account's field
    /// slugs), or `None` for an account without contacts.
    pub async fn first_contact(&self) -> Result<Option<Map<String, Value>>, RemoteError> {
        let value = self
            .send_json(
                self.request(reqwest::Method::GET, "/api/contacts/")
                    .query(&[("page_size", "1"), ("page", "1")]),
            )
            .await?;
        let page: Page<Map<String, Value>> =
            serde_json::from_value(value).map_err(|e| unreadable(200, &json_error(&e)))?;
        Ok(page.results.into_iter().next())
    }

    /// How many contacts the account holds (the unfiltered listing's `count`), when it says.
    pub async fn contact_count(&self) -> Result<Option<u64>, RemoteError> {
        let value = self
            .send_json(
                self.request(reqwest::Method::GET, "/api/contacts/")
                    .query(&[("page_size", "1"), ("page", "1")]),
            )
            .await?;
        let page: Page<Value> =
            serde_json::from_value(value).map_err(|e| unreadable(200, &json_error(&e)))?;
        Ok(page.count)
    }

    /// Deletes a contact: `true` when it was there, `false` when it was not. An account whose
    /// API key may not delete answers 403, returned as an error.
    pub async fn delete_contact(&self, id: i64) -> Result<bool, RemoteError> {
        let path = format!("/api/contacts/{id}/");
        let (status, _) = self
            .send(self.request(reqwest::Method::DELETE, &path))
            .await?;
        Ok(status != 404)
    }

    /// Every bucket, and the path that listed them (`/api/buckets/` or `/api/lists/`).
    pub async fn bucket_listing(&self) -> Result<(&'static str, Vec<NamedItem>), RemoteError> {
        let buckets = self.list_buckets().await?;
        let path = self.remembered_listing().unwrap_or(LISTING_PATHS[0]);
        Ok((path, buckets))
    }
}

/// Whether an answer to a bucket listing says the account does not serve that path: a 404
/// (Django's HTML page or DRF's "Not found."), 405 or 501, or a 4xx whose body says the
/// endpoint is not supported (the T-repo's instance was described as "doesn't support this
/// endpoint"). Anything else is an answer to classify as usual.
pub fn listing_not_served(status: u16, body: &str) -> bool {
    let says_unsupported = || {
        let lower = body.to_ascii_lowercase();
        ["not support", "doesn't support", "unsupported"]
            .iter()
            .any(|p| lower.contains(p))
    };
    matches!(status, 404 | 405 | 501) || ((400..500).contains(&status) && says_unsupported())
}

#[derive(Deserialize)]
struct Page<T> {
    #[serde(default)]
    count: Option<u64>,
    next: Option<String>,
    results: Vec<T>,
}

#[async_trait]
impl CallToolsApi for CallToolsClient {
    async fn create_contact(&self, body: &Map<String, Value>) -> Result<Created, RemoteError> {
        let value = self
            .send_json(
                self.request(reqwest::Method::POST, "/api/contacts/")
                    .json(body),
            )
            .await?;
        created_from(&value)
    }

    async fn update_contact(
        &self,
        id: i64,
        body: &Map<String, Value>,
    ) -> Result<Option<Value>, RemoteError> {
        let path = format!("/api/contacts/{id}/");
        self.send_found(self.request(reqwest::Method::PATCH, &path).json(body))
            .await
    }

    async fn patch_bucket(
        &self,
        bucket_id: i64,
        body: &Map<String, Value>,
    ) -> Result<Option<Value>, RemoteError> {
        let path = format!("/api/buckets/{bucket_id}/");
        self.send_found(self.request(reqwest::Method::PATCH, &path).json(body))
            .await
    }

    async fn find_by_phone(&self, e164: &str) -> Result<Vec<ListedContact>, RemoteError> {
        // `query` form-encodes, so `+` travels as `%2B`; a raw `+` would arrive as a space and
        // match nothing (research §5.3).
        let value = self
            .send_json(
                self.request(reqwest::Method::GET, "/api/contacts/")
                    .query(&[("phone_number", e164), ("page_size", PAGE_SIZE)]),
            )
            .await?;
        let page: Page<ListedContact> =
            serde_json::from_value(value).map_err(|e| unreadable(200, &json_error(&e)))?;
        Ok(page.results)
    }

    async fn get_contact(&self, id: i64) -> Result<Option<Value>, RemoteError> {
        let path = format!("/api/contacts/{id}/");
        self.send_found(self.request(reqwest::Method::GET, &path))
            .await
    }

    async fn get_call(&self, id: i64) -> Result<Option<Value>, RemoteError> {
        let path = format!("/api/calls/{id}/");
        self.send_found(self.request(reqwest::Method::GET, &path))
            .await
    }

    async fn calls_page(
        &self,
        since_ms: i64,
        page: u32,
    ) -> Result<(Vec<Value>, bool), RemoteError> {
        let since = crate::sources::calltools::hook::format_datetime(since_ms);
        let page = page.to_string();
        let query = [
            ("start_time__gte", since.as_str()),
            ("ordering", "start_time"),
            ("page_size", PAGE_SIZE),
            ("page", page.as_str()),
        ];
        let value = self
            .send_json(
                self.request(reqwest::Method::GET, "/api/calls/")
                    .query(&query),
            )
            .await?;
        let page_of: Page<Value> =
            serde_json::from_value(value).map_err(|e| unreadable(200, &json_error(&e)))?;
        Ok((page_of.results, page_of.next.is_some()))
    }

    async fn contacts_in_bucket(
        &self,
        bucket: i64,
        page: u32,
    ) -> Result<ContactsPage, RemoteError> {
        let (bucket, page) = (bucket.to_string(), page.to_string());
        let query = [
            (BUCKET_FILTER_PARAM, bucket.as_str()),
            ("page_size", PAGE_SIZE),
            ("page", page.as_str()),
        ];
        let value = self
            .send_json(
                self.request(reqwest::Method::GET, "/api/contacts/")
                    .query(&query),
            )
            .await?;
        let page_of: Page<Value> =
            serde_json::from_value(value).map_err(|e| unreadable(200, &json_error(&e)))?;
        Ok(ContactsPage {
            contacts: page_of.results,
            count: page_of.count,
            more: page_of.next.is_some(),
        })
    }

    async fn list_buckets(&self) -> Result<Vec<NamedItem>, RemoteError> {
        let remembered = self.remembered_listing();
        let order = remembered
            .into_iter()
            .chain(LISTING_PATHS.into_iter().filter(|p| Some(*p) != remembered));
        for path in order {
            if let Some(buckets) = self.buckets_at(path).await? {
                self.remember_listing(path);
                return Ok(buckets);
            }
        }
        Err(RemoteError::Permanent {
            service: SERVICE,
            reason: "this CallTools account lists buckets at neither /api/buckets/ nor \
                     /api/lists/; give the rules bucket_id instead of bucket names"
                .into(),
            status: Some(404),
            excerpt: String::new(),
        })
    }

    async fn find_tag(&self, name: &str) -> Result<Option<i64>, RemoteError> {
        let tags: Vec<NamedItem> = self.all_pages("/api/alltags/", &[("name", name)]).await?;
        // The name filter may be a substring match or ignored; only an exact name counts.
        Ok(tags.into_iter().find(|t| t.name == name).map(|t| t.id))
    }

    async fn create_tag(&self, name: &str) -> Result<i64, RemoteError> {
        let value = self
            .send_json(
                self.request(reqwest::Method::POST, "/api/alltags/")
                    .json(&serde_json::json!({ "name": name })),
            )
            .await?;
        id_of(&value).ok_or_else(|| unreadable(201, "the created tag has no id"))
    }
}

fn parse_json(status: u16, text: &str) -> Result<Value, RemoteError> {
    serde_json::from_str(text).map_err(|_| {
        // A 2xx that is not JSON is a proxy or error page, which passes with time.
        RemoteError::Transient {
            service: SERVICE,
            reason: format!("HTTP {status} with a body that is not JSON"),
            status: Some(status),
            retry_after: None,
        }
    })
}

fn unreadable(status: u16, why: &str) -> RemoteError {
    RemoteError::Permanent {
        service: SERVICE,
        reason: format!("unexpected answer: {why}"),
        status: Some(status),
        excerpt: crate::ports::remote::excerpt(why),
    }
}

/// The id chain from working integrations: `id`, `contact_id`, `uid`, then the MERGE answer.
pub fn created_from(value: &Value) -> Result<Created, RemoteError> {
    if let Some(id) = id_of(value) {
        return Ok(Created::New {
            id,
            answer: value.clone(),
        });
    }
    let merged = value
        .get("duplicate_contacts")
        .and_then(Value::as_array)
        .and_then(|ids| ids.first())
        .and_then(as_id);
    merged.map(Created::Merged).ok_or_else(|| {
        unreadable(
            200,
            &format!(
                "no contact id in the answer{}",
                crate::ports::remote::answer_fields(&value.to_string())
            ),
        )
    })
}

fn id_of(value: &Value) -> Option<i64> {
    ["id", "contact_id", "uid"]
        .iter()
        .find_map(|k| value.get(*k).and_then(as_id))
}

fn as_id(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Counts one CallTools answer by class: what the dashboard's sink error rate is made of.
fn sink_response(class: &'static str) {
    metrics::counter!("sink_responses", "sink" => "calltools", "class" => class).increment(1);
}

pub(crate) fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        429 => "429",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn created_ids_follow_the_known_answer_shapes() {
        assert_eq!(
            created_from(&json!({"id": 7})).unwrap(),
            Created::New {
                id: 7,
                answer: json!({"id": 7})
            }
        );
        assert!(matches!(
            created_from(&json!({"contact_id": "8"})).unwrap(),
            Created::New { id: 8, .. }
        ));
        assert_eq!(
            created_from(&json!({"duplicate_contacts": [9], "duplicate_action": "MERGE"})).unwrap(),
            Created::Merged(9)
        );
        assert!(created_from(&json!({"ok": true})).is_err());
    }

    #[test]
    fn a_listed_contact_matches_only_its_own_phone() {
        let c: ListedContact = serde_json::from_value(
            json!({"id": 1, "_phone_numbers": ["+14155550132"], "first_name": "A"}),
        )
        .unwrap();
        assert!(c.has_phone("+14155550132"));
        assert!(!c.has_phone("+14155550133"));
        let c: ListedContact =
            serde_json::from_value(json!({"id": 2, "mobile_phone_number": "+14155550133"}))
                .unwrap();
        assert!(c.has_phone("+14155550133"));
    }

    #[test]
    fn a_bucket_listing_is_not_served_on_a_404_or_an_unsupported_answer_only() {
        let html = "<!doctype html><html><body><h1>Not Found</h1></body></html>";
        assert!(listing_not_served(404, html));
        assert!(listing_not_served(404, r#"{"detail": "Not found."}"#));
        assert!(listing_not_served(405, ""));
        assert!(listing_not_served(
            400,
            r#"{"detail": "This instance doesn't support this endpoint"}"#
        ));
        assert!(!listing_not_served(200, "{}"));
        assert!(!listing_not_served(401, r#"{"detail": "Invalid token."}"#));
        assert!(!listing_not_served(403, r#"{"detail": "Forbidden"}"#));
        assert!(!listing_not_served(503, html));
    }
}
