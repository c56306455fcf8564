//! The route table: every route the app serves, each added with the layers
//! it needs (staff pages or open routes), in one list the route matrix test
//! reads.

use super::{
    account_channel, account_dhis2, account_token, accounts, assets, audit, conversations, dhis2,
    home, live, login, reports, roles, settings, simulator, tenants, uic, users,
};
use crate::AppState;
use axum::Router;
use axum::handler::Handler;

/// Every route of the app, with the layers it needs.
pub struct Routes {
    /// Staff pages: session and CSRF layers.
    ui: Router<AppState>,
    /// Webhooks, health, static files: no session.
    open: Router<AppState>,
    table: Vec<(&'static str, &'static str)>,
}

macro_rules! route_fn {
    ($name:ident, $open:ident, $method:literal, $routing:path) => {
        pub fn $name<H: Handler<T, AppState>, T: 'static>(
            mut self,
            path: &'static str,
            h: H,
        ) -> Self {
            self.table.push(($method, path));
            self.ui = self.ui.route(path, $routing(h));
            self
        }
        pub fn $open<H: Handler<T, AppState>, T: 'static>(
            mut self,
            path: &'static str,
            h: H,
        ) -> Self {
            self.table.push(($method, path));
            self.open = self.open.route(path, $routing(h));
            self
        }
    };
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            ui: Router::new(),
            open: Router::new(),
            table: Vec::new(),
        }
    }
}

impl Routes {
    route_fn!(get, open_get, "GET", axum::routing::get);
    route_fn!(post, open_post, "POST", axum::routing::post);

    /// Static files (their names are only known at run time).
    pub fn assets(mut self) -> Self {
        self.table.push(("GET", "/static/{file}"));
        // Compressed: htmx is a third of its size gzipped, on slow networks.
        self.open = self
            .open
            .merge(assets::router().layer(tower_http::compression::CompressionLayer::new()));
        self
    }

    /// `(method, path)` of every route.
    pub fn table(&self) -> &[(&'static str, &'static str)] {
        &self.table
    }

    /// The staff router (session, CSRF) and the open router.
    pub fn into_parts(self) -> (Router<AppState>, Router<AppState>) {
        (self.ui, self.open)
    }
}

/// The staff pages.
pub fn routes(r: Routes) -> Routes {
    let r = login::routes(r);
    let r = home::routes(r);
    let r = users::routes(r);
    let r = roles::routes(r);
    let r = accounts::routes(r);
    let r = account_channel::routes(r);
    let r = account_token::routes(r);
    let r = account_dhis2::routes(dhis2::routes(r));
    let r = audit::routes(r);
    let r = simulator::routes(r);
    let r = conversations::routes(r);
    let r = live::routes(r);
    let r = settings::routes(r);
    let r = uic::routes(r);
    let r = reports::routes(r);
    tenants::routes(r)
}
