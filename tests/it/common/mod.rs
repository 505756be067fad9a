//! Shared test harness: runs the real `signbridge` binary on a loopback port with its own data
//! folder, and makes the PDFs and requests the tests need.
#![allow(
    dead_code,
    reason = "shared by the integration tests and the benches, which each use a part"
)]

pub mod inprocess;
pub mod postgres;
pub mod smtp;
pub mod webdriver;

use reqwest::{Client, Response};
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_signbridge");

/// A running server process.
pub struct Server {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub config: Option<PathBuf>,
    /// Environment variables the server process gets (besides the test's own).
    pub env: Vec<(String, String)>,
    /// The bootstrap test key (all scopes).
    pub key: String,
    pub http: Client,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with_config(None).await
    }

    /// Starts with a `signbridge.yaml` holding `yaml`.
    pub async fn start_with_config(yaml: Option<&str>) -> Server {
        Self::start_with_config_and_env(yaml, &[]).await
    }

    /// Starts with a `signbridge.yaml` holding `yaml` and these variables in the server's
    /// environment (never in the test process's: that would race with other tests).
    pub async fn start_with_config_and_env(yaml: Option<&str>, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = yaml.map(|text| {
            let path = dir.path().join("signbridge.yaml");
            std::fs::write(&path, text).unwrap();
            path
        });
        let mut server = Server {
            child: None,
            port: free_port(),
            dir,
            config,
            env: env
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            key: String::new(),
            http: Client::builder().no_proxy().build().unwrap(),
        };
        server.spawn().await;
        server.key = std::fs::read_to_string(server.data_dir().join("bootstrap-key"))
            .unwrap()
            .trim()
            .to_string();
        server
    }

    /// A server whose rate limit is out of the way (for tests that fire many requests).
    pub async fn start_unthrottled() -> Server {
        Self::start_with_config(Some(
            "rate_limit:\n  requests_per_minute: 1000000\n  burst: 1000000\n",
        ))
        .await
    }

    /// Replaces the server's `signbridge.yaml` (it takes effect at the next start).
    pub fn rewrite_config(&self, yaml: &str) {
        let path = self
            .config
            .as_ref()
            .expect("the server was started with a config");
        std::fs::write(path, yaml).unwrap();
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base())
    }

    async fn spawn(&mut self) {
        let mut command = Command::new(BIN);
        // The server's working folder is its temporary folder: no `mappings/` or `examples/`
        // there unless a test puts them in (the repository's demo pipeline stays out).
        command
            .current_dir(self.dir.path())
            .arg("run")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(self.data_dir())
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::null())
            .stderr(self.log_file());
        if let Some(config) = &self.config {
            command.arg("--config").arg(config);
        }
        self.child = Some(command.spawn().expect("start signbridge"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = self
                .http
                .get(format!("{}/healthz", self.base()))
                .send()
                .await
            {
                if response.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("signbridge exited early: {status}");
            }
            assert!(Instant::now() < deadline, "server did not come up");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The server's log (warnings and errors, every start appended).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn log_file(&self) -> Stdio {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null())
    }

    /// SIGTERM, as a service manager stops it; returns once it exited (with its status).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        child.wait().unwrap()
    }

    /// Starts again (after `terminate` or `kill9`) on the same data folder and port.
    pub async fn start_again(&mut self) {
        self.spawn().await;
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts again on the same data folder and port.
    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(&self.key)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(&self.key)
    }

    pub fn patch(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.patch(self.url(path)).bearer_auth(&self.key)
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.url(path)).bearer_auth(&self.key)
    }

    /// Uploads bytes as `file` and returns the document JSON (asserting 201).
    pub async fn upload(&self, bytes: Vec<u8>, file_name: &str) -> Value {
        let response = self.upload_raw(&self.key, bytes, file_name).await;
        expect_status(response, 201).await
    }

    pub async fn upload_raw(&self, key: &str, bytes: Vec<u8>, file_name: &str) -> Response {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string());
        let form = reqwest::multipart::Form::new().part("file", part);
        self.http
            .post(self.url("/documents"))
            .bearer_auth(key)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Creates a three-step envelope on a fresh one-page document with one signer.
    pub async fn draft_envelope(&self, subject: &str) -> Value {
        let document = self.upload(pdf(1, "Contract"), "contract.pdf").await;
        let body = serde_json::json!({
            "subject": subject,
            "documentIds": [document["id"]],
            "recipients": [{"email": "signer@example.com", "name": "Sam Signer"}],
        });
        expect_status(
            self.post("/envelopes").json(&body).send().await.unwrap(),
            201,
        )
        .await
    }

    /// Runs `signbridge` with arguments and returns (status, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (std::process::ExitStatus, String, String) {
        run_cli(args)
    }
}

pub fn run_cli(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let output = Command::new(BIN).args(args).output().unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Asserts the status and returns the JSON body (printing it on mismatch).
pub async fn expect_status(response: Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Asserts an error answer: the status, JSON `{error, code}` and the code.
pub async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "not JSON ({content_type}): {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(body["code"], code, "unexpected code; body: {text}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "error message missing: {text}"
    );
    body
}

/// A valid PDF of `pages` A4 pages, each showing `text` and its page number.
pub fn pdf(pages: usize, text: &str) -> Vec<u8> {
    let mut objects: Vec<Vec<u8>> = Vec::new();
    // 1 catalog, 2 pages, 3 font, then page/content pairs.
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    objects.push(
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            kids.join(" ")
        )
        .into_bytes(),
    );
    objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec());
    for i in 0..pages {
        let content = format!("BT /F1 14 Tf 72 760 Td ({text} - page {}) Tj ET", i + 1);
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
                5 + 2 * i
            )
            .into_bytes(),
        );
        let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        stream.extend_from_slice(content.as_bytes());
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
    }
    pdf_of(&objects, None)
}

/// A PDF of the objects given whole (numbered from 1, the catalog first) with a classic
/// cross-reference table; `xref_override` sets the offset listed for one object.
pub fn pdf_of(objects: &[Vec<u8>], xref_override: Option<(usize, usize)>) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(object);
        out.extend_from_slice(b"\nendobj\n");
    }
    if let Some((object, offset)) = xref_override {
        offsets[object - 1] = offset;
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A small RGBA PNG.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        let data: Vec<u8> = (0..width * height)
            .flat_map(|i| [(i % 255) as u8, 80, 160, 200])
            .collect();
        writer.write_image_data(&data).unwrap();
    }
    out
}

/// `pdf()` encrypted by qpdf (a real, independent producer of encrypted PDFs).
pub fn encrypted_pdf(dir: &Path) -> Vec<u8> {
    let plain = dir.join("plain.pdf");
    let locked = dir.join("locked.pdf");
    std::fs::write(&plain, pdf(1, "secret")).unwrap();
    let status = Command::new("qpdf")
        .args(["--encrypt", "user", "owner", "256", "--"])
        .arg(&plain)
        .arg(&locked)
        .status()
        .expect("qpdf must be installed (CI installs it)");
    assert!(status.success());
    std::fs::read(locked).unwrap()
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `seconds` (background work
/// such as the mail worker finishes on its own schedule).
pub async fn eventually<T, F, Fut>(seconds: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "condition not reached within {seconds} s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Decodes a quoted-printable body (soft line breaks and `=XX`).
pub fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `.eml` files in a data folder's outbox, oldest first, decoded for reading.
pub fn outbox_messages(data_dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("outbox")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                decode_quoted_printable(&std::fs::read_to_string(&path).unwrap()),
            )
        })
        .collect()
}

/// The first signing link in a message.
pub fn sign_link(message: &str) -> Option<String> {
    let start = message.find("http://127.0.0.1:")?;
    let rest = &message[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .unwrap_or(rest.len());
    let link = &rest[..end];
    link.contains("/sign/").then(|| link.to_string())
}

impl Server {
    /// Waits until the outbox holds `count` messages and returns them.
    pub async fn outbox(&self, count: usize) -> Vec<(String, String)> {
        let dir = self.data_dir();
        eventually(20, || {
            let dir = dir.clone();
            async move {
                let messages = outbox_messages(&dir);
                (messages.len() >= count).then_some(messages)
            }
        })
        .await
    }

    /// Sends a draft (asserting 200) and returns the envelope.
    pub async fn send(&self, id: &str) -> Value {
        expect_status(
            self.post(&format!("/envelopes/{id}/send"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await
    }

    /// Fetches an envelope.
    pub async fn envelope(&self, id: &str) -> Value {
        expect_status(
            self.get(&format!("/envelopes/{id}")).send().await.unwrap(),
            200,
        )
        .await
    }

    /// The bytes of a stored document, read with API key `key` (asserting 200).
    pub async fn document_bytes(&self, key: &str, id: &str) -> Vec<u8> {
        let response = self
            .http
            .get(self.url(&format!("/documents/{id}/content")))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "document {id}");
        response.bytes().await.unwrap().to_vec()
    }

    /// Waits until the envelope is COMPLETED (sealing runs after the last signature).
    pub async fn wait_completed(&self, id: &str) -> Value {
        eventually(60, || async move {
            let envelope = self.envelope(id).await;
            (envelope["status"] == "COMPLETED").then_some(envelope)
        })
        .await
    }

    /// Signs through a link with a typed name and consent; returns (status, page).
    pub async fn sign(&self, link: &str, name: &str) -> (u16, String) {
        self.submit(
            link,
            &[("action", "sign"), ("typed_name", name), ("consent", "yes")],
        )
        .await
    }

    /// Submits the signing form of a link; returns (status, page text after redirects).
    pub async fn submit(&self, link: &str, form: &[(&str, &str)]) -> (u16, String) {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = client.post(link).form(form).send().await.unwrap();
        let status = response.status().as_u16();
        if status == 303 {
            let page = client.get(link).send().await.unwrap().text().await.unwrap();
            return (status, page);
        }
        (status, response.text().await.unwrap())
    }
}
