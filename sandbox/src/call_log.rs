//! A log of the API requests the fake servers received, for tests to assert on what leadsync
//! actually sent (method, path, query, body) and what it got back.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::support::{iso_ms, lock, now_ms};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct CallRecord {
    pub seq: u64,
    pub at: String,
    pub method: String,
    pub path: String,
    /// The raw query string as sent (still percent-encoded), so tests can see a bare `+`.
    pub query: Option<String>,
    /// The request body parsed as JSON; a body that is not JSON is kept as a string.
    pub request_json: Option<Value>,
    /// `null` while the request is in flight, or when no response was ever produced
    /// (the client gave up during injected latency).
    pub status: Option<u16>,
    pub ms: Option<u64>,
    /// Which injected fault shaped this answer, if any.
    pub fault: Option<String>,
}

#[derive(Default)]
struct Entries {
    next_seq: u64,
    records: Vec<CallRecord>,
}

#[derive(Default, Clone)]
pub(crate) struct CallLog(Arc<Mutex<Entries>>);

impl CallLog {
    /// Records the request now, so a request whose client disconnects still shows up.
    pub fn begin(&self, method: &str, path: &str, query: Option<&str>, body: &[u8]) -> CallGuard {
        let request_json = if body.is_empty() {
            None
        } else {
            Some(
                serde_json::from_slice(body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())),
            )
        };
        let mut entries = lock(&self.0);
        entries.next_seq += 1;
        let seq = entries.next_seq;
        entries.records.push(CallRecord {
            seq,
            at: iso_ms(now_ms()),
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            request_json,
            status: None,
            ms: None,
            fault: None,
        });
        CallGuard {
            log: self.clone(),
            seq,
            started: Instant::now(),
            status: None,
            fault: None,
        }
    }

    pub fn all(&self) -> Vec<CallRecord> {
        lock(&self.0).records.clone()
    }

    pub fn clear(&self) {
        lock(&self.0).records.clear();
    }
}

/// Completes its log entry when dropped, whether the response was sent or the client went away.
pub(crate) struct CallGuard {
    log: CallLog,
    seq: u64,
    started: Instant,
    status: Option<u16>,
    fault: Option<String>,
}

impl CallGuard {
    pub fn answered(&mut self, status: u16) {
        self.status = Some(status);
        self.write();
    }

    pub fn fault(&mut self, label: &str) {
        self.fault = Some(label.to_owned());
    }

    fn write(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut entries = lock(&self.log.0);
        // Search from the end: the entry is recent, and a reset may have removed it.
        if let Some(r) = entries.records.iter_mut().rev().find(|r| r.seq == self.seq) {
            r.status = self.status;
            r.ms = Some(ms);
            r.fault.clone_from(&self.fault);
        }
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.write();
    }
}
