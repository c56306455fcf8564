//! Staff access: users, passwords, sessions, CSRF and role-based permissions.
//!
//! Permissions are a fixed list in code; roles are data (per tenant, the four
//! built-in ones created with the tenant). A role is given tenant-wide or for
//! one WhatsApp account, and per-user overrides allow or deny one permission
//! (a deny wins). Every handler asks one question, [`Grants::can`], through
//! [`Actor::require`], which returns the [`Access`] that storage functions
//! take (see `access`).

pub mod access;
pub mod csrf;
pub mod password;
pub mod session;
pub mod setup;
pub mod store;

pub use access::{Access, AccessError, Accounts, Actor, Denied};
use std::collections::{BTreeMap, BTreeSet};

/// What a user may do. The key (`accounts.view`) is what the database holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    AccountsView,
    AccountsManage,
    ConversationsView,
    ConversationsTakeover,
    ConversationsAssign,
    MessagesSend,
    ContactsView,
    UicLookup,
    UicExport,
    /// Decide a possible collision (one code from two phones): same person,
    /// or different people (the second gets a code of their own).
    UicReview,
    /// The programme reports (figures only: no phone number, no code).
    ReportsView,
    Dhis2View,
    Dhis2Manage,
    TokensManage,
    UsersManage,
    RolesManage,
    SettingsManage,
    AuditView,
    /// The phone simulator: its conversations are test data (see
    /// `registry::store::record_issue`), but they still write to the
    /// tenant's sandbox accounts.
    SimulatorUse,
}

use Permission::*;

impl Permission {
    pub const ALL: [Permission; 19] = [
        AccountsView,
        AccountsManage,
        ConversationsView,
        ConversationsTakeover,
        ConversationsAssign,
        MessagesSend,
        ContactsView,
        UicLookup,
        UicExport,
        UicReview,
        ReportsView,
        Dhis2View,
        Dhis2Manage,
        TokensManage,
        UsersManage,
        RolesManage,
        SettingsManage,
        AuditView,
        SimulatorUse,
    ];

    pub fn key(self) -> &'static str {
        match self {
            AccountsView => "accounts.view",
            AccountsManage => "accounts.manage",
            ConversationsView => "conversations.view",
            ConversationsTakeover => "conversations.takeover",
            ConversationsAssign => "conversations.assign",
            MessagesSend => "messages.send",
            ContactsView => "contacts.view",
            UicLookup => "uic.lookup",
            UicExport => "uic.export",
            UicReview => "uic.review",
            ReportsView => "reports.view",
            Dhis2View => "dhis2.view",
            Dhis2Manage => "dhis2.manage",
            TokensManage => "tokens.manage",
            UsersManage => "users.manage",
            RolesManage => "roles.manage",
            SettingsManage => "settings.manage",
            AuditView => "audit.view",
            SimulatorUse => "simulator.use",
        }
    }

    pub fn parse(key: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.key() == key)
    }

    /// Permissions about the tenant as a whole: given per account they would
    /// mean nothing, so only tenant-wide roles and overrides grant them.
    pub fn tenant_only(self) -> bool {
        matches!(
            self,
            UsersManage | RolesManage | SettingsManage | AuditView | UicExport
        )
    }

    /// What the permission lets one do, for the roles and users pages.
    pub fn label(self, lang: Lang) -> &'static str {
        let (fr, en) = match self {
            AccountsView => (
                "Voir les numéros WhatsApp et leurs réglages",
                "See WhatsApp numbers and their settings",
            ),
            AccountsManage => (
                "Créer et régler les numéros WhatsApp",
                "Create and configure WhatsApp numbers",
            ),
            ConversationsView => ("Lire les conversations", "Read conversations"),
            ConversationsTakeover => (
                "Prendre la main sur le bot et la lui rendre",
                "Take over from the bot and hand back",
            ),
            ConversationsAssign => ("Attribuer les conversations", "Assign conversations"),
            MessagesSend => ("Envoyer des messages", "Send messages"),
            ContactsView => (
                "Voir les numéros de téléphone complets",
                "See full phone numbers",
            ),
            UicLookup => ("Rechercher un CIU", "Look up a UIC"),
            UicExport => ("Exporter les CIU", "Export UICs"),
            UicReview => ("Examiner les collisions de CIU", "Review UIC collisions"),
            ReportsView => ("Voir les rapports des programmes", "See programme reports"),
            Dhis2View => (
                "Voir la synchronisation DHIS-2",
                "See DHIS-2 synchronisation",
            ),
            Dhis2Manage => (
                "Régler DHIS-2 et relancer les envois",
                "Configure DHIS-2 and retry",
            ),
            TokensManage => (
                "Gérer les jetons d'accès (Meta, API)",
                "Manage access tokens (Meta, API)",
            ),
            UsersManage => ("Gérer les utilisateurs", "Manage users"),
            RolesManage => ("Gérer les rôles", "Manage roles"),
            SettingsManage => ("Régler l'organisation", "Manage organisation settings"),
            AuditView => ("Consulter le journal d'audit", "Read the audit log"),
            SimulatorUse => (
                "Utiliser le simulateur de téléphone",
                "Use the phone simulator",
            ),
        };
        lang.pick(fr, en)
    }
}

/// The interface language of a staff member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Fr,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn pick<'a>(self, fr: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Fr => fr,
            Lang::En => en,
        }
    }
}

/// The four roles every tenant has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinRole {
    Administrator,
    Supervisor,
    Agent,
    Observer,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 4] = [
        BuiltinRole::Administrator,
        BuiltinRole::Supervisor,
        BuiltinRole::Agent,
        BuiltinRole::Observer,
    ];

    pub fn key(self) -> &'static str {
        match self {
            BuiltinRole::Administrator => "administrator",
            BuiltinRole::Supervisor => "supervisor",
            BuiltinRole::Agent => "agent",
            BuiltinRole::Observer => "observer",
        }
    }

    pub fn parse(key: &str) -> Option<BuiltinRole> {
        BuiltinRole::ALL.into_iter().find(|r| r.key() == key)
    }

    /// The name a new tenant's role gets (staff may not rename built-ins).
    pub fn name(self) -> &'static str {
        match self {
            BuiltinRole::Administrator => "Administrateur",
            BuiltinRole::Supervisor => "Superviseur",
            BuiltinRole::Agent => "Agent",
            BuiltinRole::Observer => "Observateur",
        }
    }

    pub fn permissions(self) -> &'static [Permission] {
        match self {
            BuiltinRole::Administrator => &Permission::ALL,
            BuiltinRole::Supervisor => &[
                AccountsView,
                ConversationsView,
                ConversationsTakeover,
                ConversationsAssign,
                MessagesSend,
                ContactsView,
                UicLookup,
                UicExport,
                UicReview,
                ReportsView,
                Dhis2View,
                Dhis2Manage,
                AuditView,
                SimulatorUse,
            ],
            BuiltinRole::Agent => &[
                AccountsView,
                ConversationsView,
                ConversationsTakeover,
                MessagesSend,
                UicLookup,
            ],
            BuiltinRole::Observer => &[AccountsView, ConversationsView, ReportsView, Dhis2View],
        }
    }
}

/// Where a permission is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The whole tenant: only tenant-wide grants count.
    Tenant,
    /// One WhatsApp account of the tenant: tenant-wide grants and that
    /// account's grants count.
    Account(i64),
    /// At least one account (to show a menu entry or a list that is then
    /// filtered account by account).
    AnyAccount,
}

/// One role given to a user, as loaded for the permission check.
#[derive(Debug, Clone)]
pub struct GrantRow {
    pub permission: Permission,
    /// `None`: tenant-wide.
    pub account_id: Option<i64>,
    /// False for a deny override.
    pub allow: bool,
}

/// Everything a user may do in their current tenant.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    platform_admin: bool,
    tenant: BTreeSet<Permission>,
    accounts: BTreeMap<i64, BTreeSet<Permission>>,
    deny_tenant: BTreeSet<Permission>,
    deny_accounts: BTreeMap<i64, BTreeSet<Permission>>,
}

impl Grants {
    /// A platform administrator may do everything in every tenant.
    pub fn platform_admin() -> Grants {
        Grants {
            platform_admin: true,
            ..Grants::default()
        }
    }

    /// From role permissions and overrides (allow rows, then deny rows;
    /// the order of `rows` does not matter).
    pub fn from_rows(rows: impl IntoIterator<Item = GrantRow>) -> Grants {
        let mut g = Grants::default();
        for row in rows {
            // A tenant-only permission given for one account grants nothing.
            if row.account_id.is_some() && row.permission.tenant_only() && row.allow {
                continue;
            }
            let (set, map) = if row.allow {
                (&mut g.tenant, &mut g.accounts)
            } else {
                (&mut g.deny_tenant, &mut g.deny_accounts)
            };
            match row.account_id {
                None => {
                    set.insert(row.permission);
                }
                Some(a) => {
                    map.entry(a).or_default().insert(row.permission);
                }
            }
        }
        g
    }

    pub fn is_platform_admin(&self) -> bool {
        self.platform_admin
    }

    /// The accounts for which `p` holds (see [`Grants::can`]).
    pub fn accounts_for(&self, p: Permission) -> Accounts {
        let with_p = |map: &BTreeMap<i64, BTreeSet<Permission>>| -> BTreeSet<i64> {
            map.iter()
                .filter(|(_, set)| set.contains(&p))
                .map(|(a, _)| *a)
                .collect()
        };
        if self.platform_admin {
            return Accounts::All {
                except: BTreeSet::new(),
            };
        }
        if self.deny_tenant.contains(&p) {
            return Accounts::Only(BTreeSet::new());
        }
        let denied = with_p(&self.deny_accounts);
        if self.tenant.contains(&p) {
            Accounts::All { except: denied }
        } else {
            Accounts::Only(
                with_p(&self.accounts)
                    .difference(&denied)
                    .copied()
                    .collect(),
            )
        }
    }

    /// The one permission check.
    pub fn can(&self, p: Permission, scope: Scope) -> bool {
        if self.platform_admin {
            return true;
        }
        if self.deny_tenant.contains(&p) {
            return false;
        }
        let has = |map: &BTreeMap<i64, BTreeSet<Permission>>, a: i64| {
            map.get(&a).is_some_and(|s| s.contains(&p))
        };
        match scope {
            Scope::Tenant => self.tenant.contains(&p),
            Scope::Account(a) => {
                (self.tenant.contains(&p) || has(&self.accounts, a)) && !has(&self.deny_accounts, a)
            }
            Scope::AnyAccount => {
                self.tenant.contains(&p)
                    || self
                        .accounts
                        .iter()
                        .any(|(a, set)| set.contains(&p) && !has(&self.deny_accounts, *a))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grant row as the database gives it (the access tests use it too).
    pub(in crate::auth) fn row(p: Permission, account: Option<i64>, allow: bool) -> GrantRow {
        GrantRow {
            permission: p,
            account_id: account,
            allow,
        }
    }

    #[test]
    fn keys_round_trip_and_are_unique() {
        let keys: BTreeSet<_> = Permission::ALL.iter().map(|p| p.key()).collect();
        assert_eq!(keys.len(), Permission::ALL.len());
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.key()), Some(p));
        }
        assert_eq!(Permission::parse("users.delete"), None);
    }

    #[test]
    fn tenant_wide_grant_covers_every_account_but_not_the_reverse() {
        let g = Grants::from_rows([
            row(ConversationsView, None, true),
            row(MessagesSend, Some(7), true),
        ]);
        assert!(g.can(ConversationsView, Scope::Tenant));
        assert!(g.can(ConversationsView, Scope::Account(7)));
        assert!(g.can(ConversationsView, Scope::Account(8)));
        assert!(g.can(MessagesSend, Scope::Account(7)));
        assert!(!g.can(MessagesSend, Scope::Account(8)));
        assert!(!g.can(MessagesSend, Scope::Tenant));
        assert!(g.can(MessagesSend, Scope::AnyAccount));
        assert!(!g.can(UsersManage, Scope::AnyAccount));
    }

    #[test]
    fn deny_wins_over_allow() {
        let g = Grants::from_rows([
            row(ConversationsView, None, true),
            row(ConversationsView, Some(7), false),
            row(UicLookup, Some(3), true),
            row(UicLookup, None, false),
        ]);
        assert!(g.can(ConversationsView, Scope::Account(8)));
        assert!(!g.can(ConversationsView, Scope::Account(7)));
        assert!(!g.can(UicLookup, Scope::Account(3)));
        assert!(!g.can(UicLookup, Scope::AnyAccount));
        // Deny rows before allow rows: same result.
        let g2 = Grants::from_rows([
            row(ConversationsView, Some(7), false),
            row(ConversationsView, None, true),
        ]);
        assert!(!g2.can(ConversationsView, Scope::Account(7)));
    }

    #[test]
    fn any_account_ignores_accounts_denied_one_by_one() {
        let g = Grants::from_rows([
            row(MessagesSend, Some(7), true),
            row(MessagesSend, Some(7), false),
        ]);
        assert!(!g.can(MessagesSend, Scope::AnyAccount));
    }

    #[test]
    fn tenant_only_permissions_given_per_account_grant_nothing() {
        let g = Grants::from_rows([row(UsersManage, Some(7), true)]);
        assert!(!g.can(UsersManage, Scope::Tenant));
        assert!(!g.can(UsersManage, Scope::AnyAccount));
        assert!(!g.can(UsersManage, Scope::Account(7)));
    }

    #[test]
    fn platform_admin_may_do_everything() {
        let g = Grants::platform_admin();
        for p in Permission::ALL {
            assert!(g.can(p, Scope::Tenant));
        }
    }

    #[test]
    fn builtin_roles() {
        assert_eq!(
            BuiltinRole::Administrator.permissions().len(),
            Permission::ALL.len()
        );
        let agent = BuiltinRole::Agent.permissions();
        assert!(!agent.contains(&UsersManage));
        assert!(!agent.contains(&ContactsView), "agents see masked numbers");
        for r in BuiltinRole::ALL {
            assert_eq!(BuiltinRole::parse(r.key()), Some(r));
        }
    }
}
