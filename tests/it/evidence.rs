//! The evidence of a completed envelope, checked by independent tools: the signed PDF passes
//! `qpdf --check`, poppler's `pdfsig` and pyHanko call its seal valid (trusted once given the
//! generated CA), its stamps and certificate page read back with `pdftotext` (Greek and Polish
//! included), a flipped byte is caught by `pdfsig` and `signbridge verify`, and an altered stored
//! event is caught by `signbridge audit check`. Third-party PDFs (reportlab, qpdf, pyHanko
//! updates, rotated pages, forms) go through the same path.

use crate::common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pdfs")
            .join(name),
    )
    .unwrap()
}

/// Runs a tool; returns (success, stdout + stderr).
pub(crate) fn tool(program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program} must be installed (CI installs it): {err}"));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

pub(crate) fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn qpdf_ok(path: &Path) -> bool {
    let (ok, text) = tool("qpdf", &["--check", path_str(path)]);
    ok && text.contains("No syntax or stream encoding errors")
}

fn pdftotext(path: &Path) -> String {
    tool("pdftotext", &[path_str(path), "-"]).1
}

/// pyHanko's one-line summary of each signature (exit status is 1 when untrusted).
fn pyhanko(path: &Path, trust: Option<&Path>) -> String {
    let mut args = vec!["sign", "validate", "--no-diff-analysis"];
    if let Some(trust) = trust {
        args.extend(["--trust", path_str(trust), "--trust-replace"]);
    }
    args.push(path_str(path));
    tool("pyhanko", &args).1
}

impl Server {
    pub(crate) async fn download(&self, id: &str, what: &str) -> reqwest::Response {
        self.get(&format!("/envelopes/{id}/{what}"))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
    }
}

/// A drawn signature: a dark stroke on a transparent background (RGBA).
fn drawn_signature() -> Vec<u8> {
    let (width, height) = (300u32, 100u32);
    let mut pixels = vec![0u8; (width * height * 4) as usize];
    for x in 20..280u32 {
        let y = 50.0 + 30.0 * ((x as f64) / 25.0).sin();
        for dy in -2i32..=2 {
            let row = (y as i32 + dy).clamp(0, height as i32 - 1) as u32;
            let at = ((row * width + x) * 4) as usize;
            pixels[at..at + 4].copy_from_slice(&[20, 30, 90, 255]);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&pixels).unwrap();
    }
    out
}

fn link_of(envelope: &Value, index: usize) -> String {
    envelope["recipients"][index]["signUrl"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Uploads `document`, sends an envelope with the given recipients and fields, has everyone
/// sign (typed names = recipients' names, text fields filled) and returns the envelope id.
pub(crate) async fn sign_everything(
    server: &Server,
    document: Vec<u8>,
    recipients: Value,
    fields: Value,
) -> String {
    let uploaded = server.upload(document, "contract.pdf").await;
    let envelope = expect_status(
        server
            .post("/envelopes")
            .json(&json!({
                "subject": "Σύμβαση εργασίας / Umowa o pracę",
                "documentIds": [uploaded["id"]],
                "recipients": recipients,
                "fields": fields,
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let id = envelope["id"].as_str().unwrap().to_string();
    let envelope = server.send(&id).await;
    assert_eq!(envelope["status"], "SENT", "{envelope}");
    sign_sent(server, &envelope).await;
    id
}

/// Has every recipient of a sent envelope sign through their signing page, in signing order
/// (typed names = recipients' names, text fields filled, `draws…` addresses draw).
pub(crate) async fn sign_sent(server: &Server, envelope: &Value) {
    let recipients = envelope["recipients"].as_array().unwrap();
    let mut in_order: Vec<usize> = (0..recipients.len()).collect();
    in_order.sort_by_key(|&index| recipients[index]["signingOrder"].as_u64());
    for index in in_order {
        let recipient = &recipients[index];
        let email = recipient["email"].as_str().unwrap();
        let mut form: Vec<(String, String)> = vec![
            ("action".into(), "sign".into()),
            (
                "typed_name".into(),
                recipient["name"].as_str().unwrap().into(),
            ),
            ("consent".into(), "yes".into()),
        ];
        if email.starts_with("draws") {
            use base64::Engine;
            let data = base64::engine::general_purpose::STANDARD.encode(drawn_signature());
            form.push(("signature".into(), format!("data:image/png;base64,{data}")));
        }
        for (number, field) in envelope["fields"].as_array().unwrap().iter().enumerate() {
            if field["recipientEmail"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(email)
            {
                match field["fieldType"].as_str().unwrap() {
                    "TEXT" => form.push((format!("field_{number}"), "Αθήνα, Kraków".into())),
                    "CHECKBOX" => form.push((format!("field_{number}"), "true".into())),
                    _ => {}
                }
            }
        }
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (status, page) = server.submit(&link_of(envelope, index), &pairs).await;
        assert_eq!(status, 303, "{page}");
    }
}

#[tokio::test]
async fn a_completed_envelope_has_a_sealed_signed_document_and_audit_trail() {
    let server = Server::start().await;
    let contract = signbridge::pdf::render::render_template(
        "contract",
        "# Contrat de travail\n\nSignature of the employee:\n\nSignature of the employer:\n\nPlace:\n",
        &json!({}),
    )
    .unwrap()
    .pdf;
    let before = hex_sha256(&contract);
    let id = sign_everything(
        &server,
        contract,
        json!([
            {"email": "zoe@example.com", "name": "Ζωή Παπαδοπούλου", "signingOrder": 1},
            {"email": "lukasz@example.com", "name": "Łukasz Żółć", "signingOrder": 2},
            {"email": "draws-nofield@example.com", "name": "Élodie Fièvre", "signingOrder": 2}
        ]),
        json!([
            {"recipientEmail": "zoe@example.com", "documentIndex": 0, "fieldType": "SIGNATURE", "anchorText": "Signature of the employee", "anchorPlacement": "right", "width": 170, "height": 46},
            {"recipientEmail": "zoe@example.com", "documentIndex": 0, "fieldType": "TEXT", "anchorText": "Place:", "width": 160, "height": 16},
            {"recipientEmail": "zoe@example.com", "documentIndex": 0, "fieldType": "DATE_SIGNED", "pageNumber": 1, "x": 400, "y": 760, "width": 100, "height": 16},
            {"recipientEmail": "lukasz@example.com", "documentIndex": 0, "fieldType": "SIGNATURE", "anchorText": "signature of the EMPLOYER", "anchorPlacement": "below", "width": 170, "height": 46},
            {"recipientEmail": "lukasz@example.com", "documentIndex": 0, "fieldType": "CHECKBOX", "pageNumber": 1, "x": 72, "y": 700, "width": 12, "height": 12}
        ]),
    )
    .await;
    let envelope = server.wait_completed(&id).await;
    assert!(envelope["completedAt"].is_string(), "{envelope}");

    let response = server.download(&id, "signed-document").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let signed = response.bytes().await.unwrap().to_vec();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.pdf");
    std::fs::write(&path, &signed).unwrap();

    assert!(
        qpdf_ok(&path),
        "{}",
        tool("qpdf", &["--check", path_str(&path)]).1
    );
    let (_, report) = tool("pdfsig", &[path_str(&path)]);
    assert!(report.contains("Signature is Valid."), "{report}");
    assert!(report.contains("Total document signed"), "{report}");
    assert!(report.contains("ETSI.CAdES.detached"), "{report}");
    let untrusted = pyhanko(&path, None);
    assert!(untrusted.contains(":INTACT:UNTRUSTED"), "{untrusted}");
    let ca = server.data_dir().join("seal/seal-ca.pem");
    let trusted = pyhanko(&path, Some(&ca));
    assert!(trusted.contains(":INTACT:TRUSTED"), "{trusted}");

    let text = pdftotext(&path);
    for expected in [
        "Ζωή Παπαδοπούλου",
        "Łukasz Żółć",
        "Élodie Fièvre",
        "Αθήνα, Kraków",
        "Certificate of completion",
        id.as_str(),
        before.as_str(),
        "signed by Łukasz Żółć",
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` missing from:\n{text}"
        );
    }
    // The drawn signature is an image with its transparency (a soft mask).
    let (_, images) = tool("pdfimages", &["-list", path_str(&path)]);
    assert!(images.contains("smask"), "{images}");
    let page_count = tool("pdfinfo", &[path_str(&path)]).1;
    assert!(
        page_count.contains("Pages:           3"),
        "contract + signature sheet + certificate: {page_count}"
    );

    let data_dir = server.data_dir();
    let (ok, verified) = tool(
        BIN,
        &["verify", path_str(&path), "--data-dir", path_str(&data_dir)],
    );
    assert!(ok, "{verified}");
    assert!(
        verified.contains("INTACT") && verified.contains("chains to a trusted root"),
        "{verified}"
    );

    let trail = server.download(&id, "audit-trail").await;
    assert_eq!(trail.status(), 200);
    assert_eq!(trail.headers()["content-type"], "application/pdf");
    let trail_path = dir.path().join("trail.pdf");
    std::fs::write(&trail_path, trail.bytes().await.unwrap()).unwrap();
    assert!(qpdf_ok(&trail_path));
    assert!(tool("pdfsig", &[path_str(&trail_path)])
        .1
        .contains("Signature is Valid."));
    let trail_text = pdftotext(&trail_path);
    for expected in [
        "envelope.created",
        "envelope.sent",
        "recipient.signed",
        "envelope.completed",
        "Chain head",
        "zoe@example.com",
    ] {
        assert!(
            trail_text.contains(expected),
            "`{expected}` missing from the audit trail:\n{trail_text}"
        );
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn downloads_before_the_end_are_refused_with_409() {
    let server = Server::start().await;
    let uploaded = server.upload(pdf(1, "Contract"), "c.pdf").await;
    let envelope = expect_status(
        server
            .post("/envelopes")
            .json(&json!({"subject": "S", "documentIds": [uploaded["id"]],
                "recipients": [{"email": "a@example.com", "name": "A"}]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    for what in ["signed-document", "audit-trail"] {
        expect_error(
            server.download(id, what).await,
            409,
            "envelope_not_completed",
        )
        .await;
    }
    server.send(id).await;
    for what in ["signed-document", "audit-trail"] {
        expect_error(
            server.download(id, what).await,
            409,
            "envelope_not_completed",
        )
        .await;
    }
    expect_error(
        server
            .download("env_01JAAAAAAAAAAAAAAAAAAAAAAA", "signed-document")
            .await,
        404,
        "not_found",
    )
    .await;

    // A voided envelope has an audit trail (sealed), but no signed document.
    expect_status(
        server
            .delete(&format!("/envelopes/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    expect_error(
        server.download(id, "signed-document").await,
        409,
        "envelope_not_completed",
    )
    .await;
    let trail = server.download(id, "audit-trail").await;
    assert_eq!(trail.status(), 200);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("voided.pdf");
    std::fs::write(&path, trail.bytes().await.unwrap()).unwrap();
    assert!(tool("pdfsig", &[path_str(&path)])
        .1
        .contains("Signature is Valid."));
    let text = pdftotext(&path);
    assert!(
        text.contains("envelope.voided") && text.contains("VOIDED"),
        "{text}"
    );
}

#[tokio::test]
async fn third_party_pdfs_are_stamped_and_sealed_validly() {
    let server = Server::start_unthrottled().await;
    let cases: [(&str, Value); 5] = [
        (
            "reportlab-multipage-1.4.pdf",
            json!({"anchorText": "signature of the employee", "anchorPlacement": "below"}),
        ),
        (
            "rotated-cropbox.pdf",
            json!({"anchorText": "Sign here", "anchorIndex": 1}),
        ),
        ("incremental-update.pdf", json!({"anchorText": "Signature"})),
        (
            "xref-stream-1.7.pdf",
            json!({"pageNumber": 2, "x": 72, "y": 72}),
        ),
        (
            "acroform-fields.pdf",
            json!({"anchorText": "Signature", "anchorPlacement": "left"}),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let ca = server.data_dir().join("seal/seal-ca.pem");
    for (name, placement) in cases {
        let original = fixture(name);
        let mut field = json!({"recipientEmail": "ana@example.com", "documentIndex": 0, "fieldType": "SIGNATURE", "width": 150, "height": 40});
        for (key, value) in placement.as_object().unwrap() {
            field[key] = value.clone();
        }
        let id = sign_everything(
            &server,
            original.clone(),
            json!([{"email": "ana@example.com", "name": "Ana Ødegård"}]),
            json!([field]),
        )
        .await;
        server.wait_completed(&id).await;
        let signed = server
            .download(&id, "signed-document")
            .await
            .bytes()
            .await
            .unwrap();
        assert!(
            signed.starts_with(&original),
            "{name}: the original must stay a prefix"
        );
        let path: PathBuf = dir.path().join(name);
        std::fs::write(&path, &signed).unwrap();
        assert!(
            qpdf_ok(&path),
            "{name}: {}",
            tool("qpdf", &["--check", path_str(&path)]).1
        );
        let (_, report) = tool("pdfsig", &[path_str(&path)]);
        assert!(
            report.contains("Signature is Valid.") && report.contains("Total document signed"),
            "{name}: {report}"
        );
        let validated = pyhanko(&path, Some(&ca));
        assert!(validated.contains(":INTACT:TRUSTED"), "{name}: {validated}");
        assert!(
            pdftotext(&path).contains("signed by Ana Ødegård"),
            "{name}: stamp text missing"
        );
    }
}

#[tokio::test]
async fn a_flipped_byte_is_reported_by_pdfsig_and_signbridge_verify() {
    let server = Server::start().await;
    let id = sign_everything(
        &server,
        pdf(2, "Signature"),
        json!([{"email": "ana@example.com", "name": "Ana"}]),
        json!([]),
    )
    .await;
    server.wait_completed(&id).await;
    let signed = server
        .download(&id, "signed-document")
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.pdf");
    std::fs::write(&good, &signed).unwrap();
    let (ok, text) = tool(BIN, &["verify", path_str(&good)]);
    assert!(
        ok && text.contains("INTACT") && text.contains("RESULT: VALID"),
        "{text}"
    );

    // One byte inside the first signed range (the original document's text).
    let mut tampered = signed.clone();
    let at = memchr_find(&tampered, b"Signature - page 1").unwrap();
    tampered[at] = b's';
    let bad = dir.path().join("bad.pdf");
    std::fs::write(&bad, &tampered).unwrap();
    let (_, report) = tool("pdfsig", &[path_str(&bad)]);
    assert!(
        report.contains("Digest Mismatch") || report.contains("Signature is Invalid"),
        "{report}"
    );
    let (ok, text) = tool(BIN, &["verify", path_str(&bad)]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("BROKEN") && text.contains("RESULT: NOT VALID"),
        "{text}"
    );

    // Bytes appended after the seal.
    let mut appended = signed.clone();
    appended.extend_from_slice(b"\n% appended\n");
    let extra = dir.path().join("appended.pdf");
    std::fs::write(&extra, &appended).unwrap();
    let (ok, text) = tool(BIN, &["verify", path_str(&extra)]);
    assert!(!ok && text.contains("NOT the whole file"), "{text}");

    // Not sealed at all.
    let plain = dir.path().join("plain.pdf");
    std::fs::write(&plain, pdf(1, "x")).unwrap();
    let (ok, text) = tool(BIN, &["verify", path_str(&plain)]);
    assert!(!ok && text.contains("not sealed"), "{text}");
}

fn memchr_find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn an_altered_stored_event_breaks_the_audit_chain() {
    let mut server = Server::start().await;
    let id = sign_everything(
        &server,
        pdf(1, "Contract"),
        json!([{"email": "ana@example.com", "name": "Ana"}]),
        json!([]),
    )
    .await;
    server.wait_completed(&id).await;
    server.kill9();
    let data = server.data_dir();
    let (ok, text) = tool(BIN, &["audit", "check", &id, "--data-dir", path_str(&data)]);
    assert!(ok && text.contains("audit chain intact"), "{text}");

    {
        let store = signbridge::store::Store::open(&data).unwrap();
        let (key, value) = store
            .events
            .iter()
            .map(Result::unwrap)
            .find(|(_, v)| String::from_utf8_lossy(v).contains("recipient.signed"))
            .unwrap();
        let mut event: Value = serde_json::from_slice(&value).unwrap();
        event["ip"] = json!("203.0.113.66");
        store
            .events
            .insert(key, serde_json::to_vec(&event).unwrap())
            .unwrap();
        store.flush_blocking().unwrap();
    }
    let (ok, text) = tool(BIN, &["audit", "check", &id, "--data-dir", path_str(&data)]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("BROKEN") && text.contains("altered"),
        "{text}"
    );
}

#[tokio::test]
async fn a_failing_time_stamp_authority_holds_completion_until_it_answers() {
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tsa.py");
    let logs = tempfile::tempdir().unwrap();
    let failing_log = logs.path().join("failing.log");
    let start_tsa = |fail: bool| {
        let mut command = Command::new("python3");
        command.arg(&script).arg(port.to_string());
        command.arg("--log").arg(if fail {
            failing_log.clone()
        } else {
            logs.path().join("working.log")
        });
        if fail {
            command.arg("--fail");
        }
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let mut child = command.spawn().unwrap();
        let mut first = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut first,
        )
        .unwrap();
        assert_eq!(first.trim(), port.to_string());
        child
    };
    let mut tsa = start_tsa(true);
    let server = Server::start_with_config(Some(&format!(
        "seal:\n  tsa_url: http://127.0.0.1:{port}/\n  retry_secs: 1\n"
    )))
    .await;
    let id = sign_everything(
        &server,
        pdf(1, "Contract"),
        json!([{"email": "ana@example.com", "name": "Ana"}]),
        json!([]),
    )
    .await;
    // The TSA was asked, failed, and was asked again twice (retry_secs: 1): sealing had its
    // chances. (One sealing attempt asks at most twice — the document, then the audit trail —
    // so a third request is a retry.)
    eventually(30, || {
        let log = std::fs::read_to_string(&failing_log).unwrap_or_default();
        async move { (log.lines().filter(|l| *l == "POST 500").count() >= 3).then_some(()) }
    })
    .await;
    let envelope = server.envelope(&id).await;
    assert_ne!(
        envelope["status"], "COMPLETED",
        "no time-stamp, no completion"
    );
    expect_error(
        server.download(&id, "signed-document").await,
        409,
        "envelope_not_completed",
    )
    .await;

    tsa.kill().unwrap();
    tsa.wait().unwrap();
    let mut tsa = start_tsa(false);
    server.wait_completed(&id).await;
    let signed = server
        .download(&id, "signed-document")
        .await
        .bytes()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timestamped.pdf");
    std::fs::write(&path, &signed).unwrap();
    let (ok, text) = tool(BIN, &["verify", path_str(&path)]);
    assert!(
        ok && text.contains("time-stamp:") && text.contains("matches the signature"),
        "{text}"
    );
    let validated = pyhanko(&path, None);
    assert!(validated.contains("TIMESTAMP_TOKEN<INTACT"), "{validated}");
    tsa.kill().unwrap();
    tsa.wait().unwrap();
}

/// Makes an operator's CA, signing key and certificate with Python's `cryptography` (a pyHanko
/// dependency): `ca.pem`, `key.pem`, `chain.pem` and `seal.p12` (password `s3cret`, AES).
fn operator_identity(dir: &Path) {
    let script = r#"
import datetime, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
out = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
def name(cn): return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme HR GmbH"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])
ca_key = ec.generate_private_key(ec.SECP256R1())
ca = (x509.CertificateBuilder().subject_name(name("Acme Root CA")).issuer_name(name("Acme Root CA"))
      .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
      .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=3650))
      .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
      .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
      .sign(ca_key, hashes.SHA256()))
key = ec.generate_private_key(ec.SECP256R1())
leaf = (x509.CertificateBuilder().subject_name(name("Acme HR Seal")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(ca_key, hashes.SHA256()))
pem = serialization.Encoding.PEM
open(f"{out}/ca.pem", "wb").write(ca.public_bytes(pem))
open(f"{out}/chain.pem", "wb").write(leaf.public_bytes(pem) + ca.public_bytes(pem))
open(f"{out}/key.pem", "wb").write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
open(f"{out}/seal.p12", "wb").write(pkcs12.serialize_key_and_certificates(b"seal", key, leaf, [ca], serialization.BestAvailableEncryption(b"s3cret")))
"#;
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn an_operator_certificate_seals_from_pem_or_pkcs12() {
    let keys = tempfile::tempdir().unwrap();
    operator_identity(keys.path());
    let dir = keys.path().display().to_string();
    for config in [
        format!("seal:\n  key_file: {dir}/key.pem\n  certificate_file: {dir}/chain.pem\n"),
        format!("seal:\n  p12_file: {dir}/seal.p12\n  p12_password: ${{SIGNBRIDGE_TEST_P12_PASSWORD}}\n"),
    ] {
        let server = Server::start_with_config_and_env(
            Some(&config),
            &[("SIGNBRIDGE_TEST_P12_PASSWORD", "s3cret")],
        )
        .await;
        assert!(!server.data_dir().join("seal/seal-ca.pem").exists(), "nothing generated when configured");
        let id = sign_everything(
            &server,
            pdf(1, "Contract"),
            json!([{"email": "ana@example.com", "name": "Ana"}]),
            json!([]),
        )
        .await;
        server.wait_completed(&id).await;
        let signed = server.download(&id, "signed-document").await.bytes().await.unwrap();
        let path = keys.path().join("signed.pdf");
        std::fs::write(&path, &signed).unwrap();
        let ca = keys.path().join("ca.pem");
        let validated = pyhanko(&path, Some(&ca));
        assert!(validated.contains(":INTACT:TRUSTED"), "{config}: {validated}");
        let (ok, text) = tool(BIN, &["verify", path_str(&path), "--trust", path_str(&ca)]);
        assert!(ok && text.contains("CN=Acme HR Seal, O=Acme HR GmbH"), "{text}");
    }

    // A wrong password or a key for another certificate stops the start with a clear message.
    for (config, expected) in [
        (
            format!("seal:\n  p12_file: {dir}/seal.p12\n  p12_password: wrong\n"),
            "PKCS#12",
        ),
        (
            format!("seal:\n  key_file: {dir}/key.pem\n  certificate_file: {dir}/ca.pem\n"),
            "does not belong",
        ),
        (
            format!("seal:\n  key_file: {dir}/key.pem\n"),
            "certificate_file",
        ),
    ] {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("signbridge.yaml");
        std::fs::write(&path, &config).unwrap();
        let output = Command::new(BIN)
            .args([
                "run",
                "--listen",
                "127.0.0.1:0",
                "--config",
                path_str(&path),
                "--data-dir",
            ])
            .arg(folder.path().join("data"))
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{config}: {stderr}");
    }
}
