//! The sync daemon: sources are polled on their schedule, mappings turn qualifying records into
//! jobs, jobs drive document → envelope → send through the e-signature API (over HTTP, embedded
//! or remote), the HMAC-verified `envelope.*` webhooks (or the reconciler, when one is late)
//! end them, and the outcome is written back to the record — once each, whatever crashes.

pub mod admin;
pub mod changes;
pub mod client;
pub mod connector;
pub mod folder;
pub mod http;
pub mod jobs;
pub mod mapping;
pub mod metrics;
pub mod notices;
pub mod receiver;
pub mod validate;

use crate::clock::SharedClock;
use crate::config::{Config, SourceConfig};
use crate::store::{Store, StoreError};
use client::{ApiClient, ClientError};
use connector::{BrokenRecord, Connector, SourceError, SourceRecord, WriteBack};
use handlebars::Handlebars;
use jobs::{Job, JobState, JobStore};
use mapping::{Contract, Mapping, MappingError, WriteBackFile};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The events the daemon subscribes to.
pub const EVENTS: [&str; 4] = [
    "envelope.completed",
    "envelope.declined",
    "envelope.expired",
    "envelope.voided",
];

/// Why the daemon could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SyncSetupError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a source run or an admin action of the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no source `{0}`")]
    UnknownSource(String),
    #[error("no job `{0}`")]
    UnknownJob(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the source run stopped: {0}")]
    Interrupted(String),
}

impl SyncError {
    /// The source is unavailable or throttled for now (not a fault of the configuration).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SyncError::Source(SourceError::Unavailable(_) | SourceError::Throttled { .. })
        )
    }
}

/// How long a failing source waits before it is tried again: its `Retry-After` when it gave
/// one, else exponential from 2 s with ±20 % jitter, at most 15 minutes.
pub fn source_backoff(failures: u32, retry_after_secs: Option<u64>) -> Duration {
    let exponential = 2f64.powi(failures.clamp(1, 16) as i32).min(900.0);
    let jittered = exponential * (0.8 + 0.4 * rand::random::<f64>());
    let wait = Duration::from_secs_f64(jittered.min(900.0));
    match retry_after_secs {
        Some(secs) => wait.max(Duration::from_secs(secs.min(3600))),
        None => wait,
    }
}

/// A configured source: its connector and schedule.
pub struct Source {
    pub name: String,
    pub connector: Arc<dyn Connector>,
    pub schedule: cron::Schedule,
    /// Wakes the source's poller for a run now (`signbridge sync SOURCE`).
    pub run_now: tokio::sync::Notify,
}

/// Parses a schedule: cron with 5 fields (minute first) or 6/7 (seconds first).
pub fn parse_schedule(text: &str) -> Result<cron::Schedule, SyncSetupError> {
    let fields = text.split_whitespace().count();
    let full = if fields == 5 {
        format!("0 {text}")
    } else {
        text.to_string()
    };
    cron::Schedule::from_str(&full)
        .map_err(|err| SyncSetupError::Config(format!("schedule `{text}`: {err}")))
}

/// Builds a source from its configuration (paths relative to the working folder); a connector
/// other than the built-in ones is `<connectors_dir>/<connector>.yaml`.
pub fn source_from_config(
    name: &str,
    config: &SourceConfig,
    connectors_dir: &Path,
) -> Result<Source, SyncSetupError> {
    let schedule = parse_schedule(config.schedule.as_deref().unwrap_or("* * * * *"))?;
    if config.connector != "folder" {
        for (field, set) in [
            ("path", config.path.is_some()),
            ("output", config.output.is_some()),
            ("id_field", config.id_field.is_some()),
            ("version_field", config.version_field.is_some()),
        ] {
            if set {
                return Err(SyncSetupError::Config(format!("source `{name}`: `{field}` is a setting of the folder connector; `{}` takes `settings:`", config.connector)));
            }
        }
    } else if !config.settings.is_empty()
        || config.base_url.is_some()
        || config.requests_per_second.is_some()
    {
        return Err(SyncSetupError::Config(format!("source `{name}`: the folder connector takes path/output/id_field/version_field, not settings, base_url or requests_per_second")));
    }
    let connector: Arc<dyn Connector> = match config.connector.as_str() {
        "folder" => {
            let path = config.path.clone().ok_or_else(|| {
                SyncSetupError::Config(format!(
                    "source `{name}`: the folder connector needs `path`"
                ))
            })?;
            Arc::new(folder::FolderConnector {
                output: config.output.clone().unwrap_or_else(|| path.join("signed")),
                path,
                id_field: config.id_field.clone().unwrap_or_else(|| "id".into()),
                version_field: config
                    .version_field
                    .clone()
                    .unwrap_or_else(|| "updatedAt".into()),
            })
        }
        other => {
            let file = connectors_dir.join(format!("{other}.yaml"));
            if !file.is_file() {
                return Err(SyncSetupError::Config(format!(
                    "source `{name}`: unknown connector `{other}` (built in: folder; no {})",
                    file.display()
                )));
            }
            let mut definition = http::load_definition(&file)
                .map_err(|err| SyncSetupError::Config(err.to_string()))?;
            if let Some(rate) = config.requests_per_second {
                if !(rate >= 0.0 && rate.is_finite()) {
                    return Err(SyncSetupError::Config(format!(
                        "source `{name}`: requests_per_second must be 0 (no budget) or more"
                    )));
                }
                definition.throttle.requests_per_second = rate;
            }
            Arc::new(
                http::HttpConnector::new(
                    name,
                    definition,
                    &config.settings,
                    config.base_url.clone(),
                )
                .map_err(|err| SyncSetupError::Config(err.to_string()))?,
            )
        }
    };
    Ok(Source {
        name: name.to_string(),
        connector,
        schedule,
        run_now: tokio::sync::Notify::new(),
    })
}

/// The sources of a config; with none configured and `sync.demo`, the demo folder source on
/// `./examples/hris` when it exists.
pub fn sources_of(config: &Config) -> BTreeMap<String, SourceConfig> {
    let mut sources = config.sources.clone();
    if sources.is_empty() && config.sync.demo && Path::new("examples/hris").is_dir() {
        sources.insert(
            "demo-hris".into(),
            SourceConfig {
                connector: "folder".into(),
                schedule: Some("*/10 * * * * *".into()),
                path: Some(PathBuf::from("examples/hris")),
                output: Some(PathBuf::from("examples/hris/signed")),
                id_field: None,
                version_field: None,
                settings: BTreeMap::new(),
                base_url: None,
                requests_per_second: None,
            },
        );
    }
    sources
}

/// What one source run did.
#[derive(Debug, Default, Clone, Copy)]
struct SourceRun {
    added: usize,
    /// Records that came out needing attention.
    broken: usize,
}

/// The daemon.
pub struct SyncDaemon {
    jobs: JobStore,
    client: ApiClient,
    mappings: Vec<Mapping>,
    sources: BTreeMap<String, Source>,
    receiver_url: String,
    secret_path: PathBuf,
    webhook_secret: RwLock<Option<String>>,
    registry: Handlebars<'static>,
    reconcile_after: chrono::Duration,
    max_attempts: u32,
    concurrency: usize,
    wake: tokio::sync::Notify,
    pub metrics: Arc<metrics::SyncMetrics>,
    registered: std::sync::atomic::AtomicBool,
    subscription_managed_outside: bool,
    /// Per source: when it last ran and how it went.
    last_runs: std::sync::Mutex<BTreeMap<String, Value>>,
    notices: notices::NoticeStore,
    notifier: notices::Notifier,
    /// Set when the process begins to shut down: no new step, no new run.
    stopping: std::sync::atomic::AtomicBool,
    /// While the API is busy (429, 503, no answer): when jobs may call it again, and how many
    /// busy answers came in a row (the backoff grows with them, and resets on success).
    api_busy: std::sync::Mutex<(u32, Option<chrono::DateTime<chrono::Utc>>)>,
    /// Notices raised since the job runner's last round.
    notices_waiting: std::sync::atomic::AtomicBool,
    /// Wakes the notifier (at the end of a round that raised notices).
    notice_raised: tokio::sync::Notify,
    clock: SharedClock,
}

/// What the daemon is given at start.
pub struct SyncSettings {
    pub store: Store,
    pub client: ApiClient,
    pub mappings: Vec<Mapping>,
    pub sources: BTreeMap<String, Source>,
    pub receiver_url: String,
    pub data_dir: PathBuf,
    pub config: crate::config::SyncConfig,
    /// A subscription managed outside the daemon: its secret (no registration then).
    pub webhook_secret: Option<String>,
    /// Outgoing mail for operator notices (the `.eml` outbox without it).
    pub smtp: Option<crate::config::SmtpConfig>,
    pub clock: SharedClock,
}

fn backoff(attempts: u32) -> chrono::Duration {
    chrono::Duration::seconds(2i64.saturating_pow(attempts.min(8)).min(300))
}

/// How a step failed.
enum StepError {
    /// The API cannot take calls now: wait (at least this long), without spending an attempt.
    Delay(Option<Duration>, String),
    /// Try again later (counts towards parking).
    Retry(String),
    /// Park now: the kind of problem (for metrics and notices), and what it is.
    Park(&'static str, String),
}

impl From<ClientError> for StepError {
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::Busy { retry_after, .. } => StepError::Delay(retry_after, err.to_string()),
            ClientError::Transient(_) => StepError::Retry(err.to_string()),
            ClientError::Refused { .. } => StepError::Park("api_refused", err.to_string()),
        }
    }
}

impl From<MappingError> for StepError {
    fn from(err: MappingError) -> Self {
        StepError::Park("mapping", err.to_string())
    }
}

impl From<SourceError> for StepError {
    fn from(err: SourceError) -> Self {
        match err {
            SourceError::Unavailable(_) | SourceError::Throttled { .. } => {
                StepError::Retry(err.to_string())
            }
            SourceError::BadRecord(_) => StepError::Park("source_record", err.to_string()),
            SourceError::Config(_) => StepError::Park("source_config", err.to_string()),
        }
    }
}

impl From<StoreError> for StepError {
    fn from(err: StoreError) -> Self {
        StepError::Retry(err.to_string())
    }
}

fn ended_state(status: &str) -> Option<JobState> {
    match status {
        "COMPLETED" | "envelope.completed" => Some(JobState::Completed),
        "DECLINED" | "envelope.declined" => Some(JobState::Declined),
        "EXPIRED" | "envelope.expired" => Some(JobState::Expired),
        "VOIDED" | "envelope.voided" => Some(JobState::Voided),
        _ => None,
    }
}

impl SyncDaemon {
    pub fn new(settings: SyncSettings) -> Result<Self, SyncSetupError> {
        let secret_path = settings.data_dir.join("sync").join("webhook-secret");
        let managed_outside = settings.webhook_secret.is_some();
        let secret = settings.webhook_secret.or_else(|| {
            std::fs::read_to_string(&secret_path)
                .ok()
                .map(|s| s.trim().to_string())
        });
        let metrics = Arc::new(metrics::SyncMetrics::default());
        let notify = settings.config.notify.clone();
        let mailer = if notify.email.is_empty() {
            None
        } else {
            Some(
                crate::signing::mail::Mailer::new(
                    settings.smtp.as_ref(),
                    settings.data_dir.join("outbox"),
                )
                .map_err(|err| SyncSetupError::Config(format!("sync.notify: {err}")))?,
            )
        };
        Ok(Self {
            notices: notices::NoticeStore::new(settings.store.clone()),
            notifier: notices::Notifier::new(notify, mailer),
            notices_waiting: std::sync::atomic::AtomicBool::new(false),
            stopping: std::sync::atomic::AtomicBool::new(false),
            api_busy: std::sync::Mutex::new((0, None)),
            notice_raised: tokio::sync::Notify::new(),
            clock: settings.clock,
            jobs: JobStore::new(settings.store),
            client: settings.client.with_metrics(metrics.clone()),
            mappings: settings.mappings,
            sources: settings.sources,
            receiver_url: settings.receiver_url,
            secret_path,
            webhook_secret: RwLock::new(secret),
            registry: crate::pdf::render::expression_registry(),
            reconcile_after: chrono::Duration::seconds(settings.config.reconcile_after_secs as i64),
            max_attempts: settings.config.max_attempts.max(1),
            concurrency: settings.config.concurrency.max(1),
            wake: tokio::sync::Notify::new(),
            metrics,
            registered: std::sync::atomic::AtomicBool::new(false),
            subscription_managed_outside: managed_outside,
            last_runs: std::sync::Mutex::new(BTreeMap::new()),
        })
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Shutdown has begun: the job runner takes no new step (a step cut short by it records
    /// nothing and runs again at the next start) and sources are not read again.
    pub fn stop(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The API answered busy: jobs wait (its `Retry-After`, else 1 s doubling per busy
    /// answer in a row, at most 60 s). Returns when they may call again.
    fn api_was_busy(&self, retry_after: Option<Duration>) -> chrono::DateTime<chrono::Utc> {
        let mut busy = self.api_busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.0 = busy.0.saturating_add(1);
        let backoff = Duration::from_secs(1u64 << busy.0.min(6).saturating_sub(1))
            .min(Duration::from_secs(60));
        let wait = retry_after
            .unwrap_or(backoff)
            .max(Duration::from_millis(200));
        let until = self.now() + chrono::Duration::from_std(wait).unwrap_or_default();
        busy.1 = Some(busy.1.map_or(until, |earlier| earlier.max(until)));
        until
    }

    fn api_answered(&self) {
        let mut busy = self.api_busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.0 = 0;
    }

    /// When the API may be called again, if it is busy now.
    fn api_busy_until(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let busy = self.api_busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.1.filter(|until| *until > self.now())
    }

    /// The webhook receiver is registered with the API (ready to complete jobs).
    pub fn is_ready(&self) -> bool {
        self.registered.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `/metrics` text.
    pub fn metrics_text(&self) -> Result<String, StoreError> {
        let jobs = self.jobs.all()?;
        let needing_attention = jobs
            .iter()
            .filter(|j| j.state == JobState::Parked || j.attention.is_some())
            .count();
        Ok(self
            .metrics
            .render(&self.job_counts(&jobs), needing_attention))
    }

    /// How many jobs are in each state (every state listed).
    fn job_counts(&self, jobs: &[Job]) -> BTreeMap<&'static str, usize> {
        let mut counts: BTreeMap<&'static str, usize> =
            JobState::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for job in jobs {
            *counts.entry(job.state.as_str()).or_default() += 1;
        }
        counts
    }

    pub fn jobs(&self) -> &JobStore {
        &self.jobs
    }

    pub fn sources(&self) -> &BTreeMap<String, Source> {
        &self.sources
    }

    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// The secret webhooks are verified with (once registered).
    pub fn webhook_secret(&self) -> Option<String> {
        self.webhook_secret
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Wakes the job runner.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Makes sure the API delivers our events to the receiver: reuses a subscription to our
    /// URL when we still hold its secret, else replaces it.
    async fn register(&self) -> Result<(), ClientError> {
        if self.subscription_managed_outside {
            tracing::info!(url = %self.receiver_url, "using the configured webhook secret; the subscription is managed outside signbridge");
            return Ok(());
        }
        let existing: Vec<Value> = self
            .client
            .webhooks()
            .await?
            .into_iter()
            .filter(|w| w["url"].as_str() == Some(self.receiver_url.as_str()))
            .collect();
        let have_secret = self.webhook_secret().is_some();
        let complete = existing.iter().any(|w| {
            w["active"].as_bool() != Some(false)
                && EVENTS.iter().all(|e| {
                    w["events"]
                        .as_array()
                        .is_some_and(|list| list.iter().any(|x| x == e))
                })
        });
        if have_secret && complete && existing.len() == 1 {
            tracing::info!(url = %self.receiver_url, "webhook subscription in place");
            return Ok(());
        }
        for webhook in &existing {
            if let Some(id) = webhook["id"].as_str() {
                self.client.delete_webhook(id).await?;
            }
        }
        let created = self
            .client
            .create_webhook(&self.receiver_url, &EVENTS)
            .await?;
        let secret = created["secret"].as_str().unwrap_or_default().to_string();
        if secret.is_empty() {
            return Err(ClientError::Transient(
                "the webhook was created without a secret".into(),
            ));
        }
        if let Some(folder) = self.secret_path.parent() {
            let _ = std::fs::create_dir_all(folder);
        }
        crate::esign::write_private_file(&self.secret_path, secret.as_bytes())
            .map_err(|err| ClientError::Transient(err.to_string()))?;
        *self
            .webhook_secret
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(secret);
        tracing::info!(url = %self.receiver_url, "webhook subscription created");
        Ok(())
    }

    /// Runs until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        let mut wait = Duration::from_millis(200);
        loop {
            match self.register().await {
                Ok(()) => {
                    self.registered
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "registering the webhook receiver failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        }
        // Stores written before one contract per record: their jobs are found by record.
        let jobs = self.jobs.clone();
        match tokio::task::spawn_blocking(move || jobs.index_records()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(indexed)) => tracing::info!(indexed, "jobs indexed by record"),
            Ok(Err(err)) => tracing::error!(error = %err, "indexing jobs by record failed"),
            Err(err) => tracing::error!(error = %err, "indexing jobs by record failed"),
        }
        for name in self.sources.keys() {
            tokio::spawn(self.clone().poll_source(name.clone()));
        }
        tokio::spawn(self.clone().reconcile());
        tokio::spawn(self.clone().notify());
        // The one writer of job states: received webhooks (and the reconciler's findings),
        // then newer records, then the due steps — never two at once for a job.
        loop {
            if self.is_stopping() {
                tracing::info!("sync daemon stopped taking steps");
                return;
            }
            if let Err(err) = self.process_inbox().await {
                tracing::error!(error = %err, "processing received webhooks failed");
            }
            if let Err(err) = self.apply_record_updates() {
                tracing::error!(error = %err, "applying newer records failed");
            }
            self.run_due_jobs().await;
            if self
                .notices_waiting
                .swap(false, std::sync::atomic::Ordering::Relaxed)
            {
                self.notice_raised.notify_one();
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    async fn poll_source(self: Arc<Self>, name: String) {
        let Some(source) = self.sources.get(&name) else {
            return;
        };
        let mut failures = 0u32;
        // A run at start: whatever was missed while down runs once, not once per missed slot.
        loop {
            if self.is_stopping() {
                return;
            }
            let mut not_before = None;
            match self.clone().poll_once(&name).await {
                Ok(_) => failures = 0,
                Err(err) => {
                    tracing::warn!(source = %name, error = %err, "source run failed; its cursor stays");
                    // A failing source is not hammered: the next run waits out a backoff
                    // (or the source's Retry-After) even when its schedule is sooner.
                    failures = failures.saturating_add(1);
                    let retry_after = match &err {
                        SyncError::Source(SourceError::Throttled {
                            retry_after_secs, ..
                        }) => *retry_after_secs,
                        _ => None,
                    };
                    not_before = Some(source_backoff(failures, retry_after));
                }
            }
            let now = self.now();
            let next = source.schedule.after(&now).next();
            let mut sleep = next
                .map(|at| (at - now).to_std().unwrap_or_default())
                .unwrap_or(Duration::from_secs(3600));
            if let Some(backoff) = not_before {
                sleep = sleep.max(backoff);
            }
            tokio::select! {
                _ = source.run_now.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// One run of a source: read changed records of every stream its mappings use, record a
    /// job per qualifying record (a broken one as a job needing attention), then advance the
    /// cursor. Returns the number of new jobs. A transient error stops the run with nothing
    /// recorded for that stream and its cursor where it was.
    pub async fn poll_once(self: Arc<Self>, name: &str) -> Result<usize, SyncError> {
        let daemon = self.clone();
        let source = name.to_string();
        let at = self.now();
        let outcome = tokio::task::spawn_blocking(move || daemon.poll_blocking(&source))
            .await
            .map_err(|err| SyncError::Interrupted(err.to_string()))
            .and_then(|r| r);
        let summary = match &outcome {
            Ok(run) => {
                json!({"at": at, "ok": true, "newJobs": run.added, "needAttention": run.broken})
            }
            Err(error) => {
                json!({"at": at, "ok": false, "error": error.to_string(), "transient": error.is_transient()})
            }
        };
        self.last_runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), summary);
        let run = outcome?;
        if run.added > 0 {
            self.wake();
        }
        if run.broken > 0 {
            self.wake();
        }
        Ok(run.added)
    }

    fn poll_blocking(&self, name: &str) -> Result<SourceRun, SyncError> {
        let source = self
            .sources
            .get(name)
            .ok_or_else(|| SyncError::UnknownSource(name.to_string()))?;
        let mut streams: Vec<&str> = self
            .mappings
            .iter()
            .filter(|m| m.file.source == name)
            .map(|m| m.file.stream.as_str())
            .collect();
        streams.sort();
        streams.dedup();
        let mut run = SourceRun::default();
        for stream in streams {
            let cursor = self.jobs.cursor(name, stream)?;
            let started = std::time::Instant::now();
            let read = source.connector.read(stream, cursor.as_deref());
            self.metrics.source_read(name, started.elapsed());
            let batch = read?;
            self.metrics
                .records_read(name, batch.records.len() + batch.broken.len());
            let mut updated = 0;
            for mapping in self
                .mappings
                .iter()
                .filter(|m| m.file.source == name && m.file.stream == stream)
            {
                for record in &batch.records {
                    updated += self.take_record(mapping, record, &mut run)?;
                }
                for broken in &batch.broken {
                    updated += self.take_broken_record(mapping, stream, broken, &mut run)?;
                }
            }
            // A record without an id can only be told about.
            for broken in batch.broken.iter().filter(|b| b.id.is_none()) {
                run.broken += 1;
                self.raise(notices::Notice {
                    source: name.to_string(),
                    mapping: None,
                    record: None,
                    job: None,
                    version: broken.version.clone(),
                    kind: "source_record".into(),
                    reason: broken.reason.clone(),
                    at: self.now(),
                    sent: false,
                    mailed: false,
                    posted: false,
                })?;
            }
            // Durable before the cursor moves past these records.
            self.jobs.flush()?;
            if updated > 0 {
                self.wake();
            }
            if let Some(next) = &batch.cursor {
                self.jobs.set_cursor(name, stream, next)?;
            }
            tracing::info!(
                source = name,
                stream,
                records = batch.records.len(),
                broken = batch.broken.len(),
                new_jobs = run.added,
                "source read"
            );
        }
        Ok(run)
    }

    /// A record read whole: a new job, or a newer version noted for its job. A record the
    /// mapping cannot select or key is recorded as a job needing attention. Returns the
    /// number of updates noted.
    fn take_record(
        &self,
        mapping: &Mapping,
        record: &SourceRecord,
        run: &mut SourceRun,
    ) -> Result<usize, SyncError> {
        let problem = match mapping.selects(&self.registry, &record.data) {
            Ok(false) => return Ok(0),
            Ok(true) => None,
            Err(err) => Some(format!("record {}: {err}", record.id)),
        };
        let (key, problem) = match mapping.record_key(&self.registry, &record.data, &record.id) {
            Ok(key) => (key, problem),
            Err(err) => (
                record.id.clone(),
                problem.or_else(|| Some(format!("record {}: {err}", record.id))),
            ),
        };
        match self.jobs.of_record(&mapping.name, &key)? {
            None => {
                let mut job = Job::new(
                    &mapping.name,
                    &mapping.file.source,
                    &key,
                    &record.id,
                    (record.data.clone(), &record.version),
                    self.now(),
                );
                if let Some(reason) = &problem {
                    job = job.broken(reason, None);
                }
                if self.jobs.add_if_new(&job, &key)? {
                    if problem.is_some() {
                        run.broken += 1;
                        self.raise_for_job(&job, "mapping")?;
                    } else {
                        run.added += 1;
                    }
                }
                Ok(0)
            }
            // The record has its contract: a newer version is the job runner's to weigh
            // (one contract per record unless a field that matters changed).
            Some(job) if self.is_newer(&job, &record.version) => {
                let update = changes::RecordUpdate {
                    record: record.data.clone(),
                    version: record.version.clone(),
                    broken: problem.map(|reason| changes::BrokenUpdate {
                        reason,
                        stream: None,
                    }),
                };
                self.jobs.note_update(&job.id, &update)?;
                Ok(1)
            }
            Some(_) => Ok(0),
        }
    }

    /// A record the source could not give whole: a job needing attention (or, for a record
    /// that has a job, a note on it). Returns the number of updates noted.
    fn take_broken_record(
        &self,
        mapping: &Mapping,
        stream: &str,
        broken: &BrokenRecord,
        run: &mut SourceRun,
    ) -> Result<usize, SyncError> {
        let Some(id) = &broken.id else {
            return Ok(0);
        };
        // What was read is not enough to weigh `when` (it may name what the failed call
        // would have added): the record needs attention under each mapping of its stream,
        // and `when` is weighed once it is read whole.
        let key = mapping
            .record_key(&self.registry, &broken.data, id)
            .unwrap_or_else(|_| id.clone());
        match self.jobs.of_record(&mapping.name, &key)? {
            None => {
                let job = Job::new(
                    &mapping.name,
                    &mapping.file.source,
                    &key,
                    id,
                    (broken.data.clone(), &broken.version),
                    self.now(),
                )
                .broken(&broken.reason, Some(stream));
                if self.jobs.add_if_new(&job, &key)? {
                    run.broken += 1;
                    self.raise_for_job(&job, "source_record")?;
                }
                Ok(0)
            }
            Some(job) if self.is_newer(&job, &broken.version) => {
                let update = changes::RecordUpdate {
                    record: broken.data.clone(),
                    version: broken.version.clone(),
                    broken: Some(changes::BrokenUpdate {
                        reason: broken.reason.clone(),
                        stream: Some(stream.to_string()),
                    }),
                };
                self.jobs.note_update(&job.id, &update)?;
                Ok(1)
            }
            Some(_) => Ok(0),
        }
    }

    /// Whether `version` is news for the job (neither its own, nor the one waiting).
    fn is_newer(&self, job: &Job, version: &str) -> bool {
        job.version != version
            && job.next.as_ref().map(|n| n.version.as_str()) != Some(version)
            && job.attention.as_ref().map(|a| a.version.as_str()) != Some(version)
    }

    /// Queues a notice (once per record and version) and counts it.
    fn raise(&self, notice: notices::Notice) -> Result<(), StoreError> {
        if self.notices.raise(&notice)? {
            self.metrics.record_failed(
                &notice.source,
                notice.mapping.as_deref().unwrap_or(""),
                &notice.kind,
            );
            // Told at the end of the job runner's round, so that what failed together is
            // told together.
            self.notices_waiting
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// The notice of a parked job (or of one whose record needs a look).
    fn raise_for_job(&self, job: &Job, kind: &str) -> Result<(), StoreError> {
        let (reason, version) = match (&job.attention, job.state) {
            (_, JobState::Parked) => (
                job.last_error.clone().unwrap_or_default(),
                job.version.clone(),
            ),
            (Some(attention), _) => (attention.message.clone(), attention.version.clone()),
            _ => return Ok(()),
        };
        self.raise(notices::Notice {
            source: job.source.clone(),
            mapping: Some(job.mapping.clone()),
            record: Some(job.record_id.clone()),
            job: Some(job.id.clone()),
            version,
            kind: kind.to_string(),
            reason,
            at: self.now(),
            sent: false,
            mailed: false,
            posted: false,
        })
    }

    /// Tells the operator about new notices, as one digest per batch; a failed delivery is
    /// tried again with backoff.
    async fn notify(self: Arc<Self>) {
        let mut failures = 0u32;
        let mut last_prune = self.now();
        loop {
            let channels = self.notifier.channels();
            if !channels.is_empty() {
                let notices = self.notices.clone();
                match tokio::task::spawn_blocking(move || notices.unsent()).await {
                    Ok(Ok(pending)) if !pending.is_empty() => {
                        // Each channel tells what it has not told yet: a failing webhook never
                        // makes the mail go twice.
                        let mut failed = false;
                        for channel in &channels {
                            let due: Vec<notices::Notice> = pending
                                .iter()
                                .filter(|n| match channel {
                                    notices::Channel::Mail => !n.mailed,
                                    notices::Channel::Webhook => !n.posted,
                                })
                                .cloned()
                                .collect();
                            if due.is_empty() {
                                continue;
                            }
                            match self.notifier.deliver(*channel, &due, self.now()).await {
                                Ok(()) => {
                                    tracing::info!(records = due.len(), channel = ?channel, "operator told about records needing attention");
                                    if let Err(err) = self.notices.mark(&due, *channel, &channels) {
                                        tracing::error!(error = %err, "recording sent notices failed");
                                    }
                                }
                                Err(err) => {
                                    failed = true;
                                    tracing::warn!(error = %err, channel = ?channel, attempt = failures + 1, "telling the operator failed; trying again later");
                                }
                            }
                        }
                        if failed {
                            failures += 1;
                            tokio::time::sleep(source_backoff(failures, None)).await;
                            continue;
                        }
                        failures = 0;
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => tracing::error!(error = %err, "reading notices failed"),
                    Err(err) => tracing::error!(error = %err, "reading notices failed"),
                }
            }
            let now = self.now();
            if now - last_prune > chrono::Duration::days(1) {
                last_prune = now;
                if let Err(err) = self.notices.prune(now - chrono::Duration::days(90)) {
                    tracing::warn!(error = %err, "pruning old notices failed");
                }
            }
            tokio::select! {
                _ = self.notice_raised.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    }

    /// Ends the jobs whose envelopes the received webhooks report as ended.
    async fn process_inbox(&self) -> Result<(), StoreError> {
        for (event_id, event) in self.jobs.inbox()? {
            let kind = event["event"].as_str().unwrap_or_default();
            let envelope_id = event["envelope_id"]
                .as_str()
                .or_else(|| event["data"]["envelopeId"].as_str())
                .unwrap_or_default()
                .to_string();
            match (ended_state(kind), self.jobs.by_envelope(&envelope_id)?) {
                (Some(state), Some(mut job)) => {
                    // An earlier envelope of the record (a superseded one) ends nothing now.
                    let current = job.envelope_id.as_deref() == Some(envelope_id.as_str());
                    if current && matches!(job.state, JobState::Created | JobState::Sent) {
                        job.state = state;
                        job.updated_at = self.now();
                        job.next_attempt_at = job.updated_at;
                        self.jobs.save(&job)?;
                        tracing::info!(job = %job.id, envelope = %envelope_id, event = kind, "envelope ended");
                    }
                }
                (_, None) => {
                    tracing::info!(event = %event_id, envelope = %envelope_id, kind, "webhook for an envelope no job knows; ignored");
                }
                (None, _) => {}
            }
            self.jobs.done_with_event(&event_id)?;
        }
        Ok(())
    }

    /// Applies the newer records the pollers noted (see `changes`), each once.
    fn apply_record_updates(&self) -> Result<(), StoreError> {
        for (job_id, update) in self.jobs.updates()? {
            let Some(job) = self.jobs.get(&job_id)? else {
                self.jobs.done_with_update(&job_id, &update)?;
                continue;
            };
            let Some(mapping) = self.mappings.iter().find(|m| m.name == job.mapping) else {
                // Kept until the mapping is configured again.
                continue;
            };
            if let Some(changed) = changes::apply(mapping, &job, &update, self.now()) {
                if changed.state == JobState::Superseding && job.state != JobState::Superseding {
                    tracing::info!(job = %job.id, record = %job.record_id, envelope = ?job.envelope_id, fields = ?changed.next.as_ref().map(|n| &n.changed), "a field that matters changed: the contract out is superseded");
                }
                let newly_parked = changed.state == JobState::Parked
                    && (job.state != JobState::Parked || job.last_error != changed.last_error);
                let noticed = changed
                    .attention
                    .as_ref()
                    .filter(|a| a.version == update.version);
                if let Some(attention) = noticed {
                    tracing::warn!(job = %job.id, record = %job.record_id, message = %attention.message, "record needs attention");
                }
                self.jobs.save(&changed)?;
                if newly_parked {
                    tracing::warn!(job = %job.id, record = %job.record_id, error = ?changed.last_error, "record needs attention");
                    self.raise_for_job(&changed, "source_record")?;
                } else if noticed.is_some() {
                    self.raise_for_job(&changed, "attention")?;
                }
                self.wake();
            }
            self.jobs.done_with_update(&job_id, &update)?;
        }
        Ok(())
    }

    async fn run_due_jobs(self: &Arc<Self>) {
        let now = self.now();
        let due: Vec<Job> = match self.jobs.all() {
            Ok(jobs) => jobs
                .into_iter()
                .filter(|j| j.state.is_actionable() && j.next_attempt_at <= now)
                .collect(),
            Err(err) => {
                tracing::error!(error = %err, "listing jobs failed");
                return;
            }
        };
        let limit = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for job in due {
            let Ok(permit) = limit.clone().acquire_owned().await else {
                break;
            };
            // Shutting down, or the API asked for a pause: the rest wait for a later round.
            if self.is_stopping() || self.api_busy_until().is_some() {
                break;
            }
            let daemon = self.clone();
            tasks.spawn(async move {
                daemon.drive(job).await;
                drop(permit);
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Takes one job as far as it can go now.
    async fn drive(&self, mut job: Job) {
        loop {
            if self.is_stopping() {
                return;
            }
            let before = job.state;
            let outcome = self.step(&mut job).await;
            if self.is_stopping() && outcome.is_err() {
                // Cut short by the shutdown (our own API is closing): nothing is recorded,
                // the step runs again at the next start.
                return;
            }
            match outcome {
                Err(StepError::Delay(retry_after, message)) => {
                    let until = self.api_was_busy(retry_after);
                    tracing::info!(job = %job.id, state = job.state.as_str(), error = %message, "the API is busy; the job waits without spending an attempt");
                    job.next_attempt_at = until;
                    job.last_error = Some(message);
                    if let Err(err) = self.jobs.save(&job) {
                        tracing::error!(job = %job.id, error = %err, "saving a job failed");
                    }
                    return;
                }
                Ok(()) => {
                    self.api_answered();
                    job.attempts = 0;
                    job.last_error = None;
                    job.updated_at = self.now();
                    if let Err(err) = self.jobs.save(&job) {
                        tracing::error!(job = %job.id, error = %err, "saving a job failed");
                        return;
                    }
                    if job.state == before || !job.state.is_actionable() {
                        return;
                    }
                }
                Err(error) => {
                    let now = self.now();
                    let (message, park, kind) = match error {
                        // (Handled above; kept whole so that no error is dropped.)
                        StepError::Delay(_, message) => (message, false, "busy"),
                        StepError::Retry(message) => {
                            job.attempts += 1;
                            let park = job.attempts >= self.max_attempts;
                            (message, park, "retries_exhausted")
                        }
                        StepError::Park(kind, message) => (message, true, kind),
                    };
                    tracing::warn!(job = %job.id, mapping = %job.mapping, record = %job.record_id, state = job.state.as_str(), attempt = job.attempts, error = %message, park, "job step failed");
                    job.last_error = Some(message);
                    job.updated_at = now;
                    if park {
                        job.parked_from = Some(job.state);
                        job.state = JobState::Parked;
                    } else {
                        job.next_attempt_at = now + backoff(job.attempts);
                    }
                    if let Err(err) = self.jobs.save(&job) {
                        tracing::error!(job = %job.id, error = %err, "saving a job failed");
                        return;
                    }
                    if park {
                        // Durable with the park: a crash now still tells the operator.
                        let raised = self
                            .raise_for_job(&job, kind)
                            .and_then(|()| self.jobs.flush());
                        if let Err(err) = raised {
                            tracing::error!(job = %job.id, error = %err, "recording a notice failed");
                        }
                    }
                    return;
                }
            }
        }
    }

    fn mapping(&self, name: &str) -> Result<&Mapping, StepError> {
        self.mappings
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| {
                StepError::Park(
                    "mapping",
                    format!("mapping `{name}` is no longer configured"),
                )
            })
    }

    async fn step(&self, job: &mut Job) -> Result<(), StepError> {
        match job.state {
            JobState::Pending => {
                if let Some(stream) = job.unread.clone() {
                    self.read_again(job, &stream).await?;
                }
                let mapping = self.mapping(&job.mapping)?.clone();
                // A first contract whose record was parked before it was selected (a `when`
                // error, a record read again): selected now, or it ends here.
                if job.generation <= 1
                    && job.history.is_empty()
                    && !mapping.selects(&self.registry, &job.record)?
                {
                    let now = self.now();
                    job.history.push(jobs::PastEnvelope {
                        envelope_id: None,
                        reason: job.reason,
                        outcome: "skipped: the mapping's `when` does not select the record".into(),
                        ended_at: now,
                    });
                    // Not by a person: a newer version the mapping selects starts it.
                    job.state = JobState::Skipped;
                    job.parked_from = Some(JobState::Pending);
                    return Ok(());
                }
                if let Some(message) =
                    mapping.unmet_requirement(&self.registry, &job.record, &job.record_id)
                {
                    return Err(StepError::Park("require", message));
                }
                // Recipients are checked before anything is uploaded.
                let plan = mapping.plan(&self.registry, &job.record)?;
                let (template_path, template) = match &mapping.contract {
                    Contract::Rendered { path, source } => (path.clone(), source.clone()),
                    // The template brings its documents: nothing to render or upload.
                    Contract::Template { id } => {
                        let body = self.template_envelope_body(job, &mapping, &plan, id);
                        return self.create_envelope(job, &body).await;
                    }
                };
                let data = mapping.template_data(&self.registry, &job.record)?;
                let today = job.created_at.date_naive();
                let origin = template_path.display().to_string();
                let rendered = tokio::task::spawn_blocking(move || {
                    crate::pdf::render::render_template_on(&origin, &template, &data, today)
                })
                .await
                .map_err(|err| StepError::Retry(err.to_string()))?
                .map_err(|err| StepError::Park("template", format!("template: {err}")))?;
                let name = format!("{}-{}.pdf", job.mapping, job.record_id);
                let document = self
                    .client
                    .upload(&name, rendered.pdf, &job.idempotency_key("upload"))
                    .await?;
                job.document_id = document["id"].as_str().map(str::to_string);
                if job.document_id.is_none() {
                    return Err(StepError::Retry("the upload answer has no id".into()));
                }
                job.state = JobState::Uploaded;
            }
            JobState::Uploaded => {
                let mapping = self.mapping(&job.mapping)?;
                let plan = mapping.plan(&self.registry, &job.record)?;
                let (template_path, template) = match &mapping.contract {
                    Contract::Rendered { path, source } => (path.clone(), source.clone()),
                    // The mapping moved to a saved template after the upload: what it says now.
                    Contract::Template { id } => {
                        let body = self.template_envelope_body(job, mapping, &plan, id);
                        return self.create_envelope(job, &body).await;
                    }
                };
                let document_id = job.document_id.clone().unwrap_or_default();
                let data = mapping.template_data(&self.registry, &job.record)?;
                let today = job.created_at.date_naive();
                let origin = template_path.display().to_string();
                let texts = tokio::task::spawn_blocking(move || {
                    crate::pdf::render::render_template_on(&origin, &template, &data, today)
                        .map_err(|err| err.to_string())
                        .and_then(|r| crate::pdf::page_texts(&r.pdf).map_err(|e| e.to_string()))
                })
                .await
                .map_err(|err| StepError::Retry(err.to_string()))?
                .map_err(|err| StepError::Park("template", format!("template: {err}")))?;
                let mut body = json!({
                    "subject": plan.subject,
                    "documentIds": [document_id],
                    "recipients": plan.recipients,
                    "fields": mapping::fields_for(&plan, &texts),
                    "tags": ["signbridge-sync", job.mapping.clone()],
                });
                self.add_envelope_options(&mut body, job, mapping, &plan);
                self.create_envelope(job, &body).await?;
            }
            JobState::Created => {
                let envelope_id = job.envelope_id.clone().unwrap_or_default();
                match self
                    .client
                    .send(&envelope_id, &job.idempotency_key("send"))
                    .await
                {
                    Ok(_) => job.state = JobState::Sent,
                    Err(ClientError::Refused { status: 409, .. }) => {
                        // Sent before a crash: find out where it is now.
                        let envelope = self.client.envelope(&envelope_id).await?;
                        let status = envelope["status"].as_str().unwrap_or_default();
                        job.state = ended_state(status).unwrap_or(JobState::Sent);
                    }
                    Err(err) => return Err(err.into()),
                }
                tracing::info!(job = %job.id, envelope = %envelope_id, record = %job.record_id, "envelope sent");
            }
            JobState::Completed | JobState::Declined | JobState::Expired | JobState::Voided => {
                self.write_back(job).await?;
                let ended = job.state;
                job.ended_as = Some(ended);
                job.state = JobState::WrittenBack;
                // A newer record waited for this one to end: its contract is next.
                if job.start_next_contract(ended.as_str(), self.now()) {
                    tracing::info!(job = %job.id, record = %job.record_id, reason = job.reason.as_str(), "the record's next contract starts");
                }
            }
            JobState::Superseding => self.supersede(job).await?,
            JobState::Sent | JobState::WrittenBack | JobState::Parked | JobState::Skipped => {}
        }
        Ok(())
    }

    /// The create body of an envelope made from saved template `template_id`.
    fn template_envelope_body(
        &self,
        job: &Job,
        mapping: &Mapping,
        plan: &mapping::EnvelopePlan,
        template_id: &str,
    ) -> Value {
        let mut body = json!({
            "subject": plan.subject,
            "templateId": template_id,
            "recipients": plan.recipients,
            "tags": ["signbridge-sync", job.mapping.clone()],
        });
        self.add_envelope_options(&mut body, job, mapping, plan);
        body
    }

    /// What every create body of a mapping carries besides its documents: the message (after
    /// the correction note, for a correction), the mapping's options and the expiry.
    fn add_envelope_options(
        &self,
        body: &mut Value,
        job: &Job,
        mapping: &Mapping,
        plan: &mapping::EnvelopePlan,
    ) {
        let note = (job.reason == jobs::SendReason::Correction)
            .then(|| changes::correction_note(mapping.file.locale.as_deref()));
        match (note, &plan.message) {
            (Some(note), Some(message)) => body["message"] = json!(format!("{note}\n\n{message}")),
            (Some(note), None) => body["message"] = json!(note),
            (None, Some(message)) => body["message"] = json!(message),
            (None, None) => {}
        }
        for (key, value) in &plan.options {
            body[key] = value.clone();
        }
        if let Some(days) = mapping.file.expires_in_days {
            body["expiresAt"] = json!(job.created_at + chrono::Duration::days(i64::from(days)));
        }
    }

    /// Creates the job's envelope (`Idempotency-Key` of its `create` step): the job is
    /// `created` with its id.
    async fn create_envelope(&self, job: &mut Job, body: &Value) -> Result<(), StepError> {
        let envelope = self
            .client
            .create_envelope(body, &job.idempotency_key("create"))
            .await?;
        job.envelope_id = envelope["id"].as_str().map(str::to_string);
        if job.envelope_id.is_none() {
            return Err(StepError::Retry("the create answer has no id".into()));
        }
        job.state = JobState::Created;
        Ok(())
    }

    /// Ends the contract out (voids the envelope, or deletes its draft) so that the corrected
    /// one can start. If it was signed meanwhile, the signed contract stands.
    async fn supersede(&self, job: &mut Job) -> Result<(), StepError> {
        if let Some(envelope_id) = job.envelope_id.clone() {
            match self.client.void(&envelope_id, changes::SUPERSEDED).await {
                Ok(()) => {}
                // A draft deleted before a crash.
                Err(ClientError::Refused { status: 404, .. }) => {}
                // Ended already: voided before a crash, or signed, declined or expired.
                Err(ClientError::Refused { status: 409, .. }) => {
                    let envelope = self.client.envelope(&envelope_id).await?;
                    if envelope["status"] == "COMPLETED" {
                        let mapping = self.mapping(&job.mapping)?;
                        let waiting = job.next.take();
                        job.state = JobState::Completed;
                        job.next_attempt_at = self.now();
                        if let Some(next) = waiting {
                            let update = changes::RecordUpdate {
                                record: next.record,
                                version: next.version,
                                broken: None,
                            };
                            if let Some(after) = changes::apply(mapping, job, &update, self.now()) {
                                *job = after;
                            }
                        }
                        tracing::info!(job = %job.id, envelope = %envelope_id, "signed before the correction could replace it; the signed contract stands");
                        return Ok(());
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
        let now = self.now();
        let outcome = format!("voided: {}", changes::SUPERSEDED);
        if !job.start_next_contract(&outcome, now) {
            // Nothing waits (cannot happen: superseding always has a next contract).
            job.state = JobState::Voided;
        }
        tracing::info!(job = %job.id, record = %job.record_id, generation = job.generation, "the corrected contract starts");
        Ok(())
    }

    /// Reads a broken record again from what was read of it (its hydration calls).
    async fn read_again(&self, job: &mut Job, stream: &str) -> Result<(), StepError> {
        let source = self.sources.get(&job.source).ok_or_else(|| {
            StepError::Park(
                "source_config",
                format!("source `{}` is no longer configured", job.source),
            )
        })?;
        let connector = source.connector.clone();
        let (stream, raw) = (stream.to_string(), job.record.clone());
        let record = tokio::task::spawn_blocking(move || connector.reread(&stream, &raw))
            .await
            .map_err(|err| StepError::Retry(err.to_string()))??;
        job.record = record.data;
        job.version = record.version;
        job.unread = None;
        Ok(())
    }

    async fn write_back(&self, job: &Job) -> Result<(), StepError> {
        let mapping = self.mapping(&job.mapping)?;
        let envelope_id = job.envelope_id.clone().unwrap_or_default();
        let (rule, state) = match job.state {
            JobState::Completed => (
                mapping.file.on_completed.clone().or_else(|| {
                    Some(mapping::WriteBackRule {
                        files: vec![WriteBackFile::SignedDocument, WriteBackFile::AuditTrail],
                        fields: Default::default(),
                    })
                }),
                "completed",
            ),
            JobState::Declined => (mapping.file.on_declined.clone(), "declined"),
            JobState::Expired => (mapping.file.on_expired.clone(), "expired"),
            _ => (None, "voided"),
        };
        let rule = rule.unwrap_or_default();
        let envelope = self.client.envelope(&envelope_id).await?;
        let mut files = Vec::new();
        for file in &rule.files {
            let (what, suffix) = match file {
                WriteBackFile::SignedDocument => ("signed-document", "signed"),
                WriteBackFile::AuditTrail => ("audit-trail", "audit-trail"),
            };
            if *file == WriteBackFile::SignedDocument && state != "completed" {
                continue;
            }
            let bytes = self.client.download(&envelope_id, what).await?;
            files.push((format!("{}-{suffix}.pdf", job.record_id), bytes));
        }
        let mut data = job.record.clone();
        if let Value::Object(map) = &mut data {
            map.insert(
                "envelope".into(),
                json!({"id": envelope_id, "status": envelope["status"], "completedAt": envelope["completedAt"]}),
            );
        }
        let mut fields = BTreeMap::new();
        for (name, expression) in &rule.fields {
            fields.insert(
                name.clone(),
                mapping::expand(&self.registry, &format!("fields.{name}"), expression, &data)?,
            );
        }
        let outcome = WriteBack {
            record_id: job.record_id.clone(),
            record: job.record.clone(),
            state: state.into(),
            envelope_id,
            files,
            fields,
        };
        let source = self.sources.get(&job.source).ok_or_else(|| {
            StepError::Park(
                "source_config",
                format!("source `{}` is no longer configured", job.source),
            )
        })?;
        let connector = source.connector.clone();
        tokio::task::spawn_blocking(move || connector.write_back(&outcome))
            .await
            .map_err(|err| StepError::Retry(err.to_string()))??;
        tracing::info!(job = %job.id, record = %job.record_id, state, "written back");
        Ok(())
    }

    /// Polls envelopes whose webhook is overdue, so a lost webhook delays a write-back but
    /// never loses it. What it finds goes through the inbox like a webhook (the job runner
    /// stays the one writer of job states).
    async fn reconcile(self: Arc<Self>) {
        let every = (self.reconcile_after / 4)
            .to_std()
            .unwrap_or(Duration::from_secs(30))
            .clamp(Duration::from_millis(500), Duration::from_secs(60));
        let mut checked: std::collections::HashMap<String, chrono::DateTime<chrono::Utc>> =
            Default::default();
        loop {
            tokio::time::sleep(every).await;
            let now = self.now();
            let cutoff = now - self.reconcile_after;
            let overdue: Vec<Job> = match self.jobs.all() {
                Ok(jobs) => jobs
                    .into_iter()
                    .filter(|j| j.state == JobState::Sent && j.updated_at <= cutoff)
                    .filter(|j| checked.get(&j.id).is_none_or(|at| *at <= cutoff))
                    .collect(),
                Err(err) => {
                    tracing::error!(error = %err, "listing jobs failed");
                    continue;
                }
            };
            let mut ended = 0;
            for job in overdue {
                let envelope_id = job.envelope_id.clone().unwrap_or_default();
                match self.client.envelope(&envelope_id).await {
                    Ok(envelope) => {
                        checked.insert(job.id.clone(), now);
                        let status = envelope["status"].as_str().unwrap_or_default();
                        if ended_state(status).is_none() {
                            continue;
                        }
                        let event = format!("envelope.{}", status.to_ascii_lowercase());
                        let id = format!("reconciled-{envelope_id}-{status}");
                        let found = json!({"id": id, "event": event, "envelope_id": envelope_id});
                        let jobs = self.jobs.clone();
                        match tokio::task::spawn_blocking(move || jobs.receive_event(&id, &found))
                            .await
                        {
                            Ok(Ok(_)) => ended += 1,
                            Ok(Err(err)) => {
                                tracing::error!(job = %job.id, error = %err, "recording a reconciled envelope failed")
                            }
                            Err(err) => {
                                tracing::error!(job = %job.id, error = %err, "recording a reconciled envelope failed")
                            }
                        }
                    }
                    Err(err) => {
                        tracing::warn!(job = %job.id, envelope = %envelope_id, error = %err, "reconciling failed")
                    }
                }
            }
            checked.retain(|_, at| *at > cutoff);
            if ended > 0 {
                tracing::info!(
                    ended,
                    "reconciler found ended envelopes without their webhook"
                );
                self.wake();
            }
        }
    }

    /// The jobs a CLI argument names: a job id (`job_…`), or `SOURCE/RECORD` (every
    /// mapping's job of that record).
    fn jobs_named(&self, target: &str) -> Result<Vec<Job>, SyncError> {
        let found: Vec<Job> = match target.split_once('/') {
            Some((source, record)) if !target.starts_with("job_") => self
                .jobs
                .all()?
                .into_iter()
                .filter(|j| j.source == source && j.record_id == record)
                .collect(),
            _ => self.jobs.get(target)?.into_iter().collect(),
        };
        if found.is_empty() {
            return Err(SyncError::UnknownJob(target.to_string()));
        }
        Ok(found)
    }

    /// Moves parked (or skipped) jobs back to where they were — `target` names a job or a
    /// record, `None` takes every parked job; returns how many. A record that could not be
    /// read whole is read again first; nothing sent before is sent twice (the steps'
    /// idempotency keys stay).
    pub fn retry(&self, target: Option<&str>) -> Result<usize, SyncError> {
        let candidates = match target {
            Some(target) => self.jobs_named(target)?,
            None => self.jobs.all()?,
        };
        let mut count = 0;
        for mut job in candidates {
            let skipped = job.state == JobState::Skipped && target.is_some();
            if job.state != JobState::Parked && !skipped {
                continue;
            }
            job.state = job.parked_from.take().unwrap_or(JobState::Pending);
            job.attempts = 0;
            job.next_attempt_at = self.now();
            self.jobs.save(&job)?;
            count += 1;
        }
        if count > 0 {
            self.wake();
        }
        Ok(count)
    }

    /// Ends jobs needing attention (parked, or with a note) without a contract, keeping
    /// `reason` in their history. A job with an envelope out is not skipped (void it).
    pub fn skip(&self, target: &str, reason: &str) -> Result<usize, SyncError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(SyncError::NotAllowed(
                "give a reason (--reason): it is kept in the record's history".into(),
            ));
        }
        let mut count = 0;
        for mut job in self.jobs_named(target)? {
            match job.state {
                JobState::Parked => {
                    let now = self.now();
                    job.history.push(jobs::PastEnvelope {
                        envelope_id: job.envelope_id.clone(),
                        reason: job.reason,
                        outcome: format!(
                            "skipped: {reason} (was: {})",
                            job.last_error.as_deref().unwrap_or("parked")
                        ),
                        ended_at: now,
                    });
                    job.state = JobState::Skipped;
                    job.parked_from = None;
                    job.attention = None;
                    job.updated_at = now;
                    self.jobs.save(&job)?;
                    count += 1;
                }
                _ if job.attention.is_some() => {
                    job.attention = None;
                    self.jobs.save(&job)?;
                    count += 1;
                }
                state if state.is_out() || state == JobState::Superseding => {
                    return Err(SyncError::NotAllowed(format!(
                        "{}: its envelope is out for signature; void it to end it",
                        job.id
                    )))
                }
                _ => {}
            }
        }
        Ok(count)
    }

    /// Jobs by state, and the parked ones.
    pub fn status(&self) -> Result<Value, StoreError> {
        let jobs = self.jobs.all()?;
        let counts = self.job_counts(&jobs);
        let now = self.now();
        let parked: Vec<Value> = jobs
            .iter()
            .filter(|j| j.state == JobState::Parked)
            .map(|j| json!({"id": j.id, "source": j.source, "mapping": j.mapping, "record": j.record_id, "from": j.parked_from.map(JobState::as_str), "error": j.last_error, "since": j.updated_at, "ageSecs": (now - j.updated_at).num_seconds().max(0)}))
            .collect();
        let last_runs = self
            .last_runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let sources: serde_json::Map<String, Value> = self
            .sources
            .keys()
            .map(|name| {
                (
                    name.clone(),
                    last_runs.get(name).cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        let attention: Vec<Value> = jobs
            .iter()
            .filter_map(|j| {
                j.attention.as_ref().map(|a| json!({"id": j.id, "source": j.source, "mapping": j.mapping, "record": j.record_id, "message": a.message, "at": a.at, "ageSecs": (now - a.at).num_seconds().max(0)}))
            })
            .collect();
        // Webhooks received and stored but not yet applied to their jobs, and newer records
        // read but not yet weighed against their contracts.
        let (pending_webhooks, pending_updates) = self.jobs.waiting()?;
        // Where each stream will read from next.
        let mut cursors = serde_json::Map::new();
        for mapping in &self.mappings {
            let (source, stream) = (&mapping.file.source, &mapping.file.stream);
            let cursor = self.jobs.cursor(source, stream)?;
            let entry = cursors.entry(source.clone()).or_insert_with(|| json!({}));
            entry[stream.as_str()] = json!(cursor);
        }
        // Records a source gave without an id: they have no job, only their notice.
        let unidentified: Vec<Value> = self
            .notices
            .without_job()?
            .iter()
            .map(|n| json!({"source": n.source, "reason": n.reason, "at": n.at, "ageSecs": (now - n.at).num_seconds().max(0)}))
            .collect();
        Ok(
            json!({"jobs": counts, "total": jobs.len(), "parked": parked, "attention": attention, "unidentified": unidentified, "sources": sources, "cursors": cursors, "webhooks": {"pending": pending_webhooks}, "updates": {"pending": pending_updates}}),
        )
    }

    /// A record's jobs (one per mapping, or per `key`) with every envelope it produced and
    /// why: first send, correction, amendment.
    pub fn record_history(&self, record_id: &str) -> Result<Vec<Value>, StoreError> {
        Ok(self
            .jobs
            .all()?
            .into_iter()
            .filter(|j| j.record_id == record_id)
            .map(|j| {
                let mut envelopes: Vec<Value> = j
                    .history
                    .iter()
                    .map(|past| json!({"envelopeId": past.envelope_id, "reason": past.reason, "outcome": past.outcome, "endedAt": past.ended_at}))
                    .collect();
                envelopes.push(json!({"envelopeId": j.envelope_id, "reason": j.reason, "state": j.state.as_str(), "changed": j.changed}));
                json!({"id": j.id, "mapping": j.mapping, "record": j.record_id, "state": j.state.as_str(), "generation": j.generation.max(1), "envelopes": envelopes, "attention": j.attention, "waiting": j.next.as_ref().map(|n| json!({"reason": n.reason, "changed": n.changed}))})
            })
            .collect())
    }
}
