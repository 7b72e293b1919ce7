//! A client for the sandbox's admin API (`/_sandbox/...`), shared by the end-to-end tests and
//! the benchmark.

use anyhow::{Result, bail};
use reqwest::Method;
use serde_json::Value;

#[derive(Clone)]
pub struct SandboxClient {
    http: reqwest::Client,
    url: String,
}

impl SandboxClient {
    pub fn new(http: reqwest::Client, url: impl Into<String>) -> Self {
        Self {
            http,
            url: url.into(),
        }
    }

    /// The calls leadsync made to one of the sandbox's APIs (`"ghl"` or `"calltools"`), oldest
    /// first, each `{method, path, status, ...}`.
    pub async fn calls(&self, api: &str) -> Result<Vec<Value>> {
        let log = self
            .call(Method::GET, &format!("/_sandbox/{api}/calls"), None)
            .await?;
        Ok(log["calls"].as_array().cloned().unwrap_or_default())
    }

    /// How many calls to `api` (to `path` only, if given) were answered with each status.
    pub async fn calls_by_status(
        &self,
        api: &str,
        path: Option<&str>,
    ) -> Result<std::collections::BTreeMap<u16, usize>> {
        let mut counts = std::collections::BTreeMap::new();
        for call in self.calls(api).await? {
            if path.is_none_or(|p| call["path"] == p) {
                let status = call["status"].as_u64().unwrap_or_default() as u16;
                *counts.entry(status).or_default() += 1;
            }
        }
        Ok(counts)
    }

    /// Sets the played CallTools account's variants, as `POST /_sandbox/calltools/modes` takes
    /// them: `{"placement": "inline"|"ignored", "bucket_listing": "both"|"buckets_only"|"lists_only"}`.
    pub async fn set_calltools_modes(&self, modes: Value) -> Result<Value> {
        self.call(Method::POST, "/_sandbox/calltools/modes", Some(modes))
            .await
    }

    /// Changes the played GoHighLevel account's variants (`POST /_sandbox/ghl/account`): only the
    /// keys given (`tag_search`, `tag_case`, `empty_fields`, `timestamp_precision`,
    /// `frozen_at_ms`, `deleted_answer`, `read_answers`). Answers the whole account.
    pub async fn ghl_account(&self, changes: Value) -> Result<Value> {
        let v = self
            .call(Method::POST, "/_sandbox/ghl/account", Some(changes))
            .await?;
        Ok(v["account"].clone())
    }

    /// The notes of a GoHighLevel contact, oldest first, as `GET /contacts/{id}/notes` shows
    /// them (read through the admin API, so not in the GHL call log).
    pub async fn ghl_notes(&self, contact_id: &str) -> Result<Vec<Value>> {
        let path = format!("/_sandbox/ghl/contacts/{contact_id}/notes");
        let v = self.call(Method::GET, &path, None).await?;
        Ok(v["notes"].as_array().cloned().unwrap_or_default())
    }

    /// Calls an admin endpoint; a non-2xx answer is an error carrying the sandbox's message,
    /// an empty answer is `Value::Null`.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("sandbox {path}: {status} {text}");
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }
}
