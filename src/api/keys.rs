//! `/keys`: list, create (secret shown once), revoke.

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller, PageParams, Paginated};
use super::{run_write, AppState, ErrorBody};
use crate::esign::model::{ApiKeyView, Scope};
use crate::esign::{CreatedKey, NewKey};
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

#[utoipa::path(get, path = "/keys", tag = "keys", params(PageParams),
    responses((status = 200, description = "Keys of the caller's environment", body = Paginated<ApiKeyView>)), security(("bearer" = [])))]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<Paginated<ApiKeyView>>, ApiError> {
    let environment = caller.require(Scope::KeysWrite)?.environment;
    let (page, limit) = params.resolve()?;
    let found = state.esign.list_keys(environment, page, limit)?;
    Ok(Json(Paginated::new(found.items, found.total, page, limit)))
}

#[utoipa::path(post, path = "/keys", tag = "keys", request_body = NewKey,
    responses((status = 201, description = "Created; `secret` is shown this once", body = CreatedKey),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewKey>,
) -> Result<Response, ApiError> {
    let key = caller.require(Scope::KeysWrite)?.clone();
    let created = run_write(&state, move |esign| esign.create_key_for(&key, &request)).await?;
    let location = format!("/api/v1/keys/{}", created.key.id);
    Ok(super::created(&location, created))
}

#[utoipa::path(delete, path = "/keys/{id}", tag = "keys", params(("id" = String, Path)),
    responses((status = 200, description = "Revoked; it fails with 401 from its next request", body = ApiKeyView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Json<ApiKeyView>, ApiError> {
    let environment = caller.require(Scope::KeysWrite)?.environment;
    Ok(Json(
        run_write(&state, move |esign| esign.revoke_key(environment, &id)).await?,
    ))
}
