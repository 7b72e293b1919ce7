//! How the played GoHighLevel behaves where the research leaves more than one answer open,
//! chosen per test through `/_sandbox/ghl/account`. The defaults are what GHL documents or was
//! seen to do (research, corrections of 2026-12-04); the other variants are what a client must
//! survive anyway.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::support::{iso_ms, now_ms};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct GhlAccount {
    pub tag_search: TagSearch,
    pub tag_case: TagCase,
    pub empty_fields: EmptyFields,
    pub timestamp_precision: Precision,
    /// GHL's clock stands still at this instant (epoch ms): `dateAdded`, webhook timestamps and
    /// `dateUpdated` all read it, and each write still moves `dateUpdated` on by a millisecond.
    pub frozen_at_ms: Option<i64>,
    /// How `GET /contacts/{id}` answers for a contact that does not exist.
    pub deleted_answer: ReadAnswer,
    /// `GET /contacts/{id}` answers these contacts this way, whether they exist or not.
    pub read_answers: BTreeMap<String, ReadAnswer>,
    /// What `PUT /contacts/{id}` does with the `dndSettings` it is given.
    pub dnd_update: DndUpdate,
    /// Requests per 10 s the account allows; unset is GHL's documented 100 per app per
    /// location. Raised only by load tests (`make ledger --ghl-requests-per-10s`), so that a
    /// run of 100,000 webhooks measures leadsync rather than GHL's budget. The daily 200,000
    /// stays.
    pub burst_limit: Option<std::num::NonZeroUsize>,
}

/// How `PUT /contacts/{id}` applies `dndSettings`. GHL's documentation does not say whether
/// the object is merged per channel or replaces the contact's settings (research: unconfirmed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DndUpdate {
    /// The channels given are set; the others stay as they were.
    #[default]
    Merge,
    /// The channels given become the contact's settings: any channel left out is dropped (a
    /// DND on SMS lifted by a write that named only Call).
    Replace,
}

/// How `POST /contacts/search` treats a `tags` filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TagSearch {
    /// As documented: only `eq`, `not_eq`, `exists`, `not_exists` (anything else is a 422), and
    /// values compared case-sensitively.
    #[default]
    Documented,
    /// Also `contains` / `not_contains`, and any case matches.
    Lenient,
}

/// How GHL stores a tag it is given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TagCase {
    /// Lower-cased, as GHL is reported to keep tags.
    #[default]
    Lower,
    /// As written.
    AsWritten,
}

/// How an empty field appears in API answers and webhook bodies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EmptyFields {
    /// `null`, as in captured real answers; an empty tag list too.
    #[default]
    Null,
    /// Left out.
    Omitted,
}

/// The precision of a Marketplace webhook's `timestamp`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Precision {
    /// Whole seconds, `2025-01-28T14:35:00Z`, as GHL's documented example.
    #[default]
    Seconds,
    /// `2025-01-28T14:35:00.123Z`.
    Milliseconds,
}

/// An answer to `GET /contacts/{id}` other than the contact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReadAnswer {
    /// 400 `{"message":"Contact not found"}` (seen for deleted contacts).
    #[default]
    #[serde(rename = "not_found_400")]
    NotFound400,
    /// 404 `{"message":"Contact not found"}`.
    #[serde(rename = "not_found_404")]
    NotFound404,
    /// 400 `Version header is invalid`: a refused request that says nothing about the contact.
    #[serde(rename = "invalid_version_400")]
    InvalidVersion400,
    /// 422 with the spec's generic body.
    #[serde(rename = "unprocessable_422")]
    Unprocessable422,
}

impl ReadAnswer {
    /// The status, `message` and `error` GHL answers with.
    pub fn answer(self) -> (StatusCode, Value, &'static str) {
        match self {
            Self::NotFound400 => (
                StatusCode::BAD_REQUEST,
                json!("Contact not found"),
                "Bad Request",
            ),
            Self::NotFound404 => (
                StatusCode::NOT_FOUND,
                json!("Contact not found"),
                "Not Found",
            ),
            Self::InvalidVersion400 => (
                StatusCode::BAD_REQUEST,
                json!("Version header is invalid"),
                "Bad Request",
            ),
            Self::Unprocessable422 => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!(["Unprocessable Entity"]),
                "Unprocessable Entity",
            ),
        }
    }
}

/// Fields whose empty value is rendered `null` rather than `[]`.
const NULLABLE_LISTS: [&str; 1] = ["tags"];

impl GhlAccount {
    /// GHL's clock.
    pub fn now_ms(&self) -> i64 {
        self.frozen_at_ms.unwrap_or_else(now_ms)
    }

    /// A tag as GHL stores it.
    pub fn stored_tag(&self, tag: &str) -> String {
        match self.tag_case {
            TagCase::Lower => tag.to_lowercase(),
            TagCase::AsWritten => tag.to_owned(),
        }
    }

    /// Whether a stored tag matches a `tags` filter value.
    pub fn tag_matches(&self, stored: &str, wanted: &str) -> bool {
        match self.tag_search {
            TagSearch::Documented => stored == wanted,
            TagSearch::Lenient => stored.trim().to_lowercase() == wanted.trim().to_lowercase(),
        }
    }

    /// A contact (API answer, search item or webhook body) with its empty fields as this account
    /// renders them.
    pub fn shape(&self, v: &mut Value) {
        let Value::Object(map) = v else { return };
        match self.empty_fields {
            EmptyFields::Null => {
                for list in NULLABLE_LISTS {
                    if map
                        .get(list)
                        .and_then(Value::as_array)
                        .is_some_and(Vec::is_empty)
                    {
                        map.insert(list.to_owned(), Value::Null);
                    }
                }
            }
            EmptyFields::Omitted => map.retain(|_, v| !v.is_null()),
        }
    }

    /// A webhook `timestamp` for `at_ms`, at this account's precision.
    pub fn timestamp(&self, at_ms: i64) -> String {
        match self.timestamp_precision {
            Precision::Milliseconds => iso_ms(at_ms),
            Precision::Seconds => OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH)
                .format(format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
                ))
                .unwrap_or_default(),
        }
    }

    /// These settings with `changes` (a partial object) applied; unknown keys are refused.
    pub fn updated(&self, changes: serde_json::Map<String, Value>) -> Result<Self, String> {
        let mut current = serde_json::to_value(self).map_err(|e| e.to_string())?;
        for (k, v) in changes {
            current[k] = v;
        }
        serde_json::from_value(current).map_err(|e| e.to_string())
    }
}
