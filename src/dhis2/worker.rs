//! The sync worker: every second, for each number whose DHIS-2 sync is on
//! and has jobs due, claims a batch (several instances claim side by side:
//! `store::claim`), searches DHIS-2 for the batch's codes in one call,
//! imports what is missing in one call, and writes each job's verdict
//! (`sync`'s decisions). A batch that did not get through (network, 5xx,
//! credentials refused) is due again later, with exponential backoff, for
//! as long as it takes; the problem is shown on the DHIS-2 page.
//!
//! What a number's DHIS-2 needs to be asked (its connection, version, and
//! where each attribute goes) is read once and kept for a few minutes, or
//! until its settings change.

use super::check::{AttributeRole, Placement, Slot};
use super::client::{Connection, Dhis2Client, Dhis2Error};
use super::settings::Settings;
use super::store::{self, Claimed, Verdict};
use super::sync::{self, Found, Issue, Step};
use super::uid::Uid;
use super::wire::{
    AttributeValue, Enrollment, EnrollmentStatus, ImportBundle, OuMode, SearchQuery, SearchScope,
    TrackedEntity, Version,
};
use crate::AppState;
use crate::auth::Lang;
use rand::RngExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};
use time::OffsetDateTime;
use tokio::sync::Notify;

/// Jobs per batch: one search and one import each.
pub const BATCH: i64 = 50;
/// How long a claim lasts: longer than a batch's two calls can take.
const LEASE: time::Duration = time::Duration::minutes(3);
/// How long a number's connection, version and placement are kept.
const PREPARED_FOR: StdDuration = StdDuration::from_secs(600);
/// Each call's limit.
const TIMEOUT: StdDuration = StdDuration::from_secs(30);
/// Imports of one batch at most (see `send`).
const IMPORT_ROUNDS: usize = 4;
/// Batches of one number taken in a row before the next number's turn.
const BATCHES_PER_TURN: usize = 20;

/// What a number's DHIS-2 needs to be asked.
#[derive(Clone)]
struct Prepared {
    updated_at: OffsetDateTime,
    at: Instant,
    settings: Settings,
    conn: Connection,
    version: Version,
    placement: Placement,
}

/// Why a batch did not get through: every job of it is due again later.
struct Stopped {
    code: String,
    message: String,
    /// Shown on the page as what stops the whole number.
    for_page: bool,
}

impl Stopped {
    fn from(e: &Dhis2Error) -> Stopped {
        Stopped {
            code: e.code().to_string(),
            message: e.text(Lang::Fr),
            for_page: true,
        }
    }
}

pub struct Worker {
    state: AppState,
    client: Dhis2Client,
    id: String,
    prepared: Mutex<HashMap<i64, Prepared>>,
}

impl Worker {
    pub fn new(state: AppState) -> Arc<Worker> {
        Arc::new(Worker {
            state,
            client: Dhis2Client::new(TIMEOUT),
            id: format!("dhis2-{}", uuid::Uuid::now_v7()),
            prepared: Mutex::new(HashMap::new()),
        })
    }

    /// Runs until `stop` is notified (a batch under way finishes first).
    pub async fn run(self: Arc<Self>, stop: Arc<Notify>) {
        loop {
            let busy = match self.run_once().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "DHIS-2 sync: a round failed");
                    false
                }
            };
            let pause = if busy {
                StdDuration::ZERO
            } else {
                StdDuration::from_secs(1)
            };
            tokio::select! {
                () = stop.notified() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One round: each number with due jobs gets up to a few batches.
    /// Returns how many jobs got a verdict (tests drive the worker with it).
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let db = &self.state.db;
        let mut done = 0;
        for account_id in store::accounts_due(db, OffsetDateTime::now_utc()).await? {
            for _ in 0..BATCHES_PER_TURN {
                let n = self.sync_batch(account_id).await?;
                done += n;
                if n < BATCH as usize {
                    break;
                }
            }
        }
        Ok(done)
    }

    /// Claims and syncs one batch of a number's due jobs.
    async fn sync_batch(&self, account_id: i64) -> anyhow::Result<usize> {
        let db = &self.state.db;
        let now = OffsetDateTime::now_utc();
        let jobs = store::claim(db, account_id, &self.id, now, LEASE, BATCH).await?;
        if jobs.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let verdicts = match self.prepare(account_id).await {
            Ok(p) => {
                let verdicts = self.send(&p, &jobs).await;
                if let Ok(ref v) = verdicts
                    && v.iter().any(|v| matches!(v, Verdict::Synced { .. }))
                {
                    store::record_server(db, account_id, Some(&p.version.to_string()), None, now)
                        .await?;
                }
                verdicts
            }
            Err(stopped) => Err(stopped),
        };
        let verdicts: Vec<Verdict> = match verdicts {
            Ok(v) => v,
            Err(stopped) => {
                if stopped.for_page {
                    store::record_server(db, account_id, None, Some(&stopped.message), now).await?;
                    // Read again next time: the cause may be the settings.
                    self.forget(account_id);
                }
                let mut rng = rand::rng();
                jobs.iter()
                    .map(|j| Verdict::Retry {
                        at: sync::retry_at(j.attempts, now, rng.random::<f64>()),
                        code: stopped.code.clone(),
                        message: stopped.message.clone(),
                    })
                    .collect()
            }
        };
        crate::telemetry::dhis2_batch(started.elapsed(), &verdicts);
        let pairs: Vec<(Claimed, Verdict)> = jobs.into_iter().zip(verdicts).collect();
        store::finish(db, &self.id, &pairs, OffsetDateTime::now_utc()).await?;
        Ok(pairs.len())
    }

    fn forget(&self, account_id: i64) {
        if let Ok(mut m) = self.prepared.lock() {
            m.remove(&account_id);
        }
    }

    /// The number's connection, version and placement: kept, or read.
    async fn prepare(&self, account_id: i64) -> Result<Prepared, Stopped> {
        let settings = store::settings_of(&self.state.db, account_id)
            .await
            .map_err(|e| Stopped {
                code: "database".into(),
                message: e.to_string(),
                for_page: false,
            })?
            .ok_or_else(incomplete)?;
        if let Ok(m) = self.prepared.lock()
            && let Some(p) = m.get(&account_id)
            && p.updated_at == settings.updated_at
            && p.at.elapsed() < PREPARED_FOR
        {
            return Ok(p.clone());
        }
        if !settings.enabled || !settings.complete() {
            return Err(incomplete());
        }
        let conn = self.connection(&settings)?;
        let info = self
            .client
            .system_info(&conn)
            .await
            .map_err(|e| Stopped::from(&e))?;
        let mapping = mapping(&settings);
        let placement = self
            .placement(&conn, &settings, &mapping)
            .await
            .map_err(|e| Stopped::from(&e))?;
        let p = Prepared {
            updated_at: settings.updated_at,
            at: Instant::now(),
            settings,
            conn,
            version: info.version,
            placement,
        };
        if let Ok(mut m) = self.prepared.lock() {
            m.insert(account_id, p.clone());
        }
        Ok(p)
    }

    fn connection(&self, s: &Settings) -> Result<Connection, Stopped> {
        super::command::connection(s, &self.state.secrets).map_err(|u| Stopped {
            code: match u {
                super::command::Unusable::Credential => "credential",
                _ => "settings",
            }
            .into(),
            message: u.text(Lang::Fr),
            for_page: true,
        })
    }

    /// Where each attribute goes. A program or type DHIS-2 does not know
    /// is not a reason to stop: everything goes on the tracked entity, and
    /// the import's own errors (E1069...) say what is wrong, job by job,
    /// on the page.
    async fn placement(
        &self,
        conn: &Connection,
        s: &Settings,
        mapping: &[(AttributeRole, Uid)],
    ) -> Result<Placement, Dhis2Error> {
        let (Ok(program), Ok(tet)) = (Uid::parse(&s.program), Uid::parse(&s.tracked_entity_type))
        else {
            return Ok(fallback(mapping));
        };
        let program = match self.client.program(conn, &program).await {
            Ok(p) => p,
            Err(e) if e.retryable() || is_credentials(&e) => return Err(e),
            Err(_) => return Ok(fallback(mapping)),
        };
        let tet = match self.client.tracked_entity_type(conn, &tet).await {
            Ok(t) => t,
            Err(e) if e.retryable() || is_credentials(&e) => return Err(e),
            Err(_) => return Ok(fallback(mapping)),
        };
        Ok(Placement::from_metadata(&program, &tet, mapping))
    }

    /// Searches the batch's codes, then imports what is missing.
    async fn send(&self, p: &Prepared, jobs: &[Claimed]) -> Result<Vec<Verdict>, Stopped> {
        let s = &p.settings;
        let uic_attr = Uid::parse(&s.attr_uic).map_err(|_| incomplete())?;
        let program = Uid::parse(&s.program).map_err(|_| incomplete())?;
        let tet = Uid::parse(&s.tracked_entity_type).map_err(|_| incomplete())?;
        // Jobs held or failed before any call are not searched.
        let wanted: Vec<String> = jobs
            .iter()
            .filter(|j| {
                !matches!(
                    sync::plan(j, None, s.org_unit_for(&j.city), true),
                    Step::Decided(_)
                )
            })
            .map(|j| j.uic.clone())
            .collect();
        let found = if wanted.is_empty() {
            HashMap::new()
        } else {
            let query = SearchQuery {
                // Every person of the type: one registered by another
                // programme is linked and enrolled, not created twice.
                scope: SearchScope::TrackedEntityType(tet.clone()),
                org_units: Vec::new(),
                ou_mode: OuMode::Accessible,
                attribute: uic_attr.clone(),
                values: wanted,
            };
            let entities = self
                .client
                .search_by_attribute(&p.conn, p.version, &query)
                .await
                .map_err(|e| Stopped::from(&e))?;
            let mut found = HashMap::new();
            for e in entities {
                let Some(uic) = e.value_of(uic_attr.as_str()) else {
                    continue;
                };
                let enrollment = e
                    .enrollments
                    .iter()
                    .find(|en| en.program == program.as_str())
                    .map(|en| en.enrollment.clone());
                found.entry(uic.to_ascii_uppercase()).or_insert(Found {
                    tracked_entity: e.tracked_entity.clone(),
                    enrollment,
                });
            }
            found
        };
        let steps: Vec<Step> = jobs
            .iter()
            .map(|j| sync::plan(j, found.get(&j.uic), s.org_unit_for(&j.city), true))
            .collect();
        let mut outcome: Vec<Option<Verdict>> = vec![None; jobs.len()];
        let mut built: Vec<Option<Built>> = Vec::with_capacity(jobs.len());
        for (i, (job, step)) in jobs.iter().zip(&steps).enumerate() {
            if let Step::Decided(v) = step {
                outcome[i] = Some(v.clone());
            }
            built.push(match build(p, &program, &tet, job, step) {
                Ok(b) => b,
                Err(()) => {
                    outcome[i] = Some(Verdict::Failed {
                        code: "uid".into(),
                        message: "Identifiants DHIS-2 du dossier illisibles.".into(),
                    });
                    None
                }
            });
        }
        let mut pending: Vec<usize> = (0..jobs.len())
            .filter(|&i| outcome[i].is_none() && built[i].is_some())
            .collect();
        // Imported with atomicMode=ALL: a batch is written whole or not at
        // all. The people the report names are taken out (each keeps its
        // verdict) and the rest imported again, so that each person is
        // written whole, tracked entity with enrollment, or not at all.
        for round in 0..IMPORT_ROUNDS {
            if pending.is_empty() {
                break;
            }
            let mut bundle = ImportBundle::default();
            for &i in &pending {
                match &built[i] {
                    Some(Built::Entity(te)) => bundle.tracked_entities.push(te.clone()),
                    Some(Built::Enrollment(en)) => bundle.enrollments.push(en.clone()),
                    None => {}
                }
            }
            let report = match self.client.import(&p.conn, &bundle).await {
                Ok(r) => r,
                Err(e) if round == 0 && (e.retryable() || is_credentials(&e)) => {
                    return Err(Stopped::from(&e));
                }
                Err(e) => {
                    let v = if e.retryable() || is_credentials(&e) {
                        retry_verdict(&e)
                    } else {
                        // Refused as a whole, for good (400, 404, an
                        // answer not a report).
                        Verdict::Failed {
                            code: e.code().to_string(),
                            message: e.text(Lang::Fr),
                        }
                    };
                    for &i in &pending {
                        outcome[i] = Some(v.clone());
                    }
                    pending.clear();
                    break;
                }
            };
            let issues: Vec<Issue<'_>> = report
                .errors
                .iter()
                .map(|e| Issue {
                    code: &e.code,
                    message: &e.message,
                    uid: e.uid.as_deref(),
                })
                .collect();
            if report.status != super::wire::ImportStatus::Error {
                for &i in &pending {
                    outcome[i] = Some(sync::verdict(&jobs[i], &steps[i], &[], false, None));
                }
                pending.clear();
                break;
            }
            let named: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|&i| {
                    issues
                        .iter()
                        .any(|is| sync::concerns(&jobs[i], &steps[i], is))
                })
                .collect();
            if named.is_empty() {
                for &i in &pending {
                    outcome[i] = Some(sync::verdict(
                        &jobs[i],
                        &steps[i],
                        &[],
                        true,
                        report.message.as_deref(),
                    ));
                }
                pending.clear();
                break;
            }
            for &i in &named {
                outcome[i] = Some(sync::verdict(&jobs[i], &steps[i], &issues, true, None));
            }
            pending.retain(|i| !named.contains(i));
        }
        // Still unwritten after every round (each named others): soon again.
        let now = OffsetDateTime::now_utc();
        Ok(outcome
            .into_iter()
            .zip(jobs)
            .map(|(v, job)| {
                v.unwrap_or_else(|| Verdict::Retry {
                    at: sync::retry_at(job.attempts, now, 0.5),
                    code: "import".into(),
                    message: "Lot refusé par DHIS-2 à cause d'autres dossiers : nouvel essai."
                        .into(),
                })
            })
            .collect())
    }
}

/// A call that did not get through after part of the batch was decided.
fn retry_verdict(e: &Dhis2Error) -> Verdict {
    Verdict::Retry {
        at: OffsetDateTime::now_utc() + time::Duration::seconds(5),
        code: e.code().to_string(),
        message: e.text(Lang::Fr),
    }
}

enum Built {
    Entity(TrackedEntity),
    Enrollment(Enrollment),
}

/// The import object of one job's step.
fn build(
    p: &Prepared,
    program: &Uid,
    tet: &Uid,
    job: &Claimed,
    step: &Step,
) -> Result<Option<Built>, ()> {
    let (org_unit, existing) = match step {
        Step::Decided(_) => return Ok(None),
        Step::Create { org_unit } => (org_unit, None),
        Step::Enroll {
            tracked_entity,
            org_unit,
        } => (org_unit, Some(tracked_entity)),
    };
    let org_unit = Uid::parse(org_unit).map_err(|_| ())?;
    let values = |slot: Slot| -> Vec<AttributeValue> {
        p.placement
            .attributes
            .iter()
            .filter(|a| a.slot == slot)
            .map(|a| AttributeValue {
                attribute: a.attribute.clone(),
                value: sync::value(job, a.role),
            })
            .collect()
    };
    let mut enrollment = Enrollment {
        enrollment: Uid::parse(&job.enrollment).map_err(|_| ())?,
        tracked_entity: None,
        program: program.clone(),
        org_unit: org_unit.clone(),
        status: EnrollmentStatus::Active,
        enrolled_at: job.first_seen_at,
        // Always given: a program that shows the incident date needs it
        // (E1023), and others take it.
        occurred_at: Some(job.first_seen_at),
        attributes: values(Slot::Enrollment),
    };
    Ok(Some(match existing {
        None => Built::Entity(TrackedEntity {
            tracked_entity: Uid::parse(&job.tracked_entity).map_err(|_| ())?,
            tracked_entity_type: tet.clone(),
            org_unit,
            attributes: values(Slot::TrackedEntity),
            enrollments: vec![enrollment],
        }),
        Some(te) => {
            enrollment.tracked_entity = Some(Uid::parse(te).map_err(|_| ())?);
            Built::Enrollment(enrollment)
        }
    }))
}

fn incomplete() -> Stopped {
    Stopped {
        code: "settings".into(),
        message: "Réglages DHIS-2 incomplets : complétez-les sur la page du numéro.".into(),
        for_page: true,
    }
}

fn is_credentials(e: &Dhis2Error) -> bool {
    matches!(
        e,
        Dhis2Error::Unauthorized { .. } | Dhis2Error::Forbidden { .. }
    )
}

/// The settings' attributes as the check names them.
fn mapping(s: &Settings) -> Vec<(AttributeRole, Uid)> {
    s.attributes()
        .into_iter()
        .filter_map(|(role, attr)| Some((role, Uid::parse(attr).ok()?)))
        .collect()
}

/// Without the program's metadata: everything on the tracked entity.
fn fallback(mapping: &[(AttributeRole, Uid)]) -> Placement {
    Placement {
        attributes: mapping
            .iter()
            .map(|(role, attribute)| super::check::PlacedAttribute {
                role: *role,
                attribute: attribute.clone(),
                slot: Slot::TrackedEntity,
            })
            .collect(),
        unplaced: Vec::new(),
        needs_occurred_at: true,
    }
}
