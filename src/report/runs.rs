//! Storage of the runs of questions that ended (`flow_runs`, see
//! `flow::run`): one row each, written in the transaction that ends the
//! run (the message, or the sweep of idle runs); and when staff first
//! wrote to a person whose run was escalated.

use crate::config::Config;
use crate::db::{Db, Tx};
use crate::flow::FlowState;
use crate::flow::run::{End, Finished};
use crate::inbox::WaitingReason;
use crate::tenancy::Provider;
use crate::{on_db, on_tx};
use sqlx::types::Json;
use time::OffsetDateTime;

crate::text_enum! {
    /// How a run ended (`flow_runs.outcome`).
    pub enum Outcome("run outcome") {
        /// The code was given.
        Completed = "completed",
        /// Handed to staff.
        Escalated = "escalated",
        /// Idle past the session timeout.
        Left = "left",
    }
}

impl From<End> for Outcome {
    fn from(end: End) -> Outcome {
        match end {
            End::Completed => Outcome::Completed,
            End::Escalated(_) => Outcome::Escalated,
            End::Left => Outcome::Left,
        }
    }
}

/// One ended run, where it happened.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub tenant_id: i64,
    pub account_id: i64,
    pub conversation_id: i64,
    /// On a sandbox number: never counted.
    pub test_data: bool,
    pub run: &'a Finished,
}

impl Record<'_> {
    fn reason(&self) -> Option<WaitingReason> {
        match self.run.end {
            End::Escalated(reason) => Some(reason.into()),
            End::Completed | End::Left => None,
        }
    }
}

/// The columns of a row, in the order `record` and PostgreSQL's
/// one-statement write bind them.
pub(crate) const COLUMNS: &str = "tenant_id, account_id, conversation_id, test_data, started_at, ended_at,
    outcome, resumed, question, reached, invalid_1, invalid_2, invalid_3, invalid_4, invalid_5, restarts,
    escalation_reason";

/// Records an ended run, in the transaction that ends it.
pub async fn record(tx: &mut Tx, r: &Record<'_>) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO flow_runs ({COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    );
    let f = r.run;
    let [i1, i2, i3, i4, i5] = f.run.invalid.map(i16::from);
    on_tx!(tx, c => sqlx::query(&sql)
        .bind(r.tenant_id).bind(r.account_id).bind(r.conversation_id).bind(r.test_data)
        .bind(f.run.started_at).bind(f.ended_at).bind(Outcome::from(f.end)).bind(f.run.resumed)
        .bind(f.question.map(i16::from)).bind(i16::from(f.run.reached))
        .bind(i1).bind(i2).bind(i3).bind(i4).bind(i5).bind(i16::from(f.run.restarts))
        .bind(r.reason())
        .execute(c).await.map(|_| ()))
}

/// The part of PostgreSQL's one-statement message write (`inbox::store`)
/// that records a completed run: the message that gives the code ends
/// it. Its parameters follow the write's own, from `$29`.
pub(crate) fn postgres_completed() -> String {
    format!(
        ", run AS (
    INSERT INTO flow_runs ({COLUMNS})
    SELECT $1, $2, upd.id, $26, $29, $7, '{completed}', $30, NULL, $31, $32, $33, $34, $35, $36, $37, NULL FROM upd
)",
        completed = Outcome::Completed,
    )
}

/// Binds the parameters `postgres_completed` reads.
pub(crate) fn bind_completed<'q, O>(
    q: sqlx::query::QueryScalar<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    f: &Finished,
) -> sqlx::query::QueryScalar<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    let [i1, i2, i3, i4, i5] = f.run.invalid.map(i16::from);
    q.bind(f.run.started_at)
        .bind(f.run.resumed)
        .bind(i16::from(f.run.reached))
        .bind(i1)
        .bind(i2)
        .bind(i3)
        .bind(i4)
        .bind(i5)
        .bind(i16::from(f.run.restarts))
}

/// Notes the first time a staff member wrote to the person since the
/// conversation's last run was escalated (the reports' time to first
/// reply), in the transaction that stores the staff message; a run already
/// rolled into its days moves there from unanswered to answered in the
/// same transaction. The run stamped, if this was the first reply: its wait
/// is for the metrics once the transaction committed
/// (`telemetry::staff_replied`).
pub async fn staff_wrote(
    tx: &mut Tx,
    conversation_id: i64,
    now: OffsetDateTime,
) -> Result<Option<super::days::RunRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE flow_runs SET first_reply_at = $2
         WHERE id = (SELECT MAX(id) FROM flow_runs WHERE conversation_id = $1)
            AND outcome = 'escalated' AND first_reply_at IS NULL
         RETURNING {}",
        super::days::run_columns_and_rolled()
    );
    #[derive(sqlx::FromRow)]
    struct Stamped {
        #[sqlx(flatten)]
        run: super::days::RunRow,
        rolled: bool,
    }
    let stamped: Option<Stamped> = on_tx!(&mut *tx, c => sqlx::query_as(&sql)
        .bind(conversation_id).bind(now).fetch_optional(c).await)?;
    match stamped {
        Some(Stamped { run, rolled: true }) => {
            let before = super::days::RunRow {
                first_reply_at: None,
                ..run.clone()
            };
            super::days::add_change(tx, &before, &run).await?;
            Ok(Some(run))
        }
        Some(Stamped { run, rolled: false }) => Ok(Some(run)),
        None => Ok(None),
    }
}

/// A conversation the sweep looks at.
#[derive(sqlx::FromRow)]
struct Idle {
    id: i64,
    version: i64,
    flow_state: Json<FlowState>,
}

/// How often the sweep runs.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// The most runs one number's sweep ends at a time.
const BATCH: i64 = 500;

/// Ends the runs of conversations the bot has and nobody wrote in for
/// longer than their number's session timeout (people who left at a
/// question and did not come back). Each is ended in its own transaction,
/// under the conversation's version: a message arriving meanwhile wins,
/// and two instances sweeping at once end each run once. Returns how many
/// were ended.
///
/// It reads each number's conversations in bot mode idle past the
/// timeout: there is no index on the time of the last message (the
/// message path's update would then touch an index: see migration 0001),
/// so this runs every few minutes (`EVERY`), not per message.
pub async fn sweep(db: &Db, config: &Config, now: OffsetDateTime) -> Result<usize, sqlx::Error> {
    let has_run = match db {
        Db::Postgres(_) => "flow_state ? 'run'",
        Db::Sqlite(_) => "json_type(flow_state, '$.run') IS NOT NULL",
    };
    let sql = format!(
        "SELECT id, version, flow_state FROM conversations
         WHERE account_id = $1 AND id > $4 AND mode = 'bot' AND last_inbound_at < $2 AND {has_run}
         ORDER BY id LIMIT $3"
    );
    let mut ended = 0;
    for account in crate::tenancy::store::all_accounts(db).await? {
        let timeout = account.flow_config(config).session_timeout;
        let mut after_id = 0;
        loop {
            let idle: Vec<Idle> = on_db!(db, p => sqlx::query_as::<_, Idle>(&sql)
                .bind(account.id).bind(now - timeout).bind(BATCH).bind(after_id).fetch_all(p).await)?;
            let Some(last) = idle.last() else { break };
            after_id = last.id;
            let full = idle.len() as i64 == BATCH;
            for c in idle {
                let Some((after, run)) = crate::flow::run::left_idle(&c.flow_state.0, timeout, now)
                else {
                    continue;
                };
                let mut tx = db.begin().await?;
                let updated = on_tx!(&mut tx, t => sqlx::query(
                    "UPDATE conversations SET flow_state = $2, version = version + 1 WHERE id = $1 AND version = $3")
                    .bind(c.id).bind(Json(&after)).bind(c.version).execute(t).await.map(|r| r.rows_affected()))?;
                if updated == 0 {
                    tx.rollback().await?;
                    continue;
                }
                record(
                    &mut tx,
                    &Record {
                        tenant_id: account.tenant_id,
                        account_id: account.id,
                        conversation_id: c.id,
                        test_data: account.provider() == Provider::Sandbox,
                        run: &run,
                    },
                )
                .await?;
                tx.commit().await?;
                crate::telemetry::run_ended(&account, &run);
                ended += 1;
            }
            if !full {
                break;
            }
        }
    }
    Ok(ended)
}
