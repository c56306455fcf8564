//! The demo tenant's rows, written in bulk inside the seed's transaction:
//! multi-row `INSERT … RETURNING id` statements of a few thousand rows,
//! the same SQL on both backends.
//!
//! Rows are written in the order the app would have written them: the
//! conversations by when they started, the messages by when they were sent
//! across all conversations (so a conversation's messages are spread over
//! the table as in a year of real traffic, not packed together, which
//! would flatter the pages' benchmark).

use super::sim::{Lived, Sent, WORKER};
use super::{FlowSettings, Options, Refused, SeededAccount};
use crate::auth::{Actor, Permission, Scope};
use crate::config::{Config, Secret};
use crate::db::Tx;
use crate::on_tx;
use crate::tenancy::Provider;
use crate::uic::{Uic, UicParts};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sqlx::types::Json;
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

/// Bound parameters per statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const PARAMS: usize = 30_000;

/// Runs a multi-row `INSERT` (`$sql` ends with its column list) over
/// `$rows`, each pushed by `$push`, and gives the new ids in row order.
macro_rules! insert {
    ($tx:expr, $sql:expr, $rows:expr, |$b:ident, $r:ident| $push:block) => {
        match $tx {
            Tx::Sqlite(t) => {
                let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new($sql);
                qb.push_values($rows, |mut $b, $r| $push);
                qb.push(" RETURNING id");
                qb.build_query_scalar::<i64>().fetch_all(&mut **t).await
            }
            Tx::Postgres(t) => {
                let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new($sql);
                qb.push_values($rows, |mut $b, $r| $push);
                qb.push(" RETURNING id");
                qb.build_query_scalar::<i64>().fetch_all(&mut **t).await
            }
        }
        .map(|mut ids: Vec<i64>| {
            // Ids are drawn row by row in the order given.
            ids.sort_unstable();
            ids
        })
    };
}

/// The tenant, its accounts and staff.
pub(crate) struct Setup {
    pub tenant_id: i64,
    pub accounts: Vec<SeededAccount>,
    /// User ids, in `STAFF` order.
    pub users: Vec<i64>,
}

/// Creates the tenant (with its built-in roles and sandbox account, as
/// `tenancy::store::create_tenant` does), its Meta accounts and staff.
pub(crate) async fn setup(
    tx: &mut Tx,
    opts: &Options,
    config: &Config,
    now: OffsetDateTime,
    numbers: &[(String, String)],
    emails: &[String],
    hashes: &[String],
) -> anyhow::Result<Setup> {
    let slug = &opts.tenant_slug;
    // The organisation has been running for a year.
    let since = now - time::Duration::days(395);
    let tenant_id: i64 = on_tx!(&mut *tx, c => sqlx::query_scalar(
        "INSERT INTO tenants (slug, name, created_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(slug).bind(format!("Démo — ONG Santé Plus ({slug})")).bind(since).fetch_one(c).await)?;
    crate::auth::store::ensure_builtin_roles_in(tx, tenant_id).await?;
    on_tx!(&mut *tx, c => sqlx::query(
        "INSERT INTO whatsapp_accounts (tenant_id, slug, name, provider, flow_config, enabled, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6)")
        .bind(tenant_id).bind(format!("{slug}-sandbox")).bind("Bac à sable").bind(Provider::Sandbox)
        .bind(Json(FlowSettings::default())).bind(since).execute(c).await.map(|_| ()))?;
    let mut accounts = Vec::new();
    for (i, spec) in super::ACCOUNTS.iter().enumerate() {
        let settings = super::settings_of(i);
        let (number_id, number) = &numbers[i];
        // No access token, no app secret: nothing is ever sent, no webhook
        // is ever accepted for these made-up numbers.
        let id: i64 = on_tx!(&mut *tx, c => sqlx::query_scalar(
            "INSERT INTO whatsapp_accounts (tenant_id, slug, name, provider, phone_number, meta_phone_number_id,
                flow_config, enabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $8) RETURNING id")
            .bind(tenant_id).bind(super::account_slug(slug, spec.key)).bind(spec.name).bind(Provider::Meta)
            .bind(number).bind(number_id).bind(Json(&settings)).bind(since)
            .fetch_one(c).await)?;
        accounts.push(SeededAccount {
            id,
            name: spec.name.to_string(),
            flow: super::flow_of(config, &settings),
        });
    }
    let access = Actor::operator(tenant_id)
        .require(Permission::UsersManage, Scope::Tenant)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut users = Vec::new();
    for ((spec, email), hash) in super::STAFF.iter().zip(emails).zip(hashes) {
        let user = crate::auth::store::create_user_in(
            tx,
            &crate::auth::store::NewUser {
                tenant_id,
                email,
                display_name: spec.name,
                password_hash: Some(hash),
                lang: crate::auth::Lang::Fr,
                platform_admin: false,
            },
        )
        .await?
        .ok_or_else(|| {
            Refused(format!(
                "{email}: adresse déjà prise (e-mail address taken)"
            ))
        })?;
        let role_id: i64 = on_tx!(&mut *tx, c => sqlx::query_scalar(
            "SELECT id FROM roles WHERE tenant_id = $1 AND builtin = $2")
            .bind(tenant_id).bind(spec.role.key()).fetch_one(c).await)?;
        let scopes: Vec<Option<i64>> = if spec.accounts.is_empty() {
            vec![None]
        } else {
            spec.accounts
                .iter()
                .map(|i| Some(accounts[*i].id))
                .collect()
        };
        for scope in scopes {
            crate::auth::store::assign_in(tx, &access, user.id, role_id, scope).await?;
        }
        users.push(user.id);
    }
    Ok(Setup {
        tenant_id,
        accounts,
        users,
    })
}

/// What the bulk part wrote.
pub(crate) struct Counts {
    pub messages: usize,
    pub registrations: usize,
    pub runs: Runs,
    pub try_conversation: Option<i64>,
}

/// Writes the conversations and all they hold.
pub(crate) async fn data(
    tx: &mut Tx,
    setup: &Setup,
    account_ids: &[i64],
    lived: &[Lived],
    salt: &Secret,
    opts: &Options,
    progress: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<Counts> {
    let tenant = setup.tenant_id;
    // Conversations in the order they started.
    let mut order: Vec<usize> = (0..lived.len()).collect();
    order.sort_by_key(|i| (lived[*i].created_at, *i));

    let mut contact_ids = vec![0i64; lived.len()];
    for chunk in order.chunks(PARAMS / 5) {
        let ids = insert!(
            &mut *tx,
            "INSERT INTO contacts (tenant_id, account_id, phone, profile_name, created_at) ",
            chunk,
            |b, i| {
                let l = &lived[*i];
                b.push_bind(tenant)
                    .push_bind(account_ids[l.account])
                    .push_bind(&l.phone)
                    .push_bind(None::<String>)
                    .push_bind(l.created_at);
            }
        )?;
        for (i, id) in chunk.iter().zip(ids) {
            contact_ids[*i] = id;
        }
    }

    let sql = "INSERT INTO conversations (tenant_id, account_id, contact_id, mode, escalated_at, flow_state, version,
            last_inbound_at, last_message_at, created_at, updated_at, waiting_reason, taken_by, taken_at,
            unattended_notice_at, uic) ";
    let mut conversation_ids = vec![0i64; lived.len()];
    for chunk in order.chunks(PARAMS / 16) {
        let ids = insert!(&mut *tx, sql, chunk, |b, i| {
            let l = &lived[*i];
            b.push_bind(tenant)
                .push_bind(account_ids[l.account])
                .push_bind(contact_ids[*i])
                .push_bind(l.mode)
                .push_bind(l.escalated_at)
                .push_bind(Json(&l.flow_state))
                .push_bind(l.version)
                .push_bind(l.last_inbound_at)
                // The inbox moves it with each message the person sends
                // and each staff reply.
                .push_bind(
                    l.msgs
                        .iter()
                        .filter(|m| m.sender == crate::inbox::Sender::Staff)
                        .map(|m| m.at)
                        .chain(l.last_inbound_at)
                        .max()
                        .unwrap_or(l.created_at),
                )
                .push_bind(l.created_at)
                .push_bind(l.updated_at)
                .push_bind(l.waiting_reason)
                .push_bind(l.taken_by)
                .push_bind(l.taken_at)
                .push_bind(l.unattended_notice_at)
                // The last code issued (what the list's filter and search read).
                .push_bind(l.uic.as_ref().map(|u| u.as_str()));
        })?;
        for (i, id) in chunk.iter().zip(ids) {
            conversation_ids[*i] = id;
        }
    }
    progress(&format!("{} conversations écrites (written)", lived.len()));

    // Every message, in the order they were sent.
    let mut all: Vec<(OffsetDateTime, u32, u32)> = Vec::with_capacity(opts.messages);
    for (c, l) in lived.iter().enumerate() {
        for (s, m) in l.msgs.iter().enumerate() {
            all.push((m.at, c as u32, s as u32));
        }
    }
    all.sort_unstable();
    let wamid_base: u32 = (opts.seed as u32).wrapping_mul(2_654_435_761);
    let mut written = 0usize;
    let mut next_report = 100_000;
    for chunk in all.chunks(PARAMS / 17) {
        let first = written;
        let ids = insert!(&mut *tx,
            "INSERT INTO messages (tenant_id, account_id, conversation_id, direction, sender, author_id,
                provider_message_id, kind, body_form, body, text_chars, status, error_code, error_message,
                media_ref, created_at, updated_at) ",
            chunk.iter().enumerate(), |b, row| {
                let (n, (_, c, s)) = row;
                let (l, m) = (&lived[*c as usize], &lived[*c as usize].msgs[*s as usize]);
                let wamid = m.wamid.then(|| format!("wamid.HBgM{wamid_base:08X}{:016X}", first + n));
                b.push_bind(tenant).push_bind(account_ids[l.account]).push_bind(conversation_ids[*c as usize])
                    .push_bind(m.direction).push_bind(m.sender).push_bind(m.author).push_bind(wamid)
                    .push_bind(m.kind).push_bind(m.body_form).push_bind(&*m.body).push_bind(m.text_chars)
                    .push_bind(m.status).push_bind(m.error_code).push_bind(m.error_message)
                    .push_bind(m.media_ref.as_deref()).push_bind(m.at).push_bind(m.updated_at);
            })?;
        // The outbox rows that sent the outbound ones.
        let sent: Vec<(i64, usize, &Sent, OffsetDateTime, OffsetDateTime)> = ids
            .iter()
            .zip(chunk)
            .filter_map(|(id, (at, c, s))| {
                let (payload, sent_at) = lived[*c as usize].msgs[*s as usize].outbox.as_ref()?;
                Some((*id, *c as usize, payload, *at, *sent_at))
            })
            .collect();
        for part in sent.chunks(PARAMS / 12) {
            insert!(&mut *tx,
                "INSERT INTO outbox (tenant_id, account_id, conversation_id, message_id, payload, status, attempts,
                    next_attempt_at, claimed_by, created_at, updated_at, sent_at) ",
                part, |b, row| {
                    let (id, c, payload, at, sent_at) = row;
                    b.push_bind(tenant).push_bind(account_ids[lived[*c].account]).push_bind(conversation_ids[*c])
                        .push_bind(*id).push_bind(Json(payload.payload(&lived[*c].phone))).push_bind(crate::outbox::OutboxStatus::Sent)
                        .push_bind(1i32).push_bind(*at).push_bind(WORKER).push_bind(*at)
                        .push_bind(*sent_at).push_bind(*sent_at);
                })?;
        }
        written += chunk.len();
        if written >= next_report {
            progress(&format!("{written} / {} messages", all.len()));
            next_report += 100_000;
        }
    }

    let events: Vec<(usize, &super::sim::Ev)> = order
        .iter()
        .flat_map(|i| lived[*i].events.iter().map(move |e| (*i, e)))
        .collect();
    for chunk in events.chunks(PARAMS / 8) {
        insert!(
            &mut *tx,
            "INSERT INTO conversation_events (tenant_id, account_id, conversation_id, at, mode, change, detail, user_id) ",
            chunk,
            |b, row| {
                let (i, e) = row;
                b.push_bind(tenant)
                    .push_bind(account_ids[lived[*i].account])
                    .push_bind(conversation_ids[*i])
                    .push_bind(e.at)
                    .push_bind(e.mode)
                    .push_bind(e.change)
                    .push_bind(e.detail)
                    .push_bind(e.user);
            }
        )?;
    }

    let runs = flow_runs(tx, tenant, account_ids, &conversation_ids, lived).await?;
    progress(&format!(
        "{} parcours de questions terminés (runs of questions ended): {} avec le code (completed), \
         {} confiés au personnel (escalated), {} abandonnés (left), dont {} par le balayage des inactifs \
         (of which by the idle sweep)",
        runs.total(),
        runs.completed,
        runs.escalated,
        runs.left,
        runs.swept
    ));

    let registrations = registry(tx, tenant, account_ids, lived, salt, opts, progress).await?;

    let now = OffsetDateTime::now_utc();
    let try_conversation = order
        .iter()
        .rev()
        .find(|i| {
            let l = &lived[**i];
            l.mode == crate::inbox::Mode::Waiting
                && l.last_inbound_at
                    .is_some_and(|t| now - t < time::Duration::hours(20))
        })
        .map(|i| conversation_ids[*i]);
    Ok(Counts {
        messages: all.len(),
        registrations,
        runs,
        try_conversation,
    })
}

/// The runs of questions that ended, by how.
#[derive(Debug, Clone, Copy, Default)]
pub struct Runs {
    pub completed: usize,
    pub escalated: usize,
    pub left: usize,
    /// Of the left ones: ended by what the sweep of idle runs would have
    /// done by now (see `sim::RunEnd::swept`).
    pub swept: usize,
}

impl Runs {
    pub fn total(&self) -> usize {
        self.completed + self.escalated + self.left
    }
}

/// The `flow_runs` rows of the runs that ended, as `report::runs::record`
/// writes them (and `staff_wrote` completes them), in the order they
/// ended across all conversations. No seeded number is a sandbox: no row
/// is test data.
async fn flow_runs(
    tx: &mut Tx,
    tenant: i64,
    account_ids: &[i64],
    conversation_ids: &[i64],
    lived: &[Lived],
) -> anyhow::Result<Runs> {
    use crate::flow::run::End;
    use crate::report::runs::{COLUMNS, Outcome};
    let mut runs: Vec<(usize, &super::sim::RunEnd)> = lived
        .iter()
        .enumerate()
        .flat_map(|(c, l)| l.runs.iter().map(move |r| (c, r)))
        .collect();
    // Stable: a conversation's runs keep their order (the last one is the
    // one `staff_wrote` reads).
    runs.sort_by_key(|(c, r)| (r.finished.ended_at, *c));
    let mut counts = Runs::default();
    for (_, r) in &runs {
        match r.finished.end {
            End::Completed => counts.completed += 1,
            End::Escalated(_) => counts.escalated += 1,
            End::Left => counts.left += 1,
        }
        counts.swept += usize::from(r.swept);
    }
    let sql = format!("INSERT INTO flow_runs ({COLUMNS}, first_reply_at) ");
    for chunk in runs.chunks(PARAMS / 18) {
        insert!(&mut *tx, &sql, chunk, |b, row| {
            let (c, r) = row;
            let f = &r.finished;
            let [i1, i2, i3, i4, i5] = f.run.invalid.map(i16::from);
            let reason = match f.end {
                End::Escalated(reason) => Some(crate::inbox::WaitingReason::from(reason)),
                End::Completed | End::Left => None,
            };
            b.push_bind(tenant)
                .push_bind(account_ids[lived[*c].account])
                .push_bind(conversation_ids[*c])
                .push_bind(false)
                .push_bind(f.run.started_at)
                .push_bind(f.ended_at)
                .push_bind(Outcome::from(f.end))
                .push_bind(f.run.resumed)
                .push_bind(f.question.map(i16::from))
                .push_bind(i16::from(f.run.reached))
                .push_bind(i1)
                .push_bind(i2)
                .push_bind(i3)
                .push_bind(i4)
                .push_bind(i5)
                .push_bind(i16::from(f.run.restarts))
                .push_bind(reason)
                .push_bind(r.first_reply_at);
        })?;
    }
    Ok(counts)
}

/// A phone that registered a code: its hash, account, times seen, first
/// and last seen.
pub(super) type Phone = (String, usize, i32, OffsetDateTime, OffsetDateTime);

/// One code in the tenant's registry.
pub(super) struct Registration {
    pub uic: Uic,
    pub parts: UicParts,
    pub first_account: usize,
    pub times_seen: i32,
    pub collision_open: bool,
    pub collision_flagged_at: Option<OffsetDateTime>,
    pub first_seen_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub phones: Vec<Phone>,
}

/// The registry the issued codes make, in the order they were issued, as
/// `registry::store::record_issue` folds them: a known code is seen again,
/// and flagged as a possible collision when a new phone registers it.
/// Then the codes beyond the conversations' (`--registrations`), and the
/// DHIS-2 sync jobs of them all (see `sync_jobs`).
async fn registry(
    tx: &mut Tx,
    tenant: i64,
    account_ids: &[i64],
    lived: &[Lived],
    salt: &Secret,
    opts: &Options,
    progress: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<usize> {
    let mut issued: Vec<(OffsetDateTime, usize, &super::sim::Issued)> = lived
        .iter()
        .enumerate()
        .flat_map(|(c, l)| l.issued.iter().map(move |i| (i.at, c, i)))
        .collect();
    issued.sort_by_key(|(at, c, _)| (*at, *c));
    let mut hashes: HashMap<usize, String> = HashMap::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut regs: Vec<Registration> = Vec::new();
    for (at, c, issue) in issued {
        let l = &lived[c];
        let hash = hashes
            .entry(c)
            .or_insert_with(|| crate::registry::salt::hash_phone(salt, &l.phone))
            .clone();
        match index.get(issue.uic.as_str()) {
            None => {
                index.insert(issue.uic.as_str(), regs.len());
                regs.push(Registration {
                    uic: issue.uic.clone(),
                    parts: issue.parts.clone(),
                    first_account: l.account,
                    times_seen: 1,
                    collision_open: false,
                    collision_flagged_at: None,
                    first_seen_at: at,
                    last_seen_at: at,
                    phones: vec![(hash, l.account, 1, at, at)],
                });
            }
            Some(r) => {
                let reg = &mut regs[*r];
                reg.times_seen += 1;
                reg.last_seen_at = at;
                match reg.phones.iter_mut().find(|p| p.0 == hash) {
                    Some(p) => {
                        p.2 += 1;
                        p.4 = at;
                    }
                    None => {
                        if !reg.collision_open {
                            reg.collision_flagged_at = Some(at);
                        }
                        reg.collision_open = true;
                        reg.phones.push((hash, l.account, 1, at, at));
                    }
                }
            }
        }
    }
    drop(index);
    let now = OffsetDateTime::now_utc();
    let wanted = opts.registrations.saturating_sub(regs.len());
    if wanted > 0 {
        progress(&format!(
            "{wanted} codes de plus que ceux des conversations (more codes than the conversations')"
        ));
        extra_registrations(&mut regs, wanted, opts, salt, now);
        // Ids in the order codes were first issued, as the app writes them.
        regs.sort_by_key(|r| r.first_seen_at);
    }

    let mut reg_ids = Vec::with_capacity(regs.len());
    let mut next_report = 200_000;
    for chunk in regs.chunks(PARAMS / 14) {
        let ids = insert!(&mut *tx,
            "INSERT INTO uic_registrations (tenant_id, uic, last_part, first_part, year_digit, city, gender,
                first_account_id, times_seen, collision_status, collision_flagged_at, first_seen_at, last_seen_at,
                test_data) ",
            chunk, |b, r| {
                b.push_bind(tenant).push_bind(r.uic.as_str()).push_bind(&r.parts.last).push_bind(&r.parts.first)
                    .push_bind(i16::from(r.parts.year_digit)).push_bind(&r.parts.city)
                    .push_bind(i16::from(r.parts.gender.digit())).push_bind(account_ids[r.first_account])
                    .push_bind(r.times_seen).push_bind(if r.collision_open { "open" } else { "none" })
                    .push_bind(r.collision_flagged_at).push_bind(r.first_seen_at).push_bind(r.last_seen_at)
                    .push_bind(false);
            })?;
        reg_ids.extend(ids);
        if reg_ids.len() >= next_report {
            progress(&format!("{} / {} codes", reg_ids.len(), regs.len()));
            next_report += 200_000;
        }
    }
    let phones: Vec<(i64, &Phone)> = regs
        .iter()
        .zip(&reg_ids)
        .flat_map(|(r, id)| r.phones.iter().map(move |p| (*id, p)))
        .collect();
    for chunk in phones.chunks(PARAMS / 6) {
        insert!(&mut *tx,
            "INSERT INTO uic_registration_phones (registration_id, phone_hash, account_id, times_seen, first_seen_at,
                last_seen_at) ",
            chunk, |b, row| {
                let (id, (hash, account, times, first, last)) = row;
                b.push_bind(*id).push_bind(hash.as_str()).push_bind(account_ids[*account]).push_bind(*times)
                    .push_bind(*first).push_bind(*last);
            })?;
    }
    drop(phones);
    progress(&format!(
        "{} codes enregistrés (registrations written)",
        regs.len()
    ));
    let jobs =
        super::sync_jobs::write(tx, tenant, account_ids, &regs, &reg_ids, opts.seed, now).await?;
    progress(&format!(
        "{} tâches de synchronisation DHIS-2 : {} envoyées, {} en attente, {} en échec, {} retenues \
         (DHIS-2 sync jobs: synced, pending, failed, held)",
        jobs.total(),
        jobs.synced,
        jobs.pending,
        jobs.failed,
        jobs.held
    ));
    Ok(regs.len())
}

/// Picks an account by the weights of `ACCOUNTS`.
pub(super) fn pick_account(rng: &mut StdRng) -> usize {
    let total: u32 = super::ACCOUNTS.iter().map(|a| a.weight).sum();
    let mut pick = rng.random_range(0..total);
    super::ACCOUNTS
        .iter()
        .position(|a| {
            if pick < a.weight {
                true
            } else {
                pick -= a.weight;
                false
            }
        })
        .unwrap_or(0)
}

/// `wanted` more codes, each registered by a person of its own (a phone
/// number no other of these people has, hashed with the salt as the app
/// does)
/// on one of the programmes, over the last year and denser recently like
/// the conversations. They stand for the people whose conversations are
/// not part of the demo: the registry, the code search and the DHIS-2
/// page see a programme's year of codes without a million conversations
/// to play. Codes are the flow's (`Uic::from_parts` of a made-up person);
/// a code already taken gets other letters for the family name, as a
/// real person with a rarer name would have. About one in 10,000 is
/// registered again from a second phone: a possible collision, open.
fn extra_registrations(
    regs: &mut Vec<Registration>,
    wanted: usize,
    opts: &Options,
    salt: &Secret,
    now: OffsetDateTime,
) {
    let mut rng = StdRng::seed_from_u64(opts.seed ^ 0x00c0_de5e_ed00_0001);
    let mut taken: HashSet<String> = regs.iter().map(|r| r.uic.as_str().to_string()).collect();
    taken.reserve(wanted);
    regs.reserve(wanted);
    // Numbered after the conversations' people, with a salt of their own
    // (one may happen to have a conversation's number: it changes nothing).
    let phone_salt: u64 = rng.random_range(0..10_000_000);
    let letter = |rng: &mut StdRng| char::from(b'A' + rng.random_range(0..26u8));
    // Second phones are numbered after every first one: with at most 10^6
    // conversations and 5 * 10^6 codes, all stay below 10^7, so no two
    // people share a number.
    let mut seconds = 0;
    for k in 0..wanted {
        let account = pick_account(&mut rng);
        let u: f64 = rng.random();
        let at = now - time::Duration::seconds((365.0 * u.powf(1.8) * 86_400.0) as i64 + 60);
        let phone = super::people::phone((opts.conversations + k) as u64, phone_salt);
        let person =
            super::people::person(&mut rng, super::ACCOUNTS[account].home, phone, at.year());
        let code = |name: &str| crate::uic::name_code(name).unwrap_or_else(|_| "XXX".into());
        let mut parts = UicParts {
            last: code(person.last),
            first: code(person.first),
            year_digit: person.year.rem_euclid(10) as u8,
            city: person.city.code.to_string(),
            gender: person.gender,
        };
        let mut uic = Uic::from_parts(&parts);
        let mut tries = 0;
        while taken.contains(uic.as_str()) {
            tries += 1;
            parts.last = (0..3).map(|_| letter(&mut rng)).collect();
            if tries > 8 {
                parts.first = (0..3).map(|_| letter(&mut rng)).collect();
            }
            uic = Uic::from_parts(&parts);
        }
        taken.insert(uic.as_str().to_string());
        let hash = crate::registry::salt::hash_phone(salt, &person.phone);
        let mut reg = Registration {
            uic,
            parts,
            first_account: account,
            times_seen: 1,
            collision_open: false,
            collision_flagged_at: None,
            first_seen_at: at,
            last_seen_at: at,
            phones: vec![(hash, account, 1, at, at)],
        };
        if rng.random_range(0..10_000) == 0 {
            // Someone else, on this programme or another, typed the same
            // answers later.
            let later = at + (now - at) * rng.random::<f64>();
            let other = if rng.random_bool(0.7) {
                account
            } else {
                pick_account(&mut rng)
            };
            let phone =
                super::people::phone((opts.conversations + wanted + seconds) as u64, phone_salt);
            seconds += 1;
            reg.times_seen = 2;
            reg.last_seen_at = later;
            reg.collision_open = true;
            reg.collision_flagged_at = Some(later);
            reg.phones.push((
                crate::registry::salt::hash_phone(salt, &phone),
                other,
                1,
                later,
                later,
            ));
        }
        regs.push(reg);
    }
}
