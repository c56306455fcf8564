//! `uic-inbox demo seed`: a new tenant filled with a year of realistic
//! activity (several programmes, staff, 100,000 conversations and 1,000,000
//! messages by default), to try the staff pages and measure them at scale.
//!
//! Every conversation is lived through the app's own rules (see `sim`):
//! the real flow answers, the transcript keeps what `inbox::kept_form`
//! keeps, staff actions and the queue's notice change the conversation as
//! the inbox does, and text older than the tenant's retention period is
//! redacted as the daily job would have left it. So the rows are the ones
//! the app writes, not a guess at their shape.
//!
//! Safe: a tenant slug, account slug, e-mail address or number already
//! taken is refused before anything is written; everything is written in
//! one transaction (an interrupted seed leaves nothing); no other tenant's
//! row is read or changed. The accounts are Meta accounts with made-up
//! phone number ids and no access token: nothing can ever be sent to
//! anyone (a message staff write is held, as for any account without a
//! token). Deterministic: the same `--seed` gives the same tenant (times
//! are relative to the moment it runs).

mod people;
mod sim;
mod sync_jobs;
mod write;

pub use write::Runs;

use crate::auth::{BuiltinRole, Lang};
use crate::config::{Config, Secret};
use crate::db::Db;
use crate::flow::{FlowConfig, HandBack};
use crate::inbox::{Mode, WaitingReason};
use crate::on_db_read;
use crate::tenancy::{Account, FlowSettings, Provider, TokenStatus};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sim::{AccountSim, Kind, Plan, World};
use time::{Duration, OffsetDateTime};

/// What to seed.
#[derive(Debug, Clone)]
pub struct Options {
    /// The new tenant's slug (its e-mail addresses and account slugs derive
    /// from it).
    pub tenant_slug: String,
    pub conversations: usize,
    pub messages: usize,
    /// Codes in the registry at least: those the conversations issued,
    /// then more written directly (see `write::extra_registrations`) up
    /// to this number. 0: the conversations' codes only.
    pub registrations: usize,
    /// Seeds every random choice.
    pub seed: u64,
    /// The staff password; `None`: one is generated.
    pub password: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tenant_slug: "demo".into(),
            conversations: 100_000,
            messages: 1_000_000,
            registrations: 0,
            seed: 1,
            password: None,
        }
    }
}

/// Why nothing was seeded: something the seed would create exists, or the
/// options cannot be met. Its text says what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// A staff member created, to log in as.
#[derive(Debug, Clone)]
pub struct StaffLogin {
    pub email: String,
    pub role: BuiltinRole,
    /// The accounts of an agent (names); empty: the whole tenant.
    pub accounts: Vec<String>,
}

/// What was seeded.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub tenant_id: i64,
    /// `(id, name)` of each WhatsApp account.
    pub accounts: Vec<(i64, String)>,
    pub staff: Vec<StaffLogin>,
    /// Shown once: the password of every staff member.
    pub password: String,
    pub password_generated: bool,
    pub conversations: usize,
    pub messages: usize,
    pub waiting: usize,
    pub human: usize,
    pub registrations: usize,
    /// The runs of the bot's questions that ended (`flow_runs`, what the
    /// reports count).
    pub runs: Runs,
    /// A waiting conversation whose 24-hour window is open (to take over
    /// and answer), if any.
    pub try_conversation: Option<i64>,
    /// A code issued in the tenant (to search for).
    pub try_uic: Option<String>,
}

struct AccountSpec {
    key: &'static str,
    name: &'static str,
    home: &'static [&'static str],
    listed: &'static [&'static str],
    qr: bool,
    weight: u32,
}

const ACCOUNTS: &[AccountSpec] = &[
    AccountSpec {
        key: "depistage-kinshasa",
        name: "Dépistage VIH Kinshasa",
        home: &["KN", "KN", "MT", "KW", "BD"],
        listed: &["KN", "MT", "KW", "BD", "MM"],
        qr: false,
        weight: 35,
    },
    AccountSpec {
        key: "ptme-lubumbashi",
        name: "PTME Lubumbashi",
        home: &["LU", "LU", "LI", "KO"],
        listed: &["LU", "LI", "KO"],
        qr: false,
        weight: 20,
    },
    AccountSpec {
        key: "jeunes-goma",
        name: "Santé des jeunes Goma",
        home: &["GO", "BK", "UV"],
        listed: &[],
        qr: false,
        weight: 15,
    },
    AccountSpec {
        key: "prep-kisangani",
        name: "PrEP Kisangani",
        home: &["KS", "BU"],
        listed: &[],
        qr: true,
        weight: 15,
    },
    AccountSpec {
        key: "tb-mbujimayi",
        name: "Tuberculose Mbuji-Mayi",
        home: &["MM", "KG"],
        listed: &["MM", "KG"],
        qr: false,
        weight: 15,
    },
];

struct StaffSpec {
    local: &'static str,
    name: &'static str,
    role: BuiltinRole,
    /// Indexes into `ACCOUNTS`; empty: tenant-wide.
    accounts: &'static [usize],
}

const STAFF: &[StaffSpec] = &[
    StaffSpec {
        local: "admin",
        name: "Aline Mukendi",
        role: BuiltinRole::Administrator,
        accounts: &[],
    },
    StaffSpec {
        local: "superviseur",
        name: "Patrick Ilunga",
        role: BuiltinRole::Supervisor,
        accounts: &[],
    },
    StaffSpec {
        local: "observateur",
        name: "Ruth Kalala",
        role: BuiltinRole::Observer,
        accounts: &[],
    },
    StaffSpec {
        local: "agent.kinshasa",
        name: "Glody Mbala",
        role: BuiltinRole::Agent,
        accounts: &[0],
    },
    StaffSpec {
        local: "agent.kinshasa2",
        name: "Sarah Nsimba",
        role: BuiltinRole::Agent,
        accounts: &[0, 3],
    },
    StaffSpec {
        local: "agent.lubumbashi",
        name: "Fabrice Kyungu",
        role: BuiltinRole::Agent,
        accounts: &[1],
    },
    StaffSpec {
        local: "agent.goma",
        name: "Esther Kahindo",
        role: BuiltinRole::Agent,
        accounts: &[2, 4],
    },
    StaffSpec {
        local: "agent.kisangani",
        name: "Blaise Lokua",
        role: BuiltinRole::Agent,
        accounts: &[3],
    },
    StaffSpec {
        local: "agent.mbujimayi",
        name: "Nadège Kapinga",
        role: BuiltinRole::Agent,
        accounts: &[4],
    },
];

/// Codes at most (`--registrations`): they are all held in memory before
/// they are written (about 0.5 GB a million).
pub const MAX_REGISTRATIONS: usize = 5_000_000;
/// Conversations at least (one of each kind the pages show is always made).
pub const MIN_CONVERSATIONS: usize = 10;
/// Conversations at most (the phone numbers are unique below 10^7).
pub const MAX_CONVERSATIONS: usize = 1_000_000;
/// Messages at most: the whole tenant is played in memory before it is
/// written (about 0.5 GB a million messages).
pub const MAX_MESSAGES: usize = 5_000_000;

fn email(local: &str, slug: &str) -> String {
    format!("{local}@{slug}.example.org")
}

fn account_slug(tenant: &str, key: &str) -> String {
    format!("{tenant}-{key}")
}

/// Seeds the demo tenant. `progress` is told what is being done.
pub async fn seed(
    db: &Db,
    config: &Config,
    salt: &Secret,
    opts: &Options,
    progress: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<Seeded> {
    check_options(opts)?;
    let password = match &opts.password {
        Some(p) => p.clone(),
        None => generate_password(),
    };
    let emails: Vec<String> = STAFF
        .iter()
        .map(|s| email(s.local, &opts.tenant_slug))
        .collect();
    if let Some(p) = &opts.password {
        let inputs: Vec<&str> = emails.iter().map(String::as_str).collect();
        crate::auth::password::check_new(p, p, Lang::Fr, &inputs)
            .map_err(|why| Refused(format!("mot de passe refusé (password refused): {why}")))?;
    }
    // The numbers depend on the slug too: two demo tenants seeded alike
    // in one database do not ask for the same ones.
    let slug_key = opts
        .tenant_slug
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let mut rng = StdRng::seed_from_u64(opts.seed ^ slug_key);
    let numbers: Vec<(String, String)> = ACCOUNTS
        .iter()
        .map(|_| {
            (
                format!("10{:013}", rng.random_range(0..10_000_000_000_000u64)),
                format!("+24381{:07}", rng.random_range(0..10_000_000u64)),
            )
        })
        .collect();
    check_free(db, opts, &emails, &numbers).await?;

    let now = OffsetDateTime::now_utc();
    progress("hachage des mots de passe (hashing passwords)");
    let mut hashes = Vec::new();
    for _ in STAFF {
        hashes.push(crate::auth::password::hash(&password).await?);
    }

    let mut tx = db.begin().await?;
    let setup = write::setup(&mut tx, opts, config, now, &numbers, &emails, &hashes).await?;
    progress(&format!(
        "organisation « {} » créée (tenant created): {} comptes WhatsApp, {} membres du personnel",
        opts.tenant_slug,
        setup.accounts.len(),
        setup.users.len()
    ));

    let accounts: Vec<AccountSim> = ACCOUNTS
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let mut staff: Vec<i64> = STAFF
                .iter()
                .zip(&setup.users)
                .filter(|(s, _)| s.accounts.contains(&i))
                .map(|(_, u)| *u)
                .collect();
            // The supervisor answers on every account too.
            staff.push(setup.users[1]);
            AccountSim {
                flow: setup.accounts[i].flow.clone(),
                home: spec.home.to_vec(),
                listed: spec.listed.to_vec(),
                staff,
                waiting_limit: Duration::minutes(240),
            }
        })
        .collect();
    let world = World {
        now,
        accounts: &accounts,
        retention: Duration::days(180),
        texts: Default::default(),
        choices: Default::default(),
    };
    let started = std::time::Instant::now();
    let lived = live_all(&world, opts, progress)?;
    progress(&format!(
        "{} conversations vécues en {:.1} s (lived)",
        lived.len(),
        started.elapsed().as_secs_f64()
    ));
    let ids: Vec<i64> = setup.accounts.iter().map(|a| a.id).collect();
    let counts = write::data(&mut tx, &setup, &ids, &lived, salt, opts, progress).await?;
    crate::audit::record_in(
        &mut tx,
        &crate::audit::Entry {
            tenant_id: Some(setup.tenant_id),
            user_id: None,
            actor: "demo seed",
            action: "demo.seed",
            target: format!("tenant:{}", setup.tenant_id),
            detail: format!(
                "{} conversations, {} messages (seed {})",
                lived.len(),
                counts.messages,
                opts.seed
            ),
            ip: None,
        },
    )
    .await?;
    progress("validation de la transaction (commit)");
    tx.commit().await?;
    // The reports read the figures added up per day: add the year up now
    // rather than a minute after the server starts.
    let rolled = crate::report::days::roll_all(db).await?;
    progress(&format!(
        "{rolled} parcours et codes additionnés par jour (report figures added up)"
    ));
    // PostgreSQL: VACUUM too, as autovacuum would a few minutes after such
    // a load; until then the visibility map is empty and every index-only
    // read (the DHIS-2 page's counts) still visits the table.
    let analyze = match db {
        Db::Postgres(_) => "VACUUM (ANALYZE)",
        Db::Sqlite(_) => "ANALYZE",
    };
    progress(analyze);
    crate::on_db!(db, p => sqlx::query(analyze).execute(p).await.map(|_| ()))?;

    let try_conversation = counts.try_conversation;
    Ok(Seeded {
        tenant_id: setup.tenant_id,
        accounts: setup
            .accounts
            .iter()
            .map(|a| (a.id, a.name.clone()))
            .collect(),
        staff: STAFF
            .iter()
            .zip(&emails)
            .map(|(s, e)| StaffLogin {
                email: e.clone(),
                role: s.role,
                accounts: s
                    .accounts
                    .iter()
                    .map(|i| ACCOUNTS[*i].name.to_string())
                    .collect(),
            })
            .collect(),
        password,
        password_generated: opts.password.is_none(),
        conversations: lived.len(),
        messages: counts.messages,
        waiting: lived.iter().filter(|l| l.mode == Mode::Waiting).count(),
        human: lived.iter().filter(|l| l.mode == Mode::Human).count(),
        registrations: counts.registrations,
        runs: counts.runs,
        try_conversation,
        try_uic: lived
            .iter()
            .rev()
            .find_map(|l| l.uic.as_ref().map(|u| u.as_str().to_string())),
    })
}

fn check_options(opts: &Options) -> Result<(), Refused> {
    if !crate::tenancy::store::valid_slug(&opts.tenant_slug) || opts.tenant_slug.len() > 20 {
        return Err(Refused(format!(
            "--tenant-slug {:?}: 2 à 20 lettres minuscules, chiffres ou tirets (2 to 20 lowercase letters, digits or hyphens)",
            opts.tenant_slug
        )));
    }
    if opts.conversations < MIN_CONVERSATIONS || opts.conversations > MAX_CONVERSATIONS {
        return Err(Refused(format!(
            "--conversations: entre {MIN_CONVERSATIONS} et {MAX_CONVERSATIONS} (between {MIN_CONVERSATIONS} and {MAX_CONVERSATIONS})"
        )));
    }
    let least = opts.conversations * 3;
    let most = (opts.conversations * 60).min(MAX_MESSAGES);
    if opts.messages < least || opts.messages > most {
        return Err(Refused(format!(
            "--messages: entre 3 et 60 par conversation, {MAX_MESSAGES} au plus, ici entre {least} et {most} \
             (3 to 60 per conversation, {MAX_MESSAGES} at most)"
        )));
    }
    if opts.registrations > MAX_REGISTRATIONS {
        return Err(Refused(format!(
            "--registrations: {MAX_REGISTRATIONS} au plus ({MAX_REGISTRATIONS} at most)"
        )));
    }
    Ok(())
}

/// Refuses, before anything is written, when the tenant or anything the
/// seed would create (account slugs, e-mail addresses, numbers) exists.
async fn check_free(
    db: &Db,
    opts: &Options,
    emails: &[String],
    numbers: &[(String, String)],
) -> anyhow::Result<()> {
    let slug = &opts.tenant_slug;
    let tenant: Option<i64> = on_db_read!(db, p => sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug).fetch_optional(p).await)?;
    if tenant.is_some() {
        return Err(Refused(format!(
            "l'organisation « {slug} » existe déjà : rien n'a été écrit. Choisissez un autre --tenant-slug. \
             (tenant {slug} already exists: nothing written; choose another --tenant-slug)"
        ))
        .into());
    }
    let mut slugs: Vec<String> = ACCOUNTS.iter().map(|a| account_slug(slug, a.key)).collect();
    slugs.push(format!("{slug}-sandbox"));
    for s in &slugs {
        let taken: i64 = on_db_read!(db, p => sqlx::query_scalar("SELECT COUNT(*) FROM whatsapp_accounts WHERE slug = $1")
            .bind(s).fetch_one(p).await)?;
        if taken > 0 {
            return Err(Refused(format!(
                "le compte WhatsApp « {s} » existe déjà : rien n'a été écrit (account slug {s} is taken: nothing written; choose another --tenant-slug)"
            ))
            .into());
        }
    }
    for e in emails {
        if crate::auth::store::find_by_email(db, e).await?.is_some() {
            return Err(Refused(format!(
                "l'adresse {e} existe déjà : rien n'a été écrit (e-mail address taken: nothing written; choose another --tenant-slug)"
            ))
            .into());
        }
    }
    for (id, number) in numbers {
        let taken: i64 = on_db_read!(db, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM whatsapp_accounts WHERE meta_phone_number_id = $1 OR phone_number = $2")
            .bind(id).bind(number).fetch_one(p).await)?;
        if taken > 0 {
            return Err(Refused(
                "un numéro de démonstration est déjà pris : rien n'a été écrit, essayez un autre --seed (a demo number is taken: try another --seed)".into(),
            )
            .into());
        }
    }
    Ok(())
}

/// A password of 4 groups of 4 letters and digits (about 80 bits).
fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..4)
        .map(|_| {
            (0..4)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// An account as created, with the flow the app gives it.
pub(crate) struct SeededAccount {
    pub id: i64,
    pub name: String,
    pub flow: FlowConfig,
}

/// The account row the seed inserts, read through `Account::flow_config`
/// as the inbox reads it.
fn flow_of(config: &Config, settings: &FlowSettings) -> FlowConfig {
    let account = Account {
        id: 0,
        tenant_id: 0,
        slug: String::new(),
        name: String::new(),
        provider: Provider::Meta,
        phone_number: None,
        meta_phone_number_id: None,
        twilio_account_sid: None,
        twilio_auth_token: None,
        flow_config: sqlx::types::Json(settings.clone()),
        enabled: true,
        meta_waba_id: None,
        meta_app_id: None,
        meta_app_secret: None,
        waiting_limit_minutes: 240,
        meta_verify_token: None,
        meta_access_token: None,
        token_status: TokenStatus::Ok,
        send_rate_per_second: 20,
        keep_profile_names: false,
    };
    account.flow_config(config)
}

/// The settings of the account at `i`.
fn settings_of(i: usize) -> FlowSettings {
    let spec = &ACCOUNTS[i];
    FlowSettings {
        cities: spec
            .listed
            .iter()
            .map(|c| {
                let city = people::city(c);
                crate::uic::City {
                    code: city.code.to_string(),
                    name: city.name.to_string(),
                }
            })
            .collect(),
        qr_enabled: spec.qr.then_some(true),
        ..FlowSettings::default()
    }
}

/// The kinds every seed has at least one of, with how long ago each
/// started (so the pages show each mode, reason and change of hands, and a
/// few conversations can be taken over and answered now).
const FORCED: &[(Kind, i64)] = &[
    (Kind::Waiting(WaitingReason::Requested), 50),
    (Kind::Waiting(WaitingReason::FailedAnswers), 5 * 60),
    (Kind::Waiting(WaitingReason::Media), 30),
    (Kind::Waiting(WaitingReason::Flagged), 3 * 24 * 60),
    // The last one's exchange with staff is lengthened or shortened so the
    // total is exactly the number of messages asked for.
    (Kind::Human, 2 * 24 * 60),
    (Kind::Human, 20 * 60),
    (Kind::HandedBack(HandBack::Resume), 2 * 24 * 60),
    (Kind::HandedBack(HandBack::StartAgain), 10 * 24 * 60),
    (Kind::Restarted, 12 * 60),
    (Kind::Complete, 60),
];
const ABSORBER: usize = 4;

/// A kind drawn from the year's mix.
fn draw_kind(rng: &mut StdRng) -> Kind {
    // About 10 messages a conversation: a code takes at least 13, so many
    // of the others are a greeting and nothing more, as in life.
    match rng.random_range(0..1000) {
        0..=514 => Kind::Complete,
        515..=524 => Kind::CompleteReturns,
        525..=924 => Kind::Abandoned(match rng.random_range(0..100) {
            0..=54 => 1,
            55..=69 => 2,
            70..=81 => 3,
            82..=91 => 4,
            _ => 5,
        }),
        925..=934 => Kind::AbandonedReturned,
        935..=964 => Kind::Waiting(match rng.random_range(0..100) {
            0..=39 => WaitingReason::Requested,
            40..=64 => WaitingReason::FailedAnswers,
            65..=89 => WaitingReason::Media,
            _ => WaitingReason::Flagged,
        }),
        965..=979 => Kind::Human,
        980..=994 => Kind::HandedBack(if rng.random_bool(0.6) {
            HandBack::Resume
        } else {
            HandBack::StartAgain
        }),
        _ => Kind::Restarted,
    }
}

/// How long ago a conversation of this kind started: over the last 12
/// months, denser recently; the queue and staff's conversations are recent.
fn draw_age(rng: &mut StdRng, kind: Kind) -> Duration {
    let u: f64 = rng.random();
    let days = match kind {
        Kind::Waiting(_) => 30.0 * u * u,
        Kind::Human => 20.0 * u * u,
        _ => 365.0 * u.powf(1.8),
    };
    Duration::seconds((days * 86_400.0) as i64 + 60)
}

/// Every conversation's plan, then lived, lengthened or shortened until
/// the messages add up to exactly `opts.messages`.
fn live_all(
    world: &World<'_>,
    opts: &Options,
    progress: &mut (dyn FnMut(&str) + Send),
) -> anyhow::Result<Vec<sim::Lived>> {
    let mut rng = StdRng::seed_from_u64(opts.seed ^ 0x005e_ed0f_de40);
    let weights: Vec<u32> = ACCOUNTS.iter().map(|a| a.weight).collect();
    let total_weight: u32 = weights.iter().sum();
    let mut plans: Vec<Plan> = (0..opts.conversations)
        .map(|i| {
            let (kind, age) = match FORCED.get(i) {
                Some((kind, minutes)) => (*kind, Duration::minutes(*minutes)),
                None => {
                    let kind = draw_kind(&mut rng);
                    (kind, draw_age(&mut rng, kind))
                }
            };
            let mut pick = rng.random_range(0..total_weight);
            let account = weights
                .iter()
                .position(|w| {
                    if pick < *w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
                .unwrap_or(0);
            Plan {
                key: rng.random(),
                kind,
                account,
                start: world.now - age,
                cap: usize::MAX,
                want: 0,
            }
        })
        .collect();
    let phone_salt: u64 = rng.random_range(0..10_000_000);
    let live = |plan: &Plan, i: usize| sim::live(world, plan, i as u64, phone_salt);
    let mut lengths: Vec<usize> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| live(p, i).msgs.len())
        .collect();
    let target = opts.messages as i64;
    let mut gap = target - lengths.iter().sum::<usize>() as i64;
    progress(&format!(
        "premier passage : {} messages pour {} voulus (first pass: {} messages for {} wanted)",
        target - gap,
        target,
        target - gap,
        target
    ));
    // The forced conversations keep their shape, unless there are hardly
    // any others; the one that takes the rest is never drawn.
    let free = if plans.len() > 2 * FORCED.len() {
        FORCED.len()..plans.len()
    } else {
        0..plans.len()
    };
    let mut tries = 0;
    // Too many: some people leave earlier.
    while gap < 0 && tries < 50 * plans.len() {
        tries += 1;
        let i = rng.random_range(free.clone());
        if lengths[i] <= 2 || i == ABSORBER {
            continue;
        }
        let cut = (rng.random_range(2..=12) as i64).min(-gap) as usize;
        plans[i].cap = lengths[i].saturating_sub(cut).max(2);
        let now = live(&plans[i], i).msgs.len();
        gap += lengths[i] as i64 - now as i64;
        lengths[i] = now;
    }
    // Too few: some come back, write more, or talk longer with staff.
    let mut idle = 0;
    while gap > 16 && idle < 20 * plans.len() {
        let i = rng.random_range(free.clone());
        if i == ABSORBER {
            idle += 1;
            continue;
        }
        let more = (rng.random_range(2..=16) as i64).min(gap) as usize;
        let mut plan = plans[i].clone();
        plan.want = lengths[i] + more;
        plan.cap = plan.cap.max(plan.want);
        let now = live(&plan, i).msgs.len();
        if now > lengths[i] && (now - lengths[i]) as i64 <= gap {
            gap -= (now - lengths[i]) as i64;
            lengths[i] = now;
            plans[i] = plan;
            idle = 0;
        } else {
            idle += 1;
        }
    }
    // The rest, exactly, in one conversation with staff.
    let a = ABSORBER;
    if gap >= 0 {
        plans[a].want = lengths[a] + gap as usize;
    } else {
        plans[a].cap = (lengths[a] as i64 + gap).max(2) as usize;
    }
    progress("second passage (second pass)");
    let lived: Vec<sim::Lived> = plans.iter().enumerate().map(|(i, p)| live(p, i)).collect();
    let total: usize = lived.iter().map(|l| l.msgs.len()).sum();
    if total != opts.messages {
        return Err(Refused(format!(
            "{total} messages au lieu de {} : essayez un autre --seed ou --messages ({total} messages instead of {}: try another --seed or --messages)",
            opts.messages, opts.messages
        ))
        .into());
    }
    Ok(lived)
}

/// What `demo seed` prints: where to log in, as whom, and what to try
/// (French, then English).
pub fn summary(s: &Seeded, base: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Organisation de démonstration créée : {} conversations, {} messages, {} codes ({} en attente, {} pris en charge).",
        s.conversations, s.messages, s.registrations, s.waiting, s.human
    );
    let _ = writeln!(
        out,
        "Demo tenant created: {} conversations, {} messages, {} codes ({} waiting, {} taken by staff).",
        s.conversations, s.messages, s.registrations, s.waiting, s.human
    );
    let r = &s.runs;
    let _ = writeln!(
        out,
        "Parcours de questions terminés : {} ({} avec le code, {} confiés au personnel, {} abandonnés, \
         dont {} terminés maintenant comme le balayage des inactifs l'aurait fait).",
        r.total(),
        r.completed,
        r.escalated,
        r.left,
        r.swept
    );
    let _ = writeln!(
        out,
        "Runs of questions ended: {} ({} completed, {} escalated, {} left, of which {} ended now as the idle sweep would have).",
        r.total(),
        r.completed,
        r.escalated,
        r.left,
        r.swept
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "Ouvrir (open): {base}/login");
    if s.password_generated {
        let _ = writeln!(
            out,
            "Mot de passe de chacun, affiché une seule fois (everyone's password, shown once): {}",
            s.password
        );
    } else {
        let _ = writeln!(
            out,
            "Mot de passe : celui du fichier donné (password: the one in the file given)"
        );
    }
    for u in &s.staff {
        let scope = if u.accounts.is_empty() {
            "toute l'organisation (whole tenant)".to_string()
        } else {
            u.accounts.join(", ")
        };
        let _ = writeln!(out, "  {:<40} {:<14} {scope}", u.email, u.role.name());
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "À essayer (to try):");
    let _ = writeln!(
        out,
        "  - Conversations : filtres par compte, « en attente », « pris par moi », avec ou sans code ; pages suivantes."
    );
    if let Some(uic) = &s.try_uic {
        let _ = writeln!(out, "  - Rechercher le code {uic} (search for a code).");
    }
    let _ = writeln!(
        out,
        "  - {base}/dhis2 : synchronisation DHIS-2 par numéro (en pause : serveur de démonstration fictif), \
         échecs à relancer, collisions à décider (DHIS-2 sync per number, paused: made-up demo server)."
    );
    let _ = writeln!(
        out,
        "  - {base}/reports : codes, parcours des questions, escalades, sur l'année (reports over the year)."
    );
    if let Some(id) = s.try_conversation {
        let _ = writeln!(
            out,
            "  - {base}/conversations/{id} : en attente, fenêtre de 24 h ouverte : « Prendre la main », répondre, « Rendre au bot »."
        );
    }
    let _ = writeln!(
        out,
        "  - Se connecter comme agent : seules les conversations de ses comptes, numéros masqués (an agent sees only their accounts, numbers masked)."
    );
    let _ = writeln!(
        out,
        "Les comptes n'ont pas de jeton d'accès Meta : rien n'est jamais envoyé (no Meta access token: nothing is ever sent)."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn world_accounts() -> Vec<AccountSim> {
        let config = Config::for_database(crate::db::DbUrl::Sqlite("unused.db".into()));
        ACCOUNTS
            .iter()
            .enumerate()
            .map(|(i, spec)| AccountSim {
                flow: flow_of(&config, &settings_of(i)),
                home: spec.home.to_vec(),
                listed: spec.listed.to_vec(),
                staff: vec![100 + i as i64, 99],
                waiting_limit: Duration::minutes(240),
            })
            .collect()
    }

    fn lives(conversations: usize, messages: usize, seed: u64) -> Vec<sim::Lived> {
        let accounts = world_accounts();
        let world = World {
            now: datetime!(2026-12-01 06:00 UTC),
            accounts: &accounts,
            retention: Duration::days(180),
            texts: Default::default(),
            choices: Default::default(),
        };
        let opts = Options {
            conversations,
            messages,
            seed,
            ..Options::default()
        };
        live_all(&world, &opts, &mut |_| {}).expect("lived")
    }

    #[test]
    fn the_messages_add_up_to_exactly_the_number_asked_for() {
        for (c, m, seed) in [
            (300, 3000, 1),
            (50, 1000, 2),
            (10, 30, 3),
            (200, 1200, 4),
            (120, 6000, 5),
        ] {
            let total: usize = lives(c, m, seed).iter().map(|l| l.msgs.len()).sum();
            assert_eq!(total, m, "{c} conversations, {m} messages, seed {seed}");
        }
    }

    #[test]
    fn the_same_seed_lives_the_same_year_and_another_does_not() {
        let shape = |ls: &[sim::Lived]| -> Vec<(String, Mode, i64, usize)> {
            ls.iter()
                .map(|l| (l.phone.clone(), l.mode, l.version, l.msgs.len()))
                .collect()
        };
        let a = lives(100, 1000, 9);
        assert_eq!(shape(&a), shape(&lives(100, 1000, 9)));
        assert_ne!(shape(&a), shape(&lives(100, 1000, 10)));
    }

    #[test]
    fn every_message_is_in_time_order_and_in_the_past() {
        let now = datetime!(2026-12-01 06:00 UTC);
        for l in lives(300, 3000, 11) {
            assert!(l.msgs.windows(2).all(|w| w[0].at <= w[1].at));
            assert!(l.msgs.iter().all(|m| m.at <= now && m.updated_at <= now));
            assert!(l.created_at <= l.msgs[0].at);
            // The queue and staff: the state says who has it.
            match l.mode {
                Mode::Waiting => assert!(l.waiting_reason.is_some() && l.taken_by.is_none()),
                Mode::Human => assert!(l.taken_by.is_some() && l.waiting_reason.is_none()),
                Mode::Bot => assert!(l.taken_by.is_none() && l.waiting_reason.is_none()),
            }
        }
    }

    #[test]
    fn every_run_of_questions_ends_once_as_the_conversations_show() {
        use crate::flow::run::End;
        let now = datetime!(2026-12-01 06:00 UTC);
        let all = lives(300, 3000, 7);
        let runs = || all.iter().flat_map(|l| l.runs.iter());
        // A run ends with each code the bot gave, and with each hand over
        // the bot made (not those staff made: flagging keeps the run).
        let codes: usize = all.iter().map(|l| l.issued.len()).sum();
        let completed = runs().filter(|r| r.finished.end == End::Completed).count();
        assert_eq!(completed, codes);
        let by_bot = all
            .iter()
            .flat_map(|l| &l.events)
            .filter(|e| {
                e.change == crate::inbox::Change::Escalated
                    && e.detail != Some(WaitingReason::Flagged.as_str())
            })
            .count();
        let escalated = runs()
            .filter(|r| matches!(r.finished.end, End::Escalated(_)))
            .count();
        assert_eq!(escalated, by_bot);
        // People leave: some came back later, some are ended now.
        let left: Vec<_> = runs().filter(|r| r.finished.end == End::Left).collect();
        assert!(left.iter().any(|r| r.swept) && left.iter().any(|r| !r.swept));
        for r in runs() {
            let f = &r.finished;
            assert!(f.run.started_at <= f.ended_at && f.ended_at <= now, "{f:?}");
            assert_eq!(f.question.is_none(), f.end == End::Completed, "{f:?}");
            assert!(
                r.first_reply_at
                    .is_none_or(|at| at >= f.ended_at && at <= now)
            );
            assert!(r.first_reply_at.is_none() || matches!(f.end, End::Escalated(_)));
        }
        // Staff answered the escalated runs of the conversations they took.
        assert!(runs().any(|r| r.first_reply_at.is_some()));
        // Nothing of the bot's is left idle past the timeout.
        for l in &all {
            if l.mode == Mode::Bot
                && let (Some(_), Some(last)) = (&l.flow_state.run, l.flow_state.last_activity)
            {
                assert!(now - last <= Duration::minutes(30), "{:?}", l.flow_state);
            }
        }
    }

    #[test]
    fn options_out_of_bounds_are_refused_with_the_reason() {
        let bad = |o: Options| check_options(&o).unwrap_err().0;
        assert!(
            bad(Options {
                conversations: 5,
                ..Options::default()
            })
            .contains("--conversations")
        );
        assert!(
            bad(Options {
                messages: 10,
                ..Options::default()
            })
            .contains("--messages")
        );
        for slug in [
            "",
            "x",
            "Demo",
            "demo'; DROP TABLE tenants; --",
            "-demo",
            "a-very-long-tenant-slug-name",
        ] {
            let msg = bad(Options {
                tenant_slug: slug.into(),
                ..Options::default()
            });
            assert!(msg.contains("--tenant-slug"), "{slug}: {msg}");
        }
        let too_many = Options {
            conversations: 200_000,
            messages: MAX_MESSAGES + 1,
            ..Options::default()
        };
        assert!(bad(too_many).contains("--messages"));
        let too_many = Options {
            conversations: MAX_CONVERSATIONS + 1,
            ..Options::default()
        };
        assert!(bad(too_many).contains("--conversations"));
        let too_many = Options {
            registrations: MAX_REGISTRATIONS + 1,
            ..Options::default()
        };
        assert!(bad(too_many).contains("--registrations"));
        assert!(
            check_options(&Options {
                registrations: MAX_REGISTRATIONS,
                ..Options::default()
            })
            .is_ok()
        );
        assert!(check_options(&Options::default()).is_ok());
    }
}
