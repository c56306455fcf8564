//! The `POST /{phone-number-id}/messages` endpoint: sends and mark-as-read.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use axum::http::header;
use base64::Engine;
use serde_json::{Value, json};

use super::{replies::*, requests::*, state::*, webhook::*};

// ---------------------------------------------------------------------------
// POST /{phone-number-id}/messages

pub(super) fn post_messages(inner: &mut Inner, r: &Req, version: &str, pnid: &str) -> Reply {
    if let Err(e) = inner.authorize_number(r.token.as_deref(), pnid, "post") {
        return e;
    }
    let content_type = r
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if content_type.as_deref() != Some("application/json") {
        return wa_error(
            100,
            "The request body must be JSON with Content-Type: application/json.",
        );
    }
    let body: Value = match serde_json::from_slice(r.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return wa_error(100, "The request body is not a valid JSON object."),
    };
    match need_str(&body, "messaging_product", "messaging_product") {
        Err(e) => return e,
        Ok("whatsapp") => {}
        Ok(_) => return invalid("messaging_product", "must be 'whatsapp'."),
    }
    if field(&body, "status").is_some() {
        return mark_read(inner, &body);
    }
    if let Some(f) = inner.fail_next_sends.pop_front() {
        return failure_reply(&f);
    }
    match validate_send(inner, &body) {
        Err(e) => e,
        Ok(v) => {
            if let Some(limit) = inner.rate_limit {
                let now = Instant::now();
                let recent = inner.recent_sends.entry(pnid.to_string()).or_default();
                while recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
                {
                    recent.pop_front();
                }
                if recent.len() >= limit as usize {
                    return wa_error(130429, error_info(130429).1);
                }
                recent.push_back(now);
            }
            accept_send(inner, version, pnid, body, v)
        }
    }
}

struct ValidSend {
    /// Window / record key: digits of `to`, or the `recipient` user id.
    pub(super) key: String,
    pub(super) contact: Value,
    by_user_id: bool,
    pub(super) kind: String,
    /// A media id the fake does not hold (the send will fail with 131053).
    unknown_media: Option<String>,
}

fn validate_send(inner: &Inner, body: &Value) -> V<ValidSend> {
    let (key, contact, by_user_id) = match (field(body, "to"), field(body, "recipient")) {
        (Some(Value::String(to)), _) => {
            let digits = to.strip_prefix('+').unwrap_or(to);
            if !(5..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    "to",
                    "must be a phone number in E.164 format, with or without '+'.",
                ));
            }
            (
                digits.to_string(),
                json!({"input": to, "wa_id": digits}),
                false,
            )
        }
        (Some(_), _) => return Err(invalid("to", "must be a string.")),
        (None, Some(Value::String(user))) if !user.is_empty() => {
            (user.clone(), json!({"input": user, "user_id": user}), true)
        }
        (None, Some(_)) => return Err(invalid("recipient", "must be a non-empty string.")),
        (None, None) => return Err(missing("to")),
    };
    if let Some(rt) = opt_str(body, "recipient_type", "recipient_type")?
        && rt != "individual"
        && rt != "group"
    {
        return Err(invalid("recipient_type", "must be 'individual'."));
    }
    if let Some(ctx) = opt_obj(body, "context", "context")? {
        need_str(ctx, "message_id", "context['message_id']")?;
    }
    opt_str(body, "biz_opaque_callback_data", "biz_opaque_callback_data")?;
    let kind = need_str(body, "type", "type")?;
    let media_id = match kind {
        "text" => validate_text(body).map(|()| None)?,
        "image" | "audio" | "video" | "document" | "sticker" => {
            let m = need_obj(body, kind, kind)?;
            validate_media(m, kind)?
        }
        "interactive" => validate_interactive(body).map(|()| None)?,
        "template" => validate_template(body).map(|()| None)?,
        "location" => {
            let l = need_obj(body, "location", "location")?;
            for k in ["latitude", "longitude"] {
                let path = format!("location['{k}']");
                match field(l, k) {
                    None => return Err(missing(&path)),
                    Some(v) if v.is_number() => {}
                    Some(_) => return Err(invalid(&path, "must be a number.")),
                }
            }
            None
        }
        "contacts" => {
            let c = need_array(body, "contacts", "contacts")?;
            if c.is_empty() {
                return Err(bad_value("At least one contact is required."));
            }
            None
        }
        "reaction" => {
            let re = need_obj(body, "reaction", "reaction")?;
            need_str(re, "message_id", "reaction['message_id']")?;
            need_str(re, "emoji", "reaction['emoji']")?;
            None
        }
        other => {
            return Err(wa_error(
                131051,
                format!("Message type {other} is not supported."),
            ));
        }
    };
    let unknown_media =
        media_id.filter(|id| !inner.media.iter().any(|m| &m.id == id && !m.deleted));
    Ok(ValidSend {
        key,
        contact,
        by_user_id,
        kind: kind.to_string(),
        unknown_media,
    })
}

fn validate_text(body: &Value) -> V<()> {
    let text = need_obj(body, "text", "text")?;
    match field(text, "body") {
        None => return Err(wa_error(100, "The parameter text['body'] is required.")),
        Some(Value::String(b)) => text_len(b, 4096, "text['body']")?,
        Some(_) => return Err(invalid("text['body']", "must be a string.")),
    }
    if let Some(p) = field(text, "preview_url")
        && !p.is_boolean()
    {
        return Err(invalid("text['preview_url']", "must be a boolean."));
    }
    Ok(())
}

/// A media object (`{"id"}` or `{"link"}`); the id, if any.
fn validate_media(m: &Value, kind: &str) -> V<Option<String>> {
    let id = opt_str(m, "id", &format!("{kind}['id']"))?;
    let link = opt_str(m, "link", &format!("{kind}['link']"))?;
    for k in ["caption", "filename"] {
        opt_str(m, k, &format!("{kind}['{k}']"))?;
    }
    match (id, link) {
        (None, None) => Err(wa_error(
            131008,
            format!("The parameter {kind}['id'] or {kind}['link'] is required."),
        )),
        (Some(_), Some(_)) => Err(invalid(
            kind,
            "must contain either 'id' or 'link', not both.",
        )),
        (Some(id), None) => {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    &format!("{kind}['id']"),
                    "is not a valid media id.",
                ));
            }
            Ok(Some(id.to_string()))
        }
        (None, Some(link)) => {
            if !(link.starts_with("https://") || link.starts_with("http://")) {
                return Err(invalid(
                    &format!("{kind}['link']"),
                    "must be an http(s) URL.",
                ));
            }
            Ok(None)
        }
    }
}

fn validate_interactive(body: &Value) -> V<()> {
    let i = need_obj(body, "interactive", "interactive")?;
    let itype = need_str(i, "type", "interactive['type']")?;
    let (body_max, is_list) = match itype {
        "button" => (1024, false),
        "list" => (4096, true),
        "cta_url"
        | "flow"
        | "location_request_message"
        | "address_message"
        | "product"
        | "product_list"
        | "catalog_message"
        | "call_permission_request" => {
            need_obj(i, "action", "interactive['action']")?;
            return Ok(());
        }
        _ => {
            return Err(invalid(
                "interactive['type']",
                "must be one of {button, list, cta_url, flow, location_request_message, address_message, product, product_list, catalog_message, call_permission_request}.",
            ));
        }
    };
    let b = need_obj(i, "body", "interactive['body']")?;
    let text = need_str(b, "text", "interactive['body']['text']")?;
    text_len(text, body_max, "interactive['body']['text']")?;
    if let Some(f) = opt_obj(i, "footer", "interactive['footer']")? {
        let t = need_str(f, "text", "interactive['footer']['text']")?;
        text_len(t, 60, "interactive['footer']['text']")?;
    }
    if let Some(h) = opt_obj(i, "header", "interactive['header']")? {
        let htype = need_str(h, "type", "interactive['header']['type']")?;
        match htype {
            "text" => {
                let t = need_str(h, "text", "interactive['header']['text']")?;
                text_len(t, 60, "interactive['header']['text']")?;
            }
            "image" | "video" | "document" if !is_list => {
                let m = need_obj(h, htype, &format!("interactive['header']['{htype}']"))?;
                validate_media(m, htype)?;
            }
            _ if is_list => {
                return Err(invalid(
                    "interactive['header']['type']",
                    "must be 'text' for list messages.",
                ));
            }
            _ => {
                return Err(invalid(
                    "interactive['header']['type']",
                    "must be one of {text, image, video, document}.",
                ));
            }
        }
    }
    let action = need_obj(i, "action", "interactive['action']")?;
    if is_list {
        validate_list_action(action)
    } else {
        validate_buttons(action)
    }
}

fn validate_buttons(action: &Value) -> V<()> {
    let buttons = need_array(action, "buttons", "interactive['action']['buttons']")?;
    if buttons.is_empty() || buttons.len() > 3 {
        return Err(bad_value(
            "Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: 3",
        ));
    }
    let mut titles = HashSet::new();
    for (n, button) in buttons.iter().enumerate() {
        let path = format!("interactive['action']['buttons'][{n}]");
        if !button.is_object() {
            return Err(invalid(&path, "must be a JSON object."));
        }
        let btype = need_str(button, "type", &format!("{path}['type']"))?;
        if btype != "reply" {
            return Err(invalid(&format!("{path}['type']"), "must be 'reply'."));
        }
        let reply = need_obj(button, "reply", &format!("{path}['reply']"))?;
        let id = need_str(reply, "id", &format!("{path}['reply']['id']"))?;
        field_len(id, 256, "Button id")?;
        let title = need_str(reply, "title", &format!("{path}['reply']['title']"))?;
        field_len(title, 20, "Button title")?;
        if !titles.insert(title) {
            return Err(bad_value("Button title must be unique."));
        }
    }
    Ok(())
}

fn validate_list_action(action: &Value) -> V<()> {
    let label = need_str(action, "button", "interactive['action']['button']")?;
    field_len(label, 20, "Button label")?;
    let sections = need_array(action, "sections", "interactive['action']['sections']")?;
    if sections.is_empty() || sections.len() > 10 {
        return Err(bad_value(
            "Invalid sections count. Min allowed sections: 1, Max allowed sections: 10",
        ));
    }
    let mut total_rows = 0;
    for (s, section) in sections.iter().enumerate() {
        let path = format!("interactive['action']['sections'][{s}]");
        if !section.is_object() {
            return Err(invalid(&path, "must be a JSON object."));
        }
        match opt_str(section, "title", &format!("{path}['title']"))? {
            None if sections.len() > 1 => return Err(missing(&format!("{path}['title']"))),
            None => {}
            Some(t) => field_len(t, 24, "Section title")?,
        }
        let rows = need_array(section, "rows", &format!("{path}['rows']"))?;
        if rows.is_empty() {
            return Err(bad_value("Each section must have at least one row."));
        }
        total_rows += rows.len();
        if total_rows > 10 {
            return Err(bad_value("Total row count exceed max allowed count: 10"));
        }
        for (n, row) in rows.iter().enumerate() {
            let rpath = format!("{path}['rows'][{n}]");
            if !row.is_object() {
                return Err(invalid(&rpath, "must be a JSON object."));
            }
            let id = need_str(row, "id", &format!("{rpath}['id']"))?;
            field_len(id, 200, "Row id")?;
            let title = need_str(row, "title", &format!("{rpath}['title']"))?;
            field_len(title, 24, "Row title")?;
            if let Some(d) = opt_str(row, "description", &format!("{rpath}['description']"))? {
                field_len(d, 72, "Row description")?;
            }
        }
    }
    Ok(())
}

fn validate_template(body: &Value) -> V<()> {
    let t = need_obj(body, "template", "template")?;
    let name = need_str(t, "name", "template['name']")?;
    if name.is_empty() {
        return Err(missing("template['name']"));
    }
    let lang = need_obj(t, "language", "template['language']")?;
    let code = need_str(lang, "code", "template['language']['code']")?;
    if code.is_empty() {
        return Err(missing("template['language']['code']"));
    }
    if let Some(c) = field(t, "components")
        && !c.is_array()
    {
        return Err(invalid("template['components']", "must be an array."));
    }
    Ok(())
}

fn fresh_wamid(key: &str, counter: u64) -> String {
    let raw = format!("{key}{counter:08}{:016X}", rand::random::<u64>());
    format!(
        "wamid.HBgM{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn accept_send(inner: &mut Inner, version: &str, pnid: &str, body: Value, v: ValidSend) -> Reply {
    inner.counter += 1;
    let wamid = fresh_wamid(&v.key, inner.counter);
    let is_template = v.kind == "template";
    let failed_with = if !is_template && inner.closed_windows.contains(&v.key) {
        Some(131047)
    } else if let Some(code) = inner.async_failures.pop_front() {
        Some(code)
    } else if v.unknown_media.is_some() {
        Some(131053)
    } else {
        None
    };
    let opaque = body
        .get("biz_opaque_callback_data")
        .and_then(Value::as_str)
        .map(str::to_string);
    inner.sent.push(SentMessage {
        phone_number_id: pnid.to_string(),
        to: v.key.clone(),
        kind: v.kind.clone(),
        body,
        wamid: wamid.clone(),
        at: Instant::now(),
        version: version.to_string(),
        failed_with,
    });

    // Status webhooks (A.2), one per transition.
    let (display, waba) = inner
        .numbers
        .get(pnid)
        .map(|n| (n.display_digits.clone(), n.waba_id.clone()))
        .unwrap_or_default();
    let now = inner.now_unix();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(u32::MAX);
    let mut statuses = Vec::new();
    let base = |status: &str, ts: i64| {
        let mut s = json!({"id": wamid, "status": status, "timestamp": ts.to_string()});
        if !v.by_user_id {
            s["recipient_id"] = json!(v.key);
        }
        if let Some(o) = &opaque {
            s["biz_opaque_callback_data"] = json!(o);
        }
        s
    };
    if let Some(code) = failed_with {
        let (title, details) = error_info(code);
        let mut s = base("failed", now);
        s["errors"] = json!([{
            "code": code,
            "title": title,
            "message": title,
            "error_data": {"details": details},
            "href": ERROR_HREF,
        }]);
        statuses.push(s);
    } else {
        let pricing = if is_template {
            json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "utility"})
        } else {
            json!({"billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"})
        };
        for (n, status) in inner.status_sequence.iter().enumerate() {
            let ts = now + n as i64;
            let mut s = base(status, ts);
            if status != "read" {
                s["pricing"] = pricing.clone();
            }
            if status == "sent" && major <= 23 {
                s["conversation"] = json!({
                    "id": format!("{:032x}", rand::random::<u128>()),
                    "expiration_timestamp": (now + 86_400).to_string(),
                    "origin": {"type": if is_template { "utility" } else { "service" }},
                });
            }
            statuses.push(s);
        }
    }
    for status in statuses {
        let mut value = json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": display, "phone_number_id": pnid},
            "statuses": [status],
        });
        if v.by_user_id {
            value["contacts"] = json!([{"user_id": v.key}]);
        }
        let entry = json!({"id": waba, "changes": [{"field": "messages", "value": value}]});
        inner.status_payloads.push(envelope(&[entry]));
    }

    let mut message = json!({"id": wamid});
    if is_template {
        message["message_status"] = json!("accepted");
    }
    Reply::json(
        200,
        &json!({
            "messaging_product": "whatsapp",
            "contacts": [v.contact],
            "messages": [message],
        }),
    )
}

fn mark_read(inner: &mut Inner, body: &Value) -> Reply {
    if let Some(f) = inner.fail_next_mark_reads.pop_front() {
        return failure_reply(&f);
    }
    match check_mark_read(inner, body) {
        Err(e) => e,
        Ok(id) => {
            inner.marked_read.push(id);
            Reply::json(200, &json!({"success": true}))
        }
    }
}

fn check_mark_read(inner: &Inner, body: &Value) -> V<String> {
    if need_str(body, "status", "status")? != "read" {
        return Err(invalid("status", "must be 'read'."));
    }
    let id = need_str(body, "message_id", "message_id")?;
    if let Some(ti) = opt_obj(body, "typing_indicator", "typing_indicator")?
        && need_str(ti, "type", "typing_indicator['type']")? != "text"
    {
        return Err(invalid("typing_indicator['type']", "must be 'text'."));
    }
    if !inner.inbound_wamids.contains(id) {
        return Err(bad_value(format!("Message with id {id} not found.")));
    }
    Ok(id.to_string())
}
