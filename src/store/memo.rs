//! Memos of work derived from stored records (a decoded key, a rendered envelope), reused while
//! the record's stored bytes are unchanged.
//!
//! A memo never answers from memory alone: the caller reads the record from its tree first and
//! hands the bytes it read; an entry is used only when those bytes equal the ones it was made
//! from. So a changed, revoked or deleted record can never be answered from a stale entry, and
//! there is nothing to invalidate. What a memo saves is the decoding and rendering, which is
//! most of a read's work (an envelope's JSON parse and view serialisation).

use std::collections::HashMap;
use std::sync::Mutex;

/// A bounded map from a record's key to (the bytes it was stored as, what was made from them).
pub struct Memo<T> {
    entries: Mutex<HashMap<Vec<u8>, (sled::IVec, T)>>,
    capacity: usize,
}

impl<T: Clone> Memo<T> {
    /// A memo holding at most `capacity` records (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// What `make` derives from `stored`, the bytes just read under `key`: the memo's copy when
    /// it was made from the same bytes, else `make`'s answer (remembered when it succeeds).
    pub fn get_or_make<E>(
        &self,
        key: &[u8],
        stored: &sled::IVec,
        make: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<T, E> {
        if let Some((bytes, value)) = self.lock().get(key) {
            if bytes == stored {
                return Ok(value.clone());
            }
        }
        let value = make(stored)?;
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            // Evict one entry: the map's iteration order is as good as random here.
            if let Some(victim) = entries.keys().next().cloned() {
                entries.remove(&victim);
            }
        }
        // A copy of the bytes: what sled hands out may be a slice of a whole node's buffer,
        // which the memo would otherwise keep alive.
        entries.insert(key.to_vec(), (sled::IVec::from(&stored[..]), value.clone()));
        Ok(value)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, (sled::IVec, T)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn answers_from_memory_only_for_the_same_stored_bytes() {
        let memo: Memo<String> = Memo::new(8);
        let made = Cell::new(0);
        let make = |bytes: &[u8]| -> Result<String, ()> {
            made.set(made.get() + 1);
            Ok(String::from_utf8_lossy(bytes).into_owned())
        };
        let first = sled::IVec::from(&b"v1"[..]);
        assert_eq!(memo.get_or_make(b"k", &first, make).unwrap(), "v1");
        assert_eq!(memo.get_or_make(b"k", &first, make).unwrap(), "v1");
        assert_eq!(made.get(), 1, "the same bytes are answered from the memo");
        let changed = sled::IVec::from(&b"v2"[..]);
        assert_eq!(memo.get_or_make(b"k", &changed, make).unwrap(), "v2");
        assert_eq!(made.get(), 2, "changed bytes are made again");
        assert_eq!(memo.get_or_make(b"k", &first, make).unwrap(), "v1");
        assert_eq!(
            made.get(),
            3,
            "bytes that came back are not trusted to an old entry"
        );
    }

    #[test]
    fn failures_are_not_remembered_and_the_size_is_bounded() {
        let memo: Memo<u32> = Memo::new(3);
        let stored = sled::IVec::from(&b"x"[..]);
        assert!(memo
            .get_or_make(b"bad", &stored, |_| Err::<u32, &str>("no"))
            .is_err());
        assert_eq!(memo.len(), 0);
        for key in 0u32..10 {
            let value = memo
                .get_or_make(&key.to_be_bytes(), &stored, |_| Ok::<u32, ()>(key))
                .unwrap();
            assert_eq!(value, key);
            assert!(memo.len() <= 3);
        }
        assert_eq!(memo.len(), 3);
    }
}
