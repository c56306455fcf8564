//! One error type for handlers: a precise message for the caller, internals
//! logged once and never shown.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => AppError::NotFound("not found".into()),
            sqlx::Error::PoolTimedOut => {
                AppError::Unavailable("the database is busy, try again".into())
            }
            other => AppError::Internal(other.into()),
        }
    }
}

impl AppError {
    /// Whether trying the same thing again later may succeed: the database
    /// unreachable, busy or in a serialisation conflict. A database that
    /// refuses the data itself (a constraint, a value it cannot hold) is not.
    pub fn is_transient(&self) -> bool {
        match self {
            AppError::Unavailable(_) => true,
            AppError::Internal(e) => match e.downcast_ref::<sqlx::Error>() {
                Some(sqlx::Error::Database(db)) => {
                    let postgres = db
                        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                        .is_some();
                    db.code().is_some_and(|c| is_transient_code(&c, postgres))
                }
                Some(_) => true,
                None => false,
            },
            _ => false,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            AppError::Internal(e) => {
                // `{:#}` prints the whole context chain, once, in the request span.
                tracing::error!(error = format!("{e:#}"), "internal error");
                "internal error; it has been logged".to_string()
            }
            AppError::Unavailable(m) => {
                tracing::warn!(error = %m, "service unavailable");
                m.clone()
            }
            other => other.to_string(),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// SQLSTATE codes (PostgreSQL) and result codes (SQLite) worth a retry.
fn is_transient_code(code: &str, postgres: bool) -> bool {
    if postgres {
        // Serialisation failure, deadlock, lock not available, too many
        // connections, connection exceptions, shutting down.
        matches!(code, "40001" | "40P01" | "55P03" | "53300")
            || code.starts_with("08")
            || code.starts_with("57P")
    } else {
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
        code.parse::<i64>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_unreachable_databases_are_transient_bad_data_is_not() {
        assert!(is_transient_code("5", false));
        assert!(is_transient_code("517", false));
        assert!(!is_transient_code("19", false), "SQLite constraint");
        assert!(is_transient_code("40001", true));
        assert!(is_transient_code("08006", true));
        assert!(!is_transient_code("22021", true), "invalid byte sequence");
        assert!(!is_transient_code("23505", true), "unique violation");
        assert!(AppError::Unavailable("busy".into()).is_transient());
        assert!(AppError::Internal(sqlx::Error::PoolClosed.into()).is_transient());
        assert!(!AppError::BadRequest("x".into()).is_transient());
    }
}
