//! The Graph API surface (`/{version}/...`, e.g. `/v26.0/{page-id}/conversations`): every call
//! is logged, authenticated with the Page token, counted in `X-App-Usage`, offered to the
//! injected faults, then routed to the node or edge it names.
//!
//! Graph paths share the root with GoHighLevel's API, so they are diverted by their version
//! segment before routing rather than registered as routes that would overlap GHL's.

use std::time::Instant;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use serde_json::Value;

use crate::meta::fields::{Field, parse_fields};
use crate::meta::graph_error::GraphError;
use crate::meta::ids::{fbtrace_id, is_graph_version};
use crate::meta::rate_limit::{app_usage, business_use_case_usage};
use crate::meta::{conversations, nodes, subscription};
use crate::state::AppState;
use crate::support::lock;

/// Form bodies of Graph POSTs are a few parameters; anything bigger is not a Graph call.
const MAX_BODY_BYTES: usize = 64 * 1024;
pub(crate) const DEFAULT_LIMIT: usize = 25;
pub(crate) const MAX_LIMIT: usize = 100;

/// Outermost layer of the sandbox: Graph paths go to [`serve`], everything else on its way.
pub(crate) async fn divert(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let first = req
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    if is_graph_version(first) {
        serve(&st, req).await
    } else {
        next.run(req).await
    }
}

/// A successful Graph answer and any headers beyond the ones every answer gets.
pub(crate) struct GraphAnswer {
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

impl GraphAnswer {
    pub fn plain(body: Value) -> Self {
        Self {
            body,
            headers: Vec::new(),
        }
    }
}

/// One authenticated Graph call: `/{version}/{node}[/{edge}]` and its parameters (query and
/// form body; `access_token` taken out).
pub(crate) struct GraphRequest {
    pub method: Method,
    pub version: String,
    pub node: String,
    pub edge: Option<String>,
    pub params: Vec<(String, String)>,
    pub token: String,
}

impl GraphRequest {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The parsed `fields`, `None` when not given.
    pub fn fields(&self) -> Result<Option<Vec<Field>>, GraphError> {
        self.param("fields")
            .map(|raw| {
                parse_fields(raw).map_err(|msg| {
                    let mut e = GraphError::param(msg);
                    e.code = 2500;
                    e
                })
            })
            .transpose()
    }

    /// `limit`: 25 unless given, at most 100.
    pub fn limit(&self) -> usize {
        self.param("limit")
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .map_or(DEFAULT_LIMIT, |n| n.min(MAX_LIMIT))
    }
}

async fn serve(st: &AppState, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let mut guard = st.meta.calls.begin(
        parts.method.as_str(),
        &path,
        without_token(parts.uri.query()).as_deref(),
        &[],
    );
    let calls_in_hour = lock(&st.meta.usage).record(Instant::now());
    let outcome = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => authenticate(st, &parts, &bytes).and_then(|req| {
            if let Some(e) = lock(&st.meta.faults).take(&path) {
                guard.fault(&format!("code {}", e.code));
                return Err(e);
            }
            route(st, &req)
        }),
        Err(_) => Err(GraphError::param("(#100) Request body too large")),
    };
    let mut usage_floor = 0;
    let mut response = match outcome {
        Ok(answer) => with_headers(Json(answer.body).into_response(), &answer.headers),
        Err(e) => {
            let mut extra = Vec::new();
            if let Some(t) = e.throttle {
                if t.app_exhausted {
                    usage_floor = 100;
                }
                let usage = business_use_case_usage(
                    &st.cfg.meta_page_id,
                    t.use_case,
                    100,
                    t.regain_minutes,
                );
                extra.push(("x-business-use-case-usage", usage));
            }
            with_headers(e.into_response(), &extra)
        }
    };
    let version = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let common = [
        ("x-app-usage", app_usage(calls_in_hour, usage_floor)),
        ("facebook-api-version", version),
        ("x-fb-trace-id", fbtrace_id()),
    ];
    response = with_headers(response, &common);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    guard.answered(response.status().as_u16());
    response
}

fn with_headers(mut response: Response, headers: &[(&'static str, String)]) -> Response {
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, v);
        }
    }
    response
}

/// The query as logged: the raw string without the `access_token` pair, so logs hold no token.
fn without_token(query: Option<&str>) -> Option<String> {
    let kept: Vec<&str> = query?
        .split('&')
        .filter(|pair| !pair.starts_with("access_token="))
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// Decodes `a=1&b=2` (percent-encoding and `+` as space, as Graph does).
fn decode_pairs(raw: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://graph.invalid/?{raw}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// Splits the path, gathers the parameters and checks the token (query, form body or
/// `Authorization: Bearer|OAuth <token>`). A missing or wrong token is code 190.
fn authenticate(st: &AppState, parts: &Parts, body: &[u8]) -> Result<GraphRequest, GraphError> {
    let mut params = decode_pairs(parts.uri.query().unwrap_or_default());
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        params.extend(decode_pairs(&String::from_utf8_lossy(body)));
    }
    let from_header = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("OAuth "))
        })
        .map(str::trim);
    let from_params = params
        .iter()
        .rev()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.as_str());
    let token = from_params.or(from_header).unwrap_or_default().to_owned();
    if token != st.cfg.meta_page_token {
        return Err(GraphError::invalid_token());
    }
    params.retain(|(k, _)| k != "access_token");

    let segments: Vec<&str> = parts.uri.path().trim_matches('/').split('/').collect();
    let (version, node, edge) = match segments.as_slice() {
        [version, node] if !node.is_empty() => (*version, *node, None),
        [version, node, edge] if !node.is_empty() && !edge.is_empty() => {
            (*version, *node, Some((*edge).to_owned()))
        }
        _ => return Err(GraphError::unknown_path(parts.uri.path())),
    };
    Ok(GraphRequest {
        method: parts.method.clone(),
        version: version.to_owned(),
        node: node.to_owned(),
        edge,
        params,
        token,
    })
}

fn route(st: &AppState, req: &GraphRequest) -> Result<GraphAnswer, GraphError> {
    let method = req.method.as_str().to_ascii_lowercase();
    match (req.edge.as_deref(), &req.method) {
        (None, &Method::GET) => nodes::node(st, req),
        (Some("conversations"), &Method::GET) => conversations::list(st, req),
        (Some("messages"), &Method::GET) => conversations::messages_edge(st, req),
        (Some("subscribed_apps"), _) => subscription::subscribed_apps(st, req),
        (Some(edge), &Method::GET) => Err(GraphError::unknown_path(&format!("/{edge}"))),
        _ => Err(GraphError::unknown_object(&method, &req.node)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logged_query_never_holds_the_token() {
        assert_eq!(
            without_token(Some("platform=messenger&access_token=EAA&limit=2")).as_deref(),
            Some("platform=messenger&limit=2")
        );
        assert_eq!(without_token(Some("access_token=EAA")), None);
    }

    #[test]
    fn pairs_decode_like_a_form() {
        assert_eq!(
            decode_pairs("fields=messages%7Bid%7D&q=a+b"),
            vec![
                ("fields".to_owned(), "messages{id}".to_owned()),
                ("q".to_owned(), "a b".to_owned())
            ]
        );
    }
}
