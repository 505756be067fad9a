//! The JSON body parser of the API (`parse_json`) on the envelope-create body — both request
//! shapes (three-step and one-shot) share `CreateEnvelopeRequest` — and the draft patch body,
//! including the error answer a refused body turns into.
#![no_main]

use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use signbridge::api::extract::parse_json;
use signbridge::esign::{CreateEnvelopeRequest, PatchEnvelopeRequest};
use signbridge_fuzz::{check, init};

fuzz_target!(init: init(), |data: &[u8]| {
    check("parse_json", || {
        match parse_json::<CreateEnvelopeRequest>(data) {
            Ok(request) => drop(format!("{request:?}")),
            Err(error) => drop(error.into_response()),
        }
        match parse_json::<PatchEnvelopeRequest>(data) {
            Ok(request) => drop(format!("{request:?}")),
            Err(error) => drop(error.into_response()),
        }
    });
});
