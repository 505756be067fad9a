//! Builds the listing index (envelopes by status, the count of each list) once, for a store
//! made before the index existed; from then on every write keeps it (see
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
        self.store.listing.clear()?;
        self.store.meta.remove(listing::BUILT)?;
        self.ensure_listing_index()
    }

    /// Indexes every envelope and counts every list, unless that was done before.
    pub(super) fn ensure_listing_index(&self) -> Result<u64, StoreError> {
        if self.store.meta.get(listing::BUILT)?.is_some() {
            return Ok(0);
        }
        let started = std::time::Instant::now();
        let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut batch = sled::Batch::default();
        let mut envelopes = 0u64;
        for environment in [Environment::Test, Environment::Live] {
            let name = environment.as_str();
            let prefix = environment.prefix(IdKind::Envelope.prefix());
            for entry in self.store.envelopes.scan_prefix(&prefix) {
                let (_, value) = entry?;
                let envelope: Envelope = serde_json::from_slice(&value)?;
                let status = envelope.status.as_str();
                batch.insert(
                    listing::status_key(name, status, &envelope.id),
                    &[] as &[u8],
                );
                *counts
                    .entry(listing::count_key(name, "envelopes"))
                    .or_default() += 1;
                *counts
                    .entry(listing::count_key(name, &format!("envelopes/{status}")))
                    .or_default() += 1;
                envelopes += 1;
            }
            let documents = self
                .store
                .documents
                .scan_prefix(environment.prefix(IdKind::Document.prefix()))
                .count() as u64;
            counts.insert(listing::count_key(name, "documents"), documents);
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
