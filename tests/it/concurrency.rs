//! Many clients at once: concurrent creates, edits and reads all complete (sled 0.34 deadlocked
//! here before writers were serialised) and every acknowledged envelope is listed once.

use crate::common::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_create_read_and_edit_without_stalling() {
    let server = Server::start_unthrottled().await;
    let document = server.upload(pdf(1, "shared"), "shared.pdf").await;
    let document_id = document["id"].as_str().unwrap().to_string();
    let before = store_metrics(&server).await;
    let base = server.url("");
    let key = server.key.clone();
    let client = server.http.clone();
    let workers: Vec<_> = (0..32)
        .map(|worker| {
            let (client, base, key, document_id) = (
                client.clone(),
                base.clone(),
                key.clone(),
                document_id.clone(),
            );
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..15 {
                    let body = json!({
                        "subject": format!("Worker {worker} #{i}"),
                        "documentIds": [document_id],
                        "recipients": [{"email": format!("w{worker}@example.com")}],
                    });
                    let created = client
                        .post(format!("{base}/envelopes"))
                        .bearer_auth(&key)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    let created = expect_status(created, 201).await;
                    let id = created["id"].as_str().unwrap().to_string();
                    let read = client
                        .get(format!("{base}/envelopes/{id}"))
                        .bearer_auth(&key)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(expect_status(read, 200).await["id"], id.as_str());
                    let patched = client
                        .patch(format!("{base}/envelopes/{id}"))
                        .bearer_auth(&key)
                        .json(&json!({"subject": format!("Edited {worker} #{i}")}))
                        .send()
                        .await
                        .unwrap();
                    expect_status(patched, 200).await;
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    // A liveness bound, not a performance claim: a deadlock would hang here forever.
    let all = tokio::time::timeout(Duration::from_secs(240), async {
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.unwrap());
        }
        all
    })
    .await
    .expect("the server stopped answering under concurrent writes (deadlock?)");
    assert_eq!(all.len(), 32 * 15);
    let list = expect_status(server.get("/envelopes?limit=1").send().await.unwrap(), 200).await;
    assert_eq!(list["pagination"]["total"], 32 * 15);

    // `/metrics` counts the writer's work: every acknowledged create and edit asked for a flush;
    // writer turns ran (concurrent envelope changes share one, `store::combine`); flushes ran,
    // each writing out and fsyncing.
    let after = store_metrics(&server).await;
    let grew = |name: &str| after[name] - before[name];
    let writes = f64::from(32 * 15 * 2);
    assert!(
        grew("signbridge_store_flush_requests_total") >= writes,
        "{after:?}"
    );
    let turns = grew("signbridge_store_writer_turns_total");
    assert!(turns >= 1.0, "{after:?}");
    assert!(grew("signbridge_store_flushes_total") >= 1.0, "{after:?}");
    assert!(
        grew("signbridge_store_fsync_seconds_total") > 0.0,
        "{after:?}"
    );
    assert!(
        grew("signbridge_store_writer_held_seconds_total") > 0.0,
        "{after:?}"
    );
    assert!(
        grew("signbridge_store_flush_write_out_seconds_total") > 0.0,
        "{after:?}"
    );
}

/// The store's counters in `/metrics`, by name.
async fn store_metrics(server: &Server) -> std::collections::BTreeMap<String, f64> {
    let text = server
        .http
        .get(format!("{}/metrics", server.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metrics: std::collections::BTreeMap<String, f64> = text
        .lines()
        .filter(|line| line.starts_with("signbridge_store_"))
        .map(|line| {
            let (name, value) = line.split_once(' ').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect();
    assert_eq!(metrics.len(), 8, "{text}");
    metrics
}
