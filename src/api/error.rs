//! The API's one error type: every failure leaves as JSON `{error, code, details?}` with the
//! status the contract gives it.

use crate::esign::{EsignError, FieldIssue};
use crate::pdf::PdfError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server could not complete the request; it has been logged and nothing was changed",
        )
    }

    /// Why a request body was not read, as the client sees it.
    pub fn body_refused(refusal: crate::server::BodyRefusal) -> Self {
        use crate::server::BodyRefusal;
        match refusal {
            BodyRefusal::TooLarge { limit } => Self::payload_too_large(limit),
            BodyRefusal::Busy => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_busy",
                "the server is reading as many request bodies as it can hold; retry in a moment",
            ),
            BodyRefusal::TimedOut => Self::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            ),
            BodyRefusal::Unreadable => {
                Self::bad_request("invalid_body", "the request body could not be read")
            }
        }
    }

    /// A validation failure listing each field and what is wrong with it.
    pub fn validation(issues: &[FieldIssue]) -> Self {
        let summary = issues
            .iter()
            .map(|i| format!("{}: {}", i.field, i.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self::bad_request(
            "validation_failed",
            format!("the request is invalid: {summary}"),
        )
        .with_details(json!(issues))
    }
}

impl From<EsignError> for ApiError {
    fn from(err: EsignError) -> Self {
        match err {
            EsignError::NotFound { kind, id } => {
                Self::not_found(format!("no {kind} with id `{id}` exists"))
            }
            EsignError::Invalid(issues) => Self::validation(&issues),
            EsignError::BadRequest { code, message } => Self::bad_request(code, message),
            EsignError::Forbidden { code, message } => Self::forbidden(code, message),
            EsignError::Conflict { code, message } => {
                Self::new(StatusCode::CONFLICT, code, message)
            }
            EsignError::NotSendable { code, issues } => {
                let summary = issues
                    .iter()
                    .map(|i| format!("{}: {}", i.field, i.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    code,
                    format!("the envelope cannot be sent: {summary}"),
                )
                .with_details(json!(issues))
            }
            EsignError::UnusablePdf(pdf) => {
                let code = match pdf {
                    PdfError::BadImage(_) | PdfError::ImageTooLarge { .. } => "invalid_image",
                    PdfError::LimitExceeded { .. } => "pdf_limit_exceeded",
                    PdfError::ActiveContent(_) => "pdf_active_content",
                    _ => "invalid_pdf",
                };
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, pdf.to_string())
            }
            EsignError::UnsupportedMediaType(message) => Self::unsupported_media_type(message),
            EsignError::TooLarge { limit } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the document is larger than the limit of {limit} bytes"),
            ),
            EsignError::Unsealable(reason) => {
                tracing::error!(reason = %reason, "an envelope cannot be sealed");
                Self::internal()
            }
            EsignError::Store(err) => {
                tracing::error!(error = %err, "storage failure");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message, "code": self.code });
        if let Some(details) = self.details {
            body["details"] = details;
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
