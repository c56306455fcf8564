//! Answers: the reply type, its rendering, and the Graph error objects.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::*;

// ---------------------------------------------------------------------------
// Answers

pub(super) enum Reply {
    Http {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
        retry_after: Option<u64>,
    },
    Reset,
}

impl Reply {
    pub(super) fn json(status: u16, v: &Value) -> Reply {
        Reply::Http {
            status,
            content_type: "application/json; charset=UTF-8",
            body: v.to_string().into_bytes(),
            retry_after: None,
        }
    }
}

/// A body whose first poll is an error: hyper then drops the connection
/// without writing the (still buffered) response head.
struct ResetBody;

impl http_body::Body for ResetBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))))
    }
}

pub(super) fn render(reply: Reply) -> (Response, u16) {
    match reply {
        Reply::Reset => (Response::new(Body::new(ResetBody)), 0),
        Reply::Http {
            status,
            content_type,
            body,
            retry_after,
        } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut b = Response::builder().status(code);
            if !content_type.is_empty() {
                b = b.header(header::CONTENT_TYPE, content_type);
            }
            if let Some(secs) = retry_after {
                b = b.header(header::RETRY_AFTER, secs.to_string());
            }
            let resp = b
                .body(Body::from(body))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
            (resp, code.as_u16())
        }
    }
}

/// Title and `error_data.details` of the codes of reference A.7.
pub(super) fn error_info(code: i64) -> (&'static str, &'static str) {
    match code {
        0 => (
            "AuthException",
            "We were unable to authenticate the app user.",
        ),
        1 => (
            "An unknown error occurred",
            "Invalid request or possible server error.",
        ),
        2 => (
            "Service temporarily unavailable",
            "Temporary due to downtime or due to being overloaded.",
        ),
        3 => (
            "Capability or permissions issue",
            "The app lacks the capability or permission for this action.",
        ),
        4 => (
            "Application request limit reached",
            "The app has reached its API call rate limit.",
        ),
        10 => (
            "Application does not have permission for this action",
            "Permission is either not granted or has been removed.",
        ),
        100 => ("Invalid parameter", "Invalid parameter."),
        190 => (
            "Invalid OAuth access token",
            "The access token has expired or is invalid.",
        ),
        200..=299 => (
            "Permissions error",
            "Permission is either not granted or has been removed.",
        ),
        368 => (
            "Temporarily blocked for policies violations",
            "The WhatsApp Business Account is restricted for policy violations.",
        ),
        80007 => (
            "Rate limit issues",
            "The WhatsApp Business Account has reached its rate limit.",
        ),
        130429 => (
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
        ),
        130472 => (
            "User's number is part of an experiment",
            "Failed to send message because this user's phone number is part of an experiment.",
        ),
        130497 => (
            "Business account is restricted from messaging users in this country",
            "The business account is restricted from messaging users in this country.",
        ),
        131000 => (
            "Something went wrong",
            "Message failed to send due to an unknown error.",
        ),
        131005 => (
            "Access denied",
            "Permission is either not granted or has been removed.",
        ),
        131008 => (
            "Required parameter is missing",
            "The request is missing a required parameter.",
        ),
        131009 => (
            "Parameter value is not valid",
            "One or more parameter values are invalid.",
        ),
        131016 => (
            "Service unavailable",
            "A service is temporarily unavailable.",
        ),
        131021 => (
            "Recipient cannot be sender",
            "Sender and recipient phone number is the same.",
        ),
        131026 => ("Message undeliverable", "Unable to deliver message."),
        131030 => (
            "Recipient phone number not in allowed list",
            "Recipient phone number not in allowed list.",
        ),
        131031 => (
            "Business Account locked",
            "The WhatsApp Business Account associated with the app has been restricted or disabled.",
        ),
        131042 => (
            "Business eligibility payment issue",
            "There was an error related to your payment method.",
        ),
        131045 => (
            "Incorrect certificate",
            "Message failed to send due to a phone number registration error.",
        ),
        131047 => (
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        ),
        131048 => (
            "Spam rate limit hit",
            "Message failed to send because there are restrictions on how many messages can be sent from this phone number.",
        ),
        131049 => (
            "This message was not delivered to maintain healthy ecosystem engagement.",
            "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
        ),
        131050 => (
            "User has stopped marketing messages",
            "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
        ),
        131051 => ("Unsupported message type", "Unsupported message type."),
        131052 => (
            "Media download error",
            "Unable to download the media sent by the user.",
        ),
        131053 => (
            "Media upload error",
            "Unable to upload the media used in the message.",
        ),
        131056 => (
            "(Business Account, Consumer Account) pair rate limit hit",
            "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.",
        ),
        131057 => (
            "Account in maintenance mode",
            "Business Account is in maintenance mode.",
        ),
        131062 => (
            "Business-scoped user id recipients not supported",
            "This message cannot be sent to a business-scoped user id.",
        ),
        132000 => (
            "Number of parameters does not match the expected number of params",
            "The number of variable parameter values does not match the template.",
        ),
        132001 => (
            "Template name does not exist in the translation",
            "The template does not exist in the specified language or has not been approved.",
        ),
        132012 => (
            "Parameter format does not match format in the created template",
            "Variable parameter values formatted incorrectly.",
        ),
        132015 => (
            "Template is Paused",
            "Template is paused due to low quality.",
        ),
        132016 => (
            "Template is Disabled",
            "Template has been paused too many times due to low quality.",
        ),
        135000 => (
            "Generic user error",
            "Message failed to send because of an unknown error with your request parameters.",
        ),
        _ => ("Unknown error", "An error occurred."),
    }
}

fn default_status(code: i64) -> u16 {
    match code {
        190 => 401,
        1 | 131000 => 500,
        2 | 131016 => 503,
        _ => 400,
    }
}

pub(super) fn fbtrace_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut s = String::from("A");
    for _ in 0..22 {
        s.push(ALPHABET[rand::random_range(0..ALPHABET.len())] as char);
    }
    s
}

pub(super) fn error_body(
    code: i64,
    message: &str,
    details: Option<&str>,
    subcode: Option<i64>,
) -> Value {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": fbtrace_id(),
    });
    if let Some(details) = details {
        error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
    }
    if let Some(sub) = subcode {
        error["error_subcode"] = json!(sub);
    }
    json!({ "error": error })
}

/// A WhatsApp error with its default HTTP status and these details.
pub(super) fn wa_error(code: i64, details: impl Into<String>) -> Reply {
    let (title, _) = error_info(code);
    let details = details.into();
    Reply::json(
        default_status(code),
        &error_body(code, &format!("(#{code}) {title}"), Some(&details), None),
    )
}

pub(super) fn failure_reply(f: &Failure) -> Reply {
    let coded = |code: i64, status: u16, retry_after: Option<u64>| {
        let (title, details) = error_info(code);
        let body = if code == 190 {
            error_body(
                190,
                "Error validating access token: The session has been invalidated.",
                None,
                Some(460),
            )
        } else {
            error_body(code, &format!("(#{code}) {title}"), Some(details), None)
        };
        Reply::Http {
            status,
            content_type: "application/json; charset=UTF-8",
            body: body.to_string().into_bytes(),
            retry_after,
        }
    };
    match *f {
        Failure::Code(c) => coded(c, default_status(c), None),
        Failure::CodeWithStatus(c, s) => coded(c, s, None),
        Failure::CodeWithRetryAfter(c, secs) => coded(c, default_status(c), Some(secs)),
        Failure::Status(s) => {
            let reason = StatusCode::from_u16(s)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("Error");
            Reply::Http {
                status: s,
                content_type: "text/html",
                body: format!("<html><body><h1>{s} {reason}</h1></body></html>").into_bytes(),
                retry_after: None,
            }
        }
        Failure::Reset => Reply::Reset,
    }
}

pub(super) fn token_error(state: &TokenState, now: i64) -> Reply {
    let (message, subcode) = match state {
        TokenState::Expired(at) => (
            format!(
                "Error validating access token: Session has expired at unix time {at}. The current unix time is {now}."
            ),
            Some(463),
        ),
        TokenState::Invalidated => (
            "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.".to_string(),
            Some(460),
        ),
        _ => (
            "Invalid OAuth access token - Cannot parse access token".to_string(),
            None,
        ),
    };
    Reply::json(401, &error_body(190, &message, None, subcode))
}

pub(super) fn no_such_object(verb: &str, id: &str) -> Reply {
    Reply::json(
        400,
        &error_body(
            100,
            &format!(
                "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
            None,
            Some(33),
        ),
    )
}

pub(super) fn not_found(path: &str) -> Reply {
    Reply::json(
        404,
        &error_body(100, &format!("Unknown path components: {path}"), None, None),
    )
}

pub(super) fn graph_error(status: u16, code: i64, message: &str) -> Reply {
    Reply::json(status, &error_body(code, message, None, None))
}
