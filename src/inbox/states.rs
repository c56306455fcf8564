//! The states of conversations and messages, as the database stores them
//! (TEXT columns; the migrations' CHECK constraints list the same words).
//! A row holding another word is refused when read, never taken for a
//! default.

crate::text_enum! {
    /// Who answers a conversation (`conversations.mode`).
    pub enum Mode("conversation mode") {
        /// The flow answers.
        Bot = "bot",
        /// Escalated, in the staff queue (`WaitingReason` says why): the bot
        /// said it once and stays silent, unless the person restarts.
        Waiting = "waiting",
        /// A staff member holds it: the bot stays silent.
        Human = "human",
    }
}

crate::text_enum! {
    /// Why a conversation waits for staff (`conversations.waiting_reason`).
    pub enum WaitingReason("waiting reason") {
        /// The person asked for a person (AGENT, HUMAIN).
        Requested = "requested",
        /// Too many answers the bot could not understand.
        FailedAnswers = "failed_answers",
        /// An image, a voice note or a document sent to the bot.
        Media = "media",
        /// A staff member put it in the queue.
        Flagged = "flagged",
    }
}

impl From<crate::flow::EscalationReason> for WaitingReason {
    fn from(r: crate::flow::EscalationReason) -> Self {
        use crate::flow::EscalationReason;
        match r {
            EscalationReason::Requested => WaitingReason::Requested,
            EscalationReason::TooManyFailedTries => WaitingReason::FailedAnswers,
            EscalationReason::Media => WaitingReason::Media,
        }
    }
}

crate::text_enum! {
    /// A change of hands, recorded in `conversation_events` and shown in
    /// the thread.
    pub enum Change("conversation change") {
        /// Into the queue (with its `WaitingReason`).
        Escalated = "escalated",
        /// A staff member took it.
        Taken = "taken",
        /// Given back to the bot (detail: resume or start_again).
        HandedBack = "handed_back",
        /// The person typed RECOMMENCER while waiting: back to the bot.
        Restarted = "restarted",
        /// The person was told nobody is available.
        NobodyAvailable = "nobody_available",
    }
}

crate::text_enum! {
    /// Which way a message went (`messages.direction`).
    pub enum Direction("message direction") {
        /// From the contact.
        In = "in",
        /// To the contact (the bot's or staff's).
        Out = "out",
    }
}

crate::text_enum! {
    /// Who wrote a message (`messages.sender`).
    pub enum Sender("message sender") {
        Contact = "contact",
        Bot = "bot",
        Staff = "staff",
    }
}

crate::text_enum! {
    /// Where a message stands (`messages.status`): an inbound message is
    /// `Received`; an outbound one moves forward from `Queued` (or `Sent`,
    /// `Delivered` when its channel answers at once) as the provider reports.
    pub enum MessageStatus("message status") {
        Received = "received",
        /// Waiting in the outbox.
        Queued = "queued",
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        /// A voice message listened to (Meta).
        Played = "played",
        Failed = "failed",
    }
}

impl MessageStatus {
    /// Rank of a delivery status: a status report only ever moves a message
    /// forward (Meta sends them in any order, and more than once). `None`:
    /// not a delivery status.
    pub const fn rank(self) -> Option<i32> {
        match self {
            MessageStatus::Received => None,
            MessageStatus::Queued => Some(0),
            MessageStatus::Sent => Some(1),
            MessageStatus::Delivered => Some(2),
            MessageStatus::Read => Some(3),
            MessageStatus::Played => Some(4),
            MessageStatus::Failed => Some(5),
        }
    }
}

crate::text_enum! {
    /// How a message's text is kept (`messages.body_form`).
    pub enum BodyForm("message body form") {
        /// As written: staff have the conversation, or a reply of the bot or
        /// of staff.
        Verbatim = "verbatim",
        /// An answer understood: only what the code uses ("MBE", "7").
        Shortened = "shortened",
        /// Nothing kept: an answer not understood, a message too old to be
        /// answered, or text older than the tenant's retention period.
        Redacted = "redacted",
        /// A recognised command, kept as its normalised word ("AIDE").
        Command = "command",
        /// Typed to the bot and neither answer nor command: only its kind and
        /// length in characters (`text_chars`) are kept, the body is empty.
        Described = "described",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Debug;
    use std::str::FromStr;

    /// Every variant reads back as itself; another word is an error.
    fn round_trip<T>(all: &[T], as_str: fn(T) -> &'static str, words: &[&str])
    where
        T: Copy + PartialEq + Debug + FromStr<Err = crate::db::UnknownValue> + ToString,
    {
        let stored: Vec<&str> = all.iter().map(|v| as_str(*v)).collect();
        assert_eq!(stored, words);
        for v in all {
            assert_eq!(as_str(*v).parse::<T>(), Ok(*v));
            assert_eq!(v.to_string(), as_str(*v));
        }
        for bad in ["", "unknown", "BOT", " in", "Verbatim", "sent "] {
            let err = bad.parse::<T>().unwrap_err();
            assert_eq!(err.value, bad);
        }
    }

    #[test]
    fn each_state_reads_back_as_stored_and_another_word_is_an_error() {
        round_trip(Mode::ALL, Mode::as_str, &["bot", "waiting", "human"]);
        round_trip(
            WaitingReason::ALL,
            WaitingReason::as_str,
            &["requested", "failed_answers", "media", "flagged"],
        );
        round_trip(
            Change::ALL,
            Change::as_str,
            &[
                "escalated",
                "taken",
                "handed_back",
                "restarted",
                "nobody_available",
            ],
        );
        round_trip(Direction::ALL, Direction::as_str, &["in", "out"]);
        round_trip(Sender::ALL, Sender::as_str, &["contact", "bot", "staff"]);
        round_trip(
            MessageStatus::ALL,
            MessageStatus::as_str,
            &[
                "received",
                "queued",
                "sent",
                "delivered",
                "read",
                "played",
                "failed",
            ],
        );
        round_trip(
            BodyForm::ALL,
            BodyForm::as_str,
            &["verbatim", "shortened", "redacted", "command", "described"],
        );
        assert_eq!(Mode::parse("robot"), None);
        assert_eq!(
            "robot".parse::<Mode>().unwrap_err().to_string(),
            "unknown conversation mode \"robot\""
        );
    }

    #[test]
    fn delivery_statuses_only_move_forward() {
        let ranked: Vec<MessageStatus> = MessageStatus::ALL
            .iter()
            .copied()
            .filter(|s| s.rank().is_some())
            .collect();
        assert!(
            ranked
                .windows(2)
                .all(|w| w[0].rank().unwrap() < w[1].rank().unwrap())
        );
        assert_eq!(MessageStatus::Received.rank(), None);
        assert_eq!(MessageStatus::Queued.rank(), Some(0));
        assert_eq!(MessageStatus::Failed.rank(), Some(5));
    }
}
