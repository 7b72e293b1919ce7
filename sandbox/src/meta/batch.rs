//! `POST /_sandbox/meta/batch`: many updates in one signed POST, the way Meta batches them
//! ("up to 1000 updates per POST", research §3), optionally split over several entries, out of
//! timestamp order, or POSTed twice, so leadsync's ingress must loop over every entry and item,
//! sort by `timestamp` and deduplicate.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Deserialize;
use serde_json::json;

use crate::admin::{admin_error, parse_json};
use crate::delivery::meta::{Fire, fire};
use crate::meta::events::{Built, Details, Kind, build};
use crate::meta::users::{Channel, NewUser, ProfileState};
use crate::meta::webhook::Item;
use crate::state::AppState;
use crate::support::lock;

/// "Up to 1000 updates per POST" (research §3).
const MAX_BATCH_ITEMS: usize = 1000;

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchBody {
    channel: Channel,
    #[serde(default)]
    user_ids: Vec<String>,
    #[serde(default)]
    new_users: usize,
    #[serde(default = "one")]
    events_per_user: usize,
    /// Cycled through per person; `["message"]` by default.
    #[serde(default)]
    kinds: Vec<Kind>,
    /// POST the same bytes twice (at-least-once delivery).
    #[serde(default)]
    duplicate: bool,
    /// Items (and so entries) out of timestamp order.
    #[serde(default)]
    shuffle: bool,
    #[serde(default = "one")]
    entries: usize,
    #[serde(default = "yes")]
    webhook: bool,
    #[serde(default, rename = "async")]
    no_wait: bool,
}

/// `POST /_sandbox/meta/batch` → `{"items","mids","users","delivery"}`: many items in one POST.
pub(crate) async fn batch(State(st): State<AppState>, body: Bytes) -> Response {
    let b: BatchBody = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let people = b.user_ids.len() + b.new_users;
    let total = people.saturating_mul(b.events_per_user);
    if (b.user_ids.is_empty()) == (b.new_users == 0) {
        return admin_error(StatusCode::BAD_REQUEST, "give either user_ids or new_users");
    }
    if total == 0 || total > MAX_BATCH_ITEMS {
        return admin_error(
            StatusCode::BAD_REQUEST,
            &format!("people × events_per_user must be within 1..={MAX_BATCH_ITEMS}"),
        );
    }
    if b.entries == 0 || b.entries > total {
        return admin_error(StatusCode::BAD_REQUEST, "entries must be within 1..=items");
    }
    let kinds = if b.kinds.is_empty() {
        vec![Kind::Message]
    } else {
        b.kinds
    };
    let built = {
        let mut world = lock(&st.meta.world);
        let mut users = b.user_ids;
        if let Some(bad) = users.iter().find_map(|u| world.user_on(b.channel, u).err()) {
            return admin_error(StatusCode::NOT_FOUND, &bad);
        }
        for _ in 0..b.new_users {
            let n = users.len() + 1;
            users.push(world.add_user(NewUser {
                channel: b.channel,
                name: format!("Batch{n} Person"),
                first_name: None,
                last_name: None,
                username: None,
                profile: ProfileState::Ok,
                follower_count: 0,
                is_verified_user: false,
            }));
        }
        let mut items = Vec::with_capacity(total);
        let mut mids = Vec::new();
        for user in &users {
            for k in 0..b.events_per_user {
                let details = Details {
                    text: Some(format!("Batch message {} from {user}", k + 1)),
                    ..Details::default()
                };
                match build(&mut world, user, kinds[k % kinds.len()], &details, false) {
                    Ok(Built { item, stored }) => {
                        items.push(item);
                        mids.extend(stored.map(|s| s.mid));
                    }
                    Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e),
                }
            }
        }
        (users, items, mids)
    };
    let (users, mut items, mids) = built;
    if b.shuffle {
        out_of_order(&mut items);
    }
    let entries = split(items, b.entries);
    let how = Fire {
        webhook: b.webhook,
        wait: !b.no_wait,
        duplicate: b.duplicate,
    };
    let delivery = fire(&st, b.channel, &entries, how).await;
    Json(json!({ "items": total, "mids": mids, "users": users, "delivery": delivery }))
        .into_response()
}

/// A seeded shuffle (reproducible), reversed if it happened to keep the order.
fn out_of_order(items: &mut [Item]) {
    let mut rng = StdRng::seed_from_u64(items.len() as u64);
    items.shuffle(&mut rng);
    if items.windows(2).all(|w| w[0].timestamp <= w[1].timestamp) {
        items.reverse();
    }
}

/// `items` in `n` contiguous entries whose sizes differ by at most one.
fn split(items: Vec<Item>, n: usize) -> Vec<Vec<Item>> {
    let total = items.len();
    let mut entries: Vec<Vec<Item>> = (0..n).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        entries[i * n / total].push(item);
    }
    entries
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn item(timestamp: i64) -> Item {
        Item {
            timestamp,
            standby: false,
            json: json!({}),
        }
    }

    #[test]
    fn fifty_items_split_into_three_entries_of_near_equal_size() {
        let sizes: Vec<usize> = split((0..50).map(item).collect(), 3)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), 50);
        assert!(sizes.iter().all(|s| (16..=17).contains(s)), "{sizes:?}");
    }

    #[test]
    fn shuffled_items_are_never_in_order() {
        for n in 2..20 {
            let mut items: Vec<Item> = (0..n).map(item).collect();
            out_of_order(&mut items);
            assert!(items.windows(2).any(|w| w[0].timestamp > w[1].timestamp));
        }
    }
}
