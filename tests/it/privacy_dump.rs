//! Issue 10's measure of privacy at rest: after 200 conversations over the
//! sandbox, Twilio and Meta, where people greet and thank with their names
//! and WhatsApp sends their profile names, a dump of every text column of
//! every table holds none of those names, and no full phone number outside
//! `contacts` and `outbox` (the two that must have it to reply).
//!
//! Nothing sent here makes a webhook dead letter (every number is routed).

use crate::both_backends;
use crate::fakes::meta::{FakeMeta, WebhookBuilder, signed_webhook};
use crate::helpers::*;
use rstest_reuse::apply;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uic_inbox::config::{MetaEnv, Secret};
use uic_inbox::on_db;

const PNID: &str = "106540352242922";
const DISPLAY: &str = "243810000000";
const META_TOKEN: &str = "meta-access-token-1";
const APP_SECRET: &str = "test_app_secret";

const LAST: [&str; 10] = [
    "Mbengue",
    "Kabila",
    "Tshisekedi",
    "Lumumba",
    "Kasavubu",
    "Mukendi",
    "Kalombo",
    "Nzuzi",
    "Mputu",
    "Lokonga",
];
const FIRST: [&str; 10] = [
    "Ibrahima",
    "Josephine",
    "Patrice",
    "Mireille",
    "Dieudonne",
    "Bernadette",
    "Kapinga",
    "Nsimba",
    "Mwamba",
    "Ngalula",
];
const PROFILE: [&str; 5] = [
    "Zawadi Amisi",
    "Baraka Furaha",
    "Tumaini Neema",
    "Upendo Riziki",
    "Bahati Imani",
];

#[derive(Clone, Copy, Debug)]
enum Channel {
    Sandbox,
    Twilio,
    Meta,
}

/// One conversation in this many goes to the end (the code); the others
/// stop after the names and thank the bot, which keeps the run short.
const FULL_EVERY: usize = 4;

/// The person of conversation `i`: their phone (digits only), what they
/// type, and their WhatsApp profile name.
fn person(i: usize) -> (String, Vec<String>, &'static str) {
    let last = LAST[i % LAST.len()];
    let first = FIRST[(i / LAST.len()) % FIRST.len()];
    let phone = format!("2439977{i:05}");
    let mut texts = vec![
        format!("Bonjour, je suis {last} {first}"),
        last.to_string(),
        first.to_string(),
    ];
    if i.is_multiple_of(FULL_EVERY) {
        texts.extend([format!("19{}", 70 + i % 30), "DA".into(), "Homme".into()]);
    }
    texts.push(format!("Merci {last}, bonne journée"));
    (phone, texts, PROFILE[i % PROFILE.len()])
}

struct Ctx {
    address: String,
    client: reqwest::Client,
}

async fn converse(ctx: &Ctx, i: usize, channel: Channel) {
    let (phone, texts, profile) = person(i);
    for (n, text) in texts.iter().enumerate() {
        let status = match channel {
            Channel::Sandbox => ctx
                .client
                .post(format!("{}/sandbox/sandbox/messages", ctx.address))
                .json(&serde_json::json!({ "from": format!("+{phone}"), "text": text }))
                .send()
                .await
                .unwrap()
                .status(),
            Channel::Twilio => {
                let url = format!("{}/whatsapp/webhook", ctx.address);
                let mut params = twilio_params(
                    &format!("SM{i:016}{n:016}"),
                    &format!("whatsapp:+{phone}"),
                    &format!("whatsapp:{TWILIO_NUMBER}"),
                    text,
                );
                for (k, v) in params.iter_mut() {
                    if *k == "ProfileName" {
                        *v = profile.to_string();
                    }
                }
                let params: Vec<(&str, &str)> =
                    params.iter().map(|(k, v)| (*k, v.as_str())).collect();
                ctx.client
                    .post(&url)
                    .header(
                        "X-Twilio-Signature",
                        twilio_signature(TWILIO_TOKEN, &url, &params),
                    )
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(form_body(&params))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
            Channel::Meta => {
                let body = WebhookBuilder::new()
                    .text(PNID, DISPLAY, &phone, &format!("wamid.dump.{i}.{n}"), text)
                    .build();
                let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                v["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] =
                    serde_json::json!(profile);
                let body = serde_json::to_vec(&v).unwrap();
                signed_webhook(&ctx.address, APP_SECRET, &body)
                    .await
                    .status()
            }
        };
        assert_eq!(status, 200, "{channel:?} conversation {i}, message {n}");
    }
}

/// Every row of every table, as text, by table.
pub(crate) async fn dump_text(app: &TestApp) -> Vec<(String, String)> {
    let db = &app.state.db;
    let tables: Vec<String> = match app.backend {
        Backend::Sqlite => on_db!(db, p => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table'").fetch_all(p).await.unwrap()),
        Backend::Postgres => on_db!(db, p => sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_all(p).await.unwrap()),
    };
    let mut out = Vec::new();
    for table in tables {
        let rows: Vec<String> = match app.backend {
            Backend::Sqlite => {
                let columns: Vec<String> = on_db!(db, p => sqlx::query_scalar(
                    "SELECT name FROM pragma_table_info($1)").bind(&table).fetch_all(p).await.unwrap());
                let row = columns
                    .iter()
                    .map(|c| format!("COALESCE(CAST(\"{c}\" AS TEXT), '')"))
                    .collect::<Vec<_>>()
                    .join(" || char(9) || ");
                let sql = format!("SELECT CAST({row} AS BLOB) FROM \"{table}\"");
                let rows: Vec<Vec<u8>> =
                    on_db!(db, p => sqlx::query_scalar(&sql).fetch_all(p).await.unwrap());
                rows.iter()
                    .map(|r| String::from_utf8_lossy(r).into_owned())
                    .collect()
            }
            Backend::Postgres => {
                let sql = format!("SELECT t::text FROM \"{table}\" t");
                on_db!(db, p => sqlx::query_scalar(&sql).fetch_all(p).await.unwrap())
            }
        };
        for row in rows {
            out.push((table.clone(), row));
        }
    }
    out
}

#[apply(both_backends)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_after_200_conversations_holds_no_typed_or_profile_name_and_no_number_outside_contacts_and_outbox(
    #[case] backend: Backend,
) {
    let fake = FakeMeta::start().await;
    fake.add_number(PNID, DISPLAY, META_TOKEN);
    let base = fake.base_url();
    let Some(app) = spawn_app_with(backend, |c| {
        c.meta = Some(MetaEnv {
            access_token: Secret::new(META_TOKEN),
            phone_number_id: PNID.into(),
            verify_token: Secret::new("verify-token-of-the-app"),
            app_secret: Secret::new(APP_SECRET),
            app_id: None,
        });
        c.meta_graph_url = base;
    })
    .await
    else {
        return;
    };
    // The outbox worker's own pace (20 sends a second) is not under test.
    on_db!(&app.state.db, p => sqlx::query("UPDATE whatsapp_accounts SET send_rate_per_second = 10000")
        .execute(p).await.map(|_| ())).unwrap();
    app.state.accounts.clear();
    let ctx = Arc::new(Ctx {
        address: app.address.clone(),
        client: app.client.clone(),
    });
    let limit = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let channel = match i % 3 {
            0 => Channel::Sandbox,
            1 => Channel::Twilio,
            _ => Channel::Meta,
        };
        let (ctx, limit) = (ctx.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            converse(&ctx, i, channel).await;
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    // Every conversation got its code (the run did what it says).
    assert_eq!(
        app.count("uic_registration_phones").await,
        (200 / FULL_EVERY) as i64,
        "one registration phone per conversation that went to the end"
    );
    // The Meta replies have gone out (so the outbox is in its final state).
    let start = Instant::now();
    while app.count("outbox WHERE status <> 'sent'").await > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "outbox never drained"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.count("webhook_dead_letters").await, 0);

    let dump = dump_text(&app).await;
    assert!(dump.iter().any(|(t, _)| t == "messages"));
    let mut problems = Vec::new();
    let names = LAST
        .iter()
        .chain(&FIRST)
        .chain(&PROFILE)
        .map(|n| n.to_lowercase());
    let names: Vec<String> = names
        .chain(
            PROFILE
                .iter()
                .flat_map(|p| p.split(' '))
                .map(str::to_lowercase),
        )
        .collect();
    for (table, row) in &dump {
        let lower = row.to_lowercase();
        for name in &names {
            if lower.contains(name.as_str()) {
                problems.push(format!("{name:?} in {table}: {row}"));
            }
        }
        if table != "contacts" && table != "outbox" {
            for i in 0..200 {
                let (phone, ..) = person(i);
                if row.contains(&phone) {
                    problems.push(format!("+{phone} in {table}: {row}"));
                }
            }
        }
    }
    problems.truncate(20);
    assert!(
        problems.is_empty(),
        "{backend:?} dump holds:\n{}",
        problems.join("\n")
    );
}
