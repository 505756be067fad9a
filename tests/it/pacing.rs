//! The daemon paces itself, against the real binary: embedded, its own key is outside the
//! public per-key limit (which still holds for every other key), so a large import goes out
//! with no 429; remote, it paces itself under the API's limit so 429s are rare and none costs
//! a job an attempt; a SIGTERM mid-sync drains without a single failed step.

use crate::common::*;
use crate::sync::{daemon_status, envelopes_of, sync_key, Pipeline};

/// The config of `Pipeline`, with the server's default rate limit (100/min, burst 200).
fn default_limits(config: &str) -> String {
    let raised = "rate_limit:\n  requests_per_minute: 1000000\n  burst: 1000000\n";
    assert!(config.contains(raised));
    config.replace(raised, "")
}

/// The daemon's API calls by outcome (`ok`, `throttled`, `busy`, …), from `/metrics`.
async fn api_calls(server: &Server, outcome: &str) -> u64 {
    let text = server
        .http
        .get(format!("{}/metrics", server.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("signbridge_sync_api_call_seconds_count{")
                && l.contains(&format!("outcome=\"{outcome}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Waits until `count` jobs are sent; the status.
async fn all_sent(server: &Server, count: u64, seconds: u64) -> serde_json::Value {
    eventually(seconds, || async {
        let status = daemon_status(server);
        (status["jobs"]["sent"] == count).then_some(status)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_the_daemon_is_not_held_to_the_public_limit_which_still_holds_for_others() {
    let (pipeline, config) = Pipeline::new("");
    // 250 records: ~750 calls, far past the burst of 200 and 100 a minute.
    pipeline.add_records(0..250);
    let server = Server::start_with_config(Some(&default_limits(&config))).await;
    let status = all_sent(&server, 250, 180).await;
    assert_eq!(status["jobs"]["parked"], 0, "{status}");
    assert_eq!(api_calls(&server, "throttled").await, 0);
    assert_eq!(api_calls(&server, "busy").await, 0);
    assert!(api_calls(&server, "ok").await >= 750);
    assert_eq!(envelopes_of(&server, &sync_key(&server)).await.len(), 250);

    // Any other key is held to the limit, exactly as before.
    let mut refused = 0;
    for _ in 0..210 {
        let response = server.get("/envelopes?limit=1").send().await.unwrap();
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            refused += 1;
        }
    }
    assert!(refused > 0, "the public limit holds for the test key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_the_daemon_paces_itself_under_the_clouds_limit() {
    // A cloud with a tight limit: 120 a minute, a burst of 10.
    let cloud = Server::start_with_config(Some(
        "rate_limit:\n  requests_per_minute: 120\n  burst: 10\n",
    ))
    .await;
    // The daemon's own key on the cloud (the test reads with another, in its own bucket).
    let created = expect_status(
        cloud
            .post("/keys")
            .json(&serde_json::json!({"name": "sync daemon"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let (pipeline, config) = Pipeline::new("");
    let config = format!(
        "certyneo:\n  mode: remote\n  base_url: {}\n  api_key: {}\n  requests_per_minute: 120\n{config}",
        cloud.url(""),
        created["secret"].as_str().unwrap()
    );
    // 12 records: ~40 calls, four times the burst.
    pipeline.add_records(0..12);
    let daemon = Server::start_with_config(Some(&config)).await;
    let status = all_sent(&daemon, 12, 180).await;
    assert_eq!(status["jobs"]["parked"], 0, "{status}");
    assert_eq!(envelopes_of(&cloud, &cloud.key).await.len(), 12);
    let throttled = api_calls(&daemon, "throttled").await;
    assert!(throttled <= 5, "{throttled} 429s");
    assert!(
        !daemon.log().contains("job step failed"),
        "no attempt spent: {}",
        daemon.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_sync_drains_without_a_failed_step_and_the_rest_go_out_after() {
    let (pipeline, config) = Pipeline::new("");
    pipeline.add_records(0..300);
    let mut server = Server::start_with_config(Some(&config)).await;
    let key = sync_key(&server);
    // Stopped while the import is under way.
    let under_way = eventually(120, || async {
        let count = envelopes_of(&server, &key).await.len();
        (count >= 10).then_some(count)
    })
    .await;
    assert!(under_way < 300, "the import is still under way");
    let stopping = std::time::Instant::now();
    let exit = tokio::task::block_in_place(|| server.terminate());
    assert!(exit.success(), "{exit}");
    eprintln!(
        "SIGTERM to exit (requests drained, workers finished, store flushed): {} ms",
        stopping.elapsed().as_millis()
    );
    assert!(
        !server.log().contains("job step failed"),
        "a step failed during the drain: {}",
        server.log()
    );
    // The rest go out after the restart, none parked, none twice.
    server.start_again().await;
    let status = all_sent(&server, 300, 180).await;
    assert_eq!(status["jobs"]["parked"], 0, "{status}");
    assert_eq!(envelopes_of(&server, &key).await.len(), 300);
}
