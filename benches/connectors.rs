//! The declarative connector engine reading from a local fake: 10,000 Pipedrive-shaped deals
//! (the shipped `connectors/pipedrive.yaml`, its request budget lifted so the engine, not the
//! budget, is measured), 500 a page with cursor paging, each hydrated with its person — and
//! the same read without hydration. Prints records/s and the process's memory (the fake runs in
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

async fn person(Path(id): Path<u64>) -> Json<Value> {
    Json(
        json!({"success": true, "data": {"id": id, "name": format!("Person {id}"), "emails": [{"value": format!("p{id}@example.com"), "primary": true}]}}),
    )
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
    for (label, text) in [
        ("read only", &without_hydration),
        ("read + hydrate each", &unlimited),
    ] {
        let path = dir.path().join("pipedrive.yaml");
        std::fs::write(&path, text).expect("write");
        let definition = load_definition(&path).expect("load");
        let connector = Arc::new(
            HttpConnector::new("bench", definition, &settings, Some(base.clone()))
                .expect("connector"),
        );
        let started = Instant::now();
        let c = connector.clone();
        let (records, _) = runtime
            .block_on(
                async move { tokio::task::spawn_blocking(move || c.read("deals", None)).await },
            )
            .expect("join")
            .expect("read");
        let took = started.elapsed();
        assert_eq!(records.len(), count);
        println!(
            "{label:<22} {:>8.2} s  {:>9.0} records/s  ({} HTTP requests)",
            took.as_secs_f64(),
            count as f64 / took.as_secs_f64(),
            count.div_ceil(500) + if label.contains("hydrate") { count } else { 0 }
        );
        drop(records);
    }
    println!(
        "\nmemory: RSS {:.1} MiB before, {:.1} MiB after, peak (VmHWM) {:.1} MiB — engine and fake in one process",
        rss_before as f64 / 1024.0,
        memory_kib("VmRSS:") as f64 / 1024.0,
        memory_kib("VmHWM:") as f64 / 1024.0
    );
}
