//! Envelope templates: documents (held by their content-addressed blobs, so deleting the
//! uploaded document does not break a template), named recipient roles, the fields each role
//! fills, and default subject, message and locale. Made from uploaded documents or from any
//! envelope; listed, read, patched (fully re-validated) and deleted. An envelope made from a
//! template (`templateId`) gets documents and fields of its own, so it does not depend on the
//! template afterwards.

use super::documents::adjust_blob_refs;
use super::envelopes::{
    check_placement, nullable, FieldInput, Placement, PlacementInput, RecipientInput,
    MAX_DOCUMENTS, MAX_FIELDS, MAX_RECIPIENTS,
};
use super::model::{
    AnchorPlacement, Document, Envelope, Environment, FieldType, Recipient, RecipientRole,
};
use super::model_account::Template as TemplateSummary;
use super::validate::{check_text, normalize_locale, required_text, FieldIssue};
use super::{env_key, Esign, EsignError};
use crate::ids::IdKind;
use crate::store::ConflictableTransactionError;
use crate::store::{encode, get_json, list_newest_first, Page, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The Certyneo error code (and 409) of a signer who has no SIGNATURE field.
const SIGNER_WITHOUT_FIELD: &str = "signer_without_field";

/// How many times a template update is decided afresh when another change won meanwhile.
const UPDATE_ATTEMPTS: usize = 8;

/// A template, stored and shown whole (`GET /templates/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeTemplate {
    #[schema(example = "tpl_01JD5Q9M3V0F8W2K7T4R6Y1ZXC")]
    pub id: String,
    pub environment: Environment,
    pub name: String,
    pub description: Option<String>,
    /// The documents, in order (a field's `documentIndex` counts from 0 here).
    pub documents: Vec<TemplateDocument>,
    /// Who an envelope made from it goes to, by role.
    pub roles: Vec<TemplateRole>,
    pub fields: Vec<TemplateField>,
    /// Defaults of envelopes made from it; the envelope request's own values win.
    pub subject: Option<String>,
    pub message: Option<String>,
    pub locale: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A document of a template: the stored PDF (a blob) it keeps a reference to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateDocument {
    pub name: String,
    /// Hex SHA-256 of the stored PDF.
    pub sha256: String,
    pub page_count: u32,
    /// Size in bytes of the stored PDF.
    pub size: u64,
}

/// A named place for a recipient (`Employee`, `HR`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRole {
    /// Unique in the template (letter case ignored).
    pub name: String,
    pub role: RecipientRole,
    pub signing_order: u32,
}

/// A field of a template: an envelope field whose recipient is a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateField {
    /// The name of the role that fills it.
    pub role: String,
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

impl TemplateField {
    fn placement(&self) -> Placement {
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

/// `POST /templates`. Unknown fields are refused.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTemplateRequest {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Up to 2,000 characters.
    pub description: Option<String>,
    /// Ids from `POST /documents` (1 to 20), in order.
    #[schema(min_items = 1, max_items = 20)]
    pub document_ids: Vec<String>,
    /// 1 to 50 roles; every SIGNER role needs a SIGNATURE field.
    #[schema(min_items = 1, max_items = 50)]
    pub roles: Vec<TemplateRoleInput>,
    #[serde(default)]
    pub fields: Vec<TemplateFieldInput>,
    pub subject: Option<String>,
    pub message: Option<String>,
    /// BCP-47 (`en`, `fr-BE`, …).
    pub locale: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateRoleInput {
    /// Unique in the template (letter case ignored), e.g. `Employee`.
    pub name: String,
    /// Default SIGNER.
    pub role: Option<RecipientRole>,
    /// Integer from 1 to 100, default 1.
    pub signing_order: Option<u32>,
}

/// A field as requested: like an envelope field, with `role` instead of `recipientEmail`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateFieldInput {
    /// The name of one of the template's roles (a SIGNER or APPROVER).
    pub role: String,
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

impl TemplateFieldInput {
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

    fn placed(role: String, placement: &Placement) -> Self {
        Self {
            role,
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

/// `PATCH /templates/{id}`: any field given replaces the template's; `null` clears a clearable
/// one. The documents stay. The result is checked as a whole, like a new template.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchTemplateRequest {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub subject: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub message: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub locale: Option<Option<String>>,
    pub roles: Option<Vec<TemplateRoleInput>>,
    pub fields: Option<Vec<TemplateFieldInput>>,
}

/// `POST /envelopes/{id}/save-as-template`: all optional.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SaveAsTemplateRequest {
    /// Default: the envelope's subject.
    pub name: Option<String>,
    pub description: Option<String>,
}

/// What a template is made of, whichever way it came.
struct TemplateSpec {
    name: String,
    description: Option<String>,
    roles: Vec<TemplateRoleInput>,
    fields: Vec<TemplateFieldInput>,
    subject: Option<String>,
    message: Option<String>,
    locale: Option<String>,
}

/// What an envelope made from a template takes from it.
pub(super) struct TemplateParts {
    /// New document records of the template's blobs (the envelope's own).
    pub documents: Vec<Document>,
    /// The request's recipients with the role and signing order of the role each takes.
    pub recipients: Vec<RecipientInput>,
    /// The template's fields, each for the recipient who took its role.
    pub fields: Vec<FieldInput>,
    pub subject: Option<String>,
    pub message: Option<String>,
    pub locale: Option<String>,
}

impl From<&EnvelopeTemplate> for TemplateSummary {
    fn from(template: &EnvelopeTemplate) -> Self {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        TemplateSummary {
            id: template.id.clone(),
            name: template.name.clone(),
            description: template.description.clone().unwrap_or_default(),
            signer_count: count(
                template
                    .roles
                    .iter()
                    .filter(|r| r.role == RecipientRole::Signer)
                    .count(),
            ),
            document_count: count(template.documents.len()),
        }
    }
}

/// Trimmed optional text: `None` when absent or blank, checked against `max_chars`.
fn optional_text(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
    multiline: bool,
    issues: &mut Vec<FieldIssue>,
) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    if let Err(issue) = check_text(field, value, max_chars, multiline) {
        issues.push(issue);
    }
    Some(value.to_string())
}

fn role_list(roles: &[TemplateRole]) -> String {
    roles
        .iter()
        .map(|r| r.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Role names for an envelope's recipients: each one's name, unless it is empty, just the
/// email address, or shared with another recipient — then `Signer N` (N its position).
fn role_names(recipients: &[Recipient]) -> Vec<String> {
    let given: Vec<Option<&str>> = recipients
        .iter()
        .map(|r| {
            let name = r.name.trim();
            (!name.is_empty() && !name.eq_ignore_ascii_case(&r.email)).then_some(name)
        })
        .collect();
    let unique = |name: &str| {
        given
            .iter()
            .flatten()
            .filter(|g| g.eq_ignore_ascii_case(name))
            .count()
            == 1
    };
    let mut names: Vec<String> = Vec::with_capacity(recipients.len());
    for (index, name) in given.iter().enumerate() {
        let chosen = match name {
            Some(name) if unique(name) => name.to_string(),
            _ => {
                let mut n = index + 1;
                loop {
                    let candidate = format!("Signer {n}");
                    let taken = names.iter().any(|x| x.eq_ignore_ascii_case(&candidate))
                        || given
                            .iter()
                            .flatten()
                            .any(|g| g.eq_ignore_ascii_case(&candidate));
                    if !taken {
                        break candidate;
                    }
                    n += 1;
                }
            }
        };
        names.push(chosen);
    }
    names
}

impl Esign {
    /// `POST /templates` from uploaded documents. With an idempotency key, a repeat returns
    /// the first template.
    pub fn create_template(
        &self,
        environment: Environment,
        request: CreateTemplateRequest,
        creation_key: Option<&str>,
    ) -> Result<EnvelopeTemplate, EsignError> {
        let creation_location =
            creation_key.map(|k| env_key(environment, &format!("templates/{k}")));
        if let Some(existing) = self.created_before(creation_location.as_deref(), |id| {
            self.get_template(environment, id)
        })? {
            return Ok(existing);
        }
        if request.document_ids.is_empty() {
            return Err(EsignError::invalid(
                "documentIds",
                format!("a template needs 1 to {MAX_DOCUMENTS} documents"),
            ));
        }
        let documents = self
            .resolve_documents(environment, &request.document_ids)?
            .into_iter()
            .map(|d| TemplateDocument {
                name: d.name,
                sha256: d.sha256,
                page_count: d.page_count,
                size: d.size,
            })
            .collect();
        let spec = TemplateSpec {
            name: request.name,
            description: request.description,
            roles: request.roles,
            fields: request.fields,
            subject: request.subject,
            message: request.message,
            locale: request.locale,
        };
        let template = self.build_template(environment, spec, documents, None)?;
        self.insert_template(&template, creation_location)?;
        Ok(template)
    }

    /// `POST /envelopes/{id}/save-as-template`: the envelope's original documents, its
    /// recipients as roles (named after them), its fields on those roles, its subject, message
    /// and locale.
    pub fn save_envelope_as_template(
        &self,
        environment: Environment,
        envelope_id: &str,
        request: SaveAsTemplateRequest,
        creation_key: Option<&str>,
    ) -> Result<EnvelopeTemplate, EsignError> {
        let creation_location =
            creation_key.map(|k| env_key(environment, &format!("templates/{k}")));
        if let Some(existing) = self.created_before(creation_location.as_deref(), |id| {
            self.get_template(environment, id)
        })? {
            return Ok(existing);
        }
        let envelope: Envelope = self.load_envelope(environment, envelope_id)?;
        let mut documents = Vec::with_capacity(envelope.documents.len());
        for document in &envelope.documents {
            let size =
                self.store
                    .blobs
                    .size(&document.sha256)?
                    .ok_or_else(|| EsignError::Conflict {
                        code: "document_missing",
                        message: format!(
                        "document {} ({}) of envelope {envelope_id} was deleted with its content",
                        document.id, document.name
                    ),
                    })?;
            documents.push(TemplateDocument {
                name: document.name.clone(),
                sha256: document.sha256.clone(),
                page_count: document.page_count,
                size,
            });
        }
        let names = role_names(&envelope.recipients);
        let roles = envelope
            .recipients
            .iter()
            .zip(&names)
            .map(|(recipient, name)| TemplateRoleInput {
                name: name.clone(),
                role: Some(recipient.role),
                signing_order: Some(recipient.signing_order),
            })
            .collect();
        let fields = envelope
            .fields
            .iter()
            .map(|field| {
                let role = envelope
                    .recipients
                    .iter()
                    .position(|r| r.email.eq_ignore_ascii_case(&field.recipient_email))
                    .map(|index| names[index].clone())
                    .unwrap_or_else(|| field.recipient_email.clone());
                TemplateFieldInput::placed(role, &field.placement())
            })
            .collect();
        let spec = TemplateSpec {
            name: request
                .name
                .unwrap_or_else(|| envelope.subject.chars().take(200).collect()),
            description: request.description,
            roles,
            fields,
            subject: Some(envelope.subject.clone()),
            message: envelope.message.clone(),
            locale: envelope.locale.clone(),
        };
        let template = self.build_template(environment, spec, documents, None)?;
        self.insert_template(&template, creation_location)?;
        Ok(template)
    }

    pub fn get_template(
        &self,
        environment: Environment,
        id: &str,
    ) -> Result<EnvelopeTemplate, EsignError> {
        get_json(&self.store.templates, &env_key(environment, id))?.ok_or_else(|| {
            EsignError::NotFound {
                kind: "template",
                id: id.to_string(),
            }
        })
    }

    /// Newest first.
    pub fn list_templates(
        &self,
        environment: Environment,
        page: u64,
        limit: u64,
    ) -> Result<Page<EnvelopeTemplate>, EsignError> {
        Ok(list_newest_first(
            &self.store.templates,
            &environment.prefix(IdKind::Template.prefix()),
            page,
            limit,
            |_| true,
            false,
        )?)
    }

    /// `PATCH /templates/{id}`. Decided on the stored template and written only if it is still
    /// that one (else decided afresh on the newer one).
    pub fn update_template(
        &self,
        environment: Environment,
        id: &str,
        patch: PatchTemplateRequest,
    ) -> Result<EnvelopeTemplate, EsignError> {
        let location = env_key(environment, id);
        for _ in 0..UPDATE_ATTEMPTS {
            let stored =
                self.store
                    .templates
                    .get(&location)?
                    .ok_or_else(|| EsignError::NotFound {
                        kind: "template",
                        id: id.to_string(),
                    })?;
            let current: EnvelopeTemplate =
                serde_json::from_slice(&stored).map_err(StoreError::from)?;
            let patch = patch.clone();
            let spec = TemplateSpec {
                name: patch.name.unwrap_or_else(|| current.name.clone()),
                description: patch
                    .description
                    .unwrap_or_else(|| current.description.clone()),
                roles: patch.roles.unwrap_or_else(|| {
                    current
                        .roles
                        .iter()
                        .map(|r| TemplateRoleInput {
                            name: r.name.clone(),
                            role: Some(r.role),
                            signing_order: Some(r.signing_order),
                        })
                        .collect()
                }),
                fields: patch.fields.unwrap_or_else(|| {
                    current
                        .fields
                        .iter()
                        .map(|f| TemplateFieldInput::placed(f.role.clone(), &f.placement()))
                        .collect()
                }),
                subject: patch.subject.unwrap_or_else(|| current.subject.clone()),
                message: patch.message.unwrap_or_else(|| current.message.clone()),
                locale: patch.locale.unwrap_or_else(|| current.locale.clone()),
            };
            let updated =
                self.build_template(environment, spec, current.documents.clone(), Some(&current))?;
            let record = encode(&updated)?;
            let written = self.store.transaction(&self.store.templates, |templates| {
                if templates.get(&location)?.as_deref() != Some(stored.as_ref()) {
                    return Ok(false);
                }
                templates.insert(location.as_slice(), record.as_slice())?;
                Ok(true)
            })?;
            if written {
                return Ok(updated);
            }
        }
        Err(EsignError::Conflict {
            code: "template_changed",
            message: format!(
                "template {id} kept changing while this request was being handled; reload it and try again"
            ),
        })
    }

    /// `DELETE /templates/{id}`. Envelopes made from it keep their own documents and fields.
    pub fn delete_template(&self, environment: Environment, id: &str) -> Result<(), EsignError> {
        let location = env_key(environment, id);
        let released = self.store.transaction(
            (&self.store.templates, &self.store.blob_refs),
            |(templates, refs)| {
                let Some(stored) = templates.get(&location)? else {
                    return Ok(None);
                };
                let template: EnvelopeTemplate = serde_json::from_slice(&stored)
                    .map_err(|err| ConflictableTransactionError::Abort(StoreError::from(err)))?;
                templates.remove(location.as_slice())?;
                let mut unused = Vec::new();
                for document in &template.documents {
                    if adjust_blob_refs(refs, &document.sha256, -1)? == 0 {
                        unused.push(document.sha256.clone());
                    }
                }
                Ok(Some(unused))
            },
        )?;
        let Some(unused) = released else {
            return Err(EsignError::NotFound {
                kind: "template",
                id: id.to_string(),
            });
        };
        self.store.release_blobs(&unused)?;
        Ok(())
    }

    /// What an envelope made from template `template_id` gets, with `recipients` (of the
    /// request's `recipients_field`) matched to its roles: by `templateRole`, the others in the
    /// roles' signing order. A missing template, a count that differs from the roles', an
    /// unknown or twice-taken role, or a `role`/`signingOrder` that contradicts the role's is a
    /// validation failure naming the field and what the template expects.
    pub(super) fn envelope_parts_from_template(
        &self,
        environment: Environment,
        template_id: &str,
        recipients_field: &str,
        recipients: Vec<RecipientInput>,
    ) -> Result<TemplateParts, EsignError> {
        let template = match self.get_template(environment, template_id) {
            Err(EsignError::NotFound { .. }) => {
                return Err(EsignError::invalid(
                    "templateId",
                    format!("no template {template_id} exists"),
                ))
            }
            other => other?,
        };
        let roles = &template.roles;
        if recipients.len() != roles.len() {
            return Err(EsignError::invalid(
                recipients_field,
                format!(
                    "template {template_id} has {} role(s) ({}): give one recipient per role, not {}",
                    roles.len(),
                    role_list(roles),
                    recipients.len()
                ),
            ));
        }
        let mut issues = Vec::new();
        let mut taken: Vec<Option<usize>> = vec![None; recipients.len()];
        let mut used = vec![false; roles.len()];
        for (index, recipient) in recipients.iter().enumerate() {
            let Some(wanted) = recipient.template_role.as_deref().map(str::trim) else {
                continue;
            };
            let path = format!("{recipients_field}[{index}].templateRole");
            match roles
                .iter()
                .position(|r| r.name.eq_ignore_ascii_case(wanted))
            {
                None => issues.push(FieldIssue::new(
                    path,
                    format!(
                        "`{wanted}` is not a role of template {template_id}; its roles: {}",
                        role_list(roles)
                    ),
                )),
                Some(role) if used[role] => issues.push(FieldIssue::new(
                    path,
                    format!("role `{}` is taken by another recipient", roles[role].name),
                )),
                Some(role) => {
                    used[role] = true;
                    taken[index] = Some(role);
                }
            }
        }
        // The others take the remaining roles in signing order (the template's order on ties).
        let mut in_order: Vec<usize> = (0..roles.len()).collect();
        in_order.sort_by_key(|&role| roles[role].signing_order);
        let mut free = in_order.into_iter().filter(|&role| !used[role]);
        for (index, recipient) in recipients.iter().enumerate() {
            if recipient.template_role.is_none() {
                taken[index] = free.next();
            }
        }
        for (index, recipient) in recipients.iter().enumerate() {
            let Some(role) = taken[index].map(|role| &roles[role]) else {
                continue;
            };
            let path = format!("{recipients_field}[{index}]");
            if recipient.role.is_some_and(|r| r != role.role) {
                issues.push(FieldIssue::new(
                    format!("{path}.role"),
                    format!(
                        "the template's role `{}` is {}; leave `role` out",
                        role.name,
                        role.role.as_str()
                    ),
                ));
            }
            if recipient
                .signing_order
                .is_some_and(|order| order != role.signing_order)
            {
                issues.push(FieldIssue::new(
                    format!("{path}.signingOrder"),
                    format!(
                        "the template's role `{}` signs in order {}; leave `signingOrder` out",
                        role.name, role.signing_order
                    ),
                ));
            }
        }
        if !issues.is_empty() {
            return Err(EsignError::Invalid(issues));
        }
        let email_of_role = |name: &str| {
            taken
                .iter()
                .zip(&recipients)
                .find(|(role, _)| role.is_some_and(|role| roles[role].name == name))
                .map(|(_, recipient)| recipient.email.clone())
                .unwrap_or_default()
        };
        let fields = template
            .fields
            .iter()
            .map(|field| FieldInput::placed(email_of_role(&field.role), &field.placement()))
            .collect();
        let now = self.clock.now();
        let mut documents = Vec::with_capacity(template.documents.len());
        for document in &template.documents {
            if self.store.blobs.size(&document.sha256)?.is_none() {
                return Err(EsignError::Conflict {
                    code: "document_missing",
                    message: format!(
                        "the content of document {} ({}) of template {template_id} is gone",
                        document.name, document.sha256
                    ),
                });
            }
            documents.push(Document {
                id: self.ids.next(IdKind::Document),
                name: document.name.clone(),
                mime_type: "application/pdf".into(),
                original_mime_type: "application/pdf".into(),
                size: document.size,
                sha256: document.sha256.clone(),
                page_count: document.page_count,
                status: "READY".into(),
                environment,
                created_at: now,
            });
        }
        let recipients = recipients
            .into_iter()
            .zip(taken)
            .map(|(recipient, role)| {
                let role = role.map(|role| &roles[role]);
                RecipientInput {
                    role: role.map(|r| r.role),
                    signing_order: role.map(|r| r.signing_order),
                    template_role: None,
                    ..recipient
                }
            })
            .collect();
        Ok(TemplateParts {
            documents,
            recipients,
            fields,
            subject: template.subject,
            message: template.message,
            locale: template.locale,
        })
    }

    /// Validates a spec against its documents and builds the template.
    fn build_template(
        &self,
        environment: Environment,
        spec: TemplateSpec,
        documents: Vec<TemplateDocument>,
        previous: Option<&EnvelopeTemplate>,
    ) -> Result<EnvelopeTemplate, EsignError> {
        let mut issues = Vec::new();
        let name = required_text("name", &spec.name, 200, &mut issues);
        let description = optional_text(
            "description",
            spec.description.as_deref(),
            2_000,
            true,
            &mut issues,
        );
        let subject = optional_text("subject", spec.subject.as_deref(), 255, false, &mut issues);
        let message = optional_text("message", spec.message.as_deref(), 5_000, true, &mut issues);
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
        if documents.is_empty() || documents.len() > MAX_DOCUMENTS {
            issues.push(FieldIssue::new(
                "documentIds",
                format!("a template needs 1 to {MAX_DOCUMENTS} documents"),
            ));
        }
        if spec.roles.is_empty() || spec.roles.len() > MAX_RECIPIENTS {
            issues.push(FieldIssue::new(
                "roles",
                format!("must hold 1 to {MAX_RECIPIENTS} roles"),
            ));
        }
        let mut roles: Vec<TemplateRole> = Vec::with_capacity(spec.roles.len());
        for (index, input) in spec.roles.iter().enumerate() {
            let path = format!("roles[{index}]");
            let name = required_text(&format!("{path}.name"), &input.name, 200, &mut issues);
            if !name.is_empty() && roles.iter().any(|r| r.name.eq_ignore_ascii_case(&name)) {
                issues.push(FieldIssue::new(
                    format!("{path}.name"),
                    format!("`{name}` names another role already; role names are unique"),
                ));
            }
            let signing_order = input.signing_order.unwrap_or(1);
            if !(1..=100).contains(&signing_order) {
                issues.push(FieldIssue::new(
                    format!("{path}.signingOrder"),
                    "must be an integer from 1 to 100",
                ));
            }
            roles.push(TemplateRole {
                name,
                role: input.role.unwrap_or_default(),
                signing_order,
            });
        }
        if spec.fields.len() > MAX_FIELDS {
            issues.push(FieldIssue::new(
                "fields",
                format!("at most {MAX_FIELDS} fields"),
            ));
        }
        let page_counts: Vec<u32> = documents.iter().map(|d| d.page_count).collect();
        let mut fields = Vec::with_capacity(spec.fields.len());
        for (index, input) in spec.fields.iter().enumerate() {
            let path = format!("fields[{index}]");
            let before = issues.len();
            let wanted = input.role.trim();
            let role = roles.iter().find(|r| r.name.eq_ignore_ascii_case(wanted));
            match role {
                None => issues.push(FieldIssue::new(
                    format!("{path}.role"),
                    format!(
                        "`{wanted}` is not one of the template's roles ({})",
                        role_list(&roles)
                    ),
                )),
                Some(r) if !r.role.acts() => issues.push(FieldIssue::new(
                    format!("{path}.role"),
                    "is a viewer or carbon-copy role, which fills no fields",
                )),
                Some(_) => {}
            }
            let placement = check_placement(&path, input.placement(), &page_counts, &mut issues);
            if issues.len() == before {
                let role = role.map(|r| r.name.clone()).unwrap_or_default();
                fields.push(TemplateField {
                    role,
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
                });
            }
        }
        if !issues.is_empty() {
            return Err(EsignError::Invalid(issues));
        }
        let unsigned: Vec<&str> = roles
            .iter()
            .filter(|role| {
                role.role == RecipientRole::Signer
                    && !fields
                        .iter()
                        .any(|f| f.role == role.name && f.field_type == FieldType::Signature)
            })
            .map(|role| role.name.as_str())
            .collect();
        if !unsigned.is_empty() {
            return Err(EsignError::Conflict {
                code: SIGNER_WITHOUT_FIELD,
                message: format!(
                    "every SIGNER role of a template needs a SIGNATURE field; {} has none",
                    unsigned
                        .iter()
                        .map(|name| format!("`{name}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        let now = self.clock.now();
        Ok(EnvelopeTemplate {
            id: previous
                .map(|p| p.id.clone())
                .unwrap_or_else(|| self.ids.next(IdKind::Template)),
            environment,
            name,
            description,
            documents,
            roles,
            fields,
            subject,
            message,
            locale,
            created_at: previous.map(|p| p.created_at).unwrap_or(now),
            updated_at: now,
        })
    }

    /// Writes a new template, the references to its documents' blobs and its creation key in
    /// one transaction.
    fn insert_template(
        &self,
        template: &EnvelopeTemplate,
        creation_location: Option<Vec<u8>>,
    ) -> Result<(), EsignError> {
        let location = env_key(template.environment, &template.id);
        let record = encode(template)?;
        let turn = self.store.writer_turn();
        for document in &template.documents {
            match turn.require_blobs([document.sha256.as_str()]) {
                Err(StoreError::BlobReleased(_)) => {
                    return Err(EsignError::Conflict {
                        code: "document_missing",
                        message: format!(
                            "document {} was deleted with its content while the template was being made",
                            document.name
                        ),
                    })
                }
                other => other?,
            }
        }
        turn.transaction(
            (
                &self.store.templates,
                &self.store.blob_refs,
                &self.store.creation_keys,
            ),
            |(templates, refs, creation_keys)| {
                templates.insert(location.as_slice(), record.as_slice())?;
                for document in &template.documents {
                    adjust_blob_refs(refs, &document.sha256, 1)?;
                }
                if let Some(key) = &creation_location {
                    creation_keys.insert(key.as_slice(), template.id.as_bytes())?;
                }
                Ok(())
            },
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipient(email: &str, name: &str) -> Recipient {
        Recipient::pending(
            format!("rcp_{email}"),
            email.into(),
            name.into(),
            RecipientRole::Signer,
            1,
        )
    }

    #[test]
    fn role_names_come_from_recipients_unless_empty_repeated_or_an_address() {
        let names = role_names(&[
            recipient("a@example.com", "Ana"),
            recipient("b@example.com", "Sam"),
            recipient("c@example.com", "sam"),
            recipient("d@example.com", "d@example.com"),
            recipient("e@example.com", " "),
        ]);
        assert_eq!(
            names,
            ["Ana", "Signer 2", "Signer 3", "Signer 4", "Signer 5"]
        );
        // A generated name never collides with a real one.
        let names = role_names(&[
            recipient("a@example.com", ""),
            recipient("b@example.com", "Signer 1"),
        ]);
        assert_eq!(names, ["Signer 2", "Signer 1"]);
    }
}
