//! The seed's quick starts, run as a user would: its curl steps with `curl` and `jq`, its
//! Python script with `requests`, with only the host (and the placeholder key) changed.

use crate::common::*;
use std::process::Command;

fn localise(script: &str, server: &Server) -> String {
    script
        .replace("https://certyneo.com", &server.base())
        .replace("sk_live_xxxxxxxxxxxxxxxxxxxxxxxx", &server.key)
}

#[tokio::test]
async fn curl_quick_start_steps_1_and_2() {
    let server = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("contrat.pdf"),
        pdf(2, "Contrat de prestation"),
    )
    .unwrap();
    let script = localise(include_str!("quickstart/seed-curl.sh"), &server);
    assert!(!script.contains("certyneo.com"));
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .output()
        .expect("bash, curl and jq are needed (CI installs them)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_default()
            .to_string()
    };
    let (doc_id, env_id) = (value("DOC_ID"), value("ENV_ID"));
    assert!(doc_id.starts_with("doc_"), "{stdout}");
    assert!(env_id.starts_with("env_"), "{stdout}");
    let envelope = expect_status(
        server
            .get(&format!("/envelopes/{env_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(envelope["status"], "DRAFT");
    assert_eq!(envelope["documentIds"][0], doc_id.as_str());
    assert_eq!(envelope["recipients"][0]["name"], "Marie Dubois");
    let document = expect_status(
        server
            .get(&format!("/documents/{doc_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(document["name"], "contrat.pdf");
    assert_eq!(document["pageCount"], 2);
}

#[tokio::test]
async fn python_quick_start_with_requests() {
    let server = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("contrat.pdf"), pdf(1, "Contrat")).unwrap();
    let script = localise(include_str!("quickstart/seed-python.py"), &server);
    std::fs::write(work.path().join("quickstart.py"), script).unwrap();
    let output = Command::new("python3")
        .arg("quickstart.py")
        .env("CERTYNEO_API_KEY", &server.key)
        .current_dir(work.path())
        .output()
        .expect("python3 with requests is needed (CI installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let env_id = stdout.trim();
    assert!(env_id.starts_with("env_") && env_id.len() == 30, "{stdout}");
    let envelope = expect_status(
        server
            .get(&format!("/envelopes/{env_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(envelope["subject"], "Contrat de prestation");
    assert_eq!(envelope["recipients"][0]["email"], "client@example.com");
    let document_id = envelope["documentIds"][0].as_str().unwrap();
    let document = expect_status(
        server
            .get(&format!("/documents/{document_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(document["name"], "contrat.pdf");
}
