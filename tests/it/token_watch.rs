//! The token watch against the Meta fake: each Meta number's token checked
//! about once a day (two instances never both), the 14-, 7-, 3- and 1-day
//! expiry warnings audited once each, a token Meta refuses (revoked, or
//! error 190 while sending) audited once; the `token check` and `token
//! exchange` commands; the days-left gauge in `/metrics`.

use crate::both_backends;
use crate::fakes::meta::{Failure, WebhookBuilder, signed_webhook};
use crate::helpers::*;
use reqwest::StatusCode;
use rstest_reuse::apply;
use std::process::Output;
use std::time::{Duration as StdDuration, Instant};
use time::{Duration, OffsetDateTime};
use uic_inbox::db::DbUrl;
use uic_inbox::on_db;
use uic_inbox::tokens::watch;

use crate::tokens::{
    APP_SECRET, DISPLAY, FIRST_TOKEN as WATCHED_TOKEN, PERSON, PNID, SECOND_TOKEN as NEW_TOKEN,
    Setup,
};

/// A Meta number `slug` set up through its page (`tokens::setup_named`).
async fn setup(backend: Backend, slug: &str) -> Option<Setup> {
    crate::tokens::setup_named(backend, slug).await
}

impl Setup {
    /// WATCHED_TOKEN expires `left` after `now` (Meta's clock is the real one).
    fn expires_in(&self, now: OffsetDateTime, left: Duration) {
        self.fake
            .set_token_expiry(WATCHED_TOKEN, (now + left).unix_timestamp());
    }

    /// `(actor, detail)` of the audit entries `action`, oldest first, in the
    /// number's tenant and about it.
    async fn audit(&self, action: &str) -> Vec<(String, String)> {
        let target = format!("account:{}", self.account_id);
        let rows: Vec<(String, String, String)> = on_db!(&self.app.state.db, p => sqlx::query_as(
            "SELECT l.actor, l.detail, l.target FROM audit_log l
             JOIN whatsapp_accounts a ON a.tenant_id = l.tenant_id
             WHERE l.action = $1 AND a.id = $2 ORDER BY l.id")
            .bind(action).bind(self.account_id).fetch_all(p).await.unwrap());
        for (_, detail, t) in &rows {
            assert_eq!(t, &target);
            for secret in [WATCHED_TOKEN, NEW_TOKEN, APP_SECRET] {
                assert!(!detail.contains(secret), "a secret in the audit: {detail}");
            }
        }
        rows.into_iter().map(|(a, d, _)| (a, d)).collect()
    }

    /// `uic-inbox ARGS` on the app's database, Meta being the fake.
    async fn command(&self, args: &[&str]) -> Output {
        let url = match &self.app.config.database_url {
            DbUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
            DbUrl::Postgres(url) => url.clone(),
        };
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_uic-inbox"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", url)
            .env("UIC_SALT", TEST_SALT)
            .env("META_GRAPH_URL", self.fake.base_url())
            .env("LOG_LEVEL", "error");
        if self.app.backend == Backend::Postgres {
            cmd.env("SECRET_KEY", TEST_SECRET_KEY);
        }
        // The fake answers on this test's runtime: wait off it.
        tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
            .await
            .unwrap()
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn each_warning_is_audited_once_and_a_second_pass_the_same_day_checks_nothing(
    #[case] backend: Backend,
) {
    let Some(s) = setup(backend, "watch-warn").await else {
        return;
    };
    let now = OffsetDateTime::now_utc();
    s.expires_in(now, Duration::days(10) + Duration::hours(1));

    // 10 days left: the 14-day warning (its threshold is passed).
    let pass = watch::run_once(&s.app.state, now).await.unwrap();
    assert_eq!(pass.checked, [s.account_id]);
    assert_eq!(pass.warned, [(s.account_id, 14)]);
    assert_eq!(
        s.audit("token.expiring").await,
        [(watch::ACTOR.to_string(), "10 days left".to_string())]
    );

    // An hour later: the number is not checked again, nothing new.
    let pass = watch::run_once(&s.app.state, now + Duration::hours(1))
        .await
        .unwrap();
    assert!(pass.checked.is_empty(), "{pass:?}");
    assert!(pass.warned.is_empty(), "{pass:?}");
    assert_eq!(s.audit("token.expiring").await.len(), 1);

    // Four days later, 6 days left: checked again, the 7-day warning.
    let later = now + Duration::days(4);
    let pass = watch::run_once(&s.app.state, later).await.unwrap();
    assert_eq!(pass.checked, [s.account_id]);
    assert_eq!(pass.warned, [(s.account_id, 7)]);
    let audit = s.audit("token.expiring").await;
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[1].1, "6 days left");
    assert_eq!(s.audit("token.refused").await.len(), 0);
    assert_eq!(s.token_status().await, "ok");
}

#[apply(both_backends)]
#[tokio::test]
async fn two_instances_running_the_watch_at_once_check_and_warn_once(#[case] backend: Backend) {
    let Some(s) = setup(backend, "watch-twice").await else {
        return;
    };
    let other = s.app.second_instance().await;
    let now = OffsetDateTime::now_utc();
    s.expires_in(now, Duration::days(2) + Duration::hours(1));
    let (a, b) = tokio::join!(
        watch::run_once(&s.app.state, now),
        watch::run_once(&other.state, now)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.checked.len() + b.checked.len(), 1, "{a:?} {b:?}");
    assert_eq!(a.warned.len() + b.warned.len(), 1, "{a:?} {b:?}");
    let audit = s.audit("token.expiring").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    // First seen 2 days before: the 3-day warning only.
    assert_eq!(audit[0].1, "2 days left");
}

#[apply(both_backends)]
#[tokio::test]
async fn a_revoked_token_holds_the_number_and_is_audited_once(#[case] backend: Backend) {
    let Some(s) = setup(backend, "watch-revoked").await else {
        return;
    };
    let now = OffsetDateTime::now_utc();
    s.expires_in(now, Duration::days(5));
    s.fake.revoke_token(WATCHED_TOKEN);
    let pass = watch::run_once(&s.app.state, now).await.unwrap();
    assert_eq!(pass.refused, [s.account_id]);
    assert_eq!(s.token_status().await, "invalid");
    // Refused: no expiry warning on top.
    assert!(pass.warned.is_empty(), "{pass:?}");
    let pass = watch::run_once(&s.app.state, now + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(pass.checked, [s.account_id], "checked again the next day");
    assert!(pass.refused.is_empty());
    let audit = s.audit("token.refused").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].0, watch::ACTOR);
    assert!(!audit[0].1.is_empty());
    // The number's health turned bad with nobody on its page: the watch
    // recorded the incident, once.
    let incidents = s.audit("number.incident").await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert!(incidents[0].1.contains("token"), "{incidents:?}");
}

#[apply(both_backends)]
#[tokio::test]
async fn a_token_refused_while_sending_is_audited_once_with_the_error_code(
    #[case] backend: Backend,
) {
    let Some(s) = setup(backend, "watch-190").await else {
        return;
    };
    // Meta stops taking WATCHED_TOKEN: the next sends get 190.
    s.fake.set_token(PNID, NEW_TOKEN);
    for (wamid, text) in [("wamid.w1", "Bonjour"), ("wamid.w2", "Mbengue")] {
        let body = WebhookBuilder::new()
            .text(PNID, DISPLAY, PERSON, wamid, text)
            .build();
        let res = signed_webhook(&s.app.address, APP_SECRET, &body).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let start = Instant::now();
    while s.token_status().await != "invalid" {
        assert!(
            start.elapsed() < StdDuration::from_secs(30),
            "never refused"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    // The watch finds it refused too: still one entry.
    watch::run_once(&s.app.state, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let audit = s.audit("token.refused").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].0, "outbox");
    assert!(audit[0].1.contains("190"), "{audit:?}");
}

#[apply(both_backends)]
#[tokio::test]
async fn token_check_exits_1_for_a_token_expiring_soon_and_0_for_a_good_one(
    #[case] backend: Backend,
) {
    let Some(s) = setup(backend, "watch-cli").await else {
        return;
    };
    let now = OffsetDateTime::now_utc();
    let said = |o: &Output| {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        for secret in [WATCHED_TOKEN, APP_SECRET] {
            assert!(!text.contains(secret), "a secret printed: {text}");
        }
        text
    };
    s.expires_in(now, Duration::days(5) + Duration::hours(1));
    let out = s.command(&["token", "check"]).await;
    let text = said(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("watch-cli "))
        .unwrap_or_else(|| panic!("no line for the number: {text}"));
    assert!(line.contains("expiring") && line.contains(" 5 "), "{line}");

    s.expires_in(now, Duration::days(30) + Duration::hours(1));
    let out = s.command(&["token", "check"]).await;
    let text = said(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("good"), "{text}");
    // Within 40 days is asked: 30 is too soon.
    let out = s.command(&["token", "check", "--days", "40"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));

    // A revoked token: refused, recorded, audited once.
    s.fake.revoke_token(WATCHED_TOKEN);
    let out = s.command(&["token", "check"]).await;
    let text = said(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("refused"), "{text}");
    assert_eq!(s.token_status().await, "invalid");
    assert_eq!(s.audit("token.refused").await.len(), 1);
}

#[apply(both_backends)]
#[tokio::test]
async fn token_exchange_puts_a_60_day_token_in_place_and_prints_no_token(#[case] backend: Backend) {
    let Some(s) = setup(backend, "watch-exchange").await else {
        return;
    };
    let now = OffsetDateTime::now_utc();
    s.fake.set_token_kind(WATCHED_TOKEN, "USER");
    s.expires_in(now, Duration::hours(23));
    let out = s
        .command(&["token", "exchange", "--account", "watch-exchange"])
        .await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("watch-exchange") && text.contains("expires"),
        "{text}"
    );
    assert!(
        !text.contains("EAA") && !text.contains(APP_SECRET),
        "{text}"
    );
    let expires: Option<OffsetDateTime> = on_db!(&s.app.state.db, p => sqlx::query_scalar(
        "SELECT expires_at FROM token_life WHERE account_id = $1")
        .bind(s.account_id).fetch_one(p).await.unwrap());
    let days = (expires.unwrap() - now).whole_days();
    assert!((58..=60).contains(&days), "{days} days");
    assert_eq!(s.audit("token.exchange").await.len(), 1);

    // An unknown slug (with a control character): a clear error, exit 1.
    let out = s
        .command(&["token", "exchange", "--account", "nope\u{7}"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no number has the slug"), "{err}");
    assert!(!err.contains('\u{7}'), "{err}");
}

#[apply(both_backends)]
#[tokio::test]
async fn the_days_left_gauge_is_in_the_metrics(#[case] backend: Backend) {
    let slug = format!("watch-gauge-{backend:?}").to_lowercase();
    let Some(s) = setup(backend, &slug).await else {
        return;
    };
    let now = OffsetDateTime::now_utc();
    s.expires_in(now, Duration::days(12) + Duration::hours(1));
    watch::run_once(&s.app.state, now).await.unwrap();
    let text = s.app.get("/metrics").await.text().await.unwrap();
    let series = format!("uic_token_days_left{{account=\"{}\"}} 12", s.slug);
    assert!(
        text.lines().any(|l| l == series),
        "{series} not in:\n{}",
        text.lines()
            .filter(|l| l.contains("token"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn a_warning_is_recorded_once_even_when_two_passes_decided_to_give_it(
    #[case] backend: Backend,
) {
    let Some(s) = setup(backend, "watch-race").await else {
        return;
    };
    let now = OffsetDateTime::now_utc();
    s.expires_in(now, Duration::days(20));
    watch::run_once(&s.app.state, now).await.unwrap();
    let tenant_id: i64 = on_db!(&s.app.state.db, p => sqlx::query_scalar(
        "SELECT tenant_id FROM whatsapp_accounts WHERE id = $1")
        .bind(s.account_id).fetch_one(p).await.unwrap());
    let entry = uic_inbox::audit::Entry {
        tenant_id: Some(tenant_id),
        user_id: None,
        actor: watch::ACTOR,
        action: "token.expiring",
        target: format!("account:{}", s.account_id),
        detail: "13 days left".into(),
        ip: None,
    };
    let record = |days| {
        uic_inbox::tokens::store::record_warning(&s.app.state.db, s.account_id, days, &entry, now)
    };
    // Two passes both read "no warning given" and both give the 14-day one:
    // the second is refused, and writes no entry.
    assert!(record(14).await.unwrap());
    assert!(!record(14).await.unwrap());
    // A larger one after a smaller one is refused too; a smaller one goes.
    assert!(record(7).await.unwrap());
    assert!(!record(14).await.unwrap());
    assert_eq!(s.audit("token.expiring").await.len(), 2);
}

#[test]
fn token_check_refuses_a_number_of_days_out_of_range_without_touching_anything() {
    for days in ["99999999999999999", "-3", "seven", "7\u{7}"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_uic-inbox"))
            .args(["token", "check", &format!("--days={days}")])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .expect("the binary runs");
        assert_eq!(out.status.code(), Some(2), "{days:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--days"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn a_number_meta_could_not_be_asked_about_is_checked_at_the_next_pass(
    #[case] backend: Backend,
) {
    let Some(s) = setup(backend, "watch-down").await else {
        return;
    };
    let now = OffsetDateTime::now_utc();
    s.expires_in(now, Duration::days(30));
    s.fake.fail_all(Some(Failure::Status(503)));
    let pass = watch::run_once(&s.app.state, now).await.unwrap();
    assert_eq!(pass.not_checked, [s.account_id]);
    assert!(pass.checked.is_empty() && pass.refused.is_empty());
    assert_eq!(s.token_status().await, "ok", "unreachable is not refused");
    s.fake.fail_all(None);
    let pass = watch::run_once(&s.app.state, now + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(pass.checked, [s.account_id], "{pass:?}");
}
