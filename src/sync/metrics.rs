//! The daemon's Prometheus metrics, kept in memory and rendered in the text exposition format
//! at `/metrics`: records read, jobs by state, e-signature API and source call latency,
//! webhook lag.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
struct Summary {
    count: u64,
    sum: f64,
}

/// Counters and latency sums, by label.
#[derive(Default)]
pub struct SyncMetrics {
    records_read: Mutex<BTreeMap<String, u64>>,
    api_calls: Mutex<BTreeMap<(String, String), Summary>>,
    source_reads: Mutex<BTreeMap<String, Summary>>,
    webhook_lag: Mutex<Summary>,
    webhooks_received: Mutex<BTreeMap<String, u64>>,
    record_failures: Mutex<BTreeMap<(String, String, String), u64>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl SyncMetrics {
    pub fn records_read(&self, source: &str, count: usize) {
        *lock(&self.records_read)
            .entry(source.to_string())
            .or_default() += count as u64;
    }

    /// One e-signature API call: `operation` (upload, create, send, get, download) and outcome.
    pub fn api_call(&self, operation: &str, outcome: &str, took: Duration) {
        let mut calls = lock(&self.api_calls);
        let entry = calls
            .entry((operation.to_string(), outcome.to_string()))
            .or_default();
        entry.count += 1;
        entry.sum += took.as_secs_f64();
    }

    /// A record came to need attention (counted once per record and version).
    pub fn record_failed(&self, source: &str, mapping: &str, kind: &str) {
        *lock(&self.record_failures)
            .entry((source.to_string(), mapping.to_string(), kind.to_string()))
            .or_default() += 1;
    }

    pub fn source_read(&self, source: &str, took: Duration) {
        let mut reads = lock(&self.source_reads);
        let entry = reads.entry(source.to_string()).or_default();
        entry.count += 1;
        entry.sum += took.as_secs_f64();
    }

    /// A webhook arrived `lag` after its event happened (`outcome`: new, duplicate, refused).
    pub fn webhook(&self, outcome: &str, lag: Option<Duration>) {
        *lock(&self.webhooks_received)
            .entry(outcome.to_string())
            .or_default() += 1;
        if let Some(lag) = lag {
            let mut summary = lock(&self.webhook_lag);
            summary.count += 1;
            summary.sum += lag.as_secs_f64();
        }
    }

    /// The exposition text, with `jobs` (state → count) and the records needing attention
    /// as gauges.
    pub fn render(&self, jobs: &BTreeMap<&str, usize>, needing_attention: usize) -> String {
        let mut out = String::new();
        out.push_str("# HELP signbridge_sync_records_read_total Records read from sources.\n# TYPE signbridge_sync_records_read_total counter\n");
        for (source, count) in lock(&self.records_read).iter() {
            out.push_str(&format!(
                "signbridge_sync_records_read_total{{source=\"{}\"}} {count}\n",
                escape(source)
            ));
        }
        out.push_str(
            "# HELP signbridge_sync_jobs Jobs by state.\n# TYPE signbridge_sync_jobs gauge\n",
        );
        for (state, count) in jobs {
            out.push_str(&format!(
                "signbridge_sync_jobs{{state=\"{state}\"}} {count}\n"
            ));
        }
        out.push_str("# HELP signbridge_sync_records_needing_attention Records parked or with a note for a person.\n# TYPE signbridge_sync_records_needing_attention gauge\n");
        out.push_str(&format!(
            "signbridge_sync_records_needing_attention {needing_attention}\n"
        ));
        out.push_str("# HELP signbridge_sync_record_failures_total Records that came to need attention, by source, mapping and kind of problem.\n# TYPE signbridge_sync_record_failures_total counter\n");
        for ((source, mapping, kind), count) in lock(&self.record_failures).iter() {
            out.push_str(&format!(
                "signbridge_sync_record_failures_total{{source=\"{}\",mapping=\"{}\",kind=\"{}\"}} {count}\n",
                escape(source),
                escape(mapping),
                escape(kind)
            ));
        }
        out.push_str("# HELP signbridge_sync_api_call_seconds E-signature API calls by operation and outcome.\n# TYPE signbridge_sync_api_call_seconds summary\n");
        for ((operation, outcome), summary) in lock(&self.api_calls).iter() {
            let labels = format!(
                "operation=\"{}\",outcome=\"{}\"",
                escape(operation),
                escape(outcome)
            );
            out.push_str(&format!(
                "signbridge_sync_api_call_seconds_sum{{{labels}}} {:.6}\n",
                summary.sum
            ));
            out.push_str(&format!(
                "signbridge_sync_api_call_seconds_count{{{labels}}} {}\n",
                summary.count
            ));
        }
        out.push_str("# HELP signbridge_sync_source_read_seconds Source reads.\n# TYPE signbridge_sync_source_read_seconds summary\n");
        for (source, summary) in lock(&self.source_reads).iter() {
            let labels = format!("source=\"{}\"", escape(source));
            out.push_str(&format!(
                "signbridge_sync_source_read_seconds_sum{{{labels}}} {:.6}\n",
                summary.sum
            ));
            out.push_str(&format!(
                "signbridge_sync_source_read_seconds_count{{{labels}}} {}\n",
                summary.count
            ));
        }
        out.push_str("# HELP signbridge_sync_webhooks_received_total Webhooks at the receiver by outcome.\n# TYPE signbridge_sync_webhooks_received_total counter\n");
        for (outcome, count) in lock(&self.webhooks_received).iter() {
            out.push_str(&format!(
                "signbridge_sync_webhooks_received_total{{outcome=\"{}\"}} {count}\n",
                escape(outcome)
            ));
        }
        let lag = lock(&self.webhook_lag);
        out.push_str("# HELP signbridge_sync_webhook_lag_seconds From an event to its arrival at the receiver.\n# TYPE signbridge_sync_webhook_lag_seconds summary\n");
        out.push_str(&format!("signbridge_sync_webhook_lag_seconds_sum {:.6}\nsignbridge_sync_webhook_lag_seconds_count {}\n", lag.sum, lag.count));
        out
    }
}
