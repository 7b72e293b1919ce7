//! `POST /contacts/search` (research §3.3): the backfill's way through a location's contacts,
//! 500 at a time. Where GHL puts the next-page cursor is not confirmed, so it is looked for in
//! every place seen in the wild, and built from the last contact as a last resort.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::domain::contact::Contact;
use crate::domain::rules::normalize_tag;
use crate::sources::ghl::client::ContactJson;
use crate::sources::ghl::webhook::parse_iso_ms;

/// The most contacts one search page returns.
pub const MAX_PAGE_LIMIT: u32 = 500;

/// One search request.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    pub location_id: String,
    pub page_limit: u32,
    /// GHL filter objects, ANDed (`{field, operator, value}` or `{group, filters}`).
    pub filters: Vec<Value>,
    /// The cursor from the previous page; `None` for the first.
    pub search_after: Option<Value>,
}

impl SearchQuery {
    /// The first page of the contacts matching every filter.
    pub fn new(location_id: impl Into<String>, filters: Vec<Value>, page_limit: u32) -> Self {
        Self {
            location_id: location_id.into(),
            page_limit,
            filters,
            search_after: None,
        }
    }

    /// The first page of the contacts carrying any of `tags`: what a full backfill reads.
    pub fn tagged(location_id: impl Into<String>, tags: &[String], page_limit: u32) -> Self {
        Self::new(
            location_id,
            any_tag_filter(tags).into_iter().collect(),
            page_limit,
        )
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "locationId": self.location_id,
            "pageLimit": self.page_limit,
        });
        if !self.filters.is_empty() {
            body["filters"] = Value::Array(self.filters.clone());
        }
        if let Some(after) = &self.search_after {
            body["searchAfter"] = after.clone();
        }
        body
    }
}

/// The filter for contacts carrying any of `tags`, however they are written. GHL keeps tags
/// lower-case, its search compares them case-sensitively, and its search doc lists only `eq`,
/// `not_eq`, `exists` and `not_exists` for `tags` (research, corrections of 2026-12-04, "Tag
/// search operators"): so each tag is searched normalised ([`normalize_tag`]: trimmed,
/// lower-cased) with `eq`, and two spellings of one tag are one filter.
pub fn any_tag_filter(tags: &[String]) -> Option<Value> {
    let normalised: BTreeSet<String> = tags
        .iter()
        .map(|t| normalize_tag(t))
        .filter(|t| !t.is_empty())
        .collect();
    let each: Vec<Value> = normalised
        .into_iter()
        .map(|t| json!({"field": "tags", "operator": "eq", "value": t}))
        .collect();
    match each.len() {
        0 => None,
        1 => each.into_iter().next(),
        _ => Some(json!({"group": "OR", "filters": each})),
    }
}

/// The filter for contacts changed at or after `since_ms`.
pub fn updated_since_filter(since_ms: i64) -> Value {
    json!({"field": "dateUpdated", "operator": "range", "value": {"gte": since_ms}})
}

/// One contact of a search page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub contact: Contact,
}

/// One page: its contacts, the total GHL reports, and the cursor for the next page (`None` at
/// the end).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub contacts: Vec<Found>,
    pub total: Option<u64>,
    pub next: Option<Value>,
}

/// Reads a search answer; `Err` carries why it is unreadable.
pub fn parse_page(body: &Value, page_limit: u32) -> Result<SearchPage, String> {
    let raw = body["contacts"]
        .as_array()
        .ok_or_else(|| "the answer has no contacts array".to_string())?;
    let mut contacts = Vec::with_capacity(raw.len());
    for item in raw {
        let c: ContactJson = serde_json::from_value(item.clone()).map_err(|e| {
            format!(
                "unreadable contact: {}",
                crate::ports::remote::json_error(&e)
            )
        })?;
        let id = c.id.clone().ok_or("a contact without an id")?;
        contacts.push(Found {
            id,
            contact: c.into_contact(),
        });
    }
    let total = body["total"].as_u64().or_else(|| body["count"].as_u64());
    let next = if raw.len() < page_limit as usize {
        None
    } else {
        next_cursor(body, raw)
    };
    Ok(SearchPage {
        contacts,
        total,
        next,
    })
}

/// The cursor after a full page, in the order research §3.3 recommends: the last contact's own
/// `searchAfter`, a top-level or `meta` one, else `[dateAdded ms, id]` of the last contact
/// (GHL's default sort).
fn next_cursor(body: &Value, raw: &[Value]) -> Option<Value> {
    let last = raw.last()?;
    let usable = |v: &Value| v.as_array().is_some_and(|a| !a.is_empty());
    [
        &last["searchAfter"],
        &body["searchAfter"],
        &body["meta"]["searchAfter"],
    ]
    .into_iter()
    .find(|v| usable(v))
    .cloned()
    .or_else(|| {
        let added = parse_iso_ms(last["dateAdded"].as_str()?)?;
        Some(json!([added, last["id"].as_str()?]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(id: &str, added: &str) -> Value {
        json!({"id": id, "firstName": "A", "phone": "+14155550100", "tags": ["cold lead"],
               "dateAdded": added, "dateUpdated": "2026-11-20T10:00:00.000Z"})
    }

    #[test]
    fn the_query_body_has_what_ghl_requires() {
        let q = SearchQuery {
            location_id: "loc".into(),
            page_limit: 500,
            filters: vec![any_tag_filter(&["cold lead".into()]).unwrap()],
            search_after: Some(json!([1, "x"])),
        };
        assert_eq!(
            q.body(),
            json!({"locationId": "loc", "pageLimit": 500,
                   "filters": [{"field": "tags", "operator": "eq", "value": "cold lead"}],
                   "searchAfter": [1, "x"]})
        );
    }

    #[test]
    fn a_tag_is_searched_lower_cased_with_the_documented_operator() {
        let f = any_tag_filter(&[" Cold  Lead ".into()]).unwrap();
        assert_eq!(
            f,
            json!({"field": "tags", "operator": "eq", "value": "cold lead"})
        );
        let same = any_tag_filter(&["Cold Lead".into(), "cold lead".into()]).unwrap();
        assert_eq!(same, f, "two spellings of one tag are one filter");
    }

    #[test]
    fn a_search_page_with_null_fields_reads_them_as_absent() {
        let body = json!({"contacts": [{"id": "c1", "firstName": null, "lastName": null,
            "email": null, "phone": null, "tags": null, "dateAdded": "2026-01-01T00:00:00.000Z",
            "dateUpdated": null, "searchAfter": null}], "total": 1, "traceId": "t"});
        let page = parse_page(&body, 500).unwrap();
        assert_eq!(page.contacts[0].id, "c1");
        assert!(page.contacts[0].contact.tags.is_empty());
        assert_eq!(page.contacts[0].contact.email, None);
        assert_eq!(
            page.contacts[0].contact.version_ms,
            Some(1_767_225_600_000),
            "dateAdded stands in for a null dateUpdated"
        );
    }

    #[test]
    fn several_tags_are_one_or_group() {
        let f = any_tag_filter(&["a".into(), "b".into()]).unwrap();
        assert_eq!(f["group"], "OR");
        assert_eq!(f["filters"].as_array().unwrap().len(), 2);
        assert!(any_tag_filter(&[]).is_none());
    }

    #[test]
    fn the_cursor_is_found_wherever_ghl_puts_it() {
        let mut per_contact = contact("c2", "2026-01-01T00:00:00.000Z");
        per_contact["searchAfter"] = json!([7, "c2"]);
        let body = json!({"contacts": [contact("c1", "2026-01-01T00:00:00.000Z"), per_contact], "total": 9});
        assert_eq!(parse_page(&body, 2).unwrap().next, Some(json!([7, "c2"])));

        let top = json!({"contacts": [contact("c1", "2026-01-01T00:00:00.000Z")], "searchAfter": [8, "c1"]});
        assert_eq!(parse_page(&top, 1).unwrap().next, Some(json!([8, "c1"])));

        let meta = json!({"contacts": [contact("c1", "2026-01-01T00:00:00.000Z")], "meta": {"searchAfter": [9, "c1"]}});
        assert_eq!(parse_page(&meta, 1).unwrap().next, Some(json!([9, "c1"])));

        let built = json!({"contacts": [contact("c1", "1970-01-01T00:00:01.000Z")]});
        assert_eq!(
            parse_page(&built, 1).unwrap().next,
            Some(json!([1000, "c1"]))
        );
    }

    #[test]
    fn a_short_page_is_the_last() {
        let body = json!({"contacts": [contact("c1", "2026-01-01T00:00:00.000Z")], "searchAfter": [1, "c1"], "total": 1});
        let page = parse_page(&body, 500).unwrap();
        assert_eq!(page.next, None);
        assert_eq!(page.total, Some(1));
        assert_eq!(page.contacts[0].id, "c1");
        assert_eq!(page.contacts[0].contact.version_ms, Some(1_795_168_800_000));
    }

    #[test]
    fn an_answer_without_contacts_is_unreadable() {
        assert!(parse_page(&json!({"total": 0}), 500).is_err());
    }
}
