//! Documents: uploads (PDF, or PNG/JPEG turned into a one-page PDF) checked, hashed and stored
//! as content-addressed blobs; listing, metadata, content and deletion.

use super::model::{Document, Envelope, EnvelopeStatus, Environment};
use super::validate::check_text;
use super::{env_key, Esign, EsignError};
use crate::ids::IdKind;
use crate::pdf::{admit_pdf, image_to_pdf, looks_like_pdf, sniff_image, PdfError};
use crate::store::listing;
use crate::store::{encode, get_json, sha256_hex_of, Page, StoreError};
use crate::store::{TxResult, TxTree};

/// A file as a client sent it.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    /// The `name` the client chose, if any.
    pub name: Option<String>,
    /// The file name of the upload, if any.
    pub file_name: Option<String>,
    pub bytes: bytes::Bytes,
}

/// A checked document, not yet stored.
pub(super) struct PreparedDocument {
    pub record: Document,
    pub pdf: Vec<u8>,
}

/// Adds `delta` to the reference count of a blob inside a transaction; returns the new count.
pub(super) fn adjust_blob_refs(refs: &TxTree<'_>, sha256: &str, delta: i64) -> TxResult<u64> {
    let current = refs
        .get(sha256.as_bytes())?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0);
    let next = current.saturating_add_signed(delta);
    if next == 0 {
        refs.remove(sha256.as_bytes())?;
    } else {
        refs.insert(sha256.as_bytes(), next.to_be_bytes())?;
    }
    Ok(next)
}

/// The display name of a document: the client's `name`, else the upload's file name without
/// any folder part, else `document.pdf`.
fn document_name(
    field: &str,
    chosen: Option<&str>,
    file_name: Option<&str>,
) -> Result<String, EsignError> {
    let from_file = file_name.map(|name| name.rsplit(['/', '\\']).next().unwrap_or(name));
    let name = chosen
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .or(from_file.map(str::trim).filter(|n| !n.is_empty()))
        .unwrap_or("document.pdf");
    check_text(field, name, 255, false).map_err(|issue| EsignError::Invalid(vec![issue]))?;
    Ok(name.to_string())
}

impl Esign {
    /// Checks an uploaded file and turns it into a PDF record (nothing is stored yet).
    pub(super) fn prepare_document(
        &self,
        environment: Environment,
        name_field: &str,
        name: Option<&str>,
        file_name: Option<&str>,
        bytes: &[u8],
    ) -> Result<PreparedDocument, EsignError> {
        if bytes.is_empty() {
            return Err(EsignError::BadRequest {
                code: "empty_file",
                message: "the uploaded file is empty".into(),
            });
        }
        if bytes.len() > self.limits.max_document_bytes {
            return Err(EsignError::TooLarge {
                limit: self.limits.max_document_bytes,
            });
        }
        let name = document_name(name_field, name, file_name)?;
        let (pdf, original_mime_type) = if looks_like_pdf(bytes) {
            (bytes.to_vec(), "application/pdf")
        } else if let Some(kind) = sniff_image(bytes) {
            (
                image_to_pdf(bytes, kind).map_err(EsignError::UnusablePdf)?,
                kind.mime_type(),
            )
        } else {
            return Err(EsignError::UnsupportedMediaType(
                "only PDF, PNG and JPEG files can be uploaded (the content is none of them)".into(),
            ));
        };
        let admitted = admit_pdf(&pdf).map_err(EsignError::UnusablePdf)?;
        let (pdf, info) = (admitted.pdf, admitted.info);
        let record = Document {
            id: self.ids.next(IdKind::Document),
            name,
            mime_type: "application/pdf".into(),
            original_mime_type: original_mime_type.into(),
            size: pdf.len() as u64,
            sha256: sha256_hex_of(&pdf),
            page_count: info.page_count,
            status: "READY".into(),
            environment,
            created_at: self.clock.now(),
        };
        Ok(PreparedDocument { record, pdf })
    }

    /// `POST /documents`. With an idempotency key, a repeat returns the first document.
    pub fn upload_document(
        &self,
        environment: Environment,
        upload: &UploadedFile,
        creation_key: Option<&str>,
    ) -> Result<Document, EsignError> {
        let creation_location =
            creation_key.map(|k| env_key(environment, &format!("documents/{k}")));
        if let Some(existing) = self.created_before(creation_location.as_deref(), |id| {
            self.get_document(environment, id)
        })? {
            return Ok(existing);
        }
        let prepared = self.prepare_document(
            environment,
            "name",
            upload.name.as_deref(),
            upload.file_name.as_deref(),
            &upload.bytes,
        )?;
        self.store.blobs.put(&prepared.pdf)?;
        let document = prepared.record;
        let record = encode(&document)?;
        let location = env_key(environment, &document.id);
        let env_name = environment.as_str();
        let turn = self.store.writer_turn();
        match turn.require_blobs([document.sha256.as_str()]) {
            // A deletion of a document with the same content released the blob just stored.
            Err(StoreError::BlobReleased(_)) => {
                self.store.blobs.put(&prepared.pdf)?;
            }
            other => other?,
        }
        turn.transaction(
            (
                &self.store.documents,
                &self.store.blob_refs,
                &self.store.creation_keys,
                &self.store.listing,
            ),
            |(documents, refs, creation_keys, listing_tree)| {
                documents.insert(location.as_slice(), record.as_slice())?;
                listing::count_in(listing_tree, env_name, "documents", &document.id, 1)?;
                adjust_blob_refs(refs, &document.sha256, 1)?;
                if let Some(key) = &creation_location {
                    creation_keys.insert(key.as_slice(), document.id.as_bytes())?;
                }
                Ok(())
            },
        )?;
        Ok(document)
    }

    /// The object an earlier request with the same idempotency key created, if any.
    pub(super) fn created_before<T>(
        &self,
        creation_location: Option<&[u8]>,
        load: impl Fn(&str) -> Result<T, EsignError>,
    ) -> Result<Option<T>, EsignError> {
        let Some(location) = creation_location else {
            return Ok(None);
        };
        match self.store.creation_keys.get(location)? {
            Some(id) => match load(&String::from_utf8_lossy(&id)) {
                Ok(found) => Ok(Some(found)),
                Err(EsignError::NotFound { .. }) => Ok(None),
                Err(err) => Err(err),
            },
            None => Ok(None),
        }
    }

    pub fn get_document(&self, environment: Environment, id: &str) -> Result<Document, EsignError> {
        get_json(&self.store.documents, &env_key(environment, id))?.ok_or_else(|| {
            EsignError::NotFound {
                kind: "document",
                id: id.to_string(),
            }
        })
    }

    /// The stored PDF bytes of a document.
    pub fn document_content(
        &self,
        environment: Environment,
        id: &str,
    ) -> Result<(Document, Vec<u8>), EsignError> {
        let document = self.get_document(environment, id)?;
        let bytes = self
            .store
            .blobs
            .get(&document.sha256)
            .map_err(StoreError::from)?
            .ok_or_else(|| {
                StoreError::Io(std::io::Error::other(format!(
                    "blob {} is missing",
                    document.sha256
                )))
            })?;
        Ok((document, bytes))
    }

    pub fn list_documents(
        &self,
        environment: Environment,
        page: u64,
        limit: u64,
    ) -> Result<Page<Document>, EsignError> {
        let total = listing::count(&self.store.listing, environment.as_str(), "documents")?;
        let skip = page.saturating_sub(1).saturating_mul(limit);
        let source = listing::ListSource {
            listing: &self.store.listing,
            environment: environment.as_str(),
            list: "documents",
            entries: &self.store.documents,
            entries_prefix: environment.prefix(""),
            kind: IdKind::Document.prefix(),
        };
        let entries = listing::page(&source, None, skip, limit)?;
        let items = entries
            .iter()
            .map(|(_, value)| serde_json::from_slice::<Document>(value))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::from)?;
        Ok(Page { items, total })
    }

    /// `DELETE /documents/{id}`: refused (409) while an envelope that left draft uses it; drafts
    /// that reference it keep the reference and will be refused at send.
    pub fn delete_document(&self, environment: Environment, id: &str) -> Result<(), EsignError> {
        // In one writer turn: no envelope can start using the document, or be sent, between
        // the usage check and the deletion. Its content goes once the deletion is durable.
        let turn = self.store.writer_turn();
        let document = self.get_document(environment, id)?;
        let usage_prefix = env_key(environment, &format!("{id}/"));
        let mut usage_keys = Vec::new();
        for entry in self.store.document_usage.scan_prefix(&usage_prefix) {
            let (key, _) = entry?;
            let envelope_id = String::from_utf8_lossy(&key[usage_prefix.len()..]).into_owned();
            let envelope: Option<Envelope> =
                get_json(&self.store.envelopes, &env_key(environment, &envelope_id))?;
            if let Some(envelope) = envelope {
                if envelope.status != EnvelopeStatus::Draft {
                    return Err(EsignError::Conflict {
                        code: "document_in_use",
                        message: format!(
                            "document {id} is used by envelope {envelope_id} ({}) and cannot be deleted",
                            envelope.status.as_str()
                        ),
                    });
                }
            }
            usage_keys.push(key);
        }
        let location = env_key(environment, id);
        let env_name = environment.as_str();
        let remaining = turn.transaction(
            (
                &self.store.documents,
                &self.store.document_usage,
                &self.store.blob_refs,
                &self.store.listing,
            ),
            |(documents, usage, refs, listing_tree)| {
                documents.remove(location.as_slice())?;
                listing::count_in(listing_tree, env_name, "documents", id, -1)?;
                for key in &usage_keys {
                    usage.remove(key)?;
                }
                adjust_blob_refs(refs, &document.sha256, -1)
            },
        )?;
        drop(turn);
        if remaining == 0 {
            self.store.release_blobs(&[document.sha256])?;
        }
        Ok(())
    }
}

impl From<PdfError> for EsignError {
    fn from(err: PdfError) -> Self {
        EsignError::UnusablePdf(err)
    }
}
