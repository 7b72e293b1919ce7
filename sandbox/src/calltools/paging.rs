//! DRF `PageNumberPagination` as CallTools configures it (§5.1): `page`, `page_size` (default
//! 25, capped at 250), answers `{count, next, previous, results}` with absolute links.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::calltools::drf;
use crate::state::AppState;

pub(crate) const DEFAULT_PAGE_SIZE: usize = 25;
pub(crate) const MAX_PAGE_SIZE: usize = 250;

/// What Python's `urlencode` leaves alone (it turns spaces into `+`, like we do below).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) fn paginate(
    st: &AppState,
    headers: &HeaderMap,
    path: &str,
    query: &[(String, String)],
    items: Vec<Value>,
) -> Response {
    let param = |key: &str| {
        query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    // An unusable page_size falls back to the default, as DRF's `_positive_int` does.
    let page_size = param("page_size")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .map_or(DEFAULT_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE));
    let count = items.len();
    let pages = count.div_ceil(page_size).max(1);
    let page = match param("page") {
        None => Some(1),
        Some("last") => Some(pages),
        Some(p) => p.parse::<usize>().ok(),
    };
    let Some(page) = page.filter(|p| (1..=pages).contains(p)) else {
        return drf::detail(StatusCode::NOT_FOUND, "Invalid page.");
    };

    let base = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| st.url.clone(), |host| format!("http://{host}"));
    let link = |target: usize| {
        let mut pairs: Vec<(String, String)> =
            query.iter().filter(|(k, _)| k != "page").cloned().collect();
        // DRF drops `page` from the link to page 1.
        if target > 1 {
            pairs.push(("page".to_owned(), target.to_string()));
        }
        let qs: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        if qs.is_empty() {
            format!("{base}{path}")
        } else {
            format!("{base}{path}?{}", qs.join("&"))
        }
    };
    let results: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .collect();
    drf::ok(
        StatusCode::OK,
        json!({
            "count": count,
            "next": (page < pages).then(|| link(page + 1)),
            "previous": (page > 1).then(|| link(page - 1)),
            "results": results,
        }),
    )
}

fn form_encode(s: &str) -> String {
    s.split(' ')
        .map(|part| utf8_percent_encode(part, QUERY_VALUE).to_string())
        .collect::<Vec<_>>()
        .join("+")
}
