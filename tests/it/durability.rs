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
