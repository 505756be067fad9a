//! Pages as images for the signing page: one page of a PDF drawn by hayro on white at a width in
//! pixels, as PNG. Whatever the PDF, this returns an error rather than panicking: the page then
//! shows a placeholder and the download link.

use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_syntax::Pdf;
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{RenderCache, RenderSettings};

/// A phone's width (360 CSS px) at 2× density.
pub const PHONE_WIDTH: u16 = 720;
/// A desktop column (800 CSS px) at 2× density.
pub const DESKTOP_WIDTH: u16 = 1600;
/// The widths pages are drawn at (and cached at): nothing else is asked of the renderer.
pub const WIDTHS: [u16; 2] = [PHONE_WIDTH, DESKTOP_WIDTH];
/// A page taller than this many times its width is not drawn (a strip is not a page).
const MAX_ASPECT: f32 = 8.0;

/// Why a page cannot be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RasterError {
    #[error("the PDF cannot be drawn: {0}")]
    Unreadable(String),
    #[error("the document has no page {0}")]
    NoPage(usize),
    #[error("the page cannot be drawn at this size")]
    BadSize,
    #[error("the page image could not be encoded: {0}")]
    Encode(String),
}

/// Each page's size as displayed (points, rotation applied).
pub fn page_sizes(pdf: &[u8]) -> Result<Vec<(f32, f32)>, RasterError> {
    let pdf = Pdf::new(pdf.to_vec()).map_err(|err| RasterError::Unreadable(format!("{err:?}")))?;
    Ok(pdf
        .pages()
        .iter()
        .map(|page| page.render_dimensions())
        .collect())
}

/// Page `index` (from 0) drawn `width` pixels wide, as PNG.
pub fn render_page_png(pdf: &[u8], index: usize, width: u16) -> Result<Vec<u8>, RasterError> {
    let (height, rgba) = draw_page(pdf, index, width)?;
    encode_png(width, height, &rgba)
}

/// Page `index` (from 0) drawn `width` pixels wide: its height and its RGBA pixels (opaque).
pub fn draw_page(pdf: &[u8], index: usize, width: u16) -> Result<(u32, Vec<u8>), RasterError> {
    let bytes = pdf.to_vec();
    std::panic::catch_unwind(move || draw(bytes, index, width)).unwrap_or_else(|_| {
        Err(RasterError::Unreadable(
            "the renderer could not draw this page".into(),
        ))
    })
}

fn draw(pdf: Vec<u8>, index: usize, width: u16) -> Result<(u32, Vec<u8>), RasterError> {
    let pdf = Pdf::new(pdf).map_err(|err| RasterError::Unreadable(format!("{err:?}")))?;
    let pages = pdf.pages();
    let page = pages.get(index).ok_or(RasterError::NoPage(index + 1))?;
    let (page_width, page_height) = page.render_dimensions();
    if !(page_width >= 1.0 && page_height >= 1.0) || page_height / page_width > MAX_ASPECT {
        return Err(RasterError::BadSize);
    }
    let scale = f32::from(width) / page_width;
    let height = (page_height * scale).round();
    if !(1.0..=f32::from(u16::MAX)).contains(&height) {
        return Err(RasterError::BadSize);
    }
    let pixmap = hayro::render(
        page,
        &RenderCache::new(),
        &InterpreterSettings::default(),
        &RenderSettings {
            x_scale: scale,
            y_scale: scale,
            width: Some(width),
            height: Some(height as u16),
            bg_color: WHITE,
        },
    );
    // Opaque on white: the premultiplied RGBA is plain RGBA.
    Ok((height as u32, pixmap.data_as_u8_slice().to_vec()))
}

/// RGBA pixels as PNG (the constant alpha costs little once compressed, less than converting
/// every pixel).
pub fn encode_png(width: u16, height: u32, rgba: &[u8]) -> Result<Vec<u8>, RasterError> {
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, u32::from(width), height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Default);
        encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        let mut writer = encoder
            .write_header()
            .map_err(|err| RasterError::Encode(err.to_string()))?;
        writer
            .write_image_data(rgba)
            .map_err(|err| RasterError::Encode(err.to_string()))?;
    }
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> Vec<u8> {
        crate::pdf::render::render_template(
            "t.md.hbs",
            "# Employment contract\n\nBetween Acme and **Ann**.\n",
            &serde_json::json!({}),
        )
        .unwrap()
        .pdf
    }

    #[test]
    fn a_page_is_drawn_at_the_asked_width_with_ink_on_white() {
        let pdf = contract();
        let sizes = page_sizes(&pdf).unwrap();
        assert_eq!(sizes.len(), 1);
        let (w, h) = sizes[0];
        assert!(
            (w - 595.0).abs() < 2.0 && (h - 842.0).abs() < 2.0,
            "A4: {w}×{h}"
        );
        let png = render_page_png(&pdf, 0, PHONE_WIDTH).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut buffer = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buffer).unwrap();
        assert_eq!(info.width, u32::from(PHONE_WIDTH));
        assert_eq!(info.height, (h * f32::from(PHONE_WIDTH) / w).round() as u32);
        let pixels = &buffer[..info.buffer_size()];
        let dark = pixels.chunks_exact(3).filter(|p| p[0] < 128).count();
        let white = pixels
            .chunks_exact(3)
            .filter(|p| p == &[255, 255, 255])
            .count();
        assert!(dark > 500, "the text is drawn ({dark} dark pixels)");
        assert!(white > pixels.len() / 3 / 2, "on white");
    }

    #[test]
    fn what_cannot_be_drawn_is_an_error_not_a_panic() {
        assert!(matches!(
            render_page_png(b"not a pdf", 0, PHONE_WIDTH),
            Err(RasterError::Unreadable(_))
        ));
        assert_eq!(
            render_page_png(&contract(), 3, PHONE_WIDTH),
            Err(RasterError::NoPage(4))
        );
    }
}
