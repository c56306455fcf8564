//! The figures of a report, read for an access (`reports.view`): codes
//! per day and number, the bot's funnel, escalations and the staff
//! queue, DHIS-2 sync. Every read is narrowed to the report's numbers (of
//! the access's tenant, covered by the access, never a sandbox number)
//! and never counts test data.
//!
//! The funnel and the escalations are read from `flow_runs`, one row per
//! run of questions (see `flow::run`), through its index by number and
//! start; new codes from the registry's index by number and first sight.

use super::{Funnel, NumberQueue, Period, Report, ReportNumber, Waits};
use crate::auth::{Access, AccessError, Permission};
use crate::db::Db;
use crate::tenancy::Provider;
use crate::{on_db_read, tenancy};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The numbers a report covers: those of the access (one when it is
/// narrowed to one), sandbox numbers left out (their conversations are
/// trials).
pub async fn numbers(db: &Db, access: &Access) -> Result<Vec<ReportNumber>, AccessError> {
    access.is_for(Permission::ReportsView)?;
    Ok(tenancy::store::list_accounts(db, access)
        .await?
        .into_iter()
        .filter(|a| a.provider() != Provider::Sandbox)
        .map(|a| ReportNumber {
            id: a.id,
            name: a.name,
        })
        .collect())
}

/// `AND {column} IN (…)`: the report's numbers (ids read from the
/// database, written into the text).
fn in_numbers(column: &str, numbers: &[ReportNumber]) -> String {
    if numbers.is_empty() {
        return " AND 1 = 0".into();
    }
    let ids: Vec<String> = numbers.iter().map(|n| n.id.to_string()).collect();
    format!(" AND {column} IN ({})", ids.join(", "))
}

/// A day (UTC) of a time column, as `YYYY-MM-DD`.
fn day_of(db: &Db, column: &str) -> String {
    match db {
        Db::Postgres(_) => format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
        // Times are stored as text in UTC ("2026-11-28 10:00:00…").
        Db::Sqlite(_) => format!("substr({column}, 1, 10)"),
    }
}

/// Seconds between two time columns.
fn seconds_between(db: &Db, from: &str, to: &str) -> String {
    match db {
        Db::Postgres(_) => format!("CAST(EXTRACT(EPOCH FROM ({to} - {from})) AS DOUBLE PRECISION)"),
        Db::Sqlite(_) => format!("((julianday({to}) - julianday({from})) * 86400.0)"),
    }
}

/// The whole report for the access over the period.
pub async fn report(db: &Db, access: &Access, period: Period) -> Result<Report, AccessError> {
    let numbers = numbers(db, access).await?;
    let (from, until) = (period.start(), period.end());
    let codes = new_codes(db, access, &numbers, from, until).await?;
    let funnel = funnel(db, &numbers, from, until).await?;
    let waits = waits(db, &numbers, from, until).await?;
    let queue = queue(db, access, &numbers).await?;
    let dhis2 = crate::dhis2::store::overview(db, access)
        .await?
        .into_iter()
        .filter(|a| numbers.iter().any(|n| n.id == a.account_id))
        .collect();
    Ok(Report {
        period,
        numbers,
        codes,
        funnel,
        waits,
        queue,
        dhis2,
    })
}

/// New codes (first registered) per day and number: `(day, number, n)`.
async fn new_codes(
    db: &Db,
    access: &Access,
    numbers: &[ReportNumber],
    from: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    let sql = format!(
        "SELECT {day} AS day, first_account_id, COUNT(*) FROM uic_registrations
         WHERE tenant_id = $1 AND NOT test_data AND first_seen_at >= $2 AND first_seen_at < $3{numbers}
         GROUP BY day, first_account_id ORDER BY day, first_account_id",
        day = day_of(db, "first_seen_at"),
        numbers = in_numbers("first_account_id", numbers),
    );
    on_db_read!(db, p => sqlx::query_as(&sql)
        .bind(access.tenant_id()).bind(from).bind(until).fetch_all(p).await)
}

/// The funnel of runs started in the period, per number.
async fn funnel(
    db: &Db,
    numbers: &[ReportNumber],
    from: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Vec<Funnel>, sqlx::Error> {
    let mut sums = String::new();
    for q in 1..=5 {
        sums.push_str(&format!(
            ", SUM(CASE WHEN reached >= {q} AND NOT resumed THEN 1 ELSE 0 END)
             , SUM(CASE WHEN outcome = 'left' AND question = {q} THEN 1 ELSE 0 END)
             , SUM(CASE WHEN outcome = 'escalated' AND question = {q} THEN 1 ELSE 0 END)
             , SUM(invalid_{q})"
        ));
    }
    let sql = format!(
        "SELECT account_id, SUM(CASE WHEN resumed THEN 0 ELSE 1 END), SUM(CASE WHEN resumed THEN 1 ELSE 0 END),
            SUM(CASE WHEN outcome = 'completed' THEN 1 ELSE 0 END),
            SUM(CASE WHEN outcome = 'escalated' THEN 1 ELSE 0 END),
            SUM(CASE WHEN outcome = 'left' THEN 1 ELSE 0 END), SUM(restarts){sums}
         FROM flow_runs WHERE NOT test_data AND started_at >= $1 AND started_at < $2{numbers}
         GROUP BY account_id",
        numbers = in_numbers("account_id", numbers),
    );
    let rows = on_db_read!(db, p => {
        let rows = sqlx::query(&sql).bind(from).bind(until).fetch_all(p).await?;
        rows.iter().map(read_funnel).collect::<Result<Vec<Funnel>, sqlx::Error>>()
    })?;
    // The time from the first question to the code, of runs the person
    // went through without staff.
    let sql = format!(
        "SELECT account_id, {secs} FROM flow_runs
         WHERE NOT test_data AND started_at >= $1 AND started_at < $2 AND outcome = 'completed' AND NOT resumed{numbers}",
        secs = seconds_between(db, "started_at", "ended_at"),
        numbers = in_numbers("account_id", numbers),
    );
    let times: Vec<(i64, f64)> = on_db_read!(db, p => sqlx::query_as(&sql)
        .bind(from).bind(until).fetch_all(p).await)?;
    let mut by_number: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (number, secs) in times {
        by_number.entry(number).or_default().push(secs);
    }
    Ok(numbers
        .iter()
        .map(|n| {
            let mut f = rows
                .iter()
                .find(|f| f.number == n.id)
                .cloned()
                .unwrap_or(Funnel {
                    number: n.id,
                    ..Funnel::default()
                });
            f.completion_seconds = by_number.remove(&n.id).unwrap_or_default();
            f
        })
        .collect())
}

fn read_funnel<'r, R>(row: &'r R) -> Result<Funnel, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    // SUM of no row is NULL; of SMALLINTs on PostgreSQL, a BIGINT.
    let n = |i: usize| -> Result<i64, sqlx::Error> {
        Ok(row.try_get::<Option<i64>, _>(i)?.unwrap_or(0))
    };
    let mut f = Funnel {
        number: row.try_get(0)?,
        started: n(1)?,
        resumed: n(2)?,
        completed: n(3)?,
        escalated: n(4)?,
        left: n(5)?,
        restarts: n(6)?,
        ..Funnel::default()
    };
    for q in 0..5 {
        let at = 7 + q * 4;
        f.reached[q] = n(at)?;
        f.left_at[q] = n(at + 1)?;
        f.escalated_at[q] = n(at + 2)?;
        f.invalid[q] = n(at + 3)?;
    }
    Ok(f)
}

/// Escalations in the period (by the time the run was handed over), per
/// number and reason, and the time staff took to first write.
async fn waits(
    db: &Db,
    numbers: &[ReportNumber],
    from: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Vec<Waits>, sqlx::Error> {
    let sql = format!(
        "SELECT account_id, escalation_reason,
            CASE WHEN first_reply_at IS NULL THEN NULL ELSE {secs} END
         FROM flow_runs WHERE NOT test_data AND outcome = 'escalated' AND ended_at >= $1 AND ended_at < $2{numbers}",
        secs = seconds_between(db, "ended_at", "first_reply_at"),
        numbers = in_numbers("account_id", numbers),
    );
    let rows: Vec<(i64, Option<String>, Option<f64>)> = on_db_read!(db, p => sqlx::query_as(&sql)
        .bind(from).bind(until).fetch_all(p).await)?;
    Ok(numbers
        .iter()
        .map(|n| {
            let mut w = Waits {
                number: n.id,
                ..Waits::default()
            };
            for (_, reason, reply) in rows.iter().filter(|r| r.0 == n.id) {
                w.escalated += 1;
                match reason.as_deref() {
                    Some("requested") => w.requested += 1,
                    Some("failed_answers") => w.failed_answers += 1,
                    Some("media") => w.media += 1,
                    _ => {}
                }
                match reply {
                    Some(secs) => w.reply_seconds.push(*secs),
                    None => w.unanswered += 1,
                }
            }
            w
        })
        .collect())
}

/// The staff queue now: per number, how many wait and since when, how
/// many staff hold, and who holds how many.
async fn queue(
    db: &Db,
    access: &Access,
    numbers: &[ReportNumber],
) -> Result<Vec<NumberQueue>, sqlx::Error> {
    let sql = format!(
        "SELECT c.account_id, c.mode, COUNT(*), MIN(c.escalated_at), u.display_name
         FROM conversations c LEFT JOIN users u ON u.id = c.taken_by AND c.mode = 'human'
         WHERE c.tenant_id = $1 AND c.mode IN ('waiting', 'human'){numbers}
         GROUP BY c.account_id, c.mode, u.display_name",
        numbers = in_numbers("c.account_id", numbers),
    );
    let rows: Vec<(i64, String, i64, Option<OffsetDateTime>, Option<String>)> = on_db_read!(db, p => sqlx::query_as(&sql)
        .bind(access.tenant_id()).fetch_all(p).await)?;
    Ok(numbers
        .iter()
        .map(|n| {
            let mut q = NumberQueue {
                number: n.id,
                ..NumberQueue::default()
            };
            for (_, mode, count, oldest, holder) in rows.iter().filter(|r| r.0 == n.id) {
                if mode == "waiting" {
                    q.waiting += count;
                    q.oldest_waiting = match (q.oldest_waiting, *oldest) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                } else {
                    q.held += count;
                    q.holders.push((holder.clone().unwrap_or_default(), *count));
                }
            }
            q.holders.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            q
        })
        .collect())
}

/// The registrations first seen in the period through the access's
/// numbers (`uic.export`), oldest first; with the phone numbers of the
/// conversations that hold each code when `with_phones` (the caller
/// checked `contacts.view`).
pub async fn registrations(
    db: &Db,
    access: &Access,
    period: Period,
    with_phones: bool,
) -> Result<Vec<super::csv::RegistrationRow>, AccessError> {
    access.is_for(Permission::UicExport)?;
    let numbers = tenancy::store::list_accounts(db, access)
        .await?
        .into_iter()
        .filter(|a| a.provider() != Provider::Sandbox)
        .map(|a| ReportNumber {
            id: a.id,
            name: a.name,
        })
        .collect::<Vec<_>>();
    let sql = format!(
        "SELECT r.uic, a.name, r.first_seen_at, r.last_seen_at, CAST(r.times_seen AS BIGINT),
            (SELECT COUNT(*) FROM uic_registration_phones ph WHERE ph.registration_id = r.id),
            r.collision_status,
            (SELECT s.state FROM dhis2_sync s WHERE s.registration_id = r.id AND s.account_id = r.first_account_id)
         FROM uic_registrations r JOIN whatsapp_accounts a ON a.id = r.first_account_id
         WHERE r.tenant_id = $1 AND NOT r.test_data AND r.first_seen_at >= $2 AND r.first_seen_at < $3{numbers}
         ORDER BY r.first_seen_at, r.id",
        numbers = in_numbers("r.first_account_id", &numbers),
    );
    type Row = (
        String,
        String,
        OffsetDateTime,
        OffsetDateTime,
        i64,
        i64,
        String,
        Option<String>,
    );
    let rows: Vec<Row> = on_db_read!(db, p => sqlx::query_as(&sql)
        .bind(access.tenant_id()).bind(period.start()).bind(period.end()).fetch_all(p).await)?;
    let mut phones: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if with_phones {
        let sql = format!(
            "SELECT c.uic, k.phone FROM conversations c
             JOIN contacts k ON k.id = c.contact_id
             JOIN uic_registrations r ON r.tenant_id = c.tenant_id AND r.uic = c.uic AND NOT r.test_data
             WHERE c.tenant_id = $1 AND r.first_seen_at >= $2 AND r.first_seen_at < $3{numbers}{covered}
             ORDER BY k.phone",
            numbers = in_numbers("r.first_account_id", &numbers),
            covered = in_numbers("c.account_id", &numbers),
        );
        let pairs: Vec<(String, String)> = on_db_read!(db, p => sqlx::query_as(&sql)
            .bind(access.tenant_id()).bind(period.start()).bind(period.end()).fetch_all(p).await)?;
        for (uic, phone) in pairs {
            phones.entry(uic).or_default().push(phone);
        }
    }
    let rfc3339 = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    Ok(rows
        .into_iter()
        .map(|r| super::csv::RegistrationRow {
            phone_numbers: with_phones.then(|| phones.remove(&r.0).unwrap_or_default()),
            uic: r.0,
            number: r.1,
            first_seen: rfc3339(r.2),
            last_seen: rfc3339(r.3),
            times_seen: r.4,
            phones: r.5,
            collision: r.6,
            dhis2: r.7.unwrap_or_default(),
        })
        .collect())
}
