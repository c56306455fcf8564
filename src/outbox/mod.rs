//! The durable outbox and its worker (DESIGN.md section 3).
//!
//! Replies to Meta accounts are written as outbox rows in the same
//! transaction as the inbound message, and everything staff (or the bot,
//! outside a webhook's answer) write to Meta and Twilio contacts; this
//! worker sends them through the Graph API or Twilio's REST Messages API
//! (with a status callback URL when `PUBLIC_URL` is set). A row is claimed (a lease, so several server instances can run
//! the worker at once and a crashed one's rows are taken over), sent, then
//! marked sent, retried later or failed for good:
//!
//! - network errors, 5xx and transient errors: exponential backoff with
//!   jitter;
//! - 429 and throughput errors (Graph 130429, Twilio 20429/63018…): the
//!   account pauses (Retry-After when given);
//! - Graph 131056 (too many messages to one person): that conversation
//!   waits (1, 4, 16, 64 s…), others go on;
//! - credential and account errors (Graph 190, Twilio 20003…): the account
//!   is flagged and its queue held, nothing dropped, until a new token is
//!   set;
//! - everything else (outside the 24-hour window, undeliverable, a request
//!   the provider refuses): failed, with the code and message on the
//!   message for staff to see.
//!
//! The provider's error codes are read into one set of classes
//! (`channel::ErrorClass`, through `channel::Refused`), so both providers
//! are handled by the same rules.
//!
//! Replies of one conversation go out in order: a row is only claimed when
//! no older row of its conversation is still waiting.

pub mod payload;
pub mod store;

pub use payload::Payload;
pub use store::OutboxStatus;

use crate::AppState;
use crate::channel::meta::{self, GraphClient};
use crate::channel::twilio::{self, TwilioClient};
use crate::channel::{ErrorClass, Refused};
use crate::config::Secret;
use crate::secrets::{self, Keyring, Purpose};
use crate::tenancy::{Account, Provider, store as accounts};
use crate::uic::Uic;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;
use store::Claimed;
use time::{Duration, OffsetDateTime};
use tokio::sync::{Notify, Semaphore};

/// How long a claim holds: well over a send's timeout.
const LEASE: Duration = Duration::minutes(2);
/// Sends in flight at once per worker (different conversations).
const IN_FLIGHT: usize = 64;
/// How often the worker looks for due rows when nothing woke it.
const POLL: StdDuration = StdDuration::from_secs(1);
/// Claims are at least this far apart: under a stream of messages, one
/// claim takes the replies of many.
const CLAIM_SPACING: StdDuration = StdDuration::from_millis(50);
/// Retries stop after this long: by then the 24-hour window has closed and
/// Meta would refuse the message anyway.
const GIVE_UP_AFTER: Duration = Duration::hours(24);

/// The audit log's name for the outbox worker.
const ACTOR: &str = "outbox";
/// Longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::minutes(5);

/// Wakes the worker when rows were written (same process); other
/// instances' rows are found by polling.
#[derive(Default)]
pub struct Signal {
    notify: Notify,
}

impl Signal {
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// The Graph API message for an outbox payload; `media_id` is the uploaded
/// QR image of a `Qr` payload.
fn graph_message(payload: &Payload, media_id: Option<&str>) -> Result<serde_json::Value, String> {
    Ok(match payload {
        Payload::Reply {
            to,
            reply,
            list_button,
        } => {
            if reply.choices.is_empty() {
                meta::text_message(to, &reply.text)
            } else {
                let choices: Vec<(String, String)> = reply
                    .choices
                    .iter()
                    .map(|c| (c.id.clone(), c.title.clone()))
                    .collect();
                meta::choice_message(to, &reply.text, &choices, list_button)
            }
        }
        Payload::Qr { to, caption, .. } => {
            let media_id = media_id.ok_or("QR image not uploaded")?;
            meta::image_message(to, media_id, caption.as_deref())
        }
        Payload::Text { to, text } => meta::text_message(to, text),
    })
}

/// A rate limiter of one account at one rate.
type Limiter = governor::DefaultDirectRateLimiter;

/// Per-account pacing: an account's sends are spaced `1/rate` seconds apart
/// (no burst), each account at its own rate; a throughput error pauses the
/// account. One limiter per account and rate (a rate changed in the
/// settings gets a fresh one); an account idle for a while loses its
/// limiter, which only lets its next send go at once.
struct Pacing {
    limiters: moka::sync::Cache<(i64, u32), Arc<Limiter>>,
    paused: Mutex<HashMap<i64, tokio::time::Instant>>,
}

impl Default for Pacing {
    fn default() -> Self {
        Pacing {
            limiters: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(StdDuration::from_secs(600))
                .build(),
            paused: Mutex::new(HashMap::new()),
        }
    }
}

impl Pacing {
    /// Waits for the account's next turn: the end of a pause, then a slot
    /// at `per_second` sends a second.
    async fn wait_turn(&self, account_id: i64, per_second: i32) {
        let pause = self.pause_of(account_id);
        if let Some(until) = pause {
            tokio::time::sleep_until(until).await;
        }
        let rate = NonZeroU32::new(per_second.max(1).unsigned_abs()).unwrap_or(NonZeroU32::MIN);
        let limiter = self.limiters.get_with((account_id, rate.get()), || {
            Arc::new(governor::RateLimiter::direct(
                governor::Quota::per_second(rate).allow_burst(NonZeroU32::MIN),
            ))
        });
        limiter.until_ready().await;
    }

    /// No send for this account before `until`.
    fn pause(&self, account_id: i64, until: tokio::time::Instant) {
        let mut paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        let now = tokio::time::Instant::now();
        paused.retain(|_, t| *t > now);
        let at = paused.entry(account_id).or_insert(until);
        *at = (*at).max(until);
    }

    /// The end of the account's pause, if it has not passed.
    fn pause_of(&self, account_id: i64) -> Option<tokio::time::Instant> {
        let paused = self.paused.lock().unwrap_or_else(|e| e.into_inner());
        paused
            .get(&account_id)
            .copied()
            .filter(|t| *t > tokio::time::Instant::now())
    }

    /// A pause that lasts over a second more: the row is put back rather
    /// than held by a waiting send.
    fn paused_until(&self, account_id: i64) -> Option<tokio::time::Instant> {
        self.pause_of(account_id)
            .filter(|t| *t > tokio::time::Instant::now() + StdDuration::from_secs(1))
    }
}

/// Exponential backoff with ±25 % jitter: 1, 2, 4, 8 s … up to 5 minutes.
pub fn backoff(attempts: i32) -> Duration {
    let base = 2f64
        .powi((attempts - 1).clamp(0, 20))
        .min(MAX_BACKOFF.as_seconds_f64());
    let jitter = 0.75 + rand::random::<f64>() * 0.5;
    Duration::seconds_f64((base * jitter).min(MAX_BACKOFF.as_seconds_f64()))
}

/// 131056: Meta suggests 4^n seconds before writing to that person again.
fn pair_backoff(attempts: i32) -> Duration {
    let secs = 4f64.powi((attempts - 1).clamp(0, 10));
    Duration::seconds_f64(secs.min(MAX_BACKOFF.as_seconds_f64()))
}

/// The worker of one server instance.
pub struct Worker {
    state: AppState,
    id: String,
    client: GraphClient,
    twilio: TwilioClient,
    pacing: Pacing,
    /// Meta numbers whose token this worker saw confirmed lately: a send
    /// then skips `tokens::store::confirm` (a statement per send
    /// otherwise). A rotation made since is confirmed at most this cache's
    /// lifetime late.
    confirmed: moka::sync::Cache<i64, ()>,
    /// Numbers whose missing settings the log was told of lately: once an
    /// hour per number, not once a minute per waiting send.
    unconfigured_said: OncePer,
}

/// Says a thing once per key and period: the keys said within the period
/// are kept (at most `OncePer::KEYS`; an evicted one is said again early).
struct OncePer(moka::sync::Cache<i64, ()>);

impl OncePer {
    const KEYS: u64 = 10_000;

    fn new(period: StdDuration) -> OncePer {
        OncePer(
            moka::sync::Cache::builder()
                .time_to_live(period)
                .max_capacity(Self::KEYS)
                .build(),
        )
    }

    /// Whether `key` is to be said now (then not again within the period).
    fn due(&self, key: i64) -> bool {
        self.0.entry(key).or_insert(()).is_fresh()
    }
}

impl Worker {
    pub fn new(state: AppState) -> Arc<Worker> {
        let client = GraphClient::new(
            &state.config.meta_graph_url,
            &state.config.meta_api_version,
            StdDuration::from_secs(30),
        );
        let twilio = TwilioClient::new(&state.config.twilio_api_url, StdDuration::from_secs(30));
        Arc::new(Worker {
            id: format!("worker-{}", uuid::Uuid::now_v7()),
            client,
            twilio,
            pacing: Pacing::default(),
            confirmed: moka::sync::Cache::builder()
                .time_to_live(StdDuration::from_secs(30))
                .max_capacity(10_000)
                .build(),
            unconfigured_said: OncePer::new(StdDuration::from_secs(3600)),
            state,
        })
    }

    /// Runs until `stop` is notified; sends in flight finish first.
    pub async fn run(self: Arc<Self>, stop: Arc<Notify>) {
        let permits = Arc::new(Semaphore::new(IN_FLIGHT));
        let mut last_claim = tokio::time::Instant::now() - CLAIM_SPACING;
        loop {
            tokio::time::sleep_until(last_claim + CLAIM_SPACING).await;
            last_claim = tokio::time::Instant::now();
            if self.start_due(&permits, OffsetDateTime::now_utc()).await == 0 {
                tokio::select! {
                    _ = stop.notified() => break,
                    _ = self.state.outbox.notify.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        }
        // Let the sends under way finish (their rows would otherwise wait
        // for the lease to run out).
        let _ = permits.acquire_many(IN_FLIGHT as u32).await;
    }

    /// One pass of the worker: claims the rows due at `now` (as many as
    /// `permits` has free) and starts their sends, each holding a permit
    /// until its result is recorded. Returns how many were claimed.
    async fn start_due(self: &Arc<Self>, permits: &Arc<Semaphore>, now: OffsetDateTime) -> usize {
        let free = permits.available_permits();
        if free == 0 {
            return 0;
        }
        let claimed = match store::claim(&self.state.db, &self.id, now, LEASE, free as i64).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "outbox: claiming due messages failed");
                return 0;
            }
        };
        let count = claimed.len();
        for row in claimed {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let worker = self.clone();
            tokio::spawn(async move {
                worker.deliver(row).await;
                drop(permit);
                // The conversation's next reply may be due now.
                worker.state.outbox.wake();
            });
        }
        count
    }

    /// Delivers everything due now and returns once every result is
    /// recorded: passes of the worker until one finds nothing due. A row
    /// that becomes due only after this call started (a retry, a pause) is
    /// left for later, so this always ends. Returns how many sends were
    /// made (successful or not). Rows another worker holds are not waited
    /// for.
    pub async fn drain(self: &Arc<Self>) -> usize {
        let permits = Arc::new(Semaphore::new(IN_FLIGHT));
        let now = OffsetDateTime::now_utc();
        let mut total = 0;
        loop {
            let started = self.start_due(&permits, now).await;
            // This pass's sends are done when every permit is back.
            drop(permits.acquire_many(IN_FLIGHT as u32).await);
            if started == 0 {
                return total;
            }
            total += started;
        }
    }

    /// The row's account, from the shared cache (a send does not read its
    /// account again; a new token is seen within `Cache::TTL`).
    async fn account(&self, id: i64) -> Result<Option<Account>, sqlx::Error> {
        self.state
            .accounts
            .get_or_load(format!("id:{id}"), accounts::find_by_id(&self.state.db, id))
            .await
    }

    async fn deliver(&self, row: Claimed) {
        if let Err(e) = self.try_deliver(&row).await {
            // The row stays claimed: when the lease runs out it is claimed
            // again (at worst sent twice, never lost).
            tracing::error!(outbox = row.id, error = %e, "outbox: recording a send's result failed; the row is retried when its claim ends");
        }
    }

    async fn try_deliver(&self, row: &Claimed) -> Result<(), sqlx::Error> {
        let db = &self.state.db;
        let Some(account) = self.account(row.account_id).await? else {
            return store::mark_failed(
                db,
                row,
                None,
                "the WhatsApp account no longer exists",
                OffsetDateTime::now_utc(),
            )
            .await;
        };
        let Some(credential) = credential(&account, &self.state.secrets) else {
            // Nothing can be sent until someone completes the settings: look
            // again in a minute (the row keeps its place in its conversation).
            let note = match account.provider() {
                Provider::Twilio => {
                    "the account has no Twilio account SID, auth token or WhatsApp number; set them in its settings"
                }
                _ => {
                    "the account has no Meta phone number ID or access token; set them in its settings"
                }
            };
            if self.unconfigured_said.due(account.id) {
                tracing::warn!(account = %account.slug, "outbox: sends wait: {note} (said once an hour)");
            }
            let now = OffsetDateTime::now_utc();
            return store::retry_later(db, row, now + Duration::minutes(1), None, note, false, now)
                .await;
        };
        // A pause (throughput error) or the account's pace.
        if let Some(until) = self.pacing.paused_until(account.id) {
            let at = OffsetDateTime::now_utc()
                + Duration::try_from(until - tokio::time::Instant::now()).unwrap_or(Duration::ZERO);
            return store::retry_later(
                db,
                row,
                at,
                None,
                "waiting: the account is paused after a rate limit",
                false,
                OffsetDateTime::now_utc(),
            )
            .await;
        }
        self.pacing
            .wait_turn(account.id, account.send_rate_per_second)
            .await;

        let result = match account.provider() {
            Provider::Twilio => {
                self.send_twilio(&account, credential.secret.expose_secret(), row)
                    .await
            }
            _ => {
                self.send_meta(&account, credential.secret.expose_secret(), row)
                    .await
            }
        };
        let now = OffsetDateTime::now_utc();
        match result {
            Ok(provider_id) => {
                tracing::debug!(outbox = row.id, "outbox: sent");
                crate::telemetry::messages_out(&account, 1);
                store::mark_sent(db, row, &provider_id, now).await?;
                self.confirm_token(&account, now).await?;
                self.tell(&account, row);
                Ok(())
            }
            Err(Failure::Payload(e)) => {
                tracing::error!(outbox = row.id, error = %e, "outbox: a message could not be built; marked failed");
                crate::telemetry::send_failed(&account, None);
                store::mark_failed(db, row, None, &e, now).await?;
                self.tell(&account, row);
                Ok(())
            }
            Err(Failure::Send(e)) => self.handle_error(&account, &credential, row, &e, now).await,
        }
    }

    /// A Meta number's token sent a message: after a rotation, that is
    /// what confirms it (and drops the previous one).
    async fn confirm_token(
        &self,
        account: &Account,
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        if account.provider() != Provider::Meta || self.confirmed.contains_key(&account.id) {
            return Ok(());
        }
        if crate::tokens::store::confirm(&self.state.db, account.id, now).await? {
            tracing::info!(account = %account.slug, "the new access token sent its first message; the previous one is dropped");
        }
        self.confirmed.insert(account.id, ());
        Ok(())
    }

    /// Tells the staff pages that the row's message changed status (sent,
    /// failed, held).
    fn tell(&self, account: &Account, row: &Claimed) {
        self.state.live.publish(crate::live::Change {
            tenant_id: account.tenant_id,
            account_id: row.account_id,
            conversation_id: row.conversation_id,
            topic: crate::live::Topic::Status,
        });
    }

    /// Sends through Twilio's REST API; returns the message SID.
    async fn send_twilio(
        &self,
        account: &Account,
        token: &str,
        row: &Claimed,
    ) -> Result<String, Failure> {
        let (Some(sid), Some(from)) = (
            account.twilio_account_sid.as_deref(),
            account.phone_number.as_deref(),
        ) else {
            return Err(Failure::Payload(
                "the account has no Twilio credentials".into(),
            ));
        };
        let payload = Payload::decode(&row.payload.0).map_err(Failure::Payload)?;
        let public = self.state.config.public_url.as_deref();
        // Twilio carries text and media by URL: buttons are in the text
        // already (the flow's questions list the typed answers).
        let (body, media_url) = match &payload {
            Payload::Reply { reply, .. } => (reply.text.clone(), None),
            Payload::Text { text, .. } => (text.clone(), None),
            Payload::Qr { uic, caption, .. } => {
                let uic = Uic::parse(uic)
                    .map_err(|e| Failure::Payload(format!("outbox QR payload: {e}")))?;
                let Some(public) = public else {
                    return Err(Failure::Payload(
                        "Twilio fetches a QR image by its public URL: set PUBLIC_URL".into(),
                    ));
                };
                let path = self.state.qr_links.path(&uic, OffsetDateTime::now_utc());
                (
                    caption.clone().unwrap_or_default(),
                    Some(format!("{public}{path}")),
                )
            }
        };
        // The status callback names the row: it finds the message even when
        // it arrives before this send's answer is recorded.
        let callback = public.map(|p| format!("{p}/whatsapp/webhook?outbox={}", row.id));
        let accepted = self
            .twilio
            .send_message(
                &twilio::Credentials {
                    account_sid: sid,
                    auth_token: token,
                },
                &twilio::Outgoing {
                    from,
                    to: payload.to(),
                    body: &body,
                    media_url: media_url.as_deref(),
                    status_callback: callback.as_deref(),
                },
            )
            .await
            .map_err(|e| Failure::Send(Refused::from(&e)))?;
        Ok(accepted.sid)
    }

    /// Sends through the Graph API; returns the wamid.
    async fn send_meta(
        &self,
        account: &Account,
        token: &str,
        row: &Claimed,
    ) -> Result<String, Failure> {
        let Some(phone_number_id) = account.meta_phone_number_id.as_deref() else {
            return Err(Failure::Payload(
                "the account has no Meta credentials".into(),
            ));
        };
        self.send_graph(phone_number_id, token, row)
            .await
            .map_err(|e| match e {
                GraphFailure::Payload(p) => Failure::Payload(p),
                GraphFailure::Send(e) => Failure::Send(Refused::from(&e)),
            })
    }

    async fn send_graph(
        &self,
        phone_number_id: &str,
        token: &str,
        row: &Claimed,
    ) -> Result<String, GraphFailure> {
        let payload = Payload::decode(&row.payload.0).map_err(GraphFailure::Payload)?;
        // A QR code is uploaded first, then sent by its media id.
        let mut media_id = None;
        if let Payload::Qr { uic, .. } = &payload {
            let uic = Uic::parse(uic)
                .map_err(|e| GraphFailure::Payload(format!("outbox QR payload: {e}")))?;
            let png = crate::qr::render_png(&uic).map_err(GraphFailure::Payload)?;
            let id = self
                .client
                .upload_media(phone_number_id, token, png, "image/png", "ciu.png")
                .await
                .map_err(GraphFailure::Send)?;
            media_id = Some(id);
        }
        let body = graph_message(&payload, media_id.as_deref()).map_err(GraphFailure::Payload)?;
        // Echoed back on status webhooks: finds the message even when a
        // status arrives before this send's answer is recorded.
        let body = meta::with_callback_data(body, &format!("outbox:{}", row.id));
        self.client
            .send_message(phone_number_id, token, &body)
            .await
            .map_err(GraphFailure::Send)
    }

    async fn handle_error(
        &self,
        account: &Account,
        credential: &Credential,
        row: &Claimed,
        e: &Refused,
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        let db = &self.state.db;
        let code = e.code;
        crate::telemetry::send_failed(account, code);
        let message = e.message.clone();
        let class = e.class;
        let too_old = now - row.created_at > GIVE_UP_AFTER;
        match class {
            ErrorClass::Token | ErrorClass::Account => {
                let fp =
                    secrets::fingerprint(credential.purpose, credential.secret.expose_secret());
                if accounts::flag_invalid_token(db, account.id, &fp, &message).await? {
                    tracing::error!(account = %account.slug, error = %message,
                        "outbox: the provider refused the account's credentials or the account; its messages are held until new ones are set");
                    if class == ErrorClass::Token {
                        // Once, when the number goes from good to refused:
                        // the provider's error code, never the token.
                        let detail = code.map_or_else(
                            || "refused while sending".to_string(),
                            |c| format!("refused while sending: provider error {c}"),
                        );
                        crate::tokens::watch::audit_refused(db, account, ACTOR, detail).await?;
                    }
                }
                store::retry_later(db, row, now, code, &message, false, now).await?;
                // Held: the message shows why.
                self.tell(account, row);
                Ok(())
            }
            ErrorClass::Throughput if !too_old => {
                let wait = match e.retry_after {
                    Some(d) => Duration::try_from(d).unwrap_or(Duration::seconds(1)),
                    // Graph 131048: a spam-rate restriction lasts; others pass quickly.
                    None if account.provider() == Provider::Meta && code == Some(131048) => {
                        Duration::minutes(5)
                    }
                    None => backoff(row.attempts),
                };
                let until = tokio::time::Instant::now()
                    + StdDuration::try_from(wait).unwrap_or(StdDuration::from_secs(1));
                self.pacing.pause(account.id, until);
                tracing::warn!(account = %account.slug, wait_s = wait.as_seconds_f64(), error = %message, "outbox: rate limited; the account pauses");
                store::retry_later(db, row, now + wait, code, &message, true, now).await
            }
            ErrorClass::PairRate if !too_old => {
                store::retry_later(
                    db,
                    row,
                    now + pair_backoff(row.attempts),
                    code,
                    &message,
                    true,
                    now,
                )
                .await
            }
            ErrorClass::Transient if !too_old => {
                let wait = match e.retry_after {
                    Some(d) => Duration::try_from(d).unwrap_or(Duration::seconds(1)),
                    None => backoff(row.attempts),
                };
                tracing::warn!(outbox = row.id, attempts = row.attempts, error = %message, "outbox: send failed; retrying later");
                store::retry_later(db, row, now + wait, code, &message, true, now).await
            }
            ErrorClass::Throughput | ErrorClass::PairRate | ErrorClass::Transient => {
                let note = format!(
                    "gave up after {} attempts over 24 hours: {message}",
                    row.attempts
                );
                tracing::error!(outbox = row.id, error = %note, "outbox: send failed for good");
                store::mark_failed(db, row, code, &note, now).await?;
                self.tell(account, row);
                Ok(())
            }
            _ => {
                tracing::warn!(outbox = row.id, error = %message, "outbox: the provider refused the message; marked failed");
                store::mark_failed(db, row, code, &message, now).await?;
                self.tell(account, row);
                Ok(())
            }
        }
    }
}

/// Why a send did not go: a row that cannot be sent as it is, or the
/// provider's refusal.
enum Failure {
    Payload(String),
    Send(Refused),
}

enum GraphFailure {
    Payload(String),
    Send(meta::SendError),
}

/// The credential that sends for the account (the Meta access token, the
/// Twilio auth token), opened, and what it is.
struct Credential {
    purpose: Purpose,
    secret: Secret,
}

/// The account's credential, when every setting a send needs is there and
/// the stored credential opens (one that does not is treated as missing:
/// see `Account::secret`).
fn credential(account: &Account, ring: &Keyring) -> Option<Credential> {
    let purpose = match account.provider() {
        Provider::Meta => {
            account.meta_phone_number_id.as_ref()?;
            Purpose::MetaAccessToken
        }
        Provider::Twilio => {
            account.twilio_account_sid.as_ref()?;
            account.phone_number.as_ref()?;
            Purpose::TwilioAuthToken
        }
        Provider::Sandbox => return None,
    };
    let secret = account.secret(ring, purpose)?;
    Some(Credential { purpose, secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_setting_is_said_once_per_number_and_period() {
        let said = OncePer::new(StdDuration::from_millis(200));
        assert!(said.due(1));
        assert!(!said.due(1), "not again within the period");
        assert!(said.due(2), "another number is said");
        std::thread::sleep(StdDuration::from_millis(300));
        assert!(said.due(1), "said again once the period is over");
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempts in 1..40 {
            let d = backoff(attempts);
            let base = 2f64.powi(attempts - 1).min(300.0);
            assert!(d.as_seconds_f64() >= base * 0.75 - 1e-9, "{attempts}: {d}");
            assert!(d <= MAX_BACKOFF, "{attempts}: {d}");
        }
        assert_eq!(pair_backoff(1), Duration::seconds(1));
        assert_eq!(pair_backoff(3), Duration::seconds(16));
        assert_eq!(pair_backoff(9), MAX_BACKOFF);
    }

    /// A stored payload as the worker reads it.
    fn build_payload(
        payload: &serde_json::Value,
        media_id: Option<&str>,
    ) -> Result<serde_json::Value, String> {
        graph_message(&Payload::decode(payload)?, media_id)
    }

    #[test]
    fn replies_become_text_or_interactive_payloads() {
        let p = serde_json::json!({"to": "+243990000001", "reply": {"text": "Bonjour"}});
        let body = build_payload(&p, None).unwrap();
        assert_eq!(body["type"], "text");
        assert_eq!(body["to"], "243990000001");
        let p = serde_json::json!({"to": "+243990000001", "reply": {"text": "Genre ?", "choices": [
            {"id": "g1", "title": "Homme"}, {"id": "g2", "title": "Femme"}]}});
        let body = build_payload(&p, None).unwrap();
        assert_eq!(body["type"], "interactive");
        let p = serde_json::json!({"to": "+243990000001", "qr": "MBEIBR7DA1"});
        let body = build_payload(&p, Some("123")).unwrap();
        assert_eq!(body["image"]["id"], "123");
        assert!(build_payload(&serde_json::json!({"reply": {}}), None).is_err());
        assert!(build_payload(&serde_json::json!({"to": "1"}), None).is_err());
    }

    #[tokio::test]
    async fn pacing_spaces_an_account_s_sends_and_pauses() {
        let pacing = Pacing::default();
        let start = tokio::time::Instant::now();
        pacing.wait_turn(1, 10).await;
        pacing.wait_turn(1, 10).await;
        // The second send of the account waited its turn (a tenth of a
        // second, within the clocks' granularity).
        assert!(
            start.elapsed() >= StdDuration::from_millis(95),
            "{:?}",
            start.elapsed()
        );
        // Another account is not slowed by the first.
        let other = tokio::time::Instant::now();
        pacing.wait_turn(2, 10).await;
        assert!(
            other.elapsed() < StdDuration::from_millis(50),
            "{:?}",
            other.elapsed()
        );
        assert!(pacing.paused_until(1).is_none());
        pacing.pause(1, tokio::time::Instant::now() + StdDuration::from_secs(30));
        assert!(pacing.paused_until(1).is_some());
        assert!(pacing.paused_until(2).is_none());
        // A short pause is waited out by the send itself.
        pacing.pause(
            2,
            tokio::time::Instant::now() + StdDuration::from_millis(300),
        );
        assert!(pacing.paused_until(2).is_none());
        let short = tokio::time::Instant::now();
        pacing.wait_turn(2, 1000).await;
        assert!(
            short.elapsed() >= StdDuration::from_millis(290),
            "{:?}",
            short.elapsed()
        );
    }
}
