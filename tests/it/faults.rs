//! Fault tests (issue 16): the server killed with SIGKILL in the middle of a
//! load, two instances taking turns on the same conversations, PostgreSQL
//! restarted under load.
//!
//! Each drives whole conversations through the Twilio fake (webhooks signed
//! and posted as Twilio does, TwiML answers read into the messages Twilio
//! would send), then checks the database against what was acknowledged:
//! every webhook answered 200 is stored, every conversation ends with the
//! code its answers give, no reply is stored or sent twice, none is lost
//! (a message whose answer never reached Twilio is answered by its retry),
//! and nothing is half-written. The expected replies come from the flow itself (a pure
//! function) run on the same answers, the expected codes from the `uic`
//! functions: neither from the server under test.

use crate::both_backends;
use crate::fakes::twilio::{
    DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio, Inbound, signature,
};
use crate::helpers::*;
use rstest_reuse::apply;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uic_inbox::config::Config;
use uic_inbox::db::{Db, DbUrl, SqlitePools};
use uic_inbox::flow::{self, FlowConfig, FlowState};
use uic_inbox::on_db;
use uic_inbox::uic::{self, Uic, UicParts};

// ---------------------------------------------------------------------------
// The people and what they must get

/// One simulated person: a phone number, the six messages of a
/// registration (a greeting, then the five answers) and their MessageSids.
#[derive(Debug, Clone)]
struct Person {
    phone: String,
    texts: [String; 6],
    sids: [String; 6],
}

impl Person {
    /// The `n`-th person (`n` < 676) of test `run` (which keeps the numbers
    /// and MessageSids of the tests apart).
    fn new(run: u32, n: usize) -> Person {
        let letter = |i: usize| char::from(b'A' + (i % 26) as u8);
        // A last name of their own (its first three letters start the
        // code): no two people share a code, so no collision is flagged.
        let texts = [
            "Bonjour".to_string(),
            format!("K{}{}ongo", letter(n / 26), letter(n % 26)),
            "Ibrahima".to_string(),
            (1980 + n % 20).to_string(),
            "KN".to_string(),
            (1 + n % 4).to_string(),
        ];
        Person {
            phone: format!("+2438{:02}{n:05}", run % 100),
            texts,
            sids: std::array::from_fn(|step| format!("SM{run:08x}{:024x}", n * 6 + step)),
        }
    }

    /// The code the answers give (the salt plays no part in it).
    fn code(&self) -> Uic {
        let year = OffsetDateTime::now_utc().year();
        Uic::from_parts(&UicParts {
            last: uic::name_code(&self.texts[1]).unwrap(),
            first: uic::name_code(&self.texts[2]).unwrap(),
            year_digit: uic::year_digit(&self.texts[3], year).unwrap(),
            city: uic::city_code(&self.texts[4], &[]).unwrap(),
            gender: uic::gender(&self.texts[5]).unwrap(),
        })
    }

    /// The bot's replies to each of the six messages: the flow run on the
    /// same messages from a fresh conversation.
    fn replies(&self, config: &FlowConfig) -> Vec<Vec<String>> {
        let now = OffsetDateTime::now_utc();
        let mut state = FlowState::default();
        let mut all = Vec::new();
        for text in &self.texts {
            let inbound = flow::Inbound {
                text,
                choice_id: None,
                media: false,
            };
            let outcome = flow::step(&state, &inbound, config, now);
            state = outcome.state;
            all.push(
                outcome
                    .replies
                    .into_iter()
                    .map(|r| r.text.trim().to_string())
                    .collect(),
            );
        }
        assert_eq!(
            state.step,
            flow::Step::Done { uic: self.code() },
            "the script is a whole registration"
        );
        all
    }

    /// The conversation as it must be stored: each message once, in order,
    /// each followed by its replies, the code's by its QR image.
    fn transcript(&self, config: &FlowConfig) -> Vec<Row> {
        let mut rows = Vec::new();
        for (sid, replies) in self.sids.iter().zip(self.replies(config)) {
            rows.push(Row::In(sid.clone()));
            rows.extend(replies.into_iter().map(Row::Out));
        }
        if config.qr_enabled {
            rows.push(Row::Out(format!("QR {}", self.code().as_str())));
        }
        rows
    }
}

/// A stored message as the checks read it: an inbound one by its
/// MessageSid, a reply by its text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Row {
    In(String),
    Out(String),
}

/// What one webhook post got.
#[derive(Debug, Clone)]
struct Attempt {
    sid: String,
    /// `None`: no answer (connection refused or cut).
    status: Option<u16>,
    /// Where the test stood when the answer came (the PostgreSQL test's
    /// `BEFORE`, `DOWN`, `AFTER`).
    phase: u8,
}

type Log = Arc<Mutex<Vec<Attempt>>>;

/// The fake Twilio, waiting for answers far longer than Twilio's 15 s: the
/// tests bound correctness, not speed, and a test machine under load may
/// keep a request waiting that long.
async fn patient_twilio() -> FakeTwilio {
    let fake = FakeTwilio::start().await;
    fake.set_webhook_timeout(Duration::from_secs(120));
    fake
}

/// What Twilio got from one webhook post.
struct Answer {
    /// `None`: no answer (connection refused or cut).
    status: Option<u16>,
    /// The texts Twilio sends from the TwiML answer.
    texts: Vec<String>,
    /// Twilio's debugger entries for it (why there was no answer).
    why: String,
}

/// Posts step `step` of `person` to the webhook at `url`, as Twilio does.
async fn send(fake: &FakeTwilio, url: &str, person: &Person, step: usize) -> Answer {
    let message =
        Inbound::text(&person.phone, TWILIO_NUMBER, &person.texts[step]).sid(&person.sids[step]);
    let result = fake.post_inbound(&message, url).await;
    let why: Vec<String> = result
        .errors
        .iter()
        .map(|e| format!("{} {}", e.code, e.detail))
        .collect();
    Answer {
        status: result.http_status,
        texts: result.texts(),
        why: why.join("; "),
    }
}

// ---------------------------------------------------------------------------
// The checks

/// Every conversation's messages, by phone number.
async fn transcripts(db: &Db) -> HashMap<String, Vec<Row>> {
    let mut rows: Vec<(String, String, Option<String>, String, OffsetDateTime, i64)> = on_db!(db, p => sqlx::query_as(
        "SELECT c.phone, m.direction, m.provider_message_id, m.body, m.created_at, m.id
         FROM messages m JOIN conversations cv ON cv.id = m.conversation_id JOIN contacts c ON c.id = cv.contact_id")
        .fetch_all(p).await.unwrap());
    // The rows one message writes share its time, and the inbound one comes
    // first: PostgreSQL numbers the rows of the parts of one statement in no
    // set order.
    rows.sort_by_key(|r| (r.4, r.1 == "out", r.5));
    let mut by_phone: HashMap<String, Vec<Row>> = HashMap::new();
    for (phone, direction, sid, body, _, _) in rows {
        let row = match direction.as_str() {
            "in" => Row::In(sid.unwrap_or_default()),
            _ => Row::Out(body.trim().to_string()),
        };
        by_phone.entry(phone).or_default().push(row);
    }
    by_phone
}

/// The MessageSids of every inbound message stored.
async fn stored_sids(db: &Db) -> HashSet<String> {
    let sids: Vec<String> = on_db!(db, p => sqlx::query_scalar(
        "SELECT provider_message_id FROM messages WHERE direction = 'in' AND provider_message_id IS NOT NULL")
        .fetch_all(p).await.unwrap());
    sids.into_iter().collect()
}

/// The flow settings of the Twilio number the environment configures.
async fn twilio_flow(db: &Db, config: &Config) -> FlowConfig {
    uic_inbox::tenancy::store::find_by_slug(db, "twilio")
        .await
        .unwrap()
        .expect("the Twilio number of the environment")
        .flow_config(config)
}

/// What every fault test ends with: each person's conversation holds their
/// six messages once each, in order, each followed by exactly the flow's
/// replies to it (nothing lost, doubled or half-written), and ends with the
/// code their answers give, registered once; nobody else has a
/// conversation.
async fn assert_every_conversation_complete(db: &Db, people: &[Person], config: &FlowConfig) {
    let transcripts = transcripts(db).await;
    for person in people {
        assert_eq!(
            transcripts.get(&person.phone),
            Some(&person.transcript(config)),
            "the conversation of {}",
            person.phone
        );
    }
    let codes: Vec<(String, Option<String>)> = on_db!(db, p => sqlx::query_as(
        "SELECT c.phone, cv.uic FROM conversations cv JOIN contacts c ON c.id = cv.contact_id")
        .fetch_all(p).await.unwrap());
    let codes: HashMap<String, Option<String>> = codes.into_iter().collect();
    assert_eq!(codes.len(), people.len(), "one conversation per person");
    for person in people {
        assert_eq!(
            codes.get(&person.phone),
            Some(&Some(person.code().as_str().to_string())),
            "the code of {}",
            person.phone
        );
    }
    let mut registered: Vec<(String, i32)> = on_db!(db, p => sqlx::query_as(
        "SELECT uic, times_seen FROM uic_registrations").fetch_all(p).await.unwrap());
    registered.sort();
    let mut expected: Vec<(String, i32)> = people
        .iter()
        .map(|p| (p.code().as_str().to_string(), 1))
        .collect();
    expected.sort();
    assert_eq!(registered, expected, "each code registered once");
}

/// Every reply sent once, none lost: the messages Twilio sent from the
/// TwiML answers to each inbound message are the flow's replies to it,
/// exactly once, whichever delivery carried them (the first, or the retry
/// of one whose answer never reached Twilio); the code's, with its QR
/// image.
fn assert_every_reply_sent_once(fake: &FakeTwilio, people: &[Person], config: &FlowConfig) {
    let mut sent: HashMap<String, Vec<(String, usize)>> = HashMap::new();
    for r in fake.twiml_replies() {
        sent.entry(r.in_reply_to)
            .or_default()
            .push((r.message.body.trim().to_string(), r.message.media.len()));
    }
    for person in people {
        for (step, replies) in person.replies(config).into_iter().enumerate() {
            let sid = &person.sids[step];
            let got = sent.remove(sid).unwrap_or_default();
            let texts: Vec<&String> = got.iter().map(|(text, _)| text).collect();
            let expected: Vec<&String> = replies.iter().collect();
            assert_eq!(texts, expected, "sent for {} step {step}", person.phone);
            let media: Vec<usize> = got.iter().map(|(_, media)| *media).collect();
            let qr = usize::from(step == 5 && config.qr_enabled);
            assert_eq!(
                media.last().copied(),
                Some(qr),
                "QR image of {} step {step}",
                person.phone
            );
            assert_eq!(media.iter().sum::<usize>(), qr);
        }
    }
    assert!(sent.is_empty(), "replies to messages nobody sent: {sent:?}");
}

// ---------------------------------------------------------------------------
// The server as a process, and its database seen from outside

/// The server binary cargo built for these tests, as a child process:
/// unlike the in-process server of `spawn_app`, it can be killed with
/// SIGKILL, in the middle of a write, as a crash or the OOM killer would.
struct ServerProcess {
    child: std::process::Child,
    address: String,
    /// Its last lines of output, to tell why it failed.
    output: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

/// Lines of a server's output kept for a failure's message.
const OUTPUT_KEPT: usize = 300;

impl ServerProcess {
    /// `uic-inbox serve` in `dir` with only `env`, on the port it picks
    /// (`PORT=0`, read from its "listening" line); returns once it is ready.
    async fn start(dir: &Path, env: &HashMap<String, String>) -> ServerProcess {
        use std::io::{BufRead, BufReader, Read};
        let mut child = Command::new(env!("CARGO_BIN_EXE_uic-inbox"))
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        // Read to the end, always: a full pipe would stall the server.
        for stream in streams {
            let (output, tx) = (output.clone(), tx.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(port) = listening_port(&line) {
                        let _ = tx.send(port);
                    }
                    let mut kept = output.lock().unwrap();
                    if kept.len() == OUTPUT_KEPT {
                        kept.remove(0);
                    }
                    kept.push(line);
                }
            });
        }
        drop(tx);
        let port = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(120)))
            .await
            .unwrap();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut server = ServerProcess {
            child,
            address: String::new(),
            output,
            client,
        };
        match port {
            Ok(port) => server.address = format!("http://127.0.0.1:{port}"),
            Err(_) => panic!("the server did not start:\n{}", server.output()),
        }
        let ready = Instant::now();
        while server.readyz().await != Some(200) {
            assert!(
                ready.elapsed() < Duration::from_secs(60),
                "the server never got ready:\n{}",
                server.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    fn webhook_url(&self) -> String {
        format!("{}/whatsapp/webhook", self.address)
    }

    /// `GET /readyz`'s status; `None` when it does not answer.
    async fn readyz(&self) -> Option<u16> {
        let res = self
            .client
            .get(format!("{}/readyz", self.address))
            .send()
            .await;
        res.ok().map(|r| r.status().as_u16())
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown, nothing
    /// flushed, every request under way cut where it stands.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().unwrap();
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port of the JSON log line `uic-inbox listening`.
fn listening_port(line: &str) -> Option<u16> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["fields"]["message"] != "uic-inbox listening" {
        return None;
    }
    u16::try_from(v["fields"]["port"].as_u64()?).ok()
}

/// The environment of a server process on `database_url` whose Twilio
/// number is the fake's default account (its REST API the fake's too, so
/// anything sent outside a TwiML answer would be seen).
fn server_env(database_url: &str, fake: &FakeTwilio) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("LOG_FORMAT", "json"),
        ("LOG_LEVEL", "info"),
        ("DATABASE_URL", database_url),
        ("UIC_SALT", TEST_SALT),
        ("TWILIO_ACCOUNT_SID", DEFAULT_ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", DEFAULT_AUTH_TOKEN),
        // The code's QR image rides on its answer: a retry must carry it too.
        ("ENABLE_QR_CODE", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.insert(
        "TWILIO_WHATSAPP_NUMBER".into(),
        format!("whatsapp:{TWILIO_NUMBER}"),
    );
    env.insert("TWILIO_API_URL".into(), fake.base_url());
    // SQLite keeps its generated key beside the database; PostgreSQL needs one given.
    if database_url.starts_with("postgres") {
        env.insert("SECRET_KEY".into(), TEST_SECRET_KEY.into());
    }
    env
}

/// A database of the backend for a server process (a fresh PostgreSQL
/// database, or an SQLite file in `dir`); `None` (skipped) as `spawn_app`.
async fn database_url(backend: Backend, dir: &Path) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(format!("sqlite:{}", dir.join("faults.db").display())),
        Backend::Postgres => fresh_postgres_database().await,
    }
}

/// The database of a server process, opened beside it (or after it died)
/// with plain pools: only to read.
async fn open(database_url: &str) -> Db {
    match DbUrl::parse(database_url).unwrap() {
        DbUrl::Sqlite(path) => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            Db::Sqlite(SqlitePools {
                writer: pool.clone(),
                reader: pool,
            })
        }
        DbUrl::Postgres(url) => Db::Postgres(sqlx::PgPool::connect(&url).await.unwrap()),
    }
}

/// Waits for `done`, at most `limit` (a bound, not a measure).
async fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

// ---------------------------------------------------------------------------
// (1) kill -9 in the middle of a load

/// Conversations of the kill test, all under way at once.
const KILLED_LOAD: usize = 200;
/// Webhooks of the kill test under way at once (the 200 conversations
/// take turns): a test machine shared with other tests may be slow to take
/// 200 new connections at once, and the fake gives up connecting after 10 s.
const IN_FLIGHT: usize = 64;
/// Webhooks answered before the kill: about a quarter of the load's, so
/// that most conversations are cut half-way.
const KILL_AFTER: usize = 300;

/// The message at which one person in ten has the answer lost on its way
/// back (see [`send_answer_lost`]).
const LOST_AT: usize = 1;

/// Posts step `step` of `person` as Twilio does, but the answer is lost on
/// its way back (a network cut): Twilio saw none and will send the message
/// again. The status the server answered.
async fn send_answer_lost(url: &str, person: &Person, step: usize) -> Option<u16> {
    let message =
        Inbound::text(&person.phone, TWILIO_NUMBER, &person.texts[step]).sid(&person.sids[step]);
    let signature = signature(DEFAULT_AUTH_TOKEN, url, message.params());
    let res = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", signature)
        .body(message.body())
        .send()
        .await;
    res.ok().map(|r| r.status().as_u16())
}

/// One person's conversation until a webhook is not answered 200 (the
/// server was killed) or, for one person in ten, until the answer to
/// message `LOST_AT` is lost (`lost` gets its sid when the server had
/// answered 200); the step to send again.
async fn until_refused(
    fake: &FakeTwilio,
    url: &str,
    (n, person): (usize, &Person),
    acknowledged: &AtomicUsize,
    log: &Log,
    lost: &Mutex<HashSet<String>>,
    in_flight: &Semaphore,
) -> usize {
    for step in 0..6 {
        let _turn = in_flight.acquire().await.unwrap();
        if n % 10 == 0 && step == LOST_AT {
            let status = send_answer_lost(url, person, step).await;
            // Twilio saw no answer.
            log.lock().unwrap().push(Attempt {
                sid: person.sids[step].clone(),
                status: None,
                phase: 0,
            });
            if status == Some(200) {
                lost.lock().unwrap().insert(person.sids[step].clone());
            }
            return step;
        }
        let status = send(fake, url, person, step).await.status;
        log.lock().unwrap().push(Attempt {
            sid: person.sids[step].clone(),
            status,
            phase: 0,
        });
        if status != Some(200) {
            return step;
        }
        acknowledged.fetch_add(1, Ordering::SeqCst);
    }
    6
}

#[apply(both_backends)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_load_keeps_all_it_acknowledged_and_answers_every_message_once(
    #[case] backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let Some(database_url) = database_url(backend, dir.path()).await else {
        return;
    };
    let fake = patient_twilio().await;
    let env = server_env(&database_url, &fake);
    let mut server = ServerProcess::start(dir.path(), &env).await;
    let people: Vec<Person> = (0..KILLED_LOAD).map(|n| Person::new(1, n)).collect();
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let log: Log = Arc::default();
    let lost: Arc<Mutex<HashSet<String>>> = Arc::default();
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut load = JoinSet::new();
    for (i, person) in people.iter().cloned().enumerate() {
        let (fake, url) = (fake.clone(), server.webhook_url());
        let (acknowledged, log, lost) = (acknowledged.clone(), log.clone(), lost.clone());
        let in_flight = in_flight.clone();
        load.spawn(async move {
            let resume_at = until_refused(
                &fake,
                &url,
                (i, &person),
                &acknowledged,
                &log,
                &lost,
                &in_flight,
            );
            (i, resume_at.await)
        });
    }
    wait_until(Duration::from_secs(120), "the load to get going", || {
        acknowledged.load(Ordering::SeqCst) >= KILL_AFTER
    })
    .await;
    server.kill();
    let mut resume_at = vec![0; people.len()];
    while let Some(done) = load.join_next().await {
        let (i, step) = done.unwrap();
        resume_at[i] = step;
    }
    let before_kill = log.lock().unwrap().clone();
    let cut = resume_at.iter().filter(|&&s| s < 6).count();
    assert!(cut > 0, "the kill came in the middle of the load");

    // The database as the kill left it, before any restart.
    let db = open(&database_url).await;
    let stored = stored_sids(&db).await;
    db.close().await;
    let acked: HashSet<&String> = before_kill
        .iter()
        .filter(|a| a.status == Some(200))
        .map(|a| &a.sid)
        .collect();
    let missing: Vec<&&String> = acked.iter().filter(|s| !stored.contains(**s)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged, then lost in the kill: {missing:?}"
    );
    let lost = lost.lock().unwrap().clone();
    assert!(!lost.is_empty(), "some answers were lost on their way back");
    assert!(
        lost.iter().all(|s| stored.contains(s)),
        "a message the server answered 200 (the answer lost on the way) is stored"
    );
    let unanswered: Vec<&Attempt> = before_kill
        .iter()
        .filter(|a| a.status != Some(200))
        .collect();
    let stored_unanswered = unanswered
        .iter()
        .filter(|a| stored.contains(&a.sid))
        .count();
    let sent: HashSet<&String> = before_kill.iter().map(|a| &a.sid).collect();
    assert!(
        stored.iter().all(|s| sent.contains(s)),
        "only what was sent is stored"
    );

    // Restarted on the same database (same salt; SQLite's key file beside
    // it, PostgreSQL's key given again). Each cut conversation goes on with
    // the message that was not answered, sent again as Twilio retries, then
    // the rest.
    let server = ServerProcess::start(dir.path(), &env).await;
    let mut rest = JoinSet::new();
    for (i, person) in people.iter().cloned().enumerate() {
        let (fake, url, log, from) = (
            fake.clone(),
            server.webhook_url(),
            log.clone(),
            resume_at[i],
        );
        let in_flight = in_flight.clone();
        rest.spawn(async move {
            for step in from..6 {
                let _turn = in_flight.acquire().await.unwrap();
                let answer = send(&fake, &url, &person, step).await;
                log.lock().unwrap().push(Attempt {
                    sid: person.sids[step].clone(),
                    status: answer.status,
                    phase: 1,
                });
                assert_eq!(
                    answer.status,
                    Some(200),
                    "{} step {step} after the restart: {}",
                    person.phone,
                    answer.why
                );
            }
        });
    }
    while let Some(done) = rest.join_next().await {
        done.unwrap();
    }

    let db = open(&database_url).await;
    let config = Config::from_map(&env).expect("the server's environment");
    let flow = twilio_flow(&db, &config).await;
    assert_every_conversation_complete(&db, &people, &flow).await;
    let log = log.lock().unwrap().clone();
    assert_every_reply_sent_once(&fake, &people, &flow);
    // The bot's Twilio replies go in the TwiML answers only: nothing queued
    // to send again, nothing sent through the REST API.
    let queued: i64 = on_db!(&db, p => sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(p).await.unwrap());
    assert_eq!(queued, 0);
    assert!(fake.sent().is_empty(), "{:?}", fake.sent());
    db.close().await;
    eprintln!(
        "kill -9 ({backend:?}): {} webhooks answered before the kill, {} unanswered at it \
         ({stored_unanswered} of them stored, {} of those answered 200 but the answer lost on \
         its way), {cut} conversations cut; after the restart {} more posts",
        acked.len(),
        unanswered.len(),
        lost.len(),
        log.len() - before_kill.len()
    );
}

// ---------------------------------------------------------------------------
// (2) two instances on one PostgreSQL

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn two_instances_taking_turns_on_the_same_conversations_lose_no_update() {
    let Some(a) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let b = a.second_instance().await;
    let fake = patient_twilio().await;
    let urls = [a.webhook_url(), b.webhook_url()];
    let flow = twilio_flow(&a.state.db, &a.config).await;
    let people: Vec<Person> = (0..100).map(|n| Person::new(2, n)).collect();
    let mut load = JoinSet::new();
    for (n, person) in people.iter().cloned().enumerate() {
        let (fake, urls, replies) = (fake.clone(), urls.clone(), person.replies(&flow));
        load.spawn(async move {
            for (step, replies) in replies.into_iter().enumerate() {
                // The conversation moves to the other instance at every
                // message, so each instance's memory of it is always stale.
                let here = &urls[(n + step) % 2];
                let there = &urls[(n + step + 1) % 2];
                if n % 4 == 0 {
                    // One person in four has each message delivered twice at
                    // the same moment, once to each instance: Twilio's retry
                    // racing a first delivery whose answer it gave up on
                    // (only a delivery without answer is retried). Either
                    // may run it; the retry's answer carries its replies.
                    let (lost, retry) = tokio::join!(
                        send_answer_lost(there, &person, step),
                        send(&fake, here, &person, step)
                    );
                    assert_eq!(
                        (lost, retry.status),
                        (Some(200), Some(200)),
                        "{} step {step}: {}",
                        person.phone,
                        retry.why
                    );
                    assert_eq!(retry.texts, replies, "{} step {step}", person.phone);
                } else {
                    let answer = send(&fake, here, &person, step).await;
                    let why = answer.why;
                    assert_eq!(
                        answer.status,
                        Some(200),
                        "{} step {step}: {why}",
                        person.phone
                    );
                    assert_eq!(answer.texts, replies, "{} step {step}", person.phone);
                }
            }
        });
    }
    while let Some(done) = load.join_next().await {
        done.unwrap();
    }
    assert_every_conversation_complete(&a.state.db, &people, &flow).await;
    assert_every_reply_sent_once(&fake, &people, &flow);
}

// ---------------------------------------------------------------------------
// (3) PostgreSQL restarted under load

/// A PostgreSQL cluster of the test's own (`initdb` in a temporary folder,
/// on a free port) that it stops and starts: the machine's shared server,
/// where other tests run at the same moment, is never touched. A real
/// restart rather than a proxy cutting connections, because what is tested
/// is that a commit PostgreSQL acknowledged survives its restart (`fsync`
/// stays on) and that the pool replaces its connections, all dead after it.
struct PrivateCluster {
    bin: PathBuf,
    /// As root, the PostgreSQL programs run as the `postgres` user (they
    /// refuse root).
    as_postgres: bool,
    port: u16,
    dir: tempfile::TempDir,
}

impl PrivateCluster {
    /// Creates and starts the cluster; `None` (skipped, with a note) when
    /// the PostgreSQL server programs are not installed, except under CI.
    fn start() -> Option<PrivateCluster> {
        let Some(bin) = postgres_bin_dir() else {
            let why = "the PostgreSQL server programs (initdb, pg_ctl) are not installed \
                       (Debian: apt-get install postgresql)";
            assert!(!std::env::var("CI").is_ok_and(|v| v == "true"), "{why}");
            eprintln!("PostgreSQL restart test skipped: {why}");
            return None;
        };
        let as_postgres = output_of(Command::new("id").arg("-u")).trim() == "0";
        let dir = tempfile::Builder::new()
            .prefix("faults-pg")
            .tempdir()
            .unwrap();
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        // The port is free now; PostgreSQL takes it a moment later.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = PrivateCluster {
            bin,
            as_postgres,
            port,
            dir,
        };
        // --no-sync only skips initdb's own final flush of the new files:
        // the server itself keeps fsync on.
        run(cluster
            .program("initdb")
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "-D",
            ])
            .arg(cluster.data()));
        let settings = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 40\nfsync = on\nsynchronous_commit = on\n",
            cluster.dir.path().display()
        );
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(cluster.data().join("postgresql.conf"))
            .unwrap()
            .write_all(settings.as_bytes())
            .unwrap();
        cluster.pg_ctl_start();
        Some(cluster)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn program(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> std::process::ExitStatus {
        // No pipes: the server it starts would inherit them.
        self.program("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "60"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("pg_ctl runs")
    }

    fn pg_ctl_start(&self) {
        let status = self.pg_ctl(&["start"]);
        assert!(
            status.success(),
            "PostgreSQL did not start:\n{}",
            self.log()
        );
    }

    /// A fast shutdown: sessions are ended, what was committed is kept.
    fn pg_ctl_stop(&self) {
        let status = self.pg_ctl(&["-m", "fast", "stop"]);
        assert!(status.success(), "PostgreSQL did not stop:\n{}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
    }
}

/// The folder of `initdb` and `pg_ctl`: the newest Debian
/// `/usr/lib/postgresql/N/bin`, else the PATH.
fn postgres_bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((version, bin))
        })
        .collect();
    debian.sort();
    debian.pop().map(|(_, bin)| bin).or_else(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path).find(|d| has_both(d))
    })
}

fn output_of(command: &mut Command) -> String {
    let out = command.output().expect("the command runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run(command: &mut Command) {
    let out = command.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where the PostgreSQL test stands when an answer comes.
const BEFORE: u8 = 0;
/// From the stop until the server is ready again.
const DOWN: u8 = 1;
const AFTER: u8 = 2;

/// One person's conversation through the outage: a message not answered
/// 200 is sent again (as Twilio retries) until it is; a pause between
/// messages, as a person types, keeps the load going before, during and
/// after the outage.
async fn through_outage(
    fake: &FakeTwilio,
    url: &str,
    person: &Person,
    phase: &AtomicU8,
    counts: &[AtomicUsize; 2],
    log: &Log,
) {
    let [acknowledged, refused] = counts;
    let start = Instant::now();
    for step in 0..6 {
        loop {
            let status = send(fake, url, person, step).await.status;
            log.lock().unwrap().push(Attempt {
                sid: person.sids[step].clone(),
                status,
                phase: phase.load(Ordering::SeqCst),
            });
            if status == Some(200) {
                acknowledged.fetch_add(1, Ordering::SeqCst);
                break;
            }
            refused.fetch_add(1, Ordering::SeqCst);
            assert!(
                start.elapsed() < Duration::from_secs(150),
                "{} step {step} still refused",
                person.phone
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_turns_the_server_unready_then_it_recovers_losing_nothing() {
    let Some(cluster) = tokio::task::spawn_blocking(PrivateCluster::start)
        .await
        .unwrap()
    else {
        return;
    };
    let cluster = Arc::new(cluster);
    let dir = tempfile::tempdir().unwrap();
    let fake = patient_twilio().await;
    let env = server_env(&cluster.url(), &fake);
    let server = ServerProcess::start(dir.path(), &env).await;
    let people: Vec<Person> = (0..60).map(|n| Person::new(3, n)).collect();
    let phase = Arc::new(AtomicU8::new(BEFORE));
    let counts: Arc<[AtomicUsize; 2]> = Arc::default();
    let log: Log = Arc::default();
    let mut load = JoinSet::new();
    for (n, person) in people.iter().cloned().enumerate() {
        let (fake, url) = (fake.clone(), server.webhook_url());
        let (phase, counts, log) = (phase.clone(), counts.clone(), log.clone());
        load.spawn(async move {
            // Not all at once.
            tokio::time::sleep(Duration::from_millis(15 * n as u64)).await;
            through_outage(&fake, &url, &person, &phase, &counts, &log).await;
        });
    }
    wait_until(Duration::from_secs(60), "the load to get going", || {
        counts[0].load(Ordering::SeqCst) >= people.len()
    })
    .await;

    phase.store(DOWN, Ordering::SeqCst);
    let stopping = cluster.clone();
    tokio::task::spawn_blocking(move || stopping.pg_ctl_stop())
        .await
        .unwrap();
    // Not ready while PostgreSQL is away.
    let down = Instant::now();
    let unready = loop {
        match server.readyz().await {
            Some(200) => {}
            other => break other,
        }
        assert!(
            down.elapsed() < Duration::from_secs(60),
            "/readyz kept answering 200 with PostgreSQL stopped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        unready,
        Some(503),
        "/readyz says the database is unreachable"
    );
    let refused_before_outage = counts[1].load(Ordering::SeqCst);
    wait_until(
        Duration::from_secs(60),
        "a webhook refused in the outage",
        || counts[1].load(Ordering::SeqCst) > refused_before_outage,
    )
    .await;

    let starting = cluster.clone();
    tokio::task::spawn_blocking(move || starting.pg_ctl_start())
        .await
        .unwrap();
    // Ready again by itself: nothing restarted but PostgreSQL.
    let back = Instant::now();
    while server.readyz().await != Some(200) {
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "/readyz never answered 200 again after PostgreSQL came back:\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    phase.store(AFTER, Ordering::SeqCst);
    while let Some(done) = load.join_next().await {
        done.unwrap();
    }

    let log = log.lock().unwrap().clone();
    let db = open(&cluster.url()).await;
    let stored = stored_sids(&db).await;
    let lost: Vec<&Attempt> = log
        .iter()
        .filter(|a| a.status == Some(200) && !stored.contains(&a.sid))
        .collect();
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");
    let config = Config::from_map(&env).expect("the server's environment");
    let flow = twilio_flow(&db, &config).await;
    // Every refused message was sent again until answered: each is stored
    // whole, once, and its replies sent once (a refusal that had been
    // stored is then a duplicate, answered with them).
    assert_every_conversation_complete(&db, &people, &flow).await;
    assert_every_reply_sent_once(&fake, &people, &flow);
    db.close().await;

    let in_phase = |p: u8, answered: bool| {
        log.iter()
            .filter(|a| a.phase == p && (a.status == Some(200)) == answered)
            .count()
    };
    assert!(in_phase(BEFORE, true) > 0 && in_phase(AFTER, true) > 0);
    let refused = counts[1].load(Ordering::SeqCst);
    assert!(refused > 0);
    eprintln!(
        "PostgreSQL restart: answered 200 before {}, while down {}, after {}; refused while \
         down {} (in all {refused}), first /readyz not ready: {unready:?}",
        in_phase(BEFORE, true),
        in_phase(DOWN, true),
        in_phase(AFTER, true),
        in_phase(DOWN, false),
    );
}
