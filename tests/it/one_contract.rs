//! One contract per record, against the real binary: later edits of a record send nothing
//! unless a `resend_on` field changed — then the contract out is voided and the corrected one
//! sent (once signed, the change is reported, or sent as a new contract when the mapping says
//! so) — across `kill -9`s, after an upgrade from a store keyed by record version, and through
//! the BambooHR and HubSpot connectors.

use crate::common::*;
use crate::sync::{
    admin_cli, daemon_status, envelopes_of, sign_until, sync_key, Pipeline, MAPPING,
};
use serde_json::{json, Value};
use std::process::Command;

/// `signbridge <args>` against the running server's admin API; its stdout.
pub(crate) fn admin(server: &Server, args: &[&str]) -> String {
    admin_cli(server.port, &server.data_dir(), args)
}

/// Polls `source` now (the CLI returns once the poll has read and noted every record), then
/// waits until the daemon has weighed what it noted: one complete poll, proven.
pub(crate) async fn poll_and_settle(server: &Server, source: &str) -> Value {
    // Off the test's runtime: a fake source system may be served by it.
    let (port, data_dir, source) = (server.port, server.data_dir(), source.to_string());
    tokio::task::spawn_blocking(move || admin_cli(port, &data_dir, &["sync", &source]))
        .await
        .unwrap();
    eventually(30, || async {
        let status = daemon_status(server);
        (status["updates"]["pending"] == 0 && status["webhooks"]["pending"] == 0).then_some(status)
    })
    .await
}

/// The envelopes of the sync key, by status.
pub(crate) async fn envelopes_by_status(server: &Server) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = envelopes_of(server, &sync_key(server))
        .await
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    all.sort_by(|a, b| a.1.cmp(&b.1));
    all
}

/// The text of an envelope's (first) document.
pub(crate) async fn document_text(server: &Server, envelope_id: &str) -> String {
    let key = sync_key(server);
    let envelope = expect_status(
        server
            .http
            .get(server.url(&format!("/envelopes/{envelope_id}")))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let document = envelope["documentIds"][0].as_str().unwrap();
    let bytes = server.document_bytes(&key, document).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contract.pdf");
    std::fs::write(&path, &bytes).unwrap();
    let output = Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A folder pipeline whose mapping resends on `role`, with record E0000 written.
fn pipeline(extra_mapping: &str) -> (Pipeline, String) {
    let (pipeline, config) = Pipeline::new("");
    std::fs::write(
        pipeline.root().join("mappings/onboarding.yaml"),
        format!("{MAPPING}resend_on: [role]\n{extra_mapping}"),
    )
    .unwrap();
    edit_record(
        &pipeline,
        "engineer",
        "+33 1 00 00 00 00",
        "2026-11-01T09:00:00Z",
    );
    (pipeline, config)
}

/// Writes record E0000 with this role, phone and version.
fn edit_record(pipeline: &Pipeline, role: &str, phone: &str, version: &str) {
    let record = json!({
        "id": "E0000",
        "status": "hired",
        "updatedAt": version,
        "name": "Zoé Martin",
        "email": "zoe@example.com",
        "role": role,
        "phone": phone,
    });
    let path = pipeline.root().join("records/E0000.json");
    let partial = path.with_extension("tmp");
    std::fs::write(&partial, record.to_string()).unwrap();
    std::fs::rename(partial, path).unwrap();
}

/// Waits (at most `seconds`) until the sync key has `total` envelopes, one of them out
/// (`SENT`); all of them, by status.
async fn one_out_of(server: &Server, total: usize, seconds: u64) -> Vec<(String, String)> {
    eventually(seconds, || async {
        let envelopes = envelopes_by_status(server).await;
        (envelopes.len() == total && envelopes.iter().any(|(_, s)| s == "SENT"))
            .then_some(envelopes)
    })
    .await
}

/// The one envelope with this status.
fn only(envelopes: &[(String, String)], status: &str) -> String {
    let found: Vec<&String> = envelopes
        .iter()
        .filter(|(_, s)| s == status)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(found.len(), 1, "one {status} envelope in {envelopes:?}");
    found[0].clone()
}

#[tokio::test]
async fn edits_send_nothing_unless_a_listed_field_changes_which_voids_and_resends() {
    let (pipeline, config) = pipeline("");
    let server = Server::start_with_config(Some(&config)).await;
    let first = only(&one_out_of(&server, 1, 30).await, "SENT");

    // A field the contract does not depend on: nothing, over several polls.
    edit_record(
        &pipeline,
        "engineer",
        "+33 6 12 34 56 78",
        "2026-11-02T09:00:00Z",
    );
    for _ in 0..3 {
        let status = poll_and_settle(&server, "hris").await;
        assert_eq!(status["total"], 1, "{status}");
        assert_eq!(status["jobs"]["sent"], 1, "{status}");
    }
    assert_eq!(
        envelopes_by_status(&server).await,
        [(first.clone(), "SENT".to_string())]
    );

    // A listed field while the contract is out: voided, and the corrected one sent.
    edit_record(
        &pipeline,
        "senior engineer",
        "+33 6 12 34 56 78",
        "2026-11-03T09:00:00Z",
    );
    poll_and_settle(&server, "hris").await;
    let envelopes = one_out_of(&server, 2, 30).await;
    assert_eq!(only(&envelopes, "VOIDED"), first);
    let corrected = only(&envelopes, "SENT");
    assert!(document_text(&server, &corrected)
        .await
        .contains("as senior engineer."));
    assert!(document_text(&server, &first)
        .await
        .contains("as engineer."));
    let messages = eventually(30, || {
        let dir = server.data_dir();
        async move {
            let messages = outbox_messages(&dir);
            let voided = messages.iter().any(|(n, _)| n.ends_with("-voided.eml"));
            let invitations = messages
                .iter()
                .filter(|(n, _)| n.ends_with("-invitation.eml"))
                .count();
            (voided && invitations == 2).then_some(messages)
        }
    })
    .await;
    let voided = &messages
        .iter()
        .find(|(n, _)| n.ends_with("-voided.eml"))
        .unwrap()
        .1;
    assert!(
        voided.contains("superseded by a corrected contract"),
        "the void notice says why: {voided}"
    );
    let corrected_link = server_sign_link(&server, &corrected).await;
    let invitation = &messages
        .iter()
        .find(|(n, m)| n.ends_with("-invitation.eml") && m.contains(&corrected_link))
        .expect("an invitation to the corrected contract")
        .1;
    assert!(
        invitation.contains("This corrected contract replaces the one sent to you earlier"),
        "{invitation}"
    );
    let history = admin(&server, &["status", "--record", "E0000"]);
    assert!(
        history.contains(&first)
            && history.contains("first send")
            && history.contains("voided: superseded by a corrected contract")
            && history.contains(&corrected)
            && history.contains("correction"),
        "{history}"
    );

    // Signed, then a listed field changes again: nothing sent, reported.
    // (The voided contract's link answers 409 and is passed over.)
    let mut signed = std::collections::HashSet::new();
    sign_until(&server, &mut signed, 2, 60).await;
    pipeline.wait_written_back(1, 60).await;
    let written = pipeline.status_files();
    assert_eq!(written[0]["envelopeId"], corrected.as_str());
    edit_record(
        &pipeline,
        "principal engineer",
        "+33 6 12 34 56 78",
        "2026-11-04T09:00:00Z",
    );
    let status = poll_and_settle(&server, "hris").await;
    assert_eq!(status["jobs"]["written_back"], 1, "{status}");
    assert_eq!(
        status["attention"][0]["message"], "the signed contract differs from the record: role",
        "{status}"
    );
    assert!(
        admin(&server, &["status"]).contains("the signed contract differs from the record: role")
    );
    assert_eq!(
        envelopes_by_status(&server).await.len(),
        2,
        "nothing sent after signing"
    );
}

/// The signing link of an envelope's first recipient, as the API shows it to the sender.
async fn server_sign_link(server: &Server, envelope_id: &str) -> String {
    let envelope = expect_status(
        server
            .http
            .get(server.url(&format!("/envelopes/{envelope_id}")))
            .bearer_auth(sync_key(server))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    envelope["recipients"][0]["signUrl"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn after_completion_new_contract_sends_one_new_envelope() {
    let (pipeline, config) = pipeline("after_completion: new_contract\n");
    let server = Server::start_with_config(Some(&config)).await;
    let mut signed = std::collections::HashSet::new();
    sign_until(&server, &mut signed, 1, 60).await;
    pipeline.wait_written_back(1, 60).await;
    edit_record(
        &pipeline,
        "lead engineer",
        "+33 1 00 00 00 00",
        "2026-11-05T09:00:00Z",
    );
    poll_and_settle(&server, "hris").await;
    let envelopes = one_out_of(&server, 2, 30).await;
    only(&envelopes, "COMPLETED");
    let amendment = only(&envelopes, "SENT");
    assert!(document_text(&server, &amendment)
        .await
        .contains("as lead engineer."));
    // More polls: still one new envelope.
    for _ in 0..2 {
        poll_and_settle(&server, "hris").await;
    }
    assert_eq!(envelopes_by_status(&server).await.len(), 2);
    let history = admin(&server, &["status", "--record", "E0000"]);
    assert!(history.contains("amendment"), "{history}");
}

#[tokio::test]
async fn an_upgraded_store_keyed_by_version_sends_no_second_contract() {
    let (pipeline, config) = pipeline("");
    let mut server = Server::start_with_config(Some(&config)).await;
    one_out_of(&server, 1, 30).await;
    server.kill9();
    // Make the store what an earlier version wrote: the job keyed `{id}@{version}` under the id
    // that key gives, none of the newer fields, no record index.
    {
        use signbridge::store::Store;
        use signbridge::sync::jobs::job_id;
        let store = Store::open(&server.data_dir()).unwrap();
        let (old_id, value) = store.sync_jobs.iter().next().unwrap().unwrap();
        let mut job: Value = serde_json::from_slice(&value).unwrap();
        let key = "E0000@2026-11-01T09:00:00Z";
        let legacy_id = job_id("onboarding", key);
        job["key"] = json!(key);
        job["id"] = json!(legacy_id);
        for newer in [
            "version",
            "generation",
            "reason",
            "history",
            "endedAs",
            "changed",
            "next",
            "attention",
        ] {
            job.as_object_mut().unwrap().remove(newer);
        }
        store.sync_jobs.remove(old_id).unwrap();
        store
            .sync_jobs
            .insert(legacy_id.as_bytes(), serde_json::to_vec(&job).unwrap())
            .unwrap();
        let envelope = job["envelopeId"].as_str().unwrap();
        store
            .sync_envelopes
            .insert(envelope.as_bytes(), legacy_id.as_bytes())
            .unwrap();
        store.sync_records.clear().unwrap();
        store.flush_blocking().unwrap();
    }
    server.restart().await;
    edit_record(
        &pipeline,
        "engineer",
        "+33 7 00 00 00 00",
        "2026-11-06T09:00:00Z",
    );
    for _ in 0..2 {
        let status = poll_and_settle(&server, "hris").await;
        assert_eq!(status["total"], 1, "no second job: {status}");
    }
    assert_eq!(
        envelopes_by_status(&server).await.len(),
        1,
        "no second envelope"
    );
}

#[tokio::test]
async fn kill_9_during_void_and_resend_leaves_one_voided_and_one_live_envelope() {
    let (pipeline, config) = pipeline("");
    let mut server = Server::start_with_config(Some(&config)).await;
    one_out_of(&server, 1, 30).await;
    let mut rng: u64 = 0x5eed_f00d;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 1..=4u64 {
        edit_record(
            &pipeline,
            &format!("engineer grade {round}"),
            "+33 1 00 00 00 00",
            &format!("2026-11-1{round}T09:00:00Z"),
        );
        // Crash at some point of the poll, void and resend, several times over.
        for _ in 0..3 {
            let _ = Command::new(BIN)
                .args([
                    "sync",
                    "hris",
                    "--listen",
                    &format!("127.0.0.1:{}", server.port),
                    "--data-dir",
                ])
                .arg(server.data_dir())
                .output();
            tokio::time::sleep(std::time::Duration::from_millis(next() % 300)).await;
            server.restart().await;
        }
        let envelopes = eventually(60, || async {
            let envelopes = envelopes_by_status(&server).await;
            let voided = envelopes.iter().filter(|(_, s)| s == "VOIDED").count();
            let sent = envelopes.iter().filter(|(_, s)| s == "SENT").count();
            (voided as u64 == round && sent == 1).then_some(envelopes)
        })
        .await;
        assert_eq!(envelopes.len() as u64, round + 1, "{envelopes:?}");
        let live = only(&envelopes, "SENT");
        assert!(
            document_text(&server, &live)
                .await
                .contains(&format!("as engineer grade {round}.")),
            "the live envelope has the newest values"
        );
        // Settled: more polls change nothing.
        let status = poll_and_settle(&server, "hris").await;
        assert_eq!(status["jobs"]["sent"], 1, "{status}");
        assert_eq!(envelopes_by_status(&server).await, envelopes);
    }
}

// ---------------------------------------------------------------------------------------------
// The shipped example mappings and connectors, against fakes answering in BambooHR's and
// HubSpot's documented shapes whose record the test edits.

mod connectors {
    use super::*;
    use axum::extract::{Path, Query, State};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    type Record = Arc<Mutex<Value>>;

    fn examples_config(source: &str, base: &str, settings: &str) -> String {
        let root = env!("CARGO_MANIFEST_DIR");
        // Polled at start, then only when the test asks (`signbridge sync`).
        format!(
            "sources:\n  {source}:\n    connector: {source}\n    schedule: \"0 0 0 1 1 *\"\n    base_url: {base}\n    settings:\n{settings}sync:\n  mappings_dir: {root}/examples/mappings\n  connectors_dir: {root}/connectors\n"
        )
    }

    /// Waits for the one envelope to be out; its id.
    async fn first_envelope(server: &Server) -> String {
        only(&one_out_of(server, 1, 60).await, "SENT")
    }

    /// Edits in a field not listed send nothing over several polls; an edit in a listed field
    /// voids the envelope and sends one with the corrected text.
    /// Then the corrected invitation says it replaces the earlier one; once `links` signing
    /// links are signed it is written back, and `after_signing` (a listed field changed again)
    /// sends nothing and is reported.
    async fn edit_then_correct(
        server: &Server,
        source: &str,
        (edit, correct, after_signing): (impl Fn(&str), impl Fn(), impl Fn()),
        corrected_text: &str,
        links: usize,
    ) {
        let first = first_envelope(server).await;
        edit("2026-11-21T09:00:00");
        for _ in 0..3 {
            let status = poll_and_settle(server, source).await;
            assert_eq!(status["total"], 1, "{status}");
        }
        assert_eq!(
            envelopes_by_status(server).await,
            [(first.clone(), "SENT".to_string())]
        );
        correct();
        poll_and_settle(server, source).await;
        let envelopes = one_out_of(server, 2, 30).await;
        assert_eq!(only(&envelopes, "VOIDED"), first);
        let corrected = only(&envelopes, "SENT");
        let text = document_text(server, &corrected).await;
        assert!(text.contains(corrected_text), "{corrected_text} in {text}");
        let link = server_sign_link(server, &corrected).await;
        let invitation = eventually(30, || {
            let (dir, link) = (server.data_dir(), link.clone());
            async move {
                outbox_messages(&dir)
                    .into_iter()
                    .find(|(name, text)| name.ends_with("-invitation.eml") && text.contains(&link))
                    .map(|(_, text)| text)
            }
        })
        .await;
        assert!(
            invitation.contains("This corrected contract replaces the one sent to you earlier"),
            "{invitation}"
        );

        // Signed (the voided contract's link answers 409) and written back to the source.
        let mut signed = std::collections::HashSet::new();
        sign_until(server, &mut signed, links, 60).await;
        eventually(60, || async {
            (daemon_status(server)["jobs"]["written_back"] == 1).then_some(())
        })
        .await;
        after_signing();
        let status = poll_and_settle(server, source).await;
        assert!(
            status["attention"][0]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("the signed contract differs from the record: ")),
            "{status}"
        );
        assert_eq!(
            envelopes_by_status(server).await.len(),
            2,
            "nothing sent after signing"
        );
    }

    #[tokio::test]
    async fn bamboohr_edits_and_a_corrected_job_title() {
        async fn changed(
            State(employee): State<Record>,
            Query(query): Query<HashMap<String, String>>,
        ) -> Json<Value> {
            let employee = employee.lock().unwrap().clone();
            let since = query.get("since").cloned().unwrap_or_default();
            let changed = employee["lastChanged"].as_str().unwrap().to_string();
            let mut employees = serde_json::Map::new();
            if chrono::DateTime::parse_from_rfc3339(&changed).unwrap()
                >= chrono::DateTime::parse_from_rfc3339(&since).unwrap()
            {
                employees.insert(
                    "3".into(),
                    json!({"id": "3", "action": "Updated", "lastChanged": changed}),
                );
            }
            Json(json!({"latest": changed, "employees": employees}))
        }
        async fn employee(State(employee): State<Record>, Path(id): Path<String>) -> Json<Value> {
            let mut employee = employee.lock().unwrap().clone();
            employee["id"] = json!(id);
            employee.as_object_mut().unwrap().remove("lastChanged");
            Json(employee)
        }
        let record: Record = Arc::new(Mutex::new(json!({
            "firstName": "Łukasz", "lastName": "Nowak", "workEmail": "lukasz.nowak@example.com",
            "jobTitle": "Firmware Engineer", "department": "R&D", "division": "North",
            "location": "Paris", "hireDate": "2027-01-04", "lastChanged": "2026-11-20T09:00:00+00:00"
        })));
        let base = crate::connectors::serve(
            Router::new()
                .route("/api/v1/employees/changed", get(changed))
                .route("/api/v1/employees/{id}", get(employee))
                .route(
                    "/api/v1/employees/{id}/files",
                    post(|| async { axum::http::StatusCode::CREATED }),
                )
                .with_state(record.clone()),
        )
        .await;
        let config = examples_config(
            "bamboohr",
            &base,
            "      company_domain: acme\n      api_key: bamboo-key\n      file_category: \"12\"\n",
        );
        let server = Server::start_with_config(Some(&config)).await;
        let set = |field: &str, value: &str, at: &str| {
            let mut record = record.lock().unwrap();
            record[field] = json!(value);
            record["lastChanged"] = json!(format!("{at}+00:00"));
        };
        // The employee, then the HR director: three links with the voided one.
        edit_then_correct(
            &server,
            "bamboohr",
            (
                |at: &str| set("division", "South", at),
                || {
                    set(
                        "jobTitle",
                        "Senior Firmware Engineer",
                        "2026-11-22T09:00:00",
                    )
                },
                || set("department", "Robotics", "2026-11-23T09:00:00"),
            ),
            "hired as Senior Firmware Engineer",
            3,
        )
        .await;
    }

    #[tokio::test]
    async fn hubspot_edits_and_a_corrected_amount() {
        async fn search(State(deal): State<Record>, Json(body): Json<Value>) -> Json<Value> {
            let deal = deal.lock().unwrap().clone();
            let floor: i64 = body["filterGroups"][0]["filters"][1]["value"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let modified = chrono::DateTime::parse_from_rfc3339(
                deal["properties"]["hs_lastmodifieddate"].as_str().unwrap(),
            )
            .unwrap()
            .timestamp_millis();
            let results = if modified >= floor {
                vec![deal]
            } else {
                vec![]
            };
            Json(json!({"total": results.len(), "results": results}))
        }
        async fn associations() -> Json<Value> {
            Json(
                json!({"results": [{"toObjectId": "901", "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3}]}]}),
            )
        }
        async fn contact(Path(id): Path<String>) -> Json<Value> {
            Json(
                json!({"id": id, "properties": {"email": "jonas.weber@example.com", "firstname": "Jonas", "lastname": "Weber"}}),
            )
        }
        async fn owner(Path(id): Path<String>) -> Json<Value> {
            Json(
                json!({"id": id, "email": "sales@acme-robotics.example", "firstName": "Sam", "lastName": "Seller"}),
            )
        }
        let record: Record = Arc::new(Mutex::new(json!({"id": "512", "properties": {
            "dealname": "Warehouse automation pilot", "dealstage": "contractsent", "pipeline": "default",
            "amount": "70500", "hs_lastmodifieddate": "2026-11-20T09:00:00.000Z", "hubspot_owner_id": "77"
        }, "archived": false})));
        let base = crate::connectors::serve(
            Router::new()
                .route("/crm/v3/objects/deals/search", post(search))
                .route(
                    "/crm/v4/objects/deals/{id}/associations/contacts",
                    get(associations),
                )
                .route("/crm/v3/objects/contacts/{id}", get(contact))
                .route("/crm/v3/owners/{id}", get(owner))
                .route(
                    "/files/v3/files",
                    post(|| async {
                        (
                            axum::http::StatusCode::CREATED,
                            Json(json!({"id": "file-31", "access": "PRIVATE"})),
                        )
                    }),
                )
                .route(
                    "/crm/v3/objects/notes",
                    post(|| async {
                        (
                            axum::http::StatusCode::CREATED,
                            Json(json!({"id": "note-9"})),
                        )
                    }),
                )
                .with_state(record.clone()),
        )
        .await;
        let config = examples_config(
            "hubspot",
            &base,
            "      access_token: pat-e2e\n      stage_id: contractsent\n",
        );
        let server = Server::start_with_config(Some(&config)).await;
        let set = |field: &str, value: &str, at: &str| {
            let mut record = record.lock().unwrap();
            record["properties"][field] = json!(value);
            record["properties"]["hs_lastmodifieddate"] = json!(format!("{at}.000Z"));
        };
        // The contact signs (the owner gets a copy): two links with the voided one.
        edit_then_correct(
            &server,
            "hubspot",
            (
                |at: &str| set("pipeline", "renewals", at),
                || set("amount", "82000", "2026-11-22T09:00:00"),
                || {
                    set(
                        "dealname",
                        "Warehouse automation rollout",
                        "2026-11-23T09:00:00",
                    )
                },
            ),
            "€82,000.00",
            2,
        )
        .await;
    }
}
