//! Where a contact comes from. The names are the ones stored in DynamoDB keys, jobs, metrics and
//! the event log, so they never change.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A GoHighLevel contact.
    Ghl,
    /// A Facebook Messenger user of the Page.
    Messenger,
    /// An Instagram user of the professional account.
    Instagram,
    /// The CallTools dialer, as the source of call outcomes (its jobs name the GoHighLevel
    /// contact the outcome goes back to).
    #[serde(rename = "calltools")]
    CallTools,
}

impl Source {
    pub const ALL: [Source; 4] = [
        Source::Ghl,
        Source::Messenger,
        Source::Instagram,
        Source::CallTools,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Ghl => "ghl",
            Source::Messenger => "messenger",
            Source::Instagram => "instagram",
            Source::CallTools => "calltools",
        }
    }

    /// The setting that turns the source on in a deployment, for an error that says what to do.
    pub fn enabled_by(self) -> &'static str {
        match self {
            Source::Ghl => "GHL_LOCATION_ID and GHL_API_TOKEN",
            Source::Messenger | Source::Instagram => "META_PAGE_ACCESS_TOKEN",
            Source::CallTools => "LEADSYNC_CALL_OUTCOMES=on (CallOutcomesBack)",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A source name that is none of [`Source::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown source {0:?}: expected ghl, messenger, instagram or calltools")]
pub struct UnknownSource(pub String);

impl FromStr for Source {
    type Err = UnknownSource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Source::ALL
            .into_iter()
            .find(|source| source.as_str() == s)
            .ok_or_else(|| UnknownSource(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for source in Source::ALL {
            assert_eq!(source.as_str().parse::<Source>(), Ok(source));
            let json = serde_json::to_string(&source).unwrap();
            assert_eq!(json, format!("\"{source}\""));
            assert_eq!(serde_json::from_str::<Source>(&json).unwrap(), source);
        }
    }

    #[test]
    fn an_unknown_or_differently_cased_name_is_refused() {
        for name in ["GHL", "facebook", "", "ghl "] {
            let err = name.parse::<Source>().unwrap_err();
            assert!(
                err.to_string()
                    .contains("expected ghl, messenger, instagram or calltools")
            );
        }
        assert!(serde_json::from_str::<Source>("\"whatsapp\"").is_err());
    }
}
