//! Lists at scale: a store filled with `BENCH_ENVELOPES` envelopes (default 100,000; 1,000,000
//! for the full run), then the real server binary answering over HTTP on 127.0.0.1.
//!
//! 1. One envelope is made through the API (so its record is exactly what the server writes),
//!    the server stops, and the store is filled directly with copies of it under new ids, in
//!    statuses DRAFT, SENT, DELIVERED, COMPLETED, VOIDED (a direct fill is the bulk; every
//!    measured call goes through HTTP).
//! 2. `signbridge reindex` builds the listing index from the records (timed: it is what an
//!    older store costs once). Bytes per envelope on disk are printed, with the record's size.
//! 3. The server starts on that store (timed until `/healthz` answers: no full scan at start;
//!    sled replays its log since the previous open, here the reindex's writes).
//! 4. Sequential keep-alive requests, `BENCH_REQUESTS` each (default 200): `/healthz` (the
//!    server's own floor), the first page, page 1,000, the page after a cursor at depth 20,000,
//!    each status filter's first page, GET by id, and a minimal axum handler in a process of its
//!    own (as the server is) as the ceiling; p50/p99 printed for each.
//! 5. The server is killed (-9) and started again, timed.
//!
//! Run: `cargo bench --bench lists` (`BENCH_ENVELOPES=1000000` for the million; `BENCH_KEEP_DIR`
//! names a new folder to keep the filled store in). Without
//! `--bench` (as `cargo test --all-targets` runs it) it fills 2,000 and makes 20 requests.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_signbridge");
const STATUSES: [&str; 5] = ["DRAFT", "SENT", "DELIVERED", "COMPLETED", "VOIDED"];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[allow(
    clippy::zombie_processes,
    reason = "the child is handed to the caller, which kills and waits for it"
)]
fn start(data: &Path, config: &Path, port: u16) -> (Child, Duration) {
    let started = Instant::now();
    let child = Command::new(BIN)
        .args([
            "run",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start signbridge");
    loop {
        if http1::client::healthy(port) {
            return (child, started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(600) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not start within 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tiny blocking HTTP/1.1 client over one keep-alive connection: nothing between the
/// timer and the socket but a write and a read.
mod http1 {
    pub mod client {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::net::TcpStream;

        pub fn healthy(port: u16) -> bool {
            Connection::open(port)
                .and_then(|mut c| c.get("/healthz", None).ok())
                .is_some_and(|(status, _)| status == 200)
        }

        pub struct Connection {
            reader: BufReader<TcpStream>,
        }

        impl Connection {
            pub fn open(port: u16) -> Option<Self> {
                let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
                stream.set_nodelay(true).ok()?;
                Some(Self {
                    reader: BufReader::new(stream),
                })
            }

            /// One GET; (status, body).
            pub fn get(
                &mut self,
                path: &str,
                key: Option<&str>,
            ) -> std::io::Result<(u16, Vec<u8>)> {
                let auth = key
                    .map(|k| format!("Authorization: Bearer {k}\r\n"))
                    .unwrap_or_default();
                let request =
                    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: keep-alive\r\n\r\n");
                self.reader.get_mut().write_all(request.as_bytes())?;
                let mut line = String::new();
                self.reader.read_line(&mut line)?;
                let status: u16 = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let mut length = 0usize;
                loop {
                    line.clear();
                    self.reader.read_line(&mut line)?;
                    let header = line.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length];
                self.reader.read_exact(&mut body)?;
                Ok((status, body))
            }
        }
    }
}

use http1::client::Connection;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn measure(name: &str, requests: usize, mut call: impl FnMut(usize) -> u16) {
    for i in 0..requests.min(10) {
        call(i);
    }
    let mut times = Vec::with_capacity(requests);
    for i in 0..requests {
        let started = Instant::now();
        let status = call(i);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 200, "{name}");
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{name:<38} {:>8.2} {:>8.2}",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| {
                    let meta = e.metadata().unwrap();
                    if meta.is_dir() {
                        dir_size(&e.path())
                    } else {
                        meta.len()
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--baseline-server") {
        run_baseline_server(args[at + 1].parse().unwrap());
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let number = |name: &str, default: usize, smoke: usize| {
        if !full {
            return smoke;
        }
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let envelopes = number("BENCH_ENVELOPES", 100_000, 2_000);
    let requests = number("BENCH_REQUESTS", 200, 20);
    let dir = tempfile::tempdir().unwrap();
    // `BENCH_KEEP_DIR` keeps the filled store there (a new folder) for profiling afterwards.
    let root = std::env::var_os("BENCH_KEEP_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().to_path_buf());
    std::fs::create_dir_all(&root).unwrap();
    let data = root.join("data");
    let config = root.join("signbridge.yaml");
    std::fs::write(
        &config,
        "rate_limit:\n  requests_per_minute: 100000000\n  burst: 100000000\n",
    )
    .unwrap();

    // 1. One real envelope, through the API.
    let port = free_port();
    let (mut server, _) = start(&data, &config, port);
    let key = std::fs::read_to_string(data.join("bootstrap-key"))
        .unwrap()
        .trim()
        .to_string();
    let upload = Command::new("curl")
        .args(["-sf", "-H", &format!("Authorization: Bearer {key}"), "-F"])
        .arg(format!(
            "file=@{}",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/pdfs/reportlab-multipage-1.4.pdf")
                .display()
        ))
        .arg(format!("http://127.0.0.1:{port}/api/v1/documents"))
        .output()
        .expect("curl");
    let document: serde_json::Value = serde_json::from_slice(&upload.stdout).unwrap();
    let body = serde_json::json!({
        "subject": "Employment contract",
        "documentIds": [document["id"]],
        "recipients": [{"email": "ana@example.com", "name": "Ana Lopez"}, {"email": "ben@example.com", "name": "Ben Marsh", "signingOrder": 2}],
    });
    let created = Command::new("curl")
        .args([
            "-sf",
            "-H",
            &format!("Authorization: Bearer {key}"),
            "-H",
            "Content-Type: application/json",
            "-d",
        ])
        .arg(body.to_string())
        .arg(format!("http://127.0.0.1:{port}/api/v1/envelopes"))
        .output()
        .expect("curl");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stdout)
    );
    server.kill().unwrap();
    server.wait().unwrap();

    // The fill: copies of the stored record under new, increasing ids.
    let started = Instant::now();
    let mut ids = Vec::with_capacity(envelopes);
    let record_bytes;
    {
        let store = signbridge::store::Store::open(&data).unwrap();
        let (_, record) = store.envelopes.iter().next().unwrap().unwrap();
        let template: serde_json::Value = signbridge::store::decode(&record).unwrap();
        record_bytes = (serde_json::to_vec(&template).unwrap().len(), record.len());
        let mut generator = ulid::Generator::new();
        let mut batch = signbridge::store::Batch::default();
        for n in 0..envelopes {
            let id = format!("env_{}", generator.generate().unwrap());
            let mut envelope = template.clone();
            envelope["id"] = serde_json::json!(id);
            envelope["status"] = serde_json::json!(STATUSES[n % STATUSES.len()]);
            batch.insert(
                format!("test/{id}").into_bytes(),
                signbridge::store::encode_packed(&envelope).unwrap(),
            );
            ids.push(id);
            if n % 10_000 == 9_999 {
                store
                    .envelopes
                    .apply_batch(std::mem::take(&mut batch))
                    .unwrap();
            }
        }
        store.envelopes.apply_batch(batch).unwrap();
        store.flush_blocking().unwrap();
    }
    println!(
        "lists bench: {envelopes} envelopes filled in {:.1} s (direct store fill), {requests} requests each",
        started.elapsed().as_secs_f64()
    );

    // 2. The index, built from the records.
    let started = Instant::now();
    let reindex = Command::new(BIN)
        .args(["reindex", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        reindex.status.success(),
        "{}",
        String::from_utf8_lossy(&reindex.stderr)
    );
    println!(
        "reindex (once, for a store made before the index): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let db_bytes = dir_size(&data.join("db"));
    println!(
        "on disk: {:.0} MB in db/, {:.0} bytes per envelope (its record: {} bytes of JSON, {} stored)",
        db_bytes as f64 / 1e6,
        db_bytes as f64 / envelopes as f64,
        record_bytes.0,
        record_bytes.1
    );

    // 3. Start on the full store.
    let port = free_port();
    let (mut server, startup) = start(&data, &config, port);
    println!(
        "first start after the reindex until /healthz answers (sled replays the reindex's log): {:.0} ms",
        startup.as_secs_f64() * 1000.0
    );

    // 4. The measured calls.
    println!("\n{:<38} {:>8} {:>8}", "request", "p50_ms", "p99_ms");
    let mut connection = Connection::open(port).unwrap();
    measure("GET /healthz (no key, no store)", requests, |_| {
        connection.get("/healthz", None).unwrap().0
    });
    let mut get = |path: &str| {
        connection
            .get(&format!("/api/v1{path}"), Some(&key))
            .unwrap()
            .0
    };
    measure("GET /envelopes?limit=20", requests, |_| {
        get("/envelopes?limit=20")
    });
    let deep = (envelopes / 20).min(1000);
    measure(&format!("GET /envelopes page {deep}"), requests, |_| {
        get(&format!("/envelopes?limit=20&page={deep}"))
    });
    let cursor = &ids[ids.len().saturating_sub(20_000.min(ids.len() - 1))];
    measure("GET /envelopes after= (cursor, deep)", requests, |_| {
        get(&format!("/envelopes?limit=20&after={cursor}"))
    });
    for status in STATUSES {
        measure(&format!("GET /envelopes?status={status}"), requests, |_| {
            get(&format!("/envelopes?limit=20&status={status}"))
        });
    }
    measure("GET /envelopes/{id}", requests, |i| {
        get(&format!("/envelopes/{}", ids[(i * 7919) % ids.len()]))
    });

    // The ceiling: a minimal axum handler in a process of its own, like the server (a handler in
    // this process would skip the cross-process wake-ups every request to the server pays).
    let baseline_port = free_port();
    let mut baseline_server = Command::new(std::env::current_exe().unwrap())
        .args(["--baseline-server", &baseline_port.to_string()])
        .spawn()
        .expect("start the baseline server");
    let started = Instant::now();
    while Connection::open(baseline_port).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the baseline server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut baseline = Connection::open(baseline_port).unwrap();
    measure("GET baseline (minimal axum)", requests, |_| {
        baseline.get("/api/v1/baseline", None).unwrap().0
    });
    baseline_server.kill().unwrap();
    baseline_server.wait().unwrap();

    // 5. A restart after kill -9: sled replays only its log since the previous start.
    server.kill().unwrap();
    server.wait().unwrap();
    let (mut server, restart) = start(&data, &config, free_port());
    println!(
        "\nrestart after kill -9 until /healthz answers: {:.0} ms",
        restart.as_secs_f64() * 1000.0
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

/// The minimal axum server the bench compares with: one GET route answering a small static
/// JSON body, on tokio's default multi-thread runtime (as signbridge runs).
fn run_baseline_server(port: u16) {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let app = axum::Router::new().route(
                "/api/v1/baseline",
                axum::routing::get(|| async {
                    axum::Json(serde_json::json!({"id": "env_x", "status": "SENT"}))
                }),
            );
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            axum::serve(listener, app).await.unwrap();
        });
}
