//! Contact notes (`POST`/`GET /contacts/{id}/notes`). A note is not a contact field: writing one
//! leaves `dateUpdated` alone and raises no contact webhook, so a client must not expect an
//! echo of its own note.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::{ghl_id, iso_ms};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Note {
    pub id: String,
    pub body: String,
    pub user_id: Option<String>,
    pub date_added: i64,
    pub contact_id: String,
}

impl Note {
    /// The API v2 note representation.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "body": self.body,
            "userId": self.user_id,
            "dateAdded": iso_ms(self.date_added),
            "contactId": self.contact_id,
        })
    }
}

/// Every contact's notes, each list in creation order.
#[derive(Debug, Default)]
pub(crate) struct Notes(BTreeMap<String, Vec<Note>>);

impl Notes {
    pub fn add(
        &mut self,
        contact_id: &str,
        body: String,
        user_id: Option<String>,
        at: i64,
    ) -> Note {
        let note = Note {
            id: ghl_id(),
            body,
            user_id,
            date_added: at,
            contact_id: contact_id.to_owned(),
        };
        self.0
            .entry(contact_id.to_owned())
            .or_default()
            .push(note.clone());
        note
    }

    pub fn of(&self, contact_id: &str) -> Vec<Value> {
        self.0
            .get(contact_id)
            .map(|notes| notes.iter().map(Note::json).collect())
            .unwrap_or_default()
    }

    /// A deleted contact's notes go with it.
    pub fn forget(&mut self, contact_id: &str) {
        self.0.remove(contact_id);
    }
}
