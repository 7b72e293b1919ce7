//! The normalised contact every source maps into, phone normalisation and PII redaction.

use serde::{Deserialize, Serialize};

use crate::domain::source::Source;

/// Identifies a contact across leadsync: source, account (GHL location, Facebook page) and the
/// source's own contact id. DynamoDB keys start with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContactKey {
    pub source: Source,
    pub account: String,
    pub id: String,
}

impl ContactKey {
    pub fn ghl(location_id: impl Into<String>, contact_id: impl Into<String>) -> Self {
        Self {
            source: Source::Ghl,
            account: location_id.into(),
            id: contact_id.into(),
        }
    }

    /// How the consumer's log lines name the contact (the `contact` field of their `record`
    /// span): the first 12 hex digits of the SHA-256 of [`ContactKey::storage_id`]. `leadsync
    /// trace` prints it, so an operator can find the lines without the logs holding the id.
    pub fn log_hash(&self) -> String {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.storage_id().as_bytes());
        hex::encode(&d.as_ref()[..6])
    }

    /// `SOURCE#ACCOUNT#CONTACT_ID`, the prefix of every item about this contact.
    pub fn storage_id(&self) -> String {
        format!("{}#{}#{}", self.source, self.account, self.id)
    }

    /// The key a [`ContactKey::storage_id`] names; `None` for an unknown source or a malformed id.
    pub fn from_storage_id(id: &str) -> Option<Self> {
        let mut parts = id.splitn(3, '#');
        let source = parts.next()?.parse().ok()?;
        let account = parts.next()?.to_string();
        let id = parts.next()?.to_string();
        Some(Self {
            source,
            account,
            id,
        })
    }
}

impl std::fmt::Display for ContactKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.account, self.id)
    }
}

/// A contact as the source has it now, in leadsync's own terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// The phone exactly as the source gave it; see [`normalize_phone`].
    pub phone: Option<String>,
    pub tags: Vec<String>,
    /// The source's version of this state (GHL `dateUpdated`), epoch milliseconds.
    pub version_ms: Option<i64>,
    /// Why the source forbids calling this contact, if it does. A contact that may not be called
    /// is never dialable, whatever its tags say.
    pub do_not_call: Option<DoNotCall>,
    /// The call whose outcome this read carries back (a dialer as the source); `None` for a
    /// contact read from where it was created.
    pub call: Option<Box<crate::domain::call::CallOutcome>>,
}

impl Contact {
    /// Whether this read is older than the version last applied: only a strictly older version
    /// is (a contact without a version never is).
    pub fn is_older_than(&self, applied_ms: Option<i64>) -> bool {
        matches!((self.version_ms, applied_ms), (Some(read), Some(applied)) if read < applied)
    }
}

/// Where a source's "do not call" comes from (GHL: `dnd: true` blocks every channel;
/// `dndSettings.Call.status == "active"` blocks calls only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoNotCall {
    /// Do-not-disturb on every channel (GHL `dnd: true`).
    AllChannels,
    /// Do-not-disturb for calls (GHL `dndSettings.Call.status` `"active"`, or any status but
    /// `"inactive"`: see [`crate::sources::ghl::dnd`]).
    Calls,
}

impl DoNotCall {
    /// The label metrics, the event log and `leadsync trace` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllChannels => "dnd",
            Self::Calls => "dnd_call",
        }
    }

    /// The value [`Self::as_str`] gave, read back (a saved state).
    pub fn from_label(label: &str) -> Option<Self> {
        [Self::AllChannels, Self::Calls]
            .into_iter()
            .find(|d| d.as_str() == label)
    }
}

/// A digest of what leadsync takes from a source contact (names, email, phone, tags) under the
/// given rules ([`Rules::fingerprint`]). The consumer saves it with what it applied; the backfill
/// compares a scanned contact's digest with it, so an unchanged contact costs nothing.
///
/// [`Rules::fingerprint`]: crate::domain::rules::Rules::fingerprint
pub fn source_hash(c: &Contact, rules_fingerprint: &str) -> String {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or_default().to_string();
    let mut tags: Vec<String> = c
        .tags
        .iter()
        .map(|t| crate::domain::rules::normalize_tag(t))
        .filter(|t| !t.is_empty())
        .collect();
    tags.sort();
    tags.dedup();
    let mut canonical = serde_json::json!([
        text(&c.first_name),
        text(&c.last_name),
        text(&c.email),
        text(&c.phone),
        tags,
        rules_fingerprint,
    ]);
    // Appended only when set, so the digests saved before DND was read stay valid: a DND change
    // (GHL sends no webhook for some) still makes the backfill enqueue the contact.
    if let (Some(dnc), Some(parts)) = (c.do_not_call, canonical.as_array_mut()) {
        parts.push(dnc.as_str().into());
    }
    let canonical = canonical.to_string();
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    hex::encode(&d.as_ref()[..16])
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the contact has no phone number")]
    Missing,
    #[error("the phone number cannot be parsed")]
    Unparseable,
    #[error("the phone number is not a valid, dialable number")]
    Invalid,
}

/// Normalises a phone number to E.164 (`+15551234567`), reading numbers without a country code
/// as numbers of `default_region` (ISO 3166 code, e.g. "US").
///
/// Numbers that libphonenumber's metadata says cannot exist are rejected here, because CallTools
/// answers them with a 400 anyway and a call that is bound to fail is a call wasted.
pub fn normalize_phone(raw: Option<&str>, default_region: &str) -> Result<String, PhoneError> {
    let raw = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(PhoneError::Missing)?;
    if slices_backwards(raw) {
        return Err(PhoneError::Unparseable);
    }
    let region = default_region.parse::<rlibphonenumber::Region>().ok();
    let number =
        rlibphonenumber::PhoneNumber::parse(raw, region).map_err(|_| PhoneError::Unparseable)?;
    if !number.is_valid() {
        return Err(PhoneError::Invalid);
    }
    Ok(number
        .format_as(rlibphonenumber::PhoneNumberFormat::E164)
        .into_owned())
}

/// The ISO 3166 code of a region libphonenumber has numbering metadata for, upper-cased
/// (`gb` → `GB`), or why not: a default region without metadata would leave every number
/// written without its country code unparseable, silently.
pub fn phone_region(code: &str) -> Result<String, String> {
    let known = code
        .parse::<rlibphonenumber::Region>()
        .ok()
        .filter(|r| {
            *r != rlibphonenumber::Region::World
                && rlibphonenumber::PHONE_NUMBER_UTIL
                    .get_country_code_for_region(*r)
                    .is_some()
        })
        .ok_or_else(|| {
            format!("{code:?} is not a region with phone numbering metadata (an ISO 3166 code, e.g. US or GB)")
        })?;
    Ok(known.to_string())
}

/// rlibphonenumber 2.2.15 reads an RFC 3966 number as the text between `tel:` and
/// `;phone-context=` and slices without checking their order: `1;phone-context=+1;tel:2` panics,
/// and a panic aborts the function (the whole batch goes back to the queue, again and again). A
/// phone field is untrusted input, so the order is checked here first; such a number is not one
/// anyway.
fn slices_backwards(raw: &str) -> bool {
    matches!(
        (raw.find("tel:"), raw.find(";phone-context=")),
        (Some(tel), Some(context)) if tel > context
    )
}

/// `+15551234567` → `+1******4567`: enough to tell numbers apart in a log, not enough to dial.
pub fn redact_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 6))
}

/// `john.doe@example.com` → `j***@example.com`.
pub fn redact_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_id_names_its_key_again_and_a_malformed_one_nothing() {
        let key = ContactKey::ghl("loc#1", "c1");
        assert_eq!(
            ContactKey::from_storage_id(&key.storage_id()),
            Some(ContactKey::ghl("loc", "1#c1")),
            "a '#' in an account cannot be told from the separator: ids here have none"
        );
        let plain = ContactKey::ghl("loc", "c1");
        assert_eq!(
            ContactKey::from_storage_id(&plain.storage_id()),
            Some(plain)
        );
        assert_eq!(ContactKey::from_storage_id("ghl#loc"), None);
        assert_eq!(ContactKey::from_storage_id("fax#loc#c1"), None);
    }

    fn ada() -> Contact {
        Contact {
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            email: Some("ada@example.com".into()),
            phone: Some("+14155550100".into()),
            tags: vec!["Cold Lead".into(), "vip".into()],
            version_ms: Some(1),
            do_not_call: None,
            call: None,
        }
    }

    #[test]
    fn the_source_hash_changes_with_what_is_synced_and_nothing_else() {
        let h = source_hash(&ada(), "rules");
        let same = Contact {
            first_name: Some(" Ada ".into()),
            tags: vec!["vip".into(), "cold  lead".into(), "VIP".into()],
            version_ms: Some(99),
            ..ada()
        };
        assert_eq!(
            source_hash(&same, "rules"),
            h,
            "spelling, order and version do not count"
        );
        let renamed = Contact {
            first_name: Some("Augusta".into()),
            ..ada()
        };
        assert_ne!(source_hash(&renamed, "rules"), h);
        let untagged = Contact {
            tags: vec!["vip".into()],
            ..ada()
        };
        assert_ne!(source_hash(&untagged, "rules"), h);
        assert_ne!(source_hash(&ada(), "other rules"), h);
        let dnd = Contact {
            do_not_call: Some(DoNotCall::Calls),
            ..ada()
        };
        assert_ne!(source_hash(&dnd, "rules"), h, "a DND change is a change");
    }

    #[test]
    fn phones_normalise_to_e164() {
        assert_eq!(
            normalize_phone(Some("(415) 555-0132"), "US").unwrap(),
            "+14155550132"
        );
        assert_eq!(
            normalize_phone(Some("+1 415.555.0132"), "US").unwrap(),
            "+14155550132"
        );
        assert_eq!(
            normalize_phone(Some("14155550132"), "US").unwrap(),
            "+14155550132"
        );
        assert_eq!(
            normalize_phone(Some("+919509597501"), "US").unwrap(),
            "+919509597501"
        );
        assert_eq!(
            normalize_phone(Some("020 7946 0018"), "GB").unwrap(),
            "+442079460018"
        );
        // A Paris fixed line: the `phonenumber` crate (0.3.10) called it invalid, so the lead
        // was never dialable.
        assert_eq!(
            normalize_phone(Some("+33 1 23 45 67 89"), "US").unwrap(),
            "+33123456789"
        );
        assert_eq!(
            normalize_phone(Some("01 23 45 67 89"), "FR").unwrap(),
            "+33123456789"
        );
    }

    #[test]
    fn missing_and_impossible_phones_are_reported() {
        assert_eq!(normalize_phone(None, "US"), Err(PhoneError::Missing));
        assert_eq!(normalize_phone(Some("  "), "US"), Err(PhoneError::Missing));
        assert_eq!(
            normalize_phone(Some("call me"), "US"),
            Err(PhoneError::Unparseable)
        );
        // NANP area codes never start with 0 or 1.
        assert_eq!(
            normalize_phone(Some("+1 123 555 0132"), "US"),
            Err(PhoneError::Invalid)
        );
        assert_eq!(
            normalize_phone(Some("12345"), "US"),
            Err(PhoneError::Invalid)
        );
    }

    #[test]
    fn default_regions_are_checked_against_the_metadata() {
        assert_eq!(phone_region("US").as_deref(), Ok("US"));
        assert_eq!(phone_region("gb").as_deref(), Ok("GB"));
        for bad in ["XX", "UK", "001", "", "USA", "u$"] {
            assert!(phone_region(bad).is_err(), "{bad:?}");
        }
    }

    /// Every region's example number of every type it has, written nationally, normalises to
    /// the example: each region's patterns compile under `lite` (a pattern that did not would
    /// panic on that region's first number) and read what libphonenumber says they should.
    #[test]
    fn every_regions_example_numbers_normalise() {
        use rlibphonenumber::{PHONE_NUMBER_UTIL as UTIL, PhoneNumberFormat};
        let mut checked = 0;
        for region in UTIL.get_supported_regions() {
            let code = region.to_string();
            for kind in UTIL
                .get_supported_types_for_region(region)
                .unwrap_or_default()
            {
                let Ok(example) = UTIL.get_example_number_for_type_and_region(region, kind) else {
                    continue;
                };
                let e164 = example.format_as(PhoneNumberFormat::E164).into_owned();
                let national = example.format_as(PhoneNumberFormat::National).into_owned();
                assert_eq!(
                    normalize_phone(Some(&national), &code).as_ref(),
                    Ok(&e164),
                    "{code} {kind:?} {national}"
                );
                assert_eq!(normalize_phone(Some(&e164), "US").as_ref(), Ok(&e164));
                checked += 1;
            }
        }
        assert!(checked > 1_000, "only {checked} examples");
    }

    #[test]
    fn rfc_3966_parts_in_the_wrong_order_are_refused_not_a_crash() {
        for raw in [
            "1;phone-context=+1;tel:2",
            ";phone-context=a;tel:",
            ";phone-context=+44;tel:;tel:",
        ] {
            assert_eq!(
                normalize_phone(Some(raw), "US"),
                Err(PhoneError::Unparseable),
                "{raw}"
            );
        }
        // In their order they are an RFC 3966 number, read as one.
        assert_eq!(
            normalize_phone(Some("tel:415-555-0132;phone-context=+1"), "US").unwrap(),
            "+14155550132"
        );
    }

    #[test]
    fn redaction_keeps_only_what_tells_numbers_apart() {
        assert_eq!(redact_phone("+14155550132"), "+1******0132");
        assert_eq!(redact_email("john.doe@example.com"), "j***@example.com");
        assert_eq!(redact_email("nonsense"), "***");
    }
}
