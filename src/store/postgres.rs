//! The PostgreSQL backend of [`OrderedTrees`]: every tree in one table `kv (tree, key, value)`,
//! keys ordered bytewise (`bytea`), transactions `SERIALIZABLE` and run again on a
//! serialization failure or deadlock, schema migrations embedded (refinery) and applied at
//! connect under an advisory lock, so replicas starting together migrate once.
//!
//! Calls block their thread, like sled's. Each connection lives on a thread of its own and is
//! handed work over a channel, so a call is safe from any thread — an async worker, a blocking
//! one, a plain thread — (the `postgres` client drives its own runtime, which must never start
//! inside another). A transaction holds one connection for its whole run; its work runs on the
//! caller's thread and each read or write is one round trip. A lost connection is made again
//! on its next use.

use super::trees::{
    conflicts_every_run, Entry, OrderedTrees, Scan, TreeTx, TxError, WriteSet, MAX_RUNS,
};
use super::StoreError;
use postgres::error::SqlState;
use postgres::types::ToSql;
use std::ops::Bound;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// The advisory lock replicas take while migrating (an arbitrary constant: "sbmigrat").
const MIGRATION_LOCK: i64 = 0x7362_6d69_6772_6174;
/// How long a call waits for a free connection before it fails (rather than hang, were every
/// connection held by work that never returns them).
const CHECKOUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The longest pause before a run after a conflict (see [`pause_after_conflict`]).
const MAX_PAUSE_MS: u64 = 50;

/// Waits a random while, longer the more runs have met a conflict (up to [`MAX_PAUSE_MS`]):
/// transactions that keep colliding on a hot key (a counter every create bumps) would
/// otherwise start again together and collide again, each time.
fn pause_after_conflict(conflicts: u32) {
    let ceiling = (1u64 << conflicts.min(6)).min(MAX_PAUSE_MS);
    let pause_us = rand::random::<u64>() % (ceiling * 1000);
    std::thread::sleep(std::time::Duration::from_micros(pause_us));
}

/// A PostgreSQL database holding signbridge's trees.
pub struct PgTrees {
    pool: Pool,
    /// For the sessions leases hold (one each, outside the pool).
    config: postgres::Config,
}

impl std::fmt::Debug for PgTrees {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTrees").finish_non_exhaustive()
    }
}

impl PgTrees {
    /// Connects `connections` sessions to the database at `url` (`postgres://user@host/db`,
    /// libpq's key=value form too) and brings its schema up to date.
    pub fn connect(url: &str, connections: usize) -> Result<Self, StoreError> {
        let config: postgres::Config = url
            .parse()
            .map_err(|err: postgres::Error| StoreError::Postgres(format!("bad URL: {err}")))?;
        let mut sessions = Vec::with_capacity(connections.max(1));
        for number in 0..connections.max(1) {
            sessions.push(Connection::open(
                config.clone(),
                &format!("postgres-{number}"),
            )?);
        }
        let trees = Self {
            pool: Pool {
                idle: Mutex::new(sessions),
                returned: Condvar::new(),
            },
            config,
        };
        trees.migrate()?;
        Ok(trees)
    }

    /// Applies the embedded migrations not applied yet, one replica at a time.
    fn migrate(&self) -> Result<(), StoreError> {
        let connection = self.pool.checkout()?;
        connection
            .run(|client| {
                client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
                let applied = embedded::migrations::runner()
                    .set_migration_table_name("signbridge_migrations")
                    .run(client)
                    .map(drop)
                    .map_err(|err| err.to_string());
                client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])?;
                Ok(applied)
            })??
            .map_err(|err| StoreError::Postgres(format!("migrating the schema: {err}")))?;
        Ok(())
    }
}

impl PgTrees {
    /// Stores a blob under the hex SHA-256 of its bytes (storing it again changes nothing).
    pub fn put_blob(&self, content: &[u8]) -> Result<String, StoreError> {
        let sha256 = super::sha256_hex_of(content);
        let (key, content) = (sha256.clone(), content.to_vec());
        self.pool.checkout()?.run(move |client| {
            client.execute(
                "INSERT INTO blobs (sha256, content) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&key, &content],
            )
        })??;
        Ok(sha256)
    }

    /// The blob stored under `sha256`, if any.
    pub fn get_blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = sha256.to_string();
        let row = self.pool.checkout()?.run(move |client| {
            client.query_opt("SELECT content FROM blobs WHERE sha256 = $1", &[&key])
        })??;
        Ok(row.map(|row| row.get(0)))
    }

    /// The size in bytes of the blob stored under `sha256`, if any.
    pub fn blob_size(&self, sha256: &str) -> Result<Option<u64>, StoreError> {
        let key = sha256.to_string();
        let row = self.pool.checkout()?.run(move |client| {
            client.query_opt(
                "SELECT octet_length(content)::int8 FROM blobs WHERE sha256 = $1",
                &[&key],
            )
        })??;
        Ok(row.map(|row| row.get::<_, i64>(0).max(0) as u64))
    }

    /// Removes the blob stored under `sha256` unless a record counts it as used (its count in
    /// the tree `blob_refs`), in one statement: a replica counting a new user at the same time
    /// either commits first (and the blob stays) or finds it gone.
    pub fn remove_unused_blob(&self, sha256: &str) -> Result<(), StoreError> {
        let key = sha256.to_string();
        self.pool.checkout()?.run(move |client| {
            client.execute(
                "DELETE FROM blobs WHERE sha256 = $1 AND NOT EXISTS \
                 (SELECT 1 FROM kv WHERE tree = 'blob_refs' AND key = convert_to($1, 'UTF8'))",
                &[&key],
            )
        })??;
        Ok(())
    }

    /// The hex SHA-256 of every stored blob, in order.
    pub fn blob_names(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .pool
            .checkout()?
            .run(|client| client.query("SELECT sha256 FROM blobs ORDER BY sha256", &[]))??;
        Ok(rows.into_iter().map(|row| row.get(0)).collect())
    }

    /// Takes the lease that makes one process the owner of the store in this database's schema
    /// (`None`: another process holds it). Replicas will share a store once outbox deliveries,
    /// sync polls and the data folder's keys are claimed through the database; until then a
    /// second process would deliver and poll twice, so [`super::Store::open_postgres`] refuses.
    pub fn try_owner_lease(&self) -> Result<Option<PgLease>, StoreError> {
        let schema: String = self
            .pool
            .checkout()?
            .run(|client| client.query_one("SELECT current_schema()::text", &[]))??
            .get(0);
        OrderedTrees::try_lease(self, &format!("store owner\0{schema}"))
    }

    /// The names of the trees that hold at least one key.
    pub fn tree_names(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .pool
            .checkout()?
            .run(|client| client.query("SELECT DISTINCT tree FROM kv ORDER BY tree", &[]))??;
        Ok(rows.into_iter().map(|row| row.get(0)).collect())
    }
}

/// The advisory lock key of a lease: the first 8 bytes of a SHA-256 of its name, apart from
/// any other use of advisory locks by its prefix.
fn lease_key(name: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("signbridge lease\0{name}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// A lease held through PostgreSQL: a session-level advisory lock, on a session of its own that
/// lives as long as the lease. The server gives the lock up when that session ends — the lease
/// dropped, its process killed, its connection cut — so another replica can take it over.
pub struct PgLease {
    connection: Connection,
    key: i64,
}

impl super::trees::Lease for PgLease {
    fn still_held(&self) -> bool {
        // Only the session that took the lock holds it: never reconnect to ask.
        self.connection
            .on_session(|session| match &mut session.client {
                Some(client) if !client.is_closed() => client.batch_execute("SELECT 1").is_ok(),
                _ => false,
            })
            .unwrap_or(false)
    }
}

impl Drop for PgLease {
    fn drop(&mut self) {
        let key = self.key;
        // Ending the session would give the lock up as well; unlocking says so at once.
        let _ = self.connection.on_session(move |session| {
            if let Some(client) = session.client.as_mut().filter(|c| !c.is_closed()) {
                let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&key]);
            }
        });
    }
}

/// The SQL of a scan and its parameters after the tree's: `$2`, `$3` for the bounds in order.
fn scan_sql(scan: &Scan) -> (String, Vec<Vec<u8>>) {
    let mut sql = String::from("SELECT key, value FROM kv WHERE tree = $1");
    let mut bounds = Vec::new();
    for (bound, inclusive, exclusive) in [(&scan.from, ">=", ">"), (&scan.to, "<=", "<")] {
        let (operator, key) = match bound {
            Bound::Included(key) => (inclusive, key),
            Bound::Excluded(key) => (exclusive, key),
            Bound::Unbounded => continue,
        };
        bounds.push(key.clone());
        sql.push_str(&format!(" AND key {operator} ${}", bounds.len() + 1));
    }
    sql.push_str(if scan.reverse {
        " ORDER BY key DESC"
    } else {
        " ORDER BY key"
    });
    if let Some(limit) = scan.limit {
        // PostgreSQL's LIMIT is a bigint.
        sql.push_str(&format!(" LIMIT {}", limit.min(i64::MAX as usize)));
    }
    (sql, bounds)
}

fn get_on(
    client: &mut postgres::Client,
    tree: &str,
    key: &[u8],
) -> Result<Option<Vec<u8>>, postgres::Error> {
    let row = client.query_opt(
        "SELECT value FROM kv WHERE tree = $1 AND key = $2",
        &[&tree, &key],
    )?;
    Ok(row.map(|row| row.get(0)))
}

fn scan_on(
    client: &mut postgres::Client,
    tree: &str,
    scan: &Scan,
) -> Result<Vec<Entry>, postgres::Error> {
    if scan.is_empty_range() || scan.limit == Some(0) {
        return Ok(Vec::new());
    }
    let (sql, bounds) = scan_sql(scan);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tree];
    params.extend(bounds.iter().map(|b| b as &(dyn ToSql + Sync)));
    let rows = client.query(sql.as_str(), &params)?;
    Ok(rows
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

impl OrderedTrees for PgTrees {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (tree, key) = (tree.to_string(), key.to_vec());
        Ok(self
            .pool
            .checkout()?
            .run(move |client| get_on(client, &tree, &key))??)
    }

    fn scan(&self, tree: &str, scan: &Scan) -> Result<Vec<Entry>, StoreError> {
        let (tree, scan) = (tree.to_string(), scan.clone());
        Ok(self
            .pool
            .checkout()?
            .run(move |client| scan_on(client, &tree, &scan))??)
    }

    fn transaction<A>(
        &self,
        work: &dyn Fn(&mut dyn TreeTx) -> Result<A, TxError>,
    ) -> Result<A, StoreError> {
        let connection = self.pool.checkout()?;
        for run in 0..MAX_RUNS {
            if run > 0 {
                pause_after_conflict(run);
            }
            let mut run = PgTx {
                connection: &connection,
                open: None,
                writes: WriteSet::default(),
                failed: None,
            };
            let outcome = match work(&mut run) {
                Ok(answer) => run.commit().map(|()| answer),
                Err(err) => {
                    run.rollback();
                    Err(err)
                }
            };
            match outcome {
                Ok(answer) => return Ok(answer),
                Err(TxError::Conflict) => continue,
                Err(TxError::Failed(err)) => return Err(err),
            }
        }
        Err(conflicts_every_run())
    }

    type Lease = PgLease;

    fn try_lease(&self, name: &str) -> Result<Option<PgLease>, StoreError> {
        let key = lease_key(name);
        let connection = Connection::open(self.config.clone(), "postgres-lease")?;
        let taken = connection.run(move |client| {
            let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key])?;
            Ok(row.get::<_, bool>(0))
        })??;
        Ok(taken.then_some(PgLease { connection, key }))
    }

    fn flush(&self) -> Result<(), StoreError> {
        // A commit returns once PostgreSQL has made it durable (`synchronous_commit`, which
        // each session sets on).
        Ok(())
    }
}

/// One run of a transaction on its connection. `BEGIN` goes with the run's first statement and
/// its writes wait in a write set until the commit, which sends them and `COMMIT` in one
/// round trip: an envelope create (a read or two, a dozen writes) costs two round trips, not
/// fourteen. PostgreSQL still sees every write before the commit, so its conflict checks are
/// unchanged.
struct PgTx<'a> {
    connection: &'a Connection,
    /// The client the run began on, once it has begun and until it ends.
    open: Option<u64>,
    writes: WriteSet,
    /// The first statement of the run that failed: PostgreSQL has aborted the transaction, so
    /// the run cannot commit even if its work carried on past the error.
    failed: Option<FailedStatement>,
}

/// A failed statement, kept to fail the run's commit with.
enum FailedStatement {
    Conflict,
    Failed(String),
}

/// A statement's failure inside a transaction: a conflict to run again, or a failure.
fn in_transaction(err: postgres::Error) -> TxError {
    let conflict = matches!(
        err.code(),
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
    );
    if conflict {
        TxError::Conflict
    } else {
        TxError::Failed(err.into())
    }
}

/// The writes of a run as statement parameters: upserts (trees, keys, values) and removals
/// (trees, keys).
type WriteArrays = (
    Vec<String>,
    Vec<Vec<u8>>,
    Vec<Vec<u8>>,
    Vec<String>,
    Vec<Vec<u8>>,
);

fn write_arrays(writes: WriteSet) -> WriteArrays {
    let mut arrays = WriteArrays::default();
    for (tree, keys) in writes.trees {
        for (key, value) in keys {
            match value {
                Some(value) => {
                    arrays.0.push(tree.clone());
                    arrays.1.push(key);
                    arrays.2.push(value);
                }
                None => {
                    arrays.3.push(tree.clone());
                    arrays.4.push(key);
                }
            }
        }
    }
    arrays
}

/// Sends a run's writes: every upsert in one statement, every removal in another.
fn write_on(client: &mut postgres::Client, arrays: &WriteArrays) -> Result<(), postgres::Error> {
    let (trees, keys, values, gone_trees, gone_keys) = arrays;
    if !trees.is_empty() {
        client.execute(
            "INSERT INTO kv (tree, key, value) \
             SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[]) \
             ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value",
            &[trees, keys, values],
        )?;
    }
    if !gone_trees.is_empty() {
        client.execute(
            "DELETE FROM kv WHERE (tree, key) IN \
             (SELECT * FROM unnest($1::text[], $2::bytea[]))",
            &[gone_trees, gone_keys],
        )?;
    }
    Ok(())
}

impl PgTx<'_> {
    /// Runs `step` inside the run's transaction, beginning it with this step when it has not
    /// begun yet.
    fn statement<R: Send + 'static>(
        &mut self,
        step: impl FnOnce(&mut postgres::Client) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R, TxError> {
        let result = self.run_statement(step);
        if let (Err(err), None) = (&result, &self.failed) {
            self.failed = Some(match err {
                TxError::Conflict => FailedStatement::Conflict,
                TxError::Failed(err) => FailedStatement::Failed(err.to_string()),
            });
        }
        result
    }

    fn run_statement<R: Send + 'static>(
        &mut self,
        step: impl FnOnce(&mut postgres::Client) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R, TxError> {
        if let Some(generation) = self.open {
            return self
                .connection
                .run_in(generation, step)?
                .map_err(in_transaction);
        }
        let (generation, result) = self
            .connection
            .on_session(move |session| {
                let client = session.client()?;
                client.batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE")?;
                let result = step(client);
                Ok::<_, postgres::Error>((session.generation, result))
            })?
            .map_err(in_transaction)?;
        self.open = Some(generation);
        result.map_err(in_transaction)
    }

    /// Sends the run's writes and commits, in one round trip.
    fn commit(&mut self) -> Result<(), TxError> {
        if let Some(failed) = self.failed.take() {
            self.rollback();
            return Err(match failed {
                FailedStatement::Conflict => TxError::Conflict,
                FailedStatement::Failed(reason) => TxError::Failed(StoreError::Postgres(format!(
                    "a statement of the transaction failed: {reason}"
                ))),
            });
        }
        let arrays = write_arrays(std::mem::take(&mut self.writes));
        if self.open.is_none() && arrays.0.is_empty() && arrays.3.is_empty() {
            // Nothing was read or written: there is nothing to commit.
            return Ok(());
        }
        let outcome = self.statement(move |client| {
            write_on(client, &arrays)?;
            client.batch_execute("COMMIT")
        });
        if outcome.is_err() {
            self.rollback();
        }
        // A COMMIT, even a failed one, ends the transaction.
        self.open = None;
        outcome
    }

    fn rollback(&mut self) {
        if let Some(generation) = self.open.take() {
            // On a lost connection there is nothing to roll back: the server ended it.
            let _ = self
                .connection
                .run_in(generation, |client| client.batch_execute("ROLLBACK"));
        }
    }
}

impl Drop for PgTx<'_> {
    /// A run left open (its work panicked) is rolled back before its connection is reused.
    fn drop(&mut self) {
        self.rollback();
    }
}

impl TreeTx for PgTx<'_> {
    fn get(&mut self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, TxError> {
        // The write set answers for keys this run wrote; the statement for the others.
        let writes = std::mem::take(&mut self.writes);
        let found = writes.get(tree, key, || {
            let (tree, key) = (tree.to_string(), key.to_vec());
            self.statement(move |client| get_on(client, &tree, &key))
        });
        self.writes = writes;
        found
    }

    fn scan(&mut self, tree: &str, scan: &Scan) -> Result<Vec<Entry>, TxError> {
        // The write set lays this run's writes over what the statement reads.
        let writes = std::mem::take(&mut self.writes);
        let found = writes.scan(tree, scan, |scan| {
            let (tree, scan) = (tree.to_string(), scan.clone());
            self.statement(move |client| scan_on(client, &tree, &scan))
        });
        self.writes = writes;
        found
    }

    fn insert(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), TxError> {
        self.writes.put(tree, key, Some(value.to_vec()));
        Ok(())
    }

    fn remove(&mut self, tree: &str, key: &[u8]) -> Result<(), TxError> {
        self.writes.put(tree, key, None);
        Ok(())
    }
}

/// The connections not in use; a caller waits for one when all are busy.
struct Pool {
    idle: Mutex<Vec<Connection>>,
    returned: Condvar,
}

impl Pool {
    fn checkout(&self) -> Result<PooledConnection<'_>, StoreError> {
        let deadline = std::time::Instant::now() + CHECKOUT_TIMEOUT;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(connection) = idle.pop() {
                return Ok(PooledConnection {
                    pool: self,
                    connection: Some(connection),
                });
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(StoreError::Postgres(format!(
                    "no connection came free in {} s",
                    CHECKOUT_TIMEOUT.as_secs()
                )));
            }
            idle = self
                .returned
                .wait_timeout(idle, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// A connection taken from the pool, given back when dropped.
struct PooledConnection<'a> {
    pool: &'a Pool,
    connection: Option<Connection>,
}

impl std::ops::Deref for PooledConnection<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.connection.as_ref().expect("held until dropped")
    }
}

impl Drop for PooledConnection<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.push(connection);
            self.pool.returned.notify_one();
        }
    }
}

/// Work for a connection's thread.
type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// One session with PostgreSQL, on its own thread.
struct Connection {
    jobs: mpsc::Sender<Job>,
}

/// A connection thread's client, made again when it was lost.
struct Session {
    config: postgres::Config,
    client: Option<postgres::Client>,
    /// How many times the client was made: a transaction's statements run only on the client
    /// that began it (one made again meanwhile would run them outside the transaction).
    generation: u64,
}

impl Session {
    fn client(&mut self) -> Result<&mut postgres::Client, postgres::Error> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            self.client = None;
            let mut client = self.config.connect(postgres::NoTls)?;
            // Every commit durable before it returns, whatever the server's default.
            client.batch_execute("SET synchronous_commit = on")?;
            self.client = Some(client);
            self.generation += 1;
        }
        Ok(self.client.as_mut().expect("just connected"))
    }
}

/// What a statement of a transaction found when its connection was lost since `BEGIN`.
fn connection_lost() -> StoreError {
    StoreError::Postgres("the connection was lost during the transaction".into())
}

impl Connection {
    /// Starts the connection's thread and connects it (so a wrong URL fails at start).
    fn open(config: postgres::Config, thread_name: &str) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(thread_name.to_string())
            .spawn(move || {
                let mut session = Session {
                    config,
                    client: None,
                    generation: 0,
                };
                // Ends when the pool (every sender) is dropped.
                for job in queue {
                    job(&mut session);
                }
            })?;
        let connection = Self { jobs };
        connection.run(|client| client.batch_execute("SELECT 1"))??;
        Ok(connection)
    }

    /// Runs `job` on this connection's thread and waits for what it returns.
    fn on_session<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Session) -> R + Send + 'static,
    ) -> Result<R, StoreError> {
        let (answer, answered) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |session: &mut Session| {
            let _ = answer.send(job(session));
        });
        let ended = || StoreError::Postgres("the connection's thread has ended".into());
        self.jobs.send(job).map_err(|_| ended())?;
        answered.recv().map_err(|_| ended())
    }

    /// Runs `step` with this connection's client (made again if it was lost).
    fn run<R: Send + 'static>(
        &self,
        step: impl FnOnce(&mut postgres::Client) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<Result<R, postgres::Error>, StoreError> {
        self.on_session(move |session| session.client().and_then(step))
    }

    /// Runs `step` on the client of `generation` only: a statement of the transaction begun
    /// there.
    fn run_in<R: Send + 'static>(
        &self,
        generation: u64,
        step: impl FnOnce(&mut postgres::Client) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<Result<R, postgres::Error>, StoreError> {
        self.on_session(move |session| match &mut session.client {
            Some(client) if session.generation == generation && !client.is_closed() => {
                Ok(step(client))
            }
            _ => Err(connection_lost()),
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_becomes_one_ordered_select_with_its_bounds() {
        let (sql, bounds) = scan_sql(&Scan::prefix(b"a/").reversed().limit(5));
        assert_eq!(
            sql,
            "SELECT key, value FROM kv WHERE tree = $1 AND key >= $2 AND key < $3 \
             ORDER BY key DESC LIMIT 5"
        );
        assert_eq!(bounds, vec![b"a/".to_vec(), b"a0".to_vec()]);
        let (sql, bounds) = scan_sql(&Scan::range(
            Bound::Excluded(b"k".to_vec()),
            Bound::Unbounded,
        ));
        assert_eq!(
            sql,
            "SELECT key, value FROM kv WHERE tree = $1 AND key > $2 ORDER BY key"
        );
        assert_eq!(bounds, vec![b"k".to_vec()]);
    }
}
