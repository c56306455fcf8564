//! Several WhatsApp accounts: each with its own flow settings, each with
//! its own conversations; tenants apart; QR codes on request.

use crate::both_backends;
use crate::helpers::*;
use rstest_reuse::apply;
use uic_inbox::flow::Language;
use uic_inbox::on_db;
use uic_inbox::tenancy::store::{ensure_tenant, update_flow_settings};
use uic_inbox::tenancy::{FlowSettings, Provider};

async fn say(app: &TestApp, account: &str, phone: &str, text: &str) -> serde_json::Value {
    app.sandbox_post(account, phone, text).await
}

fn texts(answer: &serde_json::Value) -> String {
    answer["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

const ANSWERS: [&str; 6] = ["Hello", "Mbengue", "Ibrahim", "1997", "DA", "1"];

#[apply(both_backends)]
#[tokio::test]
async fn each_account_speaks_with_its_own_settings_and_keeps_its_own_conversations(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = ensure_tenant(&app.state.db, "default", "x").await.unwrap();
    let english = app
        .account_in(tenant, "english", Provider::Sandbox, None, None)
        .await;
    update_flow_settings(
        &app.state.db,
        &crate::helpers::access(
            english.tenant_id,
            uic_inbox::auth::Permission::AccountsManage,
        ),
        english.id,
        &FlowSettings {
            language: Language::En,
            qr_enabled: Some(true),
            ..FlowSettings::default()
        },
    )
    .await
    .unwrap();

    // The same phone talks to both programmes, interleaved.
    let phone = "+243990000055";
    let mut last = (serde_json::Value::Null, serde_json::Value::Null);
    for answer in ANSWERS {
        last.0 = say(&app, "english", phone, answer).await;
        last.1 = say(&app, "sandbox", phone, answer).await;
    }
    let english_end = texts(&last.0);
    let french_end = texts(&last.1);
    assert!(
        english_end.contains("MBEIBR7DA1") && english_end.contains("QR code"),
        "{english_end}"
    );
    assert!(
        french_end.contains("MBEIBR7DA1") && !french_end.contains("QR"),
        "{french_end}"
    );
    assert!(last.1.get("qr_url").is_none());

    // Two conversations, one per account, each with its own messages.
    let per_account: Vec<(i64, i64)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT c.account_id, COUNT(m.id) FROM conversations c JOIN messages m ON m.conversation_id = c.id
         WHERE m.direction = 'in' GROUP BY c.account_id ORDER BY c.account_id")
        .fetch_all(p).await.unwrap());
    assert_eq!(per_account.len(), 2);
    assert!(per_account.iter().all(|(_, n)| *n == 6), "{per_account:?}");

    // The QR link works, is a PNG, and cannot be bent to another code.
    let url = last.0["qr_url"].as_str().expect("a QR link").to_string();
    let res = app.get(&url).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(&res.bytes().await.unwrap()[..4], b"\x89PNG");
    let tampered = url.replacen("/qr/", "/qr/A", 1);
    assert_eq!(app.get(&tampered).await.status(), 404);
    assert_eq!(app.get("/qr/nothing.png").await.status(), 404);
}

#[apply(both_backends)]
#[tokio::test]
async fn two_tenants_issuing_the_same_code_never_meet(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let other = ensure_tenant(&app.state.db, "ngo-b", "NGO B")
        .await
        .unwrap();
    // Real (Twilio) numbers: sandbox codes are test data, never listed.
    let b_number = "+14155550162";
    app.account_in(
        other,
        "ngo-b-twilio",
        Provider::Twilio,
        Some(b_number),
        Some("ngo_b_token"),
    )
    .await;
    // Two different phones, same answers, one in each tenant.
    for (i, answer) in ANSWERS.iter().enumerate() {
        app.twilio_say("+243990000061", &format!("SMa{i:031}"), answer)
            .await;
        let params = twilio_params(
            &format!("SMb{i:031}"),
            "whatsapp:+243990000062",
            &format!("whatsapp:{b_number}"),
            answer,
        );
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(app.twilio_post(&params, "ngo_b_token").await.status(), 200);
    }
    let registrations = uic_inbox::registry::store::find(
        &app.state.db,
        &uic_inbox::uic::Uic::parse("MBEIBR7DA1").unwrap(),
    )
    .await
    .unwrap();
    // One registration per tenant, neither flagged as a collision (that
    // would tell one NGO about the other's person).
    assert_eq!(registrations.len(), 2);
    assert!(
        registrations
            .iter()
            .all(|r| r.collision_status == "none" && r.times_seen == 1)
    );
    let b = uic_inbox::registry::store::list(&app.state.db, Some(other), 100)
        .await
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].tenant_id, other);
}

#[apply(both_backends)]
#[tokio::test]
async fn twilio_gets_the_qr_image_as_an_expiring_link_on_the_last_message(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app_with(backend, |c| c.enable_qr_code = true).await else {
        return;
    };
    let mut last = String::new();
    for (i, answer) in ["Bonjour", "MBE", "IBR", "7", "DA", "1"].iter().enumerate() {
        last = app
            .twilio_say("+243990000071", &format!("SM{i:032x}"), answer)
            .await;
    }
    assert!(last.contains("MBEIBR7DA1"), "{last}");
    let start = last.find("<Media>").expect("a Media element") + "<Media>".len();
    let end = last[start..].find("</Media>").unwrap() + start;
    let url = last[start..end].replace("&amp;", "&");
    let path = url
        .split_once("/qr/")
        .map(|(_, t)| format!("/qr/{t}"))
        .unwrap();
    let res = app.get(&path).await;
    assert_eq!(res.status(), 200);
    assert_eq!(&res.bytes().await.unwrap()[..4], b"\x89PNG");
}
