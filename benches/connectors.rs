//! The declarative connector engine reading from a local fake: 10,000 Pipedrive-shaped deals
//! (the shipped `connectors/pipedrive.yaml`, its request budget lifted so the engine, not the
//! budget, is measured), 500 a page with cursor paging, each hydrated with its person — and
//! the same read without hydration, and with 1 % of the hydration calls answering 404 (those
//! records come out broken, the read goes on: the cost of isolation). Prints records/s and the process's memory (the fake runs in
//! the same process, so the numbers are an upper bound for the engine).
//!
//! Run: `cargo bench --bench connectors` (`BENCH_RECORDS` to change the count). Without
//! `--bench` it reads 500 records.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use signbridge::sync::connector::Connector;
use signbridge::sync::http::{load_definition, HttpConnector};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

async fn deals(
    State(all): State<Arc<Vec<Value>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    let start: usize = query
        .get("cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = all.iter().skip(start).take(500).cloned().collect();
    let next = if start + 500 < all.len() {
        json!((start + 500).to_string())
    } else {
        Value::Null
    };
    Json(json!({"success": true, "data": page, "additional_data": {"next_cursor": next}}))
}

/// While set, one person in a hundred is gone (404).
static SOME_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

async fn person(Path(id): Path<u64>) -> axum::response::Response {
    use axum::response::IntoResponse;
    if SOME_GONE.load(std::sync::atomic::Ordering::Relaxed) && id % 100 == 7 {
        return (
            axum::http::StatusCode::NOT_FOUND,
            Json(json!({"success": false, "error": "Person not found"})),
        )
            .into_response();
    }
    Json(
        json!({"success": true, "data": {"id": id, "name": format!("Person {id}"), "emails": [{"value": format!("p{id}@example.com"), "primary": true}]}}),
    )
    .into_response()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let count: usize = if full {
        std::env::var("BENCH_RECORDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000)
    } else {
        500
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let all: Arc<Vec<Value>> = Arc::new(
        (0..count)
            .map(|i| json!({"id": i, "title": format!("Deal {i}"), "person_id": i, "stage_id": 3, "status": "open", "value": 1000 + i, "currency": "EUR", "update_time": format!("2026-11-{:02}T{:02}:{:02}:00Z", 1 + i / 1440 % 28, i / 60 % 24, i % 60)}))
            .collect(),
    );
    let base = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let router = Router::new()
            .route("/api/v2/deals", get(deals))
            .route("/api/v2/persons/{id}", get(person))
            .with_state(all);
        tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
        format!("http://{address}")
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let original = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/connectors/pipedrive.yaml"
    ))
    .expect("definition");
    let unlimited = original.replace("  requests_per_second: 10\n", "");
    let without_hydration = {
        let start = unlimited.find("    hydrate:").expect("hydrate");
        let end = unlimited.find("writeback:").expect("writeback");
        format!("{}{}", &unlimited[..start], &unlimited[end..])
    };
    let settings: BTreeMap<String, String> = [("company_domain", "bench"), ("api_token", "t")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let rss_before = memory_kib("VmRSS:");
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("connector engine bench: nproc={nproc} records={count} (fake Pipedrive on loopback, 500 a page)\n");
    // The hydrated reads alternate, clean and 1 % broken, twice: the first read warms the
    // connection pool and the allocator, so each is compared with the clean read before it.
    let mut clean_rate = 0.0;
    for (label, text) in [
        ("read only", &without_hydration),
        ("read + hydrate each", &unlimited),
        ("… 1 % of them 404", &unlimited),
        ("read + hydrate each", &unlimited),
        ("… 1 % of them 404", &unlimited),
    ] {
        let broken_run = label.contains("404");
        SOME_GONE.store(broken_run, std::sync::atomic::Ordering::Relaxed);
        let path = dir.path().join("pipedrive.yaml");
        std::fs::write(&path, text).expect("write");
        let definition = load_definition(&path).expect("load");
        let connector = Arc::new(
            HttpConnector::new("bench", definition, &settings, Some(base.clone()))
                .expect("connector"),
        );
        let started = Instant::now();
        let c = connector.clone();
        let batch = runtime
            .block_on(
                async move { tokio::task::spawn_blocking(move || c.read("deals", None)).await },
            )
            .expect("join")
            .expect("read");
        let took = started.elapsed();
        let gone = if broken_run {
            (0..count).filter(|i| i % 100 == 7).count()
        } else {
            0
        };
        assert_eq!(batch.records.len(), count - gone);
        assert_eq!(batch.broken.len(), gone);
        let rate = count as f64 / took.as_secs_f64();
        let versus = if broken_run {
            format!("  {:+.1} % vs clean", (rate / clean_rate - 1.0) * 100.0)
        } else {
            String::new()
        };
        if label.contains("hydrate") {
            clean_rate = rate;
        }
        println!(
            "{label:<22} {:>8.2} s  {:>9.0} records/s  ({} HTTP requests, {} broken){versus}",
            took.as_secs_f64(),
            rate,
            count.div_ceil(500) + if text == &unlimited { count } else { 0 },
            batch.broken.len()
        );
        drop(batch);
    }
    println!(
        "\nmemory: RSS {:.1} MiB before, {:.1} MiB after, peak (VmHWM) {:.1} MiB — engine and fake in one process",
        rss_before as f64 / 1024.0,
        memory_kib("VmRSS:") as f64 / 1024.0,
        memory_kib("VmHWM:") as f64 / 1024.0
    );
}
