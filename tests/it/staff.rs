//! Helpers for the staff UI: users made directly in the database, and a
//! browser-like client that keeps its session cookie and sends the page's
//! CSRF token with every form.

use crate::helpers::TestApp;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use uic_inbox::auth::store::{self as auth_store, NewUser, User};
use uic_inbox::auth::{BuiltinRole, Lang, password};

pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// The default tenant's id.
    pub async fn default_tenant(&self) -> i64 {
        uic_inbox::tenancy::store::default_tenant(&self.state.db)
            .await
            .unwrap()
    }

    /// A staff user with `PASSWORD`, given `role` tenant-wide (or for one
    /// account).
    pub async fn staff_user(
        &self,
        tenant_id: i64,
        email: &str,
        role: Option<BuiltinRole>,
        account: Option<i64>,
    ) -> User {
        let db = &self.state.db;
        auth_store::ensure_builtin_roles(db, tenant_id)
            .await
            .unwrap();
        let hash = password::hash(PASSWORD).await.unwrap();
        let user = auth_store::create_user(
            db,
            &NewUser {
                tenant_id,
                email,
                display_name: email.split('@').next().unwrap(),
                password_hash: Some(&hash),
                lang: Lang::Fr,
                platform_admin: false,
            },
        )
        .await
        .unwrap()
        .expect("new e-mail address");
        if let Some(role) = role {
            let role_id = auth_store::builtin_role_id(db, tenant_id, role)
                .await
                .unwrap()
                .unwrap();
            auth_store::assign(
                db,
                &crate::helpers::users_manager(user.tenant_id),
                user.id,
                role_id,
                account,
            )
            .await
            .unwrap();
        }
        user
    }

    /// A client that is not logged in.
    pub fn browser(&self) -> Browser {
        Browser {
            base: self.address.clone(),
            client: self.client.clone(),
            cookie: None,
            csrf: None,
        }
    }

    /// A client logged in as `email` (with `PASSWORD`).
    pub async fn login(&self, email: &str) -> Browser {
        let mut b = self.browser();
        let res = b.login(email, PASSWORD).await;
        assert_eq!(
            res.status,
            StatusCode::SEE_OTHER,
            "login of {email}: {}",
            res.body
        );
        b
    }
}

/// What a request answered.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
    pub set_cookie: Vec<String>,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    /// A redirect to the login page.
    pub fn is_login_redirect(&self) -> bool {
        self.status == StatusCode::SEE_OTHER
            && self
                .location
                .as_deref()
                .is_some_and(|l| l.starts_with("/login"))
    }
}

pub struct Browser {
    pub base: String,
    client: reqwest::Client,
    pub cookie: Option<String>,
    /// The CSRF token of the last page seen.
    pub csrf: Option<String>,
}

/// The value of the first `name="_csrf" value="…"` of a page.
pub fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    let rest = &html[at..];
    Some(rest[..rest.find('"')?].to_string())
}

impl Browser {
    async fn finish(&mut self, res: reqwest::Response) -> Page {
        let status = res.status();
        let headers = res.headers().clone();
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let set_cookie: Vec<String> = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        for c in &set_cookie {
            if let Some(pair) = c.split(';').next()
                && let Some(v) = pair.strip_prefix("uic_session=")
            {
                self.cookie = (!v.is_empty() && !c.contains("Max-Age=0")).then(|| pair.to_string());
            }
        }
        // An event stream never ends by itself: its body is not read.
        let stream = headers
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let body = if stream {
            String::new()
        } else {
            res.text().await.unwrap_or_default()
        };
        if let Some(t) = csrf_of(&body) {
            self.csrf = Some(t);
        }
        Page {
            status,
            location,
            body,
            set_cookie,
            headers,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        let res = req.send().await.unwrap();
        self.finish(res).await
    }

    /// GETs with these extra request headers (`Accept`, `HX-Request`).
    pub async fn get_with(&mut self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        self.finish(res).await
    }

    /// POSTs a form with the CSRF token of the last page seen (fetching `/`
    /// or `/login` first when none was seen yet).
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        if self.csrf.is_none() {
            let p = if self.cookie.is_some() { "/" } else { "/login" };
            self.get(p).await;
        }
        let csrf = self.csrf.clone().unwrap_or_default();
        let mut fields: Vec<(&str, &str)> = vec![("_csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post_raw(path, &fields, None).await
    }

    /// POSTs exactly these fields (and this `X-CSRF-Token`, if any).
    pub async fn post_raw(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        header: Option<&str>,
    ) -> Page {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        if let Some(h) = header {
            req = req.header("X-CSRF-Token", h);
        }
        let res = req.send().await.unwrap();
        self.finish(res).await
    }

    /// POSTs a form with the CSRF token of the last page seen and these
    /// extra request headers (`HX-Request`).
    pub async fn post_with_headers(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let csrf = self.csrf.clone().unwrap_or_default();
        let mut fields: Vec<(&str, &str)> = vec![("_csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&fields)
            .finish();
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        self.finish(res).await
    }

    /// POSTs a form body given already encoded (it may hold bytes no
    /// browser sends), after the page's CSRF token.
    pub async fn post_encoded(&mut self, path: &str, encoded: &str) -> Page {
        if self.csrf.is_none() {
            let p = if self.cookie.is_some() { "/" } else { "/login" };
            self.get(p).await;
        }
        let csrf = self.csrf.clone().unwrap_or_default();
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("_csrf={csrf}&{encoded}"));
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        let res = req.send().await.unwrap();
        self.finish(res).await
    }

    pub async fn login(&mut self, email: &str, password: &str) -> Page {
        self.get("/login").await;
        let page = self
            .post("/login", &[("email", email), ("password", password)])
            .await;
        if page.status == StatusCode::SEE_OTHER {
            // A new session: its own token.
            self.csrf = None;
            self.get("/").await;
        }
        page
    }
}

impl TestApp {
    /// Makes the user a platform administrator (no page does that).
    pub async fn make_platform_admin(&self, user: i64) {
        use uic_inbox::on_db;
        on_db!(&self.state.db, p => sqlx::query("UPDATE users SET platform_admin = TRUE WHERE id = $1")
            .bind(user).execute(p).await.map(|_| ()))
        .unwrap();
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.address.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// A user of the default tenant with `role` tenant-wide, logged in.
    pub async fn logged_in(&self, email: &str, role: BuiltinRole) -> Browser {
        let tenant = self.default_tenant().await;
        self.staff_user(tenant, email, Some(role), None).await;
        self.login(email).await
    }
}
