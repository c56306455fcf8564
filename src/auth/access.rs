//! Access as a value. A permission check that passes returns an [`Access`]:
//! the tenant, the permission and the accounts it covers. Every storage
//! function that reads or writes a tenant's data takes one and filters by
//! it itself, so a handler that forgot the check does not compile, and a
//! handler cannot reach another tenant's rows by passing the wrong id.
//!
//! An `Access` is made only by [`Actor::require`]. An [`Actor`] is made by
//! the authentication (a logged-in user, `auth::store::actor`) or is the
//! program itself ([`Actor::operator`]: first start, the command line, test
//! setup), which the web layer never uses (a test greps for it).

use super::{Grants, Permission, Scope};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Who is acting, in which tenant, and what they may do there.
#[derive(Debug, Clone)]
pub struct Actor {
    tenant_id: i64,
    /// `None`: the program itself.
    user_id: Option<i64>,
    grants: Arc<Grants>,
}

/// What a storage function taking an [`Access`] can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The access given was checked for another permission or scope: a
    /// mistake in the caller, refused rather than trusted.
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A permission check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("permission {} is not granted for this scope", .0.key())]
pub struct Denied(pub Permission);

impl Actor {
    /// A user working in `tenant_id` (their own, or any for a platform
    /// administrator: the caller, `auth::store::actor`, decides).
    pub(super) fn user(tenant_id: i64, user_id: i64, grants: Grants) -> Actor {
        Actor {
            tenant_id,
            user_id: Some(user_id),
            grants: Arc::new(grants),
        }
    }

    /// The program itself, with every permission in one tenant: creating
    /// the first data at start, the command line, tests preparing data.
    /// Never used by a request handler.
    pub fn operator(tenant_id: i64) -> Actor {
        Actor {
            tenant_id,
            user_id: None,
            grants: Arc::new(Grants::platform_admin()),
        }
    }

    pub fn tenant_id(&self) -> i64 {
        self.tenant_id
    }

    pub fn user_id(&self) -> Option<i64> {
        self.user_id
    }

    pub fn grants(&self) -> &Grants {
        &self.grants
    }

    pub fn is_platform_admin(&self) -> bool {
        self.grants.is_platform_admin()
    }

    /// Whether the actor may (to show a button or a menu entry).
    pub fn can(&self, p: Permission, scope: Scope) -> bool {
        self.grants.can(p, scope)
    }

    /// The one permission check. The access covers the accounts of the
    /// actor's tenant for which the permission holds, narrowed to one
    /// account for `Scope::Account`.
    pub fn require(&self, p: Permission, scope: Scope) -> Result<Access, Denied> {
        if !self.grants.can(p, scope) {
            return Err(Denied(p));
        }
        let accounts = match scope {
            Scope::Account(a) => Accounts::Only(BTreeSet::from([a])),
            Scope::Tenant | Scope::AnyAccount => self.grants.accounts_for(p),
        };
        Ok(Access {
            actor: self.clone(),
            permission: p,
            scope,
            accounts,
        })
    }
}

/// The accounts an access covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// Every account of the tenant but these (denied one by one).
    All { except: BTreeSet<i64> },
    /// Only these.
    Only(BTreeSet<i64>),
}

impl Accounts {
    pub fn covers(&self, account_id: i64) -> bool {
        match self {
            Accounts::All { except } => !except.contains(&account_id),
            Accounts::Only(ids) => ids.contains(&account_id),
        }
    }
}

/// A permission check that passed: what storage functions require.
#[derive(Debug, Clone)]
pub struct Access {
    actor: Actor,
    permission: Permission,
    /// What the check was asked for.
    scope: Scope,
    accounts: Accounts,
}

impl Access {
    pub fn tenant_id(&self) -> i64 {
        self.actor.tenant_id
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn permission(&self) -> Permission {
        self.permission
    }

    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Whether the access reaches this account (of the access's tenant:
    /// storage functions also filter by tenant).
    pub fn covers(&self, account_id: i64) -> bool {
        self.accounts.covers(account_id)
    }

    /// `Err(Denied)` unless the access was checked for `p` (in any scope):
    /// what storage functions of account data require, so that an access
    /// checked for something else cannot be passed to them by mistake.
    pub fn is_for(&self, p: Permission) -> Result<(), Denied> {
        if self.permission == p {
            Ok(())
        } else {
            Err(Denied(p))
        }
    }

    /// Whether the access is for `p` over the whole tenant: what storage
    /// functions of tenant-wide data (users, roles, settings, audit)
    /// require, so that an access checked for something else cannot be
    /// passed to them by mistake.
    pub fn is_tenant_wide(&self, p: Permission) -> bool {
        self.permission == p && self.scope == Scope::Tenant
    }

    /// `Err(Denied)` unless the access is for `p` over the whole tenant.
    pub fn tenant_wide(&self, p: Permission) -> Result<(), Denied> {
        self.tenant_wide_any(&[p])
    }

    /// `Err(Denied)` unless the access is for one of these permissions over
    /// the whole tenant.
    pub fn tenant_wide_any(&self, ps: &[Permission]) -> Result<(), Denied> {
        if ps.iter().any(|p| self.is_tenant_wide(*p)) {
            Ok(())
        } else {
            Err(Denied(
                ps.first().copied().unwrap_or(Permission::SettingsManage),
            ))
        }
    }

    /// Nobody hands out more than they hold: the actor may give these
    /// permissions (as a role or an allow override) only when they hold
    /// each of them in the same scope (`None`: tenant-wide).
    pub fn may_give(&self, permissions: &[Permission], account: Option<i64>) -> bool {
        let scope = account.map_or(Scope::Tenant, Scope::Account);
        permissions.iter().all(|p| self.actor.grants.can(*p, scope))
    }

    /// Whether the actor may change a user holding `theirs`: one who can do
    /// nothing the actor cannot, in the tenant and in each of these
    /// accounts (otherwise a reset link or a new role would hand over more
    /// than the actor holds).
    pub fn may_change(&self, theirs: &Grants, accounts: &[i64]) -> bool {
        let mine = &self.actor.grants;
        let scopes: Vec<Scope> = std::iter::once(Scope::Tenant)
            .chain(accounts.iter().map(|a| Scope::Account(*a)))
            .collect();
        theirs.is_platform_admin() <= mine.is_platform_admin()
            && Permission::ALL.iter().all(|p| {
                scopes
                    .iter()
                    .all(|scope| !theirs.can(*p, *scope) || mine.can(*p, *scope))
            })
    }
}

/// `AND {column} …` narrowing a query to the accounts an access covers
/// (ids are ours, never typed: written into the text).
pub fn accounts_clause(column: &str, accounts: &Accounts) -> String {
    let list = |ids: &BTreeSet<i64>| {
        ids.iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match accounts {
        Accounts::All { except } if except.is_empty() => String::new(),
        Accounts::All { except } => format!(" AND {column} NOT IN ({})", list(except)),
        Accounts::Only(ids) if ids.is_empty() => " AND 1 = 0".to_string(),
        Accounts::Only(ids) => format!(" AND {column} IN ({})", list(ids)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::GrantRow;
    use crate::auth::tests::row;
    use Permission::*;

    fn actor(rows: Vec<GrantRow>) -> Actor {
        Actor::user(1, 10, Grants::from_rows(rows))
    }

    #[test]
    fn a_failed_check_gives_no_access() {
        let a = actor(vec![row(ConversationsView, Some(7), true)]);
        assert_eq!(
            a.require(UsersManage, Scope::Tenant).unwrap_err(),
            Denied(UsersManage)
        );
        assert!(a.require(ConversationsView, Scope::Account(8)).is_err());
        assert!(a.require(ConversationsView, Scope::Tenant).is_err());
    }

    #[test]
    fn an_access_covers_the_accounts_the_permission_holds_for() {
        let a = actor(vec![
            row(ConversationsView, Some(7), true),
            row(ConversationsView, Some(9), true),
            row(ConversationsView, Some(9), false),
            row(AccountsView, None, true),
            row(AccountsView, Some(3), false),
        ]);
        let any = a.require(ConversationsView, Scope::AnyAccount).unwrap();
        assert_eq!(any.accounts(), &Accounts::Only(BTreeSet::from([7])));
        assert!(any.covers(7) && !any.covers(9) && !any.covers(8));
        let wide = a.require(AccountsView, Scope::AnyAccount).unwrap();
        assert!(wide.covers(8) && !wide.covers(3));
        let one = a.require(AccountsView, Scope::Account(8)).unwrap();
        assert!(
            one.covers(8) && !one.covers(9),
            "narrowed to the account asked"
        );
        assert_eq!(one.tenant_id(), 1);
    }

    #[test]
    fn tenant_wide_storage_refuses_an_access_checked_for_something_else() {
        let a = actor(vec![
            row(UsersManage, None, true),
            row(AccountsView, Some(7), true),
        ]);
        let users = a.require(UsersManage, Scope::Tenant).unwrap();
        assert!(users.tenant_wide(UsersManage).is_ok());
        assert!(users.tenant_wide(RolesManage).is_err());
        let accounts = a.require(AccountsView, Scope::Account(7)).unwrap();
        assert!(accounts.tenant_wide(AccountsView).is_err());
        // Even for one who holds it tenant-wide: the check asked for one
        // account.
        let one = Actor::operator(1)
            .require(UsersManage, Scope::Account(7))
            .unwrap();
        assert!(one.tenant_wide(UsersManage).is_err());
    }

    #[test]
    fn nobody_gives_more_than_they_hold() {
        let a = actor(vec![
            row(UsersManage, None, true),
            row(MessagesSend, Some(7), true),
            row(ConversationsView, None, true),
        ]);
        let access = a.require(UsersManage, Scope::Tenant).unwrap();
        assert!(access.may_give(&[ConversationsView], None));
        assert!(access.may_give(&[ConversationsView, MessagesSend], Some(7)));
        assert!(!access.may_give(&[MessagesSend], None));
        assert!(!access.may_give(&[MessagesSend], Some(8)));
        assert!(!access.may_give(&[TokensManage], Some(7)));
        let admin = Grants::platform_admin();
        let agent = Grants::from_rows([row(MessagesSend, Some(7), true)]);
        let wider = Grants::from_rows([row(MessagesSend, Some(8), true)]);
        assert!(!access.may_change(&admin, &[7, 8]));
        assert!(access.may_change(&agent, &[7, 8]));
        assert!(!access.may_change(&wider, &[7, 8]));
    }

    #[test]
    fn the_operator_may_do_everything_in_its_tenant_only() {
        let op = Actor::operator(4);
        let access = op.require(TokensManage, Scope::Tenant).unwrap();
        assert_eq!(access.tenant_id(), 4);
        assert!(access.covers(123));
        assert_eq!(op.user_id(), None);
    }
}
