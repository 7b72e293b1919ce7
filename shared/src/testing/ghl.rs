//! GoHighLevel, scripted: its contact search in pages, and single contact reads.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::json;

use crate::domain::contact::Contact;
use crate::ports::remote::RemoteError;
use crate::sources::ghl::client::GhlApi;
use crate::sources::ghl::search::{Found, SearchPage, SearchQuery};

/// GHL's search over `contacts`, pages of `page_limit`; the cursor is the next index. A single
/// read answers the contact as it is now ([`FakeGhl::put_contact`] changes it, `None` once
/// removed). Queued failures answer the next calls, of either kind, first.
pub struct FakeGhl {
    pub contacts: Vec<Found>,
    failures: Mutex<VecDeque<RemoteError>>,
    /// From this search call on (by number), answer this error until it has been answered twice.
    fail_at: Mutex<Option<(usize, RemoteError)>>,
    /// When each search call was made.
    pub calls: Mutex<Vec<Instant>>,
    live: Mutex<HashMap<String, Contact>>,
    reads: Mutex<Vec<String>>,
}

impl FakeGhl {
    pub fn new(contacts: Vec<Found>) -> Self {
        let live = contacts
            .iter()
            .map(|f| (f.id.clone(), f.contact.clone()))
            .collect();
        Self {
            contacts,
            failures: Mutex::new(VecDeque::new()),
            fail_at: Mutex::new(None),
            calls: Mutex::new(Vec::new()),
            live: Mutex::new(live),
            reads: Mutex::new(Vec::new()),
        }
    }

    pub fn fail_next(&self, e: RemoteError) {
        self.failures.lock().unwrap().push_back(e);
    }

    /// Fails the search call after `ok` more successful ones (and, for a wait longer than the
    /// invocation, every retry of it too).
    pub fn fail_next_after(&self, ok: usize, e: RemoteError) {
        *self.fail_at.lock().unwrap() = Some((self.calls() + ok, e));
    }

    /// Search calls so far.
    pub fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    /// What a single read of `id` answers from now on.
    pub fn put_contact(&self, id: &str, contact: Contact) {
        self.live.lock().unwrap().insert(id.to_string(), contact);
    }

    /// The contact is deleted: a single read answers `None`.
    pub fn remove_contact(&self, id: &str) {
        self.live.lock().unwrap().remove(id);
    }

    /// The ids single reads asked for, in order.
    pub fn reads(&self) -> Vec<String> {
        self.reads.lock().unwrap().clone()
    }
}

#[async_trait]
impl GhlApi for FakeGhl {
    async fn get_contact(&self, id: &str) -> Result<Option<Contact>, RemoteError> {
        self.reads.lock().unwrap().push(id.to_string());
        if let Some(e) = self.failures.lock().unwrap().pop_front() {
            return Err(e);
        }
        Ok(self.live.lock().unwrap().get(id).cloned())
    }

    async fn search_contacts(&self, q: &SearchQuery) -> Result<SearchPage, RemoteError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(Instant::now());
            calls.len() - 1
        };
        if let Some(e) = self.failures.lock().unwrap().pop_front() {
            return Err(e);
        }
        {
            let mut fail_at = self.fail_at.lock().unwrap();
            if let Some((at, e)) = fail_at.as_ref()
                && n >= *at
            {
                let e = e.clone();
                if n > *at {
                    *fail_at = None;
                }
                return Err(e);
            }
        }
        let start = q
            .search_after
            .as_ref()
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as usize;
        let end = (start + q.page_limit as usize).min(self.contacts.len());
        let page = self.contacts[start..end].to_vec();
        let full = page.len() == q.page_limit as usize;
        Ok(SearchPage {
            contacts: page,
            total: Some(self.contacts.len() as u64),
            next: full.then(|| json!(end)),
        })
    }
}

/// GoHighLevel's writes, recorded: `tags+ <id> [..]`, `tags- <id> [..]`, `note <id> <body>`,
/// `put <id> field=<v> dnd=<bool>`, and the look for a note, `notes? <id>`. Queued failures
/// answer the next writes first (no write happens); a lost answer comes after the write.
#[derive(Default)]
pub struct FakeGhlWrites {
    writes: Mutex<Vec<String>>,
    failures: Mutex<VecDeque<RemoteError>>,
    /// Writes that happen but whose answer is lost: the next write of each kind (`note`,
    /// `tags+`, ...) answers this error instead.
    lost_answers: Mutex<Vec<(&'static str, RemoteError)>>,
    /// The next write of each kind is refused with this error (nothing written).
    refusals: Mutex<Vec<(&'static str, RemoteError)>>,
    /// Every note's full body, by contact.
    notes: Mutex<Vec<(String, String)>>,
}

impl FakeGhlWrites {
    /// The next write of `kind` (`note`, `tags+`, `put`, ...) happens, but its answer is lost:
    /// the caller sees `e`.
    pub fn lose_next_answer(&self, kind: &'static str, e: RemoteError) {
        self.lost_answers.lock().unwrap().push((kind, e));
    }

    /// The next write of `kind` is refused with `e`: it does not happen.
    pub fn refuse_next(&self, kind: &'static str, e: RemoteError) {
        self.refusals.lock().unwrap().push((kind, e));
    }

    fn refused(&self, kind: &str) -> Option<RemoteError> {
        let mut refusals = self.refusals.lock().unwrap();
        let i = refusals.iter().position(|(k, _)| *k == kind)?;
        Some(refusals.remove(i).1)
    }

    /// The notes a contact holds.
    pub fn notes_of(&self, id: &str) -> Vec<String> {
        self.notes
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c == id)
            .map(|(_, b)| b.clone())
            .collect()
    }

    pub fn writes(&self) -> Vec<String> {
        self.writes.lock().unwrap().clone()
    }

    pub fn fail_next(&self, e: RemoteError) {
        self.failures.lock().unwrap().push_back(e);
    }

    fn record(&self, write: String) -> Result<(), RemoteError> {
        if let Some(e) = self.failures.lock().unwrap().pop_front() {
            return Err(e);
        }
        let kind = write.split(' ').next().unwrap_or_default().to_string();
        if let Some(e) = self.refused(&kind) {
            return Err(e);
        }
        self.writes.lock().unwrap().push(write);
        let mut lost = self.lost_answers.lock().unwrap();
        match lost.iter().position(|(k, _)| *k == kind) {
            Some(i) => Err(lost.remove(i).1),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl crate::sinks::ghl::writes::GhlWrites for FakeGhlWrites {
    async fn add_tags(&self, id: &str, tags: &[String]) -> Result<(), RemoteError> {
        self.record(format!("tags+ {id} {tags:?}"))
    }
    async fn remove_tags(&self, id: &str, tags: &[String]) -> Result<(), RemoteError> {
        self.record(format!("tags- {id} {tags:?}"))
    }
    async fn add_note(&self, id: &str, body: &str) -> Result<(), RemoteError> {
        if let Some(e) = self.failures.lock().unwrap().pop_front() {
            return Err(e);
        }
        if let Some(e) = self.refused("note") {
            return Err(e);
        }
        self.notes
            .lock()
            .unwrap()
            .push((id.to_string(), body.to_string()));
        self.record(format!(
            "note {id} {}",
            body.lines().next().unwrap_or_default()
        ))
    }
    async fn has_note(&self, id: &str, lines: &[String]) -> Result<bool, RemoteError> {
        self.writes.lock().unwrap().push(format!("notes? {id}"));
        Ok(self.notes_of(id).iter().any(|b| {
            b.lines()
                .any(|l| lines.iter().any(|m| l.ends_with(m.as_str())))
        }))
    }
    async fn update_contact(
        &self,
        id: &str,
        u: &crate::sinks::ghl::writes::ContactUpdate,
    ) -> Result<(), RemoteError> {
        let field = u.field.as_ref().map_or("-", |(_, v)| v.as_str());
        self.record(format!("put {id} field={field} dnd={}", u.dnd))
    }
}
