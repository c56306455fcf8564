//! The DHIS-2 page (`dhis2.view`): per number, whether its sync is on, the
//! server's version, its records by state, how long the oldest has waited,
//! the last success and the problem that stops everything; then the
//! records DHIS-2 refused (« Relancer ») and the possible collisions held
//! for a supervisor (same person or different people). Acting on them
//! needs `dhis2.manage`. The status part refreshes itself every 5 s.
//!
//! Also here: the sync state of the codes on a conversation's code card.
//! The SQL is `dhis2::store`'s; the rules are the worker's.

use super::conversations::ago;
use super::texts::Texts;
use super::when;
use super::{Form, Layout, Routes, Staff, WebError, WebResult, page, see_other};
use crate::AppState;
use crate::auth::{Permission, Scope};
use crate::dhis2::store::{self, AccountSync, JobRow};
use crate::dhis2::{Decision, SyncState};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum_htmx::HxRequest;
use serde::Deserialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;

pub fn routes(r: Routes) -> Routes {
    r.get("/dhis2", show)
        .post("/dhis2/retry", retry_all)
        .post("/dhis2/jobs/{id}/retry", retry_one)
        .post("/dhis2/registrations/{id}/decision", decide)
}

/// The most failed records the page lists (the newest).
const LIST: i64 = 100;

/// One number's line of the status part.
pub struct NumberLine {
    pub account_id: i64,
    pub name: String,
    /// On, off or not set up, in words, and its badge class.
    pub sync: &'static str,
    pub sync_class: &'static str,
    /// The staff member may change this number's settings.
    pub can_configure: bool,
    pub version: String,
    pub pending: i64,
    pub syncing: i64,
    pub synced: i64,
    pub failed: i64,
    pub held: i64,
    /// « depuis 3 h 12 »
    pub oldest: Option<String>,
    pub last_success: String,
    /// The problem that stops every record, and since when.
    pub problem: Option<(String, String)>,
}

/// The status part: every number of the reader's access.
pub struct Status {
    pub numbers: Vec<NumberLine>,
    /// The five states' names, in the columns' order.
    pub states: [&'static str; 5],
}

/// A record of the failed or held list.
pub struct JobLine {
    pub id: i64,
    pub registration_id: i64,
    pub uic: String,
    pub account: String,
    pub code: String,
    /// DHIS-2's words: external text, escaped like any other.
    pub message: String,
    pub attempts: i32,
    pub when: String,
    pub can_manage: bool,
    /// May open the collision review (`uic.review`).
    pub can_review: bool,
    /// Held for two phones with one code in the registry: « Personnes
    /// différentes » is decided on the collision review (which gives the
    /// second person a code of their own), not here.
    pub two_phones: bool,
}

#[derive(Template)]
#[template(path = "dhis2/page.html")]
struct Dhis2Page {
    p: Layout,
    s: Status,
    failed: Vec<JobLine>,
    held: Vec<JobLine>,
    can_retry_all: bool,
}

#[derive(Template)]
#[template(path = "dhis2/_status.html")]
struct StatusPart {
    p: Layout,
    s: Status,
}

/// How long something has waited: « depuis 3 h 12 ».
pub fn since(staff: &Staff, at: OffsetDateTime, now: OffsetDateTime) -> String {
    since_text(staff.t(), (now - at).whole_minutes())
}

fn since_text(t: &Texts, minutes: i64) -> String {
    let minutes = minutes.max(0);
    match minutes {
        0..=59 => t.d2_since_minutes.replace("{m}", &minutes.to_string()),
        60..=1439 => t
            .d2_since_hours
            .replace("{h}", &(minutes / 60).to_string())
            .replace("{m}", &format!("{:02}", minutes % 60)),
        _ => t
            .d2_since_days
            .replace("{d}", &(minutes / 1440).to_string())
            .replace("{h}", &((minutes % 1440) / 60).to_string()),
    }
}

fn number_line(staff: &Staff, a: AccountSync, now: OffsetDateTime) -> NumberLine {
    let t = staff.t();
    let (sync, sync_class) = match (a.configured, a.enabled) {
        // Its codes are test data: never sent, whatever is set.
        _ if a.sandbox => (t.d2_sandbox, ""),
        (false, _) => (t.d2_not_configured, ""),
        (true, true) => (t.d2_on, "success"),
        (true, false) => (t.d2_off, "warning"),
    };
    NumberLine {
        can_configure: !a.sandbox
            && staff.can(Permission::Dhis2Manage, Scope::Account(a.account_id)),
        account_id: a.account_id,
        name: a.account_name,
        sync,
        sync_class,
        version: a.server_version.unwrap_or_else(|| t.d2_unknown.to_string()),
        pending: a.pending,
        syncing: a.syncing,
        synced: a.synced,
        failed: a.failed,
        held: a.held,
        oldest: a.oldest_pending.map(|at| since(staff, at, now)),
        last_success: a
            .last_success
            .map(|at| format!("{} ({})", when(at), ago(staff, at, now)))
            .unwrap_or_else(|| t.d2_never.to_string()),
        problem: a.last_problem.map(|p| {
            let at = a.last_problem_at.map(when).unwrap_or_default();
            (p, at)
        }),
    }
}

async fn status(state: &AppState, staff: &Staff) -> WebResult<Status> {
    let access = staff.require(Permission::Dhis2View, Scope::AnyAccount)?;
    let now = OffsetDateTime::now_utc();
    let numbers = store::overview(&state.db, &access)
        .await?
        .into_iter()
        .map(|a| number_line(staff, a, now))
        .collect();
    let label = |s: SyncState| s.label(staff.lang);
    Ok(Status {
        numbers,
        states: [
            label(SyncState::Pending),
            label(SyncState::Syncing),
            label(SyncState::Synced),
            label(SyncState::Failed),
            label(SyncState::Held),
        ],
    })
}

fn job_line(staff: &Staff, j: JobRow) -> JobLine {
    let t = staff.t();
    // A « different people » decision keeps the record held with that word
    // as its code: said in the staff member's language.
    let code = match j.error_code.as_deref() {
        Some(c) if c == Decision::DifferentPeople.as_str() => t.d2_decided_different.to_string(),
        Some(c) => c.to_string(),
        None => String::new(),
    };
    JobLine {
        two_phones: j.error_code.as_deref() == Some(crate::dhis2::sync::HELD_COLLISION),
        can_manage: staff.can(Permission::Dhis2Manage, Scope::Account(j.account_id)),
        can_review: staff.can(Permission::UicReview, Scope::Account(j.account_id)),
        id: j.id,
        registration_id: j.registration_id,
        uic: j.uic,
        account: j.account_name,
        code,
        message: j.error_message.unwrap_or_default(),
        attempts: j.attempts,
        when: when(j.updated_at),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PageQuery {
    part: String,
}

/// The page, or (an htmx request, or `?part=status`) its status part.
async fn show(
    State(state): State<AppState>,
    staff: Staff,
    HxRequest(htmx): HxRequest,
    Query(q): Query<PageQuery>,
) -> WebResult {
    let access = staff.require(Permission::Dhis2View, Scope::AnyAccount)?;
    let part = match q.part.as_str() {
        "" => htmx,
        "status" => true,
        _ => return Err(staff.bad_request(staff.t().d2_bad_part)),
    };
    let s = status(&state, &staff).await?;
    let p = staff.layout(staff.t().d2_title, "/dhis2");
    if part {
        return page(StatusPart { p, s });
    }
    let lines = |rows: Vec<JobRow>| rows.into_iter().map(|j| job_line(&staff, j)).collect();
    let failed = lines(store::jobs_in(&state.db, &access, SyncState::Failed, LIST).await?);
    let held = lines(store::jobs_in(&state.db, &access, SyncState::Held, LIST).await?);
    page(Dhis2Page {
        p,
        s,
        failed,
        held,
        can_retry_all: staff.can(Permission::Dhis2Manage, Scope::AnyAccount),
    })
}

/// « Relancer »: one failed record is due again now.
async fn retry_one(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    let access = staff.require(Permission::Dhis2Manage, Scope::AnyAccount)?;
    let now = OffsetDateTime::now_utc();
    // The store narrows to the access's tenant and numbers: another
    // tenant's id, like one that is not failed, changes nothing.
    let n = store::retry(&state.db, &access, Some(id), now).await?;
    if n == 0 {
        // A second click, or someone retried it first: said, not a 404.
        if store::job_visible(&state.db, &access, id).await? {
            staff.flash(staff.t().d2_not_failed).await;
            return see_other("/dhis2");
        }
        return Err(staff.not_found());
    }
    staff
        .audit(&state, "dhis2.retry", format!("dhis2_sync:{id}"), "1")
        .await?;
    staff.flash(format!("{} {n}", staff.t().d2_retried)).await;
    see_other("/dhis2")
}

/// « Tout relancer »: every failed record the access covers.
async fn retry_all(State(state): State<AppState>, staff: Staff) -> WebResult {
    let access = staff.require(Permission::Dhis2Manage, Scope::AnyAccount)?;
    let now = OffsetDateTime::now_utc();
    let n = store::retry(&state.db, &access, None, now).await?;
    staff
        .audit(&state, "dhis2.retry", "dhis2_sync:all", n.to_string())
        .await?;
    staff.flash(format!("{} {n}", staff.t().d2_retried)).await;
    see_other("/dhis2")
}

/// A decision on a possible collision, as the buttons send it (here and
/// on the collision review).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct DecisionForm {
    pub(super) decision: String,
}

/// A supervisor's decision on a held registration.
async fn decide(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<DecisionForm>,
) -> WebResult {
    let access = staff.require(Permission::Dhis2Manage, Scope::AnyAccount)?;
    let t = staff.t();
    // Whether the registration is there (and held) is said before what is
    // wrong with the form: another tenant's id is a 404 whatever was sent.
    let jobs = store::jobs_of(&state.db, &access, &[id]).await?;
    if !jobs.iter().any(|j| j.state == SyncState::Held) {
        return Err(WebError::not_found(t.d2_not_held));
    }
    let Some(decision) = Decision::parse(f.decision.trim()) else {
        return Err(staff.bad_request(t.d2_bad_decision));
    };
    let now = OffsetDateTime::now_utc();
    let uic = match store::decide(&state.db, &access, id, decision, now).await? {
        store::Decided::Done(uic) => uic,
        // Decided by someone else in between.
        store::Decided::NotHeld => return Err(WebError::not_found(t.d2_not_held)),
        store::Decided::UseReview => return Err(WebError::Conflict(t.d2_use_review.into())),
    };
    staff
        .audit(
            &state,
            "dhis2.decision",
            format!("registration:{id}"),
            format!("{uic} · {}", decision.as_str()),
        )
        .await?;
    staff.flash(t.d2_decided).await;
    see_other("/dhis2")
}

// ------------------------------------------------------------ code card

/// A code's sync state, as the code card shows it.
pub struct SyncLine {
    pub state: &'static str,
    pub class: &'static str,
    /// The tracked entity's UID, once synced.
    pub tracked_entity: Option<String>,
    pub linked: bool,
    /// DHIS-2's error code, when failed or held.
    pub error_code: Option<String>,
}

fn state_class(s: SyncState) -> &'static str {
    match s {
        SyncState::Pending | SyncState::Syncing => "info",
        SyncState::Synced => "success",
        SyncState::Failed => "danger",
        SyncState::Held => "warning",
    }
}

/// The sync state of these codes (UIC -> line), for a reader with
/// `dhis2.view`; empty for anyone else (they see nothing of DHIS-2).
pub(super) async fn sync_of_codes(
    state: &AppState,
    staff: &Staff,
    uics: &[&str],
) -> WebResult<BTreeMap<String, SyncLine>> {
    let Ok(access) = staff.require(Permission::Dhis2View, Scope::AnyAccount) else {
        return Ok(BTreeMap::new());
    };
    if uics.is_empty() {
        return Ok(BTreeMap::new());
    }
    let jobs = store::jobs_of_codes(&state.db, &access, uics).await?;
    let mut out = BTreeMap::new();
    for j in jobs {
        let failed = matches!(j.state, SyncState::Failed | SyncState::Held);
        let line = SyncLine {
            state: j.state.label(staff.lang),
            class: state_class(j.state),
            tracked_entity: (j.state == SyncState::Synced).then(|| j.tracked_entity.clone()),
            linked: j.linked,
            error_code: j.error_code.filter(|_| failed),
        };
        // One code is one registration: its first number's job is shown.
        out.entry(j.uic).or_insert(line);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::since_text;
    use crate::web::texts::{EN, FR};

    #[test]
    fn a_wait_reads_in_minutes_hours_or_days() {
        assert_eq!(since_text(&FR, 0), "depuis 0 min");
        assert_eq!(since_text(&FR, -5), "depuis 0 min");
        assert_eq!(since_text(&FR, 59), "depuis 59 min");
        assert_eq!(since_text(&FR, 60), "depuis 1 h 00");
        assert_eq!(since_text(&FR, 192), "depuis 3 h 12");
        assert_eq!(since_text(&FR, 1439), "depuis 23 h 59");
        assert_eq!(since_text(&FR, 1440 * 2 + 185), "depuis 2 j 3 h");
        assert_eq!(since_text(&EN, 192), "for 3 h 12");
    }
}
