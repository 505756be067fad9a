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
