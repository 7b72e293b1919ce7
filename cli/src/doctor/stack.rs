//! leadsync itself: the table, the queues and the DLQ reachable; what each webhook route
//! received and answered in the last day (from the stack's metrics); the alarms wired to a
//! topic.

use std::collections::BTreeMap;

use leadsync::domain::clock::now_ms;

use super::report::Check;
use crate::stats::metrics::{Reading, StackMetrics};
use crate::target::{Target, queue_depth};

const AREA: &str = "leadsync";
/// How far back the webhook check looks.
const WINDOW_MS: i64 = 86_400_000;
/// The resolution of "last webhook".
const PERIOD_SECS: i32 = 300;

pub async fn checks(target: &Target) -> Vec<Check> {
    let aws = target.aws().await;
    let mut out = Vec::new();
    out.push(match target.table() {
        Err(e) => Check::fail(AREA, "leadsync.table", format!("{e:#}"), "pass --table or set LEADSYNC_TABLE"),
        Ok(table) => match aws_sdk_dynamodb::Client::new(&aws)
            .describe_table()
            .table_name(table)
            .send()
            .await
        {
            Ok(_) => Check::pass(AREA, "leadsync.table", format!("table {table} is reachable")),
            Err(e) => Check::fail(
                AREA,
                "leadsync.table",
                format!("table {table} is not reachable: {}", leadsync::support::error_line::error_line(&e)),
                "check the table name (the stack's StateTable output) and that your AWS credentials may dynamodb:DescribeTable",
            ),
        },
    });
    let sqs = aws_sdk_sqs::Client::new(&aws);
    for (name, url, parked) in [
        ("leadsync.queue", target.queue_url(), false),
        ("leadsync.dlq", target.dlq_url(), true),
    ] {
        out.push(match url {
            None => Check::skip(AREA, name, "not named: pass --queue-url / --dlq-url"),
            Some(url) => match queue_depth(&sqs, url).await {
                Ok(0) => Check::pass(AREA, name, format!("{} is reachable and empty", short(url))),
                Ok(n) if parked => Check::warn(
                    AREA,
                    name,
                    format!("{} holds {n} parked jobs", short(url)),
                    "see why with `leadsync dlq list`; replay with `leadsync dlq replay` once fixed",
                ),
                Ok(n) => Check::pass(AREA, name, format!("{} is reachable, {n} jobs waiting", short(url))),
                Err(e) => Check::fail(AREA, name, format!("{e:#}"), "check the queue URL and that your credentials may sqs:GetQueueAttributes"),
            },
        });
    }
    out.extend(webhooks(target, &aws).await);
    out.push(alarms(target, &aws).await);
    out
}

async fn webhooks(target: &Target, aws: &aws_config::SdkConfig) -> Vec<Check> {
    let (namespace, service) = match target.metrics() {
        Ok(m) => m,
        Err(e) => return vec![Check::skip(AREA, "leadsync.webhooks", format!("{e:#}"))],
    };
    let metrics = StackMetrics {
        client: aws_sdk_cloudwatch::Client::new(aws),
        namespace,
        service,
    };
    let end = now_ms();
    match metrics.read_every(end - WINDOW_MS, end, PERIOD_SECS).await {
        Ok(readings) => webhook_lines(&readings, end),
        Err(e) => vec![Check::fail(
            AREA,
            "leadsync.webhooks",
            format!("the stack's metrics could not be read: {e:#}"),
            "your credentials need cloudwatch:ListMetrics and cloudwatch:GetMetricData",
        )],
    }
}

/// One line per route's sender: what it received in the window, how much was refused, and when
/// the last one came.
pub fn webhook_lines(readings: &[Reading], now: i64) -> Vec<Check> {
    #[derive(Default)]
    struct Seen {
        received: f64,
        rejected: f64,
        last_ms: Option<i64>,
    }
    let mut by_source: BTreeMap<String, Seen> = BTreeMap::new();
    for sender in ["ghl", "meta"] {
        by_source.entry(sender.into()).or_default();
    }
    for r in readings.iter().filter(|r| r.stat == "Sum") {
        let seen = by_source.entry(r.dim("source").to_string()).or_default();
        match r.name.as_str() {
            "webhooks_received" => {
                seen.received += r.total().unwrap_or(0.0);
                let last = r
                    .points
                    .iter()
                    .filter(|(_, v)| *v > 0.0)
                    .map(|(t, _)| *t)
                    .max();
                seen.last_ms = seen.last_ms.max(last);
            }
            "webhooks_rejected" => seen.rejected += r.total().unwrap_or(0.0),
            _ => {}
        }
    }
    by_source
        .into_iter()
        .filter(|(source, _)| !source.is_empty() && source != "unknown")
        .map(|(source, s)| {
            let ago = s.last_ms.map(|t| ((now - t) / 60_000).max(0));
            match ago {
                None => Check::warn(
                    AREA,
                    "leadsync.webhooks",
                    format!("{source}: no webhook in the last 24 h"),
                    match source.as_str() {
                        "ghl" => "check the webhook URL in the GHL app or workflow (the stack's GhlWebhookUrl output); the backfill repairs what webhooks miss",
                        _ => "if Messenger/Instagram are used: `leadsync meta check`",
                    },
                ),
                Some(ago) if s.rejected > 0.0 => Check::warn(
                    AREA,
                    "leadsync.webhooks",
                    format!(
                        "{source}: {} webhooks in the last 24 h, {} refused; the last about {ago} min ago",
                        s.received, s.rejected
                    ),
                    "see the refusals' reasons: `leadsync stats` (webhooks by answer) and the ingress logs",
                ),
                Some(ago) => Check::pass(
                    AREA,
                    "leadsync.webhooks",
                    format!(
                        "{source}: {} webhooks in the last 24 h, none refused; the last about {ago} min ago",
                        s.received
                    ),
                ),
            }
        })
        .collect()
}

async fn alarms(target: &Target, aws: &aws_config::SdkConfig) -> Check {
    let name = "leadsync.alarms";
    let Target::Deployed(args) = target else {
        return Check::skip(
            AREA,
            name,
            "the local stack has no alarms (template.yaml deploys them)",
        );
    };
    let Some(stack) = &args.stack else {
        return Check::skip(AREA, name, "pass --stack NAME to check the stack's alarms");
    };
    let found = aws_sdk_cloudwatch::Client::new(aws)
        .describe_alarms()
        .alarm_name_prefix(stack.as_str())
        .send()
        .await;
    match found {
        Ok(answer) => {
            let wired: Vec<(String, bool)> = answer
                .metric_alarms()
                .iter()
                .map(|a| {
                    (
                        a.alarm_name().unwrap_or_default().to_string(),
                        !a.alarm_actions().is_empty(),
                    )
                })
                .collect();
            alarm_line(stack, &wired)
        }
        Err(e) => Check::fail(
            AREA,
            name,
            format!(
                "the alarms could not be read: {}",
                leadsync::support::error_line::error_line(&e)
            ),
            "your credentials need cloudwatch:DescribeAlarms",
        ),
    }
}

/// Whether every alarm of the stack notifies someone.
pub fn alarm_line(stack: &str, alarms: &[(String, bool)]) -> Check {
    let name = "leadsync.alarms";
    let silent: Vec<&str> = alarms
        .iter()
        .filter(|(_, w)| !w)
        .map(|(n, _)| n.as_str())
        .collect();
    if alarms.is_empty() {
        return Check::fail(
            AREA,
            name,
            format!("no alarm is named {stack}-…"),
            "deploy with template.yaml, which creates them",
        );
    }
    if silent.is_empty() {
        Check::pass(
            AREA,
            name,
            format!("{} alarms, each notifying a topic", alarms.len()),
        )
    } else {
        Check::fail(
            AREA,
            name,
            format!(
                "{} of {} alarms notify no one: {}",
                silent.len(),
                alarms.len(),
                silent.join(", ")
            ),
            "deploy with AlarmTopicArn set to an SNS topic someone reads",
        )
    }
}

fn short(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::report::Status;

    fn reading(name: &str, source: &str, points: &[(i64, f64)]) -> Reading {
        Reading {
            name: name.into(),
            dims: [("source".to_string(), source.to_string())].into(),
            stat: "Sum",
            points: points.to_vec(),
        }
    }

    #[test]
    fn each_sender_gets_a_line_with_its_count_refusals_and_last_webhook() {
        let now = 10 * 60_000;
        let lines = webhook_lines(
            &[
                reading("webhooks_received", "ghl", &[(0, 3.0), (5 * 60_000, 2.0)]),
                reading("webhooks_rejected", "ghl", &[(5 * 60_000, 1.0)]),
            ],
            now,
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].status, Status::Warn);
        assert_eq!(
            lines[0].summary,
            "ghl: 5 webhooks in the last 24 h, 1 refused; the last about 5 min ago"
        );
        assert_eq!(lines[1].status, Status::Warn);
        assert_eq!(lines[1].summary, "meta: no webhook in the last 24 h");
    }

    #[test]
    fn an_alarm_without_an_action_fails_the_check() {
        let ok = alarm_line("s", &[("s-dlq".into(), true)]);
        assert_eq!(ok.status, Status::Pass);
        let silent = alarm_line("s", &[("s-dlq".into(), true), ("s-drift".into(), false)]);
        assert_eq!(silent.status, Status::Fail);
        assert!(silent.summary.contains("s-drift"));
        assert_eq!(alarm_line("s", &[]).status, Status::Fail);
    }
}
