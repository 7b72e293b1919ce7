//! CallTools' calls, the dispositions an agent picks after one, and the agents who dial. Calls
//! are made by the played agents through `/_sandbox/calltools/dial`; the API only reads them.
//! A Call renders the same in `GET /api/calls/{id}/` and in a Call REST hook: absent parts are
//! `null`, never left out, and datetimes are CallTools' `YYYY-MM-DD HH:MM:SS` in UTC.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

/// Whether `GET /api/calls/` honours `start_time__gte`. CallTools silently ignores a filter it
/// does not know, so a client that trusts the filter would re-import every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CallTimeFilter {
    #[default]
    Honoured,
    /// Every call is answered, as if the parameter were not there.
    Ignored,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Disposition {
    pub id: i64,
    pub name: String,
    /// Picking it marks the contact do-not-contact.
    pub is_dnc: bool,
}

impl Disposition {
    pub fn json(&self) -> Value {
        json!({ "id": self.id, "name": self.name, "is_dnc": self.is_dnc })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Agent {
    pub id: i64,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
}

impl Agent {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "username": self.username,
            "first_name": self.first_name,
            "last_name": self.last_name,
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub id: i64,
    pub contact: i64,
    pub disposition: Option<Disposition>,
    pub user: Option<Agent>,
    pub duration: u32,
    /// Unix seconds: CallTools' datetimes have no sub-second part.
    pub start_time: i64,
    /// `None` while the call has not ended.
    pub end_time: Option<i64>,
    pub recording_url: Option<String>,
}

impl Call {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "contact": self.contact,
            "disposition": self.disposition.as_ref().map(Disposition::json),
            "user": self.user.as_ref().map(Agent::json),
            "duration": self.duration,
            "start_time": ct_datetime(self.start_time),
            "end_time": self.end_time.map(ct_datetime),
            "recording_url": self.recording_url,
            "direction": "outbound",
        })
    }
}

/// What an agent's call leaves behind.
#[derive(Debug)]
pub(crate) struct NewCall {
    pub contact: i64,
    pub disposition: Option<Disposition>,
    pub user: Option<Agent>,
    /// `None`: the call is still going (no `end_time`).
    pub duration: Option<u32>,
    pub start_time: i64,
    pub recording: bool,
}

/// A change to a call already made; `None`/`false` leaves that part as it is.
#[derive(Debug, Default)]
pub(crate) struct CallChange {
    pub disposition: Option<Disposition>,
    pub duration: Option<u32>,
    pub recording: bool,
}

pub(crate) struct Calls {
    /// In creation order, which is id order.
    calls: Vec<Call>,
    dispositions: Vec<Disposition>,
    agents: Vec<Agent>,
    next_id: i64,
}

/// The dispositions the account is set up with: (name, is_dnc).
const DISPOSITIONS: [(&str, bool); 5] = [
    ("Not Interested", false),
    ("Call Back", false),
    ("No Answer", false),
    ("Do Not Call", true),
    ("Sale", false),
];

/// The agents who dial: (id, username, first name, last name).
const AGENTS: [(i64, &str, &str, &str); 2] = [
    (7, "agent.smith", "Agent", "Smith"),
    (8, "agent.jones", "Jess", "Jones"),
];

impl Default for Calls {
    fn default() -> Self {
        Self {
            calls: Vec::new(),
            // Ids from 3, so "Not Interested" is the 3 of the documented example.
            dispositions: (3..)
                .zip(DISPOSITIONS)
                .map(|(id, (name, is_dnc))| Disposition {
                    id,
                    name: name.to_owned(),
                    is_dnc,
                })
                .collect(),
            agents: AGENTS
                .iter()
                .map(|(id, username, first, last)| Agent {
                    id: *id,
                    username: (*username).to_owned(),
                    first_name: (*first).to_owned(),
                    last_name: (*last).to_owned(),
                })
                .collect(),
            next_id: 5001,
        }
    }
}

impl Calls {
    pub fn dispositions(&self) -> Vec<Value> {
        self.dispositions.iter().map(Disposition::json).collect()
    }

    /// Exact, case-sensitive: the name as the account spells it.
    pub fn disposition_named(&self, name: &str) -> Result<Disposition, String> {
        self.dispositions
            .iter()
            .find(|d| d.name == name)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<&str> = self.dispositions.iter().map(|d| d.name.as_str()).collect();
                format!("disposition {name:?} is not one of {names:?}")
            })
    }

    pub fn agent_named(&self, username: &str) -> Result<Agent, String> {
        self.agents
            .iter()
            .find(|a| a.username == username)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<&str> = self.agents.iter().map(|a| a.username.as_str()).collect();
                format!("agent {username:?} is not one of {names:?}")
            })
    }

    /// `base_url` is where the recordings would be served.
    pub fn record(&mut self, new: NewCall, base_url: &str) -> Call {
        let id = self.next_id;
        self.next_id += 1;
        let call = Call {
            id,
            contact: new.contact,
            disposition: new.disposition,
            user: new.user,
            duration: new.duration.unwrap_or(0),
            start_time: new.start_time,
            end_time: new.duration.map(|d| new.start_time + i64::from(d)),
            recording_url: new
                .recording
                .then(|| format!("{base_url}/recordings/{id}.mp3")),
        };
        self.calls.push(call.clone());
        call
    }

    /// What an agent does to a call after it was dialed, and what CallTools adds later: the
    /// disposition picked (or changed) at wrap-up, the call ended with its duration, the
    /// recording link once the recording is stored. Answers the call as it is now.
    pub fn update(&mut self, id: i64, change: CallChange, base_url: &str) -> Option<Call> {
        let call = self.calls.iter_mut().find(|c| c.id == id)?;
        if let Some(disposition) = change.disposition {
            call.disposition = Some(disposition);
        }
        if let Some(duration) = change.duration {
            call.duration = duration;
            call.end_time = Some(call.start_time + i64::from(duration));
        }
        if change.recording && call.recording_url.is_none() {
            call.recording_url = Some(format!("{base_url}/recordings/{id}.mp3"));
        }
        Some(call.clone())
    }

    pub fn get(&self, id: i64) -> Option<Value> {
        self.calls.iter().find(|c| c.id == id).map(Call::json)
    }

    /// Ordered by (start_time, id); only those starting at or after `since`, when given.
    pub fn list(&self, since: Option<i64>) -> Vec<Value> {
        let mut calls: Vec<&Call> = self
            .calls
            .iter()
            .filter(|c| since.is_none_or(|s| c.start_time >= s))
            .collect();
        calls.sort_by_key(|c| (c.start_time, c.id));
        calls.into_iter().map(Call::json).collect()
    }
}

/// `2026-12-06 07:30:00`.
pub(crate) fn ct_datetime(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap_or_default()
}

/// What Django's `DateTimeField` takes in a filter (the common forms, read as UTC): with a space
/// or a `T`, with or without seconds, or a bare date (midnight).
pub(crate) fn parse_ct_datetime(s: &str) -> Option<i64> {
    let with_time = [
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        format_description!("[year]-[month]-[day] [hour]:[minute]"),
        format_description!("[year]-[month]-[day]T[hour]:[minute]"),
    ];
    let at = with_time
        .iter()
        .find_map(|f| PrimitiveDateTime::parse(s, *f).ok())
        .or_else(|| {
            Date::parse(s, format_description!("[year]-[month]-[day]"))
                .ok()
                .map(Date::midnight)
        })?;
    Some(at.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_round_trip_in_calltools_form() {
        let t = parse_ct_datetime("2026-12-06 07:30:00").unwrap();
        assert_eq!(ct_datetime(t), "2026-12-06 07:30:00");
        assert_eq!(parse_ct_datetime("2026-12-06T07:30:00"), Some(t));
        assert_eq!(parse_ct_datetime("2026-12-06 07:30"), Some(t));
        assert_eq!(
            parse_ct_datetime("2026-12-06"),
            Some(t - 7 * 3600 - 30 * 60)
        );
        assert_eq!(parse_ct_datetime("yesterday"), None);
        assert_eq!(parse_ct_datetime("2026-13-06 07:30:00"), None);
    }

    #[test]
    fn absent_parts_are_null_not_left_out() {
        let mut calls = Calls::default();
        let new = NewCall {
            contact: 1,
            disposition: None,
            user: None,
            duration: None,
            start_time: 0,
            recording: false,
        };
        let v = calls.record(new, "http://x").json();
        for key in ["disposition", "user", "end_time", "recording_url"] {
            assert!(v.get(key).is_some_and(Value::is_null), "{key}: {v}");
        }
        assert_eq!(v["id"], 5001);
    }

    #[test]
    fn a_call_is_wrapped_up_and_its_recording_comes_later() {
        let mut calls = Calls::default();
        let new = NewCall {
            contact: 1,
            disposition: None,
            user: None,
            duration: None,
            start_time: 100,
            recording: false,
        };
        let id = calls.record(new, "http://x").id;
        let picked = calls.disposition_named("Call Back").unwrap();
        let change = CallChange {
            disposition: Some(picked),
            duration: Some(42),
            recording: false,
        };
        let v = calls.update(id, change, "http://x").unwrap().json();
        assert_eq!(v["disposition"]["name"], "Call Back");
        assert_eq!(v["duration"], 42);
        assert_eq!(v["end_time"], ct_datetime(142));
        assert!(v["recording_url"].is_null());
        let recorded = CallChange {
            recording: true,
            ..CallChange::default()
        };
        let v = calls.update(id, recorded, "http://x").unwrap().json();
        assert_eq!(v["recording_url"], format!("http://x/recordings/{id}.mp3"));
        assert_eq!(v["disposition"]["name"], "Call Back", "kept");
        assert!(calls.update(9, CallChange::default(), "http://x").is_none());
    }
}
