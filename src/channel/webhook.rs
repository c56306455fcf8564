//! `POST /whatsapp/webhook`: the one inbound endpoint (the seed's URL).

use crate::AppState;
use crate::channel::{meta_webhook, twilio};
use crate::error::{AppError, AppResult};
use crate::inbox::{self, Handled, NewInbound};
use crate::tenancy::{Provider, store as accounts};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// Dispatches on the content type: form (Twilio) or JSON (Meta).
pub async fn receive(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Response> {
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
    match content_type.as_str() {
        "application/x-www-form-urlencoded" => receive_twilio(&state, &uri, &headers, &body).await,
        "application/json" => meta_webhook::receive(&state, &headers, &body).await,
        "" => Err(AppError::UnsupportedMediaType(
            "missing Content-Type: expected application/x-www-form-urlencoded (Twilio) or application/json (Meta)".into(),
        )),
        other => Err(AppError::UnsupportedMediaType(format!(
            "unsupported Content-Type {other:?}: expected application/x-www-form-urlencoded (Twilio) or application/json (Meta)"
        ))),
    }
}

async fn receive_twilio(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> AppResult<Response> {
    let params = twilio::parse_form(body)
        .map_err(|e| AppError::BadRequest(format!("Twilio webhook: {e}")))?;
    if twilio::is_status_callback(&params) {
        // Replies go out in TwiML, without a status callback URL; a callback
        // here is for a number configured elsewhere. Acknowledge it.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    // What a WhatsApp message must carry is checked first (nothing is
    // stored before the signature is, below): a clear 400, logged.
    let inbound = twilio::parse_inbound(&params).map_err(|e| {
        tracing::warn!(error = %e, "Twilio message refused");
        AppError::BadRequest(format!("Twilio webhook: {e}"))
    })?;
    let to = twilio::bare_number(&inbound.to);
    let account = state
        .accounts
        .get_or_load(
            format!("twilio:{to}"),
            accounts::find_by_number(&state.db, Provider::Twilio, to),
        )
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "no Twilio WhatsApp account is configured for the number {}",
                mask_phone(to)
            ))
        })?;

    // The signature is checked before anything is stored.
    let token = account.twilio_auth_token.as_deref().ok_or_else(|| {
        AppError::Forbidden("this Twilio account has no auth token configured".into())
    })?;
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
    let valid = header_value.is_some_and(|sig| twilio::verify_signature(token, &url, &params, sig));
    if !valid {
        tracing::warn!(account = %account.slug, "Twilio webhook rejected: missing or invalid X-Twilio-Signature");
        return Err(AppError::Forbidden(
            "invalid or missing X-Twilio-Signature".into(),
        ));
    }

    let message = NewInbound {
        provider_message_id: inbound.message_sid.clone(),
        from: twilio::bare_number(&inbound.from).to_string(),
        profile_name: inbound.profile_name.clone(),
        text: inbound.body.clone(),
        choice_id: inbound.button_payload.clone(),
        kind: if inbound.num_media > 0 {
            inbound
                .media
                .first()
                .map(|(_, t)| media_kind(t))
                .unwrap_or("media")
                .to_string()
        } else {
            "text".to_string()
        },
        media_ref: inbound.media.first().map(|(url, _)| url.clone()),
        sent_at: None,
    };
    let (replies, events) = match inbox::handle_inbound(state, &account, &message).await? {
        Handled::Duplicate => (Vec::new(), Vec::new()),
        Handled::Processed {
            replies, events, ..
        } => (replies, events),
    };
    let mut messages: Vec<twilio::OutboundTwiml> = replies
        .into_iter()
        .map(|r| twilio::OutboundTwiml {
            body: r.text,
            media_urls: Vec::new(),
        })
        .collect();
    // The QR image rides on the last message, as a signed link that expires.
    if let Some(uic) = issued(&events)
        && account.flow_config(&state.config).qr_enabled
        && let Some(last) = messages.last_mut()
    {
        let token = state.qr_links.token(
            uic,
            time::OffsetDateTime::now_utc() + crate::qr::LINK_LIFETIME,
        );
        last.media_urls.push(twilio::public_url(
            state.config.public_url.as_deref(),
            header_str("host"),
            header_str("x-forwarded-proto"),
            header_str("x-forwarded-host"),
            &format!("/qr/{token}.png"),
        ));
    }
    Ok((
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        twilio::twiml(&messages),
    )
        .into_response())
}

/// The code an inbound message issued, if any.
pub fn issued(events: &[crate::flow::Event]) -> Option<&crate::uic::Uic> {
    events.iter().find_map(|e| match e {
        crate::flow::Event::UicIssued { uic, .. } => Some(uic),
        _ => None,
    })
}

fn media_kind(content_type: &str) -> &'static str {
    match content_type.split('/').next().unwrap_or("") {
        "image" => "image",
        "audio" => "audio",
        "video" => "video",
        _ => "document",
    }
}

/// `+243990000001` -> `+2439******01`: enough to tell numbers apart in logs
/// and errors without exposing them.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..5].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_numbers_keep_only_the_country_prefix_and_two_last_digits() {
        assert_eq!(mask_phone("+243990000001"), "+2439******01");
        assert_eq!(mask_phone("+1415"), "*****");
    }
}
