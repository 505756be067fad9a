//! What a delivery says and how it is signed: one JSON body that satisfies both published
//! payload shapes, `X-Certyneo-*` headers (hex HMAC-SHA256 of the raw body keyed with the
//! secret string) and the Standard Webhooks headers (`v1,` base64 HMAC of `id.timestamp.body`
//! keyed with the base64-decoded secret).

use crate::esign::model::{EventKind, EventNotice};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// The body of a delivery for an event.
pub fn build_payload(notice: &EventNotice, public_url: &str) -> Value {
    let event = &notice.event;
    let mut data = json!({
        "envelopeId": event.envelope_id,
        "status": notice.status,
        "signatureLevel": "SIMPLE",
    });
    if event.kind.is_recipient_event() {
        if let Some(recipient) = &notice.recipient {
            data["recipientId"] = json!(recipient.id);
            data["email"] = json!(recipient.email);
            data["name"] = json!(recipient.name);
            data["role"] = json!(recipient.role);
            data["signedAt"] = json!(recipient.signed_at.or(recipient.approved_at));
            data["viewedAt"] = json!(recipient.viewed_at);
        }
    } else {
        data["subject"] = json!(notice.subject);
        data["recipientCount"] = json!(notice.recipient_count);
        data["signedCount"] = json!(notice.signed_count);
    }
    match event.kind {
        EventKind::EnvelopeDeclined => {
            data["decline_reason"] = event.details["decline_reason"].clone();
            if let Some(recipient) = &notice.recipient {
                data["declinedBy"] = json!(recipient.email);
            }
        }
        EventKind::EnvelopeExpired => {
            data["missing_signers"] = event.details["missing_signers"].clone()
        }
        EventKind::EnvelopeVoided => {
            data["reason"] = event.details["reason"].clone();
            // Only when something other than the sender voided it (sealing failed).
            if let Some(cause) = event.details.get("cause") {
                data["cause"] = cause.clone();
            }
        }
        EventKind::EnvelopeCompleted => {
            let base = format!("{public_url}/api/v1/envelopes/{}", event.envelope_id);
            data["signedDocumentUrl"] = json!(format!("{base}/signed-document"));
            data["auditTrailUrl"] = json!(format!("{base}/audit-trail"));
            data["proof_pdf_url"] = json!(format!("{base}/signed-document"));
        }
        _ => {}
    }
    json!({
        "id": event.id,
        "event": event.kind.as_str(),
        "envelope_id": event.envelope_id,
        "occurred_at": event.occurred_at,
        "timestamp": event.occurred_at,
        "data": data,
    })
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The headers of one attempt.
pub fn sign_headers(
    secret: &str,
    event_id: &str,
    event: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let certyneo = hex::encode(hmac_sha256(secret.as_bytes(), &[body]));
    let standard_key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .unwrap_or_else(|_| secret.as_bytes().to_vec());
    let ts = timestamp.to_string();
    let standard = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(
        &standard_key,
        &[event_id.as_bytes(), b".", ts.as_bytes(), b".", body],
    ));
    vec![
        ("x-certyneo-signature", certyneo),
        ("x-certyneo-event", event.to_string()),
        ("x-certyneo-event-id", event_id.to_string()),
        ("x-certyneo-timestamp", ts.clone()),
        ("webhook-id", event_id.to_string()),
        ("webhook-timestamp", ts),
        ("webhook-signature", format!("v1,{standard}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_published_schemes() {
        // Standard Webhooks' own test vector.
        let headers = sign_headers(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "x",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        let get = |name: &str| headers.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(
            get("webhook-signature"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(
            get("x-certyneo-signature"),
            hex::encode(hmac_sha256(
                b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                &[br#"{"test": 2432232314}"#]
            ))
        );
    }
}
