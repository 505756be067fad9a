//! Sealing: the platform's sealing identity (the operator's PEM key and chain or PKCS#12 file,
//! or a self-signed CA and signing certificate generated into the data folder on first start),
//! the PAdES level, the RFC 3161 time-stamp authority client and the revocation-data client
//! (OCSP, CRLs), and the worker that turns fully signed envelopes into sealed evidence. A
//! time-stamp authority or revocation source that fails makes the seal fail and be retried; it
//! never falls back to the local clock or a lower level.

use crate::config::SealConfig;
use crate::esign::{Esign, Sealer};
use crate::pdf::identity::{IdentityError, SealIdentity};
use crate::pdf::ltv::RevocationSource;
use crate::pdf::seal::{PadesLevel, TrustServices};
use crate::pdf::tsp;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why the sealing identity could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SealSetupError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("sealing identity: {0}")]
    Identity(#[from] IdentityError),
    #[error("seal: set key_file with certificate_file, or p12_file alone, or none of them")]
    HalfConfigured,
    #[error("seal.tsa_url: {0}")]
    BadTsaUrl(String),
    #[error("seal.level {0} needs a time-stamp authority: set seal.tsa_url, or choose B-B")]
    LevelNeedsTsa(PadesLevel),
    #[error("seal: the HTTP client cannot be made: {0}")]
    Client(String),
    #[error("the sealing certificate {subject} is not valid now (valid from {not_before} to {not_after}): configure a current one")]
    CertificateNotCurrent {
        subject: String,
        not_before: String,
        not_after: String,
    },
}

/// The identity, level and trust services in use.
pub struct Sealing {
    pub identity: SealIdentity,
    pub level: PadesLevel,
    tsa: Option<TsaClient>,
    /// The HTTP client for OCSP and CRLs (with the configured timeout).
    revocation_client: reqwest::Client,
    retry_after: Duration,
}

/// File names of a generated identity inside `<data-dir>/seal/`.
pub const GENERATED_KEY: &str = "seal-key.pem";
pub const GENERATED_CHAIN: &str = "seal-chain.pem";
pub const GENERATED_CA: &str = "seal-ca.pem";

fn read(path: &Path) -> Result<String, SealSetupError> {
    std::fs::read_to_string(path).map_err(|source| SealSetupError::Read {
        path: path.display().to_string(),
        source,
    })
}

impl Sealing {
    /// Loads the configured identity, or the generated one, generating it on first start.
    pub fn set_up(
        config: &SealConfig,
        data_dir: &Path,
        organization: &str,
    ) -> Result<Self, SealSetupError> {
        let identity = match (&config.key_file, &config.certificate_file, &config.p12_file) {
            (Some(key), Some(chain), None) => SealIdentity::from_pem(&read(key)?, &read(chain)?)?,
            (None, None, Some(p12)) => {
                let bytes = std::fs::read(p12).map_err(|source| SealSetupError::Read {
                    path: p12.display().to_string(),
                    source,
                })?;
                SealIdentity::from_pkcs12(
                    &bytes,
                    config
                        .p12_password
                        .as_ref()
                        .map(|p| p.expose())
                        .unwrap_or(""),
                )?
            }
            (None, None, None) => Self::generated(data_dir, organization)?,
            _ => return Err(SealSetupError::HalfConfigured),
        };
        let now = chrono::Utc::now();
        let certificate = identity.certificate();
        if now < certificate.not_before() || now > certificate.not_after() {
            return Err(SealSetupError::CertificateNotCurrent {
                subject: certificate.subject(),
                not_before: certificate.not_before().to_rfc3339(),
                not_after: certificate.not_after().to_rfc3339(),
            });
        }
        if certificate.not_after() - now < chrono::Duration::days(30) {
            tracing::warn!(
                subject = %certificate.subject(),
                not_after = %certificate.not_after().to_rfc3339(),
                "the sealing certificate expires within 30 days: configure its successor (documents sealed before stay verifiable)"
            );
        }
        let tsa = match &config.tsa_url {
            Some(url) => {
                let parsed = url::Url::parse(url)
                    .map_err(|err| SealSetupError::BadTsaUrl(err.to_string()))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(SealSetupError::BadTsaUrl("use an http(s) URL".into()));
                }
                Some(TsaClient {
                    url: url.clone(),
                    client: reqwest::Client::builder()
                        .timeout(Duration::from_secs(config.tsa_timeout_secs.max(1)))
                        .build()
                        .map_err(|err| SealSetupError::BadTsaUrl(err.to_string()))?,
                })
            }
            None => None,
        };
        let level = config.level.unwrap_or(if tsa.is_some() {
            PadesLevel::BLTA
        } else {
            PadesLevel::BB
        });
        if level >= PadesLevel::BT && tsa.is_none() {
            return Err(SealSetupError::LevelNeedsTsa(level));
        }
        let revocation_client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.revocation_timeout_secs.max(1)))
            .build()
            .map_err(|err| SealSetupError::Client(err.to_string()))?;
        tracing::info!(
            subject = %identity.subject(),
            level = %level,
            timestamp_authority = config.tsa_url.as_deref().unwrap_or("none"),
            "sealing identity ready"
        );
        Ok(Self {
            identity,
            level,
            tsa,
            revocation_client,
            retry_after: Duration::from_secs(config.retry_secs.max(1)),
        })
    }

    fn generated(data_dir: &Path, organization: &str) -> Result<SealIdentity, SealSetupError> {
        let folder = data_dir.join("seal");
        let (key_path, chain_path) = (folder.join(GENERATED_KEY), folder.join(GENERATED_CHAIN));
        if key_path.exists() && chain_path.exists() {
            return Ok(SealIdentity::from_pem(
                &read(&key_path)?,
                &read(&chain_path)?,
            )?);
        }
        let (identity, files) = SealIdentity::generate(organization, chrono::Utc::now())?;
        let io = |path: &Path, source: std::io::Error| SealSetupError::Read {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&folder).map_err(|e| io(&folder, e))?;
        crate::esign::write_private_file(&key_path, files.key_pem.as_bytes())
            .map_err(|e| io(&key_path, std::io::Error::other(e.to_string())))?;
        crate::esign::write_private_file(&chain_path, files.certificate_pem.as_bytes())
            .map_err(|e| io(&chain_path, std::io::Error::other(e.to_string())))?;
        let ca_path = folder.join(GENERATED_CA);
        crate::esign::write_private_file(&ca_path, files.ca_certificate_pem.as_bytes())
            .map_err(|e| io(&ca_path, std::io::Error::other(e.to_string())))?;
        tracing::warn!(
            ca = %ca_path.display(),
            "no sealing certificate configured: generated a self-signed CA and a signing certificate; \
             verifiers will call seals untrusted unless given this CA as trust root (configure seal.key_file \
             and seal.certificate_file for your own)"
        );
        Ok(identity)
    }

    /// Runs `work` with a [`Sealer`] (on a blocking thread: sealing is CPU work, and the
    /// time-stamp request blocks on this runtime).
    pub async fn with_sealer<T: Send + 'static>(
        self: &Arc<Self>,
        esign: Arc<Esign>,
        work: impl FnOnce(&Esign, &Sealer<'_>) -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let sealing = self.clone();
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let tsa = sealing.tsa.as_ref();
            let timestamp = |digest: &[u8; 32]| -> Result<Vec<u8>, String> {
                let Some(tsa) = tsa else {
                    return Err("no time-stamp authority".into());
                };
                runtime.block_on(tsa.timestamp(digest))
            };
            let revocation = NetworkRevocation {
                client: sealing.revocation_client.clone(),
                runtime: runtime.clone(),
            };
            let sealer = Sealer {
                identity: &sealing.identity,
                level: sealing.level,
                services: TrustServices {
                    timestamper: if tsa.is_some() {
                        Some(&timestamp)
                    } else {
                        None
                    },
                    revocation: Some(&revocation),
                },
            };
            work(&esign, &sealer)
        })
        .await
    }
}

struct TsaClient {
    url: String,
    client: reqwest::Client,
}

impl TsaClient {
    /// A token over `digest`, checked in full: the imprint and nonce sent, the token's own
    /// signature, the authority's timeStamping purpose.
    async fn timestamp(&self, digest: &[u8; 32]) -> Result<Vec<u8>, String> {
        let nonce = rand::random::<u64>() >> 1;
        let request = tsp::request(digest, nonce).map_err(|err| err.to_string())?;
        let response = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/timestamp-query")
            .body(request)
            .send()
            .await
            .map_err(|err| format!("{}: {err}", self.url))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("{} answered HTTP {status}", self.url));
        }
        let body = response
            .bytes()
            .await
            .map_err(|err| format!("{}: {err}", self.url))?;
        let token = tsp::token_from_reply(&body).map_err(|err| err.to_string())?;
        tsp::check_fresh_token(&token, digest, nonce)
            .map_err(|reason| format!("{}: {reason}", self.url))?;
        Ok(token)
    }
}

/// Revocation data over HTTP (OCSP by POST, CRLs by GET), from a blocking thread.
struct NetworkRevocation {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl NetworkRevocation {
    fn run(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
        expected_type: &str,
    ) -> Result<Vec<u8>, String> {
        self.runtime.block_on(async {
            let response = request
                .send()
                .await
                .map_err(|err| format!("{url}: {err}"))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("{url} answered HTTP {status}"));
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if content_type.starts_with("text/html") {
                return Err(format!("{url} answered a web page, not {expected_type}"));
            }
            let body = response
                .bytes()
                .await
                .map_err(|err| format!("{url}: {err}"))?;
            Ok(body.to_vec())
        })
    }
}

impl RevocationSource for NetworkRevocation {
    fn ocsp(&self, url: &str, request: &[u8]) -> Result<Vec<u8>, String> {
        let builder = self
            .client
            .post(url)
            .header("Content-Type", "application/ocsp-request")
            .body(request.to_vec());
        self.run(builder, url, "an OCSP response")
    }

    fn crl(&self, url: &str) -> Result<Vec<u8>, String> {
        self.run(self.client.get(url), url, "a CRL")
    }
}

/// Seals one envelope and makes the result durable; false when it failed (it is retried).
async fn seal_one(
    esign: Arc<Esign>,
    sealing: Arc<Sealing>,
    environment: crate::esign::model::Environment,
    id: String,
) -> bool {
    let envelope_id = id.clone();
    let started = std::time::Instant::now();
    let outcome = sealing
        .with_sealer(esign.clone(), move |esign, sealer| {
            esign.seal_envelope(environment, &id, sealer)
        })
        .await;
    match outcome {
        Ok(Ok(true)) => match esign.store().flush().await {
            Ok(()) => {
                tracing::info!(envelope = %envelope_id, millis = started.elapsed().as_millis() as u64, "envelope sealed and completed (or voided: it cannot be sealed)");
                true
            }
            Err(err) => {
                tracing::error!(error = %err, "flush after sealing failed");
                false
            }
        },
        Ok(Ok(false)) => true,
        Ok(Err(err)) => {
            tracing::error!(envelope = %envelope_id, error = %err, "sealing failed; will retry");
            false
        }
        Err(err) => {
            tracing::error!(envelope = %envelope_id, error = %err, "sealing panicked; will retry");
            false
        }
    }
}

/// Seals envelopes whose last signature is in, as they come, as many at once as there are
/// cores (sealing is CPU work); failures are logged and retried.
pub async fn run_worker(
    esign: Arc<Esign>,
    sealing: Arc<Sealing>,
    mut shutdown: crate::shutdown::Shutdown,
) {
    let parallel = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    loop {
        // Seals under way finish (below); none starts once shutdown is requested.
        if shutdown.is_requested() {
            return;
        }
        let listed = {
            let esign = esign.clone();
            tokio::task::spawn_blocking(move || esign.envelopes_to_seal()).await
        };
        let mut failed = false;
        match listed {
            Ok(Ok(pending)) => {
                let limit = Arc::new(tokio::sync::Semaphore::new(parallel));
                let mut tasks = tokio::task::JoinSet::new();
                for (environment, id) in pending {
                    let Ok(permit) = limit.clone().acquire_owned().await else {
                        break;
                    };
                    if shutdown.is_requested() {
                        break;
                    }
                    let (esign, sealing) = (esign.clone(), sealing.clone());
                    tasks.spawn(async move {
                        let sealed = seal_one(esign, sealing, environment, id).await;
                        drop(permit);
                        sealed
                    });
                }
                while let Some(result) = tasks.join_next().await {
                    if !matches!(result, Ok(true)) {
                        failed = true;
                    }
                }
            }
            Ok(Err(err)) => {
                tracing::error!(error = %err, "listing envelopes to seal failed");
                failed = true;
            }
            Err(err) => {
                tracing::error!(error = %err, "listing envelopes to seal panicked");
                failed = true;
            }
        }
        let wait = if failed {
            sealing.retry_after
        } else {
            Duration::from_secs(300)
        };
        tokio::select! {
            _ = esign.seal_ready.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.requested() => return,
        }
    }
}
