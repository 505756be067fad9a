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
        ("/templates", &["get"]),
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
