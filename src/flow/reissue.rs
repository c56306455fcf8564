//! A returning phone's own code (issue 15). Once a supervisor decided that
//! the phones sharing a code are different people, every later phone has a
//! code of its own (the code and a letter, `MBEIBR7DA1B`, see
//! `uic::distinct_codes`). The flow, pure, computes the code from the
//! answers alone; when such a phone completes the questions again with the
//! same answers, the inbox (which looked its code up) rewrites the step's
//! outcome here: the person is given their own code again, and the shared
//! one is not registered from their phone (which would open the collision
//! again).

use super::{Event, Outcome, Step};
use crate::uic::Uic;

/// `text` with every whole `from` (not already followed by a later phone's
/// letter) written as `to`.
fn replace_code(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let after = &rest[at + from.len()..];
        out.push_str(&rest[..at]);
        if after.starts_with(|c: char| c.is_ascii_uppercase()) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Rewrites a step that issued `from` so that it issues `to` instead: the
/// final reply's code, the state kept (`Step::Done`) and the event the
/// registry records. Nothing changes when the step did not issue `from`;
/// returns whether it did.
pub fn reissue(outcome: &mut Outcome, from: &Uic, to: &Uic) -> bool {
    let issued = outcome
        .events
        .iter()
        .any(|e| matches!(e, Event::UicIssued { uic, .. } if uic == from));
    if !issued || from == to {
        return false;
    }
    for event in &mut outcome.events {
        if let Event::UicIssued { uic, .. } = event
            && uic == from
        {
            *uic = to.clone();
        }
    }
    for reply in &mut outcome.replies {
        reply.text = replace_code(&reply.text, from.as_str(), to.as_str());
    }
    if let Step::Done { uic } = &mut outcome.state.step
        && uic == from
    {
        *uic = to.clone();
    }
    true
}

/// The code issued by this step, if any (what the inbox looks up).
pub fn issued(outcome: &Outcome) -> Option<&Uic> {
    outcome.events.iter().find_map(|e| match e {
        Event::UicIssued { uic, .. } => Some(uic),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{FlowConfig, FlowState, Inbound, step};
    use time::OffsetDateTime;

    fn say(state: &FlowState, text: &str) -> Outcome {
        step(
            state,
            &Inbound {
                text,
                choice_id: None,
                media: false,
            },
            &FlowConfig::default(),
            OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
        )
    }

    fn completed() -> Outcome {
        let mut state = FlowState::default();
        for text in ["Bonjour", "MBE", "IBR", "7", "DA"] {
            state = say(&state, text).state;
        }
        say(&state, "1")
    }

    #[test]
    fn a_returning_later_phone_is_given_its_own_code_everywhere() {
        let mut outcome = completed();
        let base = Uic::parse("MBEIBR7DA1").unwrap();
        let own = Uic::parse("MBEIBR7DA1B").unwrap();
        assert_eq!(issued(&outcome), Some(&base));
        assert!(reissue(&mut outcome, &base, &own));
        assert_eq!(issued(&outcome), Some(&own));
        assert_eq!(outcome.state.step, Step::Done { uic: own.clone() });
        let final_text = &outcome.replies.last().unwrap().text;
        assert!(final_text.contains("MBEIBR7DA1B"), "{final_text}");
        assert_eq!(final_text.matches("MBEIBR7DA1").count(), 1);
        assert!(
            matches!(&outcome.events[0], Event::UicIssued { parts, .. } if *parts == base.parts())
        );
    }

    #[test]
    fn a_step_that_issued_another_code_or_none_is_left_alone() {
        let mut outcome = completed();
        let before = outcome.clone();
        let other = Uic::parse("KABJEA0KI2").unwrap();
        let own = Uic::parse("KABJEA0KI2B").unwrap();
        assert!(!reissue(&mut outcome, &other, &own));
        assert_eq!(outcome, before);
        let mut greeting = say(&FlowState::default(), "Bonjour");
        let before = greeting.clone();
        assert!(issued(&greeting).is_none());
        assert!(!reissue(
            &mut greeting,
            &Uic::parse("MBEIBR7DA1").unwrap(),
            &Uic::parse("MBEIBR7DA1B").unwrap()
        ));
        assert_eq!(greeting, before);
    }

    #[test]
    fn a_code_already_followed_by_a_letter_is_not_rewritten_twice() {
        assert_eq!(
            replace_code("A MBEIBR7DA1 B MBEIBR7DA1C", "MBEIBR7DA1", "MBEIBR7DA1B"),
            "A MBEIBR7DA1B B MBEIBR7DA1C"
        );
        assert_eq!(replace_code("", "X", "Y"), "");
    }
}
