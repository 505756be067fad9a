//! PAdES evidence judged twice. A test PKI (root, intermediate, seal certificates with OCSP and
//! CRL endpoints on loopback — `tests/fixtures/pki.py`) and a test time-stamp authority that can
//! misbehave (`tests/fixtures/tsa.py`) make a corpus of sealed PDFs, good and bad; each file is
//! judged by `signbridge verify` and by pyHanko, which must agree, and each bad one is named
//! with its precise reason. The server seals at the level configured (B-LT, B-LTA) and pyHanko
//! confirms the level; a TSA that answers with a wrong nonce holds completion; a new identity
//! seals new documents while old ones still verify.

use crate::common::*;
use serde_json::{json, Value};
use signbridge::pdf::identity::SealIdentity;
use signbridge::pdf::ltv::RevocationSource;
use signbridge::pdf::seal::{seal_pdf, PadesLevel, SealRequest, TrustServices};
use signbridge::pdf::{cms, tsp};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn fixture_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A Python fixture server: killed when dropped.
struct Fixture {
    child: Child,
    port: u16,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Fixture {
    /// Starts `script ARGS…`; its first stdout line is the port it listens on.
    fn start(script: &str, args: &[&str]) -> Fixture {
        let mut child = Command::new("python3")
            .arg(fixture_script(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut first)
            .unwrap();
        let port = first
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{script} printed {first:?}, not its port"));
        Fixture { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

/// The test PKI in a folder, with its OCSP/CRL server running.
struct Pki {
    dir: tempfile::TempDir,
    _server: Fixture,
}

impl Pki {
    fn start() -> Pki {
        Self::start_with(&[])
    }

    fn start_with(flags: &[&str]) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec![dir.path().to_str().unwrap()];
        args.extend(flags);
        let server = Fixture::start("pki.py", &args);
        Pki {
            dir,
            _server: server,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn identity(&self, name: &str) -> SealIdentity {
        SealIdentity::from_pkcs12(&std::fs::read(self.path(name)).unwrap(), "s3cret").unwrap()
    }
}

/// A time-stamp authority, well-behaved or not, and the root it chains to.
struct Tsa {
    server: Fixture,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tsa {
    fn start(misbehaviour: Option<&str>) -> Tsa {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tsa-root.pem");
        let mut args = vec!["0", "--cert-out", root.to_str().unwrap()];
        args.extend(misbehaviour);
        let server = Fixture::start("tsa.py", &args);
        Tsa {
            server,
            root,
            _dir: dir,
        }
    }
}

/// Runs a future from a blocking thread (the seal's services are synchronous).
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Handle::current().block_on(future)
}

fn post(url: &str, content_type: &str, body: Vec<u8>) -> Result<Vec<u8>, String> {
    block_on(async {
        let response = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(url)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        Ok(response.bytes().await.map_err(|e| e.to_string())?.to_vec())
    })
}

/// Asks a TSA for a token and embeds whatever comes back: the corpus needs the bad ones too
/// (the server's own client checks every token; see the wrong-nonce test).
fn unchecked_token(url: &str, digest: &[u8; 32]) -> Result<Vec<u8>, String> {
    let request = tsp::request(digest, 4242).map_err(|e| e.to_string())?;
    let reply = post(url, "application/timestamp-query", request)?;
    tsp::token_from_reply(&reply).map_err(|e| e.to_string())
}

/// OCSP and CRLs over loopback HTTP.
struct LoopbackRevocation;

impl RevocationSource for LoopbackRevocation {
    fn ocsp(&self, url: &str, request: &[u8]) -> Result<Vec<u8>, String> {
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        post(url, "application/ocsp-request", request.to_vec())
    }
    fn crl(&self, url: &str) -> Result<Vec<u8>, String> {
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        block_on(async {
            let response = reqwest::get(url).await.map_err(|e| e.to_string())?;
            Ok(response.bytes().await.map_err(|e| e.to_string())?.to_vec())
        })
    }
}

fn seal(identity: &SealIdentity, document: &[u8], level: PadesLevel, tsa: Option<&Tsa>) -> Vec<u8> {
    let url = tsa.map(|t| t.server.url());
    let timestamp = |digest: &[u8; 32]| unchecked_token(url.as_deref().unwrap(), digest);
    let request = SealRequest {
        identity,
        field_name: "Seal".into(),
        reason: "Corpus".into(),
        location: None,
        contact: None,
        at: chrono::Utc::now(),
    };
    let services = TrustServices {
        timestamper: tsa.map(|_| &timestamp as cms::Timestamper<'_>),
        revocation: Some(&LoopbackRevocation),
    };
    seal_pdf(document, &request, level, services).unwrap()
}

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program} must be installed (CI installs it): {err}"));
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `signbridge verify` with the given roots: (valid, report).
fn verify(file: &Path, roots: &[&Path]) -> (bool, String) {
    let mut args = vec!["verify", text(file)];
    for root in roots {
        args.extend(["--trust", text(root)]);
    }
    run(BIN, &args)
}

/// pyHanko's judgement (`sign validate`, with its analysis of what changed after signing).
fn pyhanko(file: &Path, roots: &[&Path]) -> (bool, String) {
    let mut args = vec!["sign", "validate"];
    for root in roots {
        args.extend(["--trust", text(root)]);
    }
    args.push("--trust-replace");
    args.push(text(file));
    run("pyhanko", &args)
}

/// The PAdES level pyHanko's library finds (`tests/fixtures/pades_level.py`: its CLI cannot
/// tell B-LT from B-LTA): `LEVEL B-…` in the output.
fn pyhanko_level(file: &Path, roots: &[&Path]) -> String {
    let script = fixture_script("pades_level.py");
    let mut args = vec![text(&script), text(file)];
    for root in roots {
        args.extend(["--trust", text(root)]);
    }
    run("python3", &args).1
}

// What pyHanko 0.38 prints (`sign validate`: one `FIELD:SHA256:STATUS` line per signature).
const PYHANKO_GOOD: &[&str] = &[":INTACT:TRUSTED,UNTOUCHED"];
const PYHANKO_GOOD_TIMESTAMPED: &[&str] =
    &[":INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>,UNTOUCHED"];
const PYHANKO_GOOD_LTV: &[&str] = &[
    ":INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>,EXTENDED_WITH_LTA_UPDATES,ACCEPTABLE_MODIFICATIONS",
];
const PYHANKO_BYTES_CHANGED: &[&str] = &[":INVALID"];
const PYHANKO_SIGNATURE_REPLACED: &[&str] = &[":INVALID"];
const PYHANKO_TIMESTAMP_WRONG_KEY: &[&str] = &["TIMESTAMP_TOKEN<INVALID>"];
const PYHANKO_TIMESTAMP_WRONG_IMPRINT: &[&str] =
    &["TIMESTAMP_TOKEN<INVALID>", "Timestamp token imprint is"];
const PYHANKO_EXPIRED: &[&str] = &[":INTACT:UNTRUSTED", "end-entity certificate expired"];
const PYHANKO_LEAF_AS_CA: &[&str] = &[":INTACT:UNTRUSTED", "is not a CA"];
/// pyHanko refuses a token with the wrong nonce, though a bug in 0.38 garbles its message
/// (the "bad nonce value" error fails while being formatted).
const PYHANKO_WRONG_NONCE: &str = "Error: Generic processing error.";

/// The hex of the CMS signature value inside a sealed file, replaced by other bytes.
fn replace_signature_value(sealed: &[u8]) -> Vec<u8> {
    let start = memchr::memmem::find(sealed, b"/Contents<").unwrap() + b"/Contents<".len();
    let end = start + memchr::memchr(b'>', &sealed[start..]).unwrap();
    let der = hex::decode(&sealed[start..end]).unwrap();
    let reading = cms::read(&der[..der.len() - der.iter().rev().take_while(|b| **b == 0).count()])
        .unwrap_or_else(|_| cms::read(&der).unwrap());
    let value = hex::encode_upper(reading.signature_value());
    let at = start + memchr::memmem::find(&sealed[start..end], value.as_bytes()).unwrap();
    let mut out = sealed.to_vec();
    for (offset, byte) in out[at + 16..at + value.len() - 8].iter_mut().enumerate() {
        *byte = b"0123456789ABCDEF"[(offset * 7 + 3) % 16];
    }
    out
}

/// One file of the corpus and how both verifiers must judge it.
struct Case {
    name: &'static str,
    file: Vec<u8>,
    /// The time-stamp authority whose root is trusted besides the PKI's.
    tsa_root: Option<PathBuf>,
    valid: bool,
    /// What `signbridge verify` must say (the precise reason, for an invalid file).
    verify_says: &'static [&'static str],
    /// What pyHanko must say.
    pyhanko_says: &'static [&'static str],
    /// The PAdES level pyHanko's library must find (valid files).
    level: Option<&'static str>,
    /// A PKI root other than the main test PKI's.
    pki_root: Option<PathBuf>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corpus_judged_by_signbridge_verify_and_pyhanko_agrees() {
    tokio::task::block_in_place(|| {
        let pki = Pki::start();
        let good = Tsa::start(None);
        let wrong_key = Tsa::start(Some("--wrong-key"));
        let wrong_imprint = Tsa::start(Some("--wrong-imprint"));
        // A second PKI whose OCSP responder is down: revocation data falls back to its CRLs.
        let crl_only = Pki::start_with(&["--ocsp-down"]);
        let leaf = pki.identity("leaf.p12");
        let document = pdf(2, "Employment contract");
        let bb = seal(&leaf, &document, PadesLevel::BB, None);
        let mut changed = bb.clone();
        let at = memchr::memmem::find(&changed, b"Employment contract").unwrap();
        changed[at] = b'e';
        let good_root = Some(good.root.clone());
        let cases = vec![
            Case {
                name: "b-b",
                file: bb.clone(),
                tsa_root: None,
                valid: true,
                verify_says: &["PAdES level: B-B", "RESULT: VALID"],
                pyhanko_says: PYHANKO_GOOD,
                level: Some("B-B"),
                pki_root: None,
            },
            Case {
                name: "b-t",
                file: seal(&leaf, &document, PadesLevel::BT, Some(&good)),
                tsa_root: good_root.clone(),
                valid: true,
                verify_says: &["PAdES level: B-T", "matches the signature"],
                pyhanko_says: PYHANKO_GOOD_TIMESTAMPED,
                level: Some("B-T"),
                pki_root: None,
            },
            Case {
                name: "b-lt",
                file: seal(&leaf, &document, PadesLevel::BLT, Some(&good)),
                tsa_root: good_root.clone(),
                valid: true,
                verify_says: &["PAdES level: B-LT", "OCSP response(s)"],
                pyhanko_says: PYHANKO_GOOD_LTV,
                level: Some("B-LT"),
                pki_root: None,
            },
            Case {
                name: "b-lta",
                file: seal(&leaf, &document, PadesLevel::BLTA, Some(&good)),
                tsa_root: good_root.clone(),
                valid: true,
                verify_says: &["PAdES level: B-LTA", "document time-stamp"],
                pyhanko_says: PYHANKO_GOOD_LTV,
                level: Some("B-LTA"),
                pki_root: None,
            },
            Case {
                name: "b-lt-from-crls",
                file: seal(
                    &crl_only.identity("leaf.p12"),
                    &document,
                    PadesLevel::BLT,
                    Some(&good),
                ),
                tsa_root: good_root.clone(),
                valid: true,
                verify_says: &["PAdES level: B-LT", "0 OCSP response(s), 2 CRL(s)"],
                pyhanko_says: PYHANKO_GOOD_LTV,
                level: Some("B-LT"),
                pki_root: Some(crl_only.path("root.pem")),
            },
            Case {
                name: "bytes-changed",
                file: changed,
                tsa_root: None,
                valid: false,
                verify_says: &["BROKEN — the signed bytes were changed after sealing"],
                pyhanko_says: PYHANKO_BYTES_CHANGED,
                level: None,
                pki_root: None,
            },
            Case {
                name: "signature-replaced",
                file: replace_signature_value(&bb),
                tsa_root: None,
                valid: false,
                verify_says: &["[FAIL] signature value", "does not verify"],
                pyhanko_says: PYHANKO_SIGNATURE_REPLACED,
                level: None,
                pki_root: None,
            },
            Case {
                name: "timestamp-wrong-key",
                file: seal(&leaf, &document, PadesLevel::BT, Some(&wrong_key)),
                tsa_root: Some(wrong_key.root.clone()),
                valid: false,
                verify_says: &["[FAIL] time-stamp signature"],
                pyhanko_says: PYHANKO_TIMESTAMP_WRONG_KEY,
                level: None,
                pki_root: None,
            },
            Case {
                name: "timestamp-wrong-imprint",
                file: seal(&leaf, &document, PadesLevel::BT, Some(&wrong_imprint)),
                tsa_root: Some(wrong_imprint.root.clone()),
                valid: false,
                verify_says: &["[FAIL] time-stamp imprint"],
                pyhanko_says: PYHANKO_TIMESTAMP_WRONG_IMPRINT,
                level: None,
                pki_root: None,
            },
            Case {
                name: "expired-signer",
                file: seal(
                    &pki.identity("expired.p12"),
                    &document,
                    PadesLevel::BB,
                    None,
                ),
                tsa_root: None,
                valid: false,
                verify_says: &[
                    "[FAIL] certificate path",
                    "Signbridge Test Seal",
                    "is not valid at",
                ],
                pyhanko_says: PYHANKO_EXPIRED,
                level: None,
                pki_root: None,
            },
            Case {
                name: "leaf-as-ca",
                file: seal(
                    &pki.identity("underleaf.p12"),
                    &document,
                    PadesLevel::BB,
                    None,
                ),
                tsa_root: None,
                valid: false,
                verify_says: &["[FAIL] certificate path", "is not a CA (basicConstraints)"],
                pyhanko_says: PYHANKO_LEAF_AS_CA,
                level: None,
                pki_root: None,
            },
        ];
        let out = tempfile::tempdir().unwrap();
        let pki_root = pki.path("root.pem");
        for case in cases {
            let path = out.path().join(format!("{}.pdf", case.name));
            std::fs::write(&path, &case.file).unwrap();
            let mut roots: Vec<&Path> = vec![case.pki_root.as_deref().unwrap_or(&pki_root)];
            roots.extend(case.tsa_root.as_deref());
            let (verified, report) = verify(&path, &roots);
            let (validated, judgement) = pyhanko(&path, &roots);
            assert_eq!(
                verified, case.valid,
                "{}: signbridge verify:\n{report}",
                case.name
            );
            assert_eq!(
                validated, case.valid,
                "{}: pyHanko:\n{judgement}",
                case.name
            );
            for expected in case.verify_says {
                assert!(
                    report.contains(expected),
                    "{}: verify must say {expected:?}:\n{report}",
                    case.name
                );
            }
            for expected in case.pyhanko_says {
                assert!(
                    judgement.contains(expected),
                    "{}: pyHanko must say {expected:?}:\n{judgement}",
                    case.name
                );
            }
            let mut json_args = vec!["verify", "--json", text(&path)];
            for root in &roots {
                json_args.extend(["--trust", text(root)]);
            }
            let (_, json_report) = run(BIN, &json_args);
            let json_report: Value = serde_json::from_str(&json_report).unwrap();
            assert_eq!(json_report["valid"], case.valid, "{}: --json", case.name);
            assert_eq!(
                json_report["level"],
                case.level.map_or(Value::Null, |level| json!(level)),
                "{}: --json level",
                case.name
            );
            if let Some(level) = case.level {
                let found = pyhanko_level(&path, &roots);
                assert!(
                    found.contains(&format!("LEVEL {level}\n")),
                    "{}: pyHanko's level:\n{found}",
                    case.name
                );
            }
            if case.valid {
                let (_, pdfsig) = run("pdfsig", &[text(&path)]);
                assert!(
                    pdfsig.contains("Signature is Valid."),
                    "{}: {pdfsig}",
                    case.name
                );
                let (qpdf_ok, qpdf) = run("qpdf", &["--check", text(&path)]);
                assert!(qpdf_ok, "{}: {qpdf}", case.name);
            }
        }
    });
}

/// A server sealing with the test PKI's certificate (from its PKCS#12 file, the password from
/// the environment) at `level`, time-stamped by `tsa`.
async fn pki_server(pki: &Pki, tsa: &Tsa, level: &str) -> Server {
    let config = format!(
        "seal:\n  p12_file: {}\n  p12_password: ${{SEAL_P12_PASSWORD}}\n  tsa_url: {}\n  level: {level}\n  retry_secs: 1\n",
        text(&pki.path("leaf.p12")),
        tsa.server.url()
    );
    Server::start_with_config_and_env(Some(&config), &[("SEAL_P12_PASSWORD", "s3cret")]).await
}

async fn completed_envelope(server: &Server) -> String {
    let id = crate::evidence::sign_everything(
        server,
        pdf(1, "Contract"),
        json!([{"email": "ana@example.com", "name": "Ana"}]),
        json!([]),
    )
    .await;
    server.wait_completed(&id).await;
    id
}

async fn download_to(server: &Server, id: &str, what: &str, path: &Path) {
    let response = server.download(id, what).await;
    assert_eq!(response.status(), 200);
    std::fs::write(path, response.bytes().await.unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_seals_at_the_level_configured_and_pyhanko_confirms_it() {
    let (pki, tsa) = tokio::task::spawn_blocking(|| (Pki::start(), Tsa::start(None)))
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let pki_root = pki.path("root.pem");
    for level in ["B-LT", "B-LTA"] {
        let server = pki_server(&pki, &tsa, level).await;
        let id = completed_envelope(&server).await;
        for what in ["signed-document", "audit-trail"] {
            let path = out.path().join(format!("{level}-{what}.pdf"));
            download_to(&server, &id, what, &path).await;
            let roots = [pki_root.as_path(), tsa.root.as_path()];
            let (verified, report) = tokio::task::block_in_place(|| verify(&path, &roots));
            assert!(verified, "{level} {what}: {report}");
            assert!(
                report.contains(&format!("PAdES level: {level}\n"))
                    && report.contains("CN=Signbridge Test Seal")
                    && report.contains("OCSP response(s)"),
                "{level} {what}: {report}"
            );
            let (validated, judgement) = tokio::task::block_in_place(|| pyhanko(&path, &roots));
            assert!(validated, "{level} {what}: {judgement}");
            for expected in PYHANKO_GOOD_LTV {
                assert!(judgement.contains(expected), "{level} {what}: {judgement}");
            }
            let found = tokio::task::block_in_place(|| pyhanko_level(&path, &roots));
            assert!(
                found.contains(&format!("LEVEL {level}\n")),
                "{level} {what}: {found}"
            );
            let (_, pdfsig) = run("pdfsig", &[text(&path)]);
            assert!(
                pdfsig.contains("Signature is Valid."),
                "{level} {what}: {pdfsig}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_stamp_with_the_wrong_nonce_is_refused_by_the_server_and_by_pyhanko() {
    let (pki, tsa) =
        tokio::task::spawn_blocking(|| (Pki::start(), Tsa::start(Some("--wrong-nonce"))))
            .await
            .unwrap();
    let server = pki_server(&pki, &tsa, "B-T").await;
    let id = crate::evidence::sign_everything(
        &server,
        pdf(1, "Contract"),
        json!([{"email": "ana@example.com", "name": "Ana"}]),
        json!([]),
    )
    .await;
    // The seal was tried (and failed on the nonce) at least twice: it had its chances.
    eventually(30, || {
        let log = server.log();
        async move {
            (log.matches("the token's nonce is not the one that was sent")
                .count()
                >= 2)
                .then_some(())
        }
    })
    .await;
    let envelope: Value = server.envelope(&id).await;
    assert_ne!(
        envelope["status"], "COMPLETED",
        "no valid time-stamp, no completion"
    );

    // pyHanko refuses the same authority's token.
    let out = tempfile::tempdir().unwrap();
    let input = out.path().join("in.pdf");
    std::fs::write(&input, pdf(1, "Contract")).unwrap();
    let output = out.path().join("out.pdf");
    let url = tsa.server.url();
    let (signed, answer) = tokio::task::block_in_place(|| {
        run(
            "pyhanko",
            &[
                "sign",
                "addsig",
                "--field",
                "Sig",
                "--timestamp-url",
                &url,
                "pemder",
                "--key",
                text(&pki.path("leaf.key")),
                "--cert",
                text(&pki.path("leaf.pem")),
                "--chain",
                text(&pki.path("intermediate.pem")),
                "--no-pass",
                text(&input),
                text(&output),
            ],
        )
    });
    assert!(!signed, "{answer}");
    assert!(answer.contains(PYHANKO_WRONG_NONCE), "{answer}");
}

#[tokio::test]
async fn a_level_without_its_authority_or_an_expired_certificate_stops_the_start() {
    let pki = tokio::task::spawn_blocking(Pki::start).await.unwrap();
    for (config, expected) in [
        (
            "seal:\n  level: B-LT\n".to_string(),
            "seal.level B-LT needs a time-stamp authority",
        ),
        (
            "seal:\n  level: B-Q\n".to_string(),
            "unknown variant `B-Q`, expected one of B-B, B-T, B-LT, B-LTA",
        ),
        (
            format!(
                "seal:\n  p12_file: {}\n  p12_password: s3cret\n",
                text(&pki.path("expired.p12"))
            ),
            "is not valid now",
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
                text(&path),
                "--data-dir",
            ])
            .arg(folder.path().join("data"))
            .output()
            .unwrap();
        assert!(!output.status.success(), "{config}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{config}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_identity_seals_new_documents_while_old_ones_still_verify() {
    let (pki, tsa) = tokio::task::spawn_blocking(|| (Pki::start(), Tsa::start(None)))
        .await
        .unwrap();
    let mut server = pki_server(&pki, &tsa, "B-LTA").await;
    let before = completed_envelope(&server).await;
    // Rotation: the operator's certificate is replaced (here by the generated identity).
    server.terminate();
    server.rewrite_config(&format!("seal:\n  tsa_url: {}\n", tsa.server.url()));
    server.start_again().await;
    let after = completed_envelope(&server).await;

    let out = tempfile::tempdir().unwrap();
    let (old, new) = (out.path().join("old.pdf"), out.path().join("new.pdf"));
    download_to(&server, &before, "signed-document", &old).await;
    download_to(&server, &after, "signed-document", &new).await;
    let pki_root = pki.path("root.pem");
    let generated_root = server.data_dir().join("seal/seal-ca.pem");
    let (ok, report) = tokio::task::block_in_place(|| verify(&old, &[&pki_root, &tsa.root]));
    assert!(ok && report.contains("CN=Signbridge Test Seal"), "{report}");
    let (ok, report) = tokio::task::block_in_place(|| verify(&new, &[&generated_root, &tsa.root]));
    assert!(ok && report.contains("Document Seal"), "{report}");
    assert!(!report.contains("CN=Signbridge Test Seal"), "{report}");
    // Each file is bound to its own identity: the old root does not vouch for the new seal.
    let (ok, report) = tokio::task::block_in_place(|| verify(&new, &[&pki_root, &tsa.root]));
    assert!(
        !ok && report.contains("NOT among the trusted ones"),
        "{report}"
    );
}
