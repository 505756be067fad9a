//! Outgoing SMS through the library (`signbridge::sms`): a fake Twilio on loopback that checks
//! what the real Messages API checks (Basic auth, the Account SID in the path, the form
//! fields) and answers in its documented shapes; the webhook provider against a receiver that
//! verifies both signature schemes; test messages written to the outbox folder, never sent.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use signbridge::clock::{ManualClock, SharedClock};
use signbridge::config::Config;
use signbridge::sms::{Sms, SmsError, SmsMessage};
use std::sync::{Arc, Mutex};

pub(crate) const SID: &str = "AC0123456789abcdef0123456789abcdef";
pub(crate) const TOKEN: &str = "twilio-auth-token-for-tests";
const SERVICE: &str = "MG0123456789abcdef0123456789abcdef";
/// Twilio's documented test number for "invalid To" (error 21211).
const REFUSED: &str = "+15005550001";
/// A number the fake answers 429 for.
const THROTTLED: &str = "+15005550009";
const SIGNER: &str = "+33612345678";
const CODE_TEXT: &str = "Your signbridge code: 482913";

/// One request the fake Twilio accepted past authentication.
#[derive(Debug, Clone)]
pub(crate) struct TwilioRequest {
    pub(crate) content_type: String,
    pub(crate) form: Vec<(String, String)>,
}

#[derive(Default)]
pub(crate) struct FakeTwilio {
    /// Every request that reached the Messages resource, authenticated or not.
    pub(crate) hits: usize,
    pub(crate) received: Vec<TwilioRequest>,
}

pub(crate) type Twilio = Arc<Mutex<FakeTwilio>>;

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    let (user, password) = String::from_utf8(decoded)
        .ok()?
        .split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string()))?;
    Some((user, password))
}

/// Twilio's error answer: `{code, message, more_info, status}`.
fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

async fn create_message(
    State(fake): State<Twilio>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fake.lock().unwrap().hits += 1;
    if basic_auth(&headers) != Some((SID.into(), TOKEN.into())) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    if account != SID {
        return twilio_error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let Ok(form) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return twilio_error(StatusCode::BAD_REQUEST, 20001, "Unreadable form");
    };
    fake.lock().unwrap().received.push(TwilioRequest {
        content_type,
        form: form.clone(),
    });
    let field = |name: &str| form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let Some(to) = field("To") else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number is required.",
        );
    };
    if field("From").is_none() && field("MessagingServiceSid").is_none() {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21603,
            "A 'From' or 'MessagingServiceSid' parameter is required to send a message",
        );
    }
    if to == REFUSED {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    if to == THROTTLED {
        return twilio_error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
    }
    let count = fake.lock().unwrap().received.len();
    let sid = format!("SM{count:032x}");
    let now = "Tue, 27 Nov 2018 16:14:39 +0000";
    (
        StatusCode::CREATED,
        Json(json!({
            "sid": sid,
            "date_created": now,
            "date_updated": now,
            "date_sent": null,
            "account_sid": SID,
            "to": to,
            "from": field("From"),
            "messaging_service_sid": field("MessagingServiceSid"),
            "body": field("Body"),
            "status": if field("MessagingServiceSid").is_some() { "accepted" } else { "queued" },
            "num_segments": "1",
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": null,
            "price_unit": "USD",
            "error_code": null,
            "error_message": null,
            "uri": format!("/2010-04-01/Accounts/{SID}/Messages/{sid}.json"),
            "subresource_uris": {"media": format!("/2010-04-01/Accounts/{SID}/Messages/{sid}/Media.json")},
        })),
    )
        .into_response()
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

pub(crate) async fn fake_twilio() -> (String, Twilio) {
    let fake = Twilio::default();
    let router = Router::new()
        .route(
            "/2010-04-01/Accounts/{sid}/Messages.json",
            post(create_message),
        )
        .with_state(fake.clone());
    (serve(router).await, fake)
}

fn clock() -> (ManualClock, SharedClock) {
    let manual = ManualClock::new("2025-03-14T09:26:53.589Z".parse().unwrap());
    (manual.clone(), Arc::new(manual))
}

fn sms(yaml: &str, dir: &std::path::Path, clock: SharedClock) -> Sms {
    let config = Config::parse("signbridge.yaml", yaml).unwrap();
    Sms::new(&config.sms, dir, clock).unwrap()
}

pub(crate) fn twilio_yaml(base_url: &str, token: &str, from: &str) -> String {
    format!(
        "sms:\n  provider: twilio\n  account_sid: {SID}\n  auth_token: {token}\n  from: \"{from}\"\n  base_url: {base_url}\n  timeout_secs: 5\n"
    )
}

fn live(to: &str) -> SmsMessage {
    SmsMessage {
        to: to.into(),
        body: CODE_TEXT.into(),
        test: false,
    }
}

fn outbox_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(dir.join("outbox").join("sms")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn twilio_gets_the_documented_request_and_its_answers_are_understood() {
    let (base, fake) = fake_twilio().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, clock) = clock();
    let sender = sms(
        &twilio_yaml(&base, TOKEN, "+14155550100"),
        dir.path(),
        clock.clone(),
    );
    assert!(sender.can_send_live());

    let sent = sender.send(&live(SIGNER)).await.unwrap();
    assert_eq!(sent.provider, "twilio");
    assert_eq!(sent.id, format!("SM{:032x}", 1));
    {
        let fake = fake.lock().unwrap();
        let request = &fake.received[0];
        assert_eq!(request.content_type, "application/x-www-form-urlencoded");
        let mut form = request.form.clone();
        form.sort();
        assert_eq!(
            form,
            vec![
                ("Body".to_string(), CODE_TEXT.to_string()),
                ("From".to_string(), "+14155550100".to_string()),
                ("To".to_string(), SIGNER.to_string()),
            ]
        );
    }

    // Twilio's documented 400 for a number it cannot use: a rejection with its code and
    // message, the number masked in it.
    let err = sender.send(&live(REFUSED)).await.unwrap_err();
    match &err {
        SmsError::Rejected {
            status,
            code,
            message,
        } => {
            assert_eq!((*status, *code), (400, Some(21211)));
            assert_eq!(
                message,
                "The 'To' number +15•••••••01 is not a valid phone number."
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("5005550001"), "{err}");

    // Throttled: worth retrying, not a rejection.
    let err = sender.send(&live(THROTTLED)).await.unwrap_err();
    assert!(
        matches!(&err, SmsError::Unavailable(text) if text.contains("429") && text.contains("20429")),
        "{err:?}"
    );

    // A destination that is not E.164 never reaches Twilio.
    let hits = fake.lock().unwrap().hits;
    assert_eq!(hits, 3);
    let err = sender.send(&live("0612345678")).await.unwrap_err();
    assert!(
        matches!(&err, SmsError::InvalidNumber(masked) if masked == "06••••••78"),
        "{err:?}"
    );
    assert_eq!(fake.lock().unwrap().hits, hits);

    // The fake checks the credentials: a wrong token is Twilio's 401, a rejection.
    let wrong = sms(
        &twilio_yaml(&base, "not-the-token", "+14155550100"),
        dir.path(),
        clock,
    );
    let err = wrong.send(&live(SIGNER)).await.unwrap_err();
    assert!(
        matches!(&err, SmsError::Rejected { status: 401, code: Some(20003), message } if message == "Authenticate"),
        "{err:?}"
    );
    assert_eq!(
        fake.lock().unwrap().received.len(),
        3,
        "an unauthenticated request was taken"
    );
    assert!(outbox_files(dir.path()).is_empty());
}

#[tokio::test]
async fn a_messaging_service_sends_as_messaging_service_sid() {
    let (base, fake) = fake_twilio().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, clock) = clock();
    let sender = sms(&twilio_yaml(&base, TOKEN, SERVICE), dir.path(), clock);
    let sent = sender.send(&live(SIGNER)).await.unwrap();
    assert_eq!((sent.provider, sent.id.len()), ("twilio", 34));
    let form = fake.lock().unwrap().received[0].form.clone();
    assert!(
        form.contains(&("MessagingServiceSid".into(), SERVICE.into())),
        "{form:?}"
    );
    assert!(!form.iter().any(|(name, _)| name == "From"), "{form:?}");
}

#[tokio::test]
async fn twilio_out_of_reach_is_unavailable() {
    // A port with nothing listening: bound, then released.
    let base = format!("http://127.0.0.1:{}", crate::common::free_port());
    let dir = tempfile::tempdir().unwrap();
    let (_, clock) = clock();
    let sender = sms(
        &twilio_yaml(&base, TOKEN, "+14155550100"),
        dir.path(),
        clock,
    );
    let err = sender.send(&live(SIGNER)).await.unwrap_err();
    assert!(matches!(err, SmsError::Unavailable(_)), "{err:?}");
}

/// What the webhook receiver got, and whether its signatures held.
#[derive(Default)]
struct Receiver {
    deliveries: Vec<(HeaderMap, Value)>,
    /// Answer this status to the next delivery instead of checking it.
    fail_with: Option<StatusCode>,
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Both published schemes, checked from their definitions: `X-Certyneo-Signature` = hex HMAC
/// of the raw body keyed with the secret string; Standard Webhooks `v1,` = base64 HMAC of
/// `id.timestamp.body` keyed with the base64-decoded secret.
fn signatures_hold(headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let certyneo = hex::encode(hmac(HOOK_SECRET.as_bytes(), &[body]));
    let key = base64::engine::general_purpose::STANDARD
        .decode(HOOK_SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let standard = base64::engine::general_purpose::STANDARD.encode(hmac(
        &key,
        &[
            header("webhook-id").as_bytes(),
            b".",
            header("webhook-timestamp").as_bytes(),
            b".",
            body,
        ],
    ));
    header("x-certyneo-signature") == certyneo
        && header("webhook-signature") == format!("v1,{standard}")
}

async fn receiver() -> (String, Arc<Mutex<Receiver>>) {
    let state = Arc::new(Mutex::new(Receiver::default()));
    let router = Router::new()
        .route(
            "/sms",
            post(
                |State(state): State<Arc<Mutex<Receiver>>>, headers: HeaderMap, body: Bytes| async move {
                    let mut state = state.lock().unwrap();
                    if let Some(status) = state.fail_with.take() {
                        return status.into_response();
                    }
                    if !signatures_hold(&headers, &body) {
                        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "bad signature"})))
                            .into_response();
                    }
                    let json: Value = serde_json::from_slice(&body).unwrap();
                    state.deliveries.push((headers, json));
                    StatusCode::NO_CONTENT.into_response()
                },
            ),
        )
        .with_state(state.clone());
    (format!("{}/sms", serve(router).await), state)
}

fn webhook_yaml(url: &str, secret: &str) -> String {
    format!("sms:\n  provider: webhook\n  url: {url}\n  secret: {secret}\n")
}

#[tokio::test]
async fn the_webhook_provider_posts_signed_json() {
    let (url, state) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let (manual, clock) = clock();
    let sender = sms(&webhook_yaml(&url, HOOK_SECRET), dir.path(), clock.clone());
    assert!(sender.can_send_live());

    let sent = sender.send(&live(SIGNER)).await.unwrap();
    assert_eq!(sent.provider, "webhook");
    assert!(ulid::Ulid::from_string(&sent.id).is_ok(), "{}", sent.id);
    {
        let state = state.lock().unwrap();
        let (headers, json) = &state.deliveries[0];
        assert_eq!(
            json,
            &json!({"id": sent.id, "to": SIGNER, "body": CODE_TEXT, "createdAt": "2025-03-14T09:26:53.589Z"})
        );
        assert_eq!(headers["webhook-id"], sent.id.as_str());
        assert_eq!(headers["x-certyneo-event"], "sms.send");
        assert_eq!(
            headers["webhook-timestamp"],
            manual.now_for_test().timestamp().to_string().as_str()
        );
    }

    // The receiver checks the signature: another secret is refused, and refused is final.
    let wrong = sms(
        &webhook_yaml(&url, "whsec_c29tZXRoaW5nIGVsc2U="),
        dir.path(),
        clock,
    );
    let err = wrong.send(&live(SIGNER)).await.unwrap_err();
    assert!(
        matches!(&err, SmsError::Rejected { status: 401, code: None, message } if message == "bad signature"),
        "{err:?}"
    );

    // A gateway that is down is worth retrying.
    state.lock().unwrap().fail_with = Some(StatusCode::SERVICE_UNAVAILABLE);
    let err = sender.send(&live(SIGNER)).await.unwrap_err();
    assert!(
        matches!(&err, SmsError::Unavailable(text) if text.contains("503")),
        "{err:?}"
    );
    assert_eq!(state.lock().unwrap().deliveries.len(), 1);
    assert!(outbox_files(dir.path()).is_empty());
}

#[tokio::test]
async fn test_messages_are_written_to_the_outbox_and_never_sent() {
    let (base, fake) = fake_twilio().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, clock) = clock();
    let sender = sms(
        &twilio_yaml(&base, TOKEN, "+14155550100"),
        dir.path(),
        clock.clone(),
    );
    // The provider is reachable and takes a live message…
    sender.send(&live(SIGNER)).await.unwrap();
    assert_eq!(fake.lock().unwrap().hits, 1);

    // …but a test one is only written down.
    let test = SmsMessage {
        to: SIGNER.into(),
        body: CODE_TEXT.into(),
        test: true,
    };
    let sent = sender.send(&test).await.unwrap();
    assert_eq!(sent.provider, "outbox");
    assert_eq!(
        fake.lock().unwrap().hits,
        1,
        "a test message reached Twilio"
    );
    let path = dir
        .path()
        .join("outbox")
        .join("sms")
        .join(format!("{}.txt", sent.id));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("To: {SIGNER}\nDate: 2025-03-14T09:26:53.589Z\nBody: {CODE_TEXT}\n")
    );
    // Written whole: no temporary file left beside it.
    assert_eq!(outbox_files(dir.path()), vec![path]);

    // With no provider, test messages still go to the outbox; live ones are refused.
    let none_dir = tempfile::tempdir().unwrap();
    let none = sms("{}\n", none_dir.path(), clock);
    assert!(!none.can_send_live());
    let sent = none.send(&test).await.unwrap();
    assert_eq!(sent.provider, "outbox");
    assert_eq!(outbox_files(none_dir.path()).len(), 1);
    let err = none.send(&live(SIGNER)).await.unwrap_err();
    assert!(matches!(err, SmsError::NotConfigured), "{err:?}");
    assert_eq!(outbox_files(none_dir.path()).len(), 1);
}
