//! What a call's disposition does in GoHighLevel, as the deployment configures it:
//! `LEADSYNC_OUTCOMES` maps disposition names to tags to add and remove and whether it sets DND
//! for calls; `GHL_OUTCOME_FIELD_ID` names the custom field that shows the last outcome;
//! `LEADSYNC_OUTCOME_NOTES` (`on` by default) adds a note per call.
//!
//! ```json
//! {"Not Interested": {"add_tags": ["not-interested"], "remove_tags": ["cold lead"]},
//!  "Do Not Call":    {"add_tags": ["dnc"], "dnd": true}}
//! ```
//!
//! Disposition names are matched trimmed and without regard to case (CallTools accounts name
//! their own). A disposition CallTools marks do-not-call sets DND whatever the map says.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One disposition's effects in GHL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effects {
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
    /// Sets GHL do-not-disturb for calls.
    #[serde(default)]
    pub dnd: bool,
}

/// The configured mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcomes {
    by_disposition: BTreeMap<String, Effects>,
    /// The GHL custom field that shows the last outcome, by id.
    pub field_id: Option<String>,
    /// Whether each call adds a note to the contact.
    pub notes: bool,
}

impl Default for Outcomes {
    fn default() -> Self {
        Self {
            by_disposition: BTreeMap::new(),
            field_id: None,
            notes: true,
        }
    }
}

impl Outcomes {
    /// Reads `LEADSYNC_OUTCOMES`' JSON; the error names the disposition at fault.
    pub fn parse(json: &str, field_id: Option<String>, notes: bool) -> Result<Self, String> {
        let raw: BTreeMap<String, Effects> = serde_json::from_str(json).map_err(|e| {
            format!("expected {{\"<disposition>\": {{\"add_tags\": [..], \"remove_tags\": [..], \"dnd\": bool}}}}: {e}")
        })?;
        let mut by_disposition = BTreeMap::new();
        for (name, effects) in raw {
            let key = key(&name);
            if key.is_empty() {
                return Err("a disposition name is empty".into());
            }
            if effects
                .add_tags
                .iter()
                .chain(&effects.remove_tags)
                .any(|t| t.trim().is_empty())
            {
                return Err(format!("disposition {name:?} has an empty tag"));
            }
            if by_disposition.insert(key, effects).is_some() {
                return Err(format!(
                    "disposition {name:?} is given twice (names are compared without case)"
                ));
            }
        }
        Ok(Self {
            by_disposition,
            field_id: field_id.filter(|f| !f.trim().is_empty()),
            notes,
        })
    }

    /// What `disposition` does; none for a disposition the map does not name.
    pub fn effects(&self, disposition: &str) -> Option<&Effects> {
        self.by_disposition.get(&key(disposition))
    }

    /// The dispositions the map names, as written in it (lower-cased), for `leadsync doctor`.
    pub fn dispositions(&self) -> impl Iterator<Item = &str> {
        self.by_disposition.keys().map(String::as_str)
    }
}

fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_match_without_case_or_spaces() {
        let o = Outcomes::parse(
            r#"{"Not Interested": {"add_tags": ["not-interested"], "remove_tags": ["cold lead"]},
                "Do Not Call": {"dnd": true}}"#,
            Some("fld1".into()),
            true,
        )
        .unwrap();
        let e = o.effects("  not interested ").unwrap();
        assert_eq!(e.add_tags, ["not-interested"]);
        assert_eq!(e.remove_tags, ["cold lead"]);
        assert!(o.effects("DO NOT CALL").unwrap().dnd);
        assert!(o.effects("Sale").is_none());
        assert_eq!(o.field_id.as_deref(), Some("fld1"));
    }

    #[test]
    fn a_bad_map_is_refused_with_the_reason() {
        for (json, says) in [
            (r#"{"A": {"add_tag": ["x"]}}"#, "unknown field"),
            (r#"{"A": {"add_tags": [" "]}}"#, "empty tag"),
            (r#"{"A": {}, "a ": {}}"#, "given twice"),
            (r#"{" ": {}}"#, "empty"),
            (r#"["A"]"#, "expected"),
        ] {
            let err = Outcomes::parse(json, None, true).unwrap_err();
            assert!(err.contains(says), "{json}: {err}");
        }
        assert_eq!(
            Outcomes::parse("{}", Some(" ".into()), true)
                .unwrap()
                .field_id,
            None
        );
    }
}
