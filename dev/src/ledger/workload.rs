//! What the ledger run does in GoHighLevel: a seeded plan of contacts and their changes, played
//! through the sandbox's admin API, so the sandbox sends the webhooks GHL would send for them.

use anyhow::{Context, Result};
use futures::StreamExt as _;
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng};
use reqwest::Method;
use serde_json::json;

use leadsync_sandbox::SandboxClient;

/// The tag the local rules send to the "Cold Leads" bucket.
pub const TAG: &str = "cold lead";
/// Webhooks one planned contact produces on average: ContactCreate and the workflow webhook,
/// two updates, a fifth of a ContactTagUpdate, a tenth delivered twice, and a sixth of an ending
/// (the tag removed or the contact deleted).
const WEBHOOKS_PER_CONTACT: f64 = 4.75;

/// How a contact's plan ends once its updates are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Still tagged: dialable, in the bucket.
    Kept,
    /// The tag is removed: the contact leaves the bucket (nothing is ever deleted in CallTools).
    Untagged,
    /// Deleted in GHL: the contact leaves the bucket.
    Deleted,
}

/// One contact and what happens to it, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedContact {
    pub index: usize,
    pub phone: String,
    /// Created with the tag; otherwise tagged after its first update.
    pub tagged_at_create: bool,
    /// How many field updates follow the create.
    pub updates: u32,
    /// CallTools refuses this phone (400), as it does for numbers it cannot dial.
    pub rejected: bool,
    /// Never anything but `Kept` for a rejected phone: its parked jobs are the DLQ's check.
    pub ending: Ending,
}

/// The contacts for about `webhooks` webhooks; 1 % (at least one) get a phone CallTools rejects.
pub fn plan(webhooks: usize, seed: u64) -> Vec<PlannedContact> {
    let count = ((webhooks as f64 / WEBHOOKS_PER_CONTACT).ceil() as usize).max(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let rejected_every = 100;
    (0..count)
        .map(|index| {
            let rejected = index % rejected_every == rejected_every / 2
                || (count < 2 * rejected_every && index == 0);
            let roll: f64 = rng.random();
            PlannedContact {
                index,
                // 415-2xx-xxxx: valid, dialable-looking US numbers, one per contact.
                phone: format!("+1415{:03}{:04}", 200 + index / 10_000, index % 10_000),
                tagged_at_create: rng.random_bool(0.8),
                updates: rng.random_range(1..=3),
                rejected,
                ending: match roll {
                    _ if rejected => Ending::Kept,
                    r if r < 0.10 => Ending::Untagged,
                    r if r < 0.15 => Ending::Deleted,
                    _ => Ending::Kept,
                },
            }
        })
        .collect()
}

fn first_name(c: &PlannedContact, version: u32) -> String {
    format!("Lead{}v{version}", c.index)
}

fn email(c: &PlannedContact, version: u32) -> String {
    format!("lead{}.v{version}@example.com", c.index)
}

/// Spaces the GHL changes: a rep's bulk action in GHL is fast, but moto on one core is the
/// local stand-in for AWS and must keep up, or the run measures moto.
pub type Pace = governor::DefaultDirectRateLimiter;

/// Plays one contact's plan; returns its GHL id.
async fn play(
    sandbox: &SandboxClient,
    c: &PlannedContact,
    pace: &Pace,
    progress: &ProgressBar,
) -> Result<String> {
    let tags = if c.tagged_at_create {
        vec![TAG]
    } else {
        vec![]
    };
    pace.until_ready().await;
    let created = sandbox
        .call(
            Method::POST,
            "/_sandbox/ghl/contacts",
            Some(json!({
                "firstName": first_name(c, 0),
                "lastName": "Ledger",
                "email": email(c, 0),
                "phone": c.phone,
                "tags": tags,
            })),
        )
        .await?;
    let id = created["contact"]["id"]
        .as_str()
        .context("the sandbox returned no contact id")?
        .to_string();
    progress.inc(1);
    for version in 1..=c.updates {
        pace.until_ready().await;
        sandbox
            .call(
                Method::PATCH,
                &format!("/_sandbox/ghl/contacts/{id}"),
                Some(json!({"firstName": first_name(c, version), "email": email(c, version)})),
            )
            .await?;
        progress.inc(1);
        if version == 1 && !c.tagged_at_create {
            pace.until_ready().await;
            sandbox
                .call(
                    Method::POST,
                    &format!("/_sandbox/ghl/contacts/{id}/tags"),
                    Some(json!({"tags": [TAG]})),
                )
                .await?;
            progress.inc(1);
        }
    }
    let ending = match c.ending {
        Ending::Kept => None,
        Ending::Untagged => Some((
            Method::DELETE,
            format!("/_sandbox/ghl/contacts/{id}/tags"),
            Some(json!({"tags": [TAG]})),
        )),
        Ending::Deleted => Some((Method::DELETE, format!("/_sandbox/ghl/contacts/{id}"), None)),
    };
    if let Some((method, path, body)) = ending {
        pace.until_ready().await;
        sandbox.call(method, &path, body).await?;
        progress.inc(1);
    }
    Ok(id)
}

/// The number of GHL writes `contacts` make (the progress bar's length).
pub fn operations(contacts: &[PlannedContact]) -> u64 {
    contacts
        .iter()
        .map(|c| {
            1 + u64::from(c.updates)
                + u64::from(!c.tagged_at_create)
                + u64::from(c.ending != Ending::Kept)
        })
        .sum()
}

/// Plays `contacts`, `concurrency` at a time; returns (planned contact, GHL id) pairs.
pub async fn play_all(
    sandbox: &SandboxClient,
    contacts: &[PlannedContact],
    concurrency: usize,
    pace: &Pace,
    progress: &ProgressBar,
) -> Result<Vec<(PlannedContact, String)>> {
    futures::stream::iter(contacts.iter().cloned())
        .map(|c| async move {
            let id = play(sandbox, &c, pace, progress).await?;
            Ok((c, id))
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<Result<_>>>()
        .await
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_seeded_and_sized_for_the_webhooks() {
        let a = plan(1_000, 7);
        assert_eq!(a, plan(1_000, 7));
        assert_ne!(a, plan(1_000, 8));
        assert_eq!(a.len(), 211);
        let rejected = a.iter().filter(|c| c.rejected).count();
        assert!((2..=4).contains(&rejected), "{rejected}");
        let untagged = a.iter().filter(|c| !c.tagged_at_create).count();
        assert!((20..=70).contains(&untagged), "{untagged}");
        let phones: std::collections::BTreeSet<_> = a.iter().map(|c| &c.phone).collect();
        assert_eq!(phones.len(), a.len(), "one phone per contact");
        assert!(a.iter().all(|c| (1..=3).contains(&c.updates)));
        let ending = |e| a.iter().filter(|c| c.ending == e).count();
        assert!((10..=35).contains(&ending(Ending::Untagged)), "{a:?}");
        assert!((4..=20).contains(&ending(Ending::Deleted)), "{a:?}");
        assert!(
            a.iter()
                .filter(|c| c.rejected)
                .all(|c| c.ending == Ending::Kept)
        );
    }

    #[test]
    fn even_a_tiny_run_has_a_rejected_phone() {
        assert!(plan(10, 1).iter().any(|c| c.rejected));
    }

    #[test]
    fn operations_count_creates_updates_and_late_tags() {
        let c = PlannedContact {
            index: 0,
            phone: "+14152000000".into(),
            tagged_at_create: false,
            updates: 2,
            rejected: false,
            ending: Ending::Kept,
        };
        assert_eq!(operations(std::slice::from_ref(&c)), 4);
        let deleted = PlannedContact {
            ending: Ending::Deleted,
            ..c
        };
        assert_eq!(operations(&[deleted]), 5);
    }
}
