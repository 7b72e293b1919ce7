//! Graph's cursor paging: `paging.cursors.{before,after}`, and absolute `next`/`previous` URLs
//! carrying the token, present only when there is more. Cursors are opaque keyset positions
//! (time and id), so a conversation that moves to the top while a client pages does not shift
//! the pages after it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use crate::meta::graph::GraphRequest;
use crate::meta::graph_error::GraphError;

/// A listing's sort key; listings are in descending key order (newest first).
pub(crate) type SortKey = (i64, String);

/// What stays literal in the query values of Graph's own links.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b',');

/// The cursor that comes before every item: `after` it, the whole listing follows.
pub(crate) fn start_cursor() -> String {
    cursor(&(i64::MAX, String::new()))
}

pub(crate) fn cursor(key: &SortKey) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", key.0, key.1))
}

fn decode(cursor: &str) -> Result<SortKey, GraphError> {
    let invalid = || GraphError::param("(#100) The after/before cursor is invalid");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (ms, id) = text.split_once(':').ok_or_else(invalid)?;
    Ok((ms.parse().map_err(|_| invalid())?, id.to_owned()))
}

/// The slice of a listing one page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub start: usize,
    pub end: usize,
}

/// The page after `after`, before `before`, or the first one.
pub(crate) fn window(
    keys: &[SortKey],
    limit: usize,
    after: Option<&str>,
    before: Option<&str>,
) -> Result<Window, GraphError> {
    if let Some(after) = after {
        let key = decode(after)?;
        let start = keys.partition_point(|k| *k >= key);
        return Ok(Window {
            start,
            end: (start + limit).min(keys.len()),
        });
    }
    if let Some(before) = before {
        let key = decode(before)?;
        let end = keys.partition_point(|k| *k > key);
        return Ok(Window {
            start: end.saturating_sub(limit),
            end,
        });
    }
    Ok(Window {
        start: 0,
        end: limit.min(keys.len()),
    })
}

/// Where the links of a page point: `{base}/{version}/{path}` with these parameters.
pub(crate) struct LinkBase<'a> {
    pub base_url: &'a str,
    pub path: String,
    /// The request's own parameters; paging ones are replaced.
    pub params: Vec<(String, String)>,
}

impl LinkBase<'_> {
    fn link(&self, req: &GraphRequest, limit: usize, key: &str, cursor: &str) -> String {
        let mut pairs: Vec<(String, String)> = vec![("access_token".into(), req.token.clone())];
        pairs.extend(
            self.params
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "after" | "before" | "limit"))
                .cloned(),
        );
        pairs.push(("limit".into(), limit.to_string()));
        pairs.push((key.into(), cursor.into()));
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
            .collect();
        format!(
            "{}/{}/{}?{}",
            self.base_url,
            req.version,
            self.path,
            query.join("&")
        )
    }

    /// `{"cursors":{before,after},"next"?,"previous"?}` for a non-empty page, `None` for an
    /// empty one (Graph sends no paging then).
    pub fn paging(
        &self,
        req: &GraphRequest,
        keys: &[SortKey],
        w: Window,
        limit: usize,
    ) -> Option<Value> {
        if w.start >= w.end {
            return None;
        }
        let before = cursor(&keys[w.start]);
        let after = cursor(&keys[w.end - 1]);
        let mut paging = Map::new();
        if w.start > 0 {
            paging.insert(
                "previous".into(),
                json!(self.link(req, limit, "before", &before)),
            );
        }
        if w.end < keys.len() {
            paging.insert("next".into(), json!(self.link(req, limit, "after", &after)));
        }
        paging.insert(
            "cursors".into(),
            json!({ "before": before, "after": after }),
        );
        Some(Value::Object(paging))
    }

    /// An empty page that still has `next` (research §5), resuming at `resume`.
    pub fn empty_with_next(&self, req: &GraphRequest, limit: usize, resume: &str) -> Value {
        json!({
            "cursors": { "before": resume, "after": resume },
            "next": self.link(req, limit, "after", resume),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: i64) -> Vec<SortKey> {
        (0..n).rev().map(|i| (i, format!("c{i}"))).collect()
    }

    #[test]
    fn after_and_before_walk_the_listing() {
        let keys = keys(60);
        let first = window(&keys, 25, None, None).unwrap();
        assert_eq!(first, Window { start: 0, end: 25 });
        let second = window(&keys, 25, Some(&cursor(&keys[24])), None).unwrap();
        assert_eq!(second, Window { start: 25, end: 50 });
        let third = window(&keys, 25, Some(&cursor(&keys[49])), None).unwrap();
        assert_eq!(third, Window { start: 50, end: 60 });
        let back = window(&keys, 25, None, Some(&cursor(&keys[50]))).unwrap();
        assert_eq!(back, Window { start: 25, end: 50 });
        let all = window(&keys, 100, Some(&start_cursor()), None).unwrap();
        assert_eq!(all, Window { start: 0, end: 60 });
    }

    #[test]
    fn garbage_cursors_are_refused() {
        assert!(window(&keys(3), 25, Some("!!"), None).is_err());
        assert!(window(&keys(3), 25, Some(&URL_SAFE_NO_PAD.encode("x")), None).is_err());
    }
}
