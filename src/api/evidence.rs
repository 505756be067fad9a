//! `/envelopes/{id}/signed-document` and `/envelopes/{id}/audit-trail`: the sealed evidence,
//! always `application/pdf` (whatever the client's `Accept` says).

use super::error::ApiError;
use super::extract::{ApiPath, Caller};
use super::{AppState, ErrorBody};
use crate::esign::model::Scope;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signed_document))
        .routes(routes!(audit_trail))
}

fn pdf_response(bytes: Vec<u8>, file_name: &str) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "application/pdf")], bytes).into_response();
    let disposition = super::content_disposition("attachment", file_name);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[utoipa::path(get, path = "/envelopes/{id}/signed-document", tag = "envelopes", params(("id" = String, Path)),
    responses((status = 200, description = "The signed PDF, certificate page included, sealed (PAdES)", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not COMPLETED yet (`envelope_not_completed`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn signed_document(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Response, ApiError> {
    let environment = caller.require(Scope::EnvelopesRead)?.environment;
    let esign = state.esign.clone();
    let name = format!("{id}-signed.pdf");
    let bytes = tokio::task::spawn_blocking(move || esign.signed_document(environment, &id))
        .await
        .map_err(|_| ApiError::internal())??;
    Ok(pdf_response(bytes, &name))
}

#[utoipa::path(get, path = "/envelopes/{id}/audit-trail", tag = "envelopes", params(("id" = String, Path)),
    responses((status = 200, description = "The sealed audit trail: every event, hash-chained", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not in a final state yet (`envelope_not_completed`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn audit_trail(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Response, ApiError> {
    let environment = caller.require(Scope::EnvelopesRead)?.environment;
    let name = format!("{id}-audit-trail.pdf");
    let bytes = state
        .sealing
        .with_sealer(state.esign.clone(), move |esign, sealer| {
            esign.audit_trail(environment, &id, sealer)
        })
        .await
        .map_err(|_| ApiError::internal())??;
    Ok(pdf_response(bytes, &name))
}
