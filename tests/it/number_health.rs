//! Each number's health: the strip under each number (numbers page, home
//! page) shows its facts; a fact that turns bad is one `number.incident`
//! audit entry, whichever of two instances notices it; the banner (a
//! token to replace, an incident not over) shows on every page to those
//! who may replace the token, and to nobody else.

use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use rstest_reuse::apply;
use time::{Duration, OffsetDateTime};
use uic_inbox::auth::{BuiltinRole, Permission};
use uic_inbox::on_db;
use uic_inbox::tenancy::Provider;
use uic_inbox::tenancy::health::{self, Fact};

const DISPLAY: &str = "243815551111";
const PERSON: &str = "+243990004444";

/// A Meta number named `name` whose token expires in `days` (and an
/// hour), checked an hour ago, with Meta's quality and limit.
async fn meta_number(app: &TestApp, slug: &str, days: i64, quality: &str) -> i64 {
    let tenant = app.default_tenant().await;
    let account = app
        .account_in(tenant, slug, Provider::Meta, Some(DISPLAY), None)
        .await;
    set_token(app, account.id, days, quality).await;
    account.id
}

async fn set_token(app: &TestApp, id: i64, days: i64, quality: &str) {
    let now = OffsetDateTime::now_utc();
    let tenant = app.default_tenant().await;
    on_db!(&app.state.db, p => sqlx::query(
        "DELETE FROM token_life WHERE account_id = $1").bind(id).execute(p).await.unwrap().rows_affected());
    on_db!(&app.state.db, p => sqlx::query(
        "INSERT INTO token_life (account_id, tenant_id, kind, expires_at, validated_at,
            quality_rating, messaging_limit, updated_at)
         VALUES ($1, $2, 'long_lived', $3, $4, $5, 'TIER_1K', $4)")
        .bind(id).bind(tenant).bind(now + Duration::days(days) + Duration::hours(1))
        .bind(now - Duration::hours(1)).bind(quality)
        .execute(p).await.unwrap().rows_affected());
}

async fn incidents(app: &TestApp) -> Vec<(String, String)> {
    on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT target, detail FROM audit_log WHERE action = 'number.incident' ORDER BY id")
        .fetch_all(p).await.unwrap())
}

/// The sandbox number gets a message, a failed reply (Meta's 131047) and
/// its send stuck for an hour (claimed elsewhere, so no worker here
/// touches them).
async fn troubled_sandbox(app: &TestApp) {
    app.sandbox_say(PERSON, "Bonjour").await;
    let now = OffsetDateTime::now_utc();
    on_db!(&app.state.db, p => sqlx::query(
        "UPDATE messages SET status = 'failed', error_code = '131047', updated_at = $1
         WHERE id = (SELECT MAX(id) FROM messages WHERE direction = 'out')")
        .bind(now).execute(p).await.unwrap().rows_affected());
    on_db!(&app.state.db, p => sqlx::query(
        "INSERT INTO outbox (tenant_id, account_id, conversation_id, message_id, payload, status,
            next_attempt_at, claimed_by, claimed_until, created_at, updated_at)
         SELECT tenant_id, account_id, conversation_id, id, '{}', 'sending', $1, 'elsewhere', $2, $1, $1
         FROM messages WHERE direction = 'out' ORDER BY id DESC LIMIT 1")
        .bind(now - Duration::hours(1)).bind(now + Duration::hours(1))
        .execute(p).await.unwrap().rows_affected());
}

#[apply(both_backends)]
#[tokio::test]
async fn the_strips_show_each_numbers_facts_and_a_bad_turn_is_one_incident(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let matadi = meta_number(&app, "matadi", 3, "RED").await;
    troubled_sandbox(&app).await;
    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;

    let page = admin.get("/accounts").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    for fact in [
        "jeton : expire dans 3 j",
        "qualité : RED",
        "limite : TIER_1K",
        "dernier message reçu : à l&#39;instant",
        "dernier échec d&#39;envoi : à l&#39;instant (code 131047)",
        "en attente d&#39;envoi : 1",
        "envois bloqués",
        &format!("id=\"strip-{matadi}\""),
    ] {
        assert!(body.contains(fact), "{fact} missing from {body}");
    }
    assert!(
        !body.contains(DISPLAY),
        "no phone number on the numbers page"
    );

    // Two numbers turned bad: one entry each, naming the facts only.
    let seen = incidents(&app).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    let of_matadi = seen
        .iter()
        .find(|(t, _)| *t == format!("account:{matadi}"))
        .unwrap();
    assert_eq!(of_matadi.1, "token expiring (3 days); quality RED");
    assert!(seen.iter().any(|(_, d)| d == "sends held (1 waiting)"));
    for (_, d) in &seen {
        assert!(!d.contains(DISPLAY) && !d.contains(PERSON));
    }

    // The administrators' banner names the number whose sends are held,
    // and the one whose token expires (its own line).
    let page = admin.get("/conversations").await;
    assert!(
        page.body.contains("a un problème : envois bloqués."),
        "{}",
        page.body
    );
    assert!(page.body.contains("href=\"/accounts#strip-"));
    assert!(
        page.body
            .contains(&format!("href=\"/accounts/{matadi}#token\""))
    );

    // Seen again (the home page too): nothing new.
    assert_eq!(admin.get("/").await.status, StatusCode::OK);
    admin.get("/accounts").await;
    assert_eq!(incidents(&app).await.len(), 2);

    // Two instances noticing the same change from the same reading: one
    // entry. The quality turns bad again after a good spell.
    set_token(&app, matadi, 60, "GREEN").await;
    let tenant = app.default_tenant().await;
    let view = access(tenant, Permission::AccountsView);
    let now = OffsetDateTime::now_utc();
    let good = health::strips(&app.state.db, &view, now).await.unwrap();
    health::notice(&app.state.db, &view, &good).await.unwrap();
    set_token(&app, matadi, 60, "RED").await;
    let read_once = health::strips(&app.state.db, &view, now).await.unwrap();
    let second = app.second_instance().await;
    let (a, b) = tokio::join!(
        health::notice(&app.state.db, &view, &read_once),
        health::notice(&second.state.db, &view, &read_once),
    );
    let raised: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].account_id, matadi);
    assert_eq!(raised[0].facts, vec![Fact::Quality]);
    let seen = incidents(&app).await;
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].1, "quality RED");
}

#[apply(both_backends)]
#[tokio::test]
async fn the_token_banner_shows_to_those_who_may_replace_the_token_only(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let matadi = meta_number(&app, "matadi", 3, "GREEN").await;
    // A name staff typed is shown as text, never as markup.
    on_db!(&app.state.db, p => sqlx::query(
        "UPDATE whatsapp_accounts SET name = 'Matadi <script>x</script>' WHERE id = $1")
        .bind(matadi).execute(p).await.unwrap().rows_affected());
    let tenant = app.default_tenant().await;
    let sandbox = uic_inbox::tenancy::store::list_accounts(
        &app.state.db,
        &access(tenant, Permission::AccountsView),
    )
    .await
    .unwrap()
    .into_iter()
    .find(|a| a.provider() == Provider::Sandbox)
    .unwrap()
    .id;

    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    for path in ["/", "/conversations", "/accounts", "/me"] {
        let page = admin.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.body.contains(
                "Le jeton Meta du numéro «\u{a0}Matadi &#60;script&#62;x&#60;/script&#62;\u{a0}» expire dans 3 jours."
            ),
            "no banner on {path}: {}",
            page.body
        );
        assert!(
            page.body
                .contains(&format!("href=\"/accounts/{matadi}#token\"")),
            "{path}"
        );
        assert!(!page.body.contains("<script>x"));
    }

    // An agent, and an administrator of another number only: no banner.
    let mut agent = app.logged_in("agent@ngo.example", BuiltinRole::Agent).await;
    app.staff_user(
        tenant,
        "other@ngo.example",
        Some(BuiltinRole::Administrator),
        Some(sandbox),
    )
    .await;
    let mut other = app.login("other@ngo.example").await;
    for b in [&mut agent, &mut other] {
        let page = b.get("/").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains("Le jeton Meta"), "{}", page.body);
        assert!(!page.body.contains("#token"));
    }

    // Refused by Meta (error 190 while sending): said at once, once the
    // page's cache is cleared (the number page's actions clear it).
    set_token(&app, matadi, 50, "GREEN").await;
    on_db!(&app.state.db, p => sqlx::query(
        "UPDATE whatsapp_accounts SET token_status = 'invalid' WHERE id = $1")
        .bind(matadi).execute(p).await.unwrap().rows_affected());
    app.state.banners.clear();
    let page = admin.get("/").await;
    assert!(
        page.body.contains("Meta refuse le jeton du numéro"),
        "{}",
        page.body
    );
    // A good token: no banner.
    on_db!(&app.state.db, p => sqlx::query(
        "UPDATE whatsapp_accounts SET token_status = 'ok' WHERE id = $1")
        .bind(matadi).execute(p).await.unwrap().rows_affected());
    app.state.banners.clear();
    let page = admin.get("/").await;
    assert!(!page.body.contains("Le jeton Meta") && !page.body.contains("Meta refuse"));
}
