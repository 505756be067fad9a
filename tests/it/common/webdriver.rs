//! A small W3C WebDriver client spoken over reqwest: starts `chromedriver` on a loopback port,
//! opens one headless Chromium session and offers the few commands the browser tests need.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key under which WebDriver answers carry an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// An error answer from the driver (`{"value": {"error", "message"}}`).
#[derive(Debug)]
pub struct WebDriverError {
    pub status: u16,
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.error, self.status, self.message)
    }
}

/// An element found on the current page.
#[derive(Debug, Clone)]
pub struct Element {
    pub id: String,
}

impl Element {
    /// The reference as WebDriver expects it inside JSON (scripts, action origins).
    pub fn reference(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }
}

/// A headless Chromium driven through its own `chromedriver` process. Dropping it ends the
/// session and stops the driver, also when a test panics.
pub struct Browser {
    driver: Option<Child>,
    port: u16,
    http: reqwest::Client,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts `chromedriver`, waits until it is ready and opens a session.
    pub async fn start() -> Browser {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: install it with `apt-get install chromium chromium-driver`"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut browser = Browser {
            driver: Some(driver),
            port,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            session: None,
            _profile: tempfile::tempdir().unwrap(),
        };
        browser.wait_until_ready().await;
        browser.open_session().await;
        browser
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = self
                .http
                .get(format!("{}/status", self.base()))
                .send()
                .await
            {
                if let Ok(body) = response.json::<Value>().await {
                    if body["value"]["ready"] == true {
                        return;
                    }
                }
            }
            if let Some(status) = self.driver.as_mut().unwrap().try_wait().unwrap() {
                panic!("chromedriver exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn open_session(&mut self) {
        let profile = self._profile.path().display().to_string();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=1200,1600",
                    format!("--user-data-dir={profile}"),
                ],
            },
        }}});
        let response = self
            .http
            .post(format!("{}/session", self.base()))
            .json(&capabilities)
            .send()
            .await
            .expect("POST /session");
        let status = response.status();
        let body: Value = response.json().await.expect("session answer is JSON");
        let id = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session ({status}): {body}"));
        self.session = Some(id.to_string());
    }

    fn session_url(&self, path: &str) -> String {
        format!(
            "{}/session/{}{path}",
            self.base(),
            self.session.as_deref().expect("session is open")
        )
    }

    /// Sends one command; `body` `None` means GET, otherwise POST with that JSON.
    pub async fn try_command(
        &self,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let url = self.session_url(path);
        let request = match body {
            Some(body) => self.http.post(url).json(&body),
            None => self.http.get(url),
        };
        let response = request.send().await.map_err(|e| WebDriverError {
            status: 0,
            error: "transport".into(),
            message: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok(parsed["value"].clone())
        } else {
            Err(WebDriverError {
                status,
                error: parsed["value"]["error"]
                    .as_str()
                    .unwrap_or("unknown")
                    .to_string(),
                message: parsed["value"]["message"]
                    .as_str()
                    .unwrap_or(&text)
                    .chars()
                    .take(2000)
                    .collect(),
            })
        }
    }

    /// Sends one command and panics on an error answer.
    pub async fn command(&self, path: &str, body: Option<Value>) -> Value {
        match self.try_command(path, body).await {
            Ok(value) => value,
            Err(err) => panic!("WebDriver {path} failed: {err}"),
        }
    }

    /// Navigates and waits for the page load.
    pub async fn goto(&self, url: &str) {
        self.command("/url", Some(json!({ "url": url }))).await;
    }

    pub async fn current_url(&self) -> String {
        self.command("/url", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn title(&self) -> String {
        self.command("/title", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The current page's HTML as the browser holds it.
    pub async fn source(&self) -> String {
        self.command("/source", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn try_find(&self, css: &str) -> Result<Element, WebDriverError> {
        let value = self
            .try_command(
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        Ok(Element {
            id: value[ELEMENT_KEY]
                .as_str()
                .unwrap_or_else(|| panic!("element reference missing: {value}"))
                .to_string(),
        })
    }

    /// Finds the first element matching a CSS selector (panics when there is none).
    pub async fn find(&self, css: &str) -> Element {
        match self.try_find(css).await {
            Ok(element) => element,
            Err(err) => panic!(
                "no element {css}: {err}\npage source:\n{}",
                self.source().await
            ),
        }
    }

    pub async fn click(&self, element: &Element) {
        self.command(&format!("/element/{}/click", element.id), Some(json!({})))
            .await;
    }

    /// Types text into an input or textarea.
    pub async fn type_text(&self, element: &Element, text: &str) {
        self.command(
            &format!("/element/{}/value", element.id),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// The rendered (visible) text of an element.
    pub async fn text(&self, element: &Element) -> String {
        self.command(&format!("/element/{}/text", element.id), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn is_displayed(&self, element: &Element) -> bool {
        self.command(&format!("/element/{}/displayed", element.id), None)
            .await
            .as_bool()
            .unwrap_or(false)
    }

    pub async fn is_selected(&self, element: &Element) -> bool {
        self.command(&format!("/element/{}/selected", element.id), None)
            .await
            .as_bool()
            .unwrap_or(false)
    }

    /// Runs a synchronous script in the page (`arguments` as given).
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.command(
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// A Chrome DevTools Protocol command (through chromedriver), e.g. touch input.
    pub async fn cdp(&self, command: &str, params: Value) -> Value {
        self.command(
            "/goog/cdp/execute",
            Some(json!({ "cmd": command, "params": params })),
        )
        .await
    }

    /// Runs an asynchronous script: it ends by calling its last argument with the result.
    pub async fn execute_async(&self, script: &str) -> Value {
        self.command(
            "/execute/async",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Performs one sequence of pointer (mouse) actions, then releases all input state.
    pub async fn pointer_actions(&self, actions: Vec<Value>) {
        self.command(
            "/actions",
            Some(json!({"actions": [{
                "type": "pointer",
                "id": "mouse",
                "parameters": {"pointerType": "mouse"},
                "actions": actions,
            }]})),
        )
        .await;
        let url = self.session_url("/actions");
        self.http.delete(url).send().await.expect("release actions");
    }

    /// Polls until the text of the element matching `css` contains `needle`, for at most
    /// `seconds`; returns that text. Tolerates the page being replaced meanwhile.
    pub async fn wait_for_text(&self, css: &str, needle: &str, seconds: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut last = String::new();
        loop {
            if let Ok(element) = self.try_find(css).await {
                let text = self
                    .try_command(&format!("/element/{}/text", element.id), None)
                    .await;
                if let Ok(Value::String(text)) = text {
                    if text.contains(needle) {
                        return text;
                    }
                    last = text;
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "{css} did not show {needle:?} within {seconds} s (last text {last:?}) at {}\npage source:\n{}",
                    self.current_url().await,
                    self.source().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until the element matching `css` is displayed, for at most `seconds`.
    pub async fn wait_displayed(&self, css: &str, seconds: u64) -> Element {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Ok(element) = self.try_find(css).await {
                let shown = self
                    .try_command(&format!("/element/{}/displayed", element.id), None)
                    .await;
                if let Ok(Value::Bool(true)) = shown {
                    return element;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{css} was not displayed within {seconds} s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the viewport.
    /// Sizes the window (`width`×`height` CSS pixels of the viewport, as a phone or a laptop).
    pub async fn set_viewport(&self, width: u32, height: u32) {
        self.command(
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
        // The window's frame takes some of it: grow the window until the viewport is exact.
        let inner = self
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await;
        let (inner_width, inner_height) = (
            inner[0].as_u64().unwrap_or(0) as u32,
            inner[1].as_u64().unwrap_or(0) as u32,
        );
        if (inner_width, inner_height) != (width, height) {
            self.command(
                "/window/rect",
                Some(json!({
                    "width": width * 2 - inner_width.min(width * 2),
                    "height": height * 2 - inner_height.min(height * 2),
                })),
            )
            .await;
        }
    }

    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let encoded = self.command("/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 screenshot"))
            .expect("screenshot is base64")
    }

    /// Saves a viewport screenshot, creating the folder.
    pub async fn save_screenshot(&self, path: &Path) {
        let png = self.screenshot().await;
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Ends the session cleanly (the browser closes) and stops the driver.
    pub async fn quit(mut self) {
        if let Some(session) = self.session.take() {
            let url = format!("{}/session/{session}", self.base());
            let _ = self.http.delete(url).send().await;
        }
        self.stop_driver();
    }

    fn stop_driver(&mut self) {
        if let Some(mut driver) = self.driver.take() {
            let _ = driver.kill();
            let _ = driver.wait();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Drop cannot await: end the session with a plain blocking HTTP request so that
        // chromedriver closes Chromium, then stop chromedriver itself.
        if let Some(session) = self.session.take() {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
                let request = format!(
                    "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
                     Content-Length: 0\r\nConnection: close\r\n\r\n",
                    self.port
                );
                if stream.write_all(request.as_bytes()).is_ok() {
                    // The answer comes once the browser is closed; its first bytes suffice
                    // (chromedriver may keep the connection open after it).
                    let mut answer = [0u8; 512];
                    let _ = stream.read(&mut answer);
                }
            }
        }
        self.stop_driver();
    }
}
