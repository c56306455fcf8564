//! Status callbacks (B.3): produced when a send is accepted, held until the
//! test posts them (all in order, or one at a time to reorder them), signed
//! like every Twilio webhook (B.4).

use super::inbound::{deliver, form_body, signature, webhook_headers};
use super::server::{FakeTwilio, channel_status_message};
use super::state::*;

impl Inner {
    /// Queues the callbacks of an accepted send, one per status after the
    /// initial `queued`/`accepted` (none without a `StatusCallback`).
    pub(super) fn queue_callbacks(&mut self, m: &SentMessage) {
        let Some(url) = m.status_callback.clone() else {
            return;
        };
        let install = self
            .accounts
            .get(&m.account_sid)
            .map(|a| a.channel_install_sid.clone())
            .unwrap_or_default();
        for status in &m.statuses {
            let mut p: Vec<(&str, String)> = vec![
                ("ChannelPrefix", "whatsapp".into()),
                ("ApiVersion", API_VERSION.into()),
                ("MessageStatus", status.clone()),
                ("SmsSid", m.sid.clone()),
                ("SmsStatus", status.clone()),
                ("ChannelInstallSid", install.clone()),
                ("To", m.to.clone()),
                ("From", m.sender.clone()),
                ("MessageSid", m.sid.clone()),
                ("AccountSid", m.account_sid.clone()),
                (
                    "ChannelToAddress",
                    m.to.trim_start_matches("whatsapp:").to_string(),
                ),
            ];
            match status.as_str() {
                "delivered" => p.push(("EventType", "DELIVERED".into())),
                "read" => p.push(("EventType", "READ".into())),
                "failed" | "undelivered" => {
                    let code = m.failed_with.unwrap_or(30008);
                    p.push(("ErrorCode", code.to_string()));
                    p.push(("ChannelStatusMessage", channel_status_message(code)));
                }
                _ => {}
            }
            if let Some(mg) = &m.messaging_service_sid {
                p.push(("MessagingServiceSid", mg.clone()));
            }
            self.callbacks.push(QueuedCallback {
                account_sid: m.account_sid.clone(),
                message_sid: m.sid.clone(),
                status: status.clone(),
                url: url.clone(),
                params: p.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                idempotency_token: format!("{}-{}", random_hex(), m.sid),
            });
        }
    }

    /// The callback as it would go out now (signature with the current
    /// token and switches).
    pub(super) fn render_callback(&self, q: &QueuedCallback) -> PendingCallback {
        let sig = signature(
            &self.signing_key(&q.account_sid),
            &self.signed_url(&q.url),
            &q.params,
        );
        PendingCallback {
            message_sid: q.message_sid.clone(),
            status: q.status.clone(),
            url: q.url.clone(),
            post_url: self.post_url(&q.url),
            headers: webhook_headers(&sig, &q.idempotency_token),
            body: form_body(&q.params),
            params: q.params.clone(),
        }
    }
}

impl FakeTwilio {
    /// The callbacks not posted yet, oldest first, as they would be sent.
    pub fn pending_callbacks(&self) -> Vec<PendingCallback> {
        let g = self.lock();
        g.callbacks.iter().map(|q| g.render_callback(q)).collect()
    }

    /// Removes the pending callbacks and returns them (for a test that posts
    /// them itself).
    pub fn take_pending_callbacks(&self) -> Vec<PendingCallback> {
        let mut g = self.lock();
        let queued = std::mem::take(&mut g.callbacks);
        queued.iter().map(|q| g.render_callback(q)).collect()
    }

    /// Posts every pending callback, one after the other, oldest first, and
    /// returns what the app answered to each.
    pub async fn post_callbacks(&self) -> Vec<PostedCallback> {
        let mut out = Vec::new();
        loop {
            let next = {
                let mut g = self.lock();
                if g.callbacks.is_empty() {
                    None
                } else {
                    Some(g.callbacks.remove(0))
                }
            };
            let Some(q) = next else {
                return out;
            };
            out.push(self.post_one(q).await);
        }
    }

    /// Posts the pending callback of this message with this status only
    /// (`None` if there is none), leaving the others pending: callbacks can
    /// arrive out of order (B.3).
    pub async fn post_callback_for(
        &self,
        message_sid: &str,
        status: &str,
    ) -> Option<PostedCallback> {
        let q = {
            let mut g = self.lock();
            let i = g
                .callbacks
                .iter()
                .position(|q| q.message_sid == message_sid && q.status == status)?;
            g.callbacks.remove(i)
        };
        Some(self.post_one(q).await)
    }

    /// Every callback posted so far, with the app's answers.
    pub fn posted_callbacks(&self) -> Vec<PostedCallback> {
        self.lock().posted_callbacks.clone()
    }

    async fn post_one(&self, q: QueuedCallback) -> PostedCallback {
        let (cb, timeout, retries) = {
            let g = self.lock();
            (g.render_callback(&q), g.webhook_timeout, g.webhook_retries)
        };
        let d = deliver(&cb.post_url, &cb.headers, &cb.body, timeout, retries).await;
        let posted = PostedCallback {
            message_sid: cb.message_sid.clone(),
            status: cb.status.clone(),
            post_url: cb.post_url.clone(),
            http_status: d.status,
            attempts: d.attempts,
        };
        let mut g = self.lock();
        match (d.status, d.failure) {
            (None, Some((code, detail))) => g.debugger.push(DebuggerEvent {
                code,
                url: cb.url.clone(),
                detail,
            }),
            (Some(s), _) if !(200..300).contains(&s) => g.debugger.push(DebuggerEvent {
                code: 11200,
                url: cb.url.clone(),
                detail: format!("HTTP retrieval failure: status {s}"),
            }),
            _ => {}
        }
        g.posted_callbacks.push(posted.clone());
        posted
    }
}
