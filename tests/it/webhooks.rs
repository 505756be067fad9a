//! Outbound webhooks end to end: deliveries verified by independent code (Python's `hmac` and
//! the `standardwebhooks` package) for a whole envelope lifecycle, SSRF refusals, retries and
//! replay with a moved clock, nothing lost across `kill -9`, and a hanging endpoint that does
//! not slow a healthy one.

use crate::common::inprocess::InProcess;
use crate::common::*;
use serde_json::{json, Value};
use signbridge::config::Config;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The Python receiver, killed on drop.
struct Receiver {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Receiver {
    fn start(mode: &str) -> Receiver {
        Self::start_on(free_port(), mode)
    }

    fn start_on(port: u16, mode: &str) -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/webhooks/receiver.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .arg(mode)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with standardwebhooks is needed (CI installs it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "receiver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Receiver { child, port, dir }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn set_secret(&self, secret: &str) {
        std::fs::write(self.dir.path().join("secret"), secret).unwrap();
    }

    fn log(&self) -> Vec<Value> {
        read_log(self.dir.path())
    }

    async fn wait_for(&self, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let dir = self.dir.path().to_path_buf();
        eventually(30, || {
            let log = read_log(&dir);
            let done = check(&log);
            async move { done.then_some(log) }
        })
        .await
    }
}

fn read_log(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("log.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ALL_EVENTS: [&str; 11] = [
    "envelope.created",
    "envelope.sent",
    "envelope.completed",
    "envelope.declined",
    "envelope.voided",
    "envelope.expired",
    "envelope.returned_to_sender",
    "envelope.resubmitted",
    "recipient.signed",
    "recipient.viewed",
    "recipient.approved",
];

async fn subscribe(server: &Server, url: &str) -> Value {
    let response = server
        .post("/webhooks")
        .json(&json!({"url": url, "events": ALL_EVENTS}))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created = expect_status(response, 201).await;
    assert_eq!(
        location,
        format!("/api/v1/webhooks/{}", created["id"].as_str().unwrap())
    );
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    created
}

fn events_of(log: &[Value]) -> Vec<String> {
    log.iter()
        .map(|l| l["event"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_full_lifecycle_is_delivered_and_verified_independently() {
    let server = Server::start().await;
    let receiver = Receiver::start("ok");
    let created = subscribe(&server, &receiver.url()).await;
    receiver.set_secret(created["secret"].as_str().unwrap());
    let listed = expect_status(server.get("/webhooks").send().await.unwrap(), 200).await;
    assert_eq!(listed["data"][0]["url"], receiver.url());
    assert!(
        !listed.to_string().contains("whsec_"),
        "the secret is never listed"
    );

    // Completed: created, sent, viewed, signed, completed.
    let envelope = server.draft_envelope("Lifecycle").await;
    let id = envelope["id"].as_str().unwrap();
    server.send(id).await;
    let link = envelope["recipients"][0]["signUrl"].as_str().unwrap();
    server.http.get(link).send().await.unwrap();
    let (status, _) = server.sign(link, "Sam").await;
    assert_eq!(status, 303);
    // Declined and voided.
    let declined = server.draft_envelope("To decline").await;
    server.send(declined["id"].as_str().unwrap()).await;
    let decline_link = declined["recipients"][0]["signUrl"].as_str().unwrap();
    server
        .submit(decline_link, &[("action", "decline"), ("reason", "Not me")])
        .await;
    let voided = server.draft_envelope("To void").await;
    let voided_id = voided["id"].as_str().unwrap();
    server.send(voided_id).await;
    expect_status(
        server
            .delete(&format!("/envelopes/{voided_id}?reason=Oops"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;

    let log = receiver
        .wait_for(|log| {
            let events = events_of(log);
            ["envelope.completed", "envelope.declined", "envelope.voided"]
                .iter()
                .all(|e| events.contains(&e.to_string()))
        })
        .await;
    let events = events_of(&log);
    for expected in [
        "envelope.created",
        "envelope.sent",
        "recipient.viewed",
        "recipient.signed",
        "envelope.completed",
        "envelope.declined",
        "envelope.voided",
    ] {
        assert!(
            events.contains(&expected.to_string()),
            "{expected} missing from {events:?}"
        );
    }
    for line in &log {
        assert_eq!(
            line["certyneo_ok"], true,
            "X-Certyneo-Signature failed: {line}"
        );
        assert_eq!(
            line["standard_ok"], true,
            "Standard Webhooks verification failed: {line}"
        );
        assert_eq!(line["id"], line["header_event_id"]);
        let payload = &line["payload"];
        assert!(payload["id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(payload["envelope_id"], payload["data"]["envelopeId"]);
        assert_eq!(payload["occurred_at"], payload["timestamp"]);
    }
    let find = |event: &str| log.iter().find(|l| l["event"] == event).unwrap()["payload"].clone();
    let completed = find("envelope.completed");
    assert_eq!(completed["envelope_id"], id);
    assert_eq!(completed["data"]["status"], "COMPLETED");
    assert_eq!(completed["data"]["signedCount"], 1);
    assert!(completed["data"]["signedDocumentUrl"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/envelopes/{id}/signed-document")));
    let signed = find("recipient.signed");
    assert_eq!(signed["data"]["email"], "signer@example.com");
    assert!(signed["data"]["signedAt"].is_string());
    assert_eq!(
        find("envelope.declined")["data"]["decline_reason"],
        "Not me"
    );
    assert_eq!(find("envelope.voided")["data"]["reason"], "Oops");

    // The delivery log shows each attempt; a test ping is signed too. The worker records a
    // delivery once the receiver's answer is back, which may be just after the receiver logged
    // it: wait for every delivery the receiver saw to be recorded.
    let hook_id = created["id"].as_str().unwrap();
    let deliveries = eventually(30, || async {
        let deliveries = expect_status(
            server
                .get(&format!("/webhooks/{hook_id}/deliveries?limit=100"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let data = deliveries["data"].as_array().unwrap();
        (!data.is_empty() && data.iter().all(|d| d["status"] == "DELIVERED")).then_some(deliveries)
    })
    .await;
    let first = &deliveries["data"][0];
    assert_eq!(first["status"], "DELIVERED");
    assert_eq!(first["attempts"][0]["statusCode"], 200);
    expect_status(
        server
            .post(&format!("/webhooks/{hook_id}/test"))
            .send()
            .await
            .unwrap(),
        202,
    )
    .await;
    let log = receiver
        .wait_for(|log| events_of(log).contains(&"ping".to_string()))
        .await;
    let ping = log.iter().find(|l| l["event"] == "ping").unwrap();
    assert_eq!(ping["certyneo_ok"], true);
    assert_eq!(ping["standard_ok"], true);

    // Let every queued delivery finish (events of the other envelopes may still be on their
    // way), then unsubscribe: nothing more arrives.
    eventually(30, || async {
        let list = expect_status(
            server
                .get(&format!("/webhooks/{hook_id}/deliveries?limit=100"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let settled = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "DELIVERED");
        (settled && receiver.log().len() as u64 >= list["pagination"]["total"].as_u64().unwrap())
            .then_some(())
    })
    .await;
    // Unsubscribed: nothing more arrives. A witness subscribed to the same events gets the
    // next one, which proves it was fanned out and delivered while the first was gone.
    let witness = Receiver::start("ok");
    let witness_hook = subscribe(&server, &witness.url()).await;
    witness.set_secret(witness_hook["secret"].as_str().unwrap());
    expect_status(
        server
            .delete(&format!("/webhooks/{hook_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let before = receiver.log().len();
    let after = server.draft_envelope("After unsubscribe").await;
    let after_id = after["id"].clone();
    witness
        .wait_for(|log| log.iter().any(|l| l["payload"]["envelope_id"] == after_id))
        .await;
    // Both deliveries would have gone out in the same round; wait for the witness's to be
    // recorded as delivered, so the round is over.
    eventually(30, || async {
        let list = expect_status(
            server
                .get(&format!(
                    "/webhooks/{}/deliveries?limit=100",
                    witness_hook["id"].as_str().unwrap()
                ))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "DELIVERED")
            .then_some(())
    })
    .await;
    assert_eq!(
        receiver.log().len(),
        before,
        "nothing after the unsubscribe"
    );
}

#[tokio::test]
async fn private_and_loopback_urls_are_refused() {
    let strict = Server::start_with_config(Some("webhooks:\n  allow_loopback: false\n")).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://[::1]:9/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/hook",
        "http://localhost:9/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ] {
        let response = strict
            .post("/webhooks")
            .json(&json!({"url": url, "events": ["envelope.completed"]}))
            .send()
            .await
            .unwrap();
        let body = expect_error(response, 400, "url_rejected").await;
        assert_eq!(
            body["error"], "URL rejected: private or loopback address",
            "{url}"
        );
    }
    let response = strict
        .post("/webhooks")
        .json(&json!({"url": "ftp://example.com/x", "events": ["envelope.completed"]}))
        .send()
        .await
        .unwrap();
    expect_error(response, 400, "validation_failed").await;
    let response = strict
        .post("/webhooks")
        .json(&json!({"url": "http://127.0.0.1/x", "events": ["envelope.exploded"]}))
        .send()
        .await
        .unwrap();
    let body = expect_error(response, 400, "validation_failed").await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("envelope.completed"),
        "lists the valid events"
    );
    let listed = expect_status(strict.get("/webhooks").send().await.unwrap(), 200).await;
    assert_eq!(listed["data"], json!([]), "nothing was stored");

    // The embedded default allows loopback (the daemon's receiver) but not private networks.
    let default = Server::start().await;
    for url in [
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
    ] {
        let response = default
            .post("/webhooks")
            .json(&json!({"url": url, "events": ["envelope.completed"]}))
            .send()
            .await
            .unwrap();
        expect_error(response, 400, "url_rejected").await;
    }
    let ok = default
        .post("/webhooks")
        .json(&json!({"url": "http://127.0.0.1:9/hook", "events": ["envelope.completed"]}))
        .send()
        .await
        .unwrap();
    expect_status(ok, 201).await;
    // Scope: a key without webhooks:write cannot subscribe.
    let reader = expect_status(
        default
            .post("/keys")
            .json(&json!({"scopes": ["envelopes:read"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let refused = default
        .http
        .post(default.url("/webhooks"))
        .bearer_auth(reader["secret"].as_str().unwrap())
        .json(&json!({"url": "http://127.0.0.1:9/hook", "events": ["envelope.completed"]}))
        .send()
        .await
        .unwrap();
    expect_error(refused, 403, "insufficient_scope").await;
}

/// An in-process receiver whose answers the test scripts: `/hook` fails the first `failures`
/// times (503, no `Retry-After`) and notes each event id it gets in `seen`; `/probe` always
/// answers 200.
async fn scripted_receiver(
    failures: Arc<AtomicUsize>,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
) -> u16 {
    use axum::routing::post;
    let app = axum::Router::new()
        .route(
            "/hook",
            post(move |body: axum::body::Bytes| {
                let (failures, seen) = (failures.clone(), seen.clone());
                async move {
                    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    seen.lock()
                        .unwrap()
                        .push(payload["id"].as_str().unwrap_or_default().to_string());
                    let left = failures.load(Ordering::SeqCst);
                    if left > 0 {
                        failures.store(left - 1, Ordering::SeqCst);
                        axum::http::StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            }),
        )
        .route("/probe", post(|| async { axum::http::StatusCode::OK }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

async fn deliveries(app: &InProcess, hook: &str) -> Value {
    let response = app
        .http
        .get(app.url(&format!("/webhooks/{hook}/deliveries?limit=100")))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    expect_status(response, 200).await
}

async fn delivery(app: &InProcess, hook: &str, id: &str) -> Value {
    let list = deliveries(app, hook).await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("delivery {id} not listed: {list}"))
}

fn time_of(value: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// Proves the delivery worker made a round at the current (moved) clock: a test ping to the
/// probe subscription is queued, and waited for until it is recorded as delivered. Any delivery
/// due at this clock would have gone out in that round or before.
async fn worker_round(app: &InProcess, probe: &str) {
    let delivered = |list: &Value| {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["status"] == "DELIVERED")
            .count()
    };
    let before = delivered(&deliveries(app, probe).await);
    let ping = app
        .http
        .post(app.url(&format!("/webhooks/{probe}/test")))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    expect_status(ping, 202).await;
    eventually(20, || async {
        (delivered(&deliveries(app, probe).await) > before).then_some(())
    })
    .await;
}

/// Steps through the retry schedule of delivery `id` from attempt `from` (already recorded)
/// to attempt `to`: each wait is the schedule's step within its ±10 % jitter; one second
/// before it is due, a worker round makes no attempt; one second after, exactly one comes.
async fn step_through_schedule(
    app: &InProcess,
    hook: &str,
    probe: &str,
    id: &str,
    seen: &Arc<std::sync::Mutex<Vec<String>>>,
    (from, to): (usize, usize),
) -> Value {
    let schedule = Config::default().webhooks.retry_schedule_secs;
    let mut current = delivery(app, hook, id).await;
    for attempt in from..to {
        let attempts = current["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), attempt);
        let last = time_of(&attempts[attempt - 1]["at"]);
        let due = time_of(&current["nextAttemptAt"]);
        let step = schedule[attempt - 1] as f64;
        let wait = (due - last).num_milliseconds() as f64 / 1000.0;
        assert!(
            (step * 0.9 - 1.0..=step * 1.1 + 1.0).contains(&wait),
            "wait after attempt {attempt}: {wait} s, the schedule says {step} s ± 10 %"
        );
        let now = app.clock.now_for_test();
        app.clock.advance(due - now - chrono::Duration::seconds(1));
        worker_round(app, probe).await;
        let early = delivery(app, hook, id).await;
        assert_eq!(
            early["attempts"].as_array().unwrap().len(),
            attempt,
            "no attempt one second before it is due (attempt {})",
            attempt + 1
        );
        assert_eq!(seen.lock().unwrap().len(), attempt);
        app.clock.advance(chrono::Duration::seconds(2));
        current = eventually(20, || async {
            let now = delivery(app, hook, id).await;
            (now["attempts"].as_array().unwrap().len() > attempt).then_some(now)
        })
        .await;
        assert_eq!(current["attempts"].as_array().unwrap().len(), attempt + 1);
        assert_eq!(seen.lock().unwrap().len(), attempt + 1);
    }
    current
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_follow_the_schedule_and_a_failed_delivery_can_be_replayed() {
    let app = InProcess::start(Config::default()).await;
    let failures = Arc::new(AtomicUsize::new(3));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let port = scripted_receiver(failures.clone(), seen.clone()).await;
    let subscribe = |path: &str, events: Value| {
        app.http
            .post(app.url("/webhooks"))
            .bearer_auth(&app.key)
            .json(&json!({"url": format!("http://127.0.0.1:{port}{path}"), "events": events}))
            .send()
    };
    let hook = expect_status(
        subscribe("/hook", json!(["envelope.created"]))
            .await
            .unwrap(),
        201,
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap();
    // The probe gets only its own test pings (no envelope here completes).
    let probe = expect_status(
        subscribe("/probe", json!(["envelope.completed"]))
            .await
            .unwrap(),
        201,
    )
    .await;
    let probe_id = probe["id"].as_str().unwrap();
    let create = || {
        app.http
            .post(app.url("/envelopes"))
            .bearer_auth(&app.key)
            .json(&json!({"subject": "Retry me", "recipients": [{"email": "a@example.com"}]}))
            .send()
    };
    /// The id of the newest delivery once its first attempt is recorded.
    async fn first_attempted(app: &InProcess, hook: &str, known: usize) -> String {
        eventually(20, || async {
            let list = deliveries(app, hook).await;
            let data = list["data"].as_array().unwrap();
            (data.len() > known && !data[0]["attempts"].as_array().unwrap().is_empty())
                .then(|| data[0]["id"].as_str().unwrap().to_string())
        })
        .await
    }
    expect_status(create().await.unwrap(), 201).await;
    let first = first_attempted(&app, hook_id, 0).await;

    // Fails three times, then succeeds: delivered on the fourth attempt, same event id each
    // time, each retry exactly on its step of the schedule.
    let delivered = step_through_schedule(&app, hook_id, probe_id, &first, &seen, (1, 4)).await;
    assert_eq!(delivered["status"], "DELIVERED");
    assert!(delivered["nextAttemptAt"].is_null());
    let attempts = delivered["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["statusCode"], 503);
    assert_eq!(attempts[3]["statusCode"], 200);
    let ids = seen.lock().unwrap().clone();
    assert!(
        ids.iter().all(|id| id == &ids[0]),
        "the event id is stable across retries"
    );

    // Always failing: six attempts on the schedule's five steps, then FAILED for good.
    failures.store(usize::MAX, Ordering::SeqCst);
    seen.lock().unwrap().clear();
    expect_status(create().await.unwrap(), 201).await;
    let second = first_attempted(&app, hook_id, 1).await;
    let failed = step_through_schedule(&app, hook_id, probe_id, &second, &seen, (1, 6)).await;
    assert_eq!(failed["status"], "FAILED");
    assert!(failed["nextAttemptAt"].is_null());
    app.clock.advance(chrono::Duration::hours(24));
    worker_round(&app, probe_id).await;
    let failed = delivery(&app, hook_id, &second).await;
    assert_eq!(failed["attempts"].as_array().unwrap().len(), 6);
    assert_eq!(seen.lock().unwrap().len(), 6, "no seventh attempt");

    // Replay: the endpoint is fixed, the delivery goes out once more and succeeds.
    failures.store(0, Ordering::SeqCst);
    let delivery_id = failed["id"].as_str().unwrap();
    let replay = app
        .http
        .post(app.url(&format!(
            "/webhooks/{hook_id}/deliveries/{delivery_id}/retry"
        )))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    expect_status(replay, 202).await;
    let replayed = eventually(20, || async {
        let replayed = delivery(&app, hook_id, delivery_id).await;
        (replayed["status"] == "DELIVERED").then_some(replayed)
    })
    .await;
    assert_eq!(replayed["attempts"].as_array().unwrap().len(), 7);
    assert_eq!(seen.lock().unwrap().len(), 7);
}

#[tokio::test]
async fn pending_deliveries_survive_kill_9() {
    let config = "webhooks:\n  retry_schedule_secs: [1, 1, 1, 1, 1]\n";
    let mut server = Server::start_with_config(Some(config)).await;
    let port = free_port();
    let created = subscribe(&server, &format!("http://127.0.0.1:{port}/hook")).await;
    // The receiver is down: deliveries pile up.
    let mut ids = Vec::new();
    for i in 0..10 {
        let body =
            json!({"subject": format!("Crash {i}"), "recipients": [{"email": "a@example.com"}]});
        ids.push(
            expect_status(
                server.post("/envelopes").json(&body).send().await.unwrap(),
                201,
            )
            .await["id"]
                .clone(),
        );
    }
    server.kill9();
    let receiver = Receiver::start_on(port, "ok");
    receiver.set_secret(created["secret"].as_str().unwrap());
    server.restart().await;
    let log = receiver
        .wait_for(|log| {
            let mut delivered: Vec<_> = log
                .iter()
                .filter(|l| l["event"] == "envelope.created")
                .map(|l| l["payload"]["envelope_id"].clone())
                .collect();
            delivered.sort_by_key(|v| v.to_string());
            delivered.dedup();
            delivered.len() == 10
        })
        .await;
    for id in &ids {
        assert!(
            log.iter().any(|l| &l["payload"]["envelope_id"] == id),
            "{id} lost"
        );
    }
    assert!(log.iter().all(|l| l["certyneo_ok"] == true));
}

#[tokio::test]
async fn a_hanging_endpoint_does_not_slow_a_healthy_one() {
    let server = Server::start_unthrottled().await;
    let slow = Receiver::start("hang");
    let fast = Receiver::start("ok");
    let slow_hook = subscribe(&server, &slow.url()).await;
    slow.set_secret(slow_hook["secret"].as_str().unwrap());
    let fast_hook = subscribe(&server, &fast.url()).await;
    fast.set_secret(fast_hook["secret"].as_str().unwrap());
    for i in 0..30 {
        let body = json!({"subject": format!("Isolation {i}"), "recipients": [{"email": "a@example.com"}]});
        expect_status(
            server.post("/envelopes").json(&body).send().await.unwrap(),
            201,
        )
        .await;
    }
    // Every event reaches the healthy endpoint while the other holds its deliveries unanswered
    // (it has logged them and never answers). Serialised deliveries would take the client
    // timeout per hung request and not get there. How fast it gets there is in
    // `benches/webhooks.rs` (run `beside_hung`).
    slow.wait_for(|log| log.iter().any(|l| l["hanging"] == true))
        .await;
    let log = fast
        .wait_for(|log| {
            log.iter()
                .filter(|l| l["event"] == "envelope.created")
                .count()
                >= 30
        })
        .await;
    assert!(log.iter().all(|l| l["certyneo_ok"] == true));
    let held = expect_status(
        server
            .get(&format!(
                "/webhooks/{}/deliveries?limit=100",
                slow_hook["id"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(
        held["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] != "DELIVERED"),
        "the hanging endpoint answered nothing: {held}"
    );
    // The API itself stays responsive while deliveries to the hanging endpoint wait.
    expect_status(server.get("/envelopes?limit=1").send().await.unwrap(), 200).await;
}
