//! SQL for UIC registrations and the phones seen for each.

use crate::db::{Db, Tx};
use crate::uic::{Uic, UicParts};
use crate::{on_db, on_db_read, on_tx};
use time::OffsetDateTime;

/// The end of the registry upsert: a code already registered in the tenant
/// (as real data, or as test data: the two never meet, see `record_issue`)
/// is seen again, and flagged as a possible collision when the phone (its
/// hash in parameter `hash_param`) had not registered it before. Shared with
/// PostgreSQL's single-statement write (`inbox::store`).
pub(crate) fn seen_again(hash_param: &str) -> String {
    format!(
        "ON CONFLICT (tenant_id, test_data, uic) DO UPDATE SET times_seen = uic_registrations.times_seen + 1,
            last_seen_at = excluded.last_seen_at,
            collision_status = CASE WHEN NOT EXISTS (SELECT 1 FROM uic_registration_phones p
                    WHERE p.registration_id = uic_registrations.id AND p.phone_hash = {hash_param})
                THEN 'open' ELSE uic_registrations.collision_status END,
            collision_flagged_at = CASE WHEN uic_registrations.collision_status <> 'open' AND NOT EXISTS (
                    SELECT 1 FROM uic_registration_phones p
                    WHERE p.registration_id = uic_registrations.id AND p.phone_hash = {hash_param})
                THEN excluded.last_seen_at ELSE uic_registrations.collision_flagged_at END
         RETURNING id"
    )
}

/// The end of the phone upsert: a phone registering the code again.
pub(crate) const PHONE_SEEN_AGAIN: &str = "ON CONFLICT (registration_id, phone_hash) DO UPDATE
    SET times_seen = uic_registration_phones.times_seen + 1, last_seen_at = excluded.last_seen_at";

/// Records an issued code in the tenant's registry, inside the inbound
/// message's transaction: a new code is registered; a known one is seen
/// again, and flagged as a possible collision (two people, one code) when
/// this phone had not registered it before. PostgreSQL runs the same SQL
/// inside its single-statement write (`inbox::store`).
///
/// `test_data`: the code was issued on a sandbox account (the simulator, a
/// trial). Test registrations have their own uniqueness, so a test code is
/// never counted as a collision with a real person's nor the other way
/// round; they are left out of every list and figure, and the DHIS-2 sync
/// (not written yet) must skip them: `test_data` is the marker to filter on.
#[allow(clippy::too_many_arguments)]
pub async fn record_issue(
    tx: &mut Tx,
    tenant_id: i64,
    account_id: i64,
    uic: &Uic,
    parts: &UicParts,
    phone_hash: &str,
    test_data: bool,
    now: OffsetDateTime,
) -> Result<i64, sqlx::Error> {
    let sql_upsert = format!(
        "INSERT INTO uic_registrations (tenant_id, uic, last_part, first_part, year_digit, city, gender,
            first_account_id, times_seen, collision_status, first_seen_at, last_seen_at, test_data)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, 'none', $9, $9, $11) {}",
        seen_again("$10")
    );
    let registration_id: i64 = on_tx!(tx, c => sqlx::query_scalar(&sql_upsert)
        .bind(tenant_id).bind(uic.as_str()).bind(&parts.last).bind(&parts.first)
        .bind(i16::from(parts.year_digit)).bind(&parts.city).bind(i16::from(parts.gender.digit()))
        .bind(account_id).bind(now).bind(phone_hash).bind(test_data)
        .fetch_one(c).await)?;
    let sql_phone = format!(
        "INSERT INTO uic_registration_phones (registration_id, phone_hash, account_id, times_seen, first_seen_at, last_seen_at)
         VALUES ($1, $2, $3, 1, $4, $4) {PHONE_SEEN_AGAIN}"
    );
    on_tx!(tx, c => sqlx::query(&sql_phone)
        .bind(registration_id).bind(phone_hash).bind(account_id).bind(now)
        .execute(c).await.map(|_| ()))?;
    Ok(registration_id)
}

/// One registration as staff and the CLI see it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Registration {
    pub id: i64,
    pub tenant_id: i64,
    pub uic: String,
    pub times_seen: i32,
    pub collision_status: String,
    pub phones: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
}

const REGISTRATION_SELECT: &str =
    "SELECT r.id, r.tenant_id, r.uic, r.times_seen, r.collision_status,
        (SELECT COUNT(*) FROM uic_registration_phones ph WHERE ph.registration_id = r.id) AS phones,
        r.first_seen_at, r.last_seen_at
     FROM uic_registrations r";

/// The most recent real registrations, newest first (test data is never
/// listed nor counted). For the command line (`uic list`, the operator,
/// across tenants); pages read the registry with an `Access`.
pub async fn list(
    db: &Db,
    tenant_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Registration>, sqlx::Error> {
    list_from(db, tenant_id, 0, limit).await
}

/// `list` after skipping `offset` registrations in the same order (the
/// command line's pages).
pub async fn list_from(
    db: &Db,
    tenant_id: Option<i64>,
    offset: i64,
    limit: i64,
) -> Result<Vec<Registration>, sqlx::Error> {
    let sql = format!(
        "{REGISTRATION_SELECT} WHERE ($1 IS NULL OR r.tenant_id = $1) AND NOT r.test_data ORDER BY r.last_seen_at DESC, r.id DESC LIMIT $2 OFFSET $3"
    );
    on_db!(db, p => sqlx::query_as::<_, Registration>(&sql).bind(tenant_id).bind(limit).bind(offset).fetch_all(p).await)
}

/// How many registrations `list` goes through.
pub async fn count(db: &Db, tenant_id: Option<i64>) -> Result<i64, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM uic_registrations r WHERE ($1 IS NULL OR r.tenant_id = $1) AND NOT r.test_data")
        .bind(tenant_id).fetch_one(p).await)
}

/// Every real registration of this code (one per tenant that issued it;
/// test data left out). For the command line (`uic show`, the operator,
/// across tenants); pages read the registry with an `Access`.
pub async fn find(db: &Db, uic: &Uic) -> Result<Vec<Registration>, sqlx::Error> {
    let sql =
        format!("{REGISTRATION_SELECT} WHERE r.uic = $1 AND NOT r.test_data ORDER BY r.tenant_id");
    on_db!(db, p => sqlx::query_as::<_, Registration>(&sql).bind(uic.as_str()).fetch_all(p).await)
}

/// One registration found by a staff lookup (issue 15's lookup page).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Found {
    pub id: i64,
    pub uic: String,
    pub times_seen: i32,
    pub collision_status: String,
    /// Phones that registered it, among the numbers the access covers.
    pub phones: i64,
    pub first_seen_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
}

/// The last code that starts with `prefix`: the prefix filled up with
/// `Z`, the last of a code's characters (digits, then upper-case letters,
/// in every collation), to the length of a later phone's code (the code
/// and its letter, `MBEIBR7DA1Z`), so that those are found too. `uic BETWEEN prefix AND this` is a range the code
/// index reads on both databases (a `LIKE 'X%'` is read through the index
/// only under the C collation on PostgreSQL).
fn last_with_prefix(prefix: &str) -> String {
    let mut last = prefix.to_string();
    while last.len() < crate::uic::UIC_SUFFIXED_LEN {
        last.push('Z');
    }
    last
}

/// Real registrations of the access's tenant (`uic.lookup`) matching the
/// query: one code, or the codes starting with a beginning (at most
/// `limit`, in code order), that a phone registered through a number the
/// access covers. A code without a letter also finds its later phones'
/// codes (`MBEIBR7DA1B`…: a split, issue 15); one with a letter only
/// itself. Test data is never found.
pub async fn lookup(
    db: &Db,
    access: &crate::auth::Access,
    query: &crate::uic::lookup::Query,
    limit: i64,
) -> Result<Vec<Found>, crate::auth::AccessError> {
    use crate::uic::lookup::Query;
    access.is_for(crate::auth::Permission::UicLookup)?;
    let (from, to) = match query {
        Query::Exact(code) if code.suffix().is_none() => {
            (code.as_str().to_string(), format!("{}Z", code.as_str()))
        }
        Query::Exact(code) => (code.as_str().to_string(), code.as_str().to_string()),
        Query::Prefix(p) => (p.clone(), last_with_prefix(p)),
        Query::DidYouMean { .. } | Query::Invalid(_) => return Ok(Vec::new()),
    };
    let covered = crate::auth::access::accounts_clause("ph.account_id", access.accounts());
    let sql = format!(
        "SELECT r.id, r.uic, r.times_seen, r.collision_status,
            (SELECT COUNT(*) FROM uic_registration_phones ph WHERE ph.registration_id = r.id{covered}) AS phones,
            r.first_seen_at, r.last_seen_at
         FROM uic_registrations r
         WHERE r.tenant_id = $1 AND NOT r.test_data AND r.uic >= $2 AND r.uic <= $3
            AND EXISTS (SELECT 1 FROM uic_registration_phones ph WHERE ph.registration_id = r.id{covered})
         ORDER BY r.uic LIMIT $4"
    );
    Ok(on_db_read!(db, p => sqlx::query_as::<_, Found>(&sql)
        .bind(access.tenant_id()).bind(&from).bind(&to).bind(limit).fetch_all(p).await)?)
}

#[cfg(test)]
mod lookup_tests {
    use super::last_with_prefix;

    #[test]
    fn a_prefix_range_ends_at_the_last_code_it_starts() {
        assert_eq!(last_with_prefix("MBE"), "MBEZZZZZZZZ");
        assert_eq!(last_with_prefix("MBEIBR7DA"), "MBEIBR7DAZZ");
        // Every code starting with the prefix is within the range, later
        // phones' codes too.
        for code in [
            "MBEAAA0AA1",
            "MBEIBR7DA1",
            "MBEIBR7DA1B",
            "MBEZZZ9ZZ4",
            "MBEZZZ9ZZ4Z",
        ] {
            assert!(code >= "MBE" && code <= last_with_prefix("MBE").as_str());
        }
        assert!("MBFAAA0AA1" > last_with_prefix("MBE").as_str());
    }
}

/// Where a found code was registered: the numbers (names) its phones came
/// through, and the conversations holding it, among the numbers the
/// access covers (`uic.lookup`).
#[derive(Debug, Clone, Default)]
pub struct Places {
    pub numbers: Vec<String>,
    /// `(conversation id, number id, number name, phone)`: the phone as
    /// stored; the page masks it unless the reader has `contacts.view`
    /// for that number.
    pub conversations: Vec<(i64, i64, String, String)>,
}

/// The places of each found registration (at most a lookup's few).
pub async fn places(
    db: &Db,
    access: &crate::auth::Access,
    found: &[Found],
) -> Result<Vec<Places>, crate::auth::AccessError> {
    access.is_for(crate::auth::Permission::UicLookup)?;
    let numbers_sql = format!(
        "SELECT DISTINCT a.name FROM uic_registration_phones ph JOIN whatsapp_accounts a ON a.id = ph.account_id
         WHERE ph.registration_id = $1 AND a.tenant_id = $2{covered} ORDER BY a.name",
        covered = crate::auth::access::accounts_clause("ph.account_id", access.accounts()),
    );
    let conversations_sql = format!(
        "SELECT c.id, c.account_id, a.name, k.phone FROM conversations c
         JOIN contacts k ON k.id = c.contact_id JOIN whatsapp_accounts a ON a.id = c.account_id
         WHERE c.tenant_id = $1 AND c.uic = $2 AND a.provider <> 'sandbox'{covered} ORDER BY c.id LIMIT 20",
        covered = crate::auth::access::accounts_clause("c.account_id", access.accounts()),
    );
    let mut out = Vec::with_capacity(found.len());
    for f in found {
        let numbers: Vec<String> = on_db_read!(db, p => sqlx::query_scalar(&numbers_sql)
            .bind(f.id).bind(access.tenant_id()).fetch_all(p).await)?;
        let conversations: Vec<(i64, i64, String, String)> = on_db_read!(db, p => sqlx::query_as(&conversations_sql)
            .bind(access.tenant_id()).bind(&f.uic).fetch_all(p).await)?;
        out.push(Places {
            numbers,
            conversations,
        });
    }
    Ok(out)
}
