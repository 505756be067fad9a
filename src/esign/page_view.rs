//! The signing page's view of a document: each page's size, where every field goes (placed as
//! stamping will place it), and the pages as images — drawn once per document and width, kept
//! under `<data-dir>/pages/<document sha256>/` (derived data: safe to delete), drawn once even
//! when many signers open the same page at the same moment.

use super::evidence::place_field;
use super::model::{EnvelopeDocument, Field, FieldType};
use super::{Esign, EsignError};
use crate::pdf::layout::{PageGeometry, Rect};
use crate::pdf::raster;
use crate::store::StoreError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A page image, or why there is none (the page shows a placeholder and the download link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageImage {
    Png(Vec<u8>),
    Unavailable(String),
}

/// A field where it will be stamped.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedField {
    /// Its index in the envelope's fields (the form's `field_{number}`).
    pub number: usize,
    /// From 1.
    pub page: u32,
    /// From the page's top-left, in points.
    pub rect: Rect,
    pub field_type: FieldType,
    pub recipient_email: String,
}

/// One document as the signing page draws it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DocumentLayout {
    /// Each page's displayed size in points (rotation applied).
    pub pages: Vec<(f64, f64)>,
    pub fields: Vec<PlacedField>,
}

/// Page images on disk, and who is drawing which right now.
#[derive(Debug, Default)]
pub struct PageImages {
    root: PathBuf,
    drawing: Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>,
}

impl PageImages {
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            drawing: Mutex::new(HashMap::new()),
        }
    }

    /// The image of `page` (from 1) of the PDF whose hash is `sha256`, drawn `width` wide:
    /// from disk, or drawn (once, whoever else asks meanwhile) from `pdf()`.
    pub fn get(
        &self,
        sha256: &str,
        page: usize,
        width: u16,
        pdf: impl FnOnce() -> Result<Vec<u8>, EsignError>,
    ) -> Result<PageImage, EsignError> {
        let path = self.root.join(sha256).join(format!("{page}-{width}.png"));
        if let Ok(bytes) = std::fs::read(&path) {
            return Ok(PageImage::Png(bytes));
        }
        let turn = {
            let mut drawing = self.drawing.lock().unwrap_or_else(|p| p.into_inner());
            drawing.entry(path.clone()).or_default().clone()
        };
        let image = {
            let _mine = turn.lock().unwrap_or_else(|p| p.into_inner());
            match std::fs::read(&path) {
                Ok(bytes) => Ok(PageImage::Png(bytes)),
                Err(_) => pdf().map(|bytes| {
                    match raster::render_page_png(&bytes, page.saturating_sub(1), width) {
                        Ok(png) => {
                            if let Err(err) = write_atomically(&path, &png) {
                                tracing::warn!(path = %path.display(), error = %err, "keeping a page image failed");
                            }
                            PageImage::Png(png)
                        }
                        Err(err) => {
                            tracing::info!(document = sha256, page, error = %err, "a page cannot be drawn");
                            PageImage::Unavailable(err.to_string())
                        }
                    }
                }),
            }
        };
        // The last one out forgets the page's lock.
        let mut drawing = self.drawing.lock().unwrap_or_else(|p| p.into_inner());
        drop(turn);
        if drawing
            .get(&path)
            .is_some_and(|t| Arc::strong_count(t) == 1)
        {
            drawing.remove(&path);
        }
        image
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

impl Esign {
    fn document_bytes(&self, document: &EnvelopeDocument) -> Result<Vec<u8>, EsignError> {
        Ok(self.store.blobs.get(&document.sha256)?.ok_or_else(|| {
            StoreError::Io(std::io::Error::other(format!(
                "blob {} is missing",
                document.sha256
            )))
        })?)
    }

    /// Pages and placed fields of document `index` of the envelope, for the signing page. A
    /// PDF that cannot be read for it gives an empty layout (the page then offers the
    /// download only).
    pub fn document_layout(
        &self,
        document: &EnvelopeDocument,
        index: usize,
        fields: &[Field],
    ) -> Result<DocumentLayout, EsignError> {
        let bytes = self.document_bytes(document)?;
        let Ok(pdf) = crate::pdf::incremental::load(&bytes) else {
            return Ok(DocumentLayout::default());
        };
        let page_ids: Vec<_> = pdf.get_pages().into_values().collect();
        let pages = page_ids
            .iter()
            .map(|id| PageGeometry::of(&pdf, *id).display_size())
            .collect();
        let mut placed = Vec::new();
        for (number, field) in fields.iter().enumerate() {
            if field.document_index as usize != index {
                continue;
            }
            // An anchor no longer found is for sealing to report; the page shows the rest.
            if let Ok(Some((page, rect))) = place_field(&pdf, &page_ids, field) {
                placed.push(PlacedField {
                    number,
                    page,
                    rect,
                    field_type: field.field_type,
                    recipient_email: field.recipient_email.clone(),
                });
            }
        }
        Ok(DocumentLayout {
            pages,
            fields: placed,
        })
    }

    /// The layouts of a signing view's documents (none while it may not see them).
    pub fn signing_layouts(
        &self,
        view: &super::SigningView,
    ) -> Result<Vec<DocumentLayout>, EsignError> {
        if !view.documents_visible() {
            return Ok(Vec::new());
        }
        view.envelope
            .documents
            .iter()
            .enumerate()
            .map(|(index, document)| self.document_layout(document, index, &view.envelope.fields))
            .collect()
    }

    /// Page `page` (from 1) of document `index` as an image `width` pixels wide (one of
    /// [`raster::WIDTHS`]), for the holder of a signing token who may see the documents.
    pub fn signing_page_image(
        &self,
        token: &str,
        index: usize,
        page: usize,
        width: u16,
    ) -> Result<PageImage, EsignError> {
        let document = self.visible_document(token, index)?;
        if !raster::WIDTHS.contains(&width) || page == 0 || page > document.page_count as usize {
            return Err(super::signing::not_found());
        }
        self.page_images.get(&document.sha256, page, width, || {
            self.document_bytes(&document)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn contract() -> Vec<u8> {
        crate::pdf::render::render_template(
            "t.md.hbs",
            "# Contract\n\nBetween Acme and **Ann**.\n",
            &serde_json::json!({}),
        )
        .unwrap()
        .pdf
    }

    #[test]
    fn many_first_views_at_once_draw_the_page_once() {
        let dir = tempfile::tempdir().unwrap();
        let images = Arc::new(PageImages::new(dir.path().to_path_buf()));
        let pdf = Arc::new(contract());
        let reads = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let viewers: Vec<_> = (0..8)
            .map(|_| {
                let (images, pdf, reads, barrier) =
                    (images.clone(), pdf.clone(), reads.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    images
                        .get("abc", 1, raster::PHONE_WIDTH, || {
                            reads.fetch_add(1, Ordering::SeqCst);
                            Ok(pdf.to_vec())
                        })
                        .unwrap()
                })
            })
            .collect();
        let seen: Vec<PageImage> = viewers.into_iter().map(|v| v.join().unwrap()).collect();
        assert_eq!(reads.load(Ordering::SeqCst), 1, "drawn once");
        assert!(seen.iter().all(|s| s == &seen[0]));
        assert!(matches!(seen[0], PageImage::Png(_)));
        assert!(dir.path().join("abc/1-720.png").exists());
        assert!(
            images.drawing.lock().unwrap().is_empty(),
            "no lock left behind"
        );
        // What cannot be drawn is a placeholder, not an error.
        let unavailable = images
            .get("bad", 1, raster::PHONE_WIDTH, || Ok(b"not a pdf".to_vec()))
            .unwrap();
        assert!(matches!(unavailable, PageImage::Unavailable(_)));
    }
}
