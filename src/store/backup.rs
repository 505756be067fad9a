//! Backups of a running store and their restore into a fresh folder. A backup is a gzipped
//! tar: `manifest.json`, every sled tree (`trees/<hex name>`, length-prefixed keys and values),
//! every blob (`blobs/<sha256>`) and the data folder's own files (`files/…`: the token key,
//! the seal identity, the sync daemon's key and secrets). It is consistent: taken while no
//! transaction can commit, and the store's checksum is the same before and after the copy of
//! the trees (else it is taken again), so it is a state the store was in.

use super::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Copies that saw the store change before giving up (under a write storm).
const ATTEMPTS: usize = 20;

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: u32,
    pub created_at: String,
    pub trees: usize,
    pub records: u64,
    pub blobs: usize,
    pub files: usize,
    /// sled's CRC32 of every key and value at the moment of the copy.
    pub checksum: u32,
}

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("backup file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the store kept changing during {ATTEMPTS} copies; try again when it is quieter")]
    Busy,
    #[error("not a signbridge backup: {0}")]
    Invalid(String),
    #[error("{0} is not empty: restore into a new folder")]
    NotEmpty(PathBuf),
}

/// The folders of a data folder that are not copied as files: the trees and blobs go in their
/// own form; page images are derived; the outbox holds what was already delivered.
const NOT_FILES: [&str; 4] = ["db", "blobs", "pages", "outbox"];

/// Every tree of a store: its name and its entries in key order.
pub type Trees = Vec<(Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>)>;

impl Store {
    /// Every tree's records, consistent (see the module docs).
    pub(super) fn consistent_trees(&self) -> Result<(Trees, u32), BackupError> {
        let db = self.sled_db("a backup of the data folder")?;
        for _ in 0..ATTEMPTS {
            let before = db.checksum().map_err(StoreError::from)?;
            let mut trees = Vec::new();
            for name in db.tree_names() {
                let tree = db.open_tree(&name).map_err(StoreError::from)?;
                let mut records = Vec::new();
                for item in tree.iter() {
                    let (key, value) = item.map_err(StoreError::from)?;
                    records.push((key.to_vec(), value.to_vec()));
                }
                trees.push((name.to_vec(), records));
            }
            let after = db.checksum().map_err(StoreError::from)?;
            if before == after {
                return Ok((trees, after));
            }
        }
        Err(BackupError::Busy)
    }

    /// Writes a backup of the store and of `data_dir`'s files to `target` (through a temporary
    /// file renamed into place), while the store is in use.
    pub fn backup(&self, data_dir: &Path, target: &Path) -> Result<Manifest, BackupError> {
        // No transaction commits (and no blob is released) while the trees and blobs are read.
        // A writer turn: counted in `/metrics` like any other hold of the writer mutex.
        let _turn = self.writer_turn();
        self.sled_db("a backup of the data folder")?
            .flush()
            .map_err(StoreError::from)?;
        let (trees, checksum) = self.consistent_trees()?;
        let partial = target.with_extension(format!("partial-{}", std::process::id()));
        let file = std::fs::File::create(&partial)?;
        let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ));
        let mut records = 0u64;
        for (name, entries) in &trees {
            let mut bytes = Vec::new();
            for (key, value) in entries {
                for part in [key, value] {
                    bytes.extend_from_slice(&(part.len() as u32).to_be_bytes());
                    bytes.extend_from_slice(part);
                }
                records += 1;
            }
            append(
                &mut archive,
                &format!("trees/{}", hex::encode(name)),
                &bytes,
            )?;
        }
        let mut blobs = 0;
        let blob_root = self
            .blobs
            .root()
            .ok_or(StoreError::SledOnly("a backup of the data folder"))?;
        for path in files_under(blob_root)? {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                // A blob released by a deletion committed before the copy may go meanwhile;
                // the copied trees no longer name it.
                let Some(bytes) = read_if_there(&path)? else {
                    continue;
                };
                append(&mut archive, &format!("blobs/{name}"), &bytes)?;
                blobs += 1;
            }
        }
        let mut files = 0;
        for path in files_under(data_dir)? {
            let relative = path.strip_prefix(data_dir).unwrap_or(&path);
            let top = relative
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            if NOT_FILES.contains(&top.as_str()) || path == partial || path == target {
                continue;
            }
            let name = relative.to_string_lossy().replace('\\', "/");
            let Some(bytes) = read_if_there(&path)? else {
                continue;
            };
            append(&mut archive, &format!("files/{name}"), &bytes)?;
            files += 1;
        }
        let manifest = Manifest {
            format: 1,
            created_at: chrono::Utc::now().to_rfc3339(),
            trees: trees.len(),
            records,
            blobs,
            files,
            checksum,
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(StoreError::from)?;
        append(&mut archive, "manifest.json", &json)?;
        let encoder = archive.into_inner()?;
        let file = encoder.finish()?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&partial, target)?;
        Ok(manifest)
    }
}

fn append<W: Write>(
    archive: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    archive.append_data(&mut header, name, bytes)
}

/// A file's bytes, or `None` when it went away since it was listed.
fn read_if_there(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Every file under `root`, recursively (none when it does not exist).
pub(super) fn files_under(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                folders.push(entry.path());
            } else if kind.is_file() {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Restores `backup` into `data_dir`, which must be new or empty; the result is checked
/// against the backup's checksum.
pub fn restore(backup: &Path, data_dir: &Path) -> Result<Manifest, BackupError> {
    if data_dir.exists() && std::fs::read_dir(data_dir)?.next().is_some() {
        return Err(BackupError::NotEmpty(data_dir.to_path_buf()));
    }
    std::fs::create_dir_all(data_dir)?;
    let store = Store::open(data_dir)?;
    let file = std::fs::File::open(backup)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut manifest: Option<Manifest> = None;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        if let Some(tree) = name.strip_prefix("trees/") {
            let tree_name = hex::decode(tree).map_err(|_| BackupError::Invalid(name.clone()))?;
            let tree = store
                .sled_db("a restore of a backup")?
                .open_tree(tree_name)
                .map_err(StoreError::from)?;
            let mut rest = bytes.as_slice();
            while !rest.is_empty() {
                let key = take(&mut rest).ok_or_else(|| BackupError::Invalid(name.clone()))?;
                let value = take(&mut rest).ok_or_else(|| BackupError::Invalid(name.clone()))?;
                tree.insert(key, value).map_err(StoreError::from)?;
            }
        } else if let Some(sha) = name.strip_prefix("blobs/") {
            let stored = store.blobs.put(&bytes)?;
            if stored != sha {
                return Err(BackupError::Invalid(format!(
                    "blob {sha} does not match its bytes"
                )));
            }
        } else if let Some(relative) = name.strip_prefix("files/") {
            let path = Path::new(relative);
            if path.is_absolute()
                || path
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(BackupError::Invalid(format!(
                    "a file outside the folder: {name}"
                )));
            }
            let target = data_dir.join(path);
            if let Some(folder) = target.parent() {
                std::fs::create_dir_all(folder)?;
            }
            super::write_private_file(&target, &bytes)?;
        } else if name == "manifest.json" {
            manifest = Some(
                serde_json::from_slice(&bytes)
                    .map_err(|err| BackupError::Invalid(format!("manifest.json: {err}")))?,
            );
        } else {
            return Err(BackupError::Invalid(format!("unexpected entry {name}")));
        }
    }
    let manifest = manifest.ok_or_else(|| BackupError::Invalid("no manifest.json".into()))?;
    store.flush_blocking()?;
    let checksum = store
        .sled_db("a restore of a backup")?
        .checksum()
        .map_err(StoreError::from)?;
    if checksum != manifest.checksum {
        return Err(BackupError::Invalid(format!(
            "the restored store's checksum {checksum:08x} is not the backup's {:08x}",
            manifest.checksum
        )));
    }
    Ok(manifest)
}

/// One length-prefixed part.
fn take<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let length = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let part = rest.get(4..4 + length)?;
    *rest = &rest[4 + length..];
    Some(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_restores_to_the_same_store_and_files() {
        let source = tempfile::tempdir().unwrap();
        let store = Store::open(source.path()).unwrap();
        store
            .keys
            .insert(b"test/k1", b"{\"id\":1}".as_slice())
            .unwrap();
        store
            .envelopes
            .insert(b"live/e1", vec![0u8; 70_000])
            .unwrap();
        let sha = store.blobs.put(b"%PDF-1.7 a document").unwrap();
        std::fs::write(source.path().join("token.key"), [7u8; 32]).unwrap();
        std::fs::create_dir_all(source.path().join("seal")).unwrap();
        std::fs::write(source.path().join("seal/seal-ca.pem"), b"PEM").unwrap();
        std::fs::create_dir_all(source.path().join("pages/x")).unwrap();
        std::fs::write(source.path().join("pages/x/1-720.png"), b"derived").unwrap();
        let file = source.path().join("backup.tar.gz");
        let made = store.backup(source.path(), &file).unwrap();
        assert_eq!((made.blobs, made.files), (1, 2), "{made:?}");

        let target = tempfile::tempdir().unwrap();
        let restored_dir = target.path().join("data");
        let restored = restore(&file, &restored_dir).unwrap();
        assert_eq!(restored, made);
        let again = Store::open(&restored_dir).unwrap();
        assert_eq!(
            again.envelopes.get(b"live/e1").unwrap().unwrap().len(),
            70_000
        );
        assert_eq!(
            again.blobs.get(&sha).unwrap().as_deref(),
            Some(&b"%PDF-1.7 a document"[..])
        );
        assert_eq!(
            std::fs::read(restored_dir.join("token.key")).unwrap(),
            [7u8; 32]
        );
        assert!(
            !restored_dir.join("pages").exists(),
            "derived data is not backed up"
        );
        // Never over an existing store.
        assert!(matches!(
            restore(&file, &restored_dir),
            Err(BackupError::NotEmpty(_))
        ));
        // A damaged backup is refused.
        let damaged = target.path().join("damaged.tar.gz");
        std::fs::write(&damaged, b"not a backup").unwrap();
        assert!(restore(&damaged, &target.path().join("other")).is_err());
    }
}
