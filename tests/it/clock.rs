//! Time-driven behaviour with a moved clock instead of sleeping: reminders, expiry, and mail
//! delivery retried with backoff after the SMTP server was down. The app runs in-process
//! (the real router on a real socket) so the test owns its clock.

use crate::common::inprocess::InProcess;
use crate::common::smtp::SmtpSink;
use crate::common::*;
use chrono::Duration;
use serde_json::json;
use signbridge::config::Config;
use signbridge::esign::model::{Environment, Scope};

#[tokio::test]
async fn reminders_follow_the_schedule_and_expiry_ends_the_envelope() {
    let app = InProcess::start(Config::default()).await;
    let expires = (app.clock.now_for_test() + Duration::days(10)).to_rfc3339();
    let envelope = app
        .create_and_send(
            json!({"expiresAt": expires, "reminders": {"afterDays": 2, "everyDays": 3}}),
        )
        .await;
    let id = envelope["id"].as_str().unwrap();
    assert_eq!(app.outbox(2).await.len(), 2, "two invitations");

    app.clock.advance(Duration::days(1));
    assert_eq!(app.tick().reminders, 0, "day 1: too early");
    app.clock.advance(Duration::days(1));
    assert_eq!(
        app.tick().reminders,
        2,
        "day 2: both parallel signers are reminded"
    );
    assert_eq!(app.tick().reminders, 0, "a reminder is sent once");
    let messages = app.outbox(4).await;
    let reminders: Vec<_> = messages
        .iter()
        .filter(|(name, _)| name.ends_with("-reminder.eml"))
        .collect();
    assert_eq!(reminders.len(), 2);
    assert!(reminders[0]
        .1
        .contains("Subject: Reminder: please sign Timed contract"));

    // Alice signs; only Bob is reminded from now on.
    let alice = envelope["recipients"][0]["signUrl"].as_str().unwrap();
    let response = app
        .http
        .post(alice)
        .form(&[
            ("action", "sign"),
            ("typed_name", "Alice"),
            ("consent", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    app.clock.advance(Duration::days(2));
    assert_eq!(
        app.tick().reminders,
        0,
        "day 4: next reminder is due on day 5"
    );
    app.clock.advance(Duration::days(1));
    assert_eq!(app.tick().reminders, 1, "day 5: Bob only");
    // Let the reminder go out before time moves on (one queued for an envelope that has
    // expired meanwhile would rightly be dropped).
    app.outbox(5).await;
    let after = app.envelope(id).await;
    assert_eq!(after["status"], "PARTIALLY_SIGNED");

    // Day 10: expired. Links say so; everyone invited hears of it.
    app.clock.advance(Duration::days(5));
    assert_eq!(app.tick().expired, 1);
    assert_eq!(app.tick().expired, 0, "expiry happens once");
    let expired = app.envelope(id).await;
    assert_eq!(expired["status"], "EXPIRED");
    let bob = envelope["recipients"][1]["signUrl"].as_str().unwrap();
    let page = app
        .http
        .get(bob)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("This envelope expired"));
    let messages = app.outbox(7).await;
    assert_eq!(
        messages
            .iter()
            .filter(|(name, _)| name.ends_with("-expired.eml"))
            .count(),
        2
    );
}

#[tokio::test]
async fn a_failing_smtp_server_is_retried_with_backoff_without_failing_the_api() {
    let port = free_port();
    let mut config = Config::default();
    config.smtp = Some(signbridge::config::SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: signbridge::config::SmtpTls::None,
        username: None,
        password: None,
        from: "signbridge <no-reply@localhost>".into(),
    });
    let mut app = InProcess::start(config).await;
    app.key = app
        .esign
        .create_key(Environment::Live, Some("live"), &Scope::ALL)
        .unwrap()
        .secret;
    app.esign.store().flush().await.unwrap();

    // Nothing listens on the SMTP port: the API still answers at once.
    let envelope = app.create_and_send(json!({})).await;
    assert_eq!(envelope["status"], "SENT");
    let failed = eventually(20, || async {
        let jobs = app
            .esign
            .due_mail_jobs(app.clock.now_for_test() + Duration::days(1), 10)
            .unwrap();
        (jobs.len() == 2 && jobs.iter().all(|j| j.attempts >= 1)).then_some(jobs)
    })
    .await;
    for job in &failed {
        assert!(
            job.last_error
                .as_deref()
                .unwrap_or_default()
                .contains("SMTP"),
            "{job:?}"
        );
        assert!(
            job.next_attempt_at > app.clock.now_for_test(),
            "retried later, not in a loop"
        );
    }

    // The server comes up; once the backoff has passed the invitations are delivered.
    let sink = SmtpSink::start(port);
    app.clock.advance(Duration::hours(2));
    let messages = sink.wait_for(2).await;
    let mut to: Vec<_> = messages.iter().map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, vec!["Alice <a@example.com>", "Bob <b@example.com>"]);
    eventually(10, || async {
        app.esign
            .due_mail_jobs(app.clock.now_for_test() + Duration::days(30), 10)
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
}

/// The real ticker in the real binary, with no hand on the clock: an envelope whose expiry
/// comes expires by itself, and a signer invited more than a day ago (the stored invitation
/// moved back while the server was down) is reminded by itself.
#[tokio::test]
async fn the_ticker_reminds_and_expires_by_itself() {
    let mut server = Server::start_with_config(Some(
        "signing:\n  ticker_interval_secs: 1\nrate_limit:\n  requests_per_minute: 1000000\n  burst: 1000000\n",
    ))
    .await;
    let reminded = server.draft_envelope("Remind me").await;
    let reminded_id = reminded["id"].as_str().unwrap().to_string();
    expect_status(
        server
            .patch(&format!("/envelopes/{reminded_id}"))
            .json(&json!({"reminders": {"afterDays": 1}}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    server.send(&reminded_id).await;

    // Invited "25 hours ago": the stored invitation time is moved back while the server is
    // down, as if it had been sent yesterday.
    server.kill9();
    {
        let store = signbridge::store::Store::open(&server.data_dir()).unwrap();
        let (key, mut envelope) = store
            .envelopes
            .iter()
            .map(Result::unwrap)
            .map(|(key, value)| {
                (
                    key,
                    signbridge::store::decode::<serde_json::Value>(&value).unwrap(),
                )
            })
            .find(|(_, envelope)| envelope["id"] == reminded_id.as_str())
            .expect("the envelope is stored");
        let invited = &mut envelope["recipients"][0]["invitedAt"];
        let at = chrono::DateTime::parse_from_rfc3339(invited.as_str().unwrap()).unwrap();
        *invited = json!((at - Duration::hours(25)).to_rfc3339());
        store
            .envelopes
            .insert(key, signbridge::store::encode_packed(&envelope).unwrap())
            .unwrap();
        store.flush_blocking().unwrap();
    }
    server.restart().await;

    // Expires a few seconds from now (time enough to send it first on a busy machine).
    let expiring = server.draft_envelope("Expire me").await;
    let expiring_id = expiring["id"].as_str().unwrap().to_string();
    let expires = (chrono::Utc::now() + Duration::seconds(8)).to_rfc3339();
    expect_status(
        server
            .patch(&format!("/envelopes/{expiring_id}"))
            .json(&json!({"expiresAt": expires}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    server.send(&expiring_id).await;

    let expired = eventually(30, || async {
        let envelope = server.envelope(&expiring_id).await;
        (envelope["status"] == "EXPIRED").then_some(envelope)
    })
    .await;
    assert!(expired["expiresAt"].is_string());
    let messages = eventually(30, || {
        let dir = server.data_dir();
        async move {
            let messages = outbox_messages(&dir);
            let reminder = messages
                .iter()
                .any(|(name, text)| name.ends_with("-reminder.eml") && text.contains("Remind me"));
            let expiry = messages
                .iter()
                .any(|(name, text)| name.ends_with("-expired.eml") && text.contains("Expire me"));
            (reminder && expiry).then_some(messages)
        }
    })
    .await;
    let reminders = messages
        .iter()
        .filter(|(name, _)| name.ends_with("-reminder.eml"))
        .count();
    assert_eq!(
        reminders, 1,
        "one reminder, for the signer invited a day ago"
    );
    let after = server.envelope(&reminded_id).await;
    assert_eq!(after["status"], "SENT", "reminded, not expired");
}
