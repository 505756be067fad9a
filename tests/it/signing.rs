//! Sending and signing over real HTTP: send checks, routing order (sequential and parallel),
//! approvers, viewers and carbon copies, declining, voiding, double submits, links after the
//! end, forged tokens, hostile names, and the invitations in the outbox.

use crate::common::*;
use serde_json::{json, Value};

async fn envelope_with(server: &Server, recipients: Value, extra: Value) -> Value {
    let document = server
        .upload(
            pdf(2, "Employment contract Signature of the employee"),
            "contract.pdf",
        )
        .await;
    let mut body = json!({
        "subject": "Employment contract",
        "message": "Welcome aboard!",
        "documentIds": [document["id"]],
        "recipients": recipients,
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    expect_status(
        server.post("/envelopes").json(&body).send().await.unwrap(),
        201,
    )
    .await
}

fn link_of(envelope: &Value, index: usize) -> String {
    envelope["recipients"][index]["signUrl"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn sequential_signers_sign_in_order_and_complete() {
    let server = Server::start().await;
    let envelope = envelope_with(
        &server,
        json!([
            {"email": "first@example.com", "name": "First Signer", "signingOrder": 1},
            {"email": "second@example.com", "name": "Second Signer", "signingOrder": 2},
            {"email": "cc@example.com", "name": "Copy", "role": "CARBON_COPY"}
        ]),
        json!({}),
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    let (first, second) = (link_of(&envelope, 0), link_of(&envelope, 1));

    // Before send the link says so and cannot sign.
    let page = server
        .http
        .get(&first)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("has not been sent yet"), "{page}");
    let (status, _) = server.sign(&first, "First").await;
    assert_eq!(status, 409);

    let sent = server.send(id).await;
    assert_eq!(sent["status"], "SENT");
    assert_eq!(sent["recipients"][0]["status"], "SENT");
    assert_eq!(sent["recipients"][1]["status"], "PENDING");
    let messages = server.outbox(1).await;
    assert_eq!(messages.len(), 1, "only the first group is invited");
    assert!(messages[0]
        .1
        .contains("To: \"First Signer\" <first@example.com>"));
    assert_eq!(sign_link(&messages[0].1).unwrap(), first);

    // Sending twice is a conflict.
    expect_error(
        server
            .post(&format!("/envelopes/{id}/send"))
            .send()
            .await
            .unwrap(),
        409,
        "envelope_not_draft",
    )
    .await;

    // The second signer must wait, and cannot sign out of turn.
    let page = server
        .http
        .get(&second)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("It is not your turn yet") && page.contains("First Signer"),
        "{page}"
    );
    assert!(!page.contains("id=\"sign-form\""));
    let (status, page) = server.sign(&second, "Second").await;
    assert_eq!(status, 409);
    assert!(page.contains("It is not your turn yet"));

    // Opening records VIEWED and DELIVERED.
    let page = server
        .http
        .get(&first)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"sign-form\""));
    let viewed = server.envelope(id).await;
    assert_eq!(viewed["status"], "DELIVERED");
    assert_eq!(viewed["recipients"][0]["status"], "VIEWED");
    assert!(viewed["recipients"][0]["viewedAt"].is_string());

    // Consent is required.
    let (status, page) = server
        .submit(
            &first,
            &[("action", "sign"), ("typed_name", "First Signer")],
        )
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("tick the consent box"), "{page}");

    let (status, page) = server.sign(&first, "First Signer").await;
    assert_eq!(status, 303);
    assert!(page.contains("You have signed"));
    // A double submit changes nothing.
    let (status, _) = server.sign(&first, "Someone Else").await;
    assert_eq!(status, 303);
    let partial = server.envelope(id).await;
    assert_eq!(partial["status"], "PARTIALLY_SIGNED");
    assert_eq!(partial["recipients"][0]["status"], "SIGNED");
    assert_eq!(partial["recipients"][1]["status"], "SENT");

    // Now the second signer is invited.
    let messages = server.outbox(2).await;
    assert_eq!(sign_link(&messages[1].1).unwrap(), second);
    let (status, _) = server.sign(&second, "Second Signer").await;
    assert_eq!(status, 303);
    let done = server.wait_completed(id).await;
    assert_eq!(done["status"], "COMPLETED");
    assert!(done["completedAt"].is_string());

    // Everyone, the carbon copy included, hears of completion; links now say it is complete.
    let messages = server.outbox(5).await;
    let completed: Vec<_> = messages
        .iter()
        .filter(|(name, _)| name.ends_with("-completed.eml"))
        .collect();
    assert_eq!(completed.len(), 3);
    assert!(completed.iter().any(|(_, m)| m.contains("cc@example.com")));
    let page = server
        .http
        .get(&first)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("This envelope is complete"));
    let (status, _) = server
        .submit(&first, &[("action", "decline"), ("reason", "too late")])
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn parallel_signers_and_an_approver() {
    let server = Server::start().await;
    let envelope = envelope_with(
        &server,
        json!([
            {"email": "a@example.com", "name": "Alice"},
            {"email": "b@example.com", "name": "Bob"},
            {"email": "boss@example.com", "name": "Boss", "role": "APPROVER", "signingOrder": 2},
            {"email": "viewer@example.com", "name": "Viewer", "role": "VIEWER"}
        ]),
        json!({}),
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    server.send(id).await;
    // Both parallel signers are invited at once; the approver (next group) and the viewer
    // are not (invitations are queued with the status change).
    let sent = server.envelope(id).await;
    let statuses: Vec<&str> = sent["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["SENT", "SENT", "PENDING", "PENDING"],
        "both parallel signers are invited at once, nobody else"
    );
    let messages = server.outbox(2).await;
    for email in ["a@example.com", "b@example.com"] {
        assert!(
            messages
                .iter()
                .any(|(_, m)| m.contains(&format!("<{email}>"))),
            "{email} was invited"
        );
    }
    // Bob signs before Alice: parallel.
    let (status, _) = server.sign(&link_of(&envelope, 1), "Bob").await;
    assert_eq!(status, 303);
    // The approver still waits for Alice.
    let (status, _) = server
        .submit(
            &link_of(&envelope, 2),
            &[("action", "approve"), ("consent", "yes")],
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = server.sign(&link_of(&envelope, 0), "Alice").await;
    assert_eq!(status, 303);
    // An approver approves; signing is not their action.
    let approver = link_of(&envelope, 2);
    let page = server
        .http
        .get(&approver)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"approve\"") && !page.contains("typed_name"));
    let (status, _) = server.sign(&approver, "Boss").await;
    assert_eq!(status, 409);
    let (status, page) = server
        .submit(&approver, &[("action", "approve"), ("consent", "yes")])
        .await;
    assert_eq!(status, 303);
    assert!(page.contains("You have approved"));
    let done = server.wait_completed(id).await;
    assert_eq!(
        done["status"], "COMPLETED",
        "the viewer never blocks completion"
    );
    assert_eq!(done["recipients"][2]["status"], "APPROVED");
    assert!(
        done["recipients"][3].get("signUrl").is_none(),
        "viewers get no signing link"
    );
}

#[tokio::test]
async fn decline_ends_the_envelope_with_the_reason() {
    let server = Server::start().await;
    let envelope = envelope_with(
        &server,
        json!([{"email": "a@example.com", "name": "Alice"}, {"email": "b@example.com", "name": "Bob"}]),
        json!({"locale": "fr"}),
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    server.send(id).await;
    let link = link_of(&envelope, 0);
    let page = server
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("lang=\"fr\"")
            && page.contains("Refuser")
            && page.contains("J&#39;accepte de signer"),
        "French page"
    );
    let (status, _) = server
        .submit(&link, &[("action", "decline"), ("reason", "  ")])
        .await;
    assert_eq!(status, 400, "a reason is required");
    let (status, page) = server
        .submit(
            &link,
            &[("action", "decline"), ("reason", "Le salaire est faux")],
        )
        .await;
    assert_eq!(status, 303);
    assert!(page.contains("Vous avez refusé"));
    let declined = server.envelope(id).await;
    assert_eq!(declined["status"], "DECLINED");
    assert_eq!(declined["recipients"][0]["status"], "DECLINED");
    assert_eq!(
        declined["recipients"][0]["declineReason"],
        "Le salaire est faux"
    );
    let other = server
        .http
        .get(link_of(&envelope, 1))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(other.contains("a été refusée"));
}

#[tokio::test]
async fn void_and_send_checks() {
    let server = Server::start().await;
    // Anchors must be in the document.
    let envelope = envelope_with(
        &server,
        json!([{"email": "a@example.com", "name": "Alice"}]),
        json!({"fields": [{"recipientEmail": "a@example.com", "anchorText": "no such phrase"}]}),
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    let refused = expect_error(
        server
            .post(&format!("/envelopes/{id}/send"))
            .send()
            .await
            .unwrap(),
        422,
        "anchor_not_found",
    )
    .await;
    assert_eq!(refused["details"][0]["field"], "fields[0].anchorText");
    // An anchor split across lines and in another case is found.
    let fixed = expect_status(
        server
            .patch(&format!("/envelopes/{id}"))
            .json(&json!({"fields": [{"recipientEmail": "a@example.com", "anchorText": "SIGNATURE OF THE EMPLOYEE"}]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        fixed["fields"][0]["anchorText"],
        "SIGNATURE OF THE EMPLOYEE"
    );
    // Idempotent send: the same key replays, the body `{}` is fine.
    let first = server
        .post(&format!("/envelopes/{id}/send"))
        .header("Idempotency-Key", "send-1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let first = expect_status(first, 200).await;
    let again = server
        .post(&format!("/envelopes/{id}/send"))
        .header("Idempotency-Key", "send-1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(again, 200).await, first);

    // No signer: refused.
    let copy_only = envelope_with(
        &server,
        json!([{"email": "cc@example.com", "role": "CARBON_COPY"}]),
        json!({}),
    )
    .await;
    let copy_id = copy_only["id"].as_str().unwrap();
    expect_error(
        server
            .post(&format!("/envelopes/{copy_id}/send"))
            .send()
            .await
            .unwrap(),
        409,
        "no_signers",
    )
    .await;
    // No document: refused.
    let bare = expect_status(
        server
            .post("/envelopes")
            .json(&json!({"subject": "x", "recipients": [{"email": "a@example.com"}]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let bare_id = bare["id"].as_str().unwrap();
    expect_error(
        server
            .post(&format!("/envelopes/{bare_id}/send"))
            .send()
            .await
            .unwrap(),
        409,
        "no_documents",
    )
    .await;

    // Voiding: the link says so and cannot sign; the invited signer is told.
    server.outbox(1).await;
    let voided = expect_status(
        server
            .delete(&format!("/envelopes/{id}?reason=Wrong+salary"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(voided["envelope"]["status"], "VOIDED");
    let link = link_of(&envelope, 0);
    let page = server
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("voided this envelope"));
    let (status, _) = server.sign(&link, "Alice").await;
    assert_eq!(status, 409);
    let messages = server.outbox(2).await;
    assert!(messages
        .iter()
        .any(|(name, _)| name.ends_with("-voided.eml")));
}

#[tokio::test]
async fn forged_tokens_and_hostile_names() {
    let server = Server::start().await;
    let hostile = format!(
        "<script>alert(1)</script> \u{05e9}\u{05dc}\u{05d5}\u{05dd} {}",
        "x".repeat(150)
    );
    let envelope = envelope_with(
        &server,
        json!([{"email": "a@example.com", "name": hostile}]),
        json!({"subject": "<img src=x onerror=alert(1)>", "message": "<b>bold</b> & \"quoted\""}),
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    server.send(id).await;
    let link = link_of(&envelope, 0);
    let page = server
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(!page.contains("<img src=x"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(page.contains("&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;"));
    assert!(page.contains("\u{05e9}\u{05dc}\u{05d5}\u{05dd}"));
    let messages = server.outbox(1).await;
    let html_part = &messages[0].1[messages[0].1.find("text/html").unwrap()..];
    assert!(!html_part.contains("<script>alert(1)</script>"));

    // Forged, garbled, truncated and another envelope's tokens: a 404 page, never JSON.
    let token = link.rsplit('/').next().unwrap();
    let mut forged = token.to_string();
    let last = if forged.ends_with('A') { "B" } else { "A" };
    forged.replace_range(forged.len() - 1.., last);
    for bad in [
        forged.as_str(),
        &token[..20],
        "garbage",
        "%FF%FE",
        "..%2F..%2Fetc%2Fpasswd",
        &"A".repeat(43),
    ] {
        let response = server
            .http
            .get(format!("{}/sign/{bad}", server.base()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{bad}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("This link is not valid"));
        let (status, _) = server
            .submit(
                &format!("{}/sign/{bad}", server.base()),
                &[("action", "sign")],
            )
            .await;
        assert_eq!(status, 404);
    }
    let french = server
        .http
        .get(format!("{}/sign/{forged}", server.base()))
        .header("accept-language", "fr-FR,fr;q=0.9")
        .send()
        .await
        .unwrap();
    assert!(french
        .text()
        .await
        .unwrap()
        .contains("Ce lien n'est pas valide"));
    // Documents behind a forged token are not served either.
    let response = server
        .http
        .get(format!("{}/sign/{forged}/documents/0", server.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = server
        .http
        .get(format!("{link}/documents/0"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/pdf");
}

#[tokio::test]
async fn seed_curl_quick_start_with_send_reaches_the_outbox() {
    let server = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("contrat.pdf"),
        pdf(1, "Contrat de prestation"),
    )
    .unwrap();
    let script = include_str!("quickstart/seed-curl.sh")
        .replace("https://certyneo.com", &server.base())
        .replace("sk_live_xxxxxxxxxxxxxxxxxxxxxxxx", &server.key)
        + &include_str!("quickstart/seed-curl-send.sh")
            .replace("https://certyneo.com", &server.base())
            .replace("sk_live_xxxxxxxxxxxxxxxxxxxxxxxx", &server.key);
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}");
    let env_id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ENV_ID="))
        .unwrap()
        .to_string();
    assert_eq!(server.envelope(&env_id).await["status"], "SENT");
    let messages = server.outbox(1).await;
    let (_, message) = &messages[0];
    assert!(message.contains("To: \"Marie Dubois\" <client@example.com>"));
    let link = sign_link(message).unwrap();
    let page = server
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Contrat de prestation") && page.contains("id=\"sign-form\""));
}

/// Each of the seven languages, chosen by the envelope's locale (a regional tag falls back to
/// its language): the invitation and the signing page are in it, with no message missing and
/// no variable left unfilled; an unsupported locale is refused.
#[tokio::test]
async fn seven_languages_for_the_page_and_the_invitation() {
    let server = Server::start().await;
    // (locale, page language, invitation subject prefix, the sign button, a field label)
    let cases = [
        (
            "en-GB",
            "en",
            "Please sign: ",
            ">Sign</button>",
            "Sign here",
        ),
        (
            "fr-BE",
            "fr",
            "Signature requise",
            ">Signer</button>",
            "Signez ici",
        ),
        (
            "de",
            "de",
            "Bitte unterschreiben: ",
            ">Unterschreiben</button>",
            "Hier unterschreiben",
        ),
        (
            "es-MX",
            "es",
            "Firme, por favor: ",
            ">Firmar</button>",
            "Firme aquí",
        ),
        ("it", "it", "Da firmare: ", ">Firma</button>", "Firmi qui"),
        (
            "el",
            "el",
            "Παρακαλούμε υπογράψτε: ",
            ">Υπογραφή</button>",
            "Υπογράψτε εδώ",
        ),
        (
            "nl-BE",
            "nl",
            "Graag ondertekenen: ",
            ">Ondertekenen</button>",
            "Hier ondertekenen",
        ),
    ];
    for (index, (locale, lang, subject, button, label)) in cases.iter().enumerate() {
        let email = format!("signer{index}@example.com");
        let envelope = envelope_with(
            &server,
            json!([{"email": email, "name": "Zoë Signer"}]),
            json!({
                "locale": locale,
                "subject": format!("Contract {lang}"),
                "fields": [{"recipientEmail": email, "documentIndex": 0, "pageNumber": 1, "fieldType": "SIGNATURE", "x": 72, "y": 600, "width": 180, "height": 50}],
            }),
        )
        .await;
        server.send(envelope["id"].as_str().unwrap()).await;
        let messages = server.outbox(index + 1).await;
        let (_, invitation) = messages
            .iter()
            .find(|(_, text)| text.contains(&format!("<{email}>")))
            .unwrap_or_else(|| panic!("no invitation to {email}"));
        // The header as sent (not quoted-printable decoded), unfolded: long encoded subjects
        // continue on indented lines.
        let raw = std::fs::read_dir(server.data_dir().join("outbox"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
            .find(|text| text.contains(&format!("<{email}>")))
            .unwrap();
        let subject_line: String = {
            let mut lines = raw.lines().skip_while(|l| !l.starts_with("Subject: "));
            let mut header = lines.next().unwrap().to_string();
            for more in lines.take_while(|l| l.starts_with(' ') || l.starts_with('\t')) {
                header.push(' ');
                header.push_str(more.trim());
            }
            header
        };
        let decoded = decode_header(&subject_line);
        assert!(
            decoded.contains(subject.trim()) && decoded.contains(&format!("Contract {lang}")),
            "{locale}: {decoded:?}"
        );
        let page = server
            .http
            .get(link_of(&envelope, 0))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(&format!("<html lang=\"{lang}\">")),
            "{locale}"
        );
        assert!(page.contains(button), "{locale}: {button} missing");
        assert!(page.contains(label), "{locale}: {label} missing");
        for leftover in ["{subject}", "{name}", "{n}", "{count}", "{ $"] {
            assert!(
                !page.contains(leftover),
                "{locale}: {leftover} left in the page"
            );
            assert!(
                !invitation.contains(leftover),
                "{locale}: {leftover} left in the mail"
            );
        }
    }
    // A language there is no catalogue for is refused, naming the ones there are.
    let document = server.upload(pdf(1, "x"), "x.pdf").await;
    let refused = server
        .post("/envelopes")
        .json(
            &json!({"subject": "x", "documentIds": [document["id"]], "locale": "pt-BR",
                      "recipients": [{"email": "p@example.com", "name": "P"}]}),
        )
        .send()
        .await
        .unwrap();
    let body = expect_status(refused, 400).await;
    assert!(
        body.to_string().contains("en, fr, de, es, it, el, nl"),
        "{body}"
    );
}

/// A MIME-encoded header (`=?utf-8?b?…?=` or `=?utf-8?q?…?=` words) as text.
fn decode_header(line: &str) -> String {
    use base64::Engine;
    let value = line.trim_start_matches("Subject: ");
    let mut out = String::new();
    for word in value.split_whitespace() {
        if let Some(inner) = word
            .strip_prefix("=?utf-8?b?")
            .or_else(|| word.strip_prefix("=?UTF-8?B?"))
            .and_then(|w| w.strip_suffix("?="))
        {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(inner)
                .unwrap_or_default();
            out.push_str(&String::from_utf8_lossy(&bytes));
        } else {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

/// The sender, not us: the account's name and logo on the signing page and in the invitation;
/// the logo is served as configured, and the word "signbridge" appears nowhere on the page.
#[tokio::test]
async fn the_accounts_name_and_logo_on_the_page_and_in_the_invitation() {
    let dir = tempfile::tempdir().unwrap();
    let logo_path = dir.path().join("logo.png");
    let mut logo = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut logo, 4, 2);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[0x2b; 4 * 2 * 3]).unwrap();
    }
    std::fs::write(&logo_path, &logo).unwrap();
    let server = Server::start_with_config(Some(&format!(
        "account:\n  name: Acme Robotics HR\n  email: hr@acme.example\n  logo: {}\n",
        logo_path.display()
    )))
    .await;
    let envelope = envelope_with(
        &server,
        json!([{"email": "lea@example.com", "name": "Léa"}]),
        json!({}),
    )
    .await;
    server.send(envelope["id"].as_str().unwrap()).await;
    let page = server
        .http
        .get(link_of(&envelope, 0))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<img class=\"logo\" src=\"/sign/assets/logo\" alt=\"Acme Robotics HR\">"),
        "{page}"
    );
    assert!(page.contains("Acme Robotics HR sent you documents to sign"));
    assert!(!page.to_lowercase().contains("signbridge"), "{page}");
    let served = server
        .http
        .get(format!("{}/sign/assets/logo", server.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap().as_ref(), &logo[..]);
    let (_, invitation) = server.outbox(1).await.remove(0);
    assert!(
        invitation.contains(&format!("{}/sign/assets/logo", server.base())),
        "{invitation}"
    );
    assert!(invitation.contains("Acme Robotics HR"), "{invitation}");
}
