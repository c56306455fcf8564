//! Tenants (one NGO each), for platform administrators only: list, create,
//! and switch the tenant one works in. Everyone else only ever sees their
//! own tenant.

use super::{Layout, Routes, Staff, WebResult, form_page, form_value, see_other};
use crate::AppState;
use crate::auth::session::keys;
use crate::tenancy::store::{self as tenants, ChannelSettings, NewAccount, Tenant};
use crate::tenancy::{FlowSettings, Provider};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};

pub fn routes(r: Routes) -> Routes {
    r.get("/tenants", list)
        .post("/tenants", create)
        .post("/tenants/{id}/switch", switch)
}

type Pairs = Form<Vec<(String, String)>>;

fn require_platform_admin(staff: &Staff) -> WebResult<()> {
    if staff.user.platform_admin {
        Ok(())
    } else {
        Err(super::WebError::Forbidden(staff.lang))
    }
}

#[derive(Template)]
#[template(path = "tenants/list.html")]
struct ListPage {
    p: Layout,
    tenants: Vec<Tenant>,
    current: i64,
    slug: String,
    name: String,
    error: Option<String>,
}

async fn list_page(
    state: &AppState,
    staff: &Staff,
    slug: &str,
    name: &str,
    error: Option<String>,
) -> WebResult {
    let failed = error.is_some();
    form_page(
        ListPage {
            p: staff.layout(staff.t().nav_tenants, "/tenants"),
            tenants: tenants::list_tenants(&state.db).await?,
            current: staff.tenant_id,
            slug: slug.into(),
            name: name.into(),
            error,
        },
        failed,
    )
}

async fn list(State(state): State<AppState>, staff: Staff) -> WebResult {
    require_platform_admin(&staff)?;
    list_page(&state, &staff, "", "", None).await
}

/// A new tenant gets its built-in roles and a sandbox account, so its first
/// users can try the bot at once.
async fn create(State(state): State<AppState>, staff: Staff, Form(f): Pairs) -> WebResult {
    require_platform_admin(&staff)?;
    let t = staff.t();
    let slug = form_value(&f, "slug").unwrap_or("").trim().to_lowercase();
    let name = form_value(&f, "name").unwrap_or("").trim().to_string();
    if !tenants::valid_slug(&slug) {
        return list_page(&state, &staff, &slug, &name, Some(t.slug_invalid.into())).await;
    }
    if name.is_empty() || name.chars().count() > 100 {
        return list_page(&state, &staff, &slug, &name, Some(t.name_missing.into())).await;
    }
    let sandbox_slug = format!("{slug}-sandbox");
    if tenants::find_by_slug(&state.db, &sandbox_slug)
        .await?
        .is_some()
    {
        return list_page(&state, &staff, &slug, &name, Some(t.slug_taken.into())).await;
    }
    let Some(id) = tenants::create_tenant(&state.db, &slug, &name).await? else {
        return list_page(&state, &staff, &slug, &name, Some(t.slug_taken.into())).await;
    };
    crate::auth::store::ensure_builtin_roles(&state.db, id).await?;
    tenants::upsert_account(
        &state.db,
        &NewAccount {
            tenant_id: id,
            slug: sandbox_slug,
            name: t.sandbox_name.to_string(),
            provider: Provider::Sandbox,
            channel: ChannelSettings::default(),
            flow: FlowSettings::default(),
        },
    )
    .await?;
    staff
        .audit(
            &state,
            "tenant.create",
            format!("tenant:{id}"),
            format!("{slug} · {name}"),
        )
        .await?;
    staff.flash(t.saved).await;
    see_other("/tenants")
}

async fn switch(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    require_platform_admin(&staff)?;
    let tenant = tenants::find_tenant(&state.db, id)
        .await?
        .ok_or_else(|| staff.not_found())?;
    staff.session.insert(keys::TENANT, tenant.id).await?;
    // Recorded in the tenant entered.
    crate::audit::record(
        &state.db,
        &crate::audit::Entry {
            tenant_id: Some(tenant.id),
            user_id: Some(staff.user.id),
            actor: &staff.user.email,
            action: "tenant.switch",
            target: format!("tenant:{}", tenant.id),
            detail: tenant.slug,
            ip: Some(&staff.ip),
        },
    )
    .await?;
    see_other("/")
}
