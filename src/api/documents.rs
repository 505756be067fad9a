//! `/documents`: upload (multipart), list, metadata, content, delete.

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery, Caller, CreationKey, DeleteResult, PageParams, Paginated};
use super::{run_write, AppState, ErrorBody};
use crate::esign::model::{Document, Scope};
use crate::esign::UploadedFile;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_documents, upload_document))
        .routes(routes!(get_document, delete_document))
        .routes(routes!(document_content))
}

/// The multipart form of an upload.
#[derive(ToSchema)]
#[allow(
    dead_code,
    reason = "describes the multipart form in the OpenAPI document; the handler reads the parts"
)]
pub struct UploadForm {
    /// The PDF, PNG or JPEG (50 MB at most). An image becomes a one-page PDF.
    #[schema(value_type = String, format = Binary, min_length = 1)]
    file: Vec<u8>,
    /// Display name; defaults to the uploaded file's own name. One line of text: no control
    /// or text-direction characters.
    #[schema(max_length = 255)]
    name: Option<String>,
}

#[utoipa::path(post, path = "/documents", tag = "documents",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "Stored", body = Document),
        (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, description = "Not a usable PDF", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload_document(
    State(state): State<AppState>,
    caller: Caller,
    CreationKey(creation_key): CreationKey,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let environment = caller.require(Scope::EnvelopesWrite)?.environment;
    let multipart = multipart.map_err(|_| {
        ApiError::unsupported_media_type(
            "send multipart/form-data with the document in a part named `file`",
        )
    })?;
    let upload = read_upload(multipart).await?;
    let document = run_write(&state, move |esign| {
        esign.upload_document(environment, &upload, creation_key.as_deref())
    })
    .await?;
    let location = format!("/api/v1/documents/{}", document.id);
    Ok(super::created(&location, document))
}

async fn read_upload(mut multipart: Multipart) -> Result<UploadedFile, ApiError> {
    let bad = |err: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(
            "invalid_multipart",
            format!("the multipart body is malformed: {}", err.body_text()),
        )
    };
    let mut file: Option<(Option<String>, bytes::Bytes)> = None;
    let mut name = None;
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        match field.name() {
            Some("file") if file.is_none() => {
                let file_name = field.file_name().map(str::to_string);
                let bytes = field.bytes().await.map_err(bad)?;
                file = Some((file_name, bytes));
            }
            Some("file") => {
                return Err(ApiError::bad_request(
                    "too_many_files",
                    "send one `file` part per upload",
                ));
            }
            Some("name") => {
                let text = field.text().await.map_err(bad)?;
                name = Some(text);
            }
            _ => {}
        }
    }
    let (file_name, bytes) = file.ok_or_else(|| {
        ApiError::bad_request(
            "missing_file",
            "the form has no part named `file`; send the document as `file`",
        )
    })?;
    Ok(UploadedFile {
        name,
        file_name,
        bytes,
    })
}

#[utoipa::path(get, path = "/documents", tag = "documents", params(PageParams),
    responses((status = 200, body = Paginated<Document>)), security(("bearer" = [])))]
pub async fn list_documents(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<Paginated<Document>>, ApiError> {
    let environment = caller.require(Scope::EnvelopesRead)?.environment;
    let (page, limit) = params.resolve()?;
    let found = state.esign.list_documents(environment, page, limit)?;
    Ok(Json(Paginated::new(found.items, found.total, page, limit)))
}

#[utoipa::path(get, path = "/documents/{id}", tag = "documents", params(("id" = String, Path)),
    responses((status = 200, body = Document), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_document(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Json<Document>, ApiError> {
    let environment = caller.require(Scope::EnvelopesRead)?.environment;
    Ok(Json(state.esign.get_document(environment, &id)?))
}

#[utoipa::path(get, path = "/documents/{id}/content", tag = "documents", params(("id" = String, Path)),
    responses((status = 200, description = "The stored PDF", content_type = "application/pdf", body = Vec<u8>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn document_content(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Response, ApiError> {
    let environment = caller.require(Scope::EnvelopesRead)?.environment;
    let esign = state.esign.clone();
    let (document, bytes) =
        tokio::task::spawn_blocking(move || esign.document_content(environment, &id))
            .await
            .map_err(|_| ApiError::internal())??;
    let disposition = super::content_disposition("inline", &document.name);
    let mut response = ([(header::CONTENT_TYPE, "application/pdf")], bytes).into_response();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[utoipa::path(delete, path = "/documents/{id}", tag = "documents", params(("id" = String, Path)),
    responses((status = 200, body = DeleteResult), (status = 404, body = ErrorBody), (status = 409, description = "An envelope that left draft uses it", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_document(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Json<DeleteResult>, ApiError> {
    let environment = caller.require(Scope::EnvelopesWrite)?.environment;
    run_write(&state, move |esign| esign.delete_document(environment, &id)).await?;
    Ok(Json(DeleteResult { success: true }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_disposition_keeps_the_exact_name() {
        assert_eq!(
            crate::api::content_disposition("inline", "Σύμβαση \"x\".pdf"),
            "inline; filename=\"_______ _x_.pdf\"; filename*=UTF-8''%CE%A3%CF%8D%CE%BC%CE%B2%CE%B1%CF%83%CE%B7%20%22x%22.pdf"
        );
    }
}
