//! The collision review (issue 15): a code registered from more than one
//! phone may be one person with two phones, or two people whose answers
//! give the same code. A supervisor (`uic.review`) looks at the phones side
//! by side (when each registered, through which number, how quickly the
//! answers came) and decides:
//!
//! - the same person: the collision is reviewed and its held DHIS-2 jobs
//!   are released (`dhis2::store::release_held`, the /dhis2 page's
//!   « Même personne » statement);
//! - different people: the first phone keeps the code and every later one
//!   gets the code and a letter (`uic::distinct_codes`) in a registration
//!   of its own (`distinct_from` the first), with its own DHIS-2 job; its
//!   conversations carry the new code, and the person is told it over
//!   WhatsApp in their number's language (`TextKey::CodeChanged`), never
//!   that someone else registered the same details (DESIGN.md section 1).
//!
//! Every function takes an [`Access`] for `uic.review` and narrows to its
//! tenant and numbers itself: another tenant's id, or a registration none
//! of whose phones came through a number the access covers, is not found.
//! Phones are never shown by their hash; a number is shown in full only to
//! a reader whose `contacts.view` covers it (else masked as the inbox
//! masks it).

use crate::auth::access::{Accounts, accounts_clause};
use crate::auth::{Access, AccessError, Permission};
use crate::config::{Config, Secret};
use crate::db::{Db, Tx};
use crate::dhis2::Decision;
use crate::flow::texts::{TextKey, text};
use crate::flow::{FlowState, Outcome, Step};
use crate::inbox::store::{Outbound, insert_outbound};
use crate::inbox::{MessageStatus, Sender};
use crate::outbox::Payload;
use crate::tenancy::Provider;
use crate::uic::{SplitError, Uic, UicParts, distinct_codes};
use crate::{on_db_read, on_tx};
use sqlx::types::Json;
use time::OffsetDateTime;

/// Open collisions listed per page.
pub const PAGE: i64 = 50;
/// Answers' times shown per conversation: the five questions of a run.
const ANSWERS: i64 = 5;

/// One open collision of the list.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Open {
    pub id: i64,
    pub uic: String,
    pub times_seen: i32,
    /// Phones that registered it (all numbers: the count is no phone).
    pub phones: i64,
    pub flagged_at: Option<OffsetDateTime>,
    pub first_seen_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// Issued on a sandbox number (the simulator).
    pub test_data: bool,
}

/// The registrations the access sees: issued first on one of its numbers,
/// or some phone came through one.
fn visible(accounts: &Accounts) -> String {
    format!(
        "(1 = 1{} OR EXISTS (SELECT 1 FROM uic_registration_phones ph WHERE ph.registration_id = r.id{}))",
        accounts_clause("r.first_account_id", accounts),
        accounts_clause("ph.account_id", accounts)
    )
}

/// The open collisions of the access (`uic.review`), newest flagged first,
/// [`PAGE`] at a time (`page` from 0).
pub async fn list(db: &Db, access: &Access, page: i64) -> Result<Vec<Open>, AccessError> {
    access.is_for(Permission::UicReview)?;
    let sql = format!(
        "SELECT r.id, r.uic, r.times_seen,
            (SELECT COUNT(*) FROM uic_registration_phones ph WHERE ph.registration_id = r.id) AS phones,
            r.collision_flagged_at AS flagged_at, r.first_seen_at, r.last_seen_at, r.test_data
         FROM uic_registrations r
         WHERE r.tenant_id = $1 AND r.collision_status = 'open' AND {visible}
         ORDER BY r.collision_flagged_at DESC, r.id DESC LIMIT $2 OFFSET $3",
        visible = visible(access.accounts()),
    );
    Ok(on_db_read!(db, p => sqlx::query_as::<_, Open>(&sql)
        .bind(access.tenant_id()).bind(PAGE).bind(page.max(0).saturating_mul(PAGE)).fetch_all(p).await)?)
}

/// How many collisions of the access are open (the menu's count).
pub async fn count_open(db: &Db, access: &Access) -> Result<i64, AccessError> {
    access.is_for(Permission::UicReview)?;
    let sql = format!(
        "SELECT COUNT(*) FROM uic_registrations r
         WHERE r.tenant_id = $1 AND r.collision_status = 'open' AND {}",
        visible(access.accounts()),
    );
    Ok(on_db_read!(db, p => sqlx::query_scalar(&sql).bind(access.tenant_id()).fetch_one(p).await)?)
}

/// Which registrations of these codes are open collisions the access may
/// review (the lookup page's links): code -> registration id.
pub async fn open_of_codes(
    db: &Db,
    access: &Access,
    codes: &[&str],
) -> Result<Vec<(String, i64)>, AccessError> {
    access.is_for(Permission::UicReview)?;
    if codes.is_empty() {
        return Ok(Vec::new());
    }
    let marks = (0..codes.len())
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT r.uic, r.id FROM uic_registrations r
         WHERE r.tenant_id = $1 AND NOT r.test_data AND r.collision_status = 'open' AND r.uic IN ({marks}) AND {}",
        visible(access.accounts()),
    );
    Ok(on_db_read!(db, p => {
        let mut q = sqlx::query_as::<_, (String, i64)>(&sql).bind(access.tenant_id());
        for c in codes {
            q = q.bind(*c);
        }
        q.fetch_all(p).await
    })?)
}

/// A registration's row, as the review reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: i64,
    uic: String,
    last_part: String,
    first_part: String,
    year_digit: i16,
    city: String,
    gender: i16,
    times_seen: i32,
    collision_status: String,
    collision_decision: Option<String>,
    collision_flagged_at: Option<OffsetDateTime>,
    test_data: bool,
}

const ROW: &str = "SELECT r.id, r.uic, r.last_part, r.first_part, CAST(r.year_digit AS SMALLINT) AS year_digit,
    r.city, CAST(r.gender AS SMALLINT) AS gender, r.times_seen, r.collision_status, r.collision_decision,
    r.collision_flagged_at, r.test_data FROM uic_registrations r";

/// One phone of a registration (by its row, never its hash outside here).
#[derive(Debug, Clone, sqlx::FromRow)]
struct PhoneRow {
    id: i64,
    phone_hash: String,
    account_id: i64,
    times_seen: i32,
    first_seen_at: OffsetDateTime,
    last_seen_at: OffsetDateTime,
}

/// One phone as the review shows it.
#[derive(Debug, Clone)]
pub struct Phone {
    /// 1 for the first to register the code, 2 for the next…
    pub order: usize,
    pub account_id: i64,
    pub account_name: String,
    pub first_seen_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub times_seen: i32,
    /// The number, in full or masked (see the module header); `None` when
    /// no conversation with this code has it any more.
    pub number: Option<String>,
    pub conversations: Vec<Conversation>,
    /// Came through a number the access does not cover: nothing more shown.
    pub hidden: bool,
}

/// A conversation of a phone, with the times its answers came.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: i64,
    /// When each answer of the run that registered the code came in (its
    /// `flow_runs` row bounds it when there is one; the messages kept
    /// shortened: never a text beyond what the code uses), oldest first.
    pub answers: Vec<OffsetDateTime>,
}

/// One collision as the review page shows it.
#[derive(Debug, Clone)]
pub struct Detail {
    pub id: i64,
    pub uic: String,
    /// `None` for a stored code that is not well formed (written by hand):
    /// shown, never split.
    pub parts: Option<UicParts>,
    pub times_seen: i32,
    pub open: bool,
    pub decision: Option<String>,
    pub flagged_at: Option<OffsetDateTime>,
    pub test_data: bool,
    pub phones: Vec<Phone>,
    /// Codes given to later phones by earlier decisions.
    pub split_before: Vec<String>,
}

/// A registration of the access's tenant that the access sees, read in
/// `tx` (locked on PostgreSQL, so two decisions are taken one after the
/// other).
async fn find(
    tx: &mut Tx,
    access: &Access,
    id: i64,
    lock: bool,
) -> Result<Option<Row>, sqlx::Error> {
    let for_update = match (lock, &*tx) {
        (true, Tx::Postgres(_)) => " FOR UPDATE",
        _ => "",
    };
    let sql = format!(
        "{ROW} WHERE r.id = $1 AND r.tenant_id = $2 AND {}{for_update}",
        visible(access.accounts())
    );
    on_tx!(tx, c => sqlx::query_as::<_, Row>(&sql).bind(id).bind(access.tenant_id()).fetch_optional(c).await)
}

async fn phones_of(tx: &mut Tx, registration_id: i64) -> Result<Vec<PhoneRow>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_as::<_, PhoneRow>(
        "SELECT id, phone_hash, account_id, times_seen, first_seen_at, last_seen_at
         FROM uic_registration_phones WHERE registration_id = $1 ORDER BY first_seen_at, id")
        .bind(registration_id).fetch_all(c).await)
}

/// The conversations of the tenant whose code is `uic`, with the phone
/// they are with: (id, account, phone, flow state, version).
type ConversationRow = (i64, i64, String, Json<FlowState>, i64);

async fn conversations_with(
    tx: &mut Tx,
    tenant_id: i64,
    uic: &str,
    lock: bool,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    let for_update = match (lock, &*tx) {
        (true, Tx::Postgres(_)) => " FOR UPDATE OF c",
        _ => "",
    };
    let sql = format!(
        "SELECT c.id, c.account_id, k.phone, c.flow_state, c.version
         FROM conversations c JOIN contacts k ON k.id = c.contact_id
         WHERE c.tenant_id = $1 AND c.uic = $2 ORDER BY c.id{for_update}"
    );
    on_tx!(tx, c => sqlx::query_as::<_, ConversationRow>(&sql).bind(tenant_id).bind(uic).fetch_all(c).await)
}

/// One collision (`uic.review`), open or decided: its code, parts and
/// phones side by side. `contacts`: the reader's access for
/// `contacts.view`, if any (numbers it covers are shown in full).
pub async fn detail(
    db: &Db,
    salt: &Secret,
    access: &Access,
    contacts: Option<&Access>,
    id: i64,
) -> Result<Option<Detail>, AccessError> {
    access.is_for(Permission::UicReview)?;
    if let Some(c) = contacts {
        c.is_for(Permission::ContactsView)?;
    }
    // A read transaction: every part of the page from one moment.
    let mut tx = match db {
        Db::Sqlite(pools) => Tx::Sqlite(pools.reader.begin().await?),
        Db::Postgres(p) => Tx::Postgres(p.begin().await?),
    };
    let Some(row) = find(&mut tx, access, id, false).await? else {
        return Ok(None);
    };
    let phones = phones_of(&mut tx, row.id).await?;
    let conversations = conversations_with(&mut tx, access.tenant_id(), &row.uic, false).await?;
    let names: Vec<(i64, String)> = on_tx!(&mut tx, c => sqlx::query_as(
        "SELECT id, name FROM whatsapp_accounts WHERE tenant_id = $1")
        .bind(access.tenant_id()).fetch_all(c).await)?;
    let split_before: Vec<String> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT uic FROM uic_registrations WHERE distinct_from = $1 AND tenant_id = $2 ORDER BY uic")
        .bind(row.id).bind(access.tenant_id()).fetch_all(c).await)?;
    let mut shown = Vec::with_capacity(phones.len());
    for (i, ph) in phones.iter().enumerate() {
        let hidden = !access.covers(ph.account_id);
        let mut number = None;
        let mut convs = Vec::new();
        if !hidden {
            for (cid, account_id, phone, _, _) in &conversations {
                if !access.covers(*account_id)
                    || super::salt::hash_phone(salt, phone) != ph.phone_hash
                {
                    continue;
                }
                let full = contacts.is_some_and(|c| c.covers(*account_id));
                number.get_or_insert_with(|| {
                    if full {
                        phone.clone()
                    } else {
                        crate::channel::webhook::mask_phone(phone)
                    }
                });
                let mut answers: Vec<OffsetDateTime> = on_tx!(&mut tx, c => sqlx::query_scalar(
                    "SELECT m.created_at FROM messages m WHERE m.conversation_id = $1 AND m.direction = 'in'
                        AND m.body_form = 'shortened' AND m.created_at <= $2
                        AND m.created_at >= COALESCE((SELECT MAX(f.started_at) FROM flow_runs f
                            WHERE f.conversation_id = $1 AND f.outcome = 'completed' AND f.ended_at <= $2),
                            m.created_at)
                     ORDER BY m.id DESC LIMIT $3")
                    .bind(cid).bind(ph.last_seen_at).bind(ANSWERS).fetch_all(c).await)?;
                answers.reverse();
                convs.push(Conversation { id: *cid, answers });
            }
        }
        shown.push(Phone {
            order: i + 1,
            account_id: ph.account_id,
            account_name: names
                .iter()
                .find(|(id, _)| *id == ph.account_id)
                .map(|(_, n)| n.clone())
                .unwrap_or_default(),
            first_seen_at: ph.first_seen_at,
            last_seen_at: ph.last_seen_at,
            times_seen: ph.times_seen,
            number: number.filter(|_| !hidden),
            conversations: convs,
            hidden,
        });
    }
    tx.rollback().await?;
    Ok(Some(Detail {
        id: row.id,
        parts: Uic::parse(&row.uic).ok().map(|u| u.parts()),
        uic: row.uic,
        times_seen: row.times_seen,
        open: row.collision_status == "open",
        decision: row.collision_decision,
        flagged_at: row.collision_flagged_at,
        test_data: row.test_data,
        phones: shown,
        split_before,
    }))
}

/// Why a decision was not taken; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Not a registration of the access (another tenant's, or none of its
    /// phones on the access's numbers): never told apart from none.
    #[error("no such collision")]
    NotFound,
    /// Not an open collision (decided already, or never flagged).
    #[error("not an open collision")]
    NotOpen,
    /// A phone came through a number the access does not cover: deciding
    /// would change a conversation the reviewer cannot see.
    #[error("a phone of this code came through a number outside the access")]
    OtherNumbers,
    /// « Different people » needs a later phone to give a code to.
    #[error("only one phone registered this code")]
    OnePhone,
    #[error(transparent)]
    Split(#[from] SplitError),
    /// The stored code is not a well-formed UIC (written by hand): it has
    /// no letter to take.
    #[error("the stored code is not a well-formed UIC")]
    Malformed,
}

impl From<sqlx::Error> for Refused {
    fn from(e: sqlx::Error) -> Self {
        Refused::Access(AccessError::Database(e))
    }
}

/// What a decision did, for the caller to tell after the commit.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The code decided on (the first phone's).
    pub uic: String,
    pub decision: Decision,
    /// The codes given to later phones, in their order.
    pub new_codes: Vec<String>,
    /// Conversations that changed (for the live pages).
    pub changed: Vec<crate::live::Change>,
    /// Messages were queued for the outbox worker.
    pub queued: bool,
}

/// A supervisor's decision on an open collision (`uic.review`), in one
/// transaction (see the module header). The caller wakes the outbox and
/// tells the live pages after it ([`Decided`]), and audits it.
pub async fn decide(
    db: &Db,
    salt: &Secret,
    config: &Config,
    access: &Access,
    registration_id: i64,
    decision: Decision,
    now: OffsetDateTime,
) -> Result<Decided, Refused> {
    access
        .is_for(Permission::UicReview)
        .map_err(AccessError::from)?;
    let mut tx = db.begin().await?;
    let Some(row) = find(&mut tx, access, registration_id, true).await? else {
        tx.rollback().await?;
        return Err(Refused::NotFound);
    };
    if row.collision_status != "open" {
        tx.rollback().await?;
        return Err(Refused::NotOpen);
    }
    let phones = phones_of(&mut tx, row.id).await?;
    if phones.iter().any(|p| !access.covers(p.account_id)) {
        tx.rollback().await?;
        return Err(Refused::OtherNumbers);
    }
    let mut decided = Decided {
        uic: row.uic.clone(),
        decision,
        new_codes: Vec::new(),
        changed: Vec::new(),
        queued: false,
    };
    if decision == Decision::SamePerson {
        // Only still open: a decision taken meanwhile (SQLite has no row
        // lock) is not taken twice.
        let n = on_tx!(&mut tx, c => sqlx::query(
            "UPDATE uic_registrations SET collision_status = 'reviewed', collision_decision = $2
             WHERE id = $1 AND collision_status = 'open'")
            .bind(row.id).bind(decision.as_str()).execute(c).await.map(|r| r.rows_affected()))?;
        if n == 0 {
            tx.rollback().await?;
            return Err(Refused::NotOpen);
        }
        crate::dhis2::store::release_held(&mut tx, row.id, access.accounts(), now).await?;
        tx.commit().await?;
        return Ok(decided);
    }

    let Some((first, later)) = phones.split_first().filter(|(_, l)| !l.is_empty()) else {
        tx.rollback().await?;
        return Err(Refused::OnePhone);
    };
    let Ok(base) = Uic::parse(&row.uic) else {
        tx.rollback().await?;
        return Err(Refused::Malformed);
    };
    let taken: Vec<Uic> = on_tx!(&mut tx, c => sqlx::query_scalar::<_, String>(
        "SELECT uic FROM uic_registrations WHERE distinct_from = $1")
        .bind(row.id).fetch_all(c).await)?
    .iter()
    .filter_map(|u| Uic::parse(u).ok())
    .collect();
    let codes = match distinct_codes(&base, &taken, later.len()) {
        Ok(codes) => codes,
        Err(e) => {
            tx.rollback().await?;
            return Err(e.into());
        }
    };
    // The first phone keeps the code: the collision is reviewed, and its
    // decision left empty (`different_people` on a registration holds its
    // jobs, the decision before codes were split); the new registrations'
    // `distinct_from` records it. A later phone registering this code again
    // opens a new review.
    let later_times: i32 = later.iter().map(|p| p.times_seen).sum();
    let n = on_tx!(&mut tx, c => sqlx::query(
        "UPDATE uic_registrations SET collision_status = 'reviewed', collision_decision = NULL,
            times_seen = CASE WHEN times_seen > $2 THEN times_seen - $2 ELSE 1 END,
            last_seen_at = $3
         WHERE id = $1 AND collision_status = 'open'")
        .bind(row.id).bind(later_times).bind(first.last_seen_at).execute(c).await.map(|r| r.rows_affected()))?;
    if n == 0 {
        tx.rollback().await?;
        return Err(Refused::NotOpen);
    }
    let mut moved_accounts: Vec<i64> = Vec::new();
    let mut new_ids: Vec<(i64, &PhoneRow, &Uic)> = Vec::new();
    for (phone, code) in later.iter().zip(&codes) {
        let new_id: i64 = on_tx!(&mut tx, c => sqlx::query_scalar(
            "INSERT INTO uic_registrations (tenant_id, uic, last_part, first_part, year_digit, city, gender,
                first_account_id, times_seen, collision_status, first_seen_at, last_seen_at, test_data, distinct_from)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'none', $10, $11, $12, $13) RETURNING id")
            .bind(access.tenant_id()).bind(code.as_str()).bind(&row.last_part).bind(&row.first_part)
            .bind(row.year_digit).bind(&row.city).bind(row.gender).bind(phone.account_id)
            .bind(phone.times_seen).bind(phone.first_seen_at).bind(phone.last_seen_at).bind(row.test_data)
            .bind(row.id).fetch_one(c).await)?;
        on_tx!(&mut tx, c => sqlx::query("UPDATE uic_registration_phones SET registration_id = $2 WHERE id = $1")
            .bind(phone.id).bind(new_id).execute(c).await.map(|_| ()))?;
        // The base's job on this number goes with the phone when no phone
        // left on the code came through that number (and it is not in
        // DHIS-2 already, nor being sent); otherwise the phone gets a job
        // of its own. Test data never has one.
        let mut moved = 0;
        if phone.account_id != first.account_id && !moved_accounts.contains(&phone.account_id) {
            moved = on_tx!(&mut tx, c => sqlx::query(
                "UPDATE dhis2_sync SET registration_id = $3, state = 'pending', attempts = 0, error_code = NULL,
                    error_message = NULL, next_attempt_at = $4, updated_at = $4
                 WHERE registration_id = $1 AND account_id = $2 AND state IN ('held', 'pending', 'failed')")
                .bind(row.id).bind(phone.account_id).bind(new_id).bind(now)
                .execute(c).await.map(|r| r.rows_affected()))?;
            moved_accounts.push(phone.account_id);
        }
        if moved == 0 && !row.test_data {
            crate::dhis2::store::enqueue(
                &mut tx,
                access.tenant_id(),
                phone.account_id,
                new_id,
                &crate::dhis2::store::JobUids::generate(),
                now,
            )
            .await?;
        }
        decided.new_codes.push(code.as_str().to_string());
        new_ids.push((new_id, phone, code));
    }
    crate::dhis2::store::release_held(&mut tx, row.id, access.accounts(), now).await?;

    // The later phones' conversations: their code, their state, and the
    // person told.
    for (cid, account_id, number, state, version) in
        conversations_with(&mut tx, access.tenant_id(), &row.uic, true).await?
    {
        let hash = super::salt::hash_phone(salt, &number);
        let Some((_, _, code)) = new_ids.iter().find(|(_, p, _)| p.phone_hash == hash) else {
            continue;
        };
        let Some(account) = crate::tenancy::store::find_by_id(db, account_id).await? else {
            continue;
        };
        let mut state = state.0;
        if let Step::Done { uic } = &mut state.step
            && *uic == base
        {
            *uic = (*code).clone();
        }
        // The version moves on: a message being processed from the state
        // before is written again from this one.
        on_tx!(&mut tx, c => sqlx::query(
            "UPDATE conversations SET uic = $3, flow_state = $4, version = version + 1, updated_at = $5,
                last_message_at = $5
             WHERE id = $1 AND version = $2")
            .bind(cid).bind(version).bind(code.as_str()).bind(Json(&state)).bind(now)
            .execute(c).await.map(|_| ()))?;
        let flow_config = account.flow_config(config);
        let told = text(&flow_config, TextKey::CodeChanged).replace("{uic}", code.as_str());
        let provider = account.provider();
        let payload = (provider != Provider::Sandbox).then(|| Payload::Text {
            to: number.clone(),
            text: told.clone(),
        });
        insert_outbound(
            &mut tx,
            &Outbound {
                tenant_id: access.tenant_id(),
                account_id,
                conversation_id: cid,
                sender: Sender::Bot,
                author_id: None,
                reply_to: None,
                kind: "text",
                body: &told,
                status: match provider {
                    Provider::Sandbox => MessageStatus::Delivered,
                    Provider::Meta | Provider::Twilio => MessageStatus::Queued,
                },
                payload: payload.as_ref(),
                now,
            },
        )
        .await?;
        decided.queued |= payload.is_some();
        decided.changed.push(crate::live::Change {
            tenant_id: access.tenant_id(),
            account_id,
            conversation_id: cid,
            topic: crate::live::Topic::Message,
        });
    }
    tx.commit().await?;
    Ok(decided)
}

/// The code of this phone's own when a step issued a code a supervisor
/// split: the registration `distinct_from` the code's that the phone (its
/// salted hash) holds in the tenant, if any. One indexed read (the phones'
/// hash index), only for a step that issued a code.
pub async fn own_code(
    db: &Db,
    tenant_id: i64,
    test_data: bool,
    phone_hash: &str,
    issued: &Uic,
) -> Result<Option<Uic>, sqlx::Error> {
    // Read from the shared code (the registry's unique key: tenant, test
    // data, code), then its split codes (`distinct_from`'s index), then
    // this phone among theirs: a few index reads on every code issued,
    // whatever the registry's size. (Starting from the phone's hash, which
    // no index leads with, read every registration at each code issued:
    // half the messages a second on PostgreSQL after a few thousand.)
    let code: Option<String> = on_db_read!(db, p => sqlx::query_scalar(
        "SELECT r.uic FROM uic_registrations b
            JOIN uic_registrations r ON r.distinct_from = b.id
            JOIN uic_registration_phones ph ON ph.registration_id = r.id AND ph.phone_hash = $1
         WHERE b.tenant_id = $2 AND b.test_data = $4 AND b.uic = $3 AND r.distinct_from IS NOT NULL
         ORDER BY r.id LIMIT 1")
        .bind(phone_hash).bind(tenant_id).bind(issued.as_str()).bind(test_data).fetch_optional(p).await)?;
    Ok(code.and_then(|c| Uic::parse(&c).ok()))
}

/// The inbox's hook (`inbox::handle_inbound`): a step that issued a code
/// this phone was split from issues the phone's own code instead
/// (`flow::reissue`), so the phone gets it again and the shared code's
/// collision is not opened again.
pub async fn reissue_own(
    db: &Db,
    tenant_id: i64,
    test_data: bool,
    salt: &Secret,
    phone: &str,
    outcome: &mut Outcome,
) -> Result<(), sqlx::Error> {
    let Some(issued) = crate::flow::reissue::issued(outcome).cloned() else {
        return Ok(());
    };
    let hash = super::salt::hash_phone(salt, phone);
    if let Some(own) = own_code(db, tenant_id, test_data, &hash, &issued).await? {
        crate::flow::reissue::reissue(outcome, &issued, &own);
    }
    Ok(())
}
