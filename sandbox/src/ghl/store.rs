//! GoHighLevel's contacts for the one location the sandbox plays, and the events each write
//! raises. Pure state: delivering the events is `delivery::ghl`'s job.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ghl::account::GhlAccount;
use crate::ghl::notes::Notes;
use crate::support::ghl_id;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct CustomField {
    pub id: String,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct GhlContact {
    pub id: String,
    pub location_id: String,
    pub fields: ContactFields,
    pub tags: Vec<String>,
    pub date_added: i64,
    pub date_updated: i64,
}

/// The writable contact fields (camelCase like GoHighLevel). Absent means "leave as is";
/// an empty string clears.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ContactFields {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company_name: Option<String>,
    pub address1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub postal_code: Option<String>,
    pub website: Option<String>,
    pub timezone: Option<String>,
    pub source: Option<String>,
    pub assigned_to: Option<String>,
    pub date_of_birth: Option<String>,
    #[serde(rename = "type")]
    pub contact_type: Option<String>,
    pub dnd: Option<bool>,
    /// Per channel (`Call`, `SMS`, `Email`, `WhatsApp`, `GMB`, `FB`).
    pub dnd_settings: Option<BTreeMap<String, DndSetting>>,
    pub custom_fields: Option<Vec<CustomField>>,
}

/// One channel of `dndSettings`, as GoHighLevel renders it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct DndSetting {
    pub status: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub code: String,
}

/// The channels GoHighLevel documents for `dndSettings`.
pub(crate) const DND_CHANNELS: [&str; 6] = ["Call", "SMS", "Email", "WhatsApp", "GMB", "FB"];
/// `active` and `inactive` are documented; `permanent` is seen in integrations.
pub(crate) const DND_STATUSES: [&str; 3] = ["active", "inactive", "permanent"];

/// A change of a contact's do-not-disturb.
#[derive(Debug, Default)]
pub(crate) struct DndChange {
    pub dnd: Option<bool>,
    /// Channels to set; the others stay as they are, unless `replace`.
    pub settings: BTreeMap<String, DndSetting>,
    /// The channels given replace the contact's settings ([`super::account::DndUpdate::Replace`]).
    pub replace: bool,
    /// Whether GoHighLevel sends `ContactDndUpdate` for it. Inbound DND (a contact replying
    /// STOP) has been reported to send none (highlevel-api-docs#264): only a re-read sees it.
    pub webhook: bool,
}

/// The admin "create contact" call: the fields plus initial tags.
#[derive(Debug, Default)]
pub(crate) struct NewContact {
    pub fields: ContactFields,
    pub tags: Vec<String>,
}

/// What a write made GoHighLevel send.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// A Marketplace app webhook: `ContactCreate`, `ContactUpdate`, `ContactTagUpdate`,
    /// `ContactDelete`, carrying the contact as it is after the write.
    Marketplace {
        kind: &'static str,
        contact: GhlContact,
    },
    /// The workflow's "Custom Webhook" action, triggered by "Contact Tag Added".
    Workflow { contact: GhlContact },
}

pub(crate) struct GhlStore {
    location_id: String,
    contacts: BTreeMap<String, GhlContact>,
    /// The variants this account plays (clock, tag case, empty fields, read answers).
    pub account: GhlAccount,
    pub notes: Notes,
}

impl GhlStore {
    pub fn new(location_id: &str) -> Self {
        Self {
            location_id: location_id.to_owned(),
            contacts: BTreeMap::new(),
            account: GhlAccount::default(),
            notes: Notes::default(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&GhlContact> {
        self.contacts.get(id)
    }

    pub fn all(&self) -> Vec<&GhlContact> {
        let mut all: Vec<_> = self.contacts.values().collect();
        all.sort_by_key(|c| (c.date_added, c.id.clone()));
        all
    }

    /// Creating a contact that already carries the trigger tag also starts the workflow:
    /// the tag was added to the contact, which is what "Contact Tag Added" watches.
    pub fn create(&mut self, new: NewContact, trigger_tag: &str) -> (GhlContact, Vec<Event>) {
        let now = self.account.now_ms();
        let mut contact = GhlContact {
            id: ghl_id(),
            location_id: self.location_id.clone(),
            fields: ContactFields::default(),
            tags: Vec::new(),
            date_added: now,
            date_updated: now,
        };
        contact.fields.merge(new.fields);
        contact
            .fields
            .contact_type
            .get_or_insert_with(|| "lead".to_owned());
        contact.fields.dnd.get_or_insert(false);
        let added = add_tags(&mut contact.tags, &self.stored(&new.tags));
        self.contacts.insert(contact.id.clone(), contact.clone());
        let mut events = vec![Event::Marketplace {
            kind: "ContactCreate",
            contact: contact.clone(),
        }];
        if added.iter().any(|t| same_tag(t, trigger_tag)) {
            events.push(Event::Workflow {
                contact: contact.clone(),
            });
        }
        (contact, events)
    }

    /// Returns `None` for an unknown id. A write that changes nothing raises no event.
    pub fn update(&mut self, id: &str, fields: ContactFields) -> Option<(GhlContact, Vec<Event>)> {
        let now = self.account.now_ms();
        let contact = self.contacts.get_mut(id)?;
        let before = contact.fields.clone();
        contact.fields.merge(fields);
        if contact.fields == before {
            return Some((contact.clone(), Vec::new()));
        }
        touch(contact, now);
        let events = vec![Event::Marketplace {
            kind: "ContactUpdate",
            contact: contact.clone(),
        }];
        Some((contact.clone(), events))
    }

    pub fn add_tags(
        &mut self,
        id: &str,
        tags: &[String],
        trigger_tag: &str,
    ) -> Option<(GhlContact, Vec<Event>)> {
        let now = self.account.now_ms();
        let tags = self.stored(tags);
        let contact = self.contacts.get_mut(id)?;
        let added = add_tags(&mut contact.tags, &tags);
        if added.is_empty() {
            return Some((contact.clone(), Vec::new()));
        }
        touch(contact, now);
        // ContactTagUpdate carries the full tag list, not the delta (§1).
        let mut events = vec![Event::Marketplace {
            kind: "ContactTagUpdate",
            contact: contact.clone(),
        }];
        if added.iter().any(|t| same_tag(t, trigger_tag)) {
            events.push(Event::Workflow {
                contact: contact.clone(),
            });
        }
        Some((contact.clone(), events))
    }

    pub fn remove_tags(&mut self, id: &str, tags: &[String]) -> Option<(GhlContact, Vec<Event>)> {
        let now = self.account.now_ms();
        let contact = self.contacts.get_mut(id)?;
        let before = contact.tags.len();
        contact
            .tags
            .retain(|have| !tags.iter().any(|gone| same_tag(have, gone)));
        if contact.tags.len() == before {
            return Some((contact.clone(), Vec::new()));
        }
        touch(contact, now);
        let events = vec![Event::Marketplace {
            kind: "ContactTagUpdate",
            contact: contact.clone(),
        }];
        Some((contact.clone(), events))
    }

    /// `PUT /contacts/{id}` with `tags`: the list replaces every tag (GHL documents it so).
    /// One `ContactTagUpdate` for the whole change, and the workflow when the trigger tag is
    /// among the tags newly added.
    pub fn replace_tags(
        &mut self,
        id: &str,
        tags: &[String],
        trigger_tag: &str,
    ) -> Option<(GhlContact, Vec<Event>)> {
        let now = self.account.now_ms();
        let tags = self.stored(tags);
        let contact = self.contacts.get_mut(id)?;
        let mut replaced = Vec::new();
        add_tags(&mut replaced, &tags);
        let added: Vec<&String> = replaced
            .iter()
            .filter(|t| !contact.tags.iter().any(|have| same_tag(have, t)))
            .collect();
        let trigger = added.iter().any(|t| same_tag(t, trigger_tag));
        if added.is_empty() && replaced.len() == contact.tags.len() {
            return Some((contact.clone(), Vec::new()));
        }
        contact.tags = replaced;
        touch(contact, now);
        let mut events = vec![Event::Marketplace {
            kind: "ContactTagUpdate",
            contact: contact.clone(),
        }];
        if trigger {
            events.push(Event::Workflow {
                contact: contact.clone(),
            });
        }
        Some((contact.clone(), events))
    }

    /// Sets do-not-disturb; `ContactDndUpdate` (with `dndSettings`) goes out unless the change
    /// is one GoHighLevel sends no webhook for.
    pub fn set_dnd(&mut self, id: &str, change: DndChange) -> Option<(GhlContact, Vec<Event>)> {
        let now = self.account.now_ms();
        let contact = self.contacts.get_mut(id)?;
        let before = contact.fields.clone();
        if let Some(dnd) = change.dnd {
            contact.fields.dnd = Some(dnd);
        }
        if !change.settings.is_empty() {
            let settings = contact
                .fields
                .dnd_settings
                .get_or_insert_with(BTreeMap::new);
            if change.replace {
                settings.clear();
            }
            settings.extend(change.settings);
        }
        if contact.fields == before {
            return Some((contact.clone(), Vec::new()));
        }
        touch(contact, now);
        let events = if change.webhook {
            vec![Event::Marketplace {
                kind: "ContactDndUpdate",
                contact: contact.clone(),
            }]
        } else {
            Vec::new()
        };
        Some((contact.clone(), events))
    }

    /// Tags as this account stores them.
    fn stored(&self, tags: &[String]) -> Vec<String> {
        tags.iter().map(|t| self.account.stored_tag(t)).collect()
    }

    pub fn delete(&mut self, id: &str) -> Option<Vec<Event>> {
        let contact = self.contacts.remove(id)?;
        self.notes.forget(id);
        Some(vec![Event::Marketplace {
            kind: "ContactDelete",
            contact,
        }])
    }
}

impl ContactFields {
    fn merge(&mut self, new: ContactFields) {
        macro_rules! take {
            ($($f:ident),*) => { $( if new.$f.is_some() { self.$f = new.$f; } )* };
        }
        take!(
            first_name,
            last_name,
            email,
            phone,
            company_name,
            address1,
            city,
            state,
            country,
            postal_code,
            website,
            timezone,
            source,
            assigned_to,
            date_of_birth,
            contact_type,
            dnd,
            dnd_settings,
            custom_fields
        );
    }
}

/// Tags match trimmed and case-insensitively, the way a person reads them in the GHL UI.
pub(crate) fn same_tag(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// Adds the tags not yet present (trimmed, blank ones skipped); returns those actually added.
fn add_tags(tags: &mut Vec<String>, new: &[String]) -> Vec<String> {
    let mut added = Vec::new();
    for tag in new.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if !tags.iter().any(|have| same_tag(have, tag)) {
            tags.push(tag.to_owned());
            added.push(tag.to_owned());
        }
    }
    added
}

/// Every write moves `dateUpdated` forward, strictly, even twice in one millisecond (or on a
/// frozen clock): leadsync's version guard compares it, and two writes must never look like the
/// same version.
fn touch(contact: &mut GhlContact, now: i64) {
    contact.date_updated = now.max(contact.date_updated + 1);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn new_contact(tags: &[&str]) -> NewContact {
        NewContact {
            fields: ContactFields {
                first_name: Some("Ada".into()),
                ..ContactFields::default()
            },
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn date_updated_strictly_increases_within_one_millisecond() {
        let mut store = GhlStore::new("loc");
        let (c, _) = store.create(new_contact(&[]), "cold lead");
        let mut last = c.date_updated;
        for i in 0..50 {
            let (c, _) = store.add_tags(&c.id, &[format!("t{i}")], "x").unwrap();
            assert!(c.date_updated > last);
            last = c.date_updated;
        }
    }

    #[test]
    fn trigger_tag_fires_workflow_only_when_newly_added() {
        let mut store = GhlStore::new("loc");
        let (c, events) = store.create(new_contact(&[]), "cold lead");
        assert_eq!(events.len(), 1);
        let (_, events) = store
            .add_tags(&c.id, &[" Cold Lead ".into()], "cold lead")
            .unwrap();
        assert!(matches!(events[1], Event::Workflow { .. }));
        let (_, events) = store
            .add_tags(&c.id, &["cold lead".into()], "cold lead")
            .unwrap();
        assert!(
            events.is_empty(),
            "already present: nothing changes, nothing fires"
        );
    }

    fn call_dnd(status: &str) -> BTreeMap<String, DndSetting> {
        BTreeMap::from([(
            "Call".to_owned(),
            DndSetting {
                status: status.into(),
                message: String::new(),
                code: String::new(),
            },
        )])
    }

    #[test]
    fn a_dnd_change_sends_contact_dnd_update_with_the_settings_unless_it_is_inbound() {
        let mut store = GhlStore::new("loc");
        let (c, _) = store.create(new_contact(&["a"]), "cold lead");
        let change = DndChange {
            settings: call_dnd("active"),
            webhook: true,
            ..DndChange::default()
        };
        let (after, events) = store.set_dnd(&c.id, change).unwrap();
        assert!(after.date_updated > c.date_updated);
        let Event::Marketplace { kind, contact } = &events[0] else {
            panic!("expected a Marketplace event");
        };
        assert_eq!(*kind, "ContactDndUpdate");
        let body = contact.webhook_json(kind, "w", 0);
        assert_eq!(body["dnd"], false);
        assert_eq!(body["dndSettings"]["Call"]["status"], "active");
        let inbound = DndChange {
            dnd: Some(true),
            webhook: false,
            ..DndChange::default()
        };
        let (after, events) = store.set_dnd(&c.id, inbound).unwrap();
        assert!(events.is_empty(), "inbound DND sends no webhook");
        assert_eq!(after.api_json()["dnd"], true);
        assert_eq!(after.api_json()["dndSettings"]["Call"]["status"], "active");
    }

    #[test]
    fn tag_update_carries_the_full_list() {
        let mut store = GhlStore::new("loc");
        let (c, _) = store.create(new_contact(&["a"]), "cold lead");
        let (_, events) = store.add_tags(&c.id, &["b".into()], "cold lead").unwrap();
        let Event::Marketplace { kind, contact } = &events[0] else {
            panic!("expected a Marketplace event");
        };
        assert_eq!(*kind, "ContactTagUpdate");
        assert_eq!(
            contact.webhook_json(kind, "w", 0)["tags"],
            json!(["a", "b"])
        );
    }
}
