//! Call outcomes back to GoHighLevel: whether CallTools' REST hooks post to this stack (with its
//! token, once per model), and whether every disposition the outcome map names exists in the
//! account — a misspelt name maps nothing and nothing says so.

use leadsync::app::config::Config;
use leadsync::sinks::calltools::client::CallToolsClient;
use leadsync::sources::calltools::subscription::{Disposition, ModelHealth, health};

use super::report::Check;

const AREA: &str = "calltools";

/// Every call-outcome check, or one line saying the direction is off.
pub async fn checks(cfg: &Config, client: &CallToolsClient) -> Vec<Check> {
    if !cfg.call_outcomes {
        return vec![Check::skip(
            AREA,
            "outcomes.enabled",
            "call outcomes back to GoHighLevel are off (CallOutcomesBack=off): nothing to check",
        )];
    }
    let mut out = vec![subscriptions(cfg, client).await];
    out.push(match client.dispositions().await {
        Ok(known) => dispositions(cfg, &known),
        Err(e) => Check::fail(
            AREA,
            "outcomes.dispositions",
            format!("the account's dispositions could not be listed: {e}"),
            "give the CallTools key's user access to dispositions (GET /api/dispositions/)",
        ),
    });
    out.push(Check::skip(
        AREA,
        "outcomes.ghl_write_scope",
        "GHL shows no token scopes to a read: the first outcome written tells (a 403 parks it)",
    ));
    out
}

async fn subscriptions(cfg: &Config, client: &CallToolsClient) -> Check {
    let Some(token) = cfg.calltools.hook_token.value() else {
        return Check::fail(
            AREA,
            "outcomes.subscriptions",
            "no CallTools hook token configured: the hook route refuses everything",
            "create the SSM parameter CallToolsHookTokenParameter names (openssl rand -hex 32) and deploy",
        );
    };
    match client.hook_subscriptions().await {
        Ok(all) => subscription_check(&health(&all, token.expose())),
        Err(e) => Check::fail(
            AREA,
            "outcomes.subscriptions",
            format!("the REST hook subscriptions could not be listed: {e}"),
            "give the CallTools key's user access to /api/resthooksubscriptions/",
        ),
    }
}

/// One line for the subscriptions: each model once with this stack's token is a pass.
fn subscription_check(models: &[ModelHealth<'_>]) -> Check {
    const NAME: &str = "outcomes.subscriptions";
    const SUBSCRIBE: &str = "run `leadsync calltools subscribe` (it keeps what is already right)";
    let missing: Vec<&str> = models
        .iter()
        .filter(|m| m.live.is_empty())
        .map(|m| m.model.resthook_model())
        .collect();
    let stale: usize = models.iter().map(|m| m.other_token.len()).sum();
    let twice: Vec<&str> = models
        .iter()
        .filter(|m| m.live.len() > 1)
        .map(|m| m.model.resthook_model())
        .collect();
    if !missing.is_empty() {
        let also = if stale > 0 {
            format!(
                "; {stale} subscription(s) post to a leadsync route with another token (rotated, or another stack's)"
            )
        } else {
            String::new()
        };
        return Check::fail(
            AREA,
            NAME,
            format!(
                "no subscription posts {} hooks to this stack{also}",
                missing.join(" and ")
            ),
            format!(
                "{SUBSCRIBE}; after rotating the token, `leadsync calltools subscribe --remove` first"
            ),
        );
    }
    if !twice.is_empty() {
        return Check::warn(
            AREA,
            NAME,
            format!(
                "{} hooks are subscribed more than once: each call is posted twice (applied once, read twice)",
                twice.join(" and ")
            ),
            "`leadsync calltools subscribe --remove`, then `leadsync calltools subscribe`",
        );
    }
    if stale > 0 {
        return Check::warn(
            AREA,
            NAME,
            format!(
                "Call and Contact hooks post to this stack; {stale} more post to a leadsync route with another token"
            ),
            "if no other stack uses this CallTools account, remove them (`leadsync calltools subscribe --list` shows them)",
        );
    }
    Check::pass(
        AREA,
        NAME,
        "Call and Contact hooks post to this stack, once each, with its token",
    )
}

/// The map's disposition names against the account's.
fn dispositions(cfg: &Config, known: &[Disposition]) -> Check {
    const NAME: &str = "outcomes.dispositions";
    let unknown: Vec<&str> = cfg
        .outcomes
        .dispositions()
        .filter(|name| !known.iter().any(|d| d.name.trim().to_lowercase() == *name))
        .collect();
    let dnc: Vec<&str> = known
        .iter()
        .filter(|d| d.is_dnc)
        .map(|d| d.name.as_str())
        .collect();
    let dnc = if dnc.is_empty() {
        "no disposition is marked do-not-call".to_string()
    } else {
        format!("do-not-call (GHL DND): {}", dnc.join(", "))
    };
    if !unknown.is_empty() {
        let names: Vec<&str> = known.iter().map(|d| d.name.as_str()).collect();
        return Check::warn(
            AREA,
            NAME,
            format!(
                "CallOutcomes names {} the account does not have: those calls only leave a note",
                quoted(&unknown)
            ),
            format!("use the account's names: {}", quoted(&names)),
        );
    }
    let mapped = cfg.outcomes.dispositions().count();
    Check::pass(
        AREA,
        NAME,
        format!(
            "{mapped} mapped disposition(s), all in the account ({} in all); {dnc}",
            known.len()
        ),
    )
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;
    use leadsync::sources::calltools::subscription::Subscription;

    fn sub(id: i64, model: &str, token: &str) -> Subscription {
        Subscription {
            id,
            resthook_model: model.into(),
            url: format!(
                "https://a/webhooks/calltools?model={}&token={token}",
                model.to_lowercase()
            ),
            description: None,
        }
    }

    fn verdict(all: &[Subscription]) -> Check {
        subscription_check(&health(all, "mine"))
    }

    #[test]
    fn subscriptions_pass_only_with_each_model_once_under_this_stacks_token() {
        let right = [sub(1, "Call", "mine"), sub(2, "Contact", "mine")];
        assert_eq!(verdict(&right).status, Status::Pass);

        let missing = verdict(&[sub(1, "Call", "mine"), sub(3, "Contact", "old")]);
        assert_eq!(missing.status, Status::Fail);
        assert!(missing.summary.contains("Contact hooks"), "{missing:?}");
        assert!(missing.summary.contains("another token"), "{missing:?}");
        assert!(!missing.summary.contains("old"), "no token in output");

        let twice = verdict(&[
            sub(1, "Call", "mine"),
            sub(2, "Call", "mine"),
            sub(3, "Contact", "mine"),
        ]);
        assert_eq!(twice.status, Status::Warn);
        assert!(twice.summary.contains("Call hooks"), "{twice:?}");

        let foreign = verdict(&[
            sub(1, "Call", "mine"),
            sub(2, "Contact", "mine"),
            sub(3, "Call", "staging"),
        ]);
        assert_eq!(foreign.status, Status::Warn);
        assert_eq!(verdict(&[]).status, Status::Fail);
    }

    fn config(outcomes: &str) -> Config {
        Config::from_lookup(|k| match k {
            "LEADSYNC_OUTCOMES" => Some(outcomes.to_string()),
            "LEADSYNC_CALL_OUTCOMES" => Some("on".into()),
            _ => None,
        })
        .expect("a configuration")
    }

    #[test]
    fn a_mapped_disposition_the_account_lacks_is_named_with_the_accounts_names() {
        let known = [
            Disposition {
                id: 1,
                name: "Not Interested".into(),
                is_dnc: false,
            },
            Disposition {
                id: 4,
                name: "Do Not Call".into(),
                is_dnc: true,
            },
        ];
        let ok = dispositions(
            &config(r#"{"not interested ": {"add_tags": ["x"]}}"#),
            &known,
        );
        assert_eq!(ok.status, Status::Pass, "{ok:?}");
        assert!(ok.summary.contains("Do Not Call"), "{ok:?}");

        let typo = dispositions(&config(r#"{"Not Intrested": {"add_tags": ["x"]}}"#), &known);
        assert_eq!(typo.status, Status::Warn);
        assert!(typo.summary.contains("not intrested"), "{typo:?}");
        assert!(typo.fix.unwrap().contains("\"Not Interested\""));
    }
}
