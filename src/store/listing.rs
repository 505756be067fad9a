//! The listing index: what `GET /envelopes` and `GET /documents` need without reading every
//! record — envelopes by status (`s/{env}/{status}/{id}`), the count of each list and, per
//! list, counts of its ids grouped by their time so that a deep `page` is found without
//! stepping over every entry before it — written in the same transaction as the record it
//! describes, so it is never behind. Stores made before it get it built once, at open.
//!
//! Counts are kept per *family* of lists: `envelopes` holds, in each count record, one count per
//! status (the list `envelopes/{STATUS}` reads its status's count, the list `envelopes` their
//! sum); `documents` holds one. So an envelope's creation writes each count record of its family
//! once, and a change of status rewrites the same records instead of two lists' worth. The
//! records are the family's total (`c/{env}/{family}`) and its time buckets
//! (`b/{env}/{family}/{level}/{id prefix}`); a record's value is its slots, each a name's length
//! (one byte), the name and a u64 big-endian; a slot at zero is dropped, a record with none is
//! removed.
//!
//! Ids are a kind prefix (`env_`) and a ULID, whose first ten characters are its millisecond
//! time, five bits each; ids sort by time. The buckets group ids by the first 5, 7 and 9
//! characters of their ULID (about 9.3 hours, 33 seconds and 32 milliseconds of ids). To skip
//! `n` entries, [`page`] walks the coarsest buckets newest first, subtracting their counts, goes
//! down into the bucket where the `n`th entry lies, and so on; it then steps over at most one
//! 32 ms bucket's entries. A page deep in a million envelopes costs a few thousand small reads at
//! worst instead of tens of thousands of record steps.

use super::{Batch, Bytes, StoreError, Tree, TxResult, TxTree};
use std::collections::BTreeMap;

/// The key of an envelope in the status index.
pub fn status_key(environment: &str, status: &str, id: &str) -> Vec<u8> {
    format!("s/{environment}/{status}/{id}").into_bytes()
}

/// The prefix of one status's envelopes.
pub fn status_prefix(environment: &str, status: &str) -> Vec<u8> {
    format!("s/{environment}/{status}/").into_bytes()
}

/// The list of envelopes in one status (`envelopes/{STATUS}`).
pub fn status_list(status: &str) -> String {
    format!("envelopes/{status}")
}

/// A list's family (whose records hold its counts) and its slot in them: `envelopes/SENT` →
/// (`envelopes`, `SENT`); `envelopes` and `documents` → themselves and the empty slot, which
/// reads as the sum of the family's slots.
fn family_and_slot(list: &str) -> (&str, &str) {
    list.split_once('/').unwrap_or((list, ""))
}

fn total_key(environment: &str, family: &str) -> Vec<u8> {
    format!("c/{environment}/{family}").into_bytes()
}

/// The slots of a count record, as stored (malformed trailing bytes are ignored).
fn slots(bytes: &[u8]) -> Vec<(&[u8], u64)> {
    let mut slots = Vec::new();
    let mut rest = bytes;
    while let Some((&length, after)) = rest.split_first() {
        let length = usize::from(length);
        let Some(name) = after.get(..length) else {
            break;
        };
        let Some(count) = after
            .get(length..length + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
        else {
            break;
        };
        slots.push((name, u64::from_be_bytes(count)));
        rest = &after[length + 8..];
    }
    slots
}

fn encode_slots<'a>(slots: impl IntoIterator<Item = (&'a [u8], u64)>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (name, count) in slots.into_iter().filter(|(_, count)| *count > 0) {
        // Slot names are status names; one that does not fit its length byte can only come
        // from a corrupt key, and is dropped rather than written unreadable.
        let Ok(length) = u8::try_from(name.len()) else {
            continue;
        };
        bytes.push(length);
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(&count.to_be_bytes());
    }
    bytes
}

/// What a count record says for `slot`: its own count, or for the empty slot the sum of all.
fn slot_count(bytes: &[u8], slot: &str) -> u64 {
    slots(bytes)
        .into_iter()
        .filter(|(name, _)| slot.is_empty() || *name == slot.as_bytes())
        .map(|(_, count)| count)
        .sum()
}

/// Adds `delta` to `slot` of a count record inside a transaction.
fn adjust(tree: &TxTree<'_>, key: &[u8], slot: &str, delta: i64) -> TxResult<()> {
    let current = tree.get(key)?.unwrap_or_default();
    let mut counts = slots(&current);
    match counts.iter_mut().find(|(name, _)| *name == slot.as_bytes()) {
        Some((_, count)) => *count = count.saturating_add_signed(delta),
        None => counts.push((slot.as_bytes(), 0u64.saturating_add_signed(delta))),
    }
    let next = encode_slots(counts);
    if next.is_empty() {
        tree.remove(key)?;
    } else {
        tree.insert(key, next)?;
    }
    Ok(())
}

/// How many characters of an id's ULID each bucket level groups by, coarsest first.
const LEVELS: [usize; 3] = [5, 7, 9];

/// The time-ordered part of an id: what follows its kind prefix (`env_…`).
fn ordered_part(id: &str) -> &[u8] {
    id.split_once('_').map_or(id, |(_, rest)| rest).as_bytes()
}

fn bucket_key(environment: &str, family: &str, level: usize, prefix: &[u8]) -> Vec<u8> {
    let mut key = format!("b/{environment}/{family}/{level}/").into_bytes();
    key.extend_from_slice(prefix);
    key
}

/// The keys of the buckets `id` counts in, one per level, coarsest first.
fn bucket_keys(environment: &str, family: &str, id: &str) -> Vec<Vec<u8>> {
    let part = ordered_part(id);
    LEVELS
        .iter()
        .enumerate()
        .map(|(level, &length)| {
            bucket_key(environment, family, level, &part[..length.min(part.len())])
        })
        .collect()
}

/// Lists counted in memory, to write a whole index at once (building it from the records or
/// upgrading an older one): entries are tallied per finest bucket and slot, and the coarser
/// buckets and the totals summed from those when written, so a million entries cost a million
/// map updates, not eight million key allocations.
#[derive(Default)]
pub struct Tally {
    families: Vec<TalliedFamily>,
}

/// One family's entries in a [`Tally`]: (environment, family) and, per finest bucket, its
/// slots' counts.
type TalliedFamily = (
    (String, String),
    std::collections::HashMap<Vec<u8>, BTreeMap<String, u64>>,
);

impl Tally {
    /// Counts one entry of `id` into `list`.
    pub fn add(&mut self, environment: &str, list: &str, id: &str) {
        let (family, slot) = family_and_slot(list);
        let at = match self
            .families
            .iter()
            .position(|((e, f), _)| e == environment && f == family)
        {
            Some(at) => at,
            None => {
                self.families.push((
                    (environment.to_string(), family.to_string()),
                    Default::default(),
                ));
                self.families.len() - 1
            }
        };
        let part = ordered_part(id);
        let finest = &part[..LEVELS[LEVELS.len() - 1].min(part.len())];
        let slots = self.families[at].1.entry(finest.to_vec()).or_default();
        match slots.get_mut(slot) {
            Some(count) => *count += 1,
            None => {
                slots.insert(slot.to_string(), 1);
            }
        }
    }

    /// The totals and buckets of every family counted, as writes.
    pub fn into_batch(self) -> Batch {
        let mut batch = Batch::default();
        self.write_into(&mut batch);
        batch
    }

    /// Adds the totals and buckets of every family counted to `batch`, over whatever it says
    /// for the same keys.
    pub fn write_into(self, batch: &mut Batch) {
        for ((environment, family), finest) in self.families {
            let mut records: BTreeMap<Vec<u8>, BTreeMap<String, u64>> = BTreeMap::new();
            let mut total: BTreeMap<String, u64> = BTreeMap::new();
            for (prefix, slots) in finest {
                for (slot, count) in slots {
                    *total.entry(slot.clone()).or_default() += count;
                    for (level, &length) in LEVELS.iter().enumerate() {
                        let key = bucket_key(
                            &environment,
                            &family,
                            level,
                            &prefix[..length.min(prefix.len())],
                        );
                        *records
                            .entry(key)
                            .or_default()
                            .entry(slot.clone())
                            .or_default() += count;
                    }
                }
            }
            records.insert(total_key(&environment, &family), total);
            for (key, slots) in records {
                let value = encode_slots(slots.iter().map(|(name, &n)| (name.as_bytes(), n)));
                batch.insert(key, value);
            }
        }
    }
}

/// Counts `delta` entries of `id` into `list` (`envelopes/{STATUS}` or `documents`; the list
/// `envelopes` is their sum and is never counted into): the family's total and buckets. Every
/// insertion into and removal from a list goes through here, in the transaction that writes
/// the entry.
pub fn count_in(
    tree: &TxTree<'_>,
    environment: &str,
    list: &str,
    id: &str,
    delta: i64,
) -> TxResult<()> {
    let (family, slot) = family_and_slot(list);
    adjust(tree, &total_key(environment, family), slot, delta)?;
    for key in bucket_keys(environment, family, id) {
        adjust(tree, &key, slot, delta)?;
    }
    Ok(())
}

/// Where a page of a list lives: `entries` holds one key per item, `entries_prefix` then the
/// item's id (which starts with `kind`, e.g. `env_`).
pub struct ListSource<'a> {
    /// The tree holding the list's counts and buckets.
    pub listing: &'a Tree,
    pub environment: &'a str,
    /// The list's name in counts and buckets.
    pub list: &'a str,
    /// The tree whose keys are the list's entries (the records, or the status index).
    pub entries: &'a Tree,
    /// What comes before the id in an entry's key.
    pub entries_prefix: Vec<u8>,
    /// The kind prefix every id of the list starts with.
    pub kind: &'a str,
}

/// A page of a list, newest first: entries after the one whose id is `after` (a cursor: the
/// last item of the previous page), past the first `skip`, at most `limit`. Without a cursor a
/// deep `skip` is found through the buckets; with one, the skip is stepped over (cursors are
/// how deep pages are read, so their skip is small).
pub fn page(
    source: &ListSource<'_>,
    after: Option<&str>,
    skip: u64,
    limit: u64,
) -> Result<Vec<(Bytes, Bytes)>, StoreError> {
    let mut prefix = source.entries_prefix.clone();
    prefix.extend_from_slice(source.kind.as_bytes());
    if let Some(id) = after {
        let mut cursor = source.entries_prefix.clone();
        cursor.extend_from_slice(id.as_bytes());
        return newest_first(source.entries, &prefix, Some(&cursor), skip, limit);
    }
    if skip == 0 {
        return newest_first(source.entries, &prefix, None, 0, limit);
    }
    match seek(source.listing, source.environment, source.list, skip)? {
        None => Ok(Vec::new()),
        Some((bucket, within)) => {
            let mut end = prefix.clone();
            end.extend_from_slice(&bucket);
            end.push(0xff);
            newest_first(source.entries, &prefix, Some(&end), within, limit)
        }
    }
}

/// The finest bucket holding the list's `skip`th entry (newest first) and how many of that
/// bucket's entries come before it; `None` when the list has no more than `skip` entries.
fn seek(
    listing: &Tree,
    environment: &str,
    list: &str,
    skip: u64,
) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
    let (family, slot) = family_and_slot(list);
    let mut remaining = skip;
    let mut chosen: Vec<u8> = Vec::new();
    for level in 0..LEVELS.len() {
        let start = bucket_key(environment, family, level, &chosen);
        let mut end = start.clone();
        end.push(0xff);
        let level_prefix_len = bucket_key(environment, family, level, &[]).len();
        let mut found = None;
        for entry in listing.range(start..end).rev() {
            let (key, value) = entry?;
            let count = slot_count(&value, slot);
            if remaining < count {
                found = Some(key[level_prefix_len..].to_vec());
                break;
            }
            remaining -= count;
        }
        match found {
            Some(bucket) => chosen = bucket,
            None => return Ok(None),
        }
    }
    Ok(Some((chosen, remaining)))
}

/// How many entries `list` holds.
pub fn count(listing: &Tree, environment: &str, list: &str) -> Result<u64, StoreError> {
    let (family, slot) = family_and_slot(list);
    Ok(listing
        .get(total_key(environment, family))?
        .map_or(0, |value| slot_count(&value, slot)))
}

/// Meta key saying the index was built (stores older than it are indexed once at open).
pub const BUILT: &[u8] = b"listing_index_v3";
/// Meta keys of the index's earlier versions (the status index, with counts per list and,
/// from the second, per-list time buckets): such an index gets its counts made again at open,
/// from its status keys.
pub const EARLIER_VERSIONS: [&[u8]; 2] = [b"listing_index_v1", b"listing_index_v2"];

/// Whether `key` is one of the index's count records (a total or a time bucket, of any
/// version).
pub fn is_count_record(key: &[u8]) -> bool {
    key.starts_with(b"c/") || key.starts_with(b"b/")
}

/// A page of a key range, newest (greatest key) first: the entries under `prefix`, before
/// `before` when given (a cursor: the key of the last item of the previous page), past the
/// first `skip`, at most `limit`. Skipped entries are not decoded, so a page costs
/// O(skip + limit) key steps and O(limit) decoding; with a cursor, O(limit).
pub fn newest_first(
    tree: &Tree,
    prefix: &[u8],
    before: Option<&[u8]>,
    skip: u64,
    limit: u64,
) -> Result<Vec<(Bytes, Bytes)>, StoreError> {
    let end = match before {
        Some(cursor) => cursor.to_vec(),
        None => {
            let mut end = prefix.to_vec();
            end.push(0xff);
            end
        }
    };
    tree.range(prefix.to_vec()..end)
        .rev()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TreeGroup;
    use rand::{Rng, SeedableRng};

    const STATUSES: [&str; 3] = ["DRAFT", "SENT", "COMPLETED"];

    #[test]
    fn a_slot_name_too_long_for_its_length_byte_is_dropped_not_a_panic() {
        let long = vec![b'X'; 256];
        let bytes = encode_slots([(long.as_slice(), 3), (b"SENT".as_slice(), 2)]);
        assert_eq!(slots(&bytes), vec![(b"SENT".as_slice(), 2)]);
        let longest = vec![b'X'; 255];
        let bytes = encode_slots([(longest.as_slice(), 1)]);
        assert_eq!(slots(&bytes), vec![(longest.as_slice(), 1)]);
    }

    /// Adds (`delta` 1) or removes (-1) `id` in `status`: its entry under `all/` (the whole
    /// family's list) and `st/{status}/` (the status's list), and its counts.
    fn write(tree: &Tree, id: &str, status: &str, delta: i64) {
        tree.transaction(&|t: &TxTree<'_>| {
            for key in [format!("all/{id}"), format!("st/{status}/{id}")] {
                if delta > 0 {
                    t.insert(key.as_bytes(), &[] as &[u8])?;
                } else {
                    t.remove(key.as_bytes())?;
                }
            }
            count_in(t, "test", &status_list(status), id, delta)
        })
        .unwrap();
    }

    /// Moves `id` from one status to another in one transaction, as a status change does.
    fn change_status(tree: &Tree, id: &str, from: &str, to: &str) {
        tree.transaction(&|t: &TxTree<'_>| {
            t.remove(format!("st/{from}/{id}").as_bytes())?;
            t.insert(format!("st/{to}/{id}").as_bytes(), &[] as &[u8])?;
            count_in(t, "test", &status_list(from), id, -1)?;
            count_in(t, "test", &status_list(to), id, 1)
        })
        .unwrap();
    }

    /// Pages found through the buckets are exactly the pages found by stepping over every
    /// entry, for the whole family and each status, for every depth, whatever the spacing of
    /// the ids in time, after removals and changes of status.
    #[test]
    fn bucket_pages_equal_stepped_pages() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = Tree::on_sled("t", db.open_tree("t").unwrap());
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut ids: Vec<(String, &str)> = Vec::new();
        let mut millis: u64 = 1_780_000_000_000;
        for n in 0..3_000u32 {
            // Bursts within one millisecond, gaps of seconds, of hours, and of days.
            millis += match n % 4 {
                0 => 0,
                1 => rng.gen_range(0..40),
                2 => rng.gen_range(1_000..60_000),
                _ => rng.gen_range(0..3) * 86_400_000,
            };
            let id = format!("env_{}", ulid::Ulid::from_parts(millis, rng.gen()));
            write(&tree, &id, "DRAFT", 1);
            ids.push((id, "DRAFT"));
        }
        for (id, status) in ids.iter_mut() {
            if rng.gen_bool(0.5) {
                let to = STATUSES[rng.gen_range(1..STATUSES.len())];
                change_status(&tree, id, status, to);
                *status = to;
            }
        }
        let mut kept = Vec::new();
        for (id, status) in ids {
            if rng.gen_bool(0.3) {
                write(&tree, &id, status, -1);
            } else {
                kept.push((id, status));
            }
        }
        let keys = |entries: Vec<(Bytes, Bytes)>| -> Vec<Vec<u8>> {
            entries.into_iter().map(|(k, _)| k.to_vec()).collect()
        };
        let mut checked = 0;
        let lists = std::iter::once(("envelopes".to_string(), "all/".to_string())).chain(
            STATUSES
                .iter()
                .map(|status| (status_list(status), format!("st/{status}/"))),
        );
        for (list, entries_prefix) in lists {
            let total = count(&tree, "test", &list).unwrap();
            assert_eq!(
                total as usize,
                tree.scan_prefix(entries_prefix.as_bytes()).count(),
                "{list}"
            );
            let source = ListSource {
                listing: &tree,
                environment: "test",
                list: &list,
                entries: &tree,
                entries_prefix: entries_prefix.clone().into_bytes(),
                kind: "env_",
            };
            let prefix = format!("{entries_prefix}env_");
            for skip in (0..total + 5)
                .step_by(7)
                .chain([total.saturating_sub(1), total, total + 1])
            {
                for limit in [1, 20] {
                    let stepped =
                        newest_first(&tree, prefix.as_bytes(), None, skip, limit).unwrap();
                    assert_eq!(
                        keys(page(&source, None, skip, limit).unwrap()),
                        keys(stepped),
                        "{list}: skip {skip}, limit {limit}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 1_000, "{checked}");
        // Every slot of every count record is above zero; no record is left empty.
        for entry in tree.iter() {
            let (key, value) = entry.unwrap();
            if key.starts_with(b"b/") || key.starts_with(b"c/") {
                let counted = slots(&value);
                assert!(!counted.is_empty(), "{}", String::from_utf8_lossy(&key));
                assert!(counted.iter().all(|(_, n)| *n > 0));
            }
        }

        // Counted in bulk (building or upgrading the index), the same records.
        let mut tally = Tally::default();
        for (id, status) in &kept {
            tally.add("test", &status_list(status), id);
        }
        let bulk = Tree::on_sled("bulk", db.open_tree("bulk").unwrap());
        bulk.apply_batch(tally.into_batch()).unwrap();
        type Record = (Vec<u8>, Vec<(Vec<u8>, u64)>);
        let counts = |t: &Tree| -> Vec<Record> {
            t.iter()
                .map(Result::unwrap)
                .filter(|(k, _)| k.starts_with(b"b/") || k.starts_with(b"c/"))
                .map(|(k, v)| {
                    let mut slots: Vec<(Vec<u8>, u64)> = slots(&v)
                        .into_iter()
                        .map(|(n, c)| (n.to_vec(), c))
                        .collect();
                    slots.sort();
                    (k.to_vec(), slots)
                })
                .collect()
        };
        assert_eq!(counts(&bulk), counts(&tree));
    }

    /// A creation writes each count record of its family once: the total and three buckets.
    #[test]
    fn an_entry_counts_into_four_records() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = Tree::on_sled("t", db.open_tree("t").unwrap());
        write(&tree, "env_01JD5Q9M3V0F8W2K7T4R6Y1ZXC", "DRAFT", 1);
        let records = tree
            .iter()
            .keys()
            .map(Result::unwrap)
            .filter(|k| k.starts_with(b"b/") || k.starts_with(b"c/"))
            .count();
        assert_eq!(records, 4);
        assert_eq!(count(&tree, "test", "envelopes").unwrap(), 1);
        assert_eq!(count(&tree, "test", "envelopes/DRAFT").unwrap(), 1);
        assert_eq!(count(&tree, "test", "envelopes/SENT").unwrap(), 0);
    }
}
