//! Messenger / Instagram: the Page token reaches the Page (and the Instagram account), and
//! leadsync's app is subscribed to the Page with every field it reads.

use leadsync::app::config::Config;
use leadsync::ports::remote::RemoteError;
use leadsync::sources::meta::subscription::SubscriptionHealth;

use super::report::Check;

const AREA: &str = "meta";

pub async fn checks(cfg: &Config) -> Vec<Check> {
    let meta = &cfg.meta;
    let Some(token) = meta.page_access_token.value().cloned() else {
        return vec![Check::skip(
            AREA,
            "meta.token",
            "Messenger and Instagram are not configured (no MetaPageAccessTokenParameter)",
        )];
    };
    let Some(page) = meta.page_id.clone() else {
        return vec![Check::fail(
            AREA,
            "meta.page",
            "a Page token is configured but no Page",
            "set MetaPageId (META_PAGE_ID): the Page's id in its About → Page transparency",
        )];
    };
    let http = match leadsync::app::http_client(std::time::Duration::from_secs(15)) {
        Ok(h) => h,
        Err(e) => {
            return vec![Check::fail(
                AREA,
                "meta.token",
                format!("no HTTP client: {e}"),
                "run doctor again",
            )];
        }
    };
    let graph = leadsync::app::graph_client(cfg, http, token.clone());
    let mut out = Vec::new();
    match graph.node(&page, "id,name").await {
        Ok(node) if node["id"].as_str() == Some(page.as_str()) => out.push(Check::pass(
            AREA,
            "meta.page",
            format!("the Page token reads Page {page}"),
        )),
        Ok(_) => out.push(Check::fail(
            AREA,
            "meta.page",
            format!("the Graph API answered for another node than Page {page}"),
            "check MetaPageId",
        )),
        Err(e) => {
            out.push(refused(&e, &page));
            return out;
        }
    }
    match &meta.ig_account_id {
        None => out.push(Check::skip(
            AREA,
            "meta.instagram",
            "no Instagram account configured (MetaIgAccountId)",
        )),
        Some(ig) => out.push(match graph.node(ig, "id,username").await {
            Ok(node) if node["id"].as_str() == Some(ig.as_str()) => Check::pass(
                AREA,
                "meta.instagram",
                format!("the Page token reads Instagram account {ig}"),
            ),
            Ok(_) | Err(_) => Check::fail(
                AREA,
                "meta.instagram",
                format!("the Page token cannot read Instagram account {ig}"),
                "MetaIgAccountId must be the professional account linked to this Page, and the token needs instagram_basic and instagram_manage_messages",
            ),
        }),
    }
    out.push(Check::skip(
        AREA,
        "meta.permissions",
        "a Page token's permissions show only through /debug_token with an app token, which leadsync does not hold; the reads above prove the ones leadsync uses",
    ));
    out.push(
        match crate::commands::meta::subscription(cfg, token, &page, meta.app_id.as_deref()).await
        {
            Ok(SubscriptionHealth::Subscribed { fields }) => Check::pass(
                AREA,
                "meta.subscription",
                format!("leadsync's app is subscribed to Page {page} ({} fields)", fields.len()),
            ),
            Ok(h @ SubscriptionHealth::CannotTell { .. }) => Check::warn(
                AREA,
                "meta.subscription",
                headline(&h, &page, meta.app_id.as_deref()),
                "set MetaAppId so leadsync's app can be told from the others on the Page",
            ),
            Ok(h) => Check::fail(
                AREA,
                "meta.subscription",
                headline(&h, &page, meta.app_id.as_deref()),
                "subscribe the app again: POST /{page}/subscribed_apps with subscribed_fields (docs/messenger-instagram.md)",
            ),
            Err(e) => Check::fail(
                AREA,
                "meta.subscription",
                format!("the Page's subscriptions could not be read: {e:#}"),
                "the token needs pages_manage_metadata",
            ),
        },
    );
    out
}

/// The first line of the subscription's description (the rest is advice the fix gives).
fn headline(h: &SubscriptionHealth, page: &str, app_id: Option<&str>) -> String {
    let text = h.describe(page, app_id);
    text.lines().next().unwrap_or_default().to_string()
}

fn refused(e: &RemoteError, page: &str) -> Check {
    match e {
        RemoteError::CredentialsRejected { .. } => Check::fail(
            AREA,
            "meta.token",
            "Meta refused the Page access token (expired, revoked or of another Page)",
            "generate a long-lived Page token for this Page and put it in MetaPageAccessTokenParameter",
        ),
        other => Check::fail(
            AREA,
            "meta.page",
            format!("Page {page} could not be read: {other}"),
            "check MetaPageId and MetaGraphVersion",
        ),
    }
}
