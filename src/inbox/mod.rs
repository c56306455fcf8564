//! The inbox: contacts, conversations and messages, and the processing of
//! one inbound message (DESIGN.md section 4):
//!
//! 1. read the conversation (created on a person's first message) and
//!    whether this provider id was already stored: a retry ends here, with
//!    success and nothing run twice. A Twilio retry means its first answer
//!    never reached Twilio (a timeout, a cut connection, a server killed
//!    after its commit): it is answered with the replies stored with the
//!    message, if nothing came after it ([`Again`]). A conversation this
//!    process wrote last is taken from memory instead (`Recent`), checked
//!    by step 3;
//! 2. if the conversation is in bot mode, run the flow step (pure);
//! 3. write atomically: the inbound message, the replies (and their outbox
//!    rows for providers sent by the worker), the new flow state and, when a
//!    code was issued, its registration, on condition that the conversation
//!    has not changed since step 1. If it has (two messages of one person at
//!    the same moment, another server instance, a retry already stored), go
//!    back to step 1 and read: no update is ever lost, nothing is answered
//!    twice, and no lock is held while the flow runs;
//! 4. only then does the webhook answer (and the staff pages are told,
//!    `live`).

pub mod modes;
pub mod read;
pub mod staff;
pub mod states;
pub mod store;
pub mod waiting;

use crate::config::{Config, Secret};
use crate::db::Db;
use crate::flow::{self, Event, Inbound, Reply, Transcript};
use crate::outbox::Payload;
use crate::registry;
use crate::tenancy::{Account, Provider};
pub use states::{BodyForm, Change, Direction, MessageStatus, Mode, Sender, WaitingReason};
use time::OffsetDateTime;

/// What processing an inbound message needs besides the message: the
/// inbox's own inputs, not the whole server state.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    pub db: &'a Db,
    /// Keys the hash of a sender's number in the registry.
    pub salt: &'a Secret,
    pub recent: &'a Recent,
    /// Woken when replies were queued for the outbox worker.
    pub outbox: &'a crate::outbox::Signal,
    /// Told of each message stored and each change of mode.
    pub live: &'a crate::live::Hub,
    /// The defaults of an account's flow settings.
    pub config: &'a Config,
}

/// Why an inbound message could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Its conversation kept changing under it (`MAX_ATTEMPTS` times).
    #[error("this conversation is receiving too many messages at once; try again")]
    Busy,
}

impl Error {
    /// Whether the same message may go through if sent again later (a
    /// provider's retry): the database busy or unreachable, or the
    /// conversation crowded. Bad data is not.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Database(e) => crate::db::is_transient(e),
            Error::Busy => true,
        }
    }
}

/// An inbound message, as a channel parsed it.
#[derive(Debug, Clone)]
pub struct NewInbound {
    /// The provider's message id (Twilio MessageSid, Meta wamid): the
    /// deduplication key.
    pub provider_message_id: String,
    /// The sender's number, E.164 with `+`.
    pub from: String,
    pub profile_name: Option<String>,
    /// Typed text or caption; empty for media without caption.
    pub text: String,
    /// Id of a tapped button or list row.
    pub choice_id: Option<String>,
    /// "text", "image", "audio", "location", "interactive", …
    pub kind: String,
    /// The provider's id (or URL) of an image, audio, document…
    pub media_ref: Option<String>,
    /// When the person sent it, if the provider says (Meta does).
    pub sent_at: Option<OffsetDateTime>,
}

/// A message older than this when it arrives (Meta redelivers up to 7 days
/// of messages after an outage) is kept for staff but not answered by the
/// bot: the conversation has moved on, and Meta would refuse a reply outside
/// the 24-hour window anyway.
pub const TOO_OLD_TO_ANSWER: time::Duration = time::Duration::hours(24);

impl NewInbound {
    /// A typed text or a tapped choice: what the bot can read as an answer.
    /// Anything else (image, audio, location…) sent at a question goes to
    /// staff (escalated: media sent); its caption is not taken as an answer.
    pub fn is_readable(&self) -> bool {
        matches!(self.kind.as_str(), "text" | "interactive" | "button")
    }
}

/// What happened to an inbound message.
#[derive(Debug)]
pub enum Handled {
    /// Already stored earlier (a provider retry): nothing run again. For a
    /// Twilio number, what to answer it with.
    Duplicate(Option<Again>),
    Processed {
        conversation_id: i64,
        /// The bot's replies, to be delivered by the channel (TwiML, sandbox)
        /// or already queued in the outbox (Meta).
        replies: Vec<Reply>,
        events: Vec<Event>,
    },
}

/// The answer again to a Twilio retry (see the module header): the texts
/// of the bot's replies as stored with the message, and the code whose QR
/// image rode on the last of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Again {
    pub texts: Vec<String>,
    pub qr: Option<crate::uic::Uic>,
}

impl Again {
    /// The replies stored with a message, read back: their texts, and the
    /// QR image row (`qr_body`) as the code it shows.
    fn from_stored(stored: Vec<store::StoredReply>) -> Again {
        let mut again = Again::default();
        for reply in stored {
            match reply.kind.as_str() {
                "image" => again.qr = again.qr.or_else(|| qr_code(&reply.body)),
                _ => again.texts.push(reply.body),
            }
        }
        again
    }
}

/// How a QR image sent with a code is stored in the transcript.
pub fn qr_body(uic: &crate::uic::Uic) -> String {
    format!("QR {}", uic.as_str())
}

/// The code of a QR image row (`qr_body`).
fn qr_code(body: &str) -> Option<crate::uic::Uic> {
    body.strip_prefix("QR ")
        .and_then(|code| crate::uic::Uic::parse(code).ok())
}

/// The conversations this process wrote last, as it wrote them: a message
/// of a person who wrote a moment ago skips the read (the busiest path
/// becomes one statement). The database stays the authority: the write
/// applies only if the version is still the one remembered, else the entry
/// is dropped and the conversation read again; so several server instances
/// and restarts stay safe.
pub struct Recent {
    entries: moka::sync::Cache<(i64, String), store::Current>,
}

/// Entries kept at most (a few hundred bytes each); the least used go
/// first, which only costs a read per conversation.
const RECENT_CAPACITY: u64 = 10_000;

impl Default for Recent {
    fn default() -> Self {
        Recent {
            entries: moka::sync::Cache::new(RECENT_CAPACITY),
        }
    }
}

impl Recent {
    fn get(&self, account_id: i64, phone: &str) -> Option<store::Current> {
        self.entries.get(&(account_id, phone.to_string()))
    }

    fn put(&self, account_id: i64, phone: &str, current: store::Current) {
        self.entries
            .insert((account_id, phone.to_string()), current);
    }

    fn forget(&self, account_id: i64, phone: &str) {
        self.entries.invalidate(&(account_id, phone.to_string()));
    }
}

/// How many times a message is re-read and re-run when its conversation
/// changed under it (only several messages of one person at the same moment
/// do that).
const MAX_ATTEMPTS: usize = 20;

/// How the bot's replies leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// In the answer to an inbound webhook: Twilio (TwiML) and the sandbox
    /// deliver them themselves; Meta's go through the outbox.
    Webhook,
    /// Outside a webhook (a hand back): through the outbox for Meta and
    /// Twilio; the sandbox shows them in the simulator's phone.
    Outbox,
}

/// The bot's replies as stored, each with an outbox row when the worker
/// sends it (see [`Delivery`]); an issued code is followed by its QR image
/// when the account has QR codes on (on Twilio, a link in the TwiML).
fn outgoing(
    provider: Provider,
    delivery: Delivery,
    flow_config: &flow::FlowConfig,
    to: &str,
    replies: &[Reply],
    events: &[Event],
) -> Vec<store::Outgoing> {
    let queued = match delivery {
        Delivery::Webhook => provider == Provider::Meta,
        Delivery::Outbox => provider != Provider::Sandbox,
    };
    let list_button = match flow_config.language {
        flow::Language::Fr => "Choisir",
        flow::Language::En => "Choose",
    };
    let mut out: Vec<store::Outgoing> = replies
        .iter()
        .map(|reply| store::Outgoing {
            kind: if reply.choices.is_empty() {
                "text"
            } else {
                "interactive"
            },
            body: reply.text.clone(),
            outbox_payload: queued.then(|| Payload::Reply {
                to: to.to_string(),
                reply: reply.clone(),
                list_button: list_button.to_string(),
            }),
        })
        .collect();
    if !flow_config.qr_enabled {
        return out;
    }
    for event in events {
        let Event::UicIssued { uic, .. } = event else {
            continue;
        };
        let outbox_payload = match (provider, delivery) {
            // Its own message, sent by the outbox worker.
            (Provider::Meta, _) => Some(Payload::Qr {
                to: to.to_string(),
                uic: uic.as_str().to_string(),
                caption: Some(uic.as_str().to_string()),
            }),
            // On the TwiML answer's last message (stored all the same: a
            // retry is answered with it again).
            (Provider::Twilio, Delivery::Webhook) if !out.is_empty() => None,
            _ => continue,
        };
        out.push(store::Outgoing {
            kind: "image",
            body: qr_body(uic),
            outbox_payload,
        });
    }
    out
}

/// What the transcript keeps of an inbound message: its body form, body and
/// length. `transcript` is what the flow allows while the bot has the
/// conversation; `None` (staff have it) keeps the text as written.
pub fn kept_form<'a>(
    transcript: Option<&'a Transcript>,
    input: &'a str,
) -> (store::BodyForm, &'a str, Option<i32>) {
    use store::BodyForm;
    match transcript {
        None => (BodyForm::Verbatim, input, None),
        Some(Transcript::Shortened(part)) => (BodyForm::Shortened, part.as_str(), None),
        Some(Transcript::Command(word)) => (BodyForm::Command, word.as_str(), None),
        Some(Transcript::Described) => {
            let chars = i32::try_from(input.chars().count()).unwrap_or(i32::MAX);
            (BodyForm::Described, "", Some(chars))
        }
        Some(Transcript::Redacted) => (BodyForm::Redacted, "", None),
    }
}

/// How staff are shown a described message (body form `described`): its
/// kind and length, "texte, 52 caractères", never its words.
pub fn describe(kind: &str, chars: i32, lang: crate::auth::Lang) -> String {
    use crate::auth::Lang;
    let kind = match (kind, lang) {
        ("text", Lang::Fr) => "texte",
        ("text", Lang::En) => "text",
        ("interactive" | "button", Lang::Fr) => "réponse à un bouton",
        ("interactive" | "button", Lang::En) => "button reply",
        ("image", _) => "image",
        ("audio", _) => "audio",
        ("video", Lang::Fr) => "vidéo",
        ("document", _) => "document",
        ("location", Lang::Fr) => "position",
        (other, _) => other,
    };
    match lang {
        // French counts 0 and 1 in the singular.
        Lang::Fr if chars <= 1 => format!("{kind}, {chars} caractère"),
        Lang::Fr => format!("{kind}, {chars} caractères"),
        Lang::En if chars == 1 => format!("{kind}, 1 character"),
        Lang::En => format!("{kind}, {chars} characters"),
    }
}

/// Processes one inbound message (see the module header).
pub async fn handle_inbound(
    inputs: &Inputs<'_>,
    account: &Account,
    msg: &NewInbound,
) -> Result<Handled, Error> {
    let flow_config = account.flow_config(inputs.config);
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            tokio::task::yield_now().await;
        }
        let now = OffsetDateTime::now_utc();
        // A remembered conversation skips the read; a provider retry then
        // fails its write on the unique provider id and comes back here to
        // read, where it is seen as a duplicate.
        let remembered = if attempt == 0 {
            inputs.recent.get(account.id, &msg.from)
        } else {
            None
        };
        let current = match remembered {
            Some(c) => c,
            None => match store::load(inputs.db, account.id, &msg.from, &msg.provider_message_id)
                .await?
            {
                Some(c) if c.duplicate => {
                    // Only a Twilio retry comes without its answer: a Meta
                    // message's replies are in the outbox, the simulator
                    // shows its own.
                    let again = match account.provider() {
                        Provider::Twilio => Some(Again::from_stored(
                            store::replies_again(inputs.db, account.id, &msg.provider_message_id)
                                .await?,
                        )),
                        Provider::Meta | Provider::Sandbox => None,
                    };
                    return Ok(Handled::Duplicate(again));
                }
                Some(c) => c,
                None => {
                    store::create(
                        inputs.db,
                        account.tenant_id,
                        account.id,
                        &msg.from,
                        msg.profile_name.as_deref(),
                        now,
                    )
                    .await?;
                    continue;
                }
            },
        };
        // Profile names are kept only where the tenant asked for them (the
        // statement checks the setting again: this copy may be a second old).
        if account.keep_profile_names
            && let Some(name) = msg.profile_name.as_deref()
            && current.profile_name.as_deref() != Some(name)
        {
            store::set_profile_name(inputs.db, account.id, &msg.from, name).await?;
        }

        let route = modes::route(current.mode, &msg.text);
        let mut flow_state = current.flow_state.0.clone();
        // Through the flow only text and choices are read; a caption or a
        // place is not kept (it could hold an answer, such as a name).
        let input = if route == modes::Route::Flow && !msg.is_readable() {
            ""
        } else {
            msg.text.as_str()
        };
        let too_old = msg.sent_at.is_some_and(|at| now - at > TOO_OLD_TO_ANSWER);
        let (replies, events, transcript, finished) = match route {
            modes::Route::Flow if too_old => {
                // Not run through the flow, so not known to be no answer (a
                // name): nothing of it is kept.
                (Vec::new(), Vec::new(), Some(Transcript::Redacted), None)
            }
            modes::Route::Flow => {
                let mut outcome = flow::step(
                    &flow_state,
                    &Inbound {
                        text: input,
                        choice_id: msg.choice_id.as_deref().filter(|_| msg.is_readable()),
                        media: !msg.is_readable(),
                    },
                    &flow_config,
                    now,
                );
                // A phone a supervisor gave its own code gets it again (issue 15).
                registry::collision::reissue_own(
                    inputs.db,
                    account.tenant_id,
                    // The simulator and sandbox numbers' codes are test data.
                    account.provider() == Provider::Sandbox,
                    inputs.salt,
                    &msg.from,
                    &mut outcome,
                )
                .await?;
                flow_state = outcome.state;
                (
                    outcome.replies,
                    outcome.events,
                    Some(outcome.transcript),
                    outcome.finished,
                )
            }
            // Waiting for staff, or held by them: they must read the message
            // as written; the bot says nothing more.
            modes::Route::Staff => (Vec::new(), Vec::new(), None, None),
        };
        let (body_form, body, text_chars) = kept_form(transcript.as_ref(), input);
        let (mode, change) = match route {
            modes::Route::Flow => modes::after_flow(current.mode, &events),
            modes::Route::Staff => (current.mode, None),
        };

        let provider = account.provider();
        let escalated_at = change
            .filter(|c| c.change == Change::Escalated)
            .map(|_| now);
        let mut issue = None;
        for event in &events {
            if let Event::UicIssued { uic, parts } = event {
                issue = Some(store::Issue {
                    uic: uic.clone(),
                    parts: parts.clone(),
                    phone_hash: registry::salt::hash_phone(inputs.salt, &msg.from),
                    // The simulator and every sandbox account are trials.
                    test_data: provider == Provider::Sandbox,
                });
            }
        }
        let write = store::Write {
            tenant_id: account.tenant_id,
            account_id: account.id,
            conversation_id: current.id,
            version: current.version,
            mode,
            change,
            flow_state: &flow_state,
            escalated_at,
            provider_message_id: &msg.provider_message_id,
            kind: &msg.kind,
            body_form,
            body,
            text_chars,
            media_ref: msg.media_ref.as_deref(),
            reply_status: match provider {
                // Sent in the webhook's TwiML answer.
                Provider::Twilio => MessageStatus::Sent,
                Provider::Sandbox => MessageStatus::Delivered,
                Provider::Meta => MessageStatus::Queued,
            },
            replies: outgoing(
                provider,
                Delivery::Webhook,
                &flow_config,
                &msg.from,
                &replies,
                &events,
            ),
            issue,
            finished: finished.as_ref(),
            test_data: provider == Provider::Sandbox,
            now,
        };
        match store::apply(inputs.db, &write).await? {
            store::Applied::Stale => {
                inputs.recent.forget(account.id, &msg.from);
                continue;
            }
            store::Applied::Done => {
                crate::telemetry::message_in(account);
                if write.issue.is_some() {
                    crate::telemetry::code_issued(account);
                }
                crate::telemetry::flow_moved(account, finished.as_ref(), change);
                match provider {
                    // Queued: counted when the outbox sends them.
                    Provider::Meta => {
                        if !replies.is_empty() {
                            inputs.outbox.wake();
                        }
                    }
                    // In the webhook's answer (TwiML) or the simulator's.
                    Provider::Twilio | Provider::Sandbox => {
                        crate::telemetry::messages_out(account, replies.len());
                    }
                }
                let live = |topic| crate::live::Change {
                    tenant_id: account.tenant_id,
                    account_id: account.id,
                    conversation_id: current.id,
                    topic,
                };
                inputs.live.publish(live(crate::live::Topic::Message));
                if change.is_some() {
                    inputs.live.publish(live(crate::live::Topic::Mode));
                }
                inputs.recent.put(
                    account.id,
                    &msg.from,
                    store::Current {
                        id: current.id,
                        mode,
                        flow_state: sqlx::types::Json(flow_state.clone()),
                        version: current.version + 1,
                        profile_name: if account.keep_profile_names {
                            msg.profile_name.clone().or(current.profile_name.clone())
                        } else {
                            current.profile_name.clone()
                        },
                        duplicate: false,
                    },
                );
                for event in &events {
                    if let Event::Escalated { reason } = event {
                        tracing::info!(
                            conversation = current.id,
                            ?reason,
                            "conversation escalated to staff"
                        );
                    }
                }
                return Ok(Handled::Processed {
                    conversation_id: current.id,
                    replies,
                    events,
                });
            }
        }
    }
    Err(Error::Busy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Lang;
    use store::BodyForm;

    #[test]
    fn the_transcript_keeps_a_described_text_as_its_length_only_and_staff_messages_as_written() {
        let greeting = "Bonjour, je suis Mbengue Ibrahima";
        assert_eq!(
            kept_form(Some(&Transcript::Described), greeting),
            (BodyForm::Described, "", Some(33))
        );
        assert_eq!(
            kept_form(Some(&Transcript::Command("AIDE".into())), "aide ?"),
            (BodyForm::Command, "AIDE", None)
        );
        assert_eq!(
            kept_form(Some(&Transcript::Shortened("MBE".into())), "Mbengue"),
            (BodyForm::Shortened, "MBE", None)
        );
        assert_eq!(
            kept_form(Some(&Transcript::Redacted), "Kabongo"),
            (BodyForm::Redacted, "", None)
        );
        assert_eq!(
            kept_form(None, greeting),
            (BodyForm::Verbatim, greeting, None)
        );
        // Characters, not bytes.
        assert_eq!(kept_form(Some(&Transcript::Described), "née").2, Some(3));
    }

    #[test]
    fn a_described_message_reads_as_its_kind_and_length() {
        assert_eq!(describe("text", 52, Lang::Fr), "texte, 52 caractères");
        assert_eq!(describe("text", 1, Lang::En), "text, 1 character");
        assert_eq!(describe("image", 0, Lang::Fr), "image, 0 caractère");
    }

    #[test]
    fn a_retry_is_answered_with_the_stored_texts_and_the_code_of_the_qr_row() {
        let uic = crate::uic::Uic::parse("MBEIBR7DA1").unwrap();
        let stored = |kind: &str, body: &str| store::StoredReply {
            kind: kind.into(),
            body: body.into(),
        };
        let again = Again::from_stored(vec![
            stored("text", "Merci!"),
            stored("interactive", "Votre CIU: MBEIBR7DA1"),
            stored("image", &qr_body(&uic)),
        ]);
        assert_eq!(
            again,
            Again {
                texts: vec!["Merci!".into(), "Votre CIU: MBEIBR7DA1".into()],
                qr: Some(uic),
            }
        );
        // An image row that is not a QR code's is not taken for one.
        let odd = Again::from_stored(vec![stored("text", "A"), stored("image", "QR nonsense")]);
        assert_eq!(odd.qr, None);
        assert_eq!(Again::from_stored(Vec::new()), Again::default());
    }

    #[test]
    fn body_forms_read_back_as_stored() {
        for form in [
            BodyForm::Verbatim,
            BodyForm::Shortened,
            BodyForm::Redacted,
            BodyForm::Command,
            BodyForm::Described,
        ] {
            assert_eq!(BodyForm::parse(form.as_str()), Some(form));
        }
        assert_eq!(BodyForm::parse("typed"), None);
    }
}
