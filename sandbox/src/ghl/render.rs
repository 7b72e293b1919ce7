//! How GoHighLevel renders a contact: the API representation (§3.1), the flat Marketplace
//! webhook payload (§1) and the workflow webhook body (§2.5).

use serde_json::{Value, json};

use crate::SandboxConfig;
use crate::ghl::store::GhlContact;
use crate::support::iso_ms;

/// The workflow the sandbox pretends the location has set up.
const WORKFLOW_ID: &str = "7d3f1c52-9a4b-4e0f-8b61-2c5e9d0a7f13";
const WORKFLOW_NAME: &str = "Cold lead → CallTools";
const LOCATION_NAME: &str = "Sandbox Location";

impl GhlContact {
    fn name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.fields.first_name, &self.fields.last_name]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// The `GET /contacts/{id}` representation (§3.1 `GetContectByIdSchema`).
    pub fn api_json(&self) -> Value {
        let f = &self.fields;
        let lower = |s: &Option<String>| s.as_ref().map(|s| s.to_lowercase());
        json!({
            "id": self.id,
            "locationId": self.location_id,
            "name": self.name(),
            "firstName": f.first_name,
            "lastName": f.last_name,
            "firstNameLowerCase": lower(&f.first_name),
            "lastNameLowerCase": lower(&f.last_name),
            "fullNameLowerCase": self.name().map(|n| n.to_lowercase()),
            "email": f.email,
            "emailLowerCase": lower(&f.email),
            "additionalEmails": [],
            "phone": f.phone,
            "companyName": f.company_name,
            "address1": f.address1,
            "city": f.city,
            "state": f.state,
            "country": f.country,
            "postalCode": f.postal_code,
            "website": f.website,
            "timezone": f.timezone,
            "source": f.source,
            "assignedTo": f.assigned_to,
            "dateOfBirth": f.date_of_birth,
            "type": f.contact_type,
            "dnd": f.dnd.unwrap_or(false),
            "dndSettings": f.dnd_settings.clone().unwrap_or_default(),
            "tags": self.tags,
            "attachments": [],
            "customFields": f.custom_fields.clone().unwrap_or_default(),
            "dateAdded": iso_ms(self.date_added),
            "dateUpdated": iso_ms(self.date_updated),
        })
    }

    /// The flat Marketplace webhook payload (§1). Deliberately without `dateUpdated`: the
    /// documented webhook schema does not have it, so leadsync must not rely on it.
    pub fn webhook_json(&self, kind: &str, webhook_id: &str, timestamp_ms: i64) -> Value {
        let f = &self.fields;
        let mut v = json!({
            "type": kind,
            "locationId": self.location_id,
            "id": self.id,
            "address1": f.address1,
            "city": f.city,
            "state": f.state,
            "companyName": f.company_name,
            "country": f.country,
            "source": f.source,
            "dateAdded": iso_ms(self.date_added),
            "dateOfBirth": f.date_of_birth,
            "dnd": f.dnd.unwrap_or(false),
            "email": f.email,
            "name": self.name(),
            "firstName": f.first_name,
            "lastName": f.last_name,
            "phone": f.phone,
            "postalCode": f.postal_code,
            "tags": self.tags,
            "website": f.website,
            "attachments": [],
            "assignedTo": f.assigned_to,
            "customFields": f.custom_fields.clone().unwrap_or_default(),
            "timestamp": iso_ms(timestamp_ms),
            "webhookId": webhook_id,
        });
        // `ContactDndUpdate` adds the per-channel settings to the common schema (§1).
        if kind == "ContactDndUpdate" {
            v["dndSettings"] = json!(f.dnd_settings.clone().unwrap_or_default());
        }
        v
    }
}

/// Leaves unset fields out: the sandbox's own admin views do, whatever the played account renders.
pub(crate) fn drop_nulls(v: &mut Value) {
    if let Value::Object(map) = v {
        map.retain(|_, v| !v.is_null());
    }
}

/// The standard workflow webhook body (§2.5). `tags` is one comma-separated string, not an
/// array, and `contact_id` (not `id`) is the contact.
pub(crate) fn workflow_json(cfg: &SandboxConfig, contact: &GhlContact) -> Value {
    let f = &contact.fields;
    let full_name = [&f.first_name, &f.last_name]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let full_address = [&f.address1, &f.city, &f.state, &f.postal_code]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    json!({
        "contact_id": contact.id,
        "first_name": f.first_name,
        "last_name": f.last_name,
        "full_name": (!full_name.is_empty()).then_some(full_name),
        "phone": f.phone,
        "email": f.email,
        "tags": contact.tags.join(","),
        "country": f.country,
        "date_created": iso_ms(contact.date_added),
        "full_address": (!full_address.is_empty()).then_some(full_address),
        "contact_type": f.contact_type,
        "location": {
            "name": LOCATION_NAME,
            "address": "",
            "city": "",
            "state": "",
            "country": "US",
            "postalCode": "",
            "fullAddress": "",
            "id": cfg.location_id,
        },
        "workflow": { "id": WORKFLOW_ID, "name": WORKFLOW_NAME },
        "triggerData": {},
        "customData": {},
    })
}

#[cfg(test)]
mod tests {
    use crate::ghl::store::{ContactFields, GhlStore, NewContact};

    #[test]
    fn webhook_payload_has_no_date_updated_but_api_does() {
        let mut store = GhlStore::new("loc");
        let new = NewContact {
            fields: ContactFields::default(),
            tags: Vec::new(),
        };
        let (c, _) = store.create(new, "cold lead");
        assert!(
            c.webhook_json("ContactCreate", "w", 0)
                .get("dateUpdated")
                .is_none()
        );
        assert!(c.api_json().get("dateUpdated").is_some());
    }
}
