//! Shipping it: the compose file validates (docker-compose), the systemd unit verifies
//! (systemd-analyze), the Dockerfile's dependency layer stubs every
//! target the manifest declares and its runtime stage runs unprivileged with a health check,
//! and that health check (`signbridge healthcheck`) tells a live server from a dead one.

use crate::common::*;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `docker compose` (the plugin) or `docker-compose` (Debian's package, which .ci/run installs).
fn compose() -> Command {
    let plugin = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if plugin {
        let mut command = Command::new("docker");
        command.arg("compose");
        command
    } else {
        Command::new("docker-compose")
    }
}

#[test]
fn the_compose_file_validates_with_and_without_the_production_profile() {
    for profile in [None, Some("production")] {
        let mut command = compose();
        command
            .current_dir(Path::new(ROOT).join("docker"))
            .args(["-f", "compose.yaml"]);
        if let Some(profile) = profile {
            command.args(["--profile", profile]);
        }
        let output = command
            .args(["config", "-q"])
            .output()
            .expect("docker-compose is needed (.ci/run installs Debian's docker-compose)");
        assert!(
            output.status.success(),
            "{profile:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Each configuration the compose file mounts loads with signbridge's own checks.
    for (file, env) in [
        ("signbridge.compose.yaml", vec![]),
        (
            "signbridge.production.yaml",
            vec![
                ("SIGNBRIDGE_PUBLIC_URL", "https://sign.example.com"),
                ("SMTP_HOST", "smtp.example.com"),
                ("SMTP_USERNAME", "hr"),
                ("SMTP_PASSWORD", "secret"),
                ("TSA_URL", "http://127.0.0.1:9/tsa"),
            ],
        ),
    ] {
        let output = Command::new(BIN)
            .args(["validate", "--no-environment", "--config"])
            .arg(Path::new(ROOT).join("docker").join(file))
            // As in the image: the working folder holds mappings/, examples/ and connectors/.
            .current_dir(ROOT)
            .envs(env)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{file}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn the_systemd_unit_verifies() {
    let version = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .expect("systemd-analyze is needed (.ci/run installs Debian's systemd)");
    assert!(version.status.success());
    let unit =
        std::fs::read_to_string(Path::new(ROOT).join("packaging/systemd/signbridge.service"))
            .unwrap();
    for hardening in [
        "DynamicUser=yes",
        "StateDirectory=signbridge",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
    // The unit as installed, with its binary where this build put it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signbridge.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/signbridge", BIN)).unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_dockerfile_stubs_every_target_and_runs_unprivileged_with_a_health_check() {
    let dockerfile = std::fs::read_to_string(Path::new(ROOT).join("docker/Dockerfile")).unwrap();
    // The dependency layer's stub loop, run here on the manifest: one stub per declared bench.
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let sed = dockerfile
        .lines()
        .find_map(|l| l.split("$(").nth(1).and_then(|r| r.split("); do").next()))
        .expect("the stub loop");
    let listed = Command::new("sh")
        .arg("-c")
        .arg(sed)
        .current_dir(ROOT)
        .output()
        .unwrap();
    let mut stubbed: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut declared: Vec<String> = manifest
        .split("[[bench]]")
        .skip(1)
        .filter_map(|b| b.lines().find_map(|l| l.strip_prefix("name = ")))
        .map(|n| n.trim_matches('"').to_string())
        .collect();
    stubbed.sort();
    declared.sort();
    assert!(!declared.is_empty());
    assert_eq!(stubbed, declared);
    // Everything it copies exists; the runtime runs as a user, with a volume and a check.
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let source = line.split_whitespace().rev().nth(1).unwrap();
        if source.ends_with(".lock") || source == "./" || source.contains("prebuilt") {
            continue;
        }
        assert!(Path::new(ROOT).join(source).exists(), "{line}");
    }
    for needed in [
        "USER signbridge",
        "VOLUME [\"/data\"]",
        "EXPOSE 8080",
        "CMD [\"signbridge\", \"healthcheck\"]",
        "STOPSIGNAL SIGTERM",
        "--locked",
    ] {
        assert!(dockerfile.contains(needed), "{needed}");
    }
}

#[tokio::test]
async fn healthcheck_tells_a_live_server_from_a_dead_one() {
    let server = Server::start().await;
    let check = |port: u16| {
        Command::new(BIN)
            .args(["healthcheck", "--listen", &format!("127.0.0.1:{port}")])
            .output()
            .unwrap()
    };
    let port = server.port;
    let live = tokio::task::spawn_blocking(move || check(port))
        .await
        .unwrap();
    assert!(live.status.success());
    assert_eq!(String::from_utf8_lossy(&live.stdout).trim(), "healthy");
    let nobody = free_port();
    let dead = tokio::task::spawn_blocking(move || check(nobody))
        .await
        .unwrap();
    assert!(!dead.status.success());
    assert!(
        String::from_utf8_lossy(&dead.stderr).contains("nothing answers"),
        "{}",
        String::from_utf8_lossy(&dead.stderr)
    );
}

/// JSON logs for log shippers: every request gets an id (the caller's `X-Request-Id`, or a new
/// one), returned in the response and on the lines the request logs; a signing link's token
/// never reaches the log.
#[tokio::test]
async fn json_logs_carry_the_request_id_and_never_a_signing_token() {
    let server = Server::start_with_config_and_env(
        None,
        &[("RUST_LOG", "info"), ("SIGNBRIDGE_LOG_FORMAT", "json")],
    )
    .await;
    let given = server
        .get("/envelopes")
        .header("X-Request-Id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-me-42");
    let made = server.get("/envelopes").send().await.unwrap();
    let made_id = made.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(
        made_id.starts_with("req_") && made_id.len() == 20,
        "{made_id}"
    );
    let token = "A".repeat(43);
    let signing = server
        .http
        .get(format!("{}/sign/{token}", server.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(signing.status(), 404);
    let signing_id = signing.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();

    let lines = eventually(10, || async {
        let log = server.log();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let done = |id: &str| {
            lines
                .iter()
                .any(|l| l["fields"]["message"] == "request done" && l["span"]["request_id"] == id)
        };
        (done("trace-me-42") && done(&made_id) && done(&signing_id)).then_some(lines)
    })
    .await;
    let signing_line = lines
        .iter()
        .find(|l| l["span"]["request_id"] == signing_id.as_str())
        .unwrap();
    assert_eq!(signing_line["span"]["path"], "/sign/…");
    assert_eq!(signing_line["fields"]["status"], 404);
    assert!(
        !server.log().contains(&token),
        "a signing token reached the log"
    );
}

/// `signbridge config show`: the effective configuration (environment filled in, defaults for
/// the rest), every secret redacted — including one read from a `_FILE`.
#[test]
fn config_show_prints_the_effective_configuration_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("smtp-password");
    std::fs::write(&secret_file, "from-a-file-s3cret\n").unwrap();
    let config = dir.path().join("signbridge.yaml");
    std::fs::write(
        &config,
        "smtp:\n  host: smtp.example.com\n  password: ${SIGNBRIDGE_SHOW_SMTP}\ncertyneo:\n  api_key: sk_live_plain_s3cret\n",
    )
    .unwrap();
    let output = Command::new(BIN)
        .args(["config", "show", "--config"])
        .arg(&config)
        .env("SIGNBRIDGE_SHOW_SMTP_FILE", &secret_file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("s3cret"), "{text}");
    let shown: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(shown["smtp"]["password"], "[redacted]");
    assert_eq!(shown["certyneo"]["api_key"], "[redacted]");
    assert_eq!(shown["smtp"]["host"], "smtp.example.com");
    assert_eq!(
        shown["rate_limit"]["requests_per_minute"], 100,
        "defaults shown"
    );
}
