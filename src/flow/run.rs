//! What the reports count of the bot's questions (issue 15), kept while a
//! run goes on and handed over when it ends.
//!
//! A run is one go through the questions: it starts when question 1 is
//! asked (the welcome, or a restart after a code was given) or when staff
//! hand a conversation back at a question, and ends when the code is
//! given (completed), when the conversation is handed to staff
//! (escalated), or when the person goes idle past the session timeout
//! (left: seen at their next message, or by the sweep of idle runs,
//! whichever comes first). While it runs, its counts live in the
//! conversation's flow state ([`FlowState::run`]): no row is written per
//! message. Its end is handed to the caller ([`super::Outcome::finished`]),
//! which writes one row in the same transaction.
//!
//! Nothing typed is counted, only what the flow decided: an answer not
//! understood, a restart, the furthest question asked.

use super::{EscalationReason, Event, FlowState, Outcome, PausedAt, ResetReason, Step, Transcript};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The counts of the run going on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Started by staff handing the conversation back, not by the person.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resumed: bool,
    /// The furthest question asked, 1 to 5.
    pub reached: u8,
    /// Answers not understood, per question (index 0: question 1).
    #[serde(default)]
    pub invalid: [u8; 5],
    /// RECOMMENCER typed during the run.
    #[serde(default)]
    pub restarts: u8,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The code was given.
    Completed,
    /// Handed to staff, and why.
    Escalated(EscalationReason),
    /// Idle past the session timeout.
    Left,
}

/// A run that ended: what the caller records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub run: Run,
    pub end: End,
    /// The question (1 to 5) it ended at; `None` when completed.
    pub question: Option<u8>,
    pub ended_at: OffsetDateTime,
}

/// Who moved the conversation: the person's message, or staff handing it
/// back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Person,
    Staff,
}

/// The question (1 to 5) a step asks.
pub fn question_of(step: &Step) -> Option<u8> {
    PausedAt::of(step).map(PausedAt::number)
}

/// Brings the run's counts from `before` to the outcome's state, and says
/// which run ended with this step, if one did.
///
/// A state without a run at a question (saved by a version before runs
/// were counted) starts none: its run is not counted, rather than counted
/// with a made-up start.
pub fn track(
    before: &FlowState,
    outcome: &mut Outcome,
    origin: Origin,
    now: OffsetDateTime,
) -> Option<Finished> {
    let timed_out = outcome.events.iter().any(|e| {
        matches!(
            e,
            Event::Reset {
                reason: ResetReason::Timeout
            }
        )
    });
    let at = question_of(&before.step);
    let mut finished = None;
    let mut run = before.run.clone();
    if timed_out {
        // The person left at the question they were at; the message that
        // came back is handled as a first message (a new run, below).
        finished = run.take().map(|run| Finished {
            run,
            end: End::Left,
            question: at,
            ended_at: before.last_activity.unwrap_or(now),
        });
    } else if let Some(r) = run.as_mut() {
        // Only an answer to a question is ever redacted by the flow
        // outside a timeout: it was not understood.
        if let (Some(q), Transcript::Redacted) = (at, &outcome.transcript) {
            let slot = &mut r.invalid[usize::from(q - 1)];
            *slot = slot.saturating_add(1);
        }
        let restarted = outcome.events.iter().any(|e| {
            matches!(
                e,
                Event::Reset {
                    reason: ResetReason::Command
                }
            )
        });
        if restarted {
            r.restarts = r.restarts.saturating_add(1);
        }
    }
    for event in &outcome.events {
        let end = match event {
            Event::UicIssued { .. } => End::Completed,
            Event::Escalated { reason } => End::Escalated(*reason),
            Event::Reset { .. } => continue,
        };
        if let Some(run) = run.take() {
            finished = Some(Finished {
                run,
                end,
                question: match end {
                    End::Completed => None,
                    _ => at,
                },
                ended_at: now,
            });
        }
    }
    if let Some(q) = question_of(&outcome.state.step) {
        match run.as_mut() {
            Some(r) => r.reached = r.reached.max(q),
            // A run starts where a question is asked with none going on:
            // the welcome, a restart after the code, a hand back. Not at a
            // question of a state saved before runs were counted.
            None if at.is_none() || timed_out || origin == Origin::Staff => {
                run = Some(Run {
                    started_at: now,
                    resumed: origin == Origin::Staff,
                    reached: q,
                    invalid: [0; 5],
                    restarts: 0,
                })
            }
            None => {}
        }
    } else if !matches!(outcome.state.step, Step::Escalated | Step::Done { .. }) {
        // Back at the start (a state hand-edited or from an older version):
        // no run goes on.
        run = None;
    }
    outcome.state.run = run;
    finished
}

/// Ends the run of a conversation idle past its session timeout, for the
/// sweep: the state without its run, and the run as left. `None` when no
/// run goes on or the conversation is not idle long enough.
pub fn left_idle(
    state: &FlowState,
    timeout: time::Duration,
    now: OffsetDateTime,
) -> Option<(FlowState, Finished)> {
    let run = state.run.clone()?;
    let last = state.last_activity?;
    if now - last <= timeout {
        return None;
    }
    let mut after = state.clone();
    after.run = None;
    Some((
        after,
        Finished {
            run,
            end: End::Left,
            question: question_of(&state.step),
            ended_at: last,
        },
    ))
}
