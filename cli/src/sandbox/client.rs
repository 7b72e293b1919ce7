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
