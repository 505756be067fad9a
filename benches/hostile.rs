//! Serving while under attack: latency of ordinary requests (`GET /healthz`, one fresh
//! connection each, as a signer's browser would) alone, and while 500 slowloris connections
//! trickle header bytes; and how long the server keeps those connections (the header
//! timeout). Run: `cargo bench --bench hostile` (`BENCH_SLOW` sets the slow connections).

mod support;

use signbridge::config::Config;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

async fn ordinary_latencies(address: std::net::SocketAddr, count: usize) -> Vec<f64> {
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read");
        assert!(answer.starts_with(b"HTTP/1.1 200"));
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    times
}

fn main() {
    let slow: usize = std::env::var("BENCH_SLOW")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let server_rt = support::runtime("server");
    let client_rt = support::runtime("client");
    let dir = tempfile_dir();
    let mut config = Config::default();
    config.server.header_read_timeout_secs = 5;
    let (address, stop, task) = support::start_signbridge(&server_rt, config, &dir);
    client_rt.block_on(async move {
        let alone = ordinary_latencies(address, 200).await;
        let attackers: Vec<_> = (0..slow)
            .map(|_| {
                tokio::spawn(async move {
                    let started = Instant::now();
                    let Ok(mut stream) = TcpStream::connect(address).await else {
                        return None;
                    };
                    let _ = stream
                        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                        .await;
                    let (mut reader, mut writer) = stream.into_split();
                    let trickle = async move {
                        for _ in 0..120 {
                            if writer.write_all(b"a").await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    };
                    let mut buffer = [0u8; 64];
                    tokio::select! {
                        _ = reader.read(&mut buffer) => Some(started.elapsed()),
                        () = trickle => None,
                    }
                })
            })
            .collect();
        // Let every slow connection be open before measuring.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let attacked = ordinary_latencies(address, 200).await;
        let mut held = Vec::new();
        for attacker in attackers {
            if let Ok(Some(open_for)) = attacker.await {
                held.push(open_for.as_secs_f64());
            }
        }
        held.sort_by(f64::total_cmp);
        println!("hostile bench: {slow} slowloris connections, header timeout 5 s\n");
        println!(
            "{:<40} {:>8} {:>8} {:>8}",
            "GET /healthz, new connection", "p50_ms", "p99_ms", "max_ms"
        );
        for (name, times) in [("alone", &alone), ("during slowloris", &attacked)] {
            println!(
                "{:<40} {:>8.2} {:>8.2} {:>8.2}",
                name,
                percentile(times, 0.5),
                percentile(times, 0.99),
                times[times.len() - 1]
            );
        }
        println!(
            "\nslow connections closed by the server: {} of {slow}, held {:.1}–{:.1} s",
            held.len(),
            held.first().copied().unwrap_or(0.0),
            held.last().copied().unwrap_or(0.0)
        );
    });
    let _ = stop.send(());
    support::stop_servers(&client_rt, vec![("signbridge", server_rt, task)]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("signbridge-hostile-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
