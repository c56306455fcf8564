//! The phone simulator: chat with a sandbox account's bot as a person would.
//!
//! The thread lives in the page only: what the "person" types is never kept
//! beside the conversation (the bot's transcript keeps what it keeps of any
//! real person's messages). Each staff session gets its own made-up number
//! per account; "new person" draws another. The codes issued here are test
//! data (sandbox accounts), kept out of the real registry's figures; using
//! the simulator needs its own permission, `simulator.use`.

use super::{Layout, Routes, Staff, WebResult, form_value, page, see_other};
use crate::AppState;
use crate::auth::{Access, Permission, Scope};
use crate::channel::sandbox;
use crate::flow::Reply;
use crate::inbox::NewInbound;
use crate::tenancy::{Account, Provider, store as accounts};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum_htmx::HxRequest;

pub fn routes(r: Routes) -> Routes {
    r.get("/simulator", list)
        .get("/simulator/{account}", chat)
        .post("/simulator/{account}", send)
        .post("/simulator/{account}/reset", reset)
}

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
    chat_page(&staff, account, Vec::new()).await
}

/// The whole page (first load, or a form sent without JavaScript).
async fn chat_page(staff: &Staff, account: Account, bubbles: Vec<Bubble>) -> WebResult {
    let phone = phone(staff, account.id, false).await?;
    page(ChatPage {
        p: staff.layout(account.name.clone(), "/simulator"),
        account_id: account.id,
        csrf: staff.csrf.clone(),
        account,
        phone,
        bubbles,
        swap_compose: None,
    })
}

fn bot_bubbles(replies: Vec<Reply>, qr: Option<String>) -> Vec<Bubble> {
    let mut out: Vec<Bubble> = replies
        .into_iter()
        .map(|r| Bubble {
            mine: false,
            text: r.text,
            choices: r.choices.into_iter().map(|c| (c.id, c.title)).collect(),
            image: None,
        })
        .collect();
    if let Some(url) = qr {
        out.push(Bubble {
            mine: false,
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
    chat_page(&staff, account, bubbles).await
}

async fn reset(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    load(&state, &staff, id).await?;
    phone(&staff, id, true).await?;
    Ok(see_other(&format!("/simulator/{id}"))?.into_response())
}
