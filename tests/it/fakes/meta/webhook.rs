//! Webhooks: `WebhookBuilder`, signing, and posting to the app.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{replies::*, state::*};

// ---------------------------------------------------------------------------
// Webhooks: bodies, signature, posting

/// JSON with every non-ASCII character written `\uXXXX` (lowercase hex,
/// surrogate pairs above the BMP), as Meta signs it (A.3).
pub fn meta_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// `{"object":"whatsapp_business_account","entry":[...]}`, escaped.
pub(super) fn envelope(entries: &[Value]) -> Vec<u8> {
    let entries = Value::Array(entries.to_vec()).to_string();
    meta_escape(&format!(
        "{{\"object\":\"whatsapp_business_account\",\"entry\":{entries}}}"
    ))
    .into_bytes()
}

fn unix_now() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .to_string()
}

/// Inbound webhook bodies as Meta posts them (A.2): consecutive items of the
/// same number and kind (messages or statuses) share one `change`; a new
/// number or kind starts a new change in the same entry; `entry_break`
/// starts a new entry. Modifiers (`with_*`) apply to the last item added.
#[derive(Debug, Clone)]
pub struct WebhookBuilder {
    pub(super) entries: Vec<Value>,
    pub(super) waba_id: String,
    new_entry: bool,
    /// entry, change, list ("messages"/"statuses"), index, contact index.
    pub(super) last: Option<(usize, usize, &'static str, usize, Option<usize>)>,
}

impl Default for WebhookBuilder {
    fn default() -> Self {
        WebhookBuilder::new()
    }
}

#[allow(clippy::too_many_arguments)]
impl WebhookBuilder {
    pub fn new() -> WebhookBuilder {
        WebhookBuilder {
            entries: Vec::new(),
            waba_id: DEFAULT_WABA_ID.into(),
            new_entry: true,
            last: None,
        }
    }

    /// WABA id (`entry[].id`) for the entries started from now on.
    pub fn waba(mut self, waba_id: &str) -> Self {
        self.waba_id = waba_id.to_string();
        self
    }

    /// The next item goes into a new entry.
    pub fn entry_break(mut self) -> Self {
        self.new_entry = true;
        self
    }

    fn current_entry(&mut self) -> usize {
        if self.new_entry || self.entries.is_empty() {
            self.entries
                .push(json!({"id": self.waba_id, "changes": []}));
            self.new_entry = false;
        }
        self.entries.len() - 1
    }

    fn change_for(&mut self, pnid: &str, display: &str, list: &'static str) -> (usize, usize) {
        let e = self.current_entry();
        let changes = self.entries[e]["changes"]
            .as_array_mut()
            .expect("changes array");
        let reuse = changes.last().is_some_and(|c| {
            c["field"] == "messages"
                && c["value"]["metadata"]["phone_number_id"] == pnid
                && c["value"].get(list).is_some()
        });
        if !reuse {
            let mut value = json!({
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": display, "phone_number_id": pnid},
            });
            if list == "messages" {
                value["contacts"] = json!([]);
            }
            value[list] = json!([]);
            changes.push(json!({"field": "messages", "value": value}));
        }
        (e, changes.len() - 1)
    }

    fn value_mut(&mut self, e: usize, c: usize) -> &mut Value {
        &mut self.entries[e]["changes"][c]["value"]
    }

    /// Adds a raw `messages[]` element (any type, even unknown ones); a
    /// contact for `from` is added to the change unless already there.
    pub fn message(mut self, pnid: &str, display: &str, from: Option<&str>, msg: Value) -> Self {
        let (e, c) = self.change_for(pnid, display, "messages");
        let value = self.value_mut(e, c);
        let contact = from.map(|from| {
            let contacts = value["contacts"].as_array_mut().expect("contacts array");
            match contacts.iter().position(|k| k["wa_id"] == from) {
                Some(i) => i,
                None => {
                    contacts
                        .push(json!({"profile": {"name": DEFAULT_CONTACT_NAME}, "wa_id": from}));
                    contacts.len() - 1
                }
            }
        });
        let messages = value["messages"].as_array_mut().expect("messages array");
        messages.push(msg);
        let idx = messages.len() - 1;
        self.last = Some((e, c, "messages", idx, contact));
        self
    }

    fn simple(
        self,
        pnid: &str,
        display: &str,
        from: &str,
        wamid: &str,
        kind: &str,
        content: Value,
    ) -> Self {
        let mut msg = json!({"from": from, "id": wamid, "timestamp": unix_now(), "type": kind});
        msg[kind] = content;
        self.message(pnid, display, Some(from), msg)
    }

    pub fn text(self, pnid: &str, display: &str, from: &str, wamid: &str, text: &str) -> Self {
        self.simple(pnid, display, from, wamid, "text", json!({"body": text}))
    }

    pub fn button_reply(
        self,
        pnid: &str,
        display: &str,
        from: &str,
        wamid: &str,
        id: &str,
        title: &str,
    ) -> Self {
        self.simple(
            pnid,
            display,
            from,
            wamid,
            "interactive",
            json!({"type": "button_reply", "button_reply": {"id": id, "title": title}}),
        )
    }

    pub fn list_reply(
        self,
        pnid: &str,
        display: &str,
        from: &str,
        wamid: &str,
        id: &str,
        title: &str,
        description: Option<&str>,
    ) -> Self {
        let mut reply = json!({"id": id, "title": title});
        if let Some(d) = description {
            reply["description"] = json!(d);
        }
        self.simple(
            pnid,
            display,
            from,
            wamid,
            "interactive",
            json!({"type": "list_reply", "list_reply": reply}),
        )
    }

    /// A template's quick-reply button: `"type":"button"`.
    pub fn template_button(
        self,
        pnid: &str,
        display: &str,
        from: &str,
        wamid: &str,
        payload: &str,
        text: &str,
    ) -> Self {
        self.simple(
            pnid,
            display,
            from,
            wamid,
            "button",
            json!({"payload": payload, "text": text}),
        )
    }

    pub fn image(
        self,
        pnid: &str,
        display: &str,
        from: &str,
        wamid: &str,
        media_id: &str,
        mime: &str,
        caption: Option<&str>,
    ) -> Self {
        let mut image = json!({
            "mime_type": mime,
            "sha256": base64::engine::general_purpose::STANDARD.encode(media_id.as_bytes()),
            "id": media_id,
        });
        if let Some(c) = caption {
            image["caption"] = json!(c);
        }
        self.simple(pnid, display, from, wamid, "image", image)
    }

    pub fn location(
        self,
        pnid: &str,
        display: &str,
        from: &str,
        wamid: &str,
        latitude: f64,
        longitude: f64,
        name: Option<&str>,
        address: Option<&str>,
    ) -> Self {
        let mut loc = json!({"latitude": latitude, "longitude": longitude});
        if let Some(n) = name {
            loc["name"] = json!(n);
        }
        if let Some(a) = address {
            loc["address"] = json!(a);
        }
        self.simple(pnid, display, from, wamid, "location", loc)
    }

    /// A status of a message we sent (`sent`, `delivered`, `read`, ...).
    pub fn status(
        mut self,
        pnid: &str,
        display: &str,
        wamid: &str,
        status: &str,
        recipient: &str,
    ) -> Self {
        let mut s = json!({
            "id": wamid,
            "status": status,
            "timestamp": unix_now(),
            "recipient_id": recipient,
        });
        if status == "sent" || status == "delivered" {
            s["pricing"] = json!({"billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"});
        }
        self.push_status(pnid, display, s);
        self
    }

    /// A `failed` status with this error code (title/message/details of A.7).
    pub fn failed_status(
        mut self,
        pnid: &str,
        display: &str,
        wamid: &str,
        recipient: &str,
        code: i64,
    ) -> Self {
        let (title, details) = error_info(code);
        let s = json!({
            "id": wamid,
            "status": "failed",
            "timestamp": unix_now(),
            "recipient_id": recipient,
            "errors": [{
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
                "href": ERROR_HREF,
            }],
        });
        self.push_status(pnid, display, s);
        self
    }

    fn push_status(&mut self, pnid: &str, display: &str, s: Value) {
        let (e, c) = self.change_for(pnid, display, "statuses");
        let statuses = self.value_mut(e, c)["statuses"]
            .as_array_mut()
            .expect("statuses array");
        statuses.push(s);
        let idx = statuses.len() - 1;
        self.last = Some((e, c, "statuses", idx, None));
    }

    /// A change of another field (`account_update`, ...) or a `value` with
    /// `errors`: pushed as given into the current entry.
    pub fn raw_change(mut self, field: &str, value: Value) -> Self {
        let e = self.current_entry();
        self.entries[e]["changes"]
            .as_array_mut()
            .expect("changes array")
            .push(json!({"field": field, "value": value}));
        self.last = None;
        self
    }

    fn last_item(&mut self) -> Option<&mut Value> {
        let (e, c, list, i, _) = self.last?;
        Some(&mut self.entries[e]["changes"][c]["value"][list][i])
    }

    fn last_contact(&mut self) -> Option<&mut Value> {
        let (e, c, _, _, k) = self.last?;
        Some(&mut self.entries[e]["changes"][c]["value"]["contacts"][k?])
    }

    /// The profile name of the last message's sender.
    pub fn with_contact_name(mut self, name: &str) -> Self {
        if let Some(contact) = self.last_contact() {
            contact["profile"]["name"] = json!(name);
        }
        self
    }

    /// Adds a business-scoped `user_id` to the last message's contact.
    pub fn with_user_id(mut self, user_id: &str) -> Self {
        if let Some(contact) = self.last_contact() {
            contact["user_id"] = json!(user_id);
        }
        self
    }

    /// Removes `from` from the last message and `wa_id` from its contact
    /// (a username user, A.2); pair with `with_user_id`.
    pub fn without_wa_id(mut self) -> Self {
        if let Some(contact) = self.last_contact()
            && let Some(obj) = contact.as_object_mut()
        {
            obj.remove("wa_id");
        }
        if let Some(item) = self.last_item()
            && let Some(obj) = item.as_object_mut()
        {
            obj.remove("from");
        }
        self
    }

    /// The last message replies to `id`, a message of business number `from`.
    pub fn with_context(mut self, from: &str, id: &str) -> Self {
        if let Some(item) = self.last_item() {
            item["context"] = json!({"from": from, "id": id});
        }
        self
    }

    pub fn forwarded(mut self) -> Self {
        if let Some(item) = self.last_item() {
            item["context"] = json!({"forwarded": true});
        }
        self
    }

    /// The last item's `timestamp` (Unix seconds, written as a string).
    pub fn with_timestamp(mut self, unix_secs: i64) -> Self {
        if let Some(item) = self.last_item() {
            item["timestamp"] = json!(unix_secs.to_string());
        }
        self
    }

    /// `biz_opaque_callback_data` on the last status.
    pub fn with_callback_data(mut self, data: &str) -> Self {
        if let Some(item) = self.last_item() {
            item["biz_opaque_callback_data"] = json!(data);
        }
        self
    }

    /// The body, non-ASCII escaped as Meta sends it.
    pub fn build(&self) -> Vec<u8> {
        envelope(&self.entries)
    }

    pub fn build_string(&self) -> String {
        String::from_utf8(self.build()).expect("escaped JSON is ASCII")
    }
}

/// `sha256=<lowercase hex of HMAC-SHA256(app secret, body)>` (A.3).
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post_webhook(app_url: &str, signature: &str, body: &[u8]) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!(
            "{}/whatsapp/webhook",
            app_url.trim_end_matches('/')
        ))
        .header("Content-Type", "application/json")
        .header("User-Agent", "facebookexternalua")
        .header("X-Hub-Signature-256", signature)
        .body(body.to_vec())
        .send()
        .await
        .expect("POST the webhook")
}

/// POSTs `body` to `{app_url}/whatsapp/webhook`, signed with `app_secret`.
pub async fn signed_webhook(app_url: &str, app_secret: &str, body: &[u8]) -> reqwest::Response {
    post_webhook(app_url, &signature(app_secret, body), body).await
}

/// The same with a signature made with another secret.
pub async fn badly_signed_webhook(app_url: &str, body: &[u8]) -> reqwest::Response {
    post_webhook(app_url, &signature("not-the-app-secret", body), body).await
}

/// Meta's verification GET (A.1) to `{app_url}/whatsapp/webhook`.
pub async fn verify_webhook(
    app_url: &str,
    verify_token: &str,
    challenge: &str,
) -> reqwest::Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("hub.mode", "subscribe")
        .append_pair("hub.challenge", challenge)
        .append_pair("hub.verify_token", verify_token)
        .finish();
    reqwest::Client::new()
        .get(format!(
            "{}/whatsapp/webhook?{query}",
            app_url.trim_end_matches('/')
        ))
        .send()
        .await
        .expect("GET the webhook")
}
