//! `POST /contacts/search` driven by leadsync's own client: every cursor placement the research
//! lists is followed to the end, with nothing skipped and nothing twice.

use std::collections::BTreeSet;

use leadsync::sources::ghl::client::{GhlApi, GhlClient};
use leadsync::sources::ghl::search::{SearchQuery, any_tag_filter};
use leadsync::support::secret::Secret;
use serde_json::json;

use super::*;

async fn all_pages(sb: &Sandbox, filters: Vec<Value>) -> (Vec<String>, usize) {
    let client = GhlClient::new(
        http(),
        sb.url.clone(),
        Secret::new(SandboxConfig::default().ghl_api_token),
    );
    let mut query = SearchQuery {
        location_id: SandboxConfig::default().location_id,
        page_limit: 4,
        filters,
        search_after: None,
    };
    let (mut ids, mut pages) = (Vec::new(), 0);
    loop {
        let page = client.search_contacts(&query).await.unwrap();
        pages += 1;
        ids.extend(page.contacts.into_iter().map(|f| f.id));
        match page.next {
            Some(next) => query.search_after = Some(next),
            None => return (ids, pages),
        }
    }
}

#[tokio::test]
async fn every_cursor_placement_pages_through_all_tagged_contacts_once() {
    let sb = sandbox().await;
    let mut tagged = BTreeSet::new();
    for i in 0..11 {
        let tags = if i % 3 == 0 {
            json!([])
        } else {
            json!(["Cold Lead"])
        };
        let c = new_ghl_contact(&sb, json!({"firstName": format!("S{i}"), "tags": tags})).await;
        if i % 3 != 0 {
            tagged.insert(c["id"].as_str().unwrap().to_string());
        }
    }
    for style in ["per_contact", "top_level", "meta", "absent"] {
        http()
            .post(format!("{}/_sandbox/ghl/search", sb.url))
            .json(&json!({"cursor_style": style}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        let filter = any_tag_filter(&["cold lead".to_string()]).unwrap();
        let (ids, pages) = all_pages(&sb, vec![filter]).await;
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), ids.len(), "{style}: no contact twice");
        assert_eq!(unique, tagged, "{style}");
        assert_eq!(pages, 2, "{style}: 7 contacts in pages of 4");
    }
}

#[tokio::test]
async fn a_search_without_page_limit_is_a_422_and_counts_against_the_limit() {
    let sb = sandbox().await;
    let r = http()
        .post(format!("{}/contacts/search", sb.url))
        .bearer_auth(SandboxConfig::default().ghl_api_token)
        .header("version", "2021-07-28")
        .json(&json!({"locationId": SandboxConfig::default().location_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "99");
}
