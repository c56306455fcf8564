//! The inbox's pages: the conversations list, one conversation (thread,
//! flow progress, code card, actions, composer) and the queue badge.
//!
//! The handlers read the request, call `inbox::read` (what is shown) or
//! `inbox::staff` (what staff do) with the access of the permission, and
//! render; the rules (who may write, the 24-hour window, the modes) live in
//! the inbox. Numbers are masked unless the reader has `contacts.view` on
//! the conversation's account, in lists, titles and search results alike.

use super::when;
use super::{Layout, Routes, Staff, WebError, WebResult, page, see_other};
use crate::AppState;
use crate::auth::{Access, Permission, Scope};
use crate::channel::webhook::mask_phone;
use crate::flow::HandBack;
use crate::inbox::read::{
    self, Code, Conversation, Cursor, Filter, HasUic, Item, Progress, Search,
};
use crate::inbox::staff::{self as actions, Acted, Refusal, Window};
use crate::inbox::{BodyForm, Change, Direction, MessageStatus, Mode, Sender, WaitingReason};
use crate::tenancy::{Account, store as accounts};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse};
use axum_htmx::HxRequest;
use serde::Deserialize;
use time::OffsetDateTime;

pub fn routes(r: Routes) -> Routes {
    r.get("/conversations", list)
        .get("/conversations/badge", badge)
        .get("/conversations/{id}", show)
        .post("/conversations/{id}/take", take)
        .post("/conversations/{id}/queue", queue)
        .post("/conversations/{id}/release", release)
        .post("/conversations/{id}/messages", send)
}

/// A number as this reader may see it on this account.
fn shown_phone(staff: &Staff, account_id: i64, phone: &str) -> String {
    if staff.can(Permission::ContactsView, Scope::Account(account_id)) {
        phone.to_string()
    } else {
        mask_phone(phone)
    }
}

/// "il y a 5 min", "hier"… for a time in the past.
pub(super) fn ago(staff: &Staff, at: OffsetDateTime, now: OffsetDateTime) -> String {
    let t = staff.t();
    let minutes = (now - at).whole_minutes().max(0);
    match minutes {
        0 => t.ago_now.to_string(),
        1..=59 => t.ago_minutes.replace("{n}", &minutes.to_string()),
        60..=1439 => t.ago_hours.replace("{n}", &(minutes / 60).to_string()),
        _ => t.ago_days.replace("{n}", &(minutes / 1440).to_string()),
    }
}

fn mode_label(staff: &Staff, mode: Mode, reason: Option<WaitingReason>) -> String {
    let t = staff.t();
    match (mode, reason) {
        (Mode::Bot, _) => t.mode_bot.to_string(),
        (Mode::Human, _) => t.mode_human.to_string(),
        (Mode::Waiting, None) => t.mode_waiting.to_string(),
        (Mode::Waiting, Some(r)) => format!("{} · {}", t.mode_waiting, reason_label(staff, r)),
    }
}

fn reason_label(staff: &Staff, r: WaitingReason) -> &'static str {
    let t = staff.t();
    match r {
        WaitingReason::Requested => t.reason_requested,
        WaitingReason::FailedAnswers => t.reason_failed_answers,
        WaitingReason::Media => t.reason_media,
        WaitingReason::Flagged => t.reason_flagged,
    }
}

fn mode_class(mode: Mode) -> &'static str {
    match mode {
        Mode::Bot => "info",
        Mode::Waiting => "warning",
        Mode::Human => "success",
    }
}

// ---------------------------------------------------------------- list

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    account: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    mine: String,
    #[serde(default)]
    uic: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: String,
}

struct ListRow {
    id: i64,
    number: String,
    account: String,
    mode: String,
    mode_class: &'static str,
    last: String,
    last_iso: String,
    holder: Option<String>,
    uic: Option<String>,
}

#[derive(Template)]
#[template(path = "conversations/list.html")]
struct ListPage {
    p: Layout,
    accounts: Vec<(i64, String)>,
    account: Option<i64>,
    mode: String,
    mine: bool,
    uic: String,
    q: String,
    rows: Vec<ListRow>,
    /// The query of this list (the live refresh asks for it again).
    this: String,
    next: Option<String>,
    /// Says whether numbers can be searched too.
    search_placeholder: &'static str,
}

#[derive(Template)]
#[template(path = "conversations/list.html", block = "list")]
struct ListFragment {
    p: Layout,
    rows: Vec<ListRow>,
    this: String,
    next: Option<String>,
}

/// The filters of a query, or what is wrong with one.
fn filter_of(staff: &Staff, access: &Access, q: &ListQuery) -> WebResult<(Filter, Option<Cursor>)> {
    let t = staff.t();
    let account = match q.account.trim() {
        "" => None,
        s => {
            let id: i64 = s
                .parse()
                .map_err(|_| staff.bad_request(t.conv_bad_filter))?;
            // An account outside the reader's reach is not there.
            if !access.covers(id) {
                return Err(staff.not_found());
            }
            Some(id)
        }
    };
    let mode = match q.mode.trim() {
        "" => None,
        s => Some(Mode::parse(s).ok_or_else(|| staff.bad_request(t.conv_bad_filter))?),
    };
    let mine = match q.mine.trim() {
        "" | "0" => false,
        "1" | "on" => true,
        _ => return Err(staff.bad_request(t.conv_bad_filter)),
    };
    let uic = match q.uic.trim() {
        "" => None,
        "with" => Some(HasUic::With),
        "without" => Some(HasUic::Without),
        _ => return Err(staff.bad_request(t.conv_bad_filter)),
    };
    let search = match q.q.trim() {
        "" => None,
        s if s.chars().count() > 40 => return Err(staff.bad_request(t.conv_bad_search)),
        s => match crate::uic::Uic::parse(s) {
            Ok(uic) => Some(Search::Uic(uic)),
            Err(_) if read::normalise_phone(s).is_some() => {
                let contacts = staff
                    .require(Permission::ContactsView, Scope::AnyAccount)
                    .ok();
                match Search::phone(contacts.as_ref(), s) {
                    Ok(search) => Some(search),
                    Err(read::PhoneSearch::NotAllowed) => {
                        return Err(WebError::forbidden(t.conv_no_phone_search));
                    }
                    Err(read::PhoneSearch::Invalid) => {
                        return Err(staff.bad_request(t.conv_bad_search));
                    }
                }
            }
            Err(_) => return Err(staff.bad_request(t.conv_bad_search)),
        },
    };
    let after = match q.after.trim() {
        "" => None,
        s => Some(Cursor::parse(s).ok_or_else(|| staff.bad_request(t.conv_bad_filter))?),
    };
    Ok((
        Filter {
            account,
            mode,
            mine,
            uic,
            search,
        },
        after,
    ))
}

/// The query string of a list (the filters as given, and where it starts).
fn query_string(q: &ListQuery, after: Option<&str>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("account", q.account.trim()),
        ("mode", q.mode.trim()),
        ("mine", q.mine.trim()),
        ("uic", q.uic.trim()),
        ("q", q.q.trim()),
    ] {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    if let Some(after) = after {
        s.append_pair("after", after);
    }
    s.finish()
}

async fn list(
    State(state): State<AppState>,
    staff: Staff,
    HxRequest(htmx): HxRequest,
    Query(q): Query<ListQuery>,
) -> WebResult {
    let access = staff.require(Permission::ConversationsView, Scope::AnyAccount)?;
    let (filter, after) = filter_of(&staff, &access, &q)?;
    // The accounts the reader may see, in their tenant: another is not there.
    let accounts: Vec<(i64, String)> = accounts::list_accounts(&state.db, &access)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    if let Some(id) = filter.account
        && !accounts.iter().any(|(a, _)| *a == id)
    {
        return Err(staff.not_found());
    }
    let found = read::list(&state.db, &access, &filter, staff.user.id, after).await?;
    let now = OffsetDateTime::now_utc();
    let rows = found
        .rows
        .into_iter()
        .map(|r| ListRow {
            id: r.id,
            number: shown_phone(&staff, r.account_id, &r.phone),
            account: r.account_name,
            mode: mode_label(&staff, r.mode, r.waiting_reason),
            mode_class: mode_class(r.mode),
            last: ago(&staff, r.last_message_at, now),
            last_iso: when(r.last_message_at),
            holder: r.taken_by_name,
            uic: r.uic,
        })
        .collect();
    let this = query_string(&q, Some(q.after.trim()).filter(|a| !a.is_empty()));
    let next = found.next.map(|c| query_string(&q, Some(&c.to_string())));
    let p = staff.layout(staff.t().nav_conversations, "/conversations");
    if htmx {
        return page(ListFragment {
            p,
            rows,
            this,
            next,
        });
    }
    page(ListPage {
        p,
        accounts,
        account: filter.account,
        mode: q.mode.trim().to_string(),
        mine: filter.mine,
        uic: q.uic.trim().to_string(),
        q: q.q.trim().to_string(),
        rows,
        this,
        next,
        search_placeholder: if staff.can(Permission::ContactsView, Scope::AnyAccount) {
            staff.t().conv_search_phone
        } else {
            staff.t().conv_search
        },
    })
}

// ---------------------------------------------------------- one conversation

/// One line of the thread as shown.
struct Line {
    /// `in`, `out` (bot or staff) or `event`.
    class: &'static str,
    who: String,
    text: String,
    /// Shown in italics: not the words (a described or redacted message).
    described: bool,
    at: String,
    status: Option<(String, &'static str)>,
    error: Option<String>,
}

struct CodeLine {
    uic: String,
    account: String,
    first: String,
    last: String,
    /// "Asked 2 times from this number, issued 3 times in all".
    counts: String,
    collision: bool,
    test_data: bool,
    /// Its DHIS-2 sync, for readers with `dhis2.view`.
    sync: Option<super::dhis2::SyncLine>,
}

#[derive(Template)]
#[template(path = "conversations/show.html")]
struct ShowPage {
    p: Layout,
    v: View,
}

#[derive(Template)]
#[template(path = "conversations/show.html", block = "live")]
struct LiveFragment {
    p: Layout,
    v: View,
}

/// What the conversation page shows.
struct View {
    id: i64,
    title: String,
    number: String,
    account: String,
    mode: String,
    mode_class: &'static str,
    holder: Option<String>,
    mine: bool,
    waiting_since: Option<String>,
    window: Option<String>,
    window_closed: bool,
    progress: String,
    answers: Vec<(&'static str, String)>,
    lines: Vec<Line>,
    older: Option<i64>,
    codes: Vec<CodeLine>,
    can_take: bool,
    can_send: bool,
    show_take: bool,
    show_release: bool,
    show_queue: bool,
    /// The answer to a message sent: the message box is emptied.
    sent: bool,
}

fn status_label(staff: &Staff, s: MessageStatus) -> (String, &'static str) {
    let t = staff.t();
    match s {
        MessageStatus::Queued => (t.status_queued.into(), "info"),
        MessageStatus::Sent => (t.status_sent.into(), "info"),
        MessageStatus::Delivered => (t.status_delivered.into(), "success"),
        MessageStatus::Read | MessageStatus::Played => (t.status_read.into(), "success"),
        MessageStatus::Failed => (t.status_failed.into(), "danger"),
        MessageStatus::Received => (String::new(), "info"),
    }
}

fn line_of(staff: &Staff, item: Item) -> Line {
    let t = staff.t();
    match item {
        Item::Message(m) => {
            let (text, described) = match m.body_form {
                BodyForm::Described => (
                    crate::inbox::describe(&m.kind, m.text_chars.unwrap_or(0), staff.lang),
                    true,
                ),
                BodyForm::Redacted => (t.msg_redacted.to_string(), true),
                _ if m.body.is_empty() => (crate::inbox::describe(&m.kind, 0, staff.lang), true),
                _ => (m.body, false),
            };
            let who = match m.sender {
                Sender::Contact => t.who_contact.to_string(),
                Sender::Bot => t.who_bot.to_string(),
                Sender::Staff => m.author_name.unwrap_or_else(|| t.who_staff.to_string()),
            };
            let out = m.direction == Direction::Out;
            Line {
                class: if out { "out" } else { "in" },
                who,
                text,
                described,
                at: when(m.created_at),
                status: out.then(|| status_label(staff, m.status)),
                error: (m.status == MessageStatus::Failed)
                    .then(|| match (m.error_code, m.error_message) {
                        (Some(c), Some(msg)) => Some(format!("{msg} ({c})")),
                        (None, Some(msg)) => Some(msg),
                        (Some(c), None) => Some(c),
                        (None, None) => None,
                    })
                    .flatten(),
            }
        }
        Item::Event(e) => {
            let by = e.user_name.unwrap_or_default();
            let text = match e.change {
                Change::Escalated => {
                    let reason = e
                        .detail
                        .as_deref()
                        .and_then(WaitingReason::parse)
                        .map(|r| reason_label(staff, r))
                        .unwrap_or_default();
                    if by.is_empty() {
                        format!("{} {reason}", t.event_escalated)
                    } else {
                        format!("{} {reason} · {by}", t.event_escalated)
                    }
                }
                Change::Taken => t.event_taken.replace("{who}", &by),
                Change::HandedBack if e.detail.as_deref() == Some("start_again") => {
                    t.event_handed_back_restart.replace("{who}", &by)
                }
                Change::HandedBack => t.event_handed_back_resume.replace("{who}", &by),
                Change::Restarted => t.event_restarted.to_string(),
                Change::NobodyAvailable => t.event_nobody_available.to_string(),
            };
            Line {
                class: "event",
                who: String::new(),
                text,
                described: false,
                at: when(e.at),
                status: None,
                error: None,
            }
        }
    }
}

async fn view(
    state: &AppState,
    staff: &Staff,
    access: &Access,
    c: Conversation,
    before: Option<i64>,
) -> WebResult<View> {
    let t = staff.t();
    let now = OffsetDateTime::now_utc();
    let thread = read::thread(&state.db, &c, before).await?;
    let codes = read::codes(&state.db, access, &c, &state.salt).await?;
    let uics: Vec<&str> = codes.iter().map(|k| k.uic.as_str()).collect();
    let mut sync = super::dhis2::sync_of_codes(state, staff, &uics).await?;
    let number = shown_phone(staff, c.account_id, &c.phone);
    let window = Window::after(c.last_inbound_at, now);
    let progress = match c.progress() {
        Progress::NotStarted => t.progress_not_started.to_string(),
        Progress::Question(n) => t.progress_question.replace("{n}", &n.to_string()),
        Progress::Done => t.progress_done.to_string(),
    };
    let a = &c.flow_state.0.answers;
    let mut answers = Vec::new();
    if let Some(v) = &a.last {
        answers.push((t.answer_last, v.clone()));
    }
    if let Some(v) = &a.first {
        answers.push((t.answer_first, v.clone()));
    }
    if let Some(v) = a.year_digit {
        answers.push((t.answer_year, v.to_string()));
    }
    if let Some(v) = &a.city {
        answers.push((t.answer_city, v.clone()));
    }
    let mine = c.taken_by == Some(staff.user.id);
    let scope = Scope::Account(c.account_id);
    let can_take = staff.can(Permission::ConversationsTakeover, scope);
    let can_send = staff.can(Permission::MessagesSend, scope);
    let held_by_other = c.mode == Mode::Human && !mine;
    Ok(View {
        id: c.id,
        title: format!("{number} · {}", c.account_name),
        number,
        account: c.account_name,
        mode: mode_label(staff, c.mode, c.waiting_reason),
        mode_class: mode_class(c.mode),
        holder: c.taken_by_name.filter(|_| c.mode == Mode::Human),
        mine,
        waiting_since: (c.mode == Mode::Waiting)
            .then_some(c.escalated_at)
            .flatten()
            .map(|at| ago(staff, at, now)),
        window: match window {
            Window::Open { closes_at } => {
                let left = (closes_at - now).whole_minutes().max(0);
                Some(
                    t.window_left
                        .replace("{h}", &(left / 60).to_string())
                        .replace("{m}", &format!("{:02}", left % 60)),
                )
            }
            Window::Closed => None,
        },
        window_closed: !window.is_open(),
        progress,
        answers,
        lines: thread
            .items
            .into_iter()
            .map(|i| line_of(staff, i))
            .collect(),
        older: thread.older,
        codes: codes
            .into_iter()
            .map(|k: Code| CodeLine {
                sync: sync.remove(&k.uic),
                uic: k.uic,
                account: k.account_name,
                first: when(k.first_seen_at),
                last: when(k.last_seen_at),
                counts: format!(
                    "{}, {}",
                    t.code_asked.replace("{n}", &k.times_asked.to_string()),
                    t.code_seen.replace("{n}", &k.times_seen.to_string())
                ),
                collision: k.collision_status == "open",
                test_data: k.test_data,
            })
            .collect(),
        can_take,
        can_send: can_send && !held_by_other,
        show_take: can_take && c.mode != Mode::Human,
        show_release: can_take && c.mode != Mode::Bot && !held_by_other,
        show_queue: can_take && c.mode == Mode::Bot,
        sent: false,
    })
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    #[serde(default)]
    before: String,
}

/// The conversation the reader may see, or 404.
async fn load(state: &AppState, staff: &Staff, id: i64) -> WebResult<(Access, Conversation)> {
    let access = staff.require(Permission::ConversationsView, Scope::AnyAccount)?;
    let c = read::conversation(&state.db, &access, id)
        .await?
        .ok_or_else(|| staff.not_found())?;
    Ok((access, c))
}

async fn show(
    State(state): State<AppState>,
    staff: Staff,
    HxRequest(htmx): HxRequest,
    Path(id): Path<i64>,
    Query(q): Query<ShowQuery>,
) -> WebResult {
    let (access, c) = load(&state, &staff, id).await?;
    let before = match q.before.trim() {
        "" => None,
        s => Some(
            s.parse::<i64>()
                .map_err(|_| staff.bad_request(staff.t().conv_bad_filter))?,
        ),
    };
    let v = view(&state, &staff, &access, c, before).await?;
    let mut p = staff.layout(v.title.clone(), "/conversations");
    if p.live.is_some() {
        // This page follows its conversation's changes one by one.
        p.live = Some(format!("/live?conversation={id}"));
    }
    if htmx {
        // A live refresh: the page is already open (and was recorded).
        return page(LiveFragment { p, v });
    }
    staff
        .audit(
            &state,
            "conversation.open",
            format!("conversation:{id}"),
            "",
        )
        .await?;
    page(ShowPage { p, v })
}

/// After an action: the refreshed conversation for htmx, or back to its
/// page with a message.
async fn after_action(
    state: &AppState,
    staff: &Staff,
    htmx: bool,
    id: i64,
    flash: &str,
    sent: bool,
) -> WebResult {
    if !htmx {
        staff.flash(flash).await;
        return see_other(&format!("/conversations/{id}"));
    }
    let (access, c) = load(state, staff, id).await?;
    let v = view(state, staff, &access, c, None).await?;
    let p = staff.layout(v.title.clone(), "/conversations");
    page(LiveFragment {
        p,
        v: View { sent, ..v },
    })
}

/// What a refused action says.
fn refused(staff: &Staff, acted: Acted) -> WebError {
    let t = staff.t();
    match acted {
        Acted::NotFound => staff.not_found(),
        Acted::TakenBy(_) => WebError::Conflict(t.conv_taken_by_other.into()),
        Acted::NotApplicable(Mode::Bot) => WebError::Conflict(t.conv_already_bot.into()),
        Acted::NotApplicable(_) => WebError::Conflict(t.conv_not_applicable.into()),
        Acted::WindowClosed => WebError::Conflict(t.conv_window_closed.into()),
        Acted::Refused(Refusal::Empty) => staff.bad_request(t.conv_text_empty),
        Acted::Refused(Refusal::TooLong) => staff.bad_request(t.conv_text_too_long),
        Acted::Done | Acted::Unchanged => WebError::Internal(anyhow::anyhow!("not a refusal")),
    }
}

/// The account of a conversation, for the actions that write through it.
async fn account_of(state: &AppState, access: &Access, c: &Conversation) -> WebResult<Account> {
    accounts::find_account(&state.db, access, c.account_id)
        .await?
        .ok_or(WebError::NotFound(None))
}

/// The conversation and the access of `p` on its account, for an action
/// (checked before anything the request sent is read).
async fn for_action(
    state: &AppState,
    staff: &Staff,
    id: i64,
    p: Permission,
) -> WebResult<(Conversation, Access)> {
    let (_, c) = load(state, staff, id).await?;
    let access = staff.require(p, Scope::Account(c.account_id))?;
    Ok((c, access))
}

/// What an action answers: the conversation as it now is, or the refusal.
async fn answer(
    state: &AppState,
    staff: &Staff,
    htmx: bool,
    id: i64,
    acted: Acted,
    done: &str,
    sent: bool,
) -> WebResult {
    match acted {
        Acted::Done | Acted::Unchanged => {
            // A reply, or the bot's next question, waits in the outbox.
            state.outbox.wake();
            after_action(state, staff, htmx, id, done, sent).await
        }
        other => Err(refused(staff, other)),
    }
}

async fn take(
    State(state): State<AppState>,
    staff: Staff,
    HxRequest(htmx): HxRequest,
    Path(id): Path<i64>,
) -> WebResult {
    let (_, access) = for_action(&state, &staff, id, Permission::ConversationsTakeover).await?;
    let now = OffsetDateTime::now_utc();
    let acted = actions::take_over(&state.db, &state.live, &access, id, now).await?;
    answer(&state, &staff, htmx, id, acted, staff.t().conv_taken, false).await
}

async fn queue(
    State(state): State<AppState>,
    staff: Staff,
    HxRequest(htmx): HxRequest,
    Path(id): Path<i64>,
) -> WebResult {
    let (c, access) = for_action(&state, &staff, id, Permission::ConversationsTakeover).await?;
    let now = OffsetDateTime::now_utc();
    let acted = actions::flag(&state.db, &state.live, &access, id, now).await?;
    if acted == Acted::Done {
        let account = account_of(&state, &access, &c).await?;
        crate::telemetry::escalated(&account, crate::inbox::WaitingReason::Flagged);
    }
    answer(
        &state,
        &staff,
        htmx,
        id,
        acted,
        staff.t().conv_queued,
        false,
    )
    .await
}

#[derive(Deserialize)]
struct ReleaseForm {
    #[serde(default)]
    how: String,
}

async fn release(
    State(state): State<AppState>,
    staff: Staff,
    HxRequest(htmx): HxRequest,
    Path(id): Path<i64>,
    Form(f): Form<ReleaseForm>,
) -> WebResult {
    let (c, access) = for_action(&state, &staff, id, Permission::ConversationsTakeover).await?;
    let how = match f.how.as_str() {
        "resume" => HandBack::Resume,
        "start_again" => HandBack::StartAgain,
        _ => return Err(staff.bad_request(staff.t().conv_release_how)),
    };
    let account = account_of(&state, &access, &c).await?;
    let config = account.flow_config(&state.config);
    let now = OffsetDateTime::now_utc();
    let (acted, _) = actions::hand_back(
        &state.db,
        &state.live,
        &access,
        &account,
        id,
        how,
        &config,
        now,
    )
    .await?;
    answer(
        &state,
        &staff,
        htmx,
        id,
        acted,
        staff.t().conv_released,
        false,
    )
    .await
}

#[derive(Deserialize)]
struct SendForm {
    #[serde(default)]
    text: String,
}

async fn send(
    State(state): State<AppState>,
    staff: Staff,
    HxRequest(htmx): HxRequest,
    Path(id): Path<i64>,
    Form(f): Form<SendForm>,
) -> WebResult {
    let (c, access) = for_action(&state, &staff, id, Permission::MessagesSend).await?;
    let account = account_of(&state, &access, &c).await?;
    let now = OffsetDateTime::now_utc();
    let acted = actions::send(&state.db, &state.live, &access, &account, id, &f.text, now).await?;
    answer(&state, &staff, htmx, id, acted, staff.t().conv_sent, true).await
}

// ---------------------------------------------------------------- badge

/// The number of waiting conversations, for the menu (empty without
/// `conversations.view`, so every page may ask).
async fn badge(State(state): State<AppState>, staff: Staff) -> WebResult {
    let Ok(access) = staff.require(Permission::ConversationsView, Scope::AnyAccount) else {
        return Ok(Html(String::new()).into_response());
    };
    let n = read::waiting_count(&state.db, &access).await?;
    let html = if n == 0 {
        String::new()
    } else {
        format!(
            "<span class=\"badge warning\" title=\"{}\">{n}</span>",
            staff.t().home_waiting
        )
    };
    Ok(Html(html).into_response())
}
