//! Records that need attention, told to an operator: each record and version once, by email
//! (through `smtp:`, or the `.eml` outbox) and/or a signed `sync.record.failed` webhook, and
//! all that came up together as one digest rather than a flood.

use crate::config::NotifyConfig;
use crate::esign::model::Environment;
use crate::signing::mail::{MailError, Mailer};
use crate::store::{get_json, put_json, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One record needing attention, as the operator is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    pub source: String,
    pub mapping: Option<String>,
    /// The record's id in the source (none when the source gave none).
    pub record: Option<String>,
    pub job: Option<String>,
    pub version: String,
    /// A short class for metrics and filters: `source_record`, `require`, `mapping`,
    /// `api_refused`, `retries_exhausted`, `write_back`, `attention`, …
    pub kind: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// Told on every configured channel.
    #[serde(default)]
    pub sent: bool,
    /// Told by mail / by the webhook (each channel once, even when the other fails).
    #[serde(default)]
    pub mailed: bool,
    #[serde(default)]
    pub posted: bool,
}

/// A way an operator is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Mail,
    Webhook,
}

impl Notice {
    /// What identifies it: one notice per job (or source and record) and record version.
    fn key(&self) -> Vec<u8> {
        let who = match (&self.job, &self.record) {
            (Some(job), _) => job.clone(),
            (None, Some(record)) => format!("{}/{record}", self.source),
            (None, None) => format!("{}/?", self.source),
        };
        format!("{who}\u{0}{}", self.version).into_bytes()
    }

    fn line(&self) -> String {
        let record = self.record.as_deref().unwrap_or("(no id)");
        let mapping = self
            .mapping
            .as_deref()
            .map(|m| format!(", mapping {m}"))
            .unwrap_or_default();
        let job = self
            .job
            .as_deref()
            .map(|j| format!(" [{j}]"))
            .unwrap_or_default();
        format!(
            "- {}/{record}{mapping}{job}: {}",
            self.source,
            self.reason.trim()
        )
    }
}

/// Why a notice could not be delivered (it stays queued and is tried again).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("notification webhook: {0}")]
    Webhook(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The queue of notices in the store.
#[derive(Clone)]
pub struct NoticeStore {
    tree: crate::store::Tree,
    /// For flushes: through the store's flush group, never the tree's own (a flush must not
    /// run beside a transaction; see `store`).
    store: Store,
}

impl NoticeStore {
    pub fn new(store: Store) -> Self {
        Self {
            tree: store.sync_notices.clone(),
            store,
        }
    }

    /// Queues a notice unless this record and version was noticed already; true when new.
    /// Not flushed: the caller's batch flush (or the next job save) makes it durable.
    pub fn raise(&self, notice: &Notice) -> Result<bool, StoreError> {
        let key = notice.key();
        if get_json::<Notice>(&self.tree, &key)?.is_some() {
            return Ok(false);
        }
        let value = serde_json::to_vec(notice)?;
        self.tree
            .compare_and_swap(&key, None, Some(value.as_slice()))
    }

    /// Notices not yet delivered, oldest first.
    pub fn unsent(&self) -> Result<Vec<Notice>, StoreError> {
        let mut pending = Vec::new();
        for item in self.tree.iter() {
            let (_, value) = item?;
            let notice: Notice = serde_json::from_slice(&value)?;
            if !notice.sent {
                pending.push(notice);
            }
        }
        pending.sort_by_key(|n| n.at);
        Ok(pending)
    }

    /// Notices of records that have no job (the source gave them without an id), newest
    /// first, at most 100.
    pub fn without_job(&self) -> Result<Vec<Notice>, StoreError> {
        let mut found = Vec::new();
        for item in self.tree.iter() {
            let (_, value) = item?;
            let notice: Notice = serde_json::from_slice(&value)?;
            if notice.job.is_none() {
                found.push(notice);
            }
        }
        found.sort_by_key(|n| std::cmp::Reverse(n.at));
        found.truncate(100);
        Ok(found)
    }

    /// Records that `notices` were told on `channel`; a notice told on every channel of
    /// `channels` is sent.
    pub fn mark(
        &self,
        notices: &[Notice],
        channel: Channel,
        channels: &[Channel],
    ) -> Result<(), StoreError> {
        for notice in notices {
            let mut told =
                get_json::<Notice>(&self.tree, &notice.key())?.unwrap_or_else(|| notice.clone());
            match channel {
                Channel::Mail => told.mailed = true,
                Channel::Webhook => told.posted = true,
            }
            told.sent = channels.iter().all(|c| match c {
                Channel::Mail => told.mailed,
                Channel::Webhook => told.posted,
            });
            put_json(&self.tree, &notice.key(), &told)?;
        }
        self.store.flush_blocking()
    }

    /// Forgets delivered notices older than `before` (a record breaking again at the same
    /// version after that is told again).
    pub fn prune(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.tree.iter() {
            let (key, value) = item?;
            let notice: Notice = serde_json::from_slice(&value)?;
            if notice.sent && notice.at < before {
                self.tree.remove(key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// The message of a batch: one record, or a digest of several.
pub fn compose(notices: &[Notice]) -> (String, String) {
    let subject = match notices {
        [one] => format!(
            "signbridge: record {}/{} needs attention",
            one.source,
            one.record.as_deref().unwrap_or("(no id)")
        ),
        many => format!("signbridge: {} records need attention", many.len()),
    };
    let mut body = String::from(
        "These records got no contract because something in them or in their source needs a person:\n\n",
    );
    for notice in notices {
        body.push_str(&notice.line());
        body.push('\n');
    }
    body.push_str(
        "\nFix the record in its source system and it is taken up again by itself on the next run.\n\
         Or: `signbridge retry JOB` (or SOURCE/RECORD) to try again as it is, `signbridge skip JOB --reason TEXT` to end it.\n\
         `signbridge status` lists every record needing attention.\n",
    );
    (subject, body)
}

/// Delivers notices to the configured operator addresses and webhook.
pub struct Notifier {
    config: NotifyConfig,
    mailer: Option<Mailer>,
    http: reqwest::Client,
}

impl Notifier {
    pub fn new(config: NotifyConfig, mailer: Option<Mailer>) -> Self {
        Self {
            config,
            mailer,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    /// The channels configured.
    pub fn channels(&self) -> Vec<Channel> {
        let mut channels = Vec::new();
        if self.mailer.is_some() && !self.config.email.is_empty() {
            channels.push(Channel::Mail);
        }
        if self.config.webhook.is_some() {
            channels.push(Channel::Webhook);
        }
        channels
    }

    /// Tells `notices` on `channel`: one mail, or one webhook event, for all of them.
    pub async fn deliver(
        &self,
        channel: Channel,
        notices: &[Notice],
        now: DateTime<Utc>,
    ) -> Result<(), NotifyError> {
        if notices.is_empty() {
            return Ok(());
        }
        let event_id = format!("evt_sync_{}", hex::encode(rand::random::<[u8; 12]>()));
        if channel == Channel::Mail {
            let Some(mailer) = &self.mailer else {
                return Ok(());
            };
            let (subject, body) = compose(notices);
            let message = mailer.operator_message(&self.config.email, &subject, &body)?;
            mailer
                .deliver(Environment::Live, &format!("sync-{event_id}"), message)
                .await?;
            return Ok(());
        }
        if let Some(webhook) = &self.config.webhook {
            let records: Vec<Value> = notices
                .iter()
                .map(|n| json!({"source": n.source, "mapping": n.mapping, "recordId": n.record, "jobId": n.job, "version": n.version, "kind": n.kind, "reason": n.reason, "at": n.at}))
                .collect();
            let body = serde_json::to_vec(&json!({
                "id": event_id,
                "event": "sync.record.failed",
                "createdAt": now,
                "data": {"records": records},
            }))
            .map_err(|err| NotifyError::Webhook(err.to_string()))?;
            let mut request = self
                .http
                .post(&webhook.url)
                .header("content-type", "application/json");
            for (name, value) in crate::webhooks::payload::sign_headers(
                webhook.secret.expose(),
                &event_id,
                "sync.record.failed",
                now.timestamp(),
                &body,
            ) {
                request = request.header(name, value);
            }
            let answer = request
                .body(body)
                .send()
                .await
                .map_err(|err| NotifyError::Webhook(err.to_string()))?;
            if !answer.status().is_success() {
                return Err(NotifyError::Webhook(format!(
                    "{} answered HTTP {}",
                    webhook.url,
                    answer.status().as_u16()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(record: &str, version: &str) -> Notice {
        Notice {
            source: "hris".into(),
            mapping: Some("onboarding".into()),
            record: Some(record.into()),
            job: Some(format!("job_{record}")),
            version: version.into(),
            kind: "source_record".into(),
            reason: "GET /v1/employees/7: HTTP 404".into(),
            at: Utc::now(),
            sent: false,
            mailed: false,
            posted: false,
        }
    }

    #[test]
    fn each_record_version_is_told_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = NoticeStore::new(Store::open(dir.path()).unwrap());
        assert!(store.raise(&notice("E7", "v1")).unwrap());
        assert!(!store.raise(&notice("E7", "v1")).unwrap(), "same version");
        assert!(store.raise(&notice("E8", "v1")).unwrap());
        let unsent = store.unsent().unwrap();
        assert_eq!(unsent.len(), 2);
        // Mailed but the webhook failed: still unsent, and mailed.
        let both = [Channel::Mail, Channel::Webhook];
        store.mark(&unsent, Channel::Mail, &both).unwrap();
        let half = store.unsent().unwrap();
        assert_eq!(half.len(), 2);
        assert!(half.iter().all(|n| n.mailed && !n.posted));
        store.mark(&half, Channel::Webhook, &both).unwrap();
        assert!(store.unsent().unwrap().is_empty());
        assert!(!store.raise(&notice("E7", "v1")).unwrap(), "told already");
        assert!(store.raise(&notice("E7", "v2")).unwrap(), "a newer version");
    }

    #[test]
    fn several_make_one_digest() {
        let (subject, body) = compose(&[notice("E7", "v1")]);
        assert_eq!(subject, "signbridge: record hris/E7 needs attention");
        assert!(
            body.contains("hris/E7, mapping onboarding [job_E7]: GET /v1/employees/7: HTTP 404")
        );
        let (subject, body) = compose(&[notice("E7", "v1"), notice("E8", "v1")]);
        assert_eq!(subject, "signbridge: 2 records need attention");
        assert!(body.contains("hris/E8"));
    }
}
