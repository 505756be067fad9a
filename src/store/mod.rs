//! The store: named trees of JSON records, on sled (embedded, the default) or PostgreSQL (see
//! [`tree`]), plus content-addressed blobs. What follows is the sled side's rules.
//!
//! The durability rule: whatever a response acknowledges is on disk before the response goes
//! out — callers `flush().await` after writing, and blobs are fsynced (file and folder) before
//! their record is written. A flush ends with an fsync of sled's files ([`SledFiles`]): sled's
//! own flush only writes its log out, which survives a killed process but not a power cut.
//! Records in several trees that change together are written in one sled transaction.
//!
//! Writers are serialised: sled 0.34 deadlocks when a multi-tree transaction waits for its
//! global write lock while a flush holds the read side waiting for the log to become stable
//! (seen under 32 concurrent clients). So every transaction and every flush takes one writer
//! mutex; plain reads and single-key inserts stay concurrent. sled's lock is process-wide (a
//! static), so ours is too: two stores in one process (tests) would otherwise still deadlock.
//! Flushes are grouped (see [`FlushGroup`]): the one flush under way holds the writer mutex
//! while sled writes its log out, and the writers that ask meanwhile share the next one instead
//! of each taking its own turn — the deadlock rule is unchanged (sled's flush never overlaps a
//! transaction). The fsync that follows runs outside the mutex: it takes no sled lock.

pub mod backup;
mod blobs;
pub mod combine;
pub mod copy;
pub mod idempotency;
pub mod listing;
mod memo;
pub mod postgres;
mod stats;
pub mod tree;
pub mod trees;

pub use blobs::{sha256_hex as sha256_hex_of, BlobStore};
pub use memo::Memo;
pub use sled::transaction::ConflictableTransactionError;
pub use stats::WriterSnapshot;
pub use tree::{Batch, Bytes, Tree, TreeGroup, TxResult, TxTree};

use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the data folder {0} is in use by another signbridge process")]
    Locked(PathBuf),
    /// Another process owns the store kept in PostgreSQL (see `PgTrees::try_owner_lease`).
    #[error(
        "the PostgreSQL store is in use by another signbridge process (one process serves a \
         store for now; several replicas need the next steps of issue 19)"
    )]
    InUse,
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored record is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// A compare-and-set found the record changed since it was read (nothing was written).
    #[error("the record changed since it was read")]
    Changed,
    /// A record the write needs was deleted meanwhile (nothing was written); holds its id.
    #[error("{0} was deleted while this write was being made")]
    Gone(String),
    /// A blob a new record would use was released (its last user deleted) after it was stored;
    /// nothing was written.
    #[error("blob {0} was released while the record using it was being written")]
    BlobReleased(String),
    /// An fsync failed earlier (see `FlushGroup::failed`): nothing can be acknowledged as
    /// durable until signbridge restarts, so every write and flush is refused.
    #[error(
        "an earlier flush failed, so no write can be acknowledged until signbridge restarts: {0}"
    )]
    FlushFailed(String),
    /// A copy into PostgreSQL was refused (a target holding data) or did not match its source.
    #[error("copy refused: {0}")]
    CopyRefused(String),
    /// A transaction met a conflict on each of its runs (this many) and gave up.
    #[error("a transaction met a conflict on each of its {0} runs")]
    Contention(u32),
    /// PostgreSQL refused or failed a statement, or could not be reached.
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// What the embedded store offers and a store on PostgreSQL does not (a backup of the
    /// data folder: PostgreSQL's own tools back it up).
    #[error("{0} works on the embedded (sled) store only")]
    SledOnly(&'static str),
}

impl From<::postgres::Error> for StoreError {
    fn from(err: ::postgres::Error) -> Self {
        // The server's message, when it sent one, says more than the error's kind.
        match err.as_db_error() {
            Some(db) => StoreError::Postgres(format!("{} ({})", db.message(), db.code().code())),
            None => StoreError::Postgres(err.to_string()),
        }
    }
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(err: sled::transaction::TransactionError<StoreError>) -> Self {
        match err {
            sled::transaction::TransactionError::Abort(inner) => inner,
            sled::transaction::TransactionError::Storage(inner) => StoreError::Sled(inner),
        }
    }
}

/// Every tree the service uses, opened once.
#[derive(Clone)]
pub struct Store {
    /// Where the trees live.
    engine: Engine,
    /// Concurrent writers share flushes (group commit).
    flushes: std::sync::Arc<FlushGroup>,
    /// What the writer turns and the flushes do (see [`Store::writer_stats`]).
    stats: std::sync::Arc<stats::WriterStats>,
    /// The leases taken on this store ([`trees::OrderedTrees::try_lease`]).
    leases: std::sync::Arc<trees::LeaseNames>,
    /// On PostgreSQL: this process's hold on the store, as sled's lock on its folder
    /// ([`postgres::PgTrees::try_owner_lease`]); given up when the last clone is dropped.
    _owner: Option<std::sync::Arc<Mutex<postgres::PgLease>>>,
    /// `{env}/{key_id}` → `ApiKey`
    pub keys: Tree,
    /// SHA-256 of a key secret → `{env}/{key_id}`
    pub key_hashes: Tree,
    /// `{env}/{doc_id}` → `Document`
    pub documents: Tree,
    /// `{env}/{doc_id}/{envelope_id}` → empty: which envelopes use a document
    pub document_usage: Tree,
    /// `{env}/{envelope_id}` → `Envelope`
    pub envelopes: Tree,
    /// `{env}/{template_id}` → `EnvelopeTemplate` (documents by blob, roles, fields)
    pub templates: Tree,
    /// What lists need without reading every record, kept in the transaction of the record
    /// they describe: `s/{env}/{status}/{envelope_id}` → empty (envelopes by status, newest
    /// last), `c/{env}/{family}` → the family's counts and `b/{env}/{family}/{level}/{prefix}`
    /// → its time buckets' counts (slots of name and u64 big-endian). See [`listing`].
    pub listing: Tree,
    /// SHA-256 of a signing token → `TokenTarget`
    pub sign_tokens: Tree,
    /// `{env}/{scope}/{sha256(idempotency key)}` → id of the object that request created
    pub creation_keys: Tree,
    /// `{env}/{sha256(idempotency key)}` → stored response
    pub idempotency: Tree,
    /// SHA-256 of a blob → how many document and template records use it (u64, big-endian)
    pub blob_refs: Tree,
    /// `{env}/{envelope_id}/{event_id}` → `Event` (the audit trail, hash-chained)
    pub events: Tree,
    /// `{mail_job_id}` → `MailJob`: emails waiting to go out
    pub mail_outbox: Tree,
    /// `{env}/{envelope_id}` → empty: envelopes out for signature (for expiry and reminders)
    pub in_flight: Tree,
    /// `{event_id}` → `EventNotice`: public events not yet fanned out to webhook subscriptions
    pub event_outbox: Tree,
    /// `{env}/{webhook_id}` → webhook subscription
    pub webhooks: Tree,
    /// `{webhook_id}/{delivery_id}` → webhook delivery (with its attempts)
    pub deliveries: Tree,
    /// `{webhook_id}/{delivery_id}` → empty: deliveries still to be attempted
    pub delivery_queue: Tree,
    /// Singletons: the account record.
    pub meta: Tree,
    /// `{env}/{envelope_id}` → `SealedFile`: audit trails made on request for envelopes that
    /// ended without completing (kept while their chain head is unchanged)
    pub audit_trails: Tree,
    /// Sync daemon: `{job_id}` → `Job`
    pub sync_jobs: Tree,
    /// Sync daemon: `{envelope_id}` → job id
    pub sync_envelopes: Tree,
    /// Sync daemon: `{source}/{stream}` → cursor
    pub sync_cursors: Tree,
    /// Sync daemon: `{event_id}` → received webhook event not processed yet
    pub sync_inbox: Tree,
    /// Sync daemon: `{event_id}` → empty: webhook events already received (deduplication)
    pub sync_seen: Tree,
    /// Sync daemon: `{mapping}\0{record key}` → the job of that record (one per record and
    /// mapping)
    pub sync_records: Tree,
    /// Sync daemon: `{job_id}` → a newer version of its record, for the job runner to apply
    pub sync_updates: Tree,
    /// `{job id or source}\0{record version}` → `Notice`: a record that needs attention, told
    /// to the operator once (`sent`)
    pub sync_notices: Tree,
    pub blobs: BlobStore,
}

/// The backend a store's trees live in.
#[derive(Clone)]
enum Engine {
    /// Embedded: sled's database and its files (for a flush to fsync, see [`SledFiles`]).
    Sled {
        db: sled::Db,
        files: std::sync::Arc<SledFiles>,
    },
    /// Shared by replicas: a PostgreSQL database (every commit is durable when it returns).
    Postgres(std::sync::Arc<postgres::PgTrees>),
}

/// Group commit: writers that ask for durability while a flush is under way wait for the next
/// flush, which one of them starts for all — one flush for the whole group instead of one
/// each. A flush makes durable every write completed before it started; a writer's `target`
/// is the first flush to start after it asked, so it is never acknowledged by a flush that may
/// have begun before its write.
///
/// A flush has two steps: sled's own `flush` (it writes its log out; under the writer mutex,
/// see the module docs), then [`SledFiles::sync`] (fsync; outside the mutex, so the next
/// group's transactions run while the disk syncs).
struct FlushGroup {
    state: Mutex<FlushState>,
    /// Where writers wait, by the parity of the flush they wait for (`waiting_room`): only
    /// the flush under way and the next one have waiters, so when a flush ends it wakes its
    /// own writers and one writer of the next, who starts it — not every waiting writer, most
    /// of whom would find the next flush is theirs and sleep again.
    waiting_rooms: [std::sync::Condvar; 2],
    /// Why a flush failed for good, once one has: sled's write-out or an fsync failed, and
    /// every flush after it fails too. After a failed fsync the kernel may have dropped the
    /// pages it could not write and a later fsync may report success for them, so nothing
    /// written since the last good flush can be acknowledged again; a restart recovers what is
    /// on disk (PostgreSQL does the same). Set once, under the state's mutex; transactions read
    /// it without that mutex, and the server watches it to stop
    /// ([`Store::lasting_flush_failure`]).
    failed: tokio::sync::watch::Sender<Option<String>>,
}

#[derive(Default)]
struct FlushState {
    /// Flushes started so far (the number of the latest).
    started: u64,
    /// The latest flush that finished.
    finished: u64,
    /// The latest flush that succeeded (below `finished` when the latest ones failed).
    succeeded: u64,
    /// Why the latest flush that failed without losing anything failed (a file it could not
    /// open, say): its writers get an error, the next flush tries again.
    unfinished: Option<String>,
    running: bool,
}

impl FlushGroup {
    fn new() -> Self {
        Self {
            state: Mutex::default(),
            waiting_rooms: [std::sync::Condvar::new(), std::sync::Condvar::new()],
            failed: tokio::sync::watch::Sender::new(None),
        }
    }

    fn flush(
        &self,
        db: &sled::Db,
        files: &SledFiles,
        stats: &stats::WriterStats,
    ) -> Result<(), StoreError> {
        stats.flush_requested();
        let lock = || self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut state = lock();
        let target = state.started + 1;
        loop {
            if let Some(error) = self.failure() {
                return Err(StoreError::FlushFailed(error));
            }
            if state.succeeded >= target {
                // A flush that started after this write succeeded.
                return Ok(());
            }
            if state.finished >= target {
                // Every flush since this write failed without losing anything: the write is
                // not acknowledged (a later flush may still make it durable).
                let error = state.unfinished.clone().unwrap_or_default();
                return Err(StoreError::Io(std::io::Error::other(error)));
            }
            if !state.running {
                state.running = true;
                state.started += 1;
                let number = state.started;
                drop(state);
                let asked = std::time::Instant::now();
                let (written, taken) = {
                    let _writer = writer();
                    let taken = std::time::Instant::now();
                    let written = db.flush().map_err(|err| SyncFailure::Lost(err.to_string()));
                    (written, taken)
                };
                let sync_started = std::time::Instant::now();
                let outcome = written.and_then(|_| files.sync());
                stats.flushed(taken - asked, sync_started - taken, sync_started.elapsed());
                state = lock();
                state.running = false;
                state.finished = number;
                match outcome {
                    Ok(()) => state.succeeded = number,
                    Err(SyncFailure::Unfinished(error)) => {
                        tracing::warn!(error = %error, "a flush could not finish; the next one tries again");
                        state.unfinished = Some(error);
                    }
                    Err(SyncFailure::Lost(error)) => {
                        tracing::error!(error = %error, "a flush failed; refusing writes until restart");
                        self.fail(&error);
                    }
                }
                // This flush's writers are answered; one writer of the next flush (if any
                // asked meanwhile) starts it.
                self.waiting_room(number).notify_all();
                self.waiting_room(number + 1).notify_one();
                // The checks above now answer for this writer too.
                continue;
            }
            state = self
                .waiting_room(target)
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Where the writers waiting for flush `number` sleep. Only two flushes have waiters at
    /// any time — the one under way (`started`) and the next (`started + 1`) — so two rooms,
    /// by parity, keep them apart.
    fn waiting_room(&self, number: u64) -> &std::sync::Condvar {
        &self.waiting_rooms[(number % 2) as usize]
    }

    /// Makes the failure lasting: every later flush and write is refused, and the server is
    /// told to stop. Called under the state's mutex, so waiters see it when they wake.
    fn fail(&self, error: &str) {
        self.failed.send_replace(Some(error.to_string()));
        for room in &self.waiting_rooms {
            room.notify_all();
        }
    }

    /// Why a flush failed for good, once one has (see [`FlushGroup::failed`]).
    fn failure(&self) -> Option<String> {
        self.failed.borrow().clone()
    }
}

/// How a flush failed.
enum SyncFailure {
    /// sled's write-out or an fsync failed: what it held may be lost (see `FlushGroup::failed`).
    Lost(String),
    /// A file or folder could not be listed or opened: nothing was synced that could have been
    /// lost (a process out of file descriptors, say), so the next flush may succeed.
    Unfinished(String),
}

/// What a flush must fsync beyond sled's own write-out. sled 0.34's `flush` writes its log with
/// `sync_file_range`, which waits for the pages to be written but neither flushes the disk's
/// write cache nor makes the file's new length durable; and it writes a value over its blob
/// threshold (about 128 KiB) into a file of its own that it never fsyncs. Enough for a killed
/// process, not for a power cut — so every flush ends with an fsync of the log, of the blob
/// files not synced yet and, when there are any, of their folder.
struct SledFiles {
    log: std::fs::File,
    blob_dir: PathBuf,
    /// Blob files already fsynced, with the length they had then (sled writes each once, but
    /// one seen while still being written is synced again at its full length).
    synced_blobs: Mutex<std::collections::HashMap<std::ffi::OsString, u64>>,
    /// Tests: the next sync fails as if a file could not be opened.
    #[cfg(test)]
    fail_next_open: Mutex<Option<std::io::Error>>,
}

impl SledFiles {
    fn open(db_path: &Path) -> std::io::Result<Self> {
        let log = std::fs::File::open(db_path.join("db"))?;
        // sled creates its files at the first open; their folder entries become durable here.
        std::fs::File::open(db_path)?.sync_all()?;
        Ok(Self {
            log,
            blob_dir: db_path.join("blobs"),
            synced_blobs: Mutex::default(),
            #[cfg(test)]
            fail_next_open: Mutex::default(),
        })
    }

    /// Fsyncs sled's files. An fsync that fails is [`SyncFailure::Lost`]; a listing or an open
    /// that fails is [`SyncFailure::Unfinished`] (files not synced yet stay to be synced).
    fn sync(&self) -> Result<(), SyncFailure> {
        use std::io::ErrorKind::NotFound;
        let lost = |what: &str, err: std::io::Error| SyncFailure::Lost(format!("{what}: {err}"));
        let unfinished =
            |what: &str, err: std::io::Error| SyncFailure::Unfinished(format!("{what}: {err}"));
        #[cfg(test)]
        if let Some(error) = self.fail_next_open.lock().unwrap().take() {
            return Err(unfinished("opening a file to sync", error));
        }
        self.log
            .sync_data()
            .map_err(|err| lost("fsync of sled's log", err))?;
        let entries = match std::fs::read_dir(&self.blob_dir) {
            Err(err) if err.kind() == NotFound => return Ok(()),
            other => other.map_err(|err| unfinished("listing sled's blob files", err))?,
        };
        let mut synced = self.synced_blobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut present = std::collections::HashSet::new();
        // Recorded as synced only once their folder is too: if it cannot be, they are synced
        // again with it by the next flush.
        let mut newly_synced = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|err| unfinished("listing sled's blob files", err))?;
            let name = entry.file_name();
            // sled removes blob files it no longer needs, possibly while this runs.
            let length = match entry.metadata() {
                Err(err) if err.kind() == NotFound => continue,
                other => other
                    .map_err(|err| unfinished("reading a sled blob file", err))?
                    .len(),
            };
            present.insert(name.clone());
            if synced.get(&name) != Some(&length) {
                let file = match std::fs::File::open(entry.path()) {
                    Err(err) if err.kind() == NotFound => continue,
                    other => other.map_err(|err| unfinished("opening a sled blob file", err))?,
                };
                file.sync_data()
                    .map_err(|err| lost("fsync of a sled blob file", err))?;
                newly_synced.push((name, length));
            }
        }
        synced.retain(|name, _| present.contains(name));
        if !newly_synced.is_empty() {
            std::fs::File::open(&self.blob_dir)
                .map_err(|err| unfinished("opening sled's blob folder", err))?
                .sync_all()
                .map_err(|err| lost("fsync of sled's blob folder", err))?;
            synced.extend(newly_synced);
        }
        Ok(())
    }
}

/// Serialises sled transactions and flushes across the whole process (see the module docs).
static WRITER: Mutex<()> = Mutex::new(());

fn writer() -> std::sync::MutexGuard<'static, ()> {
    WRITER.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// Opens (or creates) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        let db_path = data_dir.join("db");
        let db = sled::Config::new()
            .path(&db_path)
            .cache_capacity(256 * 1024 * 1024)
            // Durability comes from explicit flushes; the background flusher would be one more
            // reader racing the serialised writers.
            .flush_every_ms(None)
            .open()
            .map_err(|err| match &err {
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::Locked(data_dir.to_path_buf())
                }
                _ => StoreError::Sled(err),
            })?;
        let sled_tree = |name: &'static str| -> Result<Tree, StoreError> {
            Ok(Tree::on_sled(name, db.open_tree(name)?))
        };
        let blobs = BlobStore::open(data_dir.join("blobs"))?;
        Self::with_trees(
            Engine::Sled {
                files: std::sync::Arc::new(SledFiles::open(&db_path)?),
                db: db.clone(),
            },
            blobs,
            sled_tree,
        )
    }

    /// Opens the store where `storage` says: sled in `data_dir`, or PostgreSQL.
    pub fn open_configured(
        data_dir: &Path,
        storage: &crate::config::StorageConfig,
    ) -> Result<Self, StoreError> {
        match storage {
            crate::config::StorageConfig::Embedded => Self::open(data_dir),
            crate::config::StorageConfig::Postgres { url, connections } => {
                std::fs::create_dir_all(data_dir)?;
                Self::open_postgres(url.expose(), *connections)
            }
        }
    }

    /// Opens the store kept in the PostgreSQL database at `url` (trees and blobs), bringing its
    /// schema up to date, with `connections` sessions. Replicas share it.
    pub fn open_postgres(url: &str, connections: usize) -> Result<Self, StoreError> {
        let pg = std::sync::Arc::new(postgres::PgTrees::connect(url, connections)?);
        let owner = pg.try_owner_lease()?.ok_or(StoreError::InUse)?;
        let blobs = BlobStore::in_postgres(pg.clone());
        let tree = |name: &'static str| Ok(Tree::on_postgres(name, pg.clone()));
        let mut store = Self::with_trees(Engine::Postgres(pg.clone()), blobs, tree)?;
        store._owner = Some(std::sync::Arc::new(Mutex::new(owner)));
        Ok(store)
    }

    fn with_trees(
        engine: Engine,
        blobs: BlobStore,
        tree: impl Fn(&'static str) -> Result<Tree, StoreError>,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            keys: tree("keys")?,
            key_hashes: tree("key_hashes")?,
            documents: tree("documents")?,
            document_usage: tree("document_usage")?,
            envelopes: tree("envelopes")?,
            templates: tree("templates")?,
            listing: tree("listing")?,
            sign_tokens: tree("sign_tokens")?,
            creation_keys: tree("creation_keys")?,
            idempotency: tree("idempotency")?,
            blob_refs: tree("blob_refs")?,
            events: tree("events")?,
            mail_outbox: tree("mail_outbox")?,
            in_flight: tree("in_flight")?,
            event_outbox: tree("event_outbox")?,
            webhooks: tree("webhooks")?,
            deliveries: tree("deliveries")?,
            delivery_queue: tree("delivery_queue")?,
            meta: tree("meta")?,
            audit_trails: tree("audit_trails")?,
            sync_jobs: tree("sync_jobs")?,
            sync_envelopes: tree("sync_envelopes")?,
            sync_cursors: tree("sync_cursors")?,
            sync_inbox: tree("sync_inbox")?,
            sync_seen: tree("sync_seen")?,
            sync_records: tree("sync_records")?,
            sync_updates: tree("sync_updates")?,
            sync_notices: tree("sync_notices")?,
            blobs,
            engine,
            flushes: std::sync::Arc::new(FlushGroup::new()),
            stats: std::sync::Arc::default(),
            leases: std::sync::Arc::default(),
            _owner: None,
        })
    }

    /// sled's database, when the store is embedded.
    pub(crate) fn sled_db(&self, what: &'static str) -> Result<&sled::Db, StoreError> {
        match &self.engine {
            Engine::Sled { db, .. } => Ok(db),
            Engine::Postgres(_) => Err(StoreError::SledOnly(what)),
        }
    }

    /// The PostgreSQL database the store is kept in, if it is.
    pub fn postgres(&self) -> Option<&std::sync::Arc<postgres::PgTrees>> {
        match &self.engine {
            Engine::Postgres(pg) => Some(pg),
            Engine::Sled { .. } => None,
        }
    }

    /// The store's trees behind the backend-neutral interface ([`trees::OrderedTrees`]).
    pub fn trees(&self) -> trees::SledTrees {
        trees::SledTrees::new(self.clone())
    }

    /// Runs a transaction over `trees`, serialised with every other transaction and flush.
    pub fn transaction<T: TreeGroup, A>(
        &self,
        trees: T,
        work: impl Fn(&T::View<'_>) -> TxResult<A>,
    ) -> Result<A, StoreError> {
        self.writer_turn().transaction(trees, work)
    }

    /// Takes the writer mutex: no transaction commits elsewhere until the turn is dropped, so
    /// what is read in it (a prefix scan, a blob file — what a sled transaction cannot read)
    /// still holds when its transactions commit. Never flush while holding a turn.
    pub fn writer_turn(&self) -> WriterTurn<'_> {
        let asked = std::time::Instant::now();
        let writer = writer();
        let taken = std::time::Instant::now();
        self.stats.turn_taken(taken - asked);
        WriterTurn {
            store: self,
            _writer: writer,
            taken,
        }
    }

    /// What the writer turns and the flushes have done since the store was opened: how many
    /// writes shared each flush, how long turns were held and waited for.
    pub fn writer_stats(&self) -> WriterSnapshot {
        self.stats.snapshot()
    }

    /// Makes every write so far durable. Call before acknowledging a write.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.flush_blocking())
            .await
            .map_err(|err| StoreError::Io(std::io::Error::other(err.to_string())))?
    }

    /// Why writes can no longer be made durable, once a flush has failed for good (see
    /// `FlushGroup::failed`).
    pub fn flush_failure(&self) -> Option<String> {
        self.flushes.failure()
    }

    /// Resolves with the reason once a flush has failed for good: the server stops on it, so
    /// that a restart (systemd's `Restart=on-failure`, the container's restart policy)
    /// recovers what is on disk instead of a process that can only refuse writes.
    pub fn lasting_flush_failure(
        &self,
    ) -> impl std::future::Future<Output = String> + Send + 'static {
        let mut failure = self.flushes.failed.subscribe();
        async move {
            let reason = failure.wait_for(Option::is_some).await.map(|r| r.clone());
            match reason {
                Ok(reason) => reason.unwrap_or_default(),
                // The store is gone: nothing can fail any more.
                Err(_) => std::future::pending().await,
            }
        }
    }

    /// Fails once a flush has failed for good: a write made then could not be acknowledged,
    /// and workers must not act on it (send its email, deliver its webhook) either.
    fn refuse_after_lasting_failure(&self) -> Result<(), StoreError> {
        match self.flush_failure() {
            Some(error) => Err(StoreError::FlushFailed(error)),
            None => Ok(()),
        }
    }

    /// Removes the blob files of `sha256s` whose last user a write just deleted — once that
    /// deletion is durable (removed first, a crash before the flush would bring the record
    /// back without its content) and only if no write counted a new user meanwhile. A crash
    /// between the two leaves an unused file, never a record without its content.
    pub fn release_blobs(&self, sha256s: &[String]) -> Result<(), StoreError> {
        if sha256s.is_empty() {
            return Ok(());
        }
        self.flush_blocking()?;
        // New users are counted only in writer turns (`WriterTurn::require_blobs`).
        let _turn = self.writer_turn();
        for sha256 in sha256s {
            if self.blob_refs.get(sha256.as_bytes())?.is_none() {
                self.blobs.remove(sha256)?;
            }
        }
        Ok(())
    }

    /// Same as [`Store::flush`], for synchronous callers (CLI, shutdown).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        match &self.engine {
            Engine::Sled { db, files } => self.flushes.flush(db, files, &self.stats),
            // Every commit was durable when it returned.
            Engine::Postgres(_) => self.refuse_after_lasting_failure(),
        }
    }
}

/// A hold of the writer mutex (see [`Store::writer_turn`]).
pub struct WriterTurn<'a> {
    store: &'a Store,
    _writer: std::sync::MutexGuard<'static, ()>,
    /// When the mutex was taken (for [`Store::writer_stats`]).
    taken: std::time::Instant,
}

impl Drop for WriterTurn<'_> {
    fn drop(&mut self) {
        self.store.stats.turn_ended(self.taken.elapsed());
    }
}

impl WriterTurn<'_> {
    /// Runs a transaction over `trees` in this turn.
    pub fn transaction<T: TreeGroup, A>(
        &self,
        trees: T,
        work: impl Fn(&T::View<'_>) -> TxResult<A>,
    ) -> Result<A, StoreError> {
        self.store.refuse_after_lasting_failure()?;
        trees.transaction(&work)
    }

    /// Fails with [`StoreError::BlobReleased`] unless every blob in `sha256s` is stored. Blob
    /// files are removed only in a turn ([`Store::release_blobs`]), so one found here stays
    /// until this turn's transaction has counted its new user.
    pub fn require_blobs<'s>(
        &self,
        sha256s: impl IntoIterator<Item = &'s str>,
    ) -> Result<(), StoreError> {
        for sha256 in sha256s {
            if self.store.blobs.size(sha256)?.is_none() {
                return Err(StoreError::BlobReleased(sha256.to_string()));
            }
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` so that it is either absent or whole, and only its owner can read
/// it (outbox messages hold signing links and one-time codes): a temporary file beside it,
/// fsynced, renamed over `path`, then the folder fsynced.
pub fn write_durably(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let extension = path
        .extension()
        .map(|e| format!("{}.tmp", e.to_string_lossy()))
        .unwrap_or_else(|| "tmp".into());
    let tmp = path.with_extension(extension);
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Writes a file only its owner can read, durably.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Reads and decodes one record (plain or packed, see [`decode`]).
pub fn get_json<T: DeserializeOwned>(tree: &Tree, key: &[u8]) -> Result<Option<T>, StoreError> {
    match tree.get(key)? {
        Some(bytes) => Ok(Some(decode(&bytes)?)),
        None => Ok(None),
    }
}

/// The first byte of a packed record (JSON never starts with it): then the JSON's length (u32
/// little-endian) and the JSON as an LZ4 block.
const PACKED: u8 = 0x01;
/// Records shorter than this stay plain JSON: packing would save little.
const PACK_FROM: usize = 512;
/// No record unpacks to more than this; a larger length is corruption, not an allocation.
const LARGEST_RECORD: usize = 64 << 20;

/// Encodes a large record compactly: its JSON, LZ4-compressed when that is shorter. Envelopes
/// are stored so (they are most of a store's bytes: a two-signer envelope's 2.6 KB of JSON
/// packs to about a third). Every reader of such a tree decodes with [`decode`].
pub fn encode_packed<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let json = serde_json::to_vec(value)?;
    if json.len() < PACK_FROM {
        return Ok(json);
    }
    let compressed = lz4_flex::block::compress(&json);
    if compressed.len() + 5 >= json.len() {
        return Ok(json);
    }
    let mut packed = Vec::with_capacity(compressed.len() + 5);
    packed.push(PACKED);
    packed.extend_from_slice(&(json.len() as u32).to_le_bytes());
    packed.extend_from_slice(&compressed);
    Ok(packed)
}

/// Decodes a stored record, plain JSON or packed by [`encode_packed`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let unreadable = |why: String| StoreError::Corrupt(serde::de::Error::custom(why));
    match bytes.split_first() {
        Some((&PACKED, rest)) => {
            let (length, block) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| unreadable("packed record: no length".into()))?;
            let length = u32::from_le_bytes(*length) as usize;
            if length > LARGEST_RECORD {
                return Err(unreadable(format!("packed record: length {length}")));
            }
            let json = lz4_flex::block::decompress(block, length)
                .map_err(|err| unreadable(format!("packed record: {err}")))?;
            Ok(serde_json::from_slice(&json)?)
        }
        _ => Ok(serde_json::from_slice(bytes)?),
    }
}

/// Encodes and writes one record.
pub fn put_json<T: Serialize>(tree: &Tree, key: &[u8], value: &T) -> Result<(), StoreError> {
    tree.insert(key, serde_json::to_vec(value)?)?;
    Ok(())
}

/// Encodes a record for use inside a transaction.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    Ok(serde_json::to_vec(value)?)
}

/// One page of a newest-first listing.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// Lists the records under `prefix`, newest first (keys end in ULIDs), keeping those `keep`
/// accepts, and returns the slice for 1-based `page` of `limit` items plus the total count.
pub fn list_newest_first<T: DeserializeOwned>(
    tree: &Tree,
    prefix: &[u8],
    page: u64,
    limit: u64,
    keep: impl Fn(&T) -> bool,
    needs_decode_for_filter: bool,
) -> Result<Page<T>, StoreError> {
    let skip = page.saturating_sub(1).saturating_mul(limit);
    let mut total = 0u64;
    let mut items = Vec::new();
    for entry in tree.scan_prefix(prefix).rev() {
        let (_, value) = entry?;
        let in_window = total >= skip && (total - skip) < limit;
        if needs_decode_for_filter {
            let record: T = decode(&value)?;
            if !keep(&record) {
                continue;
            }
            if in_window {
                items.push(record);
            }
        } else if in_window {
            items.push(decode(&value)?);
        }
        total += 1;
    }
    Ok(Page { items, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large records are packed and come back equal; small ones and records written before
    /// packing existed are plain JSON; a damaged packed record is an error, never a panic or a
    /// huge allocation.
    #[test]
    fn packed_records() {
        let large = serde_json::json!({
            "id": "env_01",
            "recipients": (0..20).map(|n| serde_json::json!({"email": format!("r{n}@example.com"), "status": "PENDING", "signedAt": null})).collect::<Vec<_>>(),
        });
        let packed = encode_packed(&large).unwrap();
        assert_eq!(packed[0], PACKED);
        assert!(packed.len() * 2 < serde_json::to_vec(&large).unwrap().len());
        assert_eq!(decode::<serde_json::Value>(&packed).unwrap(), large);

        let small = serde_json::json!({"id": "env_02"});
        assert_eq!(
            encode_packed(&small).unwrap(),
            serde_json::to_vec(&small).unwrap()
        );
        let plain = serde_json::to_vec(&large).unwrap();
        assert_eq!(decode::<serde_json::Value>(&plain).unwrap(), large);

        for damaged in [
            packed[..3].to_vec(),
            packed[..packed.len() / 2].to_vec(),
            [&[PACKED][..], &u32::MAX.to_le_bytes()[..], &packed[5..]].concat(),
            [&packed[..5], &[0xff; 40][..]].concat(),
        ] {
            assert!(matches!(
                decode::<serde_json::Value>(&damaged),
                Err(StoreError::Corrupt(_))
            ));
        }
    }

    #[test]
    fn pages_newest_first_with_total() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..7u32 {
            put_json(&store.meta, format!("p/{i:02}").as_bytes(), &i).unwrap();
        }
        let page: Page<u32> = list_newest_first(&store.meta, b"p/", 2, 3, |_| true, false).unwrap();
        assert_eq!(page.items, vec![3, 2, 1]);
        assert_eq!(page.total, 7);
        let odd: Page<u32> =
            list_newest_first(&store.meta, b"p/", 1, 10, |v| v % 2 == 1, true).unwrap();
        assert_eq!(odd.items, vec![5, 3, 1]);
        assert_eq!(odd.total, 3);
    }

    #[test]
    fn concurrent_writers_sharing_flushes_all_finish_and_every_write_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let threads: Vec<_> = (0..16u32)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for n in 0..20u32 {
                        put_json(&store.meta, format!("g/{i}/{n}").as_bytes(), &n).unwrap();
                        store.flush_blocking().unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let state = store.flushes.state.lock().unwrap();
        assert!(!state.running && store.flush_failure().is_none() && state.finished >= 1);
        drop(state);
        drop(store);
        let reopened = Store::open(dir.path()).unwrap();
        assert_eq!(reopened.meta.scan_prefix(b"g/").count(), 320);
    }

    /// sled puts a value over its blob threshold in a file of its own and never fsyncs it; a
    /// flush does, and remembers it at its length.
    #[test]
    fn a_flush_fsyncs_the_blob_files_sled_leaves_unsynced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let large = vec![7u8; 600 * 1024];
        store.meta.insert(b"large", large.as_slice()).unwrap();
        store.flush_blocking().unwrap();
        let blob_dir = dir.path().join("db").join("blobs");
        let files: Vec<(std::ffi::OsString, u64)> = std::fs::read_dir(&blob_dir)
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                (entry.file_name(), entry.metadata().unwrap().len())
            })
            .collect();
        assert!(
            !files.is_empty(),
            "sled wrote no blob file for a 600 KiB value"
        );
        let synced = store.sled_files().synced_blobs.lock().unwrap().clone();
        for (name, length) in &files {
            assert_eq!(synced.get(name), Some(length), "{name:?} not synced");
        }
        drop(store);
        let reopened = Store::open(dir.path()).unwrap();
        assert_eq!(reopened.meta.get(b"large").unwrap().unwrap(), large);
    }

    impl Store {
        fn sled_files(&self) -> &SledFiles {
            match &self.engine {
                Engine::Sled { files, .. } => files,
                Engine::Postgres(_) => panic!("a test of sled's files on a PostgreSQL store"),
            }
        }

        /// What a failed fsync does (see `FlushGroup::flush`).
        pub(crate) fn fail_flushes_for_good(&self, error: &str) {
            let _state = self.flushes.state.lock().unwrap();
            self.flushes.fail(error);
        }

        /// The next flush fails as if a file could not be opened.
        fn fail_next_flush_unfinished(&self) {
            *self.sled_files().fail_next_open.lock().unwrap() =
                Some(std::io::Error::from_raw_os_error(24));
        }
    }

    /// Once a flush has failed no later flush succeeds, and no transaction is made: the writes
    /// it held may be lost even if a later fsync reports success. The server is told.
    #[test]
    fn after_a_failed_flush_every_flush_and_transaction_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let told = store.lasting_flush_failure();
        let write = |value: u64| {
            store.transaction(&store.meta, move |meta| {
                meta.insert(b"counter", value.to_be_bytes())?;
                Ok(())
            })
        };
        write(1).unwrap();
        store.flush_blocking().unwrap();
        assert_eq!(store.flush_failure(), None);
        store.fail_flushes_for_good("fsync: Input/output error");
        assert!(store
            .flush_failure()
            .unwrap()
            .contains("Input/output error"));
        for _ in 0..2 {
            let err = store.flush_blocking().unwrap_err().to_string();
            assert!(err.contains("until signbridge restarts"), "{err}");
            assert!(err.contains("Input/output error"), "{err}");
            let err = write(2).unwrap_err();
            assert!(matches!(err, StoreError::FlushFailed(_)), "{err}");
        }
        assert_eq!(
            store.meta.get(b"counter").unwrap().unwrap().as_ref(),
            1u64.to_be_bytes()
        );
        let told = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(told);
        assert_eq!(told, "fsync: Input/output error");
    }

    /// A flush that could not open a file fails its writers but not for good: nothing it
    /// synced can have been lost, and the next flush makes their writes durable.
    #[test]
    fn a_flush_that_cannot_open_a_file_fails_only_its_writers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        put_json(&store.meta, b"first", &1).unwrap();
        store.fail_next_flush_unfinished();
        let err = store.flush_blocking().unwrap_err();
        assert!(matches!(err, StoreError::Io(_)), "{err}");
        assert!(err.to_string().contains("opening a file to sync"), "{err}");
        assert_eq!(store.flush_failure(), None);
        store
            .transaction(&store.meta, |meta| {
                meta.insert(b"second", b"2")?;
                Ok(())
            })
            .unwrap();
        store.flush_blocking().unwrap();
        drop(store);
        let reopened = Store::open(dir.path()).unwrap();
        assert!(reopened.meta.get(b"first").unwrap().is_some());
        assert!(reopened.meta.get(b"second").unwrap().is_some());
    }

    /// A blob file goes only once the deletion of its last user is durable, and not at all if
    /// a new user was counted meanwhile.
    #[test]
    fn blobs_are_released_only_after_the_deletion_is_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let sha = store.blobs.put(b"contract").unwrap();
        let released = vec![sha.clone()];
        store.fail_next_flush_unfinished();
        assert!(store.release_blobs(&released).is_err());
        assert!(
            store.blobs.get(&sha).unwrap().is_some(),
            "removed before the flush"
        );
        store
            .blob_refs
            .insert(sha.as_bytes(), 1u64.to_be_bytes())
            .unwrap();
        store.release_blobs(&released).unwrap();
        assert!(
            store.blobs.get(&sha).unwrap().is_some(),
            "removed while used"
        );
        store.blob_refs.remove(sha.as_bytes()).unwrap();
        store.release_blobs(&released).unwrap();
        assert!(store.blobs.get(&sha).unwrap().is_none());
    }

    #[test]
    fn a_second_open_reports_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        match Store::open(dir.path()) {
            Err(StoreError::Locked(_)) => {}
            Err(other) => panic!("expected Locked, got {other}"),
            Ok(_) => panic!("expected Locked, got a second store"),
        }
    }
}
