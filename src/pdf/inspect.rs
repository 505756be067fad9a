//! Parsing an uploaded PDF: is it whole, unencrypted and readable, and how many pages has it.

use super::PdfError;
use lopdf::{xref::XrefRecovery, Document, LoadOptions};

/// What the service records about a PDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfInfo {
    pub page_count: u32,
    pub version: String,
}

/// True when the bytes start like a PDF (a `%PDF-` header within the first KiB, as readers allow).
pub fn looks_like_pdf(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    head.windows(5).any(|w| w == b"%PDF-")
}

/// Checks that `bytes` are a complete, unencrypted PDF with at least one page.
///
/// Hostile input is expected: the parser runs under `catch_unwind`, decompression is bounded,
/// and a file whose cross-reference data had to be rebuilt by scanning (typically a truncated
/// upload) is refused rather than silently accepted with missing objects.
pub fn inspect_pdf(bytes: &[u8]) -> Result<PdfInfo, PdfError> {
    if !looks_like_pdf(bytes) {
        return Err(PdfError::Corrupt("no %PDF- header".into()));
    }
    let tail = &bytes[bytes.len().saturating_sub(2048)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(PdfError::Truncated);
    }
    let options = LoadOptions {
        max_decompressed_size: Some(64 * 1024 * 1024),
        ..LoadOptions::default()
    };
    let parsed = std::panic::catch_unwind(|| Document::load_mem_with_options(bytes, options));
    let document = match parsed {
        Ok(Ok(document)) => document,
        Ok(Err(lopdf::Error::Decryption(_))) | Ok(Err(lopdf::Error::InvalidPassword)) => {
            return Err(PdfError::Encrypted)
        }
        Ok(Err(err)) => return Err(PdfError::Corrupt(err.to_string())),
        Err(_) => {
            return Err(PdfError::Corrupt(
                "the parser could not make sense of it".into(),
            ))
        }
    };
    if document.was_encrypted() || document.is_encrypted() {
        return Err(PdfError::Encrypted);
    }
    if matches!(document.xref_recovery, Some(XrefRecovery::Reconstructed)) {
        return Err(PdfError::Corrupt(
            "its cross-reference table is damaged (the file may be truncated)".into(),
        ));
    }
    let page_count =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| document.get_pages().len()))
            .map_err(|_| PdfError::Corrupt("its page tree is damaged".into()))?;
    if page_count == 0 {
        return Err(PdfError::NoPages);
    }
    Ok(PdfInfo {
        page_count: u32::try_from(page_count).unwrap_or(u32::MAX),
        version: document.version.clone(),
    })
}
