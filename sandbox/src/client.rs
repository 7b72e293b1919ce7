//! A client for the sandbox's admin API (`/_sandbox/...`), shared by the end-to-end tests and
//! the benchmark.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

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
    /// them: `{"placement": "inline"|"ignored", "bucket_listing": "both"|"buckets_only"|"lists_only",
    /// "deletes": "allowed"|"forbidden", "call_time_filter": "honoured"|"ignored",
    /// "contact_bucket_filter": "honoured"|"ignored"}`.
    pub async fn set_calltools_modes(&self, modes: Value) -> Result<Value> {
        self.call(Method::POST, "/_sandbox/calltools/modes", Some(modes))
            .await
    }

    /// Changes the played GoHighLevel account's variants (`POST /_sandbox/ghl/account`): only the
    /// keys given (`tag_search`, `tag_case`, `empty_fields`, `timestamp_precision`,
    /// `frozen_at_ms`, `deleted_answer`, `read_answers`, `dnd_update`, `burst_limit`). Answers
    /// the whole account.
    pub async fn ghl_account(&self, changes: Value) -> Result<Value> {
        let v = self
            .call(Method::POST, "/_sandbox/ghl/account", Some(changes))
            .await?;
        Ok(v["account"].clone())
    }

    /// A CallTools agent (agent.smith) calls `contact` and picks `disposition` (exact name, or
    /// none); answers the Call as `GET /api/calls/{id}/` renders it. Its hooks go out in the
    /// background: wait for them with [`Self::calltools_hooks_settled`].
    pub async fn calltools_dial(
        &self,
        contact: i64,
        disposition: Option<&str>,
        duration: u32,
    ) -> Result<Value> {
        self.calltools_dial_with(json!({
            "contact": contact,
            "disposition": disposition,
            "duration": duration,
            "agent": "agent.smith",
            "recording": true,
        }))
        .await
    }

    /// The same with the whole `POST /_sandbox/calltools/dial` body (`contact`, `disposition`,
    /// `duration`, `agent`, `recording`); answers the Call.
    pub async fn calltools_dial_with(&self, body: Value) -> Result<Value> {
        let v = self
            .call(Method::POST, "/_sandbox/calltools/dial", Some(body))
            .await?;
        Ok(v["call"].clone())
    }

    /// After a call: the agent picks (or changes) its disposition at wrap-up, and/or its
    /// recording link arrives (`POST /_sandbox/calltools/calls/{id}/wrap_up`); CallTools posts
    /// the Call again. Answers the Call.
    pub async fn calltools_wrap_up(
        &self,
        call: i64,
        disposition: Option<&str>,
        recording: bool,
    ) -> Result<Value> {
        let path = format!("/_sandbox/calltools/calls/{call}/wrap_up");
        let body = json!({ "disposition": disposition, "recording": recording });
        let v = self.call(Method::POST, &path, Some(body)).await?;
        Ok(v["call"].clone())
    }

    /// An agent sets the contact's `do_not_contact` in the CallTools UI; answers the contact.
    pub async fn calltools_set_do_not_contact(&self, id: i64, value: bool) -> Result<Value> {
        let path = format!("/_sandbox/calltools/contacts/{id}/do_not_contact");
        self.call(Method::POST, &path, Some(json!({ "value": value })))
            .await
    }

    /// Every CallTools REST hook POST so far (and every hook dropped), oldest first, each
    /// `{model, object_id, url, status, dropped}`.
    pub async fn calltools_hooks(&self) -> Result<Vec<Value>> {
        let v = self
            .call(Method::GET, "/_sandbox/calltools/hooks", None)
            .await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// Waits until no CallTools hook is in flight (delays and duplicates included), then answers
    /// them all as [`Self::calltools_hooks`] does; an error after `timeout`.
    pub async fn calltools_hooks_settled(&self, timeout: Duration) -> Result<Vec<Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self
                .call(Method::GET, "/_sandbox/calltools/hooks?settled=1", None)
                .await?;
            if v["in_flight"] == 0 {
                return self.calltools_hooks().await;
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} CallTools hook(s) still in flight after {timeout:?}",
                    v["in_flight"]
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How CallTools' hooks misbehave from now on: `{"duplicates": n, "delay_ms": ms,
    /// "drop_next": n}` (a key left out is 0).
    pub async fn set_calltools_hook_delivery(&self, settings: Value) -> Result<Value> {
        self.call(
            Method::POST,
            "/_sandbox/calltools/hook_delivery",
            Some(settings),
        )
        .await
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
