//! Outgoing SMS (signer one-time codes): through Twilio's Messages API, or as a signed JSON
//! POST to the operator's own gateway (`webhook`), chosen by `sms:` in the configuration.
//! Messages of test-environment envelopes never touch the network: they are written to
//! `<data-dir>/outbox/sms/<ulid>.txt`, as test mail is written to `.eml` files.
//!
//! A message body carries a one-time code, so it is never logged nor shown by `Debug`: logs
//! name the destination masked ([`mask_phone`]) and the provider's message id.

use crate::clock::SharedClock;
use crate::config::{Secret, SmsConfig, SmsProvider};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// A live message with `sms.provider: none`; envelopes needing SMS are refused before.
    #[error("no SMS provider is configured (sms.provider is none)")]
    NotConfigured,
    /// The destination is not an E.164 number (shown masked).
    #[error("not an E.164 phone number: {0}")]
    InvalidNumber(String),
    /// The provider refused this message; sending it again will not help.
    #[error("the SMS provider refused the message (HTTP {status}{}): {message}", code.map(|c| format!(", code {c}")).unwrap_or_default())]
    Rejected {
        status: u16,
        code: Option<u32>,
        message: String,
    },
    /// The provider could not be reached, was busy (429) or failed (5xx); worth retrying.
    #[error("the SMS provider is unavailable: {0}")]
    Unavailable(String),
    /// `sms:` does not describe a usable provider.
    #[error("{0}")]
    Config(String),
    /// A test message could not be written to the outbox folder.
    #[error("SMS outbox: {0}")]
    Outbox(#[from] std::io::Error),
}

/// One SMS to send.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsMessage {
    /// The destination, E.164 (`+33612345678`).
    pub to: String,
    /// The text; it carries a one-time code and is never logged.
    pub body: String,
    /// For a test-environment envelope: written to the outbox folder, never sent.
    pub test: bool,
}

impl std::fmt::Debug for SmsMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsMessage")
            .field("to", &mask_phone(&self.to))
            .field("body", &"[redacted]")
            .field("test", &self.test)
            .finish()
    }
}

/// A message handed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentSms {
    /// The provider's message id (Twilio's `SM…` sid), else ours (a ULID).
    pub id: String,
    /// `twilio`, `webhook` or `outbox`.
    pub provider: &'static str,
}

/// How Twilio names the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TwilioSender {
    /// `From`: an E.164 number or an alphanumeric sender ID.
    From(String),
    /// `MessagingServiceSid`: Twilio picks the number from the service's pool.
    MessagingService(String),
}

#[derive(Debug, Clone)]
enum Provider {
    None,
    Twilio {
        /// `{base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`.
        endpoint: String,
        account_sid: String,
        auth_token: Secret,
        sender: TwilioSender,
    },
    Webhook {
        url: url::Url,
        secret: Secret,
    },
}

impl Provider {
    fn name(&self) -> &'static str {
        match self {
            Provider::None => "none",
            Provider::Twilio { .. } => "twilio",
            Provider::Webhook { .. } => "webhook",
        }
    }
}

/// Checks `sms:` the way [`Sms::new`] will use it (called when the configuration is loaded).
pub fn check_config(config: &SmsConfig) -> Result<(), SmsError> {
    provider(config).map(|_| ())
}

fn needs(provider: &str, key: &str) -> SmsError {
    SmsError::Config(format!("provider `{provider}` needs `{key}`"))
}

fn provider(config: &SmsConfig) -> Result<Provider, SmsError> {
    match config.provider {
        SmsProvider::None => Ok(Provider::None),
        SmsProvider::Twilio => {
            let account_sid = config
                .account_sid
                .clone()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| needs("twilio", "account_sid"))?;
            if !is_twilio_sid(&account_sid, "AC") {
                return Err(SmsError::Config(
                    "`account_sid` is not a Twilio Account SID (`AC` and 32 hex digits)".into(),
                ));
            }
            let auth_token = config
                .auth_token
                .clone()
                .filter(|s| !s.expose().is_empty())
                .ok_or_else(|| needs("twilio", "auth_token"))?;
            let from = config
                .from
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| needs("twilio", "from"))?;
            let sender = twilio_sender(from)?;
            let base = checked_url("base_url", &config.base_url)?;
            if base.scheme() == "http" && !is_loopback(&base) {
                return Err(SmsError::Config(
                    "`base_url` must be https (the Auth Token goes with each request); plain http only on loopback".into(),
                ));
            }
            let endpoint = format!(
                "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
                base.as_str().trim_end_matches('/')
            );
            Ok(Provider::Twilio {
                endpoint,
                account_sid,
                auth_token,
                sender,
            })
        }
        SmsProvider::Webhook => {
            let url = config
                .url
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| needs("webhook", "url"))?;
            let url = checked_url("url", url)?;
            let secret = config
                .secret
                .clone()
                .filter(|s| !s.expose().is_empty())
                .ok_or_else(|| needs("webhook", "secret"))?;
            Ok(Provider::Webhook { url, secret })
        }
    }
}

fn checked_url(key: &str, text: &str) -> Result<url::Url, SmsError> {
    let url = url::Url::parse(text.trim())
        .map_err(|err| SmsError::Config(format!("`{key}` is not a URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(SmsError::Config(format!(
            "`{key}` must be an http(s) URL with a host"
        )));
    }
    Ok(url)
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `prefix` and 32 hex digits, as Twilio's SIDs are.
fn is_twilio_sid(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `from:` as Twilio takes it: a Messaging Service SID, an E.164 number, or an alphanumeric
/// sender ID (1 to 11 letters, digits and spaces, at least one letter).
fn twilio_sender(from: &str) -> Result<TwilioSender, SmsError> {
    if from.starts_with("MG") {
        return if is_twilio_sid(from, "MG") {
            Ok(TwilioSender::MessagingService(from.to_string()))
        } else {
            Err(SmsError::Config(
                "`from` starts like a Messaging Service SID but is not one (`MG` and 32 hex digits)"
                    .into(),
            ))
        };
    }
    if from.starts_with('+') {
        return if is_e164(from) {
            Ok(TwilioSender::From(from.to_string()))
        } else {
            Err(SmsError::Config(format!(
                "`from` is not an E.164 number: {from}"
            )))
        };
    }
    let alphanumeric = (1..=11).contains(&from.chars().count())
        && from.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
        && from.chars().any(|c| c.is_ascii_alphabetic());
    if alphanumeric {
        Ok(TwilioSender::From(from.to_string()))
    } else {
        Err(SmsError::Config(
            "`from` must be an E.164 number, an alphanumeric sender ID (up to 11 letters, digits, spaces) or a Messaging Service SID (`MG…`)".into(),
        ))
    }
}

/// Is `text` an E.164 number: `+`, then 8 to 15 digits, the first not 0?
pub fn is_e164(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

const MASK: char = '•';

/// A phone number for logs and pages: the `+`, two digits and the last two kept, the rest
/// masked (`+33612345678` → `+33•••••••78`); anything too short to keep a part is all masked.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let head = if chars.first() == Some(&'+') { 3 } else { 2 };
    if chars.len() < head + 2 + 3 {
        return MASK.to_string().repeat(chars.len().max(3));
    }
    let tail = 2;
    chars[..head]
        .iter()
        .copied()
        .chain(std::iter::repeat_n(MASK, chars.len() - head - tail))
        .chain(chars[chars.len() - tail..].iter().copied())
        .collect()
}

/// An email address for logs and pages: the first character of the local part, then
/// `•••`, then the domain (`ana.lopez@example.com` → `a•••@example.com`).
pub fn mask_email(email: &str) -> String {
    let masked = MASK.to_string().repeat(3);
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}{masked}@{domain}")
        }
        None => masked,
    }
}

/// Sends SMS through the configured provider, or writes test messages to the outbox folder.
pub struct Sms {
    provider: Provider,
    outbox_dir: PathBuf,
    http: reqwest::Client,
    clock: SharedClock,
    ids: Mutex<ulid::Generator>,
}

impl std::fmt::Debug for Sms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sms")
            .field("provider", &self.provider.name())
            .field("outbox_dir", &self.outbox_dir)
            .finish()
    }
}

/// Twilio's answer to a created message (the fields we read).
#[derive(Deserialize)]
struct TwilioMessage {
    sid: String,
    #[serde(default)]
    status: Option<String>,
}

/// Twilio's error answer: `{code, message, more_info, status}`.
#[derive(Deserialize)]
struct TwilioError {
    #[serde(default)]
    code: Option<u32>,
    #[serde(default)]
    message: Option<String>,
}

impl Sms {
    /// The sender `config` describes; test messages go to `<data_dir>/outbox/sms/`.
    pub fn new(config: &SmsConfig, data_dir: &Path, clock: SharedClock) -> Result<Self, SmsError> {
        let provider = provider(config)?;
        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        // The provider is the operator's own setting, not a user's URL: no address policy,
        // and the environment's proxy settings apply. Redirects are not followed (a POST
        // with credentials never goes elsewhere than configured).
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("signbridge-sms/1")
            .build()
            .map_err(|err| SmsError::Config(format!("HTTP client: {err}")))?;
        Ok(Self {
            provider,
            outbox_dir: data_dir.join("outbox").join("sms"),
            http,
            clock,
            ids: Mutex::new(ulid::Generator::new()),
        })
    }

    /// Can live (non-test) messages be sent? False with `provider: none`.
    pub fn can_send_live(&self) -> bool {
        !matches!(self.provider, Provider::None)
    }

    /// Where test messages are written.
    pub fn outbox_dir(&self) -> &Path {
        &self.outbox_dir
    }

    fn next_id(&self) -> String {
        let mut generator = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        generator
            .generate()
            .unwrap_or_else(|_| ulid::Ulid::new())
            .to_string()
    }

    /// Sends `message` (a test one to the outbox folder). Only the masked destination and the
    /// message id are logged.
    pub async fn send(&self, message: &SmsMessage) -> Result<SentSms, SmsError> {
        let to = mask_phone(&message.to);
        if !is_e164(&message.to) {
            return Err(SmsError::InvalidNumber(to));
        }
        let result = if message.test {
            self.write_outbox(message).await
        } else {
            match &self.provider {
                Provider::None => Err(SmsError::NotConfigured),
                Provider::Twilio {
                    endpoint,
                    account_sid,
                    auth_token,
                    sender,
                } => {
                    self.send_twilio(endpoint, account_sid, auth_token, sender, message)
                        .await
                }
                Provider::Webhook { url, secret } => self.send_webhook(url, secret, message).await,
            }
        };
        // A provider's message may quote the number: never let it reach a log or a page whole.
        let result = result.map_err(|err| match err {
            SmsError::Rejected {
                status,
                code,
                message: text,
            } => SmsError::Rejected {
                status,
                code,
                message: scrub(&text, &message.to),
            },
            SmsError::Unavailable(text) => SmsError::Unavailable(scrub(&text, &message.to)),
            other => other,
        });
        match &result {
            Ok(sent) => {
                tracing::info!(to = %to, provider = sent.provider, id = %sent.id, "sms sent")
            }
            Err(err) => {
                tracing::warn!(to = %to, provider = self.provider.name(), test = message.test, error = %err, "sms not sent")
            }
        }
        result
    }

    async fn write_outbox(&self, message: &SmsMessage) -> Result<SentSms, SmsError> {
        let id = self.next_id();
        let text = format!(
            "To: {}\nDate: {}\nBody: {}\n",
            message.to,
            self.clock
                .now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            message.body
        );
        let dir = self.outbox_dir.clone();
        let path = dir.join(format!("{id}.txt"));
        tokio::task::spawn_blocking(move || {
            crate::store::write_durably(&dir, &path, text.as_bytes())
        })
        .await
        .map_err(|err| SmsError::Outbox(std::io::Error::other(err.to_string())))??;
        Ok(SentSms {
            id,
            provider: "outbox",
        })
    }

    async fn send_twilio(
        &self,
        endpoint: &str,
        account_sid: &str,
        auth_token: &Secret,
        sender: &TwilioSender,
        message: &SmsMessage,
    ) -> Result<SentSms, SmsError> {
        let (sender_field, sender_value) = match sender {
            TwilioSender::From(from) => ("From", from.as_str()),
            TwilioSender::MessagingService(sid) => ("MessagingServiceSid", sid.as_str()),
        };
        let form = [
            ("To", message.to.as_str()),
            (sender_field, sender_value),
            ("Body", message.body.as_str()),
        ];
        let response = self
            .http
            .post(endpoint)
            .basic_auth(account_sid, Some(auth_token.expose()))
            .header("accept", "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|err| SmsError::Unavailable(format!("Twilio: {}", error_chain(&err))))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| SmsError::Unavailable(format!("Twilio: {}", error_chain(&err))))?;
        if (200..300).contains(&status) {
            let created: TwilioMessage = serde_json::from_slice(&bytes).map_err(|_| {
                SmsError::Unavailable(format!(
                    "Twilio answered HTTP {status} without a message sid"
                ))
            })?;
            tracing::debug!(id = %created.sid, status = created.status.as_deref().unwrap_or("-"), "twilio accepted the sms");
            return Ok(SentSms {
                id: created.sid,
                provider: "twilio",
            });
        }
        let error: Option<TwilioError> = serde_json::from_slice(&bytes).ok();
        let (code, text) = match error {
            Some(error) => (
                error.code,
                error
                    .message
                    .unwrap_or_else(|| format!("Twilio answered HTTP {status}")),
            ),
            None => (None, format!("Twilio answered HTTP {status}")),
        };
        if status == 429 || status >= 500 {
            let code = code.map(|c| format!(" (code {c})")).unwrap_or_default();
            return Err(SmsError::Unavailable(format!(
                "Twilio answered HTTP {status}{code}: {text}"
            )));
        }
        Err(SmsError::Rejected {
            status,
            code,
            message: text,
        })
    }

    async fn send_webhook(
        &self,
        url: &url::Url,
        secret: &Secret,
        message: &SmsMessage,
    ) -> Result<SentSms, SmsError> {
        let id = self.next_id();
        let created_at = self.clock.now();
        let body = serde_json::to_vec(&serde_json::json!({
            "id": id,
            "to": message.to,
            "body": message.body,
            "createdAt": created_at,
        }))
        .map_err(|err| SmsError::Unavailable(err.to_string()))?;
        let mut request = self
            .http
            .post(url.clone())
            .header("content-type", "application/json");
        for (name, value) in crate::webhooks::payload::sign_headers(
            secret.expose(),
            &id,
            "sms.send",
            created_at.timestamp(),
            &body,
        ) {
            request = request.header(name, value);
        }
        let host = url.host_str().unwrap_or_default();
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|err| SmsError::Unavailable(format!("{host}: {}", error_chain(&err))))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(SentSms {
                id,
                provider: "webhook",
            });
        }
        if status == 429 || status >= 500 {
            return Err(SmsError::Unavailable(format!(
                "{host} answered HTTP {status}"
            )));
        }
        // A gateway's own reason, when it gives one as JSON `message` or `error`.
        let reason = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| {
                ["message", "error"]
                    .iter()
                    .find_map(|k| v[k].as_str().map(|s| s.chars().take(300).collect()))
            })
            .unwrap_or_else(|| format!("{host} answered HTTP {status}"));
        Err(SmsError::Rejected {
            status,
            code: None,
            message: reason,
        })
    }
}

/// `text` with `phone` (with or without its `+`) masked.
fn scrub(text: &str, phone: &str) -> String {
    let masked = mask_phone(phone);
    let text = text.replace(phone, &masked);
    match phone.strip_prefix('+') {
        Some(digits) if !digits.is_empty() => text.replace(digits, &masked),
        _ => text,
    }
}

/// An error and its causes on one line (reqwest's own message omits the cause).
fn error_chain(err: &reqwest::Error) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        message = format!("{message}: {inner}");
        source = inner.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    #[test]
    fn e164_is_a_plus_and_8_to_15_digits_not_starting_with_0() {
        for good in [
            "+33612345678",
            "+14155550100",
            "+12345678",
            "+123456789012345",
        ] {
            assert!(is_e164(good), "{good}");
        }
        for bad in [
            "33612345678",
            "+1234567",
            "+1234567890123456",
            "+0612345678",
            "+33 6 12 34 56 78",
            "+33-612345678",
            "+",
            "",
            "+٣٣٦١٢٣٤٥٦٧٨",
            "++33612345678",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    #[test]
    fn phones_and_emails_are_masked() {
        assert_eq!(mask_phone("+33612345678"), "+33•••••••78");
        assert_eq!(mask_phone("+14155550100"), "+14•••••••00");
        assert_eq!(mask_phone("0612345678"), "06••••••78");
        // Too short to keep a part: nothing of it shown.
        assert_eq!(mask_phone("+1234"), "•••••");
        assert_eq!(mask_phone(""), "•••");
        assert_eq!(mask_email("ana.lopez@example.com"), "a•••@example.com");
        assert_eq!(mask_email("é@exämple.fr"), "é•••@exämple.fr");
        assert_eq!(mask_email("@example.com"), "•••@example.com");
        assert_eq!(mask_email("not an address"), "•••");
    }

    #[test]
    fn a_message_never_shows_its_body() {
        let message = SmsMessage {
            to: "+33612345678".into(),
            body: "Your code: 482913".into(),
            test: false,
        };
        let shown = format!("{message:?}");
        assert!(
            !shown.contains("482913") && !shown.contains("612345678"),
            "{shown}"
        );
    }

    #[test]
    fn no_sms_section_means_no_provider() {
        let config = Config::parse("c.yaml", "{}\n").unwrap();
        assert_eq!(config.sms.provider, SmsProvider::None);
        assert_eq!(config.sms.timeout_secs, 10);
        assert_eq!(config.sms.base_url, "https://api.twilio.com");
        let sms = Sms::new(
            &config.sms,
            Path::new("/nonexistent"),
            std::sync::Arc::new(crate::clock::SystemClock),
        )
        .unwrap();
        assert!(!sms.can_send_live());
    }

    #[test]
    fn twilio_without_account_sid_fails_the_load() {
        let err = Config::parse(
            "c.yaml",
            "sms:\n  provider: twilio\n  auth_token: t0ken\n  from: \"+33612345678\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("c.yaml:"), "{err}");
        assert!(
            err.contains("sms: provider `twilio` needs `account_sid`"),
            "{err}"
        );
    }

    #[test]
    fn each_provider_is_checked_whole_at_load() {
        let cases = [
            (
                format!("sms:\n  provider: twilio\n  account_sid: {SID}\n  from: \"+33612345678\"\n"),
                "needs `auth_token`",
            ),
            (
                format!("sms:\n  provider: twilio\n  account_sid: {SID}\n  auth_token: t\n"),
                "needs `from`",
            ),
            (
                "sms:\n  provider: twilio\n  account_sid: AC123\n  auth_token: t\n  from: \"+33612345678\"\n".to_string(),
                "not a Twilio Account SID",
            ),
            (
                format!("sms:\n  provider: twilio\n  account_sid: {SID}\n  auth_token: t\n  from: \"0612345678\"\n"),
                "`from` must be",
            ),
            (
                format!("sms:\n  provider: twilio\n  account_sid: {SID}\n  auth_token: t\n  from: MG123\n"),
                "Messaging Service SID but is not one",
            ),
            (
                format!("sms:\n  provider: twilio\n  account_sid: {SID}\n  auth_token: t\n  from: \"+33612345678\"\n  base_url: http://api.example.com\n"),
                "must be https",
            ),
            ("sms:\n  provider: webhook\n  secret: s\n".to_string(), "needs `url`"),
            (
                "sms:\n  provider: webhook\n  url: https://sms.example.com/send\n".to_string(),
                "needs `secret`",
            ),
            (
                "sms:\n  provider: webhook\n  url: ftp://sms.example.com/\n  secret: s\n".to_string(),
                "must be an http(s) URL",
            ),
            ("sms:\n  provider: carrier-pigeon\n".to_string(), "carrier-pigeon"),
            ("sms:\n  provider: none\n  sender: x\n".to_string(), "sender"),
        ];
        for (yaml, expected) in cases {
            let err = Config::parse("c.yaml", &yaml).unwrap_err().to_string();
            assert!(err.contains(expected), "{yaml}\n→ {err}");
        }
    }

    #[test]
    fn twilio_config_that_is_whole_loads_and_hides_its_token() {
        let yaml = format!(
            "sms:\n  provider: twilio\n  account_sid: {SID}\n  auth_token: hunter2-twilio\n  from: MG0123456789abcdef0123456789abcdef\n  base_url: http://127.0.0.1:9/\n  timeout_secs: 3\n"
        );
        let config = Config::parse("c.yaml", &yaml).unwrap();
        let shown = format!("{:?} {}", config, serde_json::to_string(&config).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        match provider(&config.sms).unwrap() {
            Provider::Twilio {
                endpoint, sender, ..
            } => {
                assert_eq!(
                    endpoint,
                    format!("http://127.0.0.1:9/2010-04-01/Accounts/{SID}/Messages.json")
                );
                assert_eq!(
                    sender,
                    TwilioSender::MessagingService("MG0123456789abcdef0123456789abcdef".into())
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            twilio_sender("Acme HR").unwrap(),
            TwilioSender::From("Acme HR".into())
        );
        assert_eq!(
            twilio_sender("+14155550100").unwrap(),
            TwilioSender::From("+14155550100".into())
        );
    }

    #[test]
    fn a_provider_message_quoting_the_number_is_masked() {
        assert_eq!(
            scrub(
                "The 'To' number +15005550001 is not a valid phone number.",
                "+15005550001"
            ),
            "The 'To' number +15•••••••01 is not a valid phone number."
        );
        assert_eq!(
            scrub("number 15005550001 refused", "+15005550001"),
            "number +15•••••••01 refused"
        );
    }
}
