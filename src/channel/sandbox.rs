//! The sandbox provider: messages go nowhere, replies come back in the HTTP
//! answer. Lets a newcomer talk to the bot with no WhatsApp account.

use crate::AppState;
use crate::config::is_e164;
use crate::error::{AppError, AppResult};
use crate::flow::Reply;
use crate::inbox::{self, Handled, NewInbound};
use crate::tenancy::{Provider, store as accounts};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

/// What a simulated phone sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxMessage {
    /// The simulated sender, E.164 (`+243990000001`).
    pub from: String,
    pub text: String,
    /// Optional client id; a message sent twice with one id is handled once.
    #[serde(default)]
    pub id: Option<String>,
    /// Optional id of a tapped choice (`g2`).
    #[serde(default)]
    pub choice: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SandboxAnswer {
    pub duplicate: bool,
    pub replies: Vec<Reply>,
    /// A link (relative, expiring) to the QR image of the code just issued,
    /// when the account has QR codes on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_url: Option<String>,
}

/// `POST /sandbox/{account}/messages`.
///
/// Answers only requests from this machine: on a server reachable from the
/// internet, anyone could otherwise fill the registry with made-up codes.
/// Staff use the phone simulator of the web pages instead.
pub async fn post_message(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    parts: axum::http::request::Parts,
    body: Result<Json<SandboxMessage>, JsonRejection>,
) -> AppResult<Json<SandboxAnswer>> {
    // The socket's peer only (X-Forwarded-For is whatever the sender wrote),
    // and not relayed: a proxy on this machine connects from loopback on
    // behalf of everyone, and says so in a forwarding header.
    let relayed = ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|h| parts.headers.contains_key(*h));
    let from_here = !relayed
        && crate::web::peer_ip(&parts).is_some_and(|ip| match ip {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
            v4 => v4.is_loopback(),
        });
    if !from_here {
        return Err(AppError::Forbidden(
            "the sandbox endpoint answers only on the server itself; use the phone simulator of the staff pages".into(),
        ));
    }
    let Json(msg) = body.map_err(|e| match e {
        JsonRejection::MissingJsonContentType(e) => AppError::UnsupportedMediaType(e.body_text()),
        other => AppError::BadRequest(other.body_text()),
    })?;
    let account = accounts::find_by_slug(&state.db, &slug)
        .await?
        .filter(|a| a.provider() == Provider::Sandbox && a.enabled)
        .ok_or_else(|| AppError::NotFound(format!("no sandbox account named {slug:?}")))?;
    if !is_e164(&msg.from) {
        return Err(AppError::BadRequest(format!(
            "from: {:?} is not an international number such as +243990000001",
            msg.from
        )));
    }
    if msg.text.chars().count() > 4096 {
        return Err(AppError::BadRequest(
            "text: longer than 4096 characters (WhatsApp's limit)".into(),
        ));
    }
    if let Some(id) = &msg.id
        && (id.is_empty() || id.len() > 128 || !crate::input::is_clean_identifier(id))
    {
        return Err(AppError::BadRequest(
            "id: must be 1 to 128 characters, without control characters".into(),
        ));
    }
    if let Some(choice) = &msg.choice
        && (choice.len() > 256 || !crate::input::is_clean_identifier(choice))
    {
        return Err(AppError::BadRequest(
            "choice: must be at most 256 characters, without control characters".into(),
        ));
    }
    let inbound = NewInbound {
        provider_message_id: msg
            .id
            .unwrap_or_else(|| format!("sandbox-{}", uuid::Uuid::now_v7())),
        from: msg.from,
        profile_name: None,
        // Like WhatsApp's, a simulated person's text is cleaned, not refused.
        text: crate::input::strip_owned(msg.text),
        choice_id: msg.choice,
        kind: "text".into(),
        media_ref: None,
        sent_at: None,
    };
    Ok(Json(exchange(&state, &account, &inbound).await?))
}

/// Runs one simulated message through the bot: the replies, and the QR link
/// of a code just issued (shared by the JSON endpoint and the web simulator).
pub async fn exchange(
    state: &AppState,
    account: &crate::tenancy::Account,
    inbound: &NewInbound,
) -> AppResult<SandboxAnswer> {
    Ok(
        match inbox::handle_inbound(state, account, inbound).await? {
            Handled::Duplicate => SandboxAnswer {
                duplicate: true,
                replies: Vec::new(),
                qr_url: None,
            },
            Handled::Processed {
                replies, events, ..
            } => SandboxAnswer {
                duplicate: false,
                replies,
                qr_url: crate::channel::webhook::issued(&events)
                    .filter(|_| account.flow_config(&state.config).qr_enabled)
                    .map(|uic| {
                        let expires = time::OffsetDateTime::now_utc() + crate::qr::LINK_LIFETIME;
                        format!("/qr/{}.png", state.qr_links.token(uic, expires))
                    }),
            },
        },
    )
}
