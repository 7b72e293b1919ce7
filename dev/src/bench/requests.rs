//! The in-process benchmark's requests: realistic GoHighLevel webhooks, signed with the sandbox
//! test keys before anything is timed.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use leadsync_local::SANDBOX_LOCATION_ID;
use leadsync_sandbox::keys::{self, GhlSignatures};

/// Signs every body with the sandbox test keys, on every core (RSA-4096 signing is slow; none
/// of this is timed).
pub(super) fn sign_all(bodies: &[Vec<u8>]) -> Vec<GhlSignatures> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = bodies.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|b| keys::sign_ghl(b)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing threads do not panic"))
            .collect()
    })
}

/// `n` ContactTagUpdate webhooks, flat contact as GoHighLevel sends it (research §1), each with
/// its own contact id and webhook id and `timestamp` = now: about 1.2 KB each.
pub(super) fn bodies(n: usize) -> Vec<Vec<u8>> {
    let now = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("now formats");
    (0..n)
        .map(|i| {
            let webhook_id = uuid();
            format!(
                concat!(
                    r#"{{"type":"ContactTagUpdate","locationId":"{loc}","id":"bnchC{i:015}","#,
                    r#""address1":"3535 1st St N","city":"Birmingham","state":"AL","#,
                    r#""companyName":"Deo Roofing & Sons LLC","country":"US","source":"facebook lead form - spring promo","#,
                    r#""dateAdded":"2025-01-28T14:31:02.193Z","dateOfBirth":"1984-01-05T00:00:00.000Z","dnd":false,"#,
                    r#""email":"john.deo{i}@example.com","name":"John Deo","firstName":"John","lastName":"Deo","#,
                    r#""phone":"+12055550123","postalCode":"35203","#,
                    r#""tags":["cold lead","facebook lead","roofing","spring promo 2025","callback requested"],"#,
                    r#""website":"https://deoroofing.example.com/","attachments":[],"assignedTo":"nmFmQEsNgz6AVpgLVUJ0","#,
                    r#""customFields":[{{"id":"BcdmQEsNgz6AVpgLVUJ0","value":"XYZ Corp"}},"#,
                    r#"{{"id":"Kq3mQEsNgz6AVpgLVUJ1","value":"Roof replacement, 2 storey, asphalt shingles"}},"#,
                    r#"{{"id":"Zt7mQEsNgz6AVpgLVUJ2","value":42}},"#,
                    r#"{{"id":"Pw9mQEsNgz6AVpgLVUJ3","value":["morning","weekday"]}},"#,
                    r#"{{"id":"Lm2mQEsNgz6AVpgLVUJ4","value":"Prefers a call after 5pm; spoke to reception on Monday"}},"#,
                    r#"{{"id":"Hx4mQEsNgz6AVpgLVUJ5","value":"https://forms.example.com/r/8f3a2c"}}],"#,
                    r#""timestamp":"{now}","webhookId":"{webhook_id}"}}"#
                ),
                loc = SANDBOX_LOCATION_ID,
                i = i,
                now = now,
                webhook_id = webhook_id,
            )
            .into_bytes()
        })
        .collect()
}

fn uuid() -> String {
    let h = format!("{:032x}", rand::random::<u128>());
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_about_one_point_two_kilobytes_and_unique() {
        let b = bodies(2);
        assert!((1100..=1300).contains(&b[0].len()), "{} bytes", b[0].len());
        assert_ne!(b[0], b[1]);
        let v: serde_json::Value = serde_json::from_slice(&b[0]).unwrap();
        assert_eq!(v["type"], "ContactTagUpdate");
    }
}
