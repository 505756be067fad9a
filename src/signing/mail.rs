//! Notification emails: composed in the recipient's language (text + HTML, with the signing
//! link), delivered over SMTP — or, for test-environment envelopes and deployments without
//! SMTP, written as `.eml` files to `<data-dir>/outbox/` with the link logged. A worker drains
//! the store's outbox; a failing server is retried with backoff and never blocks the API.

use super::i18n::{escape, words};
use crate::config::{SmtpConfig, SmtpTls};
use crate::esign::model::{Envelope, Environment, MailJob, MailKind, Recipient, RecipientRole};
use crate::esign::{page_language, Esign};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Why a message could not be built or delivered.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address: {0}")]
    Address(String),
    #[error("could not build the message: {0}")]
    Build(String),
    #[error("SMTP: {0}")]
    Smtp(String),
    #[error("outbox: {0}")]
    Outbox(#[from] std::io::Error),
}

/// Where a delivered message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Smtp,
    Outbox(PathBuf),
}

/// Sends messages: SMTP for live envelopes when configured, the outbox folder otherwise.
pub struct Mailer {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    outbox_dir: PathBuf,
}

impl Mailer {
    pub fn new(config: Option<&SmtpConfig>, outbox_dir: PathBuf) -> Result<Self, MailError> {
        std::fs::create_dir_all(&outbox_dir)?;
        let from_text = config
            .map(|c| c.from.clone())
            .unwrap_or_else(|| "signbridge <no-reply@localhost>".into());
        let from: Mailbox = from_text
            .parse()
            .map_err(|_| MailError::Address(from_text.clone()))?;
        let smtp = match config {
            None => None,
            Some(config) => {
                let builder = match config.tls {
                    SmtpTls::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                            .map_err(|e| MailError::Smtp(e.to_string()))?
                    }
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                        .map_err(|e| MailError::Smtp(e.to_string()))?,
                    SmtpTls::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
                    }
                };
                let mut builder = builder
                    .port(config.port())
                    .timeout(Some(Duration::from_secs(30)));
                if let (Some(user), Some(password)) = (&config.username, &config.password) {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        password.expose().to_string(),
                    ));
                }
                Some(builder.build())
            }
        };
        Ok(Self {
            smtp,
            from,
            outbox_dir,
        })
    }

    /// Delivers a message for an envelope of `environment`.
    pub async fn deliver(
        &self,
        environment: Environment,
        file_stem: &str,
        message: Message,
    ) -> Result<Delivered, MailError> {
        match (&self.smtp, environment) {
            (Some(smtp), Environment::Live) => {
                smtp.send(message)
                    .await
                    .map_err(|e| MailError::Smtp(e.to_string()))?;
                Ok(Delivered::Smtp)
            }
            _ => {
                let bytes = message.formatted();
                let path = self.outbox_dir.join(format!("{file_stem}.eml"));
                let dir = self.outbox_dir.clone();
                let target = path.clone();
                tokio::task::spawn_blocking(move || {
                    crate::store::write_durably(&dir, &target, &bytes)
                })
                .await
                .map_err(|e| MailError::Outbox(std::io::Error::other(e.to_string())))??;
                Ok(Delivered::Outbox(path))
            }
        }
    }

    /// Builds the email a job sends.
    pub fn compose(
        &self,
        esign: &Esign,
        job: &MailJob,
        envelope: &Envelope,
        recipient: &Recipient,
    ) -> Result<Message, MailError> {
        let words = words(page_language(envelope));
        let link = esign.sign_url(&recipient.id);
        let subject_line = |template: &str| template.replace("{subject}", &envelope.subject);
        let sender = esign.account_name();
        let (subject, intro, show_message) = match job.kind {
            MailKind::Invitation | MailKind::Reminder => {
                let what = if recipient.role == RecipientRole::Approver {
                    words.to_approve
                } else {
                    words.to_sign
                };
                let template = if job.kind == MailKind::Invitation {
                    words.mail_invitation_subject
                } else {
                    words.mail_reminder_subject
                };
                let quoted = if words.lang == "fr" {
                    format!("« {} »", envelope.subject)
                } else {
                    format!("“{}”", envelope.subject)
                };
                (
                    subject_line(template),
                    format!("{sender} {} {quoted} {what}.", words.sent_you),
                    true,
                )
            }
            MailKind::Completed => (
                subject_line(words.mail_completed_subject),
                words.mail_completed_body.to_string(),
                false,
            ),
            MailKind::Declined => (
                subject_line(words.mail_declined_subject),
                words.mail_declined_body.to_string(),
                false,
            ),
            MailKind::Voided => (
                subject_line(words.mail_voided_subject),
                match envelope
                    .void_reason
                    .as_deref()
                    .filter(|r| !r.trim().is_empty())
                {
                    Some(reason) => format!(
                        "{} {} {reason}",
                        words.mail_voided_body, words.mail_voided_reason
                    ),
                    None => words.mail_voided_body.to_string(),
                },
                false,
            ),
            MailKind::Expired => (
                subject_line(words.mail_expired_subject),
                words.mail_expired_body.to_string(),
                false,
            ),
            MailKind::SealingFailed => (
                subject_line(words.mail_sealing_failed_subject),
                format!(
                    "{} {}",
                    words.mail_sealing_failed_body,
                    envelope.void_reason.as_deref().unwrap_or_default()
                ),
                false,
            ),
        };
        let with_link = matches!(
            job.kind,
            MailKind::Invitation | MailKind::Reminder | MailKind::Completed
        );
        let message_text = envelope.message.as_deref().filter(|_| show_message);
        let mut text = format!("{}\n\n{intro}\n", recipient.name);
        if let Some(message) = message_text {
            text.push_str(&format!("\n{message}\n"));
        }
        if with_link {
            text.push_str(&format!("\n{}: {link}\n", words.mail_open));
        }
        text.push_str(&format!("\n-- \n{}\n", words.mail_footer));
        // The sender's logo above the greeting, when the account has one.
        let logo = if esign.logo().is_some() {
            format!(
                "<p><img src=\"{}/sign/assets/logo\" alt=\"{}\" style=\"max-height:48px\"></p>",
                escape(esign.public_url()),
                escape(sender)
            )
        } else {
            String::new()
        };
        let mut html = format!(
            "<!doctype html><html lang=\"{}\"><body style=\"font-family:system-ui,sans-serif;color:#1d2433\">{logo}<p>{}</p><p>{}</p>",
            words.lang,
            escape(&recipient.name),
            escape(&intro)
        );
        if let Some(message) = message_text {
            html.push_str(&format!(
                "<p style=\"white-space:pre-wrap\">{}</p>",
                escape(message)
            ));
        }
        if with_link {
            html.push_str(&format!(
                "<p><a href=\"{href}\" style=\"display:inline-block;padding:12px 24px;background:#2b6cb0;color:#fff;border-radius:6px;text-decoration:none\">{label}</a></p><p style=\"font-size:12px;color:#4a5568\">{href}</p>",
                href = escape(&link),
                label = words.mail_open
            ));
        }
        html.push_str(&format!(
            "<p style=\"font-size:12px;color:#718096\">{}</p></body></html>",
            words.mail_footer
        ));
        let to = Mailbox::new(
            Some(recipient.name.clone()),
            recipient
                .email
                .parse()
                .map_err(|_| MailError::Address(recipient.email.clone()))?,
        );
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| MailError::Build(e.to_string()))
    }
}

impl Mailer {
    /// A plain-text message (the sync daemon's notices to operators, signers' one-time codes).
    pub fn operator_message(
        &self,
        to: &[String],
        subject: &str,
        body: &str,
    ) -> Result<Message, MailError> {
        let mut builder = Message::builder().from(self.from.clone()).subject(subject);
        for address in to {
            let mailbox: Mailbox = address
                .parse()
                .map_err(|_| MailError::Address(address.clone()))?;
            builder = builder.to(mailbox);
        }
        builder
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| MailError::Build(e.to_string()))
    }
}

/// Is this job still worth sending? (An invitation to someone who has already signed, or for
/// an envelope that was voided meanwhile, is not.)
fn still_relevant(job: &MailJob, envelope: &Envelope, recipient: &Recipient) -> bool {
    match job.kind {
        MailKind::Invitation | MailKind::Reminder => {
            envelope.status.is_in_flight() && !recipient.is_done()
        }
        _ => true,
    }
}

/// Drains the mail outbox until the process ends: due jobs are delivered, failures retried.
pub async fn run_mail_worker(
    esign: Arc<Esign>,
    mailer: Arc<Mailer>,
    mut shutdown: crate::shutdown::Shutdown,
) {
    loop {
        if shutdown.is_requested() {
            return;
        }
        let due = {
            let esign = esign.clone();
            tokio::task::spawn_blocking(move || {
                let now = esign.clock().now();
                esign.due_mail_jobs(now, 50)
            })
            .await
        };
        let jobs = match due {
            Ok(Ok(jobs)) => jobs,
            Ok(Err(err)) => {
                tracing::error!(error = %err, "reading the mail outbox failed");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        let busy = jobs.len() == 50;
        for job in jobs {
            // The message in hand goes out; the rest wait in the outbox for the next start.
            if shutdown.is_requested() {
                return;
            }
            deliver_job(&esign, &mailer, job).await;
        }
        if !busy {
            tokio::select! {
                _ = tokio::time::timeout(Duration::from_secs(1), esign.mail_ready.notified()) => {}
                _ = shutdown.requested() => return,
            }
        }
    }
}

async fn deliver_job(esign: &Arc<Esign>, mailer: &Mailer, job: MailJob) {
    let finish = |esign: &Arc<Esign>, job: &MailJob| {
        if let Err(err) = esign.finish_mail_job(job) {
            tracing::error!(error = %err, job = %job.id, "could not remove a delivered mail job");
        }
    };
    let subject = match esign.mail_subject(&job) {
        Ok(Some(subject)) => subject,
        Ok(None) => return finish(esign, &job),
        Err(err) => {
            tracing::error!(error = %err, job = %job.id, "could not load a mail job's envelope");
            return;
        }
    };
    let (envelope, recipient) = subject;
    if !still_relevant(&job, &envelope, &recipient) {
        return finish(esign, &job);
    }
    let kind = format!("{:?}", job.kind).to_lowercase();
    let result = match mailer.compose(esign, &job, &envelope, &recipient) {
        Ok(message) => {
            mailer
                .deliver(envelope.environment, &format!("{}-{kind}", job.id), message)
                .await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(delivered) => {
            match &delivered {
                Delivered::Outbox(path) => tracing::info!(
                    to = %recipient.email,
                    envelope = %envelope.id,
                    kind = %kind,
                    link = %esign.sign_url(&recipient.id),
                    file = %path.display(),
                    "email written to the outbox"
                ),
                Delivered::Smtp => {
                    tracing::info!(to = %recipient.email, envelope = %envelope.id, kind = %kind, "email sent")
                }
            }
            finish(esign, &job);
        }
        Err(err) => {
            let retried = esign
                .retry_mail_job(&job, &err.to_string())
                .unwrap_or(false);
            tracing::warn!(
                error = %err,
                to = %recipient.email,
                envelope = %envelope.id,
                attempt = job.attempts + 1,
                retried,
                "email delivery failed"
            );
        }
    }
    if let Err(err) = esign.store().flush().await {
        tracing::error!(error = %err, "flushing the mail outbox failed");
    }
}
