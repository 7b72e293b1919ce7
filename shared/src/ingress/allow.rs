//! Whose webhooks ingress acts on.
//!
//! A valid signature proves who *sent* a webhook, not whose it is: GoHighLevel signs every
//! Marketplace app's webhooks with one platform key, and any app can be pointed at our URL.
//! So after verification each event must name an account leadsync is configured for — a GHL
//! location (and, when the body says, our Marketplace app), a Meta Page or Instagram account.
//! Anything else is answered 200 `ignored`, counted, and costs nothing more: no queue, no GHL
//! call, no DynamoDB write. The lists are sets, so more accounts can be allowed later.

use std::collections::BTreeSet;

/// The accounts leadsync acts for.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    ghl_locations: BTreeSet<String>,
    /// Our Marketplace app; `None` (a Private Integration Token) checks the location only.
    ghl_app_id: Option<String>,
    /// The Page and Instagram professional account ids (`entry[].id`).
    meta_accounts: BTreeSet<String>,
}

/// Why an event is not ours: the metric reason of `webhooks_ignored`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    Location,
    App,
    Account,
}

impl Foreign {
    pub fn reason(self) -> &'static str {
        match self {
            Foreign::Location => "foreign_location",
            Foreign::App => "foreign_app",
            Foreign::Account => "foreign_account",
        }
    }
}

impl AllowList {
    pub fn new(
        ghl_locations: impl IntoIterator<Item = String>,
        ghl_app_id: Option<String>,
        meta_accounts: impl IntoIterator<Item = String>,
    ) -> Self {
        let clean = |ids: BTreeSet<String>| {
            ids.into_iter()
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty())
                .collect()
        };
        Self {
            ghl_locations: clean(ghl_locations.into_iter().collect()),
            ghl_app_id: ghl_app_id
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty()),
            meta_accounts: clean(meta_accounts.into_iter().collect()),
        }
    }

    /// A GHL event for `location_id`, from the app `app_id` when the body names one. GHL ids are
    /// case-sensitive, so they are compared exactly.
    pub fn ghl(&self, location_id: &str, app_id: Option<&str>) -> Result<(), Foreign> {
        if !self.ghl_locations.contains(location_id) {
            return Err(Foreign::Location);
        }
        match (&self.ghl_app_id, app_id) {
            (Some(ours), Some(theirs)) if ours != theirs => Err(Foreign::App),
            _ => Ok(()),
        }
    }

    pub fn meta_account(&self, account_id: &str) -> Result<(), Foreign> {
        if self.meta_accounts.contains(account_id) {
            Ok(())
        } else {
            Err(Foreign::Account)
        }
    }

    pub fn has_ghl_locations(&self) -> bool {
        !self.ghl_locations.is_empty()
    }

    pub fn has_meta_accounts(&self) -> bool {
        !self.meta_accounts.is_empty()
    }
}

/// Our Marketplace app's id: `GHL_APP_ID`, else the part of the OAuth client id before its first
/// `-` — GHL client ids are `<appId>-<suffix>`, and GHL's SDK compares a body's `appId` with
/// that prefix (research/ghl_calltools.md, "Signed is not ours").
pub fn ghl_app_id(configured: Option<&str>, oauth_client_id: Option<&str>) -> Option<String> {
    configured
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .or_else(|| {
            oauth_client_id
                .and_then(|c| c.trim().split('-').next())
                .filter(|id| !id.is_empty())
        })
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> AllowList {
        AllowList::new(
            ["L1".to_string(), " L2 ".to_string()],
            Some("app1".into()),
            ["100".to_string(), "".to_string()],
        )
    }

    #[test]
    fn only_the_configured_locations_are_ours_compared_exactly() {
        let l = list();
        assert_eq!(l.ghl("L1", None), Ok(()));
        assert_eq!(l.ghl("L2", None), Ok(()));
        assert_eq!(l.ghl("l1", None), Err(Foreign::Location));
        assert_eq!(l.ghl("L3", None), Err(Foreign::Location));
        assert_eq!(l.ghl("", None), Err(Foreign::Location));
    }

    #[test]
    fn an_app_id_in_the_body_must_be_ours_when_we_know_ours() {
        let l = list();
        assert_eq!(l.ghl("L1", Some("app1")), Ok(()));
        assert_eq!(l.ghl("L1", Some("app2")), Err(Foreign::App));
        // Location first: a foreign location is reported as such whatever the app.
        assert_eq!(l.ghl("L9", Some("app2")), Err(Foreign::Location));
        let pit = AllowList::new(["L1".to_string()], None, []);
        assert_eq!(pit.ghl("L1", Some("any")), Ok(()));
    }

    #[test]
    fn nothing_configured_allows_nothing() {
        let empty = AllowList::default();
        assert_eq!(empty.ghl("L1", None), Err(Foreign::Location));
        assert_eq!(empty.meta_account("100"), Err(Foreign::Account));
        assert!(!empty.has_ghl_locations() && !empty.has_meta_accounts());
        assert_eq!(list().meta_account("100"), Ok(()));
        assert_eq!(list().meta_account(""), Err(Foreign::Account));
    }

    #[test]
    fn the_app_id_is_configured_or_the_oauth_client_id_prefix() {
        assert_eq!(
            ghl_app_id(None, Some("6530a2c1d8f9e5b3a1c2d3e4-lnf3kqza")).as_deref(),
            Some("6530a2c1d8f9e5b3a1c2d3e4")
        );
        assert_eq!(
            ghl_app_id(Some(" mine "), Some("other-x")).as_deref(),
            Some("mine")
        );
        assert_eq!(ghl_app_id(None, None), None);
        assert_eq!(ghl_app_id(Some(""), Some("-x")), None);
    }
}
