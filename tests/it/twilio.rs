//! The bot over the Twilio channel, end to end.

use crate::both_backends;
use crate::helpers::*;
use rstest_reuse::apply;
use uic_inbox::on_db;

const PHONE: &str = "+243990000001";

fn sid(n: usize) -> String {
    format!("SM{n:032x}")
}

#[apply(both_backends)]
#[tokio::test]
async fn a_full_five_question_conversation_ends_with_the_code(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let welcome = app.twilio_say(PHONE, &sid(1), "Bonjour").await;
    assert!(welcome.contains("Bienvenue"), "{welcome}");
    assert!(welcome.contains("Question 1 sur 5"), "{welcome}");
    for (i, answer) in ["MBE", "IBR", "7", "DA"].iter().enumerate() {
        let reply = app.twilio_say(PHONE, &sid(2 + i), answer).await;
        assert!(reply.contains("Compris"), "{reply}");
        assert!(
            reply.contains(&format!("Question {} sur 5", i + 2)),
            "{reply}"
        );
    }
    let last = app.twilio_say(PHONE, &sid(6), "1").await;
    let bodies = twiml_bodies(&last);
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("=====\nMBEIBR7DA1\n=====")),
        "{bodies:#?}"
    );
    assert!(last.starts_with("<?xml"), "{last}");

    let registered = uic_inbox::registry::store::find(
        &app.state.db,
        &uic_inbox::uic::Uic::parse("MBEIBR7DA1").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].times_seen, 1);
    assert_eq!(registered[0].collision_status, "none");
}

#[apply(both_backends)]
#[tokio::test]
async fn a_tampered_body_is_refused_and_nothing_is_stored(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let from = format!("whatsapp:{PHONE}");
    let to = format!("whatsapp:{TWILIO_NUMBER}");
    let params = twilio_params(&sid(1), &from, &to, "Bonjour");
    let signed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let signature = twilio_signature(TWILIO_TOKEN, &app.webhook_url(), &signed);
    let mut tampered = signed.clone();
    tampered[2] = ("Body", "Bonsoir");
    let res = app
        .client
        .post(app.webhook_url())
        .header("X-Twilio-Signature", signature)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&tampered))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // Signed with another account's token, or not signed at all.
    let res = app.twilio_post(&signed, "not-the-token").await;
    assert_eq!(res.status(), 403);
    let res = app
        .client
        .post(app.webhook_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&signed))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.count("messages").await, 0);
    assert_eq!(app.count("contacts").await, 0);
    assert_eq!(app.count("conversations").await, 0);
}

/// The `<Media>` links of a TwiML answer.
fn twiml_media(xml: &str) -> Vec<String> {
    xml.split("<Media>")
        .skip(1)
        .map(|part| part.split("</Media>").next().unwrap_or("").to_string())
        .collect()
}

/// Twilio posts a message again only when its first answer never reached
/// it (a timeout, a cut connection: B.8). The message is stored and run
/// once; the retry is answered with the same replies, or the person would
/// never see that step's question (or their code).
#[apply(both_backends)]
#[tokio::test]
async fn a_retry_whose_answer_was_lost_gets_the_same_replies_and_nothing_runs_twice(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app_with(backend, |c| c.enable_qr_code = true).await else {
        return;
    };
    let replies_stored = "messages WHERE direction = 'out'";
    app.twilio_say(PHONE, &sid(1), "Bonjour").await;
    let first = app.twilio_say(PHONE, &sid(2), "MBE").await;
    assert!(first.contains("Question 2 sur 5"), "{first}");
    let stored = app.count(replies_stored).await;
    let retry = app.twilio_say(PHONE, &sid(2), "MBE").await;
    assert_eq!(twiml_bodies(&retry), twiml_bodies(&first), "{retry}");
    assert_eq!(
        app.count(replies_stored).await,
        stored,
        "nothing stored again"
    );

    // Deliveries at the same moment: the message runs once, and each
    // answer is that run's replies.
    let answers = futures_join(&app, &sid(3), "IBR", 5).await;
    let third = twiml_bodies(&answers[0]);
    assert!(
        third.iter().any(|b| b.contains("Question 3 sur 5")),
        "{third:?}"
    );
    for answer in &answers {
        assert_eq!(twiml_bodies(answer), third, "{answers:#?}");
    }
    assert_eq!(app.count("messages WHERE direction = 'in'").await, 3);
    assert_eq!(
        app.count(replies_stored).await,
        stored + i64::try_from(third.len()).unwrap(),
        "the replies stored once"
    );
    let next = app.twilio_say(PHONE, &sid(4), "7").await;
    assert!(
        next.contains("Question 4 sur 5"),
        "the flow moved once per message: {next}"
    );
    // Once a later message is stored, an earlier one's replies are out of
    // date: its retry is answered with nothing.
    let late = app.twilio_say(PHONE, &sid(3), "IBR").await;
    assert!(twiml_bodies(&late).is_empty(), "{late}");

    // The code's answer again carries the QR image too.
    app.twilio_say(PHONE, &sid(5), "DA").await;
    let code = app.twilio_say(PHONE, &sid(6), "1").await;
    assert_eq!(twiml_media(&code).len(), 1, "{code}");
    let code_again = app.twilio_say(PHONE, &sid(6), "1").await;
    assert_eq!(twiml_bodies(&code_again), twiml_bodies(&code));
    let media = twiml_media(&code_again);
    assert_eq!(media.len(), 1, "{code_again}");
    let url = media[0].replace("&amp;", "&");
    let path = url
        .split_once("/qr/")
        .map(|(_, t)| format!("/qr/{t}"))
        .unwrap();
    let image = app.get(&path).await;
    assert_eq!(image.status(), 200, "{url}");
    assert_eq!(&image.bytes().await.unwrap()[..4], b"\x89PNG");
    assert_eq!(
        app.count("uic_registrations WHERE times_seen = 1").await,
        1,
        "the code registered once"
    );
}

async fn futures_join(app: &TestApp, sid: &str, text: &str, n: usize) -> Vec<String> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (address, client) = (app.webhook_url(), app.client.clone());
        let (sid, text) = (sid.to_string(), text.to_string());
        set.spawn(async move {
            let params = twilio_params(
                &sid,
                &format!("whatsapp:{PHONE}"),
                &format!("whatsapp:{TWILIO_NUMBER}"),
                &text,
            );
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let res = client
                .post(&address)
                .header(
                    "X-Twilio-Signature",
                    twilio_signature(TWILIO_TOKEN, &address, &params),
                )
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form_body(&params))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.text().await.unwrap()
        });
    }
    set.join_all().await
}

/// Answers for phone `i`: distinct codes for distinct phones.
fn answers_for(i: usize) -> ([String; 5], String) {
    let letter = |n: usize| char::from(b'A' + (n % 26) as u8);
    let last = format!("{}{}{}", letter(i / 26), letter(i), letter(i + 7));
    let first = "Ibrahima".to_string();
    let year = format!("19{}", 50 + i % 50);
    let city = "KN".to_string();
    let gender = format!("{}", 1 + i % 4);
    let code = format!("{last}IBR{}{city}{gender}", (50 + i % 50) % 10);
    ([last, first, year, city, gender], code)
}

#[apply(both_backends)]
#[tokio::test]
async fn fifty_concurrent_conversations_all_get_their_own_code(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let app = app.clone();
        set.spawn(async move {
            let phone = format!("+24381{i:07}");
            let (answers, code) = answers_for(i);
            app.twilio_say(&phone, &sid(i * 100), "Bonjour").await;
            let mut last = String::new();
            for (j, a) in answers.iter().enumerate() {
                last = app.twilio_say(&phone, &sid(i * 100 + j + 1), a).await;
            }
            assert!(
                last.contains(&format!("=====\n{code}\n=====")),
                "phone {i}: expected {code} in {last}"
            );
            code
        });
    }
    let codes = set.join_all().await;
    assert_eq!(codes.len(), 50);
    assert_eq!(app.count("uic_registrations").await, 50);
    assert_eq!(app.count("messages WHERE direction = 'in'").await, 300);
}

#[apply(both_backends)]
#[tokio::test]
async fn two_messages_of_one_conversation_at_the_same_moment_both_count(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.twilio_say(PHONE, &sid(1), "Bonjour").await;
    // Two answers racing: whatever the order, each is applied once to the
    // state the other left (last name, then first name).
    let (sid2, sid3) = (sid(2), sid(3));
    let (a, b) = tokio::join!(
        app.twilio_say(PHONE, &sid2, "MBE"),
        app.twilio_say(PHONE, &sid3, "IBR")
    );
    let both = format!("{a}{b}");
    assert!(
        both.contains("Question 2 sur 5") && both.contains("Question 3 sur 5"),
        "{both}"
    );
    let state: String = on_db!(&app.state.db, p => sqlx::query_scalar::<_, String>("SELECT CAST(flow_state AS TEXT) FROM conversations").fetch_one(p).await.unwrap());
    assert!(state.contains("birth_year"), "{state}");
    assert_eq!(app.count("messages WHERE direction = 'in'").await, 3);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_restart_mid_conversation_continues_where_it_stopped(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.twilio_say(PHONE, &sid(1), "Bonjour").await;
    app.twilio_say(PHONE, &sid(2), "Mbengue").await;
    app.twilio_say(PHONE, &sid(3), "Ibrahima").await;
    let app = app.restart().await;
    let reply = app.twilio_say(PHONE, &sid(4), "1997").await;
    assert!(reply.contains("Question 4 sur 5"), "{reply}");
    app.twilio_say(PHONE, &sid(5), "DA").await;
    let last = app.twilio_say(PHONE, &sid(6), "Homme").await;
    assert!(last.contains("MBEIBR7DA1"), "{last}");
}

#[apply(both_backends)]
#[tokio::test]
async fn the_same_answers_again_are_seen_again_and_from_another_phone_flag_a_collision(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let code = uic_inbox::uic::Uic::parse("MBEIBR7DA1").unwrap();
    let run = |phone: &'static str, base: usize, first: &'static str| {
        let app = &app;
        async move {
            let mut last = String::new();
            for (j, text) in [first, "MBE", "IBR", "7", "DA", "1"].iter().enumerate() {
                last = app.twilio_say(phone, &sid(base + j), text).await;
            }
            last
        }
    };
    let first = run("+243990000001", 0, "Bonjour").await;
    assert!(first.contains("MBEIBR7DA1"));
    let again = run("+243990000001", 100, "RECOMMENCER").await;
    assert!(again.contains("MBEIBR7DA1"));
    let rows = uic_inbox::registry::store::find(&app.state.db, &code)
        .await
        .unwrap();
    assert_eq!(
        (
            rows[0].times_seen,
            rows[0].phones,
            rows[0].collision_status.as_str()
        ),
        (2, 1, "none")
    );

    let second = run("+243990000002", 200, "Bonjour").await;
    assert!(
        second.contains("MBEIBR7DA1"),
        "the second person gets their code like anyone else: {second}"
    );
    assert_eq!(
        twiml_bodies(&second),
        twiml_bodies(&first),
        "and exactly the same words"
    );
    let rows = uic_inbox::registry::store::find(&app.state.db, &code)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].times_seen,
            rows[0].phones,
            rows[0].collision_status.as_str()
        ),
        (3, 2, "open")
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn each_number_routes_to_its_own_account_checked_with_its_own_token(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let other_tenant = uic_inbox::tenancy::store::ensure_tenant(&app.state.db, "ong-b", "ONG B")
        .await
        .unwrap();
    let other = app
        .account_in(
            other_tenant,
            "ong-b-hiv",
            uic_inbox::tenancy::Provider::Twilio,
            Some("+243810000099"),
            Some("token-b"),
        )
        .await;
    let params = twilio_params(
        &sid(1),
        &format!("whatsapp:{PHONE}"),
        "whatsapp:+243810000099",
        "Bonjour",
    );
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The default account's token does not open the other tenant's number.
    assert_eq!(app.twilio_post(&params, TWILIO_TOKEN).await.status(), 403);
    let res = app.twilio_post(&params, "token-b").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Question 1 sur 5"));
    app.twilio_say(PHONE, &sid(2), "Bonjour").await;

    let per_tenant: Vec<(i64, i64)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT tenant_id, account_id FROM conversations ORDER BY tenant_id").fetch_all(p).await.unwrap());
    assert_eq!(
        per_tenant.len(),
        2,
        "one conversation per account for the same phone"
    );
    assert!(per_tenant.contains(&(other_tenant, other.id)));
    assert_eq!(
        per_tenant
            .iter()
            .filter(|(t, _)| *t == other_tenant)
            .count(),
        1
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn two_server_instances_take_turns_on_one_conversation_without_losing_a_step(
    #[case] backend: Backend,
) {
    let Some(a) = spawn_app(backend).await else {
        return;
    };
    let b = a.second_instance().await;
    // Each instance remembers what it wrote last; the other instance's
    // writes make that memory stale, which must be noticed, not trusted.
    let steps = [
        (&a, "Bonjour"),
        (&a, "MBE"),
        (&b, "IBR"),
        (&a, "7"),
        (&b, "DA"),
        (&a, "1"),
    ];
    let mut last = String::new();
    for (i, (app, text)) in steps.iter().enumerate() {
        last = app.twilio_say(PHONE, &sid(i + 1), text).await;
    }
    assert!(last.contains("=====\nMBEIBR7DA1\n====="), "{last}");
    // A retry reaching the other instance is answered with the same
    // replies, from the database, and runs nothing again.
    let retry = b.twilio_say(PHONE, &sid(6), "1").await;
    assert_eq!(twiml_bodies(&retry), twiml_bodies(&last), "{retry}");
    assert_eq!(a.count("messages WHERE direction = 'in'").await, 6);
}
