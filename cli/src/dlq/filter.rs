//! Which parked messages a `list` or `replay` acts on, and the times operators write.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::dlq::ParkedMessage;

/// All set criteria must hold; an empty filter selects everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub source: Option<String>,
    /// A full contact key (`ghl:<location>:<id>`) or just the source's contact id.
    pub contact: Option<String>,
    /// Case-insensitive substring of the reason.
    pub reason: Option<String>,
    /// Epoch ms, inclusive.
    pub since_ms: Option<i64>,
    /// Epoch ms, inclusive.
    pub until_ms: Option<i64>,
    /// At most this many, oldest first.
    pub limit: Option<usize>,
}

impl Filter {
    /// Whether the filter narrows the selection at all (a move task cannot).
    pub fn is_empty(&self) -> bool {
        self.source.is_none()
            && self.contact.is_none()
            && self.reason.is_none()
            && self.since_ms.is_none()
            && self.until_ms.is_none()
            && self.limit.is_none()
    }

    pub fn matches(&self, m: &ParkedMessage) -> bool {
        let source_ok = self.source.as_deref().is_none_or(|s| {
            m.source
                .as_deref()
                .is_some_and(|ms| ms.eq_ignore_ascii_case(s))
        });
        let contact_ok = self.contact.as_deref().is_none_or(|c| {
            m.contact
                .as_deref()
                .is_some_and(|mc| mc == c || mc.rsplit(':').next() == Some(c))
        });
        let reason_ok = self
            .reason
            .as_deref()
            .is_none_or(|r| m.reason.to_lowercase().contains(&r.to_lowercase()));
        // A message without any time cannot be placed in a range, so a range excludes it.
        let since_ok = self
            .since_ms
            .is_none_or(|s| m.parked_at_ms.is_some_and(|t| t >= s));
        let until_ok = self
            .until_ms
            .is_none_or(|u| m.parked_at_ms.is_some_and(|t| t <= u));
        source_ok && contact_ok && reason_ok && since_ok && until_ok
    }

    /// The matching messages, oldest first, cut to the limit.
    pub fn select<'a>(&self, messages: &'a [ParkedMessage]) -> Vec<&'a ParkedMessage> {
        let mut out: Vec<&ParkedMessage> = messages.iter().filter(|m| self.matches(m)).collect();
        out.sort_by_key(|m| (m.parked_at_ms.unwrap_or(i64::MAX), m.message_id.clone()));
        out.truncate(self.limit.unwrap_or(usize::MAX));
        out
    }
}

/// Parses an RFC 3339 time, or a time relative to `now_ms` such as `90s`, `30m`, `2h`, `7d`,
/// `1w` (that long ago). Returns epoch ms.
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let invalid = || format!("{text:?} is neither an RFC 3339 time nor an age like 30m, 2h or 7d");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (digits, unit) = text.split_at(split);
    let amount: i64 = digits.parse().map_err(|_| invalid())?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return Err(invalid()),
    };
    amount
        .checked_mul(unit_ms)
        .map(|ago| now_ms - ago)
        .ok_or_else(invalid)
}

/// Epoch ms as RFC 3339 (UTC), for people and JSON.
pub fn format_time(ms: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn parked(id: &str, reason: &str, at: Option<i64>) -> ParkedMessage {
        ParkedMessage {
            message_id: id.into(),
            job_id: Some(format!("ghl:{id}")),
            source: Some("ghl".into()),
            contact: Some(format!("ghl:loc:{id}-contact")),
            reason: reason.into(),
            redriven: false,
            http_status: None,
            response_excerpt: None,
            parked_at_ms: at,
            parked_at: None,
            receive_count: None,
            replay_count: 0,
            attributes: Default::default(),
            body: String::new(),
        }
    }

    #[test]
    fn relative_times_count_back_from_now() {
        assert_eq!(parse_time("90s", NOW), Ok(NOW - 90_000));
        assert_eq!(parse_time("30m", NOW), Ok(NOW - 1_800_000));
        assert_eq!(parse_time("2h", NOW), Ok(NOW - 7_200_000));
        assert_eq!(parse_time("7d", NOW), Ok(NOW - 604_800_000));
        assert_eq!(parse_time(" 1w ", NOW), Ok(NOW - 604_800_000));
    }

    #[test]
    fn rfc3339_times_are_absolute() {
        assert_eq!(parse_time("2023-11-14T22:13:20Z", 0), Ok(NOW));
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00", 0), Ok(NOW));
    }

    #[test]
    fn anything_else_is_refused_with_what_is_expected() {
        for bad in [
            "",
            "h",
            "2",
            "2y",
            "-2h",
            "yesterday",
            "99999999999999999999d",
        ] {
            let err = parse_time(bad, NOW).unwrap_err();
            assert!(err.contains("RFC 3339"), "{bad}: {err}");
        }
    }

    #[test]
    fn times_format_as_utc_rfc3339() {
        assert_eq!(format_time(NOW).as_deref(), Some("2023-11-14T22:13:20Z"));
    }

    #[test]
    fn an_empty_filter_selects_everything_oldest_first() {
        let all = [
            parked("b", "x", Some(2)),
            parked("a", "x", Some(1)),
            parked("c", "x", None),
        ];
        let ids: Vec<_> = Filter::default()
            .select(&all)
            .iter()
            .map(|m| m.message_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!(Filter::default().is_empty());
    }

    #[test]
    fn each_criterion_narrows_the_selection() {
        let all = [
            parked("a", "CallTools answered 400", Some(NOW - 10_000)),
            parked("b", super::super::REDRIVE_REASON, Some(NOW - 7_200_000)),
        ];
        let pick = |f: Filter| -> Vec<String> {
            f.select(&all)
                .iter()
                .map(|m| m.message_id.clone())
                .collect()
        };
        assert_eq!(
            pick(Filter {
                reason: Some("calltools".into()),
                ..Filter::default()
            }),
            ["a"]
        );
        assert_eq!(
            pick(Filter {
                reason: Some("REDRIVE".into()),
                ..Filter::default()
            }),
            ["b"]
        );
        assert_eq!(
            pick(Filter {
                contact: Some("a-contact".into()),
                ..Filter::default()
            }),
            ["a"],
            "a bare contact id matches"
        );
        assert_eq!(
            pick(Filter {
                contact: Some("ghl:loc:b-contact".into()),
                ..Filter::default()
            }),
            ["b"],
            "a full contact key matches"
        );
        assert!(
            pick(Filter {
                source: Some("messenger".into()),
                ..Filter::default()
            })
            .is_empty()
        );
        assert_eq!(
            pick(Filter {
                since_ms: Some(NOW - 3_600_000),
                ..Filter::default()
            }),
            ["a"]
        );
        assert_eq!(
            pick(Filter {
                until_ms: Some(NOW - 3_600_000),
                ..Filter::default()
            }),
            ["b"]
        );
        assert_eq!(
            pick(Filter {
                limit: Some(1),
                ..Filter::default()
            }),
            ["b"]
        );
    }

    #[test]
    fn a_time_range_excludes_messages_without_a_time() {
        let all = [parked("a", "x", None)];
        let f = Filter {
            since_ms: Some(0),
            ..Filter::default()
        };
        assert!(f.select(&all).is_empty());
    }
}
