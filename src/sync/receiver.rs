//! `POST /hooks/certyneo`: the daemon's webhook receiver. The signature
//! (`X-Certyneo-Signature`, hex HMAC-SHA256 of the raw body) is checked in constant time before
//! anything else; the event is recorded once by its id (a replay is acknowledged and ignored)
//! and answered 2xx as soon as it is durable; the daemon processes it from the store.

use super::SyncDaemon;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::Arc;

pub fn router(daemon: Arc<SyncDaemon>) -> Router {
    Router::new()
        .route("/hooks/certyneo", post(receive))
        .route("/hooks/sources/{source}", post(receive_push))
        .with_state(daemon)
}

/// `POST /hooks/sources/{source}`: a source system's own webhook. Its signature is checked by
/// the source's connector; a genuine push makes the daemon read that source now (the payload
/// itself is never trusted as the record).
async fn receive_push(
    State(daemon): State<Arc<SyncDaemon>>,
    axum::extract::Path(source): axum::extract::Path<String>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(configured) = daemon.sources().get(&source) else {
        return refuse(StatusCode::NOT_FOUND, "not_found", "no such source");
    };
    let push = super::connector::PushRequest {
        method: method.to_string(),
        uri: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        body: body.to_vec(),
    };
    let connector = configured.connector.clone();
    match tokio::task::spawn_blocking(move || connector.verify_push(&push)).await {
        Ok(Ok(())) => {
            tracing::info!(source = %source, "source push verified; reading the source");
            daemon.metrics.webhook("source_push", None);
            configured.run_now.notify_one();
            (StatusCode::OK, Json(json!({"received": true}))).into_response()
        }
        Ok(Err(super::connector::SourceError::Config(message))) => {
            refuse(StatusCode::NOT_FOUND, "pushes_not_accepted", &message)
        }
        Ok(Err(err)) => {
            daemon.metrics.webhook("source_push_refused", None);
            refuse(StatusCode::UNAUTHORIZED, "push_refused", &err.to_string())
        }
        Err(_) => refuse(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again"),
    }
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    tracing::warn!(code, message, "webhook refused");
    (status, Json(json!({"error": message, "code": code}))).into_response()
}

/// Whether `signature` (hex) is the HMAC-SHA256 of `body` under `secret`.
pub fn signature_matches(secret: &str, body: &[u8], signature: &str) -> bool {
    let Ok(given) = hex::decode(signature.trim().trim_start_matches("sha256=")) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

async fn receive(
    State(daemon): State<Arc<SyncDaemon>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = daemon.webhook_secret() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the receiver is not registered yet",
        );
    };
    let signature = headers
        .get("x-certyneo-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if signature.is_empty() {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "signature_missing",
            "X-Certyneo-Signature is missing",
        );
    }
    if !signature_matches(&secret, &body, signature) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "signature_invalid",
            "the signature does not match the body",
        );
    }
    let event: Value = match serde_json::from_slice(&body) {
        Ok(event @ Value::Object(_)) => event,
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "the body is not a JSON object",
            )
        }
    };
    let Some(event_id) = event["id"].as_str().map(str::to_string) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "event_id_missing",
            "the event has no id",
        );
    };
    let jobs = daemon.jobs().clone();
    let stored = {
        let event = event.clone();
        let id = event_id.clone();
        tokio::task::spawn_blocking(move || jobs.receive_event(&id, &event)).await
    };
    match stored {
        Ok(Ok(true)) => {
            let lag = event["occurred_at"]
                .as_str()
                .or_else(|| event["timestamp"].as_str())
                .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                .and_then(|at| {
                    (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
                        .to_std()
                        .ok()
                });
            daemon.metrics.webhook("new", lag);
            tracing::info!(event = %event_id, kind = event["event"].as_str().unwrap_or(""), "webhook received");
            daemon.wake();
            (StatusCode::OK, Json(json!({"received": true}))).into_response()
        }
        Ok(Ok(false)) => {
            daemon.metrics.webhook("duplicate", None);
            tracing::info!(event = %event_id, "webhook received again; ignored");
            (
                StatusCode::OK,
                Json(json!({"received": true, "duplicate": true})),
            )
                .into_response()
        }
        Ok(Err(err)) => {
            tracing::error!(error = %err, "recording a webhook failed");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "try again",
            )
        }
        Err(_) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "try again",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_on_the_raw_body() {
        let secret = "whsec_test";
        let body = br#"{"id":"evt_1"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        let good = hex::encode(mac.finalize().into_bytes());
        assert!(signature_matches(secret, body, &good));
        assert!(signature_matches(secret, body, &format!("sha256={good}")));
        assert!(!signature_matches(secret, br#"{"id":"evt_2"}"#, &good));
        assert!(!signature_matches("other", body, &good));
        assert!(!signature_matches(secret, body, "zz"));
    }
}
