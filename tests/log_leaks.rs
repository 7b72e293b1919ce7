//! Personal data in the functions' log lines: phone numbers written as E.164 (`+` and 8 to 15
//! digits), email addresses, and every name, phone and email the sandbox's accounts hold, in the
//! forms the tests wrote them. Each `TestStack` runs its lines through [`leaks`] when its life
//! ends and fails the test on any finding.
//!
//! What it does not flag, on purpose: job and contact ids, hashes and millisecond timestamps
//! (digits without a `+`), and the redacted forms leadsync writes (`+1******0132`,
//! `j***@example.com`).

use std::collections::HashSet;
use std::fmt;

use leadsync_sandbox::PersonalData;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    pub kind: &'static str,
    pub found: String,
    pub line: String,
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?} in: {}", self.kind, self.found, self.line)
    }
}

/// Every piece of personal data in `lines`, known to the sandbox or shaped like it. Names are
/// matched word by word, case-sensitively ("Ada Lovelace" by `Ada` and by `Lovelace`), a
/// known phone by its digits wherever they stand alone (`%2B14155550132` too); lookups go
/// through sets, so a stack holding 25,000 imported contacts is checked as fast as one.
pub fn leaks(lines: &[String], known: &PersonalData) -> Vec<Leak> {
    let names: HashSet<&str> = known
        .names
        .iter()
        .filter(|n| is_personal_name(n))
        .flat_map(|n| words(n))
        .filter(|w| w.chars().count() >= 2)
        .collect();
    let phones: HashSet<String> = known
        .phones
        .iter()
        .map(|p| p.chars().filter(char::is_ascii_digit).collect::<String>())
        .filter(|d| d.len() >= 7)
        .collect();
    let emails_known: HashSet<String> = known.emails.iter().map(|e| e.to_lowercase()).collect();
    let mut out = Vec::new();
    for line in lines {
        let mut found = |kind: &'static str, what: &str| {
            out.push(Leak {
                kind,
                found: what.to_string(),
                line: line.clone(),
            })
        };
        for phone in e164_numbers(line) {
            found("phone", &phone);
        }
        for email in emails(line) {
            found("email", &email);
        }
        for run in digit_runs(line) {
            if phones.contains(run) {
                found("test contact's phone", run);
            }
        }
        for candidate in around_at_signs(line) {
            if emails_known.contains(&candidate.to_lowercase()) {
                found("test contact's email", candidate);
            }
        }
        for word in words(line) {
            if names.contains(word) {
                found("test contact's name", word);
            }
        }
    }
    out.dedup();
    out
}

/// A name as people have them: letters, spaces, hyphens, apostrophes and dots. Tests also
/// name contacts after what they test (`invalid_version_400`, `Outage3`) and reuse that label
/// in webhook ids, which are not personal data.
fn is_personal_name(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_alphabetic() || c.is_whitespace() || "-'.".contains(c))
}

/// Runs of letters and digits.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// Runs of ASCII digits.
fn digit_runs(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
}

/// The text around each `@`, up to a space, quote, backslash or bracket: where a known email,
/// whatever characters it holds, would stand.
fn around_at_signs(line: &str) -> Vec<&str> {
    let stop = |c: char| c.is_whitespace() || "\"'\\<>()[]{},;".contains(c);
    line.match_indices('@')
        .map(|(at, _)| {
            let start = line[..at].rfind(stop).map_or(0, |i| i + 1);
            let end = line[at..].find(stop).map_or(line.len(), |i| at + i);
            &line[start..end]
        })
        .collect()
}

/// `+` and 8 to 15 digits, a digit neither before nor after.
fn e164_numbers(line: &str) -> Vec<String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    for (i, _) in line.match_indices('+') {
        if i > 0 && b[i - 1].is_ascii_digit() {
            continue;
        }
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if (8..=15).contains(&digits) {
            out.push(line[i..=i + digits].to_string());
        }
    }
    out
}

/// `local@domain.tld` with a local part of the characters addresses use (so a redacted
/// `j***@` is not one).
fn emails(line: &str) -> Vec<String> {
    let local_char = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let domain_char = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    let mut out = Vec::new();
    for (at, _) in line.match_indices('@') {
        let before = &line[..at];
        let local_len = before.chars().rev().take_while(|c| local_char(*c)).count();
        let domain: String = line[at + 1..]
            .chars()
            .take_while(|c| domain_char(*c))
            .collect();
        let domain = domain.trim_end_matches(['.', '-']);
        let tld_ok = domain.rsplit_once('.').is_some_and(|(host, tld)| {
            !host.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
        });
        if local_len > 0 && tld_ok {
            out.push(format!("{}@{domain}", &before[before.len() - local_len..]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> PersonalData {
        PersonalData {
            names: [
                "Ada".to_string(),
                "Tester".to_string(),
                "invalid_version_400".to_string(),
            ]
            .into(),
            phones: ["+14155550132".to_string()].into(),
            emails: ["ada@example.com".to_string()].into(),
        }
    }

    fn kinds(line: &str) -> Vec<&'static str> {
        leaks(&[line.to_string()], &known())
            .into_iter()
            .map(|l| l.kind)
            .collect()
    }

    #[test]
    fn a_phone_an_email_and_a_name_are_each_found() {
        assert_eq!(
            kinds(
                r#"{"level":"WARN","fields":{"message":"refused","error":"+447700900123 is not valid"}}"#
            ),
            ["phone"]
        );
        assert_eq!(
            kinds(
                r#"{"error":"HTTP 400: {\"email\":[\"bob.smith@mail.example.org is invalid\"]}"}"#
            ),
            ["email"]
        );
        assert_eq!(
            kinds(r#"{"fields":{"message":"profile read","name":"Ada"}}"#),
            ["test contact's name"]
        );
    }

    #[test]
    fn a_test_contacts_phone_is_found_in_any_form() {
        assert_eq!(
            kinds(r#"{"url":"/api/contacts/?phone_number=%2B14155550132"}"#),
            ["test contact's phone"]
        );
        assert_eq!(
            kinds("GET /api/contacts/?phone_number=14155550132"),
            ["test contact's phone"]
        );
        let both = kinds(r#"{"error":"+14155550132 taken, ada@example.com"}"#);
        assert!(
            both.contains(&"phone") && both.contains(&"test contact's phone"),
            "{both:?}"
        );
        assert!(
            both.contains(&"email") && both.contains(&"test contact's email"),
            "{both:?}"
        );
    }

    #[test]
    fn ids_hashes_timestamps_and_redacted_forms_are_not_personal_data() {
        for line in [
            r#"{"level":"INFO","fields":{"message":"job processed","message_id":"7b7a1c0e-5f7b-4a6e-9a55-0c0b4e3e8f11","job_id":"ghl:ve9EPM428h8vShlRW1KT:x5Kq2Zc9TmRr1bLw0aYd:1733350000123","contact":"ghl#ve9EPM428h8vShlRW1KT#x5Kq2Zc9TmRr1bLw0aYd","outcome":"synced"}}"#,
            r#"{"fields":{"message":"webhook enqueued","seed_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","at_ms":1733350000123}}"#,
            r#"{"fields":{"message":"lookup","phone":"+1******0132","email":"a***@example.com"}}"#,
            r#"{"fields":{"message":"Meta webhook item","page":"100000000000001","ig":"17841400000000001"}}"#,
            r#"{"function":"consumer","metric":"jobs_processed","labels":{"source":"ghl","outcome":"synced"}}"#,
            r#"{"fields":{"message":"webhook enqueued","job_id":"ghl:truth-invalid_version_400"}}"#,
            r#"{"fields":{"message":"Adapter ready","user":"Adalbert"}}"#,
        ] {
            assert_eq!(kinds(line), Vec::<&str>::new(), "{line}");
        }
    }
}
