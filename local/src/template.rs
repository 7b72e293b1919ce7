//! Reads template.yaml and provisions the same DynamoDB tables and SQS queues in moto, so the
//! local stack cannot drift from what `sam deploy` creates. It also reads the wiring the local
//! stack imitates: the HTTP API routes and the consumer's SQS event source settings.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_yaml::Value;

pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = leadsync::aws::local::LOCAL_REGION;

/// The template with its parameters' defaults, resolved for one stack name.
pub struct Template {
    doc: Value,
    params: HashMap<String, Value>,
    stack: String,
}

/// What the local stack needs to know about the provisioned resources.
#[derive(Debug, Clone)]
pub struct Resources {
    pub table: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub routes: Vec<(String, String)>,
    pub batch_size: usize,
    pub batching_window_secs: u64,
    pub max_concurrency: usize,
    pub consumer_timeout_secs: u64,
    pub max_receive_count: u32,
    /// The backfill function's name, as `leadsync backfill run` invokes it.
    pub backfill_function: String,
    pub backfill_timeout_secs: u64,
    /// Where the functions' metrics go: `POWERTOOLS_METRICS_NAMESPACE` and
    /// `POWERTOOLS_SERVICE_NAME` of the template's global environment.
    pub metrics_namespace: String,
    pub metrics_service: String,
}

impl Template {
    pub fn load(path: &Path, stack: &str) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text, stack)
    }

    pub fn parse(text: &str, stack: &str) -> Result<Self> {
        let doc: Value = serde_yaml::from_str(text).context("template.yaml is not YAML")?;
        let mut params = HashMap::new();
        if let Some(Value::Mapping(ps)) = doc.get("Parameters") {
            for (name, p) in ps {
                if let (Some(name), Some(default)) = (name.as_str(), p.get("Default")) {
                    params.insert(name.to_string(), default.clone());
                }
            }
        }
        Ok(Self {
            doc,
            params,
            stack: stack.to_string(),
        })
    }

    fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
    }

    fn of_type<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources()
            .filter(move |(_, r)| r.get("Type").and_then(Value::as_str) == Some(ty))
    }

    fn resource(&self, logical_id: &str) -> Result<&Value> {
        self.resources()
            .find(|(id, _)| *id == logical_id)
            .map(|(_, r)| r)
            .ok_or_else(|| anyhow!("template.yaml has no resource {logical_id}"))
    }

    /// The local name of a queue: its `QueueName`, or `<stack>-<LogicalId>` as CloudFormation
    /// would generate (without the random suffix).
    pub fn queue_name(&self, logical_id: &str) -> Result<String> {
        let r = self.resource(logical_id)?;
        match r.get("Properties").and_then(|p| p.get("QueueName")) {
            Some(v) => self.string(v),
            None => Ok(format!("{}-{}", self.stack, logical_id)),
        }
    }

    /// Resolves `!Ref`, `!Sub` and `!GetAtt X.Arn` as far as local provisioning needs.
    pub fn resolve(&self, v: &Value) -> Result<Value> {
        let Value::Tagged(t) = v else {
            return Ok(v.clone());
        };
        let arg = t.value.as_str().unwrap_or_default();
        match t.tag.to_string().trim_start_matches('!') {
            "Ref" => match arg {
                "AWS::StackName" => Ok(Value::String(self.stack.clone())),
                "AWS::Region" => Ok(Value::String(REGION.into())),
                "AWS::AccountId" => Ok(Value::String(ACCOUNT_ID.into())),
                p => self
                    .params
                    .get(p)
                    .cloned()
                    .ok_or_else(|| anyhow!("!Ref {p}: not a parameter with a default")),
            },
            "Sub" => {
                let mut out = arg.to_string();
                for (name, value) in [
                    ("AWS::StackName", self.stack.clone()),
                    ("AWS::Region", REGION.to_string()),
                    ("AWS::AccountId", ACCOUNT_ID.to_string()),
                ] {
                    out = out.replace(&format!("${{{name}}}"), &value);
                }
                for (name, value) in &self.params {
                    if let Ok(v) = self.scalar(value) {
                        out = out.replace(&format!("${{{name}}}"), &v);
                    }
                }
                Ok(Value::String(out))
            }
            "GetAtt" => {
                let (id, attr) = arg
                    .split_once('.')
                    .ok_or_else(|| anyhow!("!GetAtt {arg}"))?;
                match (self.resource(id)?.get("Type").and_then(Value::as_str), attr) {
                    (Some("AWS::SQS::Queue"), "Arn") => Ok(Value::String(format!(
                        "arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{}",
                        self.queue_name(id)?
                    ))),
                    _ => bail!("!GetAtt {arg} is not supported locally"),
                }
            }
            other => bail!("!{other} is not supported locally"),
        }
    }

    fn scalar(&self, v: &Value) -> Result<String> {
        match self.resolve(v)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => bail!("expected a scalar, got {other:?}"),
        }
    }

    fn string(&self, v: &Value) -> Result<String> {
        self.scalar(v)
    }

    fn number(&self, v: Option<&Value>, default: u64) -> Result<u64> {
        match v {
            None => Ok(default),
            Some(v) => self.scalar(v)?.parse().context("expected a number"),
        }
    }

    /// Creates every table and queue of the template in the AWS endpoint `aws` points at.
    pub async fn provision(&self, aws: &SdkConfig) -> Result<Resources> {
        let ddb = aws_sdk_dynamodb::Client::new(aws);
        let mut table = None;
        for (id, r) in self.of_type("AWS::DynamoDB::Table") {
            let name = self.create_table(&ddb, id, r).await?;
            if id == "StateTable" {
                table = Some(name);
            }
        }
        let sqs = aws_sdk_sqs::Client::new(aws);
        let mut urls = HashMap::new();
        // Queues without a redrive policy first: the others point at them.
        let mut queues: Vec<_> = self.of_type("AWS::SQS::Queue").collect();
        queues.sort_by_key(|(_, r)| {
            r.get("Properties")
                .and_then(|p| p.get("RedrivePolicy"))
                .is_some()
        });
        for (id, r) in queues {
            urls.insert(id.to_string(), self.create_queue(&sqs, id, r).await?);
        }
        let url = |id: &str| {
            urls.get(id)
                .cloned()
                .ok_or_else(|| anyhow!("template.yaml has no queue {id}"))
        };
        let consumer = self.resource("ConsumerFunction")?;
        let sqs_event = events(consumer)
            .find(|e| e.get("Type").and_then(Value::as_str) == Some("SQS"))
            .and_then(|e| e.get("Properties"))
            .ok_or_else(|| anyhow!("ConsumerFunction has no SQS event"))?;
        let max_receive = self
            .resource("JobQueue")?
            .get("Properties")
            .and_then(|p| p.get("RedrivePolicy"))
            .and_then(|r| r.get("maxReceiveCount"));
        let backfill = self
            .resource("BackfillFunction")?
            .get("Properties")
            .ok_or_else(|| anyhow!("BackfillFunction has no Properties"))?;
        let ingress = self.resource("IngressFunction")?;
        let mut routes = Vec::new();
        for e in
            events(ingress).filter(|e| e.get("Type").and_then(Value::as_str) == Some("HttpApi"))
        {
            let p = e
                .get("Properties")
                .ok_or_else(|| anyhow!("HttpApi event without Properties"))?;
            let method = p
                .get("Method")
                .map(|m| self.string(m))
                .transpose()?
                .unwrap_or_else(|| "ANY".into());
            let path = p
                .get("Path")
                .map(|m| self.string(m))
                .transpose()?
                .unwrap_or_else(|| "/".into());
            routes.push((method.to_uppercase(), path));
        }
        let global = |name: &str| {
            let v = self
                .doc
                .get("Globals")
                .and_then(|g| g.get("Function"))
                .and_then(|f| f.get("Environment"))
                .and_then(|e| e.get("Variables"))
                .and_then(|vars| vars.get(name))
                .ok_or_else(|| anyhow!("template.yaml: Globals sets no {name}"))?;
            self.string(v)
        };
        Ok(Resources {
            metrics_namespace: global("POWERTOOLS_METRICS_NAMESPACE")?,
            metrics_service: global("POWERTOOLS_SERVICE_NAME")?,
            table: table.ok_or_else(|| anyhow!("template.yaml has no StateTable"))?,
            queue_arn: format!(
                "arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{}",
                self.queue_name("JobQueue")?
            ),
            queue_url: url("JobQueue")?,
            dlq_url: url("JobDeadLetterQueue")?,
            routes,
            batch_size: self.number(sqs_event.get("BatchSize"), 10)? as usize,
            batching_window_secs: self
                .number(sqs_event.get("MaximumBatchingWindowInSeconds"), 0)?,
            max_concurrency: self.number(
                sqs_event
                    .get("ScalingConfig")
                    .and_then(|s| s.get("MaximumConcurrency")),
                2,
            )? as usize,
            consumer_timeout_secs: self.number(
                consumer.get("Properties").and_then(|p| p.get("Timeout")),
                self.number(
                    self.doc
                        .get("Globals")
                        .and_then(|g| g.get("Function"))
                        .and_then(|f| f.get("Timeout")),
                    3,
                )?,
            )?,
            max_receive_count: self.number(max_receive, 0)? as u32,
            backfill_function: self.string(field(backfill, "FunctionName")?)?,
            backfill_timeout_secs: self.number(backfill.get("Timeout"), 3)?,
        })
    }

    async fn create_table(
        &self,
        ddb: &aws_sdk_dynamodb::Client,
        id: &str,
        r: &Value,
    ) -> Result<String> {
        let p = r
            .get("Properties")
            .ok_or_else(|| anyhow!("{id} has no Properties"))?;
        let name = self.string(
            p.get("TableName")
                .ok_or_else(|| anyhow!("{id} has no TableName"))?,
        )?;
        let mut req = ddb
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest);
        for a in seq(p.get("AttributeDefinitions")) {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(self.string(field(a, "AttributeName")?)?)
                    .attribute_type(ScalarAttributeType::from(
                        self.string(field(a, "AttributeType")?)?.as_str(),
                    ))
                    .build()?,
            );
        }
        for k in key_schema(self, p.get("KeySchema"))? {
            req = req.key_schema(k);
        }
        for g in seq(p.get("GlobalSecondaryIndexes")) {
            let projection = g.get("Projection").and_then(|p| p.get("ProjectionType"));
            let projection = match projection {
                Some(v) => ProjectionType::from(self.string(v)?.as_str()),
                None => ProjectionType::All,
            };
            let mut shown = Projection::builder().projection_type(projection);
            for a in seq(g.get("Projection").and_then(|p| p.get("NonKeyAttributes"))) {
                shown = shown.non_key_attributes(self.string(a)?);
            }
            let mut gsi = GlobalSecondaryIndex::builder()
                .index_name(self.string(field(g, "IndexName")?)?)
                .projection(shown.build());
            for k in key_schema(self, g.get("KeySchema"))? {
                gsi = gsi.key_schema(k);
            }
            req = req.global_secondary_indexes(gsi.build()?);
        }
        match req.send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_in_use_exception()) =>
            {
                return Ok(name);
            }
            Err(e) => {
                return Err(anyhow!(leadsync::support::error_line::error_line(&e)));
            }
        }
        if let Some(ttl) = p.get("TimeToLiveSpecification") {
            ddb.update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(self.string(field(ttl, "AttributeName")?)?)
                        .enabled(self.string(field(ttl, "Enabled")?)? == "true")
                        .build()?,
                )
                .send()
                .await
                .map_err(|e| anyhow!(leadsync::support::error_line::error_line(&e)))?;
        }
        Ok(name)
    }

    async fn create_queue(&self, sqs: &aws_sdk_sqs::Client, id: &str, r: &Value) -> Result<String> {
        let name = self.queue_name(id)?;
        let mut req = sqs.create_queue().queue_name(&name);
        if let Some(p) = r.get("Properties") {
            for (prop, attr) in [
                ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
                (
                    "MessageRetentionPeriod",
                    QueueAttributeName::MessageRetentionPeriod,
                ),
                ("DelaySeconds", QueueAttributeName::DelaySeconds),
                (
                    "ReceiveMessageWaitTimeSeconds",
                    QueueAttributeName::ReceiveMessageWaitTimeSeconds,
                ),
                ("MaximumMessageSize", QueueAttributeName::MaximumMessageSize),
            ] {
                if let Some(v) = p.get(prop) {
                    req = req.attributes(attr, self.scalar(v)?);
                }
            }
            if let Some(rp) = p.get("RedrivePolicy") {
                let policy = serde_json::json!({
                    "deadLetterTargetArn": self.string(field(rp, "deadLetterTargetArn")?)?,
                    "maxReceiveCount": self.scalar(field(rp, "maxReceiveCount")?)?.parse::<u32>()?,
                });
                req = req.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
            }
        }
        let out = req
            .send()
            .await
            .map_err(|e| anyhow!(leadsync::support::error_line::error_line(&e)))?;
        out.queue_url
            .ok_or_else(|| anyhow!("moto returned no URL for {name}"))
    }
}

fn events(function: &Value) -> impl Iterator<Item = &Value> {
    function
        .get("Properties")
        .and_then(|p| p.get("Events"))
        .and_then(Value::as_mapping)
        .into_iter()
        .flat_map(|m| m.values())
}

fn seq(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_sequence).into_iter().flatten()
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value> {
    v.get(name).ok_or_else(|| anyhow!("missing {name}"))
}

fn key_schema(t: &Template, v: Option<&Value>) -> Result<Vec<KeySchemaElement>> {
    seq(v)
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(t.string(field(k, "AttributeName")?)?)
                .key_type(KeyType::from(t.string(field(k, "KeyType")?)?.as_str()))
                .build()?)
        })
        .collect()
}

#[cfg(test)]
mod edge;
#[cfg(test)]
mod least_privilege;

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        Template::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
            "leadsync-local",
        )
        .unwrap()
    }

    #[test]
    fn the_ingress_time_limits_leave_half_the_function_timeout_spare() {
        // GHL waits as long as the function may run (10 s) and retries only a 429: ingress must
        // answer on its own, with room for a cold start and verification, before either ends.
        let timeout = template().doc["Resources"]["IngressFunction"]["Properties"]["Timeout"]
            .as_u64()
            .expect("IngressFunction sets its Timeout");
        let limits = leadsync::app::INGRESS_TIME_LIMITS;
        assert!(
            limits.total * 2 <= std::time::Duration::from_secs(timeout),
            "{limits:?} against a {timeout} s timeout"
        );
        assert!(limits.per_call < limits.total);
    }

    #[test]
    fn resolves_the_intrinsics_the_resources_use() {
        let t = template();
        let sub: Value = serde_yaml::from_str("!Sub ${AWS::StackName}-state").unwrap();
        assert_eq!(
            t.resolve(&sub).unwrap(),
            Value::String("leadsync-local-state".into())
        );
        let get_att: Value = serde_yaml::from_str("!GetAtt JobDeadLetterQueue.Arn").unwrap();
        assert_eq!(
            t.resolve(&get_att).unwrap(),
            Value::String(
                "arn:aws:sqs:us-east-1:123456789012:leadsync-local-JobDeadLetterQueue".into()
            )
        );
        let r: Value = serde_yaml::from_str("!Ref MaxReceiveCount").unwrap();
        assert_eq!(t.scalar(&r).unwrap(), "5");
    }
}
