//! `POST /contacts/search` (§3.3): filters, sort, `page` paging capped at 10,000 records,
//! `searchAfter` cursors beyond it, `pageLimit` ≤ 500, 422s for what GHL refuses. Where the
//! cursor comes back is not confirmed, so the sandbox can play each variant the research lists.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ghl::account::{GhlAccount, TagSearch};
use crate::ghl::store::GhlContact;

pub(crate) const MAX_PAGE_LIMIT: u64 = 500;
/// `page` paging reaches only this many records; `searchAfter` goes further.
pub(crate) const PAGE_WINDOW: u64 = 10_000;

/// Where the next-page cursor appears in a search answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CursorStyle {
    /// Each contact carries its own `searchAfter` (what the research prefers first).
    #[default]
    PerContact,
    /// A top-level `searchAfter`.
    TopLevel,
    /// `meta.searchAfter`.
    Meta,
    /// None: the client builds `[dateAdded ms, id]` itself.
    Absent,
}

/// A refusal: status and message.
pub(crate) type Refusal = (u16, String);

fn unprocessable(msg: impl Into<String>) -> Refusal {
    (422, msg.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortField {
    DateAdded,
    DateUpdated,
}

struct Sort {
    field: SortField,
    descending: bool,
}

impl Sort {
    fn key(&self, c: &GhlContact) -> (i64, String) {
        let v = match self.field {
            SortField::DateAdded => c.date_added,
            SortField::DateUpdated => c.date_updated,
        };
        (v, c.id.clone())
    }
}

fn parse_sort(body: &Value) -> Result<Sort, Refusal> {
    let Some(first) = body["sort"].as_array().and_then(|s| s.first()) else {
        return Ok(Sort {
            field: SortField::DateAdded,
            descending: false,
        });
    };
    let field = match first["field"].as_str() {
        Some("dateAdded") => SortField::DateAdded,
        Some("dateUpdated") => SortField::DateUpdated,
        other => {
            return Err(unprocessable(format!(
                "sort field {other:?} is not supported"
            )));
        }
    };
    let descending = match first["direction"].as_str() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(d) => return Err(unprocessable(format!("sort direction {d:?} is invalid"))),
    };
    Ok(Sort { field, descending })
}

/// Epoch ms from a filter bound: a number, or an ISO-8601 string.
fn bound_ms(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        let s = v.as_str()?;
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
    })
}

/// Whether `c` passes one filter or group.
fn matches(c: &GhlContact, filter: &Value, account: &GhlAccount) -> Result<bool, Refusal> {
    if let Some(group) = filter["group"].as_str() {
        let inner = filter["filters"]
            .as_array()
            .ok_or_else(|| unprocessable("a filter group needs filters"))?;
        let results = inner
            .iter()
            .map(|f| matches(c, f, account))
            .collect::<Result<Vec<bool>, _>>()?;
        return match group {
            "AND" => Ok(results.iter().all(|r| *r)),
            "OR" => Ok(results.iter().any(|r| *r)),
            g => Err(unprocessable(format!("group {g:?} must be AND or OR"))),
        };
    }
    let field = filter["field"].as_str().unwrap_or_default();
    let operator = filter["operator"].as_str().unwrap_or_default();
    let value = &filter["value"];
    if let Some(v) = value.as_str()
        && v.chars().count() > 75
    {
        return Err(unprocessable("filter values are limited to 75 characters"));
    }
    let lenient = account.tag_search == TagSearch::Lenient;
    let has_tag = || {
        let tag = value.as_str().unwrap_or_default();
        c.tags.iter().any(|t| account.tag_matches(t, tag))
    };
    match (field, operator) {
        ("tags", "eq") => Ok(has_tag()),
        ("tags", "not_eq") => Ok(!has_tag()),
        ("tags", "exists") => Ok(!c.tags.is_empty()),
        ("tags", "not_exists") => Ok(c.tags.is_empty()),
        ("tags", "contains") if lenient => Ok(has_tag()),
        ("tags", "not_contains") if lenient => Ok(!has_tag()),
        ("tags", op) => Err(unprocessable(format!(
            "operator {op:?} is not supported for field \"tags\"; use one of eq, not_eq, exists, not_exists"
        ))),
        ("dateAdded" | "dateUpdated", "range") => {
            let at = if field == "dateAdded" {
                c.date_added
            } else {
                c.date_updated
            };
            let check = |op: &str, f: fn(i64, i64) -> bool| match value.get(op) {
                None => Ok(true),
                Some(b) => bound_ms(b)
                    .map(|b| f(at, b))
                    .ok_or_else(|| unprocessable(format!("{field} {op} is not a date"))),
            };
            Ok(check("gte", |a, b| a >= b)?
                && check("gt", |a, b| a > b)?
                && check("lte", |a, b| a <= b)?
                && check("lt", |a, b| a < b)?)
        }
        _ => Err(unprocessable(format!(
            "filter {field:?} {operator:?} is not supported"
        ))),
    }
}

/// Answers a search over `contacts` (all of the location's, in any order).
pub(crate) fn search(
    contacts: &[&GhlContact],
    location_id: &str,
    body: &Value,
    style: CursorStyle,
    account: &GhlAccount,
) -> Result<Value, Refusal> {
    match body["locationId"].as_str() {
        None => return Err(unprocessable("locationId should not be empty")),
        Some(l) if l != location_id => {
            return Err((
                403,
                "The token does not have access to this location".into(),
            ));
        }
        Some(_) => {}
    }
    let limit = body["pageLimit"]
        .as_u64()
        .ok_or_else(|| unprocessable("pageLimit must be a number"))?;
    if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
        return Err(unprocessable(format!(
            "pageLimit must not be greater than {MAX_PAGE_LIMIT}"
        )));
    }
    let page = body.get("page").and_then(Value::as_u64);
    let after = body.get("searchAfter").filter(|v| !v.is_null());
    if page.is_some() && after.is_some() {
        return Err(unprocessable("page and searchAfter cannot be combined"));
    }
    let sort = parse_sort(body)?;
    let filters = body["filters"].as_array().cloned().unwrap_or_default();
    let mut hits = Vec::new();
    for c in contacts {
        let mut pass = true;
        for f in &filters {
            pass = pass && matches(c, f, account)?;
        }
        if pass {
            hits.push(*c);
        }
    }
    hits.sort_by_key(|c| sort.key(c));
    if sort.descending {
        hits.reverse();
    }
    let total = hits.len();
    let start = match (page, after) {
        (Some(p), _) => {
            let p = p.max(1);
            if p * limit > PAGE_WINDOW {
                return Err(unprocessable(format!(
                    "page paging reaches only {PAGE_WINDOW} records; use searchAfter"
                )));
            }
            ((p - 1) * limit) as usize
        }
        (None, Some(cursor)) => {
            let parts = cursor
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or_else(|| unprocessable("searchAfter must be [sort value, id]"))?;
            let key = (
                parts[0]
                    .as_i64()
                    .ok_or_else(|| unprocessable("searchAfter[0] must be a number"))?,
                parts[1].as_str().unwrap_or_default().to_string(),
            );
            hits.iter()
                .position(|c| {
                    let k = sort.key(c);
                    if sort.descending { k < key } else { k > key }
                })
                .unwrap_or(total)
        }
        (None, None) => 0,
    };
    let slice: Vec<&GhlContact> = hits
        .iter()
        .skip(start)
        .take(limit as usize)
        .copied()
        .collect();
    let cursor_of = |c: &GhlContact| {
        let (v, id) = sort.key(c);
        json!([v, id])
    };
    let items: Vec<Value> = slice
        .iter()
        .map(|c| {
            let mut v = c.api_json();
            account.shape(&mut v);
            if style == CursorStyle::PerContact {
                v["searchAfter"] = cursor_of(c);
            }
            v
        })
        .collect();
    let mut answer = json!({ "contacts": items, "total": total });
    if let Some(last) = slice.last() {
        match style {
            CursorStyle::TopLevel => answer["searchAfter"] = cursor_of(last),
            CursorStyle::Meta => answer["meta"] = json!({ "searchAfter": cursor_of(last) }),
            CursorStyle::PerContact | CursorStyle::Absent => {}
        }
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ghl::store::ContactFields;

    fn contact(i: i64, tags: &[&str]) -> GhlContact {
        GhlContact {
            id: format!("c{i:05}"),
            location_id: "loc".into(),
            fields: ContactFields::default(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            date_added: 1_000 + i,
            date_updated: 5_000 - i,
        }
    }

    fn ids(v: &Value) -> Vec<String> {
        v["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn world(n: i64) -> Vec<GhlContact> {
        (0..n)
            .map(|i| contact(i, if i % 2 == 0 { &["cold lead"] } else { &[] }))
            .collect()
    }

    #[test]
    fn a_tag_filter_pages_with_the_cursor_until_a_short_page() {
        let all = world(25);
        let refs: Vec<&GhlContact> = all.iter().collect();
        let filter = json!([{"field": "tags", "operator": "eq", "value": "cold lead"}]);
        let mut seen = Vec::new();
        let mut after: Option<Value> = None;
        loop {
            let mut body = json!({"locationId": "loc", "pageLimit": 5, "filters": filter});
            if let Some(a) = &after {
                body["searchAfter"] = a.clone();
            }
            let page = search(
                &refs,
                "loc",
                &body,
                CursorStyle::PerContact,
                &GhlAccount::default(),
            )
            .unwrap();
            assert_eq!(page["total"], 13);
            let got = ids(&page);
            seen.extend(got.clone());
            if got.len() < 5 {
                break;
            }
            after = Some(page["contacts"][4]["searchAfter"].clone());
        }
        assert_eq!(seen.len(), 13);
        assert_eq!(seen[0], "c00000");
        assert_eq!(seen[12], "c00024");
    }

    #[test]
    fn the_cursor_shows_up_where_the_style_puts_it() {
        let all = world(3);
        let refs: Vec<&GhlContact> = all.iter().collect();
        let body = json!({"locationId": "loc", "pageLimit": 2});
        let top = search(
            &refs,
            "loc",
            &body,
            CursorStyle::TopLevel,
            &GhlAccount::default(),
        )
        .unwrap();
        assert_eq!(top["searchAfter"], json!([1001, "c00001"]));
        assert!(top["contacts"][1].get("searchAfter").is_none());
        let meta = search(
            &refs,
            "loc",
            &body,
            CursorStyle::Meta,
            &GhlAccount::default(),
        )
        .unwrap();
        assert_eq!(meta["meta"]["searchAfter"], json!([1001, "c00001"]));
        let none = search(
            &refs,
            "loc",
            &body,
            CursorStyle::Absent,
            &GhlAccount::default(),
        )
        .unwrap();
        assert!(none.get("searchAfter").is_none() && none.get("meta").is_none());
    }

    #[test]
    fn a_date_range_and_sort_select_recent_changes() {
        let all = world(10);
        let refs: Vec<&GhlContact> = all.iter().collect();
        let body = json!({
            "locationId": "loc", "pageLimit": 100,
            "filters": [{"field": "dateUpdated", "operator": "range", "value": {"gte": 4_995}}],
            "sort": [{"field": "dateUpdated", "direction": "asc"}]
        });
        let page = search(
            &refs,
            "loc",
            &body,
            CursorStyle::PerContact,
            &GhlAccount::default(),
        )
        .unwrap();
        assert_eq!(
            ids(&page),
            ["c00005", "c00004", "c00003", "c00002", "c00001", "c00000"]
        );
    }

    #[test]
    fn what_ghl_refuses_is_refused_with_422() {
        let all = world(3);
        let refs: Vec<&GhlContact> = all.iter().collect();
        let refused = |body: Value| {
            search(
                &refs,
                "loc",
                &body,
                CursorStyle::PerContact,
                &GhlAccount::default(),
            )
            .unwrap_err()
            .0
        };
        assert_eq!(refused(json!({"pageLimit": 10})), 422);
        assert_eq!(refused(json!({"locationId": "loc"})), 422);
        assert_eq!(refused(json!({"locationId": "loc", "pageLimit": 501})), 422);
        assert_eq!(
            refused(json!({"locationId": "loc", "pageLimit": 500, "page": 21})),
            422
        );
        assert_eq!(
            refused(
                json!({"locationId": "loc", "pageLimit": 5, "page": 1, "searchAfter": [1, "a"]})
            ),
            422
        );
        assert_eq!(
            refused(
                json!({"locationId": "loc", "pageLimit": 5, "filters": [{"field": "phone", "operator": "eq", "value": "+1"}]})
            ),
            422
        );
        assert_eq!(refused(json!({"locationId": "other", "pageLimit": 5})), 403);
    }

    #[test]
    fn documented_tag_search_is_case_sensitive_and_refuses_contains() {
        let all = world(4);
        let refs: Vec<&GhlContact> = all.iter().collect();
        let documented = GhlAccount::default();
        let find = |op: &str, value: &str, account: &GhlAccount| {
            let body = json!({"locationId": "loc", "pageLimit": 10,
                "filters": [{"field": "tags", "operator": op, "value": value}]});
            search(&refs, "loc", &body, CursorStyle::PerContact, account)
        };
        assert_eq!(ids(&find("eq", "cold lead", &documented).unwrap()).len(), 2);
        assert!(ids(&find("eq", "Cold Lead", &documented).unwrap()).is_empty());
        assert_eq!(
            ids(&find("not_eq", "cold lead", &documented).unwrap()).len(),
            2
        );
        assert_eq!(ids(&find("exists", "", &documented).unwrap()).len(), 2);
        assert_eq!(ids(&find("not_exists", "", &documented).unwrap()).len(), 2);
        let (status, msg) = find("contains", "cold lead", &documented).unwrap_err();
        assert_eq!(status, 422);
        assert!(msg.contains("not supported"), "{msg}");

        let lenient = GhlAccount {
            tag_search: TagSearch::Lenient,
            ..GhlAccount::default()
        };
        assert_eq!(ids(&find("eq", "Cold Lead", &lenient).unwrap()).len(), 2);
        assert_eq!(
            ids(&find("contains", "COLD LEAD", &lenient).unwrap()).len(),
            2
        );
    }

    #[test]
    fn page_paging_works_within_the_window() {
        let all = world(12);
        let refs: Vec<&GhlContact> = all.iter().collect();
        let body = json!({"locationId": "loc", "pageLimit": 5, "page": 3});
        let page = search(
            &refs,
            "loc",
            &body,
            CursorStyle::PerContact,
            &GhlAccount::default(),
        )
        .unwrap();
        assert_eq!(ids(&page), ["c00010", "c00011"]);
    }
}
