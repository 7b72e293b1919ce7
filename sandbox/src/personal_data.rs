//! The personal data the played accounts hold: the names, phone numbers and emails of every
//! GoHighLevel and CallTools contact and Meta user, whoever created them. The end-to-end tests
//! look for each of them in leadsync's logs.

use std::collections::BTreeSet;

use super::state::Inner;
use super::support::lock;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonalData {
    pub names: BTreeSet<String>,
    pub phones: BTreeSet<String>,
    pub emails: BTreeSet<String>,
}

impl PersonalData {
    pub(crate) fn of(state: &Inner) -> Self {
        let mut data = Self::default();
        for c in lock(&state.ghl).all() {
            let f = &c.fields;
            data.add(&f.first_name, &f.last_name, &f.phone, &f.email);
        }
        for c in lock(&state.calltools).all_contacts() {
            let text = |k: &str| c[k].as_str().map(str::to_owned);
            data.add(
                &text("first_name"),
                &text("last_name"),
                &None,
                &text("email"),
            );
            data.add(&None, &None, &None, &text("personal_email_address"));
            for phone in c["_phone_numbers"].as_array().into_iter().flatten() {
                data.add(&None, &None, &phone.as_str().map(str::to_owned), &None);
            }
        }
        for u in lock(&state.meta.world).users() {
            data.add(&Some(u.name.clone()), &u.last_name, &None, &None);
            data.add(&u.first_name, &u.username, &None, &None);
        }
        data
    }

    fn add(
        &mut self,
        first: &Option<String>,
        last: &Option<String>,
        phone: &Option<String>,
        email: &Option<String>,
    ) {
        let put = |set: &mut BTreeSet<String>, v: &Option<String>| {
            if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                set.insert(v.to_owned());
            }
        };
        put(&mut self.names, first);
        put(&mut self.names, last);
        put(&mut self.phones, phone);
        put(&mut self.emails, email);
    }
}
