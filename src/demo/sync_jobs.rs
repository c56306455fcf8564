//! The demo tenant's DHIS-2 synchronisation, as a year of the worker would
//! have left it: each number's DHIS-2 settings, one sync job per code and
//! number it was issued on (as `dhis2::store::enqueue` creates them), and
//! the synced jobs counted per number in `dhis2_counts` (as
//! `dhis2::store::finish` keeps them).
//!
//! Proportions: nearly every job is synced (a tracked entity and an
//! enrollment, a few linked to a record DHIS-2 already held); the most
//! recent few hundred a million are still pending, as when DHIS-2 answers
//! slowly; a few dozen a million failed on DHIS-2's validation (E1041, an
//! org unit not assigned to the programme; E1018, a mandatory attribute
//! missing); and the jobs of a code registered from two phones (collision
//! open) are held for a supervisor's decision, as the worker leaves them.
//!
//! The numbers' sync is switched off (`enabled = false`) and no credential
//! is stored: the server named (`https://dhis2.demo.invalid`) does not
//! exist, so the worker attempts nothing and the page shows the state the
//! seed wrote. A supervisor can switch it on against a real test server
//! from the number's settings.

use super::write::Registration;
use crate::db::Tx;
use crate::dhis2::uid::Uid;
use crate::on_tx;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

/// Bound parameters per statement, as in `write`.
const PARAMS: usize = 30_000;

/// The DHIS-2 objects the demo settings name (well-formed UIDs of a
/// made-up server).
const PROGRAM: &str = "Uic7Prgm2Ds";
const TRACKED_ENTITY_TYPE: &str = "nEenWmSyUEp";
const ORG_UNIT: &str = "DiszpKrYNg8";
const ATTR_UIC: &str = "w75KJ2mc4zz";
const ATTR_LAST: &str = "zDhUuAYrxNC";
const ATTR_FIRST: &str = "TfdH5KvFmMy";
const ATTR_YEAR: &str = "iESIqZ0R0R0";
const ATTR_CITY: &str = "VqEFza8wbwA";
const ATTR_GENDER: &str = "cejWyOfXge6";

/// Jobs written, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Jobs {
    pub synced: usize,
    pub pending: usize,
    pub failed: usize,
    pub held: usize,
}

impl Jobs {
    pub fn total(&self) -> usize {
        self.synced + self.pending + self.failed + self.held
    }
}

/// One job to write.
struct Job {
    reg: usize,
    account: usize,
    created_at: OffsetDateTime,
    state: &'static str,
    attempts: i32,
    linked: bool,
    error: Option<(&'static str, String)>,
    updated_at: OffsetDateTime,
    synced_at: Option<OffsetDateTime>,
}

/// Pending jobs: one in 2,500, the most recent (some hundreds a million).
fn pending_share(jobs: usize) -> usize {
    (jobs / 2_500 + 1).min(jobs)
}

/// Failed jobs: one in 25,000 (a few dozen a million), at least one.
fn failed_share(jobs: usize) -> usize {
    (jobs / 25_000 + 1).min(jobs.saturating_sub(pending_share(jobs)))
}

/// Writes the numbers' settings, the jobs of `regs` (ids `reg_ids`) and
/// the counts of synced jobs. `account_ids` are the seeded numbers.
pub(crate) async fn write(
    tx: &mut Tx,
    tenant: i64,
    account_ids: &[i64],
    regs: &[Registration],
    reg_ids: &[i64],
    seed: u64,
    now: OffsetDateTime,
) -> anyhow::Result<Jobs> {
    let since = now - Duration::days(395);
    for id in account_ids {
        on_tx!(&mut *tx, c => sqlx::query(
            "INSERT INTO dhis2_settings (account_id, tenant_id, enabled, base_url, auth_kind, username, program,
                tracked_entity_type, org_unit, attr_uic, attr_last, attr_first, attr_year, attr_city, attr_gender,
                server_version, updated_at)
             VALUES ($1, $2, $3, $4, 'token', '', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)")
            .bind(*id).bind(tenant).bind(false).bind("https://dhis2.demo.invalid").bind(PROGRAM)
            .bind(TRACKED_ENTITY_TYPE).bind(ORG_UNIT).bind(ATTR_UIC).bind(ATTR_LAST).bind(ATTR_FIRST)
            .bind(ATTR_YEAR).bind(ATTR_CITY).bind(ATTR_GENDER).bind("2.40.4").bind(since)
            .execute(c).await.map(|_| ()))?;
    }

    let mut rng = StdRng::seed_from_u64(seed ^ 0x000d_4152_de40);
    let mut jobs = plan(regs, &mut rng, now);
    let mut counts = Jobs::default();
    let mut per_account: BTreeMap<usize, (i64, OffsetDateTime)> = BTreeMap::new();
    for j in &jobs {
        match j.state {
            "synced" => {
                counts.synced += 1;
                let e = per_account.entry(j.account).or_insert((0, j.updated_at));
                e.0 += 1;
                e.1 = e.1.max(j.updated_at);
            }
            "pending" => counts.pending += 1,
            "failed" => counts.failed += 1,
            _ => counts.held += 1,
        }
    }
    // Written in the order the app creates them.
    jobs.sort_by_key(|j| (j.created_at, j.reg, j.account));
    for chunk in jobs.chunks(PARAMS / 14) {
        insert_jobs(tx, tenant, account_ids, reg_ids, chunk).await?;
    }
    for (account, (synced, last)) in per_account {
        on_tx!(&mut *tx, c => sqlx::query(
            "INSERT INTO dhis2_counts (account_id, tenant_id, synced, last_success_at) VALUES ($1, $2, $3, $4)")
            .bind(account_ids[account]).bind(tenant).bind(synced).bind(last)
            .execute(c).await.map(|_| ()))?;
    }
    Ok(counts)
}

/// Every job and its state: one per code and number it was issued on,
/// created when the code was first issued there.
fn plan(regs: &[Registration], rng: &mut StdRng, now: OffsetDateTime) -> Vec<Job> {
    let mut jobs: Vec<Job> = Vec::with_capacity(regs.len() + regs.len() / 50);
    for (i, r) in regs.iter().enumerate() {
        let mut accounts: Vec<(usize, OffsetDateTime)> = Vec::with_capacity(1);
        for p in &r.phones {
            match accounts.iter_mut().find(|(a, _)| *a == p.1) {
                Some(a) => a.1 = a.1.min(p.3),
                None => accounts.push((p.1, p.3)),
            }
        }
        for (account, created_at) in accounts {
            // Two phones, one code: the worker holds it for a supervisor.
            let held = r.collision_open;
            jobs.push(Job {
                reg: i,
                account,
                created_at,
                state: if held { "held" } else { "synced" },
                attempts: 1,
                linked: false,
                error: held.then(|| {
                    (
                        crate::dhis2::sync::HELD_COLLISION,
                        "Code enregistré depuis plusieurs téléphones : en attente de la décision d'un superviseur."
                            .to_string(),
                    )
                }),
                updated_at: r.collision_flagged_at.unwrap_or(created_at).max(created_at),
                synced_at: None,
            });
        }
    }
    // The jobs that may still be anything but synced, most recent first.
    let mut open: Vec<usize> = (0..jobs.len())
        .filter(|j| jobs[*j].state != "held")
        .collect();
    open.sort_by_key(|j| std::cmp::Reverse((jobs[*j].created_at, *j)));
    let pending = pending_share(open.len());
    for j in &open[..pending] {
        let job = &mut jobs[*j];
        job.state = "pending";
        job.attempts = 0;
        job.updated_at = job.created_at;
    }
    // Failures: a year's scattered validation errors, drawn among the rest.
    let rest = &open[pending..];
    let mut failed = 0;
    let wanted = failed_share(open.len());
    while failed < wanted && !rest.is_empty() {
        let job = &mut jobs[rest[rng.random_range(0..rest.len())]];
        if job.state != "synced" {
            continue;
        }
        job.state = "failed";
        job.updated_at = job.created_at + Duration::seconds(rng.random_range(3..90));
        job.error = Some(if rng.random_bool(0.7) {
            (
                "E1041",
                format!(
                    "Enrollment OrganisationUnit: `{ORG_UNIT}`, and Program: `{PROGRAM}`, don't match."
                ),
            )
        } else {
            (
                "E1018",
                format!(
                    "Attribute: `{ATTR_CITY}`, is mandatory in program `{PROGRAM}` but not declared in enrollment `{}`.",
                    Uid::generate().as_str()
                ),
            )
        });
        failed += 1;
    }
    for job in jobs.iter_mut().filter(|j| j.state == "synced") {
        // The worker's batch goes out within seconds; now and then DHIS-2
        // was away and a retry went through later.
        let (attempts, delay) = if rng.random_range(0..50) == 0 {
            (rng.random_range(2..5), rng.random_range(60..3_600))
        } else {
            (1, rng.random_range(2..40))
        };
        // Never later than now: the most recent ones went through just now.
        let at = (job.created_at + Duration::seconds(delay)).min(now);
        job.attempts = attempts;
        job.synced_at = Some(at);
        job.updated_at = at;
        // The person was already in DHIS-2 (enrolled at the clinic).
        job.linked = rng.random_range(0..40) == 0;
    }
    jobs
}

async fn insert_jobs(
    tx: &mut Tx,
    tenant: i64,
    account_ids: &[i64],
    reg_ids: &[i64],
    chunk: &[Job],
) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO dhis2_sync (tenant_id, account_id, registration_id, state, attempts,
        next_attempt_at, tracked_entity, enrollment, linked, error_code, error_message, created_at, updated_at,
        synced_at) ";
    macro_rules! push {
        ($qb:ident) => {
            $qb.push_values(chunk, |mut b, j| {
                // The UIDs are made with the job, before the first attempt.
                b.push_bind(tenant)
                    .push_bind(account_ids[j.account])
                    .push_bind(reg_ids[j.reg])
                    .push_bind(j.state)
                    .push_bind(j.attempts)
                    .push_bind(if j.state == "pending" {
                        j.created_at
                    } else {
                        j.updated_at
                    })
                    .push_bind(Uid::generate().into_string())
                    .push_bind(Uid::generate().into_string())
                    .push_bind(j.linked)
                    .push_bind(j.error.as_ref().map(|e| e.0))
                    .push_bind(j.error.as_ref().map(|e| e.1.clone()))
                    .push_bind(j.created_at)
                    .push_bind(j.updated_at)
                    .push_bind(j.synced_at);
            })
        };
    }
    match tx {
        Tx::Sqlite(t) => {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(SQL);
            push!(qb);
            qb.build().execute(&mut **t).await.map(|_| ())
        }
        Tx::Postgres(t) => {
            let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(SQL);
            push!(qb);
            qb.build().execute(&mut **t).await.map(|_| ())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_follow_the_size_and_never_exceed_it() {
        assert_eq!(pending_share(1_000_000), 401);
        assert_eq!(failed_share(1_000_000), 41);
        assert_eq!(pending_share(3), 1);
        assert_eq!(failed_share(3), 1);
        assert_eq!(pending_share(1), 1);
        assert_eq!(failed_share(1), 0);
        assert_eq!(pending_share(0), 0);
        assert_eq!(failed_share(0), 0);
    }
}
