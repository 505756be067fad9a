//! The daemon's one way to the e-signature API: an HTTP client of the Certyneo contract, used
//! the same against the embedded API (over loopback) and the Certyneo cloud. Every creating
//! call carries an `Idempotency-Key`.

use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

/// Why an API call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Network trouble, 5xx or 429: try again later.
    #[error("e-signature API unavailable: {0}")]
    Transient(String),
    /// The API refused the request (4xx other than 429): retrying the same call will not help.
    #[error("e-signature API refused ({status} {code}): {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
}

/// A client for one API base URL and key.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    key: String,
    http: reqwest::Client,
    metrics: Option<std::sync::Arc<super::metrics::SyncMetrics>>,
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
        }
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
        let started = std::time::Instant::now();
        let result = call.await;
        if let Some(metrics) = &self.metrics {
            let outcome = match &result {
                Ok(_) => "ok",
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
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<reqwest::Response, ClientError> {
        let response = response.map_err(|err| ClientError::Transient(err.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let code = body["code"].as_str().unwrap_or("").to_string();
        let message = body["error"].as_str().unwrap_or("").to_string();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
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
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<Value, ClientError> {
        Self::answer(response)
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
            Self::json(
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
            Self::json(
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
            Self::json(
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
            Self::answer(
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
            Self::json(
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
            let response = Self::answer(
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
            let listed =
                Self::json(self.request(reqwest::Method::GET, "/webhooks").send().await).await?;
            Ok(match listed {
                Value::Array(items) => items,
                other => other["data"].as_array().cloned().unwrap_or_default(),
            })
        })
        .await
    }

    pub async fn create_webhook(&self, url: &str, events: &[&str]) -> Result<Value, ClientError> {
        self.timed("create_webhook", async {
            Self::json(
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
            Self::answer(
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
