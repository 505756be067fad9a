//! Per-key rate limits as token buckets: `burst` requests at once, refilled at
//! `requests_per_minute`. Each key has its own bucket, so one key's burst never slows another.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The outcome of one check, with what the `X-RateLimit-*` and `Retry-After` headers say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateDecision {
    pub allowed: bool,
    /// Sustained requests per minute.
    pub limit: u32,
    /// Requests that could be made right now.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// When refused: whole seconds after which one request will succeed (≥ 1).
    pub retry_after_secs: u64,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    burst: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Keys outside the limit: the embedded sync daemon's own key, which this process made
    /// and keeps in `<data-dir>/sync/api-key` (its pace is the machine's, not a tenant's).
    exempt: std::sync::RwLock<std::collections::HashSet<String>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            burst: burst.max(1),
            buckets: Mutex::new(HashMap::new()),
            exempt: Default::default(),
        }
    }

    /// Takes key `key_id` out of the limit (the embedded daemon's own key).
    pub fn exempt(&self, key_id: &str) {
        self.exempt
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key_id.to_string());
    }

    fn rate_per_sec(&self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }

    /// Takes one request from `key`'s bucket at time `now`.
    pub fn check(&self, key: &str, now: Instant) -> RateDecision {
        let rate = self.rate_per_sec();
        if self
            .exempt
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
        {
            return RateDecision {
                allowed: true,
                limit: self.per_minute,
                remaining: self.burst,
                reset_secs: 0,
                retry_after_secs: 0,
            };
        }
        let capacity = f64::from(self.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let retry_after_secs = if allowed {
            0
        } else {
            // A small margin so that waiting exactly this long always finds a whole token.
            (((1.0 - bucket.tokens) / rate) + 0.001).ceil().max(1.0) as u64
        };
        RateDecision {
            allowed,
            limit: self.per_minute,
            remaining: bucket.tokens.floor().max(0.0) as u32,
            reset_secs: ((capacity - bucket.tokens) / rate).ceil().max(0.0) as u64,
            retry_after_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refusal_then_honest_retry_after() {
        let limiter = RateLimiter::new(100, 200);
        let start = Instant::now();
        for i in 0..200 {
            let d = limiter.check("k", start);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 199 - i);
        }
        let refused = limiter.check("k", start);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 1);
        let later = start + Duration::from_secs(refused.retry_after_secs);
        assert!(limiter.check("k", later).allowed);
        // Another key is untouched.
        assert_eq!(limiter.check("other", start).remaining, 199);
    }

    #[test]
    fn sustained_rate_is_per_minute() {
        let limiter = RateLimiter::new(60, 1);
        let start = Instant::now();
        assert!(limiter.check("k", start).allowed);
        assert!(
            !limiter
                .check("k", start + Duration::from_millis(500))
                .allowed
        );
        assert!(
            limiter
                .check("k", start + Duration::from_millis(1000))
                .allowed
        );
    }
}
