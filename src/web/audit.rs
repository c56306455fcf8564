//! The audit log page: who did what, when, from where; filterable.
//! Needs `audit.view` (tenant-wide).

use super::{Layout, Routes, Staff, WebResult, page};
use crate::AppState;
use crate::audit::{self, Filter, Row};
use crate::auth::{Permission, Scope};
use askama::Template;
use axum::extract::{Query, State};

pub fn routes(r: Routes) -> Routes {
    r.get("/audit", list)
}

const PAGE: i64 = 100;

#[derive(Template)]
#[template(path = "audit/list.html")]
struct AuditPage {
    p: Layout,
    rows: Vec<Row>,
    f: Filter,
    /// Query string of the next (older) page.
    older: Option<String>,
}

async fn list(State(state): State<AppState>, staff: Staff, Query(f): Query<Filter>) -> WebResult {
    let access = staff.require(Permission::AuditView, Scope::Tenant)?;
    let mut rows = audit::list(&state.db, &access, &f, PAGE + 1).await?;
    let older = if rows.len() as i64 > PAGE {
        rows.truncate(PAGE as usize);
        rows.last().map(|last| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in [
                ("actor", &f.actor),
                ("action", &f.action),
                ("target", &f.target),
                ("from", &f.from),
                ("to", &f.to),
            ] {
                if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                    q.append_pair(k, v);
                }
            }
            q.append_pair("before", &last.id.to_string());
            q.finish()
        })
    } else {
        None
    };
    page(AuditPage {
        p: staff.layout(staff.t().nav_audit, "/audit"),
        rows,
        f,
        older,
    })
}
