//! The storage interface both backends offer: named trees of byte keys in byte order, point
//! reads, ordered scans, atomic, isolated transactions that may be run again on a conflict, and
//! leases (one holder per name).
//!
//! [`OrderedTrees`] is what the domain will be written against so that the same binary runs on
//! sled (embedded, [`SledTrees`]) or PostgreSQL (several replicas, [`super::postgres::PgTrees`]).
//! The shape is sled's, on purpose: every record the domain keeps today is a key and a value in
//! a named tree, so a store moves between backends tree by tree, key by key, and can be compared
//! the same way. What a transaction guarantees, on either backend:
//! - **Atomic**: every write of a run commits or none does; an error returned by the work (an
//!   abort) writes nothing.
//! - **Serializable**: runs behave as if one ran after the other. sled gets this from the one
//!   writer mutex (`store::writer`) every transaction takes; PostgreSQL from `SERIALIZABLE`
//!   isolation, its conflicts surfacing as [`TxError::Conflict`].
//! - **Re-run on conflict**: the work is `Fn` and may run several times; only the last run's
//!   writes count, so it must not act outside the transaction (send, log as done) while running.
//! - **Reads see the run's own writes**, scans included.
//!
//! Durability: [`OrderedTrees::flush`] makes every committed transaction durable (sled's group
//! commit; a PostgreSQL commit already is, so there it returns at once).

use super::StoreError;
use sled::Transactional;
use std::collections::BTreeMap;
use std::ops::Bound;

/// A key and its value, as scans return them.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Which keys a scan reads, in byte order (or reversed), and at most how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub from: Bound<Vec<u8>>,
    pub to: Bound<Vec<u8>>,
    pub limit: Option<usize>,
    pub reverse: bool,
}

impl Scan {
    /// Every key of the tree.
    pub fn all() -> Self {
        Self {
            from: Bound::Unbounded,
            to: Bound::Unbounded,
            limit: None,
            reverse: false,
        }
    }

    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        Self {
            from: Bound::Included(prefix.to_vec()),
            to: prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded),
            limit: None,
            reverse: false,
        }
    }

    /// Keys between two bounds.
    pub fn range(from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> Self {
        Self {
            from,
            to,
            limit: None,
            reverse: false,
        }
    }

    /// At most `limit` keys.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Highest key first.
    pub fn reversed(mut self) -> Self {
        self.reverse = true;
        self
    }

    /// Whether `key` lies within the bounds (the limit aside).
    pub fn covers(&self, key: &[u8]) -> bool {
        let above = match &self.from {
            Bound::Included(from) => key >= from.as_slice(),
            Bound::Excluded(from) => key > from.as_slice(),
            Bound::Unbounded => true,
        };
        let below = match &self.to {
            Bound::Included(to) => key <= to.as_slice(),
            Bound::Excluded(to) => key < to.as_slice(),
            Bound::Unbounded => true,
        };
        above && below
    }

    /// Whether no key can lie within the bounds (a backend answers such a scan with nothing
    /// rather than handing its engine bounds it may refuse).
    pub fn is_empty_range(&self) -> bool {
        let (from, from_inclusive) = match &self.from {
            Bound::Included(from) => (from, true),
            Bound::Excluded(from) => (from, false),
            Bound::Unbounded => return false,
        };
        let (to, to_inclusive) = match &self.to {
            Bound::Included(to) => (to, true),
            Bound::Excluded(to) => (to, false),
            Bound::Unbounded => return false,
        };
        from > to || (from == to && !(from_inclusive && to_inclusive))
    }
}

/// The first key after every key that starts with `prefix`; none when every byte is 0xFF (or
/// the prefix is empty): then the prefix runs to the end of the tree.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// How many times a transaction's work runs before its conflicts are reported as an error.
pub const MAX_RUNS: u32 = 64;

/// What a transaction returns when its work met a conflict on each of its [`MAX_RUNS`] runs.
pub fn conflicts_every_run() -> StoreError {
    StoreError::Contention(MAX_RUNS)
}

/// Why a transaction's step failed.
#[derive(Debug)]
pub enum TxError {
    /// Another transaction got in the way: the backend runs the work again.
    Conflict,
    /// The work cannot go on (the work's own refusal, or a storage failure): nothing is written
    /// and the transaction returns this error.
    Failed(StoreError),
}

impl From<StoreError> for TxError {
    fn from(err: StoreError) -> Self {
        TxError::Failed(err)
    }
}

/// What a transaction's work reads and writes through.
pub trait TreeTx {
    fn get(&mut self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, TxError>;
    fn scan(&mut self, tree: &str, scan: &Scan) -> Result<Vec<Entry>, TxError>;
    fn insert(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<(), TxError>;
    fn remove(&mut self, tree: &str, key: &[u8]) -> Result<(), TxError>;
}

/// Named trees of ordered byte keys (see the module docs for what each call guarantees). A
/// transaction's work must not call the same backend itself (it would wait on the very turn or
/// connection its transaction holds): it reads and writes through its [`TreeTx`] only.
pub trait OrderedTrees: Send + Sync {
    /// The value of `key` in `tree` as last committed.
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// The entries of `tree` within `scan`, as last committed.
    fn scan(&self, tree: &str, scan: &Scan) -> Result<Vec<Entry>, StoreError>;
    /// Runs `work` as one transaction (again after a conflict) and returns what its committed
    /// run returned.
    fn transaction<A>(
        &self,
        work: &dyn Fn(&mut dyn TreeTx) -> Result<A, TxError>,
    ) -> Result<A, StoreError>;
    /// Makes every committed transaction durable.
    fn flush(&self) -> Result<(), StoreError>;

    /// What [`OrderedTrees::try_lease`] hands out.
    type Lease: Lease;

    /// Takes the lease called `name` unless someone holds it: at most one holder at a time
    /// among every process sharing the store (a source's poller, say). Dropping the lease
    /// gives it up; so does its holder's death (its process, or its PostgreSQL session).
    fn try_lease(&self, name: &str) -> Result<Option<Self::Lease>, StoreError>;
}

/// A lease taken with [`OrderedTrees::try_lease`].
pub trait Lease: Send {
    /// Whether the lease is still this holder's: check before acting on it (a PostgreSQL
    /// session lost meanwhile gave it up, and another process may hold it now).
    fn still_held(&self) -> bool;
}

/// The names leased within one process on the sled backend (one process owns a sled store).
#[derive(Default)]
pub struct LeaseNames {
    held: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// A lease on the sled backend: its name, given back when dropped.
pub struct SledLease {
    names: std::sync::Arc<LeaseNames>,
    name: String,
}

impl Lease for SledLease {
    fn still_held(&self) -> bool {
        true
    }
}

impl Drop for SledLease {
    fn drop(&mut self) {
        let mut held = self.names.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.name);
    }
}

/// A transaction's writes not committed yet, by tree and key (`None`: removed). Both backends
/// keep a run's writes here until it commits (then send them at once); its reads look here
/// first, so the run sees its own writes.
#[derive(Default)]
pub(super) struct WriteSet {
    pub(super) trees: BTreeMap<String, BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
}

impl WriteSet {
    fn pending(&self, tree: &str, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.trees.get(tree)?.get(key)
    }

    /// `key`'s value as this run sees it: its own write, else what `committed` reads.
    pub(super) fn get<E>(
        &self,
        tree: &str,
        key: &[u8],
        committed: impl FnOnce() -> Result<Option<Vec<u8>>, E>,
    ) -> Result<Option<Vec<u8>>, E> {
        match self.pending(tree, key) {
            Some(pending) => Ok(pending.clone()),
            None => committed(),
        }
    }

    /// `scan` as this run sees it: what `committed` reads for a scan, with this run's writes
    /// laid over it. A limited scan of a tree this run wrote reads past its limit, since the
    /// run may have removed some of the first keys.
    pub(super) fn scan<E>(
        &self,
        tree: &str,
        scan: &Scan,
        committed: impl FnOnce(&Scan) -> Result<Vec<Entry>, E>,
    ) -> Result<Vec<Entry>, E> {
        if !self.trees.contains_key(tree) {
            return committed(scan);
        }
        let unlimited = Scan {
            limit: None,
            ..scan.clone()
        };
        Ok(self.overlay(tree, scan, committed(&unlimited)?))
    }

    pub(super) fn put(&mut self, tree: &str, key: &[u8], value: Option<Vec<u8>>) {
        self.trees
            .entry(tree.to_string())
            .or_default()
            .insert(key.to_vec(), value);
    }

    /// `committed` (a scan of the tree with its limit lifted) with this run's writes laid over
    /// it, in the scan's order, cut to its limit.
    fn overlay(&self, tree: &str, scan: &Scan, committed: Vec<Entry>) -> Vec<Entry> {
        let Some(writes) = self.trees.get(tree) else {
            return cut(committed, scan.limit);
        };
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = committed.into_iter().collect();
        for (key, value) in writes.iter().filter(|(key, _)| scan.covers(key)) {
            match value {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        let entries: Vec<Entry> = if scan.reverse {
            merged.into_iter().rev().collect()
        } else {
            merged.into_iter().collect()
        };
        cut(entries, scan.limit)
    }
}

fn cut(mut entries: Vec<Entry>, limit: Option<usize>) -> Vec<Entry> {
    if let Some(limit) = limit {
        entries.truncate(limit);
    }
    entries
}

/// The sled backend: trees of the store's sled database; transactions take the store's writer
/// turn (so they are serialised with every other sled transaction and flush, the deadlock rule
/// of `store`), collect their writes, then commit them in one sled transaction over the trees
/// they touched; `flush` is the store's group commit.
#[derive(Clone)]
pub struct SledTrees {
    store: super::Store,
}

impl SledTrees {
    pub(super) fn new(store: super::Store) -> Self {
        Self { store }
    }

    fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.store.sled_db("SledTrees")?.open_tree(name)?)
    }

    fn scan_tree(&self, tree: &sled::Tree, scan: &Scan) -> Result<Vec<Entry>, StoreError> {
        if scan.is_empty_range() {
            return Ok(Vec::new());
        }
        let range = tree.range::<Vec<u8>, _>((scan.from.clone(), scan.to.clone()));
        let limit = scan.limit.unwrap_or(usize::MAX);
        let entries: Result<Vec<Entry>, sled::Error> = if scan.reverse {
            range
                .rev()
                .take(limit)
                .map(|entry| entry.map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect()
        } else {
            range
                .take(limit)
                .map(|entry| entry.map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect()
        };
        Ok(entries?)
    }
}

/// A sled run: reads go to the trees (nothing else commits during the writer turn), writes wait
/// in the write set.
struct SledTx<'a> {
    trees: &'a SledTrees,
    writes: WriteSet,
}

impl TreeTx for SledTx<'_> {
    fn get(&mut self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, TxError> {
        Ok(self
            .writes
            .get(tree, key, || OrderedTrees::get(self.trees, tree, key))?)
    }

    fn scan(&mut self, tree: &str, scan: &Scan) -> Result<Vec<Entry>, TxError> {
        Ok(self.writes.scan(tree, scan, |scan| {
            OrderedTrees::scan(self.trees, tree, scan)
        })?)
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

impl OrderedTrees for SledTrees {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree(tree)?.get(key)?.map(|v| v.to_vec()))
    }

    fn scan(&self, tree: &str, scan: &Scan) -> Result<Vec<Entry>, StoreError> {
        self.scan_tree(&self.tree(tree)?, scan)
    }

    fn transaction<A>(
        &self,
        work: &dyn Fn(&mut dyn TreeTx) -> Result<A, TxError>,
    ) -> Result<A, StoreError> {
        let _turn = self.store.writer_turn();
        // Nothing commits elsewhere during the turn, so a run cannot meet a conflict; one the
        // work reports itself is still honoured by running it again.
        for _ in 0..MAX_RUNS {
            let mut run = SledTx {
                trees: self,
                writes: WriteSet::default(),
            };
            let answer = match work(&mut run) {
                Ok(answer) => answer,
                Err(TxError::Conflict) => continue,
                Err(TxError::Failed(err)) => return Err(err),
            };
            let names: Vec<&String> = run.writes.trees.keys().collect();
            let trees = names
                .iter()
                .map(|name| self.tree(name))
                .collect::<Result<Vec<sled::Tree>, StoreError>>()?;
            if !trees.is_empty() {
                let writes: Vec<&BTreeMap<Vec<u8>, Option<Vec<u8>>>> =
                    run.writes.trees.values().collect();
                self.store.refuse_after_lasting_failure()?;
                let committed = trees.as_slice().transaction(|views| {
                    for (view, tree_writes) in views.iter().zip(&writes) {
                        for (key, value) in tree_writes.iter() {
                            match value {
                                Some(value) => view.insert(key.as_slice(), value.as_slice())?,
                                None => view.remove(key.as_slice())?,
                            };
                        }
                    }
                    Ok::<(), sled::transaction::ConflictableTransactionError<StoreError>>(())
                });
                committed?;
            }
            return Ok(answer);
        }
        Err(conflicts_every_run())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.store.flush_blocking()
    }

    type Lease = SledLease;

    fn try_lease(&self, name: &str) -> Result<Option<SledLease>, StoreError> {
        let names = self.store.leases.clone();
        let mut held = names.held.lock().unwrap_or_else(|p| p.into_inner());
        if !held.insert(name.to_string()) {
            return Ok(None);
        }
        drop(held);
        Ok(Some(SledLease {
            names,
            name: name.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_its_successor() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[0x61, 0xFF]), Some(vec![0x62]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn a_scan_covers_its_bounds_only() {
        let scan = Scan::prefix(b"a/");
        assert!(scan.covers(b"a/"));
        assert!(scan.covers(b"a/\xFF"));
        assert!(!scan.covers(b"a0"));
        assert!(!scan.covers(b"a"));
        let empty = Scan::range(
            Bound::Excluded(b"b".to_vec()),
            Bound::Excluded(b"b".to_vec()),
        );
        assert!(empty.is_empty_range());
        assert!(!Scan::range(
            Bound::Included(b"b".to_vec()),
            Bound::Included(b"b".to_vec())
        )
        .is_empty_range());
    }

    #[test]
    fn the_write_set_lays_its_writes_over_a_limited_reversed_scan() {
        let mut writes = WriteSet::default();
        writes.put("t", b"k3", None);
        writes.put("t", b"k4", Some(b"new".to_vec()));
        writes.put("t", b"other", Some(b"out of range".to_vec()));
        let committed = vec![
            (b"k1".to_vec(), b"1".to_vec()),
            (b"k2".to_vec(), b"2".to_vec()),
            (b"k3".to_vec(), b"3".to_vec()),
        ];
        let scan = Scan::prefix(b"k").reversed().limit(2);
        assert_eq!(
            writes.overlay("t", &scan, committed),
            vec![
                (b"k4".to_vec(), b"new".to_vec()),
                (b"k2".to_vec(), b"2".to_vec())
            ]
        );
    }
}
