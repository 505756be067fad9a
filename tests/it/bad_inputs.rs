//! Bad inputs: every malformed, hostile or out-of-contract request gets the exact status and a
//! JSON `{error, code}` answer, and none of them creates anything.

use crate::common::*;

use reqwest::header::CONTENT_TYPE;
use reqwest::multipart::{Form, Part};
use reqwest::Response;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A well-formed id whose object does not exist.
const UNKNOWN_ULID: &str = "01HG3K8X9Y2N4P5Q6R7S8T9V0W";

/// Free-text values that must be stored as given: SQL, HTML, emoji, right-to-left, Greek.
const HOSTILE: [&str; 5] = [
    "'; DROP TABLE envelopes; --",
    "<script>alert(1)</script>",
    "🖋️📄",
    "שלום עולם مرحبا",
    "Σύμβαση εργασίας",
];

/// Asserts an error answer, naming the case first so a failure says which input it was.
async fn refused(label: &str, response: Response, status: u16, code: &str) -> Value {
    eprintln!("case: {label}");
    expect_error(response, status, code).await
}

/// Asserts a 400 `validation_failed` whose `details` name `field`.
async fn invalid(label: &str, response: Response, field: &str) -> Value {
    let body = refused(label, response, 400, "validation_failed").await;
    let fields: Vec<&str> = body["details"]
        .as_array()
        .unwrap_or_else(|| panic!("{label}: no details in {body}"))
        .iter()
        .filter_map(|issue| issue["field"].as_str())
        .collect();
    assert!(
        fields.contains(&field),
        "{label}: expected an issue on `{field}`, got {body}"
    );
    body
}

/// `pagination.total` of a list endpoint.
async fn total(server: &Server, path: &str) -> u64 {
    let list = expect_status(server.get(path).send().await.unwrap(), 200).await;
    list["pagination"]["total"]
        .as_u64()
        .unwrap_or_else(|| panic!("no total in {list}"))
}

/// Percent-encodes everything but unreserved characters (for path segments and query values).
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POSTs a JSON value to `/envelopes`.
async fn create(server: &Server, body: &Value) -> Response {
    server.post("/envelopes").json(body).send().await.unwrap()
}

/// POSTs raw bytes to `/envelopes` with `Content-Type: application/json`.
async fn create_raw(server: &Server, body: &'static str) -> Response {
    server
        .post("/envelopes")
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A valid three-step create body on `document`; each case spoils one part of it.
fn valid_body(document: &str) -> Value {
    json!({
        "subject": "Bad input probe",
        "documentIds": [document],
        "recipients": [{"email": "signer@example.com", "name": "Sam Signer"}],
    })
}

/// `valid_body` with one change.
fn with(document: &str, change: impl FnOnce(&mut Value)) -> Value {
    let mut body = valid_body(document);
    change(&mut body);
    body
}

/// A valid one-shot body whose single inline document is `base64`.
fn one_shot(base64: &str) -> Value {
    json!({
        "subject": "One-shot probe",
        "documents": [{"name": "inline.pdf", "base64Pdf": base64}],
        "signers": [{"email": "signer@example.com", "name": "Sam Signer"}],
    })
}

/// Uploads `pdf(1, …)` with an explicit multipart `name` part.
async fn upload_named(server: &Server, name: &str) -> Response {
    let form = Form::new()
        .part("file", Part::bytes(pdf(1, "Named")).file_name("named.pdf"))
        .text("name", name.to_string());
    server
        .post("/documents")
        .multipart(form)
        .send()
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_credentials_are_refused_with_401() {
    let server = Server::start().await;
    let url = server.url("/envelopes");

    let response = server.http.get(&url).send().await.unwrap();
    refused("no Authorization", response, 401, "missing_api_key").await;

    let cases: [(&str, String); 6] = [
        ("short key", "Bearer sk_test_short".into()),
        ("Basic scheme", "Basic abc".into()),
        (
            "unknown well-formed key",
            format!("Bearer sk_test_{}", "a".repeat(40)),
        ),
        (
            "ck_live_ prefix",
            format!("Bearer ck_live_{}", "a".repeat(40)),
        ),
        (
            "non-alphanumeric key",
            format!("Bearer sk_test_{}!", "a".repeat(40)),
        ),
        ("scheme without key", "Bearer".into()),
    ];
    for (label, authorization) in cases {
        let response = server
            .http
            .get(&url)
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        refused(label, response, 401, "invalid_api_key").await;
    }

    // A write without a key is refused before anything happens.
    let response = server
        .http
        .post(&url)
        .json(&json!({"subject": "x"}))
        .send()
        .await
        .unwrap();
    refused("POST without key", response, 401, "missing_api_key").await;

    assert_eq!(total(&server, "/envelopes").await, 0);
}

// ---------------------------------------------------------------------------------------------
// Document uploads
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_uploads_are_refused_and_store_nothing() {
    let server = Server::start().await;
    let key = server.key.clone();

    let form = Form::new().text("name", "only a name");
    let response = server
        .post("/documents")
        .multipart(form)
        .send()
        .await
        .unwrap();
    refused("no file part", response, 400, "missing_file").await;

    let response = server.upload_raw(&key, Vec::new(), "empty.pdf").await;
    refused("empty file", response, 400, "empty_file").await;

    let response = server
        .upload_raw(&key, b"just some text, not a PDF".to_vec(), "notes.pdf")
        .await;
    refused("text named .pdf", response, 415, "unsupported_media_type").await;

    let whole = pdf(3, "x");
    let half = whole[..whole.len() / 2].to_vec();
    let response = server.upload_raw(&key, half, "truncated.pdf").await;
    refused("truncated PDF", response, 422, "invalid_pdf").await;

    let dir = tempfile::tempdir().unwrap();
    let response = server
        .upload_raw(&key, encrypted_pdf(dir.path()), "locked.pdf")
        .await;
    refused("encrypted PDF", response, 422, "invalid_pdf").await;

    let mut broken_png = b"\x89PNG\r\n\x1a\n".to_vec();
    broken_png.extend_from_slice(&[0x5A; 200]);
    let response = server.upload_raw(&key, broken_png, "broken.png").await;
    refused("PNG header then garbage", response, 422, "invalid_image").await;

    let response = server
        .post("/documents")
        .json(&json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    refused(
        "JSON instead of multipart",
        response,
        415,
        "unsupported_media_type",
    )
    .await;

    let two = Form::new()
        .part("file", Part::bytes(pdf(1, "a")).file_name("a.pdf"))
        .part("file", Part::bytes(pdf(1, "b")).file_name("b.pdf"));
    let response = server
        .post("/documents")
        .multipart(two)
        .send()
        .await
        .unwrap();
    refused("two file parts", response, 400, "too_many_files").await;

    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(big.len() + 60 * 1024 * 1024, 0);
    let response = server.upload_raw(&key, big, "big.pdf").await;
    refused("60 MB upload", response, 413, "payload_too_large").await;

    assert_eq!(total(&server, "/documents").await, 0);
}

// ---------------------------------------------------------------------------------------------
// Envelope creation: the body itself
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn malformed_envelope_bodies_are_refused() {
    let server = Server::start().await;

    refused(
        "truncated JSON",
        create_raw(&server, r#"{"subject":"#).await,
        400,
        "invalid_json",
    )
    .await;
    refused(
        "empty body",
        create_raw(&server, "").await,
        400,
        "empty_body",
    )
    .await;
    refused(
        "whitespace body",
        create_raw(&server, " \n ").await,
        400,
        "empty_body",
    )
    .await;
    let array = r#"[{"subject":"x","recipients":[{"email":"a@example.com"}]}]"#;
    refused(
        "JSON array",
        create_raw(&server, array).await,
        400,
        "validation_failed",
    )
    .await;
    let trailing = r#"{"subject":"x","recipients":[{"email":"a@example.com"}]} garbage"#;
    refused(
        "trailing garbage",
        create_raw(&server, trailing).await,
        400,
        "invalid_json",
    )
    .await;

    let response = server
        .post("/envelopes")
        .header(CONTENT_TYPE, "text/plain")
        .body(r#"{"subject":"x"}"#)
        .send()
        .await
        .unwrap();
    refused("text/plain", response, 415, "unsupported_media_type").await;

    // Wrong types: the error names the path of the field.
    let recipient = json!([{"email": "a@example.com"}]);
    let wrong_types = [
        (
            "subject as number",
            json!({"subject": 42, "recipients": recipient}),
            "subject",
        ),
        (
            "recipients as object",
            json!({"subject": "x", "recipients": {"email": "a@example.com"}}),
            "recipients",
        ),
        (
            "signingOrder as string",
            json!({"subject": "x", "recipients": [{"email": "a@example.com", "signingOrder": "1"}]}),
            "recipients[0].signingOrder",
        ),
        (
            "documentIds as string",
            json!({"subject": "x", "documentIds": "doc_1", "recipients": recipient}),
            "documentIds",
        ),
        (
            "expiresAt not a date",
            json!({"subject": "x", "expiresAt": "tomorrow", "recipients": recipient}),
            "expiresAt",
        ),
    ];
    for (label, body, field) in wrong_types {
        let issue = invalid(label, create(&server, &body).await, field).await;
        assert_eq!(issue["details"][0]["field"], field, "{label}: {issue}");
    }

    let body = json!({"subjct": "x", "subject": "x", "recipients": recipient});
    refused(
        "unknown top-level field",
        create(&server, &body).await,
        400,
        "validation_failed",
    )
    .await;
    let body =
        json!({"subject": "x", "recipients": [{"email": "a@example.com", "signingorder": 1}]});
    refused(
        "unknown recipient field",
        create(&server, &body).await,
        400,
        "validation_failed",
    )
    .await;

    let body = json!({"recipients": recipient});
    refused(
        "missing subject",
        create(&server, &body).await,
        400,
        "validation_failed",
    )
    .await;
    let body = json!({"subject": "   ", "recipients": recipient});
    invalid("blank subject", create(&server, &body).await, "subject").await;
    let body = json!({"subject": "x"});
    invalid(
        "missing recipients",
        create(&server, &body).await,
        "recipients",
    )
    .await;
    let body = json!({"subject": "x", "recipients": []});
    invalid("no recipients", create(&server, &body).await, "recipients").await;

    assert_eq!(total(&server, "/envelopes").await, 0);
}

// ---------------------------------------------------------------------------------------------
// Envelope creation: recipients, fields, options, documents
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn invalid_envelope_contents_are_refused() {
    let server = Server::start().await;
    let document = server.upload(pdf(1, "Contract"), "contract.pdf").await;
    let doc = document["id"].as_str().unwrap().to_string();
    let d = doc.as_str();

    let field = |change: Value| {
        let mut field =
            json!({"recipientEmail": "signer@example.com", "pageNumber": 1, "x": 72, "y": 700});
        for (key, value) in change.as_object().unwrap() {
            field[key] = value.clone();
        }
        field
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "bad email",
            with(d, |b| b["recipients"][0]["email"] = json!("not-an-email")),
            "recipients[0].email",
        ),
        (
            "duplicate email",
            with(
                d,
                |b| {
                    b["recipients"] =
                        json!([{"email": "signer@example.com"}, {"email": "SIGNER@example.com"}])
                },
            ),
            "recipients[1].email",
        ),
        (
            "role OWNER",
            with(d, |b| b["recipients"][0]["role"] = json!("OWNER")),
            "recipients[0].role",
        ),
        (
            "signingOrder 0",
            with(d, |b| b["recipients"][0]["signingOrder"] = json!(0)),
            "recipients[0].signingOrder",
        ),
        (
            "field for a stranger",
            with(d, |b| {
                b["fields"] = json!([field(json!({"recipientEmail": "other@example.com"}))])
            }),
            "fields[0].recipientEmail",
        ),
        (
            "field on page 3 of 1",
            with(d, |b| {
                b["fields"] = json!([field(json!({"pageNumber": 3}))])
            }),
            "fields[0].pageNumber",
        ),
        (
            "unsupported field type",
            with(d, |b| {
                b["fields"] = json!([field(json!({"fieldType": "DROPDOWN"}))])
            }),
            "fields[0].fieldType",
        ),
        (
            "negative width",
            with(d, |b| b["fields"] = json!([field(json!({"width": -5}))])),
            "fields[0].width",
        ),
        (
            "unsupported locale",
            with(d, |b| b["locale"] = json!("xx")),
            "locale",
        ),
        (
            "SQL in locale",
            with(d, |b| b["locale"] = json!("' OR 1=1 --")),
            "locale",
        ),
        (
            "http redirect",
            with(d, |b| b["redirectUrl"] = json!("http://x.com")),
            "redirectUrl",
        ),
        (
            "javascript redirect",
            with(d, |b| b["redirectUrl"] = json!("javascript:alert(1)")),
            "redirectUrl",
        ),
        (
            "expiresAt in the past",
            with(d, |b| b["expiresAt"] = json!("2020-01-01T00:00:00Z")),
            "expiresAt",
        ),
        (
            "11 tags",
            with(d, |b| {
                b["tags"] = json!((0..11).map(|i| format!("t{i}")).collect::<Vec<_>>())
            }),
            "tags",
        ),
        (
            "SMS codes without the signer's phone",
            with(d, |b| b["requireSmsOtp"] = json!(true)),
            "recipients[0].phone",
        ),
        (
            "unknown document id",
            with(d, |b| {
                b["documentIds"] = json!([format!("doc_{UNKNOWN_ULID}")])
            }),
            "documentIds[0]",
        ),
        (
            "envelope id as document id",
            with(d, |b| {
                b["documentIds"] = json!([format!("env_{UNKNOWN_ULID}")])
            }),
            "documentIds[0]",
        ),
        ("invalid base64", one_shot("!!!"), "documents[0].base64Pdf"),
        (
            "recipients and signers",
            {
                let mut body = one_shot("aGVsbG8=");
                body["recipients"] = json!([{"email": "a@example.com"}]);
                body
            },
            "signers",
        ),
    ];
    for (label, body, field) in &cases {
        invalid(label, create(&server, body).await, field).await;
    }

    let body = with(d, |b| b["signatureLevel"] = json!("QUALIFIED"));
    refused(
        "QUALIFIED signature",
        create(&server, &body).await,
        400,
        "qualified_not_available",
    )
    .await;
    let body = with(d, |b| b["signatureLevel"] = json!("ADVANCED"));
    refused(
        "ADVANCED without SMS codes",
        create(&server, &body).await,
        400,
        "ADVANCED_REQUIRES_STRONG_AUTH",
    )
    .await;

    let body = with(d, |b| b["templateId"] = json!("tpl_1"));
    refused(
        "template and documents",
        create(&server, &body).await,
        400,
        "template_and_documents",
    )
    .await;
    let body = with(d, |b| b["workspaceId"] = json!("wks_other"));
    refused(
        "foreign workspace",
        create(&server, &body).await,
        403,
        "workspace_forbidden",
    )
    .await;
    // base64 of "hello": neither PDF nor image.
    let response = create(&server, &one_shot("aGVsbG8=")).await;
    refused("inline non-PDF", response, 415, "unsupported_media_type").await;

    assert_eq!(total(&server, "/envelopes").await, 0);
    assert_eq!(
        total(&server, "/documents").await,
        1,
        "one-shot refusals must store no document"
    );
}

// ---------------------------------------------------------------------------------------------
// Ids, routes, methods, queries, headers, PATCH
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_ids_routes_queries_and_patches_are_refused() {
    let server = Server::start().await;
    let draft = server.draft_envelope("Kept as is").await;
    let id = draft["id"].as_str().unwrap().to_string();

    let response = server.get("/envelopes/env_unknown").send().await.unwrap();
    refused("unknown envelope", response, 404, "not_found").await;
    let response = server
        .get(&format!("/documents/env_{UNKNOWN_ULID}"))
        .send()
        .await
        .unwrap();
    refused("document with env_ id", response, 404, "not_found").await;
    let response = server
        .get(&format!("/documents/doc_{UNKNOWN_ULID}/content"))
        .send()
        .await
        .unwrap();
    refused("content of unknown document", response, 404, "not_found").await;
    let response = server
        .delete(&format!("/envelopes/env_{UNKNOWN_ULID}"))
        .send()
        .await
        .unwrap();
    refused("delete unknown envelope", response, 404, "not_found").await;
    let response = server
        .delete(&format!("/documents/doc_{UNKNOWN_ULID}"))
        .send()
        .await
        .unwrap();
    refused("delete unknown document", response, 404, "not_found").await;
    let response = server
        .patch(&format!("/envelopes/env_{UNKNOWN_ULID}"))
        .json(&json!({"subject": "x"}))
        .send()
        .await
        .unwrap();
    refused("patch unknown envelope", response, 404, "not_found").await;

    let response = server.get("/nope").send().await.unwrap();
    refused("unknown route", response, 404, "route_not_found").await;
    let response = server
        .http
        .put(server.url("/envelopes"))
        .bearer_auth(&server.key)
        .send()
        .await
        .unwrap();
    refused("PUT /envelopes", response, 405, "method_not_allowed").await;

    let patch = |body: Value| server.patch(&format!("/envelopes/{id}")).json(&body).send();
    invalid(
        "patch subject as number",
        patch(json!({"subject": 5})).await.unwrap(),
        "subject",
    )
    .await;
    refused(
        "patch unknown field",
        patch(json!({"subjct": "y"})).await.unwrap(),
        400,
        "validation_failed",
    )
    .await;
    invalid(
        "patch blank subject",
        patch(json!({"subject": " "})).await.unwrap(),
        "subject",
    )
    .await;
    let response = server
        .patch(&format!("/envelopes/{id}"))
        .header(CONTENT_TYPE, "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    refused("patch malformed JSON", response, 400, "invalid_json").await;

    for (label, query, field) in [
        ("page=abc", "page=abc", "page"),
        ("page=0", "page=0", "page"),
        ("limit=0", "limit=0", "limit"),
        ("limit=-1", "limit=-1", "limit"),
        ("status=BOGUS", "status=BOGUS", "status"),
    ] {
        invalid(
            label,
            server
                .get(&format!("/envelopes?{query}"))
                .send()
                .await
                .unwrap(),
            field,
        )
        .await;
    }
    invalid(
        "documents page=abc",
        server.get("/documents?page=abc").send().await.unwrap(),
        "page",
    )
    .await;

    let response = server
        .post("/envelopes")
        .header("idempotency-key", "k".repeat(300))
        .json(&valid_body(draft["documentIds"][0].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    refused(
        "300-char Idempotency-Key",
        response,
        400,
        "invalid_idempotency_key",
    )
    .await;

    // Nothing changed: still one envelope, with its subject, and one document.
    let stored = expect_status(
        server
            .get(&format!("/envelopes/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(stored["subject"], "Kept as is");
    assert_eq!(stored["updatedAt"], draft["updatedAt"]);
    assert_eq!(total(&server, "/envelopes").await, 1);
    assert_eq!(total(&server, "/documents").await, 1);
}

// ---------------------------------------------------------------------------------------------
// Hostile strings: stored verbatim as free text, refused in structured fields
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn hostile_strings_are_kept_as_text_and_refused_as_structure() {
    let server = Server::start().await;
    let document = server.upload(pdf(1, "Contract"), "contract.pdf").await;
    let doc = document["id"].as_str().unwrap().to_string();

    // Free text: accepted and returned byte-identical.
    for value in HOSTILE {
        let body = json!({
            "subject": value,
            "message": value,
            "documentIds": [doc],
            "recipients": [{"email": "signer@example.com", "name": value}],
            "tags": [value],
        });
        let created = expect_status(create(&server, &body).await, 201).await;
        let path = format!("/envelopes/{}", created["id"].as_str().unwrap());
        let stored = expect_status(server.get(&path).send().await.unwrap(), 200).await;
        assert_eq!(stored["subject"].as_str(), Some(value), "{stored}");
        assert_eq!(stored["message"].as_str(), Some(value), "{stored}");
        assert_eq!(
            stored["recipients"][0]["name"].as_str(),
            Some(value),
            "{stored}"
        );
        assert_eq!(
            stored["tags"],
            json!([value.to_lowercase()]),
            "tags are lower-cased"
        );

        let uploaded = expect_status(upload_named(&server, value).await, 201).await;
        let path = format!("/documents/{}", uploaded["id"].as_str().unwrap());
        let stored = expect_status(server.get(&path).send().await.unwrap(), 200).await;
        assert_eq!(stored["name"].as_str(), Some(value), "{stored}");
    }

    // Structured fields: the same values are refused.
    for value in HOSTILE {
        let body = with(&doc, |b| b["recipients"][0]["email"] = json!(value));
        invalid(value, create(&server, &body).await, "recipients[0].email").await;
        let body = with(&doc, |b| b["locale"] = json!(value));
        invalid(value, create(&server, &body).await, "locale").await;
        let response = server
            .get(&format!("/envelopes?status={}", enc(value)))
            .send()
            .await
            .unwrap();
        invalid(value, response, "status").await;
        let response = server
            .get(&format!("/documents/{}", enc(value)))
            .send()
            .await
            .unwrap();
        refused(value, response, 404, "not_found").await;
        let response = server
            .get(&format!("/envelopes/{}", enc(value)))
            .send()
            .await
            .unwrap();
        refused(value, response, 404, "not_found").await;
    }

    // Direction overrides and line breaks would make a name read differently from what it is.
    let body = with(&doc, |b| {
        b["recipients"][0]["name"] = json!("Eve \u{202E}fdp.exe")
    });
    invalid(
        "RLO in recipient name",
        create(&server, &body).await,
        "recipients[0].name",
    )
    .await;
    let body = with(&doc, |b| b["recipients"][0]["name"] = json!("Eve\nAdmin"));
    invalid(
        "newline in recipient name",
        create(&server, &body).await,
        "recipients[0].name",
    )
    .await;
    let body = with(&doc, |b| b["subject"] = json!("Invoice \u{202E}fdp.exe"));
    invalid("RLO in subject", create(&server, &body).await, "subject").await;
    invalid(
        "RLO in document name",
        upload_named(&server, "a\u{202E}fdp.exe").await,
        "name",
    )
    .await;
    invalid(
        "newline in document name",
        upload_named(&server, "a\nb.pdf").await,
        "name",
    )
    .await;

    // 255 characters (multi-byte ones included) is the limit for a subject.
    let too_long = format!("Σ{}", "x".repeat(255));
    let body = with(&doc, |b| b["subject"] = json!(too_long));
    invalid("256-char subject", create(&server, &body).await, "subject").await;
    let longest = format!("Σ{}", "x".repeat(254));
    let body = with(&doc, |b| b["subject"] = json!(longest));
    let created = expect_status(create(&server, &body).await, 201).await;
    assert_eq!(created["subject"].as_str(), Some(longest.as_str()));

    // Only the accepted requests created anything.
    assert_eq!(total(&server, "/envelopes").await, HOSTILE.len() as u64 + 1);
    assert_eq!(total(&server, "/documents").await, HOSTILE.len() as u64 + 1);
}

// ---------------------------------------------------------------------------------------------
// Ids that are not text
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn non_utf8_path_ids_get_a_json_error() {
    let server = Server::start().await;
    for path in ["/envelopes/%FF", "/documents/%FF", "/documents/%FF/content"] {
        let response = server.get(path).send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or_default().to_string())
            .unwrap_or_default();
        assert!(
            (400..500).contains(&status) && content_type.starts_with("application/json"),
            "GET {path}: {status} {content_type}"
        );
    }
}
