//! The route table: every route of the app with what it needs, checked by
//! logging in as each built-in role, as a platform administrator, as the
//! administrator of another tenant and as nobody. A route the app serves
//! that is missing here fails the test.

use crate::both_backends;
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::staff::Browser;
use reqwest::StatusCode;
use rstest_reuse::apply;
use uic_inbox::auth::store as auth_store;
use uic_inbox::auth::{BuiltinRole, Permission, Permission::*};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Anyone (webhooks, health, login, static files).
    Public,
    /// Any logged-in staff member.
    LoggedIn,
    /// A permission (held tenant-wide or on the object's account).
    Perm(Permission),
    /// A platform administrator.
    Platform,
}
use Need::*;

/// `(method, path, need, path holds an object of the tenant)`.
const TABLE: &[(&str, &str, Need, bool)] = &[
    ("GET", "/healthz", Public, false),
    ("GET", "/readyz", Public, false),
    ("GET", "/whatsapp/health", Public, false),
    ("GET", "/metrics", Public, false),
    ("POST", "/whatsapp/webhook", Public, false),
    ("GET", "/whatsapp/webhook", Public, false),
    ("GET", "/qr/{token}", Public, false),
    ("POST", "/sandbox/{account}/messages", Public, false),
    ("GET", "/static/{file}", Public, false),
    ("GET", "/login", Public, false),
    ("POST", "/login", Public, false),
    ("POST", "/logout", LoggedIn, false),
    ("GET", "/setup/{token}", Public, false),
    ("POST", "/setup/{token}", Public, false),
    ("GET", "/invite/{token}", Public, false),
    ("POST", "/invite/{token}", Public, false),
    ("GET", "/", LoggedIn, false),
    ("POST", "/accounts/{id}/waiting", Perm(AccountsManage), true),
    ("GET", "/conversations", Perm(ConversationsView), false),
    ("GET", "/conversations/badge", LoggedIn, false),
    ("GET", "/conversations/{id}", Perm(ConversationsView), true),
    (
        "POST",
        "/conversations/{id}/take",
        Perm(ConversationsTakeover),
        true,
    ),
    (
        "POST",
        "/conversations/{id}/queue",
        Perm(ConversationsTakeover),
        true,
    ),
    (
        "POST",
        "/conversations/{id}/release",
        Perm(ConversationsTakeover),
        true,
    ),
    (
        "POST",
        "/conversations/{id}/messages",
        Perm(MessagesSend),
        true,
    ),
    ("GET", "/me", LoggedIn, false),
    ("POST", "/me", LoggedIn, false),
    ("POST", "/me/password", LoggedIn, false),
    ("GET", "/users", Perm(UsersManage), false),
    ("GET", "/users/new", Perm(UsersManage), false),
    ("POST", "/users", Perm(UsersManage), false),
    ("GET", "/users/{id}", Perm(UsersManage), true),
    ("POST", "/users/{id}/disable", Perm(UsersManage), true),
    ("POST", "/users/{id}/enable", Perm(UsersManage), true),
    ("POST", "/users/{id}/link", Perm(UsersManage), true),
    ("POST", "/users/{id}/roles", Perm(UsersManage), true),
    (
        "POST",
        "/users/{id}/roles/{assignment}/delete",
        Perm(UsersManage),
        true,
    ),
    ("POST", "/users/{id}/overrides", Perm(UsersManage), true),
    (
        "POST",
        "/users/{id}/overrides/{override_id}/delete",
        Perm(UsersManage),
        true,
    ),
    ("GET", "/roles", Perm(RolesManage), false),
    ("GET", "/roles/new", Perm(RolesManage), false),
    ("POST", "/roles", Perm(RolesManage), false),
    ("GET", "/roles/{id}", Perm(RolesManage), true),
    ("POST", "/roles/{id}", Perm(RolesManage), true),
    ("POST", "/roles/{id}/delete", Perm(RolesManage), true),
    ("GET", "/accounts", Perm(AccountsView), false),
    ("POST", "/accounts", Perm(AccountsManage), false),
    ("GET", "/accounts/{id}", Perm(AccountsView), true),
    ("POST", "/accounts/{id}/flow", Perm(AccountsManage), true),
    ("POST", "/accounts/{id}/channel", Perm(AccountsManage), true),
    ("POST", "/accounts/{id}/token", Perm(TokensManage), true),
    (
        "POST",
        "/accounts/{id}/token/rollback",
        Perm(TokensManage),
        true,
    ),
    (
        "POST",
        "/accounts/{id}/token/exchange",
        Perm(TokensManage),
        true,
    ),
    (
        "POST",
        "/accounts/{id}/token/check",
        Perm(TokensManage),
        true,
    ),
    (
        "POST",
        "/accounts/{id}/channel/test",
        Perm(TokensManage),
        true,
    ),
    (
        "GET",
        "/accounts/{id}/channel/verify-token",
        Perm(TokensManage),
        true,
    ),
    ("GET", "/uic", Perm(UicLookup), false),
    ("GET", "/uic/collisions", Perm(UicReview), false),
    ("GET", "/uic/collisions/{id}", Perm(UicReview), true),
    ("POST", "/uic/collisions/{id}", Perm(UicReview), true),
    ("GET", "/reports", Perm(ReportsView), false),
    ("GET", "/reports/figures.csv", Perm(UicExport), false),
    ("GET", "/reports/monthly.csv", Perm(UicExport), false),
    ("GET", "/reports/registrations.csv", Perm(UicExport), false),
    ("GET", "/dhis2", Perm(Dhis2View), false),
    ("POST", "/dhis2/retry", Perm(Dhis2Manage), false),
    ("POST", "/dhis2/jobs/{id}/retry", Perm(Dhis2Manage), true),
    (
        "POST",
        "/dhis2/registrations/{id}/decision",
        Perm(Dhis2Manage),
        true,
    ),
    ("POST", "/accounts/{id}/dhis2", Perm(Dhis2Manage), true),
    ("POST", "/accounts/{id}/dhis2/test", Perm(Dhis2Manage), true),
    ("GET", "/audit", Perm(AuditView), false),
    ("GET", "/simulator", Perm(SimulatorUse), false),
    ("GET", "/simulator/{account}", Perm(SimulatorUse), true),
    ("POST", "/simulator/{account}", Perm(SimulatorUse), true),
    (
        "POST",
        "/simulator/{account}/reset",
        Perm(SimulatorUse),
        true,
    ),
    ("GET", "/simulator/{account}/live", Perm(SimulatorUse), true),
    (
        "GET",
        "/simulator/{account}/staff",
        Perm(SimulatorUse),
        true,
    ),
    ("GET", "/live", Perm(ConversationsView), false),
    ("GET", "/settings", Perm(SettingsManage), false),
    ("POST", "/settings", Perm(SettingsManage), false),
    ("GET", "/tenants", Platform, false),
    ("POST", "/tenants", Platform, false),
    ("POST", "/tenants/{id}/switch", Platform, true),
];

#[derive(Debug, Clone, Copy)]
enum Subject {
    Nobody,
    Role(BuiltinRole),
    PlatformAdmin,
    /// The administrator of another tenant.
    Stranger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Forbidden,
    NotFound,
    /// 403 or a redirect to the login page.
    Denied,
}

fn expected(subject: Subject, need: Need, tenant_object: bool) -> Outcome {
    use Outcome::*;
    match (subject, need) {
        (_, Public) => Allowed,
        (Subject::Nobody, _) => Denied,
        (_, LoggedIn) => Allowed,
        (Subject::PlatformAdmin, _) => Allowed,
        (_, Platform) => Forbidden,
        (Subject::Stranger, Perm(_)) if tenant_object => NotFound,
        (Subject::Stranger, Perm(_)) => Allowed,
        (Subject::Role(r), Perm(p)) if r.permissions().contains(&p) => Allowed,
        (Subject::Role(_), Perm(_)) => Forbidden,
    }
}

/// Objects of the tenant under test, fresh for each subject (some routes
/// delete them).
struct Fixtures {
    user: i64,
    assignment: i64,
    override_id: i64,
    role: i64,
    account: i64,
    tenant: i64,
    conversation: i64,
    /// A failed DHIS-2 sync job, and a registration held for a decision.
    failed_job: i64,
    held_registration: i64,
}

async fn fixtures(app: &TestApp, tenant: i64, n: usize) -> Fixtures {
    let db = &app.state.db;
    let user = app
        .staff_user(
            tenant,
            &format!("target{n}@ngo.example"),
            Some(BuiltinRole::Observer),
            None,
        )
        .await;
    let assignment =
        auth_store::assignments_of(db, &crate::helpers::users_manager(user.tenant_id), user.id)
            .await
            .unwrap()[0]
            .id;
    auth_store::set_override(
        db,
        &crate::helpers::users_manager(user.tenant_id),
        user.id,
        Permission::UicLookup,
        None,
        false,
    )
    .await
    .unwrap();
    let override_id =
        auth_store::overrides_of(db, &crate::helpers::users_manager(user.tenant_id), user.id)
            .await
            .unwrap()[0]
            .id;
    let role = auth_store::create_role(
        db,
        &crate::helpers::access(tenant, uic_inbox::auth::Permission::RolesManage),
        &format!("Relais {n}"),
        "",
        &[ConversationsView],
    )
    .await
    .unwrap()
    .unwrap();
    let account = uic_inbox::tenancy::store::find_by_slug(db, "sandbox")
        .await
        .unwrap()
        .unwrap()
        .id;
    let phone = format!("+24399070{n:04}");
    let now = time::OffsetDateTime::now_utc();
    uic_inbox::inbox::store::create(db, tenant, account, &phone, None, now)
        .await
        .unwrap();
    let conversation: i64 = uic_inbox::on_db!(db, p => sqlx::query_scalar(
        "SELECT cv.id FROM conversations cv JOIN contacts c ON c.id = cv.contact_id WHERE c.phone = $1")
        .bind(&phone).fetch_one(p).await.unwrap());
    let age = time::Duration::minutes(1);
    let failed = Some(("E1018", "Attribute is mandatory"));
    let (_, failed_job) = crate::dhis2_pages::insert_job(
        app,
        tenant,
        account,
        &format!("WRFAIL{n:04}"),
        "failed",
        failed,
        age,
    )
    .await;
    let held = Some(("E1064", "Non-unique"));
    let (held_registration, _) = crate::dhis2_pages::insert_job(
        app,
        tenant,
        account,
        &format!("WRHELD{n:04}"),
        "held",
        held,
        age,
    )
    .await;
    Fixtures {
        failed_job,
        held_registration,
        conversation,
        user: user.id,
        assignment,
        override_id,
        role,
        account,
        tenant,
    }
}

fn concrete(path: &str, f: &Fixtures) -> String {
    let with_ids = |p: &str| {
        p.replace("{assignment}", &f.assignment.to_string())
            .replace("{override_id}", &f.override_id.to_string())
    };
    let p = if path.starts_with("/users/") {
        with_ids(&path.replace("{id}", &f.user.to_string()))
    } else if path.starts_with("/roles/") {
        path.replace("{id}", &f.role.to_string())
    } else if path.starts_with("/accounts/") {
        path.replace("{id}", &f.account.to_string())
    } else if path.starts_with("/conversations/") {
        path.replace("{id}", &f.conversation.to_string())
    } else if path.starts_with("/dhis2/jobs/") {
        path.replace("{id}", &f.failed_job.to_string())
    } else if path.starts_with("/dhis2/registrations/") || path.starts_with("/uic/collisions/") {
        path.replace("{id}", &f.held_registration.to_string())
    } else if path.starts_with("/tenants/") {
        path.replace("{id}", &f.tenant.to_string())
    } else if path.starts_with("/sandbox/") {
        path.replace("{account}", "sandbox")
    } else {
        path.replace("{account}", &f.account.to_string())
            .replace("{token}", "0123abcd")
            .replace("{file}", "nothing-here.js")
    };
    assert!(!p.contains('{'), "no fixture for {path}");
    p
}

fn outcome(status: StatusCode, login_redirect: bool) -> Outcome {
    if login_redirect {
        return Outcome::Denied;
    }
    match status {
        StatusCode::FORBIDDEN => Outcome::Forbidden,
        StatusCode::NOT_FOUND => Outcome::NotFound,
        s if s.is_server_error() => panic!("server error {s}"),
        _ => Outcome::Allowed,
    }
}

/// Requests come in this order: reads, then changes, then the ones that
/// remove what others use, logout last.
fn order(method: &str, path: &str) -> u8 {
    match (method, path) {
        ("POST", "/logout") => 4,
        ("POST", p) if p.ends_with("/delete") || p.ends_with("/switch") => 3,
        ("POST", _) => 2,
        _ => 1,
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn every_route_answers_as_the_table_says(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    // Every route served is in the table, and the table has no stale entry.
    let served = uic_inbox::route_table();
    for (method, path) in &served {
        assert!(
            TABLE.iter().any(|(m, p, ..)| m == method && p == path),
            "{method} {path} is served but not in the route table: add it with the permission it needs"
        );
    }
    for (method, path, ..) in TABLE {
        assert!(
            served.contains(&(*method, *path)),
            "{method} {path} is in the table but not served"
        );
    }

    let tenant = app.default_tenant().await;
    let other = uic_inbox::tenancy::store::ensure_tenant(&app.state.db, "other-ngo", "Other")
        .await
        .unwrap();
    let subjects = [
        Subject::Nobody,
        Subject::Role(BuiltinRole::Administrator),
        Subject::Role(BuiltinRole::Supervisor),
        Subject::Role(BuiltinRole::Agent),
        Subject::Role(BuiltinRole::Observer),
        Subject::PlatformAdmin,
        Subject::Stranger,
    ];
    let mut routes: Vec<_> = TABLE.to_vec();
    routes.sort_by_key(|(m, p, ..)| order(m, p));
    let mut failures = Vec::new();
    for (n, subject) in subjects.into_iter().enumerate() {
        let f = fixtures(&app, tenant, n).await;
        let email = format!("subject{n}@ngo.example");
        let mut b: Browser = match subject {
            Subject::Nobody => app.browser(),
            Subject::Role(r) => {
                app.staff_user(tenant, &email, Some(r), None).await;
                app.login(&email).await
            }
            Subject::PlatformAdmin => {
                let u = app.staff_user(tenant, &email, None, None).await;
                app.make_platform_admin(u.id).await;
                app.login(&email).await
            }
            Subject::Stranger => {
                app.staff_user(other, &email, Some(BuiltinRole::Administrator), None)
                    .await;
                app.login(&email).await
            }
        };
        // Nobody still needs a token for the public forms.
        b.get("/login").await;
        if !matches!(subject, Subject::Nobody) {
            b.get("/").await;
        }
        for (method, path, need, object) in &routes {
            let url = concrete(path, &f);
            let page = if *method == "GET" {
                b.get(&url).await
            } else {
                b.post(&url, &[]).await
            };
            let logout = (*method, *path) == ("POST", "/logout");
            let got = if logout && page.location.as_deref() == Some("/login") {
                // Logging out ends at the login page.
                Outcome::Allowed
            } else {
                outcome(page.status, page.is_login_redirect())
            };
            let want = expected(subject, *need, *object);
            let ok = match (want, need) {
                // A public route answers for itself (a bad token is its own
                // 403 or 404); it never asks for a login.
                (_, Public) => !page.is_login_redirect(),
                // Logging out without a session changes nothing and lands on
                // the login page too.
                (Outcome::Denied, _) if logout => page.location.as_deref() == Some("/login"),
                (Outcome::Denied, _) => matches!(got, Outcome::Denied | Outcome::Forbidden),
                _ => got == want,
            };
            if !ok {
                failures.push(format!(
                    "{subject:?} {method} {url}: expected {want:?}, got {got:?} ({})",
                    page.status
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
