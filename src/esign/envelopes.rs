//! Envelopes: creation in both request shapes (three-step with `documentIds` or `templateId`,
//! one-shot with inline `documents` and `signers`), reading, listing, editing a draft, deleting a
//! draft or voiding one in flight; the field placement rules envelopes and templates share.

use super::documents::PreparedDocument;
use super::lifecycle::{send_transition, token_hash, Change, EventDraft};
use super::model::EventKind;
use super::model::{
    AnchorPlacement, Category, Document, Envelope, EnvelopeDocument, EnvelopeStatus, Environment,
    Field, FieldType, Recipient, RecipientRole, Reminders, SignatureLevel,
};
use super::validate::{
    check_redirect_url, check_text, infer_category, normalize_email, normalize_locale,
    normalize_tags, required_text, FieldIssue,
};
use super::views::EnvelopeView;
use super::{env_key, Esign, EsignError, DEFAULT_WORKSPACE_ID};
use crate::ids::IdKind;
use crate::store::listing;
use crate::store::{encode, get_json, Page, StoreError};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use std::collections::BTreeSet;
use utoipa::ToSchema;

pub(super) const MAX_RECIPIENTS: usize = 50;
pub(super) const MAX_DOCUMENTS: usize = 20;
pub(super) const MAX_FIELDS: usize = 500;

/// `POST /envelopes`: the three-step shape (`documentIds` + `recipients`) or the one-shot shape
/// (`documents` with `base64Pdf` + `signers`). Unknown fields are refused so a typo never
/// silently drops an instruction.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEnvelopeRequest {
    /// Envelope subject / title. With `templateId` it may be left out: the template's subject
    /// is used.
    #[serde(default)]
    pub subject: String,
    /// Message shown to recipients (with `templateId`: the template's when left out).
    pub message: Option<String>,
    /// A saved template (`GET /templates`): the envelope gets its documents and fields, and the
    /// recipients take its roles (see `recipients[].templateRole`). Not together with
    /// `documentIds` or `documents`.
    pub template_id: Option<String>,
    /// Ids from `POST /documents`, in order.
    pub document_ids: Option<Vec<String>>,
    /// One-shot shape: documents inline as base64.
    pub documents: Option<Vec<InlineDocument>>,
    /// Who receives the envelope.
    pub recipients: Option<Vec<RecipientInput>>,
    /// One-shot shape: signers (role SIGNER).
    pub signers: Option<Vec<SignerInput>>,
    /// Where each signer signs.
    pub fields: Option<Vec<FieldInput>>,
    pub signature_level: Option<SignatureLevel>,
    /// RFC 3339; must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
    pub category: Option<Category>,
    /// Up to 10, each up to 40 characters; lower-cased and de-duplicated.
    pub tags: Option<Vec<String>>,
    /// BCP-47 language of the signer's pages and emails (`en`, `fr`, `fr-BE`, …); with
    /// `templateId`, the template's when left out.
    pub locale: Option<String>,
    /// https URL the signer is sent to after signing.
    pub redirect_url: Option<String>,
    pub initials_on_every_page: Option<bool>,
    pub workspace_id: Option<String>,
    /// Each signer must enter a one-time code sent by SMS to their `phone` (E.164, then
    /// required) before the documents are shown. Needed for `ADVANCED`.
    pub require_sms_otp: Option<bool>,
    /// (signbridge extension) Each signer must enter a one-time code sent to their email
    /// before the documents are shown. Always on when the deployment requires it.
    pub require_email_otp: Option<bool>,
    pub reminders: Option<Reminders>,
    /// One-shot shape only: `true` keeps the envelope a DRAFT instead of sending it.
    pub draft: Option<bool>,
}

/// A document given inline in the one-shot shape.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InlineDocument {
    pub name: Option<String>,
    /// The PDF (or PNG/JPEG) as base64; a `data:` URL prefix is accepted.
    pub base64_pdf: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecipientInput {
    pub email: String,
    pub name: Option<String>,
    /// Default SIGNER.
    pub role: Option<RecipientRole>,
    /// Integer ≥ 1, default 1. The lowest order not yet done acts; equal orders act in parallel.
    pub signing_order: Option<u32>,
    /// E.164 phone number (kept for the record).
    pub phone: Option<String>,
    /// Extension, with `templateId` only: the name of the template role this recipient takes
    /// (`Employee`). Recipients without it take the template's remaining roles in their
    /// signing order. The role decides `role` and `signingOrder`.
    pub template_role: Option<String>,
    /// Read-only fields some clients echo back; ignored.
    #[serde(default)]
    #[schema(ignore)]
    pub id: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub status: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub signed_at: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub access_token: Option<IgnoredAny>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignerInput {
    pub email: String,
    pub name: Option<String>,
    pub signing_order: Option<u32>,
    pub phone: Option<String>,
}

/// A field as requested; defaults follow the published contract.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldInput {
    /// Must match one of the recipients.
    pub recipient_email: String,
    /// 0-based, in the order of the documents; default 0.
    pub document_index: Option<u32>,
    /// 1-based; default 1.
    pub page_number: Option<u32>,
    /// Default SIGNATURE.
    pub field_type: Option<FieldType>,
    /// Place the field next to this text instead of at x/y (case-insensitive).
    pub anchor_text: Option<String>,
    pub anchor_placement: Option<AnchorPlacement>,
    pub anchor_index: Option<u32>,
    /// Points from the left edge; default 72.
    pub x: Option<f64>,
    /// Points from the TOP edge; default 700.
    pub y: Option<f64>,
    /// Default 150.
    pub width: Option<f64>,
    /// Default 40.
    pub height: Option<f64>,
}

/// `PATCH /envelopes/{id}`: any field given replaces the draft's; `null` clears a clearable one.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchEnvelopeRequest {
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub message: Option<Option<String>>,
    pub document_ids: Option<Vec<String>>,
    pub recipients: Option<Vec<RecipientInput>>,
    pub fields: Option<Vec<FieldInput>>,
    pub signature_level: Option<SignatureLevel>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub category: Option<Category>,
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub locale: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub redirect_url: Option<Option<String>>,
    pub initials_on_every_page: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Reminders>)]
    pub reminders: Option<Option<Reminders>>,
}

/// Tells "absent" (outer `None`) from "null" (`Some(None)`).
pub(super) fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `GET /envelopes` filters.
#[derive(Debug, Clone, Default)]
pub struct EnvelopeListQuery {
    pub page: u64,
    pub limit: u64,
    pub status: Option<EnvelopeStatus>,
    /// Only envelopes older than this one (a cursor for deep paging); `page` then counts from it.
    pub after: Option<String>,
}

/// Everything an envelope is made from, whichever request shape it came in.
struct EnvelopeSpec {
    template_id: Option<String>,
    subject: String,
    message: Option<String>,
    recipients_field: &'static str,
    recipients: Vec<RecipientInput>,
    fields: Vec<FieldInput>,
    signature_level: SignatureLevel,
    expires_at: Option<DateTime<Utc>>,
    category: Option<Category>,
    tags: Vec<String>,
    locale: Option<String>,
    redirect_url: Option<String>,
    initials_on_every_page: bool,
    workspace_id: Option<String>,
    require_sms_otp: bool,
    require_email_otp: bool,
    reminders: Option<Reminders>,
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = match text.trim_start().strip_prefix("data:") {
        Some(rest) => rest.split_once(',')?.1,
        None => text,
    };
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(compact.as_bytes()).ok()
}

impl Esign {
    /// `POST /envelopes`. Nothing is stored unless everything is valid.
    pub fn create_envelope(
        &self,
        environment: Environment,
        request: CreateEnvelopeRequest,
        creation_key: Option<&str>,
    ) -> Result<EnvelopeView, EsignError> {
        let creation_location =
            creation_key.map(|k| env_key(environment, &format!("envelopes/{k}")));
        if let Some(existing) = self.created_before(creation_location.as_deref(), |id| {
            self.load_envelope(environment, id)
        })? {
            return Ok(self.view(&existing));
        }
        if request.template_id.is_some() && request.document_ids.is_some() {
            return Err(EsignError::BadRequest {
                code: "template_and_documents",
                message: "use templateId or documentIds, not both".into(),
            });
        }
        if request.template_id.is_some() && request.documents.is_some() {
            return Err(EsignError::BadRequest {
                code: "template_and_documents",
                message: "use templateId or documents, not both".into(),
            });
        }
        let one_shot = request.documents.is_some();
        let send_now = one_shot && !request.draft.unwrap_or(false);
        let (recipients_field, mut recipients) = match (request.recipients, request.signers) {
            (Some(_), Some(_)) => {
                return Err(EsignError::invalid(
                    "signers",
                    "give recipients or signers, not both",
                ));
            }
            (Some(recipients), None) => ("recipients", recipients),
            (None, Some(signers)) => (
                "signers",
                signers
                    .into_iter()
                    .map(|s| RecipientInput {
                        email: s.email,
                        name: s.name,
                        role: Some(RecipientRole::Signer),
                        signing_order: s.signing_order,
                        phone: s.phone,
                        template_role: None,
                        id: None,
                        status: None,
                        signed_at: None,
                        access_token: None,
                    })
                    .collect(),
            ),
            (None, None) => return Err(EsignError::invalid("recipients", "is required")),
        };

        let mut new_documents: Vec<PreparedDocument> = Vec::new();
        let mut documents: Vec<Document> = Vec::new();
        if let Some(inline) = &request.documents {
            if inline.is_empty() || inline.len() > MAX_DOCUMENTS {
                return Err(EsignError::invalid(
                    "documents",
                    format!("must hold 1 to {MAX_DOCUMENTS} documents"),
                ));
            }
            for (index, document) in inline.iter().enumerate() {
                let field = format!("documents[{index}].base64Pdf");
                let bytes = decode_base64(&document.base64_pdf)
                    .ok_or_else(|| EsignError::invalid(&field, "is not valid base64"))?;
                let prepared = self.prepare_document(
                    environment,
                    &format!("documents[{index}].name"),
                    document.name.as_deref(),
                    None,
                    &bytes,
                )?;
                documents.push(prepared.record.clone());
                new_documents.push(prepared);
            }
        }
        documents.extend(
            self.resolve_documents(environment, request.document_ids.as_deref().unwrap_or(&[]))?,
        );

        let mut subject = request.subject;
        let mut message = request.message;
        let mut locale = request.locale;
        let mut fields = request.fields.unwrap_or_default();
        // Documents the envelope brings from its template: new records of the template's blobs.
        let mut copied_documents: Vec<Document> = Vec::new();
        if let Some(template_id) = &request.template_id {
            if !fields.is_empty() {
                return Err(EsignError::invalid(
                    "fields",
                    "a template brings its own fields; leave `fields` out with `templateId`",
                ));
            }
            let made = self.envelope_parts_from_template(
                environment,
                template_id,
                recipients_field,
                recipients,
            )?;
            if subject.trim().is_empty() {
                subject = made.subject.unwrap_or_default();
            }
            message = message.filter(|m| !m.trim().is_empty()).or(made.message);
            locale = locale.filter(|l| !l.trim().is_empty()).or(made.locale);
            recipients = made.recipients;
            fields = made.fields;
            copied_documents = made.documents;
            documents.extend(copied_documents.iter().cloned());
        }

        let spec = EnvelopeSpec {
            template_id: request.template_id,
            subject,
            message,
            recipients_field,
            recipients,
            fields,
            signature_level: request.signature_level.unwrap_or_default(),
            expires_at: request.expires_at,
            category: request.category,
            tags: request.tags.unwrap_or_default(),
            locale,
            redirect_url: request.redirect_url,
            initials_on_every_page: request.initials_on_every_page.unwrap_or(false),
            workspace_id: request.workspace_id,
            require_sms_otp: request.require_sms_otp.unwrap_or(false),
            require_email_otp: request.require_email_otp.unwrap_or(false),
            reminders: request.reminders,
        };
        let envelope = self.build_envelope(environment, spec, &documents, None)?;
        let mut change = Change::new(envelope, None);
        change.events.push(EventDraft::by_api(
            EventKind::EnvelopeCreated,
            match &change.envelope.template_id {
                Some(template_id) => json!({ "shape": "template", "templateId": template_id }),
                None => json!({ "shape": if one_shot { "one_shot" } else { "three_step" } }),
            },
        ));
        if send_now {
            self.check_sendable(&change.envelope, &new_documents)?;
            send_transition(&mut change, self.clock.now());
        }

        for prepared in &new_documents {
            self.store.blobs.put(&prepared.pdf)?;
        }
        let new_records: Vec<(Vec<u8>, Vec<u8>, String)> = new_documents
            .iter()
            .map(|p| &p.record)
            .chain(&copied_documents)
            .map(|record| {
                Ok((
                    env_key(environment, &record.id),
                    encode(record)?,
                    record.sha256.clone(),
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        change.new_documents = new_records;
        change.creation_location = creation_location;
        let envelope = self.commit(change)?;
        Ok(self.view(&envelope))
    }

    pub(super) fn resolve_documents(
        &self,
        environment: Environment,
        ids: &[String],
    ) -> Result<Vec<Document>, EsignError> {
        if ids.len() > MAX_DOCUMENTS {
            return Err(EsignError::invalid(
                "documentIds",
                format!("at most {MAX_DOCUMENTS} documents"),
            ));
        }
        let mut issues = Vec::new();
        let mut documents = Vec::new();
        let mut seen = BTreeSet::new();
        for (index, id) in ids.iter().enumerate() {
            let field = format!("documentIds[{index}]");
            if !IdKind::Document.matches(id) {
                issues.push(FieldIssue::new(field, "is not a document id (doc_…)"));
            } else if !seen.insert(id.as_str()) {
                issues.push(FieldIssue::new(field, "is listed twice"));
            } else {
                match self.get_document(environment, id) {
                    Ok(document) => documents.push(document),
                    Err(EsignError::NotFound { .. }) => {
                        issues.push(FieldIssue::new(field, format!("no document {id} exists")))
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        if issues.is_empty() {
            Ok(documents)
        } else {
            Err(EsignError::Invalid(issues))
        }
    }

    /// Validates a spec against its documents and builds the envelope. Recipients of
    /// `previous` whose email stays keep their id (and so their signing link).
    fn build_envelope(
        &self,
        environment: Environment,
        spec: EnvelopeSpec,
        documents: &[Document],
        previous: Option<&Envelope>,
    ) -> Result<Envelope, EsignError> {
        let mut issues = Vec::new();
        let now = self.clock.now();
        let subject = required_text("subject", &spec.subject, 255, &mut issues);
        let message = spec
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(|m| {
                if let Err(issue) = check_text("message", m, 5000, true) {
                    issues.push(issue);
                }
                m.to_string()
            });
        match spec.signature_level {
            SignatureLevel::Simple => {}
            SignatureLevel::Advanced if !spec.require_sms_otp => {
                return Err(EsignError::BadRequest {
                    code: "ADVANCED_REQUIRES_STRONG_AUTH",
                    message: "ADVANCED signatures (eIDAS art. 26) need a second factor: set requireSmsOtp: true and give each signer a phone in E.164 form".into(),
                })
            }
            SignatureLevel::Advanced => {}
            SignatureLevel::Qualified => {
                return Err(EsignError::BadRequest {
                    code: "qualified_not_available",
                    message: "QUALIFIED signatures need identification by a qualified trust service provider, which this deployment does not have; use SIMPLE or ADVANCED".into(),
                })
            }
        }
        if spec.require_sms_otp
            && environment == Environment::Live
            && !self.sms_available_for_live()
        {
            return Err(EsignError::BadRequest {
                code: "sms_not_configured",
                message: "requireSmsOtp needs an SMS provider (`sms:` in signbridge.yaml); test envelopes write their SMS to the outbox instead".into(),
            });
        }
        if let Some(expires_at) = spec.expires_at {
            if expires_at <= now {
                issues.push(FieldIssue::new("expiresAt", "must be in the future"));
            }
        }
        let locale = spec
            .locale
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .and_then(|l| {
                normalize_locale("locale", l)
                    .map_err(|issue| issues.push(issue))
                    .ok()
            });
        let redirect_url = spec
            .redirect_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .and_then(|u| {
                check_redirect_url("redirectUrl", u)
                    .map_err(|issue| issues.push(issue))
                    .ok()
            });
        let tags = normalize_tags("tags", &spec.tags, &mut issues);
        if let Some(workspace) = &spec.workspace_id {
            if workspace != DEFAULT_WORKSPACE_ID {
                return Err(EsignError::Forbidden {
                    code: "workspace_forbidden",
                    message: format!(
                        "workspace {workspace} is not one of this account's workspaces"
                    ),
                });
            }
        }
        if let Some(reminders) = &spec.reminders {
            if !(1..=60).contains(&reminders.after_days) {
                issues.push(FieldIssue::new(
                    "reminders.afterDays",
                    "must be between 1 and 60",
                ));
            }
            if reminders.every_days.is_some_and(|d| !(1..=60).contains(&d)) {
                issues.push(FieldIssue::new(
                    "reminders.everyDays",
                    "must be between 1 and 60",
                ));
            }
        }

        let field_name = spec.recipients_field;
        if spec.recipients.is_empty() || spec.recipients.len() > MAX_RECIPIENTS {
            issues.push(FieldIssue::new(
                field_name,
                format!("must hold 1 to {MAX_RECIPIENTS} recipients"),
            ));
        }
        let mut recipients: Vec<Recipient> = Vec::new();
        for (index, input) in spec.recipients.iter().enumerate() {
            let path = format!("{field_name}[{index}]");
            if input.template_role.is_some() {
                issues.push(FieldIssue::new(
                    format!("{path}.templateRole"),
                    "names a role of the envelope's template; give it only together with `templateId`",
                ));
            }
            let email = match normalize_email(&format!("{path}.email"), &input.email) {
                Ok(email) => email,
                Err(issue) => {
                    issues.push(issue);
                    continue;
                }
            };
            if recipients
                .iter()
                .any(|r| r.email.eq_ignore_ascii_case(&email))
            {
                issues.push(FieldIssue::new(
                    format!("{path}.email"),
                    "appears twice; each recipient needs their own address",
                ));
                continue;
            }
            let name = match input
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                Some(name) => {
                    if let Err(issue) = check_text(&format!("{path}.name"), name, 200, false) {
                        issues.push(issue);
                    }
                    name.to_string()
                }
                None => email.clone(),
            };
            let signing_order = input.signing_order.unwrap_or(1);
            if !(1..=100).contains(&signing_order) {
                issues.push(FieldIssue::new(
                    format!("{path}.signingOrder"),
                    "must be an integer from 1 to 100",
                ));
            }
            let phone = input
                .phone
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    if !crate::sms::is_e164(p) {
                        issues.push(FieldIssue::new(
                            format!("{path}.phone"),
                            "must be in E.164 form, such as +33612345678",
                        ));
                    }
                    p.to_string()
                });
            if spec.require_sms_otp && input.role.unwrap_or_default().acts() && phone.is_none() {
                issues.push(FieldIssue::new(
                    format!("{path}.phone"),
                    "is required when requireSmsOtp is true: the one-time code is sent to it (E.164, such as +33612345678)",
                ));
            }
            let id = previous
                .and_then(|prev| {
                    prev.recipients
                        .iter()
                        .find(|r| r.email.eq_ignore_ascii_case(&email))
                })
                .map(|r| r.id.clone())
                .unwrap_or_else(|| self.ids.next(IdKind::Recipient));
            recipients.push(Recipient {
                phone,
                ..Recipient::pending(
                    id,
                    email,
                    name,
                    input.role.unwrap_or_default(),
                    signing_order,
                )
            });
        }

        if spec.fields.len() > MAX_FIELDS {
            issues.push(FieldIssue::new(
                "fields",
                format!("at most {MAX_FIELDS} fields"),
            ));
        }
        let page_counts: Vec<u32> = documents.iter().map(|d| d.page_count).collect();
        let mut fields = Vec::new();
        for (index, input) in spec.fields.iter().enumerate() {
            let path = format!("fields[{index}]");
            if let Some(field) = build_field(&path, input, &recipients, &page_counts, &mut issues) {
                fields.push(field);
            }
        }
        if !issues.is_empty() {
            return Err(EsignError::Invalid(issues));
        }
        let category = spec.category.unwrap_or_else(|| infer_category(&subject));
        Ok(Envelope {
            id: previous
                .map(|p| p.id.clone())
                .unwrap_or_else(|| self.ids.next(IdKind::Envelope)),
            // Set by the commit, from the version this change was decided on.
            version: 0,
            environment,
            subject,
            message,
            status: EnvelopeStatus::Draft,
            signature_level: spec.signature_level,
            category,
            tags,
            locale,
            redirect_url,
            expires_at: spec.expires_at,
            initials_on_every_page: spec.initials_on_every_page,
            workspace_id: spec.workspace_id,
            require_sms_otp: spec.require_sms_otp,
            require_email_otp: spec.require_email_otp || self.account.require_email_otp,
            reminders: spec.reminders,
            template_id: spec.template_id,
            documents: documents
                .iter()
                .map(|d| EnvelopeDocument {
                    id: d.id.clone(),
                    name: d.name.clone(),
                    page_count: d.page_count,
                    sha256: d.sha256.clone(),
                    signed_sha256: None,
                })
                .collect(),
            recipients,
            fields,
            created_at: previous.map(|p| p.created_at).unwrap_or(now),
            updated_at: now,
            sent_at: None,
            completed_at: None,
            voided_at: None,
            void_reason: None,
            delivered_at: None,
            declined_at: None,
            decline_reason: None,
            expired_at: None,
            last_event_hash: previous.and_then(|p| p.last_event_hash.clone()),
            sealing: false,
            signed_document: None,
            audit_trail: None,
        })
    }

    /// A DRAFT envelope, or 409 `envelope_not_draft` saying why not (`what_not`).
    pub(super) fn load_draft(
        &self,
        environment: Environment,
        id: &str,
        what_not: &str,
    ) -> Result<Envelope, EsignError> {
        let current = self.load_envelope(environment, id)?;
        if current.status != EnvelopeStatus::Draft {
            return Err(EsignError::Conflict {
                code: "envelope_not_draft",
                message: format!(
                    "envelope {id} is {} and {what_not}",
                    current.status.as_str()
                ),
            });
        }
        Ok(current)
    }

    pub(super) fn load_envelope(
        &self,
        environment: Environment,
        id: &str,
    ) -> Result<Envelope, EsignError> {
        get_json(&self.store.envelopes, &env_key(environment, id))?.ok_or_else(|| {
            EsignError::NotFound {
                kind: "envelope",
                id: id.to_string(),
            }
        })
    }

    /// The caller's view of one envelope (what [`Esign::envelope_json`] renders).
    pub fn get_envelope(
        &self,
        environment: Environment,
        id: &str,
    ) -> Result<EnvelopeView, EsignError> {
        Ok(self.view(&self.load_envelope(environment, id)?))
    }

    /// `GET /envelopes/{id}`: the envelope's view as JSON. The rendering is reused while the
    /// stored envelope is byte for byte the one it was made from (see [`crate::store::Memo`]).
    pub fn envelope_json(
        &self,
        environment: Environment,
        id: &str,
    ) -> Result<bytes::Bytes, EsignError> {
        let location = env_key(environment, id);
        let stored = self
            .store
            .envelopes
            .get(&location)?
            .ok_or_else(|| EsignError::NotFound {
                kind: "envelope",
                id: id.to_string(),
            })?;
        self.rendered_envelopes
            .get_or_make(&location, &stored, |bytes| {
                let envelope: Envelope = crate::store::decode(bytes)?;
                Ok::<_, StoreError>(bytes::Bytes::from(encode(&self.view(&envelope))?))
            })
            .map_err(EsignError::from)
    }

    /// Newest first, optionally only one status.
    pub fn list_envelopes(
        &self,
        environment: Environment,
        query: EnvelopeListQuery,
    ) -> Result<Page<EnvelopeView>, EsignError> {
        // The listing index: counts kept with every write, envelopes by status; a page reads
        // only its own records (O(limit) with the `after` cursor).
        let env_name = environment.as_str();
        let skip = query.page.saturating_sub(1).saturating_mul(query.limit);
        let status_list;
        let source = match query.status {
            None => listing::ListSource {
                listing: &self.store.listing,
                environment: env_name,
                list: "envelopes",
                entries: &self.store.envelopes,
                entries_prefix: environment.prefix(""),
                kind: IdKind::Envelope.prefix(),
            },
            Some(status) => {
                status_list = listing::status_list(status.as_str());
                listing::ListSource {
                    listing: &self.store.listing,
                    environment: env_name,
                    list: &status_list,
                    entries: &self.store.listing,
                    entries_prefix: listing::status_prefix(env_name, status.as_str()),
                    kind: IdKind::Envelope.prefix(),
                }
            }
        };
        let total = listing::count(&self.store.listing, env_name, source.list)?;
        let entries = listing::page(&source, query.after.as_deref(), skip, query.limit)?;
        let mut items = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            match query.status {
                // The records themselves.
                None => items.push(crate::store::decode::<Envelope>(&value)?),
                // Status index entries: the record is read by id.
                Some(_) => {
                    let id = String::from_utf8_lossy(&key[source.entries_prefix.len()..]);
                    if let Some(envelope) =
                        get_json::<Envelope>(&self.store.envelopes, &env_key(environment, &id))?
                    {
                        items.push(envelope);
                    }
                }
            }
        }
        Ok(Page {
            items: items.iter().map(|e| self.view(e)).collect(),
            total,
        })
    }

    /// `PATCH /envelopes/{id}`: only a DRAFT can change.
    /// `PATCH /envelopes/{id}` on a draft.
    pub fn update_envelope(
        &self,
        environment: Environment,
        id: &str,
        patch: PatchEnvelopeRequest,
    ) -> Result<EnvelopeView, EsignError> {
        self.transition(|| self.update_envelope_once(environment, id, patch.clone()))
    }

    fn update_envelope_once(
        &self,
        environment: Environment,
        id: &str,
        patch: PatchEnvelopeRequest,
    ) -> Result<EnvelopeView, EsignError> {
        let current = self.load_draft(environment, id, "can no longer be changed")?;
        let documents = match &patch.document_ids {
            Some(ids) => self.resolve_documents(environment, ids)?,
            None => {
                let ids: Vec<String> = current.documents.iter().map(|d| d.id.clone()).collect();
                self.resolve_documents(environment, &ids).map_err(|_| {
                    EsignError::invalid(
                        "documentIds",
                        "a document of this draft was deleted; give documentIds again",
                    )
                })?
            }
        };
        let recipients = patch.recipients.unwrap_or_else(|| {
            current
                .recipients
                .iter()
                .map(|r| RecipientInput {
                    email: r.email.clone(),
                    name: Some(r.name.clone()),
                    role: Some(r.role),
                    signing_order: Some(r.signing_order),
                    phone: r.phone.clone(),
                    template_role: None,
                    id: None,
                    status: None,
                    signed_at: None,
                    access_token: None,
                })
                .collect()
        });
        let fields = patch.fields.unwrap_or_else(|| {
            current
                .fields
                .iter()
                .map(|f| FieldInput {
                    recipient_email: f.recipient_email.clone(),
                    document_index: Some(f.document_index),
                    page_number: Some(f.page_number),
                    field_type: Some(f.field_type),
                    anchor_text: f.anchor_text.clone(),
                    anchor_placement: Some(f.anchor_placement),
                    anchor_index: Some(f.anchor_index),
                    x: Some(f.x),
                    y: Some(f.y),
                    width: Some(f.width),
                    height: Some(f.height),
                })
                .collect()
        });
        let spec = EnvelopeSpec {
            template_id: current.template_id.clone(),
            subject: patch.subject.unwrap_or_else(|| current.subject.clone()),
            message: patch.message.unwrap_or_else(|| current.message.clone()),
            recipients_field: "recipients",
            recipients,
            fields,
            signature_level: patch.signature_level.unwrap_or(current.signature_level),
            expires_at: patch.expires_at.unwrap_or(current.expires_at),
            category: Some(patch.category.unwrap_or(current.category)),
            tags: patch.tags.unwrap_or_else(|| current.tags.clone()),
            locale: patch.locale.unwrap_or_else(|| current.locale.clone()),
            redirect_url: patch
                .redirect_url
                .unwrap_or_else(|| current.redirect_url.clone()),
            initials_on_every_page: patch
                .initials_on_every_page
                .unwrap_or(current.initials_on_every_page),
            workspace_id: current.workspace_id.clone(),
            require_sms_otp: current.require_sms_otp,
            require_email_otp: current.require_email_otp,
            reminders: patch.reminders.unwrap_or(current.reminders),
        };
        let updated = self.build_envelope(environment, spec, &documents, Some(&current))?;
        let updated = self.commit(Change::new(updated, Some(&current)))?;
        Ok(self.view(&updated))
    }

    /// `DELETE /envelopes/{id}`: a DRAFT is deleted (`None`); one in flight is voided with the
    /// reason (`Some(view)`); a finished one cannot be touched.
    /// `DELETE /envelopes/{id}`: a draft is deleted, an envelope in flight voided.
    pub fn delete_or_void_envelope(
        &self,
        environment: Environment,
        id: &str,
        reason: Option<&str>,
    ) -> Result<Option<EnvelopeView>, EsignError> {
        self.transition(|| self.delete_or_void_envelope_once(environment, id, reason))
    }

    fn delete_or_void_envelope_once(
        &self,
        environment: Environment,
        id: &str,
        reason: Option<&str>,
    ) -> Result<Option<EnvelopeView>, EsignError> {
        let current = self.load_envelope(environment, id)?;
        if current.status == EnvelopeStatus::Draft {
            let location = env_key(environment, id);
            let usage: Vec<Vec<u8>> = current
                .documents
                .iter()
                .map(|d| env_key(environment, &format!("{}/{}", d.id, id)))
                .collect();
            let tokens: Vec<[u8; 32]> = current
                .recipients
                .iter()
                .map(|r| token_hash(&self.access_token(&r.id)))
                .collect();
            let event_prefix = env_key(environment, &format!("{id}/"));
            let events: Vec<crate::store::Bytes> = self
                .store
                .events
                .scan_prefix(&event_prefix)
                .keys()
                .collect::<Result<_, _>>()?;
            self.store
                .transaction(
                    (
                        &self.store.envelopes,
                        &self.store.document_usage,
                        &self.store.sign_tokens,
                        &self.store.events,
                        &self.store.listing,
                    ),
                    |(envelopes, usage_tree, token_tree, event_tree, listing_tree)| {
                        super::lifecycle::expect_version(
                            envelopes,
                            &location,
                            Some(current.version),
                        )?;
                        envelopes.remove(location.as_slice())?;
                        let env_name = environment.as_str();
                        let status = current.status.as_str();
                        listing_tree.remove(listing::status_key(env_name, status, id))?;
                        let list = listing::status_list(status);
                        listing::count_in(listing_tree, env_name, &list, id, -1)?;
                        for key in &usage {
                            usage_tree.remove(key.as_slice())?;
                        }
                        for key in &tokens {
                            token_tree.remove(&key[..])?;
                        }
                        for key in &events {
                            event_tree.remove(key)?;
                        }
                        Ok::<_, crate::store::ConflictableTransactionError<StoreError>>(())
                    },
                )
                .map_err(super::lifecycle::changed_underneath)?;
            return Ok(None);
        }
        if current.status.is_final() {
            return Err(EsignError::Conflict {
                code: "envelope_finished",
                message: format!(
                    "envelope {id} is {} and can no longer be deleted or voided",
                    current.status.as_str()
                ),
            });
        }
        let voided = self.void(&current, reason)?;
        Ok(Some(self.view(&voided)))
    }
}

/// A field's place and kind as requested: what envelope and template fields share.
#[derive(Debug, Clone, Copy)]
pub(super) struct PlacementInput<'a> {
    pub document_index: Option<u32>,
    pub page_number: Option<u32>,
    pub field_type: Option<FieldType>,
    pub anchor_text: Option<&'a str>,
    pub anchor_placement: Option<AnchorPlacement>,
    pub anchor_index: Option<u32>,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub width: Option<f64>,
    pub height: Option<f64>,
}

/// A checked placement, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Placement {
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

impl FieldInput {
    fn placement(&self) -> PlacementInput<'_> {
        PlacementInput {
            document_index: self.document_index,
            page_number: self.page_number,
            field_type: self.field_type,
            anchor_text: self.anchor_text.as_deref(),
            anchor_placement: self.anchor_placement,
            anchor_index: self.anchor_index,
            x: self.x,
            y: self.y,
            width: self.width,
            height: self.height,
        }
    }

    /// The request that places `placement` for `recipient_email`.
    pub(super) fn placed(recipient_email: String, placement: &Placement) -> Self {
        Self {
            recipient_email,
            document_index: Some(placement.document_index),
            page_number: Some(placement.page_number),
            field_type: Some(placement.field_type),
            anchor_text: placement.anchor_text.clone(),
            anchor_placement: Some(placement.anchor_placement),
            anchor_index: Some(placement.anchor_index),
            x: Some(placement.x),
            y: Some(placement.y),
            width: Some(placement.width),
            height: Some(placement.height),
        }
    }
}

impl Field {
    /// Where and what this field is, without its recipient.
    pub(super) fn placement(&self) -> Placement {
        Placement {
            document_index: self.document_index,
            page_number: self.page_number,
            field_type: self.field_type,
            anchor_text: self.anchor_text.clone(),
            anchor_placement: self.anchor_placement,
            anchor_index: self.anchor_index,
            x: self.x,
            y: self.y,
            width: self.width,
            height: self.height,
        }
    }
}

/// Checks a placement against the documents (`page_counts`, in order): a supported type, an
/// existing document and page, a short anchor text, coordinates and sizes in range. Problems go
/// to `issues` under `path`.
pub(super) fn check_placement(
    path: &str,
    input: PlacementInput<'_>,
    page_counts: &[u32],
    issues: &mut Vec<FieldIssue>,
) -> Placement {
    let field_type = input.field_type.unwrap_or_default();
    if !field_type.is_supported() {
        issues.push(FieldIssue::new(
            format!("{path}.fieldType"),
            "is not supported here; use SIGNATURE, INITIALS, DATE_SIGNED, TEXT or CHECKBOX",
        ));
    }
    let document_index = input.document_index.unwrap_or(0);
    let page_number = input.page_number.unwrap_or(1);
    match page_counts.get(document_index as usize) {
        None if page_counts.is_empty() => issues.push(FieldIssue::new(
            format!("{path}.documentIndex"),
            "there are no documents for a field to be on",
        )),
        None => issues.push(FieldIssue::new(
            format!("{path}.documentIndex"),
            format!(
                "there are only {} documents (0-based index)",
                page_counts.len()
            ),
        )),
        Some(&pages) if page_number == 0 || page_number > pages => issues.push(FieldIssue::new(
            format!("{path}.pageNumber"),
            format!("document {document_index} has pages 1 to {pages}"),
        )),
        Some(_) => {}
    }
    let anchor_text = input
        .anchor_text
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            if let Err(issue) = check_text(&format!("{path}.anchorText"), t, 200, false) {
                issues.push(issue);
            }
            t.to_string()
        });
    let mut number = |name: &str, value: Option<f64>, default: f64, min: f64, max: f64| -> f64 {
        let value = value.unwrap_or(default);
        if !value.is_finite() || value < min || value > max {
            issues.push(FieldIssue::new(
                format!("{path}.{name}"),
                format!("must be a number from {min} to {max}"),
            ));
        }
        value
    };
    let x = number("x", input.x, 72.0, 0.0, 14_400.0);
    let y = number("y", input.y, 700.0, 0.0, 14_400.0);
    let width = number("width", input.width, 150.0, 1.0, 2_000.0);
    let height = number("height", input.height, 40.0, 1.0, 2_000.0);
    Placement {
        document_index,
        page_number,
        field_type,
        anchor_text,
        anchor_placement: input.anchor_placement.unwrap_or_default(),
        anchor_index: input.anchor_index.unwrap_or(0),
        x,
        y,
        width,
        height,
    }
}

/// An envelope field: its recipient must be one who acts, its placement valid.
fn build_field(
    path: &str,
    input: &FieldInput,
    recipients: &[Recipient],
    page_counts: &[u32],
    issues: &mut Vec<FieldIssue>,
) -> Option<Field> {
    let before = issues.len();
    let email = input.recipient_email.trim();
    let recipient = recipients
        .iter()
        .find(|r| r.email.eq_ignore_ascii_case(email));
    match recipient {
        None => issues.push(FieldIssue::new(
            format!("{path}.recipientEmail"),
            format!("`{email}` is not one of the recipients"),
        )),
        Some(r) if !r.role.acts() => issues.push(FieldIssue::new(
            format!("{path}.recipientEmail"),
            "belongs to a viewer or carbon-copy recipient, who fills no fields",
        )),
        Some(_) => {}
    }
    let placement = check_placement(path, input.placement(), page_counts, issues);
    if issues.len() > before {
        return None;
    }
    Some(Field {
        recipient_email: recipient.map(|r| r.email.clone()).unwrap_or_default(),
        document_index: placement.document_index,
        page_number: placement.page_number,
        field_type: placement.field_type,
        anchor_text: placement.anchor_text,
        anchor_placement: placement.anchor_placement,
        anchor_index: placement.anchor_index,
        x: placement.x,
        y: placement.y,
        width: placement.width,
        height: placement.height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_forms() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(
            decode_base64("data:application/pdf;base64,aGVs\nbG8=").unwrap(),
            b"hello"
        );
        assert!(decode_base64("not base64!").is_none());
    }
}
