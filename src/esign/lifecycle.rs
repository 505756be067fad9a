//! How envelopes move: the one place changes are committed (record, indexes, events and queued
//! emails in one transaction), sending with routing order, completion, voiding, expiry and
//! reminders.

use super::model::{
    Envelope, EnvelopeStatus, Environment, Event, EventKind, EventNotice, MailJob, MailKind,
    RecipientStatus, TokenTarget,
};
use super::validate::{check_text, FieldIssue};
use super::views::EnvelopeView;
use super::{env_key, Esign, EsignError};
use crate::ids::IdKind;
use crate::store::listing;
use crate::store::{encode, StoreError};
use crate::store::{Bytes, ConflictableTransactionError, TxResult, TxTree};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Who caused a change and from where (for the audit trail).
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// An event about to be recorded (id, time and hash are added on commit).
#[derive(Debug, Clone)]
pub(super) struct EventDraft {
    /// Fixed in advance when the event must be known before it is committed (the completion
    /// events, which the sealed audit trail already lists).
    pub id: Option<String>,
    pub kind: EventKind,
    pub actor: String,
    pub recipient_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub auth_method: Option<String>,
    pub details: Value,
}

impl EventDraft {
    pub fn by_api(kind: EventKind, details: Value) -> Self {
        Self {
            id: None,
            kind,
            actor: "api".into(),
            recipient_id: None,
            ip: None,
            user_agent: None,
            auth_method: Some("api_key".into()),
            details,
        }
    }

    pub fn by_system(kind: EventKind, recipient_id: Option<&str>, details: Value) -> Self {
        Self {
            id: None,
            kind,
            actor: "system".into(),
            recipient_id: recipient_id.map(str::to_string),
            ip: None,
            user_agent: None,
            auth_method: None,
            details,
        }
    }

    pub fn by_recipient(
        kind: EventKind,
        email: &str,
        recipient_id: &str,
        actor: &Actor,
        details: Value,
    ) -> Self {
        Self {
            id: None,
            kind,
            actor: email.to_string(),
            recipient_id: Some(recipient_id.to_string()),
            ip: actor.ip.clone(),
            user_agent: actor.user_agent.clone(),
            auth_method: Some("email_link".into()),
            details,
        }
    }
}

/// Everything one change writes.
pub(super) struct Change<'a> {
    pub envelope: Envelope,
    pub previous: Option<&'a Envelope>,
    /// (store key, record, sha256) of documents created with the envelope.
    pub new_documents: Vec<(Vec<u8>, Vec<u8>, String)>,
    pub creation_location: Option<Vec<u8>>,
    pub events: Vec<EventDraft>,
    pub mails: Vec<(MailKind, String)>,
    /// The envelope is ready for sealing (wakes the sealing worker).
    pub seal: bool,
    /// The time the change happens at, when fixed in advance.
    pub at: Option<DateTime<Utc>>,
    /// Evidence files (blobs) this change starts referencing.
    pub new_blobs: Vec<String>,
}

impl<'a> Change<'a> {
    pub fn new(envelope: Envelope, previous: Option<&'a Envelope>) -> Self {
        Self {
            envelope,
            previous,
            new_documents: Vec::new(),
            creation_location: None,
            events: Vec::new(),
            mails: Vec::new(),
            seal: false,
            at: None,
            new_blobs: Vec::new(),
        }
    }
}

/// How many times an operation is decided afresh when the envelope changed underneath it.
const TRANSITION_ATTEMPTS: usize = 8;

/// Inside a transaction: aborts with [`StoreError::Changed`] unless the stored envelope at
/// `location` has `expected` as its version (`None`: no envelope there yet).
pub(super) fn expect_version(
    envelopes: &TxTree<'_>,
    location: &[u8],
    expected: Option<u64>,
) -> TxResult<()> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        #[serde(default)]
        version: u64,
    }
    let stored = match envelopes.get(location)? {
        Some(bytes) => Some(
            crate::store::decode::<Versioned>(&bytes)
                .map_err(ConflictableTransactionError::Abort)?
                .version,
        ),
        None => None,
    };
    if stored == expected {
        Ok(())
    } else {
        Err(ConflictableTransactionError::Abort(StoreError::Changed))
    }
}

/// The error of a commit that lost its compare-and-set: another change won.
pub(super) fn changed_underneath(err: StoreError) -> EsignError {
    match err {
        StoreError::Changed => EsignError::Conflict {
            code: ENVELOPE_CHANGED,
            message:
                "the envelope changed while this request was being handled; reload it and try again"
                    .into(),
        },
        StoreError::Gone(document_id) => EsignError::Conflict {
            code: "document_missing",
            message: format!(
                "document {document_id} was deleted while this request was being handled; update the envelope's documentIds"
            ),
        },
        other => EsignError::Store(other),
    }
}

/// The conflict code of a lost compare-and-set.
pub const ENVELOPE_CHANGED: &str = "envelope_changed";

impl Esign {
    /// Commits a change of background work (expiry, reminders); false when another change
    /// won meanwhile (nothing was written; the work is looked at again on its next round).
    pub(super) fn commit_unless_overtaken(&self, change: Change<'_>) -> Result<bool, EsignError> {
        match self.commit(change) {
            Ok(_) => Ok(true),
            Err(EsignError::Conflict { code, .. }) if code == ENVELOPE_CHANGED => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Runs `operation` — which reads an envelope, decides and commits — until its commit
    /// is not overtaken by another change: each attempt decides afresh on the state that
    /// won, so of two conflicting requests exactly one wins and the other gets the answer
    /// the new state calls for (often a 409 of its own). Every operation that changes an
    /// envelope goes through here; [`Esign::commit`]'s compare-and-set is what makes it safe.
    pub(super) fn transition<T>(
        &self,
        mut operation: impl FnMut() -> Result<T, EsignError>,
    ) -> Result<T, EsignError> {
        let mut attempt = 1;
        loop {
            match operation() {
                Err(EsignError::Conflict { code, .. })
                    if code == ENVELOPE_CHANGED && attempt < TRANSITION_ATTEMPTS =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

pub(super) fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The hash of an event: SHA-256 over the previous hash and the event's content.
pub fn event_hash(event: &Event) -> String {
    let mut content = event.clone();
    content.hash = String::new();
    let mut hasher = Sha256::new();
    hasher.update(event.prev_hash.as_deref().unwrap_or("").as_bytes());
    hasher.update([0]);
    hasher.update(serde_json::to_vec(&content).unwrap_or_default());
    hex::encode(hasher.finalize())
}

/// Turns drafts into hash-chained events after `envelope`'s newest, moving its chain head.
pub(super) fn materialize_events(
    envelope: &mut Envelope,
    drafts: Vec<EventDraft>,
    at: DateTime<Utc>,
    mut next_id: impl FnMut() -> String,
) -> Vec<Event> {
    let mut events = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let mut event = Event {
            id: draft.id.unwrap_or_else(&mut next_id),
            environment: envelope.environment,
            envelope_id: envelope.id.clone(),
            kind: draft.kind,
            occurred_at: at,
            actor: draft.actor,
            recipient_id: draft.recipient_id,
            ip: draft.ip,
            user_agent: draft.user_agent,
            auth_method: draft.auth_method,
            details: draft.details,
            prev_hash: envelope.last_event_hash.clone(),
            hash: String::new(),
        };
        event.hash = event_hash(&event);
        envelope.last_event_hash = Some(event.hash.clone());
        events.push(event);
    }
    events
}

/// What an index loses and gains when its entries for a record go from `old` to `new`: the
/// entries only in `old` (to remove) and those only in `new` (to write), each in its order.
fn changed_entries<T: PartialEq>(old: Vec<T>, new: Vec<T>) -> (Vec<T>, Vec<T>) {
    let (gone, kept): (Vec<T>, Vec<T>) = old.into_iter().partition(|entry| !new.contains(entry));
    let added = new
        .into_iter()
        .filter(|entry| !kept.contains(entry))
        .collect();
    (gone, added)
}

/// A change ready to commit: every record and index entry it writes, encoded, with what its
/// transaction checks first (see [`Esign::commit`]). Owned, so that whichever writer commits
/// the group it is in can apply it.
pub(super) struct PreparedCommit {
    /// The envelope's key and record.
    location: Vec<u8>,
    record: Vec<u8>,
    /// The version the change was decided from (`None`: a new envelope).
    expected_version: Option<u64>,
    /// Documents that must still exist (an envelope leaving draft), by key.
    needed_documents: Vec<Vec<u8>>,
    env_prefix_len: usize,
    env_name: &'static str,
    envelope_id: String,
    /// The listing entries to move when the status changes.
    status_change: Option<StatusChange>,
    /// (key, record, sha256) of documents created with the envelope.
    new_documents: Vec<(Vec<u8>, Vec<u8>, String)>,
    /// Evidence blobs the change starts referencing.
    new_blobs: Vec<String>,
    gone_usage: Vec<Vec<u8>>,
    added_usage: Vec<Vec<u8>>,
    gone_tokens: Vec<(Vec<u8>, Vec<u8>)>,
    added_tokens: Vec<(Vec<u8>, Vec<u8>)>,
    creation_location: Option<Vec<u8>>,
    event_records: Vec<(Vec<u8>, Vec<u8>)>,
    mail_records: Vec<(Vec<u8>, Vec<u8>)>,
    notice_records: Vec<(Vec<u8>, Vec<u8>)>,
    in_flight: bool,
    was_in_flight: bool,
}

/// (old status key and list, new status key, new list): an envelope's listing entries when
/// its status changes (no old ones for a new envelope).
type StatusChange = (Option<(Vec<u8>, String)>, Vec<u8>, String);

/// The trees an envelope change writes, as one transaction sees them, in the order
/// [`Esign::commit_group`] names them.
type CommitTrees<'t> = (
    TxTree<'t>,
    TxTree<'t>,
    TxTree<'t>,
    TxTree<'t>,
    TxTree<'t>,
    TxTree<'t>,
    TxTree<'t>,
    TxTree<'t>,
    TxTree<'t>,
    TxTree<'t>,
    TxTree<'t>,
);

impl PreparedCommit {
    /// Checks the change still applies, then writes it. `Ok(Err(_))`: refused — the envelope
    /// changed since the change was decided ([`StoreError::Changed`]) or a document it needs
    /// is gone ([`StoreError::Gone`]); nothing was written. `Err(_)`: the transaction fails.
    fn apply(&self, trees: &CommitTrees<'_>) -> TxResult<Result<(), StoreError>> {
        let (
            envelopes,
            usage,
            tokens,
            documents,
            blob_refs,
            creation_keys,
            events,
            mail_outbox,
            in_flight,
            event_outbox,
            listing_tree,
        ) = trees;
        match expect_version(envelopes, &self.location, self.expected_version) {
            Ok(()) => {}
            Err(ConflictableTransactionError::Abort(refusal)) => return Ok(Err(refusal)),
            Err(other) => return Err(other),
        }
        for key in &self.needed_documents {
            if documents.get(key.as_slice())?.is_none() {
                let id = String::from_utf8_lossy(&key[self.env_prefix_len..]).into_owned();
                return Ok(Err(StoreError::Gone(id)));
            }
        }
        let env_name = self.env_name;
        if let Some((old, new_key, new_list)) = &self.status_change {
            // A new envelope counts only into its status's list (`envelopes` is their sum); a
            // change of status moves its count within the same records.
            if let Some((old_key, old_list)) = old {
                listing_tree.remove(old_key.as_slice())?;
                listing::count_in(listing_tree, env_name, old_list, &self.envelope_id, -1)?;
            }
            listing_tree.insert(new_key.as_slice(), &[] as &[u8])?;
            listing::count_in(listing_tree, env_name, new_list, &self.envelope_id, 1)?;
        }
        for (key, _, _) in &self.new_documents {
            let document_id = String::from_utf8_lossy(&key[self.env_prefix_len..]);
            listing::count_in(listing_tree, env_name, "documents", &document_id, 1)?;
        }
        for key in &self.gone_usage {
            usage.remove(key.as_slice())?;
        }
        for (key, _) in &self.gone_tokens {
            tokens.remove(key.as_slice())?;
        }
        for (key, record, sha256) in &self.new_documents {
            documents.insert(key.as_slice(), record.as_slice())?;
            super::documents::adjust_blob_refs(blob_refs, sha256, 1)?;
        }
        for sha256 in &self.new_blobs {
            super::documents::adjust_blob_refs(blob_refs, sha256, 1)?;
        }
        envelopes.insert(self.location.as_slice(), self.record.as_slice())?;
        for key in &self.added_usage {
            usage.insert(key.as_slice(), &[] as &[u8])?;
        }
        for (key, value) in &self.added_tokens {
            tokens.insert(key.as_slice(), value.as_slice())?;
        }
        if let Some(key) = &self.creation_location {
            creation_keys.insert(key.as_slice(), self.envelope_id.as_bytes())?;
        }
        for (key, value) in &self.event_records {
            events.insert(key.as_slice(), value.as_slice())?;
        }
        for (key, value) in &self.mail_records {
            mail_outbox.insert(key.as_slice(), value.as_slice())?;
        }
        for (key, value) in &self.notice_records {
            event_outbox.insert(key.as_slice(), value.as_slice())?;
        }
        if self.in_flight && !self.was_in_flight {
            in_flight.insert(self.location.as_slice(), &[] as &[u8])?;
        } else if self.was_in_flight && !self.in_flight {
            in_flight.remove(self.location.as_slice())?;
        }
        Ok(Ok(()))
    }
}

impl Esign {
    /// Commits a change: the envelope, its index entries (document usage, signing tokens,
    /// in-flight), new documents, its events (hash-chained) and its queued emails, atomically.
    pub(super) fn commit(&self, change: Change<'_>) -> Result<Envelope, EsignError> {
        let Change {
            mut envelope,
            previous,
            new_documents,
            creation_location,
            events: drafts,
            mails,
            seal,
            at,
            new_blobs,
        } = change;
        let environment = envelope.environment;
        // Compare-and-set: the change was decided from `previous`; it commits only over that
        // very version (or, for a new envelope, over nothing).
        let expected_version = previous.map(|p| p.version);
        envelope.version = expected_version.map_or(0, |v| v + 1);
        let now = at.unwrap_or_else(|| self.clock.now());
        let events =
            materialize_events(&mut envelope, drafts, now, || self.ids.next(IdKind::Event));
        let event_records: Vec<(Vec<u8>, Vec<u8>)> = events
            .iter()
            .map(|e| {
                Ok((
                    env_key(environment, &format!("{}/{}", envelope.id, e.id)),
                    encode(e)?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        let signed_count = envelope.recipients.iter().filter(|r| r.is_done()).count();
        let notice_records: Vec<(Vec<u8>, Vec<u8>)> = events
            .iter()
            .filter(|e| e.kind.is_public())
            .map(|e| {
                let notice = EventNotice {
                    event: e.clone(),
                    subject: envelope.subject.clone(),
                    status: envelope.status,
                    recipient_count: envelope.recipients.len(),
                    signed_count,
                    recipient: e
                        .recipient_id
                        .as_ref()
                        .and_then(|id| envelope.recipients.iter().find(|r| &r.id == id))
                        .cloned(),
                };
                Ok((e.id.clone().into_bytes(), encode(&notice)?))
            })
            .collect::<Result<_, StoreError>>()?;
        let has_notices = !notice_records.is_empty();
        let mail_records: Vec<(Vec<u8>, Vec<u8>)> = mails
            .into_iter()
            .map(|(kind, recipient_id)| {
                let job = MailJob {
                    id: self.ids.next(IdKind::Event).replacen("evt_", "mail_", 1),
                    environment,
                    envelope_id: envelope.id.clone(),
                    recipient_id,
                    kind,
                    attempts: 0,
                    next_attempt_at: now,
                    last_error: None,
                };
                Ok((job.id.clone().into_bytes(), encode(&job)?))
            })
            .collect::<Result<_, StoreError>>()?;
        let has_mail = !mail_records.is_empty();

        let record = crate::store::encode_packed(&envelope)?;
        let location = env_key(environment, &envelope.id);
        let usage = |e: &Envelope| -> Vec<Vec<u8>> {
            e.documents
                .iter()
                .map(|d| env_key(environment, &format!("{}/{}", d.id, e.id)))
                .collect()
        };
        let tokens = |e: &Envelope| -> Vec<(Vec<u8>, Vec<u8>)> {
            e.recipients
                .iter()
                .filter_map(|r| {
                    let target = TokenTarget {
                        environment,
                        envelope_id: e.id.clone(),
                        recipient_id: r.id.clone(),
                    };
                    let value = serde_json::to_vec(&target).ok()?;
                    Some((token_hash(&self.access_token(&r.id)).to_vec(), value))
                })
                .collect()
        };
        // An envelope sent out of draft needs its documents: a deletion that passed its usage check
        // while this change was decided must not leave a sent envelope without them (checked in
        // the transaction; the deletion's check and commit share one writer turn).
        let leaves_draft = previous.is_none_or(|p| p.status == EnvelopeStatus::Draft)
            && envelope.status.is_in_flight();
        let needed_documents: Vec<Vec<u8>> = if leaves_draft {
            envelope
                .documents
                .iter()
                .map(|d| env_key(environment, &d.id))
                .filter(|key| !new_documents.iter().any(|(new, _, _)| new == key))
                .collect()
        } else {
            Vec::new()
        };
        // Index entries are written only where they change: most transitions keep the same
        // documents and recipients, and a write that puts back what is there still costs a log
        // entry and a node copy in sled.
        let (gone_usage, added_usage) =
            changed_entries(previous.map(usage).unwrap_or_default(), usage(&envelope));
        let (gone_tokens, added_tokens) =
            changed_entries(previous.map(tokens).unwrap_or_default(), tokens(&envelope));
        let in_flight = envelope.status.is_in_flight();
        let was_in_flight = previous.is_some_and(|p| p.status.is_in_flight());
        let envelope_id = envelope.id.clone();
        // The listing index: the envelope under its status, and the counts.
        let env_name = environment.as_str();
        let old_status = previous.map(|p| p.status);
        let new_status = envelope.status;
        let status_change = (old_status != Some(new_status)).then(|| {
            (
                old_status.map(|old| {
                    (
                        listing::status_key(env_name, old.as_str(), &envelope_id),
                        listing::status_list(old.as_str()),
                    )
                }),
                listing::status_key(env_name, new_status.as_str(), &envelope_id),
                listing::status_list(new_status.as_str()),
            )
        });
        let prepared = PreparedCommit {
            location,
            expected_version,
            needed_documents,
            env_prefix_len: environment.prefix("").len(),
            env_name,
            envelope_id,
            status_change,
            new_documents,
            new_blobs,
            gone_usage,
            added_usage,
            gone_tokens,
            added_tokens,
            record,
            creation_location,
            event_records,
            mail_records,
            notice_records,
            in_flight,
            was_in_flight,
        };
        self.commits
            .submit(
                prepared,
                |group| self.commit_group(group),
                || {
                    Err(StoreError::Io(std::io::Error::other(
                        "the writer committing this change's group failed",
                    )))
                },
            )
            .map_err(|err| match err {
                StoreError::BlobReleased(_) => EsignError::Conflict {
                    code: "content_released",
                    message: "a document with the same content was deleted while this request was being handled, and its content with it; send the request again".into(),
                },
                other => changed_underneath(other),
            })?;
        if has_mail {
            self.mail_ready.notify_one();
        }
        if has_notices {
            self.events_ready.notify_one();
        }
        if seal {
            self.seal_ready.notify_one();
        }
        Ok(envelope)
    }

    /// Commits a group of prepared changes in one writer turn and one transaction (see
    /// [`crate::store::combine`]): each is checked and written in turn, so a later change of
    /// the same envelope sees the earlier one's version and is refused; a refused change
    /// writes nothing and leaves the others be. A storage failure fails the whole group.
    fn commit_group(&self, group: Vec<PreparedCommit>) -> Vec<Result<(), StoreError>> {
        let turn = self.store.writer_turn();
        // Changes whose blobs are still stored go on to the transaction (see
        // `WriterTurn::require_blobs`); the others are refused here.
        let mut outcomes: Vec<Result<(), StoreError>> = group
            .iter()
            .map(|change| {
                turn.require_blobs(
                    change
                        .new_documents
                        .iter()
                        .map(|(_, _, sha256)| sha256.as_str())
                        .chain(change.new_blobs.iter().map(String::as_str)),
                )
            })
            .collect();
        let admitted: Vec<usize> = (0..group.len()).filter(|&i| outcomes[i].is_ok()).collect();
        if admitted.is_empty() {
            return outcomes;
        }
        let refusals = std::cell::RefCell::new(Vec::new());
        let committed = turn.transaction(
            (
                &self.store.envelopes,
                &self.store.document_usage,
                &self.store.sign_tokens,
                &self.store.documents,
                &self.store.blob_refs,
                &self.store.creation_keys,
                &self.store.events,
                &self.store.mail_outbox,
                &self.store.in_flight,
                &self.store.event_outbox,
                &self.store.listing,
            ),
            |trees| {
                // sled may run this again: only the last run's refusals count.
                let mut refused = Vec::new();
                for &index in &admitted {
                    if let Err(refusal) = group[index].apply(trees)? {
                        refused.push((index, refusal));
                    }
                }
                *refusals.borrow_mut() = refused;
                Ok(())
            },
        );
        drop(turn);
        match committed {
            Ok(()) => {
                for (index, refusal) in refusals.into_inner() {
                    outcomes[index] = Err(refusal);
                }
            }
            Err(err) => {
                let reason = err.to_string();
                for &index in &admitted {
                    outcomes[index] = Err(match &err {
                        StoreError::FlushFailed(why) => StoreError::FlushFailed(why.clone()),
                        _ => StoreError::Io(std::io::Error::other(reason.clone())),
                    });
                }
            }
        }
        outcomes
    }

    /// `POST /envelopes/{id}/send`: DRAFT → SENT after checking it can be signed; the first
    /// routing group is invited.
    pub fn send_envelope(
        &self,
        environment: Environment,
        id: &str,
    ) -> Result<EnvelopeView, EsignError> {
        self.transition(|| self.send_envelope_once(environment, id))
    }

    fn send_envelope_once(
        &self,
        environment: Environment,
        id: &str,
    ) -> Result<EnvelopeView, EsignError> {
        let current = self.load_draft(environment, id, "has already been sent")?;
        self.check_sendable(&current, &[])?;
        let mut change = Change::new(current.clone(), Some(&current));
        send_transition(&mut change, self.clock.now());
        let sent = self.commit(change)?;
        Ok(self.view(&sent))
    }

    /// What must hold before an envelope goes out: a signer or approver, documents that are
    /// still there, and every anchor text present in its document.
    pub(super) fn check_sendable(
        &self,
        envelope: &Envelope,
        pending: &[super::documents::PreparedDocument],
    ) -> Result<(), EsignError> {
        let pending_pdf = |id: &str| {
            pending
                .iter()
                .find(|p| p.record.id == id)
                .map(|p| p.pdf.clone())
        };
        if envelope.documents.is_empty() {
            return Err(EsignError::Conflict {
                code: "no_documents",
                message: "an envelope needs at least one document to be sent".into(),
            });
        }
        if !envelope.recipients.iter().any(|r| r.role.acts()) {
            return Err(EsignError::Conflict {
                code: "no_signers",
                message: "an envelope needs at least one signer or approver to be sent".into(),
            });
        }
        let mut texts: Vec<Option<Vec<String>>> = vec![None; envelope.documents.len()];
        for document in &envelope.documents {
            if pending_pdf(&document.id).is_none()
                && self
                    .get_document(envelope.environment, &document.id)
                    .is_err()
            {
                return Err(EsignError::Conflict {
                    code: "document_missing",
                    message: format!(
                        "document {} ({}) was deleted; update the envelope's documentIds",
                        document.id, document.name
                    ),
                });
            }
        }
        let mut issues = Vec::new();
        for (index, field) in envelope.fields.iter().enumerate() {
            let Some(anchor) = &field.anchor_text else {
                continue;
            };
            let slot = field.document_index as usize;
            if texts[slot].is_none() {
                let document = &envelope.documents[slot];
                let bytes = match pending_pdf(&document.id) {
                    Some(bytes) => bytes,
                    None => self.store.blobs.get(&document.sha256)?.ok_or_else(|| {
                        StoreError::Io(std::io::Error::other("document file missing"))
                    })?,
                };
                texts[slot] =
                    Some(crate::pdf::page_texts(&bytes).map_err(EsignError::UnusablePdf)?);
            }
            let pages = texts[slot].as_deref().unwrap_or_default();
            let found = crate::pdf::count_occurrences(pages, anchor);
            if found <= field.anchor_index as usize {
                issues.push(FieldIssue::new(
                    format!("fields[{index}].anchorText"),
                    format!(
                        "`{anchor}` occurs {found} time(s) in document {}; anchorIndex {} needs at least {}",
                        field.document_index,
                        field.anchor_index,
                        field.anchor_index + 1
                    ),
                ));
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(EsignError::NotSendable {
                code: "anchor_not_found",
                issues,
            })
        }
    }

    /// Voids an envelope in flight (from `DELETE /envelopes/{id}`).
    pub(super) fn void(
        &self,
        current: &Envelope,
        reason: Option<&str>,
    ) -> Result<Envelope, EsignError> {
        if current.sealing {
            return Err(EsignError::Conflict {
                code: "envelope_sealing",
                message:
                    "everyone has signed; the envelope is being sealed and can no longer be voided"
                        .into(),
            });
        }
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if let Some(reason) = reason {
            check_text("reason", reason, 500, true)
                .map_err(|issue| EsignError::Invalid(vec![issue]))?;
        }
        let reason = reason.unwrap_or("Voided by the sender").to_string();
        let mut change = Change::new(current.clone(), Some(current));
        void_transition(&mut change, &reason, self.clock.now());
        change.events.push(EventDraft::by_api(
            EventKind::EnvelopeVoided,
            json!({ "reason": reason }),
        ));
        self.commit(change)
    }

    /// Expires envelopes whose `expiresAt` passed and queues due reminders. Run by the
    /// background ticker; tests call it after moving the clock.
    pub fn expire_and_remind(&self) -> Result<TickReport, EsignError> {
        let now = self.clock.now();
        let mut report = TickReport::default();
        let keys: Vec<Bytes> = self
            .store
            .in_flight
            .iter()
            .keys()
            .collect::<Result<_, _>>()?;
        for key in keys {
            let Some(current) = crate::store::get_json::<Envelope>(&self.store.envelopes, &key)?
            else {
                self.store.in_flight.remove(&key)?;
                continue;
            };
            if !current.status.is_in_flight() {
                self.store.in_flight.remove(&key)?;
                continue;
            }
            if current.sealing {
                continue;
            }
            if current.expires_at.is_some_and(|at| at <= now) {
                let mut change = Change::new(current.clone(), Some(&current));
                let envelope = &mut change.envelope;
                envelope.status = EnvelopeStatus::Expired;
                envelope.expired_at = Some(now);
                envelope.updated_at = now;
                let missing: Vec<String> = envelope
                    .recipients
                    .iter()
                    .filter(|r| r.role.acts() && !r.is_done())
                    .map(|r| r.email.clone())
                    .collect();
                change.mails = notify_invited(envelope, MailKind::Expired);
                change.events.push(EventDraft::by_system(
                    EventKind::EnvelopeExpired,
                    None,
                    json!({ "missing_signers": missing }),
                ));
                // Overtaken (signed or voided meanwhile): the next tick looks again.
                if self.commit_unless_overtaken(change)? {
                    report.expired += 1;
                }
                continue;
            }
            let Some(reminders) = current.reminders else {
                continue;
            };
            let mut change = Change::new(current.clone(), Some(&current));
            for recipient in change.envelope.recipients.iter_mut() {
                let Some(invited_at) = recipient.invited_at else {
                    continue;
                };
                if recipient.is_done() || !recipient.role.acts() {
                    continue;
                }
                let due = match (recipient.reminders_sent, reminders.every_days) {
                    (0, _) => invited_at + Duration::days(i64::from(reminders.after_days)),
                    (_, Some(every)) => {
                        recipient.last_reminded_at.unwrap_or(invited_at)
                            + Duration::days(i64::from(every))
                    }
                    (_, None) => continue,
                };
                if due <= now {
                    recipient.reminders_sent += 1;
                    recipient.last_reminded_at = Some(now);
                    change
                        .mails
                        .push((MailKind::Reminder, recipient.id.clone()));
                    change.events.push(EventDraft::by_system(
                        EventKind::RecipientReminded,
                        Some(&recipient.id),
                        json!({ "email": recipient.email, "reminder": recipient.reminders_sent }),
                    ));
                    report.reminders += 1;
                }
            }
            if !change.mails.is_empty() {
                change.envelope.updated_at = now;
                let reminded = change.mails.len();
                if !self.commit_unless_overtaken(change)? {
                    report.reminders -= reminded;
                }
            }
        }
        Ok(report)
    }
}

/// What one tick of the ticker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub expired: usize,
    pub reminders: usize,
}

/// Emails to everyone who has been invited so far (for void, decline, expiry notices).
pub(super) fn notify_invited(envelope: &Envelope, kind: MailKind) -> Vec<(MailKind, String)> {
    envelope
        .recipients
        .iter()
        .filter(|r| r.invited_at.is_some())
        .map(|r| (kind, r.id.clone()))
        .collect()
}

/// In flight → VOIDED with `reason`; everyone invited so far is told. The caller records
/// the `envelope.voided` event (by the sender, or by the system).
pub(super) fn void_transition(change: &mut Change<'_>, reason: &str, now: DateTime<Utc>) {
    let envelope = &mut change.envelope;
    envelope.status = EnvelopeStatus::Voided;
    envelope.voided_at = Some(now);
    envelope.updated_at = now;
    envelope.sealing = false;
    envelope.void_reason = Some(reason.to_string());
    change.mails = notify_invited(envelope, MailKind::Voided);
}

/// DRAFT → SENT with the first group invited.
pub(super) fn send_transition(change: &mut Change<'_>, now: DateTime<Utc>) {
    let envelope = &mut change.envelope;
    envelope.status = EnvelopeStatus::Sent;
    envelope.sent_at = Some(now);
    envelope.updated_at = now;
    change.events.push(EventDraft::by_api(
        EventKind::EnvelopeSent,
        json!({ "recipientCount": envelope.recipients.len() }),
    ));
    invite_current_group(change, now);
}

/// Invites every signer/approver of the current routing group who has not been invited yet.
pub(super) fn invite_current_group(change: &mut Change<'_>, now: DateTime<Utc>) {
    let Some(order) = change.envelope.current_order() else {
        return;
    };
    for recipient in change.envelope.recipients.iter_mut() {
        if recipient.role.acts()
            && recipient.signing_order == order
            && recipient.invited_at.is_none()
        {
            recipient.invited_at = Some(now);
            if recipient.status == RecipientStatus::Pending {
                recipient.status = RecipientStatus::Sent;
            }
            change
                .mails
                .push((MailKind::Invitation, recipient.id.clone()));
            change.events.push(EventDraft::by_system(
                EventKind::RecipientInvited,
                Some(&recipient.id),
                json!({ "email": recipient.email, "signingOrder": recipient.signing_order }),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::changed_entries;

    #[test]
    fn only_changed_index_entries_are_written() {
        let (gone, added) = changed_entries(vec!["a", "b", "c"], vec!["c", "d", "a"]);
        assert_eq!((gone, added), (vec!["b"], vec!["d"]));
        // A key whose value changes is removed and written again.
        let (gone, added) = changed_entries(vec![("k", 1), ("j", 2)], vec![("k", 2), ("j", 2)]);
        assert_eq!((gone, added), (vec![("k", 1)], vec![("k", 2)]));
        // A new record gains everything; a record that keeps its entries writes nothing.
        assert_eq!(changed_entries(vec![], vec!["x"]), (vec![], vec!["x"]));
        assert_eq!(changed_entries(vec!["x"], vec!["x"]), (vec![], vec![]));
    }
}
