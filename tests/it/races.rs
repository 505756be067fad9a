//! Conflicting changes to one envelope, raced over real HTTP many times each: sign vs void,
//! sign vs decline, void vs send, patch vs send, delete vs send, two parallel signers, the
//! expiry tick vs sign. In every trial the answers agree with the final state (never two
//! winners of conflicting transitions, never an acknowledged change that is not there), the
//! recorded events — what webhooks are made from — follow only the winners, and the audit
//! chain verifies.

use crate::common::inprocess::InProcess;
use crate::common::*;
use serde_json::{json, Value};
use signbridge::config::Config;
use signbridge::esign::model::Environment;

/// Trials per pair (the issue asks for at least 200).
const TRIALS: usize = 200;

struct Race {
    app: InProcess,
    /// Follows no redirect: a signing form's 303 is its success.
    forms: reqwest::Client,
    document_id: String,
}

impl Race {
    async fn start() -> Race {
        let app = InProcess::start(Config::default()).await;
        let document_id = upload(&app, pdf(1, "Contract")).await;
        Race {
            forms: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            document_id,
            app,
        }
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .app
            .http
            .request(method, self.app.url(path))
            .bearer_auth(&self.app.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A draft with these recipients (all in one routing group unless they say otherwise).
    async fn draft(&self, recipients: Value, extra: Value) -> Value {
        let mut body = json!({
            "subject": "Race",
            "documentIds": [self.document_id],
            "recipients": recipients,
        });
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        let (status, created) = self
            .api(reqwest::Method::POST, "/envelopes", Some(body))
            .await;
        assert_eq!(status, 201, "{created}");
        created
    }

    async fn sent(&self, recipients: Value, extra: Value) -> Value {
        let draft = self.draft(recipients, extra).await;
        let id = draft["id"].as_str().unwrap();
        let (status, sent) = self
            .api(
                reqwest::Method::POST,
                &format!("/envelopes/{id}/send"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{sent}");
        sent
    }

    async fn form(&self, link: &str, fields: &[(&str, &str)]) -> u16 {
        self.forms
            .post(link)
            .form(fields)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn sign(&self, link: &str, name: &str) -> u16 {
        self.form(
            link,
            &[("action", "sign"), ("typed_name", name), ("consent", "on")],
        )
        .await
    }

    async fn decline(&self, link: &str) -> u16 {
        self.form(link, &[("action", "decline"), ("reason", "No")])
            .await
    }

    /// The stored state, the kinds of the recorded events, and the audit chain's verdict.
    fn settle(&self, id: &str) -> (Value, Vec<String>) {
        let envelope = serde_json::to_value(
            self.app
                .esign
                .get_envelope(Environment::Test, id)
                .expect("envelope"),
        )
        .unwrap();
        let events: Vec<String> = self
            .app
            .esign
            .events_of(Environment::Test, id)
            .unwrap()
            .iter()
            .map(|e| e.kind.as_str().to_string())
            .collect();
        let chain = self
            .app
            .esign
            .check_audit_chain(Environment::Test, id)
            .unwrap();
        assert!(
            chain.broken_at.is_none(),
            "audit chain of {id} broken: {:?}",
            chain.broken_at
        );
        assert_eq!(chain.events, events.len());
        (envelope, events)
    }
}

/// Uploads a PDF; its document id.
async fn upload(app: &InProcess, bytes: Vec<u8>) -> String {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("c.pdf"),
    );
    let document = app
        .http
        .post(app.url("/documents"))
        .bearer_auth(&app.key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let document = expect_status(document, 201).await;
    document["id"].as_str().unwrap().to_string()
}

fn link(envelope: &Value, index: usize) -> String {
    envelope["recipients"][index]["signUrl"]
        .as_str()
        .unwrap()
        .to_string()
}

fn count(events: &[String], kind: &str) -> usize {
    events.iter().filter(|e| e.as_str() == kind).count()
}

/// Signed (the form redirected) or refused because the state moved (409).
fn signed(status: u16) -> bool {
    assert!(
        status == 303 || status == 409,
        "signing form answered {status}"
    );
    status == 303
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_versus_void_has_exactly_one_winner() {
    let race = Race::start().await;
    let mut wins = (0, 0);
    for _ in 0..TRIALS {
        let sent = race
            .sent(
                json!([{"email": "a@example.com", "name": "Alice"}]),
                json!({}),
            )
            .await;
        let id = sent["id"].as_str().unwrap();
        let alice = link(&sent, 0);
        let path = format!("/envelopes/{id}");
        let (sign, (void, _)) = tokio::join!(
            race.sign(&alice, "Alice"),
            race.api(
                reqwest::Method::DELETE,
                &path,
                Some(json!({"reason": "race"}))
            )
        );
        let (envelope, events) = race.settle(id);
        let (signed, voided) = (signed(sign), void == 200);
        assert!(void == 200 || void == 409, "void answered {void}");
        assert!(
            signed != voided,
            "sign {sign} and void {void} on {id}: {envelope}"
        );
        if voided {
            assert_eq!(envelope["status"], "VOIDED", "{envelope}");
            assert_ne!(envelope["recipients"][0]["status"], "SIGNED");
            assert_eq!(count(&events, "recipient.signed"), 0, "{events:?}");
            assert_eq!(count(&events, "envelope.voided"), 1, "{events:?}");
            wins.1 += 1;
        } else {
            assert_ne!(envelope["status"], "VOIDED", "{envelope}");
            assert_eq!(envelope["recipients"][0]["status"], "SIGNED");
            assert_eq!(count(&events, "recipient.signed"), 1, "{events:?}");
            assert_eq!(count(&events, "envelope.voided"), 0, "{events:?}");
            wins.0 += 1;
        }
    }
    println!(
        "sign vs void: sign won {}, void won {} of {TRIALS}",
        wins.0, wins.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_versus_decline_never_loses_either() {
    let race = Race::start().await;
    let mut outcomes = std::collections::BTreeMap::new();
    for _ in 0..TRIALS {
        let sent = race
            .sent(
                json!([{"email": "a@example.com", "name": "Alice"}, {"email": "b@example.com", "name": "Bob"}]),
                json!({}),
            )
            .await;
        let id = sent["id"].as_str().unwrap();
        let (alice, bob) = (link(&sent, 0), link(&sent, 1));
        let (sign, decline) = tokio::join!(race.sign(&alice, "Alice"), race.decline(&bob));
        let (envelope, events) = race.settle(id);
        let (signed, declined) = (signed(sign), signed(decline));
        // Bob declines whatever Alice does; Alice signs only if she came first.
        assert!(declined, "decline answered {decline}");
        assert_eq!(envelope["status"], "DECLINED", "{envelope}");
        assert_eq!(count(&events, "envelope.declined"), 1, "{events:?}");
        assert_eq!(
            envelope["recipients"][0]["status"] == "SIGNED",
            signed,
            "sign answered {sign}: {envelope}"
        );
        assert_eq!(count(&events, "recipient.signed"), usize::from(signed));
        *outcomes.entry(signed).or_insert(0) += 1;
    }
    println!("sign vs decline: {outcomes:?} (true = Alice signed before Bob declined)");
}

/// DELETE racing send on a draft: deleted before the send (send 404), or sent and then
/// voided — never sent and deleted, never a void that is not there.
async fn delete_versus_send(reason: Option<&str>) {
    let race = Race::start().await;
    let mut outcomes = std::collections::BTreeMap::new();
    for _ in 0..TRIALS {
        let draft = race
            .draft(
                json!([{"email": "a@example.com", "name": "Alice"}]),
                json!({}),
            )
            .await;
        let id = draft["id"].as_str().unwrap();
        let body = reason.map(|reason| json!({ "reason": reason }));
        let (path, send_path) = (format!("/envelopes/{id}"), format!("/envelopes/{id}/send"));
        let ((delete, deleted), (send, _)) = tokio::join!(
            race.api(reqwest::Method::DELETE, &path, body),
            race.api(reqwest::Method::POST, &send_path, None)
        );
        assert_eq!(delete, 200, "{deleted}");
        let voided = deleted.get("envelope").is_some();
        let stored = race.app.esign.get_envelope(Environment::Test, id);
        if voided {
            // The send won; the delete then voided what was in flight.
            assert_eq!(send, 200);
            let (envelope, events) = race.settle(id);
            assert_eq!(envelope["status"], "VOIDED", "{envelope}");
            assert_eq!(count(&events, "envelope.sent"), 1, "{events:?}");
            assert_eq!(count(&events, "envelope.voided"), 1, "{events:?}");
        } else {
            // The draft was deleted first: the send found nothing, and nothing is there.
            assert_eq!(
                send, 404,
                "send answered {send} after the draft was deleted"
            );
            assert!(stored.is_err(), "deleted draft {id} is still stored");
            assert!(race.app.esign.events_of(Environment::Test, id).is_err());
        }
        *outcomes
            .entry(if voided {
                "sent, then voided"
            } else {
                "deleted"
            })
            .or_insert(0) += 1;
    }
    println!("delete ({reason:?}) vs send: {outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn void_versus_send_never_loses_the_void() {
    delete_versus_send(Some("changed our mind")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_versus_send_never_sends_a_deleted_draft() {
    delete_versus_send(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patch_versus_send_never_loses_the_patch() {
    let race = Race::start().await;
    let mut outcomes = std::collections::BTreeMap::new();
    for trial in 0..TRIALS {
        let draft = race
            .draft(
                json!([{"email": "a@example.com", "name": "Alice"}]),
                json!({}),
            )
            .await;
        let id = draft["id"].as_str().unwrap();
        let subject = format!("Patched {trial}");
        let (path, send_path) = (format!("/envelopes/{id}"), format!("/envelopes/{id}/send"));
        let ((patch, _), (send, _)) = tokio::join!(
            race.api(
                reqwest::Method::PATCH,
                &path,
                Some(json!({ "subject": subject }))
            ),
            race.api(reqwest::Method::POST, &send_path, None)
        );
        let (envelope, events) = race.settle(id);
        assert_eq!(send, 200, "send answered {send}");
        assert_eq!(envelope["status"], "SENT");
        assert_eq!(count(&events, "envelope.sent"), 1);
        assert!(patch == 200 || patch == 409, "patch answered {patch}");
        // An acknowledged patch is in the envelope that went out; a refused one is not.
        assert_eq!(
            envelope["subject"] == subject.as_str(),
            patch == 200,
            "patch {patch}: {envelope}"
        );
        *outcomes.entry(patch).or_insert(0) += 1;
    }
    println!("patch vs send: {outcomes:?} (200 = patched before the send)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_parallel_signers_both_sign() {
    let race = Race::start().await;
    for _ in 0..TRIALS {
        let sent = race
            .sent(
                json!([{"email": "a@example.com", "name": "Alice"}, {"email": "b@example.com", "name": "Bob"}]),
                json!({}),
            )
            .await;
        let id = sent["id"].as_str().unwrap();
        let (alice, bob) = (link(&sent, 0), link(&sent, 1));
        let (first, second) = tokio::join!(race.sign(&alice, "Alice"), race.sign(&bob, "Bob"));
        assert_eq!((first, second), (303, 303), "both signers must succeed");
        let (envelope, events) = race.settle(id);
        assert_eq!(envelope["recipients"][0]["status"], "SIGNED");
        assert_eq!(envelope["recipients"][1]["status"], "SIGNED");
        assert_eq!(count(&events, "recipient.signed"), 2, "{events:?}");
        assert!(
            envelope["status"] == "COMPLETED" || envelope["status"] == "PARTIALLY_SIGNED",
            "{envelope}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_expiry_tick_versus_sign_has_exactly_one_winner() {
    let race = Race::start().await;
    let mut wins = (0, 0);
    for _ in 0..TRIALS {
        let expires = (race.app.clock.now_for_test() + chrono::Duration::hours(1)).to_rfc3339();
        let sent = race
            .sent(
                json!([{"email": "a@example.com", "name": "Alice"}]),
                json!({ "expiresAt": expires }),
            )
            .await;
        let id = sent["id"].as_str().unwrap();
        let alice = link(&sent, 0);
        // Time is past the expiry, but the tick has not run: the signer and the tick race.
        race.app.clock.advance(chrono::Duration::hours(2));
        let esign = race.app.esign.clone();
        let (sign, tick) = tokio::join!(
            race.sign(&alice, "Alice"),
            tokio::task::spawn_blocking(move || esign.expire_and_remind().unwrap())
        );
        let (envelope, events) = race.settle(id);
        let expired = envelope["status"] == "EXPIRED";
        let signed = signed(sign);
        assert!(!(expired && signed), "signed and expired: {envelope}");
        assert_eq!(count(&events, "envelope.expired"), usize::from(expired));
        assert_eq!(count(&events, "recipient.signed"), usize::from(signed));
        assert!(tick.unwrap().expired <= 1);
        if signed {
            wins.0 += 1;
        } else {
            assert!(expired, "neither signed nor expired: {envelope}");
            wins.1 += 1;
        }
    }
    println!(
        "tick vs sign: sign won {}, expiry won {} of {TRIALS}",
        wins.0, wins.1
    );
}

/// Deleting a document while its draft is sent: the send goes out with the document, or the
/// deletion wins and the send is refused — never a deleted document in a sent envelope.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_document_versus_sending_its_draft_has_one_winner() {
    let race = Race::start().await;
    let mut outcomes = std::collections::BTreeMap::new();
    for trial in 0..TRIALS {
        let document = upload(&race.app, pdf(1, &format!("Contract {trial}"))).await;
        let (status, draft) = race
            .api(
                reqwest::Method::POST,
                "/envelopes",
                Some(json!({
                    "subject": "Race",
                    "documentIds": [document],
                    "recipients": [{"email": "a@example.com", "name": "Alice"}],
                })),
            )
            .await;
        assert_eq!(status, 201, "{draft}");
        let id = draft["id"].as_str().unwrap();
        let (delete_path, send_path) = (
            format!("/documents/{document}"),
            format!("/envelopes/{id}/send"),
        );
        let ((delete, deleted), (send, sent)) = tokio::join!(
            race.api(reqwest::Method::DELETE, &delete_path, None),
            race.api(reqwest::Method::POST, &send_path, None)
        );
        let (envelope, events) = race.settle(id);
        let content = race
            .app
            .http
            .get(race.app.url(&format!("/documents/{document}/content")))
            .bearer_auth(&race.app.key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if send == 200 {
            assert_eq!(
                delete, 409,
                "the deletion of a sent envelope's document answered {delete}: {deleted}"
            );
            assert_eq!(envelope["status"], "SENT", "{envelope}");
            assert_eq!(count(&events, "envelope.sent"), 1, "{events:?}");
            assert_eq!(content, 200, "the sent envelope's document is gone");
        } else {
            assert_eq!(
                delete, 200,
                "neither won: delete {delete} {deleted}, send {send} {sent}"
            );
            assert_eq!(send, 409, "{sent}");
            assert_eq!(sent["code"], "document_missing", "{sent}");
            assert_eq!(envelope["status"], "DRAFT", "{envelope}");
            assert_eq!(count(&events, "envelope.sent"), 0, "{events:?}");
            assert_eq!(content, 404);
        }
        *outcomes
            .entry(if send == 200 { "sent" } else { "deleted" })
            .or_insert(0) += 1;
    }
    println!("delete document vs send: {outcomes:?}");
}

/// Two deletions of one document, while another document holds the same content: one
/// deletion wins, the other finds nothing, and the shared content stays for the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_deletions_of_one_document_release_its_content_once() {
    let race = Race::start().await;
    for trial in 0..TRIALS {
        let bytes = pdf(1, &format!("Shared {trial}"));
        let first = upload(&race.app, bytes.clone()).await;
        let second = upload(&race.app, bytes).await;
        let path = format!("/documents/{first}");
        let ((a, _), (b, _)) = tokio::join!(
            race.api(reqwest::Method::DELETE, &path, None),
            race.api(reqwest::Method::DELETE, &path, None)
        );
        let mut answers = [a, b];
        answers.sort_unstable();
        assert_eq!(answers, [200, 404], "two deletions of one document");
        let content = race
            .app
            .http
            .get(race.app.url(&format!("/documents/{second}/content")))
            .bearer_auth(&race.app.key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(
            content, 200,
            "trial {trial}: the other document's content is gone"
        );
    }
}
