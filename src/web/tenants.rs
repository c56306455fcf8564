//! Tenants (one NGO each), for platform administrators only: list, create,
//! and switch the tenant one works in. Everyone else only ever sees their
//! own tenant.

use super::{Form, Layout, Routes, Staff, WebResult, form_page, see_other};
use crate::AppState;
use crate::auth::session::keys;
use crate::tenancy::store::{self as tenants, Tenant};
use askama::Template;
use axum::extract::{Path, State};
use serde::Deserialize;

pub fn routes(r: Routes) -> Routes {
    r.get("/tenants", list)
        .post("/tenants", create)
        .post("/tenants/{id}/switch", switch)
}

/// The creation form: a slug and a name.
#[derive(Deserialize, Default)]
#[serde(default)]
struct NewForm {
    slug: String,
    name: String,
}

fn require_platform_admin(staff: &Staff) -> WebResult<()> {
    if staff.user.platform_admin {
        Ok(())
    } else {
        Err(super::WebError::Forbidden(None))
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
            current: staff.tenant_id(),
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
async fn create(State(state): State<AppState>, staff: Staff, Form(f): Form<NewForm>) -> WebResult {
    require_platform_admin(&staff)?;
    let t = staff.t();
    let slug = f.slug.trim().to_lowercase();
    let name = f.name.trim().to_string();
    if !tenants::valid_slug(&slug) {
        return list_page(&state, &staff, &slug, &name, Some(t.slug_invalid.into())).await;
    }
    if name.is_empty() || name.chars().count() > 100 {
        return list_page(&state, &staff, &slug, &name, Some(t.name_missing.into())).await;
    }
    // The tenant, its roles and its sandbox account: one transaction.
    let Some(id) = tenants::create_tenant(&state.db, &slug, &name, t.sandbox_name).await? else {
        return list_page(&state, &staff, &slug, &name, Some(t.slug_taken.into())).await;
    };
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
