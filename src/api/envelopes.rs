//! `/envelopes`: create (both request shapes), list, get, update a draft, delete or void.

use super::error::ApiError;
use super::extract::{
    parse_json, ApiJson, ApiPath, ApiQuery, Caller, CreationKey, PageParams, Paginated,
};
use super::{run_write, AppState, ErrorBody};
use crate::esign::model::{EnvelopeStatus, Scope};
use crate::esign::{
    CreateEnvelopeRequest, EnvelopeListQuery, EnvelopeView, FieldIssue, PatchEnvelopeRequest,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_envelopes, create_envelope))
        .routes(routes!(get_envelope, update_envelope, delete_envelope))
        .routes(routes!(send_envelope))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1-based page number (default 1; pages past the last are empty).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000000)]
    pub page: Option<String>,
    /// Items per page (default 20; values above 100 are treated as 100).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub limit: Option<String>,
    /// Only envelopes in this status.
    #[param(value_type = Option<EnvelopeStatus>)]
    pub status: Option<String>,
    /// (signbridge extension) A cursor for deep paging: only envelopes older than this one —
    /// pass the `id` of the last envelope of the page before; `page` then counts from it.
    /// Each page then costs the same however deep it is.
    #[param(value_type = Option<String>, pattern = "^env_[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    pub after: Option<String>,
}

#[utoipa::path(get, path = "/envelopes", tag = "envelopes", params(ListParams),
    responses((status = 200, description = "Newest first", body = Paginated<EnvelopeView>), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_envelopes(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Paginated<EnvelopeView>>, ApiError> {
    let environment = caller.require(Scope::EnvelopesRead)?.environment;
    let (page, limit) = PageParams {
        page: params.page,
        limit: params.limit,
    }
    .resolve()?;
    let status = match params
        .status
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(text) => Some(EnvelopeStatus::parse(text).ok_or_else(|| {
            let valid: Vec<&str> = EnvelopeStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::validation(&[FieldIssue::new(
                "status",
                format!("`{text}` is not a status; use one of {}", valid.join(", ")),
            )])
        })?),
    };
    let after = match params.after.as_deref() {
        None => None,
        Some(id) if crate::ids::IdKind::Envelope.matches(id) => {
            Some(id.to_ascii_uppercase().replacen("ENV_", "env_", 1))
        }
        Some(id) => {
            return Err(ApiError::validation(&[FieldIssue::new(
                "after",
                format!("`{id}` is not an envelope id"),
            )]))
        }
    };
    let found = state.esign.list_envelopes(
        environment,
        EnvelopeListQuery {
            page,
            limit,
            status,
            after,
        },
    )?;
    Ok(Json(Paginated::new(found.items, found.total, page, limit)))
}

#[utoipa::path(post, path = "/envelopes", tag = "envelopes", request_body = CreateEnvelopeRequest,
    responses((status = 201, description = "Created: DRAFT (three-step shape) or SENT (one-shot shape)", body = EnvelopeView),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_envelope(
    State(state): State<AppState>,
    caller: Caller,
    CreationKey(creation_key): CreationKey,
    ApiJson(request): ApiJson<CreateEnvelopeRequest>,
) -> Result<Response, ApiError> {
    let environment = caller.require(Scope::EnvelopesWrite)?.environment;
    let envelope = run_write(&state, move |esign| {
        esign.create_envelope(environment, request, creation_key.as_deref())
    })
    .await?;
    let location = format!("/api/v1/envelopes/{}", envelope.id);
    Ok(super::created(&location, envelope))
}

#[utoipa::path(get, path = "/envelopes/{id}", tag = "envelopes", params(("id" = String, Path)),
    responses((status = 200, body = EnvelopeView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_envelope(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Response, ApiError> {
    let environment = caller.require(Scope::EnvelopesRead)?.environment;
    let body = state.esign.envelope_json(environment, &id)?;
    Ok(super::json_body(body))
}

#[utoipa::path(patch, path = "/envelopes/{id}", tag = "envelopes", params(("id" = String, Path)),
    request_body = PatchEnvelopeRequest,
    responses((status = 200, body = EnvelopeView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not a DRAFT (`envelope_not_draft`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_envelope(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(patch): ApiJson<PatchEnvelopeRequest>,
) -> Result<Json<EnvelopeView>, ApiError> {
    let environment = caller.require(Scope::EnvelopesWrite)?.environment;
    Ok(Json(
        run_write(&state, move |esign| {
            esign.update_envelope(environment, &id, patch)
        })
        .await?,
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct VoidReason {
    /// Why the sender voids an envelope in flight.
    pub reason: Option<String>,
}

/// The answer to a delete: `{"success": true}`, plus the voided envelope when it was in flight.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteEnvelopeResult {
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envelope: Option<EnvelopeView>,
}

#[utoipa::path(delete, path = "/envelopes/{id}", tag = "envelopes", params(("id" = String, Path), VoidReason),
    request_body(content = Option<VoidReason>, description = "Optional `{\"reason\"}` when voiding"),
    responses((status = 200, description = "DRAFT deleted, or in-flight envelope VOIDED", body = DeleteEnvelopeResult),
        (status = 404, body = ErrorBody), (status = 409, description = "Already finished", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_envelope(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiQuery(query): ApiQuery<VoidReason>,
    body: Bytes,
) -> Result<Json<DeleteEnvelopeResult>, ApiError> {
    let environment = caller.require(Scope::EnvelopesWrite)?.environment;
    // No body, `null` and `{}` all mean "no reason given here".
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        VoidReason::default()
    } else {
        parse_json::<Option<VoidReason>>(&body)?.unwrap_or_default()
    };
    let reason = from_body.reason.or(query.reason);
    let voided = run_write(&state, move |esign| {
        esign.delete_or_void_envelope(environment, &id, reason.as_deref())
    })
    .await?;
    Ok(Json(DeleteEnvelopeResult {
        success: true,
        envelope: voided,
    }))
}

#[utoipa::path(post, path = "/envelopes/{id}/send", tag = "envelopes", params(("id" = String, Path)),
    request_body(content = Option<Object>, description = "Empty, `null` or `{}`"),
    responses((status = 200, description = "SENT; the first routing group is invited", body = EnvelopeView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not a DRAFT (`envelope_not_draft`), no signer (`no_signers`), no or deleted documents (`no_documents`, `document_missing`)", body = ErrorBody),
        (status = 422, description = "An anchor text is not in its document (`anchor_not_found`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn send_envelope(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    body: Bytes,
) -> Result<Json<EnvelopeView>, ApiError> {
    let environment = caller.require(Scope::EnvelopesWrite)?.environment;
    if !body.iter().all(u8::is_ascii_whitespace) {
        parse_json::<Option<serde_json::Map<String, serde_json::Value>>>(&body)?;
    }
    Ok(Json(
        run_write(&state, move |esign| esign.send_envelope(environment, &id)).await?,
    ))
}
