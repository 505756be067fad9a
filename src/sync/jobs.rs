//! Jobs: one per (mapping, record key), a state machine persisted in sled. Each step is
//! recorded (and flushed) before the next starts, and each API call of a step carries an
//! `Idempotency-Key` derived from the job and the step, so a crash anywhere resumes at the same
//! step and never makes a second document or envelope.

use super::changes::RecordUpdate;
use crate::store::{get_json, put_json, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Recorded from the source; the contract is next.
    Pending,
    /// The contract is uploaded (`document_id`).
    Uploaded,
    /// The envelope exists (`envelope_id`).
    Created,
    /// Out for signature; waiting for the webhook (or the reconciler).
    Sent,
    /// A field that matters changed while the contract was out: its envelope is voided (or
    /// its draft deleted) next, then the corrected contract starts over as `pending`.
    Superseding,
    Completed,
    Declined,
    Expired,
    Voided,
    /// The outcome is on the record. Final.
    WrittenBack,
    /// Failed too often or for good, or its record is broken; `last_error` says why. A newer
    /// version of the record resumes it by itself; so does `signbridge retry`.
    Parked,
    /// Ended by a person (`signbridge skip`) with a reason, kept in its history. Final;
    /// `signbridge retry` takes it up again.
    Skipped,
}

impl JobState {
    pub const ALL: [JobState; 12] = [
        JobState::Pending,
        JobState::Uploaded,
        JobState::Created,
        JobState::Sent,
        JobState::Superseding,
        JobState::Completed,
        JobState::Declined,
        JobState::Expired,
        JobState::Voided,
        JobState::WrittenBack,
        JobState::Parked,
        JobState::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Uploaded => "uploaded",
            JobState::Created => "created",
            JobState::Sent => "sent",
            JobState::Superseding => "superseding",
            JobState::Completed => "completed",
            JobState::Declined => "declined",
            JobState::Expired => "expired",
            JobState::Voided => "voided",
            JobState::WrittenBack => "written_back",
            JobState::Parked => "parked",
            JobState::Skipped => "skipped",
        }
    }

    /// The envelope ended; the write-back is next.
    pub fn is_ended(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Declined | JobState::Expired | JobState::Voided
        )
    }

    /// The daemon has something to do for it (now or after its backoff).
    pub fn is_actionable(self) -> bool {
        matches!(
            self,
            JobState::Pending | JobState::Uploaded | JobState::Created | JobState::Superseding
        ) || self.is_ended()
    }

    /// An envelope (or its draft or document) exists and has not ended.
    pub fn is_out(self) -> bool {
        matches!(
            self,
            JobState::Uploaded | JobState::Created | JobState::Sent
        )
    }
}

/// Why a record got (another) envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendReason {
    /// The record's first contract.
    #[default]
    FirstSend,
    /// A field that matters changed before the contract was signed.
    Correction,
    /// A field that matters changed after it was signed (`after_completion: new_contract`).
    Amendment,
}

impl SendReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SendReason::FirstSend => "first send",
            SendReason::Correction => "correction",
            SendReason::Amendment => "amendment",
        }
    }
}

/// An envelope a record had before its current one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PastEnvelope {
    pub envelope_id: Option<String>,
    pub reason: SendReason,
    /// What became of it: `voided: superseded by a corrected contract`, `completed`, …
    pub outcome: String,
    pub ended_at: DateTime<Utc>,
}

/// A newer version of the record, waiting to become the job's next contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextContract {
    pub record: Value,
    pub version: String,
    pub reason: SendReason,
    /// The fields that changed (`resend_on` entries).
    pub changed: Vec<String>,
}

/// One record's way through the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    pub mapping: String,
    pub source: String,
    pub key: String,
    pub record_id: String,
    pub record: Value,
    pub state: JobState,
    /// The state a parked job resumes from.
    pub parked_from: Option<JobState>,
    pub document_id: Option<String>,
    pub envelope_id: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The source's version of `record` (what the current contract is made from).
    #[serde(default)]
    pub version: String,
    /// 1 for the first contract, +1 for each correction or amendment (0 in stores written
    /// before generations existed, the same as 1).
    #[serde(default)]
    pub generation: u32,
    /// Why the current contract was sent.
    #[serde(default)]
    pub reason: SendReason,
    /// The record's earlier envelopes, oldest first.
    #[serde(default)]
    pub history: Vec<PastEnvelope>,
    /// How the envelope ended, once written back.
    #[serde(default)]
    pub ended_as: Option<JobState>,
    /// For a correction: the `resend_on` fields whose change made it.
    #[serde(default)]
    pub changed: Vec<String>,
    /// A newer record waiting to replace this contract (while it is voided, or once its
    /// write-back is done).
    #[serde(default)]
    pub next: Option<NextContract>,
    /// Something about this record a person should look at (e.g. the signed contract
    /// differs from the record), with the record version it was noticed on.
    #[serde(default)]
    pub attention: Option<Attention>,
    /// The record could not be read whole (a hydration call failed): the stream to read it
    /// again from before its contract is made (`record` holds what was read).
    #[serde(default)]
    pub unread: Option<String>,
}

/// A note for the admin about one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attention {
    pub message: String,
    pub version: String,
    pub at: DateTime<Utc>,
}

/// A job's id: stable for (mapping, key).
pub fn job_id(mapping: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{mapping}\u{0}{key}").as_bytes());
    format!("job_{}", &hex::encode(digest)[..24])
}

impl Job {
    pub fn new(
        mapping: &str,
        source: &str,
        key: &str,
        record_id: &str,
        (record, version): (Value, &str),
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: job_id(mapping, key),
            mapping: mapping.to_string(),
            source: source.to_string(),
            key: key.to_string(),
            record_id: record_id.to_string(),
            record,
            state: JobState::Pending,
            parked_from: None,
            document_id: None,
            envelope_id: None,
            attempts: 0,
            last_error: None,
            next_attempt_at: now,
            created_at: now,
            updated_at: now,
            version: version.to_string(),
            generation: 1,
            reason: SendReason::FirstSend,
            history: Vec::new(),
            ended_as: None,
            changed: Vec::new(),
            next: None,
            attention: None,
            unread: None,
        }
    }

    /// A job born parked: its record cannot be used as it is (`reason`); a newer version of
    /// the record, `signbridge retry` or `skip` take it from there.
    pub fn broken(mut self, reason: &str, unread: Option<&str>) -> Self {
        self.state = JobState::Parked;
        self.parked_from = Some(JobState::Pending);
        self.last_error = Some(reason.to_string());
        self.unread = unread.map(str::to_string);
        self
    }

    /// The `Idempotency-Key` of one step of this job's current contract (the first
    /// generation's keys are those of stores written before generations existed).
    pub fn idempotency_key(&self, step: &str) -> String {
        if self.generation <= 1 {
            format!("signbridge-sync-{}-{step}", self.id)
        } else {
            format!("signbridge-sync-{}-g{}-{step}", self.id, self.generation)
        }
    }

    /// The current envelope is over (`outcome`): it goes to the history and the waiting
    /// newer record becomes the next contract, from `pending`. Nothing when none waits.
    pub fn start_next_contract(&mut self, outcome: &str, now: DateTime<Utc>) -> bool {
        let Some(next) = self.next.take() else {
            return false;
        };
        self.history.push(PastEnvelope {
            envelope_id: self.envelope_id.take(),
            reason: self.reason,
            outcome: outcome.to_string(),
            ended_at: now,
        });
        self.record = next.record;
        self.version = next.version;
        self.reason = next.reason;
        self.changed = next.changed;
        self.ended_as = None;
        self.generation = self.generation.max(1) + 1;
        self.document_id = None;
        self.state = JobState::Pending;
        self.parked_from = None;
        self.attempts = 0;
        self.last_error = None;
        self.attention = None;
        self.next_attempt_at = now;
        true
    }

    /// What makes this job's record "the same" in a store written before one contract per
    /// record: the default key was `{record id}@{version}`, which is now the record id.
    pub(crate) fn record_key_for_index(&self) -> &str {
        match self.key.strip_prefix(self.record_id.as_str()) {
            Some(rest) if rest.starts_with('@') => &self.record_id,
            _ => &self.key,
        }
    }
}

/// Every record of a tree of JSON values, with its key.
fn entries<T: serde::de::DeserializeOwned>(
    tree: &crate::store::Tree,
) -> Result<Vec<(String, T)>, StoreError> {
    tree.iter()
        .map(|item| {
            let (key, value) = item?;
            Ok((
                String::from_utf8_lossy(&key).into_owned(),
                serde_json::from_slice(&value)?,
            ))
        })
        .collect()
}

fn record_index_key(mapping: &str, key: &str) -> Vec<u8> {
    format!("{mapping}\u{0}{key}").into_bytes()
}

/// The jobs' part of the store.
#[derive(Clone)]
pub struct JobStore {
    store: Store,
}

impl JobStore {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn get(&self, id: &str) -> Result<Option<Job>, StoreError> {
        get_json(&self.store.sync_jobs, id.as_bytes())
    }

    /// Writes a job and makes it durable.
    pub fn save(&self, job: &Job) -> Result<(), StoreError> {
        put_json(&self.store.sync_jobs, job.id.as_bytes(), job)?;
        if let Some(envelope) = &job.envelope_id {
            self.store
                .sync_envelopes
                .insert(envelope.as_bytes(), job.id.as_bytes())?;
        }
        self.store.flush_blocking()
    }

    /// The job of a record under a mapping, if it has one.
    pub fn of_record(&self, mapping: &str, key: &str) -> Result<Option<Job>, StoreError> {
        match self
            .store
            .sync_records
            .get(record_index_key(mapping, key))?
        {
            Some(id) => self.get(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// Records a record's first job, unless the record has one already; true when new.
    /// The job is written before its index entry, so a crash between the two leaves a job the
    /// next poll indexes (a record's first job always has the id its key gives). Not flushed:
    /// the caller flushes once for a batch (`flush`).
    pub fn add_if_new(&self, job: &Job, record_key: &str) -> Result<bool, StoreError> {
        let index = record_index_key(&job.mapping, record_key);
        if self.store.sync_records.get(&index)?.is_some() {
            return Ok(false);
        }
        let record = serde_json::to_vec(job)?;
        let inserted = self.store.sync_jobs.compare_and_swap(
            job.id.as_bytes(),
            None,
            Some(record.as_slice()),
        )?;
        self.store.sync_records.insert(&index, job.id.as_bytes())?;
        Ok(inserted)
    }

    /// Notes a newer version of a job's record for the job runner to apply (the newest
    /// wins). Not flushed: the caller flushes once for a batch (`flush`).
    pub fn note_update(&self, job_id: &str, update: &RecordUpdate) -> Result<(), StoreError> {
        put_json(&self.store.sync_updates, job_id.as_bytes(), update)
    }

    /// The noted updates, by job id.
    pub fn updates(&self) -> Result<Vec<(String, RecordUpdate)>, StoreError> {
        entries(&self.store.sync_updates)
    }

    /// Forgets an applied update, unless a newer one was noted meanwhile.
    pub fn done_with_update(&self, job_id: &str, update: &RecordUpdate) -> Result<(), StoreError> {
        let applied = serde_json::to_vec(update)?;
        self.store.sync_updates.compare_and_swap(
            job_id.as_bytes(),
            Some(applied.as_slice()),
            None,
        )?;
        self.store.flush_blocking()
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.flush_blocking()
    }

    /// Indexes jobs by record: jobs of stores written before one contract per record (keyed
    /// `{id}@{version}`, several per record) are found by their record, the newest one
    /// standing for it — so an upgrade sends no second contract. Idempotent; run at start.
    pub fn index_records(&self) -> Result<usize, StoreError> {
        let mut newest: std::collections::BTreeMap<Vec<u8>, Job> = Default::default();
        for job in self.all()? {
            let index = record_index_key(&job.mapping, job.record_key_for_index());
            match newest.get(&index) {
                Some(known) if known.created_at >= job.created_at => {}
                _ => {
                    newest.insert(index, job);
                }
            }
        }
        let mut indexed = 0;
        for (index, job) in newest {
            let claimed =
                self.store
                    .sync_records
                    .compare_and_swap(&index, None, Some(job.id.as_bytes()))?;
            if claimed {
                indexed += 1;
            }
        }
        if indexed > 0 {
            self.store.flush_blocking()?;
        }
        Ok(indexed)
    }

    pub fn all(&self) -> Result<Vec<Job>, StoreError> {
        self.store
            .sync_jobs
            .iter()
            .values()
            .map(|value| Ok(serde_json::from_slice(&value?)?))
            .collect()
    }

    pub fn by_envelope(&self, envelope_id: &str) -> Result<Option<Job>, StoreError> {
        match self.store.sync_envelopes.get(envelope_id.as_bytes())? {
            Some(id) => self.get(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    pub fn cursor(&self, source: &str, stream: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .store
            .sync_cursors
            .get(format!("{source}/{stream}").as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Stores a cursor (after the jobs of the records read are durable).
    pub fn set_cursor(&self, source: &str, stream: &str, cursor: &str) -> Result<(), StoreError> {
        self.store
            .sync_cursors
            .insert(format!("{source}/{stream}").as_bytes(), cursor.as_bytes())?;
        self.store.flush_blocking()
    }

    /// Records a received webhook event once; false when it was seen before. Durable on return.
    pub fn receive_event(&self, event_id: &str, event: &Value) -> Result<bool, StoreError> {
        let first =
            self.store
                .sync_seen
                .compare_and_swap(event_id.as_bytes(), None, Some(&[] as &[u8]))?;
        if first {
            put_json(&self.store.sync_inbox, event_id.as_bytes(), event)?;
        }
        self.store.flush_blocking()?;
        Ok(first)
    }

    /// How many received webhooks and noted record updates wait to be applied (counted,
    /// not read).
    pub fn waiting(&self) -> Result<(usize, usize), StoreError> {
        Ok((self.store.sync_inbox.len()?, self.store.sync_updates.len()?))
    }

    pub fn inbox(&self) -> Result<Vec<(String, Value)>, StoreError> {
        entries(&self.store.sync_inbox)
    }

    pub fn done_with_event(&self, event_id: &str) -> Result<(), StoreError> {
        self.store.sync_inbox.remove(event_id.as_bytes())?;
        self.store.flush_blocking()
    }
}
