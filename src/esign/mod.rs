//! The e-signature domain, free of HTTP: API keys, documents, envelopes and their recipients,
//! envelope templates, the rules that govern them, and the signing tokens that open them.
//!
//! Every operation takes the caller's [`Environment`] and only ever touches records of it.
//! Operations that create objects take an optional idempotency key: the object and the key are
//! written in one transaction, so a retry after a crash finds the object instead of making a
//! second one.

mod codes;
mod documents;
mod envelopes;
mod evidence;
mod index;
mod keys;
mod lifecycle;
pub mod logo;
pub mod model;
mod outbox;
mod page_view;
mod signing;
mod templates;
mod validate;
mod views;

pub use codes::{
    mask_email, mask_phone, CodeRefusal, IssuedCode, CODE_LIFETIME_SECS, CODE_RESEND_SECS,
};
pub use documents::UploadedFile;
pub use envelopes::{
    CreateEnvelopeRequest, EnvelopeListQuery, FieldInput, InlineDocument, PatchEnvelopeRequest,
    RecipientInput, SignerInput,
};
pub use evidence::{ChainReport, Sealer};
pub use keys::{AuthFailure, CreatedKey, NewKey, KEY_MIN_RANDOM_CHARS};
pub use lifecycle::{event_hash, Actor, TickReport};
pub use outbox::MAX_MAIL_ATTEMPTS;
pub use page_view::{DocumentLayout, PageImage, PlacedField};
pub use signing::page_language;
pub use signing::{consent_text, SignInput, SigningState, SigningView};
pub use templates::{
    CreateTemplateRequest, EnvelopeTemplate, PatchTemplateRequest, SaveAsTemplateRequest,
    TemplateDocument, TemplateField, TemplateFieldInput, TemplateRole, TemplateRoleInput,
};
pub use validate::{FieldIssue, SUPPORTED_LOCALES};
pub use views::{EnvelopeView, RecipientView};

use crate::clock::SharedClock;
use crate::config::AccountConfig;
use crate::ids::IdGenerator;
use crate::pdf::PdfError;
use crate::store::{Store, StoreError};
use hmac::{Hmac, Mac};
use model::Environment;
use sha2::Sha256;
use std::path::Path;

/// The one workspace a self-hosted deployment has.
pub const DEFAULT_WORKSPACE_ID: &str = "wks_default";

/// Why a domain operation did not happen. Nothing was changed when one of these comes back.
#[derive(Debug, thiserror::Error)]
pub enum EsignError {
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("the request is invalid")]
    Invalid(Vec<FieldIssue>),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("the envelope cannot be sent as it is")]
    NotSendable {
        code: &'static str,
        issues: Vec<FieldIssue>,
    },
    #[error("{0}")]
    UnusablePdf(PdfError),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the document is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// A fully signed envelope whose documents cannot be stamped and sealed, even rewritten:
    /// retrying cannot help (see [`Esign::fail_sealing`]).
    #[error("the signed documents cannot be sealed: {0}")]
    Unsealable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<std::io::Error> for EsignError {
    fn from(err: std::io::Error) -> Self {
        EsignError::Store(StoreError::Io(err))
    }
}

impl EsignError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        EsignError::Invalid(vec![FieldIssue::new(field, message)])
    }
}

/// Limits the domain enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_document_bytes: usize,
}

/// How many rendered envelopes are kept (a few KiB each): the ones integrations poll.
const RENDERED_ENVELOPES: usize = 4096;
/// How many decoded API keys are kept.
const DECODED_KEYS: usize = 1024;

/// The e-signature service: what the API handlers call.
pub struct Esign {
    store: Store,
    clock: SharedClock,
    ids: IdGenerator,
    token_key: [u8; 32],
    public_url: String,
    limits: Limits,
    account: AccountConfig,
    /// Woken whenever a change queues an email.
    pub mail_ready: std::sync::Arc<tokio::sync::Notify>,
    /// Woken when an envelope is ready to be sealed.
    pub seal_ready: std::sync::Arc<tokio::sync::Notify>,
    /// Woken whenever a change records a public event (for webhook fan-out).
    pub events_ready: std::sync::Arc<tokio::sync::Notify>,
    /// Pages drawn as images for the signing page.
    page_images: page_view::PageImages,
    /// The account's logo, when configured.
    logo: Option<logo::Logo>,
    /// An SMS provider is configured, so live envelopes may ask for SMS codes.
    sms_live: std::sync::atomic::AtomicBool,
    /// `GET /envelopes/{id}` bodies, reused while the stored envelope is unchanged.
    rendered_envelopes: crate::store::Memo<bytes::Bytes>,
    /// Decoded API keys, reused while the stored key record is unchanged.
    decoded_keys: crate::store::Memo<model::ApiKey>,
    /// Envelope changes waiting to be committed together (see [`crate::store::combine`]).
    commits:
        crate::store::combine::CombinedCommits<lifecycle::PreparedCommit, Result<(), StoreError>>,
}

impl Esign {
    /// `data_dir` holds the token key (`token.key`, created on first use, mode 0600).
    pub fn new(
        store: Store,
        clock: SharedClock,
        data_dir: &Path,
        public_url: String,
        limits: Limits,
        account: AccountConfig,
    ) -> Result<Self, StoreError> {
        let token_key = load_or_create_secret(&data_dir.join("token.key"))?;
        let esign = Self {
            store,
            clock,
            ids: IdGenerator::default(),
            token_key,
            public_url: public_url.trim_end_matches('/').to_string(),
            limits,
            account,
            mail_ready: std::sync::Arc::new(tokio::sync::Notify::new()),
            seal_ready: std::sync::Arc::new(tokio::sync::Notify::new()),
            events_ready: std::sync::Arc::new(tokio::sync::Notify::new()),
            page_images: page_view::PageImages::new(data_dir.join("pages")),
            logo: None,
            sms_live: std::sync::atomic::AtomicBool::new(false),
            rendered_envelopes: crate::store::Memo::new(RENDERED_ENVELOPES),
            commits: Default::default(),
            decoded_keys: crate::store::Memo::new(DECODED_KEYS),
        };
        let _ = esign.ensure_listing_index()?;
        Ok(esign)
    }

    /// Says whether an SMS provider is configured (live envelopes may then ask for SMS codes).
    pub fn set_sms_available_for_live(&self, available: bool) {
        self.sms_live
            .store(available, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn sms_available_for_live(&self) -> bool {
        self.sms_live.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &crate::clock::SharedClock {
        &self.clock
    }

    /// Shows `logo` on the signing pages and in the emails.
    pub fn with_logo(mut self, logo: Option<logo::Logo>) -> Self {
        self.logo = logo;
        self
    }

    /// The account's logo, when configured.
    pub fn logo(&self) -> Option<&logo::Logo> {
        self.logo.as_ref()
    }

    /// The account's display name (the sender on signing pages and emails).
    pub fn account_name(&self) -> &str {
        &self.account.name
    }

    /// Ids for other parts of the service (webhooks) so every id stays monotonic.
    pub fn next_id(&self, kind: crate::ids::IdKind) -> String {
        self.ids.next(kind)
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The signing token of a recipient: HMAC-SHA256 of its id under the server's token key,
    /// base64url. Derived, so responses can always show it while the store keeps only its hash.
    pub fn access_token(&self, recipient_id: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.token_key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"signing-token/");
        mac.update(recipient_id.as_bytes());
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    pub fn sign_url(&self, recipient_id: &str) -> String {
        format!(
            "{}/sign/{}",
            self.public_url,
            self.access_token(recipient_id)
        )
    }

    /// `/account/me`.
    pub fn account(&self) -> Result<model_account::Account, EsignError> {
        let id = match self.store.meta.get(b"account_id")? {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => {
                let id = self.ids.next(crate::ids::IdKind::Account);
                // Whoever writes first names the account; the other reads its id below.
                self.store
                    .meta
                    .compare_and_swap(b"account_id", None, Some(id.as_bytes()))?;
                self.store
                    .meta
                    .get(b"account_id")?
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or(id)
            }
        };
        Ok(model_account::Account {
            id,
            email: self.account.email.clone(),
            name: self.account.name.clone(),
            plan: "self-hosted".into(),
        })
    }

    /// `/workspaces`.
    pub fn workspaces(&self) -> Vec<model_account::Workspace> {
        vec![model_account::Workspace {
            id: DEFAULT_WORKSPACE_ID.into(),
            name: self.account.name.clone(),
            slug: "default".into(),
            role: "OWNER".into(),
        }]
    }
}

/// The account and workspace shapes of `/account/me` and `/workspaces`.
pub mod model_account {
    use serde::Serialize;
    use utoipa::ToSchema;

    #[derive(Debug, Clone, Serialize, ToSchema)]
    pub struct Account {
        pub id: String,
        pub email: String,
        pub name: String,
        pub plan: String,
    }

    #[derive(Debug, Clone, Serialize, ToSchema)]
    pub struct Workspace {
        pub id: String,
        pub name: String,
        pub slug: String,
        /// `OWNER` or `MEMBER`.
        pub role: String,
    }

    /// A saved envelope template as Certyneo lists it (`GET /templates`); the whole template is
    /// an `EnvelopeTemplate`.
    #[derive(Debug, Clone, Serialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct Template {
        pub id: String,
        pub name: String,
        /// Empty when the template has none.
        pub description: String,
        /// Its SIGNER roles.
        pub signer_count: u32,
        pub document_count: u32,
    }
}

/// Reads a 32-byte secret file, creating it (mode 0600, fsynced) on first use.
fn load_or_create_secret(path: &Path) -> Result<[u8; 32], StoreError> {
    if let Ok(bytes) = std::fs::read(path) {
        if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
            return Ok(key);
        }
        return Err(StoreError::Io(std::io::Error::other(format!(
            "{} is not a 32-byte key; restore it from backup (signing links depend on it)",
            path.display()
        ))));
    }
    let key: [u8; 32] = rand::random();
    write_private_file(path, &key)?;
    Ok(key)
}

/// Writes a file only its owner can read, durably.
pub use crate::store::write_private_file;

fn env_key(environment: Environment, id: &str) -> Vec<u8> {
    environment.key(id)
}
