//! One bad record never stops a source, against the real binary: records that cannot become a
//! contract (a file that does not parse, no email, an invalid email, a template error, a 404 or
//! 403 on a record's own call, a deal without a contact) need attention — listed with their
//! reason, counted in `/metrics`, told to the operator once — while every other record goes
//! out; a fixed version goes out by itself, `retry` and `skip` take the rest; `kill -9` makes no
//! duplicate; a source that is down or throttled loses nothing and keeps its cursor.

use crate::common::*;
use crate::one_contract::{envelopes_by_status, poll_and_settle};
use crate::sync::{daemon_status, envelopes_of, sync_key, Pipeline, MAPPING};
use serde_json::{json, Value};
use std::process::Command;

/// Operator notices go to this address (the `.eml` outbox: no SMTP configured).
const NOTIFY: &str = "  notify:\n    email: [hr-ops@example.com]\n";

/// `signbridge <args>` against the server's admin API, off the test's runtime (a fake source
/// may be served by it): whether it succeeded, and its stdout and stderr.
async fn cli(server: &Server, args: &[&str]) -> (bool, String) {
    let (port, data_dir) = (server.port, server.data_dir());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(BIN)
            .args(&args)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(&data_dir)
            .output()
            .unwrap();
        (
            output.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    })
    .await
    .unwrap()
}

/// The operator notices in the outbox (their text).
fn notices(server: &Server) -> Vec<String> {
    outbox_messages(&server.data_dir())
        .into_iter()
        .filter(|(name, _)| name.starts_with("sync-"))
        .map(|(_, text)| text)
        .collect()
}

/// How many notices name `record` (as `source/record`).
fn told_about(server: &Server, source: &str, record: &str) -> usize {
    let needle = format!("{source}/{record}");
    notices(server)
        .iter()
        .filter(|text| {
            text.lines()
                .any(|l| l.starts_with("- ") && l.contains(&format!("{needle}, ")))
        })
        .count()
}

/// The parked job of `record`, as `status --json` lists it.
fn parked(status: &Value, record: &str) -> Value {
    status["parked"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["record"] == record)
        .cloned()
        .unwrap_or_else(|| panic!("{record} is not parked: {status}"))
}

async fn metrics(server: &Server) -> String {
    server
        .http
        .get(format!("{}/metrics", server.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Writes a record file whole (never seen half-written).
fn write_file(pipeline: &Pipeline, name: &str, text: &str) {
    let path = pipeline.root().join("records").join(name);
    let partial = path.with_extension("tmp");
    std::fs::write(&partial, text).unwrap();
    std::fs::rename(partial, path).unwrap();
}

fn employee(id: &str, email: Option<&str>, role: Option<&str>, version: &str) -> String {
    let mut record =
        json!({"id": id, "status": "hired", "updatedAt": version, "name": format!("Person {id}")});
    if let Some(email) = email {
        record["email"] = json!(email);
    }
    if let Some(role) = role {
        record["role"] = json!(role);
    }
    record.to_string()
}

/// A folder pipeline with operator notices and a `require:` on the email; four good records
/// and four broken ones: a file that does not parse, no email, an invalid email, no `role`
/// (the template cannot render).
fn broken_pipeline(more_notify: &str) -> (Pipeline, String) {
    let (pipeline, config) = Pipeline::new(&format!("{NOTIFY}{more_notify}"));
    std::fs::write(
        pipeline.root().join("mappings/onboarding.yaml"),
        format!("{MAPPING}require:\n  - field: email\n    message: \"employee {{{{id}}}}: no email in the HRIS\"\n"),
    )
    .unwrap();
    for n in 1..=4 {
        let id = format!("E{n}");
        write_file(
            &pipeline,
            &format!("{id}.json"),
            &employee(
                &id,
                Some(&format!("e{n}@example.com")),
                Some("engineer"),
                "v1",
            ),
        );
    }
    write_file(
        &pipeline,
        "B1.json",
        "{\"id\": \"B1\"\n \"status\": \"hired\"}",
    );
    write_file(
        &pipeline,
        "B2.json",
        &employee("B2", None, Some("engineer"), "v1"),
    );
    write_file(
        &pipeline,
        "B3.json",
        &employee("B3", Some("b3 at example.com"), Some("engineer"), "v1"),
    );
    write_file(
        &pipeline,
        "B4.json",
        &employee("B4", Some("b4@example.com"), None, "v1"),
    );
    (pipeline, config)
}

/// Waits until `sent` envelopes are out and `parked` jobs need attention; the status.
async fn settled(server: &Server, sent: u64, parked: u64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let status = daemon_status(server);
        if status["jobs"]["sent"] == sent && status["jobs"]["parked"] == parked {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not {sent} sent and {parked} parked within 60 s: {status:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A receiver of the operator webhook: the (headers, body) of each delivery.
type Deliveries = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_broken_records_of_eight_need_attention_and_the_other_four_go_out() {
    let deliveries: Deliveries = Default::default();
    let receiver = crate::connectors::serve(
        axum::Router::new()
            .route(
                "/ops/signbridge",
                axum::routing::post(
                    |axum::extract::State(seen): axum::extract::State<Deliveries>,
                     headers: axum::http::HeaderMap,
                     body: axum::body::Bytes| async move {
                        seen.lock().unwrap().push((headers, body.to_vec()));
                        axum::http::StatusCode::NO_CONTENT
                    },
                ),
            )
            .with_state(deliveries.clone()),
    )
    .await;
    let (_pipeline, config) = broken_pipeline(&format!(
        "    webhook: {{url: \"{receiver}/ops/signbridge\", secret: whsec_ops}}\n"
    ));
    let server = Server::start_with_config(Some(&config)).await;
    let status = settled(&server, 4, 4).await;
    assert_eq!(envelopes_of(&server, &sync_key(&server)).await.len(), 4);

    // Each with its precise reason, its source and its age.
    let reasons = [
        ("B1", "B1.json:2:"),
        ("B2", "employee B2: no email in the HRIS"),
        ("B3", "`b3 at example.com` is not an email address"),
        ("B4", "role"),
    ];
    for (record, reason) in reasons {
        let job = parked(&status, record);
        assert!(
            job["error"].as_str().unwrap().contains(reason),
            "{record}: {job}"
        );
        assert_eq!(job["source"], "hris");
        assert!(job["ageSecs"].as_i64().unwrap() >= 0, "{job}");
    }
    let (ok, text) = cli(&server, &["status"]).await;
    assert!(
        ok && text.contains("parked: 4") && text.contains("hris/B2"),
        "{text}"
    );
    assert!(text.contains("4 needing attention") || text.contains("needing attention"));

    // Counted, by kind.
    let text = metrics(&server).await;
    assert!(
        text.contains("signbridge_sync_records_needing_attention 4"),
        "{text}"
    );
    for kind in ["source_record", "require", "mapping", "template"] {
        assert!(
            text.contains(&format!(
                "signbridge_sync_record_failures_total{{source=\"hris\",mapping=\"onboarding\",kind=\"{kind}\"}} 1"
            )),
            "{kind}: {text}"
        );
    }

    // The operator is told about each once.
    let told = eventually(30, || async {
        let all = reasons
            .iter()
            .all(|(record, _)| told_about(&server, "hris", record) > 0);
        all.then(|| notices(&server))
    })
    .await;
    for (record, _) in reasons {
        assert_eq!(told_about(&server, "hris", record), 1, "{record}: {told:?}");
    }
    assert!(
        told.iter().all(|t| t.contains("To: hr-ops@example.com")),
        "{told:?}"
    );
    let mails = told.len();

    // And the webhook: `sync.record.failed`, signed like the API's webhooks, each record in
    // one delivery.
    let delivered = eventually(30, || async {
        let seen = deliveries.lock().unwrap().clone();
        let records: usize = seen
            .iter()
            .map(|(_, body)| {
                serde_json::from_slice::<Value>(body).unwrap()["data"]["records"]
                    .as_array()
                    .unwrap()
                    .len()
            })
            .sum();
        (records == 4).then_some(seen)
    })
    .await;
    let mut named = Vec::new();
    for (headers, body) in &delivered {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"whsec_ops").unwrap();
        mac.update(body);
        assert_eq!(
            headers["x-certyneo-signature"].to_str().unwrap(),
            hex::encode(mac.finalize().into_bytes())
        );
        assert_eq!(headers["x-certyneo-event"], "sync.record.failed");
        let event: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(event["event"], "sync.record.failed");
        for record in event["data"]["records"].as_array().unwrap() {
            assert_eq!(record["source"], "hris");
            assert!(record["reason"].as_str().is_some_and(|r| !r.is_empty()));
            named.push(record["recordId"].as_str().unwrap().to_string());
        }
    }
    named.sort();
    assert_eq!(named, ["B1", "B2", "B3", "B4"]);
    let webhooks = delivered.len();

    // More runs, and a retry of a record still broken at the same version: nobody is told
    // again; the record is parked again with the same reason.
    poll_and_settle(&server, "hris").await;
    let (ok, text) = cli(&server, &["retry", "hris/B4"]).await;
    assert!(ok && text.contains("1 job(s) resumed"), "{text}");
    let status = settled(&server, 4, 4).await;
    assert!(parked(&status, "B4")["error"]
        .as_str()
        .unwrap()
        .contains("role"));
    poll_and_settle(&server, "hris").await;
    assert_eq!(
        notices(&server).len(),
        mails,
        "told once per record and version"
    );
    assert_eq!(deliveries.lock().unwrap().len(), webhooks);

    // Skipped with a reason, kept in the record's history; an unknown record is an error.
    let (ok, text) = cli(
        &server,
        &["skip", "hris/B3", "--reason", "left before starting"],
    )
    .await;
    assert!(ok && text.contains("1 job(s) skipped"), "{text}");
    let (ok, text) = cli(&server, &["skip", "hris/NOPE", "--reason", "x"]).await;
    assert!(!ok && text.contains("no job `hris/NOPE`"), "{text}");
    let (ok, text) = cli(&server, &["status", "--record", "B3", "--json"]).await;
    assert!(ok, "{text}");
    let history: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(history["jobs"][0]["state"], "skipped", "{history}");
    assert!(
        history["jobs"][0]["envelopes"][0]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("skipped: left before starting"),
        "{history}"
    );
    let status = daemon_status(&server);
    assert_eq!(status["jobs"]["parked"], 3, "{status}");
    assert_eq!(envelopes_of(&server, &sync_key(&server)).await.len(), 4);
}

#[tokio::test]
async fn kill_9_during_a_run_with_broken_records_then_their_fixes_go_out_once_each() {
    let (pipeline, config) = broken_pipeline("");
    let mut server = Server::start_with_config(Some(&config)).await;
    // Crash as soon as the run has started sending.
    eventually(60, || async {
        (!envelopes_of(&server, &sync_key(&server)).await.is_empty()).then_some(())
    })
    .await;
    server.restart().await;
    settled(&server, 4, 4).await;

    // The data is fixed in the source: each goes out by itself, once.
    write_file(
        &pipeline,
        "B1.json",
        &employee("B1", Some("b1@example.com"), Some("engineer"), "v2"),
    );
    write_file(
        &pipeline,
        "B2.json",
        &employee("B2", Some("b2@example.com"), Some("engineer"), "v2"),
    );
    write_file(
        &pipeline,
        "B3.json",
        &employee("B3", Some("b3@example.com"), Some("engineer"), "v2"),
    );
    write_file(
        &pipeline,
        "B4.json",
        &employee("B4", Some("b4@example.com"), Some("analyst"), "v2"),
    );
    let status = settled(&server, 8, 0).await;
    assert_eq!(status["total"], 8, "{status}");
    let envelopes = envelopes_by_status(&server).await;
    assert_eq!(envelopes.len(), 8, "no duplicate: {envelopes:?}");
    // One envelope per person.
    let key = sync_key(&server);
    let mut recipients: Vec<String> = envelopes_of(&server, &key)
        .await
        .iter()
        .map(|e| e["recipients"][0]["email"].as_str().unwrap().to_string())
        .collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 8, "{recipients:?}");
}

// ---------------------------------------------------------------------------------------------
// The shipped example mappings and connectors, against fakes in BambooHR's and HubSpot's
// documented shapes.

mod connectors {
    use super::*;
    use axum::extract::{Path, Query, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    fn examples_config(source: &str, base: &str, settings: &str) -> String {
        let root = env!("CARGO_MANIFEST_DIR");
        // Polled at start, then only when the test asks (`signbridge sync`).
        format!(
            "sources:\n  {source}:\n    connector: {source}\n    schedule: \"0 0 0 1 1 *\"\n    base_url: {base}\n    settings:\n{settings}sync:\n  mappings_dir: {root}/examples/mappings\n  connectors_dir: {root}/connectors\n{NOTIFY}"
        )
    }

    /// A BambooHR account: employees by id, what each hydration call answers, what the
    /// changed-employees call answers next, and when it was called.
    #[derive(Default)]
    struct Bamboo {
        employees: Vec<Value>,
        /// Employee id → the status its own call answers instead of the employee.
        refuse: HashMap<String, u16>,
        /// Answers the changed-employees call gives before the real one (status, body,
        /// Retry-After).
        outages: Vec<(u16, &'static str, Option<u64>)>,
        listed_at: Vec<Instant>,
    }

    type Shared = Arc<Mutex<Bamboo>>;

    async fn changed(
        State(fake): State<Shared>,
        Query(query): Query<HashMap<String, String>>,
    ) -> Response {
        let mut fake = fake.lock().unwrap();
        fake.listed_at.push(Instant::now());
        if !fake.outages.is_empty() {
            let (status, body, retry_after) = fake.outages.remove(0);
            let mut response =
                (StatusCode::from_u16(status).unwrap(), body.to_string()).into_response();
            if body.starts_with('<') {
                response
                    .headers_mut()
                    .insert("content-type", "text/html".parse().unwrap());
            }
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", secs.to_string().parse().unwrap());
            }
            return response;
        }
        let since = query.get("since").cloned().unwrap_or_default();
        let since = chrono::DateTime::parse_from_rfc3339(&since).unwrap();
        let mut employees = serde_json::Map::new();
        for employee in &fake.employees {
            let at = employee["lastChanged"].as_str().unwrap();
            if chrono::DateTime::parse_from_rfc3339(at).unwrap() >= since {
                let id = employee["id"].as_str().unwrap();
                employees.insert(
                    id.into(),
                    json!({"id": id, "action": "Updated", "lastChanged": at}),
                );
            }
        }
        Json(json!({"latest": "2026-11-30T00:00:00+00:00", "employees": employees})).into_response()
    }

    async fn employee(State(fake): State<Shared>, Path(id): Path<String>) -> Response {
        let fake = fake.lock().unwrap();
        if let Some(status) = fake.refuse.get(&id) {
            return (
                StatusCode::from_u16(*status).unwrap(),
                Json(json!({"error": "not available"})),
            )
                .into_response();
        }
        let mut found = fake
            .employees
            .iter()
            .find(|e| e["id"] == id.as_str())
            .cloned()
            .unwrap();
        found.as_object_mut().unwrap().remove("lastChanged");
        Json(found).into_response()
    }

    fn hire(id: &str, email: Option<&str>, at: &str) -> Value {
        let mut employee = json!({
            "id": id, "firstName": format!("Person{id}"), "lastName": "Nowak",
            "jobTitle": "Firmware Engineer", "department": "R&D", "division": "North",
            "location": "Paris", "hireDate": "2027-01-04", "lastChanged": format!("{at}+00:00"),
        });
        if let Some(email) = email {
            employee["workEmail"] = json!(email);
        }
        employee
    }

    async fn bamboo_server(fake: Shared) -> Server {
        let base = crate::connectors::serve(
            Router::new()
                .route("/api/v1/employees/changed", get(changed))
                .route("/api/v1/employees/{id}", get(employee))
                .route(
                    "/api/v1/employees/{id}/files",
                    post(|| async { StatusCode::CREATED }),
                )
                .with_state(fake),
        )
        .await;
        let config = examples_config(
            "bamboohr",
            &base,
            "      company_domain: acme\n      api_key: bamboo-key\n      file_category: \"12\"\n",
        );
        Server::start_with_config(Some(&config)).await
    }

    #[tokio::test]
    async fn bamboohr_a_404_a_403_and_no_email_need_attention_and_the_rest_go_out() {
        let fake: Shared = Arc::new(Mutex::new(Bamboo {
            employees: vec![
                hire("1", Some("p1@example.com"), "2026-11-20T09:00:00"),
                hire("2", Some("p2@example.com"), "2026-11-20T09:00:01"),
                hire("3", None, "2026-11-20T09:00:02"),
                hire("4", Some("p4@example.com"), "2026-11-20T09:00:03"),
                hire("5", Some("p5@example.com"), "2026-11-20T09:00:04"),
            ],
            refuse: HashMap::from([("2".to_string(), 404), ("4".to_string(), 403)]),
            ..Bamboo::default()
        }));
        let server = bamboo_server(fake.clone()).await;
        let status = settled(&server, 2, 3).await;
        assert_eq!(envelopes_of(&server, &sync_key(&server)).await.len(), 2);
        for (record, reason) in [
            ("2", "GET /api/v1/employees/2: HTTP 404"),
            ("3", "employee 3: no work email in BambooHR"),
            ("4", "GET /api/v1/employees/4: HTTP 403"),
        ] {
            let job = parked(&status, record);
            assert!(
                job["error"].as_str().unwrap().contains(reason),
                "{record}: {job}"
            );
        }
        eventually(30, || async {
            ["2", "3", "4"]
                .iter()
                .all(|r| told_about(&server, "bamboohr", r) == 1)
                .then_some(())
        })
        .await;

        // HR fixes employees 2 and 3 in BambooHR: they go out with no manual step.
        {
            let mut fake = fake.lock().unwrap();
            fake.refuse.remove("2");
            fake.employees[1]["lastChanged"] = json!("2026-11-21T09:00:00+00:00");
            fake.employees[2]["workEmail"] = json!("p3@example.com");
            fake.employees[2]["lastChanged"] = json!("2026-11-21T09:00:01+00:00");
        }
        poll_and_settle(&server, "bamboohr").await;
        let status = settled(&server, 4, 1).await;
        assert_eq!(parked(&status, "4")["record"], "4");
        // Access to employee 4 is granted, its record unchanged: `retry` reads it again.
        fake.lock().unwrap().refuse.clear();
        let (ok, text) = cli(&server, &["retry", "bamboohr/4"]).await;
        assert!(ok, "{text}");
        settled(&server, 5, 0).await;
        assert_eq!(
            envelopes_of(&server, &sync_key(&server)).await.len(),
            5,
            "one envelope each"
        );
    }

    #[tokio::test]
    async fn bamboohr_down_or_throttled_loses_nothing_and_keeps_its_cursor() {
        let fake: Shared = Arc::new(Mutex::new(Bamboo {
            employees: vec![
                hire("1", Some("p1@example.com"), "2026-11-20T09:00:00"),
                hire("2", Some("p2@example.com"), "2026-11-20T09:00:01"),
            ],
            // The run at start and two asked for fail: a 500, a 500, a maintenance page.
            outages: vec![
                (500, "{\"error\": \"internal\"}", None),
                (500, "{\"error\": \"internal\"}", None),
                (200, "<html><body>Down for maintenance</body></html>", None),
            ],
            ..Bamboo::default()
        }));
        let server = bamboo_server(fake.clone()).await;
        let failed = |status: &Value| status["sources"]["bamboohr"]["ok"] == false;
        let status = eventually(30, || async {
            let status = daemon_status(&server);
            failed(&status).then_some(status)
        })
        .await;
        let mut errors = vec![status["sources"]["bamboohr"]["error"].to_string()];
        for _ in 0..2 {
            let (ok, text) = cli(&server, &["sync", "bamboohr"]).await;
            assert!(!ok, "{text}");
            errors.push(text);
            let status = daemon_status(&server);
            assert_eq!(status["sources"]["bamboohr"]["transient"], true, "{status}");
            assert_eq!(
                status["cursors"]["bamboohr"]["employees"],
                Value::Null,
                "{status}"
            );
            assert_eq!(status["total"], 0, "{status}");
        }
        assert!(errors[0].contains("HTTP 500"), "{errors:?}");
        assert!(errors[1].contains("HTTP 500"), "{errors:?}");
        assert!(errors[2].contains("not valid JSON"), "{errors:?}");

        // Then, inside one run, three 503s and a 429, each with a Retry-After, and it
        // recovers: nothing lost.
        fake.lock().unwrap().outages = vec![
            (503, "{}", Some(1)),
            (503, "{}", Some(1)),
            (503, "{}", Some(1)),
            (429, "{\"error\": \"rate limited\"}", Some(2)),
        ];
        let listed_before = fake.lock().unwrap().listed_at.len();
        let (ok, text) = cli(&server, &["sync", "bamboohr"]).await;
        assert!(ok && text.contains("2 new job(s)"), "{text}");
        let listed: Vec<Instant> = fake.lock().unwrap().listed_at[listed_before..].to_vec();
        assert_eq!(listed.len(), 5, "three 503s, a 429, then the answer");
        // Each Retry-After was waited out.
        for (pair, wait) in listed.windows(2).zip([1, 1, 1, 2]) {
            assert!(
                pair[1] - pair[0] >= std::time::Duration::from_secs(wait),
                "waited {:?} for a Retry-After of {wait} s",
                pair[1] - pair[0]
            );
        }
        let status = settled(&server, 2, 0).await;
        assert_eq!(
            status["cursors"]["bamboohr"]["employees"], "2026-11-20T09:00:01Z",
            "{status}"
        );
    }

    #[tokio::test]
    async fn hubspot_a_deal_without_a_contact_waits_until_it_has_one() {
        type Deals = Arc<Mutex<Vec<Value>>>;
        async fn search(State(deals): State<Deals>, Json(body): Json<Value>) -> Json<Value> {
            let floor: i64 = body["filterGroups"][0]["filters"][1]["value"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let results: Vec<Value> = deals
                .lock()
                .unwrap()
                .iter()
                .filter(|deal| {
                    chrono::DateTime::parse_from_rfc3339(
                        deal["properties"]["hs_lastmodifieddate"].as_str().unwrap(),
                    )
                    .unwrap()
                    .timestamp_millis()
                        >= floor
                })
                .map(|deal| {
                    let mut deal = deal.clone();
                    deal.as_object_mut().unwrap().remove("contact");
                    deal
                })
                .collect();
            Json(json!({"total": results.len(), "results": results}))
        }
        async fn associations(State(deals): State<Deals>, Path(id): Path<String>) -> Json<Value> {
            let deals = deals.lock().unwrap();
            let deal = deals.iter().find(|d| d["id"] == id.as_str()).unwrap();
            let links: Vec<Value> = deal["contact"]
                .as_str()
                .map(|contact| json!({"toObjectId": contact, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3}]}))
                .into_iter()
                .collect();
            Json(json!({"results": links}))
        }
        async fn contact(Path(id): Path<String>) -> Json<Value> {
            Json(
                json!({"id": id, "properties": {"email": format!("contact{id}@example.com"), "firstname": "Jonas", "lastname": "Weber"}}),
            )
        }
        async fn owner(Path(id): Path<String>) -> Json<Value> {
            Json(
                json!({"id": id, "email": "sales@acme-robotics.example", "firstName": "Sam", "lastName": "Seller"}),
            )
        }
        let deal = |id: &str, contact: Option<&str>, at: &str| {
            json!({"id": id, "contact": contact, "properties": {
                "dealname": format!("Pilot {id}"), "dealstage": "contractsent", "pipeline": "default",
                "amount": "70500", "hs_lastmodifieddate": format!("{at}.000Z"), "hubspot_owner_id": "77"
            }, "archived": false})
        };
        let deals: Deals = Arc::new(Mutex::new(vec![
            deal("512", Some("901"), "2026-11-20T09:00:00"),
            deal("513", None, "2026-11-20T09:00:01"),
            deal("514", Some("903"), "2026-11-20T09:00:02"),
        ]));
        let base = crate::connectors::serve(
            Router::new()
                .route("/crm/v3/objects/deals/search", post(search))
                .route(
                    "/crm/v4/objects/deals/{id}/associations/contacts",
                    get(associations),
                )
                .route("/crm/v3/objects/contacts/{id}", get(contact))
                .route("/crm/v3/owners/{id}", get(owner))
                .with_state(deals.clone()),
        )
        .await;
        let config = examples_config(
            "hubspot",
            &base,
            "      access_token: pat-e2e\n      stage_id: contractsent\n",
        );
        let server = Server::start_with_config(Some(&config)).await;
        let status = settled(&server, 2, 1).await;
        let job = parked(&status, "513");
        assert_eq!(
            job["error"], "deal 513 (Pilot 513): no contact with an email",
            "{job}"
        );
        eventually(30, || async {
            (told_about(&server, "hubspot", "513") == 1).then_some(())
        })
        .await;

        // The contact is added in HubSpot: the agreement goes out by itself.
        deals.lock().unwrap()[1] = deal("513", Some("902"), "2026-11-21T09:00:00");
        poll_and_settle(&server, "hubspot").await;
        settled(&server, 3, 0).await;
        let key = sync_key(&server);
        let envelopes = envelopes_of(&server, &key).await;
        assert_eq!(envelopes.len(), 3, "one per deal");
        assert!(envelopes
            .iter()
            .any(|e| e["recipients"][0]["email"] == "contact902@example.com"));
    }
}

/// Pipedrive, through the daemon: the person of one deal of three answers 404 — two contracts
/// go out, the third deal needs attention naming the call, the operator is told once; once the
/// person is back and the deal changes, its contract goes out by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipedrive_a_deal_whose_person_is_gone_waits_and_goes_out_once_fixed() {
    use crate::connectors::broken_records::{pipedrive_deals, pipedrive_person, Pipedrive, P};
    use crate::connectors::deal;
    let fake: P = std::sync::Arc::new(std::sync::Mutex::new(Pipedrive {
        deals: vec![
            deal(1, "2026-11-01T10:00:00Z"),
            deal(2, "2026-11-02T10:00:00Z"),
            deal(3, "2026-11-03T10:00:00Z"),
        ],
        gone_persons: vec!["102".into()],
        ..Pipedrive::default()
    }));
    let base = crate::connectors::serve(
        axum::Router::new()
            .route("/api/v2/deals", axum::routing::get(pipedrive_deals))
            .route("/api/v2/persons/{id}", axum::routing::get(pipedrive_person))
            .with_state(fake.clone()),
    )
    .await;
    let (_dir, server) = start_with_mapping(
        "pipedrive",
        &base,
        "      company_domain: acme\n      api_token: secret-token\n",
        "# Sales agreement\n\n{{title}}, {{value}} {{currency}}, with **{{person.name}}**.\n",
        "stream: deals\nsubject: \"Agreement — {{title}}\"\nrequire:\n  - field: person.emails\n    message: \"deal {{id}}: its person has no email\"\nrecipients:\n  - email: \"{{person.emails.[0].value}}\"\n    name: \"{{person.name}}\"\n",
    )
    .await;
    let status = settled(&server, 2, 1).await;
    let job = parked(&status, "2");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("GET /api/v2/persons/102: HTTP 404"),
        "{job}"
    );
    eventually(30, || async {
        (told_about(&server, "pipedrive", "2") == 1).then_some(())
    })
    .await;

    // The person is back and the deal is edited in Pipedrive: it goes out with no manual step.
    {
        let mut fake = fake.lock().unwrap();
        fake.gone_persons.clear();
        fake.deals[1]["update_time"] = serde_json::json!("2026-11-04T10:00:00Z");
    }
    poll_and_settle(&server, "pipedrive").await;
    settled(&server, 3, 0).await;
    let envelopes = envelopes_of(&server, &sync_key(&server)).await;
    assert_eq!(envelopes.len(), 3, "one per deal");
    assert!(envelopes
        .iter()
        .any(|e| e["recipients"][0]["email"] == "p102@example.com"));
}

/// Personio, through the daemon: one employee of three comes without `last_modified_at` — two
/// contracts go out, that employee needs attention naming the field; once Personio gives the
/// field, the contract goes out by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personio_an_employee_without_a_version_waits_and_goes_out_once_fixed() {
    use crate::connectors::broken_records::personio_employee;
    use axum::extract::{Query, State};
    use axum::response::IntoResponse;
    use axum::Json;
    type Staff = std::sync::Arc<std::sync::Mutex<Vec<Value>>>;
    async fn auth(Json(body): Json<Value>) -> axum::response::Response {
        if body["client_id"] != "pid" || body["client_secret"] != "psecret" {
            return axum::http::StatusCode::UNAUTHORIZED.into_response();
        }
        Json(json!({"success": true, "data": {"token": "papi-token-1"}})).into_response()
    }
    async fn employees(
        State(staff): State<Staff>,
        headers: axum::http::HeaderMap,
        Query(query): Query<std::collections::HashMap<String, String>>,
    ) -> axum::response::Response {
        if crate::connectors::bearer(&headers).as_deref() != Some("papi-token-1") {
            return axum::http::StatusCode::UNAUTHORIZED.into_response();
        }
        let all = staff.lock().unwrap().clone();
        let offset: usize = query
            .get("offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let limit: usize = query
            .get("limit")
            .and_then(|o| o.parse().ok())
            .unwrap_or(50)
            .clamp(1, 100);
        let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
        Json(json!({"success": true, "metadata": {"total_elements": all.len(), "current_page": offset / limit, "total_pages": all.len().div_ceil(limit)}, "offset": offset, "limit": limit, "data": page})).into_response()
    }
    let staff: Staff = std::sync::Arc::new(std::sync::Mutex::new(vec![
        personio_employee(1, Some("2026-11-01T09:00:00+01:00")),
        personio_employee(2, None),
        personio_employee(3, Some("2026-11-03T09:00:00+01:00")),
    ]));
    let base = crate::connectors::serve(
        axum::Router::new()
            .route("/v1/auth", axum::routing::post(auth))
            .route("/v1/company/employees", axum::routing::get(employees))
            .with_state(staff.clone()),
    )
    .await;
    let (_dir, server) = start_with_mapping(
        "personio",
        &base,
        "      client_id: pid\n      client_secret: psecret\n      document_category_id: \"55\"\n",
        "# Employment contract\n\nWith **{{attributes.first_name}}**.\n",
        "stream: employees\nsubject: \"Contract — {{attributes.first_name}}\"\nrecipients:\n  - email: \"{{attributes.email}}\"\n    name: \"{{attributes.first_name}}\"\n",
    )
    .await;
    let status = settled(&server, 2, 1).await;
    let job = parked(&status, "2");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("record 2 has no `attributes.last_modified_at`"),
        "{job}"
    );
    eventually(30, || async {
        (told_about(&server, "personio", "2") == 1).then_some(())
    })
    .await;

    // Personio gives the field: the contract goes out with no manual step.
    staff.lock().unwrap()[1] = personio_employee(2, Some("2026-11-04T09:00:00+01:00"));
    poll_and_settle(&server, "personio").await;
    settled(&server, 3, 0).await;
    assert_eq!(envelopes_of(&server, &sync_key(&server)).await.len(), 3);
}

/// A server whose one source is the shipped `connector` served from `base` with `settings`
/// (YAML lines), polled at start and then when asked, with a mapping made of `mapping` (after
/// its `source:` and `template:`) and `template`; operator notices on. Keep the folder alive.
async fn start_with_mapping(
    connector: &str,
    base: &str,
    settings: &str,
    template: &str,
    mapping: &str,
) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let mappings = dir.path().join("mappings");
    std::fs::create_dir_all(&mappings).unwrap();
    std::fs::write(mappings.join("contract.md.hbs"), template).unwrap();
    std::fs::write(
        mappings.join("contract.yaml"),
        format!("source: {connector}\ntemplate: contract.md.hbs\n{mapping}"),
    )
    .unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let config = format!(
        "sources:\n  {connector}:\n    connector: {connector}\n    schedule: \"0 0 0 1 1 *\"\n    base_url: {base}\n    settings:\n{settings}sync:\n  mappings_dir: {}\n  connectors_dir: {root}/connectors\n{NOTIFY}",
        mappings.display()
    );
    let server = Server::start_with_config(Some(&config)).await;
    (dir, server)
}
