//! The WhatsApp webhooks: `POST /whatsapp/webhook`, the one inbound endpoint
//! (the seed's URL), which dispatches on the content type (form-encoded is
//! Twilio, JSON is Meta's Cloud API), and Meta's verification handshake
//! (`GET`). What is not HTTP (parsing, signatures, the handling of each
//! event) is in `channel`.

use super::{WebError, WebResult};
use crate::AppState;
use crate::channel::meta::{self, Event};
use crate::channel::meta_webhook::{self, EventError};
use crate::channel::twilio;
use crate::channel::webhook::{issued, mask_phone, twilio_message};
use crate::inbox::{self, Handled};
use crate::outbox::store::{self as outbox, StatusReport};
use crate::secrets::Purpose;
use crate::tenancy::{Account, Provider, store as accounts};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeSet, HashMap};
use time::OffsetDateTime;

/// Dispatches on the content type: form (Twilio) or JSON (Meta).
pub async fn receive(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> WebResult<Response> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let started = std::time::Instant::now();
    let (provider, answer) = match content_type.as_str() {
        "application/x-www-form-urlencoded" => (
            "twilio",
            receive_twilio(&state, &uri, &headers, &body).await,
        ),
        "application/json" => ("meta", receive_meta(&state, &headers, &body).await),
        _ => ("unknown", unsupported(&content_type)),
    };
    let status = match &answer {
        Ok(res) => res.status(),
        Err(e) => e.status(),
    };
    crate::telemetry::webhook(provider, status.as_u16(), started.elapsed());
    answer
}

/// The answer to a content type that is neither Twilio's nor Meta's.
fn unsupported(content_type: &str) -> WebResult<Response> {
    match content_type {
        "" => Err(WebError::UnsupportedMediaType(
            "missing Content-Type: expected application/x-www-form-urlencoded (Twilio) or application/json (Meta)".into(),
        )),
        other => Err(WebError::UnsupportedMediaType(format!(
            "unsupported Content-Type {other:?}: expected application/x-www-form-urlencoded (Twilio) or application/json (Meta)"
        ))),
    }
}

async fn receive_twilio(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> WebResult<Response> {
    let params = twilio::parse_form(body)
        .map_err(|e| WebError::BadRequest(format!("Twilio webhook: {e}")))?;
    if twilio::is_status_callback(&params) {
        return twilio_status(state, uri, headers, &params).await;
    }
    // What a WhatsApp message must carry is checked first (nothing is
    // stored before the signature is, below): a clear 400, logged.
    let inbound = twilio::parse_inbound(&params).map_err(|e| {
        tracing::warn!(error = %e, "Twilio message refused");
        WebError::BadRequest(format!("Twilio webhook: {e}"))
    })?;
    let account = twilio_account(state, twilio::bare_number(&inbound.to)).await?;
    // The signature is checked before anything is stored.
    check_twilio_signature(state, uri, headers, &params, &account)?;
    let header_str = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());

    let message = twilio_message(&inbound);
    let flow_config = account.flow_config(&state.config);
    let (texts, qr) = match inbox::handle_inbound(&state.inbox(), &account, &message).await? {
        // Its first answer never reached Twilio: the same again.
        Handled::Duplicate(again) => {
            let again = again.unwrap_or_default();
            if !again.texts.is_empty() {
                crate::telemetry::messages_out(&account, again.texts.len());
            }
            (again.texts, again.qr)
        }
        Handled::Processed {
            replies, events, ..
        } => (
            replies.into_iter().map(|r| r.text).collect(),
            issued(&events).filter(|_| flow_config.qr_enabled).cloned(),
        ),
    };
    let mut messages: Vec<twilio::OutboundTwiml> = texts
        .into_iter()
        .map(|body| twilio::OutboundTwiml {
            body,
            media_urls: Vec::new(),
        })
        .collect();
    // The QR image rides on the last message, as a signed link that expires.
    if let Some(uic) = qr
        && let Some(last) = messages.last_mut()
    {
        last.media_urls.push(twilio::public_url(
            state.config.public_url.as_deref(),
            header_str("host"),
            header_str("x-forwarded-proto"),
            header_str("x-forwarded-host"),
            &state.qr_links.path(&uic, OffsetDateTime::now_utc()),
        ));
    }
    Ok((
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        twilio::twiml(&messages),
    )
        .into_response())
}

/// The enabled Twilio account whose WhatsApp number is `number`.
async fn twilio_account(state: &AppState, number: &str) -> WebResult<Account> {
    state
        .accounts
        .get_or_load(
            format!("twilio:{number}"),
            accounts::find_by_number(&state.db, Provider::Twilio, number),
        )
        .await?
        .ok_or_else(|| {
            WebError::not_found(format!(
                "no Twilio WhatsApp account is configured for the number {}",
                mask_phone(number)
            ))
        })
}

/// `X-Twilio-Signature` over the URL Twilio requested (rebuilt from
/// `PUBLIC_URL`, or the proxy's headers) and the form, with the account's
/// auth token.
fn check_twilio_signature(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    params: &[(String, String)],
    account: &Account,
) -> WebResult<()> {
    let token = account
        .secret(&state.secrets, Purpose::TwilioAuthToken)
        .ok_or_else(|| WebError::forbidden("this Twilio account has no auth token configured"))?;
    let token = token.expose_secret();
    let header_value = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    let path_and_query = uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/whatsapp/webhook");
    let header_str = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let url = twilio::public_url(
        state.config.public_url.as_deref(),
        header_str("host"),
        header_str("x-forwarded-proto"),
        header_str("x-forwarded-host"),
        path_and_query,
    );
    let valid = header_value.is_some_and(|sig| twilio::verify_signature(token, &url, params, sig));
    if !valid {
        tracing::warn!(account = %account.slug, "Twilio webhook rejected: missing or invalid X-Twilio-Signature");
        return Err(WebError::forbidden("invalid or missing X-Twilio-Signature"));
    }
    Ok(())
}

/// A status callback of a message the outbox sent through Twilio's REST
/// API (reference B.3): the account is the sender's (`From`), the signature
/// is checked with its auth token, and the status moves the message forward
/// only (callbacks arrive out of order). The callback URL names the outbox
/// row (`?outbox=42`), which finds the message even before the send's
/// answer was recorded.
async fn twilio_status(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> WebResult<Response> {
    let callback = twilio::parse_status_callback(params).map_err(|e| {
        tracing::warn!(error = %e, "Twilio status callback refused");
        WebError::BadRequest(format!("Twilio status callback: {e}"))
    })?;
    let account = twilio_account(state, twilio::bare_number(&callback.from)).await?;
    check_twilio_signature(state, uri, headers, params, &account)?;
    if let (Some(given), Some(ours)) = (&callback.account_sid, &account.twilio_account_sid)
        && given != ours
    {
        return Err(WebError::forbidden(
            "the callback's AccountSid is not this number's Twilio account",
        ));
    }
    let Some(status) = callback.message_status() else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let outbox_id = uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "outbox")
            .and_then(|(_, v)| v.parse::<i64>().ok())
    });
    let applied = outbox::apply_status(
        &state.db,
        &StatusReport {
            account_id: account.id,
            provider_message_id: &callback.message_sid,
            status: status.as_str(),
            error_code: callback.error_code,
            error_message: callback.error_message.as_deref(),
            outbox_id,
        },
        OffsetDateTime::now_utc(),
    )
    .await?;
    if status == crate::inbox::MessageStatus::Failed {
        tracing::warn!(account = %account.slug, code = callback.error_code, "Twilio reports a message as failed");
    }
    applied.tell(&state.live, &account);
    if !applied.found() {
        tracing::debug!(account = %account.slug, status = %status, "Twilio status for a message not sent from here");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /whatsapp/webhook?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`:
/// answered with the challenge as plain text when the token is one of the
/// Meta accounts' verify tokens, 403 otherwise.
pub async fn verify(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> WebResult<Response> {
    let get = |k: &str| params.get(k).map(String::as_str);
    // Each Meta account's verify token is opened and compared in constant
    // time. A deployment has few Meta accounts, and a verify token is
    // chosen by a person (often guessable): a lookup column holding its
    // unkeyed hash would hand a database dump a dictionary attack on it.
    let known = accounts::meta_accounts(&state.db).await?;
    let is_known = |token: &str| {
        known.iter().any(|a| {
            a.secret(&state.secrets, Purpose::MetaVerifyToken)
                .is_some_and(|t| meta::tokens_equal(t.expose_secret(), token))
        })
    };
    match meta::verify_challenge(
        get("hub.mode"),
        get("hub.verify_token"),
        get("hub.challenge"),
        is_known,
    ) {
        Ok(challenge) => Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge.to_string(),
        )
            .into_response()),
        Err(e) => {
            tracing::warn!(error = %e, "Meta verification handshake refused");
            Err(WebError::forbidden(format!(
                "webhook verification refused: {e}"
            )))
        }
    }
}

/// `POST /whatsapp/webhook` with JSON. The signature is checked, with the
/// app secret of every account the body names, before anything is stored;
/// then each message goes through the inbox in order, each status updates
/// its message. Numbers no account has are kept as dead letters and
/// answered 200, so Meta does not retry them for a week.
async fn receive_meta(state: &AppState, headers: &HeaderMap, body: &[u8]) -> WebResult<Response> {
    let events = meta::parse_notification(body)
        .map_err(|e| WebError::BadRequest(format!("Meta webhook: {e}")))?;
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    let Some(signature) = signature else {
        return Err(WebError::Unauthorized(
            "missing X-Hub-Signature-256 header".into(),
        ));
    };

    let named: BTreeSet<&str> = events.iter().map(Event::phone_number_id).collect();
    let mut known: HashMap<&str, Account> = HashMap::new();
    let mut unknown: Vec<&str> = Vec::new();
    for id in named {
        let found = state
            .accounts
            .get_or_load(
                format!("meta:{id}"),
                accounts::find_by_meta_phone_number_id(&state.db, id),
            )
            .await?;
        match found {
            Some(account) => {
                known.insert(id, account);
            }
            None => unknown.push(id),
        }
    }
    // Every account named must have signed the body: one programme's app
    // secret cannot speak for another's number.
    for account in known.values() {
        let Some(secret) = account.secret(&state.secrets, Purpose::MetaAppSecret) else {
            tracing::warn!(account = %account.slug, "Meta webhook refused: the account has no app secret");
            return Err(WebError::forbidden(format!(
                "the WhatsApp account {} has no Meta app secret configured: its webhooks cannot be checked",
                account.slug
            )));
        };
        if !meta::verify_signature(secret.expose_secret(), body, Some(signature)) {
            tracing::warn!(account = %account.slug, "Meta webhook refused: invalid X-Hub-Signature-256");
            return Err(WebError::forbidden("invalid X-Hub-Signature-256"));
        }
    }
    if known.is_empty() {
        // Only numbers we do not serve (or nothing we handle): it must come
        // from one of our apps to be kept.
        let all = accounts::meta_accounts(&state.db).await?;
        let signed = all.iter().any(|a| {
            a.secret(&state.secrets, Purpose::MetaAppSecret)
                .is_some_and(|s| meta::verify_signature(s.expose_secret(), body, Some(signature)))
        });
        if !signed {
            tracing::warn!("Meta webhook refused: its signature matches no configured app secret");
            return Err(WebError::forbidden("invalid X-Hub-Signature-256"));
        }
    }

    let now = OffsetDateTime::now_utc();
    if !unknown.is_empty() {
        tracing::warn!(
            phone_number_ids = ?unknown,
            "Meta webhook for numbers no account has: kept as a dead letter"
        );
        let theirs: Vec<&Event> = events
            .iter()
            .filter(|e| !known.contains_key(e.phone_number_id()))
            .collect();
        meta_webhook::dead_letter(
            &state.db,
            "no WhatsApp account has this phone_number_id",
            &unknown.join(","),
            &theirs,
            now,
        )
        .await?;
    }

    // Each event on its own: one that cannot be stored goes to the dead
    // letters and the others are still answered. Only a failure that a
    // retry may mend (the database unreachable or busy) fails the request,
    // so that Meta delivers the batch again; what was stored is then seen
    // as a duplicate, never answered twice.
    for event in &events {
        let Some(account) = known.get(event.phone_number_id()) else {
            continue;
        };
        let handled = meta_webhook::handle_event(&state.inbox(), account, event, now).await;
        if let Err(e) = handled.map_err(event_error) {
            if e.is_transient() {
                return Err(e);
            }
            let reason = match &e {
                WebError::Internal(_) => "could not be stored".to_string(),
                other => other.to_string(),
            };
            tracing::error!(account = %account.slug, error = %e, "Meta webhook: an event could not be handled; kept as a dead letter");
            meta_webhook::dead_letter(&state.db, &reason, &account.slug, &[event], now).await?;
        }
    }
    Ok(StatusCode::OK.into_response())
}

/// An event's failure as the answer to Meta: a database error keeps its
/// own mapping (see `WebError`), so that only what a retry may mend is 503.
fn event_error(e: EventError) -> WebError {
    match e {
        EventError::Inbox(e) => e.into(),
        EventError::Database(e) => e.into(),
    }
}
