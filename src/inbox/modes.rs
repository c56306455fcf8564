//! Who answers a message, by the conversation's mode (pure): the bot in bot
//! mode; nobody while it waits for staff, except RECOMMENCER, which takes
//! it back to the bot; nobody once a staff member holds it (they read
//! everything, RECOMMENCER included).

use super::states::{Change, Mode, WaitingReason};
use crate::flow::Event;

/// What happens to an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Through the flow (its replies sent, its transcript rules kept).
    Flow,
    /// Kept as written for staff; no reply.
    Staff,
}

/// The route of a message with this text in a conversation in `mode`.
pub fn route(mode: Mode, text: &str) -> Route {
    match mode {
        Mode::Bot => Route::Flow,
        Mode::Waiting if crate::flow::is_restart(text) => Route::Flow,
        Mode::Waiting | Mode::Human => Route::Staff,
    }
}

/// A change of mode to record with the message that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeChange {
    pub change: Change,
    /// The mode it leads to.
    pub mode: Mode,
    pub reason: Option<WaitingReason>,
}

/// The mode after the flow ran in `mode`: waiting when it escalated; back
/// to the bot after a restart from the queue.
pub fn after_flow(mode: Mode, events: &[Event]) -> (Mode, Option<ModeChange>) {
    let escalated = events.iter().find_map(|e| match e {
        Event::Escalated { reason } => Some(WaitingReason::from(*reason)),
        _ => None,
    });
    match (mode, escalated) {
        (_, Some(reason)) => (
            Mode::Waiting,
            Some(ModeChange {
                change: Change::Escalated,
                mode: Mode::Waiting,
                reason: Some(reason),
            }),
        ),
        (Mode::Waiting, None) => (
            Mode::Bot,
            Some(ModeChange {
                change: Change::Restarted,
                mode: Mode::Bot,
                reason: None,
            }),
        ),
        (mode, None) => (mode, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{EscalationReason, ResetReason};

    #[test]
    fn only_the_bot_mode_and_a_restart_from_the_queue_reach_the_flow() {
        assert_eq!(route(Mode::Bot, "Bonjour"), Route::Flow);
        assert_eq!(route(Mode::Waiting, "Recommencer !"), Route::Flow);
        assert_eq!(route(Mode::Waiting, "Bonjour ?"), Route::Staff);
        assert_eq!(route(Mode::Waiting, "AGENT"), Route::Staff);
        assert_eq!(route(Mode::Waiting, "AIDE"), Route::Staff);
        // Once taken, the person talks to staff, whatever they type.
        assert_eq!(route(Mode::Human, "RECOMMENCER"), Route::Staff);
    }

    #[test]
    fn an_escalation_waits_and_a_restart_from_the_queue_returns_to_the_bot() {
        let escalated = [Event::Escalated {
            reason: EscalationReason::TooManyFailedTries,
        }];
        assert_eq!(
            after_flow(Mode::Bot, &escalated),
            (
                Mode::Waiting,
                Some(ModeChange {
                    change: Change::Escalated,
                    mode: Mode::Waiting,
                    reason: Some(WaitingReason::FailedAnswers),
                })
            )
        );
        let restarted = [Event::Reset {
            reason: ResetReason::Command,
        }];
        assert_eq!(after_flow(Mode::Waiting, &restarted).0, Mode::Bot);
        assert_eq!(
            after_flow(Mode::Waiting, &restarted).1.map(|c| c.change),
            Some(Change::Restarted)
        );
        assert_eq!(after_flow(Mode::Bot, &restarted), (Mode::Bot, None));
        assert_eq!(after_flow(Mode::Bot, &[]), (Mode::Bot, None));
    }
}
