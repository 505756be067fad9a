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
    /// Check a signed PDF's seals: who sealed it and whether its bytes are intact.
    Verify {
        /// The signed PDF.
        file: PathBuf,
        /// A trusted root certificate (PEM); repeatable. The generated CA of a data folder
        /// (`<data-dir>/seal/seal-ca.pem`) is trusted when `--data-dir` is given.
        #[arg(long)]
        trust: Vec<PathBuf>,
        #[arg(long, env = "SIGNBRIDGE_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Check an envelope's audit trail in the store (the server must not be running).
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
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
    let store = match Store::open(data_dir) {
        Err(StoreError::Locked(dir)) => anyhow::bail!(
            "the data folder {} is held by a running signbridge; {what}",
            dir.display()
        ),
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

/// `signbridge verify`: exit 0 when every seal is intact, covers the file and chains to a
/// trusted root (or no root was given), else 1.
fn verify(
    file: &std::path::Path,
    trust: &[PathBuf],
    data_dir: Option<PathBuf>,
) -> anyhow::Result<bool> {
    let bytes = std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
    let mut roots = Vec::new();
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
        roots.extend(
            blocks
                .into_iter()
                .filter(|(label, _)| label == "CERTIFICATE")
                .map(|(_, der)| der),
        );
    }
    let reports = signbridge::pdf::seal::verify_pdf(&bytes);
    let (text, ok) = signbridge::pdf::seal::describe(&reports, &roots, !trust_files.is_empty());
    print!("{text}");
    Ok(ok)
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
    let store = match Store::open(&data_dir) {
        Err(StoreError::Locked(dir)) => anyhow::bail!(
            "the data folder {} is held by a running signbridge; create the key through the API instead: \
             POST /api/v1/keys with a key that has keys:write",
            dir.display()
        ),
        other => other?,
    };
    let esign = signbridge::esign::Esign::new(
        store,
        std::sync::Arc::new(signbridge::clock::SystemClock),
        &data_dir,
        String::new(),
        signbridge::esign::Limits {
            max_document_bytes: config.limits.max_document_bytes,
        },
        config.account.clone(),
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
        Command::Verify {
            file,
            trust,
            data_dir,
        } => match verify(&file, &trust, data_dir) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(err) => Err(err),
        },
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
        Err(err) => {
            eprintln!("signbridge: {err:#}");
            ExitCode::FAILURE
        }
    }
}
