//! What template.yaml lets each function do, written out in full.
//!
//! Every IAM role is read as a reviewer would read it: one line per action, resource and allowed
//! partition-key prefix (`dynamodb:LeadingKeys`), with the condition the statement exists under.
//! The expected lists are exact, so a later change that widens a role (one more action, one more
//! prefix, a table statement without a prefix, a resource of `*`) turns a test red and has to be
//! argued for here, in review.

use std::collections::BTreeSet;

use serde_yaml::Value;

use super::Template;

pub(super) fn template() -> Template {
    Template::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
        "leadsync-local",
    )
    .unwrap()
}

pub(super) fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

fn is_no_value(v: &Value) -> bool {
    tagged(v, "Ref").and_then(Value::as_str) == Some("AWS::NoValue")
}

/// `!If [Cond, x, !Ref AWS::NoValue]` as `(x, " if Cond")`, `!If [Cond, !Ref AWS::NoValue, x]`
/// as `(x, " unless Cond")`, anything else as itself.
fn conditional(v: &Value) -> (&Value, String) {
    let Some(args) = tagged(v, "If").and_then(Value::as_sequence) else {
        return (v, String::new());
    };
    let cond = args[0].as_str().expect("an !If names its condition");
    match (is_no_value(&args[1]), is_no_value(&args[2])) {
        (false, true) => (&args[1], format!(" if {cond}")),
        (true, false) => (&args[2], format!(" unless {cond}")),
        _ => panic!("an !If in a policy must leave one branch empty: {v:?}"),
    }
}

pub(super) fn list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None => Vec::new(),
        Some(Value::Sequence(s)) => s.iter().collect(),
        Some(one) => vec![one],
    }
}

/// A resource as a short name: `JobQueue`, `ssm:<parameter>`, `StateTable/index/<name>`, `key/*`.
fn resource_label(v: &Value) -> String {
    let (v, when) = conditional(v);
    let label = if let Some(att) = tagged(v, "GetAtt").and_then(Value::as_str) {
        att.trim_end_matches(".Arn").to_string()
    } else if let Some(sub) = tagged(v, "Sub").and_then(Value::as_str) {
        if let Some((_, p)) = sub.split_once(":parameter${") {
            format!("ssm:{}", p.trim_end_matches('}'))
        } else if let Some((_, index)) = sub.split_once(".Arn}/index/") {
            format!("StateTable/index/{index}")
        } else if let Some((_, key)) = sub.split_once(":key/") {
            format!("key/{key}")
        } else {
            sub.to_string()
        }
    } else {
        v.as_str().map_or_else(|| format!("{v:?}"), str::to_string)
    };
    format!("{label}{when}")
}

/// The role's Allow statements (a Deny only narrows), each with the condition it exists under.
fn statements(t: &Template, role: &str) -> Vec<(Value, String)> {
    let r = &t.doc["Resources"][role];
    assert_eq!(r["Type"].as_str(), Some("AWS::IAM::Role"), "{role}");
    let mut out = Vec::new();
    for policy in list(r["Properties"].get("Policies")) {
        for s in list(policy["PolicyDocument"].get("Statement")) {
            let (s, when) = conditional(s);
            assert!(
                s.get("NotAction").is_none() && s.get("NotResource").is_none(),
                "{role}: NotAction/NotResource grant everything else"
            );
            if s["Effect"].as_str() == Some("Allow") {
                out.push((s.clone(), when));
            }
        }
    }
    out
}

/// One line per action × resource × allowed partition-key prefix. A statement on the table
/// without `ForAllValues:StringLike` `dynamodb:LeadingKeys` shows as `keys ANY`.
fn grants(t: &Template, role: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (s, when) in statements(t, role) {
        let prefixes: Vec<String> = s
            .get("Condition")
            .and_then(|c| c.get("ForAllValues:StringLike"))
            .and_then(|c| c.get("dynamodb:LeadingKeys"))
            .map(|keys| {
                list(Some(keys))
                    .iter()
                    .map(|k| k.as_str().expect("a key prefix").to_string())
                    .collect()
            })
            .unwrap_or_else(|| vec!["ANY".to_string()]);
        let limits = attribute_limits(&s);
        for action in list(s.get("Action")) {
            let action = action.as_str().expect("an action");
            for resource in list(s.get("Resource")) {
                let resource = resource_label(resource);
                if action.starts_with("dynamodb:") && resource == "StateTable" {
                    for p in &prefixes {
                        out.insert(format!("{action} on {resource} keys {p}{limits}{when}"));
                    }
                } else {
                    out.insert(format!("{action} on {resource}{when}"));
                }
            }
        }
    }
    out
}

/// A statement's limits on the attributes a request may name (`dynamodb:Attributes`) and on what
/// it may have returned (`dynamodb:ReturnValues`), as ` attributes a,b returning X,Y`.
fn attribute_limits(s: &Value) -> String {
    let joined = |op: &str, key: &str| -> Option<String> {
        let values = s.get("Condition")?.get(op)?.get(key)?;
        Some(
            list(Some(values))
                .iter()
                .map(|v| v.as_str().expect("a name").to_string())
                .collect::<Vec<_>>()
                .join(","),
        )
    };
    let mut out = String::new();
    if let Some(a) = joined("ForAllValues:StringEquals", "dynamodb:Attributes") {
        out.push_str(&format!(" attributes {a}"));
    }
    if let Some(r) = joined("StringEqualsIfExists", "dynamodb:ReturnValues") {
        out.push_str(&format!(" returning {r}"));
    }
    out
}

fn set(lines: &[&str]) -> BTreeSet<String> {
    lines.iter().map(|s| s.to_string()).collect()
}

fn assert_grants(t: &Template, role: &str, expected: &[&str]) {
    let found = grants(t, role);
    let expected = set(expected);
    assert!(
        found == expected,
        "{role}\n  granted beyond the list: {:#?}\n  listed but not granted: {:#?}",
        found.difference(&expected).collect::<Vec<_>>(),
        expected.difference(&found).collect::<Vec<_>>(),
    );
}

const INGRESS: &[&str] = &[
    "dynamodb:GetItem on StateTable keys W#*",
    "dynamodb:PutItem on StateTable keys W#*",
    "dynamodb:UpdateItem on StateTable keys W#*",
    "dynamodb:UpdateItem on StateTable keys E#*",
    "dynamodb:UpdateItem on StateTable keys C#* attributes pk,sk,webhook_seq returning NONE,UPDATED_NEW",
    "dynamodb:Query on StateTable/index/ByCallToolsId if CallOutcomesOn",
    "sqs:SendMessage on JobQueue",
    "sqs:SendMessage on JobDeadLetterQueue",
    "ssm:GetParameter on ssm:GhlWorkflowSecretParameter",
    "ssm:GetParameter on ssm:CallToolsHookTokenParameter if CallOutcomesOn",
    "ssm:GetParameter on ssm:MetaAppSecretParameter if UseMeta",
    "ssm:GetParameter on ssm:MetaVerifyTokenParameter if UseMeta",
    "kms:Decrypt on key/*",
    "logs:CreateLogStream on IngressLogGroup",
    "logs:PutLogEvents on IngressLogGroup",
];

#[test]
fn the_internet_facing_ingress_may_write_only_webhook_ids_event_log_entries_and_a_count() {
    // No job markers (J#); of a contact's state (C#) only the count of its webhooks, and nothing
    // read back but that count; no CallTools mapping or Meta contacts and messages (C#),
    // breaker (B#), placement (P#), checkpoints (BF#) or OAuth tokens (AUTH#); nothing read
    // beyond its own webhook ids and the CallTools-id index (keys and buckets).
    assert_grants(&template(), "IngressRole", INGRESS);
}

#[test]
fn the_consumer_touches_jobs_contacts_events_breaker_placement_and_with_oauth_its_tokens() {
    assert_grants(
        &template(),
        "ConsumerRole",
        &[
            "dynamodb:PutItem on StateTable keys J#*",
            "dynamodb:UpdateItem on StateTable keys J#*",
            "dynamodb:DeleteItem on StateTable keys J#*",
            "dynamodb:GetItem on StateTable keys C#*",
            "dynamodb:PutItem on StateTable keys C#*",
            "dynamodb:UpdateItem on StateTable keys C#*",
            "dynamodb:UpdateItem on StateTable keys E#*",
            "dynamodb:GetItem on StateTable keys B#*",
            "dynamodb:PutItem on StateTable keys B#*",
            "dynamodb:GetItem on StateTable keys P#*",
            "dynamodb:PutItem on StateTable keys P#*",
            "dynamodb:GetItem on StateTable keys AUTH#* if UseGhlOAuth",
            "dynamodb:PutItem on StateTable keys AUTH#* if UseGhlOAuth",
            "dynamodb:UpdateItem on StateTable keys AUTH#* if UseGhlOAuth",
            "sqs:ReceiveMessage on JobQueue",
            "sqs:DeleteMessage on JobQueue",
            "sqs:ChangeMessageVisibility on JobQueue",
            "sqs:GetQueueAttributes on JobQueue",
            "sqs:SendMessage on JobQueue",
            "sqs:SendMessage on JobDeadLetterQueue",
            "ssm:GetParameter on ssm:GhlApiTokenParameter unless UseGhlOAuth",
            "ssm:GetParameter on ssm:GhlOAuthClientSecretParameter if UseGhlOAuth",
            "ssm:GetParameter on ssm:GhlOAuthRefreshTokenParameter if UseGhlOAuth",
            "ssm:GetParameter on ssm:CallToolsApiKeyParameter",
            "ssm:GetParameter on ssm:MetaPageAccessTokenParameter if UseMeta",
            "kms:Decrypt on key/*",
            "logs:CreateLogStream on ConsumerLogGroup",
            "logs:PutLogEvents on ConsumerLogGroup",
        ],
    );
}

#[test]
fn the_backfill_writes_only_its_checkpoints_and_with_oauth_its_tokens() {
    // It reads contact states and Meta conversations (C#) and the keys-only profile index, and
    // writes nothing of them: what it finds goes on the queue as jobs.
    assert_grants(
        &template(),
        "BackfillRole",
        &[
            "dynamodb:GetItem on StateTable keys BF#*",
            "dynamodb:PutItem on StateTable keys BF#*",
            "dynamodb:DeleteItem on StateTable keys BF#*",
            "dynamodb:Query on StateTable keys BF#*",
            "dynamodb:GetItem on StateTable keys C#*",
            "dynamodb:BatchGetItem on StateTable keys C#*",
            "dynamodb:Query on StateTable/index/ByProfileAge",
            "dynamodb:Query on StateTable/index/ByCallToolsId if CallOutcomesOn",
            "dynamodb:Scan on StateTable/index/ByCallToolsId if AuditOn",
            "dynamodb:GetItem on StateTable keys AUTH#* if UseGhlOAuth",
            "dynamodb:PutItem on StateTable keys AUTH#* if UseGhlOAuth",
            "dynamodb:UpdateItem on StateTable keys AUTH#* if UseGhlOAuth",
            "sqs:SendMessage on JobQueue",
            "sqs:SendMessage on JobDeadLetterQueue",
            "ssm:GetParameter on ssm:GhlApiTokenParameter unless UseGhlOAuth",
            "ssm:GetParameter on ssm:GhlOAuthClientSecretParameter if UseGhlOAuth",
            "ssm:GetParameter on ssm:GhlOAuthRefreshTokenParameter if UseGhlOAuth",
            "ssm:GetParameter on ssm:MetaPageAccessTokenParameter if UseMeta",
            "ssm:GetParameter on ssm:CallToolsApiKeyParameter if BackfillReadsCallTools",
            "kms:Decrypt on key/*",
            "logs:CreateLogStream on BackfillLogGroup",
            "logs:PutLogEvents on BackfillLogGroup",
        ],
    );
}

#[test]
fn the_profile_index_the_backfill_may_query_projects_keys_only() {
    // Its Query statement has no partition-key prefix; what keeps profiles and messages out of
    // its answers is the projection.
    let t = template();
    let index = list(t.doc["Resources"]["StateTable"]["Properties"].get("GlobalSecondaryIndexes"))
        .into_iter()
        .find(|i| i["IndexName"].as_str() == Some("ByProfileAge"))
        .expect("the ByProfileAge index");
    assert_eq!(
        index["Projection"]["ProjectionType"].as_str(),
        Some("KEYS_ONLY")
    );
}

#[test]
fn the_index_the_sink_audit_may_scan_projects_the_calltools_buckets_only() {
    // A Scan has no partition-key prefix to condition on; the projection is what keeps names,
    // phones, messages and the lost-create phone of the sinks map out of its answers.
    let t = template();
    let index = list(t.doc["Resources"]["StateTable"]["Properties"].get("GlobalSecondaryIndexes"))
        .into_iter()
        .find(|i| i["IndexName"].as_str() == Some("ByCallToolsId"))
        .expect("the ByCallToolsId index");
    assert_eq!(
        index["Projection"]["ProjectionType"].as_str(),
        Some("INCLUDE")
    );
    let shown: Vec<&str> = list(index["Projection"].get("NonKeyAttributes"))
        .into_iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(shown, ["ct_buckets"]);
}

#[test]
fn the_scheduler_may_only_invoke_the_backfill() {
    assert_grants(
        &template(),
        "BackfillSchedulerRole",
        &["lambda:InvokeFunction on BackfillFunction"],
    );
}

#[test]
fn every_role_is_written_in_the_template_and_listed_here() {
    // SAM adds a role of its own (with AWS managed policies on "*") to a function without `Role`
    // and to a schedule without `RoleArn`.
    let t = template();
    let roles: BTreeSet<&str> = t.of_type("AWS::IAM::Role").map(|(id, _)| id).collect();
    assert_eq!(
        roles,
        BTreeSet::from([
            "IngressRole",
            "ConsumerRole",
            "BackfillRole",
            "BackfillSchedulerRole"
        ])
    );
    for (id, f) in t.of_type("AWS::Serverless::Function") {
        assert!(f["Properties"].get("Role").is_some(), "{id} sets no Role");
        for e in super::events(f) {
            if e["Type"].as_str() == Some("ScheduleV2") {
                assert!(
                    e["Properties"].get("RoleArn").is_some(),
                    "{id}: a schedule without RoleArn"
                );
            }
        }
    }
}

#[test]
fn kms_decrypt_is_held_to_ssm_and_to_the_parameters_the_role_reads() {
    let t = template();
    for role in ["IngressRole", "ConsumerRole", "BackfillRole"] {
        let stmts = statements(&t, role);
        let read: Vec<&Value> = stmts
            .iter()
            .filter(|(s, _)| {
                list(s.get("Action"))
                    .iter()
                    .any(|a| a.as_str() == Some("ssm:GetParameter"))
            })
            .flat_map(|(s, _)| list(s.get("Resource")))
            .collect();
        let decrypts: Vec<&Value> = stmts
            .iter()
            .filter(|(s, _)| {
                list(s.get("Action"))
                    .iter()
                    .any(|a| a.as_str() == Some("kms:Decrypt"))
            })
            .map(|(s, _)| &s["Condition"]["StringEquals"])
            .collect();
        assert_eq!(decrypts.len(), 1, "{role}: one kms:Decrypt statement");
        let context = list(decrypts[0].get("kms:EncryptionContext:PARAMETER_ARN"));
        assert_eq!(
            context, read,
            "{role}: decrypts exactly the parameters it reads"
        );
        let via = decrypts[0]
            .get("kms:ViaService")
            .and_then(|v| tagged(v, "Sub"));
        assert_eq!(
            via.and_then(Value::as_str),
            Some("ssm.${AWS::Region}.amazonaws.com")
        );
    }
}

#[test]
fn a_widened_role_is_noticed() {
    // The check above must be able to fail: one more prefix, one more action, or a table
    // statement stripped of its condition each change what is found.
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
    )
    .unwrap();
    let expected = set(INGRESS);
    for (from, to) in [
        (
            r#"dynamodb:LeadingKeys: ["W#*"]"#,
            r#"dynamodb:LeadingKeys: ["W#*", "C#*"]"#,
        ),
        (
            "                Action: dynamodb:UpdateItem\n                Resource: !GetAtt StateTable.Arn\n                Condition:\n                  ForAllValues:StringLike:\n                    dynamodb:LeadingKeys: [\"E#*\"]",
            "                Action: [dynamodb:UpdateItem, dynamodb:GetItem]\n                Resource: !GetAtt StateTable.Arn\n                Condition:\n                  ForAllValues:StringLike:\n                    dynamodb:LeadingKeys: [\"E#*\"]",
        ),
        (
            "ForAllValues:StringLike:\n                    dynamodb:LeadingKeys: [\"W#*\"]",
            "ForAnyValue:StringLike:\n                    dynamodb:LeadingKeys: [\"W#*\"]",
        ),
    ] {
        assert!(
            text.contains(from),
            "the template no longer contains {from:?}"
        );
        let widened = Template::parse(&text.replacen(from, to, 1), "leadsync-local").unwrap();
        assert_ne!(
            grants(&widened, "IngressRole"),
            expected,
            "{to:?} went unnoticed"
        );
    }
}
