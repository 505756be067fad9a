//! The OpenAPI document: served without a key, valid OpenAPI 3 (checked by the independent
//! `openapi-spec-validator`), and covering every route of the contract built so far.

use crate::common::*;
use std::process::Command;

#[tokio::test]
async fn openapi_document_is_valid_and_complete() {
    let server = Server::start().await;
    let response = server
        .http
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    let document = expect_status(response, 200).await;
    let alias = expect_status(
        server
            .http
            .get(server.url("/openapi"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(alias, document);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));

    let paths = document["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/documents", &["get", "post"][..]),
        ("/documents/{id}", &["get", "delete"]),
        ("/documents/{id}/content", &["get"]),
        ("/envelopes", &["get", "post"]),
        ("/envelopes/{id}", &["get", "patch", "delete"]),
        ("/keys", &["get", "post"]),
        ("/keys/{id}", &["delete"]),
        ("/account/me", &["get"]),
        ("/workspaces", &["get"]),
        ("/templates", &["get", "post"]),
        ("/templates/{id}", &["get", "patch", "delete"]),
        ("/envelopes/{id}/save-as-template", &["post"]),
    ] {
        for method in methods {
            assert!(
                paths[path].get(*method).is_some(),
                "{method} {path} missing"
            );
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, document.to_string()).unwrap();
    let output = Command::new("python3")
        .args([
            "-c",
            "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')",
        ])
        .arg(&file)
        .output()
        .expect("python3 with openapi-spec-validator is needed (CI installs it)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // The CLI prints the same document.
    let (status, stdout, _) = run_cli(&["openapi"]);
    assert!(status.success());
    let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed, document);
}

/// schemathesis against the served document, every check, every phase — examples, coverage,
/// fuzzing and stateful (following the document's links from each creation to the operations
/// on what it created) — with a fixed seed and 20 examples per operation: nothing the API
/// answers may contradict the document. `tests/fixtures/schemathesis.toml` says, operation by
/// operation and with reasons, which answers a schema-valid request may still get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_the_document_does_not_say() {
    // Webhook URLs it generates may name only loopback (never resolved, never called else).
    let server = Server::start_with_config(Some(
        "rate_limit:\n  requests_per_minute: 1000000\n  burst: 1000000\nwebhooks:\n  allowed_hosts: [\"127.0.0.1\"]\n",
    ))
    .await;
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/schemathesis.toml"
    );
    let report = tempfile::tempdir().unwrap();
    // Run from a temporary folder: schemathesis keeps a cache where it runs.
    let output = Command::new("st")
        .current_dir(report.path())
        .args(["--config-file", config, "run"])
        .arg(server.url("/openapi.json"))
        .args(["-H", &format!("Authorization: Bearer {}", server.key)])
        .args(["--seed", "1", "--max-examples", "20", "--no-color"])
        .args(["--generation-database", "none", "--workers", "1"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--report", "junit", "--report-dir"])
        .arg(report.path())
        .output()
        .expect("schemathesis (`st`) is needed (CI installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // It ran: every phase and a real number of cases.
    assert!(
        text.contains("✅ Stateful") && text.contains("✅ Fuzzing"),
        "{text}"
    );
    let generated: usize = text
        .lines()
        .find(|line| line.contains(" generated, "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(generated >= 1_000, "only {generated} cases: {text}");
}
