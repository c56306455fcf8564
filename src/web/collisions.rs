//! The collision review's pages (`uic.review`, issue 15): the open
//! collisions of the numbers the staff member sees, newest first; one
//! collision with its phones side by side (through which number, when, how
//! often, how quickly the answers came: never a text beyond what is kept
//! shortened, never a phone's hash, a number in full only with
//! `contacts.view`); and the decision, « Même personne » or « Personnes
//! différentes », whose rules and SQL are `registry::collision`'s. Every
//! decision is in the audit log with the code and the decision (never a
//! phone).

use super::dhis2::DecisionForm;
use super::{Form, Layout, Routes, Staff, WebError, WebResult, page, see_other};
use crate::AppState;
use crate::auth::{Permission, Scope};
use crate::dhis2::Decision;
use crate::registry::collision::{self, Detail, Open, Refused};
use crate::uic::SplitError;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum_htmx::{HxRedirect, HxRequest};
use serde::Deserialize;
use time::OffsetDateTime;

pub fn routes(r: Routes) -> Routes {
    r.get("/uic/collisions", list)
        .get("/uic/collisions/{id}", show)
        .post("/uic/collisions/{id}", decide)
}

/// The deepest page of the list read (50 a page).
const PAGES_MAX: i64 = 10_000;

/// Date and time, UTC, as the pages write them.
fn when(at: OffsetDateTime) -> String {
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        at.date(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The gap between two answers: « +12 s », « +3 min 05 s ».
fn gap(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 60 {
        format!("+{s} s")
    } else if s < 3600 {
        format!("+{} min {:02} s", s / 60, s % 60)
    } else {
        format!("+{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

/// An answer's time and its gap since the one before.
pub struct AnswerLine {
    pub at: String,
    pub gap: Option<String>,
}

fn answer_lines(times: &[OffsetDateTime]) -> Vec<AnswerLine> {
    times
        .iter()
        .enumerate()
        .map(|(i, at)| AnswerLine {
            at: when(*at),
            gap: i
                .checked_sub(1)
                .map(|p| gap((*at - times[p]).whole_seconds())),
        })
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    page: String,
}

#[derive(Template)]
#[template(path = "uic/collisions.html")]
struct ListPage {
    p: Layout,
    open: Vec<Open>,
    /// How many are open in all.
    total: i64,
    page: i64,
    more: bool,
}

async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<ListQuery>,
) -> WebResult {
    let access = staff.require(Permission::UicReview, Scope::AnyAccount)?;
    let t = staff.t();
    let page_no = match q.page.trim() {
        "" => 0,
        n => match n.parse::<i64>() {
            Ok(n) if (0..PAGES_MAX).contains(&n) => n,
            _ => return Err(staff.bad_request(t.col_bad_page)),
        },
    };
    let open = collision::list(&state.db, &access, page_no).await?;
    let total = collision::count_open(&state.db, &access).await?;
    page(ListPage {
        total,
        p: staff.layout(t.nav_collisions, "/uic/collisions"),
        more: open.len() as i64 == collision::PAGE,
        open,
        page: page_no,
    })
}

/// One phone's column.
pub struct PhoneColumn {
    pub order: usize,
    pub account: String,
    pub first_seen: String,
    pub last_seen: String,
    pub times_seen: i32,
    pub number: Option<String>,
    pub hidden: bool,
    /// (conversation id, its answers), with a link only for a reader of
    /// conversations.
    pub conversations: Vec<(i64, Vec<AnswerLine>)>,
}

#[derive(Template)]
#[template(path = "uic/collision.html")]
struct ShowPage {
    p: Layout,
    d: Detail,
    phones: Vec<PhoneColumn>,
    flagged: String,
    decision: Option<&'static str>,
    can_conversations: bool,
}

async fn show(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    let access = staff.require(Permission::UicReview, Scope::AnyAccount)?;
    let contacts = staff
        .require(Permission::ContactsView, Scope::AnyAccount)
        .ok();
    let t = staff.t();
    let Some(d) = collision::detail(&state.db, &state.salt, &access, contacts.as_ref(), id).await?
    else {
        return Err(WebError::not_found(t.col_not_found));
    };
    let phones = d
        .phones
        .iter()
        .map(|ph| PhoneColumn {
            order: ph.order,
            account: ph.account_name.clone(),
            first_seen: when(ph.first_seen_at),
            last_seen: when(ph.last_seen_at),
            times_seen: ph.times_seen,
            number: ph.number.clone(),
            hidden: ph.hidden,
            conversations: ph
                .conversations
                .iter()
                .map(|c| (c.id, answer_lines(&c.answers)))
                .collect(),
        })
        .collect();
    let decision = match d.decision.as_deref().and_then(Decision::parse) {
        Some(Decision::SamePerson) => Some(t.col_same),
        Some(Decision::DifferentPeople) => Some(t.col_different),
        None if !d.open && !d.split_before.is_empty() => Some(t.col_reviewed_split),
        None => None,
    };
    page(ShowPage {
        p: staff.layout(format!("{} {}", t.col_title, d.uic), "/uic/collisions"),
        flagged: d.flagged_at.map(when).unwrap_or_default(),
        phones,
        decision,
        can_conversations: staff.can(Permission::ConversationsView, Scope::AnyAccount),
        d,
    })
}

/// A supervisor's decision (see `registry::collision::decide`).
async fn decide(
    State(state): State<AppState>,
    staff: Staff,
    HxRequest(htmx): HxRequest,
    Path(id): Path<i64>,
    Form(f): Form<DecisionForm>,
) -> WebResult {
    let access = staff.require(Permission::UicReview, Scope::AnyAccount)?;
    let t = staff.t();
    let Some(decision) = Decision::parse(f.decision.trim()) else {
        // Another tenant's id is a 404 whatever was sent.
        if collision::detail(&state.db, &state.salt, &access, None, id)
            .await?
            .is_none()
        {
            return Err(WebError::not_found(t.col_not_found));
        }
        return Err(staff.bad_request(t.col_bad_decision));
    };
    let now = OffsetDateTime::now_utc();
    let decided = match collision::decide(
        &state.db,
        &state.salt,
        &state.config,
        &access,
        id,
        decision,
        now,
    )
    .await
    {
        Ok(d) => d,
        Err(Refused::Access(e)) => return Err(e.into()),
        Err(Refused::NotFound) => return Err(WebError::not_found(t.col_not_found)),
        Err(Refused::NotOpen) => return Err(WebError::Conflict(t.col_not_open.into())),
        Err(Refused::OtherNumbers) => return Err(WebError::Conflict(t.col_other_numbers.into())),
        Err(Refused::OnePhone) => return Err(WebError::Conflict(t.col_one_phone.into())),
        Err(Refused::Split(SplitError::TooManyPhones { .. })) => {
            return Err(WebError::Conflict(t.col_too_many.into()));
        }
        Err(Refused::Split(SplitError::AlreadySuffixed(_)) | Refused::Malformed) => {
            return Err(WebError::Conflict(t.col_malformed.into()));
        }
    };
    if decided.queued {
        state.outbox.wake();
    }
    for change in &decided.changed {
        state.live.publish(*change);
    }
    staff
        .audit(
            &state,
            "uic.collision.decide",
            format!("registration:{id}"),
            format!("{} · {}", decided.uic, decision.as_str()),
        )
        .await?;
    let message = match decision {
        Decision::SamePerson => t.col_done_same.to_string(),
        Decision::DifferentPeople => {
            format!("{} {}", t.col_done_different, decided.new_codes.join(", "))
        }
    };
    staff.flash(message).await;
    let to = format!("/uic/collisions/{id}");
    if htmx {
        return Ok((HxRedirect(to), "").into_response());
    }
    see_other(&to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_times_and_gaps() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let lines = answer_lines(&[
            t0,
            t0 + time::Duration::seconds(12),
            t0 + time::Duration::seconds(200),
        ]);
        assert_eq!(lines[0].at, "1970-01-01 00:00:00 UTC");
        assert!(lines[0].gap.is_none());
        assert_eq!(lines[1].gap.as_deref(), Some("+12 s"));
        assert_eq!(lines[2].gap.as_deref(), Some("+3 min 08 s"));
        assert_eq!(gap(7260), "+2 h 01 min");
        assert_eq!(gap(-5), "+0 s");
    }
}
