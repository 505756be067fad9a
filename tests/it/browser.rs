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
    create_envelope_with(server, subject, recipients, 1, json!([])).await
}

/// Uploads a PDF of `pages` pages and creates a draft envelope for `recipients` with `fields`.
async fn create_envelope_with(
    server: &Server,
    subject: &str,
    recipients: Value,
    pages: usize,
    fields: Value,
) -> Value {
    let document = server
        .upload(pdf(pages, "Service agreement"), "agreement.pdf")
        .await;
    let body = json!({
        "subject": subject,
        "message": "Please review and sign.",
        "documentIds": [document["id"]],
        "recipients": recipients,
        "fields": fields,
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

/// Checks the signing page shows every page of the document as an image with ink on it (the
/// browser decoded it; the server's bytes are a PNG of the asked width), at a phone's and a
/// laptop's size, and that every field box sits where the envelope's coordinates say (within
/// 2 px of the page's displayed size); saves screenshots as artifacts.
async fn check_pages_and_fields(
    browser: &Browser,
    pages: usize,
    fields: &[Value],
    own_email: &str,
    artifact: &str,
) {
    for (width, height) in [(390, 844), (1280, 800)] {
        browser.set_viewport(width, height).await;
        let viewport = browser.execute("return window.innerWidth;", vec![]).await;
        assert_eq!(viewport, width, "viewport width");
        // Every page image loaded and decoded by the browser (lazy ones scrolled into view).
        let loaded = browser
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 const images = [...document.querySelectorAll('.page img')];\
                 images.forEach(i => i.loading = 'eager');\
                 Promise.all(images.map(i => i.decode().then(() => [i.naturalWidth, i.currentSrc], () => [0, i.currentSrc])))\
                   .then(done);",
            )
            .await;
        let loaded = loaded.as_array().expect("the images").clone();
        assert_eq!(loaded.len(), pages, "one image per page");
        for image in &loaded {
            assert!(
                image[0].as_u64().unwrap() > 0,
                "an image was not decoded: {image}"
            );
            let source = image[1].as_str().unwrap();
            let png = reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(source)
                .send()
                .await
                .unwrap();
            assert_eq!(png.status(), 200);
            assert_eq!(png.headers()["content-type"], "image/png");
            assert!(png.headers()["cache-control"]
                .to_str()
                .unwrap()
                .starts_with("private"));
            let (w, _, channels, pixels) = decode_png(&png.bytes().await.unwrap());
            assert!(w == 720 || w == 1600, "drawn at a known width: {w}");
            let ink = pixels.chunks_exact(channels).filter(|p| p[0] < 128).count();
            assert!(ink > 100, "the page image has ink ({ink} dark pixels)");
        }
        // No horizontal scrolling on a phone.
        let scroll = browser
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                vec![],
            )
            .await;
        assert!(
            scroll.as_i64().unwrap() <= 0,
            "scrolls sideways by {scroll}"
        );
        // Each field box where its coordinates say, on its page, scaled to the page's width.
        let boxes = browser
            .execute(
                "return [...document.querySelectorAll('.field')].map(f => {\
                   const page = f.closest('.page'); const p = page.getBoundingClientRect(); const r = f.getBoundingClientRect();\
                   return {field: +f.dataset.field, own: f.classList.contains('own'), page: page.id,\
                           pw: +page.dataset.width, left: r.left - p.left - page.clientLeft, top: r.top - p.top - page.clientTop,\
                           width: r.width, height: r.height, inner: page.clientWidth};\
                 });",
                vec![],
            )
            .await;
        let boxes = boxes.as_array().unwrap();
        assert_eq!(boxes.len(), fields.len(), "{boxes:?}");
        for (number, field) in fields.iter().enumerate() {
            let shown = boxes
                .iter()
                .find(|b| b["field"] == number)
                .unwrap_or_else(|| panic!("field {number} is not drawn"));
            assert_eq!(shown["page"], format!("page-{}", field["pageNumber"]));
            assert_eq!(shown["own"], field["recipientEmail"] == own_email);
            let scale = shown["inner"].as_f64().unwrap() / shown["pw"].as_f64().unwrap();
            for (css, key) in [
                ("left", "x"),
                ("top", "y"),
                ("width", "width"),
                ("height", "height"),
            ] {
                let expected = field[key].as_f64().unwrap() * scale;
                let actual = shown[css].as_f64().unwrap();
                assert!(
                    (actual - expected).abs() <= 2.0,
                    "field {number} {css}: {actual} px, expected {expected} px at {width}×{height}"
                );
            }
        }
        browser
            .save_screenshot(&artifacts_dir().join(format!("{artifact}-{width}x{height}.png")))
            .await;
    }
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
    check_pages_and_fields(&browser, 1, &[], "first@example.com", "signing-page").await;
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

#[tokio::test]
async fn the_document_shows_as_page_images_with_each_field_where_it_will_be_stamped() {
    let server = Server::start().await;
    let fields = json!([
        {"recipientEmail": "ana@example.com", "documentIndex": 0, "pageNumber": 1, "fieldType": "SIGNATURE", "x": 72, "y": 600, "width": 180, "height": 50},
        {"recipientEmail": "ana@example.com", "documentIndex": 0, "pageNumber": 2, "fieldType": "DATE_SIGNED", "x": 300, "y": 100, "width": 120, "height": 24},
        {"recipientEmail": "ben@example.com", "documentIndex": 0, "pageNumber": 2, "fieldType": "SIGNATURE", "x": 72, "y": 700, "width": 180, "height": 50}
    ]);
    let envelope = create_envelope_with(
        &server,
        "Two-page agreement",
        json!([
            {"email": "ana@example.com", "name": "Ana Signer", "signingOrder": 1},
            {"email": "ben@example.com", "name": "Ben Signer", "signingOrder": 2}
        ]),
        2,
        fields.clone(),
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    server.send(id).await;
    let link = invitation_link(&server.outbox(1).await, "ana@example.com");
    let browser = Browser::start().await;
    browser.goto(&link).await;
    expect_signing_page(&browser, "Two-page agreement", "Ana Signer").await;
    check_pages_and_fields(
        &browser,
        2,
        fields.as_array().unwrap(),
        "ana@example.com",
        "page-images",
    )
    .await;

    // The guide: the date fills itself, the signature is next; "Next field" goes to it and
    // typing the name counts it done.
    assert!(browser.is_displayed(&browser.find("#guide").await).await);
    assert_eq!(progress(&browser).await, "1 of 2 done");
    browser.click(&browser.find("#guide-next").await).await;
    let focused = browser
        .execute(
            "const a = document.activeElement; return [a.dataset.field, a.classList.contains('current'), a.getAttribute('href')];",
            vec![],
        )
        .await;
    assert_eq!(
        focused,
        json!(["0", true, "#typed_name"]),
        "the guide went to the signature"
    );
    browser
        .type_text(&browser.find("#typed_name").await, "Ana Signer")
        .await;
    assert_eq!(progress(&browser).await, "2 of 2 done");

    // A page that does not exist, a width not offered, another token: nothing is drawn.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for bad in [
        format!("{link}/documents/0/pages/3"),
        format!("{link}/documents/0/pages/1?w=5000"),
        format!("{link}/documents/1/pages/1"),
        format!(
            "{}/sign/{}/documents/0/pages/1",
            server.base(),
            "A".repeat(43)
        ),
    ] {
        let response = client.get(&bad).send().await.unwrap();
        assert_eq!(response.status(), 404, "{bad}");
    }
    // The original stays downloadable from the page.
    let download = browser
        .execute("return document.querySelector('a[download]').href;", vec![])
        .await;
    let original = client.get(download.as_str().unwrap()).send().await.unwrap();
    assert_eq!(original.headers()["content-type"], "application/pdf");

    // Signed: the page shows the values where they will be stamped.
    let consent = browser.find("#consent").await;
    browser.click(&consent).await;
    browser.click(&browser.find("#sign").await).await;
    browser
        .wait_for_text("#state", "You have signed", PAGE_WAIT_SECONDS)
        .await;
    let filled = browser
        .execute(
            "return [...document.querySelectorAll('.field.filled')].map(f => [f.dataset.field, f.textContent]);",
            vec![],
        )
        .await;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(
        filled,
        json!([["0", "Ana Signer"], ["1", today]]),
        "{filled}"
    );
    browser.quit().await;
}

/// The WCAG 2.1 A and AA violations axe-core finds on the open page (axe-core from the npm
/// registry, unpacked by `.ci/run` into `target/axe/package/`).
async fn axe_violations(browser: &Browser) -> Vec<Value> {
    let path = std::env::var("AXE_CORE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/axe/package/axe.min.js")
        });
    let script = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "axe-core is missing at {} ({err}): .ci/run unpacks it from the npm registry",
            path.display()
        )
    });
    browser.execute(&script, vec![]).await;
    let result = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})\
               .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}))),\
                     e => done([{id: 'axe-error', help: String(e)}]));",
        )
        .await;
    result.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn every_state_of_the_signing_page_passes_axe_at_wcag_2_1_aa() {
    let server = Server::start().await;
    let fields = json!([
        {"recipientEmail": "ana@example.com", "documentIndex": 0, "pageNumber": 1, "fieldType": "SIGNATURE", "x": 72, "y": 600, "width": 180, "height": 50},
        {"recipientEmail": "ana@example.com", "documentIndex": 0, "pageNumber": 1, "fieldType": "TEXT", "x": 72, "y": 500, "width": 180, "height": 24},
        {"recipientEmail": "ben@example.com", "documentIndex": 0, "pageNumber": 1, "fieldType": "SIGNATURE", "x": 300, "y": 600, "width": 180, "height": 50}
    ]);
    let envelope = create_envelope_with(
        &server,
        "Accessible agreement",
        json!([
            {"email": "ana@example.com", "name": "Ana Signer", "signingOrder": 1},
            {"email": "ben@example.com", "name": "Ben Signer", "signingOrder": 2}
        ]),
        1,
        fields,
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    server.send(id).await;
    let ana = invitation_link(&server.outbox(1).await, "ana@example.com");
    let browser = Browser::start().await;
    // The check can fail: an image without a text alternative is reported.
    browser.goto(&ana).await;
    browser
        .execute(
            "document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"/favicon.ico\">');",
            vec![],
        )
        .await;
    let planted = axe_violations(&browser).await;
    assert!(
        planted.iter().any(|v| v["id"] == "image-alt"),
        "axe did not run: {planted:?}"
    );
    let mut found = Vec::new();
    for (width, height) in [(390, 844), (1280, 800)] {
        browser.set_viewport(width, height).await;
        browser.goto(&ana).await;
        expect_signing_page(&browser, "Accessible agreement", "Ana Signer").await;
        found.push((
            format!("first view {width}"),
            axe_violations(&browser).await,
        ));
        // Half-way: the name typed, the decline form open.
        let typed = browser.find("#typed_name").await;
        browser.type_text(&typed, "Ana").await;
        browser.click(&browser.find("details summary").await).await;
        found.push((format!("half-way {width}"), axe_violations(&browser).await));
        browser
            .save_screenshot(&artifacts_dir().join(format!("half-way-{width}x{height}.png")))
            .await;
    }
    browser.goto(&ana).await;
    browser
        .type_text(&browser.find("#field_1").await, "Engineer")
        .await;
    sign_typed(&browser, "Ana Signer").await;
    found.push(("signed".into(), axe_violations(&browser).await));
    for (width, height) in [(1280, 800), (390, 844)] {
        browser.set_viewport(width, height).await;
        browser
            .save_screenshot(&artifacts_dir().join(format!("signed-{width}x{height}.png")))
            .await;
    }
    let ben = invitation_link(&server.outbox(2).await, "ben@example.com");
    browser.goto(&ben).await;
    browser.click(&browser.find("details summary").await).await;
    let reason = browser.wait_displayed("#reason", PAGE_WAIT_SECONDS).await;
    browser.type_text(&reason, "Not my contract").await;
    browser.click(&browser.find("#decline").await).await;
    browser
        .wait_for_text("#state", "You declined", PAGE_WAIT_SECONDS)
        .await;
    found.push(("declined".into(), axe_violations(&browser).await));
    for (width, height) in [(1280, 800), (390, 844)] {
        browser.set_viewport(width, height).await;
        browser
            .save_screenshot(&artifacts_dir().join(format!("declined-{width}x{height}.png")))
            .await;
    }
    let failing: Vec<_> = found.iter().filter(|(_, v)| !v.is_empty()).collect();
    assert!(failing.is_empty(), "{failing:#?}");
    browser.quit().await;
}

#[tokio::test]
async fn a_signature_drawn_with_a_finger_on_a_phone_signs_and_is_stamped() {
    let server = Server::start().await;
    let envelope = create_envelope_with(
        &server,
        "Phone signature",
        json!([{"email": "tia@example.com", "name": "Tia Touch"}]),
        1,
        json!([{"recipientEmail": "tia@example.com", "documentIndex": 0, "pageNumber": 1, "fieldType": "SIGNATURE", "x": 72, "y": 600, "width": 200, "height": 60}]),
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    server.send(id).await;
    let link = invitation_link(&server.outbox(1).await, "tia@example.com");
    let browser = Browser::start().await;
    browser.set_viewport(390, 844).await;
    browser
        .cdp(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": true, "maxTouchPoints": 5}),
        )
        .await;
    browser.goto(&link).await;
    expect_signing_page(&browser, "Phone signature", "Tia Touch").await;
    let pad = browser.wait_displayed("#pad", PAGE_WAIT_SECONDS).await;
    browser
        .execute(
            "arguments[0].scrollIntoView({block: 'center'});",
            vec![pad.reference()],
        )
        .await;
    let rect = browser
        .execute(
            "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height, document.documentElement.scrollWidth];",
            vec![pad.reference()],
        )
        .await;
    let (left, top, width, height) = (
        rect[0].as_f64().unwrap(),
        rect[1].as_f64().unwrap(),
        rect[2].as_f64().unwrap(),
        rect[3].as_f64().unwrap(),
    );
    assert!(
        width <= 390.0 && rect[4].as_f64().unwrap() <= 390.0,
        "the pad fits the phone: {rect}"
    );
    let blank = browser
        .execute(
            "return arguments[0].toDataURL('image/png');",
            vec![pad.reference()],
        )
        .await;
    // A finger stroke across the pad: touchStart, moves, touchEnd.
    let point = |fx: f64, fy: f64| json!([{"x": left + width * fx, "y": top + height * fy}]);
    browser
        .cdp(
            "Input.dispatchTouchEvent",
            json!({"type": "touchStart", "touchPoints": point(0.1, 0.5)}),
        )
        .await;
    for step in 1..=8 {
        let fy = if step % 2 == 0 { 0.3 } else { 0.7 };
        browser
            .cdp(
                "Input.dispatchTouchEvent",
                json!({"type": "touchMove", "touchPoints": point(0.1 + 0.1 * f64::from(step), fy)}),
            )
            .await;
    }
    browser
        .cdp(
            "Input.dispatchTouchEvent",
            json!({"type": "touchEnd", "touchPoints": []}),
        )
        .await;
    let drawn = browser
        .execute(
            "return arguments[0].toDataURL('image/png');",
            vec![pad.reference()],
        )
        .await;
    assert_ne!(drawn, blank, "the finger left no ink on the pad");
    sign_typed(&browser, "Tia Touch").await;
    server.wait_completed(id).await;

    // The sealed document carries the drawn signature as an image on page 1.
    let signed = server.download(id, "signed-document").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.pdf");
    std::fs::write(&path, signed.bytes().await.unwrap()).unwrap();
    let listed = std::process::Command::new("pdfimages")
        .arg("-list")
        .arg(&path)
        .output()
        .expect("pdfimages (poppler-utils) is needed");
    let text = String::from_utf8_lossy(&listed.stdout);
    let images: Vec<&str> = text
        .lines()
        .skip(2)
        .filter(|l| l.contains(" image "))
        .collect();
    assert!(
        images
            .iter()
            .any(|l| l.split_whitespace().next() == Some("1")),
        "no image on page 1: {text}"
    );
    browser.quit().await;
}

/// What the guide says of the signer's progress.
async fn progress(browser: &Browser) -> String {
    let text = browser
        .execute(
            "return document.getElementById('guide-progress').textContent;",
            vec![],
        )
        .await;
    text.as_str().unwrap_or_default().to_string()
}

/// The last 6-digit run of a message (a one-time code).
fn last_code(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len().saturating_sub(5))
        .rev()
        .find(|&start| {
            chars[start..start + 6].iter().all(char::is_ascii_digit)
                && !start
                    .checked_sub(1)
                    .is_some_and(|i| chars[i].is_ascii_digit())
                && !chars.get(start + 6).is_some_and(char::is_ascii_digit)
        })
        .map(|start| chars[start..start + 6].iter().collect())
        .unwrap_or_else(|| panic!("no code in {text:?}"))
}

#[tokio::test]
async fn a_signer_enters_the_email_and_sms_codes_in_the_browser_then_signs() {
    let server = Server::start().await;
    let document = server.upload(pdf(1, "Contract"), "contract.pdf").await;
    let envelope = expect_status(
        server
            .post("/envelopes")
            .json(&json!({
                "subject": "Advanced agreement",
                "documentIds": [document["id"]],
                "recipients": [{"email": "ana@example.com", "name": "Ana Signer", "phone": "+33612345678"}],
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
    let id = envelope["id"].as_str().unwrap();
    server.send(id).await;
    let link = invitation_link(&server.outbox(1).await, "ana@example.com");
    let browser = Browser::start().await;
    browser.goto(&link).await;
    browser
        .wait_for_text("#code", "a•••@example.com", PAGE_WAIT_SECONDS)
        .await;
    assert!(
        browser.try_find("#sign-form").await.is_err(),
        "no form before the codes"
    );
    let violations = axe_violations(&browser).await;
    assert!(violations.is_empty(), "the code step: {violations:#?}");

    // Email code: send, read it from the outbox, type it.
    browser.click(&browser.find("#send-code").await).await;
    browser
        .wait_displayed("#one-time-code", PAGE_WAIT_SECONDS)
        .await;
    let violations = axe_violations(&browser).await;
    assert!(violations.is_empty(), "the code entry: {violations:#?}");
    let mail = eventually(20, || {
        let dir = server.data_dir();
        async move {
            outbox_messages(&dir)
                .into_iter()
                .find(|(name, _)| name.starts_with("code-"))
                .map(|(_, text)| text)
        }
    })
    .await;
    let field = browser.find("#one-time-code").await;
    browser.type_text(&field, &last_code(&mail)).await;
    browser.click(&browser.find("#verify-code").await).await;

    // SMS code: the test envelope's SMS is in the outbox.
    browser
        .wait_for_text("#code", "+33•••••••78", PAGE_WAIT_SECONDS)
        .await;
    browser.click(&browser.find("#send-code").await).await;
    browser
        .wait_displayed("#one-time-code", PAGE_WAIT_SECONDS)
        .await;
    let sms_dir = server.data_dir().join("outbox/sms");
    let sms = std::fs::read_dir(&sms_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .next()
        .expect("the SMS is in the outbox");
    let field = browser.find("#one-time-code").await;
    browser.type_text(&field, &last_code(&sms)).await;
    browser.click(&browser.find("#verify-code").await).await;

    browser
        .wait_displayed("#sign-form", PAGE_WAIT_SECONDS)
        .await;
    sign_typed(&browser, "Ana Signer").await;
    let done = server.wait_completed(id).await;
    assert_eq!(
        done["recipients"][0]["authentications"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{done}"
    );
    browser.quit().await;
}
