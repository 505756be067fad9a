//! Text of a PDF's pages, for finding anchor texts. Matching ignores case and white space, since
//! producers split a phrase across text runs and lines in ways a reader never sees.

use super::PdfError;
use lopdf::Document;

/// The text of every page, in page order.
pub fn page_texts(bytes: &[u8]) -> Result<Vec<String>, PdfError> {
    let document = std::panic::catch_unwind(|| Document::load_mem(bytes))
        .map_err(|_| PdfError::Corrupt("the parser could not make sense of it".into()))?
        .map_err(|err| PdfError::Corrupt(err.to_string()))?;
    let pages: Vec<u32> = document.get_pages().keys().copied().collect();
    Ok(pages
        .into_iter()
        .map(|number| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                document.extract_text(&[number])
            }))
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
        })
        .collect())
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
