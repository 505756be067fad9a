//! The sync daemon end to end against the real binary: records in a folder source become sent
//! envelopes, are signed through the signing pages, come back as HMAC-signed webhooks and are
//! written back (signed PDFs checked by `pdfsig`); exactly once across `kill -9`s; forged and
//! replayed webhooks; a lost webhook caught by the reconciler; `validate` on broken configs;
//! and remote mode against a second signbridge acting as the cloud.

use crate::common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TEMPLATE: &str = "---\ntitle: Contract\n---\n# Employment contract\n\nBetween Acme and **{{name}}**, as {{role}}.\n\n{{signature \"employee\" \"The employee\"}}\n\n{{date_signed \"employee\" \"Date\"}}\n";

pub(crate) const MAPPING: &str = r#"source: hris
when: '{{eq status "hired"}}'
template: contract.md.hbs
sample: sample.json
subject: "Contract — {{name}}"
recipients:
  - email: "{{email}}"
    name: "{{name}}"
    fields: employee
on_completed:
  files: [signed_document, audit_trail]
  fields:
    contractStatus: signed
"#;

/// A folder source with its mapping, template and config.
pub(crate) struct Pipeline {
    dir: tempfile::TempDir,
}

impl Pipeline {
    pub(crate) fn new(extra_config: &str) -> (Pipeline, String) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("records")).unwrap();
        std::fs::create_dir_all(root.join("mappings")).unwrap();
        std::fs::write(root.join("mappings/contract.md.hbs"), TEMPLATE).unwrap();
        std::fs::write(root.join("mappings/onboarding.yaml"), MAPPING).unwrap();
        std::fs::write(
            root.join("mappings/sample.json"),
            r#"{"id": "S1", "status": "hired", "name": "Sam Ple", "email": "sam@example.com", "role": "engineer"}"#,
        )
        .unwrap();
        let config = format!(
            "sources:\n  hris:\n    connector: folder\n    path: {root}/records\n    output: {root}/out\n    schedule: \"* * * * * *\"\nsync:\n  mappings_dir: {root}/mappings\n{extra_config}rate_limit:\n  requests_per_minute: 1000000\n  burst: 1000000\n",
            root = root.display()
        );
        (Pipeline { dir }, config)
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn add_records(&self, range: std::ops::Range<usize>) {
        for n in range {
            let record = json!({
                "id": format!("E{n:04}"),
                "status": "hired",
                "updatedAt": "2026-11-01T09:00:00Z",
                "name": format!("Employee Nº{n} Ζωή"),
                "email": format!("employee{n}@example.com"),
                "role": "engineer",
            });
            let path = self.root().join(format!("records/E{n:04}.json"));
            let partial = path.with_extension("tmp");
            std::fs::write(&partial, record.to_string()).unwrap();
            std::fs::rename(partial, path).unwrap();
        }
    }

    pub(crate) fn status_files(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(self.root().join("out")) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read(e.path().join("status.json")).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect()
    }

    pub(crate) async fn wait_written_back(&self, count: usize, seconds: u64) -> Vec<Value> {
        eventually(seconds, || async move {
            let done = self.status_files();
            (done.len() >= count).then_some(done)
        })
        .await
    }
}

/// Signs every invitation in the outbox not signed yet; returns how many it signed.
pub(crate) async fn sign_invitations(
    server: &Server,
    signed: &mut std::collections::HashSet<String>,
) -> usize {
    let mut count = 0;
    for (_, message) in outbox_messages(&server.data_dir()) {
        let Some(link) = sign_link(&message) else {
            continue;
        };
        if signed.contains(&link) {
            continue;
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let Ok(response) = client
            .post(&link)
            .form(&[
                ("action", "sign"),
                ("typed_name", "Employee"),
                ("consent", "yes"),
            ])
            .send()
            .await
        else {
            continue;
        };
        if matches!(response.status().as_u16(), 303 | 409) {
            signed.insert(link);
            count += 1;
        }
    }
    count
}

/// Signs invitations as they arrive until `count` are signed.
pub(crate) async fn sign_until(
    server: &Server,
    signed: &mut std::collections::HashSet<String>,
    count: usize,
    seconds: u64,
) {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    while signed.len() < count {
        sign_invitations(server, signed).await;
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {count} signed within {seconds} s",
            signed.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub(crate) fn sync_key(server: &Server) -> String {
    std::fs::read_to_string(server.data_dir().join("sync/api-key"))
        .unwrap()
        .trim()
        .to_string()
}

pub(crate) async fn envelopes_of(server: &Server, key: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for page in 1.. {
        let response = server
            .http
            .get(server.url(&format!("/envelopes?limit=100&page={page}")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let listed = expect_status(response, 200).await;
        let items = listed["data"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        all.extend(items);
    }
    all
}

#[tokio::test]
async fn twenty_records_go_out_get_signed_and_come_back_signed() {
    let (pipeline, config) = Pipeline::new("");
    pipeline.add_records(0..20);
    // One record that does not qualify.
    std::fs::write(
        pipeline.root().join("records/candidate.json"),
        r#"{"id": "C1", "status": "candidate", "name": "Not Yet", "email": "c@example.com", "role": "x"}"#,
    )
    .unwrap();
    let server = Server::start_with_config(Some(&config)).await;
    server.outbox(20).await;
    let mut signed = std::collections::HashSet::new();
    sign_until(&server, &mut signed, 20, 60).await;
    let done = pipeline.wait_written_back(20, 90).await;
    assert_eq!(done.len(), 20);
    for status in &done {
        assert_eq!(status["state"], "completed", "{status}");
        assert_eq!(status["fields"]["contractStatus"], "signed");
        let id = status["recordId"].as_str().unwrap();
        let path = pipeline.root().join(format!("out/{id}/{id}-signed.pdf"));
        let output = Command::new("pdfsig").arg(&path).output().unwrap();
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(report.contains("Signature is Valid."), "{id}: {report}");
        assert!(pipeline
            .root()
            .join(format!("out/{id}/{id}-audit-trail.pdf"))
            .exists());
    }
    let envelopes = envelopes_of(&server, &sync_key(&server)).await;
    assert_eq!(envelopes.len(), 20, "one envelope per qualifying record");

    let status = admin_cli(server.port, &server.data_dir(), &["status"]);
    assert!(
        status.contains("written_back   20") && status.contains("parked: none"),
        "{status}"
    );
    assert!(status.contains("source hris: last run "), "{status}");

    let ready = server
        .http
        .get(format!("{}/readyz", server.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = server
        .http
        .get(format!("{}/metrics", server.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "signbridge_sync_jobs{state=\"written_back\"} 20",
        "signbridge_sync_records_read_total{source=\"hris\"}",
        "signbridge_sync_api_call_seconds_count{operation=\"send\",outcome=\"ok\"} 20",
        "signbridge_sync_webhooks_received_total{outcome=\"new\"}",
        "signbridge_sync_webhook_lag_seconds_count",
    ] {
        assert!(
            metrics.contains(expected),
            "`{expected}` missing from:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn a_record_that_cannot_become_a_contract_is_parked_listed_and_retried() {
    let (pipeline, config) = Pipeline::new("");
    // `role` is missing: the template (strict) cannot render.
    std::fs::write(
        pipeline.root().join("records/broken.json"),
        r#"{"id": "B1", "status": "hired", "name": "No Role", "email": "b@example.com"}"#,
    )
    .unwrap();
    let server = Server::start_with_config(Some(&config)).await;
    let cli = |args: &[&str]| {
        let output = Command::new(BIN)
            .args(args)
            .args([
                "--listen",
                &format!("127.0.0.1:{}", server.port),
                "--data-dir",
            ])
            .arg(server.data_dir())
            .output()
            .unwrap();
        (
            output.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    };
    let status = eventually(30, || {
        let (_, text) = cli(&["status"]);
        async move { text.contains("parked: 1").then_some(text) }
    })
    .await;
    assert!(status.contains("B1") && status.contains("role"), "{status}");
    let job = status
        .lines()
        .find(|l| l.contains("job_"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();

    let (ok, text) = cli(&["retry", &job]);
    assert!(ok && text.contains("1 job(s) resumed"), "{text}");
    let (ok, text) = cli(&["retry", "--all-parked"]);
    assert!(ok, "{text}");
    let (ok, text) = cli(&["sync", "hris"]);
    assert!(ok && text.contains("new job(s)"), "{text}");
    let (ok, text) = cli(&["sync", "nope"]);
    assert!(!ok && text.contains("no source `nope`"), "{text}");
    // Still broken, so parked again, with the same explanation.
    let status = eventually(30, || {
        let (_, text) = cli(&["status"]);
        async move { text.contains("parked: 1").then_some(text) }
    })
    .await;
    assert!(status.contains("role"), "{status}");
    assert!(pipeline.status_files().is_empty());

    // The admin API answers the local CLI only.
    let forbidden = server
        .http
        .get(format!("{}/admin/status", server.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
}

#[tokio::test]
async fn the_receiver_refuses_forgeries_and_ignores_replays() {
    let (pipeline, config) = Pipeline::new("");
    pipeline.add_records(0..1);
    let server = Server::start_with_config(Some(&config)).await;
    server.outbox(1).await;
    let secret = eventually(20, || {
        let path = server.data_dir().join("sync/webhook-secret");
        async move { std::fs::read_to_string(path).ok() }
    })
    .await;
    let hook = format!("{}/hooks/certyneo", server.base());
    let sign = |body: &str| {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    let post = |body: String, signature: Option<String>| {
        let mut request = server
            .http
            .post(&hook)
            .body(body)
            .header("Content-Type", "application/json");
        if let Some(signature) = signature {
            request = request.header("X-Certyneo-Signature", signature);
        }
        request.send()
    };
    let unknown = json!({"id": "evt_forged_1", "event": "envelope.completed", "envelope_id": "env_01UNKNOWN0000000000000000", "data": {"envelopeId": "env_01UNKNOWN0000000000000000"}}).to_string();
    assert_eq!(
        post(unknown.clone(), None).await.unwrap().status(),
        401,
        "no signature"
    );
    assert_eq!(
        post(unknown.clone(), Some("00".repeat(32)))
            .await
            .unwrap()
            .status(),
        401,
        "forged"
    );
    let altered = unknown.replace("evt_forged_1", "evt_forged_2");
    assert_eq!(
        post(altered, Some(sign(&unknown))).await.unwrap().status(),
        401,
        "body altered after signing"
    );
    assert_eq!(
        post("not json".into(), Some(sign("not json")))
            .await
            .unwrap()
            .status(),
        400
    );
    // Signed but for an envelope no job knows: acknowledged, ignored.
    assert_eq!(
        post(unknown.clone(), Some(sign(&unknown)))
            .await
            .unwrap()
            .status(),
        200
    );
    let replay: Value = post(unknown.clone(), Some(sign(&unknown)))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replay["duplicate"], true);

    // The real completion, then the same delivery again: one write-back.
    let mut signed = std::collections::HashSet::new();
    sign_invitations(&server, &mut signed).await;
    let done = pipeline.wait_written_back(1, 60).await;
    let written_at = done[0]["writtenAt"].clone();
    let envelope_id = done[0]["envelopeId"].as_str().unwrap().to_string();
    let again = json!({"id": "evt_again", "event": "envelope.completed", "envelope_id": envelope_id, "data": {"envelopeId": envelope_id}}).to_string();
    assert_eq!(
        post(again.clone(), Some(sign(&again)))
            .await
            .unwrap()
            .status(),
        200
    );
    // The daemon has applied it (nothing waits in its inbox), and the job stayed written back.
    eventually(20, || async {
        let status = daemon_status(&server);
        (status["webhooks"]["pending"] == 0).then_some(())
    })
    .await;
    let status = daemon_status(&server);
    assert_eq!(status["jobs"]["written_back"], 1, "{status}");
    assert_eq!(status["total"], 1, "{status}");
    assert_eq!(
        pipeline.status_files()[0]["writtenAt"],
        written_at,
        "no second write-back"
    );
}

/// `signbridge <args>` against the admin API of the server on `port` with `data_dir`; its
/// stdout. Blocking: from a test whose runtime serves a fake source, call it off that runtime.
pub(crate) fn admin_cli(port: u16, data_dir: &Path, args: &[&str]) -> String {
    let output = Command::new(BIN)
        .args(args)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `signbridge status --json` against the running server.
pub(crate) fn daemon_status(server: &Server) -> Value {
    let stdout = admin_cli(server.port, &server.data_dir(), &["status", "--json"]);
    serde_json::from_str(&stdout).unwrap()
}

#[tokio::test]
async fn a_lost_webhook_is_caught_by_the_reconciler() {
    // The API delivers to a receiver nobody listens on.
    let nowhere = free_port();
    let (pipeline, config) = Pipeline::new(&format!(
        "  receiver_url: http://127.0.0.1:{nowhere}/hooks/certyneo\n  reconcile_after_secs: 1\n"
    ));
    pipeline.add_records(0..3);
    let server = Server::start_with_config(Some(&config)).await;
    server.outbox(3).await;
    let mut signed = std::collections::HashSet::new();
    sign_until(&server, &mut signed, 3, 30).await;
    let done = pipeline.wait_written_back(3, 60).await;
    assert!(done.iter().all(|s| s["state"] == "completed"));
}

#[tokio::test]
async fn exactly_once_across_thirty_kill_nines() {
    const RECORDS: usize = 200;
    let (pipeline, config) = Pipeline::new("  reconcile_after_secs: 2\n  concurrency: 8\n");
    let mut server = Server::start_with_config(Some(&config)).await;
    pipeline.add_records(0..RECORDS);
    let mut signed = std::collections::HashSet::new();
    let mut rng_state: u64 = 0x5eed_cafe;
    let mut next = move || {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state
    };
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100 + next() % 400)).await;
        sign_invitations(&server, &mut signed).await;
        server.restart().await;
    }
    sign_until(&server, &mut signed, RECORDS, 240).await;
    let done = pipeline.wait_written_back(RECORDS, 240).await;
    assert_eq!(done.len(), RECORDS);
    assert!(done.iter().all(|s| s["state"] == "completed"));
    let envelopes = envelopes_of(&server, &sync_key(&server)).await;
    let mut subjects: Vec<String> = envelopes
        .iter()
        .map(|e| e["subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(subjects.len(), RECORDS, "exactly one envelope per record");
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), RECORDS, "no duplicates");
    let status = daemon_status(&server);
    assert_eq!(status["jobs"]["written_back"], RECORDS, "{status}");
    assert_eq!(status["jobs"]["parked"], 0, "{status}");
}

pub(crate) fn validate(dir: &Path, config: &str) -> (i32, String) {
    let path = dir.join("signbridge.yaml");
    std::fs::write(&path, config).unwrap();
    let output = Command::new(BIN)
        .current_dir(dir)
        .args(["validate", "--no-environment", "--config"])
        .arg(&path)
        .env_remove("SIGNBRIDGE_TEST_UNSET")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn validate_names_every_problem_with_file_line_and_column() {
    let (pipeline, config) = Pipeline::new("");
    let root = pipeline.root().to_path_buf();
    let (code, text) = validate(&root, &config);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("valid"));

    let mapping = root.join("mappings/onboarding.yaml");
    let config_path = root.join("signbridge.yaml").display().to_string();
    // (what to break in the files, the config to validate, what the first line must name)
    type Case = (Box<dyn Fn()>, String, String);
    let cases: Vec<Case> = vec![
        (
            Box::new(|| {}),
            config.replace("sources:", "sources: [\n"),
            format!("{config_path}:"),
        ),
        (
            Box::new(|| {}),
            config.replace("  mappings_dir", "  colour: blue\n  mappings_dir"),
            format!("{config_path}:"),
        ),
        (
            Box::new(|| {}),
            config.replace(
                "rate_limit:",
                "account:\n  name: ${SIGNBRIDGE_TEST_UNSET}\nrate_limit:",
            ),
            "SIGNBRIDGE_TEST_UNSET".into(),
        ),
        (
            Box::new({
                let mapping = mapping.clone();
                move || {
                    std::fs::write(
                        &mapping,
                        MAPPING.replace("contract.md.hbs", "missing.md.hbs"),
                    )
                    .unwrap()
                }
            }),
            config.clone(),
            format!("{}:", mapping.display()),
        ),
        (
            Box::new({
                let mapping = mapping.clone();
                move || {
                    std::fs::write(&mapping, MAPPING.replace("source: hris", "source: crm"))
                        .unwrap()
                }
            }),
            config.clone(),
            format!("{}:1:1: source `crm` is not configured", mapping.display()),
        ),
        (
            Box::new({
                let root = root.clone();
                let mapping = mapping.clone();
                move || {
                    std::fs::write(&mapping, MAPPING).unwrap();
                    std::fs::write(
                        root.join("mappings/contract.md.hbs"),
                        format!("{TEMPLATE}\nManager: {{{{manager.name}}}}\n"),
                    )
                    .unwrap()
                }
            }),
            config.clone(),
            format!("{}:", root.join("mappings/contract.md.hbs").display()),
        ),
        (
            Box::new({
                let root = root.clone();
                let mapping = mapping.clone();
                move || {
                    std::fs::write(root.join("mappings/contract.md.hbs"), TEMPLATE).unwrap();
                    std::fs::write(&mapping, format!("{MAPPING}colour: blue\n")).unwrap()
                }
            }),
            config.clone(),
            format!("{}:", mapping.display()),
        ),
        (
            Box::new({
                let mapping = mapping.clone();
                move || std::fs::write(&mapping, format!("stream: deals\n{MAPPING}")).unwrap()
            }),
            config.clone(),
            format!(
                "{}:1:1: source `hris` has no stream `deals` (its streams: records)",
                mapping.display()
            ),
        ),
        (
            Box::new({
                let mapping = mapping.clone();
                move || {
                    std::fs::write(
                        &mapping,
                        format!("{MAPPING}require:\n  - field: manager.email\n"),
                    )
                    .unwrap()
                }
            }),
            config.clone(),
            "the sample record does not meet it (record sample: no `manager.email`)".into(),
        ),
    ];
    for (prepare, config, expected) in cases {
        prepare();
        let (code, text) = validate(&root, &config);
        assert_eq!(code, 78, "{text}");
        assert!(
            text.contains(&expected),
            "expected `{expected}` in:\n{text}"
        );
        let first = text.lines().next().unwrap_or_default();
        let location: Vec<&str> = first.splitn(4, ':').collect();
        assert!(
            location.len() == 4
                && location[1].parse::<u32>().is_ok()
                && location[2].parse::<u32>().is_ok(),
            "file:line:col expected: {first}"
        );
    }
}

#[tokio::test]
async fn remote_mode_drives_another_signbridge_as_the_cloud() {
    let cloud = Server::start_unthrottled().await;
    let (pipeline, config) = Pipeline::new("");
    let config = format!(
        "certyneo:\n  mode: remote\n  base_url: {}\n  api_key: {}\n{config}",
        cloud.url(""),
        cloud.key
    );
    pipeline.add_records(0..3);
    let daemon = Server::start_with_config(Some(&config)).await;
    assert!(
        !daemon.data_dir().join("sync/api-key").exists(),
        "no embedded key in remote mode"
    );
    cloud.outbox(3).await;
    let mut signed = std::collections::HashSet::new();
    sign_until(&cloud, &mut signed, 3, 30).await;
    let done = pipeline.wait_written_back(3, 60).await;
    assert!(done.iter().all(|s| s["state"] == "completed"));
    let on_cloud = envelopes_of(&cloud, &cloud.key).await;
    assert_eq!(on_cloud.len(), 3, "the envelopes live in the cloud");
    assert!(envelopes_of(&daemon, &daemon.key).await.is_empty());
}

#[tokio::test]
async fn remote_mode_with_a_subscription_managed_outside() {
    let cloud = Server::start_unthrottled().await;
    let secret = "whsec_managed_in_the_dashboard_0123456789";
    let (pipeline, config) = Pipeline::new("");
    // The Certyneo spelling of the keys.
    let config = format!(
        "certyneo:\n  mode: remote\n  baseUrl: {}\n  apiKey: {}\n  webhookSecret: {secret}\n{config}",
        cloud.url(""),
        cloud.key
    );
    pipeline.add_records(0..2);
    let daemon = Server::start_with_config(Some(&config)).await;
    // The operator subscribes the receiver themselves; the API issues its own secret, so the
    // daemon (holding another one) must refuse what it signs…
    let subscribed = expect_status(
        cloud
            .post("/webhooks")
            .json(&json!({"url": format!("{}/hooks/certyneo", daemon.base()), "events": ["envelope.completed"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_ne!(subscribed["secret"], secret);
    let listed: Value = cloud
        .get("/webhooks")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        1,
        "the daemon registered nothing"
    );
    cloud.outbox(2).await;
    let mut signed = std::collections::HashSet::new();
    sign_until(&cloud, &mut signed, 2, 30).await;
    // …so nothing is written back (the reconciler waits 300 s by default): a webhook signed with
    // a secret other than the configured one ends no job. The cloud's delivery log shows the
    // completions were delivered and the daemon answered 401.
    let hook_id = subscribed["id"].as_str().unwrap();
    let refused = eventually(30, || async {
        let list = expect_status(
            cloud
                .get(&format!("/webhooks/{hook_id}/deliveries?limit=100"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let refused: Vec<Value> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["event"] == "envelope.completed")
            .filter(|d| {
                d["attempts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["statusCode"] == 401)
            })
            .cloned()
            .collect();
        (refused.len() == 2).then_some(refused)
    })
    .await;
    assert!(refused.iter().all(|d| d["status"] != "DELIVERED"));
    let status = daemon_status(&daemon);
    assert_eq!(status["webhooks"]["pending"], 0, "{status}");
    assert_eq!(status["jobs"]["sent"], 2, "both jobs still wait: {status}");
    assert!(
        pipeline.status_files().is_empty(),
        "a webhook signed with another secret was refused"
    );
}
