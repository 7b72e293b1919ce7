//! Graph API errors in Graph's own shape, `{"error":{message,type,code,error_subcode?,
//! fbtrace_id}}`, with the HTTP statuses Graph uses (400 for almost everything, OAuthException
//! included) and the throttling headers a client must read to back off (research §6).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use crate::meta::ids::fbtrace_id;

/// One Graph error, ready to render.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GraphError {
    pub status: StatusCode,
    pub code: u32,
    pub subcode: Option<u32>,
    pub kind: &'static str,
    pub message: String,
    pub transient: bool,
    /// For throttling: the Business Use Case type and the minutes until access returns.
    pub throttle: Option<Throttle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Throttle {
    pub use_case: &'static str,
    pub regain_minutes: u32,
    /// Code 4 (the app's own limit) also shows in `X-App-Usage` at 100 % or more.
    pub app_exhausted: bool,
}

/// The codes `POST /_sandbox/meta/faults` can inject.
pub(crate) const FAULT_CODES: [u32; 11] =
    [4, 17, 32, 613, 80001, 80002, 80006, 190, 2018218, 230, 500];

impl GraphError {
    fn new(status: StatusCode, code: u32, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            subcode: None,
            kind,
            message: message.into(),
            transient: false,
            throttle: None,
        }
    }

    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            190,
            "OAuthException",
            "Invalid OAuth access token - Cannot parse access token",
        )
    }

    /// Code 100 "(#100) ...": a bad parameter or field.
    pub fn param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 100, "OAuthException", message)
    }

    pub fn nonexisting_field(field: &str, node_type: &str) -> Self {
        Self::param(format!(
            "(#100) Tried accessing nonexisting field ({field}) on node type ({node_type})"
        ))
    }

    /// An id Graph does not know (or cannot show this token, or not with this method),
    /// subcode 33; `method` is lowercase (`get`, `post`).
    pub fn unknown_object(method: &str, id: &str) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            100,
            "GraphMethodException",
            format!(
                "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded \
                 due to missing permissions, or does not support this operation. Please read the \
                 Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
        );
        e.subcode = Some(33);
        e
    }

    pub fn unknown_path(path: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            2500,
            "OAuthException",
            format!("Unknown path components: {path}"),
        )
    }

    /// Older than the 20 most recent messages of its conversation (research §5).
    pub fn message_deleted() -> Self {
        Self::param("(#100) This message has been deleted")
    }

    pub fn no_profile() -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            100,
            "OAuthException",
            "No profile available for this user.",
        );
        e.subcode = Some(2018218);
        e
    }

    pub fn no_consent() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            230,
            "OAuthException",
            "(#230) User consent is required to access user profile",
        )
    }

    /// The Conversations API's 2 calls/s limit: 80006 on Messenger, 80002 on Instagram.
    pub fn conversations_throttled(platform: &'static str) -> Self {
        let code = if platform == "instagram" {
            80002
        } else {
            80006
        };
        Self::throttled(code, platform, 0)
    }

    /// A throttling error with its use-case header; the statuses follow Graph (4, 17 and 613
    /// come back as 403, the Page and messaging limits as 400).
    fn throttled(code: u32, use_case: &'static str, regain_minutes: u32) -> Self {
        let (status, message) = match code {
            4 => (
                StatusCode::FORBIDDEN,
                "(#4) Application request limit reached",
            ),
            17 => (StatusCode::FORBIDDEN, "(#17) User request limit reached"),
            613 => (
                StatusCode::FORBIDDEN,
                "(#613) Calls to this api have exceeded the rate limit.",
            ),
            32 => (StatusCode::BAD_REQUEST, "(#32) Page request limit reached"),
            80001 => (
                StatusCode::BAD_REQUEST,
                "There have been too many calls to this Page account. Wait a bit and try again.",
            ),
            80002 => (
                StatusCode::BAD_REQUEST,
                "There have been too many calls to this Instagram account. Wait a bit and try again.",
            ),
            _ => (
                StatusCode::BAD_REQUEST,
                "There have been too many calls to this Messenger account. Wait a bit and try again.",
            ),
        };
        let mut e = Self::new(status, code, "OAuthException", message);
        e.transient = true;
        e.throttle = Some(Throttle {
            use_case,
            regain_minutes,
            app_exhausted: code == 4,
        });
        e
    }

    /// The error an injected fault code stands for; `None` for a code outside [`FAULT_CODES`].
    pub fn for_fault(code: u32, regain_minutes: u32) -> Option<Self> {
        Some(match code {
            4 | 17 | 613 | 32 | 80001 => Self::throttled(code, "pages", regain_minutes),
            80002 => Self::throttled(code, "instagram", regain_minutes),
            80006 => Self::throttled(code, "messenger", regain_minutes),
            190 => Self::invalid_token(),
            2018218 => Self::no_profile(),
            230 => Self::no_consent(),
            500 => {
                let mut e = Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    2,
                    "OAuthException",
                    "An unexpected error has occurred. Please retry your request later.",
                );
                e.transient = true;
                e
            }
            _ => return None,
        })
    }

    pub fn body(&self) -> Value {
        let mut error = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": fbtrace_id(),
        });
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = json!(subcode);
        }
        if self.transient {
            error["is_transient"] = json!(true);
        }
        json!({ "error": error })
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_code_has_an_error() {
        for code in FAULT_CODES {
            let e = GraphError::for_fault(code, 3).unwrap();
            assert!(e.body()["error"]["fbtrace_id"].is_string());
        }
        assert!(GraphError::for_fault(999, 0).is_none());
    }

    #[test]
    fn statuses_follow_graph() {
        let status = |code| GraphError::for_fault(code, 0).unwrap().status.as_u16();
        assert_eq!(status(4), 403);
        assert_eq!(status(613), 403);
        assert_eq!(status(80006), 400);
        assert_eq!(status(190), 400);
        assert_eq!(status(500), 500);
        let profile = GraphError::for_fault(2018218, 0).unwrap().body();
        assert_eq!(profile["error"]["code"], 100);
        assert_eq!(profile["error"]["error_subcode"], 2018218);
    }
}
