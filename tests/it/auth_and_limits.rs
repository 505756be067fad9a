//! API keys, scopes, test/live isolation, revocation, the per-key rate limit with honest
//! `Retry-After`, the CLI that makes keys, and the bootstrap key of a first start.

use crate::common::*;
use serde_json::json;
use std::time::Duration;

async fn create_key(server: &Server, body: serde_json::Value) -> serde_json::Value {
    expect_status(server.post("/keys").json(&body).send().await.unwrap(), 201).await
}

#[tokio::test]
async fn bootstrap_key_is_private_and_works() {
    let server = Server::start().await;
    let path = server.data_dir().join("bootstrap-key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(server.key.starts_with("sk_test_") && server.key.len() >= 8 + 32);
    // A bare key works as well as `Bearer <key>`.
    let bare = server
        .http
        .get(server.url("/account/me"))
        .header("authorization", &server.key)
        .send()
        .await
        .unwrap();
    expect_status(bare, 200).await;
}

#[tokio::test]
async fn keys_are_listed_scoped_and_revoked_on_the_next_request() {
    let server = Server::start().await;
    let created = create_key(
        &server,
        json!({"name": "reader", "scopes": ["envelopes:read"]}),
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("sk_test_"));
    assert_eq!(created["last4"], &secret[secret.len() - 4..]);
    assert_eq!(created["scopes"], json!(["envelopes:read"]));
    let key_id = created["id"].as_str().unwrap().to_string();
    assert!(key_id.starts_with("key_"));

    let list = expect_status(server.get("/keys").send().await.unwrap(), 200).await;
    assert_eq!(list["pagination"]["total"], 2);
    let text = list.to_string();
    assert!(!text.contains(&secret), "the secret is never listed");
    assert!(!text.contains("secretSha256"));

    // The reader can read but not write, and cannot mint keys.
    let envelope = server.draft_envelope("Scoped").await;
    let id = envelope["id"].as_str().unwrap();
    let read = server
        .http
        .get(server.url(&format!("/envelopes/{id}")))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    expect_status(read, 200).await;
    let write = server
        .http
        .post(server.url("/envelopes"))
        .bearer_auth(&secret)
        .json(&json!({"subject": "x", "recipients": [{"email": "a@example.com"}]}))
        .send()
        .await
        .unwrap();
    let body = expect_error(write, 403, "insufficient_scope").await;
    assert!(body["error"].as_str().unwrap().contains("envelopes:write"));
    let upload = server.upload_raw(&secret, pdf(1, "x"), "x.pdf").await;
    expect_error(upload, 403, "insufficient_scope").await;
    let mint = server
        .http
        .post(server.url("/keys"))
        .bearer_auth(&secret)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(mint, 403, "insufficient_scope").await;

    // No escalation: a key cannot grant a scope it lacks, nor create in the other environment.
    let writer = create_key(
        &server,
        json!({"scopes": ["envelopes:write", "keys:write"]}),
    )
    .await;
    let writer_secret = writer["secret"].as_str().unwrap();
    let escalate = server
        .http
        .post(server.url("/keys"))
        .bearer_auth(writer_secret)
        .json(&json!({"scopes": ["webhooks:write"]}))
        .send()
        .await
        .unwrap();
    expect_error(escalate, 403, "insufficient_scope").await;
    expect_error(
        server
            .post("/keys")
            .json(&json!({"environment": "live"}))
            .send()
            .await
            .unwrap(),
        403,
        "environment_mismatch",
    )
    .await;

    // Revocation takes effect on the very next request.
    let revoked = expect_status(
        server
            .delete(&format!("/keys/{key_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(revoked["revokedAt"].is_string());
    let after = server
        .http
        .get(server.url("/account/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    expect_error(after, 401, "api_key_revoked").await;
    expect_error(
        server
            .delete("/keys/key_01JD5Q9M3V0F8W2K7T4R6Y1ZXC")
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;

    // lastUsedAt is recorded.
    let list = expect_status(server.get("/keys").send().await.unwrap(), 200).await;
    let reader = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .unwrap();
    assert!(reader["lastUsedAt"].is_string());
}

#[tokio::test]
async fn test_and_live_never_see_each_other() {
    let mut server = Server::start().await;
    let test_envelope = server.draft_envelope("Test data").await;
    let test_doc = test_envelope["documentIds"][0]
        .as_str()
        .unwrap()
        .to_string();

    // The CLI refuses while the server holds the store, and says which route to use instead.
    let data_dir = server.data_dir();
    let data_dir = data_dir.to_str().unwrap();
    let (status, stdout, stderr) =
        server.cli(&["keys", "create", "--env", "live", "--data-dir", data_dir]);
    assert!(!status.success());
    assert!(stdout.is_empty());
    assert!(stderr.contains("POST /api/v1/keys"), "{stderr}");

    server.kill9();
    let (status, stdout, stderr) = server.cli(&[
        "keys",
        "create",
        "--env",
        "live",
        "--name",
        "prod",
        "--data-dir",
        data_dir,
    ]);
    assert!(status.success(), "{stderr}");
    let live_key = stdout.trim().to_string();
    assert!(
        live_key.starts_with("sk_live_") && live_key.len() >= 40,
        "only the secret on stdout: {stdout:?}"
    );
    let (status, _, stderr) = server.cli(&[
        "keys",
        "create",
        "--env",
        "test",
        "--scopes",
        "envelopes:read,nope",
        "--data-dir",
        data_dir,
    ]);
    assert!(!status.success());
    assert!(stderr.contains("unknown scope `nope`"), "{stderr}");
    server.restart().await;

    let live = |path: &str| server.http.get(server.url(path)).bearer_auth(&live_key);
    let id = test_envelope["id"].as_str().unwrap();
    expect_error(
        live(&format!("/envelopes/{id}")).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    expect_error(
        live(&format!("/documents/{test_doc}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    let listed = expect_status(live("/envelopes").send().await.unwrap(), 200).await;
    assert_eq!(listed["pagination"]["total"], 0);
    let keys = expect_status(live("/keys").send().await.unwrap(), 200).await;
    assert_eq!(
        keys["pagination"]["total"], 1,
        "a live key lists live keys only"
    );
    // A live envelope cannot use a test document.
    let cross = server
        .http
        .post(server.url("/envelopes"))
        .bearer_auth(&live_key)
        .json(&json!({"subject": "x", "documentIds": [test_doc], "recipients": [{"email": "a@example.com"}]}))
        .send()
        .await
        .unwrap();
    expect_error(cross, 400, "validation_failed").await;
    // And the test side does not see live objects either.
    let live_doc = server
        .upload_raw(&live_key, pdf(1, "live"), "live.pdf")
        .await;
    let live_doc = expect_status(live_doc, 201).await;
    assert_eq!(live_doc["environment"], "live");
    let doc_id = live_doc["id"].as_str().unwrap();
    expect_error(
        server
            .get(&format!("/documents/{doc_id}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn rate_limit_refuses_past_the_burst_with_an_honest_retry_after() {
    let server = Server::start().await;
    let other = create_key(&server, json!({"name": "other"})).await;
    let other_secret = other["secret"].as_str().unwrap().to_string();

    let first = server.get("/account/me").send().await.unwrap();
    assert_eq!(first.headers()["x-ratelimit-limit"], "100");
    let remaining: u32 = first.headers()["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (190..=199).contains(&remaining),
        "burst allowance of 200: {remaining}"
    );
    assert!(first.headers().contains_key("x-ratelimit-reset"));

    // Spend the burst; the refusal comes after at least 200 requests (a few more may trickle
    // in as the bucket refills at 100 a minute while we send).
    let mut allowed = 2; // the key creation and the request above
    let refused = loop {
        let response = server.get("/account/me").send().await.unwrap();
        if response.status() == 429 {
            break response;
        }
        assert_eq!(response.status(), 200);
        allowed += 1;
        assert!(allowed < 260, "never refused");
    };
    assert!(allowed >= 200, "refused after only {allowed}");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    expect_error(refused, 429, "rate_limited").await;

    // Another key is not slowed by this one's burst.
    let unaffected = server
        .http
        .get(server.url("/account/me"))
        .bearer_auth(&other_secret)
        .send()
        .await
        .unwrap();
    expect_status(unaffected, 200).await;

    // Honest: after Retry-After seconds the next request succeeds.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    expect_status(server.get("/account/me").send().await.unwrap(), 200).await;
}
