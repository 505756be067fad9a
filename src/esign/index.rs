//! Builds the listing index (envelopes by status, the count and time buckets of each list)
//! once, for a store made before the index existed, and makes the counts of an index of an
//! earlier version again in the current layout (from its keys alone); from then on every write
//! keeps it (see [`crate::store::listing`]), so opening a store never scans it again.

use super::model::{Envelope, EnvelopeStatus, Environment};
use super::Esign;
use crate::ids::IdKind;
use crate::store::{listing, StoreError};

impl Esign {
    /// Throws the listing index away and builds it again from the records (an operator's
    /// repair: `signbridge reindex`). Returns how many envelopes were indexed.
    pub fn rebuild_listing_index(&self) -> Result<u64, StoreError> {
        self.store.meta.remove(listing::BUILT)?;
        for version in listing::EARLIER_VERSIONS {
            self.store.meta.remove(version)?;
        }
        self.ensure_listing_index()
    }

    /// Indexes every envelope and counts every list, unless that was done before.
    ///
    /// An earlier version's marker wins over the current one: [`Self::mark_built`] removes
    /// every earlier marker, so one being there means an older binary ran on this store after
    /// the current index was made (a rollback) and wrote its counts in its own layout; they are
    /// made again even though the current marker is still there.
    pub(super) fn ensure_listing_index(&self) -> Result<u64, StoreError> {
        for version in listing::EARLIER_VERSIONS {
            if self.store.meta.get(version)?.is_some() {
                return self.recount_from_keys();
            }
        }
        if self.store.meta.get(listing::BUILT)?.is_some() {
            return Ok(0);
        }
        let started = std::time::Instant::now();
        // Whatever was there is thrown away: the index is made again whole.
        self.store.listing.clear()?;
        let mut tally = listing::Tally::default();
        let mut batch = crate::store::Batch::default();
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
                tally.add(name, &listing::status_list(status), &envelope.id);
                envelopes += 1;
            }
            self.tally_documents(&mut tally, environment)?;
        }
        self.store.listing.apply_batch(batch)?;
        self.store.listing.apply_batch(tally.into_batch())?;
        self.mark_built()?;
        tracing::info!(
            envelopes,
            millis = started.elapsed().as_millis() as u64,
            "listing index built"
        );
        Ok(envelopes)
    }

    /// Upgrades an index of an earlier version (its status index right, its counts per list
    /// and, in the first, without time buckets): the counts and buckets are counted again from
    /// the status index's keys and the documents' keys — no record is read, so a million
    /// envelopes take seconds, not the minute a rebuild from the records takes. The old count
    /// records are removed in the same batch that writes the new ones, so a crash leaves either
    /// the old index (upgraded again at the next open) or the new one.
    fn recount_from_keys(&self) -> Result<u64, StoreError> {
        let started = std::time::Instant::now();
        let mut batch = crate::store::Batch::default();
        for key in self.store.listing.iter().keys() {
            let key = key?;
            if listing::is_count_record(&key) {
                batch.remove(key);
            }
        }
        let mut tally = listing::Tally::default();
        let mut envelopes = 0u64;
        for environment in [Environment::Test, Environment::Live] {
            let name = environment.as_str();
            let index_prefix = format!("s/{name}/");
            for key in self.store.listing.scan_prefix(&index_prefix).keys() {
                let key = key?;
                let entry = String::from_utf8_lossy(&key[index_prefix.len()..]).into_owned();
                let Some((status, id)) = entry.split_once('/').filter(|(status, _)| {
                    EnvelopeStatus::ALL.iter().any(|s| s.as_str() == *status)
                }) else {
                    tracing::warn!(key = %entry, "listing index: key of no status, not counted");
                    continue;
                };
                tally.add(name, &listing::status_list(status), id);
                envelopes += 1;
            }
            self.tally_documents(&mut tally, environment)?;
        }
        tally.write_into(&mut batch);
        self.store.listing.apply_batch(batch)?;
        self.mark_built()?;
        tracing::info!(
            envelopes,
            millis = started.elapsed().as_millis() as u64,
            "listing index upgraded: counts made again"
        );
        Ok(envelopes)
    }

    /// Counts an environment's documents into the `documents` list, from their keys alone.
    fn tally_documents(
        &self,
        tally: &mut listing::Tally,
        environment: Environment,
    ) -> Result<(), StoreError> {
        let document_prefix = environment.prefix(IdKind::Document.prefix());
        let id_start = document_prefix.len() - IdKind::Document.prefix().len();
        for key in self.store.documents.scan_prefix(&document_prefix).keys() {
            let key = key?;
            let id = String::from_utf8_lossy(&key[id_start..]);
            tally.add(environment.as_str(), "documents", &id);
        }
        Ok(())
    }

    /// Records that the current index is complete, and durably.
    fn mark_built(&self) -> Result<(), StoreError> {
        for version in listing::EARLIER_VERSIONS {
            self.store.meta.remove(version)?;
        }
        self.store.meta.insert(listing::BUILT, [1u8])?;
        self.store.flush_blocking()
    }
}
