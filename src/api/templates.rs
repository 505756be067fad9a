//! `/templates` (extension routes; the Certyneo list `GET /templates` is in `account.rs`):
//! create from uploaded documents, read whole, patch, delete; and
//! `POST /envelopes/{id}/save-as-template`.

use super::error::ApiError;
use super::extract::{parse_json, ApiJson, ApiPath, Caller, CreationKey, DeleteResult};
use super::{run_write, AppState, ErrorBody};
use crate::esign::model::Scope;
use crate::esign::{
    CreateTemplateRequest, EnvelopeTemplate, PatchTemplateRequest, SaveAsTemplateRequest,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_template))
        .routes(routes!(get_template, update_template, delete_template))
        .routes(routes!(save_envelope_as_template))
}

fn created(template: EnvelopeTemplate) -> Response {
    let location = format!("/api/v1/templates/{}", template.id);
    super::created(&location, template)
}

#[utoipa::path(post, path = "/templates", tag = "templates", request_body = CreateTemplateRequest,
    responses((status = 201, description = "Created", body = EnvelopeTemplate),
        (status = 400, description = "Invalid (`validation_failed` with `details`: a document or page that does not exist, an unknown or repeated role, …)", body = ErrorBody),
        (status = 409, description = "A SIGNER role has no SIGNATURE field (`signer_without_field`), or a document was deleted meanwhile (`document_missing`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_template(
    State(state): State<AppState>,
    caller: Caller,
    CreationKey(creation_key): CreationKey,
    ApiJson(request): ApiJson<CreateTemplateRequest>,
) -> Result<Response, ApiError> {
    let environment = caller.require(Scope::EnvelopesWrite)?.environment;
    let template = run_write(&state, move |esign| {
        esign.create_template(environment, request, creation_key.as_deref())
    })
    .await?;
    Ok(created(template))
}

#[utoipa::path(get, path = "/templates/{id}", tag = "templates", params(("id" = String, Path)),
    responses((status = 200, description = "The whole template", body = EnvelopeTemplate), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_template(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Json<EnvelopeTemplate>, ApiError> {
    let environment = caller.require(Scope::EnvelopesRead)?.environment;
    Ok(Json(state.esign.get_template(environment, &id)?))
}

#[utoipa::path(patch, path = "/templates/{id}", tag = "templates", params(("id" = String, Path)),
    request_body = PatchTemplateRequest,
    responses((status = 200, description = "Updated; checked as a whole like a new template", body = EnvelopeTemplate),
        (status = 400, description = "Invalid (`validation_failed` with `details`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A SIGNER role has no SIGNATURE field (`signer_without_field`), or the template kept changing meanwhile (`template_changed`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_template(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(patch): ApiJson<PatchTemplateRequest>,
) -> Result<Json<EnvelopeTemplate>, ApiError> {
    let environment = caller.require(Scope::EnvelopesWrite)?.environment;
    Ok(Json(
        run_write(&state, move |esign| {
            esign.update_template(environment, &id, patch)
        })
        .await?,
    ))
}

#[utoipa::path(delete, path = "/templates/{id}", tag = "templates", params(("id" = String, Path)),
    responses((status = 200, description = "Deleted; envelopes made from it are unaffected", body = DeleteResult),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_template(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Json<DeleteResult>, ApiError> {
    let environment = caller.require(Scope::EnvelopesWrite)?.environment;
    run_write(&state, move |esign| esign.delete_template(environment, &id)).await?;
    Ok(Json(DeleteResult { success: true }))
}

#[utoipa::path(post, path = "/envelopes/{id}/save-as-template", tag = "templates", params(("id" = String, Path)),
    request_body(content = Option<SaveAsTemplateRequest>, description = "Empty, `{}`, or a `name` (default: the envelope's subject) and `description`"),
    responses((status = 201, description = "Created from the envelope's original documents, its recipients as roles and its fields", body = EnvelopeTemplate),
        (status = 400, description = "Invalid (`validation_failed` with `details`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A signer of the envelope has no SIGNATURE field (`signer_without_field`), or a document's content is gone (`document_missing`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn save_envelope_as_template(
    State(state): State<AppState>,
    caller: Caller,
    CreationKey(creation_key): CreationKey,
    ApiPath(id): ApiPath,
    body: Bytes,
) -> Result<Response, ApiError> {
    let environment = caller.require(Scope::EnvelopesWrite)?.environment;
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        SaveAsTemplateRequest::default()
    } else {
        parse_json::<Option<SaveAsTemplateRequest>>(&body)?.unwrap_or_default()
    };
    let template = run_write(&state, move |esign| {
        esign.save_envelope_as_template(environment, &id, request, creation_key.as_deref())
    })
    .await?;
    Ok(created(template))
}
