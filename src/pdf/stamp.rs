//! Stamping: what the signers put on the pages — drawn or typed signatures with a line saying
//! who signed when, initials, dates, texts, ticks — typeset by Typst (so any script prints
//! right) as a transparent overlay, then laid over each page as a Form XObject in an
//! incremental update. Extra pages (a signature sheet, the certificate page) are appended the
//! same way.

use super::incremental::{self, Update};
use super::layout::{PageGeometry, Rect};
use super::render::{typeset_generated, typst_string};
use super::PdfError;
use lopdf::{dictionary, Dictionary, Object, Stream};
use std::collections::BTreeMap;
use std::io::Write;

/// The family of the handwriting-style font typed signatures are set in.
pub const HANDWRITING_FONT: &str = "Dancing Script";

/// What goes into one box.
#[derive(Debug, Clone, PartialEq)]
pub enum StampContent {
    /// A signature: the drawn PNG, or the typed name set in a handwriting font; with a caption
    /// ("signed by NAME · date UTC · envelope id").
    Signature {
        png: Option<Vec<u8>>,
        typed_name: String,
        caption: String,
    },
    /// Initials in the handwriting font.
    Initials(String),
    /// Plain text (a date signed, a value the signer typed).
    Text(String),
    Checkbox(bool),
}

/// One box on one page.
#[derive(Debug, Clone, PartialEq)]
pub struct StampItem {
    /// Page number, from 1.
    pub page: u32,
    /// From the top-left of the page as displayed, in points.
    pub rect: Rect,
    pub content: StampContent,
}

/// Typst definitions [`content_markup`] relies on; include once at the top of a source.
/// `sbfit(width, body)` sets `body` on one line, shrunk to `width` when longer.
pub const STAMP_PRELUDE: &str = "#let sbfit(w, body) = context { let m = measure(body).width; \
if m > w { box(scale(x: w / m * 100%, y: w / m * 100%, origin: left + horizon, reflow: true, body)) } \
else { box(body) } }\n";

/// The handwriting font, then a cursive-looking fallback for scripts it lacks (Greek,
/// Cyrillic: Libertinus Serif Italic).
fn handwriting(size: f64, ink: &str, text: &str) -> String {
    format!(
        "#text(font: ({}, \"Libertinus Serif\"), style: \"italic\", size: {}, fill: {ink})[#{}]",
        typst_string(HANDWRITING_FONT),
        pt(size),
        typst_string(text)
    )
}

fn pt(value: f64) -> String {
    format!("{:.2}pt", value)
}

/// Typst markup for one box's content.
pub fn content_markup(
    content: &StampContent,
    width: f64,
    height: f64,
    files: &mut Vec<(String, Vec<u8>)>,
) -> String {
    let ink = "rgb(\"#1b2f80\")";
    match content {
        StampContent::Signature {
            png,
            typed_name,
            caption,
        } => {
            let caption_size = (height * 0.16).clamp(4.0, 6.5);
            let art_height = (height - caption_size * 1.6).max(height * 0.5);
            let art = match png {
                Some(png) => {
                    let path = format!("/stamp-{}.png", files.len());
                    files.push((path.clone(), png.clone()));
                    format!(
                        "#image({}, width: 100%, height: {}, fit: \"contain\")",
                        typst_string(&path),
                        pt(art_height)
                    )
                }
                None => format!(
                    "#box(width: 100%, height: {})[#align(left + horizon)[#sbfit({}, [{}])]]",
                    pt(art_height),
                    pt(width),
                    handwriting((art_height * 0.62).max(6.0), ink, typed_name)
                ),
            };
            format!(
                "{art}\n#place(bottom + left)[#box(width: {})[#sbfit({}, [#text(font: \"DejaVu Sans\", size: {}, fill: {ink})[#{}]])]]",
                pt(width * 1.4),
                pt(width * 1.4),
                pt(caption_size),
                typst_string(caption)
            )
        }
        StampContent::Initials(initials) => format!(
            "#align(center + horizon)[#sbfit({}, [{}])]",
            pt(width),
            handwriting((height * 0.7).clamp(6.0, 28.0), ink, initials)
        ),
        StampContent::Text(text) => format!(
            "#align(left + horizon)[#sbfit({}, [#text(font: \"DejaVu Sans\", size: {}, fill: {ink})[#{}]])]",
            pt(width),
            pt((height * 0.7).clamp(5.0, 10.0)),
            typst_string(text)
        ),
        StampContent::Checkbox(checked) => format!(
            "#box(width: 100%, height: 100%, stroke: 0.7pt + {ink})[#align(center + horizon)[#text(font: \"DejaVu Sans\", size: {}, fill: {ink})[{}]]]",
            pt((height * 0.85).max(4.0)),
            if *checked { "✓" } else { "" }
        ),
    }
}

fn compress(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

fn content_stream(data: &[u8]) -> Object {
    let mut stream = Stream::new(dictionary! { "Filter" => "FlateDecode" }, compress(data));
    stream.allows_compression = false;
    Object::Stream(stream)
}

/// Stamps `items` onto `pdf` and appends the pages of each PDF in `append`, as one
/// incremental update.
pub fn stamp_pdf(pdf: &[u8], items: &[StampItem], append: &[&[u8]]) -> Result<Vec<u8>, PdfError> {
    let mut update = Update::new(pdf)?;
    let pages = update.page_ids();
    let mut by_page: BTreeMap<u32, Vec<&StampItem>> = BTreeMap::new();
    for item in items {
        if item.page == 0 || item.page as usize > pages.len() {
            return Err(PdfError::Corrupt(format!(
                "a field is on page {} of a {}-page document",
                item.page,
                pages.len()
            )));
        }
        by_page.entry(item.page).or_default().push(item);
    }
    if !by_page.is_empty() {
        let mut files = Vec::new();
        let mut source = format!(
            "#set page(margin: 0pt, fill: none)\n#set text(font: \"DejaVu Sans\")\n{STAMP_PRELUDE}"
        );
        let mut geometries = Vec::new();
        for (page_number, page_items) in &by_page {
            let geometry = PageGeometry::of(&update.document, pages[*page_number as usize - 1]);
            let (width, height) = geometry.display_size();
            source.push_str(&format!(
                "#page(width: {}, height: {})[\n",
                pt(width),
                pt(height)
            ));
            for item in page_items {
                let rect = item.rect;
                source.push_str(&format!(
                    "#place(top + left, dx: {}, dy: {})[#box(width: {}, height: {})[{}]]\n",
                    pt(rect.x),
                    pt(rect.y),
                    pt(rect.width),
                    pt(rect.height),
                    content_markup(&item.content, rect.width, rect.height, &mut files)
                ));
            }
            source.push_str("]\n");
            geometries.push((*page_number, geometry));
        }
        let today = chrono::Utc::now().date_naive();
        let overlay = typeset_generated("stamp overlay", source, files, today)
            .map_err(|err| PdfError::Corrupt(format!("the stamps could not be typeset: {err}")))?;
        let overlay_document = incremental::load(&overlay.pdf)?;
        let overlay_pages: Vec<_> = overlay_document.get_pages().into_values().collect();
        for ((page_number, geometry), overlay_page) in geometries.iter().zip(overlay_pages) {
            let page_id = pages[*page_number as usize - 1];
            let content = overlay_document.get_page_content(overlay_page);
            let resources = match overlay_document
                .get_dictionary(overlay_page)
                .ok()
                .and_then(|p| p.get(b"Resources").ok())
                .cloned()
            {
                Some(resources) => update.import(&overlay_document, &resources),
                None => Object::Dictionary(Dictionary::new()),
            };
            let (width, height) = geometry.display_size();
            let matrix: Vec<Object> = geometry
                .display_to_user()
                .iter()
                .map(|v| Object::Real(*v as f32))
                .collect();
            let mut form = Stream::new(
                dictionary! {
                    "Type" => "XObject",
                    "Subtype" => "Form",
                    "BBox" => vec![0.into(), 0.into(), Object::Real(width as f32), Object::Real(height as f32)],
                    "Matrix" => matrix,
                    "Resources" => resources,
                    "Filter" => "FlateDecode",
                },
                compress(&content),
            );
            form.allows_compression = false;
            let form_id = update.add(Object::Stream(form));
            lay_over(&mut update, page_id, form_id)?;
        }
    }
    for extra in append {
        append_pages(&mut update, extra)?;
    }
    Ok(update.write()?.0)
}

/// Draws form `form_id` over page `page_id`, with the page's own content fenced in `q … Q`
/// so whatever state it leaves does not move the stamp.
fn lay_over(
    update: &mut Update,
    page_id: lopdf::ObjectId,
    form_id: lopdf::ObjectId,
) -> Result<(), PdfError> {
    let mut page = update.dictionary(page_id)?;
    let mut resources = match update.inherited(page_id, b"Resources") {
        Some(Object::Dictionary(resources)) => resources,
        _ => Dictionary::new(),
    };
    let mut xobjects = match resources.get(b"XObject").map(|x| update.resolve(x)) {
        Ok(Object::Dictionary(xobjects)) => xobjects,
        _ => Dictionary::new(),
    };
    let mut name = format!("SbStamp{}", form_id.0);
    while xobjects.has(name.as_bytes()) {
        name.push('x');
    }
    xobjects.set(name.clone(), Object::Reference(form_id));
    resources.set("XObject", Object::Dictionary(xobjects));
    let before = update.add(content_stream(b"q\n"));
    let after = update.add(content_stream(format!("\nQ\nq /{name} Do Q\n").as_bytes()));
    let mut contents = vec![Object::Reference(before)];
    match page.get(b"Contents").cloned() {
        Ok(Object::Reference(id)) => match update.get(id) {
            Some(Object::Array(items)) => contents.extend(items),
            _ => contents.push(Object::Reference(id)),
        },
        Ok(Object::Array(items)) => contents.extend(items),
        _ => {}
    }
    contents.push(Object::Reference(after));
    page.set("Contents", contents);
    page.set("Resources", Object::Dictionary(resources));
    update.set(page_id, Object::Dictionary(page));
    Ok(())
}

/// Appends every page of `extra` at the end of the document.
fn append_pages(update: &mut Update, extra: &[u8]) -> Result<(), PdfError> {
    let source = incremental::load(extra)?;
    let root = update.root_id()?;
    let catalog = update.dictionary(root)?;
    let pages_id = catalog
        .get(b"Pages")
        .and_then(Object::as_reference)
        .map_err(|_| PdfError::Corrupt("the catalog has no page tree".into()))?;
    let mut tree = update.dictionary(pages_id)?;
    let mut kids = match tree.get(b"Kids").map(|k| update.resolve(k)) {
        Ok(Object::Array(kids)) => kids,
        _ => Vec::new(),
    };
    let mut count = tree.get(b"Count").and_then(Object::as_i64).unwrap_or(0);
    for page_id in source.get_pages().into_values() {
        let mut page = source
            .get_dictionary(page_id)
            .map_err(|err| PdfError::Corrupt(err.to_string()))?
            .clone();
        for key in [b"Resources".as_slice(), b"MediaBox", b"CropBox", b"Rotate"] {
            if !page.has(key) {
                let mut current = page.get(b"Parent").and_then(Object::as_reference).ok();
                while let Some(parent) = current {
                    let Ok(parent_dictionary) = source.get_dictionary(parent) else {
                        break;
                    };
                    if let Ok(value) = parent_dictionary.get(key) {
                        page.set(key.to_vec(), value.clone());
                        break;
                    }
                    current = parent_dictionary
                        .get(b"Parent")
                        .and_then(Object::as_reference)
                        .ok();
                }
            }
        }
        page.remove(b"Parent");
        page.remove(b"Annots");
        let Object::Dictionary(mut copied) = update.import(&source, &Object::Dictionary(page))
        else {
            continue;
        };
        copied.set("Parent", Object::Reference(pages_id));
        copied.set("Type", Object::Name(b"Page".to_vec()));
        let new_page = update.add(Object::Dictionary(copied));
        kids.push(Object::Reference(new_page));
        count += 1;
    }
    tree.set("Kids", kids);
    tree.set("Count", count);
    update.set(pages_id, Object::Dictionary(tree));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_land_on_their_pages_and_extra_pages_are_appended() {
        let original = crate::pdf::render::tests_support::simple_pdf("Signature of the employee");
        let items = vec![
            StampItem {
                page: 1,
                rect: Rect {
                    x: 300.0,
                    y: 80.0,
                    width: 160.0,
                    height: 50.0,
                },
                content: StampContent::Signature {
                    png: None,
                    typed_name: "Zoë Łukasiewicz".into(),
                    caption: "signed by Zoë Łukasiewicz · 2026-11-28 10:00 UTC · env_1".into(),
                },
            },
            StampItem {
                page: 1,
                rect: Rect {
                    x: 300.0,
                    y: 150.0,
                    width: 100.0,
                    height: 14.0,
                },
                content: StampContent::Text("Αθήνα".into()),
            },
        ];
        let extra = crate::pdf::render::tests_support::simple_pdf("Certificate");
        let stamped = stamp_pdf(&original, &items, &[&extra]).unwrap();
        assert!(stamped.starts_with(&original));
        let document = incremental::load(&stamped).unwrap();
        assert_eq!(document.get_pages().len(), 2);
        let first = document.get_pages()[&1];
        let text = crate::pdf::layout::page_text(&crate::pdf::layout::page_glyphs(
            &document,
            first,
            &crate::pdf::DecodeBudget::default(),
        ));
        assert!(
            text.contains("Αθήνα") && text.contains("Łukasiewicz"),
            "{text}"
        );
        std::fs::write(
            std::env::temp_dir().join("signbridge-stamp-test.pdf"),
            &stamped,
        )
        .unwrap();
        assert!(stamp_pdf(
            &original,
            &[StampItem {
                page: 3,
                ..items[1].clone()
            }],
            &[]
        )
        .is_err());
    }
}
