//! GoHighLevel API v2 writes, on the same client as the reads (same token, `Version` header,
//! rate limiter and budget): tags (`POST`/`DELETE /contacts/{id}/tags`), a note
//! (`POST /contacts/{id}/notes`), and one contact update (`PUT /contacts/{id}`) for the
//! last-outcome custom field and DND for calls. Each write counts as done only when GHL's answer
//! shows it: the tags in the answer's list, a note with an id, the contact with the field's value
//! and `dndSettings.Call` active.
//!
//! Whether `PUT` merges `dndSettings` per channel or replaces them is not documented (research:
//! unconfirmed; the sandbox plays both). A DND write therefore reads the contact first and sends
//! every channel it holds with Call set, so a DND on SMS or email is never lifted by it — and
//! checks the answer still shows each of them.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::ports::remote::{RemoteError, json_error};
use crate::sinks::calltools::client::status_class;
use crate::sources::ghl::client::{GhlClient, parse_contact};
use crate::sources::ghl::read_refusal::{ReadRefusal, read_refusal};
use crate::support::surrogates::from_str_lenient;

const SERVICE: &str = "GoHighLevel";

/// The update GHL is asked for in one `PUT /contacts/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactUpdate {
    /// `(custom field id, value)`.
    pub field: Option<(String, String)>,
    /// DND for calls.
    pub dnd: bool,
}

/// The GHL writes the GHL sink makes. A contact deleted in GHL is [`contact_gone`].
#[async_trait]
pub trait GhlWrites: Send + Sync {
    async fn add_tags(&self, contact_id: &str, tags: &[String]) -> Result<(), RemoteError>;
    async fn remove_tags(&self, contact_id: &str, tags: &[String]) -> Result<(), RemoteError>;
    async fn add_note(&self, contact_id: &str, body: &str) -> Result<(), RemoteError>;
    /// Whether one of the contact's notes holds one of `lines` (each a whole line, or a link).
    async fn has_note(&self, contact_id: &str, lines: &[String]) -> Result<bool, RemoteError>;
    async fn update_contact(
        &self,
        contact_id: &str,
        update: &ContactUpdate,
    ) -> Result<(), RemoteError>;
}

#[async_trait]
impl GhlWrites for GhlClient {
    async fn add_tags(&self, contact_id: &str, tags: &[String]) -> Result<(), RemoteError> {
        let url = format!("{}/contacts/{contact_id}/tags", self.base_url);
        let text = self
            .written(self.http.post(&url).json(&json!({"tags": tags})))
            .await?;
        let held = tags_in(&text)?;
        match tags.iter().find(|t| !contains_tag(&held, t)) {
            None => Ok(()),
            Some(_) => Err(unconfirmed("the tag answer does not list an added tag")),
        }
    }

    async fn remove_tags(&self, contact_id: &str, tags: &[String]) -> Result<(), RemoteError> {
        let url = format!("{}/contacts/{contact_id}/tags", self.base_url);
        let text = self
            .written(self.http.delete(&url).json(&json!({"tags": tags})))
            .await?;
        let held = tags_in(&text)?;
        match tags.iter().find(|t| contains_tag(&held, t)) {
            None => Ok(()),
            Some(_) => Err(unconfirmed("the tag answer still lists a removed tag")),
        }
    }

    async fn add_note(&self, contact_id: &str, body: &str) -> Result<(), RemoteError> {
        let url = format!("{}/contacts/{contact_id}/notes", self.base_url);
        let text = self
            .written(self.http.post(&url).json(&json!({"body": body})))
            .await?;
        let answer = read_json(&text)?;
        match answer.pointer("/note/id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => Ok(()),
            _ => Err(unconfirmed("the note answer has no note id")),
        }
    }

    async fn has_note(&self, contact_id: &str, lines: &[String]) -> Result<bool, RemoteError> {
        let url = format!("{}/contacts/{contact_id}/notes", self.base_url);
        let text = self.written(self.http.get(&url)).await?;
        let answer = read_json(&text)?;
        let notes = answer
            .get("notes")
            .and_then(Value::as_array)
            .ok_or_else(|| unconfirmed("the notes answer has no notes list"))?;
        Ok(notes
            .iter()
            .any(|n| lines.iter().any(|line| note_holds(n, line))))
    }

    async fn update_contact(
        &self,
        contact_id: &str,
        update: &ContactUpdate,
    ) -> Result<(), RemoteError> {
        let url = format!("{}/contacts/{contact_id}", self.base_url);
        let held = if update.dnd {
            let text = self.written(self.http.get(&url)).await?;
            dnd_settings(&read_json(&text)?)
        } else {
            Map::new()
        };
        let text = self
            .written(self.http.put(&url).json(&update_body(update, &held)))
            .await?;
        if update.dnd {
            let contact = parse_contact(&text).map_err(|e| {
                unconfirmed(&format!("unreadable contact answer: {}", json_error(&e)))
            })?;
            if contact.do_not_call.is_none() {
                return Err(unconfirmed(
                    "the contact answer does not show DND for calls",
                ));
            }
            if let Some(channel) = lifted(&held, &dnd_settings(&read_json(&text)?)) {
                metrics::counter!("ghl_dnd_channel_lifted").increment(1);
                return Err(RemoteError::Permanent {
                    service: SERVICE,
                    reason: format!(
                        "GHL's answer no longer shows DND active on {channel} after leadsync set it for calls: check the contact's DND in GHL"
                    ),
                    status: Some(200),
                    excerpt: String::new(),
                });
            }
        }
        if let Some((id, value)) = &update.field {
            let answer = read_json(&text)?;
            if !field_shows(&answer, id, value) {
                return Err(unconfirmed(
                    "the contact answer does not show the outcome field's value",
                ));
            }
        }
        Ok(())
    }
}

impl GhlClient {
    /// Sends a write; a 2xx answer's body, or the error its status means. A contact GHL says
    /// does not exist is answered as its read is (400 "Contact not found" as seen, or 404), and
    /// comes back as [`contact_gone`] either way.
    async fn written(&self, req: reqwest::RequestBuilder) -> Result<String, RemoteError> {
        let sent = self.send(req).await;
        let class = match &sent {
            Ok((status, _, _)) => status_class(*status),
            Err(e) if e.is_transient() => "network",
            Err(_) => "other",
        };
        metrics::counter!("sink_responses", "sink" => "ghl", "class" => class).increment(1);
        let (status, wait, text) = sent?;
        match status {
            200..=299 => Ok(text),
            400 | 404 | 422 => Err(match read_refusal(status, wait, &text) {
                ReadRefusal::NotFound => contact_gone(),
                ReadRefusal::Failed(e) => e,
            }),
            _ => Err(RemoteError::from_status(SERVICE, status, wait, &text)),
        }
    }
}

/// The contact no longer exists in GHL: the one refusal the sink settles as such (status 404,
/// whatever GHL answered).
pub fn contact_gone() -> RemoteError {
    RemoteError::Permanent {
        service: SERVICE,
        reason: "the contact no longer exists in GoHighLevel".into(),
        status: Some(404),
        excerpt: String::new(),
    }
}

/// `PUT /contacts/{id}`'s body: only what changes (a key sent is a value GHL overwrites), and
/// for DND every channel the contact `held` (its `dndSettings` as just read) with Call set.
pub fn update_body(update: &ContactUpdate, held: &Map<String, Value>) -> Value {
    let mut body = json!({});
    if let Some((id, value)) = &update.field {
        body["customFields"] = json!([{"id": id, "field_value": value}]);
    }
    if update.dnd {
        let mut settings = held.clone();
        settings.insert(
            "Call".into(),
            json!({
                "status": "active",
                "message": "Do not call: set from CallTools by leadsync",
                "code": "",
            }),
        );
        body["dndSettings"] = Value::Object(settings);
    }
    body
}

/// A contact answer's `dndSettings` (`{"contact": {"dndSettings": {...}}}`; `null` is none).
fn dnd_settings(answer: &Value) -> Map<String, Value> {
    answer
        .pointer("/contact/dndSettings")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// A channel active in `before` that `after` no longer shows active.
fn lifted(before: &Map<String, Value>, after: &Map<String, Value>) -> Option<String> {
    let active = |m: &Map<String, Value>, channel: &str| {
        m.get(channel)
            .and_then(|s| s.get("status"))
            .and_then(Value::as_str)
            == Some("active")
    };
    before
        .keys()
        .find(|channel| active(before, channel) && !active(after, channel))
        .cloned()
}

/// Whether a listed note's body holds `marker` (a line leadsync wrote, or a recording link)
/// whole — what follows it ends the line, the text or an HTML tag, so `…/rec/1` is not found in
/// `…/rec/10` — as written, or as GHL's editor keeps a body, in HTML (spaces may come back as
/// `&nbsp;`, a link's `&` as `&amp;`).
fn note_holds(note: &Value, marker: &str) -> bool {
    let Some(body) = note.get("body").and_then(Value::as_str) else {
        return false;
    };
    let holds = |text: &str| {
        text.match_indices(marker).any(|(at, _)| {
            text[at + marker.len()..]
                .chars()
                .next()
                .is_none_or(|c| c.is_whitespace() || c == '<')
        })
    };
    holds(body) || holds(&body.replace("&nbsp;", " ").replace("&amp;", "&"))
}

fn read_json(text: &str) -> Result<Value, RemoteError> {
    from_str_lenient(text)
        .map_err(|e| unconfirmed(&format!("unreadable answer: {}", json_error(&e))))
}

fn tags_in(text: &str) -> Result<Vec<String>, RemoteError> {
    let answer = read_json(text)?;
    let tags = answer
        .get("tags")
        .and_then(Value::as_array)
        .ok_or_else(|| unconfirmed("the tag answer has no tags list"))?;
    Ok(tags
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect())
}

/// GHL keeps tags lower-cased (research, corrections of 2026-12-04), so a tag written as
/// `Not-Interested` comes back as `not-interested`.
fn contains_tag(held: &[String], tag: &str) -> bool {
    held.iter()
        .any(|h| h.trim().eq_ignore_ascii_case(tag.trim()))
}

/// Whether a contact answer (`{"contact": {"customFields": [{"id", "value"}]}}`) holds `value`
/// in field `id`.
fn field_shows(answer: &Value, id: &str, value: &str) -> bool {
    answer
        .pointer("/contact/customFields")
        .and_then(Value::as_array)
        .is_some_and(|fields| {
            fields.iter().any(|f| {
                f.get("id").and_then(Value::as_str) == Some(id)
                    && match f.get("value").or_else(|| f.get("field_value")) {
                        Some(Value::String(s)) => s == value,
                        Some(Value::Number(n)) => n.to_string() == value,
                        _ => false,
                    }
            })
        })
}

/// A 2xx whose answer does not show the write: not counted as done. Retrying may help (GHL
/// answered before the write was visible) and cannot duplicate the tags or the field; a note is
/// the one write a retry could repeat, and its answer is checked only for an id. The answer is
/// not kept: it holds the contact's personal data.
fn unconfirmed(reason: &str) -> RemoteError {
    metrics::counter!("sink_write_unconfirmed", "sink" => "ghl").increment(1);
    RemoteError::Transient {
        service: SERVICE,
        reason: reason.to_string(),
        status: Some(200),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_update_sends_only_what_changes() {
        assert_eq!(
            update_body(&ContactUpdate::default(), &Map::new()),
            json!({})
        );
        let body = update_body(
            &ContactUpdate {
                field: Some(("fld".into(), "Not Interested".into())),
                dnd: true,
            },
            &Map::new(),
        );
        assert_eq!(
            body["customFields"],
            json!([{"id": "fld", "field_value": "Not Interested"}])
        );
        assert_eq!(body["dndSettings"]["Call"]["status"], "active");
        assert!(
            body.get("tags").is_none(),
            "tags in a PUT would replace them all"
        );
    }

    #[test]
    fn dnd_for_calls_is_sent_with_every_channel_the_contact_holds() {
        let held = dnd_settings(&json!({"contact": {"dndSettings": {
            "SMS": {"status": "active", "message": "STOP", "code": "21610"},
            "Email": {"status": "inactive", "message": "", "code": ""}}}}));
        let body = update_body(
            &ContactUpdate {
                field: None,
                dnd: true,
            },
            &held,
        );
        assert_eq!(body["dndSettings"]["SMS"]["status"], "active");
        assert_eq!(body["dndSettings"]["SMS"]["code"], "21610");
        assert_eq!(body["dndSettings"]["Email"]["status"], "inactive");
        assert_eq!(body["dndSettings"]["Call"]["status"], "active");
        assert!(dnd_settings(&json!({"contact": {"dndSettings": null}})).is_empty());
        // An answer that dropped the SMS DND is caught; one that kept it is not.
        let after = |sms: &str| {
            dnd_settings(&json!({"contact": {"dndSettings": {
                "SMS": {"status": sms}, "Call": {"status": "active"}}}}))
        };
        assert_eq!(lifted(&held, &after("inactive")), Some("SMS".into()));
        assert_eq!(lifted(&held, &after("active")), None);
    }

    #[test]
    fn a_field_counts_only_when_the_answer_shows_its_value() {
        let answer = json!({"succeded": true, "contact": {"customFields": [
            {"id": "other", "value": "x"}, {"id": "fld", "value": "Not Interested"}]}});
        assert!(field_shows(&answer, "fld", "Not Interested"));
        assert!(!field_shows(&answer, "fld", "Sale"));
        assert!(!field_shows(
            &json!({"contact": {"customFields": null}}),
            "fld",
            "x"
        ));
    }

    #[test]
    fn a_note_is_recognised_by_its_marker_line() {
        let marker = "CallTools call 5001, disposition 3 (leadsync)";
        let note = |body: Value| json!({"id": "n1", "body": body});
        assert!(note_holds(
            &note(json!(format!("Call outcome: Sale\n{marker}"))),
            marker
        ));
        assert!(note_holds(
            &note(json!(format!(
                "<p>Call outcome: Sale</p><p>{}</p>",
                marker.replace(' ', "&nbsp;")
            ))),
            marker
        ));
        assert!(!note_holds(
            &note(json!("CallTools call 5001, disposition 4 (leadsync)")),
            marker
        ));
        assert!(!note_holds(&note(Value::Null), marker));
        // Whole: a link is not found inside a longer one.
        let ten = json!("Call recording: https://silo.example/rec/10.mp3");
        assert!(!note_holds(&note(ten), "https://silo.example/rec/1"));
        let link = "https://silo.example/rec/1.mp3?sig=a&exp=1";
        assert!(note_holds(
            &note(json!(
                "<p>Call recording: https://silo.example/rec/1.mp3?sig=a&amp;exp=1</p>"
            )),
            link
        ));
    }

    #[test]
    fn tags_compare_without_case() {
        let held = vec!["not-interested".to_string()];
        assert!(contains_tag(&held, "Not-Interested"));
        assert!(!contains_tag(&held, "call-back"));
    }
}
