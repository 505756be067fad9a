//! The sync daemon under load: `BENCH_RECORDS` (default 1,000) new-hire records dropped into a
//! folder source of the real `signbridge` binary (embedded API, loopback only), and then:
//! - records → sent: from the records being written to every job's envelope being out
//!   (throughput in records/s, read from the daemon's `/metrics`);
//! - record → written back: every invitation is signed over HTTP as soon as it is in the
//!   outbox; per record, the time from its file being written to its `status.json` appearing
//!   (p50/p95/max), which includes rendering, upload, create, send, signing by this client,
//!   sealing, the webhook and the write-back;
//! - the daemon's resident memory (VmRSS): idle before the records, and the peak during the run;
//! - the 429s the daemon met and the jobs parked (the configuration is the default one: the
//!   public per-key limit of 100/min, burst 200, and the daemon's concurrency of 4).
//!
//! Run: `cargo bench --bench sync` (`BENCH_RECORDS=200` for a shorter run,
//! `BENCH_RAISED_LIMIT=1` to compare with the public rate limit raised out of the way,
//! `BENCH_REMOTE=1` for remote mode against a second signbridge: 300 records by default). Without `--bench`
//! (as `cargo test --all-targets` does) it runs 20 records.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TEMPLATE: &str = "---\ntitle: Contract\n---\n# Employment contract\n\nBetween Acme and **{{name}}**, as {{role}}.\n\n{{signature \"employee\" \"The employee\"}}\n";
const MAPPING: &str = "source: hris\ntemplate: contract.md.hbs\nsubject: \"Contract — {{name}}\"\nrecipients:\n  - email: \"{{email}}\"\n    name: \"{{name}}\"\n    fields: employee\n";

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn start(
    root: &std::path::Path,
    port: u16,
    config: Option<&str>,
    data: &str,
) -> std::process::Child {
    let mut command = Command::new(common::BIN);
    command
        .current_dir(root)
        .args([
            "run",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            data,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(config) = config {
        command.args(["--config", config]);
    }
    command.spawn().expect("start signbridge")
}

async fn wait_ready(http: &reqwest::Client, base: &str, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = http.get(format!("{base}{path}")).send().await;
        if ready.map(|r| r.status().is_success()).unwrap_or(false) {
            return;
        }
        assert!(Instant::now() < deadline, "signbridge did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Remote mode (`BENCH_REMOTE=1`): the daemon drives a second signbridge acting as the cloud,
/// with the default per-key limit (100/min, burst 200); prints the time to send every record
/// next to the least the limit allows for the calls made, and the 429s met.
fn remote(records: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("records")).unwrap();
    std::fs::create_dir_all(root.join("mappings")).unwrap();
    std::fs::write(root.join("mappings/contract.md.hbs"), TEMPLATE).unwrap();
    std::fs::write(root.join("mappings/hires.yaml"), MAPPING).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let cloud_port = common::free_port();
    let cloud_base = format!("http://127.0.0.1:{cloud_port}");
    let mut cloud = start(root, cloud_port, None, "cloud");
    runtime.block_on(wait_ready(&http, &cloud_base, "/healthz"));
    let bootstrap = std::fs::read_to_string(root.join("cloud/bootstrap-key")).unwrap();
    let created: serde_json::Value = runtime.block_on(async {
        http.post(format!("{cloud_base}/api/v1/keys"))
            .bearer_auth(bootstrap.trim())
            .json(&serde_json::json!({"name": "sync daemon"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let config = format!(
        "certyneo:\n  mode: remote\n  base_url: {cloud_base}/api/v1\n  api_key: {}\nsources:\n  hris:\n    connector: folder\n    path: {r}/records\n    output: {r}/out\n    schedule: \"* * * * * *\"\nsync:\n  mappings_dir: {r}/mappings\n",
        created["secret"].as_str().expect("a key"),
        r = root.display()
    );
    std::fs::write(root.join("signbridge.yaml"), config).unwrap();
    let mut daemon = start(root, port, Some("signbridge.yaml"), "data");
    runtime.block_on(wait_ready(&http, &base, "/readyz"));
    let started = Instant::now();
    for n in 0..records {
        let id = format!("E{n:05}");
        let record = serde_json::json!({"id": id, "name": format!("Employee {n}"), "email": format!("e{n}@example.com"), "role": "engineer"});
        std::fs::write(root.join(format!("records/{id}.json")), record.to_string()).unwrap();
    }
    let metrics = || {
        runtime
            .block_on(async {
                http.get(format!("{base}/metrics"))
                    .send()
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(3600);
    let text = loop {
        let text = metrics();
        if metric(&text, "signbridge_sync_jobs{state=\"sent\"}") as usize >= records {
            break text;
        }
        assert!(Instant::now() < deadline, "not all sent within an hour");
        std::thread::sleep(Duration::from_millis(200));
    };
    let elapsed = started.elapsed();
    let count_of = |outcome: &str| api_calls(&text, outcome);
    let calls = count_of("ok") + count_of("throttled") + count_of("busy");
    // The burst of 200 at once, then 100 a minute (calls before the records were written —
    // the webhook registration — came out of the same bucket earlier).
    let least = (calls.saturating_sub(200) as f64) * 60.0 / 100.0;
    println!("sync bench, remote mode: records={records} → a second signbridge with the default limit (100/min, burst 200)\n");
    println!(
        "records → sent:          {:.1} s for {calls} API calls; the limit allows it in {least:.1} s at best ({:+.1} %)",
        elapsed.as_secs_f64(),
        (elapsed.as_secs_f64() / least.max(1.0) - 1.0) * 100.0
    );
    println!(
        "API calls:               {} ok, {} answered 429, {} busy; {} jobs parked",
        count_of("ok"),
        count_of("throttled"),
        count_of("busy"),
        metric(&text, "signbridge_sync_jobs{state=\"parked\"}")
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
    let _ = cloud.kill();
    let _ = cloud.wait();
}

/// The daemon's API calls with `outcome` (`ok`, `throttled`, `busy`, …), from `/metrics` text.
fn api_calls(metrics: &str, outcome: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("signbridge_sync_api_call_seconds_count{")
                && l.contains(&format!("outcome=\"{outcome}\""))
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    if std::env::var("BENCH_REMOTE").is_ok() {
        let records = std::env::var("BENCH_RECORDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if full { 300 } else { 5 });
        remote(records);
        return;
    }
    let records: usize = if full {
        std::env::var("BENCH_RECORDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000)
    } else {
        20
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("records")).unwrap();
    std::fs::create_dir_all(root.join("mappings")).unwrap();
    std::fs::write(root.join("mappings/contract.md.hbs"), TEMPLATE).unwrap();
    std::fs::write(root.join("mappings/hires.yaml"), MAPPING).unwrap();
    let port = common::free_port();
    let config = format!(
        "sources:\n  hris:\n    connector: folder\n    path: {r}/records\n    output: {r}/out\n    schedule: \"* * * * * *\"\nsync:\n  mappings_dir: {r}/mappings\n",
        r = root.display()
    );
    // `BENCH_RAISED_LIMIT=1`: the public limit raised out of the way, for comparison.
    let config = if std::env::var("BENCH_RAISED_LIMIT").is_ok() {
        format!("{config}rate_limit:\n  requests_per_minute: 100000000\n  burst: 100000000\n")
    } else {
        config
    };
    std::fs::write(root.join("signbridge.yaml"), config).unwrap();
    let mut child = Command::new(common::BIN)
        .current_dir(root)
        .args([
            "run",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
            "signbridge.yaml",
            "--data-dir",
            "data",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start signbridge");
    let pid = child.id();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http.get(format!("{base}/readyz")).send().await;
            if ready.map(|r| r.status().is_success()).unwrap_or(false) {
                break;
            }
            assert!(Instant::now() < deadline, "signbridge did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    let idle_rss = rss_kib(pid);

    let started = Instant::now();
    let mut written_at: HashMap<String, Instant> = HashMap::new();
    for n in 0..records {
        let id = format!("E{n:05}");
        let record = serde_json::json!({"id": id, "name": format!("Employee {n}"), "email": format!("e{n}@example.com"), "role": "engineer"});
        std::fs::write(root.join(format!("records/{id}.json")), record.to_string()).unwrap();
        written_at.insert(id, Instant::now());
    }
    let data_dir: PathBuf = root.join("data");
    let mut signed: HashSet<String> = HashSet::new();
    let mut sent_at: Option<Duration> = None;
    let mut done_at: HashMap<String, Duration> = HashMap::new();
    let mut peak_rss = idle_rss;
    let deadline = Instant::now() + Duration::from_secs(if full { 1800 } else { 300 });
    while done_at.len() < records {
        assert!(
            Instant::now() < deadline,
            "only {} of {records} written back",
            done_at.len()
        );
        peak_rss = peak_rss.max(rss_kib(pid));
        if sent_at.is_none() {
            let text = runtime
                .block_on(async {
                    http.get(format!("{base}/metrics"))
                        .send()
                        .await
                        .ok()?
                        .text()
                        .await
                        .ok()
                })
                .unwrap_or_default();
            let out: u64 = ["sent", "completed", "written_back"]
                .iter()
                .map(|s| metric(&text, &format!("signbridge_sync_jobs{{state=\"{s}\"}}")))
                .sum();
            if out as usize >= records {
                sent_at = Some(started.elapsed());
            }
        }
        let links: Vec<String> = common::outbox_messages(&data_dir)
            .into_iter()
            .filter_map(|(_, message)| common::sign_link(&message))
            .filter(|link| !signed.contains(link))
            .collect();
        runtime.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for chunk in links.chunks(links.len().div_ceil(8).max(1)) {
                let chunk = chunk.to_vec();
                let http = http.clone();
                tasks.spawn(async move {
                    for link in &chunk {
                        let _ = http
                            .post(link)
                            .form(&[
                                ("action", "sign"),
                                ("typed_name", "Employee"),
                                ("consent", "yes"),
                            ])
                            .send()
                            .await;
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
        });
        signed.extend(links);
        if let Ok(entries) = std::fs::read_dir(root.join("out")) {
            for entry in entries.filter_map(Result::ok) {
                let id = entry.file_name().to_string_lossy().into_owned();
                if !done_at.contains_key(&id) && entry.path().join("status.json").exists() {
                    if let Some(at) = written_at.get(&id) {
                        done_at.insert(id, at.elapsed());
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let total = started.elapsed();
    let sent = sent_at.unwrap_or(total);
    let mut latencies: Vec<f64> = done_at.values().map(|d| d.as_secs_f64() * 1000.0).collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("sync bench: nproc={nproc} records={records} (folder source → embedded API over loopback, default configuration)\n");
    println!(
        "records → sent:          {:.2} s  ({:.1} records/s)",
        sent.as_secs_f64(),
        records as f64 / sent.as_secs_f64()
    );
    println!(
        "all written back:        {:.2} s  ({:.1} records/s, signing by this client included)",
        total.as_secs_f64(),
        records as f64 / total.as_secs_f64()
    );
    println!(
        "record → written back:   p50 {:.0} ms  p95 {:.0} ms  max {:.0} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        percentile(&latencies, 1.0)
    );
    println!(
        "daemon RSS:              idle {:.1} MiB, peak under load {:.1} MiB",
        idle_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
    let text = runtime
        .block_on(async {
            http.get(format!("{base}/metrics"))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()
        })
        .unwrap_or_default();
    let count_of = |outcome: &str| api_calls(&text, outcome);
    println!(
        "API calls:               {} ok, {} answered 429, {} busy; {} jobs parked",
        count_of("ok"),
        count_of("throttled"),
        count_of("busy"),
        metric(&text, "signbridge_sync_jobs{state=\"parked\"}")
    );
    let _ = child.kill();
    let _ = child.wait();
}
