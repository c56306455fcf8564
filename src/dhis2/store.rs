//! SQL of the DHIS-2 synchronisation: a number's settings, the sync jobs
//! (created with the registration, claimed by the worker, finished with
//! its verdict), and what the DHIS-2 page reads.
//!
//! Every function staff reach takes an [`Access`] and narrows its query to
//! the access's tenant and accounts itself: an id typed in a URL never
//! reaches another tenant's rows. The worker's functions (claim, finish)
//! are the system's, keyed by the rows it claimed.

use super::settings::{Change, Settings};
use super::{Decision, SyncState};
use crate::auth::access::accounts_clause;
use crate::auth::{Access, AccessError, Denied, Permission};
use crate::db::{Db, Tx};
use crate::secrets::{self, Keyring, Purpose};
use crate::tenancy::channel_input::NewSecret;
use crate::{on_db, on_db_read, on_tx};
use time::OffsetDateTime;

/// `1, 2, 3`: ids of ours (never typed), written into a statement.
fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns of a [`JobRow`], from `dhis2_sync s`, `whatsapp_accounts a`
/// and `uic_registrations r`.
const JOB_COLUMNS: &str = "s.id, s.account_id, a.name AS account_name, s.registration_id, r.uic, s.state,
    s.attempts, s.error_code, s.error_message, s.tracked_entity, s.linked, s.created_at, s.updated_at";

/// Settings are read with either DHIS-2 permission, changed with
/// `dhis2.manage`.
fn readable(access: &Access) -> Result<(), Denied> {
    access
        .is_for(Permission::Dhis2View)
        .or_else(|_| access.is_for(Permission::Dhis2Manage))
}

const SETTINGS_SELECT: &str =
    "SELECT account_id, tenant_id, enabled, base_url, auth_kind, username,
    credential, credential_fp, program, tracked_entity_type, org_unit, org_unit_map, attr_uic,
    attr_last, attr_first, attr_year, attr_city, attr_gender, server_version, last_problem,
    last_problem_at, updated_at FROM dhis2_settings";

/// A number's settings, if it has any and the access covers it.
pub async fn settings(
    db: &Db,
    access: &Access,
    account_id: i64,
) -> Result<Option<Settings>, AccessError> {
    readable(access)?;
    if !access.covers(account_id) {
        return Ok(None);
    }
    let sql = format!("{SETTINGS_SELECT} WHERE account_id = $1 AND tenant_id = $2");
    Ok(on_db_read!(db, p => sqlx::query_as::<_, Settings>(&sql)
        .bind(account_id).bind(access.tenant_id()).fetch_optional(p).await)?)
}

/// A number's settings for the worker and the command line (the system's
/// own read, not a staff member's).
pub async fn settings_of(db: &Db, account_id: i64) -> Result<Option<Settings>, sqlx::Error> {
    let sql = format!("{SETTINGS_SELECT} WHERE account_id = $1");
    on_db_read!(db, p => sqlx::query_as::<_, Settings>(&sql).bind(account_id).fetch_optional(p).await)
}

/// The numbers whose sync is on.
pub async fn enabled_accounts(db: &Db) -> Result<Vec<i64>, sqlx::Error> {
    on_db_read!(db, p => sqlx::query_scalar(
        "SELECT account_id FROM dhis2_settings WHERE enabled ORDER BY account_id").fetch_all(p).await)
}

/// Stores a number's settings (a credential left as `Keep` is not
/// touched), and makes its waiting jobs due now: what stopped them may be
/// what was just fixed. `None`: not a number of the access's tenant and
/// accounts.
pub async fn save(
    db: &Db,
    ring: &Keyring,
    access: &Access,
    account_id: i64,
    c: &Change,
    now: OffsetDateTime,
) -> Result<Option<Settings>, AccessError> {
    access.is_for(Permission::Dhis2Manage)?;
    if !access.covers(account_id) {
        return Ok(None);
    }
    let (credential, fp) = match &c.credential {
        NewSecret::Keep => (None, None),
        NewSecret::Set(v) => (
            Some(ring.seal(Purpose::Dhis2Credential, v)),
            Some(secrets::fingerprint(Purpose::Dhis2Credential, v)),
        ),
    };
    let mut tx = db.begin().await?;
    // The number must be the tenant's: `covers` alone says nothing of
    // another tenant's ids for a tenant-wide access.
    let saved = on_tx!(&mut tx, t => sqlx::query(
        "INSERT INTO dhis2_settings (account_id, tenant_id, enabled, base_url, auth_kind, username,
            credential, credential_fp, program, tracked_entity_type, org_unit, org_unit_map, attr_uic,
            attr_last, attr_first, attr_year, attr_city, attr_gender, updated_at)
         SELECT a.id, a.tenant_id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19
         FROM whatsapp_accounts a WHERE a.id = $1 AND a.tenant_id = $2
         ON CONFLICT (account_id) DO UPDATE SET enabled = excluded.enabled, base_url = excluded.base_url,
            auth_kind = excluded.auth_kind, username = excluded.username,
            credential = COALESCE(excluded.credential, dhis2_settings.credential),
            credential_fp = COALESCE(excluded.credential_fp, dhis2_settings.credential_fp),
            program = excluded.program, tracked_entity_type = excluded.tracked_entity_type,
            org_unit = excluded.org_unit, org_unit_map = excluded.org_unit_map, attr_uic = excluded.attr_uic,
            attr_last = excluded.attr_last, attr_first = excluded.attr_first, attr_year = excluded.attr_year,
            attr_city = excluded.attr_city, attr_gender = excluded.attr_gender,
            last_problem = NULL, last_problem_at = NULL, updated_at = excluded.updated_at")
        .bind(account_id).bind(access.tenant_id()).bind(c.enabled).bind(&c.base_url).bind(c.auth_kind)
        .bind(&c.username).bind(credential.as_ref().map(|s| s.as_str())).bind(fp)
        .bind(&c.program).bind(&c.tracked_entity_type).bind(&c.org_unit).bind(&c.org_unit_map)
        .bind(&c.attr_uic).bind(&c.attr_last).bind(&c.attr_first).bind(&c.attr_year).bind(&c.attr_city)
        .bind(&c.attr_gender).bind(now)
        .execute(t).await.map(|r| r.rows_affected()))?;
    if saved == 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    on_tx!(&mut tx, t => sqlx::query(
        "UPDATE dhis2_sync SET next_attempt_at = $2 WHERE account_id = $1 AND state = $3 AND next_attempt_at > $2")
        .bind(account_id).bind(now).bind(SyncState::Pending).execute(t).await.map(|_| ()))?;
    tx.commit().await?;
    Ok(settings_of(db, account_id).await?)
}

/// What the last call told of the server: its version (kept), and the
/// problem that stopped every record, or `None` once one went through.
pub async fn record_server(
    db: &Db,
    account_id: i64,
    version: Option<&str>,
    problem: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "UPDATE dhis2_settings SET server_version = COALESCE($2, server_version), last_problem = $3,
            last_problem_at = CASE WHEN $3 IS NULL THEN NULL ELSE COALESCE(last_problem_at, $4) END
         WHERE account_id = $1")
        .bind(account_id).bind(version).bind(problem).bind(now).execute(p).await.map(|_| ()))
}

/// Creates the sync job of a registration issued on a number, in the
/// transaction that records it; nothing when the number already has one
/// for it. Test data never gets one (the caller passes only real codes;
/// PostgreSQL's one-statement write has the same insert).
pub async fn enqueue(
    tx: &mut Tx,
    tenant_id: i64,
    account_id: i64,
    registration_id: i64,
    uids: &JobUids,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, c => sqlx::query(ENQUEUE)
        .bind(tenant_id).bind(account_id).bind(registration_id).bind(now)
        .bind(&uids.tracked_entity).bind(&uids.enrollment)
        .execute(c).await.map(|_| ()))
}

const ENQUEUE: &str =
    "INSERT INTO dhis2_sync (tenant_id, account_id, registration_id, state, attempts,
        next_attempt_at, tracked_entity, enrollment, created_at, updated_at)
     VALUES ($1, $2, $3, 'pending', 0, $4, $5, $6, $4, $4)
     ON CONFLICT (registration_id, account_id) DO NOTHING";

/// The UIDs a job will create its records with, made before the first
/// attempt (reference C.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobUids {
    pub tracked_entity: String,
    pub enrollment: String,
}

impl JobUids {
    pub fn generate() -> JobUids {
        JobUids {
            tracked_entity: super::uid::Uid::generate().as_str().to_string(),
            enrollment: super::uid::Uid::generate().as_str().to_string(),
        }
    }
}

/// The numbers with jobs due now, among those whose sync is on.
pub async fn accounts_due(db: &Db, now: OffsetDateTime) -> Result<Vec<i64>, sqlx::Error> {
    on_db_read!(db, p => sqlx::query_scalar(
        "SELECT d.account_id FROM dhis2_settings d WHERE d.enabled AND EXISTS (
            SELECT 1 FROM dhis2_sync s WHERE s.account_id = d.account_id
                AND s.state IN ('pending', 'syncing') AND s.next_attempt_at <= $1)
         ORDER BY d.account_id")
        .bind(now).fetch_all(p).await)
}

/// A claimed job, with what it sends.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub tenant_id: i64,
    pub account_id: i64,
    pub registration_id: i64,
    /// Including this one.
    pub attempts: i32,
    pub tracked_entity: String,
    pub enrollment: String,
    pub uic: String,
    pub last_part: String,
    pub first_part: String,
    pub year_digit: i16,
    pub city: String,
    pub gender: i16,
    pub first_seen_at: OffsetDateTime,
    pub collision_status: String,
    pub collision_decision: Option<String>,
}

/// Claims up to `limit` due jobs of a number, oldest first, for `lease`:
/// they are `syncing`, due again when the lease ends (a worker that died
/// leaves them to another). On PostgreSQL `SKIP LOCKED` lets instances
/// claim side by side; SQLite has one writer.
pub async fn claim(
    db: &Db,
    account_id: i64,
    worker: &str,
    now: OffsetDateTime,
    lease: time::Duration,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let lock = match db {
        Db::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        Db::Sqlite(_) => "",
    };
    let claim = format!(
        "UPDATE dhis2_sync SET state = 'syncing', claimed_by = $3, claimed_until = $4, next_attempt_at = $4,
            attempts = attempts + 1, updated_at = $2
         WHERE id IN (SELECT id FROM dhis2_sync WHERE account_id = $1 AND state IN ('pending', 'syncing')
            AND next_attempt_at <= $2 ORDER BY next_attempt_at, id LIMIT $5 {lock})
         RETURNING id"
    );
    let until = now + lease;
    let ids: Vec<i64> = on_db!(db, p => sqlx::query_scalar(&claim)
        .bind(account_id).bind(now).bind(worker).bind(until).bind(limit).fetch_all(p).await)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = id_list(&ids);
    let read = format!(
        "SELECT s.id, s.tenant_id, s.account_id, s.registration_id, s.attempts, s.tracked_entity, s.enrollment,
            r.uic, r.last_part, r.first_part, CAST(r.year_digit AS SMALLINT) AS year_digit, r.city,
            CAST(r.gender AS SMALLINT) AS gender, r.first_seen_at, r.collision_status, r.collision_decision
         FROM dhis2_sync s JOIN uic_registrations r ON r.id = s.registration_id
         WHERE s.id IN ({list}) ORDER BY s.id"
    );
    // On SQLite the writer reads: the claim was just written.
    on_db!(db, p => sqlx::query_as::<_, Claimed>(&read).fetch_all(p).await)
}

/// What became of a claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// In DHIS-2: the tracked entity (ours, or the one found with the same
    /// UIC: `linked`) and the enrollment.
    Synced {
        tracked_entity: String,
        enrollment: String,
        linked: bool,
    },
    /// Stopped on DHIS-2's verdict (a validation error): kept with its code
    /// and message until staff retry it.
    Failed { code: String, message: String },
    /// Held until a supervisor decides: a possible collision. `flag`: DHIS-2
    /// found it (E1064), so the registration is flagged for review too.
    Held {
        code: String,
        message: String,
        flag: bool,
    },
    /// To be tried again at `at` (network, 5xx, credentials).
    Retry {
        at: OffsetDateTime,
        code: String,
        message: String,
    },
}

/// Writes the verdicts of a batch in one transaction, each only if the
/// job is still this worker's claim (one taken over after an expired lease
/// is the other worker's to finish). Synced jobs are counted per number.
pub async fn finish(
    db: &Db,
    worker: &str,
    verdicts: &[(Claimed, Verdict)],
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    let mut synced: std::collections::BTreeMap<(i64, i64), i64> = Default::default();
    for (job, verdict) in verdicts {
        let (state, te, en, linked, code, message, next) = match verdict {
            Verdict::Synced {
                tracked_entity,
                enrollment,
                linked,
            } => (
                SyncState::Synced,
                Some(tracked_entity.as_str()),
                Some(enrollment.as_str()),
                *linked,
                None,
                None,
                now,
            ),
            Verdict::Failed { code, message } => (
                SyncState::Failed,
                None,
                None,
                false,
                Some(code.as_str()),
                Some(message.as_str()),
                now,
            ),
            Verdict::Held { code, message, .. } => (
                SyncState::Held,
                None,
                None,
                false,
                Some(code.as_str()),
                Some(message.as_str()),
                now,
            ),
            Verdict::Retry { at, code, message } => (
                SyncState::Pending,
                None,
                None,
                false,
                Some(code.as_str()),
                Some(message.as_str()),
                *at,
            ),
        };
        let done = on_tx!(&mut tx, c => sqlx::query(
            "UPDATE dhis2_sync SET state = $3, tracked_entity = COALESCE($4, tracked_entity),
                enrollment = COALESCE($5, enrollment), linked = $6, error_code = $7, error_message = $8,
                next_attempt_at = $9, claimed_by = NULL, claimed_until = NULL, updated_at = $10,
                synced_at = CASE WHEN $3 = 'synced' THEN $10 ELSE synced_at END
             WHERE id = $1 AND claimed_by = $2 AND state = 'syncing'")
            .bind(job.id).bind(worker).bind(state).bind(te).bind(en).bind(linked).bind(code).bind(message)
            .bind(next).bind(now)
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            continue;
        }
        if state == SyncState::Synced {
            *synced.entry((job.account_id, job.tenant_id)).or_default() += 1;
        }
        if let Verdict::Held { flag: true, .. } = verdict {
            on_tx!(&mut tx, c => sqlx::query(
                "UPDATE uic_registrations SET collision_status = 'open',
                    collision_flagged_at = COALESCE(collision_flagged_at, $2)
                 WHERE id = $1 AND collision_decision IS NULL")
                .bind(job.registration_id).bind(now).execute(c).await.map(|_| ()))?;
        }
    }
    for ((account_id, tenant_id), n) in synced {
        on_tx!(&mut tx, c => sqlx::query(
            "INSERT INTO dhis2_counts (account_id, tenant_id, synced, last_success_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account_id) DO UPDATE SET synced = dhis2_counts.synced + excluded.synced,
                last_success_at = excluded.last_success_at")
            .bind(account_id).bind(tenant_id).bind(n).bind(now).execute(c).await.map(|_| ()))?;
    }
    tx.commit().await
}

/// One number's line on the DHIS-2 page.
#[derive(Debug, Clone, Default)]
pub struct AccountSync {
    pub account_id: i64,
    pub account_name: String,
    pub enabled: bool,
    pub configured: bool,
    /// A sandbox number: its codes are test data, never sent.
    pub sandbox: bool,
    pub server_version: Option<String>,
    pub last_problem: Option<String>,
    pub last_problem_at: Option<OffsetDateTime>,
    pub pending: i64,
    pub syncing: i64,
    pub synced: i64,
    pub failed: i64,
    pub held: i64,
    pub oldest_pending: Option<OffsetDateTime>,
    pub last_success: Option<OffsetDateTime>,
}

/// Every number of the access (`dhis2.view`, `reports.view`, `uic.export`)
/// with its counts by state.
/// Only the jobs not synced are counted row by row (a partial index holds
/// them); synced ones come from `dhis2_counts`.
pub async fn overview(db: &Db, access: &Access) -> Result<Vec<AccountSync>, AccessError> {
    // The reports (and their export) show these counts too: no code.
    readable(access)
        .or_else(|_| access.is_for(Permission::ReportsView))
        .or_else(|_| access.is_for(Permission::UicExport))?;
    let accounts = format!(
        "SELECT a.id, a.name, COALESCE(d.enabled, {f}) AS enabled, d.account_id IS NOT NULL AS configured,
            a.provider = 'sandbox' AS sandbox, d.server_version, d.last_problem, d.last_problem_at, COALESCE(n.synced, 0) AS synced, n.last_success_at
         FROM whatsapp_accounts a
         LEFT JOIN dhis2_settings d ON d.account_id = a.id
         LEFT JOIN dhis2_counts n ON n.account_id = a.id
         WHERE a.tenant_id = $1{clause} ORDER BY a.name, a.id",
        f = false_literal(db),
        clause = accounts_clause("a.id", access.accounts()),
    );
    type AccountRow = (
        i64,
        String,
        bool,
        bool,
        bool,
        Option<String>,
        Option<String>,
        Option<OffsetDateTime>,
        i64,
        Option<OffsetDateTime>,
    );
    let rows: Vec<AccountRow> = on_db_read!(db, p => sqlx::query_as(&accounts)
        .bind(access.tenant_id()).fetch_all(p).await)?;
    let counts = format!(
        "SELECT account_id, state, COUNT(*), MIN(created_at) FROM dhis2_sync
         WHERE tenant_id = $1 AND state <> 'synced'{clause} GROUP BY account_id, state",
        clause = accounts_clause("account_id", access.accounts()),
    );
    let counted: Vec<(i64, SyncState, i64, Option<OffsetDateTime>)> = on_db_read!(db, p => sqlx::query_as(&counts)
        .bind(access.tenant_id()).fetch_all(p).await)?;
    let mut out: Vec<AccountSync> = rows
        .into_iter()
        .map(|r| AccountSync {
            account_id: r.0,
            account_name: r.1,
            enabled: r.2,
            configured: r.3,
            sandbox: r.4,
            server_version: r.5,
            last_problem: r.6,
            last_problem_at: r.7,
            synced: r.8,
            last_success: r.9,
            ..AccountSync::default()
        })
        .collect();
    for (account_id, state, n, oldest) in counted {
        let Some(a) = out.iter_mut().find(|a| a.account_id == account_id) else {
            continue;
        };
        match state {
            SyncState::Pending => {
                a.pending = n;
                a.oldest_pending = oldest;
            }
            SyncState::Syncing => a.syncing = n,
            SyncState::Failed => a.failed = n,
            SyncState::Held => a.held = n,
            SyncState::Synced => a.synced += n,
        }
    }
    Ok(out)
}

fn false_literal(db: &Db) -> &'static str {
    match db {
        Db::Postgres(_) => "FALSE",
        Db::Sqlite(_) => "0",
    }
}

/// A job as the page's lists show it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub account_id: i64,
    pub account_name: String,
    pub registration_id: i64,
    pub uic: String,
    pub state: SyncState,
    pub attempts: i32,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub tracked_entity: String,
    pub linked: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The jobs of the access in one state but synced, the most recently
/// changed first (at most `limit`). (`state <> 'synced'` is said for
/// SQLite: it reads the partial index `dhis2_sync_listed` only for a query
/// that repeats its term.)
pub async fn jobs_in(
    db: &Db,
    access: &Access,
    state: SyncState,
    limit: i64,
) -> Result<Vec<JobRow>, AccessError> {
    readable(access)?;
    let sql = format!(
        "SELECT {JOB_COLUMNS}
         FROM dhis2_sync s JOIN whatsapp_accounts a ON a.id = s.account_id
            JOIN uic_registrations r ON r.id = s.registration_id
         WHERE s.tenant_id = $1 AND s.state = $2 AND s.state <> 'synced'{clause}
         ORDER BY s.updated_at DESC, s.id DESC LIMIT $3",
        clause = accounts_clause("s.account_id", access.accounts()),
    );
    Ok(on_db_read!(db, p => sqlx::query_as::<_, JobRow>(&sql)
        .bind(access.tenant_id()).bind(state).bind(limit).fetch_all(p).await)?)
}

/// The sync jobs of some registrations (the code card, a conversation's
/// page), within the access.
pub async fn jobs_of(
    db: &Db,
    access: &Access,
    registration_ids: &[i64],
) -> Result<Vec<JobRow>, AccessError> {
    readable(access)?;
    if registration_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = id_list(registration_ids);
    let sql = format!(
        "SELECT {JOB_COLUMNS}
         FROM dhis2_sync s JOIN whatsapp_accounts a ON a.id = s.account_id
            JOIN uic_registrations r ON r.id = s.registration_id
         WHERE s.tenant_id = $1 AND s.registration_id IN ({list}){clause}
         ORDER BY s.id",
        clause = accounts_clause("s.account_id", access.accounts()),
    );
    Ok(on_db_read!(db, p => sqlx::query_as::<_, JobRow>(&sql)
        .bind(access.tenant_id()).fetch_all(p).await)?)
}

/// Requeues failed jobs (`dhis2.manage`): one (`Some(id)`), or every
/// failed job the access covers. Returns how many.
pub async fn retry(
    db: &Db,
    access: &Access,
    id: Option<i64>,
    now: OffsetDateTime,
) -> Result<u64, AccessError> {
    access.is_for(Permission::Dhis2Manage)?;
    let sql = format!(
        "UPDATE dhis2_sync SET state = 'pending', next_attempt_at = $2, attempts = 0, updated_at = $2
         WHERE tenant_id = $1 AND state = 'failed' AND ($3 IS NULL OR id = $3){clause}",
        clause = accounts_clause("account_id", access.accounts()),
    );
    Ok(on_db!(db, p => sqlx::query(&sql)
        .bind(access.tenant_id()).bind(now).bind(id).execute(p).await.map(|r| r.rows_affected()))?)
}

/// Requeues every failed job (the command line, the operator).
pub async fn retry_everywhere(
    db: &Db,
    account_id: Option<i64>,
    now: OffsetDateTime,
) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "UPDATE dhis2_sync SET state = 'pending', next_attempt_at = $1, attempts = 0, updated_at = $1
         WHERE state = 'failed' AND ($2 IS NULL OR account_id = $2)")
        .bind(now).bind(account_id).execute(p).await.map(|r| r.rows_affected()))
}

/// What became of a decision on a held registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    /// Decided on this code.
    Done(String),
    /// Not the access's, or nothing of it held (decided by someone else in
    /// between, say).
    NotHeld,
    /// « Personnes différentes » on a code two phones registered: only the
    /// collision review can give the second person a code of their own;
    /// holding them here would close the collision with nobody given one.
    UseReview,
}

/// A supervisor's decision on a held registration (`dhis2.manage`): the
/// same person (its jobs go to DHIS-2, linked to the record found), or
/// different people (they stay held: the second person needs a code of
/// their own; refused for a code two phones registered, see
/// `Decided::UseReview`). Checked and written in one transaction.
pub async fn decide(
    db: &Db,
    access: &Access,
    registration_id: i64,
    decision: Decision,
    now: OffsetDateTime,
) -> Result<Decided, AccessError> {
    access.is_for(Permission::Dhis2Manage)?;
    let mut tx = db.begin().await?;
    let held = |extra: &str| {
        format!(
            "SELECT 1 FROM dhis2_sync s WHERE s.registration_id = r.id AND s.state = 'held'{extra}{clause}",
            clause = accounts_clause("s.account_id", access.accounts()),
        )
    };
    let find = format!(
        "SELECT r.uic, EXISTS ({two_phones}) FROM uic_registrations r
         WHERE r.id = $1 AND r.tenant_id = $2 AND EXISTS ({held})",
        two_phones = held(" AND s.error_code = $3"),
        held = held(""),
    );
    let found: Option<(String, bool)> = on_tx!(&mut tx, c => sqlx::query_as(&find)
        .bind(registration_id).bind(access.tenant_id()).bind(crate::dhis2::sync::HELD_COLLISION)
        .fetch_optional(c).await)?;
    let Some((uic, two_phones)) = found else {
        tx.rollback().await?;
        return Ok(Decided::NotHeld);
    };
    if decision == Decision::DifferentPeople && two_phones {
        tx.rollback().await?;
        return Ok(Decided::UseReview);
    }
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE uic_registrations SET collision_status = 'reviewed', collision_decision = $2 WHERE id = $1")
        .bind(registration_id).bind(decision.as_str()).execute(c).await.map(|_| ()))?;
    match decision {
        Decision::SamePerson => {
            release_held(&mut tx, registration_id, access.accounts(), now).await?
        }
        Decision::DifferentPeople => {
            set_held(
                &mut tx,
                registration_id,
                access.accounts(),
                SyncState::Held,
                Some(decision.as_str()),
                now,
            )
            .await?
        }
    };
    tx.commit().await?;
    Ok(Decided::Done(uic))
}

/// Sends a registration's held jobs (on the numbers `accounts` covers) to
/// DHIS-2: due now, counted from zero. The one statement of every decision
/// that releases them: « Même personne » here and on the collision review
/// (`registry::collision::decide`), and the first phone's code after
/// « Personnes différentes » there. Returns how many.
pub(crate) async fn release_held(
    tx: &mut Tx,
    registration_id: i64,
    accounts: &crate::auth::access::Accounts,
    now: OffsetDateTime,
) -> Result<u64, sqlx::Error> {
    set_held(tx, registration_id, accounts, SyncState::Pending, None, now).await
}

async fn set_held(
    tx: &mut Tx,
    registration_id: i64,
    accounts: &crate::auth::access::Accounts,
    state: SyncState,
    code: Option<&str>,
    now: OffsetDateTime,
) -> Result<u64, sqlx::Error> {
    let jobs = format!(
        "UPDATE dhis2_sync SET state = $3, next_attempt_at = $2, updated_at = $2, attempts = 0,
            error_code = $4, error_message = NULL
         WHERE registration_id = $1 AND state = 'held'{clause}",
        clause = accounts_clause("account_id", accounts),
    );
    on_tx!(tx, c => sqlx::query(&jobs)
        .bind(registration_id).bind(now).bind(state).bind(code).execute(c).await.map(|r| r.rows_affected()))
}

/// Jobs by state over the whole database (the metrics' queue depth).
pub async fn depth(db: &Db) -> Result<Vec<(SyncState, i64)>, sqlx::Error> {
    let open: Vec<(SyncState, i64)> = on_db_read!(db, p => sqlx::query_as(
        "SELECT state, COUNT(*) FROM dhis2_sync WHERE state <> 'synced' GROUP BY state").fetch_all(p).await)?;
    let synced: Option<i64> = on_db_read!(db, p => sqlx::query_scalar(
        "SELECT CAST(SUM(synced) AS BIGINT) FROM dhis2_counts").fetch_one(p).await)?;
    let mut all = open;
    all.push((SyncState::Synced, synced.unwrap_or(0)));
    Ok(all)
}

/// Writes the `DHIS2_*` settings (read at start) as the DHIS-2 settings of
/// the numbers the environment describes (`TWILIO_*`, `META_*`), as those
/// numbers' own settings are rewritten at each start. With no such number,
/// says so: the variables would otherwise be silently ignored.
pub async fn apply_env(
    db: &Db,
    ring: &Keyring,
    config: &crate::config::Config,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    use crate::tenancy::{META_ACCOUNT, TWILIO_ACCOUNT};
    let Some(env) = &config.dhis2 else {
        return Ok(());
    };
    let slugs: Vec<&str> = [
        (TWILIO_ACCOUNT, config.twilio.is_some()),
        (META_ACCOUNT, config.meta.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(s, _)| s)
    .collect();
    if slugs.is_empty() {
        tracing::warn!(
            "DHIS2_* variables are set but no number is described by TWILIO_* or META_* variables: \
             they apply to nothing (set a number's DHIS-2 settings on its page instead)"
        );
        return Ok(());
    }
    let change = super::settings::parse(&env.input(), false).map_err(|p| {
        anyhow::anyhow!(
            "DHIS2_* variables: {}",
            p.iter()
                .map(|p| p.text(crate::auth::Lang::En))
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    for slug in slugs {
        let Some(account) = crate::tenancy::store::find_by_slug(db, slug).await? else {
            continue;
        };
        let access = crate::auth::Actor::operator(account.tenant_id)
            .require(
                Permission::Dhis2Manage,
                crate::auth::Scope::Account(account.id),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // The environment's credential replaces the stored one only when
        // it differs: an unchanged start does not re-seal it.
        let mut change = change.clone();
        if let NewSecret::Set(v) = &change.credential
            && let Some(stored) = settings_of(db, account.id).await?
            && stored.credential_fp.as_deref()
                == Some(secrets::fingerprint(Purpose::Dhis2Credential, v).as_str())
        {
            change.credential = NewSecret::Keep;
        }
        save(db, ring, &access, account.id, &change, now).await?;
        tracing::info!(
            account = slug,
            enabled = change.enabled,
            "DHIS-2 settings set from the DHIS2_* variables"
        );
    }
    Ok(())
}

/// Every number (all tenants): id, slug, and whether it has DHIS-2
/// settings (the command line's `dhis2 check`).
pub async fn numbers(db: &Db) -> Result<Vec<(i64, String, bool)>, sqlx::Error> {
    on_db_read!(db, p => sqlx::query_as(
        "SELECT a.id, a.slug, d.account_id IS NOT NULL FROM whatsapp_accounts a
         LEFT JOIN dhis2_settings d ON d.account_id = a.id ORDER BY a.slug")
        .fetch_all(p).await)
}

/// The sync jobs of the tenant's real registrations of these codes (the
/// code card beside a conversation), within the access.
pub async fn jobs_of_codes(
    db: &Db,
    access: &Access,
    uics: &[&str],
) -> Result<Vec<JobRow>, AccessError> {
    readable(access)?;
    if uics.is_empty() {
        return Ok(Vec::new());
    }
    let marks = (0..uics.len())
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {JOB_COLUMNS}
         FROM uic_registrations r JOIN dhis2_sync s ON s.registration_id = r.id
            JOIN whatsapp_accounts a ON a.id = s.account_id
         WHERE r.tenant_id = $1 AND NOT r.test_data AND r.uic IN ({marks}){clause}
         ORDER BY s.id",
        clause = accounts_clause("s.account_id", access.accounts()),
    );
    Ok(on_db_read!(db, p => {
        let mut q = sqlx::query_as::<_, JobRow>(&sql).bind(access.tenant_id());
        for u in uics {
            q = q.bind(*u);
        }
        q.fetch_all(p).await
    })?)
}

/// Whether a job is one of the access's (its tenant and numbers),
/// whatever its state.
pub async fn job_visible(db: &Db, access: &Access, id: i64) -> Result<bool, AccessError> {
    readable(access)?;
    let sql = format!(
        "SELECT COUNT(*) FROM dhis2_sync WHERE id = $1 AND tenant_id = $2{clause}",
        clause = accounts_clause("account_id", access.accounts()),
    );
    let n: i64 = on_db_read!(db, p => sqlx::query_scalar(&sql)
        .bind(id).bind(access.tenant_id()).fetch_one(p).await)?;
    Ok(n > 0)
}
