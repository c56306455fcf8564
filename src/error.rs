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
    /// unreachable, busy or in a serialisation conflict (see
    /// [`crate::db::is_transient`]). A database that refuses the data itself
    /// (a constraint, a value it cannot hold) is not.
    pub fn is_transient(&self) -> bool {
        match self {
            AppError::Unavailable(_) => true,
            AppError::Internal(e) => e
                .downcast_ref::<sqlx::Error>()
                .is_some_and(crate::db::is_transient),
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

/// The inbox's refusals: a database error keeps its own mapping (a busy
/// pool is 503, anything else internal), and a conversation receiving too
/// many messages at once is 503 too, so that a provider retries.
impl From<crate::inbox::Error> for AppError {
    fn from(e: crate::inbox::Error) -> Self {
        match e {
            crate::inbox::Error::Database(e) => e.into(),
            busy @ crate::inbox::Error::Busy => AppError::Unavailable(busy.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_unreachable_databases_are_transient_bad_data_is_not() {
        assert!(AppError::Unavailable("busy".into()).is_transient());
        assert!(AppError::Internal(sqlx::Error::PoolClosed.into()).is_transient());
        assert!(!AppError::Internal(anyhow::anyhow!("a bug")).is_transient());
        assert!(!AppError::BadRequest("x".into()).is_transient());
        assert!(AppError::from(crate::inbox::Error::Busy).is_transient());
        assert!(
            AppError::from(crate::inbox::Error::Database(sqlx::Error::PoolClosed)).is_transient()
        );
    }
}
