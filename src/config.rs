//! `signbridge.yaml` → typed [`Config`]: every field documented, unknown keys rejected,
//! `${ENV}` interpolation, and errors that name file:line:col.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A secret setting (a password, a key, a signing secret): used through [`Secret::expose`],
/// never shown — `Debug` and `config show` print `[redacted]`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

/// A source's settings as `config show` prints them: the values of settings named like a
/// credential (`…token…`, `…key…`, `…secret…`, `…password…`) redacted.
fn settings_redacted<S: serde::Serializer>(
    settings: &std::collections::BTreeMap<String, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(settings.len()))?;
    for (name, value) in settings {
        let lower = name.to_ascii_lowercase();
        let secret = ["token", "key", "secret", "password"]
            .iter()
            .any(|word| lower.contains(word));
        map.serialize_entry(name, if secret { "[redacted]" } else { value })?;
    }
    map.end()
}

/// The whole configuration. Every section is optional: `signbridge run` needs no file at all.
#[derive(Debug, Clone, Deserialize, Default, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the server listens and how it is reached from outside.
    pub server: ServerConfig,
    /// Size limits on what clients may send.
    pub limits: LimitsConfig,
    /// Per-API-key request rate limits.
    pub rate_limit: RateLimitConfig,
    /// The account this deployment serves (what `/account/me` answers).
    pub account: AccountConfig,
    /// Outgoing mail. Without it (and always for test-environment envelopes) every message
    /// is written as an `.eml` file to `<data-dir>/outbox/` and its link logged.
    pub smtp: Option<SmtpConfig>,
    /// Outgoing SMS (signer one-time codes). Test-environment messages never leave: they are
    /// written to `<data-dir>/outbox/sms/`. Checked whole at load.
    #[serde(deserialize_with = "checked_sms")]
    pub sms: SmsConfig,
    /// Background work of the signing flow.
    pub signing: SigningConfig,
    /// Outbound webhooks.
    pub webhooks: WebhooksConfig,
    /// The seal on signed documents and audit trails.
    pub seal: SealConfig,
    /// The e-signature API the sync daemon drives.
    pub certyneo: CertyneoConfig,
    /// The sync daemon: mappings, receiver, retries.
    pub sync: SyncConfig,
    /// Source systems by name (`folder`, or a declarative connector).
    pub sources: std::collections::BTreeMap<String, SourceConfig>,
    /// Where the store lives: `embedded` (the default: sled, in the data folder) or a
    /// PostgreSQL URL (`postgres://user@host/db`, use `${ENV}` for a password) that several
    /// replicas share.
    pub storage: StorageConfig,
}

/// Where the store lives (see [`Config::storage`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StorageConfig {
    /// sled, in `<data-dir>/db`, with blobs in `<data-dir>/blobs`.
    #[default]
    Embedded,
    /// A PostgreSQL database holding the trees and blobs.
    Postgres {
        url: Secret,
        /// Sessions this replica keeps open.
        connections: usize,
    },
}

/// Sessions a replica keeps open to PostgreSQL unless `storage.connections` says otherwise.
pub const DEFAULT_POSTGRES_CONNECTIONS: usize = 16;

impl<'de> Deserialize<'de> for StorageConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Name(String),
            Detailed {
                url: String,
                #[serde(default)]
                connections: Option<usize>,
            },
        }
        let written = Written::deserialize(deserializer).map_err(|_| {
            D::Error::custom(
                "storage: expected `embedded`, a postgres:// URL, or {url, connections}",
            )
        })?;
        let (url, connections) = match written {
            Written::Name(name) if name == "embedded" || name == "sled" => {
                return Ok(StorageConfig::Embedded)
            }
            Written::Name(url) => (url, None),
            Written::Detailed { url, connections } => (url, connections),
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(D::Error::custom(
                "storage: expected `embedded` or a URL starting with postgres://",
            ));
        }
        let connections = connections.unwrap_or(DEFAULT_POSTGRES_CONNECTIONS);
        if connections == 0 || connections > 1000 {
            return Err(D::Error::custom("storage.connections: between 1 and 1000"));
        }
        Ok(StorageConfig::Postgres {
            url: Secret::new(url),
            connections,
        })
    }
}

impl Serialize for StorageConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            StorageConfig::Embedded => serializer.serialize_str("embedded"),
            StorageConfig::Postgres { connections, .. } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("url", "[redacted]")?;
                map.serialize_entry("connections", connections)?;
                map.end()
            }
        }
    }
}

/// Which e-signature API the daemon drives: this process's own (`embedded`, the default) or
/// the Certyneo cloud or another signbridge (`remote`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CertyneoConfig {
    pub mode: ApiMode,
    /// Remote: the API base, e.g. `https://api.certyneo.com/api/v1`.
    #[serde(alias = "baseUrl")]
    pub base_url: Option<String>,
    /// Remote: the API key (use `${CERTYNEO_API_KEY}`).
    #[serde(alias = "apiKey")]
    pub api_key: Option<Secret>,
    /// The secret of a webhook subscription you manage yourself (e.g. in the Certyneo
    /// dashboard, pointing at `/hooks/certyneo`). Without it the daemon subscribes itself at
    /// start and keeps the secret in `<data-dir>/sync/webhook-secret`.
    #[serde(alias = "webhookSecret")]
    pub webhook_secret: Option<Secret>,
    /// Remote: the API's per-key limit the daemon paces itself under until the API's
    /// `X-RateLimit-*` headers say otherwise. Default 100 (Certyneo's).
    #[serde(alias = "requestsPerMinute")]
    pub requests_per_minute: u32,
}

impl Default for CertyneoConfig {
    fn default() -> Self {
        Self {
            mode: ApiMode::Embedded,
            base_url: None,
            api_key: None,
            webhook_secret: None,
            requests_per_minute: 100,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiMode {
    #[default]
    Embedded,
    Remote,
}

/// The sync daemon.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Run the daemon with the API (default true; it idles without mappings).
    pub enabled: bool,
    /// Where the mapping files are. Default `mappings`.
    pub mappings_dir: PathBuf,
    /// Where the HTTP connector definitions are. Default `connectors`.
    pub connectors_dir: PathBuf,
    /// The URL the API delivers webhooks to. Default: this server's `/hooks/certyneo` on
    /// loopback (embedded) or under `server.public_url` (remote).
    pub receiver_url: Option<String>,
    /// A job still waiting for its webhook after this many seconds is checked by polling.
    /// Default 300.
    pub reconcile_after_secs: u64,
    /// A job that failed this many times is parked. Default 8.
    pub max_attempts: u32,
    /// Jobs worked on at once. Default 4.
    pub concurrency: usize,
    /// With no `sources:` configured, run the demo pipeline on `./examples/hris` when that
    /// folder exists. Default true.
    pub demo: bool,
    /// Who is told when records need attention (a broken record, a parked job).
    pub notify: NotifyConfig,
}

/// Telling an operator about records that need attention: once per record and version, and
/// as one digest when several come up together.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Addresses mailed through `smtp:` (the `.eml` outbox without it).
    pub email: Vec<String>,
    /// An outbound webhook (`sync.record.failed` events, signed like the API's webhooks).
    pub webhook: Option<NotifyWebhook>,
}

/// Where `sync.record.failed` events go.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyWebhook {
    pub url: String,
    /// The signing secret (`${ENV}`); the receiver checks `X-Certyneo-Signature` with it.
    pub secret: Secret,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            mappings_dir: PathBuf::from("mappings"),
            connectors_dir: PathBuf::from("connectors"),
            receiver_url: None,
            reconcile_after_secs: 300,
            max_attempts: 8,
            concurrency: 4,
            demo: true,
            notify: NotifyConfig::default(),
        }
    }
}

/// One source system.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `folder` (built in).
    pub connector: String,
    /// When to poll: a cron expression (5 fields, or 6 with seconds). Default every minute.
    #[serde(default)]
    pub schedule: Option<String>,
    /// folder: the directory of `.json`/`.csv` records.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// folder: where write-backs go (default `<path>/signed`).
    #[serde(default)]
    pub output: Option<PathBuf>,
    /// folder: the record's id field (dotted path; default `id`).
    #[serde(default)]
    pub id_field: Option<String>,
    /// folder: the record's version field (default `updatedAt`; a content hash without it).
    #[serde(default)]
    pub version_field: Option<String>,
    /// HTTP connectors: their settings (documented at the top of `connectors/<name>.yaml`);
    /// put credentials in `${ENV}` variables.
    #[serde(default)]
    #[serde(serialize_with = "settings_redacted")]
    pub settings: std::collections::BTreeMap<String, String>,
    /// HTTP connectors: another base URL than the definition's (a proxy, a sandbox).
    #[serde(default)]
    pub base_url: Option<String>,
    /// HTTP connectors: requests per second at most, instead of the definition's budget
    /// (vendors' limits differ by plan); 0 = no budget.
    #[serde(default)]
    pub requests_per_second: Option<f64>,
}

impl std::fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Settings hold credentials: shown as `config show` shows them.
        let settings = serde_json::to_value(self)
            .map(|v| v["settings"].to_string())
            .unwrap_or_default();
        f.debug_struct("SourceConfig")
            .field("connector", &self.connector)
            .field("schedule", &self.schedule)
            .field("path", &self.path)
            .field("output", &self.output)
            .field("id_field", &self.id_field)
            .field("version_field", &self.version_field)
            .field("settings", &format_args!("{settings}"))
            .field("base_url", &self.base_url)
            .field("requests_per_second", &self.requests_per_second)
            .finish()
    }
}

/// The PAdES seal. Without a key and certificate, a self-signed CA and signing certificate are
/// generated into `<data-dir>/seal/` on first start (`seal-ca.pem` is the trust root to give
/// verifiers).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SealConfig {
    /// Unencrypted PEM private key (PKCS#8, SEC1 EC or PKCS#1 RSA; ECDSA P-256/P-384 or RSA).
    pub key_file: Option<PathBuf>,
    /// PEM certificates: the signing certificate first, then its issuers.
    pub certificate_file: Option<PathBuf>,
    /// Or a PKCS#12 file (`.p12`/`.pfx`) holding the key and its chain.
    pub p12_file: Option<PathBuf>,
    /// The PKCS#12 file's password (use `${ENV_VAR}` rather than writing it here).
    pub p12_password: Option<Secret>,
    /// RFC 3161 time-stamp authority (PAdES B-T and up). When set and it fails, sealing
    /// fails and is retried; it never falls back to the local clock.
    pub tsa_url: Option<String>,
    /// The PAdES baseline level of seals: `B-B`, `B-T`, `B-LT` or `B-LTA`. Default: `B-LTA`
    /// with a time-stamp authority, `B-B` without (B-T and up need one).
    pub level: Option<crate::pdf::seal::PadesLevel>,
    /// Seconds to wait for an OCSP responder or a CRL download (B-LT and up). Default 10.
    pub revocation_timeout_secs: u64,
    /// Seconds to wait for the time-stamp authority. Default 10.
    pub tsa_timeout_secs: u64,
    /// Seconds between attempts when sealing failed. Default 30.
    pub retry_secs: u64,
}

impl Default for SealConfig {
    fn default() -> Self {
        Self {
            key_file: None,
            certificate_file: None,
            p12_file: None,
            p12_password: None,
            tsa_url: None,
            level: None,
            revocation_timeout_secs: 10,
            tsa_timeout_secs: 10,
            retry_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Allow webhook URLs on loopback (127.0.0.0/8, ::1). Default true: the sync daemon's own
    /// receiver listens on 127.0.0.1.
    pub allow_loopback: bool,
    /// Allow private and link-local networks (10/8, 172.16/12, 192.168/16, 169.254/16, fc00::/7,
    /// fe80::/10, 100.64/10). Default false: they are where cloud metadata and internal
    /// services live.
    pub allow_private: bool,
    /// Seconds to wait before attempts 2, 3, …; one more attempt than entries. Default
    /// 30 s, 5 min, 30 min, 2 h, 6 h: six attempts over about 9 hours (±10 % jitter).
    pub retry_schedule_secs: Vec<u64>,
    /// A delivery not answered within this many seconds failed. Default 10.
    pub timeout_secs: u64,
    /// Deliveries in flight to one endpoint at once. Default 4.
    pub max_in_flight_per_endpoint: usize,
    /// When not empty, the only hosts webhook URLs may name (exact host names or IP
    /// literals, case-insensitive); any other is refused before it is even resolved. For
    /// deployments whose egress is limited to known receivers. Default: empty (any host the
    /// address rules allow).
    pub allowed_hosts: Vec<String>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_loopback: true,
            allow_private: false,
            retry_schedule_secs: vec![30, 300, 1800, 7200, 21600],
            timeout_secs: 10,
            max_in_flight_per_endpoint: 4,
            allowed_hosts: Vec::new(),
        }
    }
}

/// How mail leaves.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// SMTP server host name.
    pub host: String,
    /// Port; default 587 (465 with `tls: tls`, 25 with `tls: none`).
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit TLS) or `none` (plain; local relays only).
    #[serde(default)]
    pub tls: SmtpTls,
    /// Login, if the server wants one (use `${ENV}` for the password).
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The From address, e.g. `Acme HR <hr@acme.example>`. Default `signbridge <no-reply@localhost>`.
    #[serde(default = "default_from")]
    pub from: String,
}

fn default_from() -> String {
    "signbridge <no-reply@localhost>".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    #[default]
    Starttls,
    Tls,
    None,
}

impl SmtpConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }
}

/// How SMS leave (see [`crate::sms`]). Only the keys of the chosen provider are used.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// `none` (default: live envelopes cannot use SMS codes), `twilio` or `webhook`.
    pub provider: SmsProvider,
    /// twilio: the Account SID (`AC` + 32 hex digits).
    pub account_sid: Option<String>,
    /// twilio: the Auth Token (use `${ENV}`).
    pub auth_token: Option<Secret>,
    /// twilio: the sender — an E.164 number, an alphanumeric sender ID, or a Messaging Service
    /// SID (`MG…`, sent as `MessagingServiceSid`).
    pub from: Option<String>,
    /// twilio: the API base. Default `https://api.twilio.com`; plain `http` only on loopback.
    pub base_url: String,
    /// webhook: where each message is POSTed as JSON `{id, to, body, createdAt}`.
    pub url: Option<String>,
    /// webhook: the signing secret (`${ENV}`); the receiver checks `X-Certyneo-Signature` (or
    /// the Standard Webhooks `webhook-signature`) with it, as for the API's webhooks.
    pub secret: Option<Secret>,
    /// Seconds to wait for the provider's answer. Default 10.
    pub timeout_secs: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            provider: SmsProvider::None,
            account_sid: None,
            auth_token: None,
            from: None,
            base_url: "https://api.twilio.com".into(),
            url: None,
            secret: None,
            timeout_secs: 10,
        }
    }
}

/// Who sends live SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsProvider {
    #[default]
    None,
    Twilio,
    Webhook,
}

/// `sms:` as written, then checked whole: a provider without what it needs fails the load.
fn checked_sms<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<SmsConfig, D::Error> {
    let config = SmsConfig::deserialize(deserializer)?;
    crate::sms::check_config(&config)
        .map_err(|err| serde::de::Error::custom(format!("sms: {err}")))?;
    Ok(config)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningConfig {
    /// How often expiry and reminders are checked, in seconds. Default 60.
    pub ticker_interval_secs: u64,
}

impl Default for SigningConfig {
    fn default() -> Self {
        Self {
            ticker_interval_secs: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Socket address to listen on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Base URL under which signers reach this server (signing links). Default `http://<listen>`.
    pub public_url: Option<String>,
    /// Folder for the store, blobs, keys and outbox. Default `./data`.
    pub data_dir: PathBuf,
    /// Open connections at most (API and signer pages together); one more is answered 503
    /// and closed without being read. Default 1024.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, counted from its first byte or,
    /// on a kept-alive connection, from the end of the previous request (so it is also the
    /// idle keep-alive timeout). Default 15.
    pub header_read_timeout_secs: u64,
    /// Seconds a client has to send a request's body once its headers are in; a slower
    /// upload is answered 408. Default 120 (a 50 MB document at about 3.5 Mbit/s).
    pub body_timeout_secs: u64,
    /// Seconds shutdown waits for requests in flight. Default 30.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from("./data"),
            max_connections: 1024,
            header_read_timeout_secs: 15,
            body_timeout_secs: 120,
            shutdown_grace_secs: 30,
        }
    }
}

impl ServerConfig {
    /// The connection limits the HTTP server applies.
    pub fn connection_limits(&self) -> crate::server::ConnectionLimits {
        crate::server::ConnectionLimits {
            max_connections: self.max_connections.max(1),
            header_read_timeout: std::time::Duration::from_secs(
                self.header_read_timeout_secs.max(1),
            ),
            body_timeout: std::time::Duration::from_secs(self.body_timeout_secs.max(1)),
            shutdown_grace: std::time::Duration::from_secs(self.shutdown_grace_secs),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest document accepted, in bytes (after base64 decoding). Default 50 MB.
    pub max_document_bytes: usize,
    /// Request body bytes held in memory at once by all authenticated requests together; a
    /// request that does not fit waits for room (up to the body timeout), one that can never
    /// fit is answered 413. Default 160 MiB.
    pub max_body_bytes_in_flight: usize,
    /// Pixels of uploaded images decoded at once by all uploads together. Default 80 million
    /// (two images at the per-image limit).
    pub max_image_pixels_in_flight: u64,
    /// Bounds on the work reading one PDF may take.
    pub pdf: crate::pdf::PdfLimits,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_document_bytes: 50 * 1024 * 1024,
            max_body_bytes_in_flight: 160 * 1024 * 1024,
            max_image_pixels_in_flight: 80_000_000,
            pdf: crate::pdf::PdfLimits::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained requests per minute per key. Default 100.
    pub requests_per_minute: u32,
    /// Requests a key may fire at once before the sustained rate applies. Default 200.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: 100,
            burst: 200,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountConfig {
    /// Display name of the account. Default `signbridge`.
    pub name: String,
    /// Contact email of the account. Default `admin@localhost`.
    pub email: String,
    /// The account's logo (PNG, JPEG or SVG, at most 256 KiB), shown on the signing pages and
    /// in the emails above the sender's name.
    pub logo: Option<PathBuf>,
    /// Every envelope asks each signer for a one-time code sent by email before the documents
    /// are shown (as if each had `requireEmailOtp: true`). Default false.
    pub require_email_otp: bool,
}

impl Default for AccountConfig {
    fn default() -> Self {
        Self {
            name: "signbridge".into(),
            email: "admin@localhost".into(),
            logo: None,
            require_email_otp: false,
        }
    }
}

/// A configuration problem, with where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: String,
        line: u64,
        column: u64,
        message: String,
    },
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: display.clone(),
            source,
        })?;
        Self::parse(&display, &text)
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Self, ConfigError> {
        let text = interpolate_env(origin, text)?;
        serde_saphyr::from_str::<Config>(&text).map_err(|err| {
            let (line, column) = err
                .location()
                .map(|loc| (loc.line(), loc.column()))
                .unwrap_or((1, 1));
            ConfigError::Invalid {
                path: origin.to_string(),
                line,
                column,
                message: first_line(&err.to_string()),
            }
        })
    }
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

/// Replaces `${NAME}` with the environment variable `NAME`; `$${` escapes a literal `${`.
/// A variable that is not set is an error at its position, never an empty string.
pub fn interpolate_env(origin: &str, text: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let mut rest = line;
        let mut column = 1u64;
        while let Some(start) = rest.find("${") {
            if rest[..start].ends_with('$') {
                out.push_str(&rest[..start - 1]);
                out.push_str("${");
                column += (start + 2) as u64;
                rest = &rest[start + 2..];
                continue;
            }
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(ConfigError::Invalid {
                    path: origin.into(),
                    line: index as u64 + 1,
                    column: column + rest[..start].chars().count() as u64,
                    message: "unterminated `${`".into(),
                });
            };
            let name = &after[..end];
            let at = column + rest[..start].chars().count() as u64;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigError::Invalid {
                    path: origin.into(),
                    line: index as u64 + 1,
                    column: at,
                    message: format!("`${{{name}}}` is not a valid environment variable name"),
                });
            }
            // `NAME`, else the file `NAME_FILE` names (Docker and systemd credentials), its
            // final newline dropped.
            let value = match (std::env::var(name), std::env::var(format!("{name}_FILE"))) {
                (Ok(value), _) => value,
                (Err(_), Ok(file)) => std::fs::read_to_string(&file)
                    .map(|text| text.strip_suffix('\n').unwrap_or(&text).to_string())
                    .map_err(|err| ConfigError::Invalid {
                        path: origin.into(),
                        line: index as u64 + 1,
                        column: at,
                        message: format!("`{name}_FILE` names {file}, which cannot be read: {err}"),
                    })?,
                (Err(_), Err(_)) => {
                    return Err(ConfigError::Invalid {
                        path: origin.into(),
                        line: index as u64 + 1,
                        column: at,
                        message: format!(
                            "environment variable `{name}` is not set (nor `{name}_FILE`)"
                        ),
                    })
                }
            };
            out.push_str(&value);
            column = at + (end + 3) as u64;
            rest = &after[end + 1..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config = Config::parse("c.yaml", "{}\n").unwrap();
        assert_eq!(config.rate_limit.requests_per_minute, 100);
        assert_eq!(config.server.listen.port(), 8080);
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let err = Config::parse("c.yaml", "server:\n  listen: 127.0.0.1:9000\n  bogus: 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.yaml:3:"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn missing_env_variable_is_an_error_at_its_place() {
        let err = Config::parse(
            "c.yaml",
            "account:\n  name: ${SIGNBRIDGE_TEST_SURELY_UNSET}\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "c.yaml:2:9: environment variable `SIGNBRIDGE_TEST_SURELY_UNSET` is not set (nor `SIGNBRIDGE_TEST_SURELY_UNSET_FILE`)"
        );
    }

    #[test]
    fn secrets_are_never_shown() {
        let config = Config::parse(
            "c.yaml",
            "smtp:\n  host: smtp.example.com\n  username: hr\n  password: hunter2-smtp\ncertyneo:\n  api_key: sk_live_hunter2\n  webhook_secret: whsec_hunter2\nseal:\n  p12_password: hunter2-p12\nsync:\n  notify:\n    webhook: {url: \"https://ops.example.com/h\", secret: hunter2-hook}\nsources:\n  crm:\n    connector: hubspot\n    settings: {access_token: hunter2-token, stage_id: won}\n",
        )
        .unwrap();
        let shown = serde_json::to_string(&config).unwrap();
        let debugged = format!("{config:?}");
        for text in [&shown, &debugged] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert!(shown.contains("[redacted]") && shown.contains("\"stage_id\":\"won\""));
        // They are still there for the code that uses them.
        assert_eq!(
            config.smtp.unwrap().password.unwrap().expose(),
            "hunter2-smtp"
        );
    }

    #[test]
    fn a_secret_can_come_from_the_file_name_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("smtp-password");
        std::fs::write(&secret, "s3cr3t value\n").unwrap();
        std::env::set_var("SIGNBRIDGE_TEST_SECRET_FILE", &secret);
        let text = interpolate_env("c.yaml", "password: ${SIGNBRIDGE_TEST_SECRET}\n").unwrap();
        assert_eq!(text, "password: s3cr3t value\n");
        std::env::set_var("SIGNBRIDGE_TEST_GONE_FILE", dir.path().join("missing"));
        let err = interpolate_env("c.yaml", "x: ${SIGNBRIDGE_TEST_GONE}\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("c.yaml:1:4: `SIGNBRIDGE_TEST_GONE_FILE` names"),
            "{err}"
        );
    }

    #[test]
    fn env_variables_are_interpolated_and_escapes_kept() {
        std::env::set_var("SIGNBRIDGE_TEST_NAME", "Acme HR");
        let text = interpolate_env("c", "a: ${SIGNBRIDGE_TEST_NAME} $${KEEP}\n").unwrap();
        assert_eq!(text, "a: Acme HR ${KEEP}\n");
    }
}
