//! The logged-in staff member: read from the session on every request, with
//! their tenant, grants, language and CSRF token; the one permission check.

use super::error::LangSlot;
use super::layout::{Layout, NavItem};
use super::texts::Texts;
use super::{WebError, WebResult, assets, client_ip, login, texts};
use crate::AppState;
use crate::auth::session::{self, keys};
use crate::auth::store::{self as auth_store, User};
use crate::auth::{Access, Actor, Lang, Permission, Scope};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tower_sessions::Session;

/// The staff member making the request.
pub struct Staff {
    pub user: User,
    pub tenant_name: String,
    /// Who acts, in which tenant, with what grants: `require` turns it
    /// into the `Access` storage functions take.
    pub actor: Actor,
    pub csrf: String,
    pub lang: Lang,
    pub ip: String,
    /// The server's base URL (`https://inbox.example.org`) for links staff
    /// pass on (see `login::links_url`).
    pub origin: String,
    pub session: Session,
    flash: Option<String>,
    /// The token banner's lines (see `number_health::banner`).
    banner: Vec<super::number_health::BannerItem>,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let login = || WebError::LoginRequired { next: next.clone() };
        let session =
            parts.extensions.get::<Session>().cloned().ok_or_else(|| {
                WebError::Internal(anyhow::anyhow!("no session layer on this route"))
            })?;
        let Some(user_id) = session.get::<i64>(keys::USER).await? else {
            return Err(login());
        };
        let now = session::unix_now();
        let login_us = session.get::<i64>(keys::LOGIN_AT).await?.unwrap_or(0);
        let max_us = i64::try_from(state.config.staff_session_max.as_micros()).unwrap_or(i64::MAX);
        let now_us = session::unix_micros(time::OffsetDateTime::now_utc());
        let user = auth_store::find_user(&state.db, user_id).await?;
        let Some(user) = user.filter(|u| {
            !u.is_disabled()
                && now_us.saturating_sub(login_us) < max_us
                && session::opened_after(login_us, u.password_changed_at)
        }) else {
            // Disabled, deleted, logged in too long ago, or logged in before
            // the password last changed: the session ends now.
            session.flush().await?;
            return Err(login());
        };
        // Extending the idle timeout writes the session: once a minute (or
        // a quarter of the timeout, if shorter) is enough.
        let seen = session.get::<i64>(keys::SEEN).await?.unwrap_or(0);
        let every = (state.config.staff_session_idle.as_secs() as i64 / 4).clamp(1, 60);
        if now - seen >= every {
            session.insert(keys::SEEN, now).await?;
        }
        let switched_to = session.get::<i64>(keys::TENANT).await?;
        let actor = auth_store::actor(&state.db, &user, switched_to).await?;
        let tenant_id = actor.tenant_id();
        let tenant_name = crate::tenancy::store::tenant_name(&state.db, tenant_id)
            .await?
            .unwrap_or_default();
        let csrf = session::csrf_token(&session).await?;
        let flash = session.remove::<String>(keys::FLASH).await?;
        let lang = user.lang();
        let banner = super::number_health::banner(state, &actor, user.id, texts(lang)).await?;
        if let Some(slot) = parts.extensions.get::<LangSlot>() {
            slot.set(lang);
        }
        Ok(Staff {
            ip: client_ip(parts, &state.config.trusted_proxies),
            origin: login::links_url(state),
            user,
            tenant_name,
            actor,
            csrf,
            lang,
            session,
            flash,
            banner,
        })
    }
}

impl Staff {
    /// The one permission check: the access storage functions take, or
    /// `Err(403)` unless the user may.
    pub fn require(&self, p: Permission, scope: Scope) -> WebResult<Access> {
        self.actor
            .require(p, scope)
            .map_err(|_| WebError::Forbidden(None))
    }

    /// The tenant being worked in (a platform administrator may switch).
    pub fn tenant_id(&self) -> i64 {
        self.actor.tenant_id()
    }

    pub fn can(&self, p: Permission, scope: Scope) -> bool {
        self.actor.can(p, scope)
    }

    pub fn t(&self) -> &'static Texts {
        texts(self.lang)
    }

    pub fn not_found(&self) -> WebError {
        WebError::NotFound(None)
    }

    pub fn bad_request(&self, message: impl Into<String>) -> WebError {
        WebError::BadRequest(message.into())
    }

    /// Writes an audit entry in the current tenant.
    pub async fn audit(
        &self,
        state: &AppState,
        action: &str,
        target: impl Into<String>,
        detail: impl Into<String>,
    ) -> WebResult<()> {
        crate::audit::record(
            &state.db,
            &crate::audit::Entry {
                tenant_id: Some(self.tenant_id()),
                user_id: Some(self.user.id),
                actor: &self.user.email,
                action,
                target: target.into(),
                detail: detail.into(),
                ip: Some(&self.ip),
            },
        )
        .await?;
        Ok(())
    }

    /// What every page's layout needs.
    pub fn layout(&self, title: impl Into<String>, active: &str) -> Layout {
        let t = self.t();
        let mut nav = vec![NavItem::new("/", t.nav_home, active)];
        let items: [(&str, &str, Permission, Scope); 11] = [
            (
                "/conversations",
                t.nav_conversations,
                Permission::ConversationsView,
                Scope::AnyAccount,
            ),
            (
                "/accounts",
                t.nav_accounts,
                Permission::AccountsView,
                Scope::AnyAccount,
            ),
            ("/uic", t.nav_uic, Permission::UicLookup, Scope::AnyAccount),
            (
                "/uic/collisions",
                t.nav_collisions,
                Permission::UicReview,
                Scope::AnyAccount,
            ),
            (
                "/reports",
                t.nav_reports,
                Permission::ReportsView,
                Scope::AnyAccount,
            ),
            (
                "/dhis2",
                t.nav_dhis2,
                Permission::Dhis2View,
                Scope::AnyAccount,
            ),
            (
                "/simulator",
                t.nav_simulator,
                Permission::SimulatorUse,
                Scope::AnyAccount,
            ),
            (
                "/users",
                t.nav_users,
                Permission::UsersManage,
                Scope::Tenant,
            ),
            (
                "/roles",
                t.nav_roles,
                Permission::RolesManage,
                Scope::Tenant,
            ),
            ("/audit", t.nav_audit, Permission::AuditView, Scope::Tenant),
            (
                "/settings",
                t.nav_settings,
                Permission::SettingsManage,
                Scope::Tenant,
            ),
        ];
        for (href, label, p, scope) in items {
            if self.can(p, scope) {
                nav.push(NavItem::new(href, label, active));
            }
        }
        if self.user.platform_admin {
            nav.push(NavItem::new("/tenants", t.nav_tenants, active));
        }
        Layout {
            t,
            lang: self.lang.code(),
            title: title.into(),
            csrf: self.csrf.clone(),
            user_name: Some(self.user.display_name.clone()),
            tenant_name: self.tenant_name.clone(),
            nav,
            flash: self.flash.clone(),
            banner: self.banner.clone(),
            htmx: assets::htmx_url(),
            css: assets::css_url(),
            live: self
                .can(Permission::ConversationsView, Scope::AnyAccount)
                .then(|| "/live".to_string()),
            sse: assets::sse_url(),
        }
    }

    /// A message for the next page.
    pub async fn flash(&self, message: impl Into<String>) {
        session::flash(&self.session, message).await;
    }
}
