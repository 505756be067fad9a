//! Sign throughput: signing forms submitted over HTTP with 16 at once, each on its own
//! envelope (the first of two signers, so no sealing runs and competes for the cores), through
//! the whole transition path — token lookup, decision, compare-and-set commit, flush.
//!
//! Run: `cargo bench --bench signing` (`BENCH_ENVELOPES`, default 400; `BENCH_CONCURRENCY`,
//! default 16). Without `--bench` it makes a short smoke run.

#[path = "support/mod.rs"]
mod support;

use futures_util::StreamExt;
use serde_json::{json, Value};
use signbridge::config::Config;
use std::time::Instant;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn one_page_pdf() -> Vec<u8> {
    signbridge::pdf::render::render_template("bench", "# Contract\n\nSigned below.\n", &json!({}))
        .expect("render")
        .pdf
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let envelopes = if full {
        env_number("BENCH_ENVELOPES", 400)
    } else {
        8
    };
    let concurrency = env_number("BENCH_CONCURRENCY", 16);
    let server_rt = support::runtime("server");
    let client_rt = support::runtime("client");
    let data =
        std::env::temp_dir().join(format!("signbridge-signing-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data).expect("data folder");
    let mut config = Config::default();
    config.rate_limit.requests_per_minute = 100_000_000;
    config.rate_limit.burst = 100_000_000;
    let (address, stop, task) = support::start_signbridge(&server_rt, config, &data);
    let key = std::fs::read_to_string(data.join("bootstrap-key"))
        .expect("bootstrap key")
        .trim()
        .to_string();
    client_rt.block_on(async move {
        let api = reqwest::Client::builder().no_proxy().build().expect("client");
        let forms = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let base = format!("http://{address}/api/v1");
        let part = reqwest::multipart::Part::bytes(one_page_pdf()).file_name("c.pdf");
        let document: Value = api
            .post(format!("{base}/documents"))
            .bearer_auth(&key)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .expect("upload")
            .json()
            .await
            .expect("document");
        let mut links = Vec::with_capacity(envelopes);
        for _ in 0..envelopes {
            let created: Value = api
                .post(format!("{base}/envelopes"))
                .bearer_auth(&key)
                .json(&json!({
                    "subject": "Bench",
                    "documentIds": [document["id"]],
                    "recipients": [{"email": "a@example.com", "name": "Alice"}, {"email": "b@example.com", "name": "Bob"}],
                }))
                .send()
                .await
                .expect("create")
                .json()
                .await
                .expect("envelope");
            let id = created["id"].as_str().expect("id");
            let sent = api
                .post(format!("{base}/envelopes/{id}/send"))
                .bearer_auth(&key)
                .send()
                .await
                .expect("send");
            assert!(sent.status().is_success());
            links.push(created["recipients"][0]["signUrl"].as_str().expect("link").to_string());
        }
        let started = Instant::now();
        let mut latencies: Vec<f64> = futures_util::stream::iter(links)
            .map(|link| {
                let forms = forms.clone();
                async move {
                    let at = Instant::now();
                    let answer = forms
                        .post(&link)
                        .form(&[("action", "sign"), ("typed_name", "Alice"), ("consent", "yes")])
                        .send()
                        .await
                        .expect("sign");
                    assert_eq!(answer.status().as_u16(), 303, "signing failed");
                    at.elapsed().as_secs_f64() * 1000.0
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
        println!(
            "signing bench: {envelopes} signatures, {concurrency} at once: {:.1} signatures/s, p50 {:.1} ms, p99 {:.1} ms",
            envelopes as f64 / elapsed,
            at(0.5),
            at(0.99)
        );
    });
    let _ = stop.send(());
    support::stop_servers(&client_rt, vec![("signbridge", server_rt, task)]);
    let _ = std::fs::remove_dir_all(&data);
}
