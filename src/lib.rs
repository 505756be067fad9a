//! signbridge: a Certyneo-compatible e-signature API and (later) the sync daemon that drives it,
//! in one binary.
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
//! - [`clock`], [`ids`]: time and identifiers.
//!
//! [`App::start`] wires the parts and serves them until shut down.

pub mod api;
pub mod clock;
pub mod config;
pub mod esign;
pub mod ids;
pub mod pdf;
pub mod sealing;
pub mod signing;
pub mod store;
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
    #[error(transparent)]
    Seal(#[from] sealing::SealSetupError),
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
    mailer: Arc<signing::Mailer>,
    ticker_interval: std::time::Duration,
    listener: tokio::net::TcpListener,
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
        let store = Store::open(&settings.data_dir)?;
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
        let esign = Arc::new(Esign::new(
            store,
            clock,
            &settings.data_dir,
            public_url,
            Limits {
                max_document_bytes: settings.config.limits.max_document_bytes,
            },
            settings.config.account.clone(),
        )?);
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
        let sealing = Arc::new(sealing::Sealing::set_up(
            &settings.config.seal,
            &settings.data_dir,
            &settings.config.account.name,
        )?);
        let state = AppState::new(
            esign,
            webhooks,
            sealing,
            limiter,
            settings.config.limits.max_document_bytes,
        );
        Ok(App {
            local_addr,
            state,
            mailer,
            ticker_interval: std::time::Duration::from_secs(
                settings.config.signing.ticker_interval_secs.max(1),
            ),
            listener,
        })
    }

    /// The full HTTP application.
    pub fn router(state: AppState) -> axum::Router {
        let health = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        api::router(state.clone())
            .merge(signing::router(state.esign))
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
        let purge_store = state.esign.store().clone();
        let purge = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
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
        ));
        let ticker = tokio::spawn(run_ticker(state.esign.clone(), self.ticker_interval));
        let webhook_worker = tokio::spawn(state.webhooks.clone().run());
        let seal_worker = tokio::spawn(sealing::run_worker(
            state.esign.clone(),
            state.sealing.clone(),
        ));
        tracing::info!(address = %self.local_addr, public_url = state.esign.public_url(), "signbridge API listening");
        let served = axum::serve(
            self.listener,
            Self::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        purge.abort();
        mail_worker.abort();
        ticker.abort();
        webhook_worker.abort();
        seal_worker.abort();
        state.esign.store().flush().await?;
        tracing::info!("stopped; store flushed");
        served.map_err(StartError::Serve)
    }
}

/// Expires envelopes and queues reminders every `interval`.
async fn run_ticker(esign: Arc<Esign>, interval: std::time::Duration) {
    let mut every = tokio::time::interval(interval);
    loop {
        every.tick().await;
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
