//! Access as a value (issue 11): storage functions take the `Access` a
//! permission check returned and never reach another tenant's rows, refuse
//! an access checked for something else, and the constraints the code
//! assumes hold in the schema when two requests race.

use crate::both_backends;
use crate::helpers::{Backend, access, spawn_app};
use rstest_reuse::apply;
use uic_inbox::auth::store::{self as auth_store, UserChange};
use uic_inbox::auth::{AccessError, Actor, BuiltinRole, Permission, Scope};
use uic_inbox::tenancy::{FlowSettings, Provider, store as accounts};

#[apply(both_backends)]
#[tokio::test]
async fn storage_never_reaches_another_tenants_rows(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let db = &app.state.db;
    let mine = app.default_tenant().await;
    let theirs = accounts::ensure_tenant(db, "ong-b", "ONG B").await.unwrap();
    let their_account = app
        .account_in(theirs, "programme-b", Provider::Sandbox, None, None)
        .await;
    let their_user = app
        .staff_user(theirs, "b@ngo.example", Some(BuiltinRole::Agent), None)
        .await;
    let their_role = auth_store::builtin_role_id(db, theirs, BuiltinRole::Observer)
        .await
        .unwrap()
        .unwrap();
    let my_user = app
        .staff_user(mine, "a@ngo.example", Some(BuiltinRole::Agent), None)
        .await;
    let my_role = auth_store::builtin_role_id(db, mine, BuiltinRole::Observer)
        .await
        .unwrap()
        .unwrap();

    let users = access(mine, Permission::UsersManage);
    assert!(
        auth_store::find_user_in(db, &users, their_user.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        auth_store::assignments_of(db, &users, their_user.id)
            .await
            .unwrap()
            .is_empty()
    );
    // Their user, their role, their account: each is not found.
    for (user, role, account) in [
        (their_user.id, my_role, None),
        (my_user.id, their_role, None),
        (my_user.id, my_role, Some(their_account.id)),
    ] {
        assert_eq!(
            auth_store::assign(db, &users, user, role, account)
                .await
                .unwrap(),
            UserChange::NotFound
        );
    }
    assert_eq!(
        auth_store::set_override(
            db,
            &users,
            their_user.id,
            Permission::UicLookup,
            None,
            false
        )
        .await
        .unwrap(),
        UserChange::NotFound
    );
    assert_eq!(
        auth_store::set_disabled(db, &users, their_user.id, true)
            .await
            .unwrap(),
        UserChange::NotFound
    );
    let their_assignment =
        auth_store::assignments_of(db, &access(theirs, Permission::UsersManage), their_user.id)
            .await
            .unwrap()[0]
            .id;
    assert_eq!(
        auth_store::unassign(db, &users, their_user.id, their_assignment)
            .await
            .unwrap(),
        UserChange::NotFound
    );
    assert!(
        auth_store::user_link(db, &users, their_user.id, time::Duration::hours(1))
            .await
            .unwrap()
            .is_none()
    );
    let roles = access(mine, Permission::RolesManage);
    assert!(
        auth_store::find_role(db, &roles, their_role)
            .await
            .unwrap()
            .is_none()
    );

    let view = access(mine, Permission::AccountsView);
    assert!(
        accounts::find_account(db, &view, their_account.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !accounts::list_accounts(db, &view)
            .await
            .unwrap()
            .iter()
            .any(|a| a.tenant_id != mine)
    );
    let manage = access(mine, Permission::AccountsManage);
    assert!(
        !accounts::update_flow_settings(db, &manage, their_account.id, &FlowSettings::default())
            .await
            .unwrap()
    );
    let tokens = access(mine, Permission::TokensManage);
    assert!(
        accounts::update_channel(
            db,
            &app.state.secrets,
            &tokens,
            their_account.id,
            Provider::Meta,
            &Default::default()
        )
        .await
        .unwrap()
        .is_none()
    );
    // Nothing of theirs changed.
    let after = accounts::find_by_id(db, their_account.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.provider(), Provider::Sandbox);
    assert_eq!(
        auth_store::find_user(db, their_user.id)
            .await
            .unwrap()
            .unwrap()
            .disabled_at,
        None
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn an_access_checked_for_something_else_is_refused(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let db = &app.state.db;
    let tenant = app.default_tenant().await;
    let view = access(tenant, Permission::AccountsView);
    assert!(matches!(
        auth_store::list_users(db, &view).await,
        Err(AccessError::Denied(_))
    ));
    assert!(matches!(
        accounts::privacy_settings(db, &view).await,
        Err(AccessError::Denied(_))
    ));
    let sandbox = accounts::find_by_slug(db, "sandbox")
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        accounts::update_flow_settings(db, &view, sandbox.id, &FlowSettings::default()).await,
        Err(AccessError::Denied(_))
    ));
    // An access for one account is not one for the whole tenant.
    let one = Actor::operator(tenant)
        .require(Permission::UsersManage, Scope::Account(sandbox.id))
        .unwrap();
    assert!(matches!(
        auth_store::list_users(db, &one).await,
        Err(AccessError::Denied(_))
    ));
}

#[apply(both_backends)]
#[tokio::test]
async fn a_role_given_twice_at_once_is_given_once(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let db = &app.state.db;
    let tenant = app.default_tenant().await;
    let user = app.staff_user(tenant, "a@ngo.example", None, None).await;
    let role = auth_store::builtin_role_id(db, tenant, BuiltinRole::Agent)
        .await
        .unwrap()
        .unwrap();
    let users = access(tenant, Permission::UsersManage);
    let mut tries = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (db, users) = (db.clone(), users.clone());
        tries.spawn(async move { auth_store::assign(&db, &users, user.id, role, None).await });
    }
    let results: Vec<_> = tries.join_all().await;
    let done = results
        .iter()
        .filter(|r| matches!(r, Ok(UserChange::Done)))
        .count();
    assert_eq!(done, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(UserChange::Done | UserChange::Unchanged))),
        "{results:?}"
    );
    assert_eq!(
        auth_store::assignments_of(db, &users, user.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn two_tenants_creating_one_slug_never_overwrite_each_other(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let db = &app.state.db;
    let a = app.default_tenant().await;
    let b = accounts::ensure_tenant(db, "ong-b", "ONG B").await.unwrap();
    let (in_a, in_b) = (
        access(a, Permission::AccountsManage),
        access(b, Permission::AccountsManage),
    );
    let (ra, rb) = tokio::join!(
        accounts::create_account(db, &in_a, "programme", "A"),
        accounts::create_account(db, &in_b, "programme", "B"),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(
        ra.is_some() != rb.is_some(),
        "exactly one tenant gets the slug"
    );
    let winner = ra.or(rb).unwrap();
    let stored = accounts::find_by_slug(db, "programme")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.id, stored.tenant_id, stored.name.clone()),
        (winner.id, winner.tenant_id, winner.name.clone())
    );
    // The program's upsert (first start) refuses a slug another tenant
    // holds, rather than taking it over.
    let other = if winner.tenant_id == a { b } else { a };
    let err = accounts::upsert_account(
        db,
        &app.state.secrets,
        &accounts::NewAccount {
            tenant_id: other,
            slug: "programme".into(),
            name: "Taken over".into(),
            provider: Provider::Meta,
            channel: accounts::ChannelSettings {
                meta_access_token: Some("EAAGtaken".into()),
                ..Default::default()
            },
            flow: FlowSettings::default(),
        },
    )
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("belongs to another organisation"),
        "{err:#}"
    );
    let still = accounts::find_by_slug(db, "programme")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (still.tenant_id, still.name),
        (winner.tenant_id, winner.name)
    );
    assert!(still.meta_access_token.is_none());
}

#[test]
fn no_page_acts_as_the_program() {
    // `Actor::operator` may do everything in a tenant: the first start, the
    // command line and test setup use it, never a request handler.
    let web = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web");
    let mut stack = vec![std::path::PathBuf::from(web)];
    let mut read = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                read += 1;
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    !text.contains("operator("),
                    "{} acts as the program",
                    path.display()
                );
            }
        }
    }
    assert!(read > 5, "the web layer's files were read");
}
