//! `/webhooks`: subscribe, list, unsubscribe, the delivery log, replay and a test ping.

use super::error::ApiError;
use super::extract::{
    ApiJson, ApiPath, ApiQuery, Caller, DataList, DeleteResult, PageParams, Paginated,
};
use super::{AppState, ErrorBody};
use crate::esign::model::Scope;
use crate::esign::EsignError;
use crate::webhooks::model::{CreatedSubscription, Delivery, SubscriptionView};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(retry_delivery))
        .routes(routes!(test_webhook))
}

/// `POST /webhooks` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewWebhook {
    /// http(s) URL; private and loopback addresses are refused unless the server allows them
    /// (and, when the server has an allow-list, hosts not on it).
    #[schema(max_length = 2048, format = "uri")]
    pub url: String,
    /// Event names, e.g. `envelope.completed`.
    #[schema(min_items = 1)]
    pub events: Vec<String>,
    /// Default true.
    pub active: Option<bool>,
}

async fn durable<T>(state: &AppState, result: Result<T, EsignError>) -> Result<T, ApiError> {
    let value = result?;
    state.esign.store().flush().await.map_err(|err| {
        tracing::error!(error = %err, "flush failed");
        ApiError::internal()
    })?;
    Ok(value)
}

#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = DataList<SubscriptionView>)), security(("bearer" = [])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<DataList<SubscriptionView>>, ApiError> {
    let environment = caller.require(Scope::WebhooksWrite)?.environment;
    Ok(Json(DataList {
        data: state.webhooks.list(environment)?,
    }))
}

#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, description = "Subscribed; `secret` is shown this once", body = CreatedSubscription),
        (status = 400, description = "Unknown event (`validation_failed`) or private/loopback URL (`url_rejected`)", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewWebhook>,
) -> Result<Response, ApiError> {
    let environment = caller.require(Scope::WebhooksWrite)?.environment;
    let created = state
        .webhooks
        .create(
            environment,
            &request.url,
            &request.events,
            request.active.unwrap_or(true),
        )
        .await;
    let created = durable(&state, created).await?;
    let location = format!("/api/v1/webhooks/{}", created.subscription.id);
    Ok(super::created(&location, created))
}

#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = DeleteResult), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<Json<DeleteResult>, ApiError> {
    let environment = caller.require(Scope::WebhooksWrite)?.environment;
    durable(&state, state.webhooks.delete(environment, &id)).await?;
    Ok(Json(DeleteResult { success: true }))
}

#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path), PageParams),
    responses((status = 200, description = "Newest first, each with every attempt", body = Paginated<Delivery>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<Paginated<Delivery>>, ApiError> {
    let environment = caller.require(Scope::WebhooksWrite)?.environment;
    let (page, limit) = params.resolve()?;
    let found = state.webhooks.deliveries(environment, &id, page, limit)?;
    Ok(Json(Paginated::new(found.items, found.total, page, limit)))
}

#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202, description = "Queued again: a new round of attempts starts now", body = Delivery), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    let environment = caller.require(Scope::WebhooksWrite)?.environment;
    let Ok(Path((id, delivery_id))) = path else {
        return Err(ApiError::not_found("no delivery with that id exists"));
    };
    let delivery = durable(
        &state,
        state.webhooks.replay(environment, &id, &delivery_id),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}

#[utoipa::path(post, path = "/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 202, description = "A signed `ping` is on its way", body = Delivery), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn test_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    let environment = caller.require(Scope::WebhooksWrite)?.environment;
    let delivery = durable(&state, state.webhooks.ping(environment, &id)).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}
