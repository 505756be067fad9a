//! Signer authentication by one-time codes: which factors an envelope asks of a recipient
//! (a code by email, by SMS), issuing a code (6 digits, 10 minutes, resend throttled; only its
//! keyed hash is stored, the code itself goes back to the caller to be sent), checking one
//! (constant-time; 5 wrong codes lock the recipient out), and each step recorded in the
//! hash-chained event log as evidence.

use super::lifecycle::{Actor, Change, EventDraft};
use super::model::{
    Authentication, CodeChannel, Envelope, EventKind, PendingCode, Recipient, MAX_CODE_FAILURES,
};
use super::signing::{not_found, SigningState};
use super::{Esign, EsignError};
use chrono::Duration;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How long a code may be used.
pub const CODE_LIFETIME_SECS: i64 = 600;
/// How long before another code may be sent to the same recipient.
pub const CODE_RESEND_SECS: i64 = 60;

/// A code just issued, to be sent by the caller (it is not stored anywhere).
#[derive(Clone)]
pub struct IssuedCode {
    pub code: String,
    pub channel: CodeChannel,
    /// The real destination (email address or E.164 phone).
    pub destination: String,
    /// The destination as shown and recorded.
    pub masked: String,
    /// A test-environment envelope: nothing may leave (outbox only).
    pub test: bool,
    /// The page language, for the message.
    pub language: &'static str,
    pub sender: String,
}

impl std::fmt::Debug for IssuedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCode")
            .field("channel", &self.channel)
            .field("masked", &self.masked)
            .finish_non_exhaustive()
    }
}

/// Why a code cannot be sent or accepted now (each shown to the signer in words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRefusal {
    /// Another code may be sent in this many seconds.
    TooSoon {
        wait_secs: i64,
    },
    /// No code was sent, or it expired: send a new one.
    NoCode,
    Expired,
    /// Wrong; this many tries are left before the lockout.
    Wrong {
        tries_left: u32,
    },
    /// Too many wrong codes: the recipient may no longer sign.
    Locked,
    /// Nothing to prove (no factor required, or all proven).
    NotNeeded,
}

impl From<CodeRefusal> for EsignError {
    fn from(refusal: CodeRefusal) -> Self {
        let (code, message) = match &refusal {
            CodeRefusal::TooSoon { wait_secs } => (
                "code_resend_too_soon",
                format!("a new code can be sent in {wait_secs} s"),
            ),
            CodeRefusal::NoCode => ("code_not_sent", "send a code first".to_string()),
            CodeRefusal::Expired => (
                "code_expired",
                "the code expired; send a new one".to_string(),
            ),
            CodeRefusal::Wrong { tries_left } => (
                "code_wrong",
                format!("the code is not right; {tries_left} tries left"),
            ),
            CodeRefusal::Locked => (
                "recipient_locked",
                "too many wrong codes: ask the sender to send the envelope again".to_string(),
            ),
            CodeRefusal::NotNeeded => ("code_not_needed", "no code is needed".to_string()),
        };
        EsignError::Conflict { code, message }
    }
}

pub use crate::sms::{mask_email, mask_phone};

/// The factors an envelope asks of a recipient who signs or approves, in the order asked.
pub fn required_factors(envelope: &Envelope, recipient: &Recipient) -> Vec<CodeChannel> {
    if !recipient.role.acts() {
        return Vec::new();
    }
    let mut factors = Vec::new();
    if envelope.require_email_otp {
        factors.push(CodeChannel::Email);
    }
    if envelope.require_sms_otp {
        factors.push(CodeChannel::Sms);
    }
    factors
}

/// The next factor the recipient still has to prove, if any.
pub fn pending_factor(envelope: &Envelope, recipient: &Recipient) -> Option<CodeChannel> {
    required_factors(envelope, recipient)
        .into_iter()
        .find(|channel| {
            !recipient
                .authentications
                .iter()
                .any(|a| a.channel == *channel)
        })
}

/// Whether a recipient is locked out by wrong codes.
pub fn locked(recipient: &Recipient) -> bool {
    recipient.code_failures >= MAX_CODE_FAILURES
}

fn destination_of(recipient: &Recipient, channel: CodeChannel) -> Option<String> {
    match channel {
        CodeChannel::Email => Some(recipient.email.clone()),
        CodeChannel::Sms => recipient.phone.clone(),
    }
}

fn masked(channel: CodeChannel, destination: &str) -> String {
    match channel {
        CodeChannel::Email => mask_email(destination),
        CodeChannel::Sms => mask_phone(destination),
    }
}

impl Esign {
    fn code_mac(&self, recipient_id: &str, channel: CodeChannel, code: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.token_key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"one-time-code/");
        mac.update(recipient_id.as_bytes());
        mac.update(b"/");
        mac.update(channel.as_str().as_bytes());
        mac.update(b"/");
        mac.update(code.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Issues a one-time code for the recipient of `token`'s next factor: records its keyed
    /// hash and a `recipient.code_sent` event, and returns the code for the caller to send.
    pub fn issue_code(
        &self,
        token: &str,
        actor: &Actor,
    ) -> Result<Result<IssuedCode, CodeRefusal>, EsignError> {
        self.transition(|| self.issue_code_once(token, actor))
    }

    fn issue_code_once(
        &self,
        token: &str,
        actor: &Actor,
    ) -> Result<Result<IssuedCode, CodeRefusal>, EsignError> {
        let (envelope, index) = self.resolve_token(token)?;
        let view = self.signing_view(envelope.clone(), index);
        if view.state != SigningState::YourTurn {
            return Err(Self::refuse(&view.state));
        }
        let recipient = &envelope.recipients[index];
        if locked(recipient) {
            return Ok(Err(CodeRefusal::Locked));
        }
        let Some(channel) = pending_factor(&envelope, recipient) else {
            return Ok(Err(CodeRefusal::NotNeeded));
        };
        let destination = destination_of(recipient, channel).ok_or_else(not_found)?;
        let now = self.clock.now();
        if let Some(pending) = &recipient.pending_code {
            let next = pending.sent_at + Duration::seconds(CODE_RESEND_SECS);
            if pending.channel == channel && now < next {
                return Ok(Err(CodeRefusal::TooSoon {
                    wait_secs: (next - now).num_seconds().max(1),
                }));
            }
        }
        let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
        let shown = masked(channel, &destination);
        let mut change = Change::new(envelope.clone(), Some(&envelope));
        let updated = &mut change.envelope;
        let target = &mut updated.recipients[index];
        target.pending_code = Some(PendingCode {
            channel,
            code_mac: self.code_mac(&target.id, channel, &code),
            sent_at: now,
            expires_at: now + Duration::seconds(CODE_LIFETIME_SECS),
        });
        let (email, id) = (target.email.clone(), target.id.clone());
        updated.updated_at = now;
        change.events.push(EventDraft::by_recipient(
            EventKind::RecipientCodeSent,
            &email,
            &id,
            actor,
            json!({"channel": channel.as_str(), "destination": shown}),
        ));
        let committed = self.commit(change)?;
        Ok(Ok(IssuedCode {
            code,
            channel,
            destination,
            masked: shown,
            test: committed.environment == super::model::Environment::Test,
            language: super::signing::page_language(&committed),
            sender: self.account.name.clone(),
        }))
    }

    /// Checks a one-time code entered by the recipient of `token`. Right: the factor is
    /// recorded (channel, masked destination, time, IP, user agent). Wrong: counted, and the
    /// fifth wrong code locks the recipient out.
    pub fn verify_code(
        &self,
        token: &str,
        code: &str,
        actor: &Actor,
    ) -> Result<Result<Authentication, CodeRefusal>, EsignError> {
        self.transition(|| self.verify_code_once(token, code, actor))
    }

    fn verify_code_once(
        &self,
        token: &str,
        code: &str,
        actor: &Actor,
    ) -> Result<Result<Authentication, CodeRefusal>, EsignError> {
        let (envelope, index) = self.resolve_token(token)?;
        let view = self.signing_view(envelope.clone(), index);
        if view.state != SigningState::YourTurn {
            return Err(Self::refuse(&view.state));
        }
        let recipient = &envelope.recipients[index];
        if locked(recipient) {
            return Ok(Err(CodeRefusal::Locked));
        }
        let Some(pending) = recipient.pending_code.clone() else {
            return Ok(Err(CodeRefusal::NoCode));
        };
        let now = self.clock.now();
        if now > pending.expires_at {
            return Ok(Err(CodeRefusal::Expired));
        }
        let entered: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let expected = pending.code_mac.as_bytes();
        let given = self.code_mac(&recipient.id, pending.channel, &entered);
        let right = entered.len() == 6 && bool::from(given.as_bytes().ct_eq(expected));
        let destination = destination_of(recipient, pending.channel).unwrap_or_default();
        let shown = masked(pending.channel, &destination);
        let mut change = Change::new(envelope.clone(), Some(&envelope));
        let updated = &mut change.envelope;
        let target = &mut updated.recipients[index];
        let (email, id) = (target.email.clone(), target.id.clone());
        updated.updated_at = now;
        let outcome = if right {
            let authentication = Authentication {
                channel: pending.channel,
                destination: shown.clone(),
                verified_at: now,
                ip: actor.ip.clone(),
                user_agent: actor.user_agent.clone(),
            };
            target.pending_code = None;
            target.authentications.push(authentication.clone());
            change.events.push(EventDraft::by_recipient(
                EventKind::RecipientAuthenticated,
                &email,
                &id,
                actor,
                json!({"channel": pending.channel.as_str(), "destination": shown}),
            ));
            Ok(authentication)
        } else {
            target.code_failures += 1;
            let failures = target.code_failures;
            change.events.push(EventDraft::by_recipient(
                EventKind::RecipientCodeRejected,
                &email,
                &id,
                actor,
                json!({"channel": pending.channel.as_str(), "failures": failures}),
            ));
            if failures >= MAX_CODE_FAILURES {
                target.pending_code = None;
                change.events.push(EventDraft::by_recipient(
                    EventKind::RecipientLocked,
                    &email,
                    &id,
                    actor,
                    json!({"failures": failures}),
                ));
                Err(CodeRefusal::Locked)
            } else {
                Err(CodeRefusal::Wrong {
                    tries_left: MAX_CODE_FAILURES - failures,
                })
            }
        };
        self.commit(change)?;
        Ok(outcome)
    }
}
