//! `POST /api/v1/documents` through the public router — authentication, body buffering,
//! axum's `Multipart` (multer) as read by `read_upload`, then the upload itself (PDF check,
//! image conversion, storing) — with the fuzzer's bytes as the multipart body and a fixed
//! boundary. The app runs in-process on a temporary folder; nothing is served on a socket.
//!
//! Any answer is fine except a 5xx: a handler panic (turned into a 500 by the router's
//! catch-panic layer) or an internal error.
#![no_main]

use axum::body::Body;
use axum::http::{header, Request};
use libfuzzer_sys::fuzz_target;
use signbridge_fuzz::app::InProcess;
use signbridge_fuzz::{check, fail, init};

/// The boundary of the fuzzed bodies (the seeds use it).
const BOUNDARY: &str = "fuzzboundary";

fuzz_target!(init: { init(); InProcess::get(); }, |data: &[u8]| {
    let app = InProcess::get();
    check("POST /api/v1/documents", || {
        let request = Request::post("/api/v1/documents")
            .header(header::AUTHORIZATION, format!("Bearer {}", app.key))
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header(header::CONTENT_LENGTH, data.len())
            .body(Body::from(data.to_vec()))
            .expect("a valid request");
        let (response, body) = app.call(request);
        if response.status().is_server_error() {
            fail(&format!(
                "POST /api/v1/documents answered {}: {}",
                response.status(),
                String::from_utf8_lossy(&body)
            ));
        }
    });
});
