//! What `leadsync doctor` found: one line per assumption, each passed, warned, failed or not
//! checked, with the exact fix; and what it learned about the accounts, as configuration.

use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    /// Works, but something deserves a look (a tag no contact carries, a budget running low).
    Warn,
    Fail,
    /// Not checked: nothing configured to check, or an earlier failure keeps it from being
    /// reached.
    Skip,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Status::Pass => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
            Status::Skip => "-",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `ghl`, `calltools`, `meta` or `leadsync`.
    pub area: &'static str,
    /// A stable name for scripts: `calltools.phone_field`, `ghl.tag`, …
    pub name: &'static str,
    pub status: Status,
    /// What was found, in one line. Never a secret, a phone, an email or a name.
    pub summary: String,
    /// What to do about a warning or a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(area: &'static str, name: &'static str, summary: impl Into<String>) -> Self {
        Self::new(area, name, Status::Pass, summary, None)
    }

    pub fn skip(area: &'static str, name: &'static str, summary: impl Into<String>) -> Self {
        Self::new(area, name, Status::Skip, summary, None)
    }

    pub fn warn(
        area: &'static str,
        name: &'static str,
        summary: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(area, name, Status::Warn, summary, Some(fix.into()))
    }

    pub fn fail(
        area: &'static str,
        name: &'static str,
        summary: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(area, name, Status::Fail, summary, Some(fix.into()))
    }

    fn new(
        area: &'static str,
        name: &'static str,
        status: Status,
        summary: impl Into<String>,
        fix: Option<String>,
    ) -> Self {
        Self {
            area,
            name,
            status,
            summary: summary.into(),
            fix,
        }
    }
}

/// What the checks learned about the accounts that configuration should say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Learned {
    /// `merge` or `lookup` (`CallToolsDuplicateMode`), from the probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_mode: Option<&'static str>,
    /// `inline` or `bucket_patch`: how the account places a contact in a bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<&'static str>,
    /// Where the account lists its buckets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_listing: Option<&'static str>,
    /// `honoured` or `ignored`: whether the contact listing's bucket filter works
    /// (`CallToolsBucketFilter`); `ignored` when doctor cannot tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_filter: Option<&'static str>,
    /// A phone slug the account has, when the configured one is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_field: Option<String>,
    /// The rules with every bucket given by id (`LeadsyncRules`), when some were by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Value>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    pub learned: Learned,
}

impl Report {
    pub fn push(&mut self, check: Check) {
        self.checks.push(check);
    }

    pub fn extend(&mut self, checks: impl IntoIterator<Item = Check>) {
        self.checks.extend(checks);
    }

    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }

    /// The first check named `name`, for tests and scripts.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut area = "";
        for c in &self.checks {
            if c.area != area {
                area = c.area;
                out.push_str(&format!("\n{}\n", title(area)));
            }
            out.push_str(&format!("  {} {}\n", c.status.mark(), c.summary));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("      fix: {fix}\n"));
            }
        }
        let count = |s: Status| self.checks.iter().filter(|c| c.status == s).count();
        out.push_str(&format!(
            "\n{} passed, {} warnings, {} failed, {} not checked\n",
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail),
            count(Status::Skip)
        ));
        out
    }

    pub fn to_json(&self) -> Value {
        json!(self)
    }

    /// `parameter_overrides` for `samconfig.toml` with what was learned (SAM's `Key=Value`
    /// form; the rules JSON is quoted as SAM expects).
    pub fn parameter_overrides(&self) -> Vec<String> {
        let l = &self.learned;
        let mut out = Vec::new();
        if let Some(mode) = l.duplicate_mode {
            out.push(format!("CallToolsDuplicateMode={mode}"));
        }
        if let Some(filter) = l.bucket_filter {
            out.push(format!("CallToolsBucketFilter={filter}"));
        }
        if let Some(slug) = &l.phone_field {
            out.push(format!("CallToolsPhoneField={slug}"));
        }
        if let Some(slug) = &l.email_field {
            out.push(format!("CallToolsEmailField={slug}"));
        }
        if let Some(rules) = &l.rules {
            let text = rules.to_string().replace('\\', "\\\\").replace('"', "\\\"");
            out.push(format!("LeadsyncRules=\"{text}\""));
        }
        out
    }
}

fn title(area: &str) -> &'static str {
    match area {
        "ghl" => "GoHighLevel",
        "calltools" => "CallTools",
        "meta" => "Messenger / Instagram",
        _ => "leadsync",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checklist_marks_each_line_and_prints_the_fix_under_it() {
        let mut r = Report::default();
        r.push(Check::pass("ghl", "ghl.token", "token accepted"));
        r.push(Check::fail(
            "calltools",
            "calltools.phone_field",
            "no field phone_number",
            "set CallToolsPhoneField=mobile_phone_number",
        ));
        r.push(Check::skip("meta", "meta.token", "not configured"));
        let text = r.render();
        assert!(text.contains("GoHighLevel\n  ✓ token accepted\n"), "{text}");
        assert!(
            text.contains(
                "  ✗ no field phone_number\n      fix: set CallToolsPhoneField=mobile_phone_number\n"
            ),
            "{text}"
        );
        assert!(text.contains("1 passed, 0 warnings, 1 failed, 1 not checked"));
        assert!(r.failed());
        assert_eq!(r.to_json()["checks"][1]["status"], "fail");
    }

    #[test]
    fn what_was_learned_becomes_parameter_overrides() {
        let r = Report {
            checks: Vec::new(),
            learned: Learned {
                duplicate_mode: Some("lookup"),
                bucket_filter: Some("honoured"),
                phone_field: Some("home_phone_number".into()),
                rules: Some(json!([{"tag": "cold lead", "bucket_id": 11237}])),
                ..Learned::default()
            },
        };
        assert_eq!(
            r.parameter_overrides(),
            [
                "CallToolsDuplicateMode=lookup",
                "CallToolsBucketFilter=honoured",
                "CallToolsPhoneField=home_phone_number",
                r#"LeadsyncRules="[{\"bucket_id\":11237,\"tag\":\"cold lead\"}]""#,
            ]
        );
        assert!(!r.failed());
    }
}
