//! The conversation flow: a pure state machine, no I/O.
//!
//! `step(state, inbound, config, now) -> Outcome`. The state is stored by the
//! caller (as JSON in the conversation row); nothing lives in process memory.
//! See DESIGN.md section 2 and reference/prototype-conversation.md.

pub mod texts;

use crate::uic::{City, Gender, Uic, UicParts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// Handed to staff (requested, or too many failed tries).
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
}

/// One inbound message as the flow sees it.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// The typed text (empty for a media message without caption).
    pub text: &'a str,
    /// The id of a tapped button or list row (WhatsApp interactive reply),
    /// e.g. "g2" for Femme; the typed text is still accepted without it.
    pub choice_id: Option<&'a str>,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetReason {
    /// RESTART/RECOMMENCER.
    Command,
    /// Idle longer than the session timeout.
    Timeout,
}

/// Something the caller must act on besides sending the replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    UicIssued { uic: Uic, parts: UicParts },
    Escalated { reason: EscalationReason },
    Reset { reason: ResetReason },
}

/// How the inbound message may be kept in the transcript (no typed name is
/// ever stored, DESIGN.md section 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transcript {
    /// Not an answer to a question (greeting, command, free text): keep it.
    Verbatim,
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
}

/// Runs one inbound message through the flow.
pub fn step(
    state: &FlowState,
    inbound: &Inbound<'_>,
    config: &FlowConfig,
    now: OffsetDateTime,
) -> Outcome {
    let _ = (state, inbound, config, now, Gender::Homme);
    todo!()
}
