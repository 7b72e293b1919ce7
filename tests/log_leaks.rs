//! Personal data in the functions' log lines: phone numbers written as E.164 (`+` and 8 to 15
//! digits), email addresses, and every name, phone and email the sandbox's accounts hold, in the
//! forms the tests wrote them. Each `TestStack` runs its lines through [`leaks`] when its life
//! ends and fails the test on any finding.
//!
//! What it does not flag, on purpose: job and contact ids, hashes and millisecond timestamps
//! (digits without a `+`), and the redacted forms leadsync writes (`+1******0132`,
//! `j***@example.com`).

use std::fmt;

use leadsync_cli::sandbox::PersonalData;

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

/// Every piece of personal data in `lines`, known to the sandbox or shaped like it.
pub fn leaks(lines: &[String], known: &PersonalData) -> Vec<Leak> {
    let mut out = Vec::new();
    for line in lines {
        let mut found = |kind: &'static str, what: String| {
            out.push(Leak {
                kind,
                found: what,
                line: line.clone(),
            })
        };
        for phone in e164_numbers(line) {
            found("phone", phone);
        }
        for email in emails(line) {
            found("email", email);
        }
        for phone in &known.phones {
            let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
            if contains_word(line, phone) || (digits.len() >= 7 && contains_number(line, &digits)) {
                found("test contact's phone", phone.clone());
            }
        }
        for email in &known.emails {
            if line.to_lowercase().contains(&email.to_lowercase()) {
                found("test contact's email", email.clone());
            }
        }
        for name in &known.names {
            if contains_word(line, name) {
                found("test contact's name", name.clone());
            }
        }
    }
    out.dedup();
    out
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

/// `digits` in `line` with no digit right before or after it (`%2B14155550132` holds
/// `14155550132`; `214155550132` does not).
fn contains_number(line: &str, digits: &str) -> bool {
    line.match_indices(digits).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + digits.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// `word` in `line` with no letter or digit right before or after it.
fn contains_word(line: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> PersonalData {
        PersonalData {
            names: ["Ada".to_string(), "Tester".to_string()].into(),
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
            r#"{"fields":{"message":"Adapter ready","user":"Adalbert"}}"#,
        ] {
            assert_eq!(kinds(line), Vec::<&str>::new(), "{line}");
        }
    }
}
