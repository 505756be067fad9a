//! What an uploaded PDF must pass to be accepted: it is read within the reader's limits, it
//! carries no active content, every page's text can be read (what `send` does for anchors),
//! and a trial run of the very operations sealing will do — stamp every page, seal, read the
//! result back — succeeds. A file that fails the trial is rewritten once (a full, normalising
//! save) and tried again; only a file that fails both is refused. So a document that was
//! accepted is one that can be sealed once it is signed.

use super::identity::SealIdentity;
use super::inspect::read_pdf;
use super::layout::Rect;
use super::seal::{seal_pdf, PadesLevel, SealRequest, TrustServices};
use super::stamp::{stamp_pdf, StampContent, StampItem};
use super::{inspect_pdf, reader, PdfError, PdfInfo};
use lopdf::{Dictionary, Document, Object};
use std::sync::OnceLock;

/// An accepted document: its bytes (the upload, or its normalised rewrite) and facts.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub pdf: Vec<u8>,
    pub info: PdfInfo,
}

/// Checks an upload as described in the module documentation.
pub fn admit_pdf(bytes: &[u8]) -> Result<Admitted, PdfError> {
    let (info, document) = read_pdf(bytes)?;
    if let Some(found) = active_content(&document) {
        return Err(PdfError::ActiveContent(found));
    }
    super::text::document_page_texts(&document)?;
    let first_trial = match trial_seal(bytes, info.page_count) {
        Ok(()) => {
            return Ok(Admitted {
                pdf: bytes.to_vec(),
                info,
            })
        }
        Err(err @ PdfError::LimitExceeded { .. }) => return Err(err),
        Err(err) => err,
    };
    let rewritten = normalise(document)?;
    let rewritten_info = inspect_pdf(&rewritten)?;
    if rewritten_info.page_count != info.page_count {
        return Err(unsealable(&first_trial));
    }
    trial_seal(&rewritten, info.page_count).map_err(|_| unsealable(&first_trial))?;
    tracing::info!(error = %first_trial, "an upload failed the sealing trial; its normalised rewrite passed and is kept");
    Ok(Admitted {
        pdf: rewritten,
        info: rewritten_info,
    })
}

fn unsealable(first: &PdfError) -> PdfError {
    PdfError::Corrupt(format!(
        "it could not be stamped and sealed, even after rewriting it ({first}); export it again (e.g. print to PDF)"
    ))
}

/// A full save of the parsed document: every object written anew with a fresh
/// cross-reference table.
fn normalise(mut document: Document) -> Result<Vec<u8>, PdfError> {
    let mut rewritten = Vec::new();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        document.save_to(&mut rewritten)
    }))
    .map_err(|_| PdfError::Corrupt("it could not be rewritten".into()))?
    .map_err(|err| PdfError::Corrupt(err.to_string()))?;
    Ok(rewritten)
}

/// Parses `bytes` and saves them whole again (see [`admit_pdf`]).
pub fn normalise_bytes(bytes: &[u8]) -> Result<Vec<u8>, PdfError> {
    normalise(reader::load(bytes)?)
}

/// The seal identity of trials: generated once per process, never published.
fn trial_identity() -> Result<&'static SealIdentity, PdfError> {
    static IDENTITY: OnceLock<Result<SealIdentity, String>> = OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            SealIdentity::generate("signbridge upload check", chrono::Utc::now())
                .map(|(identity, _)| identity)
                .map_err(|err| err.to_string())
        })
        .as_ref()
        .map_err(|err| PdfError::Seal(err.clone()))
}

/// Stamps a mark on every page, seals the result and reads it back: the operations of
/// sealing, on the same bytes.
fn trial_seal(bytes: &[u8], pages: u32) -> Result<(), PdfError> {
    let items: Vec<StampItem> = (1..=pages)
        .map(|page| StampItem {
            page,
            rect: Rect {
                x: 0.0,
                y: 0.0,
                width: 8.0,
                height: 8.0,
            },
            content: StampContent::Checkbox(false),
        })
        .collect();
    let stamped = stamp_pdf(bytes, &items, &[])?;
    let request = SealRequest {
        identity: trial_identity()?,
        field_name: "signbridge-upload-check".into(),
        reason: "upload check".into(),
        location: None,
        contact: None,
        at: chrono::Utc::now(),
    };
    let sealed = seal_pdf(&stamped, &request, PadesLevel::BB, TrustServices::default())?;
    let info = inspect_pdf(&sealed)?;
    if info.page_count != pages {
        return Err(PdfError::Corrupt(format!(
            "after stamping it reads as {} pages instead of {pages}",
            info.page_count
        )));
    }
    Ok(())
}

/// The first active content found: JavaScript, launch/submit/import actions, embedded files,
/// rich media or XFA forms, anywhere in the document.
pub fn active_content(document: &Document) -> Option<String> {
    document
        .objects
        .values()
        .find_map(|object| active_in_object(object, 0))
}

fn active_in_object(object: &Object, depth: usize) -> Option<String> {
    if depth > 32 {
        return None;
    }
    match object {
        Object::Dictionary(dictionary) => active_in_dictionary(dictionary, depth),
        Object::Stream(stream) => active_in_dictionary(&stream.dict, depth),
        Object::Array(items) => items
            .iter()
            .find_map(|item| active_in_object(item, depth + 1)),
        _ => None,
    }
}

fn active_in_dictionary(dictionary: &Dictionary, depth: usize) -> Option<String> {
    let name = |key: &[u8]| dictionary.get(key).and_then(Object::as_name).ok();
    if dictionary.has(b"JS") || name(b"S") == Some(b"JavaScript") {
        return Some("JavaScript".into());
    }
    match name(b"S") {
        Some(b"Launch") => return Some("an action that launches a program".into()),
        Some(b"SubmitForm") | Some(b"ImportData") => {
            return Some("an action that sends or imports form data".into())
        }
        Some(b"GoToE") => return Some("an action that opens an embedded file".into()),
        Some(b"RichMediaExecute") | Some(b"Rendition") | Some(b"Movie") | Some(b"Sound") => {
            return Some("a multimedia action".into())
        }
        _ => {}
    }
    if name(b"Type") == Some(b"EmbeddedFile")
        || dictionary.has(b"EmbeddedFiles")
        || dictionary.has(b"EF")
    {
        return Some("an embedded file".into());
    }
    match name(b"Subtype") {
        Some(b"FileAttachment") => return Some("a file attachment".into()),
        Some(b"RichMedia") | Some(b"Movie") | Some(b"Sound") | Some(b"Screen") => {
            return Some("embedded multimedia".into())
        }
        _ => {}
    }
    if dictionary.has(b"XFA") {
        return Some("an XFA form".into());
    }
    dictionary
        .iter()
        .find_map(|(_, value)| active_in_object(value, depth + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::dictionary;

    #[test]
    fn javascript_launch_and_attachments_are_found_plain_links_are_not() {
        let found = |object: Object| {
            let mut document = Document::with_version("1.7");
            document.add_object(object);
            active_content(&document)
        };
        assert_eq!(
            found(Object::Dictionary(dictionary! {
                "OpenAction" => dictionary! { "S" => "JavaScript", "JS" => Object::string_literal("app.alert(1)") }
            })),
            Some("JavaScript".into())
        );
        assert!(found(Object::Dictionary(
            dictionary! { "AA" => dictionary! { "O" => dictionary! { "S" => "Launch" } } }
        ))
        .is_some_and(|what| what.contains("launches")));
        assert_eq!(
            found(Object::Dictionary(
                dictionary! { "Names" => dictionary! { "EmbeddedFiles" => dictionary! {} } }
            )),
            Some("an embedded file".into())
        );
        assert_eq!(
            found(Object::Dictionary(
                dictionary! { "OpenAction" => dictionary! { "S" => "URI", "URI" => Object::string_literal("https://example.com") } }
            )),
            None
        );
    }
}
