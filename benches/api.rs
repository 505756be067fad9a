//! HTTP throughput and latency of the signbridge API, next to a minimal axum server as a ceiling.
//!
//! What it does, all in one process and on 127.0.0.1 only:
//! - starts signbridge (`App::start` + `App::serve`) on a temporary data folder, with the rate
//!   limit raised so that it never refuses, reads the bootstrap key, uploads one PDF and creates
//!   one envelope;
//! - starts a minimal axum 0.8 server with one GET route (a small static JSON body) and one POST
//!   route (parses a JSON body, answers 201): what this machine's HTTP stack can do at best;
//! - drives each scenario with a fixed number of concurrent workers sharing one keep-alive
//!   `reqwest::Client`, for a fixed time after a warm-up, and prints one line per scenario:
//!   `scenario  requests  req/s  p50_ms  p99_ms  errors`. Non-2xx answers, transport failures
//!   and requests unanswered after 5 s count as errors; they are then listed by kind, with the
//!   first body of each. p50/p99 are over the successful requests.
//!
//! Scenarios: `GET /envelopes/{id}` of one envelope (what a client polling its envelope does;
//! signbridge answers it from its memo of rendered envelopes after checking the stored bytes),
//! `GET, spread over ids` (8,192 envelopes read in turn, twice what the memo holds, so most
//! reads decode and render), `POST /envelopes` (the same small JSON body each time, no
//! `Idempotency-Key`, so every request creates and flushes an envelope), then `GET baseline` and
//! `POST baseline` (minimal axum). After the table: the disk's raw fsync rate (4 KiB write +
//! fsync, one after another, in the temporary folder), durable creates/s divided by it, and the
//! CPU this process used during the `POST /envelopes` window (from `/proc`): how busy the cores
//! were, the CPU per durable create — the load generator's threads and signbridge's apart — and
//! the create rate at which signbridge alone would fill the cores at that cost; and, from
//! signbridge's `/metrics` over the same window, its flushes, the durable writes that shared
//! each, and how busy its single writer was (writer turns and sled's write-out, which hold the
//! same mutex): the other limit on creates/s.
//!
//! signbridge, the baseline server and the load generator each run on their own tokio
//! multi-thread runtime (one worker thread per core each) in this one process, so a server whose
//! threads block cannot freeze the load generator's clock; client and server still compete for
//! the same cores, so the numbers are a comparison on one machine, not a capacity figure. A
//! request unanswered after 5 s counts as an error, and a server that has not stopped 5 s after
//! shutdown is abandoned (with a note), so the run always ends.
//!
//! Run it:
//!
//! ```text
//! cargo bench --bench api
//! BENCH_CONCURRENCY=64 BENCH_SECONDS=10 cargo bench --bench api
//! ```
//!
//! `BENCH_CONCURRENCY` (default 32) is the number of workers, `BENCH_SECONDS` (default 5) the
//! measured time per scenario, `BENCH_ONLY` (e.g. `POST`) runs only the scenarios whose name
//! holds it; each scenario is preceded by a 1 s warm-up that is not counted. `BENCH_POSTGRES=1`
//! runs the server on PostgreSQL (`storage:`) instead of sled: a schema of its own, dropped
//! afterwards, on the server `bash .ci/postgres` starts (or `SIGNBRIDGE_TEST_POSTGRES`).
//! Run without `--bench` (as `cargo test --all-targets` does), it only makes a short smoke run.

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;
use support::runtime;

use axum::http::{header, StatusCode};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use signbridge::config::Config;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Envelopes the spread GET scenario reads in turn: twice what signbridge keeps rendered (its
/// `RENDERED_ENVELOPES`), so most reads decode and render the envelope again.
const SPREAD_ENVELOPES: usize = 8192;
/// A request unanswered this long counts as an error (and frees its worker).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Builds one request of a scenario.
type MakeRequest = Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync>;

/// How a run is shaped.
#[derive(Debug, Clone, Copy)]
struct Plan {
    concurrency: usize,
    /// How many envelopes the spread GET scenario reads in turn.
    spread: usize,
    /// Only the scenarios whose name contains this (all when empty): `BENCH_ONLY`.
    only: &'static str,
    warm_up: Duration,
    measure: Duration,
}

impl Plan {
    fn from_env() -> Plan {
        let bench_mode = std::env::args().any(|arg| arg == "--bench");
        if !bench_mode {
            return Plan {
                concurrency: 4,
                spread: 16,
                only: "",
                warm_up: Duration::from_millis(100),
                measure: Duration::from_millis(300),
            };
        }
        let concurrency = env_number("BENCH_CONCURRENCY", 32.0).max(1.0) as usize;
        let seconds = env_number("BENCH_SECONDS", 5.0).max(0.1);
        Plan {
            concurrency,
            spread: SPREAD_ENVELOPES,
            only: std::env::var("BENCH_ONLY").unwrap_or_default().leak(),
            warm_up: Duration::from_secs(1),
            measure: Duration::from_secs_f64(seconds),
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

/// What one scenario measured.
#[derive(Default)]
struct Outcome {
    /// Latencies of the successful requests in the measured window.
    latencies: Vec<Duration>,
    /// Failed requests by kind (status or transport failure), with the first body seen.
    errors: BTreeMap<String, (u64, String)>,
}

impl Outcome {
    fn error_count(&self) -> u64 {
        self.errors.values().map(|(count, _)| count).sum()
    }

    fn add_error(&mut self, kind: String, sample: String) {
        self.errors.entry(kind).or_insert((0, sample)).0 += 1;
    }

    fn merge(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        for (kind, (count, sample)) in other.errors {
            self.errors.entry(kind).or_insert((0, sample)).0 += count;
        }
    }
}

fn main() {
    let plan = Plan::from_env();
    let cores = cores();
    println!(
        "signbridge api bench: nproc={cores} cpu=\"{}\" {}/{} | concurrency={} warm-up={:.1}s duration={:.1}s per scenario",
        cpu_model(),
        std::env::consts::OS,
        std::env::consts::ARCH,
        plan.concurrency,
        plan.warm_up.as_secs_f64(),
        plan.measure.as_secs_f64(),
    );

    // One runtime each, so that a server whose threads block cannot stall the load generator
    // (its timers included) or the other server.
    let signbridge_rt = runtime("signbridge");
    let baseline_rt = runtime("baseline");
    let client_rt = runtime("load");

    let data = tempfile::tempdir().expect("temporary data folder");
    let mut config = Config::default();
    config.rate_limit.requests_per_minute = 100_000_000;
    config.rate_limit.burst = 100_000_000;
    let postgres = std::env::var("BENCH_POSTGRES")
        .is_ok_and(|value| value == "1")
        .then(common::postgres::TestSchema::new);
    if let Some(schema) = &postgres {
        config.storage = signbridge::config::StorageConfig::Postgres {
            url: signbridge::config::Secret::new(schema.url.clone()),
            connections: signbridge::config::DEFAULT_POSTGRES_CONNECTIONS,
        };
    }
    println!(
        "storage: {}",
        if postgres.is_some() {
            "PostgreSQL (one process)"
        } else {
            "sled (embedded)"
        }
    );
    let (signbridge_addr, stop_signbridge, signbridge) =
        support::start_signbridge(&signbridge_rt, config, data.path());
    let (baseline_addr, stop_baseline, baseline) = baseline_rt.block_on(start_baseline());

    let key = std::fs::read_to_string(data.path().join("bootstrap-key"))
        .expect("bootstrap key")
        .trim()
        .to_string();
    client_rt.block_on(drive(plan, signbridge_addr, baseline_addr, key));

    // Graceful shutdown waits for requests still in flight; do not wait forever for any that
    // will never be answered.
    let _ = stop_baseline.send(());
    let _ = stop_signbridge.send(());
    support::stop_servers(
        &client_rt,
        vec![
            ("baseline", baseline_rt, baseline),
            ("signbridge", signbridge_rt, signbridge),
        ],
    );
}

/// Prepares the signbridge data the scenarios need, runs them and prints the table.
async fn drive(plan: Plan, signbridge: SocketAddr, baseline: SocketAddr, key: String) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(plan.concurrency)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("HTTP client");
    let api = format!("http://{signbridge}/api/v1");
    let metrics_url = format!("http://{signbridge}/metrics");

    let document = upload_document(&client, &api, &key).await;
    let envelope_body = Bytes::from(
        json!({
            "subject": "Bench",
            "documentIds": [document],
            "recipients": [{"email": "a@example.com", "name": "A"}],
        })
        .to_string(),
    );
    let envelope = create_envelope(&client, &api, &key, envelope_body.clone()).await;

    let spread = if "GET, spread over ids".contains(plan.only) {
        create_envelopes(&client, &api, &key, &envelope_body, plan).await
    } else {
        Vec::new()
    };

    let scenarios: Vec<(&str, MakeRequest)> = vec![
        ("GET /envelopes/{id}", {
            let url = format!("{api}/envelopes/{envelope}");
            let key = key.clone();
            Arc::new(move |client: &reqwest::Client| client.get(&url).bearer_auth(&key))
        }),
        ("GET, spread over ids", {
            let urls: Vec<String> = spread
                .iter()
                .map(|id| format!("{api}/envelopes/{id}"))
                .collect();
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let key = key.clone();
            Arc::new(move |client: &reqwest::Client| {
                let turn = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                client.get(&urls[turn % urls.len()]).bearer_auth(&key)
            })
        }),
        ("POST /envelopes", {
            let url = format!("{api}/envelopes");
            let key = key.clone();
            let body = envelope_body.clone();
            Arc::new(move |client: &reqwest::Client| {
                client
                    .post(&url)
                    .bearer_auth(&key)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
        }),
        ("GET baseline", {
            let url = format!("http://{baseline}/baseline");
            Arc::new(move |client: &reqwest::Client| client.get(&url))
        }),
        ("POST baseline", {
            let url = format!("http://{baseline}/baseline");
            let body = envelope_body.clone();
            Arc::new(move |client: &reqwest::Client| {
                client
                    .post(&url)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
        }),
    ];

    println!();
    println!(
        "{:<22} {:>10} {:>10} {:>9} {:>9} {:>8}",
        "scenario", "requests", "req/s", "p50_ms", "p99_ms", "errors"
    );
    let mut failures = Vec::new();
    let mut creates_per_second = None;
    let mut create_cpu = None;
    let mut create_writer = None;
    for (name, make) in scenarios {
        if !name.contains(plan.only) {
            continue;
        }
        let (outcome, cpu_used, writer) = measure(&client, make, plan, &metrics_url).await;
        let errors = outcome.error_count();
        let mut latencies = outcome.latencies;
        latencies.sort_unstable();
        let requests = latencies.len() as u64 + errors;
        if name == "POST /envelopes" {
            creates_per_second = Some(latencies.len() as f64 / plan.measure.as_secs_f64());
            create_cpu = Some((cpu_used, latencies.len()));
            create_writer = Some(writer);
        }
        println!(
            "{:<22} {:>10} {:>10.0} {:>9.3} {:>9.3} {:>8}",
            name,
            requests,
            requests as f64 / plan.measure.as_secs_f64(),
            millis(percentile(&latencies, 0.50)),
            millis(percentile(&latencies, 0.99)),
            errors,
        );
        failures.extend(
            outcome
                .errors
                .into_iter()
                .map(|(kind, (count, sample))| (name, kind, count, sample)),
        );
    }
    // The disk's own rate: one small write and fsync after another, on the same filesystem.
    let fsyncs = raw_fsync_rate(plan.measure);
    println!();
    println!("raw fsync rate of this disk (4 KiB write + fsync, one after another): {fsyncs:.0}/s");
    if let Some(creates) = creates_per_second {
        println!(
            "durable creates/s ÷ fsync rate: {:.2} (group commit: concurrent creates share flushes)",
            creates / fsyncs
        );
    }
    if let Some((cpu, creates)) = create_cpu.filter(|(_, creates)| *creates > 0) {
        // Where the create rate stops: the CPU a create costs against the cores there are.
        let available = plan.measure.as_secs_f64() * cores() as f64;
        let per_create = |used: Duration| used.as_secs_f64() * 1e6 / creates as f64;
        let server = cpu.process.saturating_sub(cpu.load_generator);
        println!(
            "CPU while creating: {:.0}% of {} cores busy; per durable create {:.0} µs, of which the \
             load generator {:.0} µs and signbridge {:.0} µs → signbridge alone would stop near \
             {:.0} creates/s on these cores",
            cpu.process.as_secs_f64() * 100.0 / available,
            cores(),
            per_create(cpu.process),
            per_create(cpu.load_generator),
            per_create(server),
            cores() as f64 * 1e6 / per_create(server),
        );
    }
    if let Some(writer) = create_writer.filter(|w| w.flushes > 0.0 && w.turns > 0.0) {
        // The other limit: one writer at a time. Its turns and sled's write-out (which takes
        // the same mutex) side by side, as shares of the measured window.
        let window = plan.measure.as_secs_f64();
        println!(
            "writer while creating: {:.0} flushes/s, {:.1} durable writes per flush (group \
             commit); writer turns held the writer mutex {:.0}% of the time ({:.0} µs each, {:.0} \
             turns/s), sled's write-out {:.0}% ({:.0} µs per flush) → the single writer was busy \
             {:.0}%; per flush {:.0} µs waiting for the writer mutex before the write-out, \
             {:.0} µs of fsyncs after it",
            writer.flushes / window,
            writer.flush_requests / writer.flushes,
            writer.turn_held * 100.0 / window,
            writer.turn_held * 1e6 / writer.turns,
            writer.turns / window,
            writer.write_out * 100.0 / window,
            writer.write_out * 1e6 / writer.flushes,
            (writer.turn_held + writer.write_out) * 100.0 / window,
            writer.flush_wait * 1e6 / writer.flushes,
            writer.fsync * 1e6 / writer.flushes,
        );
    }
    if !failures.is_empty() {
        println!();
        println!("errors by kind (p50/p99 are over successful requests only):");
        for (name, kind, count, sample) in failures {
            println!("  {name}: {count} x {kind}");
            if !sample.is_empty() {
                println!("      first body: {}", shorten(&sample, 300));
            }
        }
    }
}

/// Runs one scenario: `plan.concurrency` workers loop requests through the warm-up and the
/// measured window. A success counts when it starts and finishes inside the window; a failure
/// (including a request unanswered after [`REQUEST_TIMEOUT`]) when it overlaps the window.
async fn measure(
    client: &reqwest::Client,
    make: MakeRequest,
    plan: Plan,
    metrics_url: &str,
) -> (Outcome, CpuTime, WriterCounters) {
    let start = Instant::now() + plan.warm_up;
    let end = start + plan.measure;
    let workers: Vec<_> = (0..plan.concurrency)
        .map(|_| tokio::spawn(worker(client.clone(), make.clone(), start, end)))
        .collect();
    tokio::time::sleep_until(start.into()).await;
    let cpu_at_start = CpuTime::now();
    let writer_at_start = WriterCounters::scrape(client, metrics_url).await;
    tokio::time::sleep_until(end.into()).await;
    let cpu_used = CpuTime::now().since(&cpu_at_start);
    let writer = WriterCounters::scrape(client, metrics_url)
        .await
        .since(&writer_at_start);
    let mut total = Outcome::default();
    for worker in workers {
        total.merge(worker.await.expect("worker task"));
    }
    (total, cpu_used, writer)
}

/// signbridge's store counters from its `/metrics` (`signbridge_store_…`, see
/// `signbridge::store::WriterSnapshot`): flushes and the requests for one, writer turns and the
/// time they held the writer mutex, and per flush the time it waited for that mutex, sled's
/// write-out under it and the fsyncs. A scrape that fails reads as zeros (the line is then left
/// out); the scrapes are a few milliseconds apart from the CPU window's ends.
#[derive(Default)]
struct WriterCounters {
    flushes: f64,
    flush_requests: f64,
    turns: f64,
    turn_held: f64,
    flush_wait: f64,
    write_out: f64,
    fsync: f64,
}

impl WriterCounters {
    async fn scrape(client: &reqwest::Client, url: &str) -> WriterCounters {
        let text = match client.get(url).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let value = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or(0.0)
        };
        WriterCounters {
            flushes: value("signbridge_store_flushes_total"),
            flush_requests: value("signbridge_store_flush_requests_total"),
            turns: value("signbridge_store_writer_turns_total"),
            turn_held: value("signbridge_store_writer_held_seconds_total"),
            flush_wait: value("signbridge_store_flush_wait_seconds_total"),
            write_out: value("signbridge_store_flush_write_out_seconds_total"),
            fsync: value("signbridge_store_fsync_seconds_total"),
        }
    }

    fn since(&self, earlier: &WriterCounters) -> WriterCounters {
        WriterCounters {
            flushes: self.flushes - earlier.flushes,
            flush_requests: self.flush_requests - earlier.flush_requests,
            turns: self.turns - earlier.turns,
            turn_held: self.turn_held - earlier.turn_held,
            flush_wait: self.flush_wait - earlier.flush_wait,
            write_out: self.write_out - earlier.write_out,
            fsync: self.fsync - earlier.fsync,
        }
    }
}

/// CPU time (user + system) used so far by this process — every thread, those that ended
/// included — and by the load generator's threads, from `/proc` (zero where there is none).
struct CpuTime {
    process: Duration,
    load_generator: Duration,
}

impl CpuTime {
    fn now() -> CpuTime {
        let tick = Duration::from_secs(1) / clock_ticks_per_second();
        let ticks = |stat: &str| -> Option<(String, u32)> {
            // `pid (comm) state ppid …`: utime and stime are the 14th and 15th fields.
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1.to_string();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let used =
                fields.get(11)?.parse::<u32>().ok()? + fields.get(12)?.parse::<u32>().ok()?;
            Some((comm, used))
        };
        let process = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|stat| ticks(&stat))
            .map_or(0, |(_, used)| used);
        let load_generator = std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
            .filter_map(|stat| ticks(&stat))
            .filter(|(comm, _)| comm == "load")
            .map(|(_, used)| used)
            .sum::<u32>();
        CpuTime {
            process: tick * process,
            load_generator: tick * load_generator,
        }
    }

    fn since(&self, earlier: &CpuTime) -> CpuTime {
        CpuTime {
            process: self.process.saturating_sub(earlier.process),
            load_generator: self.load_generator.saturating_sub(earlier.load_generator),
        }
    }
}

/// The kernel's clock tick (`getconf CLK_TCK`, 100 on Linux almost everywhere).
fn clock_ticks_per_second() -> u32 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

async fn worker(
    client: reqwest::Client,
    make: MakeRequest,
    start: Instant,
    end: Instant,
) -> Outcome {
    let mut outcome = Outcome::default();
    loop {
        let began = Instant::now();
        if began >= end {
            return outcome;
        }
        let result = match make(&client).send().await {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(_) if status.is_success() => Ok(()),
                    Ok(body) => Err((
                        format!("HTTP {status}"),
                        String::from_utf8_lossy(&body).into_owned(),
                    )),
                    Err(err) => Err((describe(&err), String::new())),
                }
            }
            Err(err) => Err((describe(&err), String::new())),
        };
        let finished = Instant::now();
        match result {
            Ok(()) if began >= start && finished <= end => outcome.latencies.push(finished - began),
            Ok(()) => {}
            // A failure counts when it overlaps the window: one that hung since the warm-up
            // and times out inside the window is a failure of the window too.
            Err((kind, sample)) if finished >= start => outcome.add_error(kind, sample),
            Err(_) => {}
        }
    }
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

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// Nearest-rank percentile of sorted latencies (zero when there are none).
fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The cores this process may run on.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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

/// The body the baseline POST route parses (the same shape signbridge's POST receives).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code, reason = "parsed for the cost of parsing, not read")]
struct BaselineBody {
    subject: String,
    document_ids: Vec<String>,
    recipients: Vec<Value>,
}

/// Starts the minimal axum server: GET and POST `/baseline`.
async fn start_baseline() -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    use axum::routing::get;
    use axum::Json;

    async fn read() -> impl axum::response::IntoResponse {
        (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"id":"env_baseline","status":"DRAFT","subject":"Bench"}"#,
        )
    }
    async fn write(Json(body): Json<BaselineBody>) -> (StatusCode, Json<Value>) {
        (
            StatusCode::CREATED,
            Json(json!({"id": "env_baseline", "subject": body.subject})),
        )
    }

    let router = axum::Router::new().route("/baseline", get(read).post(write));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind the baseline server");
    let addr = listener.local_addr().expect("baseline address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .expect("baseline server");
    });
    (addr, stop, task)
}

async fn upload_document(client: &reqwest::Client, api: &str, key: &str) -> String {
    let part =
        reqwest::multipart::Part::bytes(common::pdf(1, "Bench contract")).file_name("contract.pdf");
    let form = reqwest::multipart::Form::new().part("file", part);
    let response = client
        .post(format!("{api}/documents"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .expect("upload the document");
    let body = expect_created(response, "upload the document").await;
    body["id"].as_str().expect("document id").to_string()
}

async fn create_envelope(client: &reqwest::Client, api: &str, key: &str, body: Bytes) -> String {
    let response = client
        .post(format!("{api}/envelopes"))
        .bearer_auth(key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .expect("create the envelope");
    let body = expect_created(response, "create the envelope").await;
    body["id"].as_str().expect("envelope id").to_string()
}

/// Creates `plan.spread` envelopes, `plan.concurrency` at a time, and returns their ids.
async fn create_envelopes(
    client: &reqwest::Client,
    api: &str,
    key: &str,
    body: &Bytes,
    plan: Plan,
) -> Vec<String> {
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..plan.concurrency {
        let count = (plan.spread + plan.concurrency - 1 - worker) / plan.concurrency;
        let (client, api, key, body) = (
            client.clone(),
            api.to_string(),
            key.to_string(),
            body.clone(),
        );
        workers.spawn(async move {
            let mut ids = Vec::with_capacity(count);
            for _ in 0..count {
                ids.push(create_envelope(&client, &api, &key, body.clone()).await);
            }
            ids
        });
    }
    let mut ids = Vec::with_capacity(plan.spread);
    while let Some(batch) = workers.join_next().await {
        ids.extend(batch.expect("creating worker"));
    }
    assert_eq!(ids.len(), plan.spread);
    ids
}

async fn expect_created(response: reqwest::Response, what: &str) -> Value {
    let status = response.status();
    let text = response.text().await.expect("response body");
    assert_eq!(status, StatusCode::CREATED, "{what}: {text}");
    serde_json::from_str(&text).expect("JSON body")
}

/// How many write-then-fsync rounds of 4 KiB this disk does in a second, one after another,
/// in the temporary folder (where the bench's data folder is).
fn raw_fsync_rate(duration: std::time::Duration) -> f64 {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut file = std::fs::File::create(dir.path().join("fsync")).expect("file");
    let block = [7u8; 4096];
    let started = std::time::Instant::now();
    let mut rounds = 0u64;
    while started.elapsed() < duration {
        file.write_all(&block).expect("write");
        file.sync_data().expect("fsync");
        rounds += 1;
    }
    rounds as f64 / started.elapsed().as_secs_f64()
}
