//! The one way a PDF is read: lopdf under `catch_unwind`, within [`PdfLimits`] — decompressed
//! bytes per stream and per reading, object count, page count (nesting depth is bounded by
//! lopdf's own parser) — so a hostile file costs bounded memory and time wherever it is read:
//! at upload, at send and while sealing. A file past a limit is refused with
//! [`PdfError::LimitExceeded`] naming the limit.

use super::PdfError;
use lopdf::{Document, LoadOptions, Object, ObjectId, Stream};
use std::cell::Cell;
use std::sync::RwLock;

/// Bounds on the work reading one PDF may take (`limits.pdf` in the config); a document past
/// one is refused with 422 naming the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PdfLimits {
    /// Decompressed bytes of any one stream (content, object stream, font map). Default 16 MiB.
    pub max_stream_bytes: usize,
    /// Decompressed bytes of all streams one reading decodes together (every page's text at
    /// send, every anchor while sealing). Default 64 MiB.
    pub max_decoded_bytes: usize,
    /// Objects in one document. Default 500,000.
    pub max_objects: usize,
    /// Pages in one document. Default 2,000.
    pub max_pages: usize,
}

/// The defaults: far above what contracts need (a text page decodes to kilobytes), far
/// below what would hurt the server.
const DEFAULT_LIMITS: PdfLimits = PdfLimits {
    max_stream_bytes: 16 * 1024 * 1024,
    max_decoded_bytes: 64 * 1024 * 1024,
    max_objects: 500_000,
    max_pages: 2_000,
};

impl Default for PdfLimits {
    fn default() -> Self {
        DEFAULT_LIMITS
    }
}

static LIMITS: RwLock<PdfLimits> = RwLock::new(DEFAULT_LIMITS);

/// Sets the limits of every later reading in this process (done once, at start).
pub fn set_limits(limits: PdfLimits) {
    *LIMITS.write().unwrap_or_else(|p| p.into_inner()) = limits;
}

/// The limits in force.
pub fn limits() -> PdfLimits {
    *LIMITS.read().unwrap_or_else(|p| p.into_inner())
}

/// Form XObjects drawn per reading of a document at most (a contract's pages draw a handful).
pub const MAX_FORM_DRAWS: usize = 10_000;

fn exceeded(what: &'static str, limit: usize) -> PdfError {
    PdfError::LimitExceeded { what, limit }
}

thread_local! {
    /// Objects the load running on this thread has parsed, and the most it may.
    static OBJECTS_LOADED: Cell<(usize, usize)> = const { Cell::new((0, usize::MAX)) };
}

/// lopdf's per-object hook while loading: counts objects and stops the load (by unwinding,
/// caught in [`load`]) at the first object past the limit, so a flood of objects packed in
/// object streams costs no more than the limit, in memory or in time.
fn count_object(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    let (seen, most) = OBJECTS_LOADED.get();
    if seen >= most {
        std::panic::panic_any(ObjectLimitHit);
    }
    OBJECTS_LOADED.set((seen + 1, most));
    // lopdf keeps a top-level object as it is and ignores what the hook returns, but keeps
    // what it returns for the members of an object stream (never streams themselves): so a
    // stream is not copied, anything else is (members are small).
    match object {
        Object::Stream(_) => Some((id, Object::Null)),
        other => Some((id, other.clone())),
    }
}

/// The unwinding payload of [`count_object`].
struct ObjectLimitHit;

/// Parses `bytes` within the limits. Encrypted files, and files past the object or page
/// limit, are refused.
pub fn load(bytes: &[u8]) -> Result<Document, PdfError> {
    let limits = limits();
    let options = LoadOptions {
        max_decompressed_size: Some(limits.max_stream_bytes),
        filter: Some(count_object),
        ..LoadOptions::default()
    };
    OBJECTS_LOADED.set((0, limits.max_objects));
    let parsed = std::panic::catch_unwind(|| Document::load_mem_with_options(bytes, options));
    OBJECTS_LOADED.set((0, usize::MAX));
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(payload) if payload.is::<ObjectLimitHit>() => {
            return Err(exceeded("objects", limits.max_objects))
        }
        Err(_) => {
            return Err(PdfError::Corrupt(
                "the parser could not make sense of it".into(),
            ))
        }
    };
    let document = match parsed {
        Ok(document) => document,
        Err(lopdf::Error::Decryption(_)) | Err(lopdf::Error::InvalidPassword) => {
            return Err(PdfError::Encrypted)
        }
        Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. })) => {
            return Err(exceeded(
                "decompressed bytes per stream",
                limits.max_stream_bytes,
            ))
        }
        Err(err) => return Err(PdfError::Corrupt(err.to_string())),
    };
    if document.was_encrypted() || document.is_encrypted() {
        return Err(PdfError::Encrypted);
    }
    // lopdf rebuilds a missing page tree only for unfiltered loads: the object count is now
    // known to be within the limit, so such a file is read again without the hook.
    let page_count = |document: &Document| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| document.get_pages().len()))
            .map_err(|_| PdfError::Corrupt("its page tree is damaged".into()))
    };
    let document = if page_count(&document)? == 0 {
        let unfiltered = LoadOptions {
            max_decompressed_size: Some(limits.max_stream_bytes),
            ..LoadOptions::default()
        };
        std::panic::catch_unwind(|| Document::load_mem_with_options(bytes, unfiltered))
            .map_err(|_| PdfError::Corrupt("the parser could not make sense of it".into()))?
            .map_err(|err| PdfError::Corrupt(err.to_string()))?
    } else {
        document
    };
    let pages = page_count(&document)?;
    if pages > limits.max_pages {
        return Err(exceeded("pages", limits.max_pages));
    }
    Ok(document)
}

/// What one decode is charged at the least (see [`DecodeBudget::decode`]).
const MIN_DECODE_CHARGE: usize = 1024;

/// Decompressed bytes one reading of a document may still use; every stream it decodes is
/// charged here and bounded by the per-stream limit.
pub struct DecodeBudget {
    left: Cell<usize>,
    /// Form XObjects that may still be drawn in this reading.
    forms_left: Cell<usize>,
    /// The first limit a decode hit; readers that fall back on a failed decode go on, and
    /// the reading as a whole fails with this (see [`DecodeBudget::outcome`]).
    tripped: Cell<Option<PdfError>>,
    per_stream: usize,
    total: usize,
}

impl Default for DecodeBudget {
    fn default() -> Self {
        Self::new(limits())
    }
}

impl DecodeBudget {
    pub fn new(limits: PdfLimits) -> Self {
        Self {
            left: Cell::new(limits.max_decoded_bytes),
            forms_left: Cell::new(MAX_FORM_DRAWS),
            tripped: Cell::new(None),
            per_stream: limits.max_stream_bytes,
            total: limits.max_decoded_bytes,
        }
    }

    fn cap(&self) -> usize {
        self.per_stream.min(self.left.get())
    }

    fn over(&self) -> PdfError {
        let error = if self.left.get() < self.per_stream {
            exceeded("decompressed bytes per document", self.total)
        } else {
            exceeded("decompressed bytes per stream", self.per_stream)
        };
        let first = self.tripped.take().unwrap_or_else(|| error.clone());
        self.tripped.set(Some(first));
        error
    }

    /// `Err` with the first limit this reading hit, if any.
    pub fn outcome(&self) -> Result<(), PdfError> {
        match self.tripped.take() {
            Some(error) => {
                self.tripped.set(Some(error.clone()));
                Err(error)
            }
            None => Ok(()),
        }
    }

    /// Counts one form XObject drawn (each drawing re-reads its content); past
    /// [`MAX_FORM_DRAWS`] the reading fails with that limit. A form that draws itself, or a
    /// fan-out of forms drawing forms, is cut here whatever its decoded size.
    pub fn draw_form(&self) -> Result<(), PdfError> {
        let left = self.forms_left.get();
        if left == 0 {
            let error = exceeded("form XObjects drawn per document", MAX_FORM_DRAWS);
            let first = self.tripped.take().unwrap_or_else(|| error.clone());
            self.tripped.set(Some(first));
            return Err(error);
        }
        self.forms_left.set(left - 1);
        Ok(())
    }

    fn charge(&self, bytes: usize) -> Result<(), PdfError> {
        if bytes > self.cap() || self.left.get() == 0 {
            return Err(self.over());
        }
        let cost = bytes.max(MIN_DECODE_CHARGE).min(self.left.get());
        self.left.set(self.left.get() - cost);
        Ok(())
    }

    /// A stream's decoded bytes. A stream whose filters cannot be decoded yields its raw
    /// bytes (as readers do), charged the same.
    pub fn decode(&self, stream: &Stream) -> Result<Vec<u8>, PdfError> {
        self.outcome()?;
        let data = match stream.decompressed_content_with_limit(self.cap()) {
            Ok(data) => data,
            Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded {
                ..
            })) => return Err(self.over()),
            Err(_) => stream.content.clone(),
        };
        // Every decode costs at least this much, so a document that draws one small form
        // thousands of times over (a fan-out of form XObjects) runs out of budget as fast as
        // one that inflates a large stream.
        self.charge(data.len())?;
        Ok(data)
    }

    /// The decoded content of a page (all its content streams, in order).
    pub fn page_content(&self, document: &Document, page: ObjectId) -> Result<Vec<u8>, PdfError> {
        let mut content = Vec::new();
        for id in document.get_page_contents(page) {
            if let Ok(Object::Stream(stream)) = document.get_object(id) {
                content.extend_from_slice(&self.decode(stream)?);
                content.push(b'\n');
            }
        }
        Ok(content)
    }

    /// Charges the font's `/ToUnicode` map (decoded by lopdf when it builds the font's
    /// encoding) and returns the per-stream cap to build it with.
    pub fn font_map_cap(
        &self,
        document: &Document,
        font: &lopdf::Dictionary,
    ) -> Result<usize, PdfError> {
        if let Ok(reference) = font.get(b"ToUnicode") {
            let stream = match reference {
                Object::Reference(id) => document.get_object(*id).ok(),
                other => Some(other),
            };
            if let Some(Object::Stream(stream)) = stream {
                self.decode(stream)?;
            }
        }
        Ok(self.cap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::dictionary;

    fn flate_stream(decoded: &[u8]) -> Stream {
        let mut stream = Stream::new(dictionary! {}, decoded.to_vec());
        stream.compress().unwrap();
        stream
    }

    #[test]
    fn a_stream_past_the_per_stream_limit_is_refused_naming_it() {
        let budget = DecodeBudget::new(PdfLimits {
            max_stream_bytes: 1000,
            max_decoded_bytes: 10_000,
            ..PdfLimits::default()
        });
        assert_eq!(
            budget.decode(&flate_stream(&[b'a'; 999])).unwrap().len(),
            999
        );
        let err = budget.decode(&flate_stream(&[b'a'; 5000])).unwrap_err();
        assert_eq!(
            err,
            PdfError::LimitExceeded {
                what: "decompressed bytes per stream",
                limit: 1000
            }
        );
    }

    #[test]
    fn streams_add_up_to_the_per_document_limit() {
        let budget = DecodeBudget::new(PdfLimits {
            max_stream_bytes: 1000,
            max_decoded_bytes: 2500,
            ..PdfLimits::default()
        });
        budget.decode(&flate_stream(&[b'a'; 1000])).unwrap();
        budget.decode(&flate_stream(&[b'a'; 1000])).unwrap();
        let err = budget.decode(&flate_stream(&[b'a'; 1000])).unwrap_err();
        assert_eq!(
            err,
            PdfError::LimitExceeded {
                what: "decompressed bytes per document",
                limit: 2500
            }
        );
        assert_eq!(budget.outcome(), Err(err));
    }
}
