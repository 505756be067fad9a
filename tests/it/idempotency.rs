//! `Idempotency-Key`: replay of the stored answer, refusal of a reused key with another body,
//! concurrent duplicates creating one object.

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn same_key_same_body_replays_the_first_answer() {
    let server = Server::start().await;
    let document = server.upload(pdf(1, "x"), "x.pdf").await;
    let body = json!({"subject": "Once", "documentIds": [document["id"]], "recipients": [{"email": "a@example.com"}]});
    let first = server
        .post("/envelopes")
        .header("Idempotency-Key", "job-42")
        .json(&body)
        .send()
        .await
        .unwrap();
    let first_location = first.headers()["location"].clone();
    let first = expect_status(first, 201).await;
    let second = server
        .post("/envelopes")
        .header("Idempotency-Key", "job-42")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.headers()["location"], first_location);
    let second = expect_status(second, 201).await;
    assert_eq!(first, second);
    let list = expect_status(server.get("/envelopes").send().await.unwrap(), 200).await;
    assert_eq!(list["pagination"]["total"], 1);

    // Another body under the same key is refused and changes nothing.
    let other = json!({"subject": "Twice", "documentIds": [document["id"]], "recipients": [{"email": "a@example.com"}]});
    let reused = server
        .post("/envelopes")
        .header("Idempotency-Key", "job-42")
        .json(&other)
        .send()
        .await
        .unwrap();
    expect_error(reused, 422, "idempotency_key_reused").await;
    let list = expect_status(server.get("/envelopes").send().await.unwrap(), 200).await;
    assert_eq!(list["pagination"]["total"], 1);

    // Errors are replayed too: the same bad request answers the same way.
    let bad = json!({"subject": "", "recipients": [{"email": "a@example.com"}]});
    let a = server
        .post("/envelopes")
        .header("Idempotency-Key", "bad-1")
        .json(&bad)
        .send()
        .await
        .unwrap();
    let a = expect_error(a, 400, "validation_failed").await;
    let b = server
        .post("/envelopes")
        .header("Idempotency-Key", "bad-1")
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(expect_error(b, 400, "validation_failed").await, a);
}

#[tokio::test]
async fn uploads_are_idempotent_too() {
    let server = Server::start().await;
    let send = || {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(pdf(2, "same")).file_name("same.pdf"),
        );
        server
            .post("/documents")
            .header("Idempotency-Key", "upload-1")
            .multipart(form)
            .send()
    };
    // Each attempt has its own random multipart boundary; the same file is still the same request.
    let first = expect_status(send().await.unwrap(), 201).await;
    let second = send().await.unwrap();
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(expect_status(second, 201).await, first);
    // Another file under the same key is refused.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(pdf(3, "other")).file_name("same.pdf"),
    );
    let other = server
        .post("/documents")
        .header("Idempotency-Key", "upload-1")
        .multipart(form)
        .send()
        .await
        .unwrap();
    expect_error(other, 422, "idempotency_key_reused").await;
    let list = expect_status(server.get("/documents").send().await.unwrap(), 200).await;
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["data"][0]["id"], first["id"]);
}

#[tokio::test]
async fn concurrent_duplicates_create_one_envelope() {
    let server = Server::start().await;
    let document = server.upload(pdf(1, "x"), "x.pdf").await;
    let body = json!({"subject": "Race", "documentIds": [document["id"]], "recipients": [{"email": "a@example.com"}]});
    let requests = (0..8).map(|_| {
        server
            .post("/envelopes")
            .header("Idempotency-Key", "race-1")
            .json(&body)
            .send()
    });
    let responses = futures_join_all(requests).await;
    let mut ids = std::collections::BTreeSet::new();
    for response in responses {
        let envelope = expect_status(response.unwrap(), 201).await;
        ids.insert(envelope["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1, "every duplicate got the first envelope");
    let list = expect_status(server.get("/envelopes").send().await.unwrap(), 200).await;
    assert_eq!(list["pagination"]["total"], 1);
}

/// Runs futures concurrently on the current task (no extra crate needed).
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
