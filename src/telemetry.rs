//! Prometheus metrics, served at `GET /metrics` (`web::metrics`): what an
//! operator watches to see that the bot answers and the numbers send.
//!
//! Counters and the webhook histogram are recorded where things happen
//! (the inbox, the outbox worker, the webhook handler) through the
//! functions below; gauges that the database knows (outbox depth) are read
//! when the page is scraped. Labels name accounts by slug and providers by
//! name: never a phone number, a message or a secret.
//!
//! One recorder per process (the `metrics` crate's global one), installed
//! on first use: several servers in one process (the tests) share it.

use crate::tenancy::{Account, Provider};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

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

/// Buckets of the webhook histogram, in seconds: a webhook answers in a
/// few milliseconds; Twilio gives up at 15 s.
const WEBHOOK_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Buckets of the DHIS-2 batch histogram, in seconds: two calls to a
/// server that may be far away and slow.
const DHIS2_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

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

/// A code issued.
pub fn code_issued(account: &Account) {
    let test = if account.provider() == Provider::Sandbox {
        "true"
    } else {
        "false"
    };
    metrics::counter!(CODES_ISSUED, "account" => account.slug.clone(), "test" => test).increment(1);
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
