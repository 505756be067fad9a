//! The real application (store, domain, limits, router with all its layers) wired in-process
//! in a temporary folder, answering requests without a socket.

use axum::body::Body;
use axum::http::{Request, Response};
use signbridge::clock::SystemClock;
use signbridge::config::Config;
use signbridge::{App, Settings};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

pub struct InProcess {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    /// The bearer secret of a test key with every scope.
    pub key: String,
}

static DATA_DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_data_dir() {
    if let Some(dir) = DATA_DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

impl InProcess {
    /// Starts the app once per process, in a fresh folder under `$TMPDIR` that is removed at
    /// exit (a crash exit skips that; `.ci/fuzz` points `TMPDIR` at a folder it removes).
    pub fn get() -> &'static InProcess {
        static APP: OnceLock<InProcess> = OnceLock::new();
        APP.get_or_init(Self::start)
    }

    fn start() -> InProcess {
        let dir = tempfile::Builder::new()
            .prefix("signbridge-fuzz-")
            .tempdir()
            .expect("temporary folder")
            .keep();
        DATA_DIR.set(dir.clone()).expect("started once");
        // SAFETY: registers a plain `extern "C"` function without captured state.
        unsafe { atexit(remove_data_dir) };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut config = Config::default();
        // The rate limit is not what is fuzzed here; the sync daemon stays off.
        config.rate_limit.requests_per_minute = u32::MAX;
        config.rate_limit.burst = u32::MAX;
        config.sync.enabled = false;
        let data_dir = dir.join("data");
        let settings = Settings {
            config,
            // `App::start` binds a listener; it is never served and is closed right away.
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.clone(),
            public_url: Some("http://signbridge.invalid".into()),
        };
        let app = runtime
            .block_on(App::start_with_clock(settings, Arc::new(SystemClock)))
            .expect("the app starts");
        let router = App::router(app.state.clone());
        drop(app);
        let key = std::fs::read_to_string(data_dir.join("bootstrap-key"))
            .expect("bootstrap key")
            .trim()
            .to_string();
        InProcess {
            runtime,
            router,
            key,
        }
    }

    /// Sends one request through the whole router and returns the answer with its body.
    pub fn call(&self, request: Request<Body>) -> (Response<()>, bytes::Bytes) {
        self.runtime.block_on(async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("the router is infallible");
            let (parts, body) = response.into_parts();
            let body = http_body_util::BodyExt::collect(body)
                .await
                .map(|collected| collected.to_bytes())
                .unwrap_or_default();
            (Response::from_parts(parts, ()), body)
        })
    }
}
