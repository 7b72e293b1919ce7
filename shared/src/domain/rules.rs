//! Rules: which source tags put a contact into which CallTools buckets and tags.
//!
//! A rule names a tag (GHL contacts carrying it) or a source (`messenger`, `instagram`: every
//! contact from it that has a phone number, since Meta contacts carry no tags).
//!
//! Rules are configuration (`LEADSYNC_RULES`), not code. Tags compare after [`normalize_tag`], so
//! "Cold Lead", " cold  lead " and "cold lead" are the same tag.

use std::collections::BTreeSet;

use serde::Deserialize;

/// One rule: a contact carrying `tag` (or any contact from `source`) belongs in `bucket` and
/// gets `calltools_tags`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RuleJson")]
pub struct Rule {
    /// Empty for a source rule.
    pub tag: String,
    /// `messenger` or `instagram`: the rule is about every contact from that source.
    pub source: Option<String>,
    /// The CallTools bucket, by name (resolved to an id once per cold start) or by id.
    pub bucket: Option<BucketRef>,
    /// CallTools tag names to add alongside the bucket.
    pub calltools_tags: Vec<String>,
}

/// A rule as written in `LEADSYNC_RULES`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleJson {
    #[serde(default)]
    tag: String,
    source: Option<String>,
    bucket: Option<String>,
    bucket_id: Option<i64>,
    #[serde(default)]
    calltools_tags: Vec<String>,
}

impl TryFrom<RuleJson> for Rule {
    type Error = String;
    fn try_from(r: RuleJson) -> Result<Self, Self::Error> {
        let name = r.source.as_deref().unwrap_or(&r.tag).to_string();
        match (&r.source, normalize_tag(&r.tag).is_empty()) {
            (Some(_), false) => {
                return Err(format!("rule {name:?}: give a tag or a source, not both"));
            }
            (Some(s), true) if !SOURCE_RULES.contains(&s.as_str()) => {
                return Err(format!(
                    "rule source {s:?}: expected one of {SOURCE_RULES:?}"
                ));
            }
            (None, true) => return Err(format!("rule {r:?} has an empty tag")),
            _ => {}
        }
        let bucket = match (r.bucket, r.bucket_id) {
            (Some(_), Some(_)) => {
                return Err(format!("rule {name:?}: give bucket or bucket_id, not both"));
            }
            (Some(name), None) => Some(BucketRef::Name(name)),
            (None, Some(id)) => Some(BucketRef::Id(id)),
            (None, None) => None,
        };
        if bucket.is_none() && r.calltools_tags.is_empty() {
            return Err(format!(
                "rule {name:?} names neither a bucket nor CallTools tags"
            ));
        }
        Ok(Self {
            tag: r.tag,
            source: r.source,
            bucket,
            calltools_tags: r.calltools_tags,
        })
    }
}

/// The sources a rule can name instead of a tag.
pub const SOURCE_RULES: [&str; 2] = ["messenger", "instagram"];

/// A CallTools bucket named in a rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BucketRef {
    Name(String),
    Id(i64),
}

/// What to do in CallTools when a contact loses the tag that put it in a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTagRemoved {
    /// Take the contact out of the rule's bucket (it is no longer a lead of that kind).
    RemoveFromBucket,
    /// Leave CallTools as it is; only additions are synced.
    Keep,
}

impl std::str::FromStr for OnTagRemoved {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "remove_from_bucket" => Ok(Self::RemoveFromBucket),
            "keep" => Ok(Self::Keep),
            other => Err(format!(
                "expected remove_from_bucket or keep, got {other:?}"
            )),
        }
    }
}

/// What to do in CallTools with a contact the source says may not be called (GHL `dnd`, or
/// `dndSettings.Call` active). Whatever the choice, such a contact is never created in CallTools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnDnd {
    /// Set `do_not_contact` and take it out of every rule bucket and tag, until DND is lifted.
    #[default]
    FlagAndRemove,
    /// Only set `do_not_contact`; bucket and tag membership follow the rules as usual (for
    /// accounts that report on buckets and trust the dialer to skip flagged contacts).
    Flag,
    /// Only take it out of the rule buckets and tags; never write `do_not_contact` (for accounts
    /// that keep that field for their own opt-out list, which an integration must not touch).
    Remove,
}

impl OnDnd {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FlagAndRemove => "flag_and_remove",
            Self::Flag => "flag",
            Self::Remove => "remove",
        }
    }

    /// Whether CallTools' `do_not_contact` is written.
    pub fn flags(self) -> bool {
        matches!(self, Self::FlagAndRemove | Self::Flag)
    }

    /// Whether the contact leaves its rule buckets and tags.
    pub fn removes(self) -> bool {
        matches!(self, Self::FlagAndRemove | Self::Remove)
    }
}

impl std::str::FromStr for OnDnd {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::FlagAndRemove, Self::Flag, Self::Remove]
            .into_iter()
            .find(|v| v.as_str() == s.trim())
            .ok_or_else(|| format!("expected flag_and_remove, flag or remove, got {s:?}"))
    }
}

/// The configured rules, with their tags normalised once.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<(String, Rule)>,
    pub on_tag_removed: OnTagRemoved,
    pub on_dnd: OnDnd,
}

/// Membership a contact should have in CallTools according to the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    pub buckets: BTreeSet<BucketRef>,
    pub calltools_tags: BTreeSet<String>,
}

impl Membership {
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty() && self.calltools_tags.is_empty()
    }
}

impl Rules {
    pub fn new(rules: Vec<Rule>, on_tag_removed: OnTagRemoved) -> Self {
        let rules = rules
            .into_iter()
            .map(|r| (normalize_tag(&r.tag), r))
            .collect();
        Self {
            rules,
            on_tag_removed,
            on_dnd: OnDnd::default(),
        }
    }

    /// Parses the `LEADSYNC_RULES` JSON list.
    pub fn from_json(json: &str, on_tag_removed: OnTagRemoved) -> Result<Self, String> {
        let rules: Vec<Rule> = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if rules.is_empty() {
            return Err("at least one rule is needed".into());
        }
        Ok(Self::new(rules, on_tag_removed))
    }

    /// The default rule: `cold lead` → bucket "Cold Leads".
    pub fn default_rules() -> Self {
        Self::new(
            vec![Rule {
                tag: "cold lead".into(),
                source: None,
                bucket: Some(BucketRef::Name("Cold Leads".into())),
                calltools_tags: Vec::new(),
            }],
            OnTagRemoved::RemoveFromBucket,
        )
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|(_, r)| r)
    }

    /// The membership the rules give a contact with these source tags.
    pub fn membership_for<S: AsRef<str>>(&self, tags: &[S]) -> Membership {
        let tags: BTreeSet<String> = tags.iter().map(|t| normalize_tag(t.as_ref())).collect();
        let mut m = Membership::default();
        for (tag, rule) in self.tag_rules() {
            if tags.contains(tag) {
                m.buckets.extend(rule.bucket.clone());
                m.calltools_tags.extend(rule.calltools_tags.iter().cloned());
            }
        }
        m
    }

    /// The membership the source rules give every contact from `source` (`messenger`, ...).
    pub fn membership_for_source(&self, source: &str) -> Membership {
        let mut m = Membership::default();
        for rule in self.rules().filter(|r| r.source.as_deref() == Some(source)) {
            m.buckets.extend(rule.bucket.clone());
            m.calltools_tags.extend(rule.calltools_tags.iter().cloned());
        }
        m
    }

    /// Every bucket and CallTools tag any rule can give a contact.
    pub fn every_membership(&self) -> Membership {
        let mut m = Membership::default();
        for rule in self.rules() {
            m.buckets.extend(rule.bucket.clone());
            m.calltools_tags.extend(rule.calltools_tags.iter().cloned());
        }
        m
    }

    fn tag_rules(&self) -> impl Iterator<Item = (&String, &Rule)> {
        self.rules
            .iter()
            .filter(|(_, r)| r.source.is_none())
            .map(|(t, r)| (t, r))
    }

    /// The rules' tags as written, for a source search filter.
    pub fn tags(&self) -> Vec<String> {
        self.tag_rules().map(|(_, r)| r.tag.clone()).collect()
    }

    /// A canonical text of the rules: when they change, every contact's [`source_hash`]
    /// changes with them, so the next backfill re-applies them everywhere.
    ///
    /// [`source_hash`]: crate::domain::contact::source_hash
    pub fn fingerprint(&self) -> String {
        let mut parts: Vec<String> = self
            .rules
            .iter()
            .map(|(tag, r)| {
                let bucket = match &r.bucket {
                    Some(BucketRef::Name(n)) => format!("name:{n}"),
                    Some(BucketRef::Id(id)) => format!("id:{id}"),
                    None => String::new(),
                };
                let mut tags = r.calltools_tags.clone();
                tags.sort();
                let scope = match &r.source {
                    Some(source) => format!("source:{source}"),
                    None => tag.clone(),
                };
                format!("{scope}|{bucket}|{}", tags.join(","))
            })
            .collect();
        parts.sort();
        let mut fingerprint = format!("{}#{:?}", parts.join(";"), self.on_tag_removed);
        // Only when not the default, so the fingerprints saved before DND was handled stay valid.
        if self.on_dnd != OnDnd::default() {
            fingerprint.push_str(&format!("#dnd:{}", self.on_dnd.as_str()));
        }
        fingerprint
    }

    /// Whether any rule is about one of these tags (used to ignore events that cannot matter).
    pub fn mentions_any<S: AsRef<str>>(&self, tags: &[S]) -> bool {
        !self.membership_for(tags).is_empty()
    }
}

/// Trims, lower-cases, folds dashes and collapses inner white space.
pub fn normalize_tag(tag: &str) -> String {
    let folded: String = tag
        .chars()
        .map(|c| match c {
            '\u{2013}' | '\u{2014}' | '\u{2212}' => '-',
            c => c,
        })
        .collect();
    folded
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_ignores_order_and_spelling_but_not_meaning() {
        let a = Rules::from_json(
            r#"[{"tag":"Cold Lead","bucket":"Cold Leads"},{"tag":"hot","bucket_id":7}]"#,
            OnTagRemoved::RemoveFromBucket,
        )
        .unwrap();
        let b = Rules::from_json(
            r#"[{"tag":"hot","bucket_id":7},{"tag":"cold lead","bucket":"Cold Leads"}]"#,
            OnTagRemoved::RemoveFromBucket,
        )
        .unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        let keep = Rules::from_json(
            r#"[{"tag":"hot","bucket_id":7},{"tag":"cold lead","bucket":"Cold Leads"}]"#,
            OnTagRemoved::Keep,
        )
        .unwrap();
        assert_ne!(a.fingerprint(), keep.fingerprint());
        assert_ne!(a.fingerprint(), Rules::default_rules().fingerprint());
        assert_eq!(a.tags(), ["Cold Lead", "hot"]);
    }

    #[test]
    fn a_dnd_policy_other_than_the_default_changes_the_fingerprint() {
        let default = Rules::default_rules();
        assert!(
            !default.fingerprint().contains("dnd"),
            "saved hashes stay valid"
        );
        for policy in ["flag", "remove"] {
            let mut other = Rules::default_rules();
            other.on_dnd = policy.parse().unwrap();
            assert_ne!(other.fingerprint(), default.fingerprint(), "{policy}");
        }
        assert_eq!("flag_and_remove".parse(), Ok(OnDnd::FlagAndRemove));
        assert!("off".parse::<OnDnd>().is_err());
    }

    #[test]
    fn tags_compare_trimmed_and_case_insensitively() {
        let rules = Rules::default_rules();
        for tag in ["cold lead", "Cold Lead", "  COLD   lead ", "cold\tlead"] {
            let m = rules.membership_for(&[tag]);
            assert_eq!(
                m.buckets,
                BTreeSet::from([BucketRef::Name("Cold Leads".into())]),
                "{tag:?}"
            );
        }
        assert!(rules.membership_for(&["cold leads", "lead"]).is_empty());
    }

    #[test]
    fn rules_parse_bucket_by_name_or_id_and_tags() {
        let rules = Rules::from_json(
            r#"[{"tag":"cold lead","bucket":"Cold Leads"},
                {"tag":"Hot – Lead","bucket_id":11252,"calltools_tags":["hot"]}]"#,
            OnTagRemoved::Keep,
        )
        .unwrap();
        let m = rules.membership_for(&["hot - lead", "cold lead"]);
        assert_eq!(
            m.buckets,
            BTreeSet::from([BucketRef::Name("Cold Leads".into()), BucketRef::Id(11252)])
        );
        assert_eq!(m.calltools_tags, BTreeSet::from(["hot".to_string()]));
    }

    #[test]
    fn bad_rules_are_rejected_with_a_reason() {
        assert!(Rules::from_json("[]", OnTagRemoved::Keep).is_err());
        assert!(Rules::from_json(r#"[{"tag":"  ","bucket":"b"}]"#, OnTagRemoved::Keep).is_err());
        assert!(Rules::from_json(r#"[{"tag":"x"}]"#, OnTagRemoved::Keep).is_err());
        assert!(
            Rules::from_json(
                r#"[{"tag":"x","bucket":"b","bucket_id":1}]"#,
                OnTagRemoved::Keep
            )
            .is_err()
        );
        assert!(
            Rules::from_json(r#"[{"tag":"x","bucket_name":"y"}]"#, OnTagRemoved::Keep).is_err()
        );
        assert!(Rules::from_json("{", OnTagRemoved::Keep).is_err());
    }

    #[test]
    fn a_source_rule_applies_to_every_contact_of_that_source_and_to_no_tag() {
        let rules = Rules::from_json(
            r#"[{"tag":"cold lead","bucket":"Cold Leads"},{"source":"messenger","bucket":"Messenger Leads","calltools_tags":["fb"]}]"#,
            OnTagRemoved::RemoveFromBucket,
        )
        .unwrap();
        let m = rules.membership_for_source("messenger");
        assert_eq!(
            m.buckets,
            BTreeSet::from([BucketRef::Name("Messenger Leads".into())])
        );
        assert!(rules.membership_for_source("instagram").is_empty());
        assert_eq!(
            rules.tags(),
            ["cold lead"],
            "a source rule is no GHL search filter"
        );
        assert!(!rules.mentions_any(&["", "messenger"]));
        for bad in [
            r#"[{"source":"whatsapp","bucket":"x"}]"#,
            r#"[{"tag":"t","source":"messenger","bucket":"x"}]"#,
            r#"[{"tag":"  ","bucket":"x"}]"#,
            r#"[{"bucket":"x"}]"#,
        ] {
            assert!(Rules::from_json(bad, OnTagRemoved::Keep).is_err(), "{bad}");
        }
    }
}
