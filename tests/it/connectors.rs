//! Declarative HTTP connectors against local fakes that answer in each system's documented
//! shapes (../shared/reference/source-apis.md, Part B): incremental reads across pages, cursor
//! resume with the overlap deduplicated, hydration, throttling, write-back requests exactly as
//! documented, and malformed answers reported without a cursor.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use signbridge::sync::connector::{Connector, SourceError, WriteBack};
use signbridge::sync::http::{load_definition, HttpConnector};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// One multipart part as received: (name, file name, content type, bytes).
type ReceivedPart = (String, Option<String>, Option<String>, Vec<u8>);

/// What a fake saw and what it serves.
#[derive(Default)]
struct Fake {
    records: Vec<Value>,
    requests: Vec<(String, String, HashMap<String, String>)>,
    uploads: Vec<Vec<ReceivedPart>>,
    throttle_next: usize,
    malformed: bool,
}

type Shared = Arc<Mutex<Fake>>;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

async fn parts(mut multipart: Multipart) -> Vec<ReceivedPart> {
    let mut out = Vec::new();
    while let Ok(Some(field)) = multipart.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let content_type = field.content_type().map(str::to_string);
        let bytes = field.bytes().await.unwrap().to_vec();
        out.push((name, file_name, content_type, bytes));
    }
    out
}

fn connector(file: &str, settings: &[(&str, &str)], base: &str) -> HttpConnector {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("connectors")
        .join(file);
    let definition = load_definition(&path).unwrap();
    let settings: BTreeMap<String, String> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    HttpConnector::new("test", definition, &settings, Some(base.to_string())).unwrap()
}

/// Runs blocking connector calls off the async test runtime.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Pipedrive: GET /api/v2/deals (cursor paging, updated_since, api_token), GET /api/v2/persons/{id},
// POST /api/v1/files (multipart file + deal_id), 429 + Retry-After.

async fn pipedrive_deals(
    State(fake): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut fake = fake.lock().unwrap();
    fake.requests
        .push(("GET".into(), "/api/v2/deals".into(), query.clone()));
    if query.get("api_token").map(String::as_str) != Some("secret-token") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"success": false, "error": "unauthorized"})),
        )
            .into_response();
    }
    if fake.throttle_next > 0 {
        fake.throttle_next -= 1;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1"), ("x-ratelimit-remaining", "0")],
            Json(json!({"success": false})),
        )
            .into_response();
    }
    if fake.malformed {
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            "{\"success\":true,\"data\":[{\"id\":1,",
        )
            .into_response();
    }
    let since = query.get("updated_since").cloned().unwrap_or_default();
    let mut deals: Vec<Value> = fake
        .records
        .iter()
        .filter(|d| d["update_time"].as_str().unwrap_or("") >= since.as_str())
        .cloned()
        .collect();
    deals.sort_by(|a, b| a["update_time"].as_str().cmp(&b["update_time"].as_str()));
    let start: usize = query
        .get("cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = deals.iter().skip(start).take(2).cloned().collect();
    let next = if start + 2 < deals.len() {
        json!((start + 2).to_string())
    } else {
        Value::Null
    };
    Json(json!({"success": true, "data": page, "additional_data": {"next_cursor": next}}))
        .into_response()
}

async fn pipedrive_person(
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if query.get("api_token").map(String::as_str) != Some("secret-token") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({"success": true, "data": {"id": id.parse::<u64>().unwrap_or(0), "name": format!("Person {id}"), "emails": [{"value": format!("p{id}@example.com"), "primary": true}]}})).into_response()
}

async fn pipedrive_files(
    State(fake): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    multipart: Multipart,
) -> Response {
    let received = parts(multipart).await;
    let mut fake = fake.lock().unwrap();
    fake.requests
        .push(("POST".into(), "/api/v1/files".into(), query));
    fake.uploads.push(received);
    Json(json!({"success": true, "data": {"id": 9001, "deal_id": 1}})).into_response()
}

fn deal(id: u64, updated: &str) -> Value {
    json!({"id": id, "title": format!("Deal {id}"), "person_id": 100 + id, "stage_id": 3, "status": "open", "value": 5000 * id, "currency": "EUR", "update_time": updated})
}

#[tokio::test]
async fn pipedrive_reads_pages_resumes_hydrates_throttles_and_uploads() {
    let fake: Shared = Arc::new(Mutex::new(Fake {
        records: vec![
            deal(1, "2026-11-01T10:00:00Z"),
            deal(2, "2026-11-01T11:00:00Z"),
            deal(3, "2026-11-02T09:00:00Z"),
            deal(4, "2026-11-03T09:00:00Z"),
            deal(5, "2026-11-04T09:00:00Z"),
        ],
        throttle_next: 1,
        ..Fake::default()
    }));
    let base = serve(
        Router::new()
            .route("/api/v2/deals", get(pipedrive_deals))
            .route("/api/v2/persons/{id}", get(pipedrive_person))
            .route("/api/v1/files", post(pipedrive_files))
            .with_state(fake.clone()),
    )
    .await;
    let connector = Arc::new(connector(
        "pipedrive.yaml",
        &[
            ("company_domain", "acme"),
            ("api_token", "secret-token"),
            ("stage_id", "3"),
        ],
        &base,
    ));

    let c = connector.clone();
    let (records, cursor) = blocking(move || c.read("deals", None)).await.unwrap();
    assert_eq!(records.len(), 5, "three pages of two");
    assert_eq!(
        records[0].data["person"]["emails"][0]["value"], "p101@example.com",
        "hydrated"
    );
    assert_eq!(cursor.as_deref(), Some("2026-11-04T09:00:00Z"));
    {
        let fake = fake.lock().unwrap();
        let deal_requests: Vec<_> = fake
            .requests
            .iter()
            .filter(|r| r.1 == "/api/v2/deals")
            .collect();
        assert_eq!(deal_requests.len(), 4, "one throttled, then three pages");
        assert_eq!(deal_requests[1].2["stage_id"], "3");
        assert_eq!(deal_requests[1].2["sort_by"], "update_time");
        assert_eq!(
            deal_requests[1].2["updated_since"], "2019-12-31T23:59:00Z",
            "start minus the lookback"
        );
        assert_eq!(deal_requests[2].2["cursor"], "2");
    }

    // A restart resumes from the stored cursor: the overlap comes again with the same version
    // (so the daemon's job key dedupes it) and the new deal comes once.
    fake.lock()
        .unwrap()
        .records
        .push(deal(6, "2026-11-05T09:00:00Z"));
    let c = connector.clone();
    let stored = cursor.clone();
    let (again, cursor) = blocking(move || c.read("deals", stored.as_deref()))
        .await
        .unwrap();
    let ids: Vec<&str> = again.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["5", "6"],
        "lookback overlap + the new deal, nothing older"
    );
    assert_eq!(again[0].version, records[4].version);
    assert_eq!(cursor.as_deref(), Some("2026-11-05T09:00:00Z"));

    // A malformed answer is an error naming the page; nothing is returned, so no cursor moves.
    fake.lock().unwrap().malformed = true;
    let c = connector.clone();
    let error = blocking(move || c.read("deals", None)).await.unwrap_err();
    assert!(
        matches!(&error, SourceError::BadRecord(m) if m.contains("page 1") && m.contains("not valid JSON")),
        "{error}"
    );
    fake.lock().unwrap().malformed = false;

    let pdf = b"%PDF-1.7 signed bytes".to_vec();
    let outcome = WriteBack {
        record_id: "1".into(),
        record: records[0].data.clone(),
        state: "completed".into(),
        envelope_id: "env_1".into(),
        files: vec![("1-signed.pdf".into(), pdf.clone())],
        fields: BTreeMap::new(),
    };
    let c = connector.clone();
    blocking(move || c.write_back(&outcome)).await.unwrap();
    let fake = fake.lock().unwrap();
    let upload = &fake.uploads[0];
    let file = upload.iter().find(|p| p.0 == "file").unwrap();
    assert_eq!(file.1.as_deref(), Some("1-signed.pdf"));
    assert_eq!(file.2.as_deref(), Some("application/pdf"));
    assert_eq!(file.3, pdf, "byte for byte");
    let deal_id = upload.iter().find(|p| p.0 == "deal_id").unwrap();
    assert_eq!(deal_id.3, b"1");
    let (_, _, query) = fake
        .requests
        .iter()
        .find(|r| r.1 == "/api/v1/files")
        .unwrap();
    assert_eq!(query["api_token"], "secret-token");
}

#[test]
fn every_shipped_connector_definition_loads() {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors");
    let mut count = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("yaml") {
            load_definition(&path).unwrap_or_else(|err| panic!("{err}"));
            count += 1;
        }
    }
    assert!(count >= 1);
}
