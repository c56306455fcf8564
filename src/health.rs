//! What liveness and readiness report: whether the database answers, and
//! which one it is. The routes (`/healthz`, `/readyz`, the seed's
//! `/whatsapp/health`) are in the web layer.

use crate::db::Db;

/// The state of what the service depends on.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub database_ok: bool,
    /// "sqlite" or "postgres".
    pub database: &'static str,
}

/// Asks the database now (nothing is cached: a load balancer polls this).
pub async fn report(db: &Db) -> Report {
    Report {
        database_ok: db.ping().await,
        database: db.backend_name(),
    }
}
