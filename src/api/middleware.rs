//! The layers every `/api/v1` request goes through, outermost first: body buffering with the
//! size limit, authentication, the per-key rate limit (headers on every answer), and
//! `Idempotency-Key` replay for POSTs.

use super::error::ApiError;
use super::extract::{Caller, CreationKey};
use super::AppState;
use crate::esign::AuthFailure;
use crate::server::BodyBudget;
use crate::store::idempotency::{self, StoredResponse};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Instant;

/// Reads the whole body within the route's limit and the API's shared [`BodyBudget`], so later
/// layers can hash it and extractors parse it. Runs after authentication: a request without a
/// valid key never has its body held in memory.
pub async fn buffer_body(State(state): State<AppState>, request: Request, next: Next) -> Response {
    run_with_body_in_memory(&state.body_budget, state.max_body_bytes, request, next).await
}

/// Reads `request`'s body (at most `limit` bytes) within `budget` and runs the rest of the
/// stack on it, holding its share of the budget until the answer is made; a refused body is
/// answered 413, 408, 503 or 400 as [`ApiError::body_refused`] says.
pub async fn run_with_body_in_memory(
    budget: &BodyBudget,
    limit: usize,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    match budget.read(&parts.headers, body, limit).await {
        Ok(buffered) => {
            let request = Request::from_parts(parts, Body::from(buffered.bytes.clone()));
            let response = next.run(request).await;
            drop(buffered);
            response
        }
        Err(refusal) => ApiError::body_refused(refusal).into_response(),
    }
}

/// Finds the API key, applies its rate limit and adds the `X-RateLimit-*` headers.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if request
        .headers()
        .get_all(header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        return refuse_unauthenticated(
            request,
            ApiError::bad_request(
                "ambiguous_credentials",
                "more than one Authorization header; send exactly one",
            ),
        )
        .await;
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{1}").to_string())
        .unwrap_or_default();
    let esign = state.esign.clone();
    let key = match esign.authenticate(&authorization) {
        Ok(key) => key,
        Err(failure) => {
            let (code, message) = match failure {
                AuthFailure::Missing => (
                    "missing_api_key",
                    "no API key: send `Authorization: Bearer sk_test_…` (or sk_live_…)",
                ),
                AuthFailure::Malformed => (
                    "invalid_api_key",
                    "the API key is malformed: it must be sk_test_ or sk_live_ followed by at least 32 letters and digits",
                ),
                AuthFailure::Unknown => ("invalid_api_key", "the API key is not recognised"),
                AuthFailure::Revoked => ("api_key_revoked", "the API key has been revoked"),
            };
            let mut response =
                refuse_unauthenticated(request, ApiError::unauthorized(code, message)).await;
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    };
    let decision = state.limiter.check(&key.id, Instant::now());
    let mut response = if decision.allowed {
        request.extensions_mut().insert(Caller(Arc::new(key)));
        next.run(request).await
    } else {
        let error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "rate limit of {} requests a minute exceeded; retry in {} s",
                decision.limit, decision.retry_after_secs
            ),
        );
        let mut refused = refuse_unauthenticated(request, error).await;
        refused.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(decision.retry_after_secs),
        );
        refused
    };
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("x-ratelimit-limit"),
        HeaderValue::from(decision.limit),
    );
    headers.insert(
        HeaderName::from_static("x-ratelimit-remaining"),
        HeaderValue::from(decision.remaining),
    );
    headers.insert(
        HeaderName::from_static("x-ratelimit-reset"),
        HeaderValue::from(decision.reset_secs),
    );
    response
}

/// Answers a request that may not go further (no valid key, or over its rate). Its body is read only to be thrown away (no
/// memory held) so the client can read the answer; a client waiting for `100 Continue` sends
/// none.
async fn refuse_unauthenticated(request: Request, error: ApiError) -> Response {
    let (parts, body) = request.into_parts();
    crate::server::drain(&parts.headers, body).await;
    error.into_response()
}

/// `Idempotency-Key` on a POST: the same key and body replay the stored answer; another body
/// under the same key is a 422; concurrent duplicates wait for the first.
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(raw_key) = request.headers().get("idempotency-key") else {
        return next.run(request).await;
    };
    let Some(raw_key) = raw_key
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255)
    else {
        return ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )
        .into_response();
    };
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        return next.run(request).await;
    };
    let key_hash = hex::encode(Sha256::digest(raw_key.as_bytes()));
    let store_key = caller.0.environment.key(&key_hash);

    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return ApiError::bad_request("invalid_body", "the request body could not be read")
                .into_response()
        }
    };
    let fingerprint = request_fingerprint(&parts, &body);

    let lock = state.idempotency_locks.lock_for(&store_key);
    let _guard = lock.lock().await;
    let store = state.esign.store().clone();
    let now = chrono::Utc::now();
    match idempotency::get(&store, &store_key, now) {
        Ok(Some(stored)) if stored.fingerprint == fingerprint => return replay(stored),
        Ok(Some(_)) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request; use a new key",
            )
            .into_response()
        }
        Ok(None) => {}
        Err(err) => {
            tracing::error!(error = %err, "idempotency lookup failed");
            return ApiError::internal().into_response();
        }
    }

    let mut request = Request::from_parts(parts, Body::from(body));
    request.extensions_mut().insert(CreationKey(Some(key_hash)));
    let response = next.run(request).await;
    let status = response.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(collected) = body.collect().await else {
        return ApiError::internal().into_response();
    };
    let bytes = collected.to_bytes();
    let stored = StoredResponse {
        fingerprint,
        status: status.as_u16(),
        content_type: header_string(&parts.headers, header::CONTENT_TYPE),
        location: header_string(&parts.headers, header::LOCATION),
        body: bytes.to_vec(),
        created_at: now,
    };
    if let Err(err) = idempotency::put(&store, &store_key, &stored) {
        tracing::error!(error = %err, "storing an idempotent response failed");
    } else if let Err(err) = store.flush().await {
        tracing::error!(error = %err, "flushing an idempotent response failed");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// SHA-256 of what makes two requests "the same": method, path and body. A multipart body is
/// hashed without its boundary, which clients pick at random for every attempt.
fn request_fingerprint(parts: &axum::http::request::Parts, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(parts.uri.path().as_bytes());
    hasher.update([0]);
    let boundary = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.to_ascii_lowercase().starts_with("multipart/"))
        .and_then(|v| {
            v.split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
        })
        .map(|b| b.trim_matches('"').to_string())
        .filter(|b| !b.is_empty());
    match boundary {
        Some(boundary) => {
            let mut last = 0;
            for at in memchr::memmem::find_iter(body, boundary.as_bytes()) {
                hasher.update(&body[last..at]);
                hasher.update([0xFF]);
                last = at + boundary.len();
            }
            hasher.update(&body[last..]);
        }
        None => hasher.update(body),
    }
    hex::encode(hasher.finalize())
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, Bytes::from(stored.body)).into_response();
    let headers = response.headers_mut();
    if let Some(value) = stored
        .content_type
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Some(value) = stored.location.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(
        HeaderName::from_static("idempotent-replayed"),
        HeaderValue::from_static("true"),
    );
    response
}

/// One async mutex per idempotency key in flight.
#[derive(Debug, Default)]
pub struct IdempotencyLocks {
    locks: std::sync::Mutex<
        std::collections::HashMap<Vec<u8>, std::sync::Weak<tokio::sync::Mutex<()>>>,
    >,
}

impl IdempotencyLocks {
    pub fn lock_for(&self, key: &[u8]) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = locks.get(key).and_then(std::sync::Weak::upgrade) {
            return existing;
        }
        locks.retain(|_, weak| weak.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(key.to_vec(), Arc::downgrade(&lock));
        lock
    }
}
