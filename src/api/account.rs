//! `/account/me`, `/workspaces`, `/templates`: what integrations ask to test a connection and
//! fill their pickers.

use super::error::ApiError;
use super::extract::{ApiQuery, Caller, DataList, PageParams, Paginated};
use super::AppState;
use crate::esign::model::Scope;
use crate::esign::model_account::{Account, Template, Workspace};
use axum::extract::State;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(account_me))
        .routes(routes!(list_workspaces))
        .routes(routes!(list_templates))
}

#[utoipa::path(get, path = "/account/me", tag = "account",
    responses((status = 200, body = Account)), security(("bearer" = [])))]
pub async fn account_me(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(state.esign.account()?))
}

#[utoipa::path(get, path = "/workspaces", tag = "account",
    responses((status = 200, body = DataList<Workspace>)), security(("bearer" = [])))]
pub async fn list_workspaces(
    State(state): State<AppState>,
    _caller: Caller,
) -> Json<DataList<Workspace>> {
    Json(DataList {
        data: state.esign.workspaces(),
    })
}

#[utoipa::path(get, path = "/templates", tag = "account", params(PageParams),
    responses((status = 200, description = "Saved templates, newest first (`GET /templates/{id}` has the whole template)", body = Paginated<Template>)),
    security(("bearer" = [])))]
pub async fn list_templates(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<Paginated<Template>>, ApiError> {
    let environment = caller.require(Scope::EnvelopesRead)?.environment;
    let (page, limit) = params.resolve()?;
    let found = state.esign.list_templates(environment, page, limit)?;
    let summaries = found.items.iter().map(Template::from).collect();
    Ok(Json(Paginated::new(summaries, found.total, page, limit)))
}
