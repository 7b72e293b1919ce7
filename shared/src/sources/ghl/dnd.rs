//! GoHighLevel's do-not-disturb as contact payloads carry it: `dnd` (every channel) and
//! `dndSettings` (per channel, each `{status, message, code}`), read into whether calls are
//! allowed (research/ghl_calltools.md, corrections of 2026-12-04: "DND").

use serde::Deserialize;

use crate::domain::contact::DoNotCall;

/// `dndSettings`: only the `Call` channel matters to a dialer; SMS, Email, WhatsApp, GMB and FB
/// do not stop a call.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DndSettings {
    #[serde(rename = "Call")]
    call: Option<DndChannel>,
}

#[derive(Debug, Deserialize)]
struct DndChannel {
    status: Option<String>,
}

impl DndChannel {
    /// GHL documents `active` and `inactive`; integrations also see `permanent`. Anything but
    /// `inactive` (or no status at all) forbids calls: a status leadsync cannot read is not a
    /// permission to dial.
    fn blocks(&self) -> bool {
        self.status
            .as_deref()
            .map(str::trim)
            .is_some_and(|s| !s.is_empty() && !s.eq_ignore_ascii_case("inactive"))
    }
}

/// Whether, and why, GHL forbids calling the contact. `dnd: true` wins over a per-channel setting:
/// it blocks every channel. `null` for either field is "not set".
pub(crate) fn do_not_call(dnd: Option<bool>, settings: Option<&DndSettings>) -> Option<DoNotCall> {
    if dnd == Some(true) {
        return Some(DoNotCall::AllChannels);
    }
    settings
        .and_then(|s| s.call.as_ref())
        .is_some_and(DndChannel::blocks)
        .then_some(DoNotCall::Calls)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(v: serde_json::Value) -> Option<DoNotCall> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            dnd: Option<bool>,
            dnd_settings: Option<DndSettings>,
        }
        let p: Payload = serde_json::from_value(v).unwrap();
        do_not_call(p.dnd, p.dnd_settings.as_ref())
    }

    #[test]
    fn dnd_true_forbids_every_channel() {
        assert_eq!(read(json!({"dnd": true})), Some(DoNotCall::AllChannels));
        assert_eq!(
            read(json!({"dnd": true, "dndSettings": {"Call": {"status": "active"}}})),
            Some(DoNotCall::AllChannels)
        );
    }

    #[test]
    fn an_active_or_permanent_call_setting_forbids_calls() {
        let call = |status: &str| {
            read(
                json!({"dnd": false, "dndSettings": {"Call": {"status": status, "message": "", "code": "101"}}}),
            )
        };
        assert_eq!(call("active"), Some(DoNotCall::Calls));
        assert_eq!(call("permanent"), Some(DoNotCall::Calls));
        assert_eq!(call("Active"), Some(DoNotCall::Calls));
        assert_eq!(
            call("paused-by-carrier"),
            Some(DoNotCall::Calls),
            "unknown is not allowed"
        );
        assert_eq!(call("inactive"), None);
    }

    #[test]
    fn other_channels_do_not_stop_a_call() {
        let v = json!({"dnd": false, "dndSettings": {
            "SMS": {"status": "active"}, "Email": {"status": "active"}, "WhatsApp": {"status": "active"},
            "GMB": {"status": "active"}, "FB": {"status": "active"}, "Call": {"status": "inactive"}}});
        assert_eq!(read(v), None);
    }

    #[test]
    fn null_or_missing_fields_are_not_set() {
        assert_eq!(read(json!({})), None);
        assert_eq!(read(json!({"dnd": null, "dndSettings": null})), None);
        assert_eq!(read(json!({"dndSettings": {"Call": null}})), None);
        assert_eq!(
            read(json!({"dndSettings": {"Call": {"status": null}}})),
            None
        );
        assert_eq!(read(json!({"dndSettings": {}})), None);
    }
}
