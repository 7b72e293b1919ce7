//! CallTools' value checks (§5.7): phone numbers must be dialable E.164, emails well formed.

/// Django REST Framework's messages, which CallTools' 400 bodies are built from.
pub(crate) const INVALID_PHONE: &str = "Enter a valid phone number.";

/// `None` when the phone may be stored. Blank is allowed: it clears the field (and, through a
/// MERGE, clobbers the existing number).
///
/// Beyond strict E.164 syntax, the number must be a valid number for its region per
/// libphonenumber metadata, which is what rejects the NANP fakes CallTools refuses
/// (area code or exchange starting with 0/1, unassigned area codes like 823, `+12222222222`).
pub(crate) fn phone_error(phone: &str) -> Option<&'static str> {
    if phone.is_empty() {
        return None;
    }
    let Some(digits) = phone.strip_prefix('+') else {
        return Some(INVALID_PHONE);
    };
    let syntactically_e164 = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !syntactically_e164 {
        return Some(INVALID_PHONE);
    }
    let national = digits.get(1..).unwrap_or_default();
    if national
        .bytes()
        .all(|b| Some(&b) == national.as_bytes().first())
    {
        return Some(INVALID_PHONE);
    }
    match rlibphonenumber::PhoneNumber::parse(phone, None) {
        Ok(number) if number.is_valid() => None,
        _ => Some(INVALID_PHONE),
    }
}

/// Roughly Django's `EmailValidator`: a dot-atom local part and a domain of LDH labels with a
/// non-numeric TLD. Catches what CallTools rejected in the field (`x@gmal..com`).
pub(crate) fn email_is_valid(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";
    let local_ok = !local.is_empty()
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c))
        });
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()));
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialable_numbers_pass() {
        for ok in [
            "+17864771573",
            "+12125550123",
            "+14155550132",
            "+442071838750",
            "",
        ] {
            assert_eq!(phone_error(ok), None, "{ok}");
        }
    }

    #[test]
    fn fake_or_malformed_numbers_fail() {
        for bad in [
            "+12222222222", // all one digit, area code 222 unassigned
            "+12120551234", // exchange starts with 0
            "+12121551234", // exchange starts with 1
            "+18235551234", // area code 823 unassigned (§5.7)
            "+11235551234", // area code starts with 1
            "7864771573",   // not E.164: no +
            "+1 786 477 1573",
            "+1786477157", // one digit short
            "+1786477157a",
        ] {
            assert_eq!(phone_error(bad), Some(INVALID_PHONE), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(email_is_valid("ada@example.com"));
        assert!(email_is_valid("ada.l+x@mail.example.co"));
        for bad in [
            "Osmolinskathy12@gmal..com",
            "ada",
            "ada@",
            "@x.com",
            "a@b",
            "a b@x.com",
            "a@x.1",
        ] {
            assert!(!email_is_valid(bad), "{bad}");
        }
    }
}
