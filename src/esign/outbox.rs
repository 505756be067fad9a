//! The notification outbox: emails queued by committed changes, handed to whoever delivers
//! them, removed once delivered, rescheduled with backoff when delivery fails.

use super::model::{Envelope, MailJob, Recipient, RecipientRole, SENDER_RECIPIENT_ID};
use super::{env_key, Esign, EsignError};
use crate::store::{get_json, put_json, StoreError};
use chrono::{DateTime, Duration, Utc};

/// Delivery gives up after this many attempts (about a day of backoff).
pub const MAX_MAIL_ATTEMPTS: u32 = 12;

impl Esign {
    /// Jobs whose time has come, oldest first.
    pub fn due_mail_jobs(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<MailJob>, EsignError> {
        let mut due = Vec::new();
        for entry in self.store.mail_outbox.iter() {
            let (_, value) = entry?;
            let job: MailJob = serde_json::from_slice(&value).map_err(StoreError::from)?;
            if job.next_attempt_at <= now {
                due.push(job);
                if due.len() >= limit {
                    break;
                }
            }
        }
        Ok(due)
    }

    /// The envelope and recipient a job is about (`None` if they are gone).
    pub fn mail_subject(&self, job: &MailJob) -> Result<Option<(Envelope, Recipient)>, EsignError> {
        let envelope: Option<Envelope> = get_json(
            &self.store.envelopes,
            &env_key(job.environment, &job.envelope_id),
        )?;
        Ok(envelope.and_then(|envelope| {
            if job.recipient_id == SENDER_RECIPIENT_ID {
                let sender = self.sender_as_recipient();
                return Some((envelope, sender));
            }
            let recipient = envelope
                .recipients
                .iter()
                .find(|r| r.id == job.recipient_id)?
                .clone();
            Some((envelope, recipient))
        }))
    }

    /// The account, addressed like a recipient (for mails to the sender).
    fn sender_as_recipient(&self) -> Recipient {
        Recipient::pending(
            SENDER_RECIPIENT_ID.into(),
            self.account.email.clone(),
            self.account.name.clone(),
            RecipientRole::CarbonCopy,
            0,
        )
    }

    /// The job is done (delivered, or no longer needed).
    pub fn finish_mail_job(&self, job: &MailJob) -> Result<(), EsignError> {
        self.store.mail_outbox.remove(job.id.as_bytes())?;
        Ok(())
    }

    /// Delivery failed: try again later (exponential backoff with jitter), or give up after
    /// [`MAX_MAIL_ATTEMPTS`]. Returns whether it will be retried.
    pub fn retry_mail_job(&self, job: &MailJob, error: &str) -> Result<bool, EsignError> {
        let attempts = job.attempts + 1;
        if attempts >= MAX_MAIL_ATTEMPTS {
            self.finish_mail_job(job)?;
            return Ok(false);
        }
        let base = 30i64.saturating_mul(1 << attempts.min(7)).min(3600);
        let jitter = rand::random::<f64>() * 0.4 + 0.8;
        let mut retried = job.clone();
        retried.attempts = attempts;
        retried.last_error = Some(error.chars().take(500).collect());
        retried.next_attempt_at =
            self.clock.now() + Duration::seconds((base as f64 * jitter) as i64);
        put_json(&self.store.mail_outbox, job.id.as_bytes(), &retried)?;
        Ok(true)
    }
}
