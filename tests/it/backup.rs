//! `deploy/backup.sh`: a backup taken while the bot is busy restores into a
//! fresh database holding every message acknowledged and every code given
//! before it started; old backups are rotated out; a wrong `DATABASE_URL`
//! fails without printing its password.

use crate::both_backends;
use crate::helpers::*;
use rstest_reuse::apply;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use uic_inbox::db::DbUrl;
use uic_inbox::on_db;

/// The password of a database URL that leads nowhere.
const WRONG_URL_PASSWORD: &str = "backup-wrong-url-pw-7f3a";

/// At least this many people go through the five questions; the load goes
/// on past them while the backup runs.
const PEOPLE: usize = 60;
/// Conversations at once.
const CONCURRENCY: usize = 6;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/backup.sh")
}

/// Runs `deploy/backup.sh` with only PATH and `env` in its environment.
fn backup_sh(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(script());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("deploy/backup.sh runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether every program is on PATH. Under CI a missing one fails the
/// test (CI installs them); elsewhere the test is skipped, saying why.
fn tools_present(programs: &[&str]) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| !std::env::split_paths(&path).any(|d| d.join(p).is_file()))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "{} not installed (Debian: apt-get install postgresql-client sqlite3)",
        missing.join(", ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    eprintln!("backup test skipped: {why}");
    false
}

fn tools_for(backend: Backend) -> bool {
    match backend {
        Backend::Sqlite => tools_present(&["sqlite3", "tar"]),
        Backend::Postgres => tools_present(&["pg_dump", "pg_restore"]),
    }
}

/// An app whose SQLite salt is the generated file beside the database (not
/// `UIC_SALT`), so that the backup has to carry it.
async fn app_with_salt_file(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |c| {
        if backend == Backend::Sqlite {
            c.uic_salt = None;
        }
    })
    .await
}

fn database_url(app: &TestApp) -> String {
    match &app.config.database_url {
        DbUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
        DbUrl::Postgres(url) => url.clone(),
    }
}

fn sid(n: usize) -> String {
    format!("SM{n:032x}")
}

fn phone(person: usize) -> String {
    format!("+24382{person:07}")
}

/// The messages of person `person` (a greeting and the five answers) and
/// the code they give: a last name of its own for every person.
fn conversation(person: usize) -> ([String; 6], String) {
    let letter = |n: usize| char::from(b'A' + (n % 26) as u8);
    let last = format!(
        "{}{}{}",
        letter(person / 676),
        letter(person / 26),
        letter(person)
    );
    let year_digit = person % 10;
    let gender = 1 + person % 2;
    let code = format!("{last}IBR{year_digit}KN{gender}");
    (
        [
            "Bonjour".into(),
            last,
            "Ibrahima".into(),
            format!("198{year_digit}"),
            "KN".into(),
            gender.to_string(),
        ],
        code,
    )
}

/// The code in the bot's last answer.
fn code_in(reply: &str) -> Option<String> {
    let after = reply.split("=====\n").nth(1)?;
    Some(after.split('\n').next()?.to_string())
}

/// What the load saw, split at the backup's start and end.
#[derive(Default)]
struct Load {
    /// Set just before the backup starts, and when it has finished.
    backup_started: AtomicBool,
    backup_finished: AtomicBool,
    next_person: AtomicUsize,
    acknowledged: AtomicUsize,
    codes_given: AtomicUsize,
    /// Message ids answered 200 before the backup started.
    acked_before: Mutex<Vec<String>>,
    /// (person, code) given before the backup started.
    codes_before: Mutex<Vec<(usize, String)>>,
    /// Message ids first sent after the backup had finished.
    sent_after: Mutex<Vec<String>>,
}

/// One worker of the load: people one after the other, until [`PEOPLE`]
/// have been served and the backup is over.
async fn drive(app: Arc<TestApp>, load: Arc<Load>) {
    loop {
        let finished = load.backup_finished.load(SeqCst);
        let person = load.next_person.fetch_add(1, SeqCst);
        // A bound for a backup that never ends (it fails the test below).
        if (person >= PEOPLE && finished) || person >= 20 * PEOPLE {
            return;
        }
        let (messages, code) = conversation(person);
        let mut last = String::new();
        for (j, text) in messages.iter().enumerate() {
            let id = sid(person * 10 + j);
            if load.backup_finished.load(SeqCst) {
                load.sent_after.lock().unwrap().push(id.clone());
            }
            // Panics unless the webhook answers 200.
            last = app.twilio_say(&phone(person), &id, text).await;
            // Read after the answer: false means the answer came before the
            // backup started.
            if !load.backup_started.load(SeqCst) {
                load.acked_before.lock().unwrap().push(id);
            }
            load.acknowledged.fetch_add(1, SeqCst);
        }
        let given = code_in(&last);
        assert_eq!(
            given.as_deref(),
            Some(code.as_str()),
            "person {person}: {last}"
        );
        if !load.backup_started.load(SeqCst) {
            load.codes_before.lock().unwrap().push((person, code));
        }
        load.codes_given.fetch_add(1, SeqCst);
    }
}

/// The one file of `dir` named like a finished backup.
fn only_backup(dir: &Path) -> PathBuf {
    let found = backups_in(dir);
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

/// Every file of `dir`, sorted.
fn backups_in(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    all
}

/// Restores `backup` into a fresh database: a new PostgreSQL database with
/// `pg_restore --no-owner`, or the archive unpacked in a new directory.
async fn restore(app: &TestApp, backup: &Path, into: &Path) -> DbUrl {
    match &app.config.database_url {
        DbUrl::Postgres(_) => {
            let admin = postgres_admin_url().expect("a PostgreSQL test has TEST_DATABASE_URL");
            let url = create_postgres_database(&admin).await;
            let out = Command::new("pg_restore")
                .args(["--no-owner", "--exit-on-error", "--dbname"])
                .arg(&url)
                .arg(backup)
                .output()
                .unwrap();
            assert!(out.status.success(), "pg_restore: {}", text(&out.stderr));
            DbUrl::Postgres(url)
        }
        DbUrl::Sqlite(original) => {
            let out = Command::new("tar")
                .arg("-xzf")
                .arg(backup)
                .arg("-C")
                .arg(into)
                .output()
                .unwrap();
            assert!(out.status.success(), "tar: {}", text(&out.stderr));
            for file in ["uic-salt", "secret-key"] {
                assert!(into.join(file).is_file(), "{file} is in the backup");
            }
            DbUrl::Sqlite(into.join(original.file_name().unwrap()))
        }
    }
}

async fn strings(app: &TestApp, sql: &str) -> HashSet<String> {
    let rows: Vec<Option<String>> =
        on_db!(&app.state.db, p => sqlx::query_scalar(sql).fetch_all(p).await.unwrap());
    rows.into_iter().flatten().collect()
}

#[apply(both_backends)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_every_acknowledged_message_and_code(
    #[case] backend: Backend,
) {
    if !tools_for(backend) {
        return;
    }
    let Some(app) = app_with_salt_file(backend).await else {
        return;
    };
    let app = Arc::new(app);
    let load = Arc::new(Load::default());
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        workers.spawn(drive(app.clone(), load.clone()));
    }

    // The backup starts once the load is well under way (some people have
    // their code) and the load goes on while it runs.
    while load.acknowledged.load(SeqCst) < 15 * CONCURRENCY || load.codes_given.load(SeqCst) < 1 {
        if let Some(done) = workers.try_join_next() {
            done.expect("a load worker");
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(&app);
    let target = dir.path().join("backups");
    load.backup_started.store(true, SeqCst);
    let out = tokio::task::spawn_blocking({
        let target = target.clone();
        move || backup_sh(&[("DATABASE_URL", &url)], &[target.to_str().unwrap()])
    })
    .await
    .unwrap();
    load.backup_finished.store(true, SeqCst);
    let during = load.acknowledged.load(SeqCst);
    workers.join_all().await;
    assert!(
        out.status.success(),
        "backup.sh: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    eprintln!(
        "backup taken with {} messages acknowledged, {during} by its end, {} in all",
        load.acked_before.lock().unwrap().len(),
        load.acknowledged.load(SeqCst)
    );

    let backup = only_backup(&target);
    let restored_dir = tempfile::tempdir().unwrap();
    let restored_url = restore(&app, &backup, restored_dir.path()).await;
    // The server starts on it: migrations recognised, the salt's
    // fingerprint matched, the stored Twilio credential opened by the key.
    let restored = app
        .second_instance_with(|c| c.database_url = restored_url)
        .await;
    assert_eq!(restored.get("/readyz").await.status(), 200);

    let messages = strings(
        &restored,
        "SELECT provider_message_id FROM messages WHERE direction = 'in'",
    )
    .await;
    let acked_before = load.acked_before.lock().unwrap().clone();
    assert!(!acked_before.is_empty());
    let lost: Vec<&String> = acked_before
        .iter()
        .filter(|id| !messages.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages missing from the restore: {lost:?}",
        lost.len(),
        acked_before.len()
    );
    // And it is the backup, not the live database: nothing sent after the
    // backup ended is in it.
    let later: Vec<String> = load
        .sent_after
        .lock()
        .unwrap()
        .iter()
        .filter(|id| messages.contains(*id))
        .cloned()
        .collect();
    assert!(later.is_empty(), "sent after the backup: {later:?}");

    let codes = strings(&restored, "SELECT uic FROM uic_registrations").await;
    let codes_before = load.codes_before.lock().unwrap().clone();
    assert!(!codes_before.is_empty());
    for (person, code) in &codes_before {
        assert!(
            codes.contains(code),
            "person {person}'s code {code} missing from the restore"
        );
    }

    // A person from before the backup comes back to the restored server:
    // the same code, and the same registration seen again from the same
    // phone (the salt came along), not a collision.
    let (person, code) = codes_before[0].clone();
    let (messages, _) = conversation(person);
    let mut last = String::new();
    for (j, text) in ["RECOMMENCER"]
        .into_iter()
        .chain(messages[1..].iter().map(String::as_str))
        .enumerate()
    {
        last = restored
            .twilio_say(&phone(person), &sid(1_000_000 + j), text)
            .await;
    }
    assert_eq!(code_in(&last).as_deref(), Some(code.as_str()), "{last}");
    let rows = uic_inbox::registry::store::find(
        &restored.state.db,
        &uic_inbox::uic::Uic::parse(&code).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            rows.len(),
            rows[0].times_seen,
            rows[0].phones,
            rows[0].collision_status.as_str()
        ),
        (1, 2, 1, "none")
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn only_the_newest_keep_backups_are_kept(#[case] backend: Backend) {
    if !tools_for(backend) {
        return;
    }
    let Some(app) = app_with_salt_file(backend).await else {
        return;
    };
    app.twilio_say("+243990000001", &sid(1), "Bonjour").await;
    let dir = tempfile::tempdir().unwrap();
    // The server's own env file, as an operator's timer would give it.
    let env_file = dir.path().join("uic-inbox.env");
    std::fs::write(
        &env_file,
        format!(
            "# the server's settings\nexport DATABASE_URL=\"{}\"\nKEEP=2\n",
            database_url(&app)
        ),
    )
    .unwrap();
    let target = dir.path().join("backups");
    let mut written = Vec::new();
    for _ in 0..4 {
        let out = backup_sh(
            &[],
            &[
                "--env-file",
                env_file.to_str().unwrap(),
                target.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let said = text(&out.stdout);
        let path = said
            .lines()
            .find_map(|l| l.strip_prefix("backup: wrote "))
            .and_then(|l| l.split(" (").next())
            .unwrap_or_else(|| panic!("says what it wrote: {said}"));
        written.push(PathBuf::from(path));
    }
    assert_eq!(backups_in(&target), written[2..].to_vec());

    // --keep wins over the file's KEEP.
    let out = backup_sh(
        &[],
        &[
            "--keep",
            "1",
            "--env-file",
            env_file.to_str().unwrap(),
            target.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(backups_in(&target).len(), 1);
}

#[test]
fn a_wrong_database_url_fails_with_a_clear_message_and_no_password() {
    if !tools_present(&["pg_dump", "sqlite3"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("backups");
    let target = target.to_str().unwrap();

    let unreachable = format!("postgres://uic:{WRONG_URL_PASSWORD}@127.0.0.1:1/uic");
    let out = backup_sh(&[("DATABASE_URL", &unreachable)], &[target]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("pg_dump of postgres://uic:***@127.0.0.1:1/uic failed"),
        "{said}"
    );
    assert!(!said.contains(WRONG_URL_PASSWORD), "{said}");
    assert_eq!(backups_in(Path::new(target)), Vec::<PathBuf>::new());

    let missing = dir.path().join("data/uic-inbox.db");
    let out = backup_sh(
        &[("DATABASE_URL", &format!("sqlite:{}", missing.display()))],
        &[target],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!("no SQLite database at {}", missing.display())),
        "{}",
        text(&out.stderr)
    );
    assert!(!missing.exists(), "no empty database is created");

    let out = backup_sh(
        &[(
            "DATABASE_URL",
            &format!("mysql://uic:{WRONG_URL_PASSWORD}@db/uic"),
        )],
        &[target],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("unsupported database 'mysql'"), "{err}");
    assert!(!err.contains(WRONG_URL_PASSWORD), "{err}");

    let out = backup_sh(&[], &[target]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("DATABASE_URL is not set"),
        "{}",
        text(&out.stderr)
    );
}
