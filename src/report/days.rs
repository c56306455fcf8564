//! The figures of each number and UTC day, kept added up (`report_days`)
//! so that a report over a year reads 365 rows a number, not every run of
//! the year.
//!
//! A run (`flow_runs`) or a registration (`uic_registrations`) is *rolled*
//! when its figures are in its days: the background (`roll`) adds them in
//! batches, each batch in one transaction with the rows' `rolled` flag. A
//! report (`read`) reads, in one snapshot, the period's days and the rows
//! not rolled yet (a few minutes' worth, through an index of only those),
//! and adds the latter with the same function (`RunRow::figures`): the
//! figures are the same whether or not the background has caught up.
//!
//! A rolled run can still change once: a staff member first writes to the
//! person it escalated (`runs::staff_wrote`). That transaction moves the
//! run's day from unanswered to answered itself (`add_change`).

use super::figures::in_numbers;
use super::runs::Outcome;
use super::{Day, Period, ReportNumber};
use crate::db::{Db, Tx};
use crate::inbox::WaitingReason;
use crate::on_tx;
use sqlx::types::Json;
use std::collections::BTreeMap;
use time::{Date, OffsetDateTime};

/// A run of questions that ended, as its figures need it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RunRow {
    pub tenant_id: i64,
    pub account_id: i64,
    pub test_data: bool,
    pub started_at: OffsetDateTime,
    pub ended_at: OffsetDateTime,
    pub outcome: Outcome,
    pub resumed: bool,
    pub question: Option<i16>,
    pub reached: i16,
    pub invalid_1: i16,
    pub invalid_2: i16,
    pub invalid_3: i16,
    pub invalid_4: i16,
    pub invalid_5: i16,
    pub restarts: i16,
    pub escalation_reason: Option<WaitingReason>,
    pub first_reply_at: Option<OffsetDateTime>,
}

/// The columns `RunRow` reads.
const RUN_COLUMNS: &str =
    "tenant_id, account_id, test_data, started_at, ended_at, outcome, resumed,
    question, reached, invalid_1, invalid_2, invalid_3, invalid_4, invalid_5, restarts,
    escalation_reason, first_reply_at";

impl RunRow {
    /// What the run adds to its number's days: the funnel to the day it
    /// started; an escalation also to the day it was handed over. Test
    /// data adds nothing.
    pub fn figures(&self) -> Vec<(Date, Day)> {
        if self.test_data {
            return Vec::new();
        }
        let mut start = Day::default();
        let f = &mut start.funnel;
        if self.resumed {
            f.resumed = 1;
        } else {
            f.started = 1;
        }
        let at = self
            .question
            .and_then(|q| usize::try_from(q).ok())
            .filter(|q| (1..=5).contains(q))
            .map(|q| q - 1);
        match self.outcome {
            Outcome::Completed => f.completed = 1,
            Outcome::Escalated => f.escalated = 1,
            Outcome::Left => f.left = 1,
        }
        f.restarts = i64::from(self.restarts);
        let invalid = [
            self.invalid_1,
            self.invalid_2,
            self.invalid_3,
            self.invalid_4,
            self.invalid_5,
        ];
        for (q, invalid) in invalid.into_iter().enumerate() {
            if !self.resumed && i64::from(self.reached) > q as i64 {
                f.reached[q] = 1;
            }
            f.invalid[q] = i64::from(invalid);
            if at == Some(q) {
                match self.outcome {
                    Outcome::Left => f.left_at[q] = 1,
                    Outcome::Escalated => f.escalated_at[q] = 1,
                    Outcome::Completed => {}
                }
            }
        }
        if self.outcome == Outcome::Completed && !self.resumed {
            f.completion
                .push((self.ended_at - self.started_at).as_seconds_f64());
        }
        let mut out = vec![(self.started_at.date(), start)];
        if self.outcome == Outcome::Escalated {
            let mut end = Day::default();
            let w = &mut end.waits;
            w.escalated = 1;
            match self.escalation_reason {
                Some(WaitingReason::Requested) => w.requested = 1,
                Some(WaitingReason::FailedAnswers) => w.failed_answers = 1,
                Some(WaitingReason::Media) => w.media = 1,
                Some(WaitingReason::Flagged) | None => {}
            }
            match self.first_reply_at {
                Some(t) => w.reply.push((t - self.ended_at).as_seconds_f64()),
                None => w.unanswered = 1,
            }
            out.push((self.ended_at.date(), end));
        }
        out
    }
}

/// A code's first registration, as the new codes need it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RegistrationRow {
    pub tenant_id: i64,
    pub first_account_id: i64,
    pub test_data: bool,
    pub first_seen_at: OffsetDateTime,
}

const REGISTRATION_COLUMNS: &str = "tenant_id, first_account_id, test_data, first_seen_at";

impl RegistrationRow {
    /// One new code on the day it was first seen; test data none.
    pub fn figures(&self) -> Option<(Date, Day)> {
        (!self.test_data).then(|| {
            (
                self.first_seen_at.date(),
                Day {
                    new_codes: 1,
                    ..Day::default()
                },
            )
        })
    }
}

/// Figures by number and day, with the tenant of each number.
pub type Days = BTreeMap<(i64, Date), (i64, Day)>;

fn put(days: &mut Days, tenant: i64, account: i64, day: Date, figures: &Day, sign: i64) {
    days.entry((account, day))
        .or_insert_with(|| (tenant, Day::default()))
        .1
        .add(figures, sign);
}

/// The runs' and registrations' figures by number and day.
pub fn add_up(runs: &[RunRow], registrations: &[RegistrationRow]) -> Days {
    let mut days = Days::new();
    for r in runs {
        for (day, f) in r.figures() {
            put(&mut days, r.tenant_id, r.account_id, day, &f, 1);
        }
    }
    for r in registrations {
        if let Some((day, f)) = r.figures() {
            put(&mut days, r.tenant_id, r.first_account_id, day, &f, 1);
        }
    }
    days
}

/// `rolled` is false, in the words of each backend's partial index (SQLite
/// uses one only when the query repeats its term).
fn not_rolled(db_is_postgres: bool) -> &'static str {
    if db_is_postgres {
        "NOT rolled"
    } else {
        "rolled = 0"
    }
}

/// How many rows one transaction of the background rolls.
pub const BATCH: i64 = 2000;

/// Rolls at most `batch` runs and `batch` registrations into their days;
/// returns how many rows it rolled. Two instances at once take different
/// rows (PostgreSQL: SKIP LOCKED; SQLite: one writer at a time).
pub async fn roll(db: &Db, batch: i64) -> Result<usize, sqlx::Error> {
    let pg = matches!(db, Db::Postgres(_));
    // Marks up to $1 rows not rolled yet and returns them.
    let claim = |table: &str, columns: &str| {
        format!(
            "UPDATE {table} SET rolled = TRUE WHERE id IN (
                SELECT id FROM {table} WHERE {nr} ORDER BY id LIMIT $1{skip})
             RETURNING {columns}",
            nr = not_rolled(pg),
            skip = if pg { " FOR UPDATE SKIP LOCKED" } else { "" },
        )
    };
    let mut tx = db.begin().await?;
    let sql = claim("flow_runs", RUN_COLUMNS);
    let runs: Vec<RunRow> =
        on_tx!(&mut tx, c => sqlx::query_as(&sql).bind(batch).fetch_all(c).await)?;
    let sql = claim("uic_registrations", REGISTRATION_COLUMNS);
    let registrations: Vec<RegistrationRow> =
        on_tx!(&mut tx, c => sqlx::query_as(&sql).bind(batch).fetch_all(c).await)?;
    add_days(&mut tx, &add_up(&runs, &registrations)).await?;
    tx.commit().await?;
    Ok(runs.len() + registrations.len())
}

/// Rolls until nothing is left; returns how many rows.
pub async fn roll_all(db: &Db) -> Result<usize, sqlx::Error> {
    let mut total = 0;
    loop {
        let n = roll(db, BATCH).await?;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}

/// Adds figures to their days, in the caller's transaction. Days are
/// taken in order (number, day), so that two transactions adding to the
/// same days wait for each other rather than deadlock.
pub async fn add_days(tx: &mut Tx, days: &Days) -> Result<(), sqlx::Error> {
    let lock = if matches!(tx, Tx::Postgres(_)) {
        " FOR UPDATE"
    } else {
        ""
    };
    let read = format!(
        "SELECT figures FROM report_days WHERE account_id = $1 AND day = $2 AND tenant_id = $3{lock}"
    );
    for ((account, day), (tenant, figures)) in days {
        let inserted: Option<i64> = on_tx!(&mut *tx, c => sqlx::query_scalar(
            "INSERT INTO report_days (account_id, day, tenant_id, figures) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account_id, day) DO NOTHING RETURNING account_id")
            .bind(account).bind(day).bind(tenant).bind(Json(figures)).fetch_optional(c).await)?;
        if inserted.is_some() {
            continue;
        }
        let Json(mut stored): Json<Day> = on_tx!(&mut *tx, c => sqlx::query_scalar(&read)
            .bind(account).bind(day).bind(tenant).fetch_one(c).await)?;
        stored.add(figures, 1);
        on_tx!(&mut *tx, c => sqlx::query(
            "UPDATE report_days SET figures = $3 WHERE account_id = $1 AND day = $2")
            .bind(account).bind(day).bind(Json(&stored)).execute(c).await.map(|_| ()))?;
    }
    Ok(())
}

/// A rolled run changed from `before` to `after`: moves its figures in its
/// days, in the transaction that changed it.
pub async fn add_change(tx: &mut Tx, before: &RunRow, after: &RunRow) -> Result<(), sqlx::Error> {
    let mut days = Days::new();
    for (row, sign) in [(before, -1), (after, 1)] {
        for (day, f) in row.figures() {
            put(&mut days, row.tenant_id, row.account_id, day, &f, sign);
        }
    }
    days.retain(|_, (_, f)| *f != Day::default());
    add_days(tx, &days).await
}

/// The columns `RunRow` reads, and `rolled`, for `runs::staff_wrote`.
pub(crate) fn run_columns_and_rolled() -> String {
    format!("{RUN_COLUMNS}, rolled")
}

/// The figures of the report's numbers over the period, by number and day:
/// the days rolled up and the rows not rolled yet, read in one snapshot
/// (a batch rolled meanwhile is counted once, either way).
pub async fn read(
    db: &Db,
    tenant_id: i64,
    numbers: &[ReportNumber],
    period: Period,
) -> Result<BTreeMap<(i64, Date), Day>, sqlx::Error> {
    let pg = matches!(db, Db::Postgres(_));
    let nr = not_rolled(pg);
    let mut tx = db.snapshot().await?;
    let sql = format!(
        "SELECT account_id, day, figures FROM report_days
         WHERE tenant_id = $1 AND day >= $2 AND day <= $3{numbers}",
        numbers = in_numbers("account_id", numbers),
    );
    let rolled: Vec<(i64, Date, Json<Day>)> = on_tx!(&mut tx, c => sqlx::query_as(&sql)
        .bind(tenant_id).bind(period.from).bind(period.to).fetch_all(c).await)?;
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM flow_runs WHERE tenant_id = $1 AND {nr}{numbers}",
        numbers = in_numbers("account_id", numbers),
    );
    let runs: Vec<RunRow> =
        on_tx!(&mut tx, c => sqlx::query_as(&sql).bind(tenant_id).fetch_all(c).await)?;
    let sql = format!(
        "SELECT {REGISTRATION_COLUMNS} FROM uic_registrations WHERE tenant_id = $1 AND {nr}{numbers}",
        numbers = in_numbers("first_account_id", numbers),
    );
    let registrations: Vec<RegistrationRow> =
        on_tx!(&mut tx, c => sqlx::query_as(&sql).bind(tenant_id).fetch_all(c).await)?;
    tx.rollback().await?;
    let mut out: BTreeMap<(i64, Date), Day> = rolled
        .into_iter()
        .map(|(account, day, Json(f))| ((account, day), f))
        .collect();
    for ((account, day), (_, f)) in add_up(&runs, &registrations) {
        if period.from <= day && day <= period.to {
            out.entry((account, day)).or_default().add(&f, 1);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn run(outcome: Outcome, question: Option<i16>, reached: i16) -> RunRow {
        RunRow {
            tenant_id: 1,
            account_id: 7,
            test_data: false,
            started_at: datetime!(2026-11-30 23:50 UTC),
            ended_at: datetime!(2026-12-01 00:05 UTC),
            outcome,
            resumed: false,
            question,
            reached,
            invalid_1: 0,
            invalid_2: 2,
            invalid_3: 0,
            invalid_4: 0,
            invalid_5: 0,
            restarts: 1,
            escalation_reason: Some(WaitingReason::Media),
            first_reply_at: None,
        }
    }

    #[test]
    fn a_run_counts_on_the_day_it_started_and_its_escalation_on_the_day_it_was_handed_over() {
        let r = run(Outcome::Escalated, Some(3), 3);
        let figures = r.figures();
        assert_eq!(figures.len(), 2);
        let (day, start) = &figures[0];
        assert_eq!(*day, time::macros::date!(2026 - 11 - 30));
        assert_eq!(
            (
                start.funnel.started,
                start.funnel.escalated,
                start.funnel.restarts
            ),
            (1, 1, 1)
        );
        assert_eq!(start.funnel.reached, [1, 1, 1, 0, 0]);
        assert_eq!(start.funnel.escalated_at, [0, 0, 1, 0, 0]);
        assert_eq!(start.funnel.invalid, [0, 2, 0, 0, 0]);
        assert_eq!(start.waits, Default::default());
        let (day, end) = &figures[1];
        assert_eq!(*day, time::macros::date!(2026 - 12 - 01));
        assert_eq!(
            (end.waits.escalated, end.waits.media, end.waits.unanswered),
            (1, 1, 1)
        );
        assert_eq!(end.funnel, Default::default());

        let completed = RunRow {
            escalation_reason: None,
            ..run(Outcome::Completed, None, 5)
        };
        let [(_, f)] = completed.figures().try_into().unwrap();
        assert_eq!(f.funnel.completion.median(), Some(15.0 * 60.0));
        let resumed = RunRow {
            resumed: true,
            ..completed.clone()
        };
        let [(_, f)] = resumed.figures().try_into().unwrap();
        assert_eq!((f.funnel.started, f.funnel.resumed), (0, 1));
        assert_eq!(f.funnel.reached, [0; 5], "a hand back reaches nothing");
        assert_eq!(f.funnel.completion.count(), 0, "not the bot's time alone");
        let test = RunRow {
            test_data: true,
            ..completed
        };
        assert!(test.figures().is_empty());
    }

    #[test]
    fn a_first_reply_moves_an_escalation_from_unanswered_to_answered() {
        let before = run(Outcome::Escalated, Some(2), 2);
        let after = RunRow {
            first_reply_at: Some(before.ended_at + time::Duration::minutes(7)),
            ..before.clone()
        };
        let mut day = Day::default();
        for (_, f) in before.figures() {
            day.add(&f, 1);
        }
        for (row, sign) in [(&before, -1), (&after, 1)] {
            for (_, f) in row.figures() {
                day.add(&f, sign);
            }
        }
        let mut direct = Day::default();
        for (_, f) in after.figures() {
            direct.add(&f, 1);
        }
        assert_eq!(day, direct);
        assert_eq!(day.waits.unanswered, 0);
        assert_eq!(day.waits.median_reply(), Some(420.0));
    }

    fn any_run() -> impl Strategy<Value = RunRow> {
        (
            0..3u8,
            1..=5i16,
            any::<bool>(),
            any::<bool>(),
            0..(3 * 86400i64),
            0..7200i64,
            proptest::option::of(0..100_000i64),
            0..4i16,
        )
            .prop_map(|(o, q, resumed, test, start, took, reply, invalid)| {
                let outcome =
                    [Outcome::Completed, Outcome::Escalated, Outcome::Left][usize::from(o)];
                let started_at = datetime!(2026-11-01 00:00 UTC) + time::Duration::seconds(start);
                let ended_at = started_at + time::Duration::seconds(took);
                RunRow {
                    tenant_id: 1,
                    account_id: 1 + i64::from(q % 2),
                    test_data: test,
                    started_at,
                    ended_at,
                    outcome,
                    resumed,
                    question: (outcome != Outcome::Completed).then_some(q),
                    reached: if outcome == Outcome::Completed { 5 } else { q },
                    invalid_1: invalid,
                    invalid_2: 0,
                    invalid_3: invalid / 2,
                    invalid_4: 0,
                    invalid_5: 0,
                    restarts: invalid % 2,
                    escalation_reason: (outcome == Outcome::Escalated)
                        .then_some(WaitingReason::Requested),
                    first_reply_at: reply
                        .filter(|_| outcome == Outcome::Escalated)
                        .map(|s| ended_at + time::Duration::seconds(s)),
                }
            })
    }

    proptest! {
        /// Rolled in any batches, the days add up to the same figures as
        /// all the rows at once: what lets a report add the rows not
        /// rolled yet to the days that are.
        #[test]
        fn batches_add_up_to_the_whole(runs in proptest::collection::vec(any_run(), 0..60), cut in 0usize..60) {
            let cut = cut.min(runs.len());
            let whole = add_up(&runs, &[]);
            let mut parts = add_up(&runs[..cut], &[]);
            for (key, (tenant, f)) in add_up(&runs[cut..], &[]) {
                put(&mut parts, tenant, key.0, key.1, &f, 1);
            }
            prop_assert_eq!(parts, whole);
        }
    }
}
