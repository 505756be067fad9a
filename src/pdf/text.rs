//! Text of a PDF's pages, for finding anchor texts. Matching ignores case and white space, since
//! producers split a phrase across text runs and lines in ways a reader never sees. The text
//! comes from the same reading of the content streams that places stamps (`layout`), so an
//! anchor accepted at send time is one the stamps can find.

use super::layout::{page_glyphs, page_text};
use super::reader::DecodeBudget;
use super::PdfError;
use lopdf::Document;

/// The text of every page, in page order.
///
/// The reading is bounded by the reader's limits: past one, the whole reading fails with the
/// limit it hit.
pub fn page_texts(bytes: &[u8]) -> Result<Vec<String>, PdfError> {
    document_page_texts(&super::reader::load(bytes)?)
}

/// [`page_texts`] of a document already read.
pub fn document_page_texts(document: &Document) -> Result<Vec<String>, PdfError> {
    let budget = DecodeBudget::default();
    let texts = document
        .get_pages()
        .into_values()
        .map(|page| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                page_text(&page_glyphs(document, page, &budget))
            }))
            .unwrap_or_default()
        })
        .collect();
    budget.outcome()?;
    Ok(texts)
}

fn squeeze(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// How many times `needle` occurs (non-overlapping) across the pages.
pub fn count_occurrences(pages: &[String], needle: &str) -> usize {
    let needle = squeeze(needle);
    if needle.is_empty() {
        return 0;
    }
    pages
        .iter()
        .map(|page| squeeze(page).matches(needle.as_str()).count())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_ignores_case_and_white_space() {
        let pages = vec![
            "Signature of the\nEMPLOYEE: ____".to_string(),
            "signature of the employee".to_string(),
        ];
        assert_eq!(count_occurrences(&pages, "signature of the employee"), 2);
        assert_eq!(count_occurrences(&pages, "employer"), 0);
        assert_eq!(count_occurrences(&pages, "  "), 0);
    }
}
