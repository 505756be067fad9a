//! The storage interface's transactions per second on each backend: sled in a temporary folder,
//! PostgreSQL on the test server (`.ci/postgres`, or `SIGNBRIDGE_TEST_POSTGRES`) in a schema of
//! its own, dropped afterwards. Loopback only.
//!
//! Each transaction is shaped like an envelope create: one read of a key that must exist (a
//! document), then ten writes of ~300-byte values under fresh keys (the record, its index
//! entries, its event, its outbox row) — and, in the `hot counter` scenarios, one
//! read-modify-write of a counter every transaction shares (what the listing counts are today).
//! Every transaction is durable when counted: sled's group-commit flush after each, a
//! PostgreSQL commit. Printed per backend, scenario and number of threads: committed
//! transactions per second, and runs per transaction (above 1.0: conflicts made runs start
//! again).
//!
//! Run: `cargo bench --bench storage` (`BENCH_SECONDS`, default 3 per line; `BENCH_THREADS`,
//! default `1,4,16`). Without `--bench` (as `cargo test --all-targets` runs it) it makes a
//! short smoke run, and skips PostgreSQL when no server answers.

use signbridge::store::postgres::PgTrees;
use signbridge::store::trees::{OrderedTrees, TxError};
use signbridge::store::Store;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:54329/signbridge_test";

/// One create-shaped transaction; `hot` adds the shared counter.
fn create_like(
    trees: &impl OrderedTrees,
    thread: usize,
    n: u64,
    hot: bool,
    runs: &AtomicU64,
) -> Result<(), signbridge::store::StoreError> {
    let value = vec![b'x'; 300];
    trees.transaction(&|tx| {
        runs.fetch_add(1, Ordering::Relaxed);
        if tx.get("documents", b"doc")?.is_none() {
            return Err(TxError::Failed(signbridge::store::StoreError::Gone(
                "doc".into(),
            )));
        }
        for part in 0..10 {
            let key = format!("{thread:03}/{n:012}/{part}");
            tx.insert(&format!("tree{part}"), key.as_bytes(), &value)?;
        }
        if hot {
            let count = tx
                .get("counts", b"envelopes")?
                .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap_or([0; 8])));
            tx.insert("counts", b"envelopes", &(count + 1).to_be_bytes())?;
        }
        Ok(())
    })?;
    trees.flush()
}

/// Runs `threads` threads of create-shaped transactions for `seconds`; prints one line.
fn measure<T: OrderedTrees + 'static>(
    backend: &str,
    trees: &Arc<T>,
    threads: usize,
    hot: bool,
    seconds: Duration,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let committed = Arc::new(AtomicU64::new(0));
    let runs = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            let (trees, stop, committed, runs) =
                (trees.clone(), stop.clone(), committed.clone(), runs.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    create_like(trees.as_ref(), thread, n, hot, &runs).unwrap();
                    committed.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(seconds);
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let committed = committed.load(Ordering::Relaxed);
    let runs = runs.load(Ordering::Relaxed);
    println!(
        "{backend:<11} {:<12} {threads:>7} {:>12.0} {:>14.2}",
        if hot { "hot counter" } else { "no counter" },
        committed as f64 / elapsed,
        runs as f64 / committed.max(1) as f64,
    );
}

fn seed(trees: &impl OrderedTrees) {
    trees
        .transaction(&|tx| tx.insert("documents", b"doc", b"{}"))
        .unwrap();
}

fn postgres_schema(server: &str) -> Option<(postgres::Client, String)> {
    let mut admin = match postgres::Client::connect(server, postgres::NoTls) {
        Ok(client) => client,
        Err(err) => {
            println!("PostgreSQL: no server at {server} ({err}); `bash .ci/postgres` starts one");
            return None;
        }
    };
    let schema = format!("bench_{}", std::process::id());
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    Some((admin, schema))
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let seconds = Duration::from_secs_f64(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(if full { 3.0 } else { 0.2 }),
    );
    let threads: Vec<usize> = std::env::var("BENCH_THREADS")
        .unwrap_or_else(|_| if full { "1,4,16" } else { "1,4" }.into())
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    println!(
        "storage bench: nproc={} | {:.1}s per line, durable transactions (10 writes, 1 read)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        seconds.as_secs_f64()
    );
    println!(
        "{:<11} {:<12} {:>7} {:>12} {:>14}",
        "backend", "scenario", "threads", "commits/s", "runs per commit"
    );

    let dir = tempfile::tempdir().unwrap();
    let sled = Arc::new(Store::open(dir.path()).unwrap().trees());
    seed(sled.as_ref());
    for hot in [false, true] {
        for &n in &threads {
            measure("sled", &sled, n, hot, seconds);
        }
    }

    // tokio-postgres' runtime must not start inside another; this is a plain main thread.
    let server =
        std::env::var("SIGNBRIDGE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.to_string());
    if let Some((mut admin, schema)) = postgres_schema(&server) {
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-c%20search_path%3D{schema}");
        let connections = threads.iter().copied().max().unwrap_or(1);
        let postgres = Arc::new(PgTrees::connect(&url, connections).unwrap());
        seed(postgres.as_ref());
        for hot in [false, true] {
            for &n in &threads {
                measure("postgres", &postgres, n, hot, seconds);
            }
        }
        drop(postgres);
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
    }
}
