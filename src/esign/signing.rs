//! What a recipient does through their link: open (recorded as viewed), sign, approve or
//! decline — in routing order, each change recorded with its evidence (time, IP, user agent,
//! consent text) — and the envelope completing when the last one acts.

use super::lifecycle::{
    invite_current_group, notify_invited, token_hash, Actor, Change, EventDraft,
};
use super::model::{
    Envelope, EnvelopeDocument, EnvelopeStatus, EventKind, FieldType, MailKind, Recipient,
    RecipientRole, RecipientStatus, SignatureKind, SignatureRecord, TokenTarget,
};
use super::validate::{check_text, FieldIssue};
use super::{Esign, EsignError};
use crate::store::{get_json, StoreError};
use serde_json::json;
use subtle::ConstantTimeEq;

/// Largest drawn signature accepted (PNG bytes).
const MAX_SIGNATURE_PNG: usize = 512 * 1024;

/// Where a recipient stands, which decides the page they see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningState {
    /// The envelope is still a draft.
    NotSent,
    /// Recipients with a lower signing order have not finished (their names).
    Waiting(Vec<String>),
    /// This recipient signs (or approves) now.
    YourTurn,
    Signed,
    Approved,
    /// This recipient declined.
    DeclinedByYou,
    /// Someone else declined.
    Declined,
    Voided,
    Expired,
    Completed,
    /// A viewer or carbon copy while the others sign.
    CopyInProgress,
}

/// A recipient's view of their envelope.
#[derive(Debug, Clone)]
pub struct SigningView {
    pub envelope: Envelope,
    pub recipient: Recipient,
    pub state: SigningState,
    /// Who sends the envelope (the account's name).
    pub sender: String,
    /// The account has a logo to show (`/sign/assets/logo`).
    pub has_logo: bool,
    /// The one-time code the recipient must enter before the documents are shown, if any.
    pub pending_factor: Option<super::model::CodeChannel>,
    /// Too many wrong codes: this recipient may no longer sign.
    pub locked: bool,
}

impl SigningView {
    /// The documents may be shown: the envelope is out (or done) and it is not someone
    /// else's turn first.
    pub fn documents_visible(&self) -> bool {
        if self.state == SigningState::YourTurn && (self.pending_factor.is_some() || self.locked) {
            return false;
        }
        !matches!(
            self.state,
            SigningState::NotSent
                | SigningState::Waiting(_)
                | SigningState::Voided
                | SigningState::Expired
        )
    }
}

/// A signature as the signing page submits it.
#[derive(Debug, Clone, Default)]
pub struct SignInput {
    pub typed_name: String,
    /// A drawn signature, PNG bytes.
    pub drawn_png: Option<Vec<u8>>,
    pub consent: bool,
    /// Values for the signer's TEXT and CHECKBOX fields, by field index.
    pub field_values: std::collections::BTreeMap<u32, String>,
}

/// The consent statement shown next to the Sign button, in the page's language. It is stored
/// with each signature exactly as shown.
pub fn consent_text(language: &str) -> &'static str {
    crate::i18n::words(language).consent
}

/// The language of an envelope's pages: its locale's (or that locale's primary subtag's) when
/// there is a catalogue for it, `en` by default.
pub fn page_language(envelope: &Envelope) -> &'static str {
    envelope
        .locale
        .as_deref()
        .and_then(crate::i18n::language_of)
        .unwrap_or("en")
}

fn state_of(envelope: &Envelope, recipient: &Recipient) -> SigningState {
    match envelope.status {
        EnvelopeStatus::Draft => return SigningState::NotSent,
        EnvelopeStatus::Voided => return SigningState::Voided,
        EnvelopeStatus::Expired => return SigningState::Expired,
        EnvelopeStatus::Completed => return SigningState::Completed,
        EnvelopeStatus::Declined if recipient.status == RecipientStatus::Declined => {
            return SigningState::DeclinedByYou
        }
        EnvelopeStatus::Declined => return SigningState::Declined,
        _ => {}
    }
    if !recipient.role.acts() {
        return SigningState::CopyInProgress;
    }
    match recipient.status {
        RecipientStatus::Signed => return SigningState::Signed,
        RecipientStatus::Approved => return SigningState::Approved,
        _ => {}
    }
    match envelope.current_order() {
        Some(order) if order == recipient.signing_order => SigningState::YourTurn,
        _ => SigningState::Waiting(
            envelope
                .recipients
                .iter()
                .filter(|r| {
                    r.role.acts() && !r.is_done() && r.signing_order < recipient.signing_order
                })
                .map(|r| r.name.clone())
                .collect(),
        ),
    }
}

/// How a recipient was authenticated: the link in their email, plus each one-time code proven
/// (`email_link+email_otp+sms_otp`).
pub(super) fn auth_method_of(recipient: &Recipient) -> String {
    let mut method = String::from("email_link");
    for authentication in &recipient.authentications {
        method.push('+');
        method.push_str(authentication.channel.as_str());
        method.push_str("_otp");
    }
    method
}

/// Refuses to act before every factor the envelope asks for is proven, or once locked out.
fn authenticated(envelope: &Envelope, recipient: &Recipient) -> Result<(), EsignError> {
    if super::codes::locked(recipient) {
        return Err(super::codes::CodeRefusal::Locked.into());
    }
    match super::codes::pending_factor(envelope, recipient) {
        Some(channel) => Err(EsignError::Conflict {
            code: "authentication_required",
            message: format!("enter the one-time code sent by {} first", channel.as_str()),
        }),
        None => Ok(()),
    }
}

pub(super) fn not_found() -> EsignError {
    EsignError::NotFound {
        kind: "signing link",
        id: "(hidden)".into(),
    }
}

impl Esign {
    /// The envelope and recipient a token opens. Unknown, malformed and forged tokens are all
    /// the same `NotFound`; the final comparison is constant-time.
    pub(super) fn resolve_token(&self, token: &str) -> Result<(Envelope, usize), EsignError> {
        if token.len() != 43
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(not_found());
        }
        let target: TokenTarget =
            get_json(&self.store.sign_tokens, &token_hash(token))?.ok_or_else(not_found)?;
        let envelope = self
            .load_envelope(target.environment, &target.envelope_id)
            .map_err(|_| not_found())?;
        let index = envelope
            .recipients
            .iter()
            .position(|r| r.id == target.recipient_id)
            .ok_or_else(not_found)?;
        let expected = self.access_token(&envelope.recipients[index].id);
        if !bool::from(expected.as_bytes().ct_eq(token.as_bytes())) {
            return Err(not_found());
        }
        Ok((envelope, index))
    }

    pub(super) fn signing_view(&self, envelope: Envelope, index: usize) -> SigningView {
        let recipient = envelope.recipients[index].clone();
        let state = state_of(&envelope, &recipient);
        let pending_factor = super::codes::pending_factor(&envelope, &recipient);
        let locked = super::codes::locked(&recipient);
        SigningView {
            pending_factor,
            locked,
            envelope,
            recipient,
            state,
            sender: self.account.name.clone(),
            has_logo: self.logo.is_some(),
        }
    }

    /// Opens a signing link. The first opening while it is the recipient's turn records
    /// `recipient.viewed` (and the envelope becomes DELIVERED).
    pub fn open_signing(&self, token: &str, actor: &Actor) -> Result<SigningView, EsignError> {
        self.transition(|| self.open_signing_once(token, actor))
    }

    fn open_signing_once(&self, token: &str, actor: &Actor) -> Result<SigningView, EsignError> {
        let (envelope, index) = self.resolve_token(token)?;
        let state = state_of(&envelope, &envelope.recipients[index]);
        let first_view = envelope.recipients[index].viewed_at.is_none()
            && matches!(state, SigningState::YourTurn | SigningState::CopyInProgress);
        if !first_view {
            return Ok(self.signing_view(envelope, index));
        }
        let now = self.clock.now();
        let mut change = Change::new(envelope.clone(), Some(&envelope));
        let updated = &mut change.envelope;
        let recipient = &mut updated.recipients[index];
        recipient.viewed_at = Some(now);
        if recipient.status == RecipientStatus::Sent {
            recipient.status = RecipientStatus::Viewed;
        }
        let (email, id) = (recipient.email.clone(), recipient.id.clone());
        if updated.status == EnvelopeStatus::Sent {
            updated.status = EnvelopeStatus::Delivered;
            updated.delivered_at = Some(now);
        }
        updated.updated_at = now;
        change.events.push(EventDraft::by_recipient(
            EventKind::RecipientViewed,
            &email,
            &id,
            actor,
            json!({}),
        ));
        let committed = self.commit(change)?;
        Ok(self.signing_view(committed, index))
    }

    /// The refusal for acting when it is not this recipient's turn (or no longer possible).
    pub(super) fn refuse(view_state: &SigningState) -> EsignError {
        let (code, message) = match view_state {
            SigningState::NotSent => ("envelope_not_sent", "this envelope has not been sent yet"),
            SigningState::Waiting(_) => ("not_your_turn", "other recipients must sign before you"),
            SigningState::Voided => ("envelope_voided", "the sender voided this envelope"),
            SigningState::Expired => ("envelope_expired", "this envelope expired"),
            SigningState::Declined | SigningState::DeclinedByYou => {
                ("envelope_declined", "this envelope was declined")
            }
            SigningState::Completed => ("envelope_completed", "this envelope is already completed"),
            SigningState::CopyInProgress => (
                "not_a_signer",
                "you receive a copy of this envelope; there is nothing to sign",
            ),
            SigningState::Signed | SigningState::Approved | SigningState::YourTurn => {
                ("already_done", "you have already acted on this envelope")
            }
        };
        EsignError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// Signs as the token's recipient. Signing twice returns the first signature unchanged.
    /// Signs for the recipient of `token` (see [`Esign::transition`]).
    pub fn sign(
        &self,
        token: &str,
        input: SignInput,
        actor: &Actor,
    ) -> Result<SigningView, EsignError> {
        self.transition(|| self.sign_once(token, input.clone(), actor))
    }

    fn sign_once(
        &self,
        token: &str,
        input: SignInput,
        actor: &Actor,
    ) -> Result<SigningView, EsignError> {
        let (envelope, index) = self.resolve_token(token)?;
        let state = state_of(&envelope, &envelope.recipients[index]);
        if state == SigningState::Signed {
            return Ok(self.signing_view(envelope, index));
        }
        if state != SigningState::YourTurn
            || envelope.recipients[index].role != RecipientRole::Signer
        {
            return Err(Self::refuse(&state));
        }
        authenticated(&envelope, &envelope.recipients[index])?;
        let mut issues = Vec::new();
        if !input.consent {
            issues.push(FieldIssue::new("consent", "tick the consent box to sign"));
        }
        let typed_name = input.typed_name.trim().to_string();
        if typed_name.is_empty() {
            issues.push(FieldIssue::new("typed_name", "type your name to sign"));
        } else if let Err(issue) = check_text("typed_name", &typed_name, 200, false) {
            issues.push(issue);
        }
        if let Some(png) = &input.drawn_png {
            if let Err(issue) = check_signature_png(png) {
                issues.push(issue);
            }
        }
        let email = envelope.recipients[index].email.to_lowercase();
        let mut field_values = std::collections::BTreeMap::new();
        for (number, field) in envelope.fields.iter().enumerate() {
            if field.recipient_email.to_lowercase() != email {
                continue;
            }
            let number = number as u32;
            let name = format!("field_{number}");
            let given = input
                .field_values
                .get(&number)
                .map(|v| v.trim().to_string());
            match field.field_type {
                FieldType::Text => match given.filter(|v| !v.is_empty()) {
                    None => issues.push(FieldIssue::new(name, "fill in this field to sign")),
                    Some(value) => match check_text(&name, &value, 500, false) {
                        Ok(()) => {
                            field_values.insert(number, value);
                        }
                        Err(issue) => issues.push(issue),
                    },
                },
                FieldType::Checkbox => {
                    let ticked =
                        given.is_some_and(|v| matches!(v.as_str(), "true" | "on" | "1" | "yes"));
                    field_values.insert(number, ticked.to_string());
                }
                _ => {}
            }
        }
        if !issues.is_empty() {
            return Err(EsignError::Invalid(issues));
        }
        let image_sha256 = match &input.drawn_png {
            Some(png) => Some(self.store.blobs.put(png).map_err(StoreError::from)?),
            None => None,
        };
        let now = self.clock.now();
        let language = super::signing::page_language(&envelope);
        let mut change = Change::new(envelope.clone(), Some(&envelope));
        let recipient = &mut change.envelope.recipients[index];
        recipient.status = RecipientStatus::Signed;
        recipient.signed_at = Some(now);
        recipient.viewed_at.get_or_insert(now);
        let kind = if image_sha256.is_some() {
            SignatureKind::Drawn
        } else {
            SignatureKind::Typed
        };
        recipient.signature = Some(SignatureRecord {
            kind,
            typed_name: typed_name.clone(),
            image_sha256,
            consent_text: consent_text(language).to_string(),
            ip: actor.ip.clone(),
            user_agent: actor.user_agent.clone(),
            auth_method: auth_method_of(&envelope.recipients[index]),
            at: now,
            field_values,
        });
        let (email, id) = (recipient.email.clone(), recipient.id.clone());
        change.events.push(EventDraft::by_recipient(
            EventKind::RecipientSigned,
            &email,
            &id,
            actor,
            json!({ "signatureKind": kind, "typedName": typed_name, "consentText": consent_text(language) }),
        ));
        advance(&mut change, now);
        let committed = self.commit(change)?;
        Ok(self.signing_view(committed, index))
    }

    /// Approves as the token's recipient (an APPROVER). Approving twice is harmless.
    /// Approves for the recipient of `token`.
    pub fn approve(
        &self,
        token: &str,
        consent: bool,
        actor: &Actor,
    ) -> Result<SigningView, EsignError> {
        self.transition(|| self.approve_once(token, consent, actor))
    }

    fn approve_once(
        &self,
        token: &str,
        consent: bool,
        actor: &Actor,
    ) -> Result<SigningView, EsignError> {
        let (envelope, index) = self.resolve_token(token)?;
        let state = state_of(&envelope, &envelope.recipients[index]);
        if state == SigningState::Approved {
            return Ok(self.signing_view(envelope, index));
        }
        if state != SigningState::YourTurn
            || envelope.recipients[index].role != RecipientRole::Approver
        {
            return Err(Self::refuse(&state));
        }
        authenticated(&envelope, &envelope.recipients[index])?;
        if !consent {
            return Err(EsignError::Invalid(vec![FieldIssue::new(
                "consent",
                "tick the box to approve",
            )]));
        }
        let now = self.clock.now();
        let mut change = Change::new(envelope.clone(), Some(&envelope));
        let recipient = &mut change.envelope.recipients[index];
        recipient.status = RecipientStatus::Approved;
        recipient.approved_at = Some(now);
        recipient.viewed_at.get_or_insert(now);
        let (email, id) = (recipient.email.clone(), recipient.id.clone());
        change.events.push(EventDraft::by_recipient(
            EventKind::RecipientApproved,
            &email,
            &id,
            actor,
            json!({}),
        ));
        advance(&mut change, now);
        let committed = self.commit(change)?;
        Ok(self.signing_view(committed, index))
    }

    /// Declines as the token's recipient; the envelope ends DECLINED with the reason.
    /// Declines for the recipient of `token`.
    pub fn decline(
        &self,
        token: &str,
        reason: &str,
        actor: &Actor,
    ) -> Result<SigningView, EsignError> {
        self.transition(|| self.decline_once(token, reason, actor))
    }

    fn decline_once(
        &self,
        token: &str,
        reason: &str,
        actor: &Actor,
    ) -> Result<SigningView, EsignError> {
        let (envelope, index) = self.resolve_token(token)?;
        let state = state_of(&envelope, &envelope.recipients[index]);
        if state == SigningState::DeclinedByYou {
            return Ok(self.signing_view(envelope, index));
        }
        if state != SigningState::YourTurn {
            return Err(Self::refuse(&state));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(EsignError::Invalid(vec![FieldIssue::new(
                "reason",
                "say why you decline",
            )]));
        }
        check_text("reason", reason, 1000, true)
            .map_err(|issue| EsignError::Invalid(vec![issue]))?;
        let now = self.clock.now();
        let mut change = Change::new(envelope.clone(), Some(&envelope));
        let updated = &mut change.envelope;
        let recipient = &mut updated.recipients[index];
        recipient.status = RecipientStatus::Declined;
        recipient.declined_at = Some(now);
        recipient.decline_reason = Some(reason.to_string());
        recipient.viewed_at.get_or_insert(now);
        let (email, id) = (recipient.email.clone(), recipient.id.clone());
        updated.status = EnvelopeStatus::Declined;
        updated.declined_at = Some(now);
        updated.decline_reason = Some(reason.to_string());
        updated.updated_at = now;
        change.mails = notify_invited(updated, MailKind::Declined)
            .into_iter()
            .filter(|(_, recipient_id)| *recipient_id != id)
            .collect();
        change.events.push(EventDraft::by_recipient(
            EventKind::EnvelopeDeclined,
            &email,
            &id,
            actor,
            json!({ "decline_reason": reason }),
        ));
        let committed = self.commit(change)?;
        Ok(self.signing_view(committed, index))
    }

    /// A document of the envelope as its recipient may see it.
    /// Document `index` of the envelope a token opens, if its holder may see the documents.
    pub(super) fn visible_document(
        &self,
        token: &str,
        index: usize,
    ) -> Result<EnvelopeDocument, EsignError> {
        let (envelope, recipient_index) = self.resolve_token(token)?;
        let view = self.signing_view(envelope, recipient_index);
        view.envelope
            .documents
            .get(index)
            .filter(|_| view.documents_visible())
            .cloned()
            .ok_or_else(not_found)
    }

    pub fn signing_document(
        &self,
        token: &str,
        index: usize,
    ) -> Result<(EnvelopeDocument, Vec<u8>), EsignError> {
        let document = self.visible_document(token, index)?;
        let bytes = self.store.blobs.get(&document.sha256)?.ok_or_else(|| {
            StoreError::Io(std::io::Error::other(format!(
                "blob {} is missing",
                document.sha256
            )))
        })?;
        Ok((document, bytes))
    }
}

/// After someone signed or approved: hand the envelope to sealing when everyone is done (it
/// turns COMPLETED once the sealed files exist), or invite the next group.
fn advance(change: &mut Change<'_>, now: chrono::DateTime<chrono::Utc>) {
    let envelope = &mut change.envelope;
    envelope.updated_at = now;
    if envelope.current_order().is_none() {
        envelope.status = EnvelopeStatus::PartiallySigned;
        envelope.sealing = true;
        change.seal = true;
    } else {
        envelope.status = EnvelopeStatus::PartiallySigned;
        invite_current_group(change, now);
    }
}

fn check_signature_png(png: &[u8]) -> Result<(), FieldIssue> {
    if png.len() > MAX_SIGNATURE_PNG {
        return Err(FieldIssue::new(
            "signature",
            "the drawn signature is too large",
        ));
    }
    if crate::pdf::sniff_image(png) != Some(crate::pdf::ImageKind::Png) {
        return Err(FieldIssue::new(
            "signature",
            "the drawn signature must be a PNG image",
        ));
    }
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    match decoder.read_info() {
        Ok(reader) if reader.info().width <= 4000 && reader.info().height <= 4000 => Ok(()),
        Ok(_) => Err(FieldIssue::new(
            "signature",
            "the drawn signature is too large",
        )),
        Err(_) => Err(FieldIssue::new(
            "signature",
            "the drawn signature is not a readable PNG",
        )),
    }
}
