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
        let dir = tempfile::tempdir().unwrap();
        let server = Fixture::start("pki.py", &[dir.path().to_str().unwrap()]);
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

fn seal(
    identity: &SealIdentity,
    document: &[u8],
    level: PadesLevel,
    tsa: Option<&Tsa>,
) -> Vec<u8> {
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

/// pyHanko's judgement with the given roots; `profile` asks it to check a PAdES LTV profile.
fn pyhanko(file: &Path, roots: &[&Path], profile: Option<&str>) -> (bool, String) {
    let mut args = vec!["sign", "validate", "--no-diff-analysis"];
    for root in roots {
        args.extend(["--trust", text(root)]);
    }
    args.push("--trust-replace");
    if let Some(profile) = profile {
        args.extend(["--ltv-profile", profile]);
    }
    args.push(text(file));
    run("pyhanko", &args)
}

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
    /// The LTV profile pyHanko checks the level with.
    profile: Option<&'static str>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corpus_judged_by_signbridge_verify_and_pyhanko_agrees() {
    tokio::task::block_in_place(|| {
        let pki = Pki::start();
        let good = Tsa::start(None);
        let wrong_key = Tsa::start(Some("--wrong-key"));
        let wrong_imprint = Tsa::start(Some("--wrong-imprint"));
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
                profile: None,
            },
            Case {
                name: "b-t",
                file: seal(&leaf, &document, PadesLevel::BT, Some(&good)),
                tsa_root: good_root.clone(),
                valid: true,
                verify_says: &["PAdES level: B-T", "matches the signature"],
                pyhanko_says: PYHANKO_GOOD_TIMESTAMPED,
                profile: None,
            },
            Case {
                name: "b-lt",
                file: seal(&leaf, &document, PadesLevel::BLT, Some(&good)),
                tsa_root: good_root.clone(),
                valid: true,
                verify_says: &["PAdES level: B-LT", "OCSP response(s)"],
                pyhanko_says: PYHANKO_GOOD_LTV,
                profile: Some("pades"),
            },
            Case {
                name: "b-lta",
                file: seal(&leaf, &document, PadesLevel::BLTA, Some(&good)),
                tsa_root: good_root.clone(),
                valid: true,
                verify_says: &["PAdES level: B-LTA", "document time-stamp"],
                pyhanko_says: PYHANKO_GOOD_LTV,
                profile: Some("pades-lta"),
            },
            Case {
                name: "bytes-changed",
                file: changed,
                tsa_root: None,
                valid: false,
                verify_says: &["BROKEN — the signed bytes were changed after sealing"],
                pyhanko_says: PYHANKO_BYTES_CHANGED,
                profile: None,
            },
            Case {
                name: "signature-replaced",
                file: replace_signature_value(&bb),
                tsa_root: None,
                valid: false,
                verify_says: &["[FAIL] signature value", "does not verify"],
                pyhanko_says: PYHANKO_SIGNATURE_REPLACED,
                profile: None,
            },
            Case {
                name: "timestamp-wrong-key",
                file: seal(&leaf, &document, PadesLevel::BT, Some(&wrong_key)),
                tsa_root: Some(wrong_key.root.clone()),
                valid: false,
                verify_says: &["[FAIL] time-stamp signature"],
                pyhanko_says: PYHANKO_TIMESTAMP_WRONG_KEY,
                profile: None,
            },
            Case {
                name: "timestamp-wrong-imprint",
                file: seal(&leaf, &document, PadesLevel::BT, Some(&wrong_imprint)),
                tsa_root: Some(wrong_imprint.root.clone()),
                valid: false,
                verify_says: &["[FAIL] time-stamp imprint"],
                pyhanko_says: PYHANKO_TIMESTAMP_WRONG_IMPRINT,
                profile: None,
            },
            Case {
                name: "expired-signer",
                file: seal(&pki.identity("expired.p12"), &document, PadesLevel::BB, None),
                tsa_root: None,
                valid: false,
                verify_says: &["[FAIL] certificate path", "Signbridge Test Seal", "is not valid at"],
                pyhanko_says: PYHANKO_EXPIRED,
                profile: None,
            },
            Case {
                name: "leaf-as-ca",
                file: seal(&pki.identity("underleaf.p12"), &document, PadesLevel::BB, None),
                tsa_root: None,
                valid: false,
                verify_says: &["[FAIL] certificate path", "is not a CA (basicConstraints)"],
                pyhanko_says: PYHANKO_LEAF_AS_CA,
                profile: None,
            },
        ];
        let out = tempfile::tempdir().unwrap();
        let pki_root = pki.path("root.pem");
        for case in cases {
            let path = out.path().join(format!("{}.pdf", case.name));
            std::fs::write(&path, &case.file).unwrap();
            let mut roots: Vec<&Path> = vec![&pki_root];
            roots.extend(case.tsa_root.as_deref());
            let (verified, report) = verify(&path, &roots);
            let (validated, judgement) = pyhanko(&path, &roots, case.profile);
            assert_eq!(verified, case.valid, "{}: signbridge verify:\n{report}", case.name);
            assert_eq!(validated, case.valid, "{}: pyHanko:\n{judgement}", case.name);
            for expected in case.verify_says {
                assert!(report.contains(expected), "{}: verify must say {expected:?}:\n{report}", case.name);
            }
            for expected in case.pyhanko_says {
                assert!(judgement.contains(expected), "{}: pyHanko must say {expected:?}:\n{judgement}", case.name);
            }
            if case.valid {
                let (_, pdfsig) = run("pdfsig", &[text(&path)]);
                assert!(pdfsig.contains("Signature is Valid."), "{}: {pdfsig}", case.name);
                let (qpdf_ok, qpdf) = run("qpdf", &["--check", text(&path)]);
                assert!(qpdf_ok, "{}: {qpdf}", case.name);
            }
        }
    });
}
