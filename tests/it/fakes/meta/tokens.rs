//! Tokens and the number: `debug_token`, the token exchange, the phone-number node.

use serde_json::{Value, json};

use super::{replies::*, requests::*, state::*};

// ---------------------------------------------------------------------------
// Tokens and the number

pub(super) fn debug_token(inner: &Inner, r: &Req) -> Reply {
    let app_token = format!("{}|{}", inner.app_id, inner.app_secret);
    let access = r
        .q("access_token")
        .map(str::to_string)
        .or_else(|| r.token.clone());
    let allowed = match access.as_deref() {
        Some(a) if a == app_token => true,
        Some(a) => inner.token_state(a) == TokenState::Valid,
        None => false,
    };
    if !allowed {
        return Reply::json(
            401,
            &error_body(190, "Invalid OAuth access token signature.", None, None),
        );
    }
    let Some(input) = r.q("input_token").filter(|t| !t.is_empty()) else {
        return graph_error(400, 100, "(#100) The parameter input_token is required");
    };
    let state = inner.token_state(input);
    let Some(info) = inner.tokens.get(input) else {
        return Reply::json(
            200,
            &json!({"data": {
                "error": {"code": 190, "message": "Invalid OAuth access token."},
                "is_valid": false,
                "scopes": [],
            }}),
        );
    };
    let granular: Vec<Value> = info
        .scopes
        .iter()
        .map(|scope| match &info.target_ids {
            Some(ids) => json!({"scope": scope, "target_ids": ids}),
            None => json!({"scope": scope}),
        })
        .collect();
    let mut data = json!({
        "app_id": info.app_id.as_deref().unwrap_or(&inner.app_id),
        "type": info.kind,
        "application": "uic-inbox",
        "data_access_expires_at": info.data_access_expires_at,
        "expires_at": info.expires_at,
        "is_valid": state == TokenState::Valid,
        "issued_at": info.issued_at,
        "scopes": info.scopes,
        "granular_scopes": granular,
        "user_id": "100000000000001",
    });
    let error = match state {
        TokenState::Expired(at) => Some((
            format!("Session has expired at unix time {at}."),
            463,
        )),
        TokenState::Invalidated => Some((
            "The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.".to_string(),
            460,
        )),
        _ => None,
    };
    if let Some((message, subcode)) = error {
        data["error"] = json!({"code": 190, "message": message, "subcode": subcode});
    }
    Reply::json(200, &json!({ "data": data }))
}

fn random_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::from("EAAG");
    for _ in 0..150 {
        s.push(ALPHABET[rand::random_range(0..ALPHABET.len())] as char);
    }
    s
}

pub(super) fn oauth_exchange(inner: &mut Inner, r: &Req) -> Reply {
    match r.q("grant_type") {
        Some("fb_exchange_token") => {}
        _ => return graph_error(400, 100, "(#100) Unsupported grant_type"),
    }
    match r.q("client_id") {
        None | Some("") => return graph_error(400, 101, "Missing client_id parameter."),
        Some(id) if id != inner.app_id => {
            return graph_error(
                400,
                101,
                "Error validating application. Invalid application ID.",
            );
        }
        Some(_) => {}
    }
    if r.q("client_secret") != Some(inner.app_secret.as_str()) {
        return graph_error(400, 1, "Error validating client secret.");
    }
    let Some(old) = r.q("fb_exchange_token").filter(|t| !t.is_empty()) else {
        return graph_error(
            400,
            100,
            "(#100) The parameter fb_exchange_token is required",
        );
    };
    let state = inner.token_state(old);
    if state != TokenState::Valid {
        return token_error(&state, inner.now_unix());
    }
    let new = random_token();
    let now = inner.now_unix();
    // The long-lived token keeps the grants of the one it replaces.
    let mut info = inner.tokens[old].clone();
    info.expires_at = now + LONG_LIVED_EXPIRES_IN;
    info.data_access_expires_at = now + 90 * 86_400;
    info.issued_at = now;
    info.kind = "USER".into();
    inner.tokens.insert(new.clone(), info);
    for n in inner.numbers.values_mut() {
        if n.tokens.contains(old) {
            n.tokens.insert(new.clone());
        }
    }
    Reply::json(
        200,
        &json!({"access_token": new, "token_type": "bearer", "expires_in": LONG_LIVED_EXPIRES_IN}),
    )
}

/// "+243 81 000 0000" from "243810000000" (a rough formatter: NANP, and
/// 1-, 2- or 3-digit country codes).
fn format_display(digits: &str) -> String {
    const TWO_DIGIT: &[&str] = &[
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    if digits.len() == 11 && digits.starts_with('1') {
        return format!("+1 {}-{}-{}", &digits[1..4], &digits[4..7], &digits[7..]);
    }
    let cc_len = if digits.starts_with('7') {
        1
    } else if digits.len() >= 2 && TWO_DIGIT.contains(&&digits[..2]) {
        2
    } else {
        3
    }
    .min(digits.len());
    let (cc, rest) = digits.split_at(cc_len);
    let groups: &[usize] = match rest.len() {
        8 => &[4, 4],
        9 => &[2, 3, 4],
        10 => &[3, 3, 4],
        _ => &[],
    };
    let mut out = format!("+{cc}");
    let mut at = 0;
    for g in groups {
        out.push(' ');
        out.push_str(&rest[at..at + g]);
        at += g;
    }
    if at < rest.len() {
        out.push(' ');
        out.push_str(&rest[at..]);
    }
    out
}

/// Top-level names of a `fields=` list (`throughput{level}` -> throughput).
fn field_names(fields: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in fields.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                names.push(std::mem::take(&mut current));
            }
            _ if depth == 0 => current.push(c),
            _ => {}
        }
    }
    names.push(current);
    names
        .into_iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

pub(super) fn number_fields(inner: &Inner, r: &Req, id: &str) -> Reply {
    let Some(n) = inner.numbers.get(id) else {
        return no_such_object("get", id);
    };
    let mut all = json!({
        "id": id,
        "display_phone_number": format_display(&n.display_digits),
        "verified_name": n.verified_name,
        "quality_rating": n.quality_rating,
        "code_verification_status": "VERIFIED",
        "platform_type": "CLOUD_API",
        "throughput": {"level": "STANDARD"},
        "name_status": "APPROVED",
        "new_name_status": "NONE",
        "status": "CONNECTED",
        "account_mode": "LIVE",
        "is_official_business_account": false,
        "messaging_limit_tier": "TIER_1K",
    });
    if let Some(limit) = &n.messaging_limit {
        all["whatsapp_business_manager_messaging_limit"] = json!(limit);
    }
    let default = [
        "verified_name",
        "code_verification_status",
        "display_phone_number",
        "quality_rating",
        "platform_type",
        "throughput",
    ];
    let wanted: Vec<String> = match r.q("fields") {
        Some(f) => field_names(f),
        None => default.iter().map(|s| s.to_string()).collect(),
    };
    let mut out = serde_json::Map::new();
    for name in wanted {
        match all.get(&name) {
            Some(v) => {
                out.insert(name, v.clone());
            }
            None => {
                return graph_error(
                    400,
                    100,
                    &format!(
                        "(#100) Tried accessing nonexisting field ({name}) on node type (WhatsAppBusinessPhoneNumber)"
                    ),
                );
            }
        }
    }
    out.insert("id".into(), json!(id));
    Reply::json(200, &Value::Object(out))
}
