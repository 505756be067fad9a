//! Durability: whatever a response acknowledged survives `kill -9` right after it,
//! byte-identical — records, files, deletions, revocations.

use crate::common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    use base64::Engine;
    let mut server = Server::start().await;
    let mut documents: Vec<(Value, Vec<u8>)> = Vec::new();
    for i in 0..5 {
        let bytes = pdf(i + 1, &format!("Document {i}"));
        documents.push((
            server.upload(bytes.clone(), &format!("doc{i}.pdf")).await,
            bytes,
        ));
    }
    let mut envelopes = Vec::new();
    for (i, (document, _)) in documents.iter().enumerate() {
        let body = json!({
            "subject": format!("Contrat {i} – Σύμβαση"),
            "documentIds": [document["id"]],
            "recipients": [{"email": format!("p{i}@example.com"), "name": "Ζωή Łukasz"}],
        });
        envelopes.push(
            expect_status(
                server.post("/envelopes").json(&body).send().await.unwrap(),
                201,
            )
            .await,
        );
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(pdf(1, "one shot"));
    let one_shot = json!({"subject": "One shot", "signers": [{"email": "s@example.com"}], "documents": [{"name": "o.pdf", "base64Pdf": encoded}]});
    envelopes.push(
        expect_status(
            server
                .post("/envelopes")
                .json(&one_shot)
                .send()
                .await
                .unwrap(),
            201,
        )
        .await,
    );
    let patched_id = envelopes[0]["id"].as_str().unwrap().to_string();
    envelopes[0] = expect_status(
        server
            .patch(&format!("/envelopes/{patched_id}"))
            .json(&json!({"subject": "Patched"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let deleted_id = envelopes.remove(1)["id"].as_str().unwrap().to_string();
    expect_status(
        server
            .delete(&format!("/envelopes/{deleted_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let extra = expect_status(
        server
            .post("/keys")
            .json(&json!({"name": "to revoke"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let extra_id = extra["id"].as_str().unwrap();
    expect_status(
        server
            .delete(&format!("/keys/{extra_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    // A burst of concurrent creates, the last acknowledged just before the kill.
    let bodies: Vec<_> = (0..20)
        .map(|i| json!({"subject": format!("Burst {i}"), "recipients": [{"email": "b@example.com"}]}))
        .collect();
    let handles: Vec<_> = bodies
        .iter()
        .map(|b| tokio::spawn(server.post("/envelopes").json(b).send()))
        .collect();
    for handle in handles {
        envelopes.push(expect_status(handle.await.unwrap().unwrap(), 201).await);
    }

    server.kill9();
    server.restart().await;

    for envelope in &envelopes {
        let id = envelope["id"].as_str().unwrap();
        let after = expect_status(
            server
                .get(&format!("/envelopes/{id}"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(&after, envelope, "envelope {id} changed across kill -9");
    }
    for (document, bytes) in &documents {
        let id = document["id"].as_str().unwrap();
        let after = expect_status(
            server
                .get(&format!("/documents/{id}"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        assert_eq!(&after, document);
        let content = server
            .get(&format!("/documents/{id}/content"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(
            content.as_ref(),
            bytes.as_slice(),
            "document {id} bytes changed"
        );
    }
    expect_error(
        server
            .get(&format!("/envelopes/{deleted_id}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    let revoked = server
        .http
        .get(server.url("/account/me"))
        .bearer_auth(extra["secret"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    expect_error(revoked, 401, "api_key_revoked").await;
    let list = expect_status(
        server.get("/envelopes?limit=100").send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(list["pagination"]["total"], envelopes.len());
}

#[tokio::test]
async fn sigterm_finishes_cleanly_and_keeps_everything() {
    let mut server = Server::start().await;
    let envelope = server.draft_envelope("Before shutdown").await;
    let mut child = server.child.take().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
    server.restart().await;
    let id = envelope["id"].as_str().unwrap();
    let after = expect_status(
        server
            .get(&format!("/envelopes/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(after, envelope);
}

/// `signbridge backup` while the API takes writes, then `signbridge restore` into a fresh
/// folder: a server on it has every envelope and document acknowledged before the backup
/// began, byte for byte, and the sealed signed PDF still verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_every_envelope_document_and_signed_pdf() {
    let server = Server::start_unthrottled().await;
    let completed = crate::evidence::sign_everything(
        &server,
        pdf(1, "Signed before the backup"),
        json!([{"email": "ana@example.com", "name": "Ana"}]),
        json!([]),
    )
    .await;
    server.wait_completed(&completed).await;
    let signed = server
        .download(&completed, "signed-document")
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();

    // Writers that keep going during the backup.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut load = Vec::new();
    for writer in 0..4 {
        let (http, url, key, stop, writes) = (
            server.http.clone(),
            server.url(""),
            server.key.clone(),
            stop.clone(),
            writes.clone(),
        );
        load.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let body = json!({"subject": format!("Load {writer}-{n}"), "recipients": [{"email": "l@example.com", "name": "L"}]});
                let created = http
                    .post(format!("{url}/envelopes"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await;
                if created.is_ok_and(|r| r.status() == 201) {
                    writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                n += 1;
            }
        }));
    }
    // What was acknowledged before the backup began.
    eventually(30, || async {
        (writes.load(std::sync::atomic::Ordering::SeqCst) >= 20).then_some(())
    })
    .await;
    let envelopes_before: Vec<Value> = all_pages(&server, "/envelopes").await;
    let documents_before: Vec<Value> = all_pages(&server, "/documents").await;
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("signbridge.tar.gz");
    let (port, data_dir, file) = (server.port, server.data_dir(), backup.clone());
    let made = tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .arg("backup")
            .arg(&file)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(&data_dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let during = writes.load(std::sync::atomic::Ordering::SeqCst);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for task in load {
        task.await.unwrap();
    }
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&made.stdout).trim());
    assert!(during >= 20, "the API took writes while the backup ran");

    // Restored into a fresh folder, served again.
    let mut restored = Server::start().await;
    restored.kill9();
    std::fs::remove_dir_all(restored.data_dir()).unwrap();
    let output = std::process::Command::new(BIN)
        .arg("restore")
        .arg(&backup)
        .arg("--data-dir")
        .arg(restored.data_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    restored.start_again().await;
    restored.key = server.key.clone();
    let envelopes_after: Vec<Value> = all_pages(&restored, "/envelopes").await;
    let ids_after: std::collections::HashSet<&str> = envelopes_after
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    for envelope in &envelopes_before {
        let id = envelope["id"].as_str().unwrap();
        assert!(ids_after.contains(id), "envelope {id} is missing");
    }
    for document in &documents_before {
        let id = document["id"].as_str().unwrap();
        let original = server.document_bytes(&server.key, id).await;
        let copy = restored.document_bytes(&server.key, id).await;
        assert_eq!(original, copy, "document {id}");
    }
    let restored_signed = restored
        .download(&completed, "signed-document")
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert_eq!(restored_signed, signed);
    let path = dir.path().join("signed.pdf");
    std::fs::write(&path, &restored_signed).unwrap();
    let verified = std::process::Command::new(BIN)
        .arg("verify")
        .arg(&path)
        .arg("--data-dir")
        .arg(restored.data_dir())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success() && report.contains("RESULT: VALID"),
        "{report}"
    );
}

/// Every item of a paginated list.
async fn all_pages(server: &Server, path: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for page in 1.. {
        let listed = expect_status(
            server
                .get(&format!("{path}?limit=100&page={page}"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let items = listed["data"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        all.extend(items);
    }
    all
}
