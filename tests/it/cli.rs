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
