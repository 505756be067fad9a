//! Parsing an uploaded PDF: is it whole, unencrypted and readable, and how many pages has it.

use super::PdfError;
use lopdf::xref::XrefRecovery;

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
/// Hostile input is expected: the file is read within the reader's limits, and a file whose cross-reference data had to be rebuilt by scanning (typically a truncated
/// upload) is refused rather than silently accepted with missing objects.
pub fn inspect_pdf(bytes: &[u8]) -> Result<PdfInfo, PdfError> {
    read_pdf(bytes).map(|(info, _)| info)
}

/// [`inspect_pdf`], also returning the document as read.
pub fn read_pdf(bytes: &[u8]) -> Result<(PdfInfo, lopdf::Document), PdfError> {
    if !looks_like_pdf(bytes) {
        return Err(PdfError::Corrupt("no %PDF- header".into()));
    }
    let tail = &bytes[bytes.len().saturating_sub(2048)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(PdfError::Truncated);
    }
    let document = super::reader::load(bytes)?;
    if matches!(document.xref_recovery, Some(XrefRecovery::Reconstructed)) {
        return Err(PdfError::Corrupt(
            "its cross-reference table is damaged (the file may be truncated)".into(),
        ));
    }
    let page_count = document.get_pages().len();
    if page_count == 0 {
        return Err(PdfError::NoPages);
    }
    let info = PdfInfo {
        page_count: u32::try_from(page_count).unwrap_or(u32::MAX),
        version: document.version.clone(),
    };
    Ok((info, document))
}
