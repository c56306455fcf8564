//! The phone simulator: chat with a sandbox account's bot as a person would.
//!
//! The thread lives in the page only: what the "person" types is never kept
//! beside the conversation (the bot's transcript keeps what it keeps of any
//! real person's messages). Each staff session gets its own made-up number
//! per account; "new person" draws another. The codes issued here are test
//! data (sandbox accounts), kept out of the real registry's figures; using
//! the simulator needs its own permission, `simulator.use`.
//!
//! What staff write to the simulated person (from the conversation's page,
//! stored like any staff message) appears in the phone as it is written:
//! the page listens to `/simulator/{account}/live`, an event stream of this
//! session's conversation only, and on each event fetches
//! `/simulator/{account}/staff?after={id}`, the staff messages after the
//! last one shown.

use super::live::{self as stream, Names, Who};
use super::{Layout, Routes, Staff, WebResult, form_value, page, see_other};
use crate::AppState;
use crate::auth::{Access, Permission, Scope};
use crate::channel::sandbox;
use crate::flow::Reply;
use crate::inbox::{NewInbound, read};
use crate::live::Filter;
use crate::tenancy::{Account, Provider, store as accounts};
use askama::Template;
use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum_htmx::HxRequest;
use std::time::Duration;

pub fn routes(r: Routes) -> Routes {
    r.get("/simulator", list)
        .get("/simulator/{account}", chat)
        .post("/simulator/{account}", send)
        .post("/simulator/{account}/reset", reset)
        .get("/simulator/{account}/live", live)
        .get("/simulator/{account}/staff", staff_replies)
}

/// Staff messages shown at once (more come with the next fetch).
const STAFF_BATCH: i64 = 50;
/// While the simulated person has not written yet (no conversation), the
/// stream looks for the conversation this often.
const LOOK_FOR_CONVERSATION: Duration = Duration::from_secs(2);

/// Longest message (WhatsApp's limit).
const MAX_TEXT: usize = 4096;

async fn sandboxes(state: &AppState, access: &Access) -> WebResult<Vec<Account>> {
    Ok(accounts::list_accounts(&state.db, access)
        .await?
        .into_iter()
        .filter(|a| a.provider() == Provider::Sandbox && a.enabled)
        .collect())
}

#[derive(Template)]
#[template(path = "simulator/list.html")]
struct ListPage {
    p: Layout,
    accounts: Vec<Account>,
}

async fn list(State(state): State<AppState>, staff: Staff) -> WebResult {
    let access = staff.require(Permission::SimulatorUse, Scope::AnyAccount)?;
    let accounts = sandboxes(&state, &access).await?;
    if let [only] = accounts.as_slice() {
        return see_other(&format!("/simulator/{}", only.id));
    }
    page(ListPage {
        p: staff.layout(staff.t().nav_simulator, "/simulator"),
        accounts,
    })
}

async fn load(state: &AppState, staff: &Staff, id: i64) -> WebResult<Account> {
    let access = staff.require(Permission::SimulatorUse, Scope::Account(id))?;
    accounts::find_account(&state.db, &access, id)
        .await?
        .filter(|a| a.provider() == Provider::Sandbox && a.enabled)
        .ok_or_else(|| staff.not_found())
}

fn phone_key(account: i64) -> String {
    format!("simulator_phone_{account}")
}

/// This session's made-up number for the account.
async fn phone(staff: &Staff, account: i64, fresh: bool) -> WebResult<String> {
    let key = phone_key(account);
    if !fresh && let Some(p) = staff.session.get::<String>(&key).await? {
        return Ok(p);
    }
    use rand::RngExt;
    let n: u32 = rand::rng().random_range(0..10_000_000);
    // +243 99x: a Congolese mobile prefix, numbers no operator hands out here.
    let p = format!("+243990{n:07}");
    staff.session.insert(&key, &p).await?;
    Ok(p)
}

/// What the thread shows: one bubble each.
pub struct Bubble {
    pub mine: bool,
    /// Written by a staff member (not the bot).
    pub staff: bool,
    pub text: String,
    pub choices: Vec<(String, String)>,
    pub image: Option<String>,
}

#[derive(Template)]
#[template(path = "simulator/page.html")]
struct ChatPage {
    p: Layout,
    account_id: i64,
    csrf: String,
    account: Account,
    phone: String,
    bubbles: Vec<Bubble>,
    /// Only in htmx's answer (`Bubbles`): the page has its own message box.
    swap_compose: Option<&'static str>,
    /// The last staff message already written to this number (those after
    /// it are shown as they come).
    staff_after: i64,
}

#[derive(Template)]
#[template(path = "simulator/page.html", block = "thread")]
struct Bubbles {
    account_id: i64,
    csrf: String,
    bubbles: Vec<Bubble>,
    /// The emptied message box, swapped in out of band (its placeholder).
    swap_compose: Option<&'static str>,
}

async fn chat(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    let account = load(&state, &staff, id).await?;
    chat_page(&state, &staff, account, Vec::new()).await
}

/// The whole page (first load, or a form sent without JavaScript).
async fn chat_page(
    state: &AppState,
    staff: &Staff,
    account: Account,
    bubbles: Vec<Bubble>,
) -> WebResult {
    let phone = phone(staff, account.id, false).await?;
    let access = staff.require(Permission::SimulatorUse, Scope::Account(account.id))?;
    let staff_after = read::last_staff_message(&state.db, &access, account.id, &phone).await?;
    page(ChatPage {
        p: staff.layout(account.name.clone(), "/simulator"),
        account_id: account.id,
        csrf: staff.csrf.clone(),
        account,
        phone,
        bubbles,
        swap_compose: None,
        staff_after,
    })
}

fn bot_bubbles(replies: Vec<Reply>, qr: Option<String>) -> Vec<Bubble> {
    let mut out: Vec<Bubble> = replies
        .into_iter()
        .map(|r| Bubble {
            mine: false,
            staff: false,
            text: r.text,
            choices: r.choices.into_iter().map(|c| (c.id, c.title)).collect(),
            image: None,
        })
        .collect();
    if let Some(url) = qr {
        out.push(Bubble {
            mine: false,
            staff: false,
            text: String::new(),
            choices: Vec::new(),
            image: Some(url),
        });
    }
    out
}

async fn send(
    State(state): State<AppState>,
    staff: Staff,
    HxRequest(htmx): HxRequest,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> WebResult {
    let account = load(&state, &staff, id).await?;
    let text = form_value(&f, "text").unwrap_or("").to_string();
    let choice = form_value(&f, "choice")
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    if text.trim().is_empty() && choice.is_none() {
        return Err(staff.bad_request(staff.t().simulator_empty));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(staff.bad_request(staff.t().too_long));
    }
    let from = phone(&staff, id, false).await?;
    let inbound = NewInbound {
        provider_message_id: format!("simulator-{}", uuid::Uuid::now_v7()),
        from,
        profile_name: None,
        text: text.clone(),
        choice_id: choice,
        kind: "text".into(),
        media_ref: None,
        sent_at: None,
    };
    let answer = sandbox::exchange(&state.inbox(), &state.qr_links, &account, &inbound).await?;
    let mut bubbles = vec![Bubble {
        mine: true,
        staff: false,
        text,
        choices: Vec::new(),
        image: None,
    }];
    bubbles.extend(bot_bubbles(answer.replies, answer.qr_url));
    if htmx {
        return page(Bubbles {
            account_id: id,
            csrf: staff.csrf.clone(),
            bubbles,
            swap_compose: Some(staff.t().simulator_placeholder),
        });
    }
    chat_page(&state, &staff, account, bubbles).await
}

async fn reset(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    load(&state, &staff, id).await?;
    phone(&staff, id, true).await?;
    Ok(see_other(&format!("/simulator/{id}"))?.into_response())
}

/// `GET /simulator/{account}/live`: an event stream (`staff`) of this
/// session's simulated conversation only: something new was written to it.
async fn live(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> WebResult<Response> {
    let account = load(&state, &staff, id).await?;
    let access = staff.require(Permission::SimulatorUse, Scope::Account(id))?;
    let number = phone(&staff, id, false).await?;
    let conversation = read::simulated_conversation(&state.db, &access, id, &number).await?;
    let filter = Filter::Conversation {
        tenant_id: account.tenant_id,
        conversation_id: conversation,
    };
    let feed = state
        .live
        .feed(filter, stream::last_event_id(&headers).as_deref());
    let who = Who::of(&staff);
    let first = match conversation {
        Some(_) => state.live.recheck_every(),
        None => LOOK_FOR_CONVERSATION.min(state.live.recheck_every()),
    };
    Ok(stream::respond(
        state,
        feed,
        Names::Simulator,
        first,
        move |state| {
            let who = who.clone();
            async move { recheck(&state, &who, id).await }
        },
    ))
}

/// The simulator's stream checked again: the user may still use the
/// simulator on this account, which is still an enabled sandbox; and the
/// session's number's conversation (it may have started since).
async fn recheck(state: &AppState, who: &Who, id: i64) -> Option<(Filter, Duration)> {
    let (access, record) = who
        .access(state, Permission::SimulatorUse, Scope::Account(id))
        .await?;
    let account = accounts::find_account(&state.db, &access, id)
        .await
        .ok()
        .flatten()
        .filter(|a| a.provider() == Provider::Sandbox && a.enabled)?;
    let number = stream::session_value(&record, &phone_key(id))?;
    let conversation = read::simulated_conversation(&state.db, &access, id, &number)
        .await
        .ok()?;
    let every = match conversation {
        Some(_) => state.live.recheck_every(),
        None => LOOK_FOR_CONVERSATION.min(state.live.recheck_every()),
    };
    Some((
        Filter::Conversation {
            tenant_id: account.tenant_id,
            conversation_id: conversation,
        },
        every,
    ))
}

#[derive(Template)]
#[template(path = "simulator/_staff.html")]
struct StaffReplies {
    account_id: i64,
    csrf: String,
    bubbles: Vec<Bubble>,
    /// The last staff message now shown.
    staff_after: i64,
}

/// `GET /simulator/{account}/staff?after={id}`: the staff messages written
/// to this session's number after message `after`, as bubbles to append,
/// and the new `after` (swapped in out of band).
async fn staff_replies(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    RawQuery(query): RawQuery,
) -> WebResult {
    load(&state, &staff, id).await?;
    let after = match query
        .as_deref()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "after"))
    {
        None => 0,
        Some((_, v)) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| staff.bad_request(staff.t().simulator_after_invalid))?,
    };
    let access = staff.require(Permission::SimulatorUse, Scope::Account(id))?;
    let number = phone(&staff, id, false).await?;
    let written =
        read::staff_messages_after(&state.db, &access, id, &number, after, STAFF_BATCH).await?;
    let staff_after = written.last().map_or(after, |w| w.id);
    page(StaffReplies {
        account_id: id,
        csrf: staff.csrf.clone(),
        bubbles: written
            .into_iter()
            .map(|w| Bubble {
                mine: false,
                staff: true,
                text: w.body,
                choices: Vec::new(),
                image: None,
            })
            .collect(),
        staff_after,
    })
}
