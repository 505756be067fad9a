//! The app in-process (the real router on a real socket) with a `ManualClock`, for tests that
//! move time instead of sleeping.

use super::{eventually, expect_status, outbox_messages, pdf};
use chrono::Utc;
use serde_json::{json, Value};
use signbridge::clock::ManualClock;
use signbridge::config::Config;
use signbridge::{App, Settings};
use std::sync::Arc;

pub struct InProcess {
    pub base: String,
    pub key: String,
    pub clock: ManualClock,
    pub esign: Arc<signbridge::esign::Esign>,
    pub data_dir: std::path::PathBuf,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl InProcess {
    pub async fn start(mut config: Config) -> InProcess {
        // These tests are about the API; the sync daemon (which would find the repository's
        // `mappings/` in the working folder) stays off.
        config.sync.enabled = false;
        // These tests poll (every 50 ms, for as long as background work takes on a busy
        // machine); the per-key rate limit is not what they are about.
        config.rate_limit.requests_per_minute = 1_000_000;
        config.rate_limit.burst = 1_000_000;
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let clock = ManualClock::new(Utc::now());
        let settings = Settings {
            config,
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.clone(),
            public_url: None,
        };
        let app = App::start_with_clock(settings, Arc::new(clock.clone()))
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr);
        let esign = app.state.esign.clone();
        tokio::spawn(app.serve(std::future::pending()));
        let key = std::fs::read_to_string(data_dir.join("bootstrap-key"))
            .unwrap()
            .trim()
            .to_string();
        InProcess {
            base,
            key,
            clock,
            esign,
            data_dir,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    pub async fn create_and_send(&self, extra: Value) -> Value {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(pdf(1, "Contract")).file_name("c.pdf"),
        );
        let document = self
            .http
            .post(self.url("/documents"))
            .bearer_auth(&self.key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let document = expect_status(document, 201).await;
        let mut body = json!({
            "subject": "Timed contract",
            "documentIds": [document["id"]],
            "recipients": [{"email": "a@example.com", "name": "Alice"}, {"email": "b@example.com", "name": "Bob"}],
        });
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        let created = self
            .http
            .post(self.url("/envelopes"))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let created = expect_status(created, 201).await;
        let id = created["id"].as_str().unwrap();
        let sent = self
            .http
            .post(self.url(&format!("/envelopes/{id}/send")))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        expect_status(sent, 200).await
    }

    pub async fn envelope(&self, id: &str) -> Value {
        expect_status(
            self.http
                .get(self.url(&format!("/envelopes/{id}")))
                .bearer_auth(&self.key)
                .send()
                .await
                .unwrap(),
            200,
        )
        .await
    }

    pub fn tick(&self) -> signbridge::esign::TickReport {
        self.esign.expire_and_remind().unwrap()
    }

    pub async fn outbox(&self, count: usize) -> Vec<(String, String)> {
        eventually(20, || async {
            let messages = outbox_messages(&self.data_dir);
            (messages.len() >= count).then_some(messages)
        })
        .await
    }
}
