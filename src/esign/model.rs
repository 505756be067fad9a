//! The records the service keeps and the enums of the contract, as they go over the wire
//! (camelCase, RFC 3339 UTC) and into the store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Test and live data never see each other: every record belongs to one environment and is
/// stored under its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Test,
    Live,
}

impl Environment {
    pub const fn as_str(self) -> &'static str {
        match self {
            Environment::Test => "test",
            Environment::Live => "live",
        }
    }

    /// The store key of record `id` in this environment.
    pub fn key(self, id: &str) -> Vec<u8> {
        format!("{}/{id}", self.as_str()).into_bytes()
    }

    /// The store prefix of every record of a kind in this environment (`env_`, `doc_`, …).
    pub fn prefix(self, id_prefix: &str) -> Vec<u8> {
        format!("{}/{id_prefix}", self.as_str()).into_bytes()
    }
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    #[serde(rename = "envelopes:read")]
    EnvelopesRead,
    #[serde(rename = "envelopes:write")]
    EnvelopesWrite,
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    #[serde(rename = "keys:write")]
    KeysWrite,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::EnvelopesRead,
        Scope::EnvelopesWrite,
        Scope::WebhooksWrite,
        Scope::KeysWrite,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::EnvelopesRead => "envelopes:read",
            Scope::EnvelopesWrite => "envelopes:write",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::KeysWrite => "keys:write",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text.trim())
    }
}

/// A stored API key. The secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub environment: Environment,
    pub prefix: String,
    pub last4: String,
    pub scopes: Vec<Scope>,
    pub secret_sha256: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An API key as the API shows it (never the secret, never its hash).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub environment: Environment,
    /// The key's fixed beginning, `sk_test_` or `sk_live_`.
    pub prefix: String,
    /// The last four characters of the secret, to tell keys apart.
    pub last4: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(key: &ApiKey) -> Self {
        Self {
            id: key.id.clone(),
            name: key.name.clone(),
            environment: key.environment,
            prefix: key.prefix.clone(),
            last4: key.last4.clone(),
            scopes: key.scopes.clone(),
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// An uploaded document. Images are converted on upload, so the stored file is always a PDF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    #[schema(example = "doc_01JD5Q9M3V0F8W2K7T4R6Y1ZXC")]
    pub id: String,
    pub name: String,
    /// Always `application/pdf`: what the envelope will carry.
    pub mime_type: String,
    /// What was uploaded: `application/pdf`, `image/png` or `image/jpeg`.
    pub original_mime_type: String,
    /// Size in bytes of the stored PDF.
    pub size: u64,
    /// Hex SHA-256 of the stored PDF.
    pub sha256: String,
    pub page_count: u32,
    /// `READY` once stored.
    pub status: String,
    pub environment: Environment,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnvelopeStatus {
    Draft,
    Scheduled,
    Sent,
    Delivered,
    PartiallySigned,
    Completed,
    Declined,
    Voided,
    Expired,
    ReturnedToSender,
}

impl EnvelopeStatus {
    pub const ALL: [EnvelopeStatus; 10] = [
        EnvelopeStatus::Draft,
        EnvelopeStatus::Scheduled,
        EnvelopeStatus::Sent,
        EnvelopeStatus::Delivered,
        EnvelopeStatus::PartiallySigned,
        EnvelopeStatus::Completed,
        EnvelopeStatus::Declined,
        EnvelopeStatus::Voided,
        EnvelopeStatus::Expired,
        EnvelopeStatus::ReturnedToSender,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EnvelopeStatus::Draft => "DRAFT",
            EnvelopeStatus::Scheduled => "SCHEDULED",
            EnvelopeStatus::Sent => "SENT",
            EnvelopeStatus::Delivered => "DELIVERED",
            EnvelopeStatus::PartiallySigned => "PARTIALLY_SIGNED",
            EnvelopeStatus::Completed => "COMPLETED",
            EnvelopeStatus::Declined => "DECLINED",
            EnvelopeStatus::Voided => "VOIDED",
            EnvelopeStatus::Expired => "EXPIRED",
            EnvelopeStatus::ReturnedToSender => "RETURNED_TO_SENDER",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// Out for signature: recipients may still act.
    pub fn is_in_flight(self) -> bool {
        matches!(
            self,
            EnvelopeStatus::Scheduled
                | EnvelopeStatus::Sent
                | EnvelopeStatus::Delivered
                | EnvelopeStatus::PartiallySigned
                | EnvelopeStatus::ReturnedToSender
        )
    }

    /// Nothing more can happen to it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            EnvelopeStatus::Completed
                | EnvelopeStatus::Declined
                | EnvelopeStatus::Voided
                | EnvelopeStatus::Expired
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecipientRole {
    #[default]
    Signer,
    Approver,
    Viewer,
    CarbonCopy,
}

impl RecipientRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            RecipientRole::Signer => "SIGNER",
            RecipientRole::Approver => "APPROVER",
            RecipientRole::Viewer => "VIEWER",
            RecipientRole::CarbonCopy => "CARBON_COPY",
        }
    }

    /// Signers and approvers act on the envelope and get a signing link.
    pub fn acts(self) -> bool {
        matches!(self, RecipientRole::Signer | RecipientRole::Approver)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecipientStatus {
    Pending,
    Sent,
    Viewed,
    Signed,
    Approved,
    Declined,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SignatureLevel {
    #[default]
    Simple,
    Advanced,
    Qualified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    Contract,
    Agreement,
    Invoice,
    Letter,
    Quote,
    Nda,
    Hr,
    Legal,
    Report,
    Proposal,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FieldType {
    #[default]
    Signature,
    Initials,
    DateSigned,
    Text,
    Checkbox,
    Dropdown,
    Attachment,
    Stamp,
    Drawing,
    RadioGroup,
}

impl FieldType {
    /// The field types this server can place and fill.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            FieldType::Signature
                | FieldType::Initials
                | FieldType::DateSigned
                | FieldType::Text
                | FieldType::Checkbox
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnchorPlacement {
    #[default]
    Right,
    Below,
    Above,
    Left,
}

/// When invitations are re-sent to recipients who have not acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reminders {
    /// First reminder this many days after the invitation.
    pub after_days: u32,
    /// Then again every this many days (none if absent).
    #[serde(default)]
    pub every_days: Option<u32>,
}

/// Where a recipient acts on a document: by coordinates (points, y from the TOP edge) or next
/// to an anchor text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    pub recipient_email: String,
    pub document_index: u32,
    pub page_number: u32,
    pub field_type: FieldType,
    pub anchor_text: Option<String>,
    pub anchor_placement: AnchorPlacement,
    pub anchor_index: u32,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: RecipientRole,
    pub signing_order: u32,
    pub status: RecipientStatus,
    pub phone: Option<String>,
    pub viewed_at: Option<DateTime<Utc>>,
    pub signed_at: Option<DateTime<Utc>>,
    pub declined_at: Option<DateTime<Utc>>,
    pub decline_reason: Option<String>,
    /// When this recipient's turn came and the invitation was queued.
    #[serde(default)]
    pub invited_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub approved_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_reminded_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reminders_sent: u32,
    /// What the signer did to sign, with the evidence around it.
    #[serde(default)]
    pub signature: Option<SignatureRecord>,
    /// One-time codes this recipient proved they received (each factor once).
    #[serde(default)]
    pub authentications: Vec<Authentication>,
    /// The one-time code sent last and not yet used (its keyed hash only).
    #[serde(default)]
    pub pending_code: Option<PendingCode>,
    /// Wrong codes entered, all codes together; at [`MAX_CODE_FAILURES`] the recipient is
    /// locked out of signing.
    #[serde(default)]
    pub code_failures: u32,
}

/// How many wrong one-time codes lock a recipient out.
pub const MAX_CODE_FAILURES: u32 = 5;

/// Where a one-time code is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CodeChannel {
    Email,
    Sms,
}

impl CodeChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeChannel::Email => "email",
            CodeChannel::Sms => "sms",
        }
    }
}

/// A factor the recipient proved: a one-time code received on a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Authentication {
    pub channel: CodeChannel,
    /// Where the code went, masked (`a•••@example.com`, `+33•••••••78`).
    pub destination: String,
    pub verified_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A one-time code waiting to be entered: never the code itself, only its keyed hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingCode {
    pub channel: CodeChannel,
    /// HMAC-SHA256 (the server's token key) of the recipient id, channel and code, hex.
    pub code_mac: String,
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Recipient {
    /// A recipient who has done nothing yet.
    pub fn pending(
        id: String,
        email: String,
        name: String,
        role: RecipientRole,
        signing_order: u32,
    ) -> Self {
        Self {
            id,
            email,
            name,
            role,
            signing_order,
            status: RecipientStatus::Pending,
            phone: None,
            viewed_at: None,
            signed_at: None,
            declined_at: None,
            decline_reason: None,
            invited_at: None,
            approved_at: None,
            last_reminded_at: None,
            authentications: Vec::new(),
            pending_code: None,
            code_failures: 0,
            reminders_sent: 0,
            signature: None,
        }
    }

    /// Signed or approved: nothing more is expected of this recipient.
    pub fn is_done(&self) -> bool {
        matches!(
            self.status,
            RecipientStatus::Signed | RecipientStatus::Approved
        )
    }
}

/// How a signature was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SignatureKind {
    Typed,
    Drawn,
}

/// The evidence of one signature (or approval).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureRecord {
    pub kind: SignatureKind,
    /// The name the signer typed.
    pub typed_name: String,
    /// SHA-256 of the drawn signature PNG (stored as a blob), when drawn.
    pub image_sha256: Option<String>,
    /// The consent statement exactly as shown.
    pub consent_text: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub auth_method: String,
    pub at: DateTime<Utc>,
    /// What the signer filled in: field index → TEXT value, or "true"/"false" for a CHECKBOX.
    #[serde(default)]
    pub field_values: std::collections::BTreeMap<u32, String>,
}

/// A sealed file of an envelope's evidence (a blob).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedFile {
    pub sha256: String,
    pub size: u64,
    /// The audit chain's head when the file was made.
    pub chain_head: String,
}

/// A document as an envelope carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeDocument {
    pub id: String,
    pub name: String,
    pub page_count: u32,
    pub sha256: String,
    /// SHA-256 of the document once stamped (before the certificate page and seal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_sha256: Option<String>,
}

/// A stored envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub id: String,
    /// Bumped by every committed change; a change commits only over the version it was
    /// decided from (see `Esign::commit`).
    #[serde(default)]
    pub version: u64,
    pub environment: Environment,
    pub subject: String,
    pub message: Option<String>,
    pub status: EnvelopeStatus,
    pub signature_level: SignatureLevel,
    pub category: Category,
    pub tags: Vec<String>,
    pub locale: Option<String>,
    pub redirect_url: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub initials_on_every_page: bool,
    pub workspace_id: Option<String>,
    /// Each signer proves a one-time code sent by SMS to their `phone` before the documents
    /// are shown (Certyneo's `requireSmsOtp`; needed for ADVANCED).
    #[serde(default)]
    pub require_sms_otp: bool,
    /// Each signer proves a one-time code sent by email before the documents are shown.
    #[serde(default)]
    pub require_email_otp: bool,
    pub reminders: Option<Reminders>,
    /// The template it was made from, if any (its documents and fields were copied).
    #[serde(default)]
    pub template_id: Option<String>,
    pub documents: Vec<EnvelopeDocument>,
    pub recipients: Vec<Recipient>,
    pub fields: Vec<Field>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub void_reason: Option<String>,
    #[serde(default)]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub declined_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub decline_reason: Option<String>,
    #[serde(default)]
    pub expired_at: Option<DateTime<Utc>>,
    /// Hash of the newest event of this envelope (the head of its hash chain).
    #[serde(default)]
    pub last_event_hash: Option<String>,
    /// Everyone has acted; the signed document and audit trail are being made. The envelope
    /// turns COMPLETED when they are on disk.
    #[serde(default)]
    pub sealing: bool,
    #[serde(default)]
    pub signed_document: Option<SealedFile>,
    #[serde(default)]
    pub audit_trail: Option<SealedFile>,
}

impl Envelope {
    /// The signing order whose recipients act now: the lowest among signers and approvers
    /// who are not done. `None` once every one of them is done.
    pub fn current_order(&self) -> Option<u32> {
        self.recipients
            .iter()
            .filter(|r| r.role.acts() && !r.is_done())
            .map(|r| r.signing_order)
            .min()
    }
}

/// What happened to an envelope. The dotted names of the public ones are the webhook events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventKind {
    #[serde(rename = "envelope.created")]
    EnvelopeCreated,
    #[serde(rename = "envelope.sent")]
    EnvelopeSent,
    #[serde(rename = "envelope.completed")]
    EnvelopeCompleted,
    #[serde(rename = "envelope.declined")]
    EnvelopeDeclined,
    #[serde(rename = "envelope.voided")]
    EnvelopeVoided,
    #[serde(rename = "envelope.expired")]
    EnvelopeExpired,
    #[serde(rename = "envelope.returned_to_sender")]
    EnvelopeReturnedToSender,
    #[serde(rename = "envelope.resubmitted")]
    EnvelopeResubmitted,
    #[serde(rename = "recipient.signed")]
    RecipientSigned,
    #[serde(rename = "recipient.viewed")]
    RecipientViewed,
    #[serde(rename = "recipient.approved")]
    RecipientApproved,
    /// Internal (audit trail only): an invitation was queued.
    #[serde(rename = "recipient.invited")]
    RecipientInvited,
    /// Internal (audit trail only): a reminder was queued.
    #[serde(rename = "recipient.reminded")]
    RecipientReminded,
    /// Internal (audit trail only): a one-time code was sent (channel, masked destination).
    #[serde(rename = "recipient.code_sent")]
    RecipientCodeSent,
    /// Internal (audit trail only): a one-time code was entered right: a factor verified.
    #[serde(rename = "recipient.authenticated")]
    RecipientAuthenticated,
    /// Internal (audit trail only): a wrong one-time code was entered.
    #[serde(rename = "recipient.code_rejected")]
    RecipientCodeRejected,
    /// Internal (audit trail only): too many wrong codes; the recipient may no longer sign.
    #[serde(rename = "recipient.locked")]
    RecipientLocked,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::EnvelopeCreated => "envelope.created",
            EventKind::EnvelopeSent => "envelope.sent",
            EventKind::EnvelopeCompleted => "envelope.completed",
            EventKind::EnvelopeDeclined => "envelope.declined",
            EventKind::EnvelopeVoided => "envelope.voided",
            EventKind::EnvelopeExpired => "envelope.expired",
            EventKind::EnvelopeReturnedToSender => "envelope.returned_to_sender",
            EventKind::EnvelopeResubmitted => "envelope.resubmitted",
            EventKind::RecipientSigned => "recipient.signed",
            EventKind::RecipientViewed => "recipient.viewed",
            EventKind::RecipientApproved => "recipient.approved",
            EventKind::RecipientInvited => "recipient.invited",
            EventKind::RecipientReminded => "recipient.reminded",
            EventKind::RecipientCodeSent => "recipient.code_sent",
            EventKind::RecipientAuthenticated => "recipient.authenticated",
            EventKind::RecipientCodeRejected => "recipient.code_rejected",
            EventKind::RecipientLocked => "recipient.locked",
        }
    }
}

/// One entry of an envelope's event log (the audit trail), hash-chained to the one before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    pub environment: Environment,
    pub envelope_id: String,
    pub kind: EventKind,
    pub occurred_at: DateTime<Utc>,
    /// Who: a recipient's email, `api` (the sender's key) or `system`.
    pub actor: String,
    pub recipient_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub auth_method: Option<String>,
    pub details: serde_json::Value,
    pub prev_hash: Option<String>,
    pub hash: String,
}

impl EventKind {
    /// The eleven events integrations can subscribe to (the rest are audit-trail only).
    pub const PUBLIC: [EventKind; 11] = [
        EventKind::EnvelopeCreated,
        EventKind::EnvelopeSent,
        EventKind::EnvelopeCompleted,
        EventKind::EnvelopeDeclined,
        EventKind::EnvelopeVoided,
        EventKind::EnvelopeExpired,
        EventKind::EnvelopeReturnedToSender,
        EventKind::EnvelopeResubmitted,
        EventKind::RecipientSigned,
        EventKind::RecipientViewed,
        EventKind::RecipientApproved,
    ];

    pub fn is_public(self) -> bool {
        Self::PUBLIC.contains(&self)
    }

    pub fn parse_public(text: &str) -> Option<EventKind> {
        Self::PUBLIC.into_iter().find(|k| k.as_str() == text)
    }

    /// About one recipient (rather than the whole envelope).
    pub fn is_recipient_event(self) -> bool {
        matches!(
            self,
            EventKind::RecipientSigned | EventKind::RecipientViewed | EventKind::RecipientApproved
        )
    }
}

/// A public event with the envelope as it was right after it: what outbound webhooks are
/// built from. Written to the event outbox in the same transaction as the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventNotice {
    pub event: Event,
    pub subject: String,
    pub status: EnvelopeStatus,
    pub recipient_count: usize,
    pub signed_count: usize,
    pub recipient: Option<Recipient>,
}

/// Which email a mail job sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    Invitation,
    Reminder,
    Completed,
    Declined,
    Voided,
    Expired,
    /// To the sender ([`SENDER_RECIPIENT_ID`]): everyone signed, but the documents could
    /// not be sealed and the envelope was voided.
    SealingFailed,
}

/// The `recipient_id` of a mail to the sender (the account) rather than to a recipient.
pub const SENDER_RECIPIENT_ID: &str = "sender";

/// A queued email (the notification outbox), written with the change that causes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailJob {
    pub id: String,
    pub environment: Environment,
    pub envelope_id: String,
    pub recipient_id: String,
    pub kind: MailKind,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

/// What a signing token opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenTarget {
    pub environment: Environment,
    pub envelope_id: String,
    pub recipient_id: String,
}
