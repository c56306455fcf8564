//! `GET /live`: the staff pages' event stream (server-sent events, read by
//! htmx's SSE extension). Events name what changed, never what it is:
//!
//! - `conversation-{id}`: something changed in that conversation, for the
//!   one conversation the page shows (`/live?conversation={id}`; a list
//!   page follows none);
//! - `conversations`: some conversation of the list changed (at most one a
//!   second);
//! - `queue`: a conversation entered or left the queue or changed hands
//!   (at most one a second);
//! - `resync`: what was missed cannot be told; refresh everything.
//!
//! A page refetches its fragments through their own routes, which check
//! permissions again. Only changes of the accounts the user's
//! `conversations.view` covers, in their tenant, are told. The user is
//! checked again every 30 seconds (`live::RECHECK`: disabled, logged out,
//! permission removed: the stream ends, and the browser's reconnection is
//! refused).
//!
//! The simulator's stream (`web::simulator`) is built here too.

use super::{Routes, Staff, WebResult};
use crate::AppState;
use crate::auth::session::{self, keys};
use crate::auth::store::{self as auth_store, User};
use crate::auth::{Access, Permission, Scope};
use crate::db::Db;
use crate::inbox::read;
use crate::live::{Feed, Filter, Hub, Out};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

pub fn routes(r: Routes) -> Routes {
    r.get("/live", stream)
}

/// A comment this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The stream's `Last-Event-ID` (`Some("")` when it is not text: unknown).
pub fn last_event_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or_default().to_string())
}

/// `?conversation={id}`: the conversation the page shows.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct StreamQuery {
    conversation: String,
}

async fn stream(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> WebResult<Response> {
    let access = staff.require(Permission::ConversationsView, Scope::AnyAccount)?;
    let watching = match q.conversation.as_str() {
        "" => None,
        s => {
            let id = s
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| staff.bad_request(staff.t().live_bad_conversation))?;
            // Another tenant's, another account's or none: not found alike.
            read::conversation(&state.db, &access, id)
                .await?
                .ok_or_else(|| staff.not_found())?;
            Some(id)
        }
    };
    let feed = state.live.feed(
        Filter::staff(&access, watching),
        last_event_id(&headers).as_deref(),
    );
    let who = Who::of(&staff);
    let every = state.live.recheck_every();
    Ok(respond(state, feed, Names::Staff, every, move |state| {
        let who = who.clone();
        async move {
            let (access, _) = who
                .access(&state, Permission::ConversationsView, Scope::AnyAccount)
                .await?;
            Some((Filter::staff(&access, watching), every))
        }
    }))
}

/// How a stream names what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// The staff pages' names (see the module header).
    Staff,
    /// The simulator's phone: `staff` for anything new in its
    /// conversation (and after a gap).
    Simulator,
}

/// The event for what a feed sends.
pub fn event(hub: &Hub, names: Names, out: Out) -> Event {
    match (names, out) {
        (Names::Staff, Out::Conversation(id)) => Event::default()
            .event(format!("conversation-{id}"))
            .data(id.to_string()),
        (Names::Simulator, Out::Conversation(id)) => {
            Event::default().event("staff").data(id.to_string())
        }
        (_, Out::Conversations(seq)) => Event::default()
            .event("conversations")
            .id(hub.event_id(seq))
            .data("changed"),
        (_, Out::Queue(seq)) => Event::default()
            .event("queue")
            .id(hub.event_id(seq))
            .data("changed"),
        (Names::Staff, Out::Resync(seq)) => Event::default()
            .event("resync")
            .id(hub.event_id(seq))
            .data("resync"),
        (Names::Simulator, Out::Resync(seq)) => Event::default()
            .event("staff")
            .id(hub.event_id(seq))
            .data("resync"),
        // No data: the browser dispatches nothing, but keeps the id for
        // its reconnection.
        (_, Out::Mark(seq)) => Event::default().id(hub.event_id(seq)),
    }
}

/// The response: the feed's events, the user checked again by `check`
/// after `first_check` (which gives the new filter and when to check next,
/// or `None`: the stream ends).
pub fn respond<C, F>(
    state: AppState,
    feed: Feed,
    names: Names,
    first_check: Duration,
    check: C,
) -> Response
where
    C: Fn(AppState) -> F + Send + 'static,
    F: Future<Output = Option<(Filter, Duration)>> + Send,
{
    struct Running<C> {
        state: AppState,
        feed: Feed,
        check: C,
        next_check: Instant,
    }
    let running = Running {
        state,
        feed,
        check,
        next_check: Instant::now() + first_check,
    };
    let events = futures_util::stream::unfold(running, move |mut r| async move {
        loop {
            tokio::select! {
                out = r.feed.next() => {
                    let out = out?;
                    let event = event(r.feed.hub(), names, out);
                    return Some((Ok::<_, Infallible>(event), r));
                }
                () = tokio::time::sleep_until(r.next_check) => {
                    let (filter, every) = (r.check)(r.state.clone()).await?;
                    r.feed.set_filter(filter);
                    r.next_check = Instant::now() + every;
                }
            }
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// Who opened a stream: enough to check them again without the request.
#[derive(Debug, Clone)]
pub struct Who {
    session: Option<Id>,
    user_id: i64,
}

impl Who {
    pub fn of(staff: &Staff) -> Who {
        Who {
            session: staff.session.id(),
            user_id: staff.user.id,
        }
    }

    /// The user's access now, as the request's check would give it, and
    /// the session as stored: `None` when the session ended (logged out,
    /// expired), the user is disabled, or the permission is gone.
    pub async fn access(
        &self,
        state: &AppState,
        p: Permission,
        scope: Scope,
    ) -> Option<(Access, Record)> {
        let (record, user) = self.current(state).await?;
        let switched_to = record
            .data
            .get(keys::TENANT)
            .and_then(serde_json::Value::as_i64);
        match auth_store::actor(&state.db, &user, switched_to).await {
            Ok(actor) => Some((actor.require(p, scope).ok()?, record)),
            Err(e) => {
                tracing::warn!(error = %e, "live updates: checking a stream's user failed; the stream ends");
                None
            }
        }
    }

    /// The session as stored now and its user, if both are still good (the
    /// checks of `Staff`'s extractor).
    async fn current(&self, state: &AppState) -> Option<(Record, User)> {
        let id = self.session?;
        let record = match load_session(&state.db, &id).await {
            Ok(r) => r?,
            Err(e) => {
                tracing::warn!(error = %e, "live updates: reading a stream's session failed; the stream ends");
                return None;
            }
        };
        let user_id = record.data.get(keys::USER).and_then(|v| v.as_i64());
        if user_id != Some(self.user_id) {
            return None;
        }
        let login_us = record
            .data
            .get(keys::LOGIN_AT)
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        let user = match auth_store::find_user(&state.db, self.user_id).await {
            Ok(u) => u?,
            Err(e) => {
                tracing::warn!(error = %e, "live updates: reading a stream's user failed; the stream ends");
                return None;
            }
        };
        let max_us = i64::try_from(state.config.staff_session_max.as_micros()).unwrap_or(i64::MAX);
        let now_us = session::unix_micros(time::OffsetDateTime::now_utc());
        let good = !user.is_disabled()
            && now_us.saturating_sub(login_us) < max_us
            && session::opened_after(login_us, user.password_changed_at);
        good.then_some((record, user))
    }
}

/// A session as stored (expired ones are not found).
async fn load_session(
    db: &Db,
    id: &Id,
) -> Result<Option<Record>, tower_sessions::session_store::Error> {
    match db {
        Db::Sqlite(p) => {
            tower_sessions_sqlx_store::SqliteStore::new(p.writer.clone())
                .load(id)
                .await
        }
        Db::Postgres(p) => {
            tower_sessions_sqlx_store::PostgresStore::new(p.clone())
                .load(id)
                .await
        }
    }
}

/// A value the session held when the stream opened.
pub fn session_value(record: &Record, key: &str) -> Option<String> {
    record
        .data
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}
