//! What the inbox's pages read: the conversations list, one conversation
//! with its thread, the queue's counts, the codes of a contact, and the
//! staff replies the simulator's phone shows.
//!
//! Every function takes the [`Access`] of `conversations.view` and filters
//! by its tenant and accounts in SQL: another tenant's or account's
//! conversation is never read, so it cannot be shown by mistake. A
//! [`Conversation`] is only obtained through that check; reading its thread
//! takes the conversation, not an id.

use super::states::{BodyForm, Change, Direction, MessageStatus, Mode, Sender, WaitingReason};
use crate::auth::access::accounts_clause;
use crate::auth::{Access, AccessError, Accounts, Permission};
use crate::db::{Arg, Db};
use crate::flow::{FlowState, Step};
use crate::tenancy::Provider;
use crate::{bind_args, on_db_read};
use sqlx::types::Json;
use time::OffsetDateTime;

/// Conversations listed per page.
pub const PAGE_SIZE: i64 = 50;
/// Messages shown per page of a thread.
pub const THREAD_SIZE: i64 = 100;

/// Whether a code was issued in the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasUic {
    With,
    Without,
}

/// A search of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// The conversations in which this code was issued.
    Uic(crate::uic::Uic),
    /// The conversations of this number, only on the accounts where the
    /// searcher may see numbers (see [`Search::phone`]).
    Phone { phone: String, within: Accounts },
}

/// Why a search by number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneSearch {
    /// Not a phone number.
    Invalid,
    /// The searcher may not see numbers (`contacts.view`).
    NotAllowed,
}

impl Search {
    /// A search by number: only with the access of `contacts.view`, whose
    /// accounts bound the search (a number is never confirmed on an account
    /// where its owner's number is masked).
    pub fn phone(contacts: Option<&Access>, typed: &str) -> Result<Search, PhoneSearch> {
        let contacts = contacts
            .filter(|a| a.is_for(Permission::ContactsView).is_ok())
            .ok_or(PhoneSearch::NotAllowed)?;
        let phone = normalise_phone(typed).ok_or(PhoneSearch::Invalid)?;
        Ok(Search::Phone {
            phone,
            within: contacts.accounts().clone(),
        })
    }
}

/// A number as typed by staff, in the E.164 form contacts are stored in:
/// spaces, dots, dashes and brackets dropped; `00` taken for `+`; a local
/// Congolese number (`0991234567`) given its country code. `None` unless
/// 8 to 15 digits remain.
pub fn normalise_phone(typed: &str) -> Option<String> {
    let t = typed.trim();
    let t = t.strip_prefix("whatsapp:").unwrap_or(t);
    let mut digits = String::new();
    let mut plus = false;
    for (i, c) in t.chars().enumerate() {
        match c {
            '+' if i == 0 => plus = true,
            '0'..='9' => digits.push(c),
            ' ' | '.' | '-' | '(' | ')' => {}
            _ => return None,
        }
    }
    let digits = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("243{rest}")
    } else {
        digits
    };
    (8..=15)
        .contains(&digits.len())
        .then(|| format!("+{digits}"))
}

/// What the list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub account: Option<i64>,
    pub mode: Option<Mode>,
    /// Only the conversations the reader holds.
    pub mine: bool,
    pub uic: Option<HasUic>,
    pub search: Option<Search>,
}

/// Where a page of the list starts: after this conversation (newest
/// activity first). Written in links as `{unix nanoseconds}.{id}`: the
/// time exactly as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: OffsetDateTime,
    pub id: i64,
}

impl Cursor {
    pub fn parse(s: &str) -> Option<Cursor> {
        let (at, id) = s.split_once('.')?;
        let nanos: i128 = at.parse().ok()?;
        let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
        Some(Cursor {
            at,
            id: id.parse().ok().filter(|id: &i64| *id > 0)?,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.at.unix_timestamp_nanos(), self.id)
    }
}

/// One row of the list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    pub account_id: i64,
    pub account_name: String,
    /// Shown masked unless the reader may see it (`contacts.view`).
    pub phone: String,
    pub mode: Mode,
    pub waiting_reason: Option<WaitingReason>,
    pub escalated_at: Option<OffsetDateTime>,
    pub last_message_at: OffsetDateTime,
    pub taken_by: Option<i64>,
    pub taken_by_name: Option<String>,
    pub uic: Option<String>,
}

/// A page of the list.
#[derive(Debug, Clone)]
pub struct Page {
    pub rows: Vec<Row>,
    /// Where the next page starts, if there is one.
    pub next: Option<Cursor>,
}

const ROW_SELECT: &str = "SELECT cv.id, cv.account_id, a.name AS account_name, c.phone, cv.mode,
    cv.waiting_reason, cv.escalated_at, cv.last_message_at, cv.taken_by,
    u.display_name AS taken_by_name, cv.uic
 FROM conversations cv
 JOIN contacts c ON c.id = cv.contact_id
 JOIN whatsapp_accounts a ON a.id = cv.account_id
 LEFT JOIN users u ON u.id = cv.taken_by";

/// The statement of a list page and its values: only the clauses asked for
/// (each combination its own prepared statement, planned for what it asks).
fn list_query(access: &Access, f: &Filter, me: i64, after: Option<Cursor>) -> (String, Vec<Arg>) {
    let mut args = Vec::new();
    // `$n` of a new value.
    let mut bind = |arg: Arg| {
        args.push(arg);
        format!("${}", args.len())
    };
    let mut sql = format!(
        "{ROW_SELECT} WHERE cv.tenant_id = {}",
        bind(Arg::Int(access.tenant_id()))
    );
    sql.push_str(&accounts_clause("cv.account_id", access.accounts()));
    if let Some(account) = f.account {
        sql.push_str(&format!(" AND cv.account_id = {}", bind(Arg::Int(account))));
    }
    if f.mine {
        // The partial index of held conversations.
        sql.push_str(&format!(
            " AND cv.mode = '{}' AND cv.taken_by = {}",
            Mode::Human,
            bind(Arg::Int(me))
        ));
    }
    if let Some(mode) = f.mode {
        sql.push_str(&format!(" AND cv.mode = '{mode}'"));
    }
    match f.uic {
        Some(HasUic::With) => sql.push_str(" AND cv.uic IS NOT NULL"),
        Some(HasUic::Without) => sql.push_str(" AND cv.uic IS NULL"),
        None => {}
    }
    match &f.search {
        Some(Search::Uic(uic)) => {
            sql.push_str(&format!(
                " AND cv.uic = {}",
                bind(Arg::Text(uic.as_str().into()))
            ));
        }
        Some(Search::Phone { phone, within }) => {
            sql.push_str(&accounts_clause("cv.account_id", within));
            // `$1` is the tenant: the contacts' index is (tenant, phone).
            sql.push_str(&format!(
                " AND c.tenant_id = $1 AND c.phone = {}",
                bind(Arg::Text(phone.clone()))
            ));
        }
        None => {}
    }
    if let Some(c) = after {
        let at = bind(Arg::Time(c.at));
        let id = bind(Arg::Int(c.id));
        sql.push_str(&format!(" AND (cv.last_message_at, cv.id) < ({at}, {id})"));
    }
    sql.push_str(&format!(
        " ORDER BY cv.last_message_at DESC, cv.id DESC LIMIT {}",
        bind(Arg::Int(PAGE_SIZE + 1))
    ));
    (sql, args)
}

/// A page of the conversations the access reaches, newest activity first.
pub async fn list(
    db: &Db,
    access: &Access,
    f: &Filter,
    me: i64,
    after: Option<Cursor>,
) -> Result<Page, AccessError> {
    access.is_for(Permission::ConversationsView)?;
    let (sql, args) = list_query(access, f, me, after);
    let mut rows: Vec<Row> =
        on_db_read!(db, p => bind_args!(sqlx::query_as::<_, Row>(&sql), &args).fetch_all(p).await)?;
    let next = if rows.len() as i64 > PAGE_SIZE {
        rows.truncate(PAGE_SIZE as usize);
        rows.last().map(|r| Cursor {
            at: r.last_message_at,
            id: r.id,
        })
    } else {
        None
    };
    Ok(Page { rows, next })
}

/// One conversation, read through an access that reaches it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Conversation {
    pub id: i64,
    pub tenant_id: i64,
    pub account_id: i64,
    pub account_name: String,
    pub provider: Provider,
    pub phone: String,
    pub profile_name: Option<String>,
    pub mode: Mode,
    pub waiting_reason: Option<WaitingReason>,
    pub escalated_at: Option<OffsetDateTime>,
    pub taken_by: Option<i64>,
    pub taken_by_name: Option<String>,
    pub taken_at: Option<OffsetDateTime>,
    pub last_inbound_at: Option<OffsetDateTime>,
    pub last_message_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub flow_state: Json<FlowState>,
    pub uic: Option<String>,
}

/// The conversation, if the access (`conversations.view`) reaches it.
pub async fn conversation(
    db: &Db,
    access: &Access,
    id: i64,
) -> Result<Option<Conversation>, AccessError> {
    access.is_for(Permission::ConversationsView)?;
    let found: Option<Conversation> = on_db_read!(db, p => sqlx::query_as(
        "SELECT cv.id, cv.tenant_id, cv.account_id, a.name AS account_name, a.provider, c.phone,
            c.profile_name, cv.mode, cv.waiting_reason, cv.escalated_at, cv.taken_by,
            u.display_name AS taken_by_name, cv.taken_at, cv.last_inbound_at, cv.last_message_at,
            cv.created_at, cv.flow_state, cv.uic
         FROM conversations cv
         JOIN contacts c ON c.id = cv.contact_id
         JOIN whatsapp_accounts a ON a.id = cv.account_id
         LEFT JOIN users u ON u.id = cv.taken_by
         WHERE cv.id = $1 AND cv.tenant_id = $2")
        .bind(id).bind(access.tenant_id()).fetch_optional(p).await)?;
    Ok(found.filter(|c| access.covers(c.account_id)))
}

/// Where the flow of a conversation stands, as its page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing asked yet.
    NotStarted,
    /// At question `n` of 5 (or stopped there when escalated).
    Question(u8),
    /// The code was issued.
    Done,
}

impl Conversation {
    pub fn progress(&self) -> Progress {
        let state = &self.flow_state.0;
        match &state.step {
            Step::Start => Progress::NotStarted,
            Step::LastName => Progress::Question(1),
            Step::FirstName => Progress::Question(2),
            Step::BirthYear => Progress::Question(3),
            Step::BirthCity => Progress::Question(4),
            Step::Gender => Progress::Question(5),
            Step::Done { .. } => Progress::Done,
            Step::Escalated => state
                .paused_at
                .map_or(Progress::NotStarted, |p| Progress::Question(p.number())),
        }
    }
}

/// One message of a thread.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Message {
    pub id: i64,
    pub direction: Direction,
    pub sender: Sender,
    pub kind: String,
    pub body_form: BodyForm,
    pub body: String,
    pub text_chars: Option<i32>,
    pub status: MessageStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub author_name: Option<String>,
    pub created_at: OffsetDateTime,
}

/// One change of hands in a thread.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub at: OffsetDateTime,
    pub mode: Mode,
    pub change: Change,
    pub detail: Option<String>,
    pub user_name: Option<String>,
}

/// What a thread shows, oldest first.
#[derive(Debug, Clone)]
pub enum Item {
    Message(Message),
    Event(Event),
}

/// A page of a thread: the latest messages (or those before `before`),
/// with the changes of hands among them, oldest first.
#[derive(Debug, Clone)]
pub struct Thread {
    pub items: Vec<Item>,
    /// The oldest message shown, when older ones exist.
    pub older: Option<i64>,
}

/// The thread of a conversation (read through [`conversation`]).
pub async fn thread(
    db: &Db,
    conversation: &Conversation,
    before: Option<i64>,
) -> Result<Thread, sqlx::Error> {
    let mut messages: Vec<Message> = on_db_read!(db, p => sqlx::query_as(
        "SELECT m.id, m.direction, m.sender, m.kind, m.body_form, m.body, m.text_chars, m.status,
            m.error_code, m.error_message, u.display_name AS author_name, m.created_at
         FROM messages m LEFT JOIN users u ON u.id = m.author_id
         WHERE m.conversation_id = $1 AND ($2 IS NULL OR m.id < $2)
         ORDER BY m.id DESC LIMIT $3")
        .bind(conversation.id).bind(before).bind(THREAD_SIZE + 1).fetch_all(p).await)?;
    let older = if messages.len() as i64 > THREAD_SIZE {
        messages.truncate(THREAD_SIZE as usize);
        messages.last().map(|m| m.id)
    } else {
        None
    };
    messages.reverse();
    // The changes within the span shown: from the oldest message shown (or
    // the beginning) to the newest (or now, on the latest page).
    let from = older.and(messages.first().map(|m| m.created_at));
    let to = before.and(messages.last().map(|m| m.created_at));
    let events: Vec<Event> = on_db_read!(db, p => sqlx::query_as(
        "SELECT e.id, e.at, e.mode, e.change, e.detail, u.display_name AS user_name
         FROM conversation_events e LEFT JOIN users u ON u.id = e.user_id
         WHERE e.conversation_id = $1 AND ($2 IS NULL OR e.at >= $2) AND ($3 IS NULL OR e.at <= $3)
         ORDER BY e.id LIMIT 1000")
        .bind(conversation.id).bind(from).bind(to).fetch_all(p).await)?;
    Ok(Thread {
        items: interleave(messages, events),
        older,
    })
}

/// Messages and changes in the order they happened (a change recorded with
/// a message comes after it: the message caused it).
pub fn interleave(messages: Vec<Message>, events: Vec<Event>) -> Vec<Item> {
    let mut items = Vec::with_capacity(messages.len() + events.len());
    let mut events = events.into_iter().peekable();
    for m in messages {
        while let Some(e) = events.next_if(|e| e.at < m.created_at) {
            items.push(Item::Event(e));
        }
        let at = m.created_at;
        items.push(Item::Message(m));
        while let Some(e) = events.next_if(|e| e.at == at) {
            items.push(Item::Event(e));
        }
    }
    items.extend(events.map(Item::Event));
    items
}

/// The queue of one account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Waiting {
    pub account_id: i64,
    pub account_name: String,
    pub waiting: i64,
    /// When the longest-waiting conversation entered the queue.
    pub oldest: Option<OffsetDateTime>,
}

/// The queue per account the access reaches (accounts with nobody waiting
/// left out), longest wait first.
pub async fn queue(db: &Db, access: &Access) -> Result<Vec<Waiting>, AccessError> {
    access.is_for(Permission::ConversationsView)?;
    let sql = format!(
        "SELECT cv.account_id, a.name AS account_name, COUNT(*) AS waiting, MIN(cv.escalated_at) AS oldest
         FROM conversations cv JOIN whatsapp_accounts a ON a.id = cv.account_id
         WHERE cv.tenant_id = $1 AND cv.mode = '{waiting}'{accounts}
         GROUP BY cv.account_id, a.name
         ORDER BY MIN(cv.escalated_at), cv.account_id",
        waiting = Mode::Waiting,
        accounts = accounts_clause("cv.account_id", access.accounts()),
    );
    Ok(on_db_read!(db, p => sqlx::query_as(&sql).bind(access.tenant_id()).fetch_all(p).await)?)
}

/// How many conversations wait in the accounts the access reaches.
pub async fn waiting_count(db: &Db, access: &Access) -> Result<i64, AccessError> {
    access.is_for(Permission::ConversationsView)?;
    let sql = format!(
        "SELECT COUNT(*) FROM conversations cv WHERE cv.tenant_id = $1 AND cv.mode = '{}'{}",
        Mode::Waiting,
        accounts_clause("cv.account_id", access.accounts()),
    );
    Ok(on_db_read!(db, p => sqlx::query_scalar(&sql).bind(access.tenant_id()).fetch_one(p).await)?)
}

/// How many conversations the staff member holds in the accounts the
/// access reaches.
pub async fn held_count(db: &Db, access: &Access, me: i64) -> Result<i64, AccessError> {
    access.is_for(Permission::ConversationsView)?;
    let sql = format!(
        "SELECT COUNT(*) FROM conversations cv
         WHERE cv.tenant_id = $1 AND cv.mode = '{}' AND cv.taken_by = $2{}",
        Mode::Human,
        accounts_clause("cv.account_id", access.accounts()),
    );
    Ok(
        on_db_read!(db, p => sqlx::query_scalar(&sql).bind(access.tenant_id()).bind(me).fetch_one(p).await)?,
    )
}

/// A code issued to the person of a conversation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Code {
    pub uic: String,
    /// The account the person registered it through.
    pub account_name: String,
    /// First and last time this phone was given it.
    pub first_seen_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// How often this phone asked for it.
    pub times_asked: i32,
    /// How often it was issued, to any phone.
    pub times_seen: i32,
    /// `open`: another phone registered the same code.
    pub collision_status: String,
    pub test_data: bool,
}

/// The codes the conversation's phone registered in its tenant, through
/// accounts the access reaches (the phone's keyed hash links them: the
/// registry keeps no number).
pub async fn codes(
    db: &Db,
    access: &Access,
    conversation: &Conversation,
    salt: &crate::config::Secret,
) -> Result<Vec<Code>, AccessError> {
    access.is_for(Permission::ConversationsView)?;
    let hash = crate::registry::salt::hash_phone(salt, &conversation.phone);
    let sql = format!(
        "SELECT r.uic, a.name AS account_name, ph.first_seen_at, ph.last_seen_at,
            ph.times_seen AS times_asked, r.times_seen, r.collision_status, r.test_data
         FROM uic_registration_phones ph
         JOIN uic_registrations r ON r.id = ph.registration_id
         JOIN whatsapp_accounts a ON a.id = ph.account_id
         WHERE ph.phone_hash = $1 AND r.tenant_id = $2{}
         ORDER BY ph.last_seen_at DESC LIMIT 20",
        accounts_clause("ph.account_id", access.accounts()),
    );
    Ok(
        on_db_read!(db, p => sqlx::query_as(&sql).bind(&hash).bind(conversation.tenant_id).fetch_all(p).await)?,
    )
}

// ------------------------------------------------------------ simulator

/// A staff message as the simulator's phone shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Written {
    pub id: i64,
    pub body: String,
}

/// The conversation of a simulated number on a sandbox account
/// (`simulator.use`), if the number has written yet.
pub async fn simulated_conversation(
    db: &Db,
    access: &Access,
    account_id: i64,
    phone: &str,
) -> Result<Option<i64>, AccessError> {
    access.is_for(Permission::SimulatorUse)?;
    if !access.covers(account_id) {
        return Ok(None);
    }
    Ok(on_db_read!(db, p => sqlx::query_scalar(
        "SELECT cv.id FROM conversations cv JOIN contacts c ON c.id = cv.contact_id
         WHERE c.account_id = $1 AND c.phone = $2 AND cv.tenant_id = $3")
        .bind(account_id).bind(phone).bind(access.tenant_id()).fetch_optional(p).await)?)
}

/// What staff wrote to a simulated number after message `after`, oldest
/// first, at most `limit` (`simulator.use`).
pub async fn staff_messages_after(
    db: &Db,
    access: &Access,
    account_id: i64,
    phone: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<Written>, AccessError> {
    let Some(conversation) = simulated_conversation(db, access, account_id, phone).await? else {
        return Ok(Vec::new());
    };
    Ok(on_db_read!(db, p => sqlx::query_as(
        "SELECT id, body FROM messages
         WHERE conversation_id = $1 AND tenant_id = $2 AND direction = $3 AND sender = $4 AND id > $5
         ORDER BY id LIMIT $6")
        .bind(conversation).bind(access.tenant_id()).bind(Direction::Out).bind(Sender::Staff)
        .bind(after).bind(limit).fetch_all(p).await)?)
}

/// The last staff message written to a simulated number (0: none).
pub async fn last_staff_message(
    db: &Db,
    access: &Access,
    account_id: i64,
    phone: &str,
) -> Result<i64, AccessError> {
    let Some(conversation) = simulated_conversation(db, access, account_id, phone).await? else {
        return Ok(0);
    };
    let last: Option<i64> = on_db_read!(db, p => sqlx::query_scalar(
        "SELECT MAX(id) FROM messages
         WHERE conversation_id = $1 AND tenant_id = $2 AND direction = $3 AND sender = $4")
        .bind(conversation).bind(access.tenant_id()).bind(Direction::Out).bind(Sender::Staff)
        .fetch_one(p).await)?;
    Ok(last.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use time::macros::datetime;

    #[test]
    fn numbers_are_read_as_staff_type_them() {
        assert_eq!(
            normalise_phone("+243 99 123 45 67").as_deref(),
            Some("+243991234567")
        );
        assert_eq!(
            normalise_phone("0991234567").as_deref(),
            Some("+243991234567")
        );
        assert_eq!(
            normalise_phone("00243-991-234-567").as_deref(),
            Some("+243991234567")
        );
        assert_eq!(
            normalise_phone("whatsapp:+14155238886").as_deref(),
            Some("+14155238886")
        );
        assert_eq!(normalise_phone("MBEIBR7DA1"), None);
        assert_eq!(normalise_phone("12345"), None);
        assert_eq!(normalise_phone("+2439912345678901"), None);
        assert_eq!(normalise_phone("99+1234567"), None);
        assert_eq!(normalise_phone("+243\u{0}991234567"), None);
    }

    #[test]
    fn a_cursor_reads_back_what_it_wrote_and_refuses_the_rest() {
        let c = Cursor {
            at: datetime!(2026-11-30 10:15:30.123456 UTC),
            id: 42,
        };
        assert_eq!(Cursor::parse(&c.to_string()), Some(c));
        for bad in [
            "",
            "42",
            "abc.1",
            "1.abc",
            "1.-5",
            "1.0",
            "999999999999999999999999999999.1",
            "1.2.3",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_accounts_of_an_access_become_a_clause() {
        let set = |ids: &[i64]| ids.iter().copied().collect::<BTreeSet<_>>();
        assert_eq!(
            accounts_clause(
                "cv.account_id",
                &Accounts::All {
                    except: BTreeSet::new()
                }
            ),
            ""
        );
        assert_eq!(
            accounts_clause("cv.account_id", &Accounts::All { except: set(&[3]) }),
            " AND cv.account_id NOT IN (3)"
        );
        assert_eq!(
            accounts_clause("x", &Accounts::Only(set(&[1, 2]))),
            " AND x IN (1, 2)"
        );
        assert_eq!(
            accounts_clause("x", &Accounts::Only(BTreeSet::new())),
            " AND 1 = 0"
        );
    }

    fn message(id: i64, at: OffsetDateTime) -> Message {
        Message {
            id,
            direction: Direction::In,
            sender: Sender::Contact,
            kind: "text".into(),
            body_form: BodyForm::Verbatim,
            body: String::new(),
            text_chars: None,
            status: MessageStatus::Received,
            error_code: None,
            error_message: None,
            author_name: None,
            created_at: at,
        }
    }

    fn event(id: i64, at: OffsetDateTime) -> Event {
        Event {
            id,
            at,
            mode: Mode::Waiting,
            change: Change::Escalated,
            detail: None,
            user_name: None,
        }
    }

    #[test]
    fn changes_sit_among_messages_in_time_order_after_the_message_that_caused_them() {
        let t = datetime!(2026-11-30 10:00 UTC);
        let min = time::Duration::minutes(1);
        let items = interleave(
            vec![message(1, t), message(2, t + min), message(3, t + 3 * min)],
            vec![
                event(10, t + min),
                event(11, t + 2 * min),
                event(12, t + 5 * min),
            ],
        );
        let order: Vec<i64> = items
            .iter()
            .map(|i| match i {
                Item::Message(m) => m.id,
                Item::Event(e) => e.id,
            })
            .collect();
        assert_eq!(order, [1, 2, 10, 11, 3, 12]);
    }
}
