//! Signer authentication by one-time codes, through the real signing pages: ADVANCED and
//! QUALIFIED judged at creation as Certyneo does; codes by email (the `.eml` outbox) and by
//! SMS (the SMS outbox) gate the documents; wrong codes count down and the fifth locks the
//! signer out; a resend inside the throttle is refused with its wait; each proven factor is in
//! the audit trail and on the certificate page of a sealed document that still verifies.

use crate::common::*;
use serde_json::{json, Value};
use std::path::Path;

const EMAIL: &str = "ana.lopez@example.com";
const PHONE: &str = "+33612345678";

/// An ADVANCED envelope (SMS code) that also asks for an email code, sent.
async fn advanced_envelope(server: &Server) -> Value {
    let document = server.upload(pdf(1, "Contract"), "contract.pdf").await;
    let envelope = expect_status(
        server
            .post("/envelopes")
            .json(&json!({
                "subject": "Employment contract",
                "documentIds": [document["id"]],
                "recipients": [{"email": EMAIL, "name": "Ana Lopez", "phone": PHONE, "role": "SIGNER"}],
                "signatureLevel": "ADVANCED",
                "requireSmsOtp": true,
                "requireEmailOtp": true,
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(envelope["requireSmsOtp"], true, "{envelope}");
    server.send(envelope["id"].as_str().unwrap()).await
}

/// The six digits after `code:` / `κωδικός…:` in a message: the last 6-digit run.
fn code_in(text: &str) -> String {
    let digits: Vec<char> = text.chars().collect();
    let mut found = None;
    for start in 0..digits.len().saturating_sub(5) {
        let run = &digits[start..start + 6];
        let before = start.checked_sub(1).map(|i| digits[i]);
        let after = digits.get(start + 6);
        if run.iter().all(char::is_ascii_digit)
            && !before.is_some_and(|c| c.is_ascii_digit())
            && !after.is_some_and(char::is_ascii_digit)
        {
            found = Some(run.iter().collect());
        }
    }
    found.unwrap_or_else(|| panic!("no code in {text:?}"))
}

/// The SMS written to the outbox, oldest first.
fn sms_outbox(data_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("outbox/sms")) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn code_mails(data_dir: &Path) -> Vec<String> {
    outbox_messages(data_dir)
        .into_iter()
        .filter(|(name, _)| name.starts_with("code-"))
        .map(|(_, text)| text)
        .collect()
}

#[tokio::test]
async fn advanced_needs_a_phone_code_and_qualified_is_refused_at_creation() {
    let server = Server::start().await;
    let document = server.upload(pdf(1, "Contract"), "contract.pdf").await;
    let create = |body: Value| {
        let request = server.post("/envelopes").json(&body);
        async move { request.send().await.unwrap() }
    };
    let base = json!({
        "subject": "Contract",
        "documentIds": [document["id"]],
        "recipients": [{"email": EMAIL, "name": "Ana"}],
    });
    let with = |extra: Value| {
        let mut body = base.clone();
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    expect_error(
        create(with(json!({"signatureLevel": "ADVANCED"}))).await,
        400,
        "ADVANCED_REQUIRES_STRONG_AUTH",
    )
    .await;
    expect_error(
        create(with(
            json!({"signatureLevel": "ADVANCED", "requireSmsOtp": false}),
        ))
        .await,
        400,
        "ADVANCED_REQUIRES_STRONG_AUTH",
    )
    .await;
    let qualified = expect_error(
        create(with(
            json!({"signatureLevel": "QUALIFIED", "requireSmsOtp": true}),
        ))
        .await,
        400,
        "qualified_not_available",
    )
    .await;
    assert!(qualified["error"].as_str().unwrap().contains("QUALIFIED"));
    // A code by SMS needs each signer's phone, in E.164.
    let missing = expect_error(
        create(with(
            json!({"signatureLevel": "ADVANCED", "requireSmsOtp": true}),
        ))
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(
        missing["details"][0]["field"], "recipients[0].phone",
        "{missing}"
    );
    let bad = expect_error(
        create(with(json!({
            "requireSmsOtp": true,
            "recipients": [{"email": EMAIL, "name": "Ana", "phone": "0612345678"}],
        })))
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(bad["details"][0]["field"], "recipients[0].phone", "{bad}");
    // The same envelope with the phone is accepted, at ADVANCED.
    let accepted = expect_status(
        create(with(json!({
            "signatureLevel": "ADVANCED",
            "requireSmsOtp": true,
            "recipients": [{"email": EMAIL, "name": "Ana", "phone": PHONE}],
        })))
        .await,
        201,
    )
    .await;
    assert_eq!(accepted["signatureLevel"], "ADVANCED");
}

#[tokio::test]
async fn a_live_envelope_cannot_ask_for_sms_codes_without_an_sms_provider() {
    let mut server = Server::start().await;
    server.terminate();
    let data_dir = server.data_dir();
    let (status, stdout, stderr) = server.cli(&[
        "keys",
        "create",
        "--env",
        "live",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    assert!(status.success(), "{stderr}");
    let live_key = stdout.trim().to_string();
    server.start_again().await;
    let response = server
        .http
        .post(server.url("/envelopes"))
        .bearer_auth(&live_key)
        .json(&json!({
            "subject": "Contract",
            "signers": [{"email": EMAIL, "name": "Ana", "phone": PHONE}],
            "documents": [{"name": "c.pdf", "base64Pdf": base64_of(&pdf(1, "Contract"))}],
            "requireSmsOtp": true,
            "signatureLevel": "ADVANCED",
        }))
        .send()
        .await
        .unwrap();
    let refused = expect_error(response, 400, "sms_not_configured").await;
    assert!(
        refused["error"].as_str().unwrap().contains("sms:"),
        "{refused}"
    );
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn codes_by_email_then_sms_open_the_documents_and_are_the_evidence() {
    let server = Server::start().await;
    let envelope = advanced_envelope(&server).await;
    let id = envelope["id"].as_str().unwrap().to_string();
    let link = envelope["recipients"][0]["signUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let data_dir = server.data_dir();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    // The page asks for the email code first; no document is shown, signing is refused.
    let page = client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("a•••@example.com") && page.contains("name=\"action\" value=\"send_code\""),
        "{page}"
    );
    assert!(
        !page.contains("/documents/0"),
        "documents hidden before the code"
    );
    let (status, _) = server.sign(&link, "Ana Lopez").await;
    assert_eq!(status, 409, "no signature before the codes");
    let before = client
        .get(format!("{link}/documents/0"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        before.status(),
        404,
        "the document itself is not served either"
    );

    // Email code: sent once, a wrong one counts down, the right one passes.
    let (_, page) = server.submit(&link, &[("action", "send_code")]).await;
    assert!(page.contains("one-time-code"), "{page}");
    let mails = eventually(20, || {
        let dir = data_dir.clone();
        async move {
            let mails = code_mails(&dir);
            (!mails.is_empty()).then_some(mails)
        }
    })
    .await;
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains(EMAIL), "addressed to the signer");
    let email_code = code_in(&mails[0]);
    let wrong = if email_code == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (status, page) = server
        .submit(&link, &[("action", "verify_code"), ("code", wrong)])
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("4 tries left"), "{page}");
    let (status, page) = server
        .submit(&link, &[("action", "verify_code"), ("code", &email_code)])
        .await;
    assert_eq!(status, 303, "{page}");
    // Next, the SMS code: written to the SMS outbox (a test envelope), never sent.
    assert!(page.contains("+33•••••••78"), "{page}");
    let (_, _) = server.submit(&link, &[("action", "send_code")]).await;
    let texts = sms_outbox(&data_dir);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains(PHONE), "{texts:?}");
    let sms_code = code_in(&texts[0]);
    // A new code right away is refused, saying how long to wait.
    let (status, page) = server.submit(&link, &[("action", "send_code")]).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("You can ask for a new code in"), "{page}");
    assert_eq!(
        sms_outbox(&data_dir).len(),
        1,
        "no second SMS inside the throttle"
    );
    let (status, page) = server
        .submit(&link, &[("action", "verify_code"), ("code", &sms_code)])
        .await;
    assert_eq!(status, 303, "{page}");
    assert!(
        page.contains("/documents/0"),
        "both factors proven: the documents show"
    );

    let (status, _) = server.sign(&link, "Ana Lopez").await;
    assert_eq!(status, 303);
    let done = server.wait_completed(&id).await;
    let factors = &done["recipients"][0]["authentications"];
    assert_eq!(factors.as_array().unwrap().len(), 2, "{done}");
    assert_eq!(factors[0]["channel"], "EMAIL");
    assert_eq!(factors[0]["destination"], "a•••@example.com");
    assert_eq!(factors[1]["channel"], "SMS");
    assert_eq!(factors[1]["destination"], "+33•••••••78");

    // The evidence: the audit trail and the certificate page list both factors, and the
    // sealed document verifies.
    let dir = tempfile::tempdir().unwrap();
    for (what, expected) in [
        (
            "audit-trail",
            vec![
                "recipient.authenticated",
                "a•••@example.com",
                "+33•••••••78",
                "recipient.code_rejected",
            ],
        ),
        (
            "signed-document",
            vec!["email code to a•••@example.com", "SMS code to +33•••••••78"],
        ),
    ] {
        let bytes = expect_bytes(
            server
                .get(&format!("/envelopes/{id}/{what}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let path = dir.path().join(format!("{what}.pdf"));
        std::fs::write(&path, &bytes).unwrap();
        let text = String::from_utf8_lossy(
            &std::process::Command::new("pdftotext")
                .args([path.to_str().unwrap(), "-"])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned();
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for needle in expected {
            assert!(flat.contains(needle), "{what} lacks {needle:?}:\n{flat}");
        }
        assert!(
            !flat.contains(&email_code) && !flat.contains(&sms_code),
            "codes are never evidence"
        );
        let verified = std::process::Command::new(BIN)
            .args(["verify", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            verified.status.success(),
            "{}",
            String::from_utf8_lossy(&verified.stdout)
        );
        let validated = std::process::Command::new("pyhanko")
            .args([
                "sign",
                "validate",
                "--no-diff-analysis",
                path.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let judgement = String::from_utf8_lossy(&validated.stdout);
        assert!(judgement.contains(":INTACT:"), "{judgement}");
    }
    // Nothing logged the codes.
    let log = server.log();
    assert!(
        !log.contains(&email_code) && !log.contains(&sms_code),
        "{log}"
    );
}

async fn expect_bytes(response: reqwest::Response) -> Vec<u8> {
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn five_wrong_codes_lock_the_signer_out_with_a_clear_page() {
    let server = Server::start().await;
    let envelope = advanced_envelope(&server).await;
    let id = envelope["id"].as_str().unwrap().to_string();
    let link = envelope["recipients"][0]["signUrl"]
        .as_str()
        .unwrap()
        .to_string();
    server.submit(&link, &[("action", "send_code")]).await;
    let mails = eventually(20, || {
        let dir = server.data_dir();
        async move {
            let mails = code_mails(&dir);
            (!mails.is_empty()).then_some(mails)
        }
    })
    .await;
    let right = code_in(&mails[0]);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    for tries_left in (1..=4).rev() {
        let (status, page) = server
            .submit(&link, &[("action", "verify_code"), ("code", wrong)])
            .await;
        assert_eq!(status, 400);
        assert!(page.contains(&format!("{tries_left} tries left")), "{page}");
    }
    let (status, page) = server
        .submit(&link, &[("action", "verify_code"), ("code", wrong)])
        .await;
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("id=\"locked\"") && page.contains("Too many wrong codes"),
        "{page}"
    );
    // Locked: even the right code, a new code or a signature get nowhere.
    let (_, page) = server
        .submit(&link, &[("action", "verify_code"), ("code", &right)])
        .await;
    assert!(page.contains("id=\"locked\""), "{page}");
    let (status, _) = server.sign(&link, "Ana Lopez").await;
    assert_ne!(status, 303);
    let view = server.envelope(&id).await;
    assert_eq!(view["recipients"][0]["locked"], true, "{view}");
    assert!(view["recipients"][0]["signedAt"].is_null(), "{view}");
    assert_eq!(view["recipients"][0]["authentications"], json!([]));
}

/// The ADVANCED payload of Certyneo's Italian developer page (recipients with an E.164
/// `phone`, fields, `signatureLevel: "ADVANCED"`, `requireSmsOtp: true`, `expiresAt`), on a
/// live key, with SMS through Twilio (a fake on 127.0.0.1 answering in Twilio's documented
/// shapes): the code arrives at Twilio for the signer's number, is entered, the signer signs,
/// and the sealed document verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_advanced_quick_start_payload_completes_with_its_code_sent_through_twilio() {
    let (base, twilio) = crate::sms::fake_twilio().await;
    let config = crate::sms::twilio_yaml(&base, crate::sms::TOKEN, "+15005550006");
    let mut server = Server::start_with_config(Some(&config)).await;
    server.terminate();
    let data_dir = server.data_dir();
    let (status, stdout, stderr) = server.cli(&[
        "keys",
        "create",
        "--env",
        "live",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    assert!(status.success(), "{stderr}");
    let live = stdout.trim().to_string();
    server.start_again().await;

    let upload = server
        .upload_raw(&live, pdf(1, "Contratto"), "contratto.pdf")
        .await;
    let document = expect_status(upload, 201).await;
    let phone = "+393331234567";
    let created = server
        .http
        .post(server.url("/envelopes"))
        .bearer_auth(&live)
        .json(&json!({
            "subject": "Contratto di consulenza",
            "documentIds": [document["id"]],
            "recipients": [{"email": "mario.rossi@example.com", "name": "Mario Rossi", "phone": phone, "role": "SIGNER"}],
            "fields": [{"recipientEmail": "mario.rossi@example.com", "pageNumber": 1, "fieldType": "SIGNATURE", "x": 72, "y": 600, "width": 180, "height": 50}],
            "signatureLevel": "ADVANCED",
            "requireSmsOtp": true,
            "expiresAt": (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339(),
        }))
        .send()
        .await
        .unwrap();
    let envelope = expect_status(created, 201).await;
    let id = envelope["id"].as_str().unwrap().to_string();
    let sent = server
        .http
        .post(server.url(&format!("/envelopes/{id}/send")))
        .bearer_auth(&live)
        .send()
        .await
        .unwrap();
    let sent = expect_status(sent, 200).await;
    let link = sent["recipients"][0]["signUrl"]
        .as_str()
        .unwrap()
        .to_string();

    let (_, page) = server.submit(&link, &[("action", "send_code")]).await;
    assert!(page.contains("+39••••••••67"), "{page}");
    let message = {
        let fake = twilio.lock().unwrap();
        assert_eq!(fake.received.len(), 1, "one SMS reached Twilio");
        fake.received[0].form.clone()
    };
    let field = |name: &str| {
        message
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    assert_eq!(field("To"), phone);
    assert_eq!(field("From"), "+15005550006");
    assert!(
        sms_outbox(&server.data_dir()).is_empty(),
        "a live SMS does not go to the outbox"
    );
    let code = code_in(&field("Body"));
    let (status, page) = server
        .submit(&link, &[("action", "verify_code"), ("code", &code)])
        .await;
    assert_eq!(status, 303, "{page}");
    let (status, _) = server.sign(&link, "Mario Rossi").await;
    assert_eq!(status, 303);
    let done = eventually(60, || {
        let request = server
            .http
            .get(server.url(&format!("/envelopes/{id}")))
            .bearer_auth(&live);
        async move {
            let envelope: Value = request.send().await.unwrap().json().await.unwrap();
            (envelope["status"] == "COMPLETED").then_some(envelope)
        }
    })
    .await;
    assert_eq!(done["signatureLevel"], "ADVANCED");
    assert_eq!(
        done["recipients"][0]["authentications"][0]["channel"],
        "SMS"
    );
    let bytes = server
        .http
        .get(server.url(&format!("/envelopes/{id}/signed-document")))
        .bearer_auth(&live)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.pdf");
    std::fs::write(&path, &bytes).unwrap();
    let verified = std::process::Command::new(BIN)
        .args(["verify", path.to_str().unwrap()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{report}");
    assert!(!server.log().contains(&code), "the code is never logged");
}

/// The n8n node's and the Power Automate connector's create-envelope bodies with the
/// strong-authentication fields are accepted as sent.
#[tokio::test]
async fn the_n8n_and_power_automate_bodies_with_strong_authentication_are_accepted() {
    let server = Server::start().await;
    let document = server.upload(pdf(1, "Contract"), "contract.pdf").await;
    // n8n: recipients in signing order, `requireSmsOtp` as a boolean option, the level enum.
    let n8n = json!({
        "subject": "NDA",
        "message": "Please sign",
        "documentIds": [document["id"]],
        "recipients": [{"email": "ana@example.com", "name": "Ana", "role": "SIGNER", "phone": "+34600111222"}],
        "fields": [{"recipientEmail": "ana@example.com", "documentIndex": 0, "pageNumber": 1, "fieldType": "SIGNATURE", "x": 72, "y": 600, "width": 180, "height": 50}],
        "signatureLevel": "ADVANCED",
        "requireSmsOtp": true,
        "locale": "es",
    });
    // Power Automate: the connector's flat body, optional fields left empty as it sends them.
    let power_automate = json!({
        "subject": "Service agreement",
        "message": "",
        "documentIds": [document["id"]],
        "recipients": [{"email": "ben@example.com", "name": "Ben", "role": "SIGNER", "phone": "+4915112345678"}],
        "fields": [{"recipientEmail": "ben@example.com", "pageNumber": 1, "fieldType": "SIGNATURE", "x": 72, "y": 600, "width": 180, "height": 50}],
        "signatureLevel": "ADVANCED",
        "requireSmsOtp": true,
        "expiresAt": (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339(),
    });
    for body in [n8n, power_automate] {
        let response = server.post("/envelopes").json(&body).send().await.unwrap();
        let envelope = expect_status(response, 201).await;
        assert_eq!(envelope["signatureLevel"], "ADVANCED", "{envelope}");
        assert_eq!(envelope["requireSmsOtp"], true, "{envelope}");
        let sent = server.send(envelope["id"].as_str().unwrap()).await;
        assert_eq!(sent["status"], "SENT");
    }
}
