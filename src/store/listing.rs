//! The listing index: what `GET /envelopes` and `GET /documents` need without reading every
//! record — envelopes by status (`s/{env}/{status}/{id}`) and the count of each list
//! (`c/{env}/{list}`, a u64 big-endian) — written in the same transaction as the record it
//! describes, so it is never behind. Stores made before it get it built once, at open.

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

/// Adds `delta` to a count inside a transaction.
pub fn adjust<E>(
    tree: &TransactionalTree,
    key: &[u8],
    delta: i64,
) -> ConflictableTransactionResult<(), E> {
    let current = decode(tree.get(key)?);
    let next = current.saturating_add_signed(delta);
    tree.insert(key, &next.to_be_bytes())?;
    Ok(())
}

/// A count as stored.
pub fn count(tree: &sled::Tree, key: &[u8]) -> Result<u64, sled::Error> {
    Ok(decode(tree.get(key)?))
}

/// Meta key saying the index was built (stores older than it are indexed once at open).
pub const BUILT: &[u8] = b"listing_index_v1";

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
