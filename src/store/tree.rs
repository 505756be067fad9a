//! One named tree of the store, on whichever backend the store runs: the reads, writes and
//! ordered scans the domain makes on a tree ([`Tree`]), and inside a transaction on its view
//! ([`TxTree`]), the same calls on sled and on PostgreSQL.
//!
//! On sled every call is sled's own (a transaction over a [`TreeGroup`] is one sled transaction,
//! as before the interface existed, so the embedded default pays nothing for it). On
//! PostgreSQL a tree is the rows of `kv` with its name ([`super::postgres::PgTrees`]): a point
//! write is a transaction of its own, a scan reads pages of [`PAGE`] keys as it goes, and a
//! transaction runs the work through [`super::trees::OrderedTrees::transaction`] (serializable,
//! run again after a conflict).

use super::postgres::PgTrees;
use super::trees::{Entry, OrderedTrees, Scan, TreeTx, TxError};
use super::StoreError;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

/// A stored key or value (sled's cheaply cloned byte string, on either backend).
pub type Bytes = sled::IVec;

/// What a transaction's work returns: `Abort(err)` ends it with `err` and writes nothing;
/// `Conflict` runs it again.
pub type TxResult<A> = Result<A, ConflictableTransactionError<StoreError>>;

/// How many keys a PostgreSQL scan reads per round trip.
pub const PAGE: usize = 256;

/// A named tree of the store.
#[derive(Clone)]
pub struct Tree {
    name: &'static str,
    engine: Engine,
}

#[derive(Clone)]
enum Engine {
    Sled(sled::Tree),
    Postgres(Arc<PgTrees>),
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree").field("name", &self.name).finish()
    }
}

/// Writes applied together, atomically ([`Tree::apply_batch`]).
#[derive(Default, Debug, Clone)]
pub struct Batch {
    writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.writes
            .push((key.as_ref().to_vec(), Some(value.as_ref().to_vec())));
    }

    pub fn remove(&mut self, key: impl AsRef<[u8]>) {
        self.writes.push((key.as_ref().to_vec(), None));
    }
}

fn owned_bound(bound: Bound<&impl AsRef<[u8]>>) -> Bound<Vec<u8>> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_ref().to_vec()),
        Bound::Excluded(key) => Bound::Excluded(key.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl Tree {
    pub(super) fn on_sled(name: &'static str, tree: sled::Tree) -> Self {
        Self {
            name,
            engine: Engine::Sled(tree),
        }
    }

    pub(super) fn on_postgres(name: &'static str, trees: Arc<PgTrees>) -> Self {
        Self {
            name,
            engine: Engine::Postgres(trees),
        }
    }

    /// The tree's name (the same on both backends).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The sled tree behind this one, when the store runs on sled (backups, checksums).
    pub(super) fn sled(&self) -> Option<&sled::Tree> {
        match &self.engine {
            Engine::Sled(tree) => Some(tree),
            Engine::Postgres(_) => None,
        }
    }

    /// The PostgreSQL database holding this tree, when the store runs there.
    fn postgres(&self) -> Option<&Arc<PgTrees>> {
        match &self.engine {
            Engine::Postgres(pg) => Some(pg),
            Engine::Sled(_) => None,
        }
    }

    /// The sled tree behind this one, or why there is none.
    fn sled_tree(&self) -> Result<&sled::Tree, StoreError> {
        self.sled().ok_or_else(|| {
            StoreError::Postgres(format!(
                "tree {} is on PostgreSQL, in a transaction with sled trees",
                self.name
            ))
        })
    }

    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>, StoreError> {
        match &self.engine {
            Engine::Sled(tree) => Ok(tree.get(key)?),
            Engine::Postgres(pg) => Ok(pg.get(self.name, key.as_ref())?.map(Bytes::from)),
        }
    }

    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool, StoreError> {
        Ok(self.get(key)?.is_some())
    }

    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), StoreError> {
        match &self.engine {
            Engine::Sled(tree) => {
                tree.insert(key.as_ref(), value.as_ref())?;
                Ok(())
            }
            Engine::Postgres(pg) => pg.transaction(&|tx| {
                tx.insert(self.name, key.as_ref(), value.as_ref())?;
                Ok(())
            }),
        }
    }

    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<(), StoreError> {
        match &self.engine {
            Engine::Sled(tree) => {
                tree.remove(key.as_ref())?;
                Ok(())
            }
            Engine::Postgres(pg) => pg.transaction(&|tx| {
                tx.remove(self.name, key.as_ref())?;
                Ok(())
            }),
        }
    }

    /// Writes `new` (or removes the key, for `None`) if the key's value is still `expected`
    /// (`None`: absent). `Ok(false)`: it was not, and nothing was written.
    pub fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let key = key.as_ref();
        match &self.engine {
            Engine::Sled(tree) => Ok(tree.compare_and_swap(key, expected, new)?.is_ok()),
            Engine::Postgres(pg) => pg.transaction(&|tx| {
                if tx.get(self.name, key)?.as_deref() != expected {
                    return Ok(false);
                }
                match new {
                    Some(value) => tx.insert(self.name, key, value)?,
                    None => tx.remove(self.name, key)?,
                }
                Ok(true)
            }),
        }
    }

    /// Applies every write of `batch`, all or none.
    pub fn apply_batch(&self, batch: Batch) -> Result<(), StoreError> {
        match &self.engine {
            Engine::Sled(tree) => {
                let mut sled_batch = sled::Batch::default();
                for (key, value) in batch.writes {
                    match value {
                        Some(value) => sled_batch.insert(key, value),
                        None => sled_batch.remove(key),
                    }
                }
                Ok(tree.apply_batch(sled_batch)?)
            }
            Engine::Postgres(pg) => pg.transaction(&|tx| {
                for (key, value) in &batch.writes {
                    match value {
                        Some(value) => tx.insert(self.name, key, value)?,
                        None => tx.remove(self.name, key)?,
                    }
                }
                Ok(())
            }),
        }
    }

    /// Removes every key.
    pub fn clear(&self) -> Result<(), StoreError> {
        match &self.engine {
            Engine::Sled(tree) => Ok(tree.clear()?),
            Engine::Postgres(_) => {
                let mut batch = Batch::default();
                for key in self.iter().keys() {
                    batch.remove(key?);
                }
                self.apply_batch(batch)
            }
        }
    }

    /// How many keys the tree holds (it counts them: O(n) on both backends).
    pub fn len(&self) -> Result<usize, StoreError> {
        match &self.engine {
            Engine::Sled(tree) => Ok(tree.len()),
            Engine::Postgres(_) => self.iter().keys().try_fold(0, |n, key| key.map(|_| n + 1)),
        }
    }

    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.first()?.is_none())
    }

    /// The entry with the lowest key.
    pub fn first(&self) -> Result<Option<(Bytes, Bytes)>, StoreError> {
        self.iter().next().transpose()
    }

    /// The entry with the highest key.
    pub fn last(&self) -> Result<Option<(Bytes, Bytes)>, StoreError> {
        self.iter().next_back().transpose()
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> Iter {
        self.scan(Bound::Unbounded, Bound::Unbounded)
    }

    /// The entries whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        let scan = Scan::prefix(prefix.as_ref());
        self.scan(scan.from, scan.to)
    }

    /// The entries within `range`, in key order.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        self.scan(
            owned_bound(range.start_bound()),
            owned_bound(range.end_bound()),
        )
    }

    fn scan(&self, from: Bound<Vec<u8>>, to: Bound<Vec<u8>>) -> Iter {
        let scan = Scan::range(from, to);
        match &self.engine {
            Engine::Sled(tree) if scan.is_empty_range() => {
                Iter::Sled(tree.range(Vec::<u8>::new()..Vec::new()))
            }
            Engine::Sled(tree) => Iter::Sled(tree.range::<Vec<u8>, _>((scan.from, scan.to))),
            Engine::Postgres(pg) => Iter::Pages(Pages {
                trees: pg.clone(),
                tree: self.name,
                exhausted: scan.is_empty_range(),
                from: scan.from,
                to: scan.to,
                front: VecDeque::new(),
                back: VecDeque::new(),
            }),
        }
    }
}

/// The entries of a scan, in key order (either end first), read as they are asked for.
pub enum Iter {
    Sled(sled::Iter),
    Pages(Pages),
}

/// A PostgreSQL scan read in pages from either end: keys between `from` and `to` are not read
/// yet; every key in `front` is below them and every key in `back` above, so the two ends never
/// hand out the same entry.
pub struct Pages {
    trees: Arc<PgTrees>,
    tree: &'static str,
    from: Bound<Vec<u8>>,
    to: Bound<Vec<u8>>,
    /// Nothing is left between `from` and `to`.
    exhausted: bool,
    front: VecDeque<Entry>,
    back: VecDeque<Entry>,
}

impl Pages {
    /// Reads the next page from the low end (`reverse`: the high end) into its buffer.
    fn read_page(&mut self, reverse: bool) -> Result<(), StoreError> {
        let mut scan = Scan::range(self.from.clone(), self.to.clone()).limit(PAGE);
        if reverse {
            scan = scan.reversed();
        }
        let page = self.trees.scan(self.tree, &scan)?;
        if page.len() < PAGE {
            self.exhausted = true;
        } else if let Some((last, _)) = page.last() {
            if reverse {
                self.to = Bound::Excluded(last.clone());
            } else {
                self.from = Bound::Excluded(last.clone());
            }
        }
        if reverse {
            for entry in page {
                self.back.push_front(entry);
            }
        } else {
            self.front.extend(page);
        }
        Ok(())
    }

    fn next_entry(&mut self, reverse: bool) -> Option<Result<Entry, StoreError>> {
        loop {
            let own = if reverse {
                self.back.pop_back()
            } else {
                self.front.pop_front()
            };
            if let Some(entry) = own {
                return Some(Ok(entry));
            }
            if self.exhausted {
                // The rest was read from the other end.
                return if reverse {
                    self.front.pop_back()
                } else {
                    self.back.pop_front()
                }
                .map(Ok);
            }
            if let Err(err) = self.read_page(reverse) {
                self.exhausted = true;
                self.front.clear();
                self.back.clear();
                return Some(Err(err));
            }
        }
    }
}

fn entry_of(entry: Result<Entry, StoreError>) -> Result<(Bytes, Bytes), StoreError> {
    entry.map(|(key, value)| (Bytes::from(key), Bytes::from(value)))
}

impl Iterator for Iter {
    type Item = Result<(Bytes, Bytes), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Sled(iter) => iter.next().map(|entry| entry.map_err(StoreError::from)),
            Iter::Pages(pages) => pages.next_entry(false).map(entry_of),
        }
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Sled(iter) => iter
                .next_back()
                .map(|entry| entry.map_err(StoreError::from)),
            Iter::Pages(pages) => pages.next_entry(true).map(entry_of),
        }
    }
}

impl Iter {
    /// The keys only.
    pub fn keys(self) -> impl DoubleEndedIterator<Item = Result<Bytes, StoreError>> {
        self.map(|entry| entry.map(|(key, _)| key))
    }

    /// The values only.
    pub fn values(self) -> impl DoubleEndedIterator<Item = Result<Bytes, StoreError>> {
        self.map(|entry| entry.map(|(_, value)| value))
    }
}

/// A tree as one transaction's work sees it: reads see the run's own writes; writes commit with
/// the run or not at all.
pub enum TxTree<'t> {
    Sled(&'t TransactionalTree),
    Run {
        run: &'t dyn RunAccess,
        tree: &'static str,
    },
}

/// A transaction run of [`OrderedTrees`] shared by the views of every tree it covers.
pub trait RunAccess {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, TxError>;
    fn put(&self, tree: &str, key: &[u8], value: Option<&[u8]>) -> Result<(), TxError>;
}

impl RunAccess for RefCell<&mut dyn TreeTx> {
    fn get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>, TxError> {
        self.borrow_mut().get(tree, key)
    }

    fn put(&self, tree: &str, key: &[u8], value: Option<&[u8]>) -> Result<(), TxError> {
        match value {
            Some(value) => self.borrow_mut().insert(tree, key, value),
            None => self.borrow_mut().remove(tree, key),
        }
    }
}

fn abort_of(err: TxError) -> ConflictableTransactionError<StoreError> {
    match err {
        TxError::Conflict => ConflictableTransactionError::Conflict,
        TxError::Failed(err) => ConflictableTransactionError::Abort(err),
    }
}

fn tx_error_of(err: ConflictableTransactionError<StoreError>) -> TxError {
    match err {
        ConflictableTransactionError::Conflict => TxError::Conflict,
        ConflictableTransactionError::Abort(err) => TxError::Failed(err),
        ConflictableTransactionError::Storage(err) => TxError::Failed(StoreError::Sled(err)),
    }
}

impl TxTree<'_> {
    pub fn get(&self, key: impl AsRef<[u8]>) -> TxResult<Option<Bytes>> {
        match self {
            TxTree::Sled(tree) => Ok(tree.get(key)?),
            TxTree::Run { run, tree } => Ok(run
                .get(tree, key.as_ref())
                .map_err(abort_of)?
                .map(Bytes::from)),
        }
    }

    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> TxResult<()> {
        match self {
            TxTree::Sled(tree) => {
                tree.insert(key.as_ref(), value.as_ref())?;
                Ok(())
            }
            TxTree::Run { run, tree } => run
                .put(tree, key.as_ref(), Some(value.as_ref()))
                .map_err(abort_of),
        }
    }

    pub fn remove(&self, key: impl AsRef<[u8]>) -> TxResult<()> {
        match self {
            TxTree::Sled(tree) => {
                tree.remove(key.as_ref())?;
                Ok(())
            }
            TxTree::Run { run, tree } => run.put(tree, key.as_ref(), None).map_err(abort_of),
        }
    }
}

/// Trees written in one transaction: one tree, or a tuple of them (as many as a change of an
/// envelope touches). Their views are handed to the work in the same shape.
pub trait TreeGroup {
    type View<'t>;

    /// The PostgreSQL database of the group's trees, when they are there.
    fn postgres(&self) -> Option<&Arc<PgTrees>>;

    /// Runs `work` as one sled transaction over the group.
    fn sled_transaction<A, F: Fn(&Self::View<'_>) -> TxResult<A>>(
        &self,
        work: &F,
    ) -> Result<A, StoreError>;

    /// The group's views within one run of an [`OrderedTrees`] transaction.
    fn views<'t>(&self, run: &'t dyn RunAccess) -> Self::View<'t>;

    /// Runs `work` as one transaction over the group, on the trees' backend.
    fn transaction<A, F: Fn(&Self::View<'_>) -> TxResult<A>>(
        &self,
        work: &F,
    ) -> Result<A, StoreError> {
        match self.postgres() {
            None => self.sled_transaction(work),
            Some(pg) => pg.transaction(&|tx: &mut dyn TreeTx| {
                let run: RefCell<&mut dyn TreeTx> = RefCell::new(tx);
                let views = self.views(&run);
                let answer = work(&views).map_err(tx_error_of);
                drop(views);
                answer
            }),
        }
    }
}

impl TreeGroup for &Tree {
    type View<'t> = TxTree<'t>;

    fn postgres(&self) -> Option<&Arc<PgTrees>> {
        Tree::postgres(self)
    }

    fn sled_transaction<A, F: Fn(&TxTree<'_>) -> TxResult<A>>(
        &self,
        work: &F,
    ) -> Result<A, StoreError> {
        let tree = self.sled_tree()?;
        Ok(tree.transaction(|view| work(&TxTree::Sled(view)))?)
    }

    fn views<'t>(&self, run: &'t dyn RunAccess) -> TxTree<'t> {
        TxTree::Run {
            run,
            tree: self.name,
        }
    }
}

macro_rules! tree_group_of_tuples {
    ($(($index:tt, $view:ident)),+) => {
        impl TreeGroup for ($(tree_group_of_tuples!(@tree $index),)+) {
            type View<'t> = ($(tree_group_of_tuples!(@view $index 't),)+);

            fn postgres(&self) -> Option<&Arc<PgTrees>> {
                Tree::postgres(self.0)
            }

            fn sled_transaction<A, F: Fn(&Self::View<'_>) -> TxResult<A>>(
                &self,
                work: &F,
            ) -> Result<A, StoreError> {
                let trees = ($(self.$index.sled_tree()?,)+);
                Ok(trees.transaction(|($($view,)+)| work(&($(TxTree::Sled($view),)+)))?)
            }

            fn views<'t>(&self, run: &'t dyn RunAccess) -> Self::View<'t> {
                ($(TxTree::Run { run, tree: self.$index.name },)+)
            }
        }
    };
    (@tree $index:tt) => { &Tree };
    (@view $index:tt $lifetime:lifetime) => { TxTree<$lifetime> };
}

tree_group_of_tuples!((0, a), (1, b));
tree_group_of_tuples!((0, a), (1, b), (2, c));
tree_group_of_tuples!((0, a), (1, b), (2, c), (3, d));
tree_group_of_tuples!((0, a), (1, b), (2, c), (3, d), (4, e));
tree_group_of_tuples!((0, a), (1, b), (2, c), (3, d), (4, e), (5, f));
tree_group_of_tuples!((0, a), (1, b), (2, c), (3, d), (4, e), (5, f), (6, g));
tree_group_of_tuples!(
    (0, a),
    (1, b),
    (2, c),
    (3, d),
    (4, e),
    (5, f),
    (6, g),
    (7, h)
);
tree_group_of_tuples!(
    (0, a),
    (1, b),
    (2, c),
    (3, d),
    (4, e),
    (5, f),
    (6, g),
    (7, h),
    (8, i)
);
tree_group_of_tuples!(
    (0, a),
    (1, b),
    (2, c),
    (3, d),
    (4, e),
    (5, f),
    (6, g),
    (7, h),
    (8, i),
    (9, j)
);
tree_group_of_tuples!(
    (0, a),
    (1, b),
    (2, c),
    (3, d),
    (4, e),
    (5, f),
    (6, g),
    (7, h),
    (8, i),
    (9, j),
    (10, k)
);
