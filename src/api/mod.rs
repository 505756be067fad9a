//! The HTTP face of the e-signature API (`/api/v1`, also `/v1`): routing, the middleware
//! stack, and one module per resource. Handlers extract, call one domain function and map the
//! result; all rules live in [`crate::esign`].

mod account;
mod documents;
mod envelopes;
pub mod error;
mod evidence;
pub mod extract;
mod keys;
mod middleware;
mod openapi;
pub mod rate_limit;
mod templates;
mod webhooks;

use crate::esign::{Esign, EsignError};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use error::ApiError;
use middleware::IdempotencyLocks;
use rate_limit::RateLimiter;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

pub use middleware::run_with_body_in_memory;
pub use openapi::openapi_json;

/// What every handler can reach: one shared [`AppShared`] (every layer and extractor clones the
/// state per request, so it is one reference count, not one per part).
#[derive(Clone)]
pub struct AppState(Arc<AppShared>);

impl std::ops::Deref for AppState {
    type Target = AppShared;

    fn deref(&self) -> &AppShared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppShared {
    pub esign: Arc<Esign>,
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    pub sealing: Arc<crate::sealing::Sealing>,
    pub limiter: Arc<RateLimiter>,
    pub idempotency_locks: Arc<IdempotencyLocks>,
    /// Largest request body accepted (a base64 document plus the JSON around it).
    pub max_body_bytes: usize,
    /// Bytes of API request bodies held in memory at once, all keys together.
    pub body_budget: crate::server::BodyBudget,
    /// Sends signers their one-time codes (by email, by SMS).
    pub code_delivery: Arc<crate::signing::CodeDelivery>,
}

impl AppState {
    pub fn new(
        esign: Arc<Esign>,
        webhooks: Arc<crate::webhooks::Webhooks>,
        sealing: Arc<crate::sealing::Sealing>,
        limiter: RateLimiter,
        max_document_bytes: usize,
        max_body_bytes_in_flight: usize,
        code_delivery: Arc<crate::signing::CodeDelivery>,
    ) -> Self {
        // base64 grows a document by 4/3; leave room for the JSON or multipart around it.
        let max_body_bytes = max_document_bytes / 3 * 4 + 4 * 1024 * 1024;
        Self(Arc::new(AppShared {
            esign,
            webhooks,
            sealing,
            limiter: Arc::new(limiter),
            idempotency_locks: Arc::new(IdempotencyLocks::default()),
            max_body_bytes,
            body_budget: crate::server::BodyBudget::new(max_body_bytes_in_flight, max_body_bytes),
            code_delivery,
        }))
    }
}

/// The error body every failure has (for the OpenAPI document).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people; may be reworded.
    pub error: String,
    /// Stable, snake_case: branch on this.
    pub code: String,
    /// For validation errors: each field and what is wrong with it.
    pub details: Option<Vec<crate::esign::FieldIssue>>,
}

/// `200 OK` with a body that is JSON already (as `axum::Json` would have answered it).
pub fn json_body(body: bytes::Bytes) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `201 Created` with the new object and its `Location`.
pub fn created(location: &str, body: impl Serialize) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(location) {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, value);
    }
    response
}

/// Runs a domain write off the async threads, then makes it durable before the caller answers.
/// The write and its flush run on the same blocking thread: one hand-off per request, not two.
pub async fn run_write<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Esign) -> Result<T, EsignError> + Send + 'static,
) -> Result<T, ApiError> {
    let esign = state.esign.clone();
    tokio::task::spawn_blocking(move || {
        let value = work(&esign)?;
        esign.store().flush_blocking().map_err(|err| {
            tracing::error!(error = %err, "flush failed");
            ApiError::internal()
        })?;
        Ok(value)
    })
    .await
    .map_err(|_| ApiError::internal())?
}

/// The resource routes behind authentication, rate limit and idempotency.
fn resources(state: AppState) -> Router<AppState> {
    use axum::middleware::from_fn_with_state;
    let (routes, _) = openapi::resource_routes().split_for_parts();
    routes
        .layer(from_fn_with_state(state.clone(), middleware::idempotency))
        .layer(from_fn_with_state(state.clone(), middleware::buffer_body))
        .layer(from_fn_with_state(state, middleware::authenticate))
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// The whole API router, to be served (or nested in the app).
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(resources(state.clone()))
        .merge(openapi::router())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api/v1", api.clone())
        .nest("/v1", api)
        .with_state(state)
}

async fn route_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        format!("no API route {}", uri.path()),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

/// Turns a panic in a handler into the JSON 500 every client can read (and logs it).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown");
    tracing::error!(panic = detail, "a request handler panicked");
    ApiError::internal().into_response()
}

/// A `Content-Disposition` value (`inline` or `attachment`) with an ASCII fallback file name and
/// the exact name in RFC 5987 form.
pub fn content_disposition(disposition: &str, name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}
