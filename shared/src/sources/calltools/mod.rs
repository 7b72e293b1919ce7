//! CallTools as a source: the dialer's REST hooks (a call and how it ended, a contact an agent
//! marked do-not-contact), carried back to the GoHighLevel contact leadsync placed in it.
//!
//! - `routes`: `POST /webhooks/calltools?model=…&token=…`. CallTools does not sign its hooks,
//!   so the subscription URL carries an unguessable token (`CALLTOOLS_HOOK_TOKEN`), compared in
//!   constant time. The body is never trusted: it only names the object to read again.
//! - `read`: under the GHL contact's lease, the object is read from the CallTools API and checked
//!   against the contact leadsync placed (`sinks.calltools.id`); what it says goes to the GHL sink.
//! - `hook`: CallTools' objects, as a hook posts them and a GET returns them (the same JSON).
//! - `scan`: the backfill's reading of recent calls, for outcomes whose hook was lost.
//! - `subscription`: the REST hook subscriptions `leadsync calltools subscribe` manages.

pub mod hook;
pub mod job;
pub mod read;
pub mod routes;
pub mod scan;
pub mod subscription;

/// The `source` of ingress's metrics and answers.
pub(crate) const SOURCE: &str = "calltools";
