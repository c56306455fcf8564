//! Live updates over HTTP, on both databases: the staff stream (`/live`)
//! tells a user's session what changed in the conversations they may see,
//! and nothing else; a reconnection is caught up or told to resync; a user
//! who loses access loses the stream; with PostgreSQL, a change on one
//! instance reaches a stream on another; the simulator shows what staff
//! write to its number.

use crate::both_backends;
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::staff::Browser;
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use rstest_reuse::apply;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::Instant;
use uic_inbox::auth::store::{self as auth_store, User};
use uic_inbox::auth::{BuiltinRole, Permission, Scope};
use uic_inbox::inbox::staff::{self, Acted};
use uic_inbox::live::{Change, Topic};
use uic_inbox::on_db;
use uic_inbox::tenancy::{Account, Provider, store as accounts};

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Frame {
    event: Option<String>,
    id: Option<String>,
    data: Option<String>,
}

impl Frame {
    fn is(&self, name: &str) -> bool {
        self.event.as_deref() == Some(name)
    }
}

/// An open event stream, read as it comes.
struct Stream {
    res: reqwest::Response,
    buf: Vec<u8>,
    ended: bool,
}

async fn open(app: &TestApp, b: &Browser, path: &str, last_id: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .get(format!("{}{path}", app.address))
        .header("Accept", "text/event-stream")
        // As browsers ask: a compressed stream would be held back by the
        // compressor.
        .header("Accept-Encoding", "gzip, br");
    if let Some(c) = &b.cookie {
        req = req.header(COOKIE, c);
    }
    if let Some(id) = last_id {
        req = req.header("Last-Event-ID", id);
    }
    req.send().await.unwrap()
}

/// Opens a stream that must be accepted.
async fn stream(app: &TestApp, b: &Browser, path: &str, last_id: Option<&str>) -> Stream {
    let res = open(app, b, path, last_id).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    assert!(res.headers().get("content-encoding").is_none());
    Stream {
        res,
        buf: Vec::new(),
        ended: false,
    }
}

impl Stream {
    /// The next event (keep-alive comments skipped), if one comes within
    /// `within`.
    async fn next(&mut self, within: Duration) -> Option<Frame> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let raw: Vec<u8> = self.buf.drain(..at + 2).collect();
                let text = String::from_utf8(raw).expect("events are UTF-8");
                let mut frame = Frame::default();
                let mut fields = 0;
                for line in text.lines() {
                    let Some((name, value)) = line.split_once(':') else {
                        continue;
                    };
                    let value = value.strip_prefix(' ').unwrap_or(value).to_string();
                    match name {
                        "event" => frame.event = Some(value),
                        "id" => frame.id = Some(value),
                        "data" => frame.data = Some(value),
                        _ => continue,
                    }
                    fields += 1;
                }
                if fields > 0 {
                    return Some(frame);
                }
                continue;
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.res.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buf.extend_from_slice(&bytes),
                Ok(Ok(None)) | Ok(Err(_)) => self.ended = true,
                Err(_) => return None,
            }
        }
    }

    /// Every event up to the one named `name` (included), which must come
    /// within `within`.
    async fn until(&mut self, name: &str, within: Duration) -> Vec<Frame> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(f) => {
                    let done = f.is(name);
                    seen.push(f);
                    if done {
                        return seen;
                    }
                }
                None => panic!("no {name:?} within {within:?}; saw {seen:?}"),
            }
        }
    }

    /// Every event that comes during `d`.
    async fn during(&mut self, d: Duration) -> Vec<Frame> {
        let deadline = Instant::now() + d;
        let mut seen = Vec::new();
        while let Some(f) = self
            .next(deadline.saturating_duration_since(Instant::now()))
            .await
        {
            seen.push(f);
        }
        seen
    }

    /// Whether the server ends the stream within `within`.
    async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while !self.ended && Instant::now() < deadline {
            self.next(deadline.saturating_duration_since(Instant::now()))
                .await;
        }
        self.ended
    }

    /// The first event: the stream's position (an id, no event name).
    async fn mark(&mut self) -> String {
        let f = self
            .next(Duration::from_secs(5))
            .await
            .expect("a first event");
        assert_eq!(
            (f.event.as_deref(), f.data.as_deref()),
            (None, None),
            "{f:?}"
        );
        f.id.expect("the first event carries an id")
    }
}

async fn sandbox(app: &TestApp) -> Account {
    accounts::find_by_slug(&app.state.db, "sandbox")
        .await
        .unwrap()
        .unwrap()
}

/// The conversation of `phone` on the account named `slug`.
async fn conversation_of(app: &TestApp, slug: &str, phone: &str) -> i64 {
    on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT cv.id FROM conversations cv JOIN contacts c ON c.id = cv.contact_id
         JOIN whatsapp_accounts a ON a.id = cv.account_id WHERE c.phone = $1 AND a.slug = $2")
        .bind(phone).bind(slug).fetch_one(p).await.unwrap())
}

async fn access_of(app: &TestApp, user: &User, p: Permission) -> uic_inbox::auth::Access {
    auth_store::actor(&app.state.db, user, None)
        .await
        .unwrap()
        .require(p, Scope::AnyAccount)
        .unwrap()
}

/// A user of the default tenant with `role` (tenant-wide, or on one
/// account), logged in.
async fn member(
    app: &TestApp,
    email: &str,
    role: BuiltinRole,
    account: Option<i64>,
) -> (User, Browser) {
    let tenant = app.default_tenant().await;
    let user = app.staff_user(tenant, email, Some(role), account).await;
    let b = app.login(email).await;
    (user, b)
}

fn names(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f.event.clone().unwrap_or_default())
        .collect()
}

const SECOND: Duration = Duration::from_secs(1);

#[apply(both_backends)]
#[tokio::test]
async fn an_agent_s_stream_tells_a_new_message_and_a_takeover_within_two_seconds(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (agent, b) = member(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    // The list page's stream.
    let mut list = stream(&app, &b, "/live", None).await;
    let mark = list.mark().await;
    assert!(
        mark.starts_with(&format!("{}-", app.state.live.instance())),
        "{mark}"
    );
    assert_eq!(app.state.live.connections(), 1);

    let phone = "+243990000201";
    app.sandbox_say(phone, "Bonjour").await;
    let id = conversation_of(&app, "sandbox", phone).await;
    let seen = list.until("conversations", 2 * SECOND).await;
    // A list page is told the list changed, not which conversation.
    assert_eq!(names(&seen), vec!["conversations".to_string()]);
    // The list notice carries the position to catch up from.
    assert!(
        seen[0]
            .id
            .as_deref()
            .is_some_and(|i| i.starts_with(app.state.live.instance()))
    );

    // The conversation's page: each change of it.
    let mut s = stream(&app, &b, &format!("/live?conversation={id}"), None).await;
    s.mark().await;
    assert_eq!(app.state.live.connections(), 2);
    app.sandbox_say(phone, "1990").await;
    let seen = s.until("conversations", 2 * SECOND).await;
    assert!(
        seen.iter()
            .any(|f| f.is(&format!("conversation-{id}"))
                && f.data.as_deref() == Some(&*id.to_string())),
        "{seen:?}"
    );

    // Escalated, then taken over: the queue changes.
    app.sandbox_say(phone, "AGENT").await;
    let seen = s.until("queue", 2 * SECOND).await;
    assert!(
        seen.iter().any(|f| f.is(&format!("conversation-{id}"))),
        "{seen:?}"
    );
    let seen = list.until("queue", 3 * SECOND).await;
    assert!(
        seen.iter().all(|f| !f.is(&format!("conversation-{id}"))),
        "{seen:?}"
    );
    let takeover = access_of(&app, &agent, Permission::ConversationsTakeover).await;
    let acted = staff::take_over(
        &app.state.db,
        &app.state.live,
        &takeover,
        id,
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(acted, Acted::Done);
    let seen = s.until(&format!("conversation-{id}"), 2 * SECOND).await;
    assert!(seen.iter().all(|f| !f.is("resync")), "{seen:?}");
    let seen = s.until("queue", 2 * SECOND).await;
    assert!(!seen.is_empty());
    drop(s);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_stream_never_tells_of_another_account_or_another_tenant(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let a = sandbox(&app).await;
    app.account_in(tenant, "sandbox-b", Provider::Sandbox, None, None)
        .await;
    let other = accounts::ensure_tenant(&app.state.db, "other-ngo", "Other")
        .await
        .unwrap();
    app.account_in(other, "sandbox-c", Provider::Sandbox, None, None)
        .await;
    let (_, mut agent_a) =
        member(&app, "agent-a@ngo.example", BuiltinRole::Agent, Some(a.id)).await;
    app.staff_user(
        other,
        "admin@other.example",
        Some(BuiltinRole::Administrator),
        None,
    )
    .await;
    let stranger = app.login("admin@other.example").await;
    let phone = "+243990000202";
    app.sandbox_post("sandbox-b", phone, "Bonjour").await;
    app.sandbox_post("sandbox-c", phone, "Bonjour").await;
    let b_id = conversation_of(&app, "sandbox-b", phone).await;
    let c_id = conversation_of(&app, "sandbox-c", phone).await;
    // Following a conversation out of reach: not found, whether of another
    // account or of another tenant; and no stream opened.
    for (who, id) in [(&agent_a, b_id), (&agent_a, c_id), (&stranger, b_id)] {
        let res = open(&app, who, &format!("/live?conversation={id}"), None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{id}");
    }
    // Not a conversation's number: a precise 400.
    for bad in [
        "abc",
        "-1",
        "0",
        "1.5",
        "%00",
        "99999999999999999999999",
        "1%0A",
    ] {
        let page = agent_a.get(&format!("/live?conversation={bad}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}");
        // (A NUL is refused before, by the check of every query.)
        assert!(
            bad == "%00" || page.body.contains("une conversation"),
            "{bad}: {}",
            page.body
        );
    }
    assert_eq!(app.state.live.connections(), 0);
    let mut sa = stream(&app, &agent_a, "/live", None).await;
    sa.mark().await;
    let mut sc = stream(&app, &stranger, &format!("/live?conversation={c_id}"), None).await;
    sc.mark().await;
    app.sandbox_post("sandbox-b", phone, "1990").await;
    app.sandbox_post("sandbox-c", phone, "1990").await;
    // The other tenant's administrator hears of theirs.
    let seen = sc.until("conversations", 2 * SECOND).await;
    assert!(
        seen.iter().any(|f| f.is(&format!("conversation-{c_id}"))),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|f| !f.is(&format!("conversation-{b_id}"))),
        "{seen:?}"
    );
    // The agent of A hears nothing at all of B or C, not even a list notice.
    let quiet = sa.during(1500 * Duration::from_millis(1)).await;
    assert!(quiet.is_empty(), "{quiet:?}");

    app.sandbox_post("sandbox", phone, "Bonjour").await;
    let a_id = conversation_of(&app, "sandbox", phone).await;
    sa.until("conversations", 2 * SECOND).await;
    let mut sa = stream(&app, &agent_a, &format!("/live?conversation={a_id}"), None).await;
    sa.mark().await;
    app.sandbox_post("sandbox", phone, "1990").await;
    let seen = sa.until("conversations", 2 * SECOND).await;
    assert_eq!(
        names(&seen),
        vec![format!("conversation-{a_id}"), "conversations".to_string()],
        "{seen:?}"
    );
    let theirs = sc.during(1500 * Duration::from_millis(1)).await;
    assert!(
        theirs
            .iter()
            .all(|f| !f.is(&format!("conversation-{a_id}")) && !f.is("conversations")),
        "{theirs:?}"
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn the_stream_needs_conversations_view_and_a_login(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    app.staff_user(tenant, "nobody@ngo.example", None, None)
        .await;
    let b = app.login("nobody@ngo.example").await;
    let res = open(&app, &b, "/live", None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = open(&app, &app.browser(), "/live", None).await;
    assert!(
        matches!(
            res.status(),
            StatusCode::UNAUTHORIZED | StatusCode::SEE_OTHER
        ),
        "{}",
        res.status()
    );
    assert_ne!(
        res.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"text/event-stream"[..])
    );
    assert_eq!(app.state.live.connections(), 0);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_reconnection_is_caught_up_or_told_to_resync(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, b) = member(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    let phone = "+243990000203";
    app.sandbox_say(phone, "Bonjour").await;
    let id = conversation_of(&app, "sandbox", phone).await;
    let path = format!("/live?conversation={id}");
    let mut s = stream(&app, &b, &path, None).await;
    let last = s.mark().await;
    drop(s);
    // Missed while away.
    app.sandbox_say(phone, "1990").await;
    let mut s = stream(&app, &b, &path, Some(&last)).await;
    let seen = s.until("conversations", 2 * SECOND).await;
    assert_eq!(
        names(&seen),
        vec![format!("conversation-{id}"), "conversations".into()]
    );
    let caught_up = seen[1].id.clone().unwrap();
    drop(s);
    // Nothing missed: nothing told, and no resync.
    let mut s = stream(&app, &b, &path, Some(&caught_up)).await;
    assert_eq!(s.mark().await, caught_up);
    assert!(s.during(SECOND).await.is_empty());
    drop(s);

    // Unknown, hostile or evicted ids: resync first, never an error.
    let other_instance = format!("0123456789ab-{}", 1);
    let long = "7".repeat(10_000);
    let non_ascii = "é-1";
    for id in [
        "garbage",
        "",
        &other_instance,
        &long,
        non_ascii,
        "-1",
        "99999999999999999999999-1",
    ] {
        let mut s = stream(&app, &b, "/live", Some(id)).await;
        let first = s.next(2 * SECOND).await.expect("a first event");
        assert!(first.is("resync"), "{id:?}: {first:?}");
        assert!(first.id.is_some(), "{first:?}");
    }
    // More changes than the ring keeps (of another tenant: not told).
    for n in 0..20_000 {
        app.state.live.publish(Change {
            tenant_id: 999_999,
            account_id: 999_999,
            conversation_id: n,
            topic: Topic::Message,
        });
    }
    let mut s = stream(&app, &b, "/live", Some(&caught_up)).await;
    let first = s.next(2 * SECOND).await.unwrap();
    assert!(first.is("resync"), "{first:?}");
}

/// A header value no client may send (NUL) is refused by the HTTP layer
/// with a 400, never a server error.
#[tokio::test]
async fn a_nul_in_last_event_id_is_a_bad_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let (_, b) = member(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    let cookie = b.cookie.clone().unwrap();
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", app.port()))
        .await
        .unwrap();
    let request = format!(
        "GET /live HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\nLast-Event-ID: abc\0def\r\nAccept: text/event-stream\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 64];
    let n = tokio::time::timeout(5 * SECOND, conn.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let status = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
}

#[apply(both_backends)]
#[tokio::test]
async fn a_stream_ends_when_its_user_loses_access(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.state.live.set_recheck_every(Duration::from_millis(300));
    let tenant = app.default_tenant().await;
    let manager = crate::helpers::users_manager(tenant);

    // The role that gave conversations.view taken away.
    let (agent, b) = member(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    let mut s = stream(&app, &b, "/live", None).await;
    s.mark().await;
    assert!(!s.ends_within(SECOND).await, "still allowed: still open");
    let assignment = auth_store::assignments_of(&app.state.db, &manager, agent.id)
        .await
        .unwrap()[0]
        .id;
    auth_store::unassign(&app.state.db, &manager, agent.id, assignment)
        .await
        .unwrap();
    assert!(s.ends_within(3 * SECOND).await, "the permission is gone");
    assert_eq!(
        open(&app, &b, "/live", None).await.status(),
        StatusCode::FORBIDDEN
    );

    // Disabled.
    let (observer, b) = member(&app, "observer@ngo.example", BuiltinRole::Observer, None).await;
    let mut s = stream(&app, &b, "/live", None).await;
    s.mark().await;
    auth_store::set_disabled(&app.state.db, &manager, observer.id, true)
        .await
        .unwrap();
    assert!(s.ends_within(3 * SECOND).await, "disabled");

    // Logged out (in another tab).
    let (_, mut b) = member(&app, "sup@ngo.example", BuiltinRole::Supervisor, None).await;
    let mut s = stream(&app, &b, "/live", None).await;
    s.mark().await;
    b.post("/logout", &[]).await;
    assert!(s.ends_within(3 * SECOND).await, "logged out");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.state.live.connections(), 0);
}

#[tokio::test]
async fn a_stream_that_falls_behind_ends() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let (_, b) = member(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    let account = sandbox(&app).await;
    let mut s = stream(&app, &b, "/live", None).await;
    let last = s.mark().await;
    // Far more than a stream may be behind, all of conversations it sees.
    for n in 0..50_000 {
        app.state.live.publish(Change {
            tenant_id: account.tenant_id,
            account_id: account.id,
            conversation_id: n % 5_000,
            topic: Topic::Message,
        });
    }
    assert!(s.ends_within(10 * SECOND).await, "a lagging stream ends");
    // Its reconnection cannot be caught up: refresh everything.
    let mut s = stream(&app, &b, "/live", Some(&last)).await;
    assert!(s.next(2 * SECOND).await.unwrap().is("resync"));
}

#[tokio::test]
async fn a_change_on_one_instance_reaches_a_stream_on_the_other() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let second = app.second_instance().await;
    assert_ne!(app.state.live.instance(), second.state.live.instance());
    let tenant = app.default_tenant().await;
    app.staff_user(tenant, "agent@ngo.example", Some(BuiltinRole::Agent), None)
        .await;
    let b = second.login("agent@ngo.example").await;
    let phone = "+243990000204";
    app.sandbox_say(phone, "Bonjour").await;
    let id = conversation_of(&app, "sandbox", phone).await;
    let mut s = stream(&second, &b, &format!("/live?conversation={id}"), None).await;
    s.mark().await;
    // Through the first instance.
    app.sandbox_say(phone, "1990").await;
    let seen = s.until("conversations", 2 * SECOND).await;
    assert!(
        seen.iter().any(|f| f.is(&format!("conversation-{id}"))),
        "{seen:?}"
    );
    // Ids are the second instance's own.
    let list = seen.last().unwrap().id.clone().unwrap();
    assert!(list.starts_with(second.state.live.instance()), "{list}");
    // The first message's change may cross late, after the stream opened:
    // its list notice then comes within the second. Let it pass.
    let late = s.during(SECOND + SECOND / 5).await;
    assert!(
        late.iter()
            .all(|f| f.is("conversations") || f.is(&format!("conversation-{id}"))),
        "{late:?}"
    );
    // Another tenant's change does not cross to this stream either.
    app.state.live.publish(Change {
        tenant_id: 999_999,
        account_id: 1,
        conversation_id: 1,
        topic: Topic::Mode,
    });
    assert!(s.during(SECOND + SECOND / 2).await.is_empty());
}

#[apply(both_backends)]
#[tokio::test]
async fn the_simulator_shows_what_staff_write_to_its_number(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.state.live.set_recheck_every(Duration::from_millis(300));
    let account = sandbox(&app).await;
    let (user, mut b) = member(&app, "sup@ngo.example", BuiltinRole::Supervisor, None).await;
    let chat = format!("/simulator/{}", account.id);
    let page = b.get(&chat).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(&format!("sse-connect=\"/simulator/{}/live\"", account.id)),
        "{}",
        page.body
    );
    assert!(page.body.contains("hx-trigger=\"sse:staff\""));
    assert!(
        page.body
            .contains("id=\"staff-after\" name=\"after\" value=\"0\"")
    );
    // The stream opens before the person has written (no conversation yet).
    let mut s = stream(&app, &b, &format!("{chat}/live"), None).await;
    s.mark().await;
    b.post(&chat, &[("text", "Bonjour")]).await;
    b.post(&chat, &[("text", "AGENT")]).await;
    // Another simulator session: another number, another conversation.
    let (_, mut other) = member(&app, "sup2@ngo.example", BuiltinRole::Supervisor, None).await;
    other.get(&chat).await;
    let mut theirs = stream(&app, &other, &format!("{chat}/live"), None).await;
    theirs.mark().await;
    // Let the stream find the new conversation.
    tokio::time::sleep(SECOND).await;
    s.during(Duration::from_millis(100)).await;

    let id: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT id FROM conversations WHERE account_id = $1 AND mode = 'waiting'")
        .bind(account.id).fetch_one(p).await.unwrap());
    let send = access_of(&app, &user, Permission::MessagesSend).await;
    let text = "Bonjour, ici l'équipe <b>santé</b>";
    let acted = staff::send(
        &app.state.db,
        &app.state.live,
        &send,
        &account,
        id,
        text,
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(acted, Acted::Done);
    let seen = s.until("staff", 2 * SECOND).await;
    assert_eq!(seen.last().unwrap().data.as_deref(), Some(&*id.to_string()));
    let staff_id: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT MAX(id) FROM messages WHERE conversation_id = $1 AND sender = 'staff'")
        .bind(id).fetch_one(p).await.unwrap());

    let replies = b.get(&format!("{chat}/staff?after=0")).await;
    assert_eq!(replies.status, StatusCode::OK);
    assert!(
        replies.body.contains("data-sender=\"staff\""),
        "{}",
        replies.body
    );
    // As text, never as markup.
    assert!(
        replies.body.contains("Bonjour, ici l&#39;équipe"),
        "{}",
        replies.body
    );
    assert!(!replies.body.contains("<b>"), "{}", replies.body);
    assert!(
        replies.body.contains(&format!(
            "id=\"staff-after\" name=\"after\" value=\"{staff_id}\" hx-swap-oob=\"true\""
        )),
        "{}",
        replies.body
    );
    let none = b.get(&format!("{chat}/staff?after={staff_id}")).await;
    assert!(!none.body.contains("data-sender"), "{}", none.body);
    // The page opened again starts after it.
    assert!(
        b.get(&chat)
            .await
            .body
            .contains(&format!("name=\"after\" value=\"{staff_id}\""))
    );
    // The other session's phone shows none of it, and was not told.
    let not_theirs = other.get(&format!("{chat}/staff?after=0")).await;
    assert_eq!(not_theirs.status, StatusCode::OK);
    assert!(
        !not_theirs.body.contains("data-sender"),
        "{}",
        not_theirs.body
    );
    assert!(
        theirs.during(SECOND).await.iter().all(|f| !f.is("staff")),
        "another number's stream"
    );
    for bad in ["abc", "-1", "99999999999999999999", "1%00"] {
        let page = b.get(&format!("{chat}/staff?after={bad}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// The app with its Twilio number on the Twilio fake, callbacks routed to
/// it (as in `twilio_outbox`).
async fn twilio_app(backend: Backend) -> Option<(TestApp, crate::fakes::twilio::FakeTwilio)> {
    use crate::fakes::twilio::{DEFAULT_ACCOUNT_SID, FakeTwilio};
    const PUBLIC: &str = "https://bot.example.org";
    let fake = FakeTwilio::start().await;
    let base = fake.base_url();
    let app = crate::helpers::spawn_app_with(backend, |c| {
        c.twilio_api_url = base;
        c.public_url = Some(PUBLIC.to_string());
        if let Some(t) = c.twilio.as_mut() {
            t.account_sid = DEFAULT_ACCOUNT_SID.into();
        }
    })
    .await?;
    fake.route_public_url(PUBLIC, &app.address);
    Some((app, fake))
}

#[apply(both_backends)]
#[tokio::test]
async fn a_status_callback_tells_the_conversation_s_page(#[case] backend: Backend) {
    use crate::fakes::twilio::Inbound;
    use crate::helpers::TWILIO_NUMBER;
    let Some((app, fake)) = twilio_app(backend).await else {
        return;
    };
    let phone = "+243990000205";
    for text in ["Bonjour", "AGENT"] {
        let answer = fake
            .post_inbound(
                &Inbound::text(phone, TWILIO_NUMBER, text),
                "https://bot.example.org/whatsapp/webhook",
            )
            .await;
        assert_eq!(answer.http_status, Some(200), "{}", answer.answer);
    }
    let id = conversation_of(&app, "twilio", phone).await;
    let account = accounts::find_by_slug(&app.state.db, "twilio")
        .await
        .unwrap()
        .unwrap();
    let (agent, b) = member(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    let send = access_of(&app, &agent, Permission::MessagesSend).await;
    let acted = staff::send(
        &app.state.db,
        &app.state.live,
        &send,
        &account,
        id,
        "Bonjour",
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(acted, Acted::Done);
    app.state.outbox.wake();
    // Sent by the worker, its SID recorded.
    let mut sid = None;
    for _ in 0..400 {
        sid = on_db!(&app.state.db, p => sqlx::query_scalar(
            "SELECT provider_message_id FROM messages WHERE sender = 'staff'")
            .fetch_one(p).await.unwrap());
        if sid.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let sid: String = sid.expect("the staff message was sent");
    let mut s = stream(&app, &b, &format!("/live?conversation={id}"), None).await;
    s.mark().await;
    let posted = fake.post_callback_for(&sid, "delivered").await.unwrap();
    assert_eq!(posted.http_status, Some(204));
    let seen = s.until("conversations", 2 * SECOND).await;
    assert_eq!(
        names(&seen),
        vec![format!("conversation-{id}"), "conversations".into()]
    );
    // A late "sent" moves nothing back: nothing told.
    let again = fake.post_callback_for(&sid, "sent").await.unwrap();
    assert_eq!(again.http_status, Some(204));
    assert!(s.during(SECOND + SECOND / 2).await.is_empty());
}

#[tokio::test]
async fn a_lost_listening_connection_resyncs_the_streams_and_listens_again() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let second = app.second_instance().await;
    let (_, b) = member(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    let mut s = stream(&app, &b, "/live", None).await;
    s.mark().await;
    // The listening connections of both instances are cut.
    let cut: Vec<bool> = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'")
        .fetch_all(p).await.unwrap());
    assert!(!cut.is_empty(), "no listening connection found");
    let seen = s.until("resync", 5 * SECOND).await;
    assert_eq!(names(&seen), vec!["resync".to_string()]);
    // Listening again: the second instance's changes come through.
    let phone = "+243990000206";
    let deadline = Instant::now() + 10 * SECOND;
    let mut n = 0;
    loop {
        n += 1;
        second.sandbox_say(phone, "Bonjour").await;
        // A list page is told by the coalesced notice (at most one a second).
        let seen = s.during(SECOND + SECOND / 5).await;
        if seen.iter().any(|f| f.is("conversations")) {
            break;
        }
        assert!(Instant::now() < deadline, "never heard again ({n} tries)");
    }
}

/// Open streams do not hold the server up when it stops (the requests
/// under way get 20 seconds; a stream would take them all).
#[tokio::test]
async fn open_streams_end_when_the_server_stops() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let (_, b) = member(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    let mut s = stream(&app, &b, "/live", None).await;
    s.mark().await;
    let start = Instant::now();
    let app = app.restart().await;
    assert!(start.elapsed() < 5 * SECOND, "{:?}", start.elapsed());
    assert!(s.ends_within(SECOND).await);
    assert_eq!(app.state.live.connections(), 0);
}
