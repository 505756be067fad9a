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

pub(crate) async fn serve(router: Router) -> String {
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
    shipped_connector(file, settings, Some(base))
}

/// A shipped definition, unchanged, for source settings `settings`, served from `base` when
/// given.
fn shipped_connector(file: &str, settings: &[(&str, &str)], base: Option<&str>) -> HttpConnector {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("connectors")
        .join(file);
    connector_of(load_definition(&path).unwrap(), file, settings, base)
}

fn connector_of(
    definition: signbridge::sync::http::definition::Definition,
    file: &str,
    settings: &[(&str, &str)],
    base: Option<&str>,
) -> HttpConnector {
    let settings: BTreeMap<String, String> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    HttpConnector::new(
        file.trim_end_matches(".yaml"),
        definition,
        &settings,
        base.map(str::to_string),
    )
    .unwrap()
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

pub(crate) fn deal(id: u64, updated: &str) -> Value {
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
    let (records, cursor) = blocking(move || c.read("deals", None).map(|b| (b.records, b.cursor)))
        .await
        .unwrap();
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
    let (again, cursor) = blocking(move || {
        c.read("deals", stored.as_deref())
            .map(|b| (b.records, b.cursor))
    })
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

    // A malformed answer is a transient error naming the page; nothing is returned, so no
    // cursor moves.
    fake.lock().unwrap().malformed = true;
    let c = connector.clone();
    let error = blocking(move || c.read("deals", None).map(|b| (b.records, b.cursor)))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, SourceError::Unavailable(m) if m.contains("page 1") && m.contains("not valid JSON")),
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

fn basic_user(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let value = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_string)
}

fn outcome(record: &Value, record_id: &str, pdf: &[u8]) -> WriteBack {
    WriteBack {
        record_id: record_id.into(),
        record: record.clone(),
        state: "completed".into(),
        envelope_id: "env_test".into(),
        files: vec![(format!("{record_id}-signed.pdf"), pdf.to_vec())],
        fields: BTreeMap::new(),
    }
}

fn part<'a>(upload: &'a [ReceivedPart], name: &str) -> &'a ReceivedPart {
    upload.iter().find(|p| p.0 == name).unwrap_or_else(|| {
        panic!(
            "no part `{name}` in {:?}",
            upload.iter().map(|p| &p.0).collect::<Vec<_>>()
        )
    })
}

// ---------------------------------------------------------------------------------------------
// BambooHR: Basic (API key : x), GET /api/v1/employees/changed?since= (a map of ids), GET
// /api/v1/employees/{id}?fields=, POST /api/v1/employees/{id}/files, 503 + Retry-After.

#[tokio::test]
async fn bamboohr_reads_changes_hydrates_and_files_the_pdf() {
    let fake: Shared = Arc::new(Mutex::new(Fake {
        records: vec![
            json!({"id": "3", "action": "Inserted", "lastChanged": "2026-11-01T10:00:00+00:00"}),
            json!({"id": "4", "action": "Updated", "lastChanged": "2026-11-02T10:00:00+00:00"}),
            json!({"id": "5", "action": "Deleted", "lastChanged": "2026-11-03T10:00:00+00:00"}),
        ],
        throttle_next: 1,
        ..Fake::default()
    }));
    async fn changed(
        State(fake): State<Shared>,
        headers: axum::http::HeaderMap,
        Query(query): Query<HashMap<String, String>>,
    ) -> Response {
        let mut fake = fake.lock().unwrap();
        fake.requests.push((
            "GET".into(),
            "/api/v1/employees/changed".into(),
            query.clone(),
        ));
        if basic_user(&headers) != Some(("bamboo-key".into(), "x".into())) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        if fake.throttle_next > 0 {
            fake.throttle_next -= 1;
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [("retry-after", "1")],
                "busy",
            )
                .into_response();
        }
        if fake.malformed {
            return (
                StatusCode::OK,
                [("content-type", "application/json")],
                "{\"latest\": \"2026",
            )
                .into_response();
        }
        let since = query.get("since").cloned().unwrap_or_default();
        let employees: serde_json::Map<String, Value> = fake
            .records
            .iter()
            .filter(|e| {
                e["lastChanged"].as_str().unwrap_or("") >= since.replace('Z', "+00:00").as_str()
            })
            .map(|e| (e["id"].as_str().unwrap().to_string(), e.clone()))
            .collect();
        Json(json!({"latest": "2026-11-03T10:00:00+00:00", "employees": employees})).into_response()
    }
    async fn employee(
        State(fake): State<Shared>,
        Path(id): Path<String>,
        Query(query): Query<HashMap<String, String>>,
    ) -> Response {
        fake.lock().unwrap().requests.push((
            "GET".into(),
            format!("/api/v1/employees/{id}"),
            query,
        ));
        Json(json!({"id": id, "firstName": format!("First{id}"), "lastName": "Nowak", "workEmail": format!("e{id}@example.com"), "jobTitle": "Engineer"})).into_response()
    }
    async fn files(
        State(fake): State<Shared>,
        Path(id): Path<String>,
        multipart: Multipart,
    ) -> Response {
        let received = parts(multipart).await;
        let mut fake = fake.lock().unwrap();
        fake.requests.push((
            "POST".into(),
            format!("/api/v1/employees/{id}/files"),
            HashMap::new(),
        ));
        fake.uploads.push(received);
        (
            StatusCode::CREATED,
            [(
                "location",
                "https://acme.bamboohr.com/api/v1/employees/3/files/77",
            )],
        )
            .into_response()
    }
    let base = serve(
        Router::new()
            .route("/api/v1/employees/changed", get(changed))
            .route("/api/v1/employees/{id}", get(employee))
            .route("/api/v1/employees/{id}/files", post(files))
            .with_state(fake.clone()),
    )
    .await;
    let connector = Arc::new(connector(
        "bamboohr.yaml",
        &[
            ("company_domain", "acme"),
            ("api_key", "bamboo-key"),
            ("file_category", "12"),
        ],
        &base,
    ));
    let c = connector.clone();
    let (records, cursor) =
        blocking(move || c.read("employees", None).map(|b| (b.records, b.cursor)))
            .await
            .unwrap();
    let mut ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, vec!["3", "4"], "the deleted employee is skipped");
    let three = records.iter().find(|r| r.id == "3").unwrap();
    assert_eq!(
        three.data["employee"]["workEmail"], "e3@example.com",
        "hydrated"
    );
    assert_eq!(cursor.as_deref(), Some("2026-11-02T10:00:00Z"));
    {
        let fake = fake.lock().unwrap();
        let hydrate = fake
            .requests
            .iter()
            .find(|r| r.1 == "/api/v1/employees/3")
            .unwrap();
        assert!(hydrate.2["fields"].contains("workEmail") && hydrate.2["onlyCurrent"] == "false");
        let changed: Vec<_> = fake
            .requests
            .iter()
            .filter(|r| r.1 == "/api/v1/employees/changed")
            .collect();
        assert_eq!(changed.len(), 2, "503 + Retry-After, then the answer");
    }
    // Resume: only what changed since (minus the 5-minute lookback).
    let c = connector.clone();
    let (again, _) = blocking(move || {
        c.read("employees", cursor.as_deref())
            .map(|b| (b.records, b.cursor))
    })
    .await
    .unwrap();
    assert_eq!(
        again.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec!["4"]
    );

    fake.lock().unwrap().malformed = true;
    let c = connector.clone();
    let error = blocking(move || c.read("employees", None).map(|b| (b.records, b.cursor)))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not valid JSON"), "{error}");
    fake.lock().unwrap().malformed = false;

    let pdf = b"%PDF-bamboo".to_vec();
    let c = connector.clone();
    let record = three.data.clone();
    blocking(move || c.write_back(&outcome(&record, "3", b"%PDF-bamboo")))
        .await
        .unwrap();
    let fake = fake.lock().unwrap();
    let upload = &fake.uploads[0];
    assert_eq!(part(upload, "fileName").3, b"3-signed.pdf");
    assert_eq!(part(upload, "category").3, b"12");
    assert_eq!(part(upload, "share").3, b"no");
    assert_eq!(part(upload, "file").3, pdf);
    assert!(fake
        .requests
        .iter()
        .any(|r| r.0 == "POST" && r.1 == "/api/v1/employees/3/files"));
}

// ---------------------------------------------------------------------------------------------
// Personio v1: POST /v1/auth → data.token; GET /v1/company/employees (offset/limit,
// updated_since, {label,value} attributes); POST /v1/company/documents; 401 → new token once.

#[tokio::test]
async fn personio_authenticates_pages_unwraps_and_uploads() {
    #[derive(Default)]
    struct State2 {
        tokens_issued: usize,
        valid_token: String,
        expire_next: bool,
        employee_requests: Vec<HashMap<String, String>>,
        throttled_once: bool,
        uploads: Vec<Vec<ReceivedPart>>,
    }
    type S = Arc<Mutex<State2>>;
    async fn auth(State(state): State<S>, Json(body): Json<Value>) -> Response {
        if body["client_id"] != "pid" || body["client_secret"] != "psecret" {
            return (StatusCode::UNAUTHORIZED, Json(json!({"success": false}))).into_response();
        }
        let mut state = state.lock().unwrap();
        state.tokens_issued += 1;
        state.valid_token = format!("papi-token-{}", state.tokens_issued);
        Json(json!({"success": true, "data": {"token": state.valid_token}})).into_response()
    }
    /// Enough employees for three pages of the shipped page size (100).
    const EMPLOYEES: u64 = 205;
    /// Employee `i` was last changed `i` minutes after 2026-11-01 09:00 (Berlin, +01:00).
    fn modified_at(i: u64) -> String {
        (chrono::DateTime::parse_from_rfc3339("2026-11-01T09:00:00+01:00").unwrap()
            + chrono::Duration::minutes(i as i64))
        .to_rfc3339()
    }
    fn employee(id: u64, modified: &str) -> Value {
        json!({"type": "Employee", "attributes": {
            "id": {"label": "ID", "value": id, "type": "integer", "universal_id": "id"},
            "first_name": {"label": "First name", "value": format!("Anna{id}"), "type": "standard", "universal_id": "first_name"},
            "email": {"label": "Email", "value": format!("anna{id}@example.com"), "type": "standard", "universal_id": "email"},
            "last_modified_at": {"label": "Last modified", "value": modified, "type": "date", "universal_id": "last_modified_at"}
        }})
    }
    async fn employees(
        State(state): State<S>,
        headers: axum::http::HeaderMap,
        Query(query): Query<HashMap<String, String>>,
    ) -> Response {
        let mut state = state.lock().unwrap();
        if state.expire_next {
            state.expire_next = false;
            state.valid_token = "expired".into();
        }
        if bearer(&headers).as_deref() != Some(state.valid_token.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"success": false, "error": {"message": "token expired"}})),
            )
                .into_response();
        }
        if !state.throttled_once {
            // Personio: 429 with X-RateLimit-* and no Retry-After.
            state.throttled_once = true;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("x-ratelimit-remaining", "0")],
            )
                .into_response();
        }
        state.employee_requests.push(query.clone());
        let since = query
            .get("updated_since")
            .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok())
            .map(|t| t.and_utc());
        let all: Vec<Value> = (1..=EMPLOYEES)
            .map(|i| employee(i, &modified_at(i)))
            .filter(|e| {
                let modified = chrono::DateTime::parse_from_rfc3339(
                    e["attributes"]["last_modified_at"]["value"]
                        .as_str()
                        .unwrap(),
                )
                .unwrap();
                since.is_none_or(|since| modified >= since)
            })
            .collect();
        let offset: usize = query
            .get("offset")
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let limit: usize = query
            .get("limit")
            .and_then(|o| o.parse().ok())
            .unwrap_or(50);
        // Personio v1 answers at most 100 a page.
        let limit = limit.clamp(1, 100);
        let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
        Json(json!({"success": true, "metadata": {"total_elements": all.len(), "current_page": offset / limit, "total_pages": all.len().div_ceil(limit)}, "offset": offset, "limit": limit, "data": page})).into_response()
    }
    async fn documents(
        State(state): State<S>,
        headers: axum::http::HeaderMap,
        multipart: Multipart,
    ) -> Response {
        let token_ok = bearer(&headers) == Some(state.lock().unwrap().valid_token.clone());
        let received = parts(multipart).await;
        if !token_ok {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        state.lock().unwrap().uploads.push(received);
        (
            StatusCode::CREATED,
            Json(json!({"success": true, "data": {"id": 1, "type": "Document"}})),
        )
            .into_response()
    }
    let state: S = Arc::new(Mutex::new(State2::default()));
    let base = serve(
        Router::new()
            .route("/v1/auth", post(auth))
            .route("/v1/company/employees", get(employees))
            .route("/v1/company/documents", post(documents))
            .with_state(state.clone()),
    )
    .await;
    let connector = Arc::new(connector(
        "personio.yaml",
        &[
            ("client_id", "pid"),
            ("client_secret", "psecret"),
            ("document_category_id", "55"),
        ],
        &base,
    ));
    let c = connector.clone();
    let (records, cursor) =
        blocking(move || c.read("employees", None).map(|b| (b.records, b.cursor)))
            .await
            .unwrap();
    assert_eq!(records.len(), 205, "three pages: 100 + 100 + 5");
    assert_eq!(
        records[0].data["attributes"]["first_name"], "Anna1",
        "attributes unwrapped"
    );
    assert_eq!(records[0].id, "1");
    // The newest: employee 205, 205 minutes after 08:00 UTC.
    assert_eq!(cursor.as_deref(), Some("2026-11-01T11:25:00Z"));
    {
        let state = state.lock().unwrap();
        assert_eq!(state.tokens_issued, 1, "one token for all pages");
        let offsets: Vec<&str> = state
            .employee_requests
            .iter()
            .map(|q| q["offset"].as_str())
            .collect();
        assert_eq!(offsets, vec!["0", "100", "200"]);
        assert_eq!(
            state.employee_requests[0]["updated_since"], "2019-12-31T23:55:00",
            "Personio's format"
        );
        assert_eq!(state.employee_requests[0]["limit"], "100");
    }
    // The token expires: one 401, one new token, and the read goes on.
    state.lock().unwrap().expire_next = true;
    let c = connector.clone();
    let (again, _) = blocking(move || {
        c.read("employees", cursor.as_deref())
            .map(|b| (b.records, b.cursor))
    })
    .await
    .unwrap();
    assert_eq!(state.lock().unwrap().tokens_issued, 2, "refreshed once");
    // Resumed from the stored cursor: only the 5-minute lookback overlap (employees changed
    // from 11:20 UTC on), with the same versions.
    assert_eq!(
        again.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec!["200", "201", "202", "203", "204", "205"]
    );
    assert_eq!(again[5].version, records[204].version);

    let c = connector.clone();
    let record = records[0].data.clone();
    blocking(move || c.write_back(&outcome(&record, "1", b"%PDF-personio")))
        .await
        .unwrap();
    let state = state.lock().unwrap();
    let upload = &state.uploads[0];
    assert_eq!(part(upload, "employee_id").3, b"1");
    assert_eq!(part(upload, "category_id").3, b"55");
    assert_eq!(part(upload, "title").3, b"1-signed.pdf");
    assert_eq!(part(upload, "file").3, b"%PDF-personio");
}

// ---------------------------------------------------------------------------------------------
// HiBob: Basic (service user), POST /v1/people/search (no paging), POST
// /v1/docs/people/{id}/shared/upload, 429; inbound webhooks: Bob-Signature (HMAC-SHA512, base64).

#[tokio::test]
async fn hibob_scans_people_uploads_and_verifies_pushes() {
    use signbridge::sync::connector::PushRequest;
    let fake: Shared = Arc::new(Mutex::new(Fake {
        records: (1..=4)
            .map(|i| json!({"id": format!("30000{i}"), "email": format!("bob{i}@example.com"), "firstName": format!("Bo{i}"), "surname": "Brown", "work": {"title": "Engineer", "startDate": "2027-01-04"}}))
            .collect(),
        throttle_next: 1,
        ..Fake::default()
    }));
    async fn search(
        State(fake): State<Shared>,
        headers: axum::http::HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        let mut fake = fake.lock().unwrap();
        if basic_user(&headers) != Some(("svc-user".into(), "svc-token".into())) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        fake.requests.push((
            "POST".into(),
            "/v1/people/search".into(),
            HashMap::from([("body".to_string(), body.to_string())]),
        ));
        if fake.throttle_next > 0 {
            fake.throttle_next -= 1;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("x-ratelimit-remaining", "0")],
                "slow down",
            )
                .into_response();
        }
        Json(json!({"employees": fake.records})).into_response()
    }
    async fn upload(
        State(fake): State<Shared>,
        Path(id): Path<String>,
        multipart: Multipart,
    ) -> Response {
        let received = parts(multipart).await;
        let mut fake = fake.lock().unwrap();
        fake.requests.push((
            "POST".into(),
            format!("/v1/docs/people/{id}/shared/upload"),
            HashMap::new(),
        ));
        fake.uploads.push(received);
        Json(json!({"id": 4242})).into_response()
    }
    let base = serve(
        Router::new()
            .route("/v1/people/search", post(search))
            .route("/v1/docs/people/{id}/shared/upload", post(upload))
            .with_state(fake.clone()),
    )
    .await;
    let connector = Arc::new(connector(
        "hibob.yaml",
        &[
            ("service_user_id", "svc-user"),
            ("service_user_token", "svc-token"),
            ("webhook_secret", "bob-secret"),
        ],
        &base,
    ));
    let c = connector.clone();
    let (records, _) = blocking(move || c.read("people", None).map(|b| (b.records, b.cursor)))
        .await
        .unwrap();
    assert_eq!(records.len(), 4);
    let body: Value =
        serde_json::from_str(&fake.lock().unwrap().requests.last().unwrap().2["body"]).unwrap();
    assert_eq!(body["showInactive"], false);
    assert!(body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "root.email"));
    assert!(
        body.get("filters").is_none(),
        "Bob refuses an empty filters list"
    );
    // Full scans: an unchanged person keeps its version; a changed one gets a new one.
    fake.lock().unwrap().records[0]["work"]["title"] = json!("Lead Engineer");
    let c = connector.clone();
    let (again, _) = blocking(move || c.read("people", None).map(|b| (b.records, b.cursor)))
        .await
        .unwrap();
    assert_ne!(again[0].version, records[0].version);
    assert_eq!(again[1].version, records[1].version);

    let c = connector.clone();
    let record = records[0].data.clone();
    blocking(move || c.write_back(&outcome(&record, "300001", b"%PDF-bob")))
        .await
        .unwrap();
    {
        let fake = fake.lock().unwrap();
        assert_eq!(part(&fake.uploads[0], "file").3, b"%PDF-bob");
        assert!(fake
            .requests
            .iter()
            .any(|r| r.1 == "/v1/docs/people/300001/shared/upload"));
    }

    // Pushes: Bob-Signature = base64(HMAC-SHA512(secret, raw body)); events older than 5 min refused.
    let sign = |body: &str| {
        use base64::Engine;
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(b"bob-secret").unwrap();
        mac.update(body.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    };
    let push = |body: String, signature: String| PushRequest {
        method: "POST".into(),
        uri: "/hooks/sources/bob".into(),
        headers: vec![
            ("Bob-Signature".into(), signature),
            ("Content-Type".into(), "application/json".into()),
        ],
        body: body.into_bytes(),
    };
    let fresh = json!({"type": "employee.updated", "creationDate": chrono::Utc::now().to_rfc3339(), "employee": {"id": "300001"}}).to_string();
    assert!(
        connector
            .verify_push(&push(fresh.clone(), sign(&fresh)))
            .is_ok(),
        "valid"
    );
    assert!(
        connector
            .verify_push(&push(fresh.clone(), sign("{}")))
            .is_err(),
        "forged"
    );
    let altered = fresh.replace("300001", "300002");
    assert!(
        connector.verify_push(&push(altered, sign(&fresh))).is_err(),
        "altered after signing"
    );
    let stale = json!({"type": "employee.updated", "creationDate": (chrono::Utc::now() - chrono::Duration::minutes(30)).to_rfc3339(), "employee": {"id": "300001"}}).to_string();
    let error = connector
        .verify_push(&push(stale.clone(), sign(&stale)))
        .unwrap_err();
    assert!(error.to_string().contains("too old"), "stale: {error}");
}

// ---------------------------------------------------------------------------------------------
// HubSpot: Bearer; POST /crm/v3/objects/deals/search (filters, sorts, `after` paging, a cap on
// results per query); v4 associations + contact read; Files v3 upload then a note with
// hs_attachment_ids associated to the deal (214).

#[tokio::test]
async fn hubspot_searches_past_the_cap_hydrates_contacts_and_attaches_a_note() {
    #[derive(Default)]
    struct Hub {
        deals: Vec<Value>,
        searches: Vec<Value>,
        uploads: Vec<Vec<ReceivedPart>>,
        notes: Vec<Value>,
        cap: usize,
        throttled_once: bool,
    }
    type S = Arc<Mutex<Hub>>;
    async fn search(
        State(state): State<S>,
        headers: axum::http::HeaderMap,
        Json(body): Json<Value>,
    ) -> Response {
        if bearer(&headers).as_deref() != Some("pat-123") {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let mut state = state.lock().unwrap();
        if !state.throttled_once {
            // HubSpot: 429 without Retry-After (exponential backoff).
            state.throttled_once = true;
            return (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"status": "error", "category": "RATE_LIMITS"})),
            )
                .into_response();
        }
        state.searches.push(body.clone());
        let filters = &body["filterGroups"][0]["filters"];
        let stage = filters[0]["value"].as_str().unwrap_or_default().to_string();
        let floor: i64 = filters[1]["value"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let matching: Vec<Value> = state
            .deals
            .iter()
            .filter(|d| d["properties"]["dealstage"] == stage.as_str())
            .filter(|d| {
                chrono::DateTime::parse_from_rfc3339(
                    d["properties"]["hs_lastmodifieddate"].as_str().unwrap(),
                )
                .unwrap()
                .timestamp_millis()
                    >= floor
            })
            .cloned()
            .collect();
        let after: usize = body["after"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        if after >= state.cap {
            return (StatusCode::BAD_REQUEST, Json(json!({"status": "error", "message": "The search results exceed the 10000 limit"}))).into_response();
        }
        // HubSpot: at most 200 a page.
        let limit = body["limit"].as_u64().unwrap_or(10).clamp(1, 200) as usize;
        let page: Vec<Value> = matching.iter().skip(after).take(limit).cloned().collect();
        let mut answer = json!({"total": matching.len(), "results": page});
        if after + limit < matching.len() {
            answer["paging"] =
                json!({"next": {"after": (after + limit).to_string(), "link": "?after=…"}});
        }
        Json(answer).into_response()
    }
    async fn associations(Path(id): Path<String>) -> Json<Value> {
        Json(
            json!({"results": [{"toObjectId": format!("9{id}"), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3}]}]}),
        )
    }
    async fn contact(
        Path(id): Path<String>,
        Query(query): Query<HashMap<String, String>>,
    ) -> Response {
        if query.get("properties").map(String::as_str) != Some("email,firstname,lastname") {
            return (StatusCode::BAD_REQUEST, format!("properties: {query:?}")).into_response();
        }
        Json(json!({"id": id, "properties": {"email": format!("c{id}@example.com"), "firstname": "Chris", "lastname": "Client"}})).into_response()
    }
    async fn files(State(state): State<S>, multipart: Multipart) -> Response {
        let received = parts(multipart).await;
        state.lock().unwrap().uploads.push(received);
        (
            StatusCode::CREATED,
            Json(json!({"id": "file-777", "name": "x", "access": "PRIVATE"})),
        )
            .into_response()
    }
    async fn notes(State(state): State<S>, Json(body): Json<Value>) -> Response {
        state.lock().unwrap().notes.push(body);
        (StatusCode::CREATED, Json(json!({"id": "note-1"}))).into_response()
    }
    // More deals in the stage than one search may return (HubSpot caps a query at 10,000
    // results), so the shipped definition's `restart_after: 10000` has to start a second query
    // from a later floor. Deal `i` was last changed `i` hours after 2025-06-01.
    const DEALS: usize = 10_007;
    let changed = |i: usize| {
        (chrono::DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z").unwrap()
            + chrono::Duration::hours(i as i64))
        .with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let deals: Vec<Value> = (1..=DEALS)
        .map(|i| json!({"id": format!("{i}"), "properties": {"dealname": format!("Deal {i}"), "dealstage": "contractsent", "hs_lastmodifieddate": changed(i)}, "archived": false}))
        .chain(std::iter::once(json!({"id": "99999", "properties": {"dealname": "Other", "dealstage": "qualified", "hs_lastmodifieddate": changed(2)}})))
        .collect();
    let state: S = Arc::new(Mutex::new(Hub {
        deals,
        cap: 10_000,
        ..Hub::default()
    }));
    let base = serve(
        Router::new()
            .route("/crm/v3/objects/deals/search", post(search))
            .route(
                "/crm/v4/objects/deals/{id}/associations/contacts",
                get(associations),
            )
            .route("/crm/v3/objects/contacts/{id}", get(contact))
            .route("/files/v3/files", post(files))
            .route("/crm/v3/objects/notes", post(notes))
            .with_state(state.clone()),
    )
    .await;
    // The shipped definition, with its request budget lifted as a source's
    // `requests_per_second: 0` does (10,007 deals hydrated at the shipped 4/s would take two
    // hours; the end-to-end tests run at the shipped budget).
    let mut definition = load_definition(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("connectors/hubspot.yaml"),
    )
    .unwrap();
    assert_eq!(definition.throttle.requests_per_second, 4.0);
    definition.throttle.requests_per_second = 0.0;
    let connector = Arc::new(connector_of(
        definition,
        "hubspot.yaml",
        &[("access_token", "pat-123"), ("stage_id", "contractsent")],
        Some(&base),
    ));

    let c = connector.clone();
    let (records, cursor) = blocking(move || c.read("deals", None).map(|b| (b.records, b.cursor)))
        .await
        .unwrap();
    let mut ids: Vec<usize> = records.iter().map(|r| r.id.parse().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids,
        (1..=DEALS).collect::<Vec<_>>(),
        "every deal, past the cap, only the stage"
    );
    assert_eq!(
        records[0].data["contact"]["email"], "c91@example.com",
        "hydrated through the association"
    );
    assert_eq!(
        cursor.as_deref(),
        Some(changed(DEALS).replace(".000Z", "Z").as_str())
    );
    {
        let state = state.lock().unwrap();
        assert!(
            state.searches.len() > 10_000 / 200,
            "fifty pages and a second query from a later floor"
        );
        let first = &state.searches[0];
        assert_eq!(first["sorts"][0]["propertyName"], "hs_lastmodifieddate");
        assert_eq!(first["limit"], 200);
        assert_eq!(state.searches[1]["after"], "200");
        assert!(
            state.searches.iter().all(|s| s["after"]
                .as_str()
                .unwrap_or("0")
                .parse::<usize>()
                .unwrap()
                < 10_000),
            "never asked past the cap"
        );
        let floors: Vec<&str> = state
            .searches
            .iter()
            .map(|s| {
                s["filterGroups"][0]["filters"][1]["value"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert!(
            floors
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len()
                >= 2,
            "the floor slid: {floors:?}"
        );
    }
    // Resumed from the stored cursor (minus the 2-minute lookback): only the newest deal again.
    let c = connector.clone();
    let stored = cursor.clone();
    let (again, _) = blocking(move || {
        c.read("deals", stored.as_deref())
            .map(|b| (b.records, b.cursor))
    })
    .await
    .unwrap();
    let newest = DEALS.to_string();
    assert_eq!(
        again.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec![newest.as_str()]
    );
    assert_eq!(
        again[0].version,
        records.iter().find(|r| r.id == newest).unwrap().version
    );

    let c = connector.clone();
    let record = records[0].data.clone();
    blocking(move || c.write_back(&outcome(&record, "1", b"%PDF-hub")))
        .await
        .unwrap();
    let state = state.lock().unwrap();
    let upload = &state.uploads[0];
    assert_eq!(part(upload, "file").3, b"%PDF-hub");
    assert_eq!(part(upload, "options").3, br#"{"access":"PRIVATE"}"#);
    assert_eq!(part(upload, "folderPath").3, b"/signbridge");
    let note = &state.notes[0];
    assert_eq!(
        note["properties"]["hs_attachment_ids"], "file-777",
        "the first step's id"
    );
    assert_eq!(note["associations"][0]["to"]["id"], "1");
    assert_eq!(
        note["associations"][0]["types"][0]["associationTypeId"],
        214
    );
    assert!(
        note["properties"]["hs_timestamp"].as_i64().is_some()
            || note["properties"]["hs_timestamp"].as_str().is_some()
    );
}

// ---------------------------------------------------------------------------------------------
// Salesforce: client-credentials token with instance_url; SOQL query with nextRecordsUrl;
// 403 REQUEST_LIMIT_EXCEEDED as throttling; 401 → new token once; ContentVersion multipart.

#[tokio::test]
async fn salesforce_queries_follows_next_urls_refreshes_and_uploads_content_versions() {
    #[derive(Default)]
    struct Sf {
        base: String,
        tokens: usize,
        valid: String,
        limit_once: bool,
        expire_once: bool,
        queries: Vec<String>,
        uploads: Vec<Vec<ReceivedPart>>,
    }
    type S = Arc<Mutex<Sf>>;
    async fn token(State(state): State<S>, body: String) -> Response {
        let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
        if form.get("grant_type").map(String::as_str) != Some("client_credentials")
            || form.get("client_id").map(String::as_str) != Some("sf-id")
        {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_client"})),
            )
                .into_response();
        }
        let mut state = state.lock().unwrap();
        state.tokens += 1;
        state.valid = format!("00Dtoken{}", state.tokens);
        Json(json!({"access_token": state.valid, "instance_url": state.base, "token_type": "Bearer", "issued_at": "1"})).into_response()
    }
    fn opportunity(i: u32) -> Value {
        json!({"attributes": {"type": "Opportunity", "url": format!("/services/data/v62.0/sobjects/Opportunity/006{i}")}, "Id": format!("006{i}"), "Name": format!("Opp {i}"), "StageName": "Closed Won", "SystemModstamp": format!("2026-11-0{i}T10:00:00.000+0000")})
    }
    async fn query(
        State(state): State<S>,
        headers: axum::http::HeaderMap,
        Query(params): Query<HashMap<String, String>>,
    ) -> Response {
        let mut state = state.lock().unwrap();
        if state.expire_once {
            state.expire_once = false;
            state.valid = "expired".into();
        }
        if bearer(&headers).as_deref() != Some(state.valid.as_str()) {
            return (StatusCode::UNAUTHORIZED, Json(json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]))).into_response();
        }
        if state.limit_once {
            state.limit_once = false;
            return (StatusCode::FORBIDDEN, Json(json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]))).into_response();
        }
        let soql = params.get("q").cloned().unwrap_or_default();
        state.queries.push(soql.clone());
        // `… AND SystemModstamp > 2026-…Z ORDER BY …`: the floor decides what matches.
        let floor = soql
            .split("SystemModstamp > ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("1970-01-01T00:00:00Z")
            .to_string();
        batch(&floor, 0)
    }
    /// One batch of at most 2 opportunities newer than `floor`, from `offset`.
    fn batch(floor: &str, offset: usize) -> Response {
        let floor = chrono::DateTime::parse_from_rfc3339(floor).unwrap();
        let matching: Vec<Value> = (1..=5)
            .map(opportunity)
            .filter(|o| {
                chrono::DateTime::parse_from_str(
                    o["SystemModstamp"].as_str().unwrap(),
                    "%Y-%m-%dT%H:%M:%S%.3f%z",
                )
                .unwrap()
                    > floor
            })
            .collect();
        let page: Vec<Value> = matching.iter().skip(offset).take(2).cloned().collect();
        let mut answer = json!({"totalSize": matching.len(), "done": offset + 2 >= matching.len(), "records": page});
        if offset + 2 < matching.len() {
            answer["nextRecordsUrl"] = json!(format!(
                "/services/data/v62.0/query/01g-{}-{}",
                offset + 2,
                floor.to_rfc3339()
            ));
        }
        Json(answer).into_response()
    }
    async fn next(
        State(state): State<S>,
        headers: axum::http::HeaderMap,
        Path(locator): Path<String>,
    ) -> Response {
        let state = state.lock().unwrap();
        if bearer(&headers).as_deref() != Some(state.valid.as_str()) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let mut pieces = locator.splitn(3, '-');
        let (_, offset, floor) = (pieces.next(), pieces.next(), pieces.next());
        batch(
            floor.unwrap_or_default(),
            offset.and_then(|o| o.parse().ok()).unwrap_or(0),
        )
    }
    async fn content_version(State(state): State<S>, multipart: Multipart) -> Response {
        let received = parts(multipart).await;
        state.lock().unwrap().uploads.push(received);
        (
            StatusCode::CREATED,
            Json(json!({"id": "068xx", "success": true, "errors": []})),
        )
            .into_response()
    }
    let state: S = Arc::new(Mutex::new(Sf {
        limit_once: true,
        ..Sf::default()
    }));
    let base = serve(
        Router::new()
            .route("/services/oauth2/token", post(token))
            .route("/services/data/v62.0/query", get(query))
            .route("/services/data/v62.0/query/{locator}", get(next))
            .route(
                "/services/data/v62.0/sobjects/ContentVersion",
                post(content_version),
            )
            .with_state(state.clone()),
    )
    .await;
    state.lock().unwrap().base = base.clone();
    // No base URL override: the API base comes from the token's instance_url.
    let connector = Arc::new(shipped_connector(
        "salesforce.yaml",
        &[
            ("my_domain_url", base.as_str()),
            ("client_id", "sf-id"),
            ("client_secret", "sf-secret"),
        ],
        None,
    ));

    let c = connector.clone();
    let (records, cursor) =
        blocking(move || c.read("opportunities", None).map(|b| (b.records, b.cursor)))
            .await
            .unwrap();
    assert_eq!(records.len(), 5, "three batches via nextRecordsUrl");
    assert_eq!(records[4].id, "0065");
    assert_eq!(cursor.as_deref(), Some("2026-11-05T10:00:00Z"));
    {
        let state = state.lock().unwrap();
        assert_eq!(
            state.queries.len(),
            1,
            "the 403 REQUEST_LIMIT_EXCEEDED was retried, then one query"
        );
        assert!(state.queries[0].contains("StageName = 'Closed Won' AND SystemModstamp > 2019-12-31T23:59:00Z ORDER BY SystemModstamp ASC"), "{}", state.queries[0]);
        assert_eq!(state.tokens, 1);
    }
    state.lock().unwrap().expire_once = true;
    let c = connector.clone();
    let (again, _) = blocking(move || {
        c.read("opportunities", cursor.as_deref())
            .map(|b| (b.records, b.cursor))
    })
    .await
    .unwrap();
    // Resumed from the stored cursor (minus the 1-minute lookback): only the newest again.
    assert_eq!(
        again.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec!["0065"]
    );
    assert_eq!(again[0].version, records[4].version);
    assert_eq!(state.lock().unwrap().tokens, 2, "one refresh after the 401");

    let c = connector.clone();
    let record = records[0].data.clone();
    blocking(move || c.write_back(&outcome(&record, "0061", b"%PDF-sf")))
        .await
        .unwrap();
    let state = state.lock().unwrap();
    let upload = &state.uploads[0];
    let entity = part(upload, "entity_content");
    assert_eq!(entity.2.as_deref(), Some("application/json"));
    let entity: Value = serde_json::from_slice(&entity.3).unwrap();
    assert_eq!(entity["FirstPublishLocationId"], "0061");
    assert_eq!(entity["PathOnClient"], "0061-signed.pdf");
    let data = part(upload, "VersionData");
    assert_eq!(data.3, b"%PDF-sf");
    assert_eq!(data.1.as_deref(), Some("0061-signed.pdf"));
}

// ---------------------------------------------------------------------------------------------
// End to end through the real binary with the shipped example mappings: fake system → contract
// → envelope → signed through the signing pages → the signed PDF uploaded back, byte-checked.

mod end_to_end {
    use super::*;
    use crate::common::*;

    fn examples_config(source: &str, connector: &str, base: &str, settings: &str) -> String {
        let root = env!("CARGO_MANIFEST_DIR");
        format!(
            "sources:\n  {source}:\n    connector: {connector}\n    schedule: \"* * * * * *\"\n    base_url: {base}\n    settings:\n{settings}sync:\n  mappings_dir: {root}/examples/mappings\n  connectors_dir: {root}/connectors\n  reconcile_after_secs: 5\n"
        )
    }

    /// Signs invitations until `count` links were signed.
    async fn sign_all(server: &Server, count: usize) {
        let mut signed = std::collections::HashSet::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while signed.len() < count {
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {count} invitations signed",
                signed.len()
            );
            for (_, message) in outbox_messages(&server.data_dir()) {
                let Some(link) = sign_link(&message) else {
                    continue;
                };
                if signed.contains(&link) {
                    continue;
                }
                let (status, _) = server.sign(&link, "Signer").await;
                if status == 303 {
                    signed.insert(link);
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    async fn signed_document_of_only_envelope(server: &Server) -> Vec<u8> {
        let key = std::fs::read_to_string(server.data_dir().join("sync/api-key")).unwrap();
        let listed: Value = server
            .http
            .get(server.url("/envelopes"))
            .bearer_auth(key.trim())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let envelopes = listed["data"].as_array().unwrap();
        assert_eq!(envelopes.len(), 1, "{listed}");
        let id = envelopes[0]["id"].as_str().unwrap();
        server
            .http
            .get(server.url(&format!("/envelopes/{id}/signed-document")))
            .bearer_auth(key.trim())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    async fn bamboo_changed(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
        let _ = query;
        Json(
            json!({"latest": "2026-11-20T09:00:00+00:00", "employees": {"3": {"id": "3", "action": "Inserted", "lastChanged": "2026-11-20T09:00:00+00:00"}}}),
        )
    }

    async fn bamboo_employee(Path(id): Path<String>) -> Json<Value> {
        Json(
            json!({"id": id, "firstName": "Łukasz", "lastName": "Nowak", "workEmail": "lukasz.nowak@example.com", "jobTitle": "Firmware Engineer", "department": "R&D", "location": "Paris", "hireDate": "2027-01-04"}),
        )
    }

    async fn bamboo_files(
        State(fake): State<Shared>,
        Path(id): Path<String>,
        multipart: Multipart,
    ) -> Response {
        let received = parts(multipart).await;
        let mut fake = fake.lock().unwrap();
        fake.requests.push((
            "POST".into(),
            format!("/api/v1/employees/{id}/files"),
            HashMap::new(),
        ));
        fake.uploads.push(received);
        StatusCode::CREATED.into_response()
    }

    #[tokio::test]
    async fn a_bamboohr_new_hire_comes_back_with_the_signed_contract() {
        let fake: Shared = Arc::new(Mutex::new(Fake::default()));
        let base = serve(
            Router::new()
                .route("/api/v1/employees/changed", get(bamboo_changed))
                .route("/api/v1/employees/{id}", get(bamboo_employee))
                .route("/api/v1/employees/{id}/files", post(bamboo_files))
                .with_state(fake.clone()),
        )
        .await;
        let config = examples_config(
            "bamboohr",
            "bamboohr",
            &base,
            "      company_domain: acme\n      api_key: bamboo-key\n      file_category: \"12\"\n",
        );
        let server = Server::start_with_config(Some(&config)).await;
        sign_all(&server, 2).await;
        let upload = eventually(60, || {
            let fake = fake.clone();
            async move { fake.lock().unwrap().uploads.first().cloned() }
        })
        .await;
        let signed = signed_document_of_only_envelope(&server).await;
        assert_eq!(
            part(&upload, "file").3,
            signed,
            "the PDF filed in BambooHR is the signed document, byte for byte"
        );
        assert_eq!(part(&upload, "category").3, b"12");
        assert_eq!(part(&upload, "fileName").3, b"3-signed.pdf");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("filed.pdf");
        std::fs::write(&path, &signed).unwrap();
        let report = String::from_utf8_lossy(
            &std::process::Command::new("pdfsig")
                .arg(&path)
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned();
        assert!(report.contains("Signature is Valid."), "{report}");
        let text = String::from_utf8_lossy(
            &std::process::Command::new("pdftotext")
                .arg(&path)
                .arg("-")
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned();
        assert!(
            text.contains("Łukasz Nowak") && text.contains("Firmware Engineer"),
            "{text}"
        );
    }

    async fn hub_search(Json(body): Json<Value>) -> Json<Value> {
        let _ = body;
        Json(
            json!({"total": 1, "results": [{"id": "512", "properties": {"dealname": "Warehouse automation pilot", "dealstage": "contractsent", "amount": "70500", "hs_lastmodifieddate": "2026-11-20T09:00:00.000Z", "hubspot_owner_id": "77"}, "archived": false}]}),
        )
    }

    async fn hub_associations(Path(id): Path<String>) -> Json<Value> {
        let _ = id;
        Json(
            json!({"results": [{"toObjectId": "901", "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3}]}]}),
        )
    }

    async fn hub_contact(Path(id): Path<String>) -> Json<Value> {
        Json(
            json!({"id": id, "properties": {"email": "jonas.weber@example.com", "firstname": "Jonas", "lastname": "Weber"}}),
        )
    }

    async fn hub_owner(Path(id): Path<String>) -> Json<Value> {
        Json(
            json!({"id": id, "email": "sales@acme-robotics.example", "firstName": "Sam", "lastName": "Seller"}),
        )
    }

    async fn hub_files(State(fake): State<Shared>, multipart: Multipart) -> Response {
        let received = parts(multipart).await;
        fake.lock().unwrap().uploads.push(received);
        (
            StatusCode::CREATED,
            Json(json!({"id": "file-31", "access": "PRIVATE"})),
        )
            .into_response()
    }

    async fn hub_notes(State(fake): State<Shared>, Json(body): Json<Value>) -> Response {
        fake.lock().unwrap().records.push(body);
        (StatusCode::CREATED, Json(json!({"id": "note-9"}))).into_response()
    }

    #[tokio::test]
    async fn a_hubspot_deal_comes_back_with_the_signed_agreement_attached() {
        let fake: Shared = Arc::new(Mutex::new(Fake::default()));
        let base = serve(
            Router::new()
                .route("/crm/v3/objects/deals/search", post(hub_search))
                .route(
                    "/crm/v4/objects/deals/{id}/associations/contacts",
                    get(hub_associations),
                )
                .route("/crm/v3/objects/contacts/{id}", get(hub_contact))
                .route("/crm/v3/owners/{id}", get(hub_owner))
                .route("/files/v3/files", post(hub_files))
                .route("/crm/v3/objects/notes", post(hub_notes))
                .with_state(fake.clone()),
        )
        .await;
        let config = examples_config(
            "hubspot",
            "hubspot",
            &base,
            "      access_token: pat-e2e\n      stage_id: contractsent\n",
        );
        let server = Server::start_with_config(Some(&config)).await;
        sign_all(&server, 1).await;
        let note = eventually(60, || {
            let fake = fake.clone();
            async move { fake.lock().unwrap().records.first().cloned() }
        })
        .await;
        let upload = fake.lock().unwrap().uploads[0].clone();
        let signed = signed_document_of_only_envelope(&server).await;
        assert_eq!(part(&upload, "file").3, signed, "byte for byte");
        assert_eq!(note["properties"]["hs_attachment_ids"], "file-31");
        assert_eq!(note["associations"][0]["to"]["id"], "512");
        // The owner got a copy (carbon copy), the contact the invitation.
        let messages = outbox_messages(&server.data_dir());
        assert!(messages
            .iter()
            .any(|(_, m)| m.contains("jonas.weber@example.com")));
    }
}

mod pushes_and_validation {
    use super::*;
    use crate::common::*;

    async fn people() -> Json<Value> {
        Json(
            json!({"employees": [{"id": "1", "email": "a@example.com", "firstName": "A", "surname": "B"}]}),
        )
    }

    #[tokio::test]
    async fn source_pushes_are_verified_by_their_connector() {
        let base = serve(Router::new().route("/v1/people/search", post(people))).await;
        let root = env!("CARGO_MANIFEST_DIR");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("mappings")).unwrap();
        std::fs::create_dir_all(dir.path().join("records")).unwrap();
        std::fs::write(
            dir.path().join("mappings/t.md.hbs"),
            "# Hi {{firstName}}\n\n{{signature \"e\" \"E\"}}\n",
        )
        .unwrap();
        for (name, source) in [("bob.yaml", "bob"), ("files.yaml", "files")] {
            std::fs::write(
                dir.path().join("mappings").join(name),
                format!("source: {source}\nstream: {}\ntemplate: t.md.hbs\nsubject: Hi\nrecipients:\n  - email: \"{{{{email}}}}\"\n    name: x\n", if source == "bob" { "people" } else { "records" }),
            )
            .unwrap();
        }
        let config = format!(
            "sources:\n  bob:\n    connector: hibob\n    schedule: \"0 0 * * * *\"\n    base_url: {base}\n    settings:\n      service_user_id: u\n      service_user_token: t\n      webhook_secret: bob-secret\n  files:\n    connector: folder\n    path: {d}/records\nsync:\n  mappings_dir: {d}/mappings\n  connectors_dir: {root}/connectors\n",
            d = dir.path().display()
        );
        let server = Server::start_with_config(Some(&config)).await;
        let hook = |source: &str| format!("{}/hooks/sources/{source}", server.base());
        let body = json!({"type": "employee.updated", "creationDate": chrono::Utc::now().to_rfc3339(), "employee": {"id": "1"}}).to_string();
        let signature = {
            use base64::Engine;
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(b"bob-secret").unwrap();
            mac.update(body.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        };
        let send = |source: String, body: String, signature: &str| {
            server
                .http
                .post(source)
                .header("Bob-Signature", signature)
                .body(body)
                .send()
        };
        assert_eq!(
            send(hook("bob"), body.clone(), &signature)
                .await
                .unwrap()
                .status(),
            200,
            "valid"
        );
        assert_eq!(
            send(hook("bob"), body.clone(), "AAAA")
                .await
                .unwrap()
                .status(),
            401,
            "forged"
        );
        assert_eq!(
            send(hook("files"), body.clone(), &signature)
                .await
                .unwrap()
                .status(),
            404,
            "a folder takes no pushes"
        );
        assert_eq!(
            send(hook("nope"), body, &signature).await.unwrap().status(),
            404
        );
    }

    /// `validate` without `--no-environment` makes one authenticated request per source: right
    /// credentials pass; a wrong token or a closed port is exit 78 naming the source's line.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn validate_checks_each_source_against_the_live_system() {
        async fn search(headers: axum::http::HeaderMap) -> Response {
            if bearer(&headers).as_deref() == Some("pat-good") {
                Json(json!({"total": 0, "results": []})).into_response()
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"status": "error", "category": "INVALID_AUTHENTICATION"})),
                )
                    .into_response()
            }
        }
        let base = serve(Router::new().route("/crm/v3/objects/deals/search", post(search))).await;
        let root = env!("CARGO_MANIFEST_DIR");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("mappings")).unwrap();
        let validate = |base: &str, token: &str| {
            let config = dir.path().join("signbridge.yaml");
            std::fs::write(
                &config,
                format!(
                    "sync:\n  mappings_dir: {d}/mappings\n  connectors_dir: {root}/connectors\nsources:\n  crm:\n    connector: hubspot\n    base_url: {base}\n    settings:\n      access_token: {token}\n      stage_id: contractsent\n",
                    d = dir.path().display()
                ),
            )
            .unwrap();
            let output = std::process::Command::new(BIN)
                .args(["validate", "--config"])
                .arg(&config)
                .output()
                .unwrap();
            (
                output.status.code(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            )
        };
        // (The fake is served by the runtime's workers; this thread may block.)
        let (code, text) = validate(&base, "pat-good");
        assert_eq!(code, Some(0), "{text}");
        for (base, token, expected) in [
            (base.clone(), "pat-wrong", "401"),
            (
                format!("http://127.0.0.1:{}", free_port()),
                "pat-good",
                "crm",
            ),
        ] {
            let (code, text) = validate(&base, token);
            assert_eq!(code, Some(78), "{text}");
            assert!(
                text.contains("signbridge.yaml:5:3: source `crm`") && text.contains(expected),
                "{text}"
            );
        }
    }

    #[test]
    fn validate_reports_a_broken_connector_file_with_its_position() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("connectors")).unwrap();
        std::fs::create_dir_all(dir.path().join("mappings")).unwrap();
        std::fs::write(dir.path().join("connectors/crm.yaml"), "base_url: https://x\nauth:\n  type: bearer\n  token: t\nstreams:\n  deals:\n    request:\n      path: /deals\n    paginatr: {type: none}\n").unwrap();
        let config = dir.path().join("signbridge.yaml");
        std::fs::write(
            &config,
            format!(
                "sync:\n  mappings_dir: {d}/mappings\n  connectors_dir: {d}/connectors\n",
                d = dir.path().display()
            ),
        )
        .unwrap();
        let output = std::process::Command::new(BIN)
            .args(["validate", "--no-environment", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(78), "{text}");
        assert!(
            text.contains("crm.yaml:9:5") && text.contains("paginatr"),
            "{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Broken records: one record of a read that the source showed but could not give whole (its own
// hydration call refused, no id, no or an unreadable version) is set aside in `broken` with the
// precise reason; the rest of the read goes on and the cursor still moves. `reread` tries it
// again once the source is fixed.

pub(crate) mod broken_records {
    use super::*;

    /// Where every shipped cursor starts when none is stored.
    const START: &str = "2020-01-01T00:00:00Z";

    // -- Pipedrive ------------------------------------------------------------------------------

    /// A Pipedrive account: deals listed two a page; persons that may be gone (404).
    #[derive(Default)]
    pub(crate) struct Pipedrive {
        pub(crate) deals: Vec<Value>,
        pub(crate) gone_persons: Vec<String>,
        /// When set, the listing answers this status (200: an HTML page) instead of deals.
        pub(crate) listing_fails: Option<u16>,
    }
    pub(crate) type P = Arc<Mutex<Pipedrive>>;

    pub(crate) async fn pipedrive_deals(
        State(state): State<P>,
        Query(query): Query<HashMap<String, String>>,
    ) -> Response {
        let state = state.lock().unwrap();
        match state.listing_fails {
            Some(200) => {
                return (
                    StatusCode::OK,
                    [("content-type", "text/html; charset=utf-8")],
                    "<!DOCTYPE html><html><body><h1>Down for maintenance</h1></body></html>",
                )
                    .into_response()
            }
            Some(status) => {
                let status = StatusCode::from_u16(status).unwrap();
                return (
                    status,
                    Json(json!({"success": false, "error": status.canonical_reason(), "errorCode": status.as_u16()})),
                )
                    .into_response();
            }
            None => {}
        }
        let start: usize = query
            .get("cursor")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let page: Vec<Value> = state.deals.iter().skip(start).take(2).cloned().collect();
        let next = if start + 2 < state.deals.len() {
            json!((start + 2).to_string())
        } else {
            Value::Null
        };
        Json(json!({"success": true, "data": page, "additional_data": {"next_cursor": next}}))
            .into_response()
    }

    pub(crate) async fn pipedrive_person(
        State(state): State<P>,
        Path(id): Path<String>,
    ) -> Response {
        if state.lock().unwrap().gone_persons.contains(&id) {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"success": false, "error": "Person not found", "errorCode": 404, "error_info": "Please check developers.pipedrive.com for more information about Pipedrive API."})),
            )
                .into_response();
        }
        Json(json!({"success": true, "data": {"id": id.parse::<u64>().unwrap_or(0), "name": format!("Person {id}"), "emails": [{"value": format!("p{id}@example.com"), "primary": true, "label": "work"}]}})).into_response()
    }

    async fn pipedrive(state: P) -> HttpConnector {
        let base = serve(
            Router::new()
                .route("/api/v2/deals", get(pipedrive_deals))
                .route("/api/v2/persons/{id}", get(pipedrive_person))
                .with_state(state),
        )
        .await;
        connector(
            "pipedrive.yaml",
            &[("company_domain", "acme"), ("api_token", "secret-token")],
            &base,
        )
    }

    /// Pipedrive: the person of deal 2 answers 404, so deal 2 is set aside naming the call and
    /// its status while the three other deals (over two pages) are read and the cursor moves to
    /// the newest of them; `reread` reports it again while the person is gone, and gives the
    /// deal with its person once the person is back.
    #[tokio::test]
    async fn pipedrive_a_deal_whose_person_answers_404_is_broken_then_rereads_whole() {
        let state: P = Arc::new(Mutex::new(Pipedrive {
            deals: vec![
                deal(1, "2026-11-01T10:00:00Z"),
                deal(2, "2026-11-02T10:00:00Z"),
                deal(3, "2026-11-03T10:00:00Z"),
                deal(4, "2026-11-04T10:00:00Z"),
            ],
            gone_persons: vec!["102".into()],
            ..Pipedrive::default()
        }));
        let connector = Arc::new(pipedrive(state.clone()).await);

        let c = connector.clone();
        let batch = blocking(move || c.read("deals", None)).await.unwrap();
        assert_eq!(batch.records.len(), 3, "{:?}", batch.records);
        assert_eq!(
            batch
                .records
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            vec!["1", "3", "4"]
        );
        assert_eq!(
            batch.records[1].data["person"]["emails"][0]["value"],
            "p103@example.com"
        );
        assert_eq!(batch.broken.len(), 1, "{:?}", batch.broken);
        let broken = &batch.broken[0];
        assert_eq!(broken.id.as_deref(), Some("2"));
        assert!(
            broken
                .reason
                .contains("pipedrive deals: GET /api/v2/persons/102: HTTP 404")
                && broken.reason.contains("Person not found"),
            "{}",
            broken.reason
        );
        assert_eq!(broken.version, "2026-11-02T10:00:00Z");
        assert_eq!(broken.data["person_id"], 102, "what was listed");
        assert_eq!(batch.cursor.as_deref(), Some("2026-11-04T10:00:00Z"));
        assert_ne!(batch.cursor.as_deref(), Some(START));

        // Still gone: the same call, the same status.
        let c = connector.clone();
        let data = broken.data.clone();
        let error = blocking(move || c.reread("deals", &data))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SourceError::BadRecord(m) if m.contains("GET /api/v2/persons/102: HTTP 404")),
            "{error}"
        );

        // The source fixed it: the deal comes whole, with its person.
        state.lock().unwrap().gone_persons.clear();
        let c = connector.clone();
        let data = broken.data.clone();
        let record = blocking(move || c.reread("deals", &data)).await.unwrap();
        assert_eq!(record.id, "2");
        assert_eq!(record.version, "2026-11-02T10:00:00Z");
        assert_eq!(record.data["title"], "Deal 2");
        assert_eq!(
            record.data["person"]["emails"][0]["value"],
            "p102@example.com"
        );

        // The newest deal broken: it is recorded (needing attention), so the cursor passes it
        // like any other and the next run does not list it again.
        state.lock().unwrap().gone_persons.push("104".into());
        let c = connector.clone();
        let batch = blocking(move || c.read("deals", None)).await.unwrap();
        assert_eq!(batch.broken.len(), 1);
        assert_eq!(batch.broken[0].id.as_deref(), Some("4"));
        assert_eq!(batch.cursor.as_deref(), Some("2026-11-04T10:00:00Z"));
    }

    /// Pipedrive: a listing answering 500 fails the read as `Unavailable`, one answering 401 as
    /// `Config`, and a 200 with an HTML page as `Unavailable` saying it is not valid JSON; each
    /// names the page.
    #[tokio::test]
    async fn a_listing_answering_500_401_or_html_fails_the_read_by_its_class() {
        let state: P = Arc::new(Mutex::new(Pipedrive {
            deals: vec![deal(1, "2026-11-01T10:00:00Z")],
            ..Pipedrive::default()
        }));
        let connector = Arc::new(pipedrive(state.clone()).await);
        let read = |status: u16| {
            state.lock().unwrap().listing_fails = Some(status);
            let c = connector.clone();
            blocking(move || c.read("deals", None))
        };

        let error = read(500).await.unwrap_err();
        assert!(
            matches!(&error, SourceError::Unavailable(m) if m.contains("pipedrive deals page 1") && m.contains("HTTP 500")),
            "{error:?}"
        );
        let error = read(401).await.unwrap_err();
        assert!(
            matches!(&error, SourceError::Config(m) if m.contains("pipedrive deals page 1") && m.contains("HTTP 401")),
            "{error:?}"
        );
        let error = read(200).await.unwrap_err();
        assert!(
            matches!(&error, SourceError::Unavailable(m) if m.contains("pipedrive deals page 1") && m.contains("not valid JSON")),
            "{error:?}"
        );
    }

    /// Pipedrive: a listing answering 404 (a wrong path or account) or 403 (a token without
    /// access) is not about one record: the read fails as `Config`, not `BadRecord` (which
    /// `errors.record` means for a record's own hydration call).
    #[tokio::test]
    async fn a_listing_answering_404_or_403_is_a_configuration_error() {
        let state: P = Arc::new(Mutex::new(Pipedrive::default()));
        let connector = Arc::new(pipedrive(state.clone()).await);
        let mut misclassified = Vec::new();
        for status in [404, 403] {
            state.lock().unwrap().listing_fails = Some(status);
            let c = connector.clone();
            let error = blocking(move || c.read("deals", None)).await.unwrap_err();
            if !matches!(&error, SourceError::Config(m) if m.contains(&format!("HTTP {status}"))) {
                misclassified.push(format!("listing {status}: {error:?}"));
            }
        }
        assert!(misclassified.is_empty(), "{misclassified:#?}");
    }

    // -- BambooHR -------------------------------------------------------------------------------

    /// A BambooHR company: changed employees (ids only) and employees the key may not read.
    #[derive(Default)]
    struct Bamboo {
        changes: Vec<Value>,
        refused: Vec<String>,
    }
    type B = Arc<Mutex<Bamboo>>;

    async fn bamboo_changed(State(state): State<B>) -> Json<Value> {
        let employees: serde_json::Map<String, Value> = state
            .lock()
            .unwrap()
            .changes
            .iter()
            .map(|e| (e["id"].as_str().unwrap().to_string(), e.clone()))
            .collect();
        Json(json!({"latest": "2026-11-03T10:00:00+00:00", "employees": employees}))
    }

    async fn bamboo_employee(State(state): State<B>, Path(id): Path<String>) -> Response {
        if state.lock().unwrap().refused.contains(&id) {
            // BambooHR: 403 with the reason in a header and an empty body.
            return (
                StatusCode::FORBIDDEN,
                [(
                    "x-bamboohr-error-message",
                    "You do not have access to this employee",
                )],
            )
                .into_response();
        }
        Json(json!({"id": id, "firstName": format!("First{id}"), "lastName": "Nowak", "workEmail": format!("e{id}@example.com"), "jobTitle": "Engineer", "hireDate": "2027-01-04"})).into_response()
    }

    /// BambooHR: employee 4's own call answers 403, so it is set aside naming the call and the
    /// status while employees 3 and 5 are read (the deleted one skipped) and the cursor moves;
    /// once readable, `reread` gives employee 4 with its fields.
    #[tokio::test]
    async fn bamboohr_an_employee_answering_403_is_broken_then_rereads_whole() {
        let state: B = Arc::new(Mutex::new(Bamboo {
            changes: vec![
                json!({"id": "3", "action": "Inserted", "lastChanged": "2026-11-01T10:00:00+00:00"}),
                json!({"id": "4", "action": "Updated", "lastChanged": "2026-11-02T10:00:00+00:00"}),
                json!({"id": "5", "action": "Updated", "lastChanged": "2026-11-03T10:00:00+00:00"}),
                json!({"id": "6", "action": "Deleted", "lastChanged": "2026-11-03T11:00:00+00:00"}),
            ],
            refused: vec!["4".into()],
        }));
        let base = serve(
            Router::new()
                .route("/api/v1/employees/changed", get(bamboo_changed))
                .route("/api/v1/employees/{id}", get(bamboo_employee))
                .with_state(state.clone()),
        )
        .await;
        let connector = Arc::new(connector(
            "bamboohr.yaml",
            &[
                ("company_domain", "acme"),
                ("api_key", "bamboo-key"),
                ("file_category", "12"),
            ],
            &base,
        ));

        let c = connector.clone();
        let batch = blocking(move || c.read("employees", None)).await.unwrap();
        let mut ids: Vec<&str> = batch.records.iter().map(|r| r.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, vec!["3", "5"], "the deleted one skipped, 4 broken");
        assert!(batch
            .records
            .iter()
            .all(|r| r.data["employee"]["workEmail"] == format!("e{}@example.com", r.id)));
        assert_eq!(batch.broken.len(), 1, "{:?}", batch.broken);
        let broken = &batch.broken[0];
        assert_eq!(broken.id.as_deref(), Some("4"));
        assert!(
            broken
                .reason
                .contains("bamboohr employees: GET /api/v1/employees/4: HTTP 403"),
            "{}",
            broken.reason
        );
        assert_eq!(broken.version, "2026-11-02T10:00:00+00:00");
        assert_eq!(batch.cursor.as_deref(), Some("2026-11-03T10:00:00Z"));
        assert_ne!(batch.cursor.as_deref(), Some(START));

        state.lock().unwrap().refused.clear();
        let c = connector.clone();
        let data = broken.data.clone();
        let record = blocking(move || c.reread("employees", &data))
            .await
            .unwrap();
        assert_eq!(record.id, "4");
        assert_eq!(record.version, "2026-11-02T10:00:00+00:00");
        assert_eq!(record.data["employee"]["workEmail"], "e4@example.com");
        assert_eq!(record.data["employee"]["firstName"], "First4");
    }

    // -- Personio -------------------------------------------------------------------------------

    /// One Personio v1 employee, every attribute wrapped in {label, value, type, universal_id};
    /// without `last_modified_at` when `modified` is `None`.
    pub(crate) fn personio_employee(id: u64, modified: Option<&str>) -> Value {
        let mut attributes = json!({
            "id": {"label": "ID", "value": id, "type": "integer", "universal_id": "id"},
            "first_name": {"label": "First name", "value": format!("Anna{id}"), "type": "standard", "universal_id": "first_name"},
            "email": {"label": "Email", "value": format!("anna{id}@example.com"), "type": "standard", "universal_id": "email"},
        });
        if let Some(modified) = modified {
            attributes["last_modified_at"] = json!({"label": "Last modified", "value": modified, "type": "date", "universal_id": "last_modified_at"});
        }
        json!({"type": "Employee", "attributes": attributes})
    }

    /// Personio: employee 2 comes without `last_modified_at` (its version and the cursor's
    /// field), so it is set aside naming the field while employees 1 and 3 are read and the
    /// cursor moves to the newer of them; `reread` of what was read reports the same.
    #[tokio::test]
    async fn personio_an_employee_without_last_modified_at_is_broken() {
        async fn auth(Json(body): Json<Value>) -> Response {
            if body["client_id"] != "pid" || body["client_secret"] != "psecret" {
                return (StatusCode::UNAUTHORIZED, Json(json!({"success": false}))).into_response();
            }
            Json(json!({"success": true, "data": {"token": "papi-token-1"}})).into_response()
        }
        async fn employees(
            headers: axum::http::HeaderMap,
            Query(query): Query<HashMap<String, String>>,
        ) -> Response {
            if bearer(&headers).as_deref() != Some("papi-token-1") {
                return (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"success": false, "error": {"message": "token invalid"}})),
                )
                    .into_response();
            }
            let all = [
                personio_employee(1, Some("2026-11-01T09:00:00+01:00")),
                personio_employee(2, None),
                personio_employee(3, Some("2026-11-03T09:00:00+01:00")),
            ];
            let offset: usize = query
                .get("offset")
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            let limit: usize = query
                .get("limit")
                .and_then(|o| o.parse().ok())
                .unwrap_or(50)
                .clamp(1, 100);
            let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
            Json(json!({"success": true, "metadata": {"total_elements": all.len(), "current_page": offset / limit, "total_pages": all.len().div_ceil(limit)}, "offset": offset, "limit": limit, "data": page})).into_response()
        }
        let base = serve(
            Router::new()
                .route("/v1/auth", post(auth))
                .route("/v1/company/employees", get(employees)),
        )
        .await;
        let connector = Arc::new(connector(
            "personio.yaml",
            &[
                ("client_id", "pid"),
                ("client_secret", "psecret"),
                ("document_category_id", "55"),
            ],
            &base,
        ));

        let c = connector.clone();
        let batch = blocking(move || c.read("employees", None)).await.unwrap();
        assert_eq!(
            batch
                .records
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            vec!["1", "3"]
        );
        assert_eq!(batch.records[1].data["attributes"]["first_name"], "Anna3");
        assert_eq!(batch.broken.len(), 1, "{:?}", batch.broken);
        let broken = &batch.broken[0];
        assert_eq!(broken.id.as_deref(), Some("2"));
        assert!(
            broken
                .reason
                .contains("record 2 has no `attributes.last_modified_at`"),
            "{}",
            broken.reason
        );
        assert!(!broken.version.is_empty(), "a hash of what was read");
        assert_eq!(
            broken.data["attributes"]["email"], "anna2@example.com",
            "what was read, unwrapped"
        );
        // 09:00 in Berlin (+01:00) is 08:00 UTC.
        assert_eq!(batch.cursor.as_deref(), Some("2026-11-03T08:00:00Z"));
        assert_ne!(batch.cursor.as_deref(), Some(START));

        let c = connector.clone();
        let data = broken.data.clone();
        let error = blocking(move || c.reread("employees", &data))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SourceError::BadRecord(m) if m.contains("has no `attributes.last_modified_at`")),
            "{error}"
        );
    }

    // -- HiBob ----------------------------------------------------------------------------------

    /// HiBob (a full scan, no cursor): one person comes without `id`, so it is set aside without
    /// an id, naming the missing field, while the three others are read.
    #[tokio::test]
    async fn hibob_a_person_without_an_id_is_broken() {
        async fn search(headers: axum::http::HeaderMap, Json(body): Json<Value>) -> Response {
            if basic_user(&headers) != Some(("svc-user".into(), "svc-token".into())) {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            let _ = body;
            let person = |id: Option<&str>, i: u32| {
                let mut person = json!({"email": format!("bob{i}@example.com"), "firstName": format!("Bo{i}"), "surname": "Brown", "displayName": format!("Bo{i} Brown"), "work": {"title": "Engineer", "startDate": "2027-01-04", "department": "R&D"}});
                if let Some(id) = id {
                    person["id"] = json!(id);
                }
                person
            };
            Json(json!({"employees": [
                person(Some("300001"), 1),
                person(None, 2),
                person(Some("300003"), 3),
                person(Some("300004"), 4),
            ]}))
            .into_response()
        }
        let base = serve(Router::new().route("/v1/people/search", post(search))).await;
        let connector = Arc::new(connector(
            "hibob.yaml",
            &[
                ("service_user_id", "svc-user"),
                ("service_user_token", "svc-token"),
            ],
            &base,
        ));

        let c = connector.clone();
        let batch = blocking(move || c.read("people", None)).await.unwrap();
        assert_eq!(
            batch
                .records
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            vec!["300001", "300003", "300004"]
        );
        assert_eq!(batch.broken.len(), 1, "{:?}", batch.broken);
        let broken = &batch.broken[0];
        assert_eq!(broken.id, None, "no id to give");
        assert!(
            broken.reason.contains("hibob people page 1") && broken.reason.contains("has no `id`"),
            "{}",
            broken.reason
        );
        assert_eq!(broken.data["email"], "bob2@example.com");
        assert!(!broken.version.is_empty(), "a hash of what was read");
        // Bob has no "changed since": a full scan each time, so no cursor to move.
        assert_eq!(batch.cursor, None);
    }

    // -- HubSpot --------------------------------------------------------------------------------

    /// A HubSpot portal: deals in one stage; deals whose associations call answers 404; deals
    /// without any contact.
    #[derive(Default)]
    struct Hub {
        deals: Vec<Value>,
        gone_associations: Vec<String>,
        no_contacts: Vec<String>,
    }
    type H = Arc<Mutex<Hub>>;

    async fn hub_search(State(state): State<H>, Json(body): Json<Value>) -> Json<Value> {
        let _ = body;
        let deals = state.lock().unwrap().deals.clone();
        Json(json!({"total": deals.len(), "results": deals}))
    }

    async fn hub_associations(State(state): State<H>, Path(id): Path<String>) -> Response {
        let state = state.lock().unwrap();
        if state.gone_associations.contains(&id) {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"status": "error", "message": format!("Object not found. objectId are usually numeric. id={id}"), "category": "OBJECT_NOT_FOUND"})),
            )
                .into_response();
        }
        if state.no_contacts.contains(&id) {
            return Json(json!({"results": []})).into_response();
        }
        Json(json!({"results": [{"toObjectId": format!("9{id}"), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": null}]}]})).into_response()
    }

    async fn hub_contact(Path(id): Path<String>) -> Json<Value> {
        Json(
            json!({"id": id, "properties": {"email": format!("c{id}@example.com"), "firstname": "Chris", "lastname": "Client"}, "archived": false}),
        )
    }

    async fn hub_owner(Path(id): Path<String>) -> Json<Value> {
        Json(
            json!({"id": id, "email": "sales@example.com", "firstName": "Sam", "lastName": "Seller"}),
        )
    }

    fn hub_deal(id: u32, modified: &str) -> Value {
        json!({"id": id.to_string(), "properties": {"dealname": format!("Deal {id}"), "dealstage": "contractsent", "amount": "70500", "hs_lastmodifieddate": modified, "hubspot_owner_id": "77"}, "archived": false})
    }

    /// HubSpot: the associations call of deal 2 answers 404, so deal 2 is set aside naming the
    /// call and the status; deal 3 has no contact at all and still reads (its contact null,
    /// the contact step being optional); the cursor moves to deal 4; once the associations
    /// answer, `reread` gives deal 2 with its contact.
    #[tokio::test]
    async fn hubspot_a_deal_whose_associations_answer_404_is_broken_then_rereads_whole() {
        let state: H = Arc::new(Mutex::new(Hub {
            deals: vec![
                hub_deal(1, "2026-11-01T09:00:00.000Z"),
                hub_deal(2, "2026-11-02T09:00:00.000Z"),
                hub_deal(3, "2026-11-03T09:00:00.000Z"),
                hub_deal(4, "2026-11-04T09:00:00.000Z"),
            ],
            gone_associations: vec!["2".into()],
            no_contacts: vec!["3".into()],
        }));
        let base = serve(
            Router::new()
                .route("/crm/v3/objects/deals/search", post(hub_search))
                .route(
                    "/crm/v4/objects/deals/{id}/associations/contacts",
                    get(hub_associations),
                )
                .route("/crm/v3/objects/contacts/{id}", get(hub_contact))
                .route("/crm/v3/owners/{id}", get(hub_owner))
                .with_state(state.clone()),
        )
        .await;
        let connector = Arc::new(connector(
            "hubspot.yaml",
            &[("access_token", "pat-123"), ("stage_id", "contractsent")],
            &base,
        ));

        let c = connector.clone();
        let batch = blocking(move || c.read("deals", None)).await.unwrap();
        assert_eq!(
            batch
                .records
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            vec!["1", "3", "4"]
        );
        assert_eq!(batch.records[0].data["contact"]["email"], "c91@example.com");
        assert_eq!(batch.records[0].data["owner"]["email"], "sales@example.com");
        // No contact is not broken: it reads, without one (the mapping's `require:` decides).
        let three = &batch.records[1];
        assert_eq!(three.data["contact_links"], json!([]));
        assert_eq!(three.data["contact"], Value::Null, "{}", three.data);
        assert_eq!(three.data["owner"]["email"], "sales@example.com");
        assert_eq!(batch.broken.len(), 1, "{:?}", batch.broken);
        let broken = &batch.broken[0];
        assert_eq!(broken.id.as_deref(), Some("2"));
        assert!(
            broken.reason.contains(
                "hubspot deals: GET /crm/v4/objects/deals/2/associations/contacts: HTTP 404"
            ) && broken.reason.contains("OBJECT_NOT_FOUND"),
            "{}",
            broken.reason
        );
        assert_eq!(broken.version, "2026-11-02T09:00:00.000Z");
        assert_eq!(batch.cursor.as_deref(), Some("2026-11-04T09:00:00Z"));
        assert_ne!(batch.cursor.as_deref(), Some(START));

        state.lock().unwrap().gone_associations.clear();
        let c = connector.clone();
        let data = broken.data.clone();
        let record = blocking(move || c.reread("deals", &data)).await.unwrap();
        assert_eq!(record.id, "2");
        assert_eq!(record.version, "2026-11-02T09:00:00.000Z");
        assert_eq!(record.data["contact"]["email"], "c92@example.com");
        assert_eq!(record.data["properties"]["dealname"], "Deal 2");
    }

    // -- Salesforce -----------------------------------------------------------------------------

    /// Salesforce: opportunity 0062 comes with a `SystemModstamp` that is not in Salesforce's
    /// format, so it is set aside naming the value and the format while 0061 and 0063 are read
    /// and the cursor moves to 0063.
    #[tokio::test]
    async fn salesforce_an_opportunity_with_an_unreadable_systemmodstamp_is_broken() {
        type S = Arc<Mutex<String>>;
        async fn token(State(base): State<S>, body: String) -> Response {
            let form: HashMap<String, String> =
                serde_urlencoded::from_str(&body).unwrap_or_default();
            if form.get("grant_type").map(String::as_str) != Some("client_credentials")
                || form.get("client_id").map(String::as_str) != Some("sf-id")
            {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": "invalid_client"})),
                )
                    .into_response();
            }
            let base = base.lock().unwrap().clone();
            Json(json!({"access_token": "00Dtoken", "instance_url": base, "token_type": "Bearer", "issued_at": "1"})).into_response()
        }
        async fn query(headers: axum::http::HeaderMap) -> Response {
            if bearer(&headers).as_deref() != Some("00Dtoken") {
                return (StatusCode::UNAUTHORIZED, Json(json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]))).into_response();
            }
            let opportunity = |i: u32, stamp: &str| json!({"attributes": {"type": "Opportunity", "url": format!("/services/data/v62.0/sobjects/Opportunity/006{i}")}, "Id": format!("006{i}"), "Name": format!("Opp {i}"), "StageName": "Closed Won", "SystemModstamp": stamp});
            Json(json!({"totalSize": 3, "done": true, "records": [
                opportunity(1, "2026-11-01T10:00:00.000+0000"),
                opportunity(2, "2026-11-02 10:00:00"),
                opportunity(3, "2026-11-03T10:00:00.000+0000"),
            ]}))
            .into_response()
        }
        let instance: S = Arc::new(Mutex::new(String::new()));
        let base = serve(
            Router::new()
                .route("/services/oauth2/token", post(token))
                .route("/services/data/v62.0/query", get(query))
                .with_state(instance.clone()),
        )
        .await;
        *instance.lock().unwrap() = base.clone();
        let connector = Arc::new(shipped_connector(
            "salesforce.yaml",
            &[
                ("my_domain_url", base.as_str()),
                ("client_id", "sf-id"),
                ("client_secret", "sf-secret"),
            ],
            None,
        ));

        let c = connector.clone();
        let batch = blocking(move || c.read("opportunities", None))
            .await
            .unwrap();
        assert_eq!(
            batch
                .records
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            vec!["0061", "0063"]
        );
        assert_eq!(batch.broken.len(), 1, "{:?}", batch.broken);
        let broken = &batch.broken[0];
        assert_eq!(broken.id.as_deref(), Some("0062"));
        assert!(
            broken.reason.contains("salesforce opportunities page 1")
                && broken.reason.contains(
                    "record 0062: `2026-11-02 10:00:00` is not a time in the `%Y-%m-%dT%H:%M:%S%.3f%z` format"
                ),
            "{}",
            broken.reason
        );
        assert_eq!(broken.version, "2026-11-02 10:00:00", "the field as read");
        assert_eq!(batch.cursor.as_deref(), Some("2026-11-03T10:00:00Z"));
        assert_ne!(batch.cursor.as_deref(), Some(START));
    }
}
