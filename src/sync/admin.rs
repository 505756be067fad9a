//! The daemon's small admin API for the CLI (`signbridge status`, `sync SOURCE`, `retry`,
//! `skip`):
//! loopback peers only, with the token kept in `<data-dir>/admin-token` (0600).

use super::{SyncDaemon, SyncError};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Clone)]
struct AdminState {
    daemon: Arc<SyncDaemon>,
    token: Arc<String>,
}

pub use crate::admin::{ensure_token, TOKEN_FILE};

pub fn router(daemon: Arc<SyncDaemon>, token: String) -> Router {
    Router::new()
        .route("/admin/status", get(status))
        .route("/admin/records/{record}", get(record_history))
        .route("/admin/sync/{source}", post(sync_source))
        .route("/admin/retry", post(retry))
        .route("/admin/skip", post(skip))
        .with_state(AdminState {
            daemon,
            token: Arc::new(token),
        })
}

fn allowed(state: &AdminState, peer: &SocketAddr, headers: &HeaderMap) -> bool {
    crate::admin::allowed(&state.token, peer, headers)
}

use crate::admin::forbidden;

fn failed(err: impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"error": err.to_string(), "code": "internal_error"})),
    )
        .into_response()
}

async fn status(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !allowed(&state, &peer, &headers) {
        return forbidden();
    }
    let daemon = state.daemon.clone();
    match tokio::task::spawn_blocking(move || daemon.status()).await {
        Ok(Ok(status)) => Json(status).into_response(),
        Ok(Err(err)) => failed(err),
        Err(err) => failed(err),
    }
}

async fn record_history(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(record): Path<String>,
) -> Response {
    if !allowed(&state, &peer, &headers) {
        return forbidden();
    }
    let daemon = state.daemon.clone();
    match tokio::task::spawn_blocking(move || daemon.record_history(&record)).await {
        Ok(Ok(jobs)) => Json(json!({"jobs": jobs})).into_response(),
        Ok(Err(err)) => failed(err),
        Err(err) => failed(err),
    }
}

async fn sync_source(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(source): Path<String>,
) -> Response {
    if !allowed(&state, &peer, &headers) {
        return forbidden();
    }
    if !state.daemon.sources().contains_key(&source) {
        let known: Vec<&String> = state.daemon.sources().keys().collect();
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no source `{source}`; sources: {known:?}"), "code": "not_found"})),
        )
            .into_response();
    }
    match state.daemon.clone().poll_once(&source).await {
        Ok(added) => Json(json!({"source": source, "newJobs": added})).into_response(),
        Err(err) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({"error": err.to_string(), "code": "source_failed", "transient": err.is_transient()})),
        )
            .into_response(),
    }
}

async fn retry(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !allowed(&state, &peer, &headers) {
        return forbidden();
    }
    let job = body["job"].as_str().map(str::to_string);
    if job.is_none() && body["all"] != json!(true) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "give {\"job\": ID} or {\"all\": true}", "code": "validation_failed"})),
        )
            .into_response();
    }
    let daemon = state.daemon.clone();
    match tokio::task::spawn_blocking(move || daemon.retry(job.as_deref())).await {
        Ok(Ok(count)) => Json(json!({"retried": count})).into_response(),
        Ok(Err(err)) => sync_failed(err),
        Err(err) => failed(err),
    }
}

/// A daemon error as an answer: what the CLI was asked to name does not exist (404), or
/// may not be done (409).
fn sync_failed(err: SyncError) -> Response {
    let (status, code) = match &err {
        SyncError::UnknownJob(_) | SyncError::UnknownSource(_) => {
            (StatusCode::NOT_FOUND, "not_found")
        }
        SyncError::NotAllowed(_) => (StatusCode::CONFLICT, "not_allowed"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
    };
    (
        status,
        Json(json!({"error": err.to_string(), "code": code})),
    )
        .into_response()
}

async fn skip(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !allowed(&state, &peer, &headers) {
        return forbidden();
    }
    let (Some(job), Some(reason)) = (
        body["job"].as_str().map(str::to_string),
        body["reason"].as_str().map(str::to_string),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "give {\"job\": ID or SOURCE/RECORD, \"reason\": TEXT}", "code": "validation_failed"})),
        )
            .into_response();
    };
    let daemon = state.daemon.clone();
    match tokio::task::spawn_blocking(move || daemon.skip(&job, &reason)).await {
        Ok(Ok(count)) => Json(json!({"skipped": count})).into_response(),
        Ok(Err(err)) => sync_failed(err),
        Err(err) => failed(err),
    }
}
