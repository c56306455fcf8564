//! Whole conversations through the pure flow.

use super::*;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-11-28 10:00 UTC);

/// A conversation driven message by message.
struct Chat {
    state: FlowState,
    config: FlowConfig,
    now: OffsetDateTime,
    transcripts: Vec<Transcript>,
    events: Vec<Event>,
    /// The runs of questions that ended.
    finished: Vec<run::Finished>,
}

impl Chat {
    fn new() -> Chat {
        Chat::with(FlowConfig::default())
    }

    fn with(config: FlowConfig) -> Chat {
        Chat {
            state: FlowState::default(),
            config,
            now: T0,
            transcripts: Vec::new(),
            events: Vec::new(),
            finished: Vec::new(),
        }
    }

    /// Sends `text`; the replies' texts joined by a blank line.
    fn say(&mut self, text: &str) -> String {
        self.send(Inbound {
            text,
            choice_id: None,
            media: false,
        })
    }

    fn send(&mut self, inbound: Inbound<'_>) -> String {
        let out = step(&self.state, &inbound, &self.config, self.now);
        // The state survives a trip through its stored form.
        let json = serde_json::to_string(&out.state).unwrap();
        self.state = serde_json::from_str(&json).unwrap();
        assert_eq!(self.state, out.state);
        self.transcripts.push(out.transcript);
        self.events.extend(out.events);
        self.finished.extend(out.finished);
        out.replies
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    fn wait(&mut self, minutes: i64) {
        self.now += Duration::minutes(minutes);
    }

    fn issued(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::UicIssued { uic, .. } => Some(uic.to_string()),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn the_prototype_conversation_gives_mbeibr7da1() {
    let mut c = Chat::new();
    let welcome = c.say("Bonjour");
    assert!(
        welcome.starts_with("Bienvenue au Générateur CIU!"),
        "{welcome}"
    );
    assert!(welcome.contains("Question 1 sur 5:\n\nQuelles sont les 3 premières lettres de votre nom de famille?\n\nExemple: MBE"));
    assert!(c.say("MBE").starts_with("Compris!\n\nQuestion 2 sur 5:"));
    assert!(c.say("IBR").starts_with("Compris!\n\nQuestion 3 sur 5:"));
    assert!(c.say("7").starts_with("Compris!\n\nQuestion 4 sur 5:"));
    let q5 = c.say("DA");
    assert!(
        q5.contains("Question 5 sur 5:")
            && q5.contains("1 = Homme\n2 = Femme\n3 = Trans\n4 = Autre"),
        "{q5}"
    );
    let last = c.say("1");
    assert!(
        last.starts_with("Merci! J'ai toutes les informations."),
        "{last}"
    );
    assert!(
        last.contains("Votre CIU:\n=====\nMBEIBR7DA1\n=====\n"),
        "{last}"
    );
    assert!(last.contains("Ce code est maintenant enregistré à votre nom."));
    assert!(!last.contains("QR"), "no QR line unless enabled");
    assert_eq!(c.issued(), ["MBEIBR7DA1"]);
    assert_eq!(
        c.state.step,
        Step::Done {
            uic: Uic::parse("MBEIBR7DA1").unwrap()
        }
    );
    assert_eq!(
        c.state.answers,
        Answers::default(),
        "answers are not kept once the code is issued"
    );
}

#[test]
fn full_answers_give_the_same_code_and_only_the_parts_are_kept() {
    let config = FlowConfig {
        cities: vec![City {
            code: "DA".into(),
            name: "Dakar".into(),
        }],
        ..FlowConfig::default()
    };
    let mut c = Chat::with(config);
    for text in ["Bonjour", "Mbengue", "Ibrahima", "1997", "Dakar", "Homme"] {
        c.say(text);
    }
    assert_eq!(c.issued(), ["MBEIBR7DA1"]);
    assert_eq!(
        c.transcripts,
        [
            Transcript::Described,
            Transcript::Shortened("MBE".into()),
            Transcript::Shortened("IBR".into()),
            Transcript::Shortened("7".into()),
            Transcript::Shortened("DA".into()),
            Transcript::Shortened("1".into()),
        ]
    );
    let stored = serde_json::to_string(&c.state).unwrap();
    assert!(!stored.contains("Mbengue") && !stored.contains("Ibrahima"));
}

#[test]
fn the_first_message_is_never_taken_as_an_answer() {
    let mut c = Chat::new();
    let reply = c.say("MBE");
    assert!(reply.contains("Bienvenue") && reply.contains("Question 1 sur 5"));
    assert_eq!(c.state.step, Step::LastName);
    assert_eq!(c.state.answers.last, None);
}

#[test]
fn each_unreadable_answer_is_explained_and_the_question_asked_again() {
    let cases: [(&str, &str, &str, Step); 6] = [
        ("123", "aucune lettre", "Question 1 sur 5", Step::LastName),
        (
            "Mbengue",
            "pas trouvé de chiffre",
            "Question 3 sur 5",
            Step::BirthYear,
        ),
        (
            "1850",
            "entre 1900 et 2026",
            "Question 3 sur 5",
            Step::BirthYear,
        ),
        (
            "19 97",
            "un seul nombre",
            "Question 3 sur 5",
            Step::BirthYear,
        ),
        (
            "Kinshasa",
            "code de 2 lettres",
            "Question 4 sur 5",
            Step::BirthCity,
        ),
        ("5", "chiffre de 1 à 4", "Question 5 sur 5", Step::Gender),
    ];
    for (bad, explanation, question, at) in cases {
        let mut c = Chat::new();
        c.say("Bonjour");
        for good in ["MBE", "IBR", "7", "DA"] {
            if c.state.step == at {
                break;
            }
            c.say(good);
        }
        let reply = c.say(bad);
        assert!(reply.contains(explanation), "{bad:?}: {reply}");
        assert!(reply.contains(question), "{bad:?}: {reply}");
        assert_eq!(c.state.step, at);
        assert_eq!(c.state.tries, 1);
        assert_eq!(
            c.transcripts.last(),
            Some(&Transcript::Redacted),
            "{bad:?} is not kept"
        );
    }
}

#[test]
fn three_failed_tries_on_one_question_escalate_and_a_good_answer_resets_the_count() {
    let mut c = Chat::new();
    c.say("Bonjour");
    c.say("???");
    c.say("!!!");
    assert!(c.say("MBE").contains("Question 2 sur 5"));
    assert_eq!(c.state.tries, 0);
    c.say("1");
    c.say("2");
    let reply = c.say("3");
    assert!(reply.contains("membre de l'équipe"), "{reply}");
    assert_eq!(c.state.step, Step::Escalated);
    assert_eq!(
        c.events.last(),
        Some(&Event::Escalated {
            reason: EscalationReason::TooManyFailedTries
        })
    );
    // Once escalated, the bot only says the team will answer.
    assert!(c.say("allo?").contains("transmise à l'équipe"));
}

#[test]
fn commands_work_at_any_step_in_french_and_english_spellings() {
    for (restart, word) in [
        ("RESTART", "RESTART"),
        ("recommencer", "RECOMMENCER"),
        ("Recommencer !", "RECOMMENCER"),
        (" reset ", "RESET"),
    ] {
        let mut c = Chat::new();
        for t in ["Bonjour", "MBE", "IBR"] {
            c.say(t);
        }
        let reply = c.say(restart);
        assert!(
            reply.starts_with("D'accord, on recommence") && reply.contains("Question 1 sur 5"),
            "{restart}: {reply}"
        );
        assert_eq!(c.state.answers, Answers::default());
        assert_eq!(
            c.events.last(),
            Some(&Event::Reset {
                reason: ResetReason::Command
            })
        );
        assert_eq!(
            c.transcripts.last(),
            Some(&Transcript::Command(word.into()))
        );
    }
    for help in ["HELP", "aide", "Aide?"] {
        let mut c = Chat::new();
        for t in ["Bonjour", "MBE", "IBR"] {
            c.say(t);
        }
        let reply = c.say(help);
        assert!(
            reply.starts_with("Aide:") && reply.ends_with("Exemple: 7 (pour 1997)"),
            "{help}: {reply}"
        );
        assert_eq!(c.state.step, Step::BirthYear, "help does not move the flow");
        assert_eq!(c.state.tries, 0, "help is not a failed try");
    }
    for agent in ["AGENT", "humain", "Human."] {
        let mut c = Chat::new();
        c.say("Bonjour");
        let reply = c.say(agent);
        assert!(
            reply.contains("Un membre de l'équipe va vous répondre"),
            "{agent}: {reply}"
        );
        assert_eq!(
            c.events.last(),
            Some(&Event::Escalated {
                reason: EscalationReason::Requested
            })
        );
    }
    // A word with digits is an answer, not a command.
    assert_eq!(command("aide 2"), None);
}

#[test]
fn after_the_code_a_message_gets_a_reminder_and_restart_issues_it_again() {
    let mut c = Chat::new();
    for t in ["Bonjour", "MBE", "IBR", "7", "DA", "1"] {
        c.say(t);
    }
    let reminder = c.say("merci");
    assert!(reminder.contains("=====\nMBEIBR7DA1\n====="), "{reminder}");
    assert!(c.say("aide").contains("MBEIBR7DA1"));
    for t in ["RECOMMENCER", "MBE", "IBR", "7", "DA", "1"] {
        c.say(t);
    }
    assert_eq!(c.issued(), ["MBEIBR7DA1", "MBEIBR7DA1"]);
}

#[test]
fn an_idle_conversation_starts_again_and_says_so() {
    let mut c = Chat::new();
    c.say("Bonjour");
    c.say("MBE");
    c.wait(31);
    let reply = c.say("Ibrahima");
    assert!(
        reply.starts_with("Votre session a expiré (30 minutes"),
        "{reply}"
    );
    assert!(reply.contains("Bienvenue") && reply.contains("Question 1 sur 5"));
    assert_eq!(c.state.step, Step::LastName);
    assert_eq!(c.state.answers, Answers::default());
    assert_eq!(
        c.transcripts.last(),
        Some(&Transcript::Redacted),
        "a late answer is not kept"
    );
    assert_eq!(
        c.events.last(),
        Some(&Event::Reset {
            reason: ResetReason::Timeout
        })
    );
}

#[test]
fn the_timeout_counts_from_the_last_message_not_the_first() {
    let mut c = Chat::new();
    c.say("Bonjour");
    c.wait(29);
    assert!(c.say("MBE").starts_with("Compris!"));
    // Every 20 minutes for two hours: never idle for 30.
    let mut c = Chat::new();
    c.say("Bonjour");
    for _ in 0..6 {
        c.wait(20);
        let reply = c.say("aide");
        assert!(!reply.contains("expiré"), "{reply}");
    }
    assert!(!c.events.iter().any(|e| matches!(e, Event::Reset { .. })));
}

#[test]
fn a_finished_conversation_after_the_timeout_gets_the_welcome_without_the_expiry_notice() {
    let mut c = Chat::new();
    for t in ["Bonjour", "MBE", "IBR", "7", "DA", "1"] {
        c.say(t);
    }
    c.wait(60 * 24);
    let reply = c.say("Bonjour");
    assert!(reply.starts_with("Bienvenue"), "{reply}");
}

#[test]
fn media_without_text_asks_to_type_and_is_not_a_failed_try() {
    let mut c = Chat::new();
    c.say("Bonjour");
    let reply = c.say("");
    assert!(
        reply.contains("taper votre réponse") && reply.contains("Question 1 sur 5"),
        "{reply}"
    );
    assert_eq!(c.state.tries, 0);
}

#[test]
fn the_gender_question_offers_choices_and_a_tapped_choice_counts() {
    let mut c = Chat::new();
    for t in ["Bonjour", "MBE", "IBR", "7"] {
        c.say(t);
    }
    let out = step(
        &c.state,
        &Inbound {
            text: "DA",
            choice_id: None,
            media: false,
        },
        &c.config,
        c.now,
    );
    let ids: Vec<&str> = out.replies[0]
        .choices
        .iter()
        .map(|ch| ch.id.as_str())
        .collect();
    assert_eq!(ids, ["g1", "g2", "g3", "g4"]);
    c.say("DA");
    c.send(Inbound {
        text: "Femme",
        choice_id: Some("g2"),
        media: false,
    });
    assert_eq!(c.issued(), ["MBEIBR7DA2"]);
}

#[test]
fn a_city_list_offers_its_cities_and_accepts_their_names() {
    let config = FlowConfig {
        cities: vec![
            City {
                code: "KN".into(),
                name: "Kinshasa".into(),
            },
            City {
                code: "LU".into(),
                name: "Lubumbashi".into(),
            },
        ],
        ..FlowConfig::default()
    };
    let mut c = Chat::with(config);
    for t in ["Bonjour", "MBE", "IBR"] {
        c.say(t);
    }
    let out = step(
        &c.state,
        &Inbound {
            text: "7",
            choice_id: None,
            media: false,
        },
        &c.config,
        c.now,
    );
    assert_eq!(out.replies[0].choices.len(), 2);
    assert!(
        out.replies[0]
            .text
            .ends_with("\n\nKN = Kinshasa\nLU = Lubumbashi"),
        "the list is in the text for channels without buttons: {}",
        out.replies[0].text
    );
    c.say("7");
    c.send(Inbound {
        text: "Lubumbashi",
        choice_id: Some("city_LU"),
        media: false,
    });
    c.say("kinshasa");
    c.say("2");
    assert_eq!(
        c.issued(),
        ["MBEIBR7LU2"],
        "the tapped choice was the answer"
    );
}

#[test]
fn an_account_can_override_a_text_and_speak_english() {
    let mut config = FlowConfig::default();
    config.texts.insert(
        TextKey::Understood.name().into(),
        "Merci, c'est noté.".into(),
    );
    let mut c = Chat::with(config);
    c.say("Bonjour");
    assert!(
        c.say("MBE")
            .starts_with("Merci, c'est noté.\n\nQuestion 2 sur 5")
    );

    let mut c = Chat::with(FlowConfig {
        language: Language::En,
        qr_enabled: true,
        ..FlowConfig::default()
    });
    assert!(c.say("Hello").starts_with("Welcome to the UIC Generator!"));
    for t in ["MBE", "IBR", "7", "DA"] {
        assert!(c.say(t).starts_with("Got it!"));
    }
    let last = c.say("male");
    assert!(
        last.contains("Your UIC:\n=====\nMBEIBR7DA1\n=====") && last.contains("QR code"),
        "{last}"
    );
}

#[test]
fn the_default_state_round_trips_through_json() {
    let json = serde_json::to_string(&FlowState::default()).unwrap();
    assert_eq!(
        serde_json::from_str::<FlowState>(&json).unwrap(),
        FlowState::default()
    );
    let done: FlowState = serde_json::from_str(r#"{"step":"done","uic":"MBEIBR7DA1"}"#).unwrap();
    assert_eq!(
        done.step,
        Step::Done {
            uic: Uic::parse("MBEIBR7DA1").unwrap()
        }
    );
}

proptest::proptest! {
    #[test]
    fn no_message_sequence_makes_the_flow_panic_or_store_a_typed_word(
        texts in proptest::collection::vec("\\PC{0,30}", 1..12),
    ) {
        let mut c = Chat::new();
        for t in &texts {
            c.say(t);
            c.wait(7);
        }
        for (t, kept) in texts.iter().zip(&c.transcripts) {
            match kept {
                Transcript::Shortened(part) => proptest::prop_assert!(part.len() <= 3 && part.chars().all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit()), "{t:?} -> {part:?}"),
                Transcript::Command(word) => proptest::prop_assert!(["RESTART", "RECOMMENCER", "RESET", "HELP", "AIDE", "AGENT", "HUMAIN", "HUMAN"].contains(&word.as_str()), "{t:?} -> {word:?}"),
                Transcript::Described | Transcript::Redacted => {}
            }
        }
    }
}

#[test]
fn a_button_tapped_on_an_older_message_is_not_taken_as_an_answer() {
    let mut c = Chat::new();
    c.say("Bonjour");
    let reply = c.send(Inbound {
        text: "Femme",
        choice_id: Some("g2"),
        media: false,
    });
    assert!(
        reply.contains("autre question") && reply.contains("Question 1 sur 5"),
        "{reply}"
    );
    assert_eq!(c.state.step, Step::LastName);
    assert_eq!(
        c.state.answers.last, None,
        "the button title is not a last name"
    );
    assert_eq!(c.state.tries, 0);
}

#[test]
fn greetings_thanks_and_free_text_are_described_never_kept_as_written() {
    let mut c = Chat::new();
    c.say("Bonjour, je suis Mbengue Ibrahima");
    assert_eq!(c.transcripts.last(), Some(&Transcript::Described));
    for t in ["Mbengue", "Ibrahima", "1997", "DA", "Homme"] {
        c.say(t);
    }
    assert_eq!(c.issued(), ["MBEIBR7DA1"]);
    // After the code: thanks with a name, and free text.
    c.say("Merci Kabila");
    assert_eq!(c.transcripts.last(), Some(&Transcript::Described));
    c.say("Je m'appelle Josephine, et vous ?");
    assert_eq!(c.transcripts.last(), Some(&Transcript::Described));
    // A tapped button that answers nothing, and an empty message.
    let mut c = Chat::new();
    c.say("Salut c'est Kabila");
    c.send(Inbound {
        text: "Femme Kabila",
        choice_id: Some("g2"),
        media: false,
    });
    assert_eq!(
        c.transcripts,
        [Transcript::Described, Transcript::Described]
    );
    c.say("   ");
    assert_eq!(c.transcripts.last(), Some(&Transcript::Described));
}

#[test]
fn a_recognised_command_keeps_only_its_normalised_word() {
    for (typed, word) in [
        ("aide ?", "AIDE"),
        ("Help", "HELP"),
        ("Recommencer !", "RECOMMENCER"),
        ("humain", "HUMAIN"),
    ] {
        let mut c = Chat::new();
        c.say("Bonjour");
        c.say(typed);
        assert_eq!(
            c.transcripts.last(),
            Some(&Transcript::Command(word.into())),
            "{typed}"
        );
    }
    // A command as the very first message is a greeting, still kept as the command.
    let mut c = Chat::new();
    c.say("AIDE");
    assert_eq!(c.transcripts, [Transcript::Command("AIDE".into())]);
}

#[test]
fn media_instead_of_an_answer_goes_to_staff_and_resuming_asks_that_question_again() {
    let mut c = Chat::new();
    c.say("Bonjour");
    c.say("MBE");
    c.say("IBR");
    let reply = c.send(Inbound {
        text: "",
        choice_id: None,
        media: true,
    });
    assert!(
        reply.contains("Un membre de l'équipe va le regarder"),
        "{reply}"
    );
    assert_eq!(
        c.events.last(),
        Some(&Event::Escalated {
            reason: EscalationReason::Media
        })
    );
    assert_eq!(c.state.step, Step::Escalated);
    assert_eq!(c.state.paused_at, Some(PausedAt::BirthYear));
    assert_eq!(c.state.paused_at.map(PausedAt::number), Some(3));
    // A caption is read as the answer, not escalated.
    let mut d = Chat::new();
    d.say("Bonjour");
    let reply = d.send(Inbound {
        text: "MBE",
        choice_id: None,
        media: true,
    });
    assert!(reply.starts_with("Compris!"), "{reply}");

    // Staff hand it back to continue: question 3 again, the answers kept.
    c.wait(240);
    let out = hand_back(&c.state, HandBack::Resume, &c.config, c.now);
    assert_eq!(out.state.step, Step::BirthYear);
    assert_eq!(out.state.answers.last.as_deref(), Some("MBE"));
    assert_eq!(out.state.paused_at, None);
    assert!(out.events.is_empty());
    let text = &out.replies[0].text;
    assert!(
        text.starts_with("Reprenons") && text.contains("Question 3 sur 5"),
        "{text}"
    );
    c.state = out.state;
    // The hours spent with staff are no idle time of the flow's.
    assert!(c.say("7").starts_with("Compris!\n\nQuestion 4 sur 5"));
}

#[test]
fn handing_back_to_start_again_forgets_the_answers() {
    let mut c = Chat::new();
    c.say("Bonjour");
    c.say("MBE");
    c.say("AGENT");
    assert_eq!(c.state.paused_at, Some(PausedAt::FirstName));
    let out = hand_back(&c.state, HandBack::StartAgain, &c.config, c.now);
    assert_eq!(out.state.step, Step::LastName);
    assert_eq!(out.state.answers, Answers::default());
    assert_eq!(
        out.events,
        vec![Event::Reset {
            reason: ResetReason::Staff
        }]
    );
    assert!(out.replies[0].text.contains("Question 1 sur 5"));
    // Escalated before any question: "continue" starts again too.
    let mut d = Chat::new();
    d.say("AGENT");
    assert_eq!(d.state.paused_at, None);
    let out = hand_back(&d.state, HandBack::Resume, &d.config, d.now);
    assert_eq!(out.state.step, Step::LastName);
    assert!(out.replies[0].text.contains("Question 1 sur 5"));
}

#[test]
fn only_restart_words_are_a_restart() {
    for yes in ["RECOMMENCER", "recommencer !", " Restart", "reset"] {
        assert!(is_restart(yes), "{yes}");
    }
    for no in ["AGENT", "aide", "recommencer 2", "Bonjour", ""] {
        assert!(!is_restart(no), "{no}");
    }
    assert!(
        nobody_available(&FlowConfig::default())
            .text
            .contains("RECOMMENCER")
    );
}

/// What the reports count of each run of questions (`run`).
mod runs {
    use super::*;
    use run::{End, Finished};

    fn answer_all(c: &mut Chat) {
        for a in ["Mbengue", "Ibrahima", "1997", "DA", "1"] {
            c.wait(1);
            c.say(a);
        }
    }

    #[test]
    fn a_completed_run_counts_its_invalid_answers_restarts_and_time() {
        let mut c = Chat::new();
        c.say("Bonjour");
        let started = c.now;
        assert_eq!(
            c.state.run.as_ref().map(|r| (r.started_at, r.reached)),
            Some((T0, 1))
        );
        c.wait(1);
        c.say("Mbengue");
        c.say("Ibrahima");
        c.say("l'an passé"); // not understood at question 3
        c.say("???"); // again
        c.say("RECOMMENCER");
        assert_eq!(
            c.state.run.as_ref().map(|r| r.reached),
            Some(3),
            "the furthest stays"
        );
        answer_all(&mut c);
        let [f] = c.finished.as_slice() else {
            panic!("one run ended: {:?}", c.finished)
        };
        assert_eq!(f.end, End::Completed);
        assert_eq!(f.question, None);
        assert_eq!(f.run.started_at, started);
        assert_eq!(f.ended_at, c.now);
        assert_eq!(f.run.invalid, [0, 0, 2, 0, 0]);
        assert_eq!(f.run.restarts, 1);
        assert_eq!(f.run.reached, 5);
        assert!(!f.run.resumed);
        assert_eq!(c.state.run, None, "nothing goes on after the code");
        // Thanks after the code start nothing.
        c.say("merci");
        assert_eq!(c.state.run, None);
        assert_eq!(c.finished.len(), 1);
    }

    #[test]
    fn a_run_left_at_question_3_ends_when_the_person_comes_back_late() {
        let mut c = Chat::new();
        c.say("Bonjour");
        c.say("Mbengue");
        c.say("Ibrahima");
        let left_at = c.now;
        c.wait(31);
        c.say("1997"); // too late: a new run
        let [f] = c.finished.as_slice() else {
            panic!("one run ended: {:?}", c.finished)
        };
        assert_eq!(
            (f.end, f.question, f.ended_at, f.run.reached),
            (End::Left, Some(3), left_at, 3)
        );
        let run = c.state.run.clone().expect("a new run");
        assert_eq!((run.started_at, run.reached), (c.now, 1));
    }

    #[test]
    fn the_sweep_ends_an_idle_run_once_and_the_late_message_starts_a_new_one() {
        let mut c = Chat::new();
        c.say("Bonjour");
        c.say("Mbengue");
        let timeout = c.config.session_timeout;
        assert_eq!(
            run::left_idle(&c.state, timeout, c.now + Duration::minutes(30)),
            None
        );
        let (after, f) = run::left_idle(&c.state, timeout, c.now + Duration::minutes(31))
            .expect("idle past the timeout");
        assert_eq!((f.end, f.question, f.ended_at), (End::Left, Some(2), c.now));
        assert_eq!(after.run, None);
        assert_eq!(after.step, c.state.step, "only the run is taken");
        c.state = after;
        c.wait(40);
        c.say("Ibrahima");
        assert!(c.finished.is_empty(), "not ended twice: {:?}", c.finished);
        assert_eq!(c.state.run.as_ref().map(|r| r.reached), Some(1));
    }

    #[test]
    fn an_escalated_run_ends_at_its_question_and_a_hand_back_starts_a_resumed_one() {
        let mut c = Chat::new();
        c.say("Bonjour");
        for bad in ["123", "!!", "??"] {
            c.say(bad);
        }
        let [f] = c.finished.as_slice() else {
            panic!("one run ended: {:?}", c.finished)
        };
        assert_eq!(
            (f.end, f.question, f.run.invalid),
            (
                End::Escalated(EscalationReason::TooManyFailedTries),
                Some(1),
                [3, 0, 0, 0, 0]
            )
        );
        c.wait(5);
        let out = hand_back(&c.state, HandBack::Resume, &c.config, c.now);
        assert_eq!(out.finished, None);
        let run = out.state.run.clone().expect("a resumed run");
        assert!(run.resumed);
        assert_eq!(run.started_at, c.now);
    }

    #[test]
    fn agent_at_a_question_ends_the_run_as_requested_and_agent_after_the_code_ends_none() {
        let mut c = Chat::new();
        c.say("Bonjour");
        c.say("AGENT");
        assert_eq!(
            c.finished
                .iter()
                .map(|f| (f.end, f.question))
                .collect::<Vec<_>>(),
            vec![(End::Escalated(EscalationReason::Requested), Some(1))]
        );
        let mut d = Chat::new();
        d.say("Bonjour");
        answer_all(&mut d);
        d.say("AGENT");
        assert_eq!(d.finished.len(), 1, "only the completed run");
    }

    #[test]
    fn a_state_from_before_runs_were_counted_starts_no_run_mid_way() {
        let mut c = Chat::new();
        c.say("Bonjour");
        c.say("Mbengue");
        c.state.run = None; // as an older version saved it
        c.say("Ibrahima");
        assert_eq!(c.state.run, None);
        answer_all(&mut c);
        assert!(c.finished.is_empty(), "no run, no row: {:?}", c.finished);
        // The next restart counts again.
        c.say("RECOMMENCER");
        assert!(c.state.run.is_some());
    }

    #[test]
    fn a_run_survives_its_stored_form_and_an_old_state_reads_without_one() {
        let old = r#"{"step":"birth_year","answers":{"last":"MBE","first":"IBR"},"tries":1}"#;
        let state: FlowState = serde_json::from_str(old).unwrap();
        assert_eq!(state.run, None);
        let mut c = Chat::new();
        c.say("Bonjour");
        c.say("42"); // not understood: no letters
        let json = serde_json::to_string(&c.state).unwrap();
        assert!(json.contains(r#""invalid":[1,0,0,0,0]"#), "{json}");
        let _: Finished; // the type the caller records
    }
}
