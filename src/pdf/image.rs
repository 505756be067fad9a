//! PNG and JPEG uploads become one-page PDFs: the image centred on an A4 page (portrait or
//! landscape to match it), JPEG embedded as-is (DCTDecode), PNG re-compressed with its alpha
//! channel as a soft mask.

use super::PdfError;
use flate2::{write::ZlibEncoder, Compression};
use lopdf::{dictionary, Document, Object, Stream};
use std::io::Write;

/// Largest image accepted, in pixels (a decompression-bomb guard).
const MAX_PIXELS: u64 = 60_000_000;
const A4: (f32, f32) = (595.276, 841.89);
const MARGIN: f32 = 36.0;

/// The image formats an upload may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
}

impl ImageKind {
    pub fn mime_type(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
        }
    }
}

/// Recognises PNG and JPEG by their magic bytes (the declared type is never trusted).
pub fn sniff_image(bytes: &[u8]) -> Option<ImageKind> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageKind::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageKind::Jpeg)
    } else {
        None
    }
}

/// Turns an image into a one-page PDF.
pub fn image_to_pdf(bytes: &[u8], kind: ImageKind) -> Result<Vec<u8>, PdfError> {
    let image = match kind {
        ImageKind::Jpeg => jpeg_image(bytes)?,
        ImageKind::Png => png_image(bytes)?,
    };
    build_pdf(image)
}

struct EmbeddedImage {
    width: u32,
    height: u32,
    color_space: &'static str,
    components: u8,
    filter: &'static str,
    data: Vec<u8>,
    alpha: Option<Vec<u8>>,
    invert_cmyk: bool,
}

fn check_size(width: u32, height: u32) -> Result<(), PdfError> {
    if width == 0 || height == 0 {
        return Err(PdfError::BadImage("zero width or height".into()));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(PdfError::ImageTooLarge {
            width,
            height,
            max_pixels: MAX_PIXELS,
        });
    }
    Ok(())
}

/// Reads the frame header of a JPEG: size and number of colour components.
fn jpeg_image(bytes: &[u8]) -> Result<EmbeddedImage, PdfError> {
    let bad = |why: &str| PdfError::BadImage(format!("JPEG: {why}"));
    let mut at = 2usize;
    let mut adobe = false;
    loop {
        while bytes.get(at) == Some(&0xFF) && bytes.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        if bytes.get(at) != Some(&0xFF) {
            return Err(bad("no frame header found"));
        }
        let marker = *bytes.get(at + 1).ok_or_else(|| bad("ends early"))?;
        at += 2;
        if matches!(marker, 0x01 | 0xD0..=0xD7) {
            continue;
        }
        if marker == 0xD9 || marker == 0xDA {
            return Err(bad("no frame header before the image data"));
        }
        let len_bytes = bytes.get(at..at + 2).ok_or_else(|| bad("ends early"))?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len < 2 {
            return Err(bad("bad segment length"));
        }
        let segment = bytes
            .get(at + 2..at + len)
            .ok_or_else(|| bad("ends early"))?;
        if marker == 0xEE && segment.starts_with(b"Adobe") {
            adobe = true;
        }
        let is_frame = matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF);
        if is_frame {
            if segment.len() < 6 {
                return Err(bad("short frame header"));
            }
            let height = u32::from(u16::from_be_bytes([segment[1], segment[2]]));
            let width = u32::from(u16::from_be_bytes([segment[3], segment[4]]));
            let components = segment[5];
            check_size(width, height)?;
            let color_space = match components {
                1 => "DeviceGray",
                3 => "DeviceRGB",
                4 => "DeviceCMYK",
                n => return Err(bad(&format!("{n} colour components are not supported"))),
            };
            return Ok(EmbeddedImage {
                width,
                height,
                color_space,
                components,
                filter: "DCTDecode",
                data: bytes.to_vec(),
                alpha: None,
                invert_cmyk: components == 4 && adobe,
            });
        }
        at += len;
    }
}

fn png_image(bytes: &[u8]) -> Result<EmbeddedImage, PdfError> {
    let bad = |err: png::DecodingError| PdfError::BadImage(format!("PNG: {err}"));
    let limits = png::Limits {
        bytes: (MAX_PIXELS * 4) as usize,
    };
    let mut decoder = png::Decoder::new_with_limits(std::io::Cursor::new(bytes), limits);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let header = decoder.read_header_info().map_err(bad)?;
    let (width, height) = (header.width, header.height);
    check_size(width, height)?;
    let _pixels = PIXELS_IN_FLIGHT.reserve(u64::from(width) * u64::from(height));
    let mut reader = decoder.read_info().map_err(bad)?;
    let (color_type, _) = reader.output_color_type();
    let (color_space, components, has_alpha) = match color_type {
        png::ColorType::Grayscale => ("DeviceGray", 1u8, false),
        png::ColorType::GrayscaleAlpha => ("DeviceGray", 1, true),
        png::ColorType::Rgb => ("DeviceRGB", 3, false),
        png::ColorType::Rgba => ("DeviceRGB", 3, true),
        png::ColorType::Indexed => {
            return Err(PdfError::BadImage("PNG: palette was not expanded".into()))
        }
    };
    // Colour and alpha are compressed as the rows are decoded, so memory follows the
    // compressed size, not the pixel count. Interlaced images arrive in passes and are
    // decoded whole (their pixels are reserved all the same).
    let mut color = ZlibEncoder::new(Vec::new(), Compression::default());
    let mut alpha = has_alpha.then(|| ZlibEncoder::new(Vec::new(), Compression::default()));
    let mut split = |pixels: &[u8]| {
        match alpha.as_mut() {
            Some(alpha) => {
                let stride = usize::from(components) + 1;
                for pixel in pixels.chunks_exact(stride) {
                    let _ = color.write_all(&pixel[..usize::from(components)]);
                    let _ = alpha.write_all(&pixel[usize::from(components)..]);
                }
            }
            None => {
                let _ = color.write_all(pixels);
            }
        };
    };
    if reader.info().interlaced {
        let mut buffer = vec![0u8; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut buffer).map_err(bad)?;
        split(&buffer[..frame.buffer_size()]);
    } else {
        let mut rows = 0u32;
        while let Some(row) = reader.next_row().map_err(bad)? {
            split(row.data());
            rows += 1;
        }
        if rows != height {
            return Err(PdfError::BadImage(format!(
                "PNG: {rows} of {height} rows could be read"
            )));
        }
    }
    Ok(EmbeddedImage {
        width,
        height,
        color_space,
        components,
        filter: "FlateDecode",
        data: color.finish().unwrap_or_default(),
        alpha: alpha.map(|a| a.finish().unwrap_or_default()),
        invert_cmyk: false,
    })
}

/// Pixels of PNG uploads being decoded at once, all uploads together: a decoder reserves
/// its image's pixels before it starts and waits while others hold the budget.
pub struct PixelBudget {
    free: std::sync::Mutex<u64>,
    freed: std::sync::Condvar,
    total: std::sync::atomic::AtomicU64,
}

/// The process's pixel budget (set from `limits.max_image_pixels_in_flight` at start).
pub static PIXELS_IN_FLIGHT: PixelBudget = PixelBudget {
    free: std::sync::Mutex::new(80_000_000),
    freed: std::sync::Condvar::new(),
    total: std::sync::atomic::AtomicU64::new(80_000_000),
};

/// Pixels held by one decoder; given back when dropped.
pub struct PixelReservation<'a> {
    budget: &'a PixelBudget,
    pixels: u64,
}

impl PixelBudget {
    /// Sets the total (at least one image at the per-image limit); call before serving.
    pub fn set_total(&self, total: u64) {
        let total = total.max(MAX_PIXELS);
        let old = self.total.swap(total, std::sync::atomic::Ordering::SeqCst);
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        *free = (*free + total).saturating_sub(old);
        self.freed.notify_all();
    }

    /// Waits until `pixels` are free and holds them.
    pub fn reserve(&self, pixels: u64) -> PixelReservation<'_> {
        let pixels = pixels.min(self.total.load(std::sync::atomic::Ordering::SeqCst));
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free < pixels {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= pixels;
        PixelReservation {
            budget: self,
            pixels,
        }
    }
}

impl Drop for PixelReservation<'_> {
    fn drop(&mut self) {
        let mut free = self.budget.free.lock().unwrap_or_else(|p| p.into_inner());
        *free += self.pixels;
        self.budget.freed.notify_all();
    }
}

fn build_pdf(image: EmbeddedImage) -> Result<Vec<u8>, PdfError> {
    let landscape = image.width > image.height;
    let (page_w, page_h) = if landscape { (A4.1, A4.0) } else { A4 };
    let scale = ((page_w - 2.0 * MARGIN) / image.width as f32)
        .min((page_h - 2.0 * MARGIN) / image.height as f32)
        .min(1.0);
    let (draw_w, draw_h) = (image.width as f32 * scale, image.height as f32 * scale);
    let (x, y) = ((page_w - draw_w) / 2.0, (page_h - draw_h) / 2.0);

    let mut doc = Document::with_version("1.7");
    let mut image_dict = dictionary! {
        "Type" => "XObject",
        "Subtype" => "Image",
        "Width" => i64::from(image.width),
        "Height" => i64::from(image.height),
        "ColorSpace" => Object::Name(image.color_space.as_bytes().to_vec()),
        "BitsPerComponent" => 8,
        "Filter" => Object::Name(image.filter.as_bytes().to_vec()),
    };
    if image.invert_cmyk {
        image_dict.set(
            "Decode",
            Object::Array(
                (0..image.components)
                    .flat_map(|_| [1.into(), 0.into()])
                    .collect(),
            ),
        );
    }
    if let Some(alpha) = image.alpha {
        let mask = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Image",
                "Width" => i64::from(image.width),
                "Height" => i64::from(image.height),
                "ColorSpace" => "DeviceGray",
                "BitsPerComponent" => 8,
                "Filter" => "FlateDecode",
            },
            alpha,
        ));
        image_dict.set("SMask", mask);
    }
    let image_id = doc.add_object(Stream::new(image_dict, image.data).with_compression(false));
    let content = format!("q {draw_w:.3} 0 0 {draw_h:.3} {x:.3} {y:.3} cm /Im0 Do Q");
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
    let pages_id = doc.new_object_id();
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "MediaBox" => vec![0.into(), 0.into(), Object::Real(page_w), Object::Real(page_h)],
        "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image_id } },
        "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|err| PdfError::BadImage(format!("could not write the PDF: {err}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::inspect_pdf;
    use lopdf::Dictionary;

    /// A 3×2 image whose every sample differs: channel `c` of pixel `i` is `40 * i + c`.
    fn tiny_png(color: png::ColorType, channels: usize) -> (Vec<u8>, Vec<u8>) {
        let samples: Vec<u8> = (0..3 * 2)
            .flat_map(|i| (0..channels).map(move |c| (40 * i + c) as u8))
            .collect();
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, 3, 2);
            encoder.set_color(color);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(&samples).unwrap();
        }
        (out, samples)
    }

    /// The page's image XObject and its decoded samples, with its soft mask's when it has one.
    fn drawn_image(pdf: &[u8]) -> (Dictionary, Vec<u8>, Option<Vec<u8>>) {
        let doc = Document::load_mem(pdf).unwrap();
        let page = *doc.get_pages().get(&1).unwrap();
        let resources = doc.get_dictionary(page).unwrap().get(b"Resources").unwrap();
        let xobjects = resources.as_dict().unwrap().get(b"XObject").unwrap();
        let image_id = xobjects
            .as_dict()
            .unwrap()
            .get(b"Im0")
            .unwrap()
            .as_reference()
            .unwrap();
        let image = doc.get_object(image_id).unwrap().as_stream().unwrap();
        let mask = image.dict.get(b"SMask").ok().map(|mask| {
            doc.get_object(mask.as_reference().unwrap())
                .unwrap()
                .as_stream()
                .unwrap()
                .decompressed_content()
                .unwrap()
        });
        (
            image.dict.clone(),
            image.decompressed_content().unwrap(),
            mask,
        )
    }

    #[test]
    fn png_with_alpha_becomes_a_one_page_pdf_drawing_its_pixels() {
        let (png, samples) = tiny_png(png::ColorType::Rgba, 4);
        assert_eq!(sniff_image(&png), Some(ImageKind::Png));
        let pdf = image_to_pdf(&png, ImageKind::Png).unwrap();
        assert_eq!(inspect_pdf(&pdf).unwrap().page_count, 1);
        let (dict, color, alpha) = drawn_image(&pdf);
        assert_eq!(dict.get(b"Width").unwrap().as_i64().unwrap(), 3);
        assert_eq!(dict.get(b"Height").unwrap().as_i64().unwrap(), 2);
        assert_eq!(
            dict.get(b"ColorSpace").unwrap().as_name().unwrap(),
            b"DeviceRGB"
        );
        let expected_color: Vec<u8> = samples
            .chunks_exact(4)
            .flat_map(|pixel| pixel[..3].to_vec())
            .collect();
        let expected_alpha: Vec<u8> = samples.chunks_exact(4).map(|pixel| pixel[3]).collect();
        assert_eq!(color, expected_color);
        assert_eq!(alpha, Some(expected_alpha));
    }

    #[test]
    fn grey_png_keeps_its_samples_and_has_no_mask() {
        let (png, samples) = tiny_png(png::ColorType::Grayscale, 1);
        let pdf = image_to_pdf(&png, ImageKind::Png).unwrap();
        let (dict, color, alpha) = drawn_image(&pdf);
        assert_eq!(
            dict.get(b"ColorSpace").unwrap().as_name().unwrap(),
            b"DeviceGray"
        );
        assert_eq!(color, samples);
        assert_eq!(alpha, None);
    }

    #[test]
    fn jpeg_header_is_read() {
        // SOI, APP0 (minimal), SOF0 8-bit 2×3 RGB, EOI.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00];
        jpeg.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 8, 0x00, 0x03, 0x00, 0x02, 3]);
        jpeg.extend_from_slice(&[1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        let image = jpeg_image(&jpeg).unwrap();
        assert_eq!((image.width, image.height, image.components), (2, 3, 3));
        assert!(inspect_pdf(&image_to_pdf(&jpeg, ImageKind::Jpeg).unwrap()).is_ok());
    }

    #[test]
    fn garbage_images_are_errors_not_panics() {
        assert!(image_to_pdf(b"\x89PNG\r\n\x1a\nnope", ImageKind::Png).is_err());
        assert!(image_to_pdf(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00], ImageKind::Jpeg).is_err());
        let mut huge = vec![
            0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 8, 0xFF, 0xFF, 0xFF, 0xFF, 3,
        ];
        huge.extend_from_slice(&[0; 9]);
        assert!(matches!(
            image_to_pdf(&huge, ImageKind::Jpeg),
            Err(PdfError::ImageTooLarge { .. })
        ));
    }
}
