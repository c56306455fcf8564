//! One conversation of the demo tenant, lived through the app's own rules
//! (pure, no I/O): every message a person types goes through the real flow
//! (`flow::step`), is kept as `inbox::kept_form` keeps it and routed by
//! `inbox::modes`; the staff actions (take over, write, hand back, flag) and
//! the queue's "nobody available" notice change the conversation as
//! `inbox::staff` and `inbox::waiting` do. What comes out are the rows the
//! app would have written, in order, with their times; and the runs of
//! questions the flow ended (`flow::Outcome::finished`, recorded as
//! `report::runs::record` and `staff_wrote` record them), with those the
//! sweep of idle runs would have ended by now.
//!
//! The flow, the transcript rule and the routing are the app's own
//! functions; the staff actions and the notice write their columns here as
//! `inbox::staff::set_mode` and `inbox::waiting` write them in SQL: a change
//! there must be made here too (the seed's tests read seeded conversations
//! back through the app and run its staff actions on them).

use super::people::{self, Person, Typed};
use crate::flow::{self, Choice, Event, FlowConfig, FlowState, HandBack, Inbound, Step};
use crate::inbox::modes::{self, Route};
use crate::inbox::{BodyForm, Change, Direction, MessageStatus, Mode, Sender, WaitingReason};
use crate::outbox::Payload;
use crate::uic::{Uic, UicParts};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// What a conversation's life looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The five questions answered, code given.
    Complete,
    /// Complete, then back another day for the code again.
    CompleteReturns,
    /// Left at this question (1-5), never came back.
    Abandoned(u8),
    /// Left at a question, came back days later and finished.
    AbandonedReturned,
    /// In the staff queue for this reason, nobody took it yet.
    Waiting(WaitingReason),
    /// Taken by a staff member, who writes with the person.
    Human,
    /// Taken, then given back to the bot, which finished.
    HandedBack(HandBack),
    /// Waited, then the person typed RECOMMENCER and finished with the bot.
    Restarted,
}

/// An account as the simulation needs it.
#[derive(Debug, Clone)]
pub struct AccountSim {
    pub flow: FlowConfig,
    /// Cities people of this programme are mostly born in.
    pub home: Vec<&'static str>,
    /// The codes of its city list (tapped or typed by name).
    pub listed: Vec<&'static str>,
    /// Staff who answer its conversations (user ids).
    pub staff: Vec<i64>,
    pub waiting_limit: Duration,
}

/// One conversation to live.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Seeds its random choices: the same key lives the same life.
    pub key: u64,
    pub kind: Kind,
    pub account: usize,
    pub start: OffsetDateTime,
    /// Messages at most (the script stops, as a person who leaves).
    pub cap: usize,
    /// Messages wanted: later visits or more exchanges are added up to it.
    pub want: usize,
}

/// A message as it will be stored (its ids are given when written).
#[derive(Debug, Clone)]
pub struct Msg {
    pub at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub direction: Direction,
    pub sender: Sender,
    pub author: Option<i64>,
    /// Has a provider id (a wamid): every inbound message, and every
    /// outbound one the worker sent.
    pub wamid: bool,
    pub kind: &'static str,
    pub body_form: BodyForm,
    pub body: Arc<str>,
    pub text_chars: Option<i32>,
    pub status: MessageStatus,
    pub error_code: Option<&'static str>,
    pub error_message: Option<&'static str>,
    pub media_ref: Option<String>,
    /// The outbox row that sent it: its payload (JSON) and when it was sent.
    pub outbox: Option<(Sent, OffsetDateTime)>,
}

/// What an outbox row sent, kept small (a million of them are held in
/// memory): the payload is made from it when the row is written.
#[derive(Debug, Clone)]
pub enum Sent {
    /// A reply of the bot, as sent (before any redaction of the message).
    Reply(Arc<str>, Arc<Vec<Choice>>),
    /// A code's QR image.
    Qr(Arc<str>),
    /// A staff member's text.
    Text(Arc<str>),
}

impl Sent {
    /// The payload the inbox writes for it (`Payload`'s JSON).
    pub fn payload(&self, to: &str) -> Payload {
        match self {
            Sent::Reply(text, choices) => Payload::Reply {
                to: to.to_string(),
                reply: flow::Reply {
                    text: text.to_string(),
                    choices: choices.to_vec(),
                },
                list_button: "Choisir".to_string(),
            },
            Sent::Qr(uic) => Payload::Qr {
                to: to.to_string(),
                uic: uic.to_string(),
                caption: Some(uic.to_string()),
            },
            Sent::Text(text) => Payload::Text {
                to: to.to_string(),
                text: text.to_string(),
            },
        }
    }
}

/// A change of hands (`conversation_events`).
#[derive(Debug, Clone)]
pub struct Ev {
    pub at: OffsetDateTime,
    pub mode: Mode,
    pub change: Change,
    pub detail: Option<&'static str>,
    pub user: Option<i64>,
}

/// A code the flow issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub at: OffsetDateTime,
    pub uic: Uic,
    pub parts: UicParts,
}

/// A run of questions that ended (a `flow_runs` row, see `flow::run`).
#[derive(Debug, Clone)]
pub struct RunEnd {
    pub finished: flow::run::Finished,
    /// Escalated runs: when staff first wrote to the person after it
    /// (`report::runs::staff_wrote`).
    pub first_reply_at: Option<OffsetDateTime>,
    /// Ended after the year by what the sweep of idle runs would have
    /// done by now (`report::runs::sweep`), not by a message.
    pub swept: bool,
}

/// A conversation lived: its final row and what it wrote.
#[derive(Debug, Clone)]
pub struct Lived {
    pub account: usize,
    pub phone: String,
    pub created_at: OffsetDateTime,
    pub mode: Mode,
    pub waiting_reason: Option<WaitingReason>,
    pub taken_by: Option<i64>,
    pub taken_at: Option<OffsetDateTime>,
    pub escalated_at: Option<OffsetDateTime>,
    pub unattended_notice_at: Option<OffsetDateTime>,
    pub flow_state: FlowState,
    pub version: i64,
    pub last_inbound_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
    /// The last code issued in it.
    pub uic: Option<Uic>,
    pub msgs: Vec<Msg>,
    pub events: Vec<Ev>,
    pub issued: Vec<Issued>,
    /// The runs of questions that ended, in the order they did.
    pub runs: Vec<RunEnd>,
}

/// What every conversation shares.
pub struct World<'a> {
    pub now: OffsetDateTime,
    pub accounts: &'a [AccountSim],
    /// Text kept as written older than this is redacted (the daily job).
    pub retention: Duration,
    /// Interned bodies (the bot says the same few things a million times).
    pub texts: std::cell::RefCell<std::collections::HashMap<String, Arc<str>>>,
    /// Interned choice lists (the gender buttons, each account's cities).
    pub choices: std::cell::RefCell<Vec<Arc<Vec<Choice>>>>,
}

impl World<'_> {
    fn intern(&self, s: &str) -> Arc<str> {
        let mut texts = self.texts.borrow_mut();
        if let Some(t) = texts.get(s) {
            return t.clone();
        }
        let t: Arc<str> = Arc::from(s);
        // Only the bot's fixed texts repeat; codes and staff texts vary little.
        if texts.len() < 200_000 {
            texts.insert(s.to_string(), t.clone());
        }
        t
    }

    fn intern_choices(&self, choices: &[Choice]) -> Arc<Vec<Choice>> {
        let mut known = self.choices.borrow_mut();
        if let Some(c) = known.iter().find(|c| c.as_slice() == choices) {
            return c.clone();
        }
        let c = Arc::new(choices.to_vec());
        known.push(c.clone());
        c
    }
}

/// The meta error statuses a few messages end with (reference A: failed
/// statuses come later, the send itself was accepted).
const FAILURES: &[(&str, &str)] = &[
    ("131026", "Message undeliverable"),
    (
        "131049",
        "This message was not delivered to maintain healthy ecosystem engagement.",
    ),
];

/// The worker that sent the seeded messages (outbox `claimed_by`).
pub const WORKER: &str = "worker-demo-seed";

/// `kept_form`'s name for what it returns.
type Kept<'a> = (BodyForm, &'a str, Option<i32>);

struct Sim<'w, 'a> {
    w: &'w World<'a>,
    acc: &'w AccountSim,
    rng: StdRng,
    person: Person,
    cap: usize,
    l: Lived,
}

/// Lives one conversation.
pub fn live(w: &World<'_>, plan: &Plan, person_no: u64, phone_salt: u64) -> Lived {
    let acc = &w.accounts[plan.account];
    let mut rng = StdRng::seed_from_u64(plan.key);
    // A year before now at most: adults then are adults now.
    let person = people::person(
        &mut rng,
        &acc.home,
        people::phone(person_no, phone_salt),
        w.now.year() - 1,
    );
    let mut s = Sim {
        w,
        acc,
        rng,
        cap: plan.cap,
        l: Lived {
            account: plan.account,
            phone: person.phone.clone(),
            created_at: plan.start,
            mode: Mode::Bot,
            waiting_reason: None,
            taken_by: None,
            taken_at: None,
            escalated_at: None,
            unattended_notice_at: None,
            flow_state: FlowState::default(),
            version: 0,
            last_inbound_at: None,
            updated_at: plan.start,
            uic: None,
            msgs: Vec::new(),
            events: Vec::new(),
            issued: Vec::new(),
            runs: Vec::new(),
        },
        person,
    };
    let t = s.script(plan.kind, plan.start);
    if let Some(t) = t
        && s.l.msgs.len() < plan.want
    {
        s.cap = s.cap.min(plan.want);
        s.extend(t);
    }
    s.advance(w.now);
    s.left_idle(w.now);
    s.l
}

impl Sim<'_, '_> {
    fn gap(&mut self, min_s: i64, max_s: i64) -> Duration {
        Duration::seconds(self.rng.random_range(min_s..=max_s))
    }

    /// A person's next message, a little later.
    fn typing(&mut self, t: OffsetDateTime) -> OffsetDateTime {
        t + self.gap(8, 150)
    }

    fn flow(&self) -> &FlowConfig {
        &self.acc.flow
    }

    /// A delivery status for an outbound message sent at `at`, as the
    /// provider's status reports would have left it by now.
    fn delivery(&mut self, at: OffsetDateTime) -> (MessageStatus, OffsetDateTime, Option<usize>) {
        let age = self.w.now - at;
        let roll = self.rng.random_range(0..1000);
        if age < Duration::seconds(5) {
            return (MessageStatus::Sent, at + Duration::seconds(1), None);
        }
        if roll < 8 {
            let which = self.rng.random_range(0..FAILURES.len());
            return (
                MessageStatus::Failed,
                at + Duration::seconds(2),
                Some(which),
            );
        }
        if roll < 30 {
            return (MessageStatus::Sent, at + Duration::seconds(1), None);
        }
        if roll < 350 {
            return (MessageStatus::Delivered, at + Duration::seconds(3), None);
        }
        let read = at + self.gap(5, 3 * 3600);
        (MessageStatus::Read, read.min(self.w.now), None)
    }

    /// Text kept as written is redacted once older than the retention
    /// period, as the daily job leaves it.
    fn keep(
        &self,
        at: OffsetDateTime,
        (form, body, chars): Kept<'_>,
    ) -> (BodyForm, Arc<str>, Option<i32>, Option<OffsetDateTime>) {
        if form == BodyForm::Verbatim && at < self.w.now - self.w.retention {
            // Redacted by the first daily pass after the period ran out.
            let when = (at + self.w.retention + Duration::hours(12)).min(self.w.now);
            (BodyForm::Redacted, self.w.intern(""), None, Some(when))
        } else {
            (form, self.w.intern(body), chars, None)
        }
    }

    /// An outbound message through the outbox (every account is Meta).
    fn outbound(
        &mut self,
        at: OffsetDateTime,
        sender: Sender,
        author: Option<i64>,
        kind: &'static str,
        body: &str,
        sent: Sent,
    ) {
        let (status, updated, failure) = self.delivery(at);
        let (body_form, body, text_chars, redacted) =
            self.keep(at, (BodyForm::Verbatim, body, None));
        self.l.msgs.push(Msg {
            at,
            updated_at: redacted.map_or(updated, |r| r.max(updated)),
            direction: Direction::Out,
            sender,
            author,
            wamid: true,
            kind,
            body_form,
            body,
            text_chars,
            status,
            error_code: failure.map(|i| FAILURES[i].0),
            error_message: failure.map(|i| FAILURES[i].1),
            media_ref: None,
            // Past the retention period the daily job has deleted the sent
            // row (its payload held the text) as it redacted the message.
            outbox: redacted
                .is_none()
                .then_some((sent, at + Duration::milliseconds(400))),
        });
    }

    /// The bot's replies as `inbox::outgoing` makes them for a Meta account,
    /// QR images included when the account sends them.
    fn bot_replies(&mut self, at: OffsetDateTime, replies: &[flow::Reply], events: &[Event]) {
        for reply in replies {
            let kind = if reply.choices.is_empty() {
                "text"
            } else {
                "interactive"
            };
            let sent = Sent::Reply(
                self.w.intern(&reply.text),
                self.w.intern_choices(&reply.choices),
            );
            self.outbound(at, Sender::Bot, None, kind, &reply.text, sent);
        }
        if self.flow().qr_enabled {
            for e in events {
                if let Event::UicIssued { uic, .. } = e {
                    let sent = Sent::Qr(Arc::from(uic.as_str()));
                    self.outbound(
                        at,
                        Sender::Bot,
                        None,
                        "image",
                        &crate::inbox::qr_body(uic),
                        sent,
                    );
                }
            }
        }
    }

    fn qr_count(&self, events: &[Event]) -> usize {
        if !self.flow().qr_enabled {
            return 0;
        }
        events
            .iter()
            .filter(|e| matches!(e, Event::UicIssued { .. }))
            .count()
    }

    fn record(
        &mut self,
        at: OffsetDateTime,
        mode: Mode,
        change: Change,
        detail: Option<&'static str>,
        user: Option<i64>,
    ) {
        self.l.events.push(Ev {
            at,
            mode,
            change,
            detail,
            user,
        });
    }

    /// One message of the person, processed as `inbox::handle_inbound`
    /// does. `false` (nothing written): it does not fit, or is not sent yet.
    fn inbound(&mut self, at: OffsetDateTime, typed: &Typed, media_ref: Option<String>) -> bool {
        if at > self.w.now {
            return false;
        }
        self.advance(at);
        let readable = matches!(typed.kind, "text" | "interactive" | "button");
        let route = modes::route(self.l.mode, &typed.text);
        let input = if route == Route::Flow && !readable {
            ""
        } else {
            typed.text.as_str()
        };
        let (state, replies, events, transcript, finished) = match route {
            Route::Flow => {
                let o = flow::step(
                    &self.l.flow_state,
                    &Inbound {
                        text: input,
                        choice_id: typed.choice.as_deref().filter(|_| readable),
                        media: !readable,
                    },
                    &self.acc.flow,
                    at,
                );
                (o.state, o.replies, o.events, Some(o.transcript), o.finished)
            }
            Route::Staff => (
                self.l.flow_state.clone(),
                Vec::new(),
                Vec::new(),
                None,
                None,
            ),
        };
        if self.l.msgs.len() + 1 + replies.len() + self.qr_count(&events) > self.cap {
            return false;
        }
        let kept = crate::inbox::kept_form(transcript.as_ref(), input);
        let (body_form, body, text_chars, redacted) = self.keep(at, kept);
        self.l.msgs.push(Msg {
            at,
            updated_at: redacted.unwrap_or(at),
            direction: Direction::In,
            sender: Sender::Contact,
            author: None,
            wamid: true,
            kind: typed.kind,
            body_form,
            body,
            text_chars,
            status: MessageStatus::Received,
            error_code: None,
            error_message: None,
            media_ref,
            outbox: None,
        });
        self.bot_replies(at, &replies, &events);
        let (mode, change) = match route {
            Route::Flow => modes::after_flow(self.l.mode, &events),
            Route::Staff => (self.l.mode, None),
        };
        if let Some(c) = change {
            if c.change == Change::Escalated {
                self.l.escalated_at = Some(at);
            }
            self.l.waiting_reason = c.reason;
            self.l.taken_by = None;
            self.l.taken_at = None;
            self.l.unattended_notice_at = None;
            self.record(at, c.mode, c.change, c.reason.map(|r| r.as_str()), None);
        }
        for e in &events {
            if let Event::UicIssued { uic, parts } = e {
                self.l.issued.push(Issued {
                    at,
                    uic: uic.clone(),
                    parts: parts.clone(),
                });
                self.l.uic = Some(uic.clone());
            }
        }
        self.ended(finished);
        self.l.mode = mode;
        self.l.flow_state = state;
        self.l.version += 1;
        self.l.last_inbound_at = Some(at);
        self.l.updated_at = at;
        true
    }

    /// The queue's watch (`inbox::waiting`): a conversation waiting past
    /// its account's limit is told once that nobody is available.
    fn advance(&mut self, t: OffsetDateTime) {
        let Some(since) = self.l.escalated_at else {
            return;
        };
        if self.l.mode != Mode::Waiting || self.l.unattended_notice_at.is_some() {
            return;
        }
        let due = since + self.acc.waiting_limit;
        if due > t {
            return;
        }
        // The watch looks every minute.
        let at = (due + self.gap(0, 59)).min(t);
        let open = self
            .l
            .last_inbound_at
            .is_some_and(|i| i + Duration::hours(24) > at);
        if open {
            let reply = flow::nobody_available(&self.acc.flow);
            let sent = Sent::Reply(self.w.intern(&reply.text), self.w.intern_choices(&[]));
            self.outbound(at, Sender::Bot, None, "text", &reply.text, sent);
        }
        self.l.unattended_notice_at = Some(at);
        self.l.version += 1;
        self.l.updated_at = at;
        let detail = (!open).then_some("outside the 24-hour window: not sent");
        self.record(at, Mode::Waiting, Change::NobodyAvailable, detail, None);
    }

    /// `inbox::staff::set_mode`.
    fn set_mode(
        &mut self,
        at: OffsetDateTime,
        mode: Mode,
        taken_by: Option<i64>,
        reason: Option<WaitingReason>,
        state: Option<FlowState>,
    ) {
        if mode == Mode::Waiting && self.l.mode != Mode::Waiting {
            self.l.escalated_at = Some(at);
        }
        self.l.taken_at = match taken_by {
            None => None,
            Some(u) if self.l.taken_by == Some(u) => self.l.taken_at,
            Some(_) => Some(at),
        };
        self.l.taken_by = taken_by;
        self.l.waiting_reason = if mode == Mode::Waiting {
            reason.or(self.l.waiting_reason)
        } else {
            None
        };
        if mode != Mode::Waiting {
            self.l.unattended_notice_at = None;
        }
        if let Some(s) = state {
            self.l.flow_state = s;
        }
        self.l.mode = mode;
        self.l.version += 1;
        self.l.updated_at = at;
    }

    /// A staff member takes the conversation (`inbox::staff::take_over`).
    fn take(&mut self, at: OffsetDateTime, user: i64) -> bool {
        if at > self.w.now {
            return false;
        }
        self.advance(at);
        if self.l.mode == Mode::Human {
            return self.l.taken_by == Some(user);
        }
        self.set_mode(at, Mode::Human, Some(user), None, None);
        self.record(at, Mode::Human, Change::Taken, None, Some(user));
        true
    }

    /// A staff member writes (`inbox::staff::send`), within the window.
    fn staff_says(&mut self, at: OffsetDateTime, user: i64, text: &str) -> bool {
        let open = self
            .l
            .last_inbound_at
            .is_some_and(|i| i + Duration::hours(24) > at);
        if at > self.w.now || !open || self.l.msgs.len() + 1 > self.cap || !self.take(at, user) {
            return false;
        }
        let sent = Sent::Text(self.w.intern(text));
        self.outbound(at, Sender::Staff, Some(user), "text", text, sent);
        // `report::runs::staff_wrote`: the conversation's last run, if it
        // was escalated and not answered yet.
        if let Some(r) = self.l.runs.last_mut()
            && matches!(r.finished.end, flow::run::End::Escalated(_))
            && r.first_reply_at.is_none()
        {
            r.first_reply_at = Some(at);
        }
        true
    }

    /// A run ended by a step of the flow: its row, as the inbox records it
    /// in the step's transaction.
    fn ended(&mut self, finished: Option<flow::run::Finished>) {
        if let Some(finished) = finished {
            self.l.runs.push(RunEnd {
                finished,
                first_reply_at: None,
                swept: false,
            });
        }
    }

    /// The sweep of idle runs (`report::runs::sweep`), as it would have
    /// left the conversation by `now`: a run of the bot idle past the
    /// session timeout ends as left, at its last activity.
    fn left_idle(&mut self, now: OffsetDateTime) {
        if self.l.mode != Mode::Bot {
            return;
        }
        let timeout = self.acc.flow.session_timeout;
        if let Some((after, finished)) = flow::run::left_idle(&self.l.flow_state, timeout, now) {
            self.l.flow_state = after;
            self.l.version += 1;
            self.l.runs.push(RunEnd {
                finished,
                first_reply_at: None,
                swept: true,
            });
        }
    }

    /// A staff member gives it back to the bot (`inbox::staff::hand_back`).
    fn hand_back(&mut self, at: OffsetDateTime, user: i64, how: HandBack) -> bool {
        if at > self.w.now {
            return false;
        }
        self.advance(at);
        let open = self
            .l
            .last_inbound_at
            .is_some_and(|i| i + Duration::hours(24) > at);
        let (state, replies, finished) = if open {
            let o = flow::hand_back(&self.l.flow_state, how, &self.acc.flow, at);
            (o.state, o.replies, o.finished)
        } else {
            (FlowState::default(), Vec::new(), None)
        };
        if self.l.msgs.len() + replies.len() > self.cap {
            return false;
        }
        self.ended(finished);
        self.set_mode(at, Mode::Bot, None, None, Some(state));
        let detail = match how {
            HandBack::Resume => "resume",
            HandBack::StartAgain => "start_again",
        };
        self.record(at, Mode::Bot, Change::HandedBack, Some(detail), Some(user));
        self.bot_replies(at, &replies, &[]);
        true
    }

    /// A staff member puts it in the queue (`inbox::staff::flag`).
    fn flag(&mut self, at: OffsetDateTime, user: i64) -> bool {
        if at > self.w.now || self.l.mode != Mode::Bot {
            return false;
        }
        self.set_mode(at, Mode::Waiting, None, Some(WaitingReason::Flagged), None);
        self.record(
            at,
            Mode::Waiting,
            Change::Escalated,
            Some(WaitingReason::Flagged.as_str()),
            Some(user),
        );
        true
    }

    fn staff_member(&mut self) -> i64 {
        let staff = &self.acc.staff;
        staff[self.rng.random_range(0..staff.len())]
    }

    /// The first message, then the questions until the code, or until
    /// question `stop` is asked (the person leaves there). `None`: stopped
    /// (no room, or not yet).
    fn questions(&mut self, mut t: OffsetDateTime, stop: Option<u8>) -> Option<OffsetDateTime> {
        let greeting = people::greeting(&mut self.rng, &self.person);
        if !self.inbound(t, &greeting, None) {
            return None;
        }
        loop {
            let step = self.l.flow_state.step.clone();
            let Some(number) = question_number(&step) else {
                return Some(t);
            };
            if stop == Some(number) {
                return Some(t);
            }
            t = self.typing(t);
            let roll = self.rng.random_range(0..100);
            let typed = if roll < 2 {
                Typed::text(["AIDE", "aide ?", "Help"][self.rng.random_range(0..3)])
            } else if roll < 6 && self.l.flow_state.tries + 1 < self.acc.flow.max_tries {
                people::wrong_answer(&mut self.rng, &step, &self.acc.listed)
            } else {
                people::answer(&mut self.rng, &self.person, &step, &self.acc.listed)
            };
            if !self.inbound(t, &typed, None) {
                return None;
            }
        }
    }

    /// The question the person stops at, or escalates at (1-5).
    fn some_question(&mut self) -> u8 {
        [1, 1, 1, 2, 2, 3, 3, 4, 4, 5][self.rng.random_range(0..10)]
    }

    /// Escalated to the queue for `reason` (flagged: by staff, a while after
    /// the person stopped answering).
    fn escalate(&mut self, t: OffsetDateTime, reason: WaitingReason) -> Option<OffsetDateTime> {
        let q = self.some_question();
        let mut t = self.questions(t, Some(q))?;
        t = self.typing(t);
        match reason {
            WaitingReason::Requested => {
                let word = ["AGENT", "agent", "HUMAIN", "Humain"][self.rng.random_range(0..4)];
                self.inbound(t, &Typed::text(word), None).then_some(t)
            }
            WaitingReason::FailedAnswers => {
                for _ in 0..self.acc.flow.max_tries {
                    let step = self.l.flow_state.step.clone();
                    if matches!(step, Step::Escalated) {
                        break;
                    }
                    let wrong = people::wrong_answer(&mut self.rng, &step, &self.acc.listed);
                    if !self.inbound(t, &wrong, None) {
                        return None;
                    }
                    t = self.typing(t);
                }
                (self.l.mode == Mode::Waiting).then_some(t)
            }
            WaitingReason::Media => {
                let kind = ["image", "image", "audio", "document"][self.rng.random_range(0..4)];
                let media = Typed {
                    text: String::new(),
                    kind,
                    choice: None,
                };
                let id = format!(
                    "{}",
                    1_000_000_000_000_000u64 + self.rng.random_range(0..999_999_999_999_999u64)
                );
                self.inbound(t, &media, Some(id)).then_some(t)
            }
            WaitingReason::Flagged => {
                let t = t + self.gap(300, 3 * 3600);
                let user = self.staff_member();
                self.flag(t, user).then_some(t)
            }
        }
    }

    /// The person writes again while waiting (kept as written).
    fn still_waiting(&mut self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        let t = t + self.gap(120, 5400);
        let text = people::STILL_WAITING[self.rng.random_range(0..people::STILL_WAITING.len())];
        self.inbound(t, &Typed::text(text), None).then_some(t)
    }

    /// Taken by staff a while after it entered the queue, then an exchange
    /// of `rounds` messages.
    fn staffed(&mut self, t: OffsetDateTime, rounds: usize) -> Option<OffsetDateTime> {
        let user = self.staff_member();
        let mut t = t + self.gap(120, 5 * 3600);
        if !self.take(t, user) {
            return None;
        }
        let hello = people::FROM_STAFF[0];
        t += self.gap(10, 120);
        if !self.staff_says(t, user, hello) {
            return Some(t);
        }
        self.chat(t, user, rounds)
    }

    /// Person and staff member write in turn.
    fn chat(&mut self, mut t: OffsetDateTime, user: i64, rounds: usize) -> Option<OffsetDateTime> {
        for i in 0..rounds {
            t += self.gap(20, 240);
            let ok = if i % 2 == 0 {
                let text = people::TO_STAFF[self.rng.random_range(0..people::TO_STAFF.len())];
                self.inbound(t, &Typed::text(text), None)
            } else {
                let text = people::FROM_STAFF[self.rng.random_range(1..people::FROM_STAFF.len())];
                self.staff_says(t, user, text)
            };
            if !ok {
                return None;
            }
        }
        Some(t)
    }

    /// One more message with staff: the person's, or the staff member's
    /// answer to it.
    fn one_more(&mut self, t: OffsetDateTime, user: i64) -> Option<OffsetDateTime> {
        let t = t + self.gap(20, 240);
        let staff_turn = self
            .l
            .msgs
            .last()
            .is_some_and(|m| m.direction == Direction::In);
        if staff_turn {
            let text = people::FROM_STAFF[self.rng.random_range(1..people::FROM_STAFF.len())];
            if self.staff_says(t, user, text) {
                return Some(t);
            }
        }
        let text = people::TO_STAFF[self.rng.random_range(0..people::TO_STAFF.len())];
        self.inbound(t, &Typed::text(text), None).then_some(t)
    }

    /// Back another day, and through the questions again.
    fn comes_back(&mut self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        let later = t + Duration::hours(self.rng.random_range(2..24 * 40));
        self.questions(later, None)
    }

    fn script(&mut self, kind: Kind, t: OffsetDateTime) -> Option<OffsetDateTime> {
        match kind {
            Kind::Complete => {
                let t = self.questions(t, None)?;
                if self.rng.random_bool(0.08) {
                    let t = t + self.gap(20, 600);
                    let thanks = people::thanks(&mut self.rng);
                    return self.inbound(t, &thanks, None).then_some(t);
                }
                Some(t)
            }
            Kind::CompleteReturns => {
                let t = self.questions(t, None)?;
                self.comes_back(t)
            }
            Kind::Abandoned(q) => self.questions(t, Some(q)),
            Kind::AbandonedReturned => {
                let q = self.some_question();
                let t = self.questions(t, Some(q))?;
                self.comes_back(t)
            }
            Kind::Waiting(reason) => {
                let mut t = self.escalate(t, reason)?;
                for _ in 0..self.rng.random_range(0..3) {
                    t = self.still_waiting(t)?;
                }
                Some(t)
            }
            Kind::Human => {
                let reason = self.reason();
                let t = self.escalate(t, reason)?;
                let rounds = self.rng.random_range(1..8);
                self.staffed(t, rounds)
            }
            Kind::HandedBack(how) => {
                let reason = self.reason();
                let t = self.escalate(t, reason)?;
                let rounds = self.rng.random_range(1..4);
                let mut t = self.staffed(t, rounds)?;
                let user = self.l.taken_by?;
                t += self.gap(30, 600);
                if !self.hand_back(t, user, how) {
                    return None;
                }
                self.finish_questions(t)
            }
            Kind::Restarted => {
                let reason = if self.rng.random_bool(0.5) {
                    WaitingReason::Requested
                } else {
                    WaitingReason::FailedAnswers
                };
                let t = self.escalate(t, reason)?;
                let t = t + self.gap(60, 8 * 3600);
                let word = ["RECOMMENCER", "Recommencer", "restart"][self.rng.random_range(0..3)];
                if !self.inbound(t, &Typed::text(word), None) {
                    return None;
                }
                self.finish_questions(t)
            }
        }
    }

    /// The remaining questions, from the one the bot just asked.
    fn finish_questions(&mut self, mut t: OffsetDateTime) -> Option<OffsetDateTime> {
        while question_number(&self.l.flow_state.step).is_some() {
            t = self.typing(t);
            let step = self.l.flow_state.step.clone();
            let typed = people::answer(&mut self.rng, &self.person, &step, &self.acc.listed);
            if !self.inbound(t, &typed, None) {
                return None;
            }
        }
        Some(t)
    }

    fn reason(&mut self) -> WaitingReason {
        [
            WaitingReason::Requested,
            WaitingReason::Requested,
            WaitingReason::FailedAnswers,
            WaitingReason::Media,
            WaitingReason::Flagged,
        ][self.rng.random_range(0..5)]
    }

    /// More of the same life until `cap` messages: later visits to the
    /// bot, more messages while waiting, a longer exchange with staff.
    fn extend(&mut self, mut t: OffsetDateTime) {
        for _ in 0..1000 {
            let before = self.l.msgs.len();
            if before >= self.cap {
                return;
            }
            let next = match self.l.mode {
                Mode::Human => match self.l.taken_by {
                    Some(user) => self.one_more(t, user),
                    None => None,
                },
                Mode::Waiting => self.still_waiting(t),
                Mode::Bot if self.cap - before < 13 => {
                    // Room for a short visit only: thanks, and the reminder.
                    let later = t + self.gap(20, 900);
                    let thanks = people::thanks(&mut self.rng);
                    self.inbound(later, &thanks, None).then_some(later)
                }
                Mode::Bot => self.comes_back(t),
            };
            match next {
                Some(n) if self.l.msgs.len() > before => t = n,
                _ => return,
            }
        }
    }
}

/// 1-5 for a question step.
fn question_number(step: &Step) -> Option<u8> {
    match step {
        Step::LastName => Some(1),
        Step::FirstName => Some(2),
        Step::BirthYear => Some(3),
        Step::BirthCity => Some(4),
        Step::Gender => Some(5),
        Step::Start | Step::Done { .. } | Step::Escalated => None,
    }
}
