//! The local admin API the CLI talks to (`signbridge backup`, and the sync daemon's `status`,
//! `sync`, `retry`, `skip`): loopback peers only, with the token kept in
//! `<data-dir>/admin-token` (0600).

use crate::store::Store;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The token file's name in the data folder.
pub const TOKEN_FILE: &str = "admin-token";

/// Reads the admin token, creating it on first start.
pub fn ensure_token(data_dir: &std::path::Path) -> std::io::Result<String> {
    let path = data_dir.join(TOKEN_FILE);
    if let Ok(token) = std::fs::read_to_string(&path) {
        if !token.trim().is_empty() {
            return Ok(token.trim().to_string());
        }
    }
    let token = hex::encode(rand::random::<[u8; 32]>());
    crate::store::write_private_file(&path, token.as_bytes())
        .map_err(|err| std::io::Error::other(err.to_string()))?;
    Ok(token)
}

/// Whether the request comes from the local CLI: a loopback peer with the token.
pub fn allowed(token: &str, peer: &SocketAddr, headers: &HeaderMap) -> bool {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    use subtle::ConstantTimeEq;
    let token_ok: bool = given.as_bytes().ct_eq(token.as_bytes()).into();
    peer.ip().is_loopback() && token_ok
}

pub fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"error": "the admin API answers the local CLI only", "code": "forbidden"})),
    )
        .into_response()
}

#[derive(Clone)]
struct BackupState {
    store: Store,
    data_dir: PathBuf,
    token: Arc<String>,
}

/// `POST /admin/backup {"path": "/abs/file.tar.gz"}`: a consistent backup of the running
/// store, written by the server to that path.
pub fn router(store: Store, data_dir: PathBuf, token: String) -> Router {
    Router::new()
        .route("/admin/backup", post(backup))
        .with_state(BackupState {
            store,
            data_dir,
            token: Arc::new(token),
        })
}

async fn backup(
    State(state): State<BackupState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !allowed(&state.token, &peer, &headers) {
        return forbidden();
    }
    let Some(path) = body["path"]
        .as_str()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
    else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "give {\"path\": an absolute file path}", "code": "validation_failed"})),
        )
            .into_response();
    };
    let started = std::time::Instant::now();
    let made =
        tokio::task::spawn_blocking(move || state.store.backup(&state.data_dir, &path)).await;
    match made {
        Ok(Ok(manifest)) => {
            tracing::info!(
                trees = manifest.trees,
                records = manifest.records,
                blobs = manifest.blobs,
                ms = started.elapsed().as_millis() as u64,
                "backup written"
            );
            Json(json!({"manifest": manifest, "ms": started.elapsed().as_millis() as u64}))
                .into_response()
        }
        Ok(Err(err)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": err.to_string(), "code": "backup_failed"})),
        )
            .into_response(),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": err.to_string(), "code": "internal_error"})),
        )
            .into_response(),
    }
}
