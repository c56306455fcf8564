//! The code lookup page (`uic.lookup`, issue 15): type a code, or its
//! beginning, and see its registrations among the numbers the access
//! covers: when first and last seen, how often, from how many phones, a
//! possible collision, its DHIS-2 state (with `dhis2.view`) and a link to
//! its conversations (with `conversations.view`), and an open collision's
//! review (with `uic.review`). A mistyped code is
//! offered as « did you mean », never looked up in its place. Every lookup
//! is in the audit log, naming the code or beginning looked up (never the
//! text as typed: it may be anything).

use super::dhis2::{SyncLine, sync_of_codes};
use super::{Layout, Routes, Staff, WebResult, page};
use crate::AppState;
use crate::auth::{Permission, Scope};
use crate::registry::store::{Found, lookup};
use crate::uic::lookup::{Invalid, Query as Lookup, parse};
use askama::Template;
use axum::extract::{Query, State};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The lookup, and the collision review beside it (`collisions`).
pub fn routes(r: Routes) -> Routes {
    super::collisions::routes(r.get("/uic", show))
}

/// The most codes a beginning lists.
const LIMIT: i64 = 50;
/// The longest text read from the box (a code has ten characters).
const TYPED_MAX: usize = 64;

#[derive(Deserialize, Default)]
#[serde(default)]
struct LookupForm {
    q: String,
}

#[derive(Template)]
#[template(path = "uic/lookup.html")]
struct LookupPage {
    p: Layout,
    /// The box's value, as typed (cut).
    q: String,
    searched: bool,
    /// What is wrong with the text, if anything.
    problem: Option<&'static str>,
    did_you_mean: Option<String>,
    found: Vec<Found>,
    /// Each found code's numbers and conversations, in `found`'s order.
    places: Vec<crate::registry::store::Places>,
    sync: BTreeMap<String, SyncLine>,
    /// Codes with an open collision the staff member may review (with
    /// `uic.review`): code -> its review.
    review: BTreeMap<String, i64>,
    can_conversations: bool,
}

async fn show(
    State(state): State<AppState>,
    staff: Staff,
    Query(f): Query<LookupForm>,
) -> WebResult {
    let access = staff.require(Permission::UicLookup, Scope::AnyAccount)?;
    let t = staff.t();
    let typed: String = f.q.chars().take(TYPED_MAX).collect();
    let searched = !typed.trim().is_empty();
    let query = parse(&typed);
    let (problem, did_you_mean) = match &query {
        Lookup::Invalid(Invalid::Empty) => (None, None),
        Lookup::Invalid(Invalid::TooShort) => (Some(t.uic_too_short), None),
        Lookup::Invalid(_) => (Some(t.uic_not_a_code), None),
        Lookup::DidYouMean { code, .. } => (None, Some(code.as_str().to_string())),
        Lookup::Exact(_) | Lookup::Prefix(_) => (None, None),
    };
    let found = lookup(&state.db, &access, &query, LIMIT).await?;
    let looked_up = match &query {
        Lookup::Exact(code) => Some(code.as_str().to_string()),
        Lookup::Prefix(p) => Some(format!("{p}…")),
        _ => None,
    };
    if let Some(what) = looked_up {
        staff
            .audit(
                &state,
                "uic.lookup",
                format!("uic:{what}"),
                format!("{} found", found.len()),
            )
            .await?;
    }
    let codes: Vec<&str> = found.iter().map(|f| f.uic.as_str()).collect();
    let sync = sync_of_codes(&state, &staff, &codes).await?;
    // Each code's numbers, and its conversations (to open them, with
    // `conversations.view`; the phone in full with `contacts.view`).
    let can_conversations = staff.can(Permission::ConversationsView, Scope::AnyAccount);
    let places = crate::registry::store::places(&state.db, &access, &found)
        .await?
        .into_iter()
        .map(|mut p| {
            if !can_conversations {
                p.conversations.clear();
            }
            for (_, number, _, phone) in &mut p.conversations {
                if !staff.can(Permission::ContactsView, Scope::Account(*number)) {
                    *phone = crate::channel::webhook::mask_phone(phone);
                }
            }
            p
        })
        .collect();
    let review = match staff.require(Permission::UicReview, Scope::AnyAccount) {
        Ok(reviewer) => crate::registry::collision::open_of_codes(&state.db, &reviewer, &codes)
            .await?
            .into_iter()
            .collect(),
        Err(_) => BTreeMap::new(),
    };
    page(LookupPage {
        p: staff.layout(t.nav_uic, "/uic"),
        q: typed,
        searched,
        problem,
        did_you_mean,
        found,
        sync,
        review,
        places,
        can_conversations,
    })
}
