//! Stored answers to POSTs made with an `Idempotency-Key`, kept 24 hours.

use super::{get_json, put_json, Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How long a stored answer is replayed.
pub const RETENTION_HOURS: i64 = 24;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredResponse {
    /// SHA-256 of method, path and body of the first request.
    pub fingerprint: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

/// The stored answer under `key`, unless it is older than the retention.
pub fn get(
    store: &Store,
    key: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<StoredResponse>, StoreError> {
    let stored: Option<StoredResponse> = get_json(&store.idempotency, key)?;
    Ok(stored.filter(|s| now - s.created_at < Duration::hours(RETENTION_HOURS)))
}

pub fn put(store: &Store, key: &[u8], response: &StoredResponse) -> Result<(), StoreError> {
    put_json(&store.idempotency, key, response)
}

/// Deletes answers past the retention (they may hold a key secret shown once); returns how many.
pub fn purge_expired(store: &Store, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut removed = 0;
    for entry in store.idempotency.iter() {
        let (key, value) = entry?;
        let expired = serde_json::from_slice::<StoredResponse>(&value)
            .map(|s| now - s.created_at >= Duration::hours(RETENTION_HOURS))
            .unwrap_or(true);
        if expired {
            store.idempotency.remove(key)?;
            removed += 1;
        }
    }
    Ok(removed)
}
