//! CallTools REST hook subscriptions (`/api/resthooksubscriptions/`, research §5.8): what
//! `leadsync calltools subscribe` lists, creates and removes, and `leadsync doctor` reports
//! (with the account's dispositions, which the outcome map names).
//! CallTools does not deduplicate subscriptions, so creating them is made idempotent here: a
//! model already subscribed at the same URL is left alone.

use serde::Deserialize;
use serde_json::json;

use crate::ports::remote::RemoteError;
use crate::sinks::calltools::client::CallToolsClient;
use crate::sources::calltools::hook::HookModel;

const PATH: &str = "/api/resthooksubscriptions/";

/// One subscription as CallTools lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Subscription {
    pub id: i64,
    pub resthook_model: String,
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
}

impl Subscription {
    /// The URL with its token hidden, for output: the token opens the route.
    pub fn shown_url(&self) -> String {
        hide_token(&self.url)
    }
}

/// `url` with the value of its `token` parameter replaced by `…`.
pub fn hide_token(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("token", _)) => "token=…".to_string(),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

/// A call disposition as CallTools lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Disposition {
    pub id: i64,
    pub name: String,
    /// The disposition marks the contact do-not-call (CallTools' own flag; leadsync then sets
    /// GHL DND for calls whatever the map says).
    #[serde(default)]
    pub is_dnc: bool,
}

/// What [`subscribe`] did for each model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribed {
    Created(Subscription),
    AlreadyThere(Subscription),
}

/// `{base}/webhooks/calltools?model=<model>&token=<token>`, the token percent-encoded (a
/// base64 token's `+`, `/` and `=` arrive as they were; ingress decodes the parameter).
pub fn hook_url(api_base: &str, model: HookModel, token: &str) -> String {
    let token = percent_encoding::utf8_percent_encode(token, percent_encoding::NON_ALPHANUMERIC);
    format!(
        "{}/webhooks/calltools?model={}&token={token}",
        api_base.trim_end_matches('/'),
        model.as_str()
    )
}

impl CallToolsClient {
    pub async fn hook_subscriptions(&self) -> Result<Vec<Subscription>, RemoteError> {
        self.all_pages(PATH, &[]).await
    }

    async fn create_subscription(
        &self,
        model: HookModel,
        url: &str,
    ) -> Result<Subscription, RemoteError> {
        let body = json!({
            "resthook_model": model.resthook_model(),
            "url": url,
            "description": "leadsync: call outcomes back to GoHighLevel",
        });
        let v = self
            .send_json(self.request(reqwest::Method::POST, PATH).json(&body))
            .await?;
        serde_json::from_value(v.clone()).map_err(|e| RemoteError::Permanent {
            service: "CallTools",
            reason: format!("unreadable subscription answer: {e}"),
            status: Some(201),
            excerpt: crate::ports::remote::excerpt(&hide_token(&v.to_string())),
        })
    }

    /// The account's call dispositions (`GET /api/dispositions/`), which the outcome map names.
    pub async fn dispositions(&self) -> Result<Vec<Disposition>, RemoteError> {
        self.all_pages("/api/dispositions/", &[]).await
    }

    pub async fn delete_subscription(&self, id: i64) -> Result<bool, RemoteError> {
        let path = format!("{PATH}{id}/");
        let (status, _) = self
            .send(self.request(reqwest::Method::DELETE, &path))
            .await?;
        Ok(status != 404)
    }
}

/// Subscribes every model leadsync reads at `url_for(model)`, leaving one already there alone.
pub async fn subscribe(
    api: &CallToolsClient,
    url_for: impl Fn(HookModel) -> String,
) -> Result<Vec<Subscribed>, RemoteError> {
    let existing = api.hook_subscriptions().await?;
    let mut done = Vec::new();
    for model in HookModel::ALL {
        let url = url_for(model);
        let found = existing
            .iter()
            .find(|s| s.resthook_model == model.resthook_model() && s.url == url);
        done.push(match found {
            Some(s) => Subscribed::AlreadyThere(s.clone()),
            None => Subscribed::Created(api.create_subscription(model, &url).await?),
        });
    }
    Ok(done)
}

/// How one model's hooks reach this stack, as `leadsync doctor` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelHealth<'a> {
    pub model: HookModel,
    /// Subscriptions of this model posting to a leadsync hook route with this stack's token.
    pub live: Vec<&'a Subscription>,
    /// Subscriptions of this model posting to a leadsync hook route with another token: a
    /// rotated token (every hook refused) or another stack on the same account.
    pub other_token: Vec<&'a Subscription>,
}

/// Each model's subscriptions as this stack sees them, told apart by the token their URL
/// carries (a deployed stack's doctor may not know its own API URL; the token is its own).
pub fn health<'a>(all: &'a [Subscription], token: &str) -> Vec<ModelHealth<'a>> {
    HookModel::ALL
        .into_iter()
        .map(|model| {
            let (live, other_token) = all
                .iter()
                .filter(|s| {
                    s.resthook_model
                        .eq_ignore_ascii_case(model.resthook_model())
                })
                .filter(|s| is_hook_route(&s.url) && param(&s.url, "model") == Some(model.as_str()))
                .partition(|s| {
                    param(&s.url, "token").is_some_and(|t| {
                        percent_encoding::percent_decode_str(t).decode_utf8_lossy() == token
                    })
                });
            ModelHealth {
                model,
                live,
                other_token,
            }
        })
        .collect()
}

fn is_hook_route(url: &str) -> bool {
    url.split('?')
        .next()
        .is_some_and(|path| path.trim_end_matches('/').ends_with(HOOK_ROUTE))
}

const HOOK_ROUTE: &str = "/webhooks/calltools";

/// The value of query parameter `name` in `url`.
fn param<'u>(url: &'u str, name: &str) -> Option<&'u str> {
    let (_, query) = url.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The subscriptions that post to `route` (leadsync's hook route of this stack, any token).
pub fn ours<'a>(all: &'a [Subscription], route: &str) -> Vec<&'a Subscription> {
    all.iter()
        .filter(|s| s.url.split('?').next() == Some(route))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows() {
        let url = hook_url(
            "https://x.execute-api.us-east-1.amazonaws.com/",
            HookModel::Call,
            "s3cr3t",
        );
        assert_eq!(
            url,
            "https://x.execute-api.us-east-1.amazonaws.com/webhooks/calltools?model=call&token=s3cr3t"
        );
        let shown = hide_token(&url);
        let base64 = hook_url("https://x", HookModel::Call, "a+b/c=");
        assert!(base64.ends_with("&token=a%2Bb%2Fc%3D"), "{base64}");
        assert_eq!(
            health(
                &[Subscription {
                    id: 1,
                    resthook_model: "Call".into(),
                    url: base64,
                    description: None,
                }],
                "a+b/c="
            )[0]
            .live
            .len(),
            1
        );
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.ends_with("?model=call&token=…"));
        assert_eq!(hide_token("https://x/y"), "https://x/y");
    }

    #[test]
    fn health_tells_this_stacks_subscriptions_from_stale_and_foreign_ones() {
        let sub = |id, model: &str, url: &str| Subscription {
            id,
            resthook_model: model.into(),
            url: url.into(),
            description: None,
        };
        let all = [
            sub(
                1,
                "Call",
                "https://a/webhooks/calltools?model=call&token=mine",
            ),
            sub(
                2,
                "Call",
                "https://a/webhooks/calltools?model=call&token=mine",
            ),
            sub(
                3,
                "Contact",
                "https://a/webhooks/calltools?model=contact&token=old",
            ),
            sub(
                4,
                "Contact",
                "https://crm.example/hook?model=contact&token=mine",
            ),
            // A Call subscription posting as if it were the contact route is not counted.
            sub(
                5,
                "Call",
                "https://a/webhooks/calltools?model=contact&token=mine",
            ),
        ];
        let h = health(&all, "mine");
        assert_eq!(h[0].model, HookModel::Call);
        assert_eq!(h[0].live.iter().map(|s| s.id).collect::<Vec<_>>(), [1, 2]);
        assert!(h[0].other_token.is_empty());
        assert_eq!(h[1].model, HookModel::Contact);
        assert!(h[1].live.is_empty());
        assert_eq!(
            h[1].other_token.iter().map(|s| s.id).collect::<Vec<_>>(),
            [3]
        );
        // A token that is a prefix of the real one does not pass for it.
        assert!(health(&all, "min")[0].live.is_empty());
    }

    #[test]
    fn ours_are_those_posting_to_the_route_whatever_the_token() {
        let sub = |id, url: &str| Subscription {
            id,
            resthook_model: "Call".into(),
            url: url.into(),
            description: None,
        };
        let all = [
            sub(1, "https://a/webhooks/calltools?model=call&token=old"),
            sub(2, "https://other.example/hook"),
        ];
        let found = ours(&all, "https://a/webhooks/calltools");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, 1);
    }
}
