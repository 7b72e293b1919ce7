//! A call the dialer made, as leadsync carries it back to where the contact came from: what the
//! agent chose (the disposition), who, how long, when, and the recording.

/// One call and how it ended. Times are epoch milliseconds (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// The dialer's own id for the call: what makes carrying it back happen once.
    pub call_id: i64,
    /// The disposition's name as the dialer's account spells it; `None` before an agent chose one.
    pub disposition: Option<String>,
    /// The disposition's id, when the dialer gives one: a disposition changed later is another
    /// outcome of the same call.
    pub disposition_id: Option<i64>,
    /// Whether the dialer marks this disposition as do-not-call.
    pub disposition_is_dnc: bool,
    /// The agent's display name, if the dialer says who called.
    pub agent: Option<String>,
    pub duration_secs: u32,
    pub started_at_ms: i64,
    pub recording_url: Option<String>,
}

impl CallOutcome {
    /// `m:ss` (or `h:mm:ss`), as a note reads it.
    pub fn duration_text(&self) -> String {
        let s = self.duration_secs;
        let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
        if h > 0 {
            format!("{h}:{m:02}:{s:02}")
        } else {
            format!("{m}:{s:02}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_reads_as_minutes_and_seconds_or_hours() {
        let call = |secs| CallOutcome {
            call_id: 1,
            disposition: None,
            disposition_id: None,
            disposition_is_dnc: false,
            agent: None,
            duration_secs: secs,
            started_at_ms: 0,
            recording_url: None,
        };
        assert_eq!(call(0).duration_text(), "0:00");
        assert_eq!(call(42).duration_text(), "0:42");
        assert_eq!(call(600).duration_text(), "10:00");
        assert_eq!(call(3_725).duration_text(), "1:02:05");
    }
}
