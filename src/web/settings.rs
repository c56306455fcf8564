//! The organisation's privacy settings: whether WhatsApp profile names are
//! kept, and how long message text kept as written is kept. For those who
//! hold `settings.manage`; every change is audited.

use super::{Form, Layout, Routes, Staff, WebResult, form_page, see_other};
use crate::AppState;
use crate::auth::{Access, Permission, Scope};
use crate::tenancy::{PrivacySettings, store as tenancy};
use askama::Template;
use serde::Deserialize;

/// The privacy form.
#[derive(Deserialize, Default)]
#[serde(default)]
struct PrivacyForm {
    /// A checkbox: absent when unchecked.
    keep_profile_names: Option<String>,
    retention_days: String,
}
use axum::extract::State;

pub fn routes(r: Routes) -> Routes {
    r.get("/settings", show).post("/settings", save)
}

#[derive(Template)]
#[template(path = "settings/privacy.html")]
struct SettingsPage {
    p: Layout,
    keep_profile_names: bool,
    retention_days: String,
    error: Option<String>,
}

fn settings_page(
    staff: &Staff,
    keep_profile_names: bool,
    retention_days: String,
    error: Option<String>,
) -> WebResult {
    let failed = error.is_some();
    form_page(
        SettingsPage {
            p: staff.layout(staff.t().privacy_title, "/settings"),
            keep_profile_names,
            retention_days,
            error,
        },
        failed,
    )
}

async fn current(state: &AppState, staff: &Staff, access: &Access) -> WebResult<PrivacySettings> {
    tenancy::privacy_settings(&state.db, access)
        .await?
        .ok_or_else(|| staff.not_found())
}

async fn show(State(state): State<AppState>, staff: Staff) -> WebResult {
    let access = staff.require(Permission::SettingsManage, Scope::Tenant)?;
    let s = current(&state, &staff, &access).await?;
    settings_page(
        &staff,
        s.keep_profile_names,
        s.retention_days.to_string(),
        None,
    )
}

async fn save(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<PrivacyForm>,
) -> WebResult {
    let access = staff.require(Permission::SettingsManage, Scope::Tenant)?;
    let before = current(&state, &staff, &access).await?;
    // An unchecked checkbox is absent from the form.
    let keep_profile_names = f.keep_profile_names.is_some();
    let typed = f.retention_days.as_str();
    let Ok(retention_days) = PrivacySettings::parse_retention_days(typed) else {
        return settings_page(
            &staff,
            keep_profile_names,
            typed.chars().take(20).collect(),
            Some(staff.t().retention_days_invalid.into()),
        );
    };
    let after = PrivacySettings {
        keep_profile_names,
        retention_days,
    };
    if after != before {
        let erased = tenancy::set_privacy_settings(&state.db, &access, after).await?;
        // The webhooks read the setting with the account: seen at once here.
        state.accounts.clear();
        staff
            .audit(
                &state,
                "settings.privacy",
                format!("tenant:{}", staff.tenant_id()),
                format!(
                    "keep_profile_names: {} -> {}; retention_days: {} -> {}; profile names erased: {erased}",
                    before.keep_profile_names,
                    after.keep_profile_names,
                    before.retention_days,
                    after.retention_days
                ),
            )
            .await?;
    }
    staff.flash(staff.t().saved).await;
    see_other("/settings")
}
