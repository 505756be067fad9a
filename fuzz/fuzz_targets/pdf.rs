//! The PDF reader on hostile bytes, in the order the service reads an uploaded document:
//! upload (`inspect_pdf`), send (every page's text, anchor counts), sealing (the document
//! loaded again, page boxes, anchor positions).
//!
//! Beyond "nothing panics out of these functions", it checks what the service relies on
//! between those steps: the text read at send time has one entry per page counted at upload,
//! and an anchor counted at send time is found again by the stamps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signbridge::pdf::layout::{find_anchor, PageGeometry};
use signbridge::pdf::{count_occurrences, incremental, inspect_pdf, page_texts, DecodeBudget};
use signbridge_fuzz::{check, fail, init};

fuzz_target!(init: init(), |data: &[u8]| {
    check("the PDF reader", || read_like_the_service(data));
});

fn read_like_the_service(data: &[u8]) {
    // Upload.
    let Ok(info) = inspect_pdf(data) else {
        return;
    };
    // Send: the text of every page, for the anchors.
    let Ok(pages) = page_texts(data) else {
        return;
    };
    if pages.len() != info.page_count as usize {
        fail(&format!(
            "inspect_pdf counted {} page(s) but page_texts read {}",
            info.page_count,
            pages.len()
        ));
    }
    // An anchor taken from the text itself: the first (up to) 3 visible characters of the
    // first page that has any.
    let needle: Option<String> = pages.iter().find_map(|page| {
        let head: String = page.chars().filter(|c| !c.is_whitespace()).take(3).collect();
        (!head.is_empty()).then_some(head)
    });
    let count = needle
        .as_deref()
        .map_or(0, |needle| count_occurrences(&pages, needle));
    if needle.is_some() && count == 0 {
        fail(&format!(
            "count_occurrences finds no {needle:?} in the page text it came from"
        ));
    }
    // Sealing: the document again, every page's box, the anchor's position.
    let Ok(document) = incremental::load(data) else {
        fail("page_texts read the file but incremental::load refuses it");
    };
    for (_, page) in document.get_pages() {
        let geometry = PageGeometry::of(&document, page);
        let _ = geometry.display_size();
        let _ = geometry.user_to_top_left(72.0, 700.0);
    }
    if let Some(needle) = needle {
        if find_anchor(&document, &needle, count - 1, &DecodeBudget::default()).is_none() {
            fail(&format!(
                "send time counts {count} occurrence(s) of {needle:?}, but find_anchor (sealing) \
                 does not find occurrence index {}",
                count - 1
            ));
        }
        if find_anchor(&document, &needle, count, &DecodeBudget::default()).is_some() {
            fail(&format!(
                "send time counts {count} occurrence(s) of {needle:?}, but find_anchor finds \
                 one more"
            ));
        }
    }
}
