//! GoHighLevel: the token (or OAuth chain), the location, the `Version` header, the rate budget,
//! and how many contacts carry each rule's tag — asked the way the backfill asks.

use leadsync::app::config::Config;
use leadsync::domain::rules::normalize_tag;
use leadsync::ports::remote::RemoteError;
use leadsync::sources::ghl::client::{API_VERSION, GhlClient, RateBudget};
use leadsync::sources::ghl::search::SearchQuery;

use super::report::Check;

const AREA: &str = "ghl";

/// Every GHL check, on `client` (built the way the functions build it).
pub async fn checks(cfg: &Config, client: Result<GhlClient, String>) -> Vec<Check> {
    let Some(location) = cfg.ghl.default_location_id.clone() else {
        return vec![Check::fail(
            AREA,
            "ghl.location",
            "no GHL location configured",
            "set GhlLocationId (GHL_LOCATION_ID): the location id in the GHL sub-account's settings",
        )];
    };
    let client = match client {
        Ok(c) => c,
        Err(why) => {
            return vec![Check::fail(
                AREA,
                "ghl.token",
                format!("no GHL client: {why}"),
                "set GhlApiTokenParameter (a Private Integration token with contacts.readonly) or the OAuth parameters",
            )];
        }
    };
    let (page, budget) = match client
        .search_with_budget(&SearchQuery::new(&location, Vec::new(), 1))
        .await
    {
        Ok(answer) => answer,
        Err(e) => return vec![refused(&e, &location, &cfg.ghl.api_base_url)],
    };
    let mut out = vec![
        Check::pass(
            AREA,
            "ghl.token",
            "the token is accepted (contacts search answered 200)",
        ),
        Check::pass(
            AREA,
            "ghl.location",
            format!(
                "location {location} is readable: {} contacts",
                page.total
                    .map_or("an unknown number of".into(), |t| t.to_string())
            ),
        ),
        Check::pass(
            AREA,
            "ghl.version",
            format!("the Version header {API_VERSION} is accepted"),
        ),
        budget_check(budget),
    ];
    for tag in cfg.rules.tags() {
        out.push(tag_check(&client, &location, &tag).await);
    }
    out
}

/// A refused first call: which assumption it disproves, and the fix.
fn refused(e: &RemoteError, location: &str, base: &str) -> Check {
    let said = |needle: &str| match e {
        RemoteError::Permanent {
            reason, excerpt, ..
        } => (reason.clone() + excerpt)
            .to_ascii_lowercase()
            .contains(needle),
        _ => false,
    };
    match e {
        RemoteError::CredentialsRejected { status: 401, .. } => Check::fail(
            AREA,
            "ghl.token",
            "GoHighLevel refused the token (HTTP 401)",
            "create a Private Integration token in the sub-account (Settings → Private Integrations, scope contacts.readonly) and put it in GhlApiTokenParameter; with OAuth, authorise the app again",
        ),
        RemoteError::CredentialsRejected { status, .. } => Check::fail(
            AREA,
            "ghl.location",
            format!("the token may not read location {location} (HTTP {status})"),
            "use the location id of the sub-account the token was made in (GhlLocationId), or a token of that location",
        ),
        RemoteError::Permanent { .. } if said("version") => Check::fail(
            AREA,
            "ghl.version",
            format!("GoHighLevel refused the Version header {API_VERSION}"),
            "GHL_API_BASE_URL must be the v2 API (https://services.leadconnectorhq.com)",
        ),
        RemoteError::Permanent { status, .. } => Check::fail(
            AREA,
            "ghl.location",
            format!(
                "the contacts search for location {location} was refused (HTTP {})",
                status.map_or("?".into(), |s| s.to_string())
            ),
            "check GhlLocationId: the id in the sub-account's Settings → Business Profile",
        ),
        RemoteError::Transient { reason, .. } => Check::fail(
            AREA,
            "ghl.token",
            format!("GoHighLevel did not answer at {base}: {reason}"),
            "check GhlApiBaseUrl (https://services.leadconnectorhq.com) and the network, then run doctor again",
        ),
        RemoteError::CircuitOpened { cause, .. } => refused(cause, location, base),
        RemoteError::CircuitOpen { .. } => Check::fail(
            AREA,
            "ghl.token",
            "GoHighLevel is not called: its circuit is open",
            "wait for the circuit to close and run doctor again",
        ),
    }
}

fn budget_check(b: RateBudget) -> Check {
    let (Some(left), Some(max)) = (b.daily_remaining, b.daily_max) else {
        return Check::warn(
            AREA,
            "ghl.budget",
            "the answer carried no X-RateLimit-Daily-* headers",
            "GHL documents them on every v2 answer: check that GHL_API_BASE_URL is not a proxy that drops them",
        );
    };
    let burst = match (b.burst_remaining, b.burst_max) {
        (Some(r), Some(m)) => format!("burst {r}/{m} per 10 s, "),
        _ => String::new(),
    };
    let summary = format!("rate budget: {burst}{left}/{max} requests left today");
    if max > 0 && left * 10 < max {
        Check::warn(
            AREA,
            "ghl.budget",
            summary,
            "less than 10 % of the day's budget is left: other apps on this location share it; lower GhlMaxRequestsPerSecond or run the backfill later",
        )
    } else {
        Check::pass(AREA, "ghl.budget", summary)
    }
}

async fn tag_check(client: &GhlClient, location: &str, tag: &str) -> Check {
    let searched = normalize_tag(tag);
    let query = SearchQuery::tagged(location, &[tag.to_string()], 1);
    match client.search_with_budget(&query).await {
        Ok((page, _)) => match page.total {
            Some(0) => Check::warn(
                AREA,
                "ghl.tag",
                format!("no contact carries the tag {searched:?}"),
                "check the rule's spelling against a tagged contact: GHL keeps tags lower-case and tag search is exact (\"cold lead\" ≠ \"cold-lead\")",
            ),
            Some(n) => Check::pass(
                AREA,
                "ghl.tag",
                format!("{n} contacts carry the tag {searched:?}"),
            ),
            None => Check::pass(
                AREA,
                "ghl.tag",
                format!(
                    "the tag {searched:?} is searchable ({} on the first page)",
                    page.contacts.len()
                ),
            ),
        },
        Err(e) => Check::fail(
            AREA,
            "ghl.tag",
            format!("searching for the tag {searched:?} failed: {e}"),
            "run doctor again; if it persists, see the line above",
        ),
    }
}
