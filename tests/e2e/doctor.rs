//! `leadsync doctor` against a correctly configured sandbox account and against each
//! misconfiguration it must name: a wrong phone slug, a missing bucket, a duplicating account
//! leadsync expects to merge, an account that ignores `add_buckets` and forbids deletes, an
//! unsubscribed Meta app, a refused GHL token.

use std::time::Duration;

use anyhow::Result;
use leadsync_cli::doctor::report::{Report, Status};
use leadsync_cli::doctor::{DoctorArgs, examine};
use leadsync_sandbox::DuplicateMode;
use leadsync_tests::*;
use serde_json::json;

const SETTLE: Duration = Duration::from_secs(30);

async fn doctor(t: &TestStack, probe_writes: bool) -> Report {
    let args = DoctorArgs {
        probe_writes,
        probe_phone: leadsync_cli::doctor::calltools::PROBE_PHONE.into(),
        ..DoctorArgs::default()
    };
    examine(&t.stack.config, &t.target(), &args).await
}

fn status(r: &Report, name: &str) -> Status {
    r.check(name)
        .unwrap_or_else(|| panic!("no check {name} in\n{}", r.render()))
        .status
}

fn line<'a>(r: &'a Report, name: &str) -> &'a leadsync_cli::doctor::report::Check {
    r.check(name)
        .unwrap_or_else(|| panic!("no check {name} in\n{}", r.render()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correctly_configured_account_passes_and_the_probe_leaves_nothing_behind() -> Result<()> {
    let t = stack().start().await?;
    // GIVEN a tagged lead already synced (CallTools then renders a contact with its fields)
    t.create_tagged_contact("Ada", "+14152100001", "cold lead")
        .await?;
    settled(&t, SETTLE).await?;
    // AND CallTools' hooks subscribed to the stack
    t.subscribe_calltools().await?;
    let before = t.calltools_contacts().await?.len();
    // WHEN doctor runs with the write probe
    let r = doctor(&t, true).await;
    // THEN every line passes or is honestly not checked, and it learned the account
    let text = r.render();
    assert!(!r.failed(), "{text}");
    for name in [
        "ghl.token",
        "ghl.location",
        "ghl.version",
        "ghl.budget",
        "calltools.key",
        "calltools.phone_field",
        "calltools.email_field",
        "calltools.bucket_listing",
        "calltools.bucket",
        "calltools.phone_lands",
        "calltools.duplicate_mode",
        "calltools.placement",
        "calltools.probe_removed",
        "meta.page",
        "meta.instagram",
        "meta.subscription",
        "outcomes.subscriptions",
        "outcomes.dispositions",
        "leadsync.table",
        "leadsync.queue",
        "leadsync.dlq",
    ] {
        assert_eq!(status(&r, name), Status::Pass, "{name}:\n{text}");
    }
    assert_eq!(
        line(&r, "ghl.tag").summary,
        r#"1 contacts carry the tag "cold lead""#
    );
    assert_eq!(r.learned.duplicate_mode, Some("merge"));
    assert_eq!(r.learned.placement, Some("inline"));
    assert_eq!(r.learned.bucket_listing, Some("/api/buckets/"));
    // Every contact is in the bucket: an ignored filter would list the same, so it cannot tell
    // and keeps the safe assumption.
    let filter = line(&r, "calltools.bucket_filter");
    assert_eq!(filter.status, Status::Pass, "{text}");
    assert!(filter.summary.starts_with("cannot tell"), "{text}");
    assert_eq!(r.learned.bucket_filter, Some("ignored"));
    assert_eq!(
        r.learned.rules,
        Some(json!([{"tag": "cold lead", "bucket_id": 11237}])),
        "the bucket named in the rules, by id"
    );
    assert_eq!(
        t.calltools_contacts().await?.len(),
        before,
        "the probe contact was removed"
    );
    let json = r.to_json().to_string();
    for secret in [
        "Bearer",
        leadsync_local::SANDBOX_CALLTOOLS_KEY,
        "+14152100001",
        "Ada",
    ] {
        assert!(!json.contains(secret), "{secret} in the report");
    }
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_phone_slug_a_missing_bucket_and_a_duplicating_account_are_each_named() -> Result<()>
{
    let rules = json!([
        {"tag": "cold lead", "bucket": "Cold Leads"},
        {"tag": "warm lead", "bucket": "Warm Leads"}
    ]);
    // GIVEN an account that creates a second contact for a known phone, while leadsync is
    // configured to rely on merging, with a phone slug the account lacks and a bucket it lacks
    let t = stack()
        .duplicate_mode(DuplicateMode::AllowDuplicates)
        .setting("CALLTOOLS_DUPLICATE_MODE", "merge")
        .setting("CALLTOOLS_PHONE_FIELD", "phone_number")
        .setting("LEADSYNC_RULES", &rules.to_string())
        .without_consumer()
        .start()
        .await?;
    t.seed_calltools_contact(
        json!({"first_name": "Seeded", "mobile_phone_number": "+14152100002"}),
    )
    .await?;
    // WHEN doctor probes
    let r = doctor(&t, true).await;
    let text = r.render();
    // THEN each is a failure with its fix
    assert!(r.failed());
    let slug = line(&r, "calltools.phone_field");
    assert_eq!(slug.status, Status::Fail, "{text}");
    assert!(
        slug.fix
            .as_deref()
            .unwrap()
            .starts_with("set CallToolsPhoneField=mobile_phone_number"),
        "{text}"
    );
    assert_eq!(
        r.learned.phone_field.as_deref(),
        Some("mobile_phone_number")
    );
    let missing = r
        .checks
        .iter()
        .find(|c| c.name == "calltools.bucket" && c.status == Status::Fail)
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(missing.summary, r#"no bucket is named "Warm Leads""#);
    assert!(
        missing
            .fix
            .as_deref()
            .unwrap()
            .contains(r#""Cold Leads" (11237)"#)
    );
    let dup = line(&r, "calltools.duplicate_mode");
    assert_eq!(dup.status, Status::Fail, "{text}");
    assert_eq!(
        dup.fix.as_deref(),
        Some("set CallToolsDuplicateMode=lookup")
    );
    assert_eq!(r.learned.duplicate_mode, Some("lookup"));
    // The probe wrote the phone where the account keeps it (the learned slug), and it landed.
    assert_eq!(status(&r, "calltools.phone_lands"), Status::Pass, "{text}");
    assert!(
        r.checks.iter().any(|c| c.name == "ghl.tag"
            && c.status == Status::Warn
            && c.summary.contains("warm lead")),
        "{text}"
    );
    assert_eq!(
        r.parameter_overrides(),
        [
            "CallToolsDuplicateMode=lookup",
            "CallToolsBucketFilter=ignored",
            "CallToolsPhoneField=mobile_phone_number"
        ],
        "no rules by id: one bucket is missing"
    );
    assert_eq!(
        t.calltools_contacts().await?.len(),
        1,
        "both probe contacts removed"
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_ignoring_add_buckets_and_forbidding_deletes_is_learned_and_the_probe_named()
-> Result<()> {
    let t = stack().without_consumer().start().await?;
    t.set_calltools_modes(
        json!({"placement": "ignored", "deletes": "forbidden", "bucket_listing": "lists_only"}),
    )
    .await?;
    let r = doctor(&t, true).await;
    let text = r.render();
    // THEN the placement that works is found, and the probe left behind is said, not hidden
    assert_eq!(status(&r, "calltools.placement"), Status::Pass, "{text}");
    assert_eq!(r.learned.placement, Some("bucket_patch"), "{text}");
    assert_eq!(r.learned.bucket_listing, Some("/api/lists/"), "{text}");
    let left = line(&r, "calltools.probe_removed");
    assert_eq!(left.status, Status::Warn, "{text}");
    assert!(
        left.summary.contains("leadsync doctor probe / delete me"),
        "{text}"
    );
    let contacts = t.calltools_contacts().await?;
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(contacts[0]["first_name"], "leadsync doctor probe");
    assert_eq!(
        contacts[0]["do_not_contact"], true,
        "the probe is never dialed"
    );
    assert_eq!(
        contacts[0]["buckets"],
        json!([]),
        "and no longer in the bucket"
    );
    // An account with no contact before the probe: its fields are not read, and said so.
    assert_eq!(status(&r, "calltools.fields"), Status::Skip, "{text}");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsubscribed_meta_app_and_a_refused_ghl_token_fail_without_a_write() -> Result<()> {
    let t = stack()
        .setting("GHL_API_TOKEN", "not-the-token")
        .setting(
            "LEADSYNC_OUTCOMES",
            r#"{"Not Intrested": {"add_tags": ["lost"]}}"#,
        )
        .without_consumer()
        .start()
        .await?;
    t.meta("subscription", json!({"subscribed": false})).await?;
    // WHEN doctor runs without --probe-writes
    let r = doctor(&t, false).await;
    let text = r.render();
    let ghl = line(&r, "ghl.token");
    assert_eq!(ghl.status, Status::Fail, "{text}");
    assert!(ghl.summary.contains("HTTP 401"), "{text}");
    assert!(
        r.check("ghl.tag").is_none(),
        "nothing past a refused token: {text}"
    );
    let meta = line(&r, "meta.subscription");
    assert_eq!(meta.status, Status::Fail, "{text}");
    assert!(meta.summary.contains("NOT SUBSCRIBED"), "{text}");
    // No CallTools hook posts to the stack, and the outcome map misspells a disposition.
    let hooks = line(&r, "outcomes.subscriptions");
    assert_eq!(hooks.status, Status::Fail, "{text}");
    assert!(hooks.summary.contains("Call and Contact hooks"), "{text}");
    let map = line(&r, "outcomes.dispositions");
    assert_eq!(map.status, Status::Warn, "{text}");
    assert!(map.summary.contains("\"not intrested\""), "{text}");
    assert!(
        !text.contains(leadsync_local::LOCAL_CALLTOOLS_HOOK_TOKEN),
        "the hook token is never shown"
    );
    assert_eq!(status(&r, "calltools.probe"), Status::Skip, "{text}");
    assert!(
        t.calltools_writes().await?.is_empty(),
        "no write without --probe-writes"
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_another_location_and_a_rotated_calltools_key_are_told_apart() -> Result<()> {
    let t = stack()
        .setting("GHL_LOCATION_ID", "another-location")
        .without_consumer()
        .start()
        .await?;
    // GIVEN CallTools' admin rotated the key leadsync holds
    t.sandbox_client()
        .call(
            reqwest::Method::POST,
            "/_sandbox/calltools/api_key",
            Some(json!({"api_key": "rotated"})),
        )
        .await?;
    let r = doctor(&t, true).await;
    let text = r.render();
    let location = line(&r, "ghl.location");
    assert_eq!(location.status, Status::Fail, "{text}");
    assert!(location.summary.contains("HTTP 403"), "{text}");
    assert!(
        r.check("ghl.token").is_none(),
        "the token itself was not refused: {text}"
    );
    let key = line(&r, "calltools.key");
    assert_eq!(key.status, Status::Fail, "{text}");
    assert!(key.summary.contains("refused the API key"), "{text}");
    assert!(
        r.check("calltools.phone_lands").is_none(),
        "no probe past a refused key: {text}"
    );
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_writes_nothing_when_a_real_contact_has_its_number() -> Result<()> {
    let t = stack().without_consumer().start().await?;
    let phone = leadsync_cli::doctor::calltools::PROBE_PHONE;
    t.seed_calltools_contact(json!({"first_name": "Someone", "mobile_phone_number": phone}))
        .await?;
    let r = doctor(&t, true).await;
    let text = r.render();
    let probe = line(&r, "calltools.probe");
    assert_eq!(probe.status, Status::Fail, "{text}");
    assert!(probe.summary.contains("nothing was written"), "{text}");
    assert!(t.calltools_writes().await?.is_empty(), "{text}");
    let contacts = t.calltools_contacts().await?;
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["first_name"], "Someone");
    t.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whether_the_contact_listing_honours_a_bucket_filter_is_found_out_and_written() -> Result<()>
{
    // GIVEN two contacts in the rule's bucket and one outside it
    let t = stack().without_consumer().start().await?;
    let client = t.calltools_client()?;
    for (phone, bucket) in [
        ("+14152100201", Some(11237)),
        ("+14152100202", Some(11237)),
        ("+14152100203", None),
    ] {
        let mut body = serde_json::Map::new();
        body.insert("mobile_phone_number".into(), json!(phone));
        if let Some(b) = bucket {
            body.insert("add_buckets".into(), json!([b]));
        }
        leadsync::sinks::calltools::client::CallToolsApi::create_contact(&client, &body).await?;
    }
    for (mode, status, says) in [
        // An account honouring it, with leadsync still on the safe default: a warning, the fix
        ("honoured", Status::Warn, "honours"),
        // One ignoring it, as configured
        ("ignored", Status::Pass, "ignores"),
    ] {
        let learned = mode;
        t.set_calltools_modes(json!({ "contact_bucket_filter": mode }))
            .await?;
        // WHEN doctor runs
        let r = doctor(&t, false).await;
        let text = r.render();
        // THEN it says which, and --write-config carries it
        let filter = line(&r, "calltools.bucket_filter");
        assert_eq!(filter.status, status, "{mode}:\n{text}");
        assert!(
            filter
                .summary
                .contains(&format!("the contact listing {says} ?buckets=11237")),
            "{mode}:\n{text}"
        );
        assert_eq!(r.learned.bucket_filter, Some(learned), "{mode}");
        assert_eq!(r.to_json()["learned"]["bucket_filter"], learned, "{mode}");
        assert!(
            r.parameter_overrides()
                .contains(&format!("CallToolsBucketFilter={learned}")),
            "{mode}: {:?}",
            r.parameter_overrides()
        );
        if mode == "honoured" {
            assert!(
                filter
                    .fix
                    .as_deref()
                    .is_some_and(|f| f.starts_with("set CallToolsBucketFilter=honoured")),
                "{text}"
            );
        }
    }
    t.stop().await;
    Ok(())
}
