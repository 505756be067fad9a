//! Where things are on a page: the visible box and rotation (so coordinates given from the top
//! left of the page as a reader sees it can be placed), and where each character of the text
//! sits (by following the content stream's text operators), to find anchor texts even when a
//! producer split the phrase across runs.

use super::reader::DecodeBudget;
use lopdf::content::Content;
use lopdf::{Dictionary, Document, Encoding, Object, ObjectId};
use std::collections::BTreeMap;

/// An affine matrix `[a b c d e f]` (PDF's row-vector convention).
pub type Matrix = [f64; 6];

pub const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// `first` then `second`.
pub fn multiply(first: &Matrix, second: &Matrix) -> Matrix {
    let [a, b, c, d, e, f] = *first;
    let [a2, b2, c2, d2, e2, f2] = *second;
    [
        a * a2 + b * c2,
        a * b2 + b * d2,
        c * a2 + d * c2,
        c * b2 + d * d2,
        e * a2 + f * c2 + e2,
        e * b2 + f * d2 + f2,
    ]
}

pub fn apply(matrix: &Matrix, x: f64, y: f64) -> (f64, f64) {
    let [a, b, c, d, e, f] = *matrix;
    (a * x + c * y + e, b * x + d * y + f)
}

fn invert(matrix: &Matrix) -> Matrix {
    let [a, b, c, d, e, f] = *matrix;
    let det = a * d - b * c;
    if det.abs() < 1e-12 {
        return IDENTITY;
    }
    let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
    [ia, ib, ic, id, -(e * ia + f * ic), -(e * ib + f * id)]
}

/// A rectangle in points, from the top-left corner of the page as displayed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// A page's visible box and rotation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageGeometry {
    /// The CropBox (or MediaBox): llx, lly, urx, ury.
    pub visible: [f64; 4],
    /// 0, 90, 180 or 270 (clockwise, as displayed).
    pub rotate: i64,
}

impl PageGeometry {
    pub fn of(document: &Document, page: ObjectId) -> Self {
        let inherited = |key: &[u8]| inherited_attribute(document, page, key);
        let number = |object: &Object| match object {
            Object::Integer(i) => Some(*i as f64),
            Object::Real(r) => Some(f64::from(*r)),
            _ => None,
        };
        let rectangle = |key: &[u8]| -> Option<[f64; 4]> {
            let Object::Array(items) = inherited(key)? else {
                return None;
            };
            let values: Vec<f64> = items
                .iter()
                .filter_map(|item| number(&resolve(document, item)))
                .collect();
            let [x0, y0, x1, y1] = values[..] else {
                return None;
            };
            Some([x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)])
        };
        let media = rectangle(b"MediaBox").unwrap_or([0.0, 0.0, 612.0, 792.0]);
        let visible = match rectangle(b"CropBox") {
            Some(crop) => [
                crop[0].max(media[0]),
                crop[1].max(media[1]),
                crop[2].min(media[2]),
                crop[3].min(media[3]),
            ],
            None => media,
        };
        let rotate = inherited(b"Rotate")
            .and_then(|r| r.as_i64().ok())
            .unwrap_or(0)
            .rem_euclid(360);
        let rotate = (rotate / 90) * 90;
        Self { visible, rotate }
    }

    /// Width and height as displayed.
    pub fn display_size(&self) -> (f64, f64) {
        let [x0, y0, x1, y1] = self.visible;
        let (w, h) = (x1 - x0, y1 - y0);
        if self.rotate % 180 == 0 {
            (w, h)
        } else {
            (h, w)
        }
    }

    /// From display space (origin bottom-left of the page as displayed, y up) to the page's
    /// user space.
    pub fn display_to_user(&self) -> Matrix {
        let [llx, lly, urx, ury] = self.visible;
        match self.rotate {
            90 => [0.0, 1.0, -1.0, 0.0, urx, lly],
            180 => [-1.0, 0.0, 0.0, -1.0, urx, ury],
            270 => [0.0, -1.0, 1.0, 0.0, llx, ury],
            _ => [1.0, 0.0, 0.0, 1.0, llx, lly],
        }
    }

    /// A user-space point as (x, y from the top) in display space.
    pub fn user_to_top_left(&self, x: f64, y: f64) -> (f64, f64) {
        let (u, v) = apply(&invert(&self.display_to_user()), x, y);
        (u, self.display_size().1 - v)
    }
}

fn resolve(document: &Document, object: &Object) -> Object {
    let mut current = object.clone();
    for _ in 0..8 {
        match current {
            Object::Reference(id) => {
                current = document.get_object(id).cloned().unwrap_or(Object::Null)
            }
            other => return other,
        }
    }
    Object::Null
}

fn inherited_attribute(document: &Document, page: ObjectId, key: &[u8]) -> Option<Object> {
    let mut current = page;
    for _ in 0..32 {
        let dictionary = document.get_dictionary(current).ok()?;
        if let Ok(value) = dictionary.get(key) {
            return Some(resolve(document, value));
        }
        current = dictionary
            .get(b"Parent")
            .and_then(Object::as_reference)
            .ok()?;
    }
    None
}

/// One character drawn on a page, with its box in user space.
#[derive(Debug, Clone, Copy)]
pub struct Glyph {
    pub ch: char,
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

struct FontInfo<'a> {
    encoding: Option<Encoding<'a>>,
    two_byte: bool,
    widths: Widths,
    default_width: f64,
}

/// Glyph widths by character code: single codes, and `[first last width]` ranges kept as
/// ranges (a CID font may give a range of 65,536 codes; expanded, a few hundred ranges cost
/// minutes of CPU).
#[derive(Default)]
struct Widths {
    codes: BTreeMap<u32, f64>,
    /// `(first, last, width)`, sorted by `first` once read.
    ranges: Vec<(u32, u32, f64)>,
}

impl Widths {
    /// Single codes a font may list (two bytes of code space).
    const MAX_CODES: usize = 65_536;

    fn insert(&mut self, code: u32, width: f64) {
        if self.codes.len() < Self::MAX_CODES || self.codes.contains_key(&code) {
            self.codes.insert(code, width);
        }
    }

    fn get(&self, code: u32) -> Option<f64> {
        if let Some(width) = self.codes.get(&code) {
            return Some(*width);
        }
        let after = self.ranges.partition_point(|(first, _, _)| *first <= code);
        let (_, last, width) = self.ranges[..after].last()?;
        (code <= *last).then_some(*width)
    }
}

fn number_of(object: &Object) -> Option<f64> {
    match object {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
}

fn font_info<'a>(
    document: &'a Document,
    font: &'a Dictionary,
    budget: &DecodeBudget,
) -> FontInfo<'a> {
    let two_byte = font.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Type0");
    let encoding = budget
        .font_map_cap(document, font)
        .ok()
        .and_then(|cap| font.get_font_encoding_with_limit(document, cap).ok());
    let mut widths = Widths::default();
    let mut default_width;
    if two_byte {
        default_width = 1000.0;
        let descendant = font
            .get(b"DescendantFonts")
            .ok()
            .map(|d| resolve(document, d))
            .and_then(|d| match d {
                Object::Array(items) => items.first().map(|f| resolve(document, f)),
                _ => None,
            });
        if let Some(Object::Dictionary(cid_font)) = descendant {
            if let Some(dw) = cid_font.get(b"DW").ok().and_then(number_of) {
                default_width = dw;
            }
            if let Ok(w) = cid_font.get(b"W") {
                if let Object::Array(items) = resolve(document, w) {
                    let mut index = 0;
                    while index < items.len() {
                        let first = number_of(&items[index]).unwrap_or(0.0) as u32;
                        match items.get(index + 1).map(|i| resolve(document, i)) {
                            Some(Object::Array(list)) => {
                                for (offset, width) in list.iter().enumerate() {
                                    // Codes past u32 (a hostile `first`) have no width.
                                    let code = u32::try_from(offset)
                                        .ok()
                                        .and_then(|offset| first.checked_add(offset));
                                    if let (Some(code), Some(width)) = (code, number_of(width)) {
                                        widths.insert(code, width);
                                    }
                                }
                                index += 2;
                            }
                            Some(last) => {
                                let last = number_of(&last).unwrap_or(0.0) as u32;
                                let width = items
                                    .get(index + 2)
                                    .and_then(number_of)
                                    .unwrap_or(default_width);
                                if first <= last {
                                    widths.ranges.push((first, last, width));
                                }
                                index += 3;
                            }
                            None => break,
                        }
                    }
                }
            }
        }
    } else {
        let first = font
            .get(b"FirstChar")
            .ok()
            .and_then(number_of)
            .unwrap_or(0.0) as u32;
        if let Ok(list) = font.get(b"Widths") {
            if let Object::Array(items) = resolve(document, list) {
                for (offset, width) in items.iter().enumerate() {
                    // Codes past u32 (a hostile `/FirstChar`) have no width.
                    let code = u32::try_from(offset)
                        .ok()
                        .and_then(|offset| first.checked_add(offset));
                    if let (Some(code), Some(width)) = (code, number_of(&resolve(document, width)))
                    {
                        widths.insert(code, width);
                    }
                }
            }
        }
        let base = font
            .get(b"BaseFont")
            .and_then(Object::as_name)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        default_width = if base.contains("Courier") {
            600.0
        } else {
            520.0
        };
    }
    widths.ranges.sort_by_key(|(first, _, _)| *first);
    FontInfo {
        encoding,
        two_byte,
        widths,
        default_width,
    }
}

#[derive(Clone)]
struct GraphicsState {
    ctm: Matrix,
    font: Option<Vec<u8>>,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    scale: f64,
    leading: f64,
    rise: f64,
}

/// Every character on a page with its position.
///
/// Every stream decoded is charged to `budget`; once it is spent the rest of the page is
/// skipped and [`DecodeBudget::outcome`] says which limit was hit.
pub fn page_glyphs(document: &Document, page: ObjectId, budget: &DecodeBudget) -> Vec<Glyph> {
    let mut glyphs = Vec::new();
    let Ok(bytes) = budget.page_content(document, page) else {
        return glyphs;
    };
    let Ok(content) = Content::decode(&bytes) else {
        return glyphs;
    };
    drop(bytes);
    let resources = page_resources(document, page);
    run(
        document,
        &content,
        &resources,
        IDENTITY,
        &mut Vec::new(),
        &mut glyphs,
        budget,
    );
    glyphs
}

fn page_resources(document: &Document, page: ObjectId) -> Dictionary {
    match inherited_attribute(document, page, b"Resources") {
        Some(Object::Dictionary(d)) => d,
        _ => Dictionary::new(),
    }
}

fn sub_dictionary(document: &Document, resources: &Dictionary, key: &[u8]) -> Dictionary {
    match resources.get(key).map(|v| resolve(document, v)) {
        Ok(Object::Dictionary(d)) => d,
        _ => Dictionary::new(),
    }
}

fn run(
    document: &Document,
    content: &Content,
    resources: &Dictionary,
    base: Matrix,
    drawing: &mut Vec<ObjectId>,
    glyphs: &mut Vec<Glyph>,
    budget: &DecodeBudget,
) {
    let font_dictionaries = sub_dictionary(document, resources, b"Font");
    let xobjects = sub_dictionary(document, resources, b"XObject");
    let owned_fonts: Vec<(Vec<u8>, Dictionary)> = font_dictionaries
        .iter()
        .filter_map(|(name, font)| match resolve(document, font) {
            Object::Dictionary(dictionary) => Some((name.clone(), dictionary)),
            _ => None,
        })
        .collect();
    let fonts: BTreeMap<&[u8], FontInfo<'_>> = owned_fonts
        .iter()
        .map(|(name, dictionary)| (name.as_slice(), font_info(document, dictionary, budget)))
        .collect();
    let mut state = GraphicsState {
        ctm: base,
        font: None,
        size: 0.0,
        char_spacing: 0.0,
        word_spacing: 0.0,
        scale: 1.0,
        leading: 0.0,
        rise: 0.0,
    };
    let mut stack: Vec<GraphicsState> = Vec::new();
    let mut text_matrix = IDENTITY;
    let mut line_matrix = IDENTITY;
    let numbers =
        |operands: &[Object]| -> Vec<f64> { operands.iter().filter_map(number_of).collect() };
    for operation in &content.operations {
        let operands = &operation.operands;
        match operation.operator.as_str() {
            "q" if stack.len() < 64 => stack.push(state.clone()),
            "Q" => {
                if let Some(saved) = stack.pop() {
                    state = saved;
                }
            }
            "cm" => {
                if let [a, b, c, d, e, f] = numbers(operands)[..] {
                    state.ctm = multiply(&[a, b, c, d, e, f], &state.ctm);
                }
            }
            "BT" => {
                text_matrix = IDENTITY;
                line_matrix = IDENTITY;
            }
            "Tf" => {
                if let (Some(Object::Name(name)), Some(size)) =
                    (operands.first(), operands.get(1).and_then(number_of))
                {
                    state.font = Some(name.clone());
                    state.size = size;
                }
            }
            "Tc" => state.char_spacing = numbers(operands).first().copied().unwrap_or(0.0),
            "Tw" => state.word_spacing = numbers(operands).first().copied().unwrap_or(0.0),
            "Tz" => state.scale = numbers(operands).first().copied().unwrap_or(100.0) / 100.0,
            "TL" => state.leading = numbers(operands).first().copied().unwrap_or(0.0),
            "Ts" => state.rise = numbers(operands).first().copied().unwrap_or(0.0),
            "Td" | "TD" => {
                if let [tx, ty] = numbers(operands)[..] {
                    if operation.operator == "TD" {
                        state.leading = -ty;
                    }
                    line_matrix = multiply(&[1.0, 0.0, 0.0, 1.0, tx, ty], &line_matrix);
                    text_matrix = line_matrix;
                }
            }
            "Tm" => {
                if let [a, b, c, d, e, f] = numbers(operands)[..] {
                    line_matrix = [a, b, c, d, e, f];
                    text_matrix = line_matrix;
                }
            }
            "T*" => {
                line_matrix = multiply(&[1.0, 0.0, 0.0, 1.0, 0.0, -state.leading], &line_matrix);
                text_matrix = line_matrix;
            }
            "Tj" | "'" | "\"" | "TJ" => {
                if operation.operator == "'" || operation.operator == "\"" {
                    if operation.operator == "\"" {
                        let values = numbers(operands);
                        if values.len() >= 2 {
                            state.word_spacing = values[0];
                            state.char_spacing = values[1];
                        }
                    }
                    line_matrix =
                        multiply(&[1.0, 0.0, 0.0, 1.0, 0.0, -state.leading], &line_matrix);
                    text_matrix = line_matrix;
                }
                let Some(font) = state.font.as_deref().and_then(|name| fonts.get(name)) else {
                    continue;
                };
                let items: Vec<&Object> = if operation.operator == "TJ" {
                    match operands.first() {
                        Some(Object::Array(items)) => items.iter().collect(),
                        _ => Vec::new(),
                    }
                } else {
                    operands.last().into_iter().collect()
                };
                for item in items {
                    match item {
                        Object::String(bytes, _) => {
                            show(font, bytes, &state, &mut text_matrix, glyphs);
                        }
                        other => {
                            if let Some(adjust) = number_of(other) {
                                let tx = -adjust / 1000.0 * state.size * state.scale;
                                text_matrix =
                                    multiply(&[1.0, 0.0, 0.0, 1.0, tx, 0.0], &text_matrix);
                            }
                        }
                    }
                }
            }
            // Forms inside forms, four deep at most.
            "Do" if drawing.len() < 4 => {
                let Some(Object::Name(name)) = operands.first() else {
                    continue;
                };
                let Ok(reference) = xobjects.get(name) else {
                    continue;
                };
                // A form that draws itself (directly or through others) is a cycle, which
                // viewers refuse to draw: it is not drawn again.
                let id = reference.as_reference().ok();
                if id.is_some_and(|id| drawing.contains(&id)) {
                    continue;
                }
                let Object::Stream(form) = resolve(document, reference) else {
                    continue;
                };
                if form.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form") {
                    continue;
                }
                let matrix = match form.dict.get(b"Matrix").map(|m| resolve(document, m)) {
                    Ok(Object::Array(items)) => {
                        let values: Vec<f64> = items.iter().filter_map(number_of).collect();
                        match values[..] {
                            [a, b, c, d, e, f] => [a, b, c, d, e, f],
                            _ => IDENTITY,
                        }
                    }
                    _ => IDENTITY,
                };
                if budget.draw_form().is_err() {
                    continue;
                }
                let Ok(content_bytes) = budget.decode(&form) else {
                    continue;
                };
                let Ok(inner) = Content::decode(&content_bytes) else {
                    continue;
                };
                let inner_resources =
                    match form.dict.get(b"Resources").map(|r| resolve(document, r)) {
                        Ok(Object::Dictionary(d)) => d,
                        _ => resources.clone(),
                    };
                // (A direct form has no id; it cannot be referred to again, so no cycle.)
                drawing.push(id.unwrap_or((0, 0)));
                run(
                    document,
                    &inner,
                    &inner_resources,
                    multiply(&matrix, &state.ctm),
                    drawing,
                    glyphs,
                    budget,
                );
                drawing.pop();
            }
            _ => {}
        }
    }
}

fn show(
    font: &FontInfo<'_>,
    bytes: &[u8],
    state: &GraphicsState,
    text_matrix: &mut Matrix,
    glyphs: &mut Vec<Glyph>,
) {
    let step = if font.two_byte { 2 } else { 1 };
    for code_bytes in bytes.chunks(step) {
        let code = code_bytes
            .iter()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        let text = match &font.encoding {
            Some(encoding) => encoding.bytes_to_string(code_bytes).unwrap_or_default(),
            None => code_bytes.iter().map(|b| *b as char).collect(),
        };
        let width = font.widths.get(code).unwrap_or(font.default_width) / 1000.0;
        let rendering = multiply(
            &[
                state.size * state.scale,
                0.0,
                0.0,
                state.size,
                0.0,
                state.rise,
            ],
            &multiply(text_matrix, &state.ctm),
        );
        let corners = [
            apply(&rendering, 0.0, -0.2),
            apply(&rendering, width, -0.2),
            apply(&rendering, 0.0, 0.8),
            apply(&rendering, width, 0.8),
        ];
        let x0 = corners.iter().map(|c| c.0).fold(f64::INFINITY, f64::min);
        let x1 = corners
            .iter()
            .map(|c| c.0)
            .fold(f64::NEG_INFINITY, f64::max);
        let y0 = corners.iter().map(|c| c.1).fold(f64::INFINITY, f64::min);
        let y1 = corners
            .iter()
            .map(|c| c.1)
            .fold(f64::NEG_INFINITY, f64::max);
        let count = text.chars().count().max(1) as f64;
        for (index, ch) in text.chars().enumerate() {
            // Ligatures share their glyph's box.
            let (from, to) = (index as f64 / count, (index + 1) as f64 / count);
            glyphs.push(Glyph {
                ch,
                x0: x0 + (x1 - x0) * from,
                x1: x0 + (x1 - x0) * to,
                y0,
                y1,
            });
        }
        let space = if !font.two_byte && code == 32 {
            state.word_spacing
        } else {
            0.0
        };
        let advance = (width * state.size + state.char_spacing + space) * state.scale;
        *text_matrix = multiply(&[1.0, 0.0, 0.0, 1.0, advance, 0.0], text_matrix);
    }
}

/// The text of a page in drawing order.
pub fn page_text(glyphs: &[Glyph]) -> String {
    glyphs.iter().map(|g| g.ch).collect()
}

/// Finds the `index`-th (from 0) occurrence of `needle` in a document — ignoring case and
/// white space — and returns its page number (from 1) and box from the top-left of the page
/// as displayed.
pub fn find_anchor(
    document: &Document,
    needle: &str,
    index: usize,
    budget: &DecodeBudget,
) -> Option<(u32, Rect)> {
    let wanted: Vec<char> = needle
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    if wanted.is_empty() {
        return None;
    }
    let mut seen = 0;
    for (number, page) in document.get_pages() {
        let glyphs = page_glyphs(document, page, budget);
        let squeezed: Vec<(char, usize)> = glyphs
            .iter()
            .enumerate()
            .filter(|(_, g)| !g.ch.is_whitespace())
            .flat_map(|(i, g)| g.ch.to_lowercase().map(move |c| (c, i)))
            .collect();
        let mut start = 0;
        while start + wanted.len() <= squeezed.len() {
            let matches = squeezed[start..start + wanted.len()]
                .iter()
                .zip(&wanted)
                .all(|((c, _), w)| c == w);
            if !matches {
                start += 1;
                continue;
            }
            if seen == index {
                let geometry = PageGeometry::of(document, page);
                let used = &squeezed[start..start + wanted.len()];
                let (mut left, mut top, mut right, mut bottom) = (
                    f64::INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NEG_INFINITY,
                );
                for (_, glyph_index) in used {
                    let glyph = glyphs[*glyph_index];
                    for (x, y) in [
                        (glyph.x0, glyph.y0),
                        (glyph.x1, glyph.y1),
                        (glyph.x0, glyph.y1),
                        (glyph.x1, glyph.y0),
                    ] {
                        let (u, v) = geometry.user_to_top_left(x, y);
                        left = left.min(u);
                        right = right.max(u);
                        top = top.min(v);
                        bottom = bottom.max(v);
                    }
                }
                return Some((
                    number,
                    Rect {
                        x: left,
                        y: top,
                        width: right - left,
                        height: bottom - top,
                    },
                ));
            }
            seen += 1;
            start += wanted.len();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzzer: a form XObject that draws itself 60 times, drawn 60 times by the
    /// page, cost tens of seconds of CPU before the decode budget ran out. A form on the
    /// stack of forms being drawn is a cycle and is not drawn again.
    #[test]
    fn a_form_that_draws_itself_is_drawn_once_per_use() {
        let bytes = include_bytes!("../../fuzz/regressions/pdf/cpu-form-xobject-fan-out.pdf");
        let document = crate::pdf::incremental::load(bytes).unwrap();
        let page = *document.get_pages().get(&1).unwrap();
        let budget = DecodeBudget::default();
        let glyphs = page_glyphs(&document, page, &budget);
        assert_eq!(glyphs.len(), 60, "the page's 60 draws, each its one `x`");
        assert!(budget.outcome().is_ok());
    }

    /// Forms drawing forms without a cycle (a fan-out) stop at the per-document count.
    #[test]
    fn a_fan_out_of_forms_stops_at_the_draw_limit() {
        use lopdf::dictionary;
        let mut document = Document::with_version("1.7");
        let font = document.add_object(lopdf::dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        });
        // Each level draws the one below 30 times: 30^4 draws four levels down.
        let mut below = None;
        for _ in 0..4 {
            let mut xobjects = Dictionary::new();
            let content = match below {
                Some(id) => {
                    xobjects.set("X", Object::Reference(id));
                    "/X Do ".repeat(30)
                }
                None => "BT /F1 1 Tf (x) Tj ET".to_string(),
            };
            let form = lopdf::Stream::new(
                lopdf::dictionary! {
                    "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 1.into(), 1.into()],
                    "Resources" => lopdf::dictionary! { "Font" => lopdf::dictionary! { "F1" => font }, "XObject" => xobjects },
                },
                content.into_bytes(),
            );
            below = Some(document.add_object(form));
        }
        let content = document.add_object(lopdf::Stream::new(
            Dictionary::new(),
            "/X Do ".repeat(30).into_bytes(),
        ));
        let pages = document.new_object_id();
        let page = document.add_object(lopdf::dictionary! {
            "Type" => "Page", "Parent" => pages, "Contents" => content,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            "Resources" => lopdf::dictionary! { "XObject" => lopdf::dictionary! { "X" => below.unwrap() } },
        });
        document.objects.insert(
            pages,
            Object::Dictionary(
                lopdf::dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
            ),
        );
        let budget = DecodeBudget::default();
        let glyphs = page_glyphs(&document, page, &budget);
        assert!(glyphs.len() < crate::pdf::reader::MAX_FORM_DRAWS);
        assert!(matches!(
            budget.outcome(),
            Err(crate::pdf::PdfError::LimitExceeded {
                what: "form XObjects drawn per document",
                ..
            })
        ));
    }

    /// Found by the fuzzer (cpu-cid-widths-ranges.pdf): hundreds of `[first last width]`
    /// ranges of 65,536 codes, expanded into a map on every page, took 55 s of CPU per upload.
    #[test]
    fn width_ranges_are_looked_up_not_expanded() {
        let mut widths = Widths {
            ranges: vec![(0, 65_535, 500.0), (70_000, 70_010, 250.0)],
            ..Widths::default()
        };
        widths.insert(10, 100.0);
        assert_eq!(widths.get(10), Some(100.0), "a single code wins");
        assert_eq!(widths.get(65_535), Some(500.0));
        assert_eq!(widths.get(70_005), Some(250.0));
        assert_eq!(widths.get(66_000), None);
        assert_eq!(widths.get(80_000), None);
    }

    /// Found by the fuzzer: `/FirstChar 4294967295` with a `/Widths` array overflowed the
    /// character code while the anchor was looked for.
    #[test]
    fn a_hostile_first_char_has_no_widths_and_no_overflow() {
        let bytes = include_bytes!("../../fuzz/regressions/pdf/overflow-firstchar-widths.pdf");
        let document = crate::pdf::incremental::load(bytes).unwrap();
        assert!(find_anchor(&document, "Sig", 0, &crate::pdf::DecodeBudget::default()).is_some());
    }

    #[test]
    fn rotation_maps_display_corners_to_the_visible_box() {
        for rotate in [0, 90, 180, 270] {
            let geometry = PageGeometry {
                visible: [36.0, 18.0, 576.0, 774.0],
                rotate,
            };
            let (w, h) = geometry.display_size();
            let matrix = geometry.display_to_user();
            let corners: Vec<(f64, f64)> = [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)]
                .iter()
                .map(|(u, v)| apply(&matrix, *u, *v))
                .collect();
            for (x, y) in &corners {
                assert!(
                    [36.0, 576.0].contains(&x.round()) && [18.0, 774.0].contains(&y.round()),
                    "rotate {rotate}: {corners:?}"
                );
            }
            let (x, y) = geometry.user_to_top_left(corners[2].0, corners[2].1);
            assert!(
                x.abs() < 1e-9 && y.abs() < 1e-9,
                "top-left of rotate {rotate}"
            );
        }
    }
}
