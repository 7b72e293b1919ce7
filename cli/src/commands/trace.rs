//! `leadsync trace CONTACT_ID`: what leadsync knows about one contact — its current state (last
//! applied version, CallTools id, buckets) and every job of the last 30 days with its outcome —
//! found through the `ByContact` index from the contact id alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::Result;
use leadsync::aws::dynamo::events::{DynamoEventLog, LocatedState};
use leadsync::domain::contact::ContactKey;
use leadsync::domain::sink::SinkId;
use leadsync::domain::source::Source;
use leadsync::ports::events::{EventLog, LoggedEvent};
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::target::Target;

#[derive(clap::Args)]
pub struct TraceArgs {
    /// The source's own contact id (for GoHighLevel, the contact id in its URL).
    pub contact_id: String,
    /// The source the id belongs to.
    #[arg(long, default_value = "ghl")]
    pub source: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// At most this many jobs, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// Everything `trace` found about one contact.
#[derive(Debug, Serialize)]
pub struct Trace {
    pub source: String,
    pub contact_id: String,
    /// One per account the id appears in; in practice zero or one.
    pub states: Vec<StateView>,
    /// Newest first.
    pub events: Vec<LoggedEvent>,
}

impl Trace {
    /// The contact as the consumer's log lines name it (`span.contact`), per account it was
    /// found in: its id never reaches the span, this hash does.
    pub fn log_hashes(&self) -> BTreeMap<String, String> {
        let Ok(source) = self.source.parse::<Source>() else {
            return BTreeMap::new();
        };
        let accounts = self.states.iter().map(|s| &s.account);
        let accounts = accounts.chain(self.events.iter().map(|e| &e.account));
        accounts
            .map(|account| {
                let key = ContactKey {
                    source,
                    account: account.clone(),
                    id: self.contact_id.clone(),
                };
                (account.clone(), key.log_hash())
            })
            .collect()
    }
}

#[derive(Debug, Serialize)]
pub struct StateView {
    pub account: String,
    pub version_ms: Option<i64>,
    pub calltools_id: Option<i64>,
    pub buckets: BTreeSet<i64>,
    pub tags: BTreeSet<i64>,
    pub sink_hash: Option<String>,
    pub updated_at_ms: Option<i64>,
    /// When the source read the state was decided on started.
    pub read_at_ms: Option<i64>,
    /// The source's do-not-call the state was decided with: `dnd` (every channel) or
    /// `dnd_call` (calls only).
    pub do_not_call: Option<&'static str>,
}

impl From<LocatedState> for StateView {
    fn from(l: LocatedState) -> Self {
        let calltools = l.state.sink(SinkId::CallTools).clone();
        Self {
            account: l.contact.account,
            version_ms: l.state.version_ms,
            calltools_id: calltools.id,
            buckets: calltools.buckets,
            tags: calltools.tags,
            sink_hash: calltools.hash,
            updated_at_ms: l.state.updated_at_ms,
            read_at_ms: l.state.read_at_ms,
            do_not_call: l.state.do_not_call.map(|d| d.as_str()),
        }
    }
}

/// Reads the contact's state and events; the command and the tests share it.
pub async fn trace(
    log: &DynamoEventLog,
    source: &str,
    contact_id: &str,
    limit: usize,
) -> Result<Trace> {
    let states = log.states_for(source, contact_id).await?;
    let events = log.for_contact(source, contact_id, limit).await?;
    Ok(Trace {
        source: source.into(),
        contact_id: contact_id.into(),
        states: states.into_iter().map(StateView::from).collect(),
        events,
    })
}

pub async fn run(args: TraceArgs, target: &Target) -> Result<()> {
    let log = event_log(target).await?;
    let found = trace(&log, &args.source, &args.contact_id, args.limit).await?;
    let text = if args.json {
        let mut json = serde_json::to_value(&found)?;
        json["log_contacts"] = serde_json::to_value(found.log_hashes())?;
        serde_json::to_string_pretty(&json)? + "\n"
    } else {
        render(&found)
    };
    // `trace … | head` closes stdout early; that is not an error worth a panic.
    match std::io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

async fn event_log(target: &Target) -> Result<DynamoEventLog> {
    let (client, table) = super::state_table(target).await?;
    Ok(DynamoEventLog::new(client, table))
}

/// The trace as a person reads it: state first, then jobs newest first.
pub fn render(t: &Trace) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} contact {}", t.source, t.contact_id);
    for (account, hash) in t.log_hashes() {
        let _ = writeln!(
            out,
            "  in the logs      span.contact = {hash} (account {account})"
        );
    }
    if t.states.is_empty() {
        let _ = writeln!(
            out,
            "  state: none (never synced or skipped with a saved state)"
        );
    }
    for s in &t.states {
        let opt = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
        let _ = writeln!(out, "  account          {}", s.account);
        let _ = writeln!(out, "  applied version  {}", opt_time(s.version_ms));
        let _ = writeln!(out, "  CallTools id     {}", opt(s.calltools_id));
        let _ = writeln!(out, "  buckets          {}", ids(&s.buckets));
        let _ = writeln!(out, "  tags             {}", ids(&s.tags));
        let _ = writeln!(
            out,
            "  do not call      {}",
            s.do_not_call.unwrap_or("no (the source allows calls)")
        );
        let _ = writeln!(
            out,
            "  write hash       {}",
            s.sink_hash.as_deref().unwrap_or("-")
        );
        let _ = writeln!(out, "  last read        {}", opt_time(s.read_at_ms));
        let _ = writeln!(out, "  updated          {}", opt_time(s.updated_at_ms));
    }
    if t.events.is_empty() {
        let _ = writeln!(out, "\nno jobs in the event log (it keeps 30 days)");
        return out;
    }
    let _ = writeln!(out, "\njobs, newest first ({}):", t.events.len());
    let job_width = t.events.iter().map(|e| e.job_id.len()).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "  {:<23}  {:<job_width$}  {:<16}  {:<8}  {:>8}  reason",
        "received (UTC)", "job", "trigger", "outcome", "attempts"
    );
    for e in &t.events {
        let mut reason = e.reason.clone().unwrap_or_default();
        if let Some(status) = e.http_status {
            reason = format!("HTTP {status}: {reason}");
        }
        if let Some(id) = e.calltools_id.filter(|_| e.outcome == "synced") {
            reason = match e.reason.as_deref() {
                Some(why) => format!("CallTools {id}, {why}"),
                None => format!("CallTools {id}"),
            };
        }
        if e.duplicates > 0 {
            let _ = write!(reason, " (+{} redeliveries)", e.duplicates);
        }
        if e.duplicate_deliveries > 0 {
            let _ = write!(
                reason,
                " (+{} duplicate webhooks dropped at ingress)",
                e.duplicate_deliveries
            );
        }
        let _ = writeln!(
            out,
            "  {:<23}  {:<job_width$}  {:<16}  {:<8}  {:>8}  {}",
            time(e.received_at_ms),
            e.job_id,
            e.trigger,
            e.outcome,
            e.attempts,
            reason.trim()
        );
    }
    out
}

fn ids(set: &BTreeSet<i64>) -> String {
    if set.is_empty() {
        return "none".into();
    }
    set.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn opt_time(ms: Option<i64>) -> String {
    ms.map_or("-".to_string(), time)
}

/// Epoch ms as `2026-11-23 23:40:01.123`, UTC.
pub(crate) fn time(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(outcome: &str, reason: Option<&str>) -> LoggedEvent {
        LoggedEvent {
            source: "ghl".into(),
            account: "loc".into(),
            contact_id: "c1".into(),
            job_id: "ghl:w1".into(),
            trigger: "ContactUpdate".into(),
            received_at_ms: 1_700_000_000_123,
            outcome: outcome.into(),
            reason: reason.map(str::to_string),
            http_status: None,
            calltools_id: (outcome == "synced").then_some(48_210_001),
            attempts: 2,
            duplicates: 0,
            duplicate_deliveries: 0,
            last_receive_count: 2,
            first_seen_ms: 0,
            last_attempt_ms: 0,
            expires_at: 0,
        }
    }

    #[test]
    fn times_are_utc_with_milliseconds() {
        assert_eq!(time(1_700_000_000_123), "2023-11-14 22:13:20.123");
    }

    #[test]
    fn the_text_shows_state_then_each_job_with_its_outcome() {
        let t = Trace {
            source: "ghl".into(),
            contact_id: "c1".into(),
            states: vec![StateView {
                account: "loc".into(),
                version_ms: Some(1_700_000_000_000),
                calltools_id: Some(48_210_001),
                buckets: BTreeSet::from([11237]),
                tags: BTreeSet::new(),
                sink_hash: Some("abc".into()),
                updated_at_ms: None,
                read_at_ms: None,
                do_not_call: None,
            }],
            events: vec![event("skipped", Some("stale")), event("synced", None)],
        };
        let text = render(&t);
        assert!(
            text.contains("applied version  2023-11-14 22:13:20.000"),
            "{text}"
        );
        assert!(text.contains("CallTools id     48210001"), "{text}");
        assert!(text.contains("buckets          11237\n"), "{text}");
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("ghl:w1")).collect();
        assert!(
            lines[0].contains("skipped") && lines[0].ends_with("stale"),
            "{text}"
        );
        assert!(lines[1].ends_with("CallTools 48210001"), "{text}");
    }

    #[test]
    fn a_dnd_contact_shows_where_its_dnd_came_from() {
        let t = Trace {
            source: "ghl".into(),
            contact_id: "c1".into(),
            states: vec![StateView {
                account: "loc".into(),
                version_ms: None,
                calltools_id: Some(48_210_001),
                buckets: BTreeSet::new(),
                tags: BTreeSet::new(),
                sink_hash: None,
                updated_at_ms: None,
                read_at_ms: None,
                do_not_call: Some("dnd_call"),
            }],
            events: vec![event("synced", Some("do not call: dnd_call"))],
        };
        let text = render(&t);
        assert!(text.contains("do not call      dnd_call\n"), "{text}");
        assert!(
            text.contains("CallTools 48210001, do not call: dnd_call"),
            "{text}"
        );
    }

    #[test]
    fn the_text_gives_the_contact_hash_the_consumers_log_lines_carry() {
        let t = Trace {
            source: "ghl".into(),
            contact_id: "c1".into(),
            states: vec![],
            events: vec![event("synced", None)],
        };
        let hash = ContactKey::ghl("loc", "c1").log_hash();
        assert_eq!(hash.len(), 12);
        let text = render(&t);
        assert!(
            text.contains(&format!("span.contact = {hash} (account loc)\n")),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_contact_says_so() {
        let t = Trace {
            source: "ghl".into(),
            contact_id: "nobody".into(),
            states: vec![],
            events: vec![],
        };
        let text = render(&t);
        assert!(text.contains("state: none"), "{text}");
        assert!(text.contains("no jobs in the event log"), "{text}");
    }
}
