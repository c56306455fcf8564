//! Staff forms, read into typed structs.
//!
//! [`Form`] wraps `axum_extra`'s form extractor (serde_html_form: repeated
//! keys such as checkboxes read into a `Vec`), so that a body it cannot read
//! gets this application's error page rather than the extractor's plain
//! text. Fields are strings, parsed by the page or the domain, so that a
//! wrong value gets the page's own message.

use super::WebError;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// A form body read into `T`.
pub struct Form<T>(pub T);

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        match axum_extra::extract::Form::<T>::from_request(req, state).await {
            Ok(axum_extra::extract::Form(value)) => Ok(Form(value)),
            Err(e) => Err(WebError::BadRequest(format!(
                "Formulaire illisible / unreadable form: {}",
                e.body_text()
            ))),
        }
    }
}

/// One field of a form read as pairs (the phone simulator's).
pub fn form_value<'a>(body: &'a [(String, String)], name: &str) -> Option<&'a str> {
    body.iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .next()
}
