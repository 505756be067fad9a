//! Incremental updates: new and changed objects appended after a PDF's last byte with their own
//! cross-reference section (a table, or a stream when the original uses streams), so the
//! original bytes stay an untouched prefix — what stamping and sealing both need.

use super::PdfError;
use lopdf::{Dictionary, Document, Object, ObjectId, Stream};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

/// Changes being made to one PDF.
pub struct Update {
    original: Vec<u8>,
    pub document: Document,
    next_id: u32,
    changed: BTreeMap<ObjectId, Object>,
    raw: BTreeMap<ObjectId, Vec<u8>>,
    previous_xref: usize,
    xref_is_stream: bool,
}

/// Loads a PDF within the reader's limits (see [`super::reader::load`]).
pub fn load(bytes: &[u8]) -> Result<Document, PdfError> {
    super::reader::load(bytes)
}

/// The offset the last `startxref` points to, and whether a cross-reference table (not a
/// stream) is there.
fn last_cross_reference(bytes: &[u8]) -> Option<(usize, bool)> {
    let tail_start = bytes.len().saturating_sub(4096);
    let at = memchr::memmem::rfind(&bytes[tail_start..], b"startxref")? + tail_start;
    let digits: String = bytes[at + 9..]
        .iter()
        .map(|b| *b as char)
        .skip_while(|c| c.is_ascii_whitespace())
        .take_while(char::is_ascii_digit)
        .collect();
    let offset: usize = digits.parse().ok()?;
    let section = bytes.get(offset..)?;
    if section.starts_with(b"xref") {
        return Some((offset, false));
    }
    // `N G obj` holding a cross-reference stream.
    let head = &section[..section.len().min(512)];
    let starts_with_object = head.first().is_some_and(u8::is_ascii_digit)
        && memchr::memmem::find(head, b"obj").is_some();
    let is_xref_stream = memchr::memmem::find(head, b"/XRef").is_some();
    (starts_with_object && is_xref_stream).then_some((offset, true))
}

impl Update {
    /// Starts an update of `bytes`. A file whose cross-reference chain cannot be followed is
    /// rewritten once first (its bytes then change, its content does not).
    pub fn new(bytes: &[u8]) -> Result<Self, PdfError> {
        let document = load(bytes)?;
        let (original, document, (previous_xref, xref_is_stream)) =
            match last_cross_reference(bytes) {
                Some(found) => (bytes.to_vec(), document, found),
                None => {
                    let mut document = document;
                    let mut rewritten = Vec::new();
                    document
                        .save_to(&mut rewritten)
                        .map_err(|err| PdfError::Corrupt(err.to_string()))?;
                    let found = last_cross_reference(&rewritten).ok_or_else(|| {
                        PdfError::Corrupt("its cross-reference table cannot be found".into())
                    })?;
                    let document = load(&rewritten)?;
                    (rewritten, document, found)
                }
            };
        let size = document
            .trailer
            .get(b"Size")
            .and_then(Object::as_i64)
            .unwrap_or(0)
            .max(0) as u32;
        let next_id = size.max(document.max_id + 1);
        Ok(Self {
            original,
            document,
            next_id,
            changed: BTreeMap::new(),
            raw: BTreeMap::new(),
            previous_xref,
            xref_is_stream,
        })
    }

    /// A fresh object number.
    pub fn reserve(&mut self) -> ObjectId {
        let id = (self.next_id, 0);
        self.next_id += 1;
        id
    }

    pub fn add(&mut self, object: Object) -> ObjectId {
        let id = self.reserve();
        self.changed.insert(id, object);
        id
    }

    /// Replaces (or defines) object `id`.
    pub fn set(&mut self, id: ObjectId, object: Object) {
        self.changed.insert(id, object);
    }

    /// Defines object `id` by its serialized body (no `obj`/`endobj`).
    pub fn set_raw(&mut self, id: ObjectId, body: Vec<u8>) {
        self.raw.insert(id, body);
    }

    /// The object as this update has it (changed here, or from the original).
    pub fn get(&self, id: ObjectId) -> Option<Object> {
        self.changed
            .get(&id)
            .cloned()
            .or_else(|| self.document.get_object(id).ok().cloned())
    }

    /// Follows references (a few levels) to the object itself.
    pub fn resolve(&self, object: &Object) -> Object {
        let mut current = object.clone();
        for _ in 0..8 {
            match current {
                Object::Reference(id) => current = self.get(id).unwrap_or(Object::Null),
                other => return other,
            }
        }
        Object::Null
    }

    pub fn dictionary(&self, id: ObjectId) -> Result<Dictionary, PdfError> {
        match self.get(id) {
            Some(Object::Dictionary(dictionary)) => Ok(dictionary),
            Some(Object::Stream(stream)) => Ok(stream.dict),
            _ => Err(PdfError::Corrupt(format!(
                "object {} {} is not a dictionary",
                id.0, id.1
            ))),
        }
    }

    pub fn root_id(&self) -> Result<ObjectId, PdfError> {
        self.document
            .trailer
            .get(b"Root")
            .and_then(Object::as_reference)
            .map_err(|_| PdfError::Corrupt("the trailer has no /Root".into()))
    }

    /// The page objects in order.
    pub fn page_ids(&self) -> Vec<ObjectId> {
        self.document.get_pages().into_values().collect()
    }

    /// A page attribute, inherited from the page tree when the page does not set it.
    pub fn inherited(&self, page: ObjectId, key: &[u8]) -> Option<Object> {
        let mut current = page;
        for _ in 0..32 {
            let dictionary = self.dictionary(current).ok()?;
            if let Ok(value) = dictionary.get(key) {
                return Some(self.resolve(value));
            }
            current = dictionary
                .get(b"Parent")
                .and_then(Object::as_reference)
                .ok()?;
        }
        None
    }

    /// Copies `object` and everything it references from `source` into this update under new
    /// numbers. Page-tree links (`/Parent`, `/P`) and references to other pages are dropped.
    pub fn import(&mut self, source: &Document, object: &Object) -> Object {
        let mut numbers: HashMap<ObjectId, ObjectId> = HashMap::new();
        let mut pending: Vec<ObjectId> = Vec::new();
        let copied = self.rewrite(source, object, &mut numbers, &mut pending);
        while let Some(old) = pending.pop() {
            let new = numbers[&old];
            let body = source.get_object(old).cloned().unwrap_or(Object::Null);
            let rewritten = self.rewrite(source, &body, &mut numbers, &mut pending);
            self.changed.insert(new, rewritten);
        }
        copied
    }

    fn rewrite(
        &mut self,
        source: &Document,
        object: &Object,
        numbers: &mut HashMap<ObjectId, ObjectId>,
        pending: &mut Vec<ObjectId>,
    ) -> Object {
        match object {
            Object::Reference(id) => {
                let is_page = source
                    .get_dictionary(*id)
                    .ok()
                    .and_then(|d| d.get(b"Type").ok())
                    .and_then(|t| t.as_name().ok())
                    == Some(b"Page".as_slice());
                if is_page {
                    return Object::Null;
                }
                if let Some(new) = numbers.get(id) {
                    return Object::Reference(*new);
                }
                let new = self.reserve();
                numbers.insert(*id, new);
                pending.push(*id);
                Object::Reference(new)
            }
            Object::Array(items) => Object::Array(
                items
                    .iter()
                    .map(|item| self.rewrite(source, item, numbers, pending))
                    .collect(),
            ),
            Object::Dictionary(dictionary) => {
                Object::Dictionary(self.rewrite_dictionary(source, dictionary, numbers, pending))
            }
            Object::Stream(stream) => {
                let dict = self.rewrite_dictionary(source, &stream.dict, numbers, pending);
                let mut copy = Stream::new(dict, stream.content.clone());
                copy.allows_compression = false;
                Object::Stream(copy)
            }
            other => other.clone(),
        }
    }

    fn rewrite_dictionary(
        &mut self,
        source: &Document,
        dictionary: &Dictionary,
        numbers: &mut HashMap<ObjectId, ObjectId>,
        pending: &mut Vec<ObjectId>,
    ) -> Dictionary {
        let mut copy = Dictionary::new();
        for (key, value) in dictionary.iter() {
            if key == b"Parent" || key == b"P" {
                continue;
            }
            copy.set(key.clone(), self.rewrite(source, value, numbers, pending));
        }
        copy
    }

    /// Writes the original followed by this update. Returns the bytes and where each new or
    /// changed object starts.
    pub fn write(self) -> Result<(Vec<u8>, BTreeMap<ObjectId, usize>), PdfError> {
        let Update {
            original,
            document,
            mut next_id,
            changed,
            raw,
            previous_xref,
            xref_is_stream,
        } = self;
        let mut out = original;
        if !out.ends_with(b"\n") && !out.ends_with(b"\r") {
            out.push(b'\n');
        }
        let mut offsets = BTreeMap::new();
        let mut bodies: BTreeMap<ObjectId, Vec<u8>> = raw;
        for (id, mut object) in changed {
            if let Object::Stream(stream) = &mut object {
                let length = stream.content.len() as i64;
                stream.dict.set("Length", length);
            }
            let mut body = Vec::new();
            lopdf::Writer::write_object(&mut body, &object)
                .map_err(|err| PdfError::Corrupt(err.to_string()))?;
            bodies.entry(id).or_insert(body);
        }
        for (id, body) in &bodies {
            offsets.insert(*id, out.len());
            writeln!(out, "{} {} obj", id.0, id.1).map_err(io)?;
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let mut trailer = Dictionary::new();
        for key in [b"Root".as_slice(), b"Info", b"ID"] {
            if let Ok(value) = document.trailer.get(key) {
                trailer.set(key.to_vec(), value.clone());
            }
        }
        trailer.set("Prev", previous_xref as i64);
        if xref_is_stream {
            let xref_id = (next_id, 0);
            next_id += 1;
            let xref_offset = out.len();
            let mut entries: Vec<(u32, u16, usize)> = offsets
                .iter()
                .map(|(id, offset)| (id.0, id.1, *offset))
                .collect();
            entries.push((xref_id.0, 0, xref_offset));
            entries.sort();
            let mut data = Vec::with_capacity(entries.len() * 7);
            let mut index = Vec::new();
            for group in subsections(&entries) {
                index.push(Object::Integer(group[0].0 as i64));
                index.push(Object::Integer(group.len() as i64));
                for (_, generation, offset) in group {
                    data.push(1);
                    data.extend_from_slice(&(*offset as u32).to_be_bytes());
                    data.extend_from_slice(&generation.to_be_bytes());
                }
            }
            trailer.set("Type", Object::Name(b"XRef".to_vec()));
            trailer.set("Size", next_id as i64);
            trailer.set("W", vec![1.into(), 4.into(), 2.into()]);
            trailer.set("Index", index);
            trailer.set("Length", data.len() as i64);
            let mut dictionary = Vec::new();
            lopdf::Writer::write_object(&mut dictionary, &Object::Dictionary(trailer))
                .map_err(|err| PdfError::Corrupt(err.to_string()))?;
            writeln!(out, "{} 0 obj", xref_id.0).map_err(io)?;
            out.extend_from_slice(&dictionary);
            out.extend_from_slice(b"\nstream\n");
            out.extend_from_slice(&data);
            out.extend_from_slice(b"\nendstream\nendobj\n");
            write!(out, "startxref\n{xref_offset}\n%%EOF\n").map_err(io)?;
        } else {
            let xref_offset = out.len();
            out.extend_from_slice(b"xref\n");
            let entries: Vec<(u32, u16, usize)> = offsets
                .iter()
                .map(|(id, offset)| (id.0, id.1, *offset))
                .collect();
            for group in subsections(&entries) {
                writeln!(out, "{} {}", group[0].0, group.len()).map_err(io)?;
                for (_, generation, offset) in group {
                    write!(out, "{offset:010} {generation:05} n\r\n").map_err(io)?;
                }
            }
            trailer.set("Size", next_id as i64);
            out.extend_from_slice(b"trailer\n");
            lopdf::Writer::write_object(&mut out, &Object::Dictionary(trailer))
                .map_err(|err| PdfError::Corrupt(err.to_string()))?;
            write!(out, "\nstartxref\n{xref_offset}\n%%EOF\n").map_err(io)?;
        }
        Ok((out, offsets))
    }
}

fn io(err: std::io::Error) -> PdfError {
    PdfError::Corrupt(err.to_string())
}

/// Runs of consecutive object numbers.
fn subsections(entries: &[(u32, u16, usize)]) -> Vec<&[(u32, u16, usize)]> {
    let mut groups = Vec::new();
    let mut start = 0;
    for index in 1..=entries.len() {
        if index == entries.len() || entries[index].0 != entries[index - 1].0 + 1 {
            groups.push(&entries[start..index]);
            start = index;
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::dictionary;

    #[test]
    fn an_update_keeps_the_original_as_prefix_and_reads_back() {
        let original = crate::pdf::render::tests_support::simple_pdf("Hello");
        let mut update = Update::new(&original).unwrap();
        let info = update.add(Object::Dictionary(dictionary! {
            "Title" => Object::string_literal("Updated")
        }));
        let root = update.root_id().unwrap();
        let mut catalog = update.dictionary(root).unwrap();
        catalog.set("SbTest", Object::Reference(info));
        update.set(root, Object::Dictionary(catalog));
        let (bytes, offsets) = update.write().unwrap();
        assert!(bytes.starts_with(&original));
        assert_eq!(offsets.len(), 2);
        let reread = load(&bytes).unwrap();
        let catalog = reread.catalog().unwrap();
        let title = reread
            .get_dictionary(catalog.get(b"SbTest").unwrap().as_reference().unwrap())
            .unwrap()
            .get(b"Title")
            .unwrap()
            .as_str()
            .unwrap()
            .to_vec();
        assert_eq!(title, b"Updated");
    }
}
