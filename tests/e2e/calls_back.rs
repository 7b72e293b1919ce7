//! Call outcomes from CallTools back into GoHighLevel, end to end: the sandbox's CallTools posts
//! its REST hooks (duplicates, drops) when an agent "dials" a contact with a disposition; the
//! real ingress, consumer and backfill carry the outcome to the sandbox's GoHighLevel.

use std::time::Duration;

use anyhow::{Context, Result};
use leadsync_tests::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

const OUTCOMES: &str = r#"{"Not Interested": {"add_tags": ["not-interested"]}}"#;
const FIELD: &str = "fld_last_outcome";

async fn outcome_stack() -> Result<TestStack> {
    stack()
        .setting("LEADSYNC_OUTCOMES", OUTCOMES)
        .setting("GHL_OUTCOME_FIELD_ID", FIELD)
        .start()
        .await
}

/// A cold lead placed in CallTools, every job of its placing done; its GHL id and CallTools id.
async fn placed_lead(t: &TestStack, first: &str, phone: &str) -> Result<(String, i64)> {
    let id = t.create_tagged_contact(first, phone, "cold lead").await?;
    let ct = in_bucket(t, phone, COLD_LEADS).await?;
    settled(t, WAIT).await?;
    Ok((id, ct["id"].as_i64().context("CallTools id")?))
}

/// The sandbox API calls to `api` whose method and path match.
async fn api_calls(t: &TestStack, api: &str, method: &str, path_part: &str) -> Result<usize> {
    Ok(t.sandbox_client()
        .calls(api)
        .await?
        .iter()
        .filter(|c| {
            c["method"] == method && c["path"].as_str().is_some_and(|p| p.contains(path_part))
        })
        .count())
}

fn ghl_writes(calls: &[Value]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c["method"] != "GET" && c["path"] != "/contacts/search")
        .map(|c| {
            format!(
                "{} {}",
                c["method"].as_str().unwrap_or(""),
                c["path"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disposition_reaches_ghl_once_under_duplicate_hooks_and_does_not_bounce() -> Result<()> {
    let t = outcome_stack().await?;
    let sb = t.sandbox_client();
    let started = leadsync::domain::clock::now_ms();
    let (id, ct) = placed_lead(&t, "Nora", "+14155550191").await?;
    // Subscribed twice, as an operator re-running the command would: still one of each.
    t.subscribe_calltools().await?;
    t.subscribe_calltools().await?;
    let subs = t.calltools_client()?.hook_subscriptions().await?;
    let models: Vec<&str> = subs.iter().map(|s| s.resthook_model.as_str()).collect();
    assert_eq!(models, ["Call", "Contact"], "one of each: {subs:?}");
    sb.set_calltools_hook_delivery(json!({"duplicates": 2, "delay_ms": 50}))
        .await?;
    let calltools_writes_before = t.calltools_writes().await?.len();
    let ghl_before = sb.calls("ghl").await?.len();
    let reads_before = api_calls(&t, "ghl", "GET", &format!("/contacts/{id}")).await?;

    // WHEN an agent dials the lead and chooses "Not Interested"
    sb.calltools_dial(ct, Some("Not Interested"), 42).await?;

    // THEN within seconds GHL has the tag, the field and one note
    let contact = eventually(WAIT, "the outcome in GHL", || async {
        let c = t.ghl_contact(&id).await?;
        let tagged = c["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x == "not-interested"));
        Ok(tagged.then_some(c))
    })
    .await?;
    both_ways_settled(&t, WAIT).await?;
    let hooks = sb.calltools_hooks().await?;
    assert_eq!(
        hooks.iter().filter(|h| h["model"] == "Call").count(),
        3,
        "the Call hook was posted three times: {hooks:?}"
    );
    let notes = sb.ghl_notes(&id).await?;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let note = notes[0]["body"].as_str().unwrap_or_default();
    for part in [
        "Call outcome: Not Interested",
        "Agent: Agent Smith",
        "Duration: 0:42",
        "Recording: ",
    ] {
        assert!(note.contains(part), "{part} in {note}");
    }
    let contact = t.ghl_contact(&id).await.unwrap_or(contact);
    assert!(
        contact["customFields"].as_array().is_some_and(|f| f
            .iter()
            .any(|f| f["id"] == FIELD && f["value"] == "Not Interested")),
        "{contact}"
    );
    // Exactly once: one tag add, one update (the field), one note.
    let ghl_calls = sb.calls("ghl").await?;
    let mut writes = ghl_writes(&ghl_calls[ghl_before..]);
    writes.sort();
    assert_eq!(
        writes,
        [
            format!("POST /contacts/{id}/notes"),
            format!("POST /contacts/{id}/tags"),
            format!("PUT /contacts/{id}"),
        ]
    );
    assert_eq!(
        api_calls(&t, "calltools", "GET", "/api/calls/").await?,
        1,
        "one CallTools read for three hooks"
    );
    // No bounce: GHL's webhooks for the tag and the field were read, and nothing went back to
    // CallTools.
    let calltools_writes: Vec<Value> =
        t.calltools_writes().await?[calltools_writes_before..].to_vec();
    assert!(calltools_writes.is_empty(), "{calltools_writes:?}");
    assert!(
        api_calls(&t, "ghl", "GET", &format!("/contacts/{id}")).await? > reads_before,
        "the forward sync did read the contact again"
    );

    // Seen like the rest: the reverse direction has its own rows in `leadsync stats`...
    t.stack.metrics.settled().await;
    let stats = leadsync_cli::stats::collect(
        &t.stats_target(),
        started,
        leadsync::domain::clock::now_ms() + 60_000,
    )
    .await?;
    let text = leadsync_cli::stats::render::text(&stats);
    let hooks_in = &stats.webhooks["calltools"];
    assert_eq!((hooks_in.received, hooks_in.enqueued), (3, 3), "{text}");
    assert_eq!(
        stats.jobs["calltools"].by_outcome,
        std::collections::BTreeMap::from([("skipped".to_string(), 2), ("synced".to_string(), 1)]),
        "{text}"
    );
    assert_eq!(stats.sinks["ghl"].calls, 3, "{text}");
    assert_eq!(
        stats.sinks["ghl"].responses_by_class,
        std::collections::BTreeMap::from([("2xx".to_string(), 3)]),
        "{text}"
    );
    assert_eq!(stats.sync_latency_ms["calltools"].count, 1, "{text}");
    // ...and `leadsync trace` shows both directions under the one contact.
    let log = leadsync::aws::dynamo::events::DynamoEventLog::new(
        aws_sdk_dynamodb::Client::new(&t.stack.aws),
        &t.stack.resources.table,
    );
    let found = leadsync_cli::commands::trace::trace(&log, "ghl", &id, 50).await?;
    let triggers: Vec<&str> = found.events.iter().map(|e| e.trigger.as_str()).collect();
    assert!(triggers.contains(&"ContactCreate"), "{triggers:?}");
    assert!(triggers.contains(&"CallToolsCall"), "{triggers:?}");
    t.stop().await;
    Ok(())
}

/// GHL's DND for calls on the contact, as GET renders it.
fn call_dnd(contact: &Value) -> Option<&str> {
    contact["dndSettings"]["Call"]["status"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_do_not_call_disposition_sets_ghl_dnd_and_the_contact_never_reenters_a_bucket()
-> Result<()> {
    let t = outcome_stack().await?;
    let sb = t.sandbox_client();
    let phone = "+14155550192";
    let (id, ct) = placed_lead(&t, "Otto", phone).await?;
    t.subscribe_calltools().await?;

    // WHEN the agent's disposition is "Do Not Call" (CallTools marks the contact too)
    sb.calltools_dial(ct, Some("Do Not Call"), 12).await?;

    // THEN GHL holds DND for calls, and the contact leaves the dialer
    eventually(WAIT, "DND for calls in GHL", || async {
        let c = t.ghl_contact(&id).await?;
        Ok((call_dnd(&c) == Some("active")).then_some(()))
    })
    .await?;
    both_ways_settled(&t, WAIT).await?;
    let out = t.calltools_with_phone(phone).await?;
    assert!(
        out.iter()
            .all(|c| c["buckets"].as_array().is_some_and(Vec::is_empty)
                && c["do_not_contact"] == true),
        "{out:?}"
    );

    // WHEN a person lifts DND in GHL and tags the lead again
    sb.call(
        reqwest::Method::POST,
        &format!("/_sandbox/ghl/contacts/{id}/dnd"),
        Some(json!({"dndSettings": {"Call": {"status": "inactive", "message": "", "code": ""}}})),
    )
    .await?;
    t.untag(&id, "cold lead").await?;
    t.tag(&id, "cold lead").await?;
    both_ways_settled(&t, WAIT).await?;

    // THEN the agent's do-not-call still holds: flagged, in no bucket
    let still = t.calltools_with_phone(phone).await?;
    assert!(
        still
            .iter()
            .all(|c| c["buckets"].as_array().is_some_and(Vec::is_empty)
                && c["do_not_contact"] == true),
        "{still:?}"
    );
    let c = t.ghl_contact(&id).await?;
    assert_eq!(
        call_dnd(&c),
        Some("inactive"),
        "leadsync does not set DND again on its own"
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_marking_do_not_contact_in_calltools_sets_ghl_dnd_once() -> Result<()> {
    let t = outcome_stack().await?;
    let sb = t.sandbox_client();
    let (id, ct) = placed_lead(&t, "Pia", "+14155550193").await?;
    t.subscribe_calltools().await?;
    let ghl_before = sb.calls("ghl").await?.len();
    sb.calltools_set_do_not_contact(ct, true).await?;
    eventually(WAIT, "DND for calls in GHL", || async {
        let c = t.ghl_contact(&id).await?;
        Ok((call_dnd(&c) == Some("active")).then_some(()))
    })
    .await?;
    both_ways_settled(&t, WAIT).await?;
    let puts = ghl_writes(&sb.calls("ghl").await?[ghl_before..]);
    assert_eq!(
        puts,
        [format!("PUT /contacts/{id}")],
        "DND written once, nothing else"
    );
    assert!(sb.ghl_notes(&id).await?.is_empty(), "no call, no note");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_lost_in_transit_is_recovered_by_the_backfill_whether_or_not_the_account_filters_by_time()
-> Result<()> {
    let t = outcome_stack().await?;
    let sb = t.sandbox_client();
    let (id, ct) = placed_lead(&t, "Quin", "+14155550194").await?;
    t.subscribe_calltools().await?;
    for (n, filter) in ["honoured", "ignored"].into_iter().enumerate() {
        t.set_calltools_modes(json!({"call_time_filter": filter}))
            .await?;
        // GIVEN a call whose hook never arrives
        sb.set_calltools_hook_delivery(json!({"drop_next": 1}))
            .await?;
        sb.calltools_dial(ct, Some("Not Interested"), 30).await?;
        both_ways_settled(&t, WAIT).await?;
        assert_eq!(
            sb.ghl_notes(&id).await?.len(),
            n,
            "{filter}: the lost hook left no note"
        );
        // WHEN the calls backfill runs
        let run = t.run_backfill_of("calltools_calls").await?;
        both_ways_settled(&t, WAIT).await?;
        // THEN the outcome is in GHL, once
        assert_eq!(run.enqueued, 1, "{filter}: {run:?}");
        assert_eq!(sb.ghl_notes(&id).await?.len(), n + 1, "{filter}");
        if filter == "ignored" {
            assert!(
                run.warnings.is_empty(),
                "every call is within this run's window: {run:?}"
            );
        }
        // A second run finds nothing left to carry.
        let again = t.run_backfill_of("calltools_calls").await?;
        assert_eq!(again.enqueued, 0, "{filter}: {again:?}");
    }
    t.stop().await;
    Ok(())
}

/// A deployment that turns call outcomes on before creating the hook token's parameter keeps
/// its GHL and Meta routes: the missing token only leaves CallTools' route refusing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_hook_token_parameter_refuses_only_calltools_hooks() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    let ssm = aws_sdk_ssm::Client::new(&t.stack.aws);
    ssm.put_parameter()
        .name("/it/workflow-secret")
        .value("a-workflow-secret-of-our-own")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await?;
    let cfg = |workflow: &str| {
        leadsync::app::config::Config::from_lookup(|k| match k {
            "LEADSYNC_CALL_OUTCOMES" => Some("on".into()),
            "CALLTOOLS_HOOK_TOKEN_PARAM" => Some("/it/no-such-token".into()),
            "GHL_WORKFLOW_SECRET_PARAM" => Some(workflow.into()),
            _ => None,
        })
    };
    let mut ok = cfg("/it/workflow-secret")?;
    ok.resolve_secrets(&ssm).await?;
    assert!(ok.calltools_hook_token().is_none(), "the route refuses");
    assert!(
        ok.ghl
            .workflow_secret
            .value()
            .is_some_and(|s| s.matches(b"a-workflow-secret-of-our-own"))
    );
    // Any other missing secret still stops the function, saying which.
    let mut broken = cfg("/it/no-such-secret")?;
    let err = broken.resolve_secrets(&ssm).await.unwrap_err();
    assert!(err.to_string().contains("GHL_WORKFLOW_SECRET"), "{err}");
    t.stop().await;
    Ok(())
}

/// Whether GHL's `PUT` merges `dndSettings` or replaces them is unconfirmed: in both, setting DND
/// for calls leaves a contact's SMS DND (a STOP reply) in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnd_for_calls_never_lifts_another_channels_dnd_whether_ghl_merges_or_replaces()
-> Result<()> {
    let t = outcome_stack().await?;
    let sb = t.sandbox_client();
    t.subscribe_calltools().await?;
    for (i, mode) in ["merge", "replace"].into_iter().enumerate() {
        let (id, ct) =
            placed_lead(&t, &format!("Sam{i}"), &format!("+1415555019{}", 5 + i)).await?;
        sb.call(
            reqwest::Method::POST,
            &format!("/_sandbox/ghl/contacts/{id}/dnd"),
            Some(json!({"dndSettings": {"SMS": {"status": "active", "message": "STOP", "code": "21610"}}})),
        )
        .await?;
        both_ways_settled(&t, WAIT).await?;
        t.ghl_account(json!({ "dnd_update": mode })).await?;

        sb.calltools_dial(ct, Some("Do Not Call"), 9).await?;
        eventually(WAIT, "DND for calls in GHL", || async {
            let c = t.ghl_contact(&id).await?;
            Ok((call_dnd(&c) == Some("active")).then_some(()))
        })
        .await?;
        both_ways_settled(&t, WAIT).await?;
        let c = t.ghl_contact(&id).await?;
        assert_eq!(
            c["dndSettings"]["SMS"]["status"], "active",
            "{mode}: the SMS DND stays: {c}"
        );
    }
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_dialed_then_wrapped_up_then_recorded_leaves_one_outcome_and_one_recording_note()
-> Result<()> {
    let t = outcome_stack().await?;
    let sb = t.sandbox_client();
    let (id, ct) = placed_lead(&t, "Vera", "+14155550196").await?;
    t.subscribe_calltools().await?;
    sb.set_calltools_hook_delivery(json!({"duplicates": 1, "delay_ms": 30}))
        .await?;

    // WHEN the agent dials (CallTools posts the call with no disposition yet)...
    let call = sb
        .calltools_dial_with(json!({"contact": ct, "agent": "agent.smith"}))
        .await?;
    let call_id = call["id"].as_i64().context("call id")?;
    both_ways_settled(&t, WAIT).await?;
    assert!(
        sb.ghl_notes(&id).await?.is_empty(),
        "no outcome yet, no note"
    );
    assert_eq!(
        api_calls(&t, "calltools", "GET", "/api/calls/").await?,
        0,
        "a call without a disposition is not read"
    );
    // ...picks the disposition at wrap-up...
    sb.calltools_wrap_up(call_id, Some("Not Interested"), false)
        .await?;
    eventually(WAIT, "the outcome note", || async {
        Ok((!sb.ghl_notes(&id).await?.is_empty()).then_some(()))
    })
    .await?;
    both_ways_settled(&t, WAIT).await?;
    // ...and the recording is stored later.
    let recorded = sb.calltools_wrap_up(call_id, None, true).await?;
    let url = recorded["recording_url"]
        .as_str()
        .context("recording url")?
        .to_string();
    eventually(WAIT, "the recording note", || async {
        Ok((sb.ghl_notes(&id).await?.len() == 2).then_some(()))
    })
    .await?;
    both_ways_settled(&t, WAIT).await?;

    // THEN one outcome note without the link, one note with it, each once under duplicates
    let notes = sb.ghl_notes(&id).await?;
    let bodies: Vec<&str> = notes.iter().filter_map(|n| n["body"].as_str()).collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(
        bodies[0].starts_with("Call outcome: Not Interested"),
        "{bodies:?}"
    );
    assert!(!bodies[0].contains(&url));
    assert!(
        bodies[1].starts_with(&format!("Call recording: {url}")),
        "{bodies:?}"
    );
    assert_eq!(
        api_calls(&t, "ghl", "POST", &format!("/contacts/{id}/tags")).await?,
        1,
        "the outcome's tags once"
    );
    // The recording's hook posted twice: its duplicate is settled by the state.
    assert_eq!(
        api_calls(&t, "calltools", "GET", "/api/calls/").await?,
        2,
        "one read for the disposition, one for the recording"
    );
    Ok(())
}
