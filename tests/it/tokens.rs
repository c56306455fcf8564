//! A Meta number's token from its page, against the Meta fake: a token is
//! checked before it replaces the old one (a bad one is refused and the
//! old one keeps sending); a token Meta stops taking (190) holds the
//! number's messages, and after a rotation they go out in order with the
//! new one; a rotation is rolled back while the new token has not sent
//! yet; a short-lived token is exchanged for a 60-day one; « Vérifier
//! maintenant » records what Meta says, an expired token shown expired.

use crate::both_backends;
use crate::fakes::meta::{FakeMeta, WebhookBuilder, signed_webhook};
use crate::helpers::*;
use crate::staff::Browser;
use reqwest::StatusCode;
use rstest_reuse::apply;
use std::time::{Duration, Instant};
use uic_inbox::auth::BuiltinRole;
use uic_inbox::on_db;

pub(crate) const PNID: &str = "105550001112223";
pub(crate) const DISPLAY: &str = "243815551111";
pub(crate) const APP_ID: &str = "123456789012345";
pub(crate) const APP_SECRET: &str = "00112233445566778899aabbccddeeff";
pub(crate) const FIRST_TOKEN: &str = "EAAGfirstTokenOfTheNumber000000000001";
pub(crate) const SECOND_TOKEN: &str = "EAAGsecondTokenOfTheNumber00000000002";
const THIRD_TOKEN: &str = "EAAGthirdTokenOfTheNumber000000000003";
const BAD_TOKEN: &str = "EAAGnotATokenMetaKnows0000000000000009";
pub(crate) const PERSON: &str = "243990007777";

pub(crate) struct Setup {
    pub app: TestApp,
    pub fake: FakeMeta,
    pub admin: Browser,
    /// The number's page.
    pub path: String,
    pub account_id: i64,
    pub slug: String,
}

/// A Meta number `slug` of the Meta fake (`PNID`, its app), set up by an
/// administrator through its page with `FIRST_TOKEN`.
pub(crate) async fn setup_named(backend: Backend, slug: &str) -> Option<Setup> {
    let fake = FakeMeta::start().await;
    fake.set_app(APP_ID, APP_SECRET);
    fake.add_number(PNID, DISPLAY, FIRST_TOKEN);
    let base = fake.base_url();
    let app = spawn_app_with(backend, |c| c.meta_graph_url = base).await?;
    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    let page = admin
        .post("/accounts", &[("slug", slug), ("name", slug)])
        .await;
    let path = page.location.unwrap();
    let page = admin
        .post(
            &format!("{path}/channel"),
            &[
                ("provider", "meta"),
                ("meta_phone_number_id", PNID),
                ("meta_app_id", APP_ID),
                ("meta_app_secret", APP_SECRET),
                ("meta_access_token", FIRST_TOKEN),
                ("meta_verify_token", "verify-of-the-number"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let account_id = path.rsplit('/').next().unwrap().parse().unwrap();
    Some(Setup {
        app,
        fake,
        admin,
        path,
        account_id,
        slug: slug.to_string(),
    })
}

async fn setup(backend: Backend) -> Option<Setup> {
    setup_named(backend, "matadi").await
}

impl Setup {
    async fn say(&self, wamid: &str, text: &str) {
        let body = WebhookBuilder::new()
            .text(PNID, DISPLAY, PERSON, wamid, text)
            .build();
        let res = signed_webhook(&self.app.address, APP_SECRET, &body).await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    /// The bearer token of the last accepted send to the person.
    fn last_send_token(&self) -> Option<String> {
        self.fake
            .requests()
            .iter()
            .rev()
            .find(|r| r.method == "POST" && r.path.ends_with("/messages") && r.status == 200)
            .and_then(|r| r.authorization.clone())
            .map(|a| a.trim_start_matches("Bearer ").to_string())
    }

    /// Waits (30 s at most: a safety net) for `n` texts sent to the person.
    async fn texts(&self, n: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let texts = self.fake.sent_texts_to(PERSON);
            if texts.len() >= n {
                return texts;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{} of {n} texts: {texts:#?}",
                texts.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn token_status(&self) -> String {
        on_db!(&self.app.state.db, p => sqlx::query_scalar(
            "SELECT token_status FROM whatsapp_accounts WHERE id = $1")
            .bind(self.account_id).fetch_one(p).await.unwrap())
    }

    /// Replies waiting while the number's token is refused (the first
    /// one tried carries Meta's 190; the others wait untried).
    async fn held(&self) -> i64 {
        if self.token_status().await != "invalid" {
            return 0;
        }
        self.app.count("outbox WHERE status = 'pending'").await
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn a_token_is_checked_before_use_held_messages_follow_the_new_one_and_a_rotation_rolls_back(
    #[case] backend: Backend,
) {
    let Some(mut s) = setup(backend).await else {
        return;
    };
    s.say("wamid.m1", "Bonjour").await;
    let texts = s.texts(1).await;
    assert!(texts[0].contains("Question 1 sur 5"), "{texts:?}");
    assert_eq!(s.last_send_token().as_deref(), Some(FIRST_TOKEN));

    // A token Meta does not know: refused, nothing changed, FIRST_TOKEN still sends.
    let page = s
        .admin
        .post(&format!("{}/token", s.path), &[("token", BAD_TOKEN)])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("n&#39;a pas été enregistré"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(BAD_TOKEN),
        "the token typed is not shown back"
    );
    // 10,000 characters, or a NUL: refused the same way, nothing asked of
    // Meta for them.
    let asked = s.fake.requests().len();
    for hostile in ["E".repeat(10_000), format!("{SECOND_TOKEN}\u{0}")] {
        let page = s
            .admin
            .post(&format!("{}/token", s.path), &[("token", hostile.as_str())])
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(s.fake.requests().len(), asked);
    s.say("wamid.m2", "Mbengue").await;
    s.texts(2).await;
    assert_eq!(s.last_send_token().as_deref(), Some(FIRST_TOKEN));

    // Meta stops taking FIRST_TOKEN (revoked in Business Manager): 190, the number's
    // messages are held, not lost.
    s.fake.set_token(PNID, SECOND_TOKEN);
    s.say("wamid.m3", "Ibrahim").await;
    s.say("wamid.m4", "1997").await;
    let start = Instant::now();
    while s.held().await < 2 {
        assert!(start.elapsed() < Duration::from_secs(30), "never held");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.token_status().await, "invalid");
    let page = s.admin.get(&s.path).await;
    assert!(
        page.body.contains("refusé par Meta"),
        "the token's state on the page"
    );

    // Rotated to SECOND_TOKEN (checked with Meta first): the held replies go out, in
    // order, with SECOND_TOKEN.
    let page = s
        .admin
        .post(&format!("{}/token", s.path), &[("token", SECOND_TOKEN)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let texts = s.texts(4).await;
    assert!(texts[2].contains("Question 3 sur 5"), "{texts:#?}");
    assert!(texts[3].contains("Question 4 sur 5"), "{texts:#?}");
    assert_eq!(s.last_send_token().as_deref(), Some(SECOND_TOKEN));
    assert_eq!(s.token_status().await, "ok");

    // THIRD_TOKEN put in place, nothing sent with it yet: back to SECOND_TOKEN in one click.
    s.fake.add_token(PNID, THIRD_TOKEN);
    let page = s
        .admin
        .post(&format!("{}/token", s.path), &[("token", THIRD_TOKEN)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = s.admin.get(&s.path).await;
    assert!(
        page.body.contains("Revenir au jeton précédent"),
        "{}",
        page.body
    );
    let page = s
        .admin
        .post(&format!("{}/token/rollback", s.path), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    s.say("wamid.m5", "DA").await;
    s.texts(5).await;
    assert_eq!(s.last_send_token().as_deref(), Some(SECOND_TOKEN));
    // Nothing to roll back to any more.
    let page = s
        .admin
        .post(&format!("{}/token/rollback", s.path), &[])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);

    // Every step audited, never a token.
    let audit: Vec<(String, String)> = on_db!(&s.app.state.db, p => sqlx::query_as(
        "SELECT action, detail FROM audit_log WHERE action LIKE 'token.%' ORDER BY id")
        .fetch_all(p).await.unwrap());
    let actions: Vec<&str> = audit.iter().map(|(a, _)| a.as_str()).collect();
    // The 190 while sending is audited once, by the outbox.
    assert_eq!(
        actions,
        [
            "token.refused",
            "token.rotate",
            "token.rotate",
            "token.roll_back"
        ]
    );
    for (_, detail) in &audit {
        for t in [FIRST_TOKEN, SECOND_TOKEN, THIRD_TOKEN] {
            assert!(!detail.contains(t));
        }
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn a_short_lived_token_is_exchanged_and_an_expired_one_is_shown_expired(
    #[case] backend: Backend,
) {
    let Some(mut s) = setup(backend).await else {
        return;
    };
    // FIRST_TOKEN is a dashboard token: 24 hours.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    s.fake.set_token_kind(FIRST_TOKEN, "USER");
    s.fake.set_token_expiry(FIRST_TOKEN, now + 23 * 3600);
    let page = s.admin.post(&format!("{}/token/check", s.path), &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = s.admin.get(&s.path).await;
    assert!(page.body.contains("temporaire (24 h)"), "{}", page.body);
    assert!(page.body.contains("expire bientôt"));

    let page = s
        .admin
        .post(&format!("{}/token/exchange", s.path), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let expires: Option<time::OffsetDateTime> = on_db!(&s.app.state.db, p => sqlx::query_scalar(
        "SELECT expires_at FROM token_life").fetch_one(p).await.unwrap());
    let days = (expires.unwrap() - time::OffsetDateTime::now_utc()).whole_days();
    assert!((58..=60).contains(&days), "{days} days");
    let page = s.admin.get(&s.path).await;
    assert!(
        page.body.contains("longue durée (60 jours)"),
        "{}",
        page.body
    );
    s.say("wamid.x1", "Bonjour").await;
    s.texts(1).await;
    let used = s.last_send_token().unwrap();
    assert_ne!(used, FIRST_TOKEN, "the exchanged token sends");

    // The exchanged token expires (Meta's clock): checking says so and
    // holds the number's messages.
    s.fake.set_token_expiry(&used, now - 60);
    let page = s.admin.post(&format!("{}/token/check", s.path), &[]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("a expiré le"), "{}", page.body);
    assert_eq!(s.token_status().await, "invalid");
    // Found refused by hand: audited once, in the staff member's name.
    let page = s.admin.post(&format!("{}/token/check", s.path), &[]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let refused: Vec<String> = on_db!(&s.app.state.db, p => sqlx::query_scalar(
        "SELECT actor FROM audit_log WHERE action = 'token.refused'")
        .fetch_all(p).await.unwrap());
    assert_eq!(refused, ["admin@ngo.example"]);
    let page = s.admin.get(&s.path).await;
    assert!(page.body.contains("expiré : les messages"), "{}", page.body);
    // An expired token cannot be exchanged.
    let page = s
        .admin
        .post(&format!("{}/token/exchange", s.path), &[])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("Meta a refusé l&#39;échange"),
        "{}",
        page.body
    );
}
