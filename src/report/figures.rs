//! The figures of a report, read for an access (`reports.view`): codes
//! per day and number, the bot's funnel, escalations and the staff
//! queue, DHIS-2 sync. Every read is narrowed to the report's numbers (of
//! the access's tenant, covered by the access, never a sandbox number)
//! and never counts test data.
//!
//! The funnel, the escalations and the new codes are read from the
//! figures kept per number and day (`days`), the runs and codes not added
//! in yet counted beside them.

use super::{Funnel, NumberQueue, Period, Report, ReportNumber, Waits};
use crate::auth::{Access, AccessError, Permission};
use crate::db::Db;
use crate::tenancy::Provider;
use crate::{on_db_read, tenancy};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The numbers a report covers: those of the access (`reports.view`, or
/// `uic.export` for the exports; one number when it is narrowed to one),
/// sandbox numbers left out (their conversations are trials).
pub async fn numbers(db: &Db, access: &Access) -> Result<Vec<ReportNumber>, AccessError> {
    access
        .is_for(Permission::ReportsView)
        .or_else(|_| access.is_for(Permission::UicExport))?;
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
pub(super) fn in_numbers(column: &str, numbers: &[ReportNumber]) -> String {
    if numbers.is_empty() {
        return " AND 1 = 0".into();
    }
    let ids: Vec<String> = numbers.iter().map(|n| n.id.to_string()).collect();
    format!(" AND {column} IN ({})", ids.join(", "))
}

/// The whole report for the access over the period: the figures of its
/// numbers' days (see `days`), the queue and DHIS-2 as they stand.
pub async fn report(db: &Db, access: &Access, period: Period) -> Result<Report, AccessError> {
    let numbers = numbers(db, access).await?;
    let days = super::days::read(db, access.tenant_id(), &numbers, period).await?;
    let mut codes = Vec::new();
    let mut funnel: BTreeMap<i64, Funnel> = BTreeMap::new();
    let mut waits: BTreeMap<i64, Waits> = BTreeMap::new();
    for ((number, day), f) in &days {
        if f.new_codes != 0 {
            codes.push((day.to_string(), *number, f.new_codes));
        }
        funnel.entry(*number).or_default().add(&f.funnel, 1);
        waits.entry(*number).or_default().add(&f.waits, 1);
    }
    codes.sort();
    let funnel = numbers
        .iter()
        .map(|n| Funnel {
            number: n.id,
            ..funnel.remove(&n.id).unwrap_or_default()
        })
        .collect();
    let waits = numbers
        .iter()
        .map(|n| Waits {
            number: n.id,
            ..waits.remove(&n.id).unwrap_or_default()
        })
        .collect();
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
    /// Number, mode, count, the oldest wait, the holder.
    type QueueRow = (i64, String, i64, Option<OffsetDateTime>, Option<String>);
    let rows: Vec<QueueRow> = on_db_read!(db, p => sqlx::query_as(&sql)
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
    let numbers = numbers(db, access).await?;
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
