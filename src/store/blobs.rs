//! Content-addressed blobs, named by their SHA-256. On sled they are files, `blobs/ab/abcdef…`,
//! written to a temporary file, fsynced, renamed, and the folder fsynced, so a name always
//! means full bytes; on PostgreSQL they are rows of `blobs`, shared by every replica.

use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Numbers the temporary files of this process's `put`s.
static NEXT_TMP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[derive(Debug, Clone)]
pub struct BlobStore {
    place: Place,
}

#[derive(Debug, Clone)]
enum Place {
    Files(PathBuf),
    Postgres(std::sync::Arc<super::postgres::PgTrees>),
}

fn postgres_io(err: super::StoreError) -> std::io::Error {
    std::io::Error::other(err.to_string())
}

/// Hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl BlobStore {
    pub fn open(root: PathBuf) -> std::io::Result<Self> {
        fs::create_dir_all(&root)?;
        Ok(Self {
            place: Place::Files(root),
        })
    }

    /// Blobs kept in the PostgreSQL database of the store's trees.
    pub(super) fn in_postgres(trees: std::sync::Arc<super::postgres::PgTrees>) -> Self {
        Self {
            place: Place::Postgres(trees),
        }
    }

    /// The folder the blobs live in (none when they are in PostgreSQL).
    pub fn root(&self) -> Option<&Path> {
        match &self.place {
            Place::Files(root) => Some(root),
            Place::Postgres(_) => None,
        }
    }

    fn is_digest(sha256: &str) -> bool {
        sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit())
    }

    fn path_of(root: &Path, sha256: &str) -> Option<PathBuf> {
        if !Self::is_digest(sha256) {
            return None;
        }
        Some(root.join(&sha256[..2]).join(sha256))
    }

    /// Stores `bytes` durably and returns their SHA-256 (hex). Storing the same bytes twice is free.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        let root = match &self.place {
            Place::Files(root) => root,
            Place::Postgres(pg) => return pg.put_blob(bytes).map_err(postgres_io),
        };
        let sha = sha256_hex(bytes);
        let path = Self::path_of(root, &sha).ok_or_else(|| std::io::Error::other("bad digest"))?;
        if path.exists() {
            return Ok(sha);
        }
        let folder = path
            .parent()
            .ok_or_else(|| std::io::Error::other("blob path has no folder"))?;
        fs::create_dir_all(folder)?;
        // A name of its own per call: two requests storing the same bytes at once must not
        // write (or rename away) each other's temporary file.
        let tmp = folder.join(format!(
            ".{sha}.{}.{}.tmp",
            std::process::id(),
            NEXT_TMP.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        {
            let mut file = File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        sync_dir(folder)?;
        sync_dir(root)?;
        Ok(sha)
    }

    /// Reads a blob; `None` if it is not there.
    pub fn get(&self, sha256: &str) -> std::io::Result<Option<Vec<u8>>> {
        let root = match &self.place {
            Place::Files(root) => root,
            Place::Postgres(_) if !Self::is_digest(sha256) => return Ok(None),
            Place::Postgres(pg) => return pg.get_blob(sha256).map_err(postgres_io),
        };
        let Some(path) = Self::path_of(root, sha256) else {
            return Ok(None);
        };
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The size of a blob in bytes; `None` if it is not there.
    pub fn size(&self, sha256: &str) -> std::io::Result<Option<u64>> {
        let root = match &self.place {
            Place::Files(root) => root,
            Place::Postgres(_) if !Self::is_digest(sha256) => return Ok(None),
            Place::Postgres(pg) => return pg.blob_size(sha256).map_err(postgres_io),
        };
        let Some(path) = Self::path_of(root, sha256) else {
            return Ok(None);
        };
        match fs::metadata(path) {
            Ok(metadata) => Ok(Some(metadata.len())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Removes a blob (no error if it is already gone). On PostgreSQL only while no record
    /// counts it as used (see [`super::postgres::PgTrees::remove_unused_blob`]).
    pub(super) fn remove(&self, sha256: &str) -> std::io::Result<()> {
        let root = match &self.place {
            Place::Files(root) => root,
            Place::Postgres(pg) => return pg.remove_unused_blob(sha256).map_err(postgres_io),
        };
        let Some(path) = Self::path_of(root, sha256) else {
            return Ok(());
        };
        match fs::remove_file(path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_dedup() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path().join("b")).unwrap();
        let a = blobs.put(b"hello").unwrap();
        assert_eq!(a, sha256_hex(b"hello"));
        assert_eq!(blobs.put(b"hello").unwrap(), a);
        assert_eq!(blobs.get(&a).unwrap().unwrap(), b"hello");
        assert_eq!(blobs.size(&a).unwrap(), Some(5));
        blobs.remove(&a).unwrap();
        assert!(blobs.get(&a).unwrap().is_none());
        assert_eq!(blobs.size(&a).unwrap(), None);
        assert!(blobs.get("../../etc/passwd").unwrap().is_none());
    }

    /// Requests storing the same new bytes at once each succeed with whole content (they
    /// shared one temporary file name: one truncated or renamed away the other's file).
    #[test]
    fn concurrent_puts_of_the_same_bytes_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path().join("b")).unwrap();
        let content: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
        for round in 0..20u8 {
            let mut bytes = content.clone();
            bytes[0] = round;
            let barrier = std::sync::Barrier::new(4);
            let shas: Vec<std::io::Result<String>> = std::thread::scope(|scope| {
                let workers: Vec<_> = (0..4)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            blobs.put(&bytes)
                        })
                    })
                    .collect();
                workers.into_iter().map(|w| w.join().unwrap()).collect()
            });
            for sha in shas {
                let sha = sha.unwrap_or_else(|err| panic!("round {round}: {err}"));
                assert_eq!(blobs.get(&sha).unwrap().unwrap(), bytes);
            }
        }
        let leftovers: Vec<_> = std::fs::read_dir(blobs.root().unwrap())
            .unwrap()
            .flat_map(|folder| std::fs::read_dir(folder.unwrap().path()).unwrap())
            .map(|entry| entry.unwrap().file_name())
            .filter(|name| name.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
