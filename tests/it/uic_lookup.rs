//! The registry's lookup (issue 15's lookup page reads it): one code or
//! the codes that start with a beginning, only the access's tenant and
//! numbers, never test data.

use crate::both_backends;
use crate::dhis2_sync::queue_registrations;
use crate::helpers::*;
use rstest_reuse::apply;
use uic_inbox::auth::{Actor, Permission, Scope};
use uic_inbox::on_db;
use uic_inbox::registry::store::lookup;
use uic_inbox::uic::lookup::{Query, parse};
use uic_inbox::uic::{Gender, Uic, UicParts};

#[apply(both_backends)]
#[tokio::test]
async fn a_lookup_finds_a_code_or_a_beginning_within_the_access_and_never_test_data(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let db = &app.state.db;
    // Ten real codes on the Twilio number (AAA…, BAA…, CAA…).
    let codes = queue_registrations(db, 10).await;
    // The same first letters as test data on the sandbox number.
    let sandbox: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT id FROM whatsapp_accounts WHERE slug = 'sandbox'").fetch_one(p).await.unwrap());
    let parts = UicParts {
        last: "AAA".into(),
        first: "ZZZ".into(),
        year_digit: 1,
        city: "KI".into(),
        gender: Gender::from_digit(2).unwrap(),
    };
    let test_code = Uic::from_parts(&parts);
    let mut tx = db.begin().await.unwrap();
    uic_inbox::registry::store::record_issue(
        &mut tx,
        1,
        sandbox,
        &test_code,
        &parts,
        "hash-test",
        true,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let all = Actor::operator(1)
        .require(Permission::UicLookup, Scope::Tenant)
        .unwrap();
    let first = &codes[0];
    let found = lookup(db, &all, &parse(&first.to_lowercase()), 50)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(&found[0].uic, first);
    assert_eq!(found[0].phones, 1);
    assert_eq!(found[0].times_seen, 1);

    // A beginning: every real code that starts with it, in order, and not
    // the test code that starts the same way.
    let prefix = &first[..3];
    let Query::Prefix(_) = parse(prefix) else {
        panic!("{prefix} is a prefix");
    };
    let found = lookup(db, &all, &parse(prefix), 50).await.unwrap();
    let expected: Vec<&String> = codes.iter().filter(|c| c.starts_with(prefix)).collect();
    assert!(!expected.is_empty());
    assert_eq!(found.iter().map(|f| &f.uic).collect::<Vec<_>>(), expected);
    assert!(found.iter().all(|f| f.uic != test_code.as_str()));
    let found = lookup(db, &all, &parse(test_code.as_str()), 50)
        .await
        .unwrap();
    assert!(found.is_empty(), "test data is never found");

    // Offered codes and refused text look nothing up.
    assert!(
        lookup(db, &all, &parse("MBE1BR7DA1"), 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        lookup(db, &all, &parse("'; --"), 50)
            .await
            .unwrap()
            .is_empty()
    );

    // An access to the sandbox number only, another tenant's: nothing.
    let sandbox_only = Actor::operator(1)
        .require(Permission::UicLookup, Scope::Account(sandbox))
        .unwrap();
    assert!(
        lookup(db, &sandbox_only, &parse(first), 50)
            .await
            .unwrap()
            .is_empty()
    );
    let other = uic_inbox::tenancy::store::ensure_tenant(db, "other-ngo", "Other")
        .await
        .unwrap();
    let elsewhere = Actor::operator(other)
        .require(Permission::UicLookup, Scope::Tenant)
        .unwrap();
    assert!(
        lookup(db, &elsewhere, &parse(first), 50)
            .await
            .unwrap()
            .is_empty()
    );
    // Another permission's access is refused.
    let wrong = Actor::operator(1)
        .require(Permission::Dhis2View, Scope::Tenant)
        .unwrap();
    assert!(lookup(db, &wrong, &parse(first), 50).await.is_err());
}

#[apply(both_backends)]
#[tokio::test]
async fn the_lookup_page_finds_forgives_offers_and_audits(#[case] backend: Backend) {
    use uic_inbox::auth::BuiltinRole;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let codes = queue_registrations(&app.state.db, 3).await;
    let code = &codes[0];
    let mut supervisor = app
        .logged_in("sup@ngo.example", BuiltinRole::Supervisor)
        .await;
    // Lower case and spaces forgiven.
    let typed = format!("{} {}", code[..5].to_lowercase(), &code[5..]);
    let q: String = form_urlencoded::byte_serialize(typed.as_bytes()).collect();
    let page = supervisor.get(&format!("/uic?q={q}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!("<code>{code}</code>")),
        "{}",
        page.body
    );
    // Its DHIS-2 state (a supervisor has dhis2.view) and its conversations.
    assert!(page.body.contains("en attente"), "{}", page.body);
    assert!(page.body.contains(&format!("/conversations?q={code}")));
    // A look-alike is offered, not looked up.
    // Its year digit is 0 (`queue_registrations`): typed as the letter O.
    assert_eq!(&code[6..7], "0");
    let mistyped = format!("{}O{}", &code[..6], &code[7..]);
    let page = supervisor.get(&format!("/uic?q={mistyped}")).await;
    assert!(page.body.contains("Vouliez-vous dire"), "{}", page.body);
    assert!(
        page.body.contains(&format!("/uic?q={code}")),
        "{}",
        page.body
    );
    // Refused text: said (NUL bytes are refused before any handler with a
    // 400), never a 500, nothing looked up.
    for bad in ["ab", "%00%00%00", "MB3", &"Z".repeat(10_000)] {
        let page = supervisor.get(&format!("/uic?q={bad}")).await;
        assert!(
            page.status == 200 || page.status == 400,
            "{bad}: {}",
            page.status
        );
        assert!(!page.body.contains("<table>"), "{bad}");
    }
    let page = supervisor.get("/uic?q=ab").await;
    assert!(page.body.contains("au moins 3 caractères"), "{}", page.body);
    // Each lookup audited with the code or beginning, not the text typed.
    let audited: Vec<String> = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT target FROM audit_log WHERE action = 'uic.lookup' ORDER BY id").fetch_all(p).await.unwrap());
    assert_eq!(audited, [format!("uic:{code}")]);
    // An observer has no uic.lookup.
    let mut observer = app
        .logged_in("obs@ngo.example", BuiltinRole::Observer)
        .await;
    assert_eq!(observer.get(&format!("/uic?q={code}")).await.status, 403);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_code_lists_its_later_phones_codes_and_a_lettered_code_only_itself(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let db = &app.state.db;
    let twilio: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT id FROM whatsapp_accounts WHERE slug = 'twilio'").fetch_one(p).await.unwrap());
    let base = Uic::parse("MBEIBR7DA1").unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut tx = db.begin().await.unwrap();
    for (code, hash) in [
        ("MBEIBR7DA1", "hash-a"),
        ("MBEIBR7DA1B", "hash-b"),
        ("MBEIBR7DA1C", "hash-c"),
        // The next code: not one of them.
        ("MBEIBR7DA2", "hash-d"),
    ] {
        let uic = Uic::parse(code).unwrap();
        uic_inbox::registry::store::record_issue(
            &mut tx,
            1,
            twilio,
            &uic,
            &base.parts(),
            hash,
            false,
            now,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let all = Actor::operator(1)
        .require(Permission::UicLookup, Scope::Tenant)
        .unwrap();
    let codes = |found: Vec<uic_inbox::registry::store::Found>| {
        found.into_iter().map(|f| f.uic).collect::<Vec<_>>()
    };
    assert_eq!(
        codes(lookup(db, &all, &parse("mbeibr7da1"), 50).await.unwrap()),
        ["MBEIBR7DA1", "MBEIBR7DA1B", "MBEIBR7DA1C"]
    );
    assert_eq!(
        codes(lookup(db, &all, &parse("MBEIBR7DA1 c"), 50).await.unwrap()),
        ["MBEIBR7DA1C"]
    );
    assert_eq!(
        codes(lookup(db, &all, &parse("MBEIBR7DA"), 50).await.unwrap()),
        ["MBEIBR7DA1", "MBEIBR7DA1B", "MBEIBR7DA1C", "MBEIBR7DA2"]
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn a_found_code_names_its_numbers_and_links_its_conversations_with_the_phone_masked_without_contacts_view(
    #[case] backend: Backend,
) {
    use crate::dhis2_sync::{ANSWERS, register};
    use uic_inbox::auth::BuiltinRole;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let phone = "+243990000777";
    register(&app, phone, ANSWERS).await;
    let (conversation, number): (i64, String) = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT c.id, a.name FROM conversations c JOIN whatsapp_accounts a ON a.id = c.account_id
         WHERE c.uic = 'MBEIBR7DA1'").fetch_one(p).await.unwrap());
    let mut supervisor = app
        .logged_in("sup@ngo.example", BuiltinRole::Supervisor)
        .await;
    let page = supervisor.get("/uic?q=MBEIBR7DA1").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!("<td>{number}</td>")),
        "{}",
        page.body
    );
    let link = format!(
        "<a href=\"/conversations/{conversation}\" class=\"uic-conversation\">{number} · {phone}</a>"
    );
    assert!(page.body.contains(&link), "{link} in {}", page.body);
    // An agent: the conversation, not the phone number.
    let mut agent = app.logged_in("agent@ngo.example", BuiltinRole::Agent).await;
    let page = agent.get("/uic?q=MBEIBR7DA1").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(&format!("href=\"/conversations/{conversation}\""))
    );
    assert!(!page.body.contains("990000777"), "{}", page.body);
}
