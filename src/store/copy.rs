//! Copying a sled store into PostgreSQL, checked: every tree is written in batches, then read
//! back from PostgreSQL and compared with the source by entry count and a SHA-256 over its
//! entries in key order; every blob is read back and its content hashed against its name. The
//! core of `signbridge migrate --to postgres://…` (issue 19).
//!
//! The source is read as one consistent state (a writer turn, then the backup's checksum
//! check), so a store in use copies safely; what it writes after that state is not copied,
//! which is why the migration runs with signbridge stopped. The target must hold no data yet:
//! a copy never merges two stores.

use super::postgres::PgTrees;
use super::trees::{OrderedTrees, Scan, TreeTx, TxError};
use super::{Store, StoreError};
use sha2::{Digest, Sha256};

/// Entries written per PostgreSQL transaction.
const BATCH: usize = 2_000;

/// One tree as copied and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedTree {
    pub tree: String,
    pub entries: u64,
    /// Hex SHA-256 over the tree's entries in key order (each key and value length-prefixed),
    /// the same on both sides.
    pub sha256: String,
}

/// What a copy wrote, every part checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub trees: Vec<CopiedTree>,
    pub blobs: u64,
    pub blob_bytes: u64,
}

/// The digest both sides are compared by.
pub fn entries_digest<'a>(entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> String {
    let mut hash = Sha256::new();
    for (key, value) in entries {
        for part in [key, value] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
    }
    hex::encode(hash.finalize())
}

impl Store {
    /// Every tree's name and entries in key order, as one consistent state of the store (what
    /// a copy copies, and what it is checked against).
    pub fn every_tree(&self) -> Result<super::backup::Trees, StoreError> {
        let _turn = self.writer_turn();
        self.sled_db("a copy into PostgreSQL")?.flush()?;
        let (trees, _) = self.consistent_trees().map_err(|err| match err {
            super::backup::BackupError::Store(err) => err,
            other => StoreError::CopyRefused(other.to_string()),
        })?;
        Ok(trees)
    }

    /// Copies every tree and blob of this store into `target` and checks the copy (see the
    /// module docs).
    pub fn copy_into(&self, target: &PgTrees) -> Result<CopyReport, StoreError> {
        if let Some(tree) = target.tree_names()?.first() {
            return Err(StoreError::CopyRefused(format!(
                "the target already holds data (tree {tree}): copy into an empty database"
            )));
        }
        let trees = self.every_tree()?;
        let mut report = CopyReport {
            trees: Vec::new(),
            blobs: 0,
            blob_bytes: 0,
        };
        for (name, entries) in &trees {
            if entries.is_empty() {
                continue;
            }
            let tree = String::from_utf8(name.clone())
                .map_err(|_| StoreError::CopyRefused(format!("tree name {name:?} is not UTF-8")))?;
            for batch in entries.chunks(BATCH) {
                target.transaction(&|tx: &mut dyn TreeTx| {
                    for (key, value) in batch {
                        tx.insert(&tree, key, value)?;
                    }
                    Ok::<(), TxError>(())
                })?;
            }
            let source_digest =
                entries_digest(entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
            let copied = target.scan(&tree, &Scan::all())?;
            let copied_digest =
                entries_digest(copied.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
            if copied.len() != entries.len() || copied_digest != source_digest {
                return Err(StoreError::CopyRefused(format!(
                    "tree {tree}: {} entries ({source_digest}) in the store, {} ({copied_digest}) \
                     in PostgreSQL",
                    entries.len(),
                    copied.len()
                )));
            }
            report.trees.push(CopiedTree {
                tree,
                entries: entries.len() as u64,
                sha256: source_digest,
            });
        }
        let blob_root = self
            .blobs
            .root()
            .ok_or(StoreError::SledOnly("a copy into PostgreSQL"))?;
        for path in super::backup::files_under(blob_root)? {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let Some(content) = self.blobs.get(name)? else {
                continue;
            };
            if super::sha256_hex_of(&content) != name {
                return Err(StoreError::CopyRefused(format!(
                    "blob {name} in the store does not hash to its name"
                )));
            }
            target.put_blob(&content)?;
            let copied = target.get_blob(name)?.unwrap_or_default();
            if super::sha256_hex_of(&copied) != name {
                return Err(StoreError::CopyRefused(format!(
                    "blob {name} did not read back whole from PostgreSQL"
                )));
            }
            report.blobs += 1;
            report.blob_bytes += content.len() as u64;
        }
        Ok(report)
    }
}
