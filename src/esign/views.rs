//! How envelopes look on the wire: the stored record plus what is derived for the caller —
//! each signer's and approver's `signUrl` and `accessToken`, the `signers` list of the
//! one-shot shape, and `documentIds`.

use super::model::{
    Category, Envelope, EnvelopeDocument, EnvelopeStatus, Environment, Field, Recipient,
    RecipientRole, RecipientStatus, Reminders, SignatureLevel,
};
use super::Esign;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecipientView {
    #[schema(example = "rcp_01JD5Q9M3V0F8W2K7T4R6Y1ZXC")]
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
    /// One-time codes the recipient proved (channel, masked destination, when, from where).
    pub authentications: Vec<super::model::Authentication>,
    /// Too many wrong one-time codes: this recipient can no longer sign.
    pub locked: bool,
    /// The recipient's signing page (signers and approvers). Treat it as a credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_url: Option<String>,
    /// The token in `signUrl`. Treat it as a credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeView {
    #[schema(example = "env_01HG3K8X9Y2N4P5Q6R7S8T9V0W")]
    pub id: String,
    pub subject: String,
    pub message: Option<String>,
    pub status: EnvelopeStatus,
    pub signature_level: SignatureLevel,
    /// Signers enter a code sent by SMS before seeing the documents.
    pub require_sms_otp: bool,
    /// Signers enter a code sent by email before seeing the documents.
    pub require_email_otp: bool,
    pub category: Category,
    pub tags: Vec<String>,
    pub locale: Option<String>,
    pub redirect_url: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub initials_on_every_page: bool,
    pub workspace_id: Option<String>,
    pub reminders: Option<Reminders>,
    /// The template the envelope was made from (`templateId` at creation), if any.
    pub template_id: Option<String>,
    pub document_ids: Vec<String>,
    pub documents: Vec<EnvelopeDocument>,
    pub recipients: Vec<RecipientView>,
    /// The recipients with role SIGNER (the one-shot shape reads `signers[0].signUrl`).
    pub signers: Vec<RecipientView>,
    pub fields: Vec<Field>,
    pub environment: Environment,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub void_reason: Option<String>,
}

impl Esign {
    fn recipient_view(&self, recipient: &Recipient) -> RecipientView {
        let (sign_url, access_token) = if recipient.role.acts() {
            (
                Some(self.sign_url(&recipient.id)),
                Some(self.access_token(&recipient.id)),
            )
        } else {
            (None, None)
        };
        RecipientView {
            id: recipient.id.clone(),
            email: recipient.email.clone(),
            name: recipient.name.clone(),
            role: recipient.role,
            signing_order: recipient.signing_order,
            status: recipient.status,
            phone: recipient.phone.clone(),
            authentications: recipient.authentications.clone(),
            locked: super::codes::locked(recipient),
            viewed_at: recipient.viewed_at,
            signed_at: recipient.signed_at,
            declined_at: recipient.declined_at,
            decline_reason: recipient.decline_reason.clone(),
            sign_url,
            access_token,
        }
    }

    /// The caller's view of an envelope.
    pub fn view(&self, envelope: &Envelope) -> EnvelopeView {
        let recipients: Vec<RecipientView> = envelope
            .recipients
            .iter()
            .map(|r| self.recipient_view(r))
            .collect();
        let signers = recipients
            .iter()
            .filter(|r| r.role == RecipientRole::Signer)
            .cloned()
            .collect();
        EnvelopeView {
            id: envelope.id.clone(),
            subject: envelope.subject.clone(),
            message: envelope.message.clone(),
            status: envelope.status,
            signature_level: envelope.signature_level,
            require_sms_otp: envelope.require_sms_otp,
            require_email_otp: envelope.require_email_otp,
            category: envelope.category,
            tags: envelope.tags.clone(),
            locale: envelope.locale.clone(),
            redirect_url: envelope.redirect_url.clone(),
            expires_at: envelope.expires_at,
            initials_on_every_page: envelope.initials_on_every_page,
            workspace_id: envelope.workspace_id.clone(),
            reminders: envelope.reminders,
            template_id: envelope.template_id.clone(),
            document_ids: envelope.documents.iter().map(|d| d.id.clone()).collect(),
            documents: envelope.documents.clone(),
            recipients,
            signers,
            fields: envelope.fields.clone(),
            environment: envelope.environment,
            created_at: envelope.created_at,
            updated_at: envelope.updated_at,
            sent_at: envelope.sent_at,
            completed_at: envelope.completed_at,
            voided_at: envelope.voided_at,
            void_reason: envelope.void_reason.clone(),
        }
    }
}
