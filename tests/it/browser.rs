//! The signing pages in a real browser (headless Chromium over WebDriver): sequential signing
//! from the emailed links, declining with a reason, and a signature drawn on the canvas.

use crate::common::webdriver::Browser;
use crate::common::*;
use serde_json::{json, Value};
use std::path::PathBuf;

/// How long a page may take to show the expected state after a submit.
const PAGE_WAIT_SECONDS: u64 = 20;

/// Uploads a one-page PDF and creates a draft envelope for `recipients`.
async fn create_envelope(server: &Server, subject: &str, recipients: Value) -> Value {
    let document = server
        .upload(pdf(1, "Service agreement"), "agreement.pdf")
        .await;
    let body = json!({
        "subject": subject,
        "message": "Please review and sign.",
        "documentIds": [document["id"]],
        "recipients": recipients,
    });
    expect_status(
        server.post("/envelopes").json(&body).send().await.unwrap(),
        201,
    )
    .await
}

/// The signing link of the invitation addressed to `email`, from the outbox messages.
fn invitation_link(messages: &[(String, String)], email: &str) -> String {
    let (_, text) = messages
        .iter()
        .find(|(_, text)| text.contains(&format!("<{email}>")))
        .unwrap_or_else(|| panic!("no invitation to {email} in {messages:#?}"));
    sign_link(text).unwrap_or_else(|| panic!("no signing link in {text}"))
}

fn artifacts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts")
}

/// Decodes a PNG into (width, height, bytes per pixel, pixels).
fn decode_png(bytes: &[u8]) -> (usize, usize, usize, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a readable PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).expect("a PNG frame");
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let channels = info.color_type.samples();
    pixels.truncate(info.line_size * info.height as usize);
    (info.width as usize, info.height as usize, channels, pixels)
}

/// Checks the frame on the signing page shows the envelope's document (the browser's URL for
/// it answers with the uploaded PDF's bytes), then saves a screenshot of the page as an
/// artifact for people to look at. Whether Chromium's viewer drew the PDF is not checked:
/// headless Chromium draws an inline PDF as a black box.
async fn check_document_frame_and_save_screenshot(
    browser: &Browser,
    document: &[u8],
    path: &std::path::Path,
) {
    let source = browser
        .execute("return document.querySelector('iframe').src;", vec![])
        .await;
    let source = source.as_str().expect("the frame's URL");
    let shown = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(source)
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), 200, "{source}");
    assert_eq!(
        shown.bytes().await.unwrap().as_ref(),
        document,
        "the frame shows the envelope's document"
    );
    let screenshot = browser.screenshot().await;
    let (width, height, _, _) = decode_png(&screenshot);
    assert!(width > 0 && height > 0);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, screenshot).unwrap();
}

/// Where the server keeps a blob with these bytes (content-addressed by SHA-256).
fn blob_path(server: &Server, bytes: &[u8]) -> PathBuf {
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(bytes));
    server.data_dir().join("blobs").join(&sha[..2]).join(&sha)
}

/// Checks the open signing page is `subject`'s, for `signer`, with the signing form.
async fn expect_signing_page(browser: &Browser, subject: &str, signer: &str) {
    let heading = browser.find("h1").await;
    assert_eq!(browser.text(&heading).await, subject);
    assert_eq!(browser.title().await, subject);
    let form = browser.find("#sign-form").await;
    let form_text = browser.text(&form).await;
    assert!(
        form_text.contains(&format!("Signing as {signer}")),
        "signer's name missing: {form_text}"
    );
}

/// Types the name, ticks consent and clicks Sign; waits for the signed page.
async fn sign_typed(browser: &Browser, name: &str) {
    let typed = browser.find("#typed_name").await;
    browser.type_text(&typed, name).await;
    let consent = browser.find("#consent").await;
    browser.click(&consent).await;
    assert!(browser.is_selected(&consent).await, "consent not ticked");
    browser.click(&browser.find("#sign").await).await;
    browser
        .wait_for_text("#state", "You have signed", PAGE_WAIT_SECONDS)
        .await;
    assert!(
        browser.try_find("#sign-form").await.is_err(),
        "the form is gone once signed"
    );
}

#[tokio::test]
async fn sequential_signers_sign_from_their_invitations_in_the_browser() {
    let server = Server::start().await;
    let subject = "Service agreement 2026";
    let envelope = create_envelope(
        &server,
        subject,
        json!([
            {"email": "first@example.com", "name": "First Signer", "signingOrder": 1},
            {"email": "second@example.com", "name": "Second Signer", "signingOrder": 2}
        ]),
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    server.send(id).await;

    // Only the first signer is invited (invitations are queued with the status change).
    let sent = server.envelope(id).await;
    assert_eq!(sent["recipients"][0]["status"], "SENT");
    assert_eq!(
        sent["recipients"][1]["status"], "PENDING",
        "only the first signer is invited"
    );
    let messages = server.outbox(1).await;
    let first = invitation_link(&messages, "first@example.com");

    let browser = Browser::start().await;
    browser.goto(&first).await;
    expect_signing_page(&browser, subject, "First Signer").await;
    let document_id = envelope["documentIds"][0].as_str().unwrap();
    let document = server.document_bytes(&server.key, document_id).await;
    check_document_frame_and_save_screenshot(
        &browser,
        &document,
        &artifacts_dir().join("signing-page.png"),
    )
    .await;
    sign_typed(&browser, "First Signer").await;

    let partial = server.envelope(id).await;
    assert_eq!(partial["status"], "PARTIALLY_SIGNED");
    assert_eq!(partial["recipients"][0]["status"], "SIGNED");

    // Now the second signer's invitation arrives; sign it the same way.
    let messages = server.outbox(2).await;
    let second = invitation_link(&messages, "second@example.com");
    assert_ne!(first, second);
    browser.goto(&second).await;
    expect_signing_page(&browser, subject, "Second Signer").await;
    sign_typed(&browser, "Second Signer").await;
    browser
        .wait_for_text("#state", "You have signed", PAGE_WAIT_SECONDS)
        .await;
    // The envelope completes once its evidence is sealed; the link then says so.
    server.wait_completed(id).await;
    browser.goto(&second).await;
    browser
        .wait_for_text("#state", "This envelope is complete", PAGE_WAIT_SECONDS)
        .await;

    let done = server.envelope(id).await;
    assert_eq!(done["status"], "COMPLETED", "{done:#}");
    for recipient in done["recipients"].as_array().unwrap() {
        assert_eq!(recipient["status"], "SIGNED", "{recipient:#}");
    }
    browser.quit().await;
}

#[tokio::test]
async fn declining_in_the_browser_records_the_reason() {
    let server = Server::start().await;
    let envelope = create_envelope(
        &server,
        "Supplier contract",
        json!([{"email": "dana@example.com", "name": "Dana Decliner"}]),
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    server.send(id).await;
    let link = invitation_link(&server.outbox(1).await, "dana@example.com");

    let browser = Browser::start().await;
    browser.goto(&link).await;
    expect_signing_page(&browser, "Supplier contract", "Dana Decliner").await;
    let reason_box = browser.find("#reason").await;
    assert!(
        !browser.is_displayed(&reason_box).await,
        "the decline form starts folded"
    );
    browser.click(&browser.find("details summary").await).await;
    let reason_box = browser.wait_displayed("#reason", PAGE_WAIT_SECONDS).await;
    let reason = "The payment terms are wrong";
    browser.type_text(&reason_box, reason).await;
    browser.click(&browser.find("#decline").await).await;
    browser
        .wait_for_text(
            "#state",
            "You declined to sign this envelope",
            PAGE_WAIT_SECONDS,
        )
        .await;
    assert!(browser.try_find("#sign-form").await.is_err());

    let declined = server.envelope(id).await;
    assert_eq!(declined["status"], "DECLINED", "{declined:#}");
    assert_eq!(declined["recipients"][0]["status"], "DECLINED");
    assert_eq!(declined["recipients"][0]["declineReason"], reason);
    browser.quit().await;
}

#[tokio::test]
async fn a_signature_drawn_on_the_canvas_is_accepted() {
    let server = Server::start().await;
    let envelope = create_envelope(
        &server,
        "Lease renewal",
        json!([
            {"email": "drew@example.com", "name": "Drew Drawer", "signingOrder": 1},
            {"email": "later@example.com", "name": "Later Signer", "signingOrder": 2}
        ]),
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    server.send(id).await;
    let link = invitation_link(&server.outbox(1).await, "drew@example.com");

    let browser = Browser::start().await;
    browser.goto(&link).await;
    expect_signing_page(&browser, "Lease renewal", "Drew Drawer").await;
    // The script reveals the drawing block (hidden without JavaScript).
    browser.wait_displayed("#draw", PAGE_WAIT_SECONDS).await;
    let pad = browser.wait_displayed("#pad", PAGE_WAIT_SECONDS).await;
    browser
        .execute(
            "arguments[0].scrollIntoView({block: 'center'});",
            vec![pad.reference()],
        )
        .await;
    let blank = browser
        .execute(
            "return arguments[0].toDataURL('image/png');",
            vec![pad.reference()],
        )
        .await;

    // A zigzag stroke, starting left of the canvas centre.
    let mut stroke = vec![
        json!({"type": "pointerMove", "duration": 0, "origin": pad.reference(), "x": -150, "y": -20}),
        json!({"type": "pointerDown", "button": 0}),
    ];
    for step in 0..6 {
        let dy = if step % 2 == 0 { 40 } else { -40 };
        stroke.push(
            json!({"type": "pointerMove", "duration": 50, "origin": "pointer", "x": 50, "y": dy}),
        );
    }
    stroke.push(json!({"type": "pointerUp", "button": 0}));
    browser.pointer_actions(stroke).await;

    let drawn = browser
        .execute(
            "return arguments[0].toDataURL('image/png');",
            vec![pad.reference()],
        )
        .await;
    assert_ne!(drawn, blank, "the stroke left no ink on the canvas");
    let drawn_png = {
        use base64::Engine;
        let url = drawn.as_str().unwrap();
        let encoded = url.strip_prefix("data:image/png;base64,").unwrap();
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap()
    };
    let (width, height, _, _) = decode_png(&drawn_png);
    assert_eq!(
        (width, height),
        (500, 150),
        "the canvas exports at its own size"
    );
    let stored = blob_path(&server, &drawn_png);
    assert!(!stored.exists());

    sign_typed(&browser, "Drew Drawer").await;
    let signed = server.envelope(id).await;
    assert_eq!(signed["status"], "PARTIALLY_SIGNED", "{signed:#}");
    assert_eq!(signed["recipients"][0]["status"], "SIGNED");
    // The API does not expose the signature evidence; the drawn PNG is kept as a blob, byte
    // for byte what the canvas exported.
    assert_eq!(
        std::fs::read(&stored).ok().as_deref(),
        Some(&drawn_png[..]),
        "the drawn signature was not stored"
    );
    browser.quit().await;
}
