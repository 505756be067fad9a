//! The built-in `folder` source: a directory of `.json` records (one object per file, or an
//! array of them) and `.csv` files (one record per row), each with an id and a version field.
//! Write-back copies the signed PDF and audit trail into `<output>/<record id>/` and keeps a
//! `status.json` there.

use super::connector::{BrokenRecord, Connector, ReadBatch, SourceError, SourceRecord, WriteBack};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// A folder of records.
#[derive(Debug, Clone)]
pub struct FolderConnector {
    pub path: PathBuf,
    pub output: PathBuf,
    pub id_field: String,
    pub version_field: String,
}

/// A dotted path (`employee.id`) into a record.
pub fn field<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(record, |value, part| value.get(part))
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A CSV row as a record: `a.b` headers become nested objects; numbers stay strings.
fn csv_records(text: &str) -> Result<Vec<Value>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let mut records = Vec::new();
    for (index, row) in reader.records().enumerate() {
        let row = row.map_err(|e| format!("row {}: {e}", index + 2))?;
        let mut object = Value::Object(Map::new());
        for (header, cell) in headers.iter().zip(row.iter()) {
            let mut target = &mut object;
            let parts: Vec<&str> = header.split('.').collect();
            for (depth, part) in parts.iter().enumerate() {
                let map = match target {
                    Value::Object(map) => map,
                    _ => break,
                };
                if depth + 1 == parts.len() {
                    map.insert(part.to_string(), json!(cell));
                    break;
                }
                target = map.entry(part.to_string()).or_insert_with(|| json!({}));
            }
        }
        records.push(object);
    }
    Ok(records)
}

fn modified_nanos(path: &Path) -> u128 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// A record id as a safe folder name.
fn folder_name(id: &str) -> String {
    let cleaned: String = id
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches('.');
    if trimmed.is_empty() {
        "_".into()
    } else {
        trimmed.to_string()
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("partial");
    {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)
}

impl FolderConnector {
    fn record_of(&self, value: Value, origin: &str) -> Result<SourceRecord, SourceError> {
        let id = field(&value, &self.id_field)
            .and_then(scalar)
            .ok_or_else(|| {
                SourceError::BadRecord(format!("{origin}: no `{}` (the id field)", self.id_field))
            })?;
        let version = match field(&value, &self.version_field).and_then(scalar) {
            Some(version) => version,
            None => {
                use sha2::Digest;
                hex::encode(&sha2::Sha256::digest(value.to_string().as_bytes())[..8])
            }
        };
        Ok(SourceRecord {
            id,
            version,
            data: value,
        })
    }
}

impl FolderConnector {
    /// The records of one file, or why the file cannot be used (`Ok(None)`: being written).
    fn file_records(&self, path: &Path) -> Result<Option<Vec<Value>>, SourceError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|err| SourceError::Unavailable(format!("{origin}: {err}")))?;
        if origin.ends_with(".csv") {
            return csv_records(&text)
                .map(Some)
                .map_err(|err| SourceError::BadRecord(format!("{origin}: {err}")));
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => Ok(Some(items)),
            Ok(value @ Value::Object(_)) => Ok(Some(vec![value])),
            Ok(_) => Err(SourceError::BadRecord(format!(
                "{origin}: a record file holds an object or an array of objects"
            ))),
            // A file being written right now: read it on the next run.
            Err(err) if err.is_eof() => Ok(None),
            Err(err) => Err(SourceError::BadRecord(format!(
                "{origin}:{}:{}: {err}",
                err.line(),
                err.column()
            ))),
        }
    }
}

/// A file's name without its extension: the id a broken file is reported under (name record
/// files after their record's id and a fixed file takes its place by itself).
fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn content_hash(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap_or_default();
    hex::encode(&sha2::Sha256::digest(&bytes)[..8])
}

impl Connector for FolderConnector {
    fn read(&self, stream: &str, cursor: Option<&str>) -> Result<ReadBatch, SourceError> {
        if stream != "records" {
            return Err(SourceError::Config(format!(
                "the folder connector has one stream, `records`, not `{stream}`"
            )));
        }
        let since: u128 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let entries = std::fs::read_dir(&self.path)
            .map_err(|err| SourceError::Unavailable(format!("{}: {err}", self.path.display())))?;
        let mut files: Vec<(u128, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && matches!(p.extension().and_then(|e| e.to_str()), Some("json" | "csv"))
            })
            .map(|p| (modified_nanos(&p), p))
            .filter(|(modified, _)| *modified >= since)
            .collect();
        files.sort();
        let mut batch = ReadBatch::default();
        let mut newest = since;
        for (modified, path) in files {
            let origin = path.display().to_string();
            let values = match self.file_records(&path) {
                Ok(Some(values)) => values,
                Ok(None) => continue,
                Err(SourceError::BadRecord(reason)) => {
                    batch.broken.push(BrokenRecord {
                        id: Some(file_stem(&path)),
                        version: content_hash(&path),
                        data: json!({"file": origin}),
                        reason,
                    });
                    newest = newest.max(modified);
                    continue;
                }
                Err(err) => return Err(err),
            };
            let single = values.len() == 1;
            for (index, value) in values.into_iter().enumerate() {
                match self.record_of(value, &origin) {
                    Ok(record) => batch.records.push(record),
                    Err(SourceError::BadRecord(reason)) => batch.broken.push(BrokenRecord {
                        id: single.then(|| file_stem(&path)),
                        version: content_hash(&path),
                        data: json!({"file": origin, "index": index}),
                        reason,
                    }),
                    Err(err) => return Err(err),
                }
            }
            newest = newest.max(modified);
        }
        batch.cursor = Some(newest.to_string());
        Ok(batch)
    }

    fn reread(&self, _stream: &str, broken: &Value) -> Result<SourceRecord, SourceError> {
        let path = PathBuf::from(broken["file"].as_str().unwrap_or_default());
        let index = broken["index"].as_u64().unwrap_or(0) as usize;
        let origin = path.display().to_string();
        let values = self.file_records(&path)?.ok_or_else(|| {
            SourceError::Unavailable(format!("{origin}: the file is being written"))
        })?;
        let value = values.into_iter().nth(index).ok_or_else(|| {
            SourceError::BadRecord(format!("{origin}: no record {} in the file", index + 1))
        })?;
        self.record_of(value, &origin)
    }

    fn streams(&self) -> Vec<String> {
        vec!["records".into()]
    }

    fn check(&self) -> Result<(), SourceError> {
        std::fs::read_dir(&self.path)
            .map(|_| ())
            .map_err(|err| SourceError::Unavailable(format!("{}: {err}", self.path.display())))
    }

    fn write_back(&self, outcome: &WriteBack) -> Result<(), SourceError> {
        let folder = self.output.join(folder_name(&outcome.record_id));
        std::fs::create_dir_all(&folder)
            .map_err(|err| SourceError::Unavailable(format!("{}: {err}", folder.display())))?;
        for (name, bytes) in &outcome.files {
            let path = folder.join(name);
            write_atomically(&path, bytes)
                .map_err(|err| SourceError::Unavailable(format!("{}: {err}", path.display())))?;
        }
        let status = json!({
            "recordId": outcome.record_id,
            "state": outcome.state,
            "envelopeId": outcome.envelope_id,
            "fields": outcome.fields,
            "files": outcome.files.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            "writtenAt": chrono::Utc::now(),
        });
        let path = folder.join("status.json");
        write_atomically(
            &path,
            serde_json::to_string_pretty(&status)
                .unwrap_or_default()
                .as_bytes(),
        )
        .map_err(|err| SourceError::Unavailable(format!("{}: {err}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_csv_records_with_ids_and_versions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.json"),
            r#"{"id": "E1", "updatedAt": "2026-01-01", "name": "Ann"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.csv"),
            "id,employee.name,updatedAt\nE2,Bob,v1\nE3,Zoë,v2\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let connector = FolderConnector {
            path: dir.path().to_path_buf(),
            output: dir.path().join("out"),
            id_field: "id".into(),
            version_field: "updatedAt".into(),
        };
        let records = connector.read("records", None).unwrap().records;
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.contains(&"E1") && ids.contains(&"E3"));
        let zoe = records.iter().find(|r| r.id == "E3").unwrap();
        assert_eq!(zoe.data["employee"]["name"], "Zoë");
        assert_eq!(zoe.version, "v2");
        assert!(connector.read("deals", None).is_err());

        // The cursor is the newest modification time read: files older than it are not read
        // again; files at it are (another could have been written in the same instant).
        let set_modified = |name: &str, seconds: u64| {
            std::fs::File::options()
                .write(true)
                .open(dir.path().join(name))
                .unwrap()
                .set_modified(UNIX_EPOCH + std::time::Duration::from_secs(seconds))
                .unwrap();
        };
        let ids_of = |records: &[SourceRecord]| {
            let mut ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
            ids.sort();
            ids
        };
        set_modified("a.json", 1_000);
        set_modified("b.csv", 2_000);
        let ReadBatch {
            records: all,
            cursor,
            ..
        } = connector.read("records", None).unwrap();
        assert_eq!(ids_of(&all), ["E1", "E2", "E3"]);
        assert_eq!(cursor.as_deref(), Some("2000000000000"));
        let ReadBatch {
            records: again,
            cursor: same,
            ..
        } = connector.read("records", cursor.as_deref()).unwrap();
        assert_eq!(
            ids_of(&again),
            ["E2", "E3"],
            "a.json is older than the cursor"
        );
        assert_eq!(same, cursor);
        set_modified("a.json", 3_000);
        let ReadBatch {
            records: changed,
            cursor: newer,
            ..
        } = connector.read("records", cursor.as_deref()).unwrap();
        assert_eq!(ids_of(&changed), ["E1", "E2", "E3"]);
        assert_eq!(newer.as_deref(), Some("3000000000000"));
        let latest = connector.read("records", newer.as_deref()).unwrap().records;
        assert_eq!(ids_of(&latest), ["E1"], "only the file changed last");

        // A broken file is reported under its name; the others are read all the same.
        std::fs::write(dir.path().join("E9.json"), r#"{"name": "no id"}"#).unwrap();
        std::fs::write(dir.path().join("E8.json"), r#"{"id": "E8", "#).unwrap();
        std::fs::write(dir.path().join("E7.json"), "{\"id\": \"E7\",\n\"x\": }").unwrap();
        let batch = connector.read("records", None).unwrap();
        assert_eq!(ids_of(&batch.records), ["E1", "E2", "E3"]);
        let mut broken: Vec<(Option<String>, String)> = batch
            .broken
            .iter()
            .map(|b| (b.id.clone(), b.reason.clone()))
            .collect();
        broken.sort();
        assert_eq!(broken.len(), 2, "E8 is still being written: {broken:?}");
        assert_eq!(broken[0].0.as_deref(), Some("E7"));
        assert!(broken[0].1.contains("E7.json:2:"), "{}", broken[0].1);
        assert_eq!(broken[1].0.as_deref(), Some("E9"));
        assert!(broken[1].1.contains("no `id`"), "{}", broken[1].1);
        // Fixed, it reads again from what the broken record kept.
        let e9 = batch
            .broken
            .iter()
            .find(|b| b.id.as_deref() == Some("E9"))
            .unwrap();
        assert!(matches!(
            connector.reread("records", &e9.data),
            Err(SourceError::BadRecord(_))
        ));
        std::fs::write(
            dir.path().join("E9.json"),
            r#"{"id": "E9", "name": "fixed"}"#,
        )
        .unwrap();
        assert_eq!(connector.reread("records", &e9.data).unwrap().id, "E9");
    }

    #[test]
    fn write_back_puts_files_and_status_in_the_record_folder() {
        let dir = tempfile::tempdir().unwrap();
        let connector = FolderConnector {
            path: dir.path().to_path_buf(),
            output: dir.path().join("out"),
            id_field: "id".into(),
            version_field: "updatedAt".into(),
        };
        let outcome = WriteBack {
            record_id: "../E 1".into(),
            record: json!({"id": "../E 1"}),
            state: "completed".into(),
            envelope_id: "env_1".into(),
            files: vec![("E1-signed.pdf".into(), b"%PDF".to_vec())],
            fields: Default::default(),
        };
        connector.write_back(&outcome).unwrap();
        connector.write_back(&outcome).unwrap();
        let folder = dir.path().join("out").join("_E_1");
        assert_eq!(
            std::fs::read(folder.join("E1-signed.pdf")).unwrap(),
            b"%PDF"
        );
        let status: Value =
            serde_json::from_slice(&std::fs::read(folder.join("status.json")).unwrap()).unwrap();
        assert_eq!(status["state"], "completed");
    }
}
