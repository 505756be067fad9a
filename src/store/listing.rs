//! The listing index: what `GET /envelopes` and `GET /documents` need without reading every
//! record — envelopes by status (`s/{env}/{status}/{id}`), the count of each list
//! (`c/{env}/{list}`, a u64 big-endian) and, per list, counts of its ids grouped by their time
//! (`b/{env}/{list}/{level}/{id prefix}`) so that a deep `page` is found without stepping over
//! every entry before it — written in the same transaction as the record it describes, so it is
//! never behind. Stores made before it get it built once, at open.
//!
//! Ids are a kind prefix (`env_`) and a ULID, whose first ten characters are its millisecond
//! time, five bits each; ids sort by time. The buckets group ids by the first 5, 7 and 9
//! characters of their ULID (about 9.3 hours, 33 seconds and 32 milliseconds of ids). To skip
//! `n` entries, [`page`] walks the coarsest buckets newest first, subtracting their counts, goes
//! down into the bucket where the `n`th entry lies, and so on; it then steps over at most one
//! 32 ms bucket's entries. A page deep in a million envelopes costs a few thousand small reads at
//! worst instead of tens of thousands of record steps.

use sled::transaction::{ConflictableTransactionResult, TransactionalTree};

/// The key of an envelope in the status index.
pub fn status_key(environment: &str, status: &str, id: &str) -> Vec<u8> {
    format!("s/{environment}/{status}/{id}").into_bytes()
}

/// The prefix of one status's envelopes.
pub fn status_prefix(environment: &str, status: &str) -> Vec<u8> {
    format!("s/{environment}/{status}/").into_bytes()
}

/// The key of a list's count: `envelopes`, `envelopes/{STATUS}`, `documents`.
pub fn count_key(environment: &str, list: &str) -> Vec<u8> {
    format!("c/{environment}/{list}").into_bytes()
}

fn decode(bytes: Option<sled::IVec>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// The list of envelopes in one status (`envelopes/{STATUS}`).
pub fn status_list(status: &str) -> String {
    format!("envelopes/{status}")
}

/// The two lists an envelope in `status` counts in: all envelopes, and its status's.
pub fn envelope_lists(status: &str) -> [String; 2] {
    ["envelopes".to_string(), status_list(status)]
}

/// Adds `delta` to a count inside a transaction; a count that reaches zero is removed.
pub fn adjust<E>(
    tree: &TransactionalTree,
    key: &[u8],
    delta: i64,
) -> ConflictableTransactionResult<(), E> {
    let current = decode(tree.get(key)?);
    let next = current.saturating_add_signed(delta);
    if next == 0 {
        tree.remove(key)?;
    } else {
        tree.insert(key, &next.to_be_bytes())?;
    }
    Ok(())
}

/// How many characters of an id's ULID each bucket level groups by, coarsest first.
const LEVELS: [usize; 3] = [5, 7, 9];

/// The time-ordered part of an id: what follows its kind prefix (`env_…`).
fn ordered_part(id: &str) -> &[u8] {
    id.split_once('_').map_or(id, |(_, rest)| rest).as_bytes()
}

fn bucket_key(environment: &str, list: &str, level: usize, prefix: &[u8]) -> Vec<u8> {
    let mut key = format!("b/{environment}/{list}/{level}/").into_bytes();
    key.extend_from_slice(prefix);
    key
}

/// The keys of the buckets `id` counts in, one per level, coarsest first.
fn bucket_keys(environment: &str, list: &str, id: &str) -> Vec<Vec<u8>> {
    let part = ordered_part(id);
    LEVELS
        .iter()
        .enumerate()
        .map(|(level, &length)| {
            bucket_key(environment, list, level, &part[..length.min(part.len())])
        })
        .collect()
}

/// Lists counted in memory, to write a whole index at once (building it from the records or
/// upgrading an older one): entries are tallied per finest bucket, and the coarser buckets and
/// the totals summed from those when written, so a million entries cost a million map updates,
/// not eight million key allocations.
#[derive(Default)]
pub struct Tally {
    lists: Vec<TalliedList>,
}

/// One list's entries in a [`Tally`]: (environment, list) and its finest buckets' counts.
type TalliedList = ((String, String), std::collections::HashMap<Vec<u8>, u64>);

impl Tally {
    /// Counts one entry of `id` into `list`.
    pub fn add(&mut self, environment: &str, list: &str, id: &str) {
        let at = match self
            .lists
            .iter()
            .position(|((e, l), _)| e == environment && l == list)
        {
            Some(at) => at,
            None => {
                self.lists.push((
                    (environment.to_string(), list.to_string()),
                    Default::default(),
                ));
                self.lists.len() - 1
            }
        };
        let part = ordered_part(id);
        let finest = &part[..LEVELS[LEVELS.len() - 1].min(part.len())];
        let buckets = &mut self.lists[at].1;
        match buckets.get_mut(finest) {
            Some(count) => *count += 1,
            None => {
                buckets.insert(finest.to_vec(), 1);
            }
        }
    }

    /// The totals and buckets of every list counted, as writes.
    pub fn into_batch(self) -> sled::Batch {
        let mut batch = sled::Batch::default();
        for ((environment, list), finest) in self.lists {
            let mut counts: std::collections::BTreeMap<Vec<u8>, u64> = Default::default();
            let mut total = 0;
            for (prefix, count) in finest {
                total += count;
                for (level, &length) in LEVELS.iter().enumerate() {
                    let key = bucket_key(
                        &environment,
                        &list,
                        level,
                        &prefix[..length.min(prefix.len())],
                    );
                    *counts.entry(key).or_default() += count;
                }
            }
            batch.insert(count_key(&environment, &list), &total.to_be_bytes());
            for (key, count) in counts {
                batch.insert(key, &count.to_be_bytes());
            }
        }
        batch
    }
}

/// Counts `delta` entries of `id` into `list` (`envelopes`, `envelopes/{STATUS}`, `documents`):
/// the list's total and its buckets. Every insertion into and removal from a list goes through
/// here, in the transaction that writes the entry.
pub fn count_in<E>(
    tree: &TransactionalTree,
    environment: &str,
    list: &str,
    id: &str,
    delta: i64,
) -> ConflictableTransactionResult<(), E> {
    adjust(tree, &count_key(environment, list), delta)?;
    for key in bucket_keys(environment, list, id) {
        adjust(tree, &key, delta)?;
    }
    Ok(())
}

/// Where a page of a list lives: `entries` holds one key per item, `entries_prefix` then the
/// item's id (which starts with `kind`, e.g. `env_`).
pub struct ListSource<'a> {
    /// The tree holding the list's counts and buckets.
    pub listing: &'a sled::Tree,
    pub environment: &'a str,
    /// The list's name in counts and buckets.
    pub list: &'a str,
    /// The tree whose keys are the list's entries (the records, or the status index).
    pub entries: &'a sled::Tree,
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
) -> Result<Vec<(sled::IVec, sled::IVec)>, sled::Error> {
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
    listing: &sled::Tree,
    environment: &str,
    list: &str,
    skip: u64,
) -> Result<Option<(Vec<u8>, u64)>, sled::Error> {
    let mut remaining = skip;
    let mut chosen: Vec<u8> = Vec::new();
    for level in 0..LEVELS.len() {
        let start = bucket_key(environment, list, level, &chosen);
        let mut end = start.clone();
        end.push(0xff);
        let level_prefix_len = bucket_key(environment, list, level, &[]).len();
        let mut found = None;
        for entry in listing.range(start..end).rev() {
            let (key, value) = entry?;
            let count = decode(Some(value));
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

/// A count as stored.
pub fn count(tree: &sled::Tree, key: &[u8]) -> Result<u64, sled::Error> {
    Ok(decode(tree.get(key)?))
}

/// Meta key saying the index was built (stores older than it are indexed once at open).
pub const BUILT: &[u8] = b"listing_index_v2";
/// Meta key of the index's first version (status index and counts, no time buckets): such an
/// index gets its buckets added at open.
pub const FIRST_VERSION: &[u8] = b"listing_index_v1";

/// A page of a key range, newest (greatest key) first: the entries under `prefix`, before
/// `before` when given (a cursor: the key of the last item of the previous page), past the
/// first `skip`, at most `limit`. Skipped entries are not decoded, so a page costs
/// O(skip + limit) key steps and O(limit) decoding; with a cursor, O(limit).
pub fn newest_first(
    tree: &sled::Tree,
    prefix: &[u8],
    before: Option<&[u8]>,
    skip: u64,
    limit: u64,
) -> Result<Vec<(sled::IVec, sled::IVec)>, sled::Error> {
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
    use rand::{Rng, SeedableRng};

    fn write(tree: &sled::Tree, id: &str, delta: i64) {
        tree.transaction(|t| {
            let key = format!("test/{id}");
            if delta > 0 {
                t.insert(key.as_bytes(), &[] as &[u8])?;
            } else {
                t.remove(key.as_bytes())?;
            }
            count_in::<()>(t, "test", "envelopes", id, delta)
        })
        .map_err(|e: sled::transaction::TransactionError<()>| format!("{e:?}"))
        .unwrap();
    }

    /// Pages found through the buckets are exactly the pages found by stepping over every
    /// entry, for every depth, whatever the spacing of the ids in time and after removals.
    #[test]
    fn bucket_pages_equal_stepped_pages() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut ids = Vec::new();
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
            write(&tree, &id, 1);
            ids.push(id);
        }
        for id in ids.iter().filter(|_| rng.gen_bool(0.3)) {
            write(&tree, id, -1);
        }
        let total = count(&tree, &count_key("test", "envelopes")).unwrap();
        assert_eq!(total as usize, tree.scan_prefix(b"test/").count());
        let source = ListSource {
            listing: &tree,
            environment: "test",
            list: "envelopes",
            entries: &tree,
            entries_prefix: b"test/".to_vec(),
            kind: "env_",
        };
        let keys = |entries: Vec<(sled::IVec, sled::IVec)>| -> Vec<sled::IVec> {
            entries.into_iter().map(|(k, _)| k).collect()
        };
        let mut checked = 0;
        for skip in (0..total + 5)
            .step_by(7)
            .chain([total - 1, total, total + 1])
        {
            for limit in [1, 20] {
                let stepped = newest_first(&tree, b"test/env_", None, skip, limit).unwrap();
                assert_eq!(
                    keys(page(&source, None, skip, limit).unwrap()),
                    keys(stepped),
                    "skip {skip}, limit {limit}"
                );
                checked += 1;
            }
        }
        assert!(checked > 500);
        // Every bucket count is the number of entries under it; none is left at zero.
        for entry in tree.scan_prefix(b"b/") {
            let (key, value) = entry.unwrap();
            assert_ne!(decode(Some(value)), 0, "{}", String::from_utf8_lossy(&key));
        }

        // Counted in bulk (building or upgrading the index), the same counts and buckets.
        let mut tally = Tally::default();
        for entry in tree.scan_prefix(b"test/").keys() {
            let key = entry.unwrap();
            tally.add("test", "envelopes", std::str::from_utf8(&key[5..]).unwrap());
        }
        let bulk = db.open_tree("bulk").unwrap();
        bulk.apply_batch(tally.into_batch()).unwrap();
        let counts = |t: &sled::Tree| -> Vec<(sled::IVec, sled::IVec)> {
            t.iter()
                .map(Result::unwrap)
                .filter(|(k, _)| k.starts_with(b"b/") || k.starts_with(b"c/"))
                .collect()
        };
        assert_eq!(counts(&bulk), counts(&tree));
    }
}
