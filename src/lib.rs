//! signbridge: a Certyneo-compatible e-signature API and the sync daemon that drives it, in one
//! binary.
//!
//! Module map (arrows point one way: `api` → `esign` → `store`; `esign` → `pdf`):
//! - [`config`]: `signbridge.yaml` → typed config, `${ENV}` interpolation, file:line:col errors.
//! - [`store`]: sled trees of JSON records, content-addressed blob files, the durability rule.
//! - [`esign`]: the domain without HTTP — keys, documents, envelopes, signing tokens.
//! - [`pdf`]: PDF inspection, rendering, anchors, stamping, the PAdES seal and its check
//!   (nothing of ours below it).
//! - [`sealing`]: the sealing identity, the time-stamp client and the worker completing
//!   fully signed envelopes.
//! - [`api`]: the HTTP surface `/api/v1` — routing, auth, rate limits, idempotency, errors, OpenAPI.
//! - [`signing`]: the signer's pages `/sign/{token}` and the notification emails (outbox worker).
//! - [`sms`]: outgoing SMS (one-time codes) through Twilio or a signed webhook; test ones to
//!   `<data-dir>/outbox/sms/`.
//! - [`sync`]: the sync daemon — sources, mappings, jobs, the webhook receiver, write-back;
//!   it reaches the API over HTTP only.
//! - [`server`]: the HTTP/1 server — connection cap, header and body deadlines, body budgets.
//! - [`i18n`]: the words of the signer's pages and emails, one Fluent catalogue per language.
//! - [`admin`]: the local admin API of the CLI (backup; the sync daemon's own routes).
//! - [`shutdown`]: the one cancellation path every worker watches.
//! - [`clock`], [`ids`]: time and identifiers.
//!
//! [`App::start`] wires the parts and serves them until shut down.

pub mod admin;
pub mod api;
pub mod clock;
pub mod config;
pub mod esign;
pub mod i18n;
pub mod ids;
pub mod pdf;
pub mod sealing;
pub mod server;
pub mod shutdown;
pub mod signing;
pub mod sms;
pub mod store;
pub mod sync;
pub mod webhooks;

use api::rate_limit::RateLimiter;
use api::AppState;
use clock::{SharedClock, SystemClock};
use config::Config;
use esign::model::{Environment, Scope};
use esign::{Esign, Limits};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use store::{Store, StoreError};
use tower_http::catch_panic::CatchPanicLayer;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("mail: {0}")]
    Mail(#[from] signing::mail::MailError),
    #[error("sms: {0}")]
    Sms(#[from] sms::SmsError),
    #[error(transparent)]
    Seal(#[from] sealing::SealSetupError),
    #[error("sync: {0}")]
    Sync(String),
    #[error("{0}")]
    Config(String),
}

/// What `signbridge run` resolved from flags, environment and config file.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `None`: `http://<the address actually bound>`.
    pub public_url: Option<String>,
}

/// The running server's parts.
pub struct App {
    pub local_addr: SocketAddr,
    pub state: AppState,
    connection_limits: server::ConnectionLimits,
    mailer: Arc<signing::Mailer>,
    ticker_interval: std::time::Duration,
    listener: tokio::net::TcpListener,
    sync: Option<(Arc<sync::SyncDaemon>, String)>,
    /// The data folder and the admin API's token (backups).
    data_dir: PathBuf,
    admin_token: String,
}

impl App {
    /// Opens the store, creates the bootstrap key on a first start, and binds the listener.
    pub async fn start(settings: Settings) -> Result<App, StartError> {
        Self::start_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Like [`App::start`] with another clock (tests move time with `ManualClock`).
    pub async fn start_with_clock(
        settings: Settings,
        clock: SharedClock,
    ) -> Result<App, StartError> {
        pdf::reader::set_limits(settings.config.limits.pdf);
        pdf::PIXELS_IN_FLIGHT.set_total(settings.config.limits.max_image_pixels_in_flight);
        let store = Store::open_configured(&settings.data_dir, &settings.config.storage)?;
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: settings.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(StartError::Serve)?;
        let public_url = settings.public_url.clone().unwrap_or_else(|| {
            let host = if local_addr.ip().is_unspecified() {
                SocketAddr::new([127, 0, 0, 1].into(), local_addr.port())
            } else {
                local_addr
            };
            format!("http://{host}")
        });
        let logo = match &settings.config.account.logo {
            Some(path) => Some(esign::logo::Logo::load(path).map_err(StartError::Config)?),
            None => None,
        };
        let esign = Arc::new(
            Esign::new(
                store,
                clock,
                &settings.data_dir,
                public_url.clone(),
                Limits {
                    max_document_bytes: settings.config.limits.max_document_bytes,
                },
                settings.config.account.clone(),
            )?
            .with_logo(logo),
        );
        ensure_bootstrap_key(&esign, &settings.data_dir)?;
        let limiter = RateLimiter::new(
            settings.config.rate_limit.requests_per_minute,
            settings.config.rate_limit.burst,
        );
        let mailer = Arc::new(signing::Mailer::new(
            settings.config.smtp.as_ref(),
            settings.data_dir.join("outbox"),
        )?);
        let webhooks = Arc::new(
            webhooks::Webhooks::new(esign.clone(), settings.config.webhooks.clone())
                .map_err(|e| StartError::Serve(std::io::Error::other(e.to_string())))?,
        );
        let sync = match build_sync(&settings, &esign, local_addr, &public_url)? {
            Some(built) => {
                if let Some(key_id) = &built.exempt_key {
                    limiter.exempt(key_id);
                }
                Some((built.daemon, built.admin_token))
            }
            None => None,
        };
        let sealing = Arc::new(sealing::Sealing::set_up(
            &settings.config.seal,
            &settings.data_dir,
            &settings.config.account.name,
        )?);
        let sms = Arc::new(sms::Sms::new(
            &settings.config.sms,
            &settings.data_dir,
            esign.clock().clone(),
        )?);
        esign.set_sms_available_for_live(sms.can_send_live());
        let state = AppState::new(
            esign,
            webhooks,
            sealing,
            limiter,
            settings.config.limits.max_document_bytes,
            settings.config.limits.max_body_bytes_in_flight,
            Arc::new(signing::CodeDelivery::new(mailer.clone(), sms)),
        );
        Ok(App {
            local_addr,
            state,
            connection_limits: settings.config.server.connection_limits(),
            mailer,
            ticker_interval: std::time::Duration::from_secs(
                settings.config.signing.ticker_interval_secs.max(1),
            ),
            listener,
            sync,
            admin_token: admin::ensure_token(&settings.data_dir).map_err(StartError::Serve)?,
            data_dir: settings.data_dir.clone(),
        })
    }

    /// The full HTTP application.
    pub fn router(state: AppState) -> axum::Router {
        // Alive unless the store can no longer make writes durable: a restart is the remedy.
        let esign = state.esign.clone();
        let health = axum::Router::new().route(
            "/healthz",
            axum::routing::get(move || async move {
                match esign.store().flush_failure() {
                    None => (axum::http::StatusCode::OK, "ok".to_string()),
                    Some(error) => (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        format!("a flush failed, writes are refused until restart: {error}"),
                    ),
                }
            }),
        );
        api::router(state.clone())
            .merge(signing::router(
                state.esign.clone(),
                state.code_delivery.clone(),
            ))
            .merge(health)
            .fallback(|uri: axum::http::Uri| async move {
                api::error::ApiError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    "route_not_found",
                    format!("no route {}", uri.path()),
                )
            })
            .layer(CatchPanicLayer::custom(api::panic_response))
            .layer(tower_http::trace::TraceLayer::new_for_http())
    }

    /// Serves until `shutdown` resolves; in-flight requests finish, then the store is flushed.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let state = self.state.clone();
        let (trigger, watch) = shutdown::channel();
        let purge_store = state.esign.store().clone();
        let mut purge_watch = watch.clone();
        let purge = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = purge_watch.requested() => return,
                }
                if let Err(err) =
                    store::idempotency::purge_expired(&purge_store, chrono::Utc::now())
                {
                    tracing::warn!(error = %err, "purging expired idempotency records failed");
                }
            }
        });
        let mail_worker = tokio::spawn(signing::run_mail_worker(
            state.esign.clone(),
            self.mailer.clone(),
            watch.clone(),
        ));
        let ticker = tokio::spawn(run_ticker(
            state.esign.clone(),
            self.ticker_interval,
            watch.clone(),
        ));
        let webhook_worker = tokio::spawn(state.webhooks.clone().run(watch.clone()));
        let seal_worker = tokio::spawn(sealing::run_worker(
            state.esign.clone(),
            state.sealing.clone(),
            watch.clone(),
        ));
        tracing::info!(address = %self.local_addr, public_url = state.esign.public_url(), "signbridge API listening");
        let mut router = Self::router(state.clone()).merge(observability_router(
            state.esign.clone(),
            self.sync.as_ref().map(|(daemon, _)| daemon.clone()),
        ));
        router = router.merge(admin::router(
            state.esign.store().clone(),
            self.data_dir.clone(),
            self.admin_token.clone(),
        ));
        let mut sync_task = None;
        if let Some((daemon, token)) = &self.sync {
            router = router
                .merge(sync::receiver::router(daemon.clone()))
                .merge(sync::admin::router(daemon.clone(), token.clone()));
            sync_task = Some(tokio::spawn(daemon.clone().run()));
        }
        let public_bodies = server::BodyBudget::new(PUBLIC_BODIES_IN_FLIGHT, PUBLIC_BODY_LIMIT);
        let router = router
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    buffer_public_body(public_bodies.clone(), request, next)
                },
            ))
            .layer(axum::middleware::from_fn(server::request_id));
        // One cancellation path: when shutdown begins, the sync daemon stops taking steps
        // and the workers finish what they hold, while the listener drains.
        let stopping = self.sync.as_ref().map(|(daemon, _)| daemon.clone());
        let grace = self.connection_limits.shutdown_grace;
        // A flush that failed for good also stops the server: it could only refuse writes,
        // and a restart recovers what is on disk (the final flush below returns the error).
        let flush_failure = state.esign.store().lasting_flush_failure();
        let shutdown = async move {
            tokio::select! {
                _ = shutdown => {}
                error = flush_failure => tracing::error!(
                    error = %error,
                    "a flush failed for good: stopping, to be restarted on what is on disk"
                ),
            }
            tracing::info!("shutting down: draining requests, workers finish what they hold");
            trigger.trigger();
            if let Some(daemon) = stopping {
                daemon.stop();
            }
        };
        let served = server::serve(self.listener, router, self.connection_limits, shutdown).await;
        let draining = std::time::Instant::now();
        let mut workers = vec![purge, mail_worker, ticker, webhook_worker, seal_worker];
        workers.extend(sync_task);
        let finished = tokio::time::timeout(grace, async {
            for worker in &mut workers {
                let _ = worker.await;
            }
        })
        .await;
        if finished.is_err() {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "a worker did not finish within the grace period; stopped"
            );
            for worker in &workers {
                worker.abort();
            }
        }
        state.esign.store().flush().await?;
        tracing::info!(
            workers_ms = draining.elapsed().as_millis() as u64,
            "stopped; store flushed"
        );
        served.map_err(StartError::Serve)
    }
}

/// Largest body of a request outside the API (a signer's form with a drawn signature, a
/// webhook delivery, an admin call).
const PUBLIC_BODY_LIMIT: usize = 2 * 1024 * 1024;
/// Bytes of such bodies held in memory at once, all clients together: anyone on the Internet
/// can send them, so they share a small budget.
const PUBLIC_BODIES_IN_FLIGHT: usize = 32 * 1024 * 1024;

/// Reads the body of a request outside `/api/v1` within the public budget before its handler
/// runs (API requests are read after authentication, in [`api`]'s own layers).
async fn buffer_public_body(
    budget: server::BodyBudget,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    if path.starts_with("/api/") || path.starts_with("/v1/") {
        return next.run(request).await;
    }
    api::run_with_body_in_memory(&budget, PUBLIC_BODY_LIMIT, request, next).await
}

/// `/readyz` (the store answers and, with the daemon, its webhook receiver is registered) and
/// Prometheus `/metrics` (the store's writer and flushes, and the daemon's figures).
fn observability_router(esign: Arc<Esign>, daemon: Option<Arc<sync::SyncDaemon>>) -> axum::Router {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let ready = {
        let esign = esign.clone();
        let daemon = daemon.clone();
        move || async move {
            let store_ok = esign.has_any_key().is_ok() && esign.store().flush_failure().is_none();
            let sync_ok = daemon.as_ref().is_none_or(|d| d.is_ready());
            if store_ok && sync_ok {
                (StatusCode::OK, "ready").into_response()
            } else if !store_ok {
                (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "sync daemon: webhook receiver not registered yet",
                )
                    .into_response()
            }
        }
    };
    let metrics = move || async move {
        let store = esign.store().writer_stats().prometheus_text();
        let text = match &daemon {
            Some(daemon) => {
                let daemon = daemon.clone();
                tokio::task::spawn_blocking(move || daemon.metrics_text())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default()
            }
            None => String::new(),
        };
        let up = "# HELP signbridge_up The server answers.\n# TYPE signbridge_up gauge\nsignbridge_up 1\n";
        (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            format!("{up}{store}{text}"),
        )
    };
    axum::Router::new()
        .route("/readyz", axum::routing::get(ready))
        .route("/metrics", axum::routing::get(metrics))
}

/// The sync daemon, when there are mappings: its sources, mappings and API client (embedded:
/// this server over loopback with a key of its own in `<data>/sync/api-key`; remote: the
/// configured base URL and key), and the admin token.
/// The sync daemon as built: its admin token, and (embedded) its key, outside the per-key
/// rate limit.
struct BuiltSync {
    daemon: Arc<sync::SyncDaemon>,
    admin_token: String,
    exempt_key: Option<String>,
}

fn build_sync(
    settings: &Settings,
    esign: &Esign,
    local_addr: SocketAddr,
    public_url: &str,
) -> Result<Option<BuiltSync>, StartError> {
    let config = &settings.config;
    if !config.sync.enabled {
        return Ok(None);
    }
    let folder = &config.sync.mappings_dir;
    if !folder.is_dir() {
        tracing::info!(folder = %folder.display(), "no mappings folder: the sync daemon is off");
        return Ok(None);
    }
    let mappings = sync::mapping::Mapping::load_folder(folder).map_err(|errors| {
        StartError::Sync(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let source_configs = sync::sources_of(config);
    let mut sources = std::collections::BTreeMap::new();
    for (name, source) in &source_configs {
        sources.insert(
            name.clone(),
            sync::source_from_config(name, source, &config.sync.connectors_dir)
                .map_err(|err| StartError::Sync(err.to_string()))?,
        );
    }
    let mappings: Vec<_> = mappings
        .into_iter()
        .filter(|m| {
            let known = sources.contains_key(&m.file.source);
            if !known {
                tracing::info!(mapping = %m.name, source = %m.file.source, "mapping skipped: its source is not configured");
            }
            known
        })
        .collect();
    if mappings.is_empty() {
        tracing::info!("no mapping has a configured source: the sync daemon is off");
        return Ok(None);
    }
    let loopback = if local_addr.ip().is_unspecified() {
        SocketAddr::new([127, 0, 0, 1].into(), local_addr.port())
    } else {
        local_addr
    };
    let (client, default_receiver, exempt_key) = match config.certyneo.mode {
        config::ApiMode::Embedded => {
            let key_path = settings.data_dir.join("sync").join("api-key");
            let key = match std::fs::read_to_string(&key_path) {
                Ok(key) if !key.trim().is_empty() => key.trim().to_string(),
                _ => {
                    let created = esign
                        .create_key(Environment::Live, Some("sync daemon"), &Scope::ALL)
                        .map_err(|err| StartError::Sync(err.to_string()))?;
                    std::fs::create_dir_all(settings.data_dir.join("sync"))
                        .map_err(|err| StartError::Sync(err.to_string()))?;
                    esign::write_private_file(&key_path, created.secret.as_bytes())?;
                    esign.store().flush_blocking()?;
                    created.secret
                }
            };
            // The daemon's own key, used over loopback by this process only: not held to
            // the public per-key limit (every other key is).
            let key_id = esign
                .authenticate(&format!("Bearer {key}"))
                .map(|found| found.id)
                .ok();
            (
                sync::client::ApiClient::new(&format!("http://{loopback}/api/v1"), &key),
                format!("http://{loopback}/hooks/certyneo"),
                key_id,
            )
        }
        config::ApiMode::Remote => {
            let base = config.certyneo.base_url.as_deref().ok_or_else(|| {
                StartError::Sync("certyneo.mode is remote: set certyneo.base_url".into())
            })?;
            let key = config
                .certyneo
                .api_key
                .as_ref()
                .map(|k| k.expose())
                .ok_or_else(|| {
                    StartError::Sync("certyneo.mode is remote: set certyneo.api_key".into())
                })?;
            (
                sync::client::ApiClient::new(base, key)
                    .with_pacer(config.certyneo.requests_per_minute),
                format!("{}/hooks/certyneo", public_url.trim_end_matches('/')),
                None,
            )
        }
    };
    let token = sync::admin::ensure_token(&settings.data_dir)
        .map_err(|err| StartError::Sync(err.to_string()))?;
    let daemon = sync::SyncDaemon::new(sync::SyncSettings {
        store: esign.store().clone(),
        client,
        mappings,
        sources,
        receiver_url: config.sync.receiver_url.clone().unwrap_or(default_receiver),
        data_dir: settings.data_dir.clone(),
        config: config.sync.clone(),
        webhook_secret: config
            .certyneo
            .webhook_secret
            .as_ref()
            .map(|s| s.expose().to_string()),
        smtp: config.smtp.clone(),
        clock: esign.clock().clone(),
    })
    .map_err(|err| StartError::Sync(err.to_string()))?;
    tracing::info!(
        mappings = daemon.mappings().len(),
        sources = daemon.sources().len(),
        "sync daemon ready"
    );
    Ok(Some(BuiltSync {
        daemon: Arc::new(daemon),
        admin_token: token,
        exempt_key,
    }))
}

/// Expires envelopes and queues reminders every `interval`.
async fn run_ticker(
    esign: Arc<Esign>,
    interval: std::time::Duration,
    mut shutdown: shutdown::Shutdown,
) {
    let mut every = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.requested() => return,
        }
        let esign_for_tick = esign.clone();
        match tokio::task::spawn_blocking(move || esign_for_tick.expire_and_remind()).await {
            Ok(Ok(report)) if report.expired + report.reminders > 0 => {
                tracing::info!(
                    expired = report.expired,
                    reminders = report.reminders,
                    "ticker"
                );
                if let Err(err) = esign.store().flush().await {
                    tracing::error!(error = %err, "flush after the ticker failed");
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "ticker failed"),
            Err(err) => tracing::error!(error = %err, "ticker panicked"),
        }
    }
}

/// On the very first start (no key at all), creates a test key with every scope and writes it
/// to `<data-dir>/bootstrap-key` (mode 0600) so a newcomer can call the API at once.
fn ensure_bootstrap_key(esign: &Esign, data_dir: &Path) -> Result<(), StoreError> {
    let has_key = esign.has_any_key().map_err(|err| match err {
        esign::EsignError::Store(err) => err,
        other => StoreError::Io(std::io::Error::other(other.to_string())),
    })?;
    if has_key {
        return Ok(());
    }
    let created = esign
        .create_key(Environment::Test, Some("bootstrap"), &Scope::ALL)
        .map_err(|err| StoreError::Io(std::io::Error::other(err.to_string())))?;
    let path = data_dir.join("bootstrap-key");
    esign::write_private_file(&path, format!("{}\n", created.secret).as_bytes())?;
    esign.store().flush_blocking()?;
    tracing::info!(path = %path.display(), "created a test API key for first use; read it from this file");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flush that fails for good stops the server with that error, for its supervisor to
    /// restart it on what is on disk (it could only refuse writes).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lasting_flush_failure_stops_the_server_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let mut config = config::Config::default();
        config.sync.enabled = false;
        let settings = Settings {
            config,
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.clone(),
            public_url: None,
        };
        let app = App::start(settings).await.unwrap();
        let base = format!("http://{}", app.local_addr);
        let store = app.state.esign.store().clone();
        let served = tokio::spawn(app.serve(std::future::pending()));
        let key = std::fs::read_to_string(data_dir.join("bootstrap-key")).unwrap();
        let created = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{base}/api/v1/envelopes"))
            .bearer_auth(key.trim())
            .json(&serde_json::json!({
                "subject": "Contract",
                "signers": [{ "email": "hire@example.com", "name": "New Hire" }]
            }))
            .send()
            .await
            .unwrap();
        let status = created.status();
        assert_eq!(
            status,
            201,
            "the server serves writes before: {}",
            created.text().await.unwrap()
        );
        store.fail_flushes_for_good("fsync: Input/output error");
        // A hang guard, not a timing threshold: the server stops as soon as it drains.
        let stopped = tokio::time::timeout(std::time::Duration::from_secs(120), served)
            .await
            .expect("the server did not stop")
            .unwrap();
        let error = stopped
            .expect_err("the server stopped without an error")
            .to_string();
        assert!(error.contains("until signbridge restarts"), "{error}");
        assert!(error.contains("Input/output error"), "{error}");
    }
}
