//! Outbound webhooks: subscriptions, the durable delivery outbox, signed deliveries with retries
//! and backoff, the delivery log and replay. Public events reach this module through the event
//! outbox that [`crate::esign`] writes in the same transaction as each event; a worker fans them
//! out to the matching subscriptions and delivers them, each endpoint with its own concurrency
//! limit so a slow or dead one never holds up the others.

pub mod model;
pub mod payload;
pub mod ssrf;

use crate::config::WebhooksConfig;
use crate::esign::model::{Environment, EventKind, EventNotice};
use crate::esign::{Esign, EsignError, FieldIssue};
use crate::ids::IdKind;
use crate::store::{encode, get_json, list_newest_first, put_json, Page, Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use model::{
    Attempt, CreatedSubscription, Delivery, DeliveryStatus, Subscription, SubscriptionView,
};
use ssrf::{check_url, AddressPolicy, UrlProblem};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

pub use payload::{build_payload, sign_headers};

/// Most retries wait at most this long, whatever `Retry-After` says.
const MAX_RETRY_AFTER_SECS: i64 = 6 * 3600;

/// The wait before the next attempt after `attempts` failures in this round (`None` when the
/// round is over): the schedule's entry with ±10 % jitter (`unit` in 0..1 picks where in that
/// band), stretched to a `Retry-After` the endpoint asked for, up to six hours.
fn retry_wait(
    schedule: &[u64],
    attempts: u32,
    retry_after: Option<i64>,
    unit: f64,
) -> Option<Duration> {
    let base = *schedule.get((attempts as usize).checked_sub(1)?)? as f64;
    let jittered = (base * (0.9 + unit * 0.2)).round() as i64;
    let wait = match retry_after {
        Some(seconds) => jittered.max(seconds.min(MAX_RETRY_AFTER_SECS)),
        None => jittered,
    };
    Some(Duration::seconds(wait.max(0)))
}

/// The webhook service.
pub struct Webhooks {
    esign: Arc<Esign>,
    config: WebhooksConfig,
    policy: AddressPolicy,
    http: reqwest::Client,
    in_flight: Mutex<HashSet<String>>,
    /// Attempts were recorded since the last flush.
    dirty: std::sync::atomic::AtomicBool,
    endpoint_limits: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Woken when a delivery is queued by the API (replay, ping).
    pub queued: Arc<tokio::sync::Notify>,
}

fn store_error(err: impl Into<StoreError>) -> EsignError {
    EsignError::Store(err.into())
}

impl Webhooks {
    pub fn new(esign: Arc<Esign>, config: WebhooksConfig) -> Result<Self, reqwest::Error> {
        let policy = AddressPolicy {
            allow_loopback: config.allow_loopback,
            allow_private: config.allow_private,
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(config.timeout_secs.max(1)))
            .connect_timeout(std::time::Duration::from_secs(
                config.timeout_secs.clamp(1, 5),
            ))
            .dns_resolver(ssrf::resolver(policy))
            .no_proxy()
            .user_agent("signbridge-webhooks/1")
            .build()?;
        Ok(Self {
            esign,
            config,
            policy,
            http,
            in_flight: Mutex::new(HashSet::new()),
            dirty: std::sync::atomic::AtomicBool::new(false),
            endpoint_limits: Mutex::new(HashMap::new()),
            queued: Arc::new(tokio::sync::Notify::new()),
        })
    }

    fn store(&self) -> &Store {
        self.esign.store()
    }

    fn now(&self) -> DateTime<Utc> {
        self.esign.clock().now()
    }

    /// The address rules, after the host allow-list (checked before any name is resolved).
    async fn check_url(&self, url: &str) -> Result<url::Url, UrlProblem> {
        if !self.config.allowed_hosts.is_empty() {
            let host = url::Url::parse(url).ok().and_then(|u| {
                u.host_str()
                    .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
            });
            let allowed = host.is_some_and(|host| {
                self.config
                    .allowed_hosts
                    .iter()
                    .any(|a| a.trim_matches(['[', ']']).eq_ignore_ascii_case(&host))
            });
            if !allowed {
                return Err(UrlProblem::Rejected);
            }
        }
        check_url(url, self.policy).await
    }

    /// `POST /webhooks`.
    pub async fn create(
        &self,
        environment: Environment,
        url: &str,
        events: &[String],
        active: bool,
    ) -> Result<CreatedSubscription, EsignError> {
        let mut kinds = Vec::new();
        let mut issues = Vec::new();
        if events.is_empty() {
            issues.push(FieldIssue::new("events", "name at least one event"));
        }
        for (index, name) in events.iter().enumerate() {
            match EventKind::parse_public(name.trim()) {
                Some(kind) if !kinds.contains(&kind) => kinds.push(kind),
                Some(_) => {}
                None => issues.push(FieldIssue::new(
                    format!("events[{index}]"),
                    format!(
                        "`{name}` is not an event; valid events: {}",
                        EventKind::PUBLIC
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
        }
        if url.len() > 2048 {
            issues.push(FieldIssue::new("url", "is longer than 2048 characters"));
        }
        if !issues.is_empty() {
            return Err(EsignError::Invalid(issues));
        }
        match self.check_url(url).await {
            Ok(_) => {}
            Err(UrlProblem::Rejected) => {
                return Err(EsignError::BadRequest {
                    code: "url_rejected",
                    message: ssrf::REJECTED.into(),
                })
            }
            Err(problem) => {
                return Err(EsignError::Invalid(vec![FieldIssue::new(
                    "url",
                    problem.to_string(),
                )]))
            }
        }
        use base64::Engine;
        let secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
        );
        let subscription = Subscription {
            id: self.esign.next_id(IdKind::Webhook),
            environment,
            url: url.to_string(),
            events: kinds,
            active,
            secret: secret.clone(),
            created_at: self.now(),
            disabled_reason: None,
        };
        put_json(
            &self.store().webhooks,
            &environment.key(&subscription.id),
            &subscription,
        )?;
        Ok(CreatedSubscription {
            subscription: SubscriptionView::from(&subscription),
            secret,
        })
    }

    pub fn list(&self, environment: Environment) -> Result<Vec<SubscriptionView>, EsignError> {
        let page: Page<Subscription> = list_newest_first(
            &self.store().webhooks,
            &environment.prefix(IdKind::Webhook.prefix()),
            1,
            u64::MAX,
            |_| true,
            false,
        )?;
        Ok(page.items.iter().map(SubscriptionView::from).collect())
    }

    fn load(&self, environment: Environment, id: &str) -> Result<Subscription, EsignError> {
        get_json(&self.store().webhooks, &environment.key(id))?.ok_or_else(|| {
            EsignError::NotFound {
                kind: "webhook",
                id: id.to_string(),
            }
        })
    }

    /// `DELETE /webhooks/{id}`: no more deliveries to it; its pending ones are dropped.
    pub fn delete(&self, environment: Environment, id: &str) -> Result<(), EsignError> {
        self.load(environment, id)?;
        let prefix = format!("{id}/");
        let pending: Vec<crate::store::Bytes> = self
            .store()
            .delivery_queue
            .scan_prefix(prefix.as_bytes())
            .keys()
            .collect::<Result<_, _>>()
            .map_err(store_error)?;
        let location = environment.key(id);
        self.store().transaction(
            (&self.store().webhooks, &self.store().delivery_queue),
            |(hooks, queue)| {
                hooks.remove(location.as_slice())?;
                for key in &pending {
                    queue.remove(key)?;
                }
                Ok(())
            },
        )?;
        Ok(())
    }

    /// `GET /webhooks/{id}/deliveries`: newest first, with every attempt.
    pub fn deliveries(
        &self,
        environment: Environment,
        id: &str,
        page: u64,
        limit: u64,
    ) -> Result<Page<Delivery>, EsignError> {
        self.load(environment, id)?;
        Ok(list_newest_first(
            &self.store().deliveries,
            format!("{id}/").as_bytes(),
            page,
            limit,
            |_| true,
            false,
        )?)
    }

    /// `POST /webhooks/{id}/deliveries/{deliveryId}/retry`: a new round of attempts, now.
    pub fn replay(
        &self,
        environment: Environment,
        id: &str,
        delivery_id: &str,
    ) -> Result<Delivery, EsignError> {
        let subscription = self.load(environment, id)?;
        let key = format!("{id}/{delivery_id}");
        let mut delivery: Delivery = get_json(&self.store().deliveries, key.as_bytes())?
            .ok_or_else(|| EsignError::NotFound {
                kind: "delivery",
                id: delivery_id.to_string(),
            })?;
        if !subscription.active {
            return Err(EsignError::Conflict {
                code: "webhook_inactive",
                message: format!("webhook {id} is not active; nothing would be delivered"),
            });
        }
        delivery.status = DeliveryStatus::Pending;
        delivery.round_attempts = 0;
        delivery.next_attempt_at = Some(self.now());
        self.queue(&key, &delivery)?;
        Ok(delivery)
    }

    /// `POST /webhooks/{id}/test`: a signed `ping` to this endpoint only.
    pub fn ping(&self, environment: Environment, id: &str) -> Result<Delivery, EsignError> {
        let subscription = self.load(environment, id)?;
        let event_id = self.esign.next_id(IdKind::Event);
        let now = self.now();
        let payload = serde_json::json!({
            "id": event_id,
            "event": "ping",
            "occurred_at": now,
            "timestamp": now,
            "data": { "webhookId": subscription.id, "message": "This is a test delivery from signbridge." },
        });
        let delivery = Delivery {
            id: self.esign.next_id(IdKind::Delivery),
            environment,
            webhook_id: subscription.id.clone(),
            event_id,
            event: "ping".into(),
            payload: payload.to_string(),
            status: DeliveryStatus::Pending,
            attempts: Vec::new(),
            round_attempts: 0,
            next_attempt_at: Some(now),
            created_at: now,
        };
        let key = format!("{}/{}", subscription.id, delivery.id);
        self.queue(&key, &delivery)?;
        Ok(delivery)
    }

    fn queue(&self, key: &str, delivery: &Delivery) -> Result<(), EsignError> {
        let record = encode(delivery)?;
        self.store().transaction(
            (&self.store().deliveries, &self.store().delivery_queue),
            |(deliveries, queue)| {
                deliveries.insert(key.as_bytes(), record.as_slice())?;
                queue.insert(key.as_bytes(), &[] as &[u8])?;
                Ok(())
            },
        )?;
        self.queued.notify_one();
        Ok(())
    }

    /// Turns recorded events into deliveries for every active subscription that wants them
    /// (one transaction per batch of up to 500 events: their deliveries appear and they leave
    /// the outbox together; one per event made these transactions half of all under load).
    /// Returns how many deliveries were queued.
    pub fn fan_out(&self) -> Result<usize, EsignError> {
        let notices: Vec<(crate::store::Bytes, crate::store::Bytes)> = self
            .store()
            .event_outbox
            .iter()
            .take(500)
            .collect::<Result<_, _>>()
            .map_err(store_error)?;
        if notices.is_empty() {
            return Ok(0);
        }
        let mut subscriptions: HashMap<Environment, Vec<Subscription>> = HashMap::new();
        for environment in [Environment::Test, Environment::Live] {
            let page: Page<Subscription> = list_newest_first(
                &self.store().webhooks,
                &environment.prefix(IdKind::Webhook.prefix()),
                1,
                u64::MAX,
                |s: &Subscription| s.active,
                true,
            )?;
            subscriptions.insert(environment, page.items);
        }
        let mut records = Vec::new();
        // Without an active subscription the notices are only taken off the outbox.
        let wanted = subscriptions.values().any(|active| !active.is_empty());
        for (_, value) in notices.iter().filter(|_| wanted) {
            let notice: EventNotice = serde_json::from_slice(value).map_err(store_error)?;
            let now = self.now();
            // Built once, and only when some subscription wants the event (most events of a
            // store without webhooks are only taken off the outbox).
            let mut payload: Option<String> = None;
            for subscription in subscriptions
                .get(&notice.event.environment)
                .into_iter()
                .flatten()
            {
                if !subscription.events.contains(&notice.event.kind) {
                    continue;
                }
                let payload = payload.get_or_insert_with(|| {
                    build_payload(&notice, self.esign.public_url()).to_string()
                });
                let delivery = Delivery {
                    id: self.esign.next_id(IdKind::Delivery),
                    environment: notice.event.environment,
                    webhook_id: subscription.id.clone(),
                    event_id: notice.event.id.clone(),
                    event: notice.event.kind.as_str().to_string(),
                    payload: payload.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: Vec::new(),
                    round_attempts: 0,
                    next_attempt_at: Some(now),
                    created_at: now,
                };
                records.push((
                    format!("{}/{}", subscription.id, delivery.id),
                    encode(&delivery)?,
                ));
            }
        }
        let queued = records.len();
        self.store().transaction(
            (
                &self.store().deliveries,
                &self.store().delivery_queue,
                &self.store().event_outbox,
            ),
            |(deliveries, queue, outbox)| {
                for (key, record) in &records {
                    deliveries.insert(key.as_bytes(), record.as_slice())?;
                    queue.insert(key.as_bytes(), &[] as &[u8])?;
                }
                for (key, _) in &notices {
                    outbox.remove(key)?;
                }
                Ok(())
            },
        )?;
        Ok(queued)
    }

    /// Deliveries due now that are not already being attempted.
    fn due(&self) -> Result<Vec<(String, Delivery)>, EsignError> {
        let now = self.now();
        let in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut due = Vec::new();
        for key in self.store().delivery_queue.iter().keys() {
            let key = String::from_utf8_lossy(&key.map_err(store_error)?).into_owned();
            if in_flight.contains(&key) {
                continue;
            }
            let Some(delivery) = get_json::<Delivery>(&self.store().deliveries, key.as_bytes())?
            else {
                self.store()
                    .delivery_queue
                    .remove(key.as_bytes())
                    .map_err(store_error)?;
                continue;
            };
            if delivery.next_attempt_at.is_none_or(|at| at <= now) {
                due.push((key, delivery));
            }
        }
        Ok(due)
    }

    fn endpoint_limit(&self, webhook_id: &str) -> Arc<Semaphore> {
        let mut limits = self
            .endpoint_limits
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        limits
            .entry(webhook_id.to_string())
            .or_insert_with(|| {
                Arc::new(Semaphore::new(
                    self.config.max_in_flight_per_endpoint.max(1),
                ))
            })
            .clone()
    }

    /// One delivery attempt, recorded; returns the updated delivery.
    async fn attempt(&self, key: &str, mut delivery: Delivery) -> Result<Delivery, EsignError> {
        let subscription = self
            .load(delivery.environment, &delivery.webhook_id)
            .ok()
            .filter(|s| s.active);
        let now = self.now();
        let Some(subscription) = subscription else {
            delivery.status = DeliveryStatus::Failed;
            delivery.next_attempt_at = None;
            delivery.attempts.push(Attempt {
                at: now,
                status_code: None,
                latency_ms: 0,
                error: Some("the webhook was deleted or disabled".into()),
            });
            self.finish(key, &delivery)?;
            return Ok(delivery);
        };
        let started = std::time::Instant::now();
        let outcome = self.send(&subscription, &delivery).await;
        let latency_ms = started.elapsed().as_millis() as u64;
        delivery.round_attempts += 1;
        let (status_code, error, retry_after) = match &outcome {
            Ok((status, retry_after)) => (
                Some(*status),
                (!(200..300).contains(status)).then(|| format!("endpoint answered {status}")),
                *retry_after,
            ),
            Err(err) => (None, Some(err.clone()), None),
        };
        delivery.attempts.push(Attempt {
            at: now,
            status_code,
            latency_ms,
            error: error.clone(),
        });
        if error.is_none() {
            delivery.status = DeliveryStatus::Delivered;
            delivery.next_attempt_at = None;
            self.finish(key, &delivery)?;
        } else if status_code == Some(410) {
            delivery.status = DeliveryStatus::Failed;
            delivery.next_attempt_at = None;
            let mut disabled = subscription.clone();
            disabled.active = false;
            disabled.disabled_reason = Some("the endpoint answered 410 Gone".into());
            put_json(
                &self.store().webhooks,
                &disabled.environment.key(&disabled.id),
                &disabled,
            )?;
            self.finish(key, &delivery)?;
        } else if let Some(wait) = self.retry_wait(delivery.round_attempts, retry_after) {
            delivery.next_attempt_at = Some(now + wait);
            put_json(&self.store().deliveries, key.as_bytes(), &delivery)?;
        } else {
            delivery.status = DeliveryStatus::Failed;
            delivery.next_attempt_at = None;
            self.finish(key, &delivery)?;
        }
        Ok(delivery)
    }

    fn retry_wait(&self, attempts: u32, retry_after: Option<i64>) -> Option<Duration> {
        retry_wait(
            &self.config.retry_schedule_secs,
            attempts,
            retry_after,
            rand::random::<f64>(),
        )
    }

    fn finish(&self, key: &str, delivery: &Delivery) -> Result<(), EsignError> {
        let record = encode(delivery)?;
        self.store().transaction(
            (&self.store().deliveries, &self.store().delivery_queue),
            |(deliveries, queue)| {
                deliveries.insert(key.as_bytes(), record.as_slice())?;
                queue.remove(key.as_bytes())?;
                Ok(())
            },
        )?;
        Ok(())
    }

    /// Sends one signed POST; the status and any `Retry-After` seconds, or what went wrong.
    async fn send(
        &self,
        subscription: &Subscription,
        delivery: &Delivery,
    ) -> Result<(u16, Option<i64>), String> {
        let url = self
            .check_url(&subscription.url)
            .await
            .map_err(|e| e.to_string())?;
        let timestamp = self.now().timestamp();
        let headers = sign_headers(
            &subscription.secret,
            &delivery.event_id,
            &delivery.event,
            timestamp,
            delivery.payload.as_bytes(),
        );
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|e| {
                let mut message = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(inner) = source {
                    message = format!("{message}: {inner}");
                    source = inner.source();
                }
                message
            })?;
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok());
        Ok((response.status().as_u16(), retry_after))
    }

    /// Fans out and delivers until the process ends.
    pub async fn run(self: Arc<Self>, mut shutdown: crate::shutdown::Shutdown) {
        loop {
            // Deliveries are recorded before they are attempted: stopping here loses none.
            if shutdown.is_requested() {
                return;
            }
            let fanned = {
                let this = self.clone();
                tokio::task::spawn_blocking(move || this.fan_out()).await
            };
            if let Ok(Err(err)) = fanned {
                tracing::error!(error = %err, "webhook fan-out failed");
            }
            let due = {
                let this = self.clone();
                tokio::task::spawn_blocking(move || this.due()).await
            };
            match due {
                Ok(Ok(due)) => {
                    for (key, delivery) in due {
                        self.in_flight
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(key.clone());
                        let this = self.clone();
                        let limit = self.endpoint_limit(&delivery.webhook_id);
                        tokio::spawn(async move {
                            let Ok(_permit) = limit.acquire_owned().await else {
                                return;
                            };
                            match this.attempt(&key, delivery).await {
                                Ok(done) => {
                                    tracing::debug!(delivery = %done.id, status = ?done.status, "webhook attempt")
                                }
                                Err(err) => {
                                    tracing::error!(error = %err, "recording a webhook attempt failed")
                                }
                            }
                            // Not flushed here: an attempt acknowledges nothing to anyone. The loop
                            // flushes once per round; a status lost to a crash means one more
                            // (deduplicated) delivery, never a lost one.
                            this.dirty.store(true, std::sync::atomic::Ordering::Release);
                            this.in_flight
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(&key);
                            this.queued.notify_one();
                        });
                    }
                }
                Ok(Err(err)) => tracing::error!(error = %err, "reading the webhook queue failed"),
                Err(_) => {}
            }
            if self.dirty.swap(false, std::sync::atomic::Ordering::AcqRel) {
                if let Err(err) = self.store().flush().await {
                    tracing::error!(error = %err, "flushing webhook deliveries failed");
                }
            }
            let wait = tokio::time::sleep(std::time::Duration::from_millis(500));
            tokio::select! {
                _ = wait => {},
                _ = self.esign.events_ready.notified() => {},
                _ = self.queued.notified() => {},
                _ = shutdown.requested() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_attempts_over_about_nine_hours_with_jitter_and_retry_after() {
        let schedule = WebhooksConfig::default().retry_schedule_secs;
        let total: i64 = (1..=5)
            .map(|n| retry_wait(&schedule, n, None, 0.5).unwrap().num_seconds())
            .sum();
        assert_eq!(
            total,
            30 + 300 + 1800 + 7200 + 21600,
            "about 8.6 hours before the sixth attempt"
        );
        assert!(
            retry_wait(&schedule, 6, None, 0.5).is_none(),
            "no seventh attempt"
        );
        assert_eq!(
            retry_wait(&schedule, 1, None, 0.0).unwrap().num_seconds(),
            27
        );
        assert_eq!(
            retry_wait(&schedule, 1, None, 1.0).unwrap().num_seconds(),
            33
        );
        assert_eq!(
            retry_wait(&schedule, 1, Some(120), 0.5)
                .unwrap()
                .num_seconds(),
            120,
            "Retry-After stretches a wait"
        );
        assert_eq!(
            retry_wait(&schedule, 3, Some(5), 0.5)
                .unwrap()
                .num_seconds(),
            1800,
            "but never shortens it"
        );
        assert_eq!(
            retry_wait(&schedule, 1, Some(999_999), 0.5)
                .unwrap()
                .num_seconds(),
            MAX_RETRY_AFTER_SECS
        );
    }
}
