//! The container image, built and run here with no registry: a Debian base made by
//! debootstrap (tagged as the Dockerfile's runtime base), the image built by buildah
//! (`--isolation chroot --storage-driver vfs`) from `docker/Dockerfile` with the prebuilt-binary
//! argument; the container answers `/healthz`, runs the demo to sent envelopes, stops
//! gracefully on SIGTERM and keeps its data across a restart.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BASE: &str = "docker.io/library/debian:bookworm-slim";
const IMAGE: &str = "localhost/signbridge:test";

fn buildah(args: &[&str]) -> Output {
    Command::new("buildah")
        .args(["--storage-driver", "vfs"])
        .args(args)
        .output()
        .expect("buildah is needed (.ci/run installs Debian's buildah and debootstrap)")
}

fn ok(what: &str, output: Output) -> String {
    assert!(
        output.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The runtime base: made once from Debian's packages, then kept in buildah's storage.
fn base_image(work: &Path) {
    if buildah(&["inspect", "--type", "image", BASE])
        .status
        .success()
    {
        return;
    }
    let rootfs = work.join("rootfs");
    if !rootfs.join("usr/bin/apt-get").exists() {
        let _ = std::fs::remove_dir_all(&rootfs);
        ok(
            "debootstrap",
            Command::new("debootstrap")
                .args(["--variant=minbase", "bookworm"])
                .arg(&rootfs)
                .arg("http://deb.debian.org/debian")
                .output()
                .expect("debootstrap is needed (.ci/run installs it)"),
        );
    }
    let container = ok("from scratch", buildah(&["from", "scratch"]));
    ok(
        "copy the root file system",
        buildah(&["copy", &container, rootfs.to_str().unwrap(), "/"]),
    );
    ok(
        "commit the base",
        buildah(&["commit", "-q", &container, BASE]),
    );
    ok("remove", buildah(&["rm", &container]));
}

/// `signbridge run` in the container, listening on the host's loopback `port`.
fn start(container: &str, port: u16, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new("buildah")
        .args(["--storage-driver", "vfs", "run", "--isolation", "chroot"])
        .args(["--env", &format!("SIGNBRIDGE_LISTEN=127.0.0.1:{port}")])
        .args([
            "--env",
            &format!("SIGNBRIDGE_PUBLIC_URL=http://127.0.0.1:{port}"),
        ])
        .args([container, "--", "signbridge", "run"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// SIGTERM to the server itself (buildah would kill it rather than pass the signal on), then
/// waits for the container's command to end.
fn stop(mut child: Child, port: u16) -> std::process::ExitStatus {
    let listening = Command::new("ss")
        .args(["-ltnpH", &format!("sport = :{port}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listening.stdout);
    let pid = text
        .split("pid=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no process listens on {port}: {text}"));
    assert!(Command::new("kill")
        .args(["-TERM", pid])
        .status()
        .unwrap()
        .success());
    child.wait().unwrap()
}

async fn get(url: &str) -> Option<(u16, String)> {
    let url = url.to_string();
    let response = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await
        .ok()?;
    Some((response.status().as_u16(), response.text().await.ok()?))
}

fn sent_jobs(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with("signbridge_sync_jobs{state=\"sent\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_builds_runs_the_demo_and_keeps_its_data_across_a_restart() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = root.join("target/image-test");
    std::fs::create_dir_all(&work).unwrap();
    let started = Instant::now();
    let built = {
        let (root, work) = (root.clone(), work.clone());
        tokio::task::spawn_blocking(move || {
            base_image(&work);
            let prebuilt = root.join("docker/prebuilt");
            std::fs::create_dir_all(&prebuilt).unwrap();
            // Written under a name of its own, made durable, then renamed into place: the
            // build reads one complete file even if another build of this checkout replaces it
            // meanwhile (a half-copied binary once failed buildah's COPY: "write too long").
            let staged = prebuilt.join(format!(".signbridge.{}.tmp", std::process::id()));
            std::fs::copy(BIN, &staged).unwrap();
            std::fs::File::open(&staged).unwrap().sync_all().unwrap();
            std::fs::rename(&staged, prebuilt.join("signbridge")).unwrap();
            ok(
                "build the image",
                Command::new("buildah")
                    .args(["--storage-driver", "vfs", "bud", "--isolation", "chroot"])
                    .args(["--format", "docker", "--build-arg", "BINARY=prebuilt"])
                    .args(["-f", "docker/Dockerfile", "-t", IMAGE, "."])
                    .current_dir(&root)
                    .output()
                    .unwrap(),
            );
            ok("inspect", buildah(&["inspect", "--type", "image", IMAGE]))
        })
        .await
        .unwrap()
    };
    eprintln!(
        "base and image built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let inspected: serde_json::Value = serde_json::from_str(&built).unwrap();
    let config = &inspected["Docker"]["config"];
    assert_eq!(config["User"], "signbridge", "{config}");
    assert!(
        config["Healthcheck"]["Test"]
            .to_string()
            .contains("healthcheck"),
        "{config}"
    );
    assert!(config["ExposedPorts"].get("8080/tcp").is_some(), "{config}");
    assert!(config["Volumes"].get("/data").is_some(), "{config}");

    let container = ok("from", buildah(&["from", IMAGE]));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let run = start(&container, port, &work.join("first-run.log"));
    // Healthy, then the demo's contracts go out.
    let sent = eventually(120, || async {
        let (status, _) = get(&format!("{base}/healthz")).await?;
        let (_, metrics) = get(&format!("{base}/metrics")).await?;
        (status == 200 && sent_jobs(&metrics) >= 1).then(|| sent_jobs(&metrics))
    })
    .await;
    let exit = tokio::task::spawn_blocking(move || stop(run, port))
        .await
        .unwrap();
    assert!(exit.success(), "SIGTERM: {exit}");
    let key = ok(
        "read the daemon's key",
        buildah(&[
            "run",
            "--isolation",
            "chroot",
            &container,
            "--",
            "cat",
            "/data/sync/api-key",
        ]),
    );
    let listed = |key: String| {
        let base = base.clone();
        async move {
            let response = reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(format!("{base}/api/v1/envelopes?limit=100"))
                .bearer_auth(key)
                .send()
                .await
                .ok()?;
            (response.status() == 200).then_some(())?;
            let body: serde_json::Value = response.json().await.ok()?;
            let mut ids: Vec<String> = body["data"]
                .as_array()?
                .iter()
                .filter_map(|e| e["id"].as_str().map(str::to_string))
                .collect();
            ids.sort();
            Some(ids)
        }
    };

    // Started again: the same store (its key, its envelopes), nothing sent twice.
    let again = start(&container, port, &work.join("second-run.log"));
    let envelopes = eventually(60, || listed(key.clone())).await;
    assert!(envelopes.len() as u64 >= sent, "{envelopes:?}");
    let metrics_url = format!("{base}/metrics");
    let (_, metrics) = eventually(30, || get(&metrics_url)).await;
    assert!(sent_jobs(&metrics) >= sent, "{metrics}");
    let after = eventually(30, || listed(key.clone())).await;
    assert_eq!(after, envelopes, "the restart sent nothing twice");
    let exit = tokio::task::spawn_blocking(move || stop(again, port))
        .await
        .unwrap();
    assert!(exit.success(), "SIGTERM: {exit}");
    ok("remove the container", buildah(&["rm", &container]));
}
