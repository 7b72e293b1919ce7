//! Injected Graph failures: "the next N calls whose path contains X fail with code C". Each
//! `POST /_sandbox/meta/faults` adds one rule, so a test can throttle the Conversations API and
//! break a profile at the same time; rules are used up in the order they were added.

use serde::{Deserialize, Serialize};

use crate::meta::graph_error::{FAULT_CODES, GraphError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultRule {
    pub code: u32,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_contains: Option<String>,
    /// `estimated_time_to_regain_access` on throttling errors, in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regain_minutes: Option<u32>,
}

fn one() -> u32 {
    1
}

impl FaultRule {
    pub fn validate(&self) -> Result<(), String> {
        if !FAULT_CODES.contains(&self.code) {
            return Err(format!("code must be one of {FAULT_CODES:?}"));
        }
        if self.count == 0 {
            return Err("count must be at least 1".to_owned());
        }
        Ok(())
    }
}

#[derive(Default)]
pub(crate) struct MetaFaults {
    rules: Vec<FaultRule>,
}

impl MetaFaults {
    pub fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    /// The rules still pending, with their remaining counts.
    pub fn pending(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    /// Uses up one call of the first rule matching `path`, and answers its error.
    pub fn take(&mut self, path: &str) -> Option<GraphError> {
        let index = self.rules.iter().position(|r| {
            r.path_contains
                .as_deref()
                .is_none_or(|part| path.contains(part))
        })?;
        let rule = &mut self.rules[index];
        rule.count -= 1;
        let error = GraphError::for_fault(rule.code, rule.regain_minutes.unwrap_or(0));
        if rule.count == 0 {
            self.rules.remove(index);
        }
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> FaultRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rules_fire_count_times_on_matching_paths_only() {
        let mut faults = MetaFaults::default();
        faults.add(rule(
            r#"{"code": 80006, "count": 2, "path_contains": "/conversations"}"#,
        ));
        assert!(faults.take("/v26.0/2400000000000001").is_none());
        assert_eq!(faults.take("/v26.0/1/conversations").unwrap().code, 80006);
        assert_eq!(faults.take("/v26.0/1/conversations").unwrap().code, 80006);
        assert!(faults.take("/v26.0/1/conversations").is_none());
    }

    #[test]
    fn unknown_codes_and_keys_are_refused() {
        assert!(rule(r#"{"code": 12}"#).validate().is_err());
        assert!(rule(r#"{"code": 4, "count": 0}"#).validate().is_err());
        assert!(serde_json::from_str::<FaultRule>(r#"{"code": 4, "cnt": 1}"#).is_err());
    }
}
