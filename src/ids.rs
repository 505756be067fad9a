//! Object identifiers: a type prefix (`env_`, `doc_`, `rcp_`, `key_`, `tpl_`, …) plus a monotonic ULID,
//! so ids sort by creation time and "newest first" is a reverse scan.

use std::sync::Mutex;
use ulid::Generator;

/// The kinds of object that carry an id, with their wire prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Document,
    Envelope,
    Recipient,
    ApiKey,
    Account,
    Event,
    Webhook,
    Delivery,
    Template,
}

impl IdKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::Document => "doc_",
            IdKind::Envelope => "env_",
            IdKind::Recipient => "rcp_",
            IdKind::ApiKey => "key_",
            IdKind::Account => "acc_",
            IdKind::Event => "evt_",
            IdKind::Webhook => "wh_",
            IdKind::Delivery => "dlv_",
            IdKind::Template => "tpl_",
        }
    }

    /// True when `id` has this kind's prefix followed by a well-formed ULID.
    pub fn matches(self, id: &str) -> bool {
        id.strip_prefix(self.prefix())
            .is_some_and(|rest| rest.len() == 26 && ulid::Ulid::from_string(rest).is_ok())
    }
}

/// Hands out strictly increasing ULIDs, even within one millisecond.
#[derive(Default)]
pub struct IdGenerator {
    inner: Mutex<Generator>,
}

impl std::fmt::Debug for IdGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdGenerator")
    }
}

impl IdGenerator {
    pub fn next(&self, kind: IdKind) -> String {
        let mut generator = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Overflow only happens after 2^80 ids in one millisecond; fall back to a fresh random ULID.
        let ulid = generator.generate().unwrap_or_else(|_| ulid::Ulid::new());
        format!("{}{}", kind.prefix(), ulid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_sortable_and_recognised() {
        let ids = IdGenerator::default();
        let a = ids.next(IdKind::Envelope);
        let b = ids.next(IdKind::Envelope);
        assert!(a.starts_with("env_") && a.len() == 30);
        assert!(a < b, "monotonic: {a} < {b}");
        assert!(IdKind::Envelope.matches(&a));
        assert!(!IdKind::Document.matches(&a));
        assert!(!IdKind::Envelope.matches("env_123"));
        assert!(!IdKind::Envelope.matches("env_01HG3K8X9Y2N4P5Q6R7S8T9V0!"));
    }
}
