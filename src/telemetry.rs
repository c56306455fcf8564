//! Prometheus metrics, served at `GET /metrics` (`web::metrics`): what an
//! operator watches to see that the bot answers and the numbers send.
//!
//! Counters and histograms are recorded where things happen (the inbox,
//! the outbox worker, the webhook handler, the sweep of idle runs, a staff
//! member's first reply) through the functions below; gauges that the
//! database or the process knows (outbox depth, DHIS-2 queue, live streams,
//! database pools) are read when the page is scraped. Labels name accounts
//! by slug and providers by name: never a phone number, a message or a
//! secret. What happens on a sandbox number is test data: labelled
//! `test="true"`, so that a dashboard can leave it out.
//!
//! The dashboard `deploy/grafana/uic-inbox.json` draws these metrics; a
//! test checks that it uses no other and leaves none out.
//!
//! One recorder per process (the `metrics` crate's global one), installed
//! on first use: several servers in one process (the tests) share it.

use crate::flow::run::Finished;
use crate::inbox::modes::ModeChange;
use crate::inbox::{Change, WaitingReason};
use crate::report::days::RunRow;
use crate::tenancy::{Account, Provider};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;
use time::OffsetDateTime;

/// Messages received, by account and provider.
pub const MESSAGES_IN: &str = "uic_messages_in_total";
/// Messages that left (a TwiML or sandbox answer, or an outbox send the
/// provider accepted), by account and provider.
pub const MESSAGES_OUT: &str = "uic_messages_out_total";
/// Codes issued, by account (sandbox codes are test data: label `test`).
pub const CODES_ISSUED: &str = "uic_codes_issued_total";
/// Sends the provider refused or that failed, by account, provider and
/// the provider's error code (`none` without one).
pub const SEND_FAILURES: &str = "uic_send_failures_total";
/// Time to answer a webhook, by provider and status class.
pub const WEBHOOK_SECONDS: &str = "uic_webhook_duration_seconds";
/// Outbox rows by status, read when scraped.
pub const OUTBOX_ROWS: &str = "uic_outbox_messages";
/// Open live-update streams of this process.
pub const LIVE_STREAMS: &str = "uic_live_streams";
/// Whole days left before a Meta number's token expires (negative once
/// past), by account, read when scraped. A token that never expires (a
/// system user's), or whose expiry is not known yet, has no sample.
pub const TOKEN_DAYS_LEFT: &str = "uic_token_days_left";
/// DHIS-2 sync jobs by state, read when scraped.
pub const DHIS2_JOBS: &str = "uic_dhis2_jobs";
/// Time to sync one batch of registrations (search and import).
pub const DHIS2_BATCH_SECONDS: &str = "uic_dhis2_batch_duration_seconds";
/// Registrations synced.
pub const DHIS2_SYNCED: &str = "uic_dhis2_synced_total";
/// Sync attempts that did not succeed, by outcome (`failed`, `held`,
/// `retry`) and error code (DHIS-2's `E1064`..., or ours: `network`,
/// `http_5xx`, `unauthorized`...).
pub const DHIS2_FAILURES: &str = "uic_dhis2_failures_total";
/// Runs of questions that ended, by account, outcome (`completed`,
/// `escalated`, `left`), the question they ended at (`1` to `5`; `none`
/// when completed) and `test`.
pub const FLOW_RUNS: &str = "uic_flow_runs_total";
/// Conversations the bot handed to staff, by account, reason (`requested`,
/// `failed_answers`, `media`) and `test`.
pub const ESCALATIONS: &str = "uic_escalations_total";
/// Time from the bot handing a person to staff to a staff member's first
/// reply, by reason and `test` (no account: a reply is rare next to a
/// message, and the buckets times the numbers would be many series).
pub const STAFF_WAIT_SECONDS: &str = "uic_staff_wait_seconds";
/// Database connections of this process by pool (SQLite: `writer` and
/// `reader`; PostgreSQL: `main`) and state (`in_use`, `idle`), read when
/// scraped.
pub const DB_CONNECTIONS: &str = "uic_db_connections";
/// The most connections each pool opens, read when scraped.
pub const DB_MAX_CONNECTIONS: &str = "uic_db_max_connections";

/// Buckets of the webhook histogram, in seconds: a webhook answers in a
/// few milliseconds; Twilio gives up at 15 s.
const WEBHOOK_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Buckets of the DHIS-2 batch histogram, in seconds: two calls to a
/// server that may be far away and slow.
const DHIS2_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Buckets of the wait for staff, in seconds: from under a minute to a
/// week (a person handed over on a Friday evening may wait the weekend).
const STAFF_WAIT_BUCKETS: [f64; 13] = [
    30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 43200.0, 86400.0, 172800.0,
    604800.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first call.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(WEBHOOK_SECONDS.into()), &WEBHOOK_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(DHIS2_BATCH_SECONDS.into()),
                        &DHIS2_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(STAFF_WAIT_SECONDS.into()),
                        &STAFF_WAIT_BUCKETS,
                    )
                })
                .map(PrometheusBuilder::build_recorder);
            match recorder {
                Ok(recorder) => {
                    let handle = recorder.handle();
                    if metrics::set_global_recorder(recorder).is_err() {
                        tracing::warn!("metrics: another recorder was installed first; /metrics shows only its own");
                    }
                    describe();
                    handle
                }
                // Only with an empty bucket list, which ours is not.
                Err(e) => {
                    tracing::error!(error = %e, "metrics: the recorder could not be built; /metrics is empty");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            }
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(MESSAGES_IN, "Messages received, by account and provider.");
    metrics::describe_counter!(
        MESSAGES_OUT,
        "Messages that left (TwiML or sandbox answers, outbox sends the provider accepted)."
    );
    metrics::describe_counter!(CODES_ISSUED, "Codes (UIC) issued, by account.");
    metrics::describe_counter!(
        SEND_FAILURES,
        "Sends refused by the provider or failed, by account, provider and error code."
    );
    metrics::describe_histogram!(
        WEBHOOK_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer a WhatsApp webhook."
    );
    metrics::describe_gauge!(OUTBOX_ROWS, "Outbox messages by status.");
    metrics::describe_gauge!(DHIS2_JOBS, "DHIS-2 sync jobs by state.");
    metrics::describe_histogram!(
        DHIS2_BATCH_SECONDS,
        metrics::Unit::Seconds,
        "Time to sync one batch of registrations with DHIS-2 (search and import)."
    );
    metrics::describe_counter!(DHIS2_SYNCED, "Registrations synced with DHIS-2.");
    metrics::describe_counter!(
        DHIS2_FAILURES,
        "DHIS-2 sync attempts that did not succeed, by outcome and error code."
    );
    metrics::describe_gauge!(LIVE_STREAMS, "Open live-update streams of this process.");
    metrics::describe_gauge!(
        TOKEN_DAYS_LEFT,
        "Whole days before a Meta number's access token expires (no sample: it never expires)."
    );
    metrics::describe_counter!(
        FLOW_RUNS,
        "Runs of questions that ended, by account, outcome and the question they ended at."
    );
    metrics::describe_counter!(
        ESCALATIONS,
        "Conversations the bot handed to staff, by account and reason."
    );
    metrics::describe_histogram!(
        STAFF_WAIT_SECONDS,
        metrics::Unit::Seconds,
        "Time from the bot handing a person to staff to a staff member's first reply."
    );
    metrics::describe_gauge!(
        DB_CONNECTIONS,
        "Database connections of this process, by pool and state (in_use, idle)."
    );
    metrics::describe_gauge!(
        DB_MAX_CONNECTIONS,
        "The most connections each database pool of this process opens."
    );
}

/// Keeps the histograms' windows turning (the exporter needs it when it
/// has no HTTP listener of its own): every few seconds until the process
/// ends.
pub fn spawn_upkeep() {
    static STARTED: OnceLock<()> = OnceLock::new();
    if STARTED.set(()).is_err() {
        return;
    }
    let handle = handle();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
}

fn labels(account: &Account) -> [(&'static str, String); 2] {
    [
        ("account", account.slug.clone()),
        ("provider", account.provider().as_str().to_string()),
    ]
}

/// One message received.
pub fn message_in(account: &Account) {
    metrics::counter!(MESSAGES_IN, &labels(account)).increment(1);
}

/// `n` messages left.
pub fn messages_out(account: &Account, n: usize) {
    if n > 0 {
        metrics::counter!(MESSAGES_OUT, &labels(account)).increment(n as u64);
    }
}

/// `test` label of what happened on `account`: sandbox numbers are trials.
fn test_label(account: &Account) -> &'static str {
    bool_label(account.provider() == Provider::Sandbox)
}

fn bool_label(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// A code issued.
pub fn code_issued(account: &Account) {
    metrics::counter!(CODES_ISSUED, "account" => account.slug.clone(), "test" => test_label(account))
        .increment(1);
}

/// What a message did to its conversation once stored: the run it ended,
/// the escalation it caused. Called after the commit, so that a write
/// retried after a concurrent one counts once.
pub fn flow_moved(account: &Account, ended: Option<&Finished>, change: Option<ModeChange>) {
    if let Some(run) = ended {
        run_ended(account, run);
    }
    if let Some(reason) = change
        .filter(|c| c.change == Change::Escalated)
        .and_then(|c| c.reason)
    {
        escalated(account, reason);
    }
}

/// A conversation handed to staff: by the bot, or put in the queue by a
/// staff member (`flagged`).
pub fn escalated(account: &Account, reason: WaitingReason) {
    metrics::counter!(
        ESCALATIONS,
        "account" => account.slug.clone(),
        "reason" => reason.as_str(),
        "test" => test_label(account)
    )
    .increment(1);
}

/// A run of questions ended (see [`FLOW_RUNS`]).
pub fn run_ended(account: &Account, run: &Finished) {
    let outcome = crate::report::runs::Outcome::from(run.end).as_str();
    let question = match run.question {
        Some(q @ 1..=5) => QUESTIONS[usize::from(q - 1)],
        // Completed, or a question the flow does not have (never).
        _ => "none",
    };
    metrics::counter!(
        FLOW_RUNS,
        "account" => account.slug.clone(),
        "outcome" => outcome,
        "question" => question,
        "test" => test_label(account)
    )
    .increment(1);
}

/// The `question` labels, without an allocation per run.
const QUESTIONS: [&str; 5] = ["1", "2", "3", "4", "5"];

/// A staff member wrote first to a person whose run the bot handed over
/// (`run`, as `report::runs::staff_wrote` stamped it; see
/// [`STAFF_WAIT_SECONDS`]), once the reply's transaction committed: the
/// transaction is the one place that knows it is the first, and a reply
/// that failed to commit counts nothing.
pub fn staff_replied(run: &RunRow, replied_at: OffsetDateTime) {
    staff_waited(
        run.ended_at,
        replied_at,
        run.escalation_reason,
        run.test_data,
    );
}

fn staff_waited(
    escalated_at: OffsetDateTime,
    replied_at: OffsetDateTime,
    reason: Option<WaitingReason>,
    test_data: bool,
) {
    // A clock set back between the two gives a negative wait: none.
    let waited = (replied_at - escalated_at).as_seconds_f64().max(0.0);
    metrics::histogram!(
        STAFF_WAIT_SECONDS,
        "reason" => reason.map_or("none", WaitingReason::as_str),
        "test" => bool_label(test_data)
    )
    .record(waited);
}

/// A send refused or failed (`code`: the provider's error code).
pub fn send_failed(account: &Account, code: Option<i64>) {
    let code = code.map_or_else(|| "none".to_string(), |c| c.to_string());
    let [account_label, provider] = labels(account);
    metrics::counter!(SEND_FAILURES, &[account_label, provider, ("code", code)]).increment(1);
}

/// A webhook answered (`provider`: `twilio`, `meta`, or `unknown` for a
/// request that named neither).
pub fn webhook(provider: &'static str, status: u16, took: Duration) {
    let class = match status {
        200..=299 => "2xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    };
    metrics::histogram!(WEBHOOK_SECONDS, "provider" => provider, "status" => class)
        .record(took.as_secs_f64());
}

/// The gauges read at scrape time.
pub fn set_outbox_rows(status: &str, n: i64) {
    metrics::gauge!(OUTBOX_ROWS, "status" => status.to_string()).set(n as f64);
}

pub fn set_live_streams(n: usize) {
    metrics::gauge!(LIVE_STREAMS).set(n as f64);
}

/// The database pools' connections (see [`DB_CONNECTIONS`]).
pub fn set_db_pools(db: &crate::db::Db) {
    match db {
        crate::db::Db::Sqlite(pools) => {
            set_pool("writer", &pools.writer);
            set_pool("reader", &pools.reader);
        }
        crate::db::Db::Postgres(pool) => set_pool("main", pool),
    }
}

fn set_pool<DB: sqlx::Database>(name: &'static str, pool: &sqlx::Pool<DB>) {
    // `size` counts the idle connections too; both are read without a
    // lock, so one may have moved between the two reads.
    let open = pool.size() as f64;
    let idle = pool.num_idle() as f64;
    metrics::gauge!(DB_CONNECTIONS, "pool" => name, "state" => "in_use")
        .set((open - idle).max(0.0));
    metrics::gauge!(DB_CONNECTIONS, "pool" => name, "state" => "idle").set(idle);
    metrics::gauge!(DB_MAX_CONNECTIONS, "pool" => name)
        .set(f64::from(pool.options().get_max_connections()));
}

/// Days left of a Meta number's token (see [`TOKEN_DAYS_LEFT`]).
pub fn set_token_days_left(account_slug: &str, days: i64) {
    metrics::gauge!(TOKEN_DAYS_LEFT, "account" => account_slug.to_string()).set(days as f64);
}

/// A DHIS-2 batch done: its time, and each job's outcome.
pub fn dhis2_batch(took: Duration, verdicts: &[crate::dhis2::store::Verdict]) {
    use crate::dhis2::store::Verdict;
    metrics::histogram!(DHIS2_BATCH_SECONDS).record(took.as_secs_f64());
    for v in verdicts {
        let (outcome, code) = match v {
            Verdict::Synced { .. } => {
                metrics::counter!(DHIS2_SYNCED).increment(1);
                continue;
            }
            Verdict::Failed { code, .. } => ("failed", code),
            Verdict::Held { code, .. } => ("held", code),
            Verdict::Retry { code, .. } => ("retry", code),
        };
        // Codes are DHIS-2's (E and four digits) or ours: a bounded set.
        let code =
            if code.len() <= 24 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                code.clone()
            } else {
                "other".to_string()
            };
        metrics::counter!(DHIS2_FAILURES, "code" => code, "outcome" => outcome).increment(1);
    }
}

/// DHIS-2 sync jobs in a state (see [`DHIS2_JOBS`]).
pub fn set_dhis2_jobs(state: &str, n: i64) {
    metrics::gauge!(DHIS2_JOBS, "state" => state.to_string()).set(n as f64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[tokio::test]
    async fn the_pools_and_the_wait_for_staff_are_exported_with_their_labels() {
        let handle = handle();
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(3)
            .connect_lazy("sqlite::memory:")
            .unwrap();
        set_db_pools(&crate::db::Db::Sqlite(crate::db::SqlitePools {
            writer: pool.clone(),
            reader: pool,
        }));
        // A clock set back: no negative wait, the first bucket.
        let at = datetime!(2026-11-30 18:00 UTC);
        staff_waited(
            at,
            at - time::Duration::seconds(5),
            Some(WaitingReason::Media),
            true,
        );
        staff_waited(
            at,
            at + time::Duration::days(3),
            Some(WaitingReason::Media),
            true,
        );
        let text = handle.render();
        for line in [
            r#"uic_db_max_connections{pool="writer"} 3"#,
            r#"uic_db_max_connections{pool="reader"} 3"#,
            r#"uic_db_connections{pool="writer",state="in_use"} 0"#,
            r#"uic_db_connections{pool="reader",state="idle"} 0"#,
            r#"uic_staff_wait_seconds_bucket{reason="media",test="true",le="30"} 1"#,
            r#"uic_staff_wait_seconds_bucket{reason="media",test="true",le="172800"} 1"#,
            r#"uic_staff_wait_seconds_bucket{reason="media",test="true",le="604800"} 2"#,
            r#"uic_staff_wait_seconds_count{reason="media",test="true"} 2"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
    }
}
