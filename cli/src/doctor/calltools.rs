//! CallTools: the silo and key, the account's field slugs, the rules' buckets and tags, whether
//! the contact listing honours a bucket filter ([`super::bucket_filter`]) — and,
//! with `--probe-writes`, what only a write can tell: the duplicate mode, which bucket
//! placement takes effect, and whether the phone lands in `_phone_numbers`.
//!
//! The probe is one clearly named contact (`leadsync doctor probe` / `delete me`), created with
//! `do_not_contact: true` so no dialer calls it while it briefly sits in a bucket, and deleted
//! afterwards; an account whose key may not delete keeps it, and the report says so.

use leadsync::app::config::{Config, DuplicateMode};
use leadsync::domain::rules::{BucketRef, Rule};
use leadsync::ports::remote::RemoteError;
use leadsync::sinks::calltools::client::{CallToolsApi, CallToolsClient, Created, NamedItem};
use leadsync::sinks::calltools::placement::shown;
use serde_json::{Map, Value, json};

use super::report::{Check, Learned};

const AREA: &str = "calltools";
/// A number reserved for fiction (NANP 555-01XX): it reaches no one.
pub const PROBE_PHONE: &str = "+12025550143";
const PROBE_FIRST_NAME: &str = "leadsync doctor probe";
const PROBE_LAST_NAME: &str = "delete me";

pub struct CallToolsChecks<'a> {
    pub cfg: &'a Config,
    pub client: &'a CallToolsClient,
    pub probe_writes: bool,
    pub probe_phone: &'a str,
}

impl CallToolsChecks<'_> {
    pub async fn run(&self, learned: &mut Learned) -> Vec<Check> {
        let base = self.cfg.calltools.base_url.as_deref().unwrap_or("");
        let first = match self.client.first_contact().await {
            Ok(first) => first,
            Err(e) => return vec![unreachable(&e, base)],
        };
        let mut out = vec![Check::pass(
            AREA,
            "calltools.key",
            format!("the API key is accepted at {base}"),
        )];
        out.extend(self.field_checks(first.as_ref(), learned));
        let buckets = self.bucket_checks(&mut out, learned).await;
        out.push(
            super::bucket_filter::check(
                self.client,
                self.cfg.calltools.bucket_filter,
                buckets.first().copied(),
                learned,
            )
            .await,
        );
        out.extend(self.tag_checks().await);
        if self.probe_writes {
            out.extend(self.probe(buckets.first().copied(), learned).await);
        } else {
            out.push(Check::skip(
                AREA,
                "calltools.probe",
                "duplicate mode, bucket placement and phone storage not probed: run with --probe-writes",
            ));
        }
        out
    }

    /// The configured phone and email slugs against the keys of a contact the account renders.
    fn field_checks(
        &self,
        first: Option<&Map<String, Value>>,
        learned: &mut Learned,
    ) -> Vec<Check> {
        let ct = &self.cfg.calltools;
        let Some(contact) = first else {
            return vec![Check::skip(
                AREA,
                "calltools.fields",
                "the account has no contact to read its field names from: --probe-writes settles whether the phone lands",
            )];
        };
        let mut out = Vec::new();
        for (name, slug, hint, variable) in [
            (
                "calltools.phone_field",
                &ct.phone_field,
                "phone",
                "CallToolsPhoneField",
            ),
            (
                "calltools.email_field",
                &ct.email_field,
                "email",
                "CallToolsEmailField",
            ),
        ] {
            if contact.contains_key(slug.as_str()) {
                out.push(Check::pass(
                    AREA,
                    name,
                    format!("the account has the field {slug:?}"),
                ));
                continue;
            }
            let candidates: Vec<&String> = contact
                .keys()
                .filter(|k| k.contains(hint) && !k.starts_with('_'))
                .collect();
            let best = candidates
                .iter()
                .find(|k| k.starts_with("mobile") || k.as_str() == "email")
                .or(candidates.first());
            if let Some(best) = best {
                if hint == "phone" {
                    learned.phone_field = Some((*best).clone());
                } else {
                    learned.email_field = Some((*best).clone());
                }
            }
            out.push(Check::fail(
                AREA,
                name,
                format!(
                    "the account has no field {slug:?}: CallTools drops unknown keys silently, so the {hint} would never be written"
                ),
                match best {
                    Some(b) => format!(
                        "set {variable}={b} (the account's {hint} fields: {})",
                        join(&candidates)
                    ),
                    None => format!("set {variable} to the account's {hint} field slug"),
                },
            ));
        }
        out
    }

    /// Each rule's bucket, by id or name, in whichever listing the account serves. Answers the
    /// buckets' ids, in rule order.
    async fn bucket_checks(&self, out: &mut Vec<Check>, learned: &mut Learned) -> Vec<i64> {
        let rules: Vec<&Rule> = self.cfg.rules.rules().collect();
        if rules.iter().all(|r| r.bucket.is_none()) {
            return Vec::new();
        }
        let (path, listed) = match self.client.bucket_listing().await {
            Ok(found) => found,
            Err(e) => {
                out.push(Check::fail(
                    AREA,
                    "calltools.bucket_listing",
                    format!("the buckets cannot be listed: {e}"),
                    "give each rule a bucket_id (CallTools → Lists shows the ids)",
                ));
                return Vec::new();
            }
        };
        learned.bucket_listing = Some(path);
        out.push(Check::pass(
            AREA,
            "calltools.bucket_listing",
            format!("the account lists its {} buckets at {path}", listed.len()),
        ));
        let mut ids = Vec::new();
        let mut by_id = Vec::new();
        for rule in &rules {
            let Some(bucket) = &rule.bucket else {
                by_id.push(rule_json(rule, None));
                continue;
            };
            let found = find(&listed, bucket);
            match (bucket, found) {
                (_, Some(b)) => {
                    ids.push(b.id);
                    by_id.push(rule_json(rule, Some(b.id)));
                    out.push(Check::pass(
                        AREA,
                        "calltools.bucket",
                        format!("bucket {:?} exists (id {})", b.name, b.id),
                    ));
                }
                (BucketRef::Id(id), None) => out.push(Check::fail(
                    AREA,
                    "calltools.bucket",
                    format!("no bucket has the id {id}"),
                    format!("use one of the account's buckets: {}", names(&listed)),
                )),
                (BucketRef::Name(name), None) => out.push(Check::fail(
                    AREA,
                    "calltools.bucket",
                    format!("no bucket is named {name:?}"),
                    format!(
                        "create it in CallTools (Lists) or name one of: {}",
                        names(&listed)
                    ),
                )),
            }
        }
        let named = rules
            .iter()
            .any(|r| matches!(r.bucket, Some(BucketRef::Name(_))));
        if named && by_id.len() == rules.len() {
            learned.rules = Some(Value::Array(by_id));
        }
        ids
    }

    async fn tag_checks(&self) -> Vec<Check> {
        let mut names: Vec<&String> = self
            .cfg
            .rules
            .rules()
            .flat_map(|r| r.calltools_tags.iter())
            .collect();
        names.sort();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            out.push(match self.client.find_tag(name).await {
                Ok(Some(id)) => Check::pass(
                    AREA,
                    "calltools.tag",
                    format!("tag {name:?} exists (id {id})"),
                ),
                Ok(None) => Check::warn(
                    AREA,
                    "calltools.tag",
                    format!("tag {name:?} does not exist yet"),
                    "leadsync creates it on first use; create it in CallTools first if the key's role may not create tags",
                ),
                Err(e) => Check::fail(
                    AREA,
                    "calltools.tag",
                    format!("tag {name:?} could not be looked up: {e}"),
                    "give the key's role Contact Tag read and write",
                ),
            });
        }
        out
    }

    /// The probe contact: created twice (the duplicate mode), placed in `bucket` both ways (the
    /// placement method), read back (the phone), and removed.
    async fn probe(&self, bucket: Option<i64>, learned: &mut Learned) -> Vec<Check> {
        let slug = learned
            .phone_field
            .clone()
            .unwrap_or_else(|| self.cfg.calltools.phone_field.clone());
        let body = probe_body(&slug, self.probe_phone);
        let mut out = Vec::new();
        // A merging account would write the probe over a real contact with the same number.
        match self.client.find_by_phone(self.probe_phone).await {
            Ok(found) => {
                let taken = found.iter().any(|c| {
                    c.has_phone(self.probe_phone)
                        && c.fields.get("first_name").and_then(Value::as_str)
                            != Some(PROBE_FIRST_NAME)
                });
                if taken {
                    out.push(Check::fail(
                        AREA,
                        "calltools.probe",
                        "a contact other than a probe already has the probe's number: nothing was written",
                        "pass --probe-phone with a number no contact has",
                    ));
                    return out;
                }
            }
            Err(e) => {
                out.push(Check::fail(
                    AREA,
                    "calltools.probe",
                    format!("the probe's number could not be looked up first: {e}"),
                    "give the key's role Contacts read",
                ));
                return out;
            }
        }
        let mut created = Vec::new();
        let first = match self.client.create_contact(&body).await {
            Ok(c) => c,
            Err(e) => {
                out.push(Check::fail(
                    AREA,
                    "calltools.probe",
                    format!("the probe contact was refused: {e}"),
                    "if the number was refused, pass --probe-phone with a number you own; if the key may not create contacts, give its role Contacts Write Create",
                ));
                return out;
            }
        };
        let id = match first {
            Created::New { id, .. } => id,
            // Merged into a contact that already had the number, which the lookup above did
            // not show: that contact is not ours to place or delete.
            Created::Merged(other) => {
                out.push(Check::fail(
                    AREA,
                    "calltools.probe",
                    format!(
                        "the probe was merged into existing contact {other}, which was not found by number first: the probe stopped there and deletes nothing (that contact's name and do-not-contact were set by the probe)"
                    ),
                    format!(
                        "restore contact {other}'s name and do_not_contact in CallTools, and pass --probe-phone with a number no contact has"
                    ),
                ));
                return out;
            }
        };
        created.push(id);
        out.push(self.phone_lands(id, &slug).await);
        match self.client.create_contact(&body).await {
            Ok(Created::Merged(merged)) if merged != id => {
                out.push(Check::fail(
                    AREA,
                    "calltools.duplicate_mode",
                    format!("the second probe create was merged into contact {merged}, not into the probe {id}"),
                    format!("check contact {merged} in CallTools; set CallToolsDuplicateMode=lookup"),
                ));
                out.push(self.remove(&created).await);
                return out;
            }
            Ok(Created::Merged(_)) => {
                learned.duplicate_mode = Some("merge");
                out.push(self.duplicate_check("merge", true));
            }
            Ok(Created::New { id: again, .. }) => {
                created.push(again);
                learned.duplicate_mode = Some("lookup");
                out.push(self.duplicate_check("lookup", again != id));
            }
            Err(e) => out.push(Check::fail(
                AREA,
                "calltools.duplicate_mode",
                format!("the second probe create failed: {e}"),
                "run doctor again",
            )),
        }
        match bucket {
            Some(bucket) => out.push(self.placement(id, bucket, learned).await),
            None => out.push(Check::skip(
                AREA,
                "calltools.placement",
                "no rule names a bucket to probe placement with",
            )),
        }
        out.push(self.remove(&created).await);
        out
    }

    async fn phone_lands(&self, id: i64, slug: &str) -> Check {
        match self.client.get_contact(id).await {
            Ok(Some(contact)) => {
                let stored = contact["_phone_numbers"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p.as_str() == Some(self.probe_phone)));
                if stored {
                    Check::pass(
                        AREA,
                        "calltools.phone_lands",
                        format!("a phone written to {slug:?} lands in _phone_numbers"),
                    )
                } else {
                    Check::fail(
                        AREA,
                        "calltools.phone_lands",
                        format!(
                            "a phone written to {slug:?} is not in _phone_numbers: contacts would be created without a dialable number"
                        ),
                        "set CallToolsPhoneField to the account's phone field (see calltools.phone_field)",
                    )
                }
            }
            Ok(None) => Check::fail(
                AREA,
                "calltools.phone_lands",
                format!("the probe contact {id} cannot be read back"),
                "run doctor again",
            ),
            Err(e) => Check::fail(
                AREA,
                "calltools.phone_lands",
                format!("the probe contact could not be read: {e}"),
                "give the key's role Contacts read",
            ),
        }
    }

    fn duplicate_check(&self, mode: &'static str, consistent: bool) -> Check {
        let name = "calltools.duplicate_mode";
        if !consistent {
            return Check::fail(
                AREA,
                name,
                "the second create answered an id the probe did not expect",
                "run doctor again; if it repeats, set CallToolsDuplicateMode=lookup",
            );
        }
        let what = match mode {
            "merge" => "the account merges a create on a known phone (Overwrite, match by phone)",
            _ => "the account creates a second contact for a known phone",
        };
        match (mode, self.cfg.calltools.duplicate_mode) {
            ("merge", DuplicateMode::Merge) | ("lookup", DuplicateMode::Lookup) => {
                Check::pass(AREA, name, format!("{what}; configured {mode}"))
            }
            ("merge", DuplicateMode::Lookup) => Check::warn(
                AREA,
                name,
                format!(
                    "{what}; configured lookup, which is safe but spends a lookup per new contact"
                ),
                "set CallToolsDuplicateMode=merge",
            ),
            _ => Check::fail(
                AREA,
                name,
                format!(
                    "{what}, but leadsync is configured to rely on merging: it would create duplicates"
                ),
                "set CallToolsDuplicateMode=lookup",
            ),
        }
    }

    /// `add_buckets` on the contact first (one call when it works), then the bucket's own
    /// `add_contacts`; whichever the contact then shows is the account's method. Whatever
    /// happens, the probe is taken out of the bucket both ways before this returns.
    async fn placement(&self, id: i64, bucket: i64, learned: &mut Learned) -> Check {
        let method = self.placement_method(id, bucket).await;
        let _ = self
            .client
            .update_contact(id, &obj(json!({"remove_buckets": [bucket]})))
            .await;
        let _ = self
            .client
            .patch_bucket(bucket, &obj(json!({"remove_contacts": [id]})))
            .await;
        let name = "calltools.placement";
        match method {
            Ok(Some(method)) => {
                learned.placement = Some(method);
                Check::pass(
                    AREA,
                    name,
                    match method {
                        "inline" => format!(
                            "add_buckets on the contact places it in bucket {bucket}: one call per contact"
                        ),
                        _ => format!(
                            "add_buckets is ignored; PATCH /api/buckets/{bucket}/ add_contacts places it: one more call per contact"
                        ),
                    },
                )
            }
            Ok(None) => Check::warn(
                AREA,
                name,
                "the account's contacts do not show their buckets: which placement takes effect cannot be read back",
                "check in CallTools that a synced lead appears in its list; leadsync then places with PATCH /api/buckets/{id}/ as well",
            ),
            Err(check) => check,
        }
    }

    /// The method that put the probe in `bucket`; `None` when the contact does not show its
    /// buckets at all.
    async fn placement_method(&self, id: i64, bucket: i64) -> Result<Option<&'static str>, Check> {
        let name = "calltools.placement";
        if let Err(e) = self
            .client
            .update_contact(id, &obj(json!({"add_buckets": [bucket]})))
            .await
        {
            return Err(Check::fail(
                AREA,
                name,
                format!("add_buckets was refused: {e}"),
                "give the key's role Contacts Write Update",
            ));
        }
        match self.buckets_shown(id).await {
            None => return Ok(None),
            Some(b) if b.contains(&bucket) => return Ok(Some("inline")),
            Some(_) => {}
        }
        if let Err(e) = self
            .client
            .patch_bucket(bucket, &obj(json!({"add_contacts": [id]})))
            .await
        {
            return Err(Check::fail(
                AREA,
                name,
                format!(
                    "neither placement worked: add_buckets was ignored and PATCH /api/buckets/{bucket}/ failed: {e}"
                ),
                "give the key's role bucket (list) write",
            ));
        }
        match self.buckets_shown(id).await {
            Some(b) if b.contains(&bucket) => Ok(Some("bucket_patch")),
            _ => Err(Check::fail(
                AREA,
                name,
                format!(
                    "neither add_buckets nor PATCH /api/buckets/{bucket}/ put the probe in bucket {bucket}"
                ),
                "ask CallTools support how this account places contacts in lists through the API",
            )),
        }
    }

    /// The buckets the probe shows when read back, or `None` when its answer shows none.
    async fn buckets_shown(&self, id: i64) -> Option<std::collections::BTreeSet<i64>> {
        match self.client.get_contact(id).await {
            Ok(Some(c)) => shown(&c, "buckets"),
            _ => None,
        }
    }

    async fn remove(&self, ids: &[i64]) -> Check {
        let name = "calltools.probe_removed";
        for id in ids {
            if let Err(e) = self.client.delete_contact(*id).await {
                return Check::warn(
                    AREA,
                    name,
                    format!(
                        "the probe contact {id} ({PROBE_FIRST_NAME} / {PROBE_LAST_NAME}, do not contact) was left in the account: {e}"
                    ),
                    format!(
                        "delete contact {id} in CallTools; the key's role may not delete contacts, which leadsync never needs"
                    ),
                );
            }
        }
        Check::pass(
            AREA,
            name,
            format!("the probe contact was removed ({} created)", ids.len()),
        )
    }
}

fn probe_body(phone_slug: &str, phone: &str) -> Map<String, Value> {
    obj(json!({
        "first_name": PROBE_FIRST_NAME,
        "last_name": PROBE_LAST_NAME,
        phone_slug: phone,
        "do_not_contact": true,
    }))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn find<'a>(listed: &'a [NamedItem], bucket: &BucketRef) -> Option<&'a NamedItem> {
    listed.iter().find(|b| match bucket {
        BucketRef::Id(id) => b.id == *id,
        BucketRef::Name(name) => b.name == *name,
    })
}

fn rule_json(rule: &Rule, bucket_id: Option<i64>) -> Value {
    let mut v = match &rule.source {
        Some(source) => json!({ "source": source }),
        None => json!({ "tag": rule.tag }),
    };
    if let Some(id) = bucket_id {
        v["bucket_id"] = json!(id);
    }
    if !rule.calltools_tags.is_empty() {
        v["calltools_tags"] = json!(rule.calltools_tags);
    }
    v
}

fn names(listed: &[NamedItem]) -> String {
    let shown: Vec<String> = listed
        .iter()
        .take(10)
        .map(|b| format!("{:?} ({})", b.name, b.id))
        .collect();
    if shown.is_empty() {
        "the account has no buckets".into()
    } else {
        shown.join(", ")
    }
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first call failed: the silo, the key, or the network.
fn unreachable(e: &RemoteError, base: &str) -> Check {
    match e {
        RemoteError::CredentialsRejected { status, .. } => Check::fail(
            AREA,
            "calltools.key",
            format!("CallTools refused the API key (HTTP {status})"),
            "create a key in CallTools (Integrations → API Keys) tied to a manager user whose role has Contacts read/write, Contact Tag Write and list write; put it in CallToolsApiKeyParameter",
        ),
        RemoteError::Permanent {
            status: Some(404), ..
        } => Check::fail(
            AREA,
            "calltools.key",
            format!("{base} serves no /api/contacts/ (HTTP 404)"),
            "CallToolsBaseUrl must be your silo's host, e.g. https://east-1.calltools.io (the silos: https://app.calltools.io/api/silos/)",
        ),
        other => Check::fail(
            AREA,
            "calltools.key",
            format!("CallTools did not answer at {base}: {other}"),
            "CallToolsBaseUrl must be your silo's host, e.g. https://east-1.calltools.io (the silos: https://app.calltools.io/api/silos/)",
        ),
    }
}
