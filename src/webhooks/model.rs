//! Webhook subscriptions and deliveries as stored and as the API shows them.

use crate::esign::model::{Environment, EventKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A subscription: where to send which events, signed with which secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub environment: Environment,
    /// Exactly as submitted.
    pub url: String,
    pub events: Vec<EventKind>,
    pub active: bool,
    /// `whsec_` + base64 of 32 random bytes; shown once.
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub disabled_reason: Option<String>,
}

/// A subscription as listed (never the secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    #[schema(example = "wh_01JD5Q9M3V0F8W2K7T4R6Y1ZXC")]
    pub id: String,
    pub url: String,
    pub events: Vec<EventKind>,
    pub active: bool,
    /// The same as `active` (the name the Power Automate connector reads).
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    /// Why the server switched it off (the endpoint answered 410 Gone).
    pub disabled_reason: Option<String>,
}

impl From<&Subscription> for SubscriptionView {
    fn from(s: &Subscription) -> Self {
        Self {
            id: s.id.clone(),
            url: s.url.clone(),
            events: s.events.clone(),
            active: s.active,
            is_active: s.active,
            created_at: s.created_at,
            disabled_reason: s.disabled_reason.clone(),
        }
    }
}

/// A new subscription: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedSubscription {
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// Verify deliveries with it: `X-Certyneo-Signature` is hex HMAC-SHA256 of the raw body
    /// keyed with this whole string; Standard Webhooks libraries take it as it is.
    pub secret: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

/// One try at delivering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
}

/// One event on its way to one endpoint, with every attempt made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    #[schema(example = "dlv_01JD5Q9M3V0F8W2K7T4R6Y1ZXC")]
    pub id: String,
    pub environment: Environment,
    pub webhook_id: String,
    pub event_id: String,
    pub event: String,
    /// The exact body sent on every attempt.
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    /// Attempts in the current round (a replay starts a new round of six).
    pub round_attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}
