//! Arbitrary strings into every text field of every staff form, both
//! webhooks and the sandbox: never a 5xx, the server stays healthy, and no
//! message of a Meta batch is lost.
//!
//! The forms are not listed by hand: the test walks the staff pages as a
//! platform administrator and fills in every form it finds, so a form added
//! later is covered without anyone remembering to add it here.

use crate::both_backends;
use crate::fakes::meta::{WebhookBuilder, signed_webhook};
use crate::helpers::*;
use crate::meta::{APP_SECRET, DISPLAY, PNID, meta_app};
use crate::staff::Browser;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use rstest_reuse::apply;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use uic_inbox::auth::BuiltinRole;
use uic_inbox::on_db;

/// One form of a page: where it goes and the names of its fields.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FormSpec {
    method: String,
    action: String,
    fields: Vec<String>,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].replace("&amp;", "&"))
}

/// The forms of a page, with their field names (hidden ones included,
/// except the CSRF token, which stays right).
fn forms_of(html: &str) -> Vec<FormSpec> {
    let mut out = Vec::new();
    for part in html.split("<form").skip(1) {
        let Some(open_end) = part.find('>') else {
            continue;
        };
        let open = &part[..open_end];
        let body = part.split("</form>").next().unwrap_or("");
        let fields: BTreeSet<String> = ["<input", "<textarea", "<select"]
            .iter()
            .flat_map(|t| body.split(t).skip(1))
            .filter_map(|tag| attr(&tag[..tag.find('>').unwrap_or(tag.len())], "name"))
            .filter(|n| n != "_csrf")
            .collect();
        out.push(FormSpec {
            method: attr(open, "method").unwrap_or_else(|| "get".into()),
            action: attr(open, "action").unwrap_or_default(),
            fields: fields.into_iter().collect(),
        });
    }
    out
}

fn links_of(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|p| p.split('"').next())
        .filter(|h| h.starts_with('/') && !h.starts_with("//"))
        .map(|h| h.replace("&amp;", "&"))
        .collect()
}

/// Forms that end the session or leave the tenant, and forms with no field
/// to fill (buttons: disable, delete…), are not posted.
fn worth_posting(f: &FormSpec) -> bool {
    !f.fields.is_empty() && f.action != "/logout" && !f.action.ends_with("/switch")
}

/// Every form reachable from the home page.
async fn crawl(browser: &mut Browser) -> Vec<FormSpec> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from(["/".to_string()]);
    let mut forms = BTreeMap::new();
    while let Some(path) = queue.pop_front() {
        if seen.len() >= 80 || !seen.insert(path.clone()) {
            continue;
        }
        let page = browser.get(&path).await;
        if page.status != 200 {
            continue;
        }
        for f in forms_of(&page.body) {
            if worth_posting(&f) {
                forms.insert((f.method.clone(), f.action.clone()), f);
            }
        }
        for link in links_of(&page.body) {
            let skip = ["/static/", "/qr/", "/logout"]
                .iter()
                .any(|p| link.starts_with(p));
            if !skip && !seen.contains(&link) {
                queue.push_back(link);
            }
        }
    }
    forms.into_values().collect()
}

/// Strings an attacker would send: anything at all, control characters,
/// 10,000 characters, right-to-left text, emoji.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\x7f]{1,8}",
        Just("\0".to_string()),
        Just("Bon\0jour\r\n\u{1b}[31m\u{7f}".to_string()),
        Just("é".repeat(10_000)),
        Just("\u{202e}مرحبا بالعالم\u{202c} שלום".to_string()),
        Just("👩🏽‍⚕️🇨🇩 \u{fe0f}\u{200d}".to_string()),
        Just("<script>alert(1)</script>' OR 1=1 --".to_string()),
    ]
}

/// The whole world of one backend: the server with a Meta account, and a
/// platform administrator's browser with every form found.
struct World {
    app: TestApp,
    _fake: crate::fakes::meta::FakeMeta,
    admin: tokio::sync::Mutex<Browser>,
    forms: Vec<FormSpec>,
    setup_path: String,
    next_id: std::sync::atomic::AtomicUsize,
}

async fn world(backend: Backend) -> Option<World> {
    let (app, fake) = meta_app(backend, true).await?;
    let tenant = app.default_tenant().await;
    let user = app
        .staff_user(
            tenant,
            "admin@ngo.example",
            Some(BuiltinRole::Administrator),
            None,
        )
        .await;
    app.make_platform_admin(user.id).await;
    let mut admin = app.login("admin@ngo.example").await;
    let forms = crawl(&mut admin).await;
    // The pages the property test must reach, so that a broken crawl
    // cannot pass by posting nothing.
    for action in ["/me", "/roles", "/users", "/accounts", "/tenants", "/audit"] {
        assert!(
            forms.iter().any(|f| f.action == action),
            "no form found for {action}: {forms:#?}"
        );
    }
    assert!(forms.iter().any(|f| f.action.starts_with("/simulator/")));
    assert!(forms.iter().any(|f| f.action.ends_with("/flow")));
    let link =
        uic_inbox::auth::setup::first_admin_link(&app.state.db, &app.state.config, app.port())
            .await
            .unwrap();
    let setup_path = link[link.find("/setup/").unwrap()..].to_string();
    Some(World {
        app,
        _fake: fake,
        admin: tokio::sync::Mutex::new(admin),
        forms,
        setup_path,
        next_id: std::sync::atomic::AtomicUsize::new(0),
    })
}

fn check(status: u16, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(status < 500, "{} answered {}", what, status);
    Ok(())
}

/// A form's fields all set to `value`, encoded; with `broken_utf8`, the
/// first one ends with bytes that are not UTF-8 (a UTF-16 surrogate's,
/// which a browser never sends but a client can).
fn encoded_form(form: &FormSpec, value: &str, broken_utf8: bool) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for f in &form.fields {
        s.append_pair(f, value);
    }
    let mut body = s.finish();
    if broken_utf8 && !form.fields.is_empty() {
        let first_end = body.find('&').unwrap_or(body.len());
        body.insert_str(first_end, "%ED%A0%80");
    }
    body
}

async fn one_case(w: &World, value: String, broken: bool) -> Result<(), TestCaseError> {
    let app = &w.app;
    let n = w.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);

    // Every staff form, logged in.
    let mut admin = w.admin.lock().await;
    for form in &w.forms {
        let page = if form.method == "get" {
            // A URL has a length limit of its own (the client's): a query
            // string gets the first 1,000 characters.
            let short: String = value.chars().take(1000).collect();
            let encoded = encoded_form(form, &short, broken);
            admin.get(&format!("{}?{encoded}", form.action)).await
        } else {
            let encoded = encoded_form(form, &value, broken);
            admin.post_encoded(&form.action, &encoded).await
        };
        check(
            page.status.as_u16(),
            &format!("{} {}", form.method, form.action),
        )?;
        prop_assert!(
            !page.is_login_redirect(),
            "{} ended the session",
            form.action
        );
    }
    drop(admin);
    // The forms seen before login.
    let mut visitor = app.browser();
    let login = visitor
        .post(
            "/login",
            &[("email", &value), ("password", &value), ("next", &value)],
        )
        .await;
    check(login.status.as_u16(), "POST /login")?;
    let setup = visitor
        .post(
            &w.setup_path,
            &[
                ("email", &value),
                ("name", &value),
                ("password", &value),
                ("confirm", &value),
            ],
        )
        .await;
    check(setup.status.as_u16(), "POST /setup")?;

    // Twilio, signed.
    let from = format!("whatsapp:+2439900{n:05}");
    let to = format!("whatsapp:{TWILIO_NUMBER}");
    let sid = format!("SMprop{n}");
    let mut params = twilio_params(&sid, &from, &to, &value);
    params.retain(|(k, _)| *k != "ProfileName");
    params.push(("ProfileName", value.clone()));
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    check(
        app.twilio_post(&params, TWILIO_TOKEN)
            .await
            .status()
            .as_u16(),
        "Twilio",
    )?;

    // The sandbox: the text as sent, and with an escaped lone surrogate.
    let json = serde_json::json!({"from": format!("+2438800{n:05}"), "text": value}).to_string();
    for body in [
        json.clone(),
        json.replacen("\"text\":\"", "\"text\":\"\\ud800", 1),
    ] {
        let res = app
            .client
            .post(format!("{}/sandbox/sandbox/messages", app.address))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        check(res.status().as_u16(), "sandbox")?;
    }

    // Meta: [good, hostile (text and profile name), good]: both good ones
    // are stored, and the hostile one is stored or kept as a dead letter.
    let phone = |k: usize| format!("24377{:07}", n * 3 + k);
    let wamid = |k: usize| format!("wamid.prop{n}.{k}");
    let body = WebhookBuilder::new()
        .text(PNID, DISPLAY, &phone(0), &wamid(0), "Bonjour")
        .text(PNID, DISPLAY, &phone(1), &wamid(1), &value)
        .with_contact_name(&value)
        .text(PNID, DISPLAY, &phone(2), &wamid(2), "Bonjour")
        .build_string();
    let with_surrogate = body.replacen("Bonjour", "Bon\\udc00jour", 1);
    for body in [body, with_surrogate] {
        let res = signed_webhook(&app.address, APP_SECRET, body.as_bytes()).await;
        check(res.status().as_u16(), "Meta webhook")?;
        prop_assert_eq!(res.status().as_u16(), 200);
    }
    for k in 0..3 {
        let id = wamid(k);
        let stored: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE provider_message_id = $1").bind(&id).fetch_one(p).await.unwrap());
        let dead: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM webhook_dead_letters WHERE body LIKE $1").bind(format!("%\"{id}\"%")).fetch_one(p).await.unwrap());
        if k == 1 {
            prop_assert_eq!(stored + dead.min(1), 1, "{} lost", id);
        } else {
            prop_assert_eq!(stored, 1, "{} lost", id);
        }
    }

    let health = app.get("/healthz").await.status().as_u16();
    prop_assert_eq!(health, 200);
    let ready = app.get("/readyz").await.status().as_u16();
    prop_assert_eq!(ready, 200);
    Ok(())
}

#[apply(both_backends)]
#[test]
fn arbitrary_strings_in_every_form_and_webhook_never_break_the_server(#[case] backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(w) = rt.block_on(world(backend)) else {
        return;
    };
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..RunnerConfig::default()
    });
    let result = runner.run(&(hostile(), any::<bool>()), |(value, broken)| {
        rt.block_on(one_case(&w, value, broken))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
