//! What template.yaml lets in at the edge: per-route throttling, access logs that keep no body,
//! header or query string, and the optional AWS WAF, which exists only when turned on.

use std::collections::BTreeSet;

use serde_yaml::Value;

use super::least_privilege::{list, tagged, template};

#[test]
fn the_edge_firewall_exists_only_when_turned_on_and_is_off_by_default() {
    let t = template();
    assert_eq!(t.params.get("EdgeWaf").and_then(Value::as_str), Some("off"));
    let cond = tagged(&t.doc["Conditions"]["UseEdgeWaf"], "Equals")
        .and_then(Value::as_sequence)
        .expect("UseEdgeWaf: !Equals [...]");
    assert_eq!(
        tagged(&cond[0], "Ref").and_then(Value::as_str),
        Some("EdgeWaf")
    );
    assert_eq!(cond[1].as_str(), Some("on"));
    let edge: Vec<&str> = t
        .resources()
        .filter(|(_, r)| {
            let ty = r["Type"].as_str().unwrap_or_default();
            ty.starts_with("AWS::WAFv2::") || ty.starts_with("AWS::CloudFront::")
        })
        .map(|(id, r)| {
            assert_eq!(r["Condition"].as_str(), Some("UseEdgeWaf"), "{id}");
            id
        })
        .collect();
    assert_eq!(edge, ["EdgeWebAcl", "EdgeDistribution"]);
    for (id, o) in t.doc["Outputs"].as_mapping().unwrap() {
        if serde_yaml::to_string(o)
            .unwrap()
            .contains("EdgeDistribution")
        {
            assert_eq!(o["Condition"].as_str(), Some("UseEdgeWaf"), "{id:?}");
        }
    }
    // The web ACL is CloudFront's (AWS WAF cannot be attached to an HTTP API), sheds unsigned
    // floods per IP, and keeps no sampled requests (they would hold the workflow secret).
    let acl = &t.doc["Resources"]["EdgeWebAcl"]["Properties"];
    assert_eq!(acl["Scope"].as_str(), Some("CLOUDFRONT"));
    let rule = &list(acl.get("Rules"))[0];
    assert!(rule["Action"].get("Block").is_some());
    let rate = &rule["Statement"]["RateBasedStatement"];
    assert_eq!(rate["AggregateKeyType"].as_str(), Some("IP"));
    assert!(rate["ScopeDownStatement"].get("NotStatement").is_some());
    for visibility in [&acl["VisibilityConfig"], &rule["VisibilityConfig"]] {
        assert_eq!(visibility["SampledRequestsEnabled"].as_bool(), Some(false));
    }
}

#[test]
fn every_webhook_route_has_its_own_throttle() {
    let t = template();
    let api = &t.doc["Resources"]["HttpApi"]["Properties"];
    let settings = api["RouteSettings"].as_mapping().expect("RouteSettings");
    let throttled: BTreeSet<String> = settings
        .iter()
        .map(|(route, s)| {
            let route = route.as_str().unwrap().to_string();
            assert!(s.get("ThrottlingBurstLimit").is_some(), "{route}: burst");
            assert!(s.get("ThrottlingRateLimit").is_some(), "{route}: rate");
            route
        })
        .collect();
    let routes: BTreeSet<String> = super::events(&t.doc["Resources"]["IngressFunction"])
        .filter(|e| e["Type"].as_str() == Some("HttpApi"))
        .map(|e| {
            let p = &e["Properties"];
            format!(
                "{} {}",
                p["Method"].as_str().unwrap(),
                p["Path"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(throttled, routes);
}

#[test]
fn the_access_log_is_json_without_body_header_or_query_string() {
    let t = template();
    let settings = &t.doc["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    assert_eq!(
        tagged(&settings["DestinationArn"], "GetAtt").and_then(Value::as_str),
        Some("HttpApiAccessLogGroup.Arn")
    );
    assert!(
        t.doc["Resources"]["HttpApiAccessLogGroup"]["Properties"]
            .get("RetentionInDays")
            .is_some()
    );
    let format = settings["Format"].as_str().expect("a literal format");
    let line: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(format).expect("the format is a JSON object");
    // Exactly these variables: `$context.path` and friends would log the Meta handshake's query
    // string (its verify token); `$request.*`, `$input.*` would log headers or the body.
    let variables: BTreeSet<&str> = line
        .values()
        .map(|v| v.as_str().expect("every value is one variable"))
        .collect();
    assert_eq!(
        variables,
        BTreeSet::from([
            "$context.requestId",
            "$context.requestTime",
            "$context.routeKey",
            "$context.status",
            "$context.responseLength",
            "$context.responseLatency",
            "$context.integrationStatus",
            "$context.integrationLatency",
            "$context.error.message",
            "$context.integrationErrorMessage",
            "$context.protocol",
            "$context.identity.sourceIp",
            "$context.identity.userAgent",
        ])
    );
}
