//! The interface every source implements: read the records changed since a cursor, and write
//! back what happened to one (files and fields). Built in: `folder`; declarative HTTP
//! connectors implement the same interface.

use std::collections::BTreeMap;

/// A record as a source gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    pub id: String,
    /// Changes when the record changes (a timestamp or revision field, else a content hash).
    pub version: String,
    pub data: serde_json::Value,
}

/// A record a source showed but could not give in a usable form (its own call answered 404,
/// its file does not parse, it has no version): it is kept for a person to look at while the
/// run goes on with the others.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokenRecord {
    /// Its id, when the source gave one (a record without one can only be reported).
    pub id: Option<String>,
    /// Its version when known, else a hash of what was read.
    pub version: String,
    /// What was read of it: enough for [`Connector::reread`] to try it again.
    pub data: serde_json::Value,
    /// What is wrong, precisely (the call and its status, the field, the file and line).
    pub reason: String,
}

/// One read of a stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadBatch {
    pub records: Vec<SourceRecord>,
    pub broken: Vec<BrokenRecord>,
    /// The cursor to store once all of the above is recorded.
    pub cursor: Option<String>,
}

/// What to put on a record once its envelope ended.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteBack {
    pub record_id: String,
    /// The record as it was read (write-back requests may use its fields).
    pub record: serde_json::Value,
    /// `completed`, `declined`, `expired` or `voided`.
    pub state: String,
    pub envelope_id: String,
    /// (file name, bytes): the signed PDF and/or the audit trail.
    pub files: Vec<(String, Vec<u8>)>,
    pub fields: BTreeMap<String, String>,
}

/// Why a source call failed. Two classes matter to a run: *transient for the source*
/// (`Unavailable`, `Throttled`: the run stops, nothing is recorded, the cursor stays, the
/// source is tried again after a backoff) and *permanent for one record* (`BadRecord`: that
/// record needs attention, the run goes on with the others).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Worth retrying later (network, 5xx, a page that is not JSON, a folder not mounted).
    #[error("source unavailable: {0}")]
    Unavailable(String),
    /// Still throttled after the connector's own retries: try the source again after
    /// `retry_after_secs` (its last `Retry-After`, when it gave one).
    #[error("source throttled: {message}")]
    Throttled {
        message: String,
        retry_after_secs: Option<u64>,
    },
    /// A record the source gave cannot be used as it is.
    #[error("bad record: {0}")]
    BadRecord(String),
    /// The source's configuration is wrong.
    #[error("source configuration: {0}")]
    Config(String),
}

/// One source system.
pub trait Connector: Send + Sync {
    /// Records of `stream` changed since `cursor` (all when `None`), those of them that are
    /// broken, and the cursor to store once they are recorded. A transient error fails the
    /// whole read; a problem with one record goes to [`ReadBatch::broken`].
    fn read(&self, stream: &str, cursor: Option<&str>) -> Result<ReadBatch, SourceError>;

    /// Tries a broken record again (`signbridge retry`): the calls and checks that failed,
    /// from what was read of it.
    fn reread(&self, stream: &str, broken: &serde_json::Value)
        -> Result<SourceRecord, SourceError>;

    /// Writes the outcome back to the record. Must be idempotent: it may run twice.
    fn write_back(&self, outcome: &WriteBack) -> Result<(), SourceError>;

    /// The streams it can read (for `validate`).
    fn streams(&self) -> Vec<String>;

    /// One cheap, authenticated look at the source (for `validate`).
    fn check(&self) -> Result<(), SourceError>;

    /// Checks that an inbound push (the system's own webhook) is genuine; the daemon then
    /// reads the source again (it never trusts a push's payload).
    fn verify_push(&self, push: &PushRequest) -> Result<(), SourceError> {
        let _ = push;
        Err(SourceError::Config("this source takes no pushes".into()))
    }
}

/// An inbound push as received.
#[derive(Debug, Clone)]
pub struct PushRequest {
    pub method: String,
    /// Path and query, as the sender signed it.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}
