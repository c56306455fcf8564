//! The `uic-inbox` command: configuration errors, salt, migrations, lookups.

use std::process::{Command, Output};

fn uic_inbox(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_uic-inbox"));
    cmd.current_dir(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_configuration_stops_the_start_with_one_line_per_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = uic_inbox(
        dir.path(),
        &[
            ("PORT", "http"),
            ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/x"),
            ("TWILIO_AUTH_TOKEN", "secret-token-value"),
        ],
        &["serve"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("4 problem(s)"), "{err}");
    assert!(
        err.lines().any(|l| l
            .trim_start()
            .starts_with("- SECRET_KEY: required with PostgreSQL")),
        "{err}"
    );
    assert!(
        err.lines().any(|l| l.trim_start().starts_with("- PORT:")),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.trim_start().starts_with("- UIC_SALT:")),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.contains("TWILIO_ACCOUNT_SID, TWILIO_WHATSAPP_NUMBER missing")),
        "{err}"
    );
    assert!(!err.contains("secret-token-value"));
}

#[test]
fn the_prototype_env_file_is_read_from_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "DATABASE_URL=sqlite+aiosqlite:///./data/proto.db\nLOG_LEVEL=WARNING\n",
    )
    .unwrap();
    let out = uic_inbox(dir.path(), &[], &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("data/proto.db").exists());
}

#[test]
fn salt_prints_a_fresh_random_salt() {
    let dir = tempfile::tempdir().unwrap();
    let a = String::from_utf8(uic_inbox(dir.path(), &[], &["salt"]).stdout).unwrap();
    let b = String::from_utf8(uic_inbox(dir.path(), &[], &["salt"]).stdout).unwrap();
    assert_eq!(a.trim().len(), 64);
    assert!(a.trim().bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}

#[test]
fn a_changed_salt_is_refused_and_a_generated_one_is_kept_private() {
    let dir = tempfile::tempdir().unwrap();
    // First use without UIC_SALT: the salt is generated beside the database.
    let out = uic_inbox(dir.path(), &[], &["uic", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let salt_file = dir.path().join("data/uic-salt");
    let salt = std::fs::read_to_string(&salt_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&salt_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // The same salt given explicitly is accepted; another one is refused.
    let out = uic_inbox(dir.path(), &[("UIC_SALT", salt.trim())], &["uic", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = uic_inbox(
        dir.path(),
        &[("UIC_SALT", "another-salt-entirely-0000")],
        &["uic", "list"],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("UIC_SALT does not match"), "{err}");
    assert!(
        !err.contains(salt.trim()) && !err.contains("another-salt-entirely"),
        "the salt itself is never printed: {err}"
    );
}

#[test]
fn secret_key_generate_prints_a_fresh_key_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let a = uic_inbox(dir.path(), &[], &["secret-key", "generate"]);
    assert!(a.status.success(), "{}", stderr(&a));
    let a = String::from_utf8(a.stdout).unwrap();
    let b =
        String::from_utf8(uic_inbox(dir.path(), &[], &["secret-key", "generate"]).stdout).unwrap();
    assert_eq!(a.len(), 65, "{a:?}");
    assert!(a.trim_end().bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
    // What it prints is a key the server accepts.
    let out = uic_inbox(dir.path(), &[("SECRET_KEY", a.trim())], &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_bad_secret_key_stops_the_start_with_what_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["too-short-key-value", &"g".repeat(64), &"ab".repeat(40)] {
        let out = uic_inbox(dir.path(), &[("SECRET_KEY", bad)], &["serve"]);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(
            err.contains("- SECRET_KEY: must be 32 random bytes written as 64 hex characters or as base64; make one with `uic-inbox secret-key generate`"),
            "{err}"
        );
        assert!(!err.contains(bad), "{err}");
    }
}

#[test]
fn the_generated_key_file_is_private_and_rotate_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let twilio = [
        ("TWILIO_ACCOUNT_SID", "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
        ("TWILIO_AUTH_TOKEN", "cli-twilio-token-0123456789"),
        ("TWILIO_WHATSAPP_NUMBER", "+14155238886"),
    ];
    let out = uic_inbox(dir.path(), &twilio, &["uic", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key_file = dir.path().join("data/secret-key");
    let first = std::fs::read_to_string(&key_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let out = uic_inbox(dir.path(), &[], &["secret-key", "rotate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        said.contains("re-encrypted 1 stored credential(s)"),
        "{said}"
    );
    let second = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(first, second);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("data/secret-key.previous")).unwrap(),
        first
    );
    assert!(!dir.path().join("data/secret-key.next").exists());
    // With SECRET_KEY set, the key file still opens what it sealed.
    let out = uic_inbox(
        dir.path(),
        &[("SECRET_KEY", &"ab".repeat(32))],
        &["uic", "list"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Without the key files, the stored credential names the key it needs.
    std::fs::remove_file(dir.path().join("data/secret-key.previous")).unwrap();
    std::fs::remove_file(&key_file).unwrap();
    let out = uic_inbox(
        dir.path(),
        &[("SECRET_KEY", &"ab".repeat(32))],
        &["uic", "list"],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    let id = uic_inbox::secrets::keys::parse_key(&second).unwrap().id();
    assert!(err.contains(&format!("sealed under key {id}")), "{err}");
}

#[test]
fn uic_show_refuses_a_malformed_code_and_reports_an_unknown_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = uic_inbox(dir.path(), &[], &["uic", "show", "MBE"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("n'est pas un CIU valide"),
        "{}",
        stderr(&out)
    );
    let out = uic_inbox(dir.path(), &[], &["uic", "show", "mbeibr7da1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("MBEIBR7DA1 is not registered"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn admin_create_prints_a_one_time_setup_link() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DATABASE_URL", "sqlite:data/admin.db"),
        ("PUBLIC_URL", "https://inbox.example.org"),
    ];
    let first = uic_inbox(dir.path(), &env, &["admin", "create"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let out = String::from_utf8_lossy(&first.stdout).into_owned();
    let link = out
        .lines()
        .find(|l| l.starts_with("https://inbox.example.org/setup/"))
        .unwrap_or_else(|| panic!("no link in {out}"));
    let token = link.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 64, "{link}");
    // Each run gives another link; none is a password.
    let second = uic_inbox(dir.path(), &env, &["admin", "create"]);
    let out2 = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(!out2.contains(token));
    assert!(!out.to_lowercase().contains("password:"));
}

#[test]
fn an_empty_database_prints_a_setup_link_at_start() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_uic-inbox"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("LOG_FORMAT", "pretty")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut found = None;
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(20)) {
        if line.contains("/setup/") {
            found = Some(line);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = found.expect("a setup link in the log");
    assert!(line.contains("first administrator"), "{line}");
    assert!(line.contains("http://127.0.0.1:"), "{line}");
    assert!(
        !line.contains(":0/setup/"),
        "the link names the port listened on: {line}"
    );
}

#[tokio::test]
async fn dhis2_check_tests_each_numbers_settings_and_retry_requeues() {
    use crate::fakes::dhis2::*;
    let fake = FakeDhis2::start_standard(Version::V2_40).await;
    let dir = tempfile::tempdir().unwrap();
    let base = fake.base_url();
    let env = |program: &'static str| -> Vec<(&'static str, String)> {
        vec![
            (
                "TWILIO_ACCOUNT_SID",
                "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".into(),
            ),
            (
                "TWILIO_AUTH_TOKEN",
                "0123456789abcdef0123456789abcdef".into(),
            ),
            ("TWILIO_WHATSAPP_NUMBER", "whatsapp:+14155238886".into()),
            ("DHIS2_URL", base.clone()),
            ("DHIS2_TOKEN", STANDARD_PAT_TOKEN.into()),
            ("DHIS2_PROGRAM", program.into()),
            ("DHIS2_TRACKED_ENTITY_TYPE", PERSON_TYPE.into()),
            ("DHIS2_ORG_UNIT", ORG_UNIT.into()),
            ("DHIS2_UIC_ATTRIBUTE", ATTR_UIC.into()),
            ("DHIS2_LAST_NAME_ATTRIBUTE", ATTR_LAST.into()),
            ("DHIS2_FIRST_NAME_ATTRIBUTE", ATTR_FIRST.into()),
            ("DHIS2_BIRTH_YEAR_ATTRIBUTE", ATTR_YEAR.into()),
        ]
    };
    let run = |vars: Vec<(&'static str, String)>, args: &'static [&'static str]| {
        let path = dir.path().to_path_buf();
        async move {
            tokio::task::spawn_blocking(move || {
                let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
                uic_inbox(&path, &vars, args)
            })
            .await
            .unwrap()
        }
    };
    let out = run(env(PROGRAM), &["dhis2", "check"]).await;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{said}{}", stderr(&out));
    assert!(
        said.lines()
            .any(|l| l.starts_with("twilio") && l.contains(" ok ") && l.contains("2.40.2")),
        "{said}"
    );
    assert!(!said.contains(STANDARD_PAT_TOKEN));

    let out = run(
        env("Zz9NoSuchPr"),
        &["dhis2", "check", "--account", "twilio"],
    )
    .await;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}{}", stderr(&out));
    assert!(
        said.contains("problem") && said.contains("Zz9NoSuchPr"),
        "{said}"
    );

    let out = run(env(PROGRAM), &["dhis2", "check", "--account", "nope"]).await;
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("\"nope\""), "{}", stderr(&out));

    let out = run(env(PROGRAM), &["dhis2", "retry"]).await;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{said}{}", stderr(&out));
    assert!(
        said.contains("0 failed registration(s) requeued."),
        "{said}"
    );
}

/// The environment of a Twilio number (`twilio`), on the SQLite database
/// `data/cli.db` of the working directory.
const TWILIO_ENV: &[(&str, &str)] = &[
    ("DATABASE_URL", "sqlite:data/cli.db"),
    ("TWILIO_ACCOUNT_SID", "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    ("TWILIO_AUTH_TOKEN", CLI_TWILIO_AUTH_TOKEN),
    ("TWILIO_WHATSAPP_NUMBER", "whatsapp:+14155238886"),
];
const CLI_TWILIO_AUTH_TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// The database the command wrote, opened beside it.
async fn cli_db(dir: &std::path::Path) -> sqlx::SqlitePool {
    let out = uic_inbox(dir, TWILIO_ENV, &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The first start makes the tenant and its numbers.
    let out = uic_inbox(dir, TWILIO_ENV, &["uic", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    sqlx::SqlitePool::connect(&format!("sqlite:{}", dir.join("data/cli.db").display()))
        .await
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The value of a figure in `report monthly`'s table, for every number.
fn all_numbers(table: &str, figure: &str, question: Option<u8>) -> Option<String> {
    table.lines().find_map(|l| {
        let cells: Vec<&str> = l.split_whitespace().collect();
        let wanted: Vec<String> = ["(all)".to_string(), figure.to_string()]
            .into_iter()
            .chain(question.map(|q| q.to_string()))
            .collect();
        (cells.len() == wanted.len() + 1 && cells[..wanted.len()] == wanted[..])
            .then(|| cells[wanted.len()].to_string())
    })
}

#[tokio::test]
async fn report_monthly_prints_a_months_figures_and_refuses_a_bad_month_or_number() {
    use time::macros::datetime;
    let dir = tempfile::tempdir().unwrap();
    let pool = cli_db(dir.path()).await;
    let (tenant, twilio): (i64, i64) =
        sqlx::query_as("SELECT tenant_id, id FROM whatsapp_accounts WHERE slug = 'twilio'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let sandbox: i64 =
        sqlx::query_scalar("SELECT id FROM whatsapp_accounts WHERE provider = 'sandbox' LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    let now = datetime!(2026-11-10 10:00 UTC);
    let conversation = |account: i64, phone: &'static str| {
        let pool = pool.clone();
        async move {
            let contact: i64 = sqlx::query_scalar(
                "INSERT INTO contacts (tenant_id, account_id, phone, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(tenant).bind(account).bind(phone).bind(now)
            .fetch_one(&pool).await.unwrap();
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO conversations (tenant_id, account_id, contact_id, flow_state, last_message_at, created_at, updated_at)
                 VALUES ($1, $2, $3, '{}', $4, $4, $4) RETURNING id",
            )
            .bind(tenant).bind(account).bind(contact).bind(now)
            .fetch_one(&pool).await.unwrap();
            id
        }
    };
    let a = conversation(twilio, "+243810000001").await;
    let b = conversation(twilio, "+243810000002").await;
    let s = conversation(sandbox, "+243810000003").await;
    // (conversation, account, test data, started, outcome, question,
    // reached, invalid answers at question 2, reason)
    type Run = (
        i64,
        i64,
        bool,
        time::OffsetDateTime,
        &'static str,
        Option<i16>,
        i16,
        i16,
        Option<&'static str>,
    );
    let runs: [Run; 7] = [
        (
            a,
            twilio,
            false,
            datetime!(2026-11-02 09:00 UTC),
            "completed",
            None,
            5,
            2,
            None,
        ),
        (
            a,
            twilio,
            false,
            datetime!(2026-11-20 09:00 UTC),
            "completed",
            None,
            5,
            1,
            None,
        ),
        (
            b,
            twilio,
            false,
            datetime!(2026-11-05 09:00 UTC),
            "escalated",
            Some(2),
            2,
            0,
            Some("requested"),
        ),
        (
            b,
            twilio,
            false,
            datetime!(2026-11-30 23:50 UTC),
            "left",
            Some(3),
            3,
            0,
            None,
        ),
        // Not in November, test data, a sandbox number: never counted.
        (
            b,
            twilio,
            false,
            datetime!(2026-10-31 23:59 UTC),
            "completed",
            None,
            5,
            0,
            None,
        ),
        (
            b,
            twilio,
            true,
            datetime!(2026-11-03 09:00 UTC),
            "completed",
            None,
            5,
            0,
            None,
        ),
        (
            s,
            sandbox,
            false,
            datetime!(2026-11-03 09:00 UTC),
            "completed",
            None,
            5,
            0,
            None,
        ),
    ];
    for (c, account, test, started, outcome, question, reached, invalid, reason) in runs {
        sqlx::query(
            "INSERT INTO flow_runs (tenant_id, account_id, conversation_id, test_data, started_at, ended_at,
                outcome, resumed, question, reached, invalid_2, escalation_reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8, $9, $10, $11)",
        )
        .bind(tenant).bind(account).bind(c).bind(test).bind(started)
        .bind(started + time::Duration::minutes(5)).bind(outcome).bind(question).bind(reached)
        .bind(invalid).bind(reason)
        .execute(&pool).await.unwrap();
    }
    pool.close().await;

    let out = uic_inbox(
        dir.path(),
        TWILIO_ENV,
        &["report", "monthly", "--month", "2026-11"],
    );
    let said = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{said}{}", stderr(&out));
    assert!(said.contains("2026-11-01 to 2026-11-30"), "{said}");
    assert!(
        said.contains("NUMBER") && said.contains("QUESTION"),
        "{said}"
    );
    for (figure, question, value) in [
        ("runs_started", None, "4"),
        ("runs_completed", None, "2"),
        ("runs_escalated", None, "1"),
        ("runs_left", None, "1"),
        ("escalations_requested", None, "1"),
        ("escalations_unanswered", None, "1"),
        ("invalid_answers", Some(2), "3"),
        ("left_at", Some(3), "1"),
        ("escalated_at", Some(2), "1"),
        ("reached", Some(3), "3"),
        ("median_completion_seconds", None, "300"),
    ] {
        assert_eq!(
            all_numbers(&said, figure, question).as_deref(),
            Some(value),
            "{figure} {question:?}: {said}"
        );
    }
    // The sandbox number has no line of its own.
    assert!(!said.contains("andbox"), "{said}");

    // One number, as CSV: the export's lines.
    let out = uic_inbox(
        dir.path(),
        TWILIO_ENV,
        &[
            "report",
            "monthly",
            "--month",
            "2026-11",
            "--account",
            "twilio",
            "--format",
            "csv",
        ],
    );
    let csv = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{csv}{}", stderr(&out));
    assert!(
        csv.starts_with("from,to,number,figure,question,value\n"),
        "{csv}"
    );
    assert!(
        csv.contains("2026-11-01,2026-11-30,(all),runs_completed,,2\n"),
        "{csv}"
    );
    assert!(
        csv.contains("2026-11-01,2026-11-30,(all),invalid_answers,2,3\n"),
        "{csv}"
    );

    // October: the run started on its last minute.
    let out = uic_inbox(
        dir.path(),
        TWILIO_ENV,
        &["report", "monthly", "--month", "2026-10"],
    );
    assert_eq!(
        all_numbers(&stdout(&out), "runs_completed", None).as_deref(),
        Some("1")
    );

    // Refused, with what was wrong, nothing printed on stdout.
    let long = "9".repeat(10_000);
    for (args, said) in [
        (
            vec!["--month", "2026-13"],
            "--month \"2026-13\": not a month",
        ),
        (vec!["--month", ""], "YYYY-MM"),
        (vec!["--month", "nov"], "YYYY-MM"),
        (vec!["--month", "2026-11-01"], "YYYY-MM"),
        (vec!["--month", &long], "YYYY-MM"),
        (vec!["--account", "nope"], "\"nope\""),
        (vec!["--account", &long], "no number has the slug"),
        (vec!["--tenant", "nope"], "no tenant has the slug \"nope\""),
        (vec!["--format", "xml"], "xml"),
    ] {
        let mut all = vec!["report", "monthly"];
        all.extend(&args);
        let out = uic_inbox(dir.path(), TWILIO_ENV, &all);
        let short: Vec<&str> = args.iter().map(|a| &a[..a.len().min(20)]).collect();
        assert_eq!(out.status.code(), Some(2), "{short:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(said), "{short:?}: {}", stderr(&out));
        assert!(
            stderr(&out).len() < 1_000,
            "{short:?}: the input is not echoed whole"
        );
        assert!(stdout(&out).is_empty(), "{short:?}");
    }
}

#[tokio::test]
async fn uic_list_goes_through_the_registrations_a_page_at_a_time() {
    use time::macros::datetime;
    let dir = tempfile::tempdir().unwrap();
    let pool = cli_db(dir.path()).await;
    let (tenant, twilio): (i64, i64) =
        sqlx::query_as("SELECT tenant_id, id FROM whatsapp_accounts WHERE slug = 'twilio'")
            .fetch_one(&pool)
            .await
            .unwrap();
    // Seven real codes seen a day apart (the last the most recent), and a
    // test one, never listed.
    for i in 0..8i64 {
        let seen = datetime!(2026-11-01 10:00 UTC) + time::Duration::days(i);
        sqlx::query(
            "INSERT INTO uic_registrations (tenant_id, uic, last_part, first_part, year_digit, city, gender,
                first_account_id, times_seen, collision_status, first_seen_at, last_seen_at, test_data)
             VALUES ($1, $2, 'MBE', 'IBR', 7, 'KN', 1, $3, 1, 'none', $4, $4, $5)",
        )
        .bind(tenant).bind(format!("MBEIBR7KN{i}")).bind(twilio).bind(seen).bind(i == 7)
        .execute(&pool).await.unwrap();
    }
    pool.close().await;
    let page = |args: &[&str]| {
        let mut all = vec!["uic", "list"];
        all.extend(args);
        uic_inbox(dir.path(), TWILIO_ENV, &all)
    };
    let codes = |o: &Output| -> Vec<String> {
        stdout(o)
            .lines()
            .filter(|l| l.starts_with("MBEIBR"))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    let first = page(&["--per-page", "3"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(codes(&first), ["MBEIBR7KN6", "MBEIBR7KN5", "MBEIBR7KN4"]);
    assert!(
        stdout(&first).contains("page 1 of 3 (7 registrations)"),
        "{}",
        stdout(&first)
    );
    let last = page(&["--per-page", "3", "--page", "3"]);
    assert_eq!(codes(&last), ["MBEIBR7KN0"]);
    assert!(stdout(&last).contains("page 3 of 3 (7 registrations)"));
    // The default: 50 a page.
    let all = page(&[]);
    assert_eq!(codes(&all).len(), 7);
    assert!(stdout(&all).contains("page 1 of 1 (7 registrations)"));
    // Past the end, or out of bounds: refused with the reason.
    let out = page(&["--per-page", "3", "--page", "4"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("3 page(s) of 3 (7 registrations)"),
        "{}",
        stderr(&out)
    );
    for args in [
        ["--page", "0"],
        ["--per-page", "1001"],
        ["--per-page", "0"],
        ["--page", "x"],
    ] {
        let out = page(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let help = stdout(&page(&["--help"]));
    assert!(
        help.contains("--page") && help.contains("--per-page"),
        "{help}"
    );
}
