//! Hostile input as an attacker sends it, against the real binary: large bodies without a key,
//! slowloris connections, a connection flood, decompression bombs, a PDF whose
//! cross-reference points outside the file, active content, ambiguous credentials and
//! concurrent uploads of images at the pixel limit. Memory is the server's peak RSS
//! (`VmHWM` in /proc), asserted under a stated budget.

use crate::common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The peak resident memory the server may reach in these tests (the goal).
const PEAK_RSS_BUDGET_MIB: u64 = 300;

/// The server process's peak resident set size, in MiB.
fn peak_rss_mib(server: &Server) -> u64 {
    let pid = server.child.as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib / 1024
}

fn assert_peak_rss_within_budget(server: &Server, what: &str) {
    let peak = peak_rss_mib(server);
    println!("{what}: server peak RSS {peak} MiB (budget {PEAK_RSS_BUDGET_MIB} MiB)");
    assert!(
        peak < PEAK_RSS_BUDGET_MIB,
        "{what}: the server's peak RSS was {peak} MiB, over the {PEAK_RSS_BUDGET_MIB} MiB budget"
    );
}

/// Sends `head` and then `body_len` bytes (in 1 MiB writes, or 1 MiB chunks of chunked
/// transfer encoding) on a raw connection and returns the status code and the answer's body.
/// A server that answers early and closes is fine: write errors end the sending, the answer
/// is read all the same.
async fn raw_send(port: u16, head: &str, body_len: usize, chunked: bool) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 1024 * 1024];
    let mut sent = 0;
    while sent < body_len {
        let n = chunk.len().min(body_len - sent);
        let mut frame = Vec::with_capacity(n + 16);
        if chunked {
            frame.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        }
        frame.extend_from_slice(&chunk[..n]);
        if chunked {
            frame.extend_from_slice(b"\r\n");
        }
        if stream.write_all(&frame).await.is_err() {
            break;
        }
        sent += n;
    }
    if chunked {
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

async fn raw_request(port: u16, head: &str, body_len: usize) -> (u16, String) {
    raw_send(port, head, body_len, false).await
}

#[tokio::test]
async fn bodies_without_a_key_cost_no_memory() {
    let server = Server::start().await;
    let port = server.port;
    // The positive case first: with the key, an upload goes through.
    server.upload(pdf(1, "Contract"), "contract.pdf").await;
    let size = 64 * 1024 * 1024;
    let head = format!(
        "POST /api/v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let head = head.clone();
            tokio::spawn(async move { raw_request(port, &head, size).await })
        })
        .collect();
    for attempt in attempts {
        let (status, body) = attempt.await.unwrap();
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("missing_api_key"), "{body}");
    }
    assert_peak_rss_within_budget(&server, "20 × 64 MiB uploads without a key");
    // Nothing was stored: only the first upload is there.
    let list = expect_status(server.get("/documents").send().await.unwrap(), 200).await;
    assert_eq!(list["pagination"]["total"], 1);
}

#[tokio::test]
async fn two_authorization_headers_are_refused_whatever_their_order() {
    let server = Server::start().await;
    let valid = format!("Bearer {}", server.key);
    let bogus = "Bearer sk_test_00000000000000000000000000000000bogus";
    let alone = server
        .http
        .get(server.url("/documents"))
        .header("Authorization", &valid)
        .send()
        .await
        .unwrap();
    expect_status(alone, 200).await;
    for (first, second) in [(valid.as_str(), bogus), (bogus, valid.as_str())] {
        let response = server
            .http
            .get(server.url("/documents"))
            .header("Authorization", first)
            .header("Authorization", second)
            .send()
            .await
            .unwrap();
        expect_error(response, 400, "ambiguous_credentials").await;
    }
}

#[tokio::test]
async fn slowloris_connections_are_closed_at_the_header_timeout_while_others_are_served() {
    let header_timeout = 2;
    let server = Server::start_with_config(Some(&format!(
        "server:\n  header_read_timeout_secs: {header_timeout}\n"
    )))
    .await;
    let port = server.port;
    let attackers: Vec<_> = (0..200)
        .map(|i| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                let started = Instant::now();
                stream
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    .await
                    .unwrap();
                let (mut reader, mut writer) = stream.into_split();
                // One header byte every 250 ms, never the blank line that ends the headers;
                // the server must close the connection. (A safety bound of 60 s ends the
                // loop if it never does, and the test then fails.)
                let trickle = async move {
                    let line = format!("X-Slow-{i}: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
                    for byte in line.bytes().cycle().take(240) {
                        if writer.write_all(&[byte]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                };
                let mut buffer = [0u8; 512];
                // Any end of the read (EOF, reset, or an error answer) is the server acting.
                let closed = tokio::select! {
                    _ = reader.read(&mut buffer) => true,
                    () = trickle => false,
                };
                (closed, started.elapsed())
            })
        })
        .collect();
    // Meanwhile ordinary requests are answered.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let response = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("{}/healthz", server.base()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        slowest = slowest.max(started.elapsed());
    }
    let mut longest = Duration::ZERO;
    for attacker in attackers {
        let (closed, open_for) = attacker.await.unwrap();
        assert!(
            closed,
            "a slowloris connection was never closed by the server"
        );
        longest = longest.max(open_for);
    }
    println!(
        "slowloris: 200 connections closed by the server, the last after {:.1} s (header timeout {header_timeout} s); slowest of 20 normal requests meanwhile: {} ms",
        longest.as_secs_f64(),
        slowest.as_millis()
    );
}

#[tokio::test]
async fn connections_past_the_cap_get_503_and_the_server_recovers() {
    let server = Server::start_with_config(Some("server:\n  max_connections: 16\n")).await;
    let port = server.port;
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    // Connections are accepted in the order they were made, so the 17th finds the cap full.
    let (status, body) = raw_request(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 0).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "server_busy"
    );
    drop(held);
    eventually(30, || async {
        let (status, _) = raw_request(
            port,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            0,
        )
        .await;
        (status == 200).then_some(())
    })
    .await;
}

fn flate_stream(dictionary: &str, decoded_len: usize, fill: u8) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![fill; 1024 * 1024];
    let mut left = decoded_len;
    while left > 0 {
        let n = left.min(block.len());
        encoder.write_all(&block[..n]).unwrap();
        left -= n;
    }
    let data = encoder.finish().unwrap();
    let mut stream = format!(
        "<< {dictionary} /Filter /FlateDecode /Length {} >>\nstream\n",
        data.len()
    )
    .into_bytes();
    stream.extend_from_slice(&data);
    stream.extend_from_slice(b"\nendstream");
    stream
}

/// One-page documents whose page content streams inflate to `each` bytes, `pages` of them.
fn bomb(pages: usize, each: usize) -> Vec<u8> {
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            kids.join(" ")
        )
        .into_bytes(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    let stream = flate_stream("", each, b' ');
    for i in 0..pages {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ).into_bytes());
        objects.push(stream.clone());
    }
    pdf_of(&objects, None)
}

#[tokio::test]
async fn decompression_bombs_are_refused_naming_the_limit_within_the_memory_budget() {
    let server = Server::start().await;
    server.upload(pdf(1, "Contract"), "contract.pdf").await;
    // 1 GiB of white space behind about 1 MB of Flate.
    let one_stream = bomb(1, 1024 * 1024 * 1024);
    println!("bomb: {} bytes inflate to 1 GiB", one_stream.len());
    let body = expect_error(
        server.upload_raw(&server.key, one_stream, "bomb.pdf").await,
        422,
        "pdf_limit_exceeded",
    )
    .await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("decompressed bytes per stream"),
        "{body}"
    );
    // Eight pages of 12 MiB each: every stream is under the per-stream limit, together they
    // are over the per-document one.
    let many_streams = bomb(8, 12 * 1024 * 1024);
    let body = expect_error(
        server
            .upload_raw(&server.key, many_streams, "bombs.pdf")
            .await,
        422,
        "pdf_limit_exceeded",
    )
    .await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("decompressed bytes per document"),
        "{body}"
    );
    assert_peak_rss_within_budget(&server, "decompression bombs");
    let list = expect_status(server.get("/documents").send().await.unwrap(), 200).await;
    assert_eq!(
        list["pagination"]["total"], 1,
        "a refused upload was stored"
    );
}

#[tokio::test]
async fn javascript_and_embedded_files_are_refused_at_upload() {
    let server = Server::start().await;
    server.upload(pdf(1, "Contract"), "contract.pdf").await;
    let page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_vec();
    let pages = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec();
    let with_javascript = pdf_of(
        &[
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /JavaScript /JS (app.alert\\(1\\)) >> >>".to_vec(),
            pages.clone(),
            page.clone(),
        ],
        None,
    );
    let body = expect_error(
        server
            .upload_raw(&server.key, with_javascript, "js.pdf")
            .await,
        422,
        "pdf_active_content",
    )
    .await;
    assert!(
        body["error"].as_str().unwrap().contains("JavaScript"),
        "{body}"
    );
    let with_attachment = pdf_of(
        &[
            b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(a.exe) 4 0 R] >> >> >>".to_vec(),
            pages,
            page,
            b"<< /Type /Filespec /F (a.exe) /EF << /F 5 0 R >> >>".to_vec(),
            b"<< /Type /EmbeddedFile /Length 2 >>\nstream\nMZ\nendstream".to_vec(),
        ],
        None,
    );
    expect_error(
        server
            .upload_raw(&server.key, with_attachment, "attachment.pdf")
            .await,
        422,
        "pdf_active_content",
    )
    .await;
    let list = expect_status(server.get("/documents").send().await.unwrap(), 200).await;
    assert_eq!(list["pagination"]["total"], 1);
}

#[tokio::test]
async fn a_pdf_with_a_cross_reference_outside_the_file_is_sealed_after_signing() {
    let server = Server::start().await;
    let mut broken = pdf(1, "Services agreement");
    let len = broken.len();
    // Object 3 (the font) "is" far past the end of the file.
    let table = memchr_find(&broken, b"xref\n0 ").unwrap();
    let third_entry = table + "xref\n0 6\n".len() + 3 * 20;
    broken[third_entry..third_entry + 10]
        .copy_from_slice(format!("{:010}", len + 5_000).as_bytes());
    let document = expect_status(
        server.upload_raw(&server.key, broken, "broken.pdf").await,
        201,
    )
    .await;
    let envelope = expect_status(
        server
            .post("/envelopes")
            .json(&json!({
                "subject": "Services agreement",
                "documentIds": [document["id"]],
                "recipients": [{"email": "client@example.com", "name": "Client"}],
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    server.send(id).await;
    let link = envelope["recipients"][0]["signUrl"].as_str().unwrap();
    let (status, page) = server.sign(link, "Client").await;
    assert!(status < 400, "{status}: {page}");
    let done = server.wait_completed(id).await;
    assert_eq!(done["status"], "COMPLETED");
}

fn memchr_find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A PNG of `width` × `height` white RGBA pixels, written row by row (small file, many
/// pixels).
fn large_png(width: u32, height: u32) -> Vec<u8> {
    let file = tempfile::NamedTempFile::new().unwrap();
    {
        let out = std::io::BufWriter::new(file.reopen().unwrap());
        let mut encoder = png::Encoder::new(out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Best);
        let writer = encoder.write_header().unwrap();
        let mut stream = writer.into_stream_writer().unwrap();
        let row = vec![255u8; width as usize * 4];
        for _ in 0..height {
            stream.write_all(&row).unwrap();
        }
        stream.finish().unwrap();
    }
    std::fs::read(file.path()).unwrap()
}

#[tokio::test]
async fn concurrent_uploads_of_images_at_the_pixel_limit_stay_within_the_memory_budget() {
    let server = Server::start().await;
    // 7,745 × 7,745 is just under the 60-million-pixel limit of one image.
    let image = large_png(7_745, 7_745);
    println!("PNG at the pixel limit: {} bytes", image.len());
    let names = ["scan-1.png", "scan-2.png"];
    let uploads: Vec<_> = names
        .iter()
        .map(|name| server.upload_raw(&server.key, image.clone(), name))
        .collect();
    for upload in futures_util::future::join_all(uploads).await {
        let document = expect_status(upload, 201).await;
        assert_eq!(document["pageCount"], 1);
        assert_eq!(document["originalMimeType"], "image/png");
    }
    assert_peak_rss_within_budget(&server, "two PNG uploads at the pixel limit");
}

#[tokio::test]
async fn a_signed_envelope_that_cannot_be_sealed_is_voided_and_the_sender_told() {
    let mut server = Server::start().await;
    // A receiver address on loopback where nothing listens: deliveries are recorded (and
    // fail), which shows the event that was produced.
    let hook = expect_status(
        server
            .post("/webhooks")
            .json(&json!({"url": format!("http://127.0.0.1:{}/hook", free_port()), "events": ["envelope.voided", "envelope.completed"]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let document = server
        .upload(
            pdf(1, "Offer letter. Signature of the employee"),
            "offer.pdf",
        )
        .await;
    let envelope = expect_status(
        server
            .post("/envelopes")
            .json(&json!({
                "subject": "Offer letter",
                "documentIds": [document["id"]],
                "recipients": [{"email": "zoe@example.com", "name": "Zoe Martin"}],
                "fields": [{"recipientEmail": "zoe@example.com", "documentIndex": 0, "fieldType": "SIGNATURE",
                            "anchorText": "Signature of the employee", "anchorPlacement": "right", "width": 170, "height": 46}],
            }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let id = envelope["id"].as_str().unwrap().to_string();
    server.send(&id).await;
    // The operator lowers the PDF limits below what this document needs to be read, after
    // it was accepted: sealing can no longer read it, rewritten or not.
    let config = server.dir.path().join("signbridge.yaml");
    std::fs::write(&config, "limits:\n  pdf:\n    max_stream_bytes: 8\n").unwrap();
    server.config = Some(config);
    server.restart().await;
    let link = envelope["recipients"][0]["signUrl"].as_str().unwrap();
    let (status, page) = server.sign(link, "Zoe Martin").await;
    assert!(status < 400, "{status}: {page}");
    let ended = eventually(60, || async {
        let current = server.envelope(&id).await;
        (current["status"] != "PARTIALLY_SIGNED" && current["status"] != "SENT").then_some(current)
    })
    .await;
    assert_eq!(ended["status"], "VOIDED", "{ended}");
    let reason = ended["voidReason"].as_str().unwrap();
    assert!(reason.contains("could not be sealed"), "{reason}");
    assert!(reason.contains("decompressed bytes per stream"), "{reason}");
    // The signer is told it was voided, the sender what happened and what to do.
    let messages = server.outbox(3).await;
    let to_sender = messages
        .iter()
        .find(|(_, text)| {
            text.contains("To: admin@localhost")
                || text.contains("To: <admin@localhost>")
                || text.contains("admin@localhost")
        })
        .unwrap_or_else(|| panic!("no mail to the sender: {messages:?}"));
    assert!(
        to_sender.1.contains("could not be sealed"),
        "{}",
        to_sender.1
    );
    let deliveries = eventually(30, || async {
        let list = expect_status(
            server
                .get(&format!(
                    "/webhooks/{}/deliveries",
                    hook["id"].as_str().unwrap()
                ))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let found = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.to_string().contains("envelope.voided"));
        found.then_some(list)
    })
    .await;
    let text = deliveries.to_string();
    assert!(text.contains("sealing_failed"), "{text}");
    assert!(!text.contains("envelope.completed"), "{text}");
    // Sealing is not retried: the envelope stays voided.
    let again = server.envelope(&id).await;
    assert_eq!(again["status"], "VOIDED");
}

#[tokio::test]
async fn a_body_that_trickles_in_is_cut_at_the_body_timeout() {
    let server = Server::start_with_config(Some("server:\n  body_timeout_secs: 2\n")).await;
    // The positive case: a whole body in time is read.
    server.upload(pdf(1, "Contract"), "contract.pdf").await;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let head = format!(
        "POST /api/v1/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n",
        server.key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // One byte every 250 ms: 100,000 bytes would take hours. A safety bound of 60 s ends the
    // loop if the server never answers, and the test then fails.
    let trickle = async move {
        for _ in 0..240 {
            if writer.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let mut answer = Vec::new();
    tokio::select! {
        _ = reader.read_to_end(&mut answer) => {},
        () = trickle => panic!("the server never cut the slow body"),
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
}

/// A PDF whose catalog, page tree and page sit in an object stream with `filler` more
/// objects (a cross-reference stream points into it).
fn pdf_with_object_stream(filler: usize) -> Vec<u8> {
    let mut members = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_string(),
    ];
    members.extend((0..filler).map(|i| format!("<< /N {i} >>")));
    let mut offsets = String::new();
    let mut body = String::new();
    for (i, member) in members.iter().enumerate() {
        offsets.push_str(&format!("{} {} ", i + 1, body.len()));
        body.push_str(member);
        body.push(' ');
    }
    let content = format!("{offsets}{body}");
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(content.as_bytes()).unwrap();
    let packed = encoder.finish().unwrap();
    let stream_id = members.len() + 1;
    let xref_id = stream_id + 1;
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let stream_offset = out.len();
    out.extend_from_slice(
        format!(
            "{stream_id} 0 obj\n<< /Type /ObjStm /N {} /First {} /Filter /FlateDecode /Length {} >>\nstream\n",
            members.len(),
            offsets.len(),
            packed.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&packed);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    let xref_offset = out.len();
    // Type 1 entries are (1, offset, 0), type 2 (2, stream, index), 1 + 4 + 4 bytes each.
    let mut rows = vec![[0u8, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]];
    for index in 0..members.len() {
        let mut row = [2u8, 0, 0, 0, 0, 0, 0, 0, 0];
        row[1..5].copy_from_slice(&(stream_id as u32).to_be_bytes());
        row[5..9].copy_from_slice(&(index as u32).to_be_bytes());
        rows.push(row);
    }
    for offset in [stream_offset, xref_offset] {
        let mut row = [1u8, 0, 0, 0, 0, 0, 0, 0, 0];
        row[1..5].copy_from_slice(&(offset as u32).to_be_bytes());
        rows.push(row);
    }
    let table: Vec<u8> = rows.concat();
    out.extend_from_slice(
        format!(
            "{xref_id} 0 obj\n<< /Type /XRef /Size {} /W [1 4 4] /Root 1 0 R /Length {} >>\nstream\n",
            rows.len(),
            table.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&table);
    out.extend_from_slice(
        format!("\nendstream\nendobj\nstartxref\n{xref_offset}\n%%EOF\n").as_bytes(),
    );
    out
}

#[tokio::test]
async fn objects_and_pages_past_their_limits_are_refused_naming_the_limit() {
    let server = Server::start_with_config(Some(
        "limits:\n  pdf:\n    max_objects: 1000\n    max_pages: 3\n",
    ))
    .await;
    // The positive cases first: within the limits both shapes are accepted.
    let small = expect_status(
        server
            .upload_raw(&server.key, pdf_with_object_stream(100), "packed.pdf")
            .await,
        201,
    )
    .await;
    assert_eq!(small["pageCount"], 1);
    server.upload(pdf(3, "Three pages"), "three.pdf").await;
    let flood = expect_error(
        server
            .upload_raw(&server.key, pdf_with_object_stream(200_000), "flood.pdf")
            .await,
        422,
        "pdf_limit_exceeded",
    )
    .await;
    assert!(
        flood["error"].as_str().unwrap().contains("objects (1000)"),
        "{flood}"
    );
    let long = expect_error(
        server
            .upload_raw(&server.key, pdf(4, "Four pages"), "four.pdf")
            .await,
        422,
        "pdf_limit_exceeded",
    )
    .await;
    assert!(
        long["error"].as_str().unwrap().contains("pages (3)"),
        "{long}"
    );
    let list = expect_status(server.get("/documents").send().await.unwrap(), 200).await;
    assert_eq!(list["pagination"]["total"], 2);
}

#[tokio::test]
async fn large_bodies_to_the_public_signer_routes_cost_no_memory() {
    let server = Server::start().await;
    let port = server.port;
    let size = 64 * 1024 * 1024;
    let head = format!(
        "POST /sign/forged-token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    let chunked = "POST /sign/forged-token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let head = head.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    raw_request(port, &head, size).await
                } else {
                    raw_send(port, chunked, size, true).await
                }
            })
        })
        .collect();
    for attempt in attempts {
        let (status, body) = attempt.await.unwrap();
        assert_eq!(status, 413, "{body}");
    }
    assert_peak_rss_within_budget(&server, "20 × 64 MiB posts to a signing page");
    // The page still answers its own forms (a forged token is the same 404 as before).
    let page = server
        .http
        .post(format!("{}/sign/forged-token", server.base()))
        .form(&[("action", "sign")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
}

#[tokio::test]
async fn a_fan_out_of_form_xobjects_is_refused_within_the_decode_budget() {
    let server = Server::start().await;
    // Four levels of forms, each drawing the next 200 times: 1.6 billion drawings if
    // followed naively. Every decode is charged, so the reading stops at the budget.
    let draws = "/X Do\n".repeat(200);
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /X 5 0 R >> >> /Contents 4 0 R >>".to_vec(),
        format!("<< /Length {} >>\nstream\n{draws}\nendstream", draws.len()).into_bytes(),
    ];
    for level in 0..4 {
        let next = 6 + level;
        let resources = if level < 3 {
            format!("/Resources << /XObject << /X {next} 0 R >> >>")
        } else {
            String::new()
        };
        let body = if level < 3 {
            draws.clone()
        } else {
            "0 0 m\n".to_string()
        };
        objects.push(
            format!(
                "<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] {resources} /Length {} >>\nstream\n{body}\nendstream",
                body.len()
            )
            .into_bytes(),
        );
    }
    let body = expect_error(
        server
            .upload_raw(&server.key, pdf_of(&objects, None), "fanout.pdf")
            .await,
        422,
        "pdf_limit_exceeded",
    )
    .await;
    assert!(
        body["error"].as_str().unwrap().contains("per document"),
        "{body}"
    );
}

#[tokio::test]
async fn what_the_fuzzer_found_is_answered_quickly_and_clearly() {
    let server = Server::start().await;
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/pdf");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no regressions in {}", folder.display());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let response = server
            .upload_raw(&server.key, std::fs::read(&path).unwrap(), &name)
            .await;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        println!("{name}: {status} {body}");
        assert!(status == 201 || status == 422, "{name}: {status} {body}");
    }
    assert_peak_rss_within_budget(&server, "the fuzzer's regressions");
}
