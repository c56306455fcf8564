//! The first administrator's setup link: a one-time link (there is no
//! default password) printed in the log on an empty database, or by
//! `uic-inbox admin create`, and the base URL of the links staff pass on.

use super::store::{self as auth_store, LinkPurpose};
use crate::config::Config;
use crate::db::Db;
use time::Duration;

/// How long a first-administrator link works.
pub const SETUP_LINK_VALID: Duration = Duration::hours(24);

/// A new one-time link to create an administrator who may manage every
/// tenant (printed in the log on an empty database and by
/// `uic-inbox admin create`).
pub async fn first_admin_link(db: &Db, config: &Config, port: u16) -> anyhow::Result<String> {
    let tenant_id = crate::tenancy::store::default_tenant(db).await?;
    let token = auth_store::create_link(
        db,
        LinkPurpose::Setup,
        Some(tenant_id),
        None,
        SETUP_LINK_VALID,
    )
    .await?;
    Ok(format!("{}/setup/{token}", server_url(config, port)))
}

/// The first start's setup link: created only when there is no user and no
/// valid setup link yet, atomically, so that of instances starting together
/// exactly one creates (and prints) it.
pub async fn first_start_link(
    db: &Db,
    config: &Config,
    port: u16,
) -> anyhow::Result<Option<String>> {
    let tenant_id = crate::tenancy::store::default_tenant(db).await?;
    let token = auth_store::create_first_setup_link(db, tenant_id, SETUP_LINK_VALID).await?;
    Ok(token.map(|token| format!("{}/setup/{token}", server_url(config, port))))
}

/// Where staff reach the server: `PUBLIC_URL`, else this machine's address
/// and the port it listens on.
pub fn server_url(config: &Config, port: u16) -> String {
    match &config.public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => {
            let host = if config.host.is_unspecified() {
                "localhost".to_string()
            } else {
                config.host.to_string()
            };
            format!("http://{host}:{port}")
        }
    }
}

/// The base of links staff pass on: `PUBLIC_URL`, else the address and
/// the port this server listens on (`listen_port`, once bound; `PORT` may be
/// 0), else the configured port. Never a request's `Host` header: anyone can
/// send one, and a link built from it would send the invited user's new
/// password to whatever site the header names.
pub fn links_url(config: &Config, listen_port: Option<u16>) -> String {
    server_url(config, listen_port.unwrap_or(config.port))
}
