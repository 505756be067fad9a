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

/// Why a source call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Worth retrying later (network, throttling, a folder not mounted).
    #[error("source unavailable: {0}")]
    Unavailable(String),
    /// A record the source gave cannot be used as it is.
    #[error("bad record: {0}")]
    BadRecord(String),
    /// The source's configuration is wrong.
    #[error("source configuration: {0}")]
    Config(String),
}

/// One source system.
pub trait Connector: Send + Sync {
    /// Records of `stream` changed since `cursor` (all when `None`), and the cursor to store
    /// once they are recorded.
    fn read(
        &self,
        stream: &str,
        cursor: Option<&str>,
    ) -> Result<(Vec<SourceRecord>, Option<String>), SourceError>;

    /// Writes the outcome back to the record. Must be idempotent: it may run twice.
    fn write_back(&self, outcome: &WriteBack) -> Result<(), SourceError>;

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
