//! The daemon's one way to the e-signature API: an HTTP client of the Certyneo contract, used
//! the same against the embedded API (over loopback) and the Certyneo cloud. Every creating
//! call carries an `Idempotency-Key`.

use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Why an API call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The API cannot take the call now — 429, 502/503/504, 408, 425, no connection (down,
    /// restarting, shutting down): wait, at least `retry_after`. Says nothing about the record.
    #[error("e-signature API busy: {message}")]
    Busy {
        message: String,
        retry_after: Option<Duration>,
    },
    /// A 500 or an unreadable answer: try again later; it may be the record's doing.
    #[error("e-signature API failed: {0}")]
    Transient(String),
    /// The API refused the request (4xx other than 429): retrying the same call will not help.
    #[error("e-signature API refused ({status} {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
}

/// Paces calls to a remote API under its per-key limit: a token bucket at the limit the API
/// advertises (`X-RateLimit-Limit`), set to what it says is left (`X-RateLimit-Remaining`,
/// minus the calls in flight) after every answer, and paused for a 429's `Retry-After` — so
/// 429s are rare rather than the way the limit is found.
#[derive(Debug)]
pub struct Pacer {
    state: std::sync::Mutex<PacerState>,
}

#[derive(Debug)]
struct PacerState {
    per_sec: f64,
    capacity: f64,
    tokens: f64,
    updated: Instant,
    in_flight: u32,
    paused_until: Option<Instant>,
}

impl Pacer {
    /// Starts at `per_minute` with one call allowed: the first answer tells how many are left.
    pub fn new(per_minute: u32) -> Self {
        Self {
            state: std::sync::Mutex::new(PacerState {
                per_sec: f64::from(per_minute.max(1)) / 60.0,
                capacity: 1.0,
                tokens: 1.0,
                updated: Instant::now(),
                in_flight: 0,
                paused_until: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a call's turn.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.lock();
                let now = Instant::now();
                let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
                state.tokens = (state.tokens + elapsed * state.per_sec).min(state.capacity);
                state.updated = now;
                match state.paused_until {
                    Some(until) if until > now => until - now,
                    _ if state.tokens >= 1.0 => {
                        state.tokens -= 1.0;
                        state.in_flight += 1;
                        return;
                    }
                    _ => Duration::from_secs_f64((1.0 - state.tokens) / state.per_sec),
                }
            };
            tokio::time::sleep(wait.max(Duration::from_millis(5))).await;
        }
    }

    /// A call's answer, with the API's rate-limit headers when it sent them.
    pub fn answered(
        &self,
        limit: Option<u32>,
        remaining: Option<u32>,
        retry_after: Option<Duration>,
    ) {
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        let now = Instant::now();
        if let Some(limit) = limit.filter(|l| *l > 0) {
            state.per_sec = f64::from(limit) / 60.0;
        }
        if let Some(remaining) = remaining {
            let remaining = f64::from(remaining);
            state.capacity = state.capacity.max(remaining + 1.0);
            state.tokens = (remaining - f64::from(state.in_flight)).max(0.0);
            state.updated = now;
        }
        if let Some(wait) = retry_after {
            state.tokens = 0.0;
            state.updated = now;
            state.paused_until = Some(now + wait);
        }
    }

    /// A call that got no answer.
    pub fn unanswered(&self) {
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
    }
}

/// A client for one API base URL and key.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    key: String,
    http: reqwest::Client,
    metrics: Option<std::sync::Arc<super::metrics::SyncMetrics>>,
    pacer: Option<std::sync::Arc<Pacer>>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// `base` ends in `/api/v1` (or `/v1`).
    pub fn new(base: &str, key: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            metrics: None,
            pacer: None,
        }
    }

    /// Paces calls under a per-key limit of `per_minute` (a remote API; see [`Pacer`]).
    pub fn with_pacer(mut self, per_minute: u32) -> Self {
        self.pacer = Some(std::sync::Arc::new(Pacer::new(per_minute)));
        self
    }

    /// Records every call's latency and outcome in `metrics`.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<super::metrics::SyncMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    async fn timed<T>(
        &self,
        operation: &str,
        call: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        if let Some(pacer) = &self.pacer {
            pacer.acquire().await;
        }
        let started = std::time::Instant::now();
        let result = call.await;
        if let Some(metrics) = &self.metrics {
            let outcome = match &result {
                Ok(_) => "ok",
                Err(ClientError::Busy { message, .. }) if message.starts_with("429") => "throttled",
                Err(ClientError::Busy { .. }) => "busy",
                Err(ClientError::Transient(_)) => "unavailable",
                Err(ClientError::Refused { .. }) => "refused",
            };
            metrics.api_call(operation, outcome, started.elapsed());
        }
        result
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
    }

    async fn answer(
        &self,
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<reqwest::Response, ClientError> {
        let response = match response {
            Ok(response) => response,
            Err(err) => {
                if let Some(pacer) = &self.pacer {
                    pacer.unanswered();
                }
                // No answer (refused, reset, timed out): the API is down, restarting or
                // shutting down; nothing is known about the record.
                return Err(ClientError::Busy {
                    message: format!("no answer: {err}"),
                    retry_after: None,
                });
            }
        };
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let retry_after = header("retry-after").map(|s| Duration::from_secs(s.min(3600)));
        if let Some(pacer) = &self.pacer {
            pacer.answered(
                header("x-ratelimit-limit").and_then(|v| u32::try_from(v).ok()),
                header("x-ratelimit-remaining").and_then(|v| u32::try_from(v).ok()),
                retry_after.filter(|_| status == StatusCode::TOO_MANY_REQUESTS),
            );
        }
        if status.is_success() {
            return Ok(response);
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body["code"].as_str().unwrap_or("").to_string();
        let message = body["error"].as_str().unwrap_or("").to_string();
        if matches!(status.as_u16(), 408 | 425 | 429 | 502 | 503 | 504) {
            return Err(ClientError::Busy {
                message: format!("{} {code}: {message}", status.as_u16()),
                retry_after,
            });
        }
        if status.is_server_error() {
            return Err(ClientError::Transient(format!(
                "{status} {code}: {message}"
            )));
        }
        Err(ClientError::Refused {
            status: status.as_u16(),
            code,
            message,
        })
    }

    async fn json(
        &self,
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<Value, ClientError> {
        self.answer(response)
            .await?
            .json()
            .await
            .map_err(|err| ClientError::Transient(format!("unreadable answer: {err}")))
    }

    /// Uploads a PDF; returns the document.
    pub async fn upload(
        &self,
        name: &str,
        pdf: Vec<u8>,
        idempotency_key: &str,
    ) -> Result<Value, ClientError> {
        self.timed("upload", async {
            let part = reqwest::multipart::Part::bytes(pdf)
                .file_name(name.to_string())
                .mime_str("application/pdf")
                .map_err(|err| ClientError::Transient(err.to_string()))?;
            let form = reqwest::multipart::Form::new().part("file", part);
            self.json(
                self.request(reqwest::Method::POST, "/documents")
                    .header("Idempotency-Key", idempotency_key)
                    .multipart(form)
                    .send()
                    .await,
            )
            .await
        })
        .await
    }

    pub async fn create_envelope(
        &self,
        body: &Value,
        idempotency_key: &str,
    ) -> Result<Value, ClientError> {
        self.timed("create_envelope", async {
            self.json(
                self.request(reqwest::Method::POST, "/envelopes")
                    .header("Idempotency-Key", idempotency_key)
                    .json(body)
                    .send()
                    .await,
            )
            .await
        })
        .await
    }

    pub async fn send(
        &self,
        envelope_id: &str,
        idempotency_key: &str,
    ) -> Result<Value, ClientError> {
        self.timed("send", async {
            self.json(
                self.request(
                    reqwest::Method::POST,
                    &format!("/envelopes/{envelope_id}/send"),
                )
                .header("Idempotency-Key", idempotency_key)
                .send()
                .await,
            )
            .await
        })
        .await
    }

    /// Voids an envelope that is out (its signers are told `reason`), or deletes a draft.
    pub async fn void(&self, envelope_id: &str, reason: &str) -> Result<(), ClientError> {
        self.timed("void", async {
            self.answer(
                self.request(
                    reqwest::Method::DELETE,
                    &format!("/envelopes/{envelope_id}"),
                )
                .query(&[("reason", reason)])
                .send()
                .await,
            )
            .await
            .map(|_| ())
        })
        .await
    }

    pub async fn envelope(&self, envelope_id: &str) -> Result<Value, ClientError> {
        self.timed("get_envelope", async {
            self.json(
                self.request(reqwest::Method::GET, &format!("/envelopes/{envelope_id}"))
                    .send()
                    .await,
            )
            .await
        })
        .await
    }

    /// `signed-document` or `audit-trail`.
    pub async fn download(&self, envelope_id: &str, what: &str) -> Result<Vec<u8>, ClientError> {
        self.timed("download", async {
            let response = self
                .answer(
                    self.request(
                        reqwest::Method::GET,
                        &format!("/envelopes/{envelope_id}/{what}"),
                    )
                    .send()
                    .await,
                )
                .await?;
            response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .map_err(|err| ClientError::Transient(err.to_string()))
        })
        .await
    }

    pub async fn webhooks(&self) -> Result<Vec<Value>, ClientError> {
        self.timed("list_webhooks", async {
            let listed = self
                .json(self.request(reqwest::Method::GET, "/webhooks").send().await)
                .await?;
            Ok(match listed {
                Value::Array(items) => items,
                other => other["data"].as_array().cloned().unwrap_or_default(),
            })
        })
        .await
    }

    pub async fn create_webhook(&self, url: &str, events: &[&str]) -> Result<Value, ClientError> {
        self.timed("create_webhook", async {
            self.json(
                self.request(reqwest::Method::POST, "/webhooks")
                    .json(&serde_json::json!({"url": url, "events": events}))
                    .send()
                    .await,
            )
            .await
        })
        .await
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<(), ClientError> {
        self.timed("delete_webhook", async {
            self.answer(
                self.request(reqwest::Method::DELETE, &format!("/webhooks/{id}"))
                    .send()
                    .await,
            )
            .await
            .map(|_| ())
        })
        .await
    }
}
