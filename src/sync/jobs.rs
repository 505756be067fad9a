//! Jobs: one per (mapping, record key), a state machine persisted in sled. Each step is
//! recorded (and flushed) before the next starts, and each API call of a step carries an
//! `Idempotency-Key` derived from the job and the step, so a crash anywhere resumes at the same
//! step and never makes a second document or envelope.

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
    Completed,
    Declined,
    Expired,
    Voided,
    /// The outcome is on the record. Final.
    WrittenBack,
    /// Failed too often or for good; `last_error` says why. `signbridge retry` resumes it.
    Parked,
}

impl JobState {
    pub const ALL: [JobState; 10] = [
        JobState::Pending,
        JobState::Uploaded,
        JobState::Created,
        JobState::Sent,
        JobState::Completed,
        JobState::Declined,
        JobState::Expired,
        JobState::Voided,
        JobState::WrittenBack,
        JobState::Parked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Uploaded => "uploaded",
            JobState::Created => "created",
            JobState::Sent => "sent",
            JobState::Completed => "completed",
            JobState::Declined => "declined",
            JobState::Expired => "expired",
            JobState::Voided => "voided",
            JobState::WrittenBack => "written_back",
            JobState::Parked => "parked",
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
            JobState::Pending | JobState::Uploaded | JobState::Created
        ) || self.is_ended()
    }
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
        record: Value,
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
        }
    }

    /// The `Idempotency-Key` of one step of this job.
    pub fn idempotency_key(&self, step: &str) -> String {
        format!("signbridge-sync-{}-{step}", self.id)
    }
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

    /// Records new jobs (those not known yet); returns how many were new. Durable on return.
    pub fn add_new(&self, jobs: &[Job]) -> Result<usize, StoreError> {
        let mut added = 0;
        for job in jobs {
            let inserted = self.store.sync_jobs.compare_and_swap(
                job.id.as_bytes(),
                None as Option<&[u8]>,
                Some(serde_json::to_vec(job)?),
            )?;
            if inserted.is_ok() {
                added += 1;
            }
        }
        self.store.flush_blocking()?;
        Ok(added)
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
        let first = self
            .store
            .sync_seen
            .compare_and_swap(
                event_id.as_bytes(),
                None as Option<&[u8]>,
                Some(&[] as &[u8]),
            )?
            .is_ok();
        if first {
            put_json(&self.store.sync_inbox, event_id.as_bytes(), event)?;
        }
        self.store.flush_blocking()?;
        Ok(first)
    }

    pub fn inbox(&self) -> Result<Vec<(String, Value)>, StoreError> {
        self.store
            .sync_inbox
            .iter()
            .map(|item| {
                let (key, value) = item?;
                Ok((
                    String::from_utf8_lossy(&key).into_owned(),
                    serde_json::from_slice(&value)?,
                ))
            })
            .collect()
    }

    pub fn done_with_event(&self, event_id: &str) -> Result<(), StoreError> {
        self.store.sync_inbox.remove(event_id.as_bytes())?;
        self.store.flush_blocking()
    }
}
