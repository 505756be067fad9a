//! The evidence of a finished envelope: the signed document (stamped pages, signature sheet,
//! certificate page, PAdES seal) and the sealed audit trail, made after the last signature.
//! The envelope turns COMPLETED — and `envelope.completed` is recorded — in the same commit
//! that references the sealed files, so a client that sees COMPLETED can always download.

use super::lifecycle::{event_hash, materialize_events, Change, EventDraft};
use super::model::{
    Envelope, EnvelopeStatus, Environment, Event, EventKind, FieldType, MailKind, Recipient,
    RecipientRole, SealedFile,
};
use super::{env_key, Esign, EsignError};
use crate::ids::IdKind;
use crate::pdf::evidence::{self, AuditLine, AuditTrail, CertifiedRecipient, DocumentHashes};
use crate::pdf::identity::SealIdentity;
use crate::pdf::layout::{find_anchor, PageGeometry, Rect};
use crate::pdf::seal::{seal_pdf, PadesLevel, SealRequest, TrustServices};
use crate::pdf::stamp::{stamp_pdf, StampContent, StampItem};
use crate::pdf::{incremental, PdfError};
use crate::store::{get_json, StoreError};
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

/// What sealing needs besides the envelope: the platform's identity, the PAdES level to reach
/// and the services that level needs (a time-stamp authority, revocation data).
pub struct Sealer<'a> {
    pub identity: &'a SealIdentity,
    pub level: PadesLevel,
    pub services: TrustServices<'a>,
}

/// How an envelope's audit chain checks out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub events: usize,
    /// The first event (by position, from 0) whose hash or link does not hold, and why.
    pub broken_at: Option<(usize, String)>,
    pub head: Option<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn name_of<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|word| word.chars().next())
        .flat_map(char::to_uppercase)
        .collect()
}

fn seal_failed(err: impl std::fmt::Display) -> EsignError {
    EsignError::UnusablePdf(PdfError::Seal(err.to_string()))
}

impl Esign {
    /// Envelopes whose last signature is in and whose evidence is still to be made.
    pub fn envelopes_to_seal(&self) -> Result<Vec<(Environment, String)>, EsignError> {
        let mut found = Vec::new();
        for key in self.store.in_flight.iter().keys() {
            let key = key?;
            if let Some(envelope) = get_json::<Envelope>(&self.store.envelopes, &key)? {
                if envelope.sealing {
                    found.push((envelope.environment, envelope.id));
                }
            }
        }
        Ok(found)
    }

    fn signature_content(
        &self,
        envelope: &Envelope,
        recipient: &Recipient,
    ) -> Result<Option<StampContent>, EsignError> {
        let Some(signature) = &recipient.signature else {
            return Ok(None);
        };
        if recipient.role != RecipientRole::Signer {
            return Ok(None);
        }
        let png = match &signature.image_sha256 {
            Some(sha) => self.store.blobs.get(sha).map_err(StoreError::from)?,
            None => None,
        };
        Ok(Some(StampContent::Signature {
            png,
            typed_name: signature.typed_name.clone(),
            caption: format!(
                "signed by {} · {} · {}",
                signature.typed_name,
                signature.at.format("%Y-%m-%d %H:%M UTC"),
                envelope.id
            ),
        }))
    }

    /// The stamps of one document: every field of every signer who signed, plus initials on
    /// every page when the envelope asks for them.
    fn stamps_for(
        &self,
        envelope: &Envelope,
        document_index: usize,
        original: &[u8],
    ) -> Result<Vec<StampItem>, EsignError> {
        let document = incremental::load(original)?;
        let pages: Vec<_> = document.get_pages().into_values().collect();
        let mut items = Vec::new();
        for (number, field) in envelope.fields.iter().enumerate() {
            if field.document_index as usize != document_index {
                continue;
            }
            let Some(recipient) = envelope
                .recipients
                .iter()
                .find(|r| r.email.eq_ignore_ascii_case(&field.recipient_email))
            else {
                continue;
            };
            let Some(signature) = &recipient.signature else {
                continue;
            };
            let content = match field.field_type {
                FieldType::Signature => match self.signature_content(envelope, recipient)? {
                    Some(content) => content,
                    None => continue,
                },
                FieldType::Initials => StampContent::Initials(initials(&signature.typed_name)),
                FieldType::DateSigned => {
                    StampContent::Text(signature.at.format("%Y-%m-%d").to_string())
                }
                FieldType::Text => match signature.field_values.get(&(number as u32)) {
                    Some(value) => StampContent::Text(value.clone()),
                    None => continue,
                },
                FieldType::Checkbox => StampContent::Checkbox(
                    signature
                        .field_values
                        .get(&(number as u32))
                        .map(String::as_str)
                        == Some("true"),
                ),
                _ => continue,
            };
            let Some((page, rect)) = place_field(&document, &pages, field)? else {
                continue;
            };
            items.push(StampItem {
                page,
                rect,
                content,
            });
        }
        if envelope.initials_on_every_page {
            let signers: Vec<&Recipient> = envelope
                .recipients
                .iter()
                .filter(|r| r.role == RecipientRole::Signer && r.signature.is_some())
                .collect();
            for (page_index, page_id) in pages.iter().enumerate() {
                let (width, height) = PageGeometry::of(&document, *page_id).display_size();
                for (slot, signer) in signers.iter().enumerate() {
                    let typed = signer
                        .signature
                        .as_ref()
                        .map(|s| s.typed_name.as_str())
                        .unwrap_or("");
                    items.push(StampItem {
                        page: page_index as u32 + 1,
                        rect: Rect {
                            x: (width - 56.0 - 46.0 * slot as f64).max(0.0),
                            y: (height - 34.0).max(0.0),
                            width: 40.0,
                            height: 22.0,
                        },
                        content: StampContent::Initials(initials(typed)),
                    });
                }
            }
        }
        Ok(items)
    }

    fn certified_recipients(
        &self,
        envelope: &Envelope,
    ) -> Result<Vec<CertifiedRecipient>, EsignError> {
        let mut out = Vec::new();
        for recipient in &envelope.recipients {
            let Some(signature) = &recipient.signature else {
                continue;
            };
            let action = if recipient.role == RecipientRole::Approver {
                "Approved"
            } else {
                "Signed"
            };
            out.push(CertifiedRecipient {
                name: recipient.name.clone(),
                email: recipient.email.clone(),
                role: name_of(&recipient.role),
                auth_method: certified_auth_method(&signature.auth_method, recipient),
                action: action.into(),
                at: utc(signature.at),
                ip: signature.ip.clone().unwrap_or_else(|| "—".into()),
                user_agent: signature.user_agent.clone().unwrap_or_else(|| "—".into()),
                signature: self.signature_content(envelope, recipient)?,
            });
        }
        Ok(out)
    }

    /// Makes the evidence of an envelope whose last signature is in and commits it as
    /// COMPLETED — or, when its documents cannot be sealed even rewritten, ends it with
    /// [`Esign::fail_sealing`]. Returns false when there was nothing to do. Other errors
    /// (a time-stamp authority that did not answer, storage) are worth retrying.
    pub fn seal_envelope(
        &self,
        environment: Environment,
        id: &str,
        sealer: &Sealer<'_>,
    ) -> Result<bool, EsignError> {
        match self.complete_with_evidence(environment, id, sealer) {
            Err(EsignError::Unsealable(reason)) => {
                tracing::error!(envelope = %id, reason = %reason, "the signed documents cannot be sealed; voiding the envelope and telling the sender");
                self.fail_sealing(environment, id, &reason)
            }
            other => other,
        }
    }

    fn complete_with_evidence(
        &self,
        environment: Environment,
        id: &str,
        sealer: &Sealer<'_>,
    ) -> Result<bool, EsignError> {
        let current = self.load_envelope(environment, id)?;
        if !current.sealing {
            return Ok(false);
        }
        let now = self.clock.now();
        let mut hashes = Vec::new();
        let mut stamped_documents = Vec::new();
        let last = current.documents.len().saturating_sub(1);
        for (index, document) in current.documents.iter().enumerate() {
            let original = self
                .store
                .blobs
                .get(&document.sha256)
                .map_err(StoreError::from)?
                .ok_or_else(|| StoreError::Io(std::io::Error::other("document file missing")))?;
            let sheet = if index == last {
                let without_field: Vec<(String, String, StampContent)> = current
                    .recipients
                    .iter()
                    .filter(|r| r.role == RecipientRole::Signer)
                    .filter(|r| {
                        !current.fields.iter().any(|f| {
                            f.field_type == FieldType::Signature
                                && f.recipient_email.eq_ignore_ascii_case(&r.email)
                        })
                    })
                    .filter_map(|r| {
                        self.signature_content(&current, r)
                            .ok()
                            .flatten()
                            .map(|c| (r.name.clone(), r.email.clone(), c))
                    })
                    .collect();
                if without_field.is_empty() {
                    None
                } else {
                    Some(
                        evidence::signature_sheet(&current.id, &current.subject, &without_field)
                            .map_err(seal_failed)?,
                    )
                }
            } else {
                None
            };
            let extra: Vec<&[u8]> = sheet.as_deref().into_iter().collect();
            let first_try = self
                .stamps_for(&current, index, &original)
                .and_then(|items| Ok(stamp_pdf(&original, &items, &extra)?));
            let stamped = match first_try {
                Ok(stamped) => stamped,
                Err(EsignError::UnusablePdf(first)) => {
                    // The upload passed a sealing trial, so this is a file the trial did not
                    // foresee (or limits lowered since): rewrite it once, find the fields
                    // again and go on; if that fails too, retrying cannot help.
                    tracing::warn!(envelope = %current.id, document = %document.name, error = %first, "stamping failed; rewriting the document and trying again");
                    let unsealable = |second: &dyn std::fmt::Display| {
                        let second = second.to_string();
                        let after = if second == first.to_string() {
                            "also after rewriting it".to_string()
                        } else {
                            format!("after rewriting it: {second}")
                        };
                        EsignError::Unsealable(format!(
                            "document `{}`: {first} ({after})",
                            document.name
                        ))
                    };
                    let rewritten = crate::pdf::admission::normalise_bytes(&original)
                        .map_err(|err| unsealable(&err))?;
                    let items = self
                        .stamps_for(&current, index, &rewritten)
                        .map_err(|err| unsealable(&err))?;
                    stamp_pdf(&rewritten, &items, &extra).map_err(|err| unsealable(&err))?
                }
                Err(other) => return Err(other),
            };
            hashes.push(DocumentHashes {
                name: document.name.clone(),
                pages: incremental::load(&stamped)?.get_pages().len() as u32,
                sha256_before: document.sha256.clone(),
                sha256_after: sha256_hex(&stamped),
            });
            stamped_documents.push(stamped);
        }

        // The completion event is fixed now, so the sealed audit trail can already list it.
        let done = current.recipients.iter().filter(|r| r.is_done()).count();
        let mut completion = EventDraft::by_system(
            EventKind::EnvelopeCompleted,
            None,
            json!({
                "signedCount": done,
                "recipientCount": current.recipients.len(),
                "documents": hashes.iter().map(|h| json!({
                    "name": h.name, "sha256Before": h.sha256_before, "sha256After": h.sha256_after
                })).collect::<Vec<_>>(),
            }),
        );
        completion.id = Some(self.ids.next(IdKind::Event));
        let mut preview = current.clone();
        let completion_events = materialize_events(
            &mut preview,
            vec![completion.clone()],
            now,
            || unreachable!(),
        );
        let chain_head = preview.last_event_hash.clone().unwrap_or_default();
        let mut events = self.envelope_events(&current)?;
        events.extend(completion_events);

        let certificate = evidence::Certificate {
            envelope_id: current.id.clone(),
            subject: current.subject.clone(),
            sender: self.account_name().to_string(),
            sent_at: current.sent_at.map(utc).unwrap_or_default(),
            completed_at: utc(now),
            sealed_by: sealer.identity.subject(),
            recipients: self.certified_recipients(&current)?,
            documents: hashes.clone(),
            chain_head: chain_head.clone(),
        };
        let certificate_pdf = evidence::certificate_page(&certificate).map_err(seal_failed)?;
        let mut appended: Vec<&[u8]> = stamped_documents[1..].iter().map(Vec::as_slice).collect();
        appended.push(&certificate_pdf);
        let assembled = stamp_pdf(&stamped_documents[0], &[], &appended)?;
        let request = SealRequest {
            identity: sealer.identity,
            field_name: "Signbridge seal".into(),
            reason: format!("Signed document of envelope {}", current.id),
            location: None,
            contact: None,
            at: now,
        };
        let signed = seal_pdf(&assembled, &request, sealer.level, sealer.services)?;
        let trail = self.audit_trail_document(&current, &events, &hashes, now, "COMPLETED")?;
        let trail = seal_pdf(
            &trail,
            &SealRequest {
                reason: format!("Audit trail of envelope {}", current.id),
                field_name: "Signbridge audit seal".into(),
                ..request.clone()
            },
            sealer.level,
            sealer.services,
        )?;

        let signed_sha = self.store.blobs.put(&signed).map_err(StoreError::from)?;
        let trail_sha = self.store.blobs.put(&trail).map_err(StoreError::from)?;
        let mut change = Change::new(current.clone(), Some(&current));
        change.at = Some(now);
        let envelope = &mut change.envelope;
        envelope.status = EnvelopeStatus::Completed;
        envelope.completed_at = Some(now);
        envelope.updated_at = now;
        envelope.sealing = false;
        for (document, hash) in envelope.documents.iter_mut().zip(&hashes) {
            document.signed_sha256 = Some(hash.sha256_after.clone());
        }
        envelope.signed_document = Some(SealedFile {
            sha256: signed_sha.clone(),
            size: signed.len() as u64,
            chain_head: chain_head.clone(),
        });
        envelope.audit_trail = Some(SealedFile {
            sha256: trail_sha.clone(),
            size: trail.len() as u64,
            chain_head,
        });
        change.mails = envelope
            .recipients
            .iter()
            .map(|r| (MailKind::Completed, r.id.clone()))
            .collect();
        change.events.push(completion);
        change.new_blobs = vec![signed_sha, trail_sha];
        self.commit(change)?;
        Ok(true)
    }

    /// Ends a sealing envelope whose documents cannot be sealed: it is voided with the
    /// reason (`envelope.voided`, with `"cause": "sealing_failed"`), the invited recipients
    /// get the voided mail and the sender a mail saying what happened and what to do. A
    /// signature is never left waiting for a seal that cannot come.
    fn fail_sealing(
        &self,
        environment: Environment,
        id: &str,
        reason: &str,
    ) -> Result<bool, EsignError> {
        let current = self.load_envelope(environment, id)?;
        if !current.sealing {
            return Ok(false);
        }
        let now = self.clock.now();
        let reason: String = format!("The signed documents could not be sealed: {reason}")
            .chars()
            .take(500)
            .collect();
        let mut change = Change::new(current.clone(), Some(&current));
        change.at = Some(now);
        super::lifecycle::void_transition(&mut change, &reason, now);
        change.mails.push((
            MailKind::SealingFailed,
            super::model::SENDER_RECIPIENT_ID.to_string(),
        ));
        change.events.push(EventDraft::by_system(
            EventKind::EnvelopeVoided,
            None,
            json!({ "reason": reason, "cause": "sealing_failed" }),
        ));
        self.commit(change)?;
        Ok(true)
    }

    /// The events of the envelope `id`, oldest first.
    pub fn events_of(&self, environment: Environment, id: &str) -> Result<Vec<Event>, EsignError> {
        self.envelope_events(&self.load_envelope(environment, id)?)
    }

    /// The events of an envelope, oldest first (their hash chain's order).
    pub fn envelope_events(&self, envelope: &Envelope) -> Result<Vec<Event>, EsignError> {
        let prefix = env_key(envelope.environment, &format!("{}/", envelope.id));
        let mut events = Vec::new();
        for item in self.store.events.scan_prefix(&prefix) {
            let (_, value) = item?;
            events.push(serde_json::from_slice::<Event>(&value).map_err(StoreError::from)?);
        }
        // Ids are time-ordered, but events committed together share a millisecond: follow the
        // chain from its start instead.
        let mut ordered = Vec::with_capacity(events.len());
        let mut previous: Option<String> = None;
        while !events.is_empty() {
            let Some(position) = events.iter().position(|e| e.prev_hash == previous) else {
                // A broken chain: keep the rest in id order so the break shows.
                ordered.append(&mut events);
                break;
            };
            let event = events.remove(position);
            previous = Some(event.hash.clone());
            ordered.push(event);
        }
        Ok(ordered)
    }

    /// Recomputes an envelope's audit chain from the stored events.
    pub fn check_audit_chain(
        &self,
        environment: Environment,
        id: &str,
    ) -> Result<ChainReport, EsignError> {
        let envelope = self.load_envelope(environment, id)?;
        let prefix = env_key(environment, &format!("{id}/"));
        let mut events = Vec::new();
        for item in self.store.events.scan_prefix(&prefix) {
            let (_, value) = item?;
            match serde_json::from_slice::<Event>(&value) {
                Ok(event) => events.push(event),
                Err(err) => {
                    return Ok(ChainReport {
                        events: events.len() + 1,
                        broken_at: Some((events.len(), format!("an event cannot be read: {err}"))),
                        head: envelope.last_event_hash,
                    })
                }
            }
        }
        let ordered = self.envelope_events(&envelope)?;
        let mut previous: Option<&str> = None;
        let mut broken_at = None;
        for (position, event) in ordered.iter().enumerate() {
            if event.prev_hash.as_deref() != previous {
                broken_at = Some((
                    position,
                    format!("event {} does not link to the one before it", event.id),
                ));
                break;
            }
            if event_hash(event) != event.hash {
                broken_at = Some((
                    position,
                    format!(
                        "event {} was altered: its content no longer matches its hash",
                        event.id
                    ),
                ));
                break;
            }
            previous = Some(&event.hash);
        }
        if broken_at.is_none() && previous.map(str::to_string) != envelope.last_event_hash {
            broken_at = Some((
                ordered.len(),
                "the newest event is missing: the chain ends before the envelope's recorded head"
                    .into(),
            ));
        }
        Ok(ChainReport {
            events: ordered.len(),
            broken_at,
            head: envelope.last_event_hash,
        })
    }

    fn audit_trail_document(
        &self,
        envelope: &Envelope,
        events: &[Event],
        documents: &[DocumentHashes],
        generated_at: DateTime<Utc>,
        status: &str,
    ) -> Result<Vec<u8>, EsignError> {
        let lines = events
            .iter()
            .map(|event| AuditLine {
                at: utc(event.occurred_at),
                event: name_of(&event.kind),
                actor: event.actor.clone(),
                ip: event.ip.clone().unwrap_or_else(|| "—".into()),
                user_agent: event.user_agent.clone().unwrap_or_else(|| "—".into()),
                auth_method: event.auth_method.clone().unwrap_or_else(|| "—".into()),
                details: audit_details(&event.details),
                hash: event.hash.clone(),
                previous_hash: event.prev_hash.clone().unwrap_or_else(|| "—".into()),
            })
            .collect();
        let trail = AuditTrail {
            envelope_id: envelope.id.clone(),
            subject: envelope.subject.clone(),
            status: status.to_string(),
            generated_at: utc(generated_at),
            documents: documents.to_vec(),
            chain_head: events.last().map(|e| e.hash.clone()).unwrap_or_default(),
            events: lines,
        };
        evidence::audit_trail(&trail).map_err(seal_failed)
    }

    /// The sealed, signed document of a COMPLETED envelope.
    pub fn signed_document(
        &self,
        environment: Environment,
        id: &str,
    ) -> Result<Vec<u8>, EsignError> {
        let envelope = self.load_envelope(environment, id)?;
        match (&envelope.status, &envelope.signed_document) {
            (EnvelopeStatus::Completed, Some(file)) => self
                .store
                .blobs
                .get(&file.sha256)
                .map_err(StoreError::from)?
                .ok_or_else(|| {
                    StoreError::Io(std::io::Error::other("signed document file missing")).into()
                }),
            _ => Err(not_completed(&envelope, "COMPLETED")),
        }
    }

    /// The sealed audit trail of a finished envelope (completed, declined, voided or expired).
    /// For the ones that did not complete it is made on first request and kept.
    pub fn audit_trail(
        &self,
        environment: Environment,
        id: &str,
        sealer: &Sealer<'_>,
    ) -> Result<Vec<u8>, EsignError> {
        let envelope = self.load_envelope(environment, id)?;
        let finished = matches!(
            envelope.status,
            EnvelopeStatus::Completed
                | EnvelopeStatus::Declined
                | EnvelopeStatus::Voided
                | EnvelopeStatus::Expired
        );
        if !finished {
            return Err(not_completed(
                &envelope,
                "finished (completed, declined, voided or expired)",
            ));
        }
        let head = envelope.last_event_hash.clone().unwrap_or_default();
        if let Some(file) = &envelope.audit_trail {
            if let Some(bytes) = self
                .store
                .blobs
                .get(&file.sha256)
                .map_err(StoreError::from)?
            {
                return Ok(bytes);
            }
        }
        let cache_key = env_key(environment, id);
        if let Some(file) = get_json::<SealedFile>(&self.store.audit_trails, &cache_key)? {
            if file.chain_head == head {
                if let Some(bytes) = self
                    .store
                    .blobs
                    .get(&file.sha256)
                    .map_err(StoreError::from)?
                {
                    return Ok(bytes);
                }
            }
        }
        let now = self.clock.now();
        let events = self.envelope_events(&envelope)?;
        let documents: Vec<DocumentHashes> = envelope
            .documents
            .iter()
            .map(|d| DocumentHashes {
                name: d.name.clone(),
                pages: d.page_count,
                sha256_before: d.sha256.clone(),
                sha256_after: d
                    .signed_sha256
                    .clone()
                    .unwrap_or_else(|| "— (not signed)".into()),
            })
            .collect();
        let trail = self.audit_trail_document(
            &envelope,
            &events,
            &documents,
            now,
            envelope.status.as_str(),
        )?;
        let sealed = seal_pdf(
            &trail,
            &SealRequest {
                identity: sealer.identity,
                field_name: "Signbridge audit seal".into(),
                reason: format!("Audit trail of envelope {}", envelope.id),
                location: None,
                contact: None,
                at: now,
            },
            sealer.level,
            sealer.services,
        )?;
        let sha256 = self.store.blobs.put(&sealed).map_err(StoreError::from)?;
        let record = SealedFile {
            sha256,
            size: sealed.len() as u64,
            chain_head: head,
        };
        self.store
            .audit_trails
            .insert(cache_key, crate::store::encode(&record)?)?;
        self.store.flush_blocking()?;
        Ok(sealed)
    }
}

fn audit_details(details: &serde_json::Value) -> String {
    match details {
        serde_json::Value::Object(map) if map.is_empty() => String::new(),
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(key, _)| key.as_str() != "documents")
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => format!("{key}: {text}"),
                other => format!("{key}: {other}"),
            })
            .collect::<Vec<_>>()
            .join(" · "),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn not_completed(envelope: &Envelope, wanted: &str) -> EsignError {
    EsignError::Conflict {
        code: "envelope_not_completed",
        message: format!(
            "envelope {} is {}{}; this is available once it is {wanted}",
            envelope.id,
            envelope.status.as_str(),
            if envelope.sealing {
                " (being sealed)"
            } else {
                ""
            }
        ),
    }
}

/// Where a field goes on its document: its page (from 1) and its box from the page's top-left
/// in points, kept on the page — `None` when its page does not exist. An anchor that is no
/// longer in the document is an error. Stamping and the signing page place fields alike.
pub(crate) fn place_field(
    document: &lopdf::Document,
    pages: &[lopdf::ObjectId],
    field: &super::model::Field,
) -> Result<Option<(u32, Rect)>, EsignError> {
    let (page, rect) = match &field.anchor_text {
        Some(anchor) => {
            let budget = crate::pdf::DecodeBudget::default();
            let found = find_anchor(document, anchor, field.anchor_index as usize, &budget);
            budget.outcome().map_err(EsignError::UnusablePdf)?;
            let (page, found) = found.ok_or_else(|| {
                seal_failed(format!(
                    "anchor text `{anchor}` is no longer in the document"
                ))
            })?;
            let (width, height) = (field.width, field.height);
            let gap = 4.0;
            let rect = match field.anchor_placement {
                super::model::AnchorPlacement::Right => Rect {
                    x: found.x + found.width + gap,
                    y: found.y + found.height / 2.0 - height / 2.0,
                    width,
                    height,
                },
                super::model::AnchorPlacement::Left => Rect {
                    x: found.x - gap - width,
                    y: found.y + found.height / 2.0 - height / 2.0,
                    width,
                    height,
                },
                super::model::AnchorPlacement::Below => Rect {
                    x: found.x,
                    y: found.y + found.height + gap,
                    width,
                    height,
                },
                super::model::AnchorPlacement::Above => Rect {
                    x: found.x,
                    y: found.y - gap - height,
                    width,
                    height,
                },
            };
            (page, rect)
        }
        None => (
            field.page_number,
            Rect {
                x: field.x,
                y: field.y,
                width: field.width,
                height: field.height,
            },
        ),
    };
    let Some(page_id) = (page as usize).checked_sub(1).and_then(|i| pages.get(i)) else {
        return Ok(None);
    };
    let (page_width, page_height) = PageGeometry::of(document, *page_id).display_size();
    let rect = Rect {
        x: rect.x.clamp(0.0, (page_width - rect.width).max(0.0)),
        y: rect.y.clamp(0.0, (page_height - rect.height).max(0.0)),
        ..rect
    };
    Ok(Some((page, rect)))
}

/// How a recipient was authenticated, for the certificate page: the method, then each
/// one-time code proven — channel, masked destination, time, IP.
fn certified_auth_method(method: &str, recipient: &Recipient) -> String {
    let mut line = method.to_string();
    for factor in &recipient.authentications {
        line.push_str(&format!(
            "; {} code to {} verified {} from {}",
            match factor.channel {
                super::model::CodeChannel::Email => "email",
                super::model::CodeChannel::Sms => "SMS",
            },
            factor.destination,
            utc(factor.verified_at),
            factor.ip.as_deref().unwrap_or("—"),
        ));
    }
    line
}
