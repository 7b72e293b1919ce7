//! CloudWatch Embedded Metric Format: the limits one document must keep, kept by splitting, and a
//! check of the specification for the tests.
//!
//! CloudWatch drops a document with more than 100 metrics, or a metric with more than 100 values
//! (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
//! The collector writes one document per label set with every metric of that set, so more than
//! 100 metrics in a set would be refused; [`Limited`] splits such a document into several that
//! repeat its dimensions and properties (values beyond 100 are split the same way). The
//! collector itself keeps at most 100 values of a histogram between two flushes and drops the
//! rest with an error log; leadsync flushes after every invocation, whose batches hold 10 records.

use std::io::Write;

use serde_json::{Map, Value};

pub const MAX_METRICS: usize = 100;
pub const MAX_VALUES: usize = 100;
pub const MAX_DIMENSIONS: usize = 30;
const MAX_NAME_LEN: usize = 255;
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Splits `doc` into documents within the limits; one within them comes back as it is.
pub fn split(doc: Value) -> Vec<Value> {
    let Some(defs) = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .cloned()
    else {
        return vec![doc];
    };
    let values = |name: &str| -> Vec<Value> {
        match doc.get(name) {
            Some(Value::Array(v)) => v.clone(),
            Some(v) => vec![v.clone()],
            None => Vec::new(),
        }
    };
    let too_many_values = defs
        .iter()
        .any(|d| values(d["Name"].as_str().unwrap_or_default()).len() > MAX_VALUES);
    if defs.len() <= MAX_METRICS && !too_many_values {
        return vec![doc];
    }
    // Round r carries each metric's r-th slice of 100 values, in groups of 100 metrics.
    let sliced: Vec<(Value, Vec<Vec<Value>>)> = defs
        .iter()
        .map(|d| {
            let name = d["Name"].as_str().unwrap_or_default();
            (
                d.clone(),
                values(name)
                    .chunks(MAX_VALUES)
                    .map(<[Value]>::to_vec)
                    .collect(),
            )
        })
        .collect();
    let rounds = sliced.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
    let mut out = Vec::new();
    for r in 0..rounds {
        let present: Vec<&(Value, Vec<Vec<Value>>)> =
            sliced.iter().filter(|(_, s)| s.len() > r).collect();
        for group in present.chunks(MAX_METRICS) {
            let mut piece = doc.clone();
            let obj = piece.as_object_mut().expect("an EMF document is an object");
            for (d, _) in &sliced {
                obj.remove(d["Name"].as_str().unwrap_or_default());
            }
            let mut defs = Vec::with_capacity(group.len());
            for (d, slices) in group {
                let name = d["Name"].as_str().unwrap_or_default().to_string();
                let value = match slices[r].as_slice() {
                    [one] => one.clone(),
                    many => Value::Array(many.to_vec()),
                };
                obj.insert(name, value);
                defs.push(d.clone());
            }
            piece["_aws"]["CloudWatchMetrics"][0]["Metrics"] = Value::Array(defs);
            out.push(piece);
        }
    }
    out
}

/// The collector's output (one JSON document per line) passed on to `inner`, each document split
/// to the limits. A line that is not JSON is passed on as it is.
pub struct Limited<W: Write> {
    inner: W,
    line: Vec<u8>,
}

impl<W: Write> Limited<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            line: Vec::new(),
        }
    }

    fn emit(&mut self, line: &[u8]) -> std::io::Result<()> {
        match serde_json::from_slice::<Value>(line) {
            Ok(doc) => {
                for piece in split(doc) {
                    serde_json::to_writer(&mut self.inner, &piece)?;
                    self.inner.write_all(b"\n")?;
                }
                Ok(())
            }
            Err(_) => {
                self.inner.write_all(line)?;
                self.inner.write_all(b"\n")
            }
        }
    }
}

impl<W: Write> Write for Limited<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        while let Some(end) = self.line.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.line.drain(..=end).collect();
            self.emit(&line[..line.len() - 1])?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.emit(&line)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Limited<W> {
    fn drop(&mut self) {
        let _ = Write::flush(self);
    }
}

/// Why `doc` is not a valid EMF document, if it is not: structure, limits, units, and every
/// named dimension and metric present as a member.
pub fn validate(doc: &Value) -> Result<(), String> {
    let obj = doc.as_object().ok_or("not a JSON object")?;
    let aws = obj
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object")?;
    let ts = aws
        .get("Timestamp")
        .and_then(Value::as_u64)
        .ok_or("_aws.Timestamp is not epoch ms")?;
    if ts < 1_000_000_000_000 {
        return Err(format!("_aws.Timestamp {ts} is not in milliseconds"));
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or("_aws.CloudWatchMetrics is not a non-empty array")?;
    for d in directives {
        let ns = d["Namespace"]
            .as_str()
            .ok_or("a directive without Namespace")?;
        if ns.is_empty() || ns.len() > MAX_NAME_LEN {
            return Err(format!("namespace {ns:?} is empty or too long"));
        }
        let sets = d["Dimensions"]
            .as_array()
            .ok_or("Dimensions is not an array")?;
        for set in sets {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > MAX_DIMENSIONS {
                return Err(format!(
                    "{} dimensions in one set; the limit is {MAX_DIMENSIONS}",
                    set.len()
                ));
            }
            for name in set {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                if !obj.get(name).is_some_and(Value::is_string) {
                    return Err(format!("dimension {name:?} has no string member"));
                }
            }
        }
        let metrics = d["Metrics"].as_array().ok_or("Metrics is not an array")?;
        if metrics.len() > MAX_METRICS {
            return Err(format!(
                "{} metrics in one document; the limit is {MAX_METRICS}",
                metrics.len()
            ));
        }
        for m in metrics {
            check_metric(obj, m)?;
        }
    }
    Ok(())
}

fn check_metric(obj: &Map<String, Value>, m: &Value) -> Result<(), String> {
    let name = m["Name"].as_str().ok_or("a metric without Name")?;
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("metric name {name:?} is empty or too long"));
    }
    if let Some(unit) = m.get("Unit") {
        let unit = unit.as_str().ok_or("Unit is not a string")?;
        if !UNITS.contains(&unit) {
            return Err(format!("{name}: unit {unit:?} is not a CloudWatch unit"));
        }
    }
    let values = match obj.get(name) {
        Some(Value::Array(v)) => v.clone(),
        Some(v) => vec![v.clone()],
        None => return Err(format!("metric {name} has no member")),
    };
    if values.len() > MAX_VALUES {
        return Err(format!(
            "{name} holds {} values; the limit is {MAX_VALUES}",
            values.len()
        ));
    }
    if values
        .iter()
        .any(|v| !v.as_f64().is_some_and(f64::is_finite))
    {
        return Err(format!("{name} holds a value that is not a finite number"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(metrics: usize, values: usize) -> Value {
        let mut d = json!({"_aws": {"Timestamp": 1_795_428_000_000_u64, "CloudWatchMetrics": [
            {"Namespace": "leadsync", "Dimensions": [["service", "function"]], "Metrics": []}]},
            "service": "leadsync", "function": "consumer", "RequestId": "r-1"});
        for i in 0..metrics {
            let name = format!("m{i}");
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array_mut()
                .unwrap()
                .push(json!({"Name": name, "Unit": "Milliseconds"}));
            d[name.as_str()] = if values == 1 {
                json!(1.5)
            } else {
                Value::Array((0..values).map(|v| json!(v as f64)).collect())
            };
        }
        d
    }

    #[test]
    fn a_document_within_the_limits_is_kept_as_it_is() {
        let d = doc(3, 5);
        assert_eq!(validate(&d), Ok(()));
        assert_eq!(split(d.clone()), vec![d]);
    }

    #[test]
    fn too_many_metrics_or_values_are_split_into_valid_documents_that_lose_nothing() {
        for (metrics, values) in [(250, 1), (2, 340), (150, 120)] {
            let d = doc(metrics, values);
            assert!(validate(&d).is_err(), "{metrics} × {values} breaks a limit");
            let pieces = split(d);
            let mut seen = std::collections::BTreeMap::<String, usize>::new();
            for p in &pieces {
                assert_eq!(validate(p), Ok(()), "{metrics} × {values}");
                assert_eq!(p["RequestId"], "r-1", "properties are repeated");
                for m in p["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .unwrap()
                {
                    let name = m["Name"].as_str().unwrap();
                    let n = p[name].as_array().map_or(1, Vec::len);
                    *seen.entry(name.to_string()).or_default() += n;
                }
            }
            assert_eq!(seen.len(), metrics);
            assert!(seen.values().all(|n| *n == values), "every value kept once");
        }
    }

    #[test]
    fn the_writer_splits_line_by_line_and_passes_other_text_on() {
        let mut out = Vec::new();
        {
            let mut w = Limited::new(&mut out);
            let big = serde_json::to_string(&doc(1, 250)).unwrap();
            let small = serde_json::to_string(&doc(1, 1)).unwrap();
            let text = format!("{big}\n{small}\nnot json\n");
            // Written in odd pieces, as a serializer does.
            for chunk in text.as_bytes().chunks(7) {
                w.write_all(chunk).unwrap();
            }
        }
        let lines: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
        assert_eq!(
            lines.len(),
            3 + 1 + 1,
            "250 values → 3 documents, then 1, then the text"
        );
        assert_eq!(lines[4], "not json");
        for l in &lines[..4] {
            assert_eq!(validate(&serde_json::from_str(l).unwrap()), Ok(()));
        }
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let mut d = doc(1, 1);
        d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Millis");
        assert!(validate(&d).unwrap_err().contains("unit"));
        let mut d = doc(1, 1);
        d.as_object_mut().unwrap().remove("function");
        assert!(validate(&d).unwrap_err().contains("function"));
        let mut d = doc(1, 1);
        d["_aws"]["Timestamp"] = json!(1_795_428_000_u64);
        assert!(validate(&d).unwrap_err().contains("milliseconds"));
    }
}
