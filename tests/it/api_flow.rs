//! End-to-end behaviour of documents and envelopes over real HTTP against the real binary:
//! both create shapes, reading, listing with pagination and status, editing and deleting a
//! draft, voiding one in flight, image uploads, and the `/v1` alias.

use crate::common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn documents_upload_list_get_content_delete() {
    let server = Server::start().await;
    let bytes = pdf(3, "Employment contract");
    let document = server.upload(bytes.clone(), "offer.pdf").await;
    let id = document["id"].as_str().unwrap();
    assert!(id.starts_with("doc_") && id.len() == 30, "{id}");
    assert_eq!(document["name"], "offer.pdf");
    assert_eq!(document["mimeType"], "application/pdf");
    assert_eq!(document["pageCount"], 3);
    assert_eq!(document["size"], bytes.len());
    assert_eq!(document["status"], "READY");
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    assert_eq!(document["sha256"], sha);

    let fetched = expect_status(
        server
            .get(&format!("/documents/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(fetched, document);
    let content = server
        .get(&format!("/documents/{id}/content"))
        .send()
        .await
        .unwrap();
    assert_eq!(content.headers()["content-type"], "application/pdf");
    assert_eq!(content.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // A `name` part overrides the file name.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(pdf(1, "x")).file_name("a.pdf"),
        )
        .text("name", "Contrat de travail – Μαρία.pdf");
    let named = expect_status(
        server
            .post("/documents")
            .multipart(form)
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(named["name"], "Contrat de travail – Μαρία.pdf");

    let list = expect_status(server.get("/documents").send().await.unwrap(), 200).await;
    assert_eq!(list["pagination"]["total"], 2);
    assert_eq!(list["data"][0]["id"], named["id"], "newest first");

    let deleted = expect_status(
        server
            .delete(&format!("/documents/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(deleted, json!({"success": true}));
    expect_error(
        server
            .get(&format!("/documents/{id}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    let blob = server.data_dir().join("blobs").join(&sha[..2]).join(&sha);
    assert!(!blob.exists(), "the deleted document's file is gone");
}

#[tokio::test]
async fn images_become_one_page_pdfs() {
    let server = Server::start().await;
    let document = server.upload(png(40, 20), "scan.png").await;
    assert_eq!(document["mimeType"], "application/pdf");
    assert_eq!(document["originalMimeType"], "image/png");
    assert_eq!(document["pageCount"], 1);
    let id = document["id"].as_str().unwrap();
    let content = server
        .get(&format!("/documents/{id}/content"))
        .send()
        .await
        .unwrap();
    let bytes = content.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-"));

    // poppler sees the picture on page 1 at its size, with its alpha as a soft mask, and the
    // pixels it extracts are the uploaded ones.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.pdf");
    std::fs::write(&path, &bytes).unwrap();
    let listed = std::process::Command::new("pdfimages")
        .arg("-list")
        .arg(&path)
        .output()
        .expect("pdfimages (poppler-utils) is needed");
    assert!(listed.status.success());
    let rows: Vec<Vec<String>> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .skip(2)
        .map(|line| line.split_whitespace().map(str::to_string).collect())
        .collect();
    let columns: Vec<[&str; 6]> = rows
        .iter()
        .map(|r| [&r[0], &r[2], &r[3], &r[4], &r[5], &r[7]].map(String::as_str))
        .collect();
    assert_eq!(
        columns,
        vec![
            ["1", "image", "40", "20", "rgb", "8"],
            ["1", "smask", "40", "20", "gray", "8"]
        ],
        "page type width height color bpc"
    );
    let extracted = std::process::Command::new("pdfimages")
        .arg("-png")
        .arg(&path)
        .arg(dir.path().join("out"))
        .status()
        .unwrap();
    assert!(extracted.success());
    let decode = |name: &str| {
        let file = std::fs::File::open(dir.path().join(name)).unwrap();
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut pixels).unwrap();
        pixels.truncate(frame.buffer_size());
        pixels
    };
    let expected: Vec<u8> = (0..40 * 20)
        .flat_map(|i| [(i % 255) as u8, 80, 160])
        .collect();
    assert!(decode("out-000.png") == expected, "the colour samples");
    assert!(
        decode("out-001.png").iter().all(|alpha| *alpha == 200),
        "the alpha samples"
    );
}

#[tokio::test]
async fn three_step_envelope_create_get_patch_delete() {
    let server = Server::start().await;
    let first = server.upload(pdf(2, "Services agreement"), "msa.pdf").await;
    let second = server.upload(pdf(1, "Annex"), "annex.pdf").await;
    let body = json!({
        "subject": "Contrat de prestation",
        "message": "Merci de signer.",
        "documentIds": [first["id"], second["id"]],
        "recipients": [
            {"email": "client@example.com", "name": "Marie Dubois", "role": "SIGNER"},
            {"email": "Boss@Example.com", "name": "Le Patron", "role": "APPROVER", "signingOrder": 2},
            {"email": "cc@example.com", "role": "CARBON_COPY"}
        ],
        "fields": [
            {"recipientEmail": "client@example.com", "documentIndex": 0, "pageNumber": 2, "fieldType": "SIGNATURE", "x": 100, "y": 650, "width": 180, "height": 50},
            {"recipientEmail": "client@example.com", "documentIndex": 1, "anchorText": "Annex", "anchorPlacement": "below"}
        ],
        "expiresAt": "2099-01-01T00:00:00Z",
        "locale": "fr-be",
        "redirectUrl": "https://example.com/thanks",
        "tags": ["HR", "hr", "Q3"],
        "category": "CONTRACT"
    });
    let response = server.post("/envelopes").json(&body).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let envelope = expect_status(response, 201).await;
    let id = envelope["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/api/v1/envelopes/{id}"));
    assert!(id.starts_with("env_") && id.len() == 30);
    assert_eq!(envelope["status"], "DRAFT");
    assert_eq!(envelope["locale"], "fr-BE");
    assert_eq!(envelope["tags"], json!(["hr", "q3"]));
    assert_eq!(envelope["documentIds"], json!([first["id"], second["id"]]));
    assert_eq!(envelope["fields"][1]["anchorText"], "Annex");
    assert_eq!(envelope["fields"][1]["width"], 150.0, "contract default");
    let recipients = envelope["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 3);
    assert_eq!(recipients[1]["email"], "Boss@example.com");
    assert_eq!(recipients[1]["signingOrder"], 2);
    assert_eq!(
        recipients[2]["name"], "cc@example.com",
        "name defaults to the address"
    );
    for recipient in recipients {
        assert!(recipient["id"].as_str().unwrap().starts_with("rcp_"));
        assert_eq!(recipient["status"], "PENDING");
    }
    // Signers and approvers get a link; a carbon copy does not.
    let token = recipients[0]["accessToken"].as_str().unwrap();
    assert!(token.len() >= 22, "≥128 bits");
    assert_eq!(
        recipients[0]["signUrl"],
        format!("{}/sign/{token}", server.base())
    );
    assert!(recipients[1]["signUrl"].is_string());
    assert!(recipients[2].get("signUrl").is_none());
    assert_eq!(envelope["signers"].as_array().unwrap().len(), 1);

    let fetched = expect_status(
        server
            .get(&format!("/envelopes/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        fetched, envelope,
        "GET shows the same envelope, links included"
    );

    // PATCH a draft: subject changes, recipients kept keep their link.
    let patched = expect_status(
        server
            .patch(&format!("/envelopes/{id}"))
            .json(&json!({"subject": "Contrat v2", "message": null, "tags": ["legal"]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(patched["subject"], "Contrat v2");
    assert_eq!(patched["message"], Value::Null);
    assert_eq!(patched["tags"], json!(["legal"]));
    assert_eq!(patched["recipients"][0]["accessToken"], token);
    assert_eq!(patched["fields"], envelope["fields"]);
    let replaced = expect_status(
        server
            .patch(&format!("/envelopes/{id}"))
            .json(&json!({"recipients": [{"email": "client@example.com", "name": "Marie D."}], "fields": []}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(replaced["recipients"].as_array().unwrap().len(), 1);
    assert_eq!(replaced["recipients"][0]["accessToken"], token);

    // A document used by a draft can still be deleted; a DRAFT envelope is deleted outright.
    let deleted = expect_status(
        server
            .delete(&format!("/envelopes/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(deleted, json!({"success": true}));
    expect_error(
        server
            .get(&format!("/envelopes/{id}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn one_shot_envelope_is_sent_with_signer_links() {
    use base64::Engine;
    let server = Server::start().await;
    let encoded = base64::engine::general_purpose::STANDARD.encode(pdf(1, "Contrat"));
    let body = json!({
        "subject": "Contrat de prestation",
        "signers": [{"email": "client@example.com", "name": "Marie Dubois"}],
        "documents": [{"name": "contrat.pdf", "base64Pdf": encoded}]
    });
    let envelope = expect_status(
        server.post("/envelopes").json(&body).send().await.unwrap(),
        201,
    )
    .await;
    assert_eq!(envelope["status"], "SENT");
    assert!(envelope["sentAt"].is_string());
    let sign_url = envelope["signers"][0]["signUrl"].as_str().unwrap();
    assert!(sign_url.starts_with(&format!("{}/sign/", server.base())));
    assert_eq!(envelope["signers"][0]["status"], "SENT");
    assert_eq!(envelope["documents"][0]["name"], "contrat.pdf");
    let document_id = envelope["documentIds"][0].as_str().unwrap();
    let document = expect_status(
        server
            .get(&format!("/documents/{document_id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(document["pageCount"], 1);

    // In flight: the document cannot be deleted, the envelope cannot be edited.
    expect_error(
        server
            .delete(&format!("/documents/{document_id}"))
            .send()
            .await
            .unwrap(),
        409,
        "document_in_use",
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    expect_error(
        server
            .patch(&format!("/envelopes/{id}"))
            .json(&json!({"subject": "x"}))
            .send()
            .await
            .unwrap(),
        409,
        "envelope_not_draft",
    )
    .await;

    // DELETE voids it, keeping the reason; a second DELETE finds it finished.
    let voided = expect_status(
        server
            .delete(&format!("/envelopes/{id}"))
            .json(&json!({"reason": "Wrong salary"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(voided["success"], true);
    assert_eq!(voided["envelope"]["status"], "VOIDED");
    assert_eq!(voided["envelope"]["voidReason"], "Wrong salary");
    expect_error(
        server
            .delete(&format!("/envelopes/{id}"))
            .send()
            .await
            .unwrap(),
        409,
        "envelope_finished",
    )
    .await;

    // `draft: true` keeps a one-shot envelope a draft.
    let mut draft_body = body.clone();
    draft_body["draft"] = json!(true);
    let draft = expect_status(
        server
            .post("/envelopes")
            .json(&draft_body)
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(draft["status"], "DRAFT");
    // Void with the reason in the query string.
    let one_more = expect_status(
        server.post("/envelopes").json(&body).send().await.unwrap(),
        201,
    )
    .await;
    let other = one_more["id"].as_str().unwrap();
    let voided = expect_status(
        server
            .delete(&format!("/envelopes/{other}?reason=Duplicate"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(voided["envelope"]["voidReason"], "Duplicate");
}

#[tokio::test]
async fn listing_paginates_newest_first_and_filters_by_status() {
    use base64::Engine;
    let server = Server::start().await;
    let document = server.upload(pdf(1, "x"), "x.pdf").await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let body = json!({
            "subject": format!("Envelope {i}"),
            "documentIds": [document["id"]],
            "recipients": [{"email": "a@example.com"}]
        });
        let envelope = expect_status(
            server.post("/envelopes").json(&body).send().await.unwrap(),
            201,
        )
        .await;
        ids.push(envelope["id"].as_str().unwrap().to_string());
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(pdf(1, "y"));
    let sent = expect_status(
        server
            .post("/envelopes")
            .json(&json!({"subject": "Sent one", "signers": [{"email": "s@example.com"}], "documents": [{"base64Pdf": encoded}]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;

    let page1 = expect_status(server.get("/envelopes").send().await.unwrap(), 200).await;
    assert_eq!(
        page1["pagination"],
        json!({"total": 26, "page": 1, "pageSize": 20, "pages": 2})
    );
    assert_eq!(page1["data"].as_array().unwrap().len(), 20);
    assert_eq!(page1["data"][0]["id"], sent["id"]);
    assert_eq!(page1["data"][1]["id"], ids[24]);
    let page2 = expect_status(
        server
            .get("/envelopes?page=2&limit=20")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 6);
    assert_eq!(page2["data"][5]["id"], ids[0]);
    let small = expect_status(
        server
            .get("/envelopes?page=3&limit=5")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(small["pagination"]["pages"], 6);
    assert_eq!(small["data"][0]["id"], ids[15]);
    let clamped = expect_status(
        server.get("/envelopes?limit=1000").send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(clamped["pagination"]["pageSize"], 100);
    let beyond = expect_status(server.get("/envelopes?page=9").send().await.unwrap(), 200).await;
    assert_eq!(beyond["data"], json!([]));

    let only_sent = expect_status(
        server.get("/envelopes?status=SENT").send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(only_sent["pagination"]["total"], 1);
    assert_eq!(only_sent["data"][0]["id"], sent["id"]);
    let drafts = expect_status(
        server
            .get("/envelopes?status=draft&limit=100")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(drafts["pagination"]["total"], 25);
}

#[tokio::test]
async fn account_workspaces_templates_and_the_v1_alias() {
    let server = Server::start().await;
    let me = expect_status(server.get("/account/me").send().await.unwrap(), 200).await;
    assert!(me["id"].as_str().unwrap().starts_with("acc_"));
    assert_eq!(me["plan"], "self-hosted");
    for key in ["email", "name"] {
        assert!(me[key].is_string());
    }
    let again = expect_status(server.get("/account/me").send().await.unwrap(), 200).await;
    assert_eq!(again["id"], me["id"], "the account id is stable");
    let workspaces = expect_status(server.get("/workspaces").send().await.unwrap(), 200).await;
    assert_eq!(workspaces["data"][0]["role"], "OWNER");
    let templates = expect_status(server.get("/templates").send().await.unwrap(), 200).await;
    assert_eq!(templates["data"], json!([]));
    assert_eq!(templates["pagination"]["total"], 0);

    let envelope = server.draft_envelope("Via v1").await;
    let id = envelope["id"].as_str().unwrap();
    let via_v1 = server
        .http
        .get(format!("{}/v1/envelopes/{id}", server.base()))
        .bearer_auth(&server.key)
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(via_v1, 200).await["id"], id);
}
