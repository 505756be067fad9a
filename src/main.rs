//! The `signbridge` command line: `run` the server, manage `keys`, print the `openapi` document.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use signbridge::config::Config;
use signbridge::esign::model::{Environment, Scope};
use signbridge::store::{Store, StoreError};
use signbridge::{App, Settings};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "signbridge",
    version,
    about = "Certyneo-compatible e-signature API and HRIS/CRM contract sync"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the API server (no config needed).
    Run(RunArgs),
    /// Manage API keys directly in the store (the server must not be running).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// The configuration as signbridge reads it.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Exit 0 when the server on this machine answers `/healthz` (for container health
    /// checks, where no HTTP client is installed).
    Healthcheck {
        /// The address the server listens on [default: from SIGNBRIDGE_LISTEN, else 127.0.0.1:8080]
        #[arg(long, env = "SIGNBRIDGE_LISTEN")]
        listen: Option<SocketAddr>,
    },
    /// Check a signed PDF's signatures and time-stamps: each CMS signature and digest, the
    /// signing-certificate binding, time-stamp tokens (signature, imprint, authority), the
    /// certificate paths (CA constraints, key usage, validity at the time of signing, trust),
    /// what changed after each signature, and the PAdES level reached.
    Verify {
        /// The signed PDF.
        file: PathBuf,
        /// A trusted root certificate (PEM, one or more per file); repeatable. The generated CA
        /// of a data folder (`<data-dir>/seal/seal-ca.pem`) is trusted when `--data-dir` is given.
        #[arg(long)]
        trust: Vec<PathBuf>,
        #[arg(long, env = "SIGNBRIDGE_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Print the report as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Build the listing index again from the records (envelopes by status, list counts):
    /// a repair after restoring a store by hand. The server must not be running.
    Reindex {
        #[arg(long, env = "SIGNBRIDGE_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "SIGNBRIDGE_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Check an envelope's audit trail in the store (the server must not be running).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Check the config, sources, mappings and templates (each rendered with its sample).
    /// Exit status 78 when anything is wrong.
    Validate {
        #[arg(long, env = "SIGNBRIDGE_CONFIG")]
        config: Option<PathBuf>,
        /// Do not contact the sources.
        #[arg(long)]
        no_environment: bool,
    },
    /// Poll one source now (asks the running daemon).
    Sync {
        source: String,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Jobs by state, parked jobs with their errors, records needing attention (asks the
    /// running daemon); with --record, that record's envelopes and why each was sent.
    Status {
        #[command(flatten)]
        daemon: DaemonArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// One record (its id in the source): its jobs and every envelope it produced.
        #[arg(long)]
        record: Option<String>,
    },
    /// Resume a parked job, or all of them (asks the running daemon). A record that could
    /// not be read whole is read again first.
    Retry {
        /// The job id (`job_…`) or SOURCE/RECORD (the record's id in its source).
        job: Option<String>,
        #[arg(long)]
        all_parked: bool,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Back up the running server's store, blobs and keys to FILE (a consistent snapshot,
    /// taken while it serves; asks the running server).
    Backup {
        /// Where to write the backup (a .tar.gz).
        file: PathBuf,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Copy the embedded store of a data folder (every record and blob) into an empty
    /// PostgreSQL database and check the copy, tree by tree and blob by blob; then set
    /// `storage:` to the same URL. Run it with signbridge stopped.
    Migrate {
        /// The PostgreSQL database: postgres://user[:password]@host[:port]/database (it must
        /// hold no signbridge data yet; its schema is made here).
        #[arg(long)]
        to: String,
        #[arg(long, env = "SIGNBRIDGE_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "SIGNBRIDGE_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Restore a backup into a new data folder (the server must not use that folder).
    Restore {
        /// The backup (from `signbridge backup`).
        file: PathBuf,
        /// The new data folder (must not exist, or be empty).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// End a record needing attention without a contract (asks the running daemon); the
    /// reason is kept in the record's history. `retry` takes it up again.
    Skip {
        /// The job id (`job_…`) or SOURCE/RECORD.
        job: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Render a contract template with a record (a preview of what signers will get).
    Render {
        /// A `.md.hbs` (Markdown + handlebars) or `.typ` template.
        template: PathBuf,
        /// The record, as JSON.
        #[arg(long)]
        data: PathBuf,
        /// Where to write the PDF [default: the template's name with .pdf]
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// signbridge.yaml
    #[arg(long, env = "SIGNBRIDGE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "SIGNBRIDGE_LISTEN")]
    listen: Option<SocketAddr>,
    /// Folder for the store [default: ./data]
    #[arg(long, env = "SIGNBRIDGE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Base URL signers use to reach this server [default: http://<listen>]
    #[arg(long, env = "SIGNBRIDGE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Log format.
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "SIGNBRIDGE_LOG_FORMAT"
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum EnvArg {
    Test,
    Live,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (the file, `${ENV}` filled in, defaults for the
    /// rest) as JSON, every secret shown as `[redacted]`.
    Show {
        #[arg(long, env = "SIGNBRIDGE_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print only its secret on stdout.
    Create {
        #[arg(long = "env", value_enum)]
        environment: EnvArg,
        /// A label for people.
        #[arg(long)]
        name: Option<String>,
        /// Comma-separated scopes [default: all: envelopes:read,envelopes:write,webhooks:write,keys:write]
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        #[arg(long, env = "SIGNBRIDGE_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "SIGNBRIDGE_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

/// How the CLI finds the running daemon.
#[derive(clap::Args)]
struct DaemonArgs {
    #[arg(long, env = "SIGNBRIDGE_CONFIG")]
    config: Option<PathBuf>,
    /// The address the daemon listens on [default: from the config, else 127.0.0.1:8080]
    #[arg(long, env = "SIGNBRIDGE_LISTEN")]
    listen: Option<SocketAddr>,
    #[arg(long, env = "SIGNBRIDGE_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

impl DaemonArgs {
    /// Calls the daemon's admin API.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let config = load_config(self.config.as_ref())?;
        let listen = self.listen.unwrap_or(config.server.listen);
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| config.server.data_dir.clone());
        let token_path = data_dir.join(signbridge::sync::admin::TOKEN_FILE);
        let token = std::fs::read_to_string(&token_path).with_context(|| {
            format!(
                "{}: cannot read the admin token (is the daemon running with this data folder?)",
                token_path.display()
            )
        })?;
        let host = if listen.ip().is_unspecified() {
            SocketAddr::new([127, 0, 0, 1].into(), listen.port())
        } else {
            listen
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let client = reqwest::Client::new();
            let url = format!("http://{host}{path}");
            let request = match method {
                "POST" => client
                    .post(&url)
                    .json(&body.unwrap_or(serde_json::json!({}))),
                _ => client.get(&url),
            };
            let response = request
                .bearer_auth(token.trim())
                .send()
                .await
                .with_context(|| {
                    format!(
                        "cannot reach the daemon at http://{host} (is `signbridge run` running?)"
                    )
                })?;
            let status = response.status();
            let value: serde_json::Value = response.json().await.unwrap_or_default();
            if !status.is_success() {
                anyhow::bail!(
                    "{}",
                    value["error"].as_str().unwrap_or("the daemon refused")
                );
            }
            Ok(value)
        })
    }
}

fn print_record_history(record: &str, history: &serde_json::Value) {
    let jobs = history["jobs"].as_array().cloned().unwrap_or_default();
    if jobs.is_empty() {
        println!("record {record}: no job (never selected by a mapping)");
        return;
    }
    for job in jobs {
        println!(
            "record {record}, mapping {}: {} ({})",
            job["mapping"].as_str().unwrap_or(""),
            job["state"].as_str().unwrap_or(""),
            job["id"].as_str().unwrap_or("")
        );
        for envelope in job["envelopes"].as_array().cloned().unwrap_or_default() {
            let what = envelope["outcome"]
                .as_str()
                .or(envelope["state"].as_str())
                .unwrap_or("");
            println!(
                "  {:<28} {:<12} {what}",
                envelope["envelopeId"]
                    .as_str()
                    .unwrap_or("(not created yet)"),
                envelope["reason"].as_str().unwrap_or("").replace('_', " "),
            );
        }
        if let Some(message) = job["attention"]["message"].as_str() {
            println!("  needs attention: {message}");
        }
    }
}

fn print_status(status: &serde_json::Value) {
    if let Some(sources) = status["sources"].as_object() {
        for (name, run) in sources {
            match run["ok"].as_bool() {
                Some(true) => println!(
                    "source {name}: last run {} — {} new job(s), {} needing attention",
                    run["at"].as_str().unwrap_or("?"),
                    run["newJobs"],
                    run["needAttention"].as_u64().unwrap_or(0)
                ),
                Some(false) => println!(
                    "source {name}: last run {} FAILED — {}",
                    run["at"].as_str().unwrap_or("?"),
                    run["error"].as_str().unwrap_or("")
                ),
                None => println!("source {name}: not run yet"),
            }
        }
    }
    println!("jobs: {} in all", status["total"]);
    if let Some(counts) = status["jobs"].as_object() {
        for (state, count) in counts {
            if count.as_u64().unwrap_or(0) > 0 {
                println!("  {state:<14} {count}");
            }
        }
    }
    if let Some(pending) = status["webhooks"]["pending"].as_u64().filter(|n| *n > 0) {
        println!("webhooks received, not applied yet: {pending}");
    }
    let attention = status["attention"].as_array().cloned().unwrap_or_default();
    if !attention.is_empty() {
        println!("needing attention: {}", attention.len());
        for note in attention {
            println!(
                "  {} / {}: {}",
                note["mapping"].as_str().unwrap_or(""),
                note["record"].as_str().unwrap_or(""),
                note["message"].as_str().unwrap_or("")
            );
        }
    }
    let unidentified = status["unidentified"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !unidentified.is_empty() {
        println!(
            "records without an id (fix them in the source): {}",
            unidentified.len()
        );
        for note in unidentified {
            println!(
                "  {}, {} ago: {}",
                note["source"].as_str().unwrap_or(""),
                age(note["ageSecs"].as_i64().unwrap_or(0)),
                note["reason"].as_str().unwrap_or("")
            );
        }
    }
    let parked = status["parked"].as_array().cloned().unwrap_or_default();
    if parked.is_empty() {
        println!("parked: none");
    } else {
        println!(
            "parked: {} (no contract until fixed, retried or skipped)",
            parked.len()
        );
        for job in parked {
            println!(
                "  {}  {}/{}  {}, {} ago (at {}): {}",
                job["id"].as_str().unwrap_or(""),
                job["source"].as_str().unwrap_or(""),
                job["record"].as_str().unwrap_or(""),
                job["mapping"].as_str().unwrap_or(""),
                age(job["ageSecs"].as_i64().unwrap_or(0)),
                job["from"].as_str().unwrap_or("?"),
                job["error"].as_str().unwrap_or("")
            );
        }
        println!("  fix the record in its source (taken up by itself), or `signbridge retry ID`, or `signbridge skip ID --reason TEXT`");
    }
}

/// `3d 4h`, `5m`, `12s`.
fn age(seconds: i64) -> String {
    match seconds {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain of an envelope's events and report the first break.
    Check {
        /// The envelope id (`env_…`).
        envelope_id: String,
        #[arg(long, env = "SIGNBRIDGE_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "SIGNBRIDGE_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(path) => Ok(Config::load(path)?),
        None => Ok(Config::default()),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let config = load_config(args.config.as_ref())?;
    let settings = Settings {
        listen: args.listen.unwrap_or(config.server.listen),
        data_dir: args
            .data_dir
            .unwrap_or_else(|| config.server.data_dir.clone()),
        public_url: args.public_url.or_else(|| config.server.public_url.clone()),
        config,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 * 1024 * 1024)
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let app = App::start(settings).await?;
        app.serve(shutdown_signal()).await?;
        Ok(())
    })
}

fn open_esign(
    config: &Config,
    data_dir: &std::path::Path,
    what: &str,
) -> anyhow::Result<signbridge::esign::Esign> {
    let store = match Store::open_configured(data_dir, &config.storage) {
        Err(StoreError::Locked(dir)) => anyhow::bail!(
            "the data folder {} is held by a running signbridge; {what}",
            dir.display()
        ),
        Err(StoreError::InUse) => {
            anyhow::bail!("the PostgreSQL store is held by a running signbridge; {what}")
        }
        other => other?,
    };
    Ok(signbridge::esign::Esign::new(
        store,
        std::sync::Arc::new(signbridge::clock::SystemClock),
        data_dir,
        String::new(),
        signbridge::esign::Limits {
            max_document_bytes: config.limits.max_document_bytes,
        },
        config.account.clone(),
    )?)
}

/// `signbridge verify`: exit 0 when every signature is valid, the last covers the file and each
/// path chains to a trusted root (or no root was given), else 1.
fn verify(
    file: &std::path::Path,
    trust: &[PathBuf],
    data_dir: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<bool> {
    use signbridge::pdf::seal::{describe, verify_pdf, VerifyOptions};
    use signbridge::pdf::x509::Cert;
    let bytes = std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
    let mut anchors = Vec::new();
    let mut trust_files: Vec<PathBuf> = trust.to_vec();
    if let Some(dir) = data_dir {
        let generated = dir.join("seal").join(signbridge::sealing::GENERATED_CA);
        if generated.exists() {
            trust_files.push(generated);
        }
    }
    for path in &trust_files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let blocks = signbridge::pdf::identity::pem_blocks(&text)
            .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
        let before = anchors.len();
        for (label, der) in blocks {
            if label == "CERTIFICATE" {
                anchors.push(Cert::from_der(&der).map_err(|err| {
                    anyhow::anyhow!("{}: a certificate cannot be read: {err}", path.display())
                })?);
            }
        }
        if anchors.len() == before {
            anyhow::bail!("{}: no CERTIFICATE block found", path.display());
        }
    }
    let report = verify_pdf(
        &bytes,
        &VerifyOptions {
            anchors,
            now: chrono::Utc::now(),
        },
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", describe(&report));
    }
    Ok(report.valid)
}

fn audit_check(
    envelope_id: &str,
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<bool> {
    let config = load_config(config.as_ref())?;
    let data_dir = data_dir.unwrap_or_else(|| config.server.data_dir.clone());
    let esign = open_esign(
        &config,
        &data_dir,
        "stop it first, or check the sealed audit trail with `signbridge verify`",
    )?;
    let mut last_error = None;
    for environment in [Environment::Live, Environment::Test] {
        match esign.check_audit_chain(environment, envelope_id) {
            Ok(report) => {
                match &report.broken_at {
                    None => println!(
                        "{envelope_id}: audit chain intact — {} events, head {}",
                        report.events,
                        report.head.as_deref().unwrap_or("(none)")
                    ),
                    Some((position, why)) => println!(
                        "{envelope_id}: audit chain BROKEN at event {} of {}: {why}",
                        position + 1,
                        report.events
                    ),
                }
                return Ok(report.broken_at.is_none());
            }
            Err(err) => last_error = Some(err),
        }
    }
    Err(anyhow::anyhow!(
        "{}",
        last_error.map(|e| e.to_string()).unwrap_or_default()
    ))
}

/// `signbridge migrate --to postgres://…`.
fn migrate(to: &str, config: Option<PathBuf>, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let config = load_config(config.as_ref())?;
    let data_dir = data_dir.unwrap_or_else(|| config.server.data_dir.clone());
    if !data_dir.join("db").exists() {
        anyhow::bail!(
            "{} holds no embedded store to migrate (no db folder)",
            data_dir.display()
        );
    }
    let store = match Store::open(&data_dir) {
        Err(StoreError::Locked(dir)) => anyhow::bail!(
            "the data folder {} is held by a running signbridge: stop it, then migrate",
            dir.display()
        ),
        other => other?,
    };
    let target = signbridge::store::postgres::PgTrees::connect(to, 4)
        .context("connecting to the target database")?;
    let report = store.copy_into(&target)?;
    let entries: u64 = report.trees.iter().map(|tree| tree.entries).sum();
    for tree in &report.trees {
        println!(
            "{:<16} {:>9} entries  sha256 {}",
            tree.tree, tree.entries, tree.sha256
        );
    }
    println!(
        "copied and checked {entries} entries in {} trees and {} blobs ({} bytes) into PostgreSQL; \
         set `storage:` in signbridge.yaml to the same URL and start signbridge",
        report.trees.len(),
        report.blobs,
        report.blob_bytes
    );
    Ok(())
}

fn keys_create(
    environment: EnvArg,
    name: Option<String>,
    scopes: Option<Vec<String>>,
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let config = load_config(config.as_ref())?;
    let data_dir = data_dir.unwrap_or_else(|| config.server.data_dir.clone());
    let scopes = match scopes {
        None => Scope::ALL.to_vec(),
        Some(names) => names
            .iter()
            .map(|name| {
                Scope::parse(name).with_context(|| {
                    format!("unknown scope `{name}`; scopes are envelopes:read, envelopes:write, webhooks:write, keys:write")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
    };
    let esign = open_esign(
        &config,
        &data_dir,
        "create the key through the API instead: POST /api/v1/keys with a key that has keys:write",
    )?;
    let environment = match environment {
        EnvArg::Test => Environment::Test,
        EnvArg::Live => Environment::Live,
    };
    let created = esign
        .create_key(environment, name.as_deref(), &scopes)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    esign.store().flush_blocking()?;
    println!("{}", created.secret);
    Ok(())
}

fn render(
    template: &std::path::Path,
    data: &std::path::Path,
    output: Option<PathBuf>,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(template)
        .with_context(|| format!("{}: cannot read", template.display()))?;
    let record_text = std::fs::read_to_string(data)
        .with_context(|| format!("{}: cannot read", data.display()))?;
    let record: serde_json::Value = serde_json::from_str(&record_text).map_err(|err| {
        anyhow::anyhow!(
            "{}:{}:{}: not valid JSON: {err}",
            data.display(),
            err.line(),
            err.column()
        )
    })?;
    let origin = template.display().to_string();
    let rendered = signbridge::pdf::render::render_template(&origin, &text, &record)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let output = output.unwrap_or_else(|| {
        let name = template
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = name
            .trim_end_matches(".hbs")
            .trim_end_matches(".md")
            .trim_end_matches(".typ");
        template.with_file_name(format!("{stem}.pdf"))
    });
    std::fs::write(&output, &rendered.pdf)
        .with_context(|| format!("{}: cannot write", output.display()))?;
    eprintln!("{}: {} page(s)", output.display(), rendered.page_count);
    Ok(())
}

/// `validate` found problems (exit status 78, as sysexits' EX_CONFIG).
#[derive(Debug)]
struct InvalidConfig(usize);

impl std::fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} problem(s) found", self.0)
    }
}

impl std::error::Error for InvalidConfig {}

/// One `GET /healthz` over loopback (a server listening on every address is asked on
/// 127.0.0.1), answered 200 within 5 s.
fn healthcheck(listen: Option<SocketAddr>) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let mut address = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let timeout = std::time::Duration::from_secs(5);
    let mut stream = std::net::TcpStream::connect_timeout(&address, timeout)
        .with_context(|| format!("nothing answers on {address}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.take(4096).read_to_end(&mut answer)?;
    let status = String::from_utf8_lossy(&answer);
    let line = status.lines().next().unwrap_or_default();
    if line.split_whitespace().nth(1) == Some("200") {
        println!("healthy");
        Ok(())
    } else {
        anyhow::bail!("{address} answered: {line}")
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Keys {
            command:
                KeysCommand::Create {
                    environment,
                    name,
                    scopes,
                    config,
                    data_dir,
                },
        } => keys_create(environment, name, scopes, config, data_dir),
        Command::Render {
            template,
            data,
            output,
        } => render(&template, &data, output),
        Command::Openapi => {
            println!("{}", signbridge::api::openapi_json());
            Ok(())
        }
        Command::Healthcheck { listen } => healthcheck(listen),
        Command::Backup { file, daemon } => std::path::absolute(&file)
            .context("the backup's path")
            .and_then(|path| {
                daemon.call(
                    "POST",
                    "/admin/backup",
                    Some(serde_json::json!({"path": path})),
                )
            })
            .map(|answer| {
                let manifest = &answer["manifest"];
                println!(
                    "backup written to {}: {} records in {} trees, {} blobs, {} files ({} ms)",
                    file.display(),
                    manifest["records"],
                    manifest["trees"],
                    manifest["blobs"],
                    manifest["files"],
                    answer["ms"]
                );
            }),
        Command::Migrate {
            to,
            config,
            data_dir,
        } => migrate(&to, config, data_dir),
        Command::Restore { file, data_dir } => {
            signbridge::store::backup::restore(&file, &data_dir)
                .map(|manifest| {
                    println!(
                        "restored into {}: {} records in {} trees, {} blobs, {} files (checksum verified)",
                        data_dir.display(),
                        manifest.records,
                        manifest.trees,
                        manifest.blobs,
                        manifest.files
                    );
                })
                .map_err(anyhow::Error::from)
        }
        Command::Config {
            command: ConfigCommand::Show { config },
        } => load_config(config.as_ref()).and_then(|config| {
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(())
        }),
        Command::Verify {
            file,
            trust,
            data_dir,
            json,
        } => match verify(&file, &trust, data_dir, json) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(err) => Err(err),
        },
        Command::Validate {
            config,
            no_environment,
        } => {
            let problems = signbridge::sync::validate::validate(config.as_deref(), !no_environment);
            if problems.is_empty() {
                println!("valid");
                Ok(())
            } else {
                for problem in &problems {
                    eprintln!("{problem}");
                }
                Err(anyhow::Error::new(InvalidConfig(problems.len())))
            }
        }
        Command::Sync { source, daemon } => daemon
            .call("POST", &format!("/admin/sync/{source}"), None)
            .map(|answer| println!("{source}: {} new job(s)", answer["newJobs"])),
        Command::Status {
            daemon,
            json,
            record: Some(record),
        } => {
            let segment: String = record
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            let path = format!("/admin/records/{segment}");
            daemon.call("GET", &path, None).map(|history| {
                if json {
                    println!("{history:#}");
                } else {
                    print_record_history(&record, &history);
                }
            })
        }
        Command::Status {
            daemon,
            json,
            record: None,
        } => daemon.call("GET", "/admin/status", None).map(|status| {
            if json {
                println!("{status:#}");
            } else {
                print_status(&status);
            }
        }),
        Command::Retry {
            job,
            all_parked,
            daemon,
        } => {
            let body = match (job, all_parked) {
                (Some(job), false) => Ok(serde_json::json!({"job": job})),
                (None, true) => Ok(serde_json::json!({"all": true})),
                _ => Err(anyhow::anyhow!("give a job id or --all-parked")),
            };
            body.and_then(|body| daemon.call("POST", "/admin/retry", Some(body)))
                .map(|answer| println!("{} job(s) resumed", answer["retried"]))
        }
        Command::Skip {
            job,
            reason,
            daemon,
        } => daemon
            .call(
                "POST",
                "/admin/skip",
                Some(serde_json::json!({"job": job, "reason": reason})),
            )
            .map(|answer| println!("{} job(s) skipped", answer["skipped"])),
        Command::Reindex { config, data_dir } => load_config(config.as_ref()).and_then(|config| {
            let data_dir = data_dir.unwrap_or_else(|| config.server.data_dir.clone());
            let esign = open_esign(&config, &data_dir, "stop it first")?;
            let envelopes = esign.rebuild_listing_index()?;
            esign.store().flush_blocking()?;
            println!("listing index rebuilt: {envelopes} envelope(s)");
            Ok(())
        }),
        Command::Audit {
            command:
                AuditCommand::Check {
                    envelope_id,
                    config,
                    data_dir,
                },
        } => match audit_check(&envelope_id, config, data_dir) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(err) => Err(err),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<InvalidConfig>().is_some() => {
            eprintln!("{err}");
            ExitCode::from(78)
        }
        Err(err) => {
            eprintln!("signbridge: {err:#}");
            ExitCode::FAILURE
        }
    }
}
