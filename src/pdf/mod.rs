//! PDF work that needs nothing else of ours: inspecting uploads, turning images into PDFs,
//! rendering contracts, finding anchors, stamping signatures, sealing and verifying.

pub mod admission;
pub mod asn1;
pub mod cms;
pub mod evidence;
pub mod identity;
mod image;
pub mod incremental;
mod inspect;
pub mod layout;
pub mod ltv;
pub mod raster;
pub mod reader;
pub mod render;
pub mod seal;
pub mod stamp;
mod text;
pub mod tsp;
pub mod validation;
pub mod x509;

pub use admission::{admit_pdf, Admitted};
pub use image::{image_to_pdf, sniff_image, ImageKind, PIXELS_IN_FLIGHT};
pub use inspect::{inspect_pdf, looks_like_pdf, PdfInfo};
pub use reader::{DecodeBudget, PdfLimits};
pub use text::{count_occurrences, page_texts};

/// Why a file is not a usable PDF (or image).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    #[error("the file is not a readable PDF: {0}")]
    Corrupt(String),
    #[error("the PDF is encrypted or password-protected; upload an unprotected copy")]
    Encrypted,
    #[error("the PDF is truncated (no end-of-file marker); upload the complete file")]
    Truncated,
    #[error("the PDF has no pages")]
    NoPages,
    #[error("the PDF exceeds the limit on {what} ({limit}); simplify or split the document")]
    LimitExceeded { what: &'static str, limit: usize },
    #[error("the PDF contains active content ({0}); signers must see exactly what they sign, so documents that run code or carry hidden attachments are refused: export it again without them (e.g. print to PDF)")]
    ActiveContent(String),
    #[error("sealing failed: {0}")]
    Seal(String),
    #[error("the image cannot be read: {0}")]
    BadImage(String),
    #[error("the image is too large ({width}×{height} pixels; at most {max_pixels} pixels)")]
    ImageTooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
}
