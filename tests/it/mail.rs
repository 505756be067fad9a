//! Invitations over real SMTP (aiosmtpd on loopback) for live envelopes: recipients, subject
//! and language right, and the link in the mail opens the signing page.

use crate::common::smtp::SmtpSink;
use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn live_invitations_go_out_over_smtp_in_the_recipients_language() {
    let sink = SmtpSink::start(0);
    let config = format!(
        "smtp:\n  host: 127.0.0.1\n  port: {}\n  tls: none\n  from: \"Acme HR <hr@acme.example>\"\naccount:\n  name: Acme HR\n",
        sink.port
    );
    let mut server = Server::start_with_config(Some(&config)).await;
    server.kill9();
    let data_dir = server.data_dir();
    let (status, stdout, stderr) = run_cli(&[
        "keys",
        "create",
        "--env",
        "live",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    assert!(status.success(), "{stderr}");
    server.key = stdout.trim().to_string();
    server.restart().await;

    let document = server
        .upload(pdf(1, "Contrat de travail"), "contrat.pdf")
        .await;
    let body = json!({
        "subject": "Contrat de travail — Élodie",
        "message": "Bienvenue chez Acme !",
        "locale": "fr-FR",
        "documentIds": [document["id"]],
        "recipients": [
            {"email": "elodie@example.com", "name": "Élodie Martin"},
            {"email": "rh@example.com", "name": "Direction RH", "signingOrder": 2}
        ]
    });
    let envelope = expect_status(
        server.post("/envelopes").json(&body).send().await.unwrap(),
        201,
    )
    .await;
    let id = envelope["id"].as_str().unwrap();
    server.send(id).await;

    // Only the first signer is invited: invitations are queued with the recipient's status
    // change, so the second signer's status says no invitation will follow.
    let sent = server.envelope(id).await;
    assert_eq!(sent["recipients"][0]["status"], "SENT");
    assert_eq!(
        sent["recipients"][1]["status"], "PENDING",
        "only the first signer is invited"
    );
    let messages = sink.wait_for(1).await;
    let mail = &messages[0];
    assert_eq!(mail.to, "Élodie Martin <elodie@example.com>");
    assert_eq!(mail.from, "Acme HR <hr@acme.example>");
    assert_eq!(
        mail.subject,
        "Signature requise : Contrat de travail — Élodie"
    );
    assert!(
        mail.text
            .contains("Acme HR vous a envoyé « Contrat de travail — Élodie » à signer."),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("Bienvenue chez Acme !"));
    assert!(mail.html.contains("lang=\"fr\""));
    let link = sign_link(&mail.text).expect("a link in the text part");
    assert_eq!(link, envelope["recipients"][0]["signUrl"].as_str().unwrap());
    assert!(mail.html.contains(&link));
    assert!(
        outbox_messages(&server.data_dir()).is_empty(),
        "live mail does not go to the outbox"
    );

    let page = server
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("lang=\"fr\"") && page.contains("id=\"sign-form\""));
    let (status, _) = server.sign(&link, "Élodie Martin").await;
    assert_eq!(status, 303);
    // Maildir file names do not sort by arrival, so look the second invitation up by address.
    let messages = sink.wait_for(2).await;
    assert_eq!(messages.len(), 2);
    assert!(
        messages
            .iter()
            .any(|m| m.to == "Direction RH <rh@example.com>"),
        "{messages:?}"
    );
}
