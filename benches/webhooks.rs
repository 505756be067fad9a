//! Outbound webhook delivery: how fast signbridge's recorded events reach a subscriber, and how
//! long each one takes from the moment it is recorded to the moment the subscriber has it.
//!
//! What it does, all in one process and on 127.0.0.1 only:
//! - starts signbridge (`App::start` + `App::serve`) on a temporary data folder, with the rate
//!   limit raised so that it never refuses and loopback webhook URLs allowed;
//! - starts a minimal axum 0.8 receiver that, for every POST, notes the receipt time
//!   (`chrono::Utc::now()`, first thing in the handler) with the payload's `id`, `envelope_id`
//!   and `occurred_at`, checks `X-Certyneo-Signature` (hex HMAC-SHA256 of the raw body keyed
//!   with the subscription secret) and answers 200 whatever it found;
//! - subscribes the receiver with `POST /api/v1/webhooks` to `envelope.created`;
//! - run `concurrent`: creates `BENCH_EVENTS` envelopes (no document, one recipient; each
//!   create records one `envelope.created` event) from `BENCH_CONCURRENCY` client tasks, then
//!   waits (at most `BENCH_WAIT_SECS` after the last create) until every one of those events was
//!   received;
//! - run `sequential`: the same with one create at a time, so that the latency of an idle
//!   pipeline can be told apart from queueing under load;
//! - run `beside_hung`: a second subscription to a receiver path that never answers (each of its
//!   requests waits until the bench ends) is added, then the `concurrent` run again: the
//!   healthy endpoint's latency while every event also goes to an endpoint that hangs. Compare
//!   it with `concurrent`: an endpoint that hangs must not slow the others.
//!
//! One line per run:
//! - `events`: envelopes created (= events recorded); `received`: distinct event ids received
//!   for them; `dups`: receipts beyond the first of an event (counted until 1 s after the run's
//!   last event arrived; later ones are reported at the end); `sig_fail`: receipts whose
//!   signature did not verify;
//! - `create_s`: first create sent → last create answered; `wall_s`: first create sent → last
//!   event received; `ev/s`: received / `wall_s`;
//! - `p50_ms` … `max_ms`: event-to-receipt latency, receipt time minus the payload's
//!   `occurred_at`, over the first receipt of each event. `occurred_at` is the commit time
//!   truncated to the millisecond, so each latency reads up to 1 ms high.
//!
//! signbridge, the receiver and the client each run on their own tokio multi-thread runtime in
//! this one process, but they share the machine's cores: the numbers compare runs on one
//! machine, they are not a capacity figure.
//!
//! Run it:
//!
//! ```text
//! cargo bench --bench webhooks
//! BENCH_EVENTS=5000 BENCH_CONCURRENCY=32 cargo bench --bench webhooks
//! ```
//!
//! Defaults: `BENCH_EVENTS=1000`, `BENCH_CONCURRENCY=16`, `BENCH_WAIT_SECS=60`. Run without
//! `--bench` (as `cargo test --all-targets` does), it only makes a smoke run of 20 events each.

#[path = "support/mod.rs"]
mod support;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use signbridge::config::Config;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use support::runtime;

/// A client request unanswered this long fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long each server may take to stop at the end.
/// The receiver's path.
const HOOK_PATH: &str = "/hooks/signbridge";
/// The receiver's path that never answers (until the bench ends).
const HUNG_PATH: &str = "/hooks/hung";

/// How a run is shaped.
#[derive(Debug, Clone, Copy)]
struct Plan {
    events: usize,
    concurrency: usize,
    /// Longest wait for the deliveries after the last create was answered.
    wait: Duration,
    /// Extra time after a run's last event arrived in which duplicates still count for it.
    grace: Duration,
}

impl Plan {
    fn from_env() -> Plan {
        let bench_mode = std::env::args().any(|arg| arg == "--bench");
        if !bench_mode {
            return Plan {
                events: 20,
                concurrency: 4,
                wait: Duration::from_secs(30),
                grace: Duration::from_millis(200),
            };
        }
        Plan {
            events: env_number("BENCH_EVENTS", 1000.0).max(1.0) as usize,
            concurrency: env_number("BENCH_CONCURRENCY", 16.0).max(1.0) as usize,
            wait: Duration::from_secs_f64(env_number("BENCH_WAIT_SECS", 60.0).max(1.0)),
            grace: Duration::from_secs(1),
        }
    }
}

fn env_number(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got `{text}`")),
        Err(_) => default,
    }
}

fn main() {
    let plan = Plan::from_env();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut config = Config::default();
    config.rate_limit.requests_per_minute = 100_000_000;
    config.rate_limit.burst = 100_000_000;
    config.webhooks.allow_loopback = true;
    println!(
        "signbridge webhook bench: nproc={cores} cpu=\"{}\" {}/{} | events={} per run, concurrency={} (concurrent run), max_in_flight_per_endpoint={}, wait<={:.0}s",
        cpu_model(),
        std::env::consts::OS,
        std::env::consts::ARCH,
        plan.events,
        plan.concurrency,
        config.webhooks.max_in_flight_per_endpoint,
        plan.wait.as_secs_f64(),
    );

    // One runtime each, so that blocking in one part cannot stall the clocks of the others.
    let signbridge_rt = runtime("signbridge");
    let receiver_rt = runtime("receiver");
    let client_rt = runtime("client");

    let data = tempfile::tempdir().expect("temporary data folder");
    let (signbridge_addr, stop_signbridge, signbridge) =
        support::start_signbridge(&signbridge_rt, config, data.path());
    let inbox = Arc::new(Inbox::default());
    let (receiver_addr, stop_receiver, receiver) =
        receiver_rt.block_on(start_receiver(inbox.clone()));

    let key = std::fs::read_to_string(data.path().join("bootstrap-key"))
        .expect("bootstrap key")
        .trim()
        .to_string();
    client_rt.block_on(drive(
        plan,
        signbridge_addr,
        receiver_addr,
        key,
        inbox.clone(),
    ));

    // The hung requests answer now, so that both servers can stop.
    let _ = inbox.release_hung.send(true);

    // signbridge first: that stops its webhook worker, and so the receiver's last connections.
    let _ = stop_signbridge.send(());
    let _ = stop_receiver.send(());
    support::stop_servers(
        &client_rt,
        vec![
            ("signbridge", signbridge_rt, signbridge),
            ("receiver", receiver_rt, receiver),
        ],
    );
}

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Receipt {
    received_at: DateTime<Utc>,
    /// The payload's `id`, `envelope_id` and `occurred_at`; `None` when the body did not parse.
    event: Option<(String, String, DateTime<Utc>)>,
    signature_ok: bool,
}

/// What the receiver got, shared with the client side.
struct Inbox {
    /// The subscription secret, known once the receiver is subscribed.
    secret: OnceLock<String>,
    receipts: Mutex<Vec<Receipt>>,
    /// Woken on every receipt.
    arrived: tokio::sync::Notify,
    /// Requests [`HUNG_PATH`] got (each waits for `release_hung`).
    hung: AtomicUsize,
    /// Set at the end: the hung requests answer 503.
    release_hung: tokio::sync::watch::Sender<bool>,
}

impl Default for Inbox {
    fn default() -> Inbox {
        Inbox {
            secret: OnceLock::new(),
            receipts: Mutex::default(),
            arrived: tokio::sync::Notify::new(),
            hung: AtomicUsize::new(0),
            release_hung: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl Inbox {
    fn receipts_from(&self, start: usize) -> Vec<Receipt> {
        let receipts = self.receipts.lock().unwrap_or_else(|p| p.into_inner());
        receipts.get(start..).unwrap_or_default().to_vec()
    }

    fn len(&self) -> usize {
        self.receipts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

/// The fields of a delivery the bench reads.
#[derive(Deserialize)]
struct Payload {
    id: String,
    envelope_id: String,
    occurred_at: DateTime<Utc>,
}

/// Starts the receiver: POST [`HOOK_PATH`] notes the delivery and answers 200.
async fn start_receiver(
    inbox: Arc<Inbox>,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    async fn receive(
        State(inbox): State<Arc<Inbox>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let received_at = Utc::now();
        let signature_ok = match (
            inbox.secret.get(),
            headers
                .get("x-certyneo-signature")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| hex::decode(value.trim()).ok()),
        ) {
            (Some(secret), Some(signature)) => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
                    .expect("HMAC takes any key");
                mac.update(&body);
                mac.verify_slice(&signature).is_ok()
            }
            _ => false,
        };
        let event = serde_json::from_slice::<Payload>(&body)
            .ok()
            .map(|p| (p.id, p.envelope_id, p.occurred_at));
        inbox
            .receipts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Receipt {
                received_at,
                event,
                signature_ok,
            });
        inbox.arrived.notify_one();
        StatusCode::OK
    }

    /// Never answers until the bench ends.
    async fn hang(State(inbox): State<Arc<Inbox>>) -> StatusCode {
        inbox.hung.fetch_add(1, Ordering::Relaxed);
        let mut released = inbox.release_hung.subscribe();
        let _ = released.wait_for(|released| *released).await;
        StatusCode::SERVICE_UNAVAILABLE
    }

    let router = axum::Router::new()
        .route(HOOK_PATH, axum::routing::post(receive))
        .route(HUNG_PATH, axum::routing::post(hang))
        .with_state(inbox);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind the receiver");
    let addr = listener.local_addr().expect("receiver address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .expect("receiver");
    });
    (addr, stop, task)
}

/// What one run measured.
struct RunReport {
    name: &'static str,
    events: usize,
    received: usize,
    duplicates: usize,
    signature_failures: usize,
    unparsed: usize,
    create_secs: f64,
    wall_secs: f64,
    /// Event-to-receipt latencies in ms, sorted.
    latencies: Vec<f64>,
    /// Failed creates by kind, with the first body seen.
    create_errors: BTreeMap<String, (usize, String)>,
    /// The envelopes this run created.
    envelopes: HashSet<String>,
}

/// Subscribes the receiver, makes both runs and prints the table.
async fn drive(
    plan: Plan,
    signbridge: SocketAddr,
    receiver: SocketAddr,
    key: String,
    inbox: Arc<Inbox>,
) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(plan.concurrency)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("HTTP client");
    let api = format!("http://{signbridge}/api/v1");

    let response = client
        .post(format!("{api}/webhooks"))
        .bearer_auth(&key)
        .json(&json!({
            "url": format!("http://{receiver}{HOOK_PATH}"),
            "events": ["envelope.created"],
        }))
        .send()
        .await
        .expect("subscribe the receiver");
    let status = response.status();
    let text = response.text().await.expect("response body");
    assert_eq!(
        status,
        StatusCode::CREATED,
        "subscribe the receiver: {text}"
    );
    let subscription: Value = serde_json::from_str(&text).expect("JSON body");
    let secret = subscription["secret"]
        .as_str()
        .expect("subscription secret")
        .to_string();
    inbox.secret.set(secret).expect("secret set once");

    let runs = [("concurrent", plan.concurrency), ("sequential", 1)];
    let mut reports = Vec::new();
    for (name, workers) in runs {
        reports.push(run(name, workers, plan, &client, &api, &key, &inbox).await);
    }
    // The same events now also go to an endpoint that never answers.
    let response = client
        .post(format!("{api}/webhooks"))
        .bearer_auth(&key)
        .json(&json!({
            "url": format!("http://{receiver}{HUNG_PATH}"),
            "events": ["envelope.created"],
        }))
        .send()
        .await
        .expect("subscribe the hanging endpoint");
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "subscribe the hanging endpoint"
    );
    reports.push(
        run(
            "beside_hung",
            plan.concurrency,
            plan,
            &client,
            &api,
            &key,
            &inbox,
        )
        .await,
    );

    println!();
    println!(
        "{:<12} {:>6} {:>8} {:>5} {:>8} {:>8} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8}",
        "run",
        "events",
        "received",
        "dups",
        "sig_fail",
        "create_s",
        "wall_s",
        "ev/s",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms"
    );
    for report in &reports {
        let name = if report.name == "concurrent" {
            format!("concurrent{}", plan.concurrency)
        } else {
            report.name.to_string()
        };
        println!(
            "{:<12} {:>6} {:>8} {:>5} {:>8} {:>8.2} {:>7.2} {:>7.0} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
            name,
            report.events,
            report.received,
            report.duplicates,
            report.signature_failures,
            report.create_secs,
            report.wall_secs,
            if report.wall_secs > 0.0 {
                report.received as f64 / report.wall_secs
            } else {
                0.0
            },
            percentile(&report.latencies, 0.50),
            percentile(&report.latencies, 0.90),
            percentile(&report.latencies, 0.99),
            report.latencies.last().copied().unwrap_or(0.0),
        );
    }

    // Notes: failures of any kind, and receipts that came after their run was reported.
    let mut notes = Vec::new();
    for report in &reports {
        for (kind, (count, sample)) in &report.create_errors {
            notes.push(format!(
                "{}: {count} creates failed with {kind}; first body: {}",
                report.name,
                shorten(sample, 300)
            ));
        }
        if report.received < report.events {
            notes.push(format!(
                "{}: {} of {} events were not received within {:.0} s of the last create",
                report.name,
                report.events - report.received,
                report.events,
                plan.wait.as_secs_f64()
            ));
        }
        if report.unparsed > 0 {
            notes.push(format!(
                "{}: {} deliveries had a body without id/envelope_id/occurred_at",
                report.name, report.unparsed
            ));
        }
    }
    let everything = inbox.receipts_from(0);
    for report in &reports {
        let mut seen = HashSet::new();
        let mut receipts = 0;
        for receipt in &everything {
            if let Some((id, envelope, _)) = &receipt.event {
                if report.envelopes.contains(envelope) {
                    receipts += 1;
                    seen.insert(id.clone());
                }
            }
        }
        let late = receipts - report.received - report.duplicates;
        if late > 0 {
            notes.push(format!(
                "{}: {late} more deliveries of its events arrived after it was reported ({} distinct now)",
                report.name,
                seen.len()
            ));
        }
    }
    notes.push(format!(
        "beside_hung: the hanging endpoint was holding {} deliveries when the run was reported",
        inbox.hung.load(Ordering::Relaxed)
    ));
    let strays = everything.iter().filter(|r| r.event.is_none()).count()
        - reports.iter().map(|r| r.unparsed).sum::<usize>();
    if strays > 0 {
        notes.push(format!(
            "{strays} unparsable deliveries arrived between runs"
        ));
    }
    if !notes.is_empty() {
        println!();
        for note in notes {
            println!("note: {note}");
        }
    }
}

/// Creates `plan.events` envelopes from `workers` tasks and waits for their events to arrive.
async fn run(
    name: &'static str,
    workers: usize,
    plan: Plan,
    client: &reqwest::Client,
    api: &str,
    key: &str,
    inbox: &Arc<Inbox>,
) -> RunReport {
    let first_receipt = inbox.len();
    let started = Utc::now();
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{api}/envelopes");
    let body = Bytes::from(
        json!({"subject": "Bench", "recipients": [{"email": "a@example.com"}]}).to_string(),
    );
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (client, url, key, body, next) = (
                client.clone(),
                url.clone(),
                key.to_string(),
                body.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                let mut created = Vec::new();
                let mut errors: Vec<(String, String)> = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < plan.events {
                    match create_envelope(&client, &url, &key, body.clone()).await {
                        Ok(id) => created.push(id),
                        Err(error) => errors.push(error),
                    }
                }
                (created, errors)
            })
        })
        .collect();
    let mut envelopes = HashSet::new();
    let mut create_errors: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for task in tasks {
        let (created, errors) = task.await.expect("client task");
        envelopes.extend(created);
        for (kind, sample) in errors {
            create_errors.entry(kind).or_insert((0, sample)).0 += 1;
        }
    }
    let creates_done = Utc::now();

    // Wait until every created envelope's event arrived, or the deadline.
    let deadline = tokio::time::Instant::now() + plan.wait;
    let mut scanned = first_receipt;
    let mut distinct = HashSet::new();
    let mut last_arrival = None;
    while distinct.len() < envelopes.len() {
        let notified = inbox.arrived.notified();
        for receipt in inbox.receipts_from(scanned) {
            scanned += 1;
            if let Some((id, envelope, _)) = &receipt.event {
                if envelopes.contains(envelope) && distinct.insert(id.clone()) {
                    last_arrival = Some(receipt.received_at);
                }
            }
        }
        if distinct.len() >= envelopes.len() {
            break;
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    // Duplicates that come right behind still count for this run.
    tokio::time::sleep(plan.grace).await;

    // The first receipt of each event gives its latency; any further one is a duplicate.
    let mut firsts: HashMap<String, f64> = HashMap::new();
    let (mut duplicates, mut signature_failures, mut unparsed) = (0, 0, 0);
    for receipt in inbox.receipts_from(first_receipt) {
        let Some((id, envelope, occurred_at)) = receipt.event else {
            unparsed += 1;
            signature_failures += usize::from(!receipt.signature_ok);
            continue;
        };
        if !envelopes.contains(&envelope) {
            continue; // a late delivery of an earlier run's event
        }
        signature_failures += usize::from(!receipt.signature_ok);
        match firsts.entry(id) {
            Entry::Occupied(_) => duplicates += 1,
            Entry::Vacant(slot) => {
                slot.insert(millis(receipt.received_at - occurred_at));
            }
        }
    }
    let mut latencies: Vec<f64> = firsts.into_values().collect();
    latencies.sort_by(f64::total_cmp);

    RunReport {
        name,
        events: envelopes.len(),
        received: distinct.len(),
        duplicates,
        signature_failures,
        unparsed,
        create_secs: seconds(creates_done - started),
        wall_secs: last_arrival.map_or(0.0, |last| seconds(last - started)),
        latencies,
        create_errors,
        envelopes,
    }
}

/// Creates one envelope: its id, or the kind of failure with a sample body.
async fn create_envelope(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: Bytes,
) -> Result<String, (String, String)> {
    let response = client
        .post(url)
        .bearer_auth(key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|err| (describe(&err), String::new()))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|err| (describe(&err), String::new()))?;
    if status != StatusCode::CREATED {
        return Err((format!("HTTP {status}"), text));
    }
    let created: Value = serde_json::from_str(&text)
        .map_err(|_| ("a body that is not JSON".to_string(), text.clone()))?;
    created["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ("a body without id".to_string(), text))
}

/// A transport failure, by kind.
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        format!(
            "no answer within {:.0} s (client timeout)",
            REQUEST_TIMEOUT.as_secs_f64()
        )
    } else if err.is_connect() {
        "connection failed".into()
    } else {
        format!("transport error: {err}")
    }
}

fn seconds(duration: chrono::TimeDelta) -> f64 {
    duration.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

fn millis(duration: chrono::TimeDelta) -> f64 {
    duration.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e3
}

/// Nearest-rank percentile of sorted values (zero when there are none).
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// The CPU model from `/proc/cpuinfo`, when there is one.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}
