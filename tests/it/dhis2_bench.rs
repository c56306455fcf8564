//! The DHIS-2 worker's throughput against the fake DHIS-2 answering every
//! call after a set latency: not a test (ignored), a benchmark run by
//! `scripts/bench-dhis2.sh`, whose figures go to BENCHMARKS.md.
//!
//! `BENCH_BACKEND` (postgres or sqlite, default postgres),
//! `BENCH_REGISTRATIONS` (default 2000), `BENCH_LATENCY_MS` (default 100),
//! `BENCH_INSTANCES` (1 or 2, default 1).

use crate::dhis2_sync::{app_for, due_now, env_for, jobs, queue_registrations, wait_attempts};
use crate::fakes::dhis2::*;
use crate::helpers::Backend;
use std::time::{Duration, Instant};
use uic_inbox::on_db;

fn var(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test]
#[ignore = "a benchmark: scripts/bench-dhis2.sh"]
async fn bench_dhis2_worker_throughput() {
    let backend = match std::env::var("BENCH_BACKEND").as_deref() {
        Ok("sqlite") => Backend::Sqlite,
        _ => Backend::Postgres,
    };
    let n = var("BENCH_REGISTRATIONS", 2000) as usize;
    let latency = Duration::from_millis(var("BENCH_LATENCY_MS", 100));
    let instances = var("BENCH_INSTANCES", 1);
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    fake.set_down(true);
    let app = app_for(backend, &fake)
        .await
        .expect("TEST_DATABASE_URL for PostgreSQL");
    let _second = if instances > 1 {
        let env = env_for(&fake);
        Some(app.second_instance_with(|c| c.dhis2 = Some(env)).await)
    } else {
        None
    };
    let db = &app.state.db;
    queue_registrations(db, n).await;
    wait_attempts(db, 1).await;
    fake.set_latency(latency);
    fake.set_down(false);
    let requests_before = fake.requests().len();
    let start = Instant::now();
    due_now(db).await;
    loop {
        let synced: i64 = on_db!(db, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM dhis2_sync WHERE state = 'synced'").fetch_one(p).await.unwrap());
        if synced as usize == n {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "{synced} of {n} after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = start.elapsed();
    let all = jobs(db).await;
    assert_eq!(all.len(), n);
    assert_eq!(
        fake.tracked_entities().len(),
        n,
        "none lost, none duplicated"
    );
    let calls = fake.requests().len() - requests_before;
    println!(
        "BENCH backend={backend:?} instances={instances} registrations={n} latency_ms={} \
         took_s={:.2} per_s={:.1} calls={calls} imports={}",
        latency.as_millis(),
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        fake.import_count(),
    );
}
