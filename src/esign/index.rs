//! Builds the listing index (envelopes by status, the count and time buckets of each list)
//! once, for a store made before the index (or its current version) existed; from then on every write keeps it (see
//! [`crate::store::listing`]), so opening a store never scans it again.

use super::model::{Envelope, Environment};
use super::Esign;
use crate::ids::IdKind;
use crate::store::{listing, StoreError};
use std::collections::BTreeMap;

impl Esign {
    /// Throws the listing index away and builds it again from the records (an operator's
    /// repair: `signbridge reindex`). Returns how many envelopes were indexed.
    pub fn rebuild_listing_index(&self) -> Result<u64, StoreError> {
        self.store.meta.remove(listing::BUILT)?;
        self.ensure_listing_index()
    }

    /// Indexes every envelope and counts every list, unless that was done before.
    pub(super) fn ensure_listing_index(&self) -> Result<u64, StoreError> {
        if self.store.meta.get(listing::BUILT)?.is_some() {
            return Ok(0);
        }
        let started = std::time::Instant::now();
        // Whatever an older version left is thrown away: the index is made again whole.
        self.store.listing.clear()?;
        for older in listing::OLDER {
            self.store.meta.remove(older)?;
        }
        let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut batch = sled::Batch::default();
        let mut envelopes = 0u64;
        for environment in [Environment::Test, Environment::Live] {
            let name = environment.as_str();
            let prefix = environment.prefix(IdKind::Envelope.prefix());
            for entry in self.store.envelopes.scan_prefix(&prefix) {
                let (_, value) = entry?;
                let envelope: Envelope = crate::store::decode(&value)?;
                let status = envelope.status.as_str();
                batch.insert(
                    listing::status_key(name, status, &envelope.id),
                    &[] as &[u8],
                );
                for list in ["envelopes".to_string(), format!("envelopes/{status}")] {
                    count_in(&mut counts, name, &list, &envelope.id);
                }
                envelopes += 1;
            }
            let document_prefix = environment.prefix(IdKind::Document.prefix());
            let id_start = document_prefix.len() - IdKind::Document.prefix().len();
            for entry in self.store.documents.scan_prefix(&document_prefix) {
                let (key, _) = entry?;
                let id = String::from_utf8_lossy(&key[id_start..]);
                count_in(&mut counts, name, "documents", &id);
            }
        }
        for (key, count) in counts {
            batch.insert(key, &count.to_be_bytes());
        }
        self.store.listing.apply_batch(batch)?;
        self.store.meta.insert(listing::BUILT, &[1u8])?;
        self.store.flush_blocking()?;
        tracing::info!(
            envelopes,
            millis = started.elapsed().as_millis() as u64,
            "listing index built"
        );
        Ok(envelopes)
    }
}

/// Counts one entry of `id` into `list` as [`listing::count_in`] does in a transaction.
fn count_in(counts: &mut BTreeMap<Vec<u8>, u64>, environment: &str, list: &str, id: &str) {
    *counts
        .entry(listing::count_key(environment, list))
        .or_default() += 1;
    for key in listing::bucket_keys(environment, list, id) {
        *counts.entry(key).or_default() += 1;
    }
}
