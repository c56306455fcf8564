//! The conversation flow: a pure state machine, no I/O.
//!
//! `step(state, inbound, config, now) -> Outcome`. The state is stored by the
//! caller (as JSON in the conversation row); nothing lives in process memory.
//! See DESIGN.md section 2 and reference/prototype-conversation.md.

pub mod reissue;
pub mod run;
pub mod texts;

use crate::uic::{self, AnswerError, City, Gender, Uic, UicParts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use texts::{TextKey, text};
use time::{Duration, OffsetDateTime};

/// Where a conversation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Nothing said yet (or after a reset): the next message gets the welcome.
    #[default]
    Start,
    LastName,
    FirstName,
    BirthYear,
    BirthCity,
    Gender,
    /// The code was issued; kept so the person can be reminded of it.
    Done {
        uic: Uic,
    },
    /// Handed to staff (requested, too many failed tries, or media sent).
    Escalated,
}

/// The answers understood so far, already reduced to the parts of the code
/// (never the typed text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Answers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year_digit: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
}

/// The persisted state of one conversation's flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FlowState {
    #[serde(flatten)]
    pub step: Step,
    #[serde(default)]
    pub answers: Answers,
    /// Failed tries on the current question.
    #[serde(default)]
    pub tries: u8,
    /// Time of the last inbound message handled (idle timeout counts from it).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_activity: Option<OffsetDateTime>,
    /// The question asked when the conversation was escalated: where
    /// "continue where it stopped" resumes (see [`hand_back`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<PausedAt>,
    /// What the reports count of the run of questions going on (see `run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<run::Run>,
}

/// The question a conversation was at when it was escalated (a question
/// step only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PausedAt {
    LastName,
    FirstName,
    BirthYear,
    BirthCity,
    Gender,
}

impl PausedAt {
    fn of(step: &Step) -> Option<PausedAt> {
        Some(match step {
            Step::LastName => PausedAt::LastName,
            Step::FirstName => PausedAt::FirstName,
            Step::BirthYear => PausedAt::BirthYear,
            Step::BirthCity => PausedAt::BirthCity,
            Step::Gender => PausedAt::Gender,
            Step::Start | Step::Done { .. } | Step::Escalated => return None,
        })
    }

    fn step(self) -> Step {
        match self {
            PausedAt::LastName => Step::LastName,
            PausedAt::FirstName => Step::FirstName,
            PausedAt::BirthYear => Step::BirthYear,
            PausedAt::BirthCity => Step::BirthCity,
            PausedAt::Gender => Step::Gender,
        }
    }

    /// 1 to 5, as "Question 3 sur 5" says.
    pub fn number(self) -> u8 {
        match self {
            PausedAt::LastName => 1,
            PausedAt::FirstName => 2,
            PausedAt::BirthYear => 3,
            PausedAt::BirthCity => 4,
            PausedAt::Gender => 5,
        }
    }
}

/// One inbound message as the flow sees it.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// The typed text (empty for a media message without caption).
    pub text: &'a str,
    /// The id of a tapped button or list row (WhatsApp interactive reply),
    /// e.g. "g2" for Femme; the typed text is still accepted without it.
    pub choice_id: Option<&'a str>,
    /// An image, a voice note, a document…: something the bot cannot read
    /// (a caption, if any, is in `text`).
    pub media: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Fr,
    En,
}

/// Per-account flow settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowConfig {
    pub language: Language,
    /// Per-account overrides of texts, keyed by `TextKey::name()`.
    #[serde(default)]
    pub texts: BTreeMap<String, String>,
    /// When non-empty, city names from this list are accepted for question 4.
    #[serde(default)]
    pub cities: Vec<City>,
    #[serde(default)]
    pub qr_enabled: bool,
    /// Idle time after which the conversation starts again from the welcome.
    pub session_timeout: Duration,
    /// Failed tries on one question before escalation to staff.
    pub max_tries: u8,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            language: Language::Fr,
            texts: BTreeMap::new(),
            cities: Vec::new(),
            qr_enabled: false,
            session_timeout: Duration::minutes(30),
            max_tries: 3,
        }
    }
}

/// A button or list row offered with a reply (channels without interactive
/// messages show the text only, which always lists the typed answers too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub id: String,
    pub title: String,
}

/// One message the bot sends back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationReason {
    /// The person typed AGENT/HUMAIN.
    Requested,
    /// `max_tries` failed answers to one question.
    TooManyFailedTries,
    /// An image, voice note or document sent instead of an answer: a
    /// person must look at it.
    Media,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetReason {
    /// RESTART/RECOMMENCER.
    Command,
    /// Idle longer than the session timeout.
    Timeout,
    /// Handed back by staff to start again.
    Staff,
}

/// Something the caller must act on besides sending the replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    UicIssued { uic: Uic, parts: UicParts },
    Escalated { reason: EscalationReason },
    Reset { reason: ResetReason },
}

/// How the inbound message may be kept in the transcript while the bot has
/// the conversation: nothing typed is kept as written (DESIGN.md section 1),
/// because people greet and thank with their names ("Bonjour, je suis
/// Mbengue Ibrahima"). Once staff have the conversation the caller keeps
/// messages as written; the flow never sees those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transcript {
    /// A recognised command: keep only the command word, normalised
    /// ("aide ?" is kept as "AIDE").
    Command(String),
    /// Anything else that is no answer (greeting, thanks, free text, an
    /// empty message): keep only its kind and length.
    Described,
    /// An answer understood: keep only what the code uses ("MBE", "7", "DA", "1").
    Shortened(String),
    /// An answer to a question that could not be understood: keep nothing of
    /// it (it may hold a name), only the fact that it was not understood.
    Redacted,
}

/// What one step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub state: FlowState,
    pub replies: Vec<Reply>,
    pub events: Vec<Event>,
    pub transcript: Transcript,
    /// The run of questions this step ended, for the reports (see `run`).
    pub finished: Option<run::Finished>,
}

impl Step {
    /// The question this step asks, if it is a question step.
    fn question(&self) -> Option<TextKey> {
        match self {
            Step::LastName => Some(TextKey::QuestionLastName),
            Step::FirstName => Some(TextKey::QuestionFirstName),
            Step::BirthYear => Some(TextKey::QuestionBirthYear),
            Step::BirthCity => Some(TextKey::QuestionBirthCity),
            Step::Gender => Some(TextKey::QuestionGender),
            Step::Start | Step::Done { .. } | Step::Escalated => None,
        }
    }
}

/// A command typed instead of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Restart,
    Help,
    Agent,
}

/// The whole message as a command word, case-, accent- and
/// punctuation-insensitive ("Recommencer !", "aide?"); never a message
/// with digits in it. Also gives the normalised word (what the transcript
/// keeps).
fn command(text: &str) -> Option<(Command, String)> {
    if text.chars().any(|c| c.is_numeric()) || text.chars().count() > 40 {
        return None;
    }
    let word = uic::letters(text);
    let cmd = match word.as_str() {
        "RESTART" | "RECOMMENCER" | "RESET" => Command::Restart,
        "HELP" | "AIDE" => Command::Help,
        "AGENT" | "HUMAIN" | "HUMAN" => Command::Agent,
        _ => return None,
    };
    Some((cmd, word))
}

const GENDER_CHOICES: [(&str, &str, &str, Gender); 4] = [
    ("g1", "Homme", "Male", Gender::Homme),
    ("g2", "Femme", "Female", Gender::Femme),
    ("g3", "Trans", "Trans", Gender::Trans),
    ("g4", "Autre", "Other", Gender::Autre),
];

/// Interactive choices offered with a question (buttons or a list where the
/// channel has them; the text always says what to type).
fn choices(step: &Step, config: &FlowConfig) -> Vec<Choice> {
    match step {
        Step::Gender => GENDER_CHOICES
            .iter()
            .map(|(id, fr, en, _)| Choice {
                id: (*id).to_string(),
                title: match config.language {
                    Language::Fr => (*fr).to_string(),
                    Language::En => (*en).to_string(),
                },
            })
            .collect(),
        // WhatsApp lists hold at most 10 rows.
        Step::BirthCity if (1..=10).contains(&config.cities.len()) => config
            .cities
            .iter()
            .map(|c| Choice {
                id: format!("city_{}", c.code),
                title: c.name.chars().take(24).collect(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn error_text(config: &FlowConfig, error: AnswerError, now: OffsetDateTime) -> String {
    let key = match error {
        AnswerError::NoLetters => TextKey::NoLetters,
        AnswerError::NoYear => TextKey::NoYear,
        AnswerError::YearOutOfRange => TextKey::YearOutOfRange,
        AnswerError::AmbiguousYear => TextKey::AmbiguousYear,
        AnswerError::UnknownCity => TextKey::UnknownCity,
        AnswerError::UnknownGender => TextKey::UnknownGender,
    };
    text(config, key).replace("{year}", &now.year().to_string())
}

/// Builds replies and the next state for one step.
struct Turn<'c> {
    config: &'c FlowConfig,
    state: FlowState,
    replies: Vec<Reply>,
    events: Vec<Event>,
}

impl<'c> Turn<'c> {
    fn say(&mut self, text: String, choices: Vec<Choice>) {
        self.replies.push(Reply { text, choices });
    }

    /// `prefix` (if any), blank line, then the question of `step`, which
    /// becomes the current step.
    fn ask(&mut self, prefix: Option<String>, step: Step) {
        let question = step
            .question()
            .map(|k| text(self.config, k).into_owned())
            .unwrap_or_default();
        let mut body = match prefix {
            Some(p) => format!("{p}\n\n{question}"),
            None => question,
        };
        let choices = choices(&step, self.config);
        // Channels without buttons (Twilio) show the text only: the city
        // list must be readable there too.
        if step == Step::BirthCity && !choices.is_empty() {
            body.push('\n');
            for city in &self.config.cities {
                body.push_str(&format!("\n{} = {}", city.code, city.name));
            }
        }
        self.say(body, choices);
        self.state.step = step;
    }

    fn welcome(&mut self, prefix: Option<String>) {
        let welcome = text(self.config, TextKey::Welcome).into_owned();
        let prefix = match prefix {
            Some(p) => format!("{p}\n\n{welcome}"),
            None => welcome,
        };
        self.state.answers = Answers::default();
        self.state.tries = 0;
        self.state.paused_at = None;
        self.ask(Some(prefix), Step::LastName);
    }

    fn escalate(&mut self, reason: EscalationReason) {
        let key = match reason {
            EscalationReason::Requested => TextKey::Escalated,
            EscalationReason::TooManyFailedTries => TextKey::TooManyTries,
            EscalationReason::Media => TextKey::EscalatedMedia,
        };
        self.say(text(self.config, key).into_owned(), Vec::new());
        self.events.push(Event::Escalated { reason });
        self.state.paused_at = PausedAt::of(&self.state.step).or(self.state.paused_at);
        self.state.step = Step::Escalated;
        self.state.tries = 0;
    }
}

/// Whether the message is RESTART/RECOMMENCER: the one thing the person can
/// do while waiting for staff (it takes the conversation back to the bot).
pub fn is_restart(text: &str) -> bool {
    matches!(command(text.trim()), Some((Command::Restart, _)))
}

/// How staff give a conversation back to the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandBack {
    /// The flow resumes at the question it was at, answers kept.
    Resume,
    /// The flow starts again from question 1.
    StartAgain,
}

/// The bot takes the conversation back from staff: its next question, said
/// at once (no inbound message). Resuming a conversation that was at no
/// question (escalated before the first, or after its code) starts again.
pub fn hand_back(
    state: &FlowState,
    how: HandBack,
    config: &FlowConfig,
    now: OffsetDateTime,
) -> Outcome {
    let mut s = Turn {
        config,
        state: state.clone(),
        replies: Vec::new(),
        events: Vec::new(),
    };
    s.state.last_activity = Some(now);
    s.state.tries = 0;
    let paused = s.state.paused_at.take();
    match (how, paused) {
        (HandBack::Resume, Some(at)) => {
            s.ask(Some(text(config, TextKey::Resumed).into_owned()), at.step());
        }
        _ => {
            s.events.push(Event::Reset {
                reason: ResetReason::Staff,
            });
            s.state.answers = Answers::default();
            s.ask(
                Some(text(config, TextKey::Restarted).into_owned()),
                Step::LastName,
            );
        }
    }
    let mut outcome = s.finish(Transcript::Described);
    outcome.finished = run::track(state, &mut outcome, run::Origin::Staff, now);
    outcome
}

/// What the person is told, once, when nobody took their conversation
/// within the account's waiting limit.
pub fn nobody_available(config: &FlowConfig) -> Reply {
    Reply {
        text: text(config, TextKey::NobodyAvailable).into_owned(),
        choices: Vec::new(),
    }
}

/// Runs one inbound message through the flow.
pub fn step(
    state: &FlowState,
    inbound: &Inbound<'_>,
    config: &FlowConfig,
    now: OffsetDateTime,
) -> Outcome {
    let mut outcome = advance(state, inbound, config, now);
    outcome.finished = run::track(state, &mut outcome, run::Origin::Person, now);
    outcome
}

/// `step` without the run's counts.
fn advance(
    state: &FlowState,
    inbound: &Inbound<'_>,
    config: &FlowConfig,
    now: OffsetDateTime,
) -> Outcome {
    let idle = state.last_activity.map(|last| now - last);
    let expired = state.step != Step::Start && idle.is_some_and(|d| d > config.session_timeout);
    if expired {
        // Start afresh: the message is handled as a first message, after
        // saying why. A late answer to a question is not taken, nor kept.
        let mut outcome = advance(&FlowState::default(), inbound, config, now);
        let minutes = config.session_timeout.whole_minutes().to_string();
        let notice = text(config, TextKey::SessionExpired).replace("{minutes}", &minutes);
        if state.step.question().is_some() {
            if let Some(first) = outcome.replies.first_mut() {
                first.text = format!("{notice}\n\n{}", first.text);
            }
            if command(inbound.text).is_none() {
                outcome.transcript = Transcript::Redacted;
            }
        }
        outcome.events.insert(
            0,
            Event::Reset {
                reason: ResetReason::Timeout,
            },
        );
        return outcome;
    }

    let mut s = Turn {
        config,
        state: state.clone(),
        replies: Vec::new(),
        events: Vec::new(),
    };
    s.state.last_activity = Some(now);
    let input = inbound.text.trim();

    if let Some((cmd, word)) = command(input) {
        match (cmd, &state.step) {
            // A first message is never anything but a greeting.
            (Command::Restart | Command::Help, Step::Start) => s.welcome(None),
            (Command::Restart, _) => {
                s.events.push(Event::Reset {
                    reason: ResetReason::Command,
                });
                s.state.answers = Answers::default();
                s.state.tries = 0;
                s.state.paused_at = None;
                s.ask(
                    Some(text(config, TextKey::Restarted).into_owned()),
                    Step::LastName,
                );
            }
            (Command::Help, Step::Done { uic }) => {
                let reminder = text(config, TextKey::AlreadyDone).replace("{uic}", uic.as_str());
                s.say(
                    format!("{}\n\n{reminder}", text(config, TextKey::Help)),
                    Vec::new(),
                );
            }
            (Command::Help, Step::Escalated) => {
                s.say(
                    format!(
                        "{}\n\n{}",
                        text(config, TextKey::Help),
                        text(config, TextKey::AwaitingAgent)
                    ),
                    Vec::new(),
                );
            }
            (Command::Help, current) => {
                let current = current.clone();
                s.ask(Some(text(config, TextKey::Help).into_owned()), current);
            }
            (Command::Agent, Step::Escalated) => s.say(
                text(config, TextKey::AwaitingAgent).into_owned(),
                Vec::new(),
            ),
            (Command::Agent, _) => s.escalate(EscalationReason::Requested),
        }
        return s.finish(Transcript::Command(word));
    }

    let transcript = match state.step.clone() {
        Step::Start => {
            s.welcome(None);
            Transcript::Described
        }
        Step::Done { uic } => {
            s.say(
                text(config, TextKey::AlreadyDone).replace("{uic}", uic.as_str()),
                Vec::new(),
            );
            Transcript::Described
        }
        Step::Escalated => {
            s.say(
                text(config, TextKey::AwaitingAgent).into_owned(),
                Vec::new(),
            );
            Transcript::Described
        }
        // A button tapped on an older message (a gender button while the
        // last name is asked): its title is no answer to this question.
        question
            if inbound
                .choice_id
                .is_some_and(|id| !choices(&question, config).iter().any(|c| c.id == id)) =>
        {
            s.ask(
                Some(text(config, TextKey::StaleChoice).into_owned()),
                question,
            );
            Transcript::Described
        }
        // An image or a voice note instead of an answer: a person looks at
        // it (it may be a document, or the answers spoken).
        _ if inbound.media && input.is_empty() && inbound.choice_id.is_none() => {
            s.escalate(EscalationReason::Media);
            Transcript::Described
        }
        question if input.is_empty() && inbound.choice_id.is_none() => {
            // An empty message: not a failed try.
            s.ask(
                Some(text(config, TextKey::TypeYourAnswer).into_owned()),
                question,
            );
            Transcript::Described
        }
        question => answer(&mut s, question, inbound, now),
    };
    s.finish(transcript)
}

/// Applies an answer to the current question.
fn answer(
    s: &mut Turn<'_>,
    question: Step,
    inbound: &Inbound<'_>,
    now: OffsetDateTime,
) -> Transcript {
    let config = s.config;
    let input = inbound.text.trim();
    let choice = inbound.choice_id;
    let answers = &mut s.state.answers;
    // The part of the code understood, and the next question (None: done).
    let parsed: Result<(String, Option<Step>), AnswerError> = match question {
        Step::LastName => uic::name_code(input).map(|p| {
            answers.last = Some(p.clone());
            (p, Some(Step::FirstName))
        }),
        Step::FirstName => uic::name_code(input).map(|p| {
            answers.first = Some(p.clone());
            (p, Some(Step::BirthYear))
        }),
        Step::BirthYear => uic::year_digit(input, now.year()).map(|d| {
            answers.year_digit = Some(d);
            (d.to_string(), Some(Step::BirthCity))
        }),
        Step::BirthCity => {
            let chosen = choice
                .and_then(|id| id.strip_prefix("city_"))
                .and_then(|code| config.cities.iter().find(|c| c.code == code))
                .map(|c| c.code.clone());
            chosen
                .map(Ok)
                .unwrap_or_else(|| uic::city_code(input, &config.cities))
                .map(|c| {
                    answers.city = Some(c.clone());
                    (c, Some(Step::Gender))
                })
        }
        Step::Gender => {
            let chosen = choice
                .and_then(|id| GENDER_CHOICES.iter().find(|(cid, ..)| *cid == id))
                .map(|(.., g)| *g);
            chosen
                .map(Ok)
                .unwrap_or_else(|| uic::gender(input))
                .map(|g| (g.digit().to_string(), None))
        }
        Step::Start | Step::Done { .. } | Step::Escalated => {
            unreachable!("only question steps take answers")
        }
    };
    match parsed {
        Ok((part, None)) => {
            let a = &s.state.answers;
            let gender = Gender::from_digit(part.parse().unwrap_or(4)).unwrap_or(Gender::Autre);
            let (Some(last), Some(first), Some(year_digit), Some(city)) =
                (&a.last, &a.first, a.year_digit, &a.city)
            else {
                // A state saved without an earlier answer (hand-edited, or an
                // older version): ask again from the start rather than guess.
                s.welcome(None);
                return Transcript::Shortened(part);
            };
            let parts = UicParts {
                last: last.clone(),
                first: first.clone(),
                year_digit,
                city: city.clone(),
                gender,
            };
            let code = Uic::from_parts(&parts);
            let qr = if config.qr_enabled {
                text(config, TextKey::QrLine).into_owned()
            } else {
                String::new()
            };
            s.say(text(config, TextKey::Generating).into_owned(), Vec::new());
            s.say(
                text(config, TextKey::Final)
                    .replace("{uic}", code.as_str())
                    .replace("{qr}", &qr),
                Vec::new(),
            );
            s.events.push(Event::UicIssued {
                uic: code.clone(),
                parts,
            });
            s.state = FlowState {
                step: Step::Done { uic: code },
                answers: Answers::default(),
                tries: 0,
                last_activity: s.state.last_activity,
                paused_at: None,
                run: s.state.run.clone(),
            };
            Transcript::Shortened(part)
        }
        Ok((part, Some(next))) => {
            s.state.tries = 0;
            s.ask(Some(text(config, TextKey::Understood).into_owned()), next);
            Transcript::Shortened(part)
        }
        Err(error) => {
            s.state.tries = s.state.tries.saturating_add(1);
            if s.state.tries >= config.max_tries {
                s.escalate(EscalationReason::TooManyFailedTries);
            } else {
                s.ask(Some(error_text(config, error, now)), question);
            }
            Transcript::Redacted
        }
    }
}

impl Turn<'_> {
    fn finish(self, transcript: Transcript) -> Outcome {
        Outcome {
            state: self.state,
            replies: self.replies,
            events: self.events,
            transcript,
            finished: None,
        }
    }
}

#[cfg(test)]
mod tests;
