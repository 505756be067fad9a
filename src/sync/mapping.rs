//! Mappings (`mappings/*.yaml`): which records of which source become which contract — a
//! contract template rendered per record, or a saved envelope template of the API — sent to
//! whom, and what is written back when it is signed, declined or expires. Expressions are
//! handlebars over the record (strict: a missing field is an error, never an empty string).

use crate::config::ConfigError;
use handlebars::Handlebars;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One mapping file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct MappingFile {
    /// The source (a name under `sources:` in signbridge.yaml).
    pub source: String,
    /// The source's stream; the folder connector has one, `records`.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// Which records qualify: an expression that renders `true` (e.g. `{{eq status "hired"}}`).
    /// Every record qualifies when absent.
    #[serde(default)]
    pub when: Option<String>,
    /// The contract template to render for each record, relative to the mapping file. Exactly
    /// one of `template` and `template_id`.
    #[serde(default)]
    pub template: Option<String>,
    /// Instead of `template`: a saved envelope template of the e-signature API (`tpl_…`),
    /// which brings its own documents and fields; nothing is rendered or uploaded.
    #[serde(default)]
    pub template_id: Option<String>,
    /// Extra values for the template, as expressions over the record (`vars.NAME` in it).
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// The envelope's subject (an expression).
    pub subject: String,
    #[serde(default)]
    pub message: Option<String>,
    pub recipients: Vec<RecipientRule>,
    #[serde(default)]
    pub locale: Option<String>,
    /// The envelope expires this many days after it is sent.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    #[serde(default)]
    pub reminders: Option<RemindersRule>,
    /// SIMPLE (default), ADVANCED or QUALIFIED, as the API accepts.
    #[serde(default)]
    pub signature_level: Option<String>,
    /// Advanced: what makes a record "the same" (an expression), when one record may need
    /// several contracts (e.g. `"{{id}}-{{contract.year}}"`). Default: the record id — one
    /// contract per record, whatever is edited later.
    #[serde(default)]
    pub key: Option<String>,
    /// The fields (dotted paths) whose change makes the contract wrong: while the envelope is
    /// out it is voided and the corrected contract sent; after completion see
    /// `after_completion`. A change of any other field sends nothing.
    #[serde(default)]
    pub resend_on: Vec<String>,
    /// What a record must have before its contract is made, each with the message the admin
    /// reads when it is missing (a template over the record: `"deal {{id}}: no contact with
    /// an email"`). A record without it needs attention instead of failing in its template.
    #[serde(default)]
    pub require: Vec<Requirement>,
    /// What a change of a `resend_on` field does once the contract is signed: `report`
    /// (default: shown by `signbridge status` as needing attention) or `new_contract` (sent
    /// as a new envelope, e.g. an amendment).
    #[serde(default)]
    pub after_completion: AfterCompletion,
    #[serde(default)]
    pub on_completed: Option<WriteBackRule>,
    #[serde(default)]
    pub on_declined: Option<WriteBackRule>,
    #[serde(default)]
    pub on_expired: Option<WriteBackRule>,
    /// A sample record (JSON file, relative to the mapping) for `validate` and previews.
    #[serde(default)]
    pub sample: Option<String>,
}

/// What a change that matters does after the contract was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterCompletion {
    #[default]
    Report,
    NewContract,
}

fn default_stream() -> String {
    "records".into()
}

/// One recipient, as expressions over the record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RecipientRule {
    pub email: String,
    pub name: String,
    /// SIGNER (default), APPROVER, VIEWER or CARBON_COPY.
    #[serde(default)]
    pub role: Option<String>,
    /// Default 1 (with `template_id`: the order of the role the recipient takes).
    #[serde(default)]
    pub signing_order: Option<u32>,
    /// The template's field name for this recipient (`{{signature "employee"}}` → `employee`):
    /// their SIGNATURE, INITIALS and DATE_SIGNED fields go where the template put them.
    #[serde(default)]
    pub fields: Option<String>,
    /// With `template_id`: the name of the template role this recipient takes (`Employee`).
    /// Recipients without one take the template's remaining roles in their signing order.
    #[serde(default)]
    pub template_role: Option<String>,
}

/// A field a record must have (present, not null, not an empty text or list).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Requirement {
    pub field: String,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RemindersRule {
    pub after_days: u32,
    #[serde(default)]
    pub every_days: Option<u32>,
}

/// What to write back to the record.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct WriteBackRule {
    /// Files to attach: `signed_document`, `audit_trail`.
    #[serde(default)]
    pub files: Vec<WriteBackFile>,
    /// Fields to set on the record: name → expression (the record plus `envelope.id`,
    /// `envelope.status`, `envelope.completedAt`).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteBackFile {
    SignedDocument,
    AuditTrail,
}

/// What a mapping's envelopes are made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contract {
    /// A contract template (`template:`), rendered for each record and uploaded.
    Rendered { path: PathBuf, source: String },
    /// A saved envelope template of the API (`template_id:`): no rendering, no upload.
    Template { id: String },
}

/// A loaded mapping: the file, its name, its contract and where its sample lives.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub name: String,
    pub path: PathBuf,
    pub file: MappingFile,
    pub contract: Contract,
}

/// Why a mapping could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MappingError(pub String);

fn locate(origin: &str, err: &serde_saphyr::Error) -> ConfigError {
    let (line, column) = err
        .location()
        .map(|loc| (loc.line(), loc.column()))
        .unwrap_or((1, 1));
    ConfigError::Invalid {
        path: origin.to_string(),
        line,
        column,
        message: err
            .to_string()
            .lines()
            .next()
            .unwrap_or("invalid")
            .trim()
            .to_string(),
    }
}

impl Mapping {
    /// Reads a mapping file and its template (`${ENV}` interpolated like the config).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: origin.clone(),
            source,
        })?;
        let text = crate::config::interpolate_env(&origin, &text)?;
        let file: MappingFile =
            serde_saphyr::from_str(&text).map_err(|err| locate(&origin, &err))?;
        let invalid = |needle: &str, message: String| ConfigError::Invalid {
            path: origin.clone(),
            line: line_of(&text, needle),
            column: 1,
            message,
        };
        let contract = match (&file.template, &file.template_id) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "template_id:",
                    "give `template` (a contract to render) or `template_id` (a saved envelope template), not both".into(),
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "source:",
                    "a mapping needs `template` (a contract to render for each record) or `template_id` (a saved envelope template of the API)".into(),
                ))
            }
            (Some(template), None) => {
                let folder = path.parent().unwrap_or(Path::new("."));
                let template_path = folder.join(template);
                let source = std::fs::read_to_string(&template_path).map_err(|source| {
                    invalid(
                        "template:",
                        format!("template {}: {source}", template_path.display()),
                    )
                })?;
                if let Some(index) = file.recipients.iter().position(|r| r.template_role.is_some()) {
                    return Err(invalid(
                        "template_role:",
                        format!("recipients[{index}].template_role: names a role of a saved envelope template; it needs `template_id`, not `template`"),
                    ));
                }
                Contract::Rendered {
                    path: template_path,
                    source,
                }
            }
            (None, Some(id)) => {
                let id = id.trim();
                if id.is_empty() {
                    return Err(invalid(
                        "template_id:",
                        "template_id: give the id of a saved envelope template (`GET /templates`)".into(),
                    ));
                }
                if let Some(index) = file.recipients.iter().position(|r| r.fields.is_some()) {
                    return Err(invalid(
                        "fields:",
                        format!("recipients[{index}].fields: places fields in a rendered contract; with `template_id` the template brings its fields (use `template_role` to choose a recipient's role)"),
                    ));
                }
                if !file.vars.is_empty() {
                    return Err(invalid(
                        "vars:",
                        "vars: feed a rendered contract; a `template_id` mapping renders nothing".into(),
                    ));
                }
                Contract::Template { id: id.to_string() }
            }
        };
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            name,
            path: path.to_path_buf(),
            file,
            contract,
        })
    }

    /// Every `*.yaml`/`*.yml` mapping in a folder, in name order.
    pub fn load_folder(folder: &Path) -> Result<Vec<Self>, Vec<ConfigError>> {
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(folder) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                })
                .collect(),
            Err(source) => {
                return Err(vec![ConfigError::Read {
                    path: folder.display().to_string(),
                    source,
                }])
            }
        };
        paths.sort();
        let mut mappings = Vec::new();
        let mut errors = Vec::new();
        for path in paths {
            match Self::load(&path) {
                Ok(mapping) => mappings.push(mapping),
                Err(err) => errors.push(err),
            }
        }
        if errors.is_empty() {
            Ok(mappings)
        } else {
            Err(errors)
        }
    }

    /// The line (from 1) where `needle` first appears in the mapping file, for messages.
    pub fn line_of(&self, needle: &str) -> u64 {
        std::fs::read_to_string(&self.path)
            .map(|text| line_of(&text, needle))
            .unwrap_or(1)
    }

    /// The sample record, when the mapping names one.
    pub fn sample(&self) -> Result<Option<Value>, MappingError> {
        let Some(sample) = &self.file.sample else {
            return Ok(None);
        };
        let path = self.path.parent().unwrap_or(Path::new(".")).join(sample);
        let text = std::fs::read_to_string(&path)
            .map_err(|err| MappingError(format!("sample {}: {err}", path.display())))?;
        serde_json::from_str(&text).map(Some).map_err(|err| {
            MappingError(format!(
                "sample {}:{}:{}: {err}",
                path.display(),
                err.line(),
                err.column()
            ))
        })
    }
}

fn line_of(text: &str, needle: &str) -> u64 {
    text.lines()
        .position(|line| line.trim_start().starts_with(needle))
        .map(|i| i as u64 + 1)
        .unwrap_or(1)
}

/// Renders one expression over `data`.
pub fn expand(
    registry: &Handlebars<'_>,
    what: &str,
    expression: &str,
    data: &Value,
) -> Result<String, MappingError> {
    registry
        .render_template(expression, data)
        .map(|s| s.trim().to_string())
        .map_err(|err| MappingError(format!("{what} `{expression}`: {}", err.reason())))
}

/// A plausible mailbox: one `@`, something before it, a dotted domain after it, no spaces
/// (what the API would refuse, caught before anything is uploaded).
fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The envelope a record becomes (the API's three-step create shape, minus document ids).
#[derive(Debug, Clone, PartialEq)]
pub struct EnvelopePlan {
    pub subject: String,
    pub message: Option<String>,
    pub recipients: Vec<Value>,
    /// Recipient email → field role in the template.
    pub field_roles: Vec<(String, String)>,
    pub options: serde_json::Map<String, Value>,
}

impl Mapping {
    /// Whether `record` qualifies.
    pub fn selects(&self, registry: &Handlebars<'_>, record: &Value) -> Result<bool, MappingError> {
        let Some(when) = &self.file.when else {
            return Ok(true);
        };
        let value = expand(registry, "when", when, record)?;
        Ok(!matches!(
            value.to_ascii_lowercase().as_str(),
            "" | "false" | "0" | "no" | "null"
        ))
    }

    /// The first `require:` entry `record` does not meet, as the admin should read it.
    pub fn unmet_requirement(
        &self,
        registry: &Handlebars<'_>,
        record: &Value,
        id: &str,
    ) -> Option<String> {
        let unmet = self.file.require.iter().find(|rule| {
            match super::folder::field(record, &rule.field) {
                None | Some(Value::Null) => true,
                Some(Value::String(text)) => text.trim().is_empty(),
                Some(Value::Array(items)) => items.is_empty(),
                Some(_) => false,
            }
        })?;
        let fallback = || format!("record {id}: no `{}`", unmet.field);
        Some(match &unmet.message {
            Some(message) => expand(registry, "require.message", message, record)
                .ok()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(fallback),
            None => fallback(),
        })
    }

    /// What makes a record "the same" for this mapping: the `key` expression when the
    /// mapping has one, else the record id (one contract per record).
    pub fn record_key(
        &self,
        registry: &Handlebars<'_>,
        record: &Value,
        id: &str,
    ) -> Result<String, MappingError> {
        match &self.file.key {
            Some(key) => {
                let key = expand(registry, "key", key, record)?;
                if key.is_empty() {
                    return Err(MappingError("key: the expression gave an empty key".into()));
                }
                Ok(key)
            }
            None => Ok(id.to_string()),
        }
    }

    /// The `resend_on` fields whose values differ between the record a contract was made
    /// from and its newer version (a field that appears or disappears counts).
    pub fn changes_that_matter(&self, contract: &Value, newer: &Value) -> Vec<String> {
        self.file
            .resend_on
            .iter()
            .filter(|path| {
                super::folder::field(contract, path) != super::folder::field(newer, path)
            })
            .cloned()
            .collect()
    }

    /// The data a template sees: the record with `vars`.
    pub fn template_data(
        &self,
        registry: &Handlebars<'_>,
        record: &Value,
    ) -> Result<Value, MappingError> {
        let mut data = record.clone();
        if !self.file.vars.is_empty() {
            let mut vars = serde_json::Map::new();
            for (name, expression) in &self.file.vars {
                vars.insert(
                    name.clone(),
                    json!(expand(
                        registry,
                        &format!("vars.{name}"),
                        expression,
                        record
                    )?),
                );
            }
            match &mut data {
                Value::Object(map) => {
                    map.insert("vars".into(), Value::Object(vars));
                }
                _ => data = json!({"record": record, "vars": vars}),
            }
        }
        Ok(data)
    }

    /// The envelope for a record.
    pub fn plan(
        &self,
        registry: &Handlebars<'_>,
        record: &Value,
    ) -> Result<EnvelopePlan, MappingError> {
        let subject = expand(registry, "subject", &self.file.subject, record)?;
        if subject.is_empty() {
            return Err(MappingError(
                "subject: the expression gave an empty subject".into(),
            ));
        }
        let message = match &self.file.message {
            Some(message) => Some(expand(registry, "message", message, record)?),
            None => None,
        };
        let mut recipients = Vec::new();
        let mut field_roles = Vec::new();
        for (index, rule) in self.file.recipients.iter().enumerate() {
            let email = expand(
                registry,
                &format!("recipients[{index}].email"),
                &rule.email,
                record,
            )?;
            let name = expand(
                registry,
                &format!("recipients[{index}].name"),
                &rule.name,
                record,
            )?;
            if email.is_empty() {
                return Err(MappingError(format!(
                    "recipients[{index}].email: the expression gave no address"
                )));
            }
            if !looks_like_email(&email) {
                return Err(MappingError(format!(
                    "recipients[{index}].email: `{email}` is not an email address"
                )));
            }
            let mut recipient = json!({"email": email, "name": name});
            match (&self.contract, rule.signing_order) {
                // A template's role decides the order unless the mapping says it.
                (Contract::Template { .. }, None) => {}
                (_, order) => recipient["signingOrder"] = json!(order.unwrap_or(1)),
            }
            if let Some(role) = &rule.role {
                recipient["role"] = json!(role);
            }
            if let Some(role) = &rule.template_role {
                recipient["templateRole"] = json!(role);
            }
            recipients.push(recipient);
            if let Some(role) = &rule.fields {
                field_roles.push((email, role.clone()));
            }
        }
        if recipients.is_empty() {
            return Err(MappingError(
                "recipients: a mapping needs at least one recipient".into(),
            ));
        }
        let mut options = serde_json::Map::new();
        if let Some(locale) = &self.file.locale {
            options.insert("locale".into(), json!(locale));
        }
        if let Some(level) = &self.file.signature_level {
            options.insert("signatureLevel".into(), json!(level));
        }
        if let Some(reminders) = &self.file.reminders {
            options.insert(
                "reminders".into(),
                json!({"afterDays": reminders.after_days, "everyDays": reminders.every_days}),
            );
        }
        Ok(EnvelopePlan {
            subject,
            message,
            recipients,
            field_roles,
            options,
        })
    }
}

/// The fields for the recipients whose template roles appear in the rendered contract's text:
/// signature, initials and date where the template put them.
pub fn fields_for(plan: &EnvelopePlan, page_texts: &[String]) -> Vec<Value> {
    let text: String = page_texts.concat();
    let mut fields = Vec::new();
    for (email, role) in &plan.field_roles {
        for (kind, field_type, width, height) in [
            ("sig", "SIGNATURE", 198.0, 34.0),
            ("ini", "INITIALS", 70.0, 20.0),
            ("date", "DATE_SIGNED", 113.0, 14.0),
        ] {
            let anchor = crate::pdf::render::anchor_text(kind, role);
            if text.contains(&anchor) {
                fields.push(json!({
                    "recipientEmail": email,
                    "documentIndex": 0,
                    "fieldType": field_type,
                    "anchorText": anchor,
                    "anchorPlacement": "below",
                    "width": width,
                    "height": height,
                }));
            }
        }
    }
    fields
}
