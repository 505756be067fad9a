//! The whole service on PostgreSQL (`storage:` a URL in signbridge.yaml): the API's path from
//! upload to sealed signed PDF, lists by status, with every record and blob in the database
//! and none in the data folder, and all of it there again after a kill -9.

use crate::common::postgres::{number, TestSchema};
use crate::common::{expect_status, pdf, Server};
use serde_json::{json, Value};

/// Every envelope id of a list, following its pages.
async fn listed(server: &Server, query: &str) -> (Vec<String>, u64) {
    let page = expect_status(
        server
            .get(&format!("/envelopes?limit=100{query}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let ids = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    (ids, page["pagination"]["total"].as_u64().unwrap())
}

fn pdfsig(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.pdf");
    std::fs::write(&path, bytes).unwrap();
    let output = std::process::Command::new("pdfsig")
        .arg(&path)
        .output()
        .expect("pdfsig (poppler-utils) is installed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_runs_on_postgres_end_to_end_and_keeps_everything_through_kill_9() {
    let schema = TestSchema::new();
    let yaml = format!(
        "storage: \"{}\"\nrate_limit:\n  requests_per_minute: 1000000\n  burst: 1000000\n",
        schema.url
    );
    let mut server = Server::start_with_config(Some(&yaml)).await;

    let completed = crate::evidence::sign_everything(
        &server,
        pdf(1, "Signed on PostgreSQL"),
        json!([{"email": "ana@example.com", "name": "Ana"}]),
        json!([]),
    )
    .await;
    let envelope = server.wait_completed(&completed).await;
    let signed = server
        .download(&completed, "signed-document")
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let report = pdfsig(&signed);
    assert!(report.contains("Signature is Valid."), "{report}");

    let mut drafts = Vec::new();
    for n in 0..5 {
        let draft = server.draft_envelope(&format!("Draft {n}")).await;
        drafts.push(draft["id"].as_str().unwrap().to_string());
    }
    drafts.reverse();
    let (listed_drafts, draft_total) = listed(&server, "&status=DRAFT").await;
    assert_eq!((listed_drafts.clone(), draft_total), (drafts.clone(), 5));
    let (listed_completed, _) = listed(&server, "&status=COMPLETED").await;
    assert_eq!(listed_completed, vec![completed.clone()]);
    let (everything, total) = listed(&server, "").await;
    assert_eq!(total, 6);

    // The store is in PostgreSQL, not in the data folder.
    assert!(!server.data_dir().join("db").exists());
    let blob_files = std::fs::read_dir(server.data_dir().join("blobs"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(blob_files, 0);
    assert_eq!(
        number(&schema, "SELECT count(*) FROM kv WHERE tree = 'envelopes'"),
        6
    );
    // The uploaded PDF, the draft's, the signed PDF and the audit trail at least.
    assert!(number(&schema, "SELECT count(*) FROM blobs") >= 3);

    // One process owns the store, as with the embedded store's folder lock.
    let config = server.config.clone().unwrap();
    let (status, _, err) = crate::common::run_cli(&[
        "keys",
        "create",
        "--env",
        "test",
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        server.data_dir().to_str().unwrap(),
    ]);
    assert!(!status.success());
    assert!(
        err.contains("PostgreSQL store is held by a running signbridge"),
        "{err}"
    );

    server.kill9();
    server.start_again().await;
    let again: Value = server.envelope(&completed).await;
    assert_eq!(again, envelope);
    let signed_again = server
        .download(&completed, "signed-document")
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    assert_eq!(signed_again, signed);
    assert_eq!(listed(&server, "&status=DRAFT").await, (drafts, 5));
    assert_eq!(listed(&server, "").await, (everything, 6));
}

/// Uploads a PDF, creates an envelope for `recipients` (with `extra` fields) and sends it.
async fn sent_envelope(server: &Server, subject: &str, recipients: Value, extra: Value) -> Value {
    let uploaded = server.upload(pdf(1, subject), "contract.pdf").await;
    let mut body = json!({
        "subject": subject,
        "documentIds": [uploaded["id"]],
        "recipients": recipients,
    });
    for (name, value) in extra.as_object().unwrap() {
        body[name] = value.clone();
    }
    let created = expect_status(
        server.post("/envelopes").json(&body).send().await.unwrap(),
        201,
    )
    .await;
    server.send(created["id"].as_str().unwrap()).await
}

/// Every page of a list (`/envelopes`, `/documents`), as the API answers it.
async fn every_page(server: &Server, path: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut page = 1;
    loop {
        let answer = expect_status(
            server
                .get(&format!("{path}?limit=3&page={page}"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let last = answer["pagination"]["pages"].as_u64().unwrap_or(1).max(1);
        pages.push(answer);
        if page >= last {
            return pages;
        }
        page += 1;
    }
}

/// What the API answers about each envelope (the envelope, its audit trail) and every list.
async fn everything_answered(server: &Server, ids: &[String]) -> Vec<Value> {
    let mut answers = Vec::new();
    for id in ids {
        answers.push(server.envelope(id).await);
        // Its audit trail as it stands (refused while it is under way, the same way).
        let trail = server.download(id, "audit-trail").await;
        let status = trail.status().as_u16();
        let body = trail.bytes().await.unwrap();
        answers.push(json!({"status": status, "sha256": signbridge::store::sha256_hex_of(&body)}));
    }
    answers.extend(every_page(server, "/envelopes").await);
    answers.extend(every_page(server, "/documents").await);
    answers.extend(every_page(server, "/webhooks").await);
    answers
}

/// `signbridge migrate --to` moves an embedded store with envelopes in every state the service
/// reaches into PostgreSQL; the server, started on it with the same data folder, answers every
/// envelope, its audit trail, every list page and the signed PDF exactly as before, and goes
/// on working there. A second migrate into the same database is refused and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_migrated_to_postgres_answers_field_for_field() {
    let yaml = "rate_limit:\n  requests_per_minute: 1000000\n  burst: 1000000\n\
                signing:\n  ticker_interval_secs: 1\nwebhooks:\n  allow_loopback: true\n";
    let mut server = Server::start_with_config(Some(yaml)).await;
    let ana = json!([{"email": "ana@example.com", "name": "Ana"}]);
    let two = json!([
        {"email": "ana@example.com", "name": "Ana", "signingOrder": 1},
        {"email": "bo@example.com", "name": "Bo", "signingOrder": 2}
    ]);
    let completed =
        crate::evidence::sign_everything(&server, pdf(1, "Completed"), ana.clone(), json!([]))
            .await;
    server.wait_completed(&completed).await;
    let draft = server.draft_envelope("Draft").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sent = sent_envelope(&server, "Sent", ana.clone(), json!({})).await;
    let delivered = sent_envelope(&server, "Delivered", ana.clone(), json!({})).await;
    let link = delivered["recipients"][0]["signUrl"].as_str().unwrap();
    assert_eq!(server.http.get(link).send().await.unwrap().status(), 200);
    let partly = sent_envelope(&server, "Partly signed", two, json!({})).await;
    let (status, page) = server
        .sign(partly["recipients"][0]["signUrl"].as_str().unwrap(), "Ana")
        .await;
    assert_eq!(status, 303, "{page}");
    let declined = sent_envelope(&server, "Declined", ana.clone(), json!({})).await;
    let (status, page) = server
        .submit(
            declined["recipients"][0]["signUrl"].as_str().unwrap(),
            &[("action", "decline"), ("reason", "Wrong salary")],
        )
        .await;
    assert_eq!(status, 303, "{page}");
    let voided = sent_envelope(&server, "Voided", ana.clone(), json!({})).await;
    let voided_id = voided["id"].as_str().unwrap();
    expect_status(
        server
            .delete(&format!("/envelopes/{voided_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let expiring = sent_envelope(&server, "Expired", ana, json!({"expiresAt": soon})).await;
    let expiring_id = expiring["id"].as_str().unwrap().to_string();

    let mut ids = vec![completed.clone(), draft];
    for envelope in [&sent, &delivered, &partly, &declined, &voided] {
        ids.push(envelope["id"].as_str().unwrap().to_string());
    }
    ids.push(expiring_id.clone());
    let expected_states = [
        "COMPLETED",
        "DRAFT",
        "SENT",
        "DELIVERED",
        "PARTIALLY_SIGNED",
        "DECLINED",
        "VOIDED",
        "EXPIRED",
    ];
    for (id, state) in ids.iter().zip(expected_states) {
        let envelope = crate::common::eventually(30, || async {
            let envelope = server.envelope(id).await;
            (envelope["status"] == state).then_some(envelope)
        })
        .await;
        assert_eq!(envelope["status"], state);
    }
    // A subscription, to be moved too.
    expect_status(
        server
            .post("/webhooks")
            .json(&json!({"url": "http://127.0.0.1:9/hook", "events": ["envelope.completed"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let before = everything_answered(&server, &ids).await;
    let signed_before = server
        .download(&completed, "signed-document")
        .await
        .bytes()
        .await
        .unwrap();

    // Stopped, then migrated.
    server.terminate();
    let schema = TestSchema::new();
    let data_dir = server.data_dir();
    let (status, out, err) = crate::common::run_cli(&[
        "migrate",
        "--to",
        &schema.url,
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    assert!(status.success(), "{out}\n{err}");
    assert!(out.contains("copied and checked"), "{out}");
    let envelopes_rows = number(&schema, "SELECT count(*) FROM kv WHERE tree = 'envelopes'");
    assert_eq!(envelopes_rows, ids.len() as i64);
    let (status, out, err) = crate::common::run_cli(&[
        "migrate",
        "--to",
        &schema.url,
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    assert!(!status.success(), "{out}");
    assert!(err.contains("already holds data"), "{err}");
    assert_eq!(
        number(&schema, "SELECT count(*) FROM kv WHERE tree = 'envelopes'"),
        envelopes_rows
    );

    // The same data folder's files, the store in PostgreSQL now.
    std::fs::rename(data_dir.join("db"), server.dir.path().join("db.migrated")).unwrap();
    std::fs::rename(
        data_dir.join("blobs"),
        server.dir.path().join("blobs.migrated"),
    )
    .unwrap();
    server.rewrite_config(&format!("{yaml}storage: \"{}\"\n", schema.url));
    server.start_again().await;
    let after = everything_answered(&server, &ids).await;
    assert_eq!(before.len(), after.len());
    for (was, is) in before.iter().zip(&after) {
        assert_eq!(was, is);
    }
    let signed_after = server
        .download(&completed, "signed-document")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(signed_after, signed_before);
    assert!(!data_dir.join("db").exists());

    // And it goes on: the partly signed envelope completes on PostgreSQL.
    let (status, page) = server
        .sign(partly["recipients"][1]["signUrl"].as_str().unwrap(), "Bo")
        .await;
    assert_eq!(status, 303, "{page}");
    server.wait_completed(partly["id"].as_str().unwrap()).await;
}
