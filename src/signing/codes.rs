//! Sending signers their one-time codes: by email (through the mailer: SMTP, or the `.eml`
//! outbox for test envelopes) and by SMS (through the configured provider, or the SMS outbox
//! for test envelopes). The code is in the message and nowhere else: never logged, never
//! stored (the domain keeps only its keyed hash).

use super::i18n::words;
use super::mail::Mailer;
use crate::esign::model::{CodeChannel, Environment};
use crate::esign::IssuedCode;
use crate::sms::{Sms, SmsMessage};
use std::sync::Arc;

/// Email and SMS, as configured.
pub struct CodeDelivery {
    mailer: Arc<Mailer>,
    sms: Arc<Sms>,
}

impl CodeDelivery {
    pub fn new(mailer: Arc<Mailer>, sms: Arc<Sms>) -> Self {
        Self { mailer, sms }
    }

    /// Sends `issued` to its destination; the reason in words when it could not be sent.
    pub async fn send(&self, issued: &IssuedCode) -> Result<(), String> {
        let words = words(issued.language);
        let text = words
            .code_message
            .replace("{code}", &issued.code)
            .replace("{sender}", &issued.sender)
            .replace(
                "{minutes}",
                &(crate::esign::CODE_LIFETIME_SECS / 60).to_string(),
            );
        match issued.channel {
            CodeChannel::Email => {
                let subject = words.code_subject.replace("{sender}", &issued.sender);
                let message = self
                    .mailer
                    .operator_message(std::slice::from_ref(&issued.destination), &subject, &text)
                    .map_err(|err| err.to_string())?;
                let environment = if issued.test {
                    Environment::Test
                } else {
                    Environment::Live
                };
                let stem = format!("code-{}", ulid::Ulid::new());
                self.mailer
                    .deliver(environment, &stem, message)
                    .await
                    .map_err(|err| err.to_string())?;
            }
            CodeChannel::Sms => {
                self.sms
                    .send(&SmsMessage {
                        to: issued.destination.clone(),
                        body: text,
                        test: issued.test,
                    })
                    .await
                    .map_err(|err| err.to_string())?;
            }
        }
        tracing::info!(channel = issued.channel.as_str(), to = %issued.masked, "one-time code sent");
        Ok(())
    }
}
