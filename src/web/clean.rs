//! The edge where staff input is checked, once, before any handler: the
//! path, the query string and a form's fields may not hold a control
//! character (see [`crate::input`]). A request that does gets 400 naming the
//! field, so no handler, query or page ever sees `\0`.
//!
//! Open routes (webhooks, sandbox, QR links) get the path and query check
//! only: their bodies are read by their parsers, which clean what a person
//! typed and refuse bad identifiers themselves.

use super::{Format, WebError, visitor_lang};
use crate::auth::csrf::FORM_LIMIT;
use crate::input::{describe, first_forbidden};
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use percent_encoding::percent_decode_str;
use tower_sessions::Session;

/// What was refused: the field and the character.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub field: String,
    pub character: char,
}

impl Refused {
    fn message(&self) -> String {
        format!(
            "Le champ « {f} » contient un caractère de contrôle ({c}) : retirez-le et réessayez. \
             / The field “{f}” holds a control character ({c}): remove it and try again.",
            f = self.field,
            c = describe(self.character)
        )
    }
}

/// Checks the path and the query string of a request.
pub fn check_target(uri: &axum::http::Uri) -> Result<(), Refused> {
    let path = percent_decode_str(uri.path()).decode_utf8_lossy();
    if let Some(c) = first_forbidden(&path) {
        return Err(Refused {
            field: "path".into(),
            character: c,
        });
    }
    check_pairs(uri.query().unwrap_or("").as_bytes())
}

/// Checks every name and value of a form-encoded body (or query string).
pub fn check_pairs(encoded: &[u8]) -> Result<(), Refused> {
    for (name, value) in form_urlencoded::parse(encoded) {
        if let Some(c) = first_forbidden(&name).or_else(|| first_forbidden(&value)) {
            // A field name is shown only if it is itself clean.
            let field = if first_forbidden(&name).is_some() {
                "?".to_string()
            } else {
                name.chars().take(40).collect()
            };
            return Err(Refused {
                field,
                character: c,
            });
        }
    }
    Ok(())
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}

/// The staff pages' middleware (inside the session layer).
pub async fn staff(session: Session, req: Request, next: Next) -> Response {
    let lang = visitor_lang(&session, crate::auth::csrf::Visitor::of(req.extensions())).await;
    if let Err(r) = check_target(req.uri()) {
        return WebError::BadRequest(r.message()).respond(req.headers(), Format::Html, lang);
    }
    if !is_form(req.headers()) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, FORM_LIMIT).await else {
        return super::error::form_too_large().respond(&parts.headers, Format::Html, lang);
    };
    if let Err(r) = check_pairs(&bytes) {
        return WebError::BadRequest(r.message()).respond(&parts.headers, Format::Html, lang);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The open routes' middleware: path and query only, answered in JSON.
pub async fn open(req: Request, next: Next) -> Response {
    match check_target(req.uri()) {
        Ok(()) => next.run(req).await,
        Err(r) => WebError::BadRequest(r.message()).respond(
            req.headers(),
            Format::Json,
            crate::auth::Lang::default(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_found_in_path_query_and_form() {
        let uri: axum::http::Uri = "/setup/ab%00cd".parse().unwrap();
        assert_eq!(check_target(&uri).unwrap_err().character, '\0');
        let uri: axum::http::Uri = "/audit?actor=%00&x=1".parse().unwrap();
        assert_eq!(
            check_target(&uri).unwrap_err(),
            Refused {
                field: "actor".into(),
                character: '\0'
            }
        );
        let uri: axum::http::Uri = "/login?next=/%09/evil".parse().unwrap();
        assert_eq!(check_target(&uri), Ok(()), "a tab is not refused here");
        assert_eq!(check_pairs(b"name=a%1Bb").unwrap_err().character, '\u{1b}');
        assert_eq!(check_pairs(b"text=l1%0D%0Al2&x=%E2%9C%93"), Ok(()));
        assert!(
            Refused {
                field: "name".into(),
                character: '\0'
            }
            .message()
            .contains("U+0000")
        );
    }
}
