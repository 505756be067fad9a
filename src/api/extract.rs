//! Extractors that turn what a client sends into typed values or a clear [`ApiError`]:
//! JSON bodies (with the path of a wrong field), the authenticated caller, pagination.

use super::error::ApiError;
use crate::esign::model::{ApiKey, Scope};
use crate::esign::FieldIssue;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// The authenticated API key behind a request (set by the auth middleware).
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<ApiKey>);

impl Caller {
    /// 403 unless the key has `scope`.
    pub fn require(&self, scope: Scope) -> Result<&ApiKey, ApiError> {
        if self.0.scopes.contains(&scope) {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(
                "insufficient_scope",
                format!("Insufficient scope: {} required", scope.as_str()),
            ))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("missing_api_key", "an API key is required"))
    }
}

/// The hashed `Idempotency-Key` of a POST, if it carried one (set by the idempotency layer).
#[derive(Debug, Clone, Default)]
pub struct CreationKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for CreationKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<CreationKey>()
            .cloned()
            .unwrap_or_default())
    }
}

/// A JSON body. Malformed JSON, a wrong type or an unknown field become a 400 that names the
/// field; a non-JSON content type a 415.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
            let content_type = content_type
                .to_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let essence = content_type.split(';').next().unwrap_or_default().trim();
            if !(essence == "application/json" || essence.ends_with("+json") || essence.is_empty())
            {
                return Err(ApiError::unsupported_media_type(format!(
                    "expected Content-Type: application/json, got `{essence}`"
                )));
            }
        }
        let bytes = bytes::Bytes::from_request(request, state)
            .await
            .map_err(|_| {
                ApiError::bad_request("invalid_body", "the request body could not be read")
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Query parameters; a value of the wrong form is a 400 naming the parameter.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|err| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("the query string is invalid: {err}"),
                )
            })
    }
}

/// The `{id}` of a resource path; an id that is not valid text is a JSON 404 like any unknown id.
#[derive(Debug, Clone)]
pub struct ApiPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(id)| ApiPath(id))
            .map_err(|_| {
                ApiError::not_found("no object with that id exists (the id is not valid text)")
            })
    }
}

/// Numbers JSON writes with a zero fraction (`3.0`) are integers to JSON Schema, so to the
/// OpenAPI document: they become integers before the body meets the typed request.
fn integral_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|_| number.is_f64()) {
                if float.fract() == 0.0 && float.abs() <= 9_007_199_254_740_992.0 {
                    *number = serde_json::Number::from(float as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// Parses a JSON body with field paths in errors.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "empty_body",
            "the request body is empty; expected a JSON object",
        ));
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|inner| {
        ApiError::bad_request(
            "invalid_json",
            format!(
                "the body is not valid JSON: {inner} (line {}, column {})",
                inner.line(),
                inner.column()
            ),
        )
    })?;
    integral_numbers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::validation(&[FieldIssue::new(field, message)])
    })
}

/// `?page&limit` as the contract has them: page 1-based, limit default 20 and at most 100.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-based page number (default 1; pages past the last are empty).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000000)]
    pub page: Option<String>,
    /// Items per page (default 20; values above 100 are treated as 100).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub limit: Option<String>,
}

/// `page` (1 to 1,000,000) and `limit` (at least 1, above 100 treated as 100), as documented.
pub fn resolve_page(page: &Option<String>, limit: &Option<String>) -> Result<(u64, u64), ApiError> {
    let parse = |name: &'static str,
                 value: &Option<String>,
                 default: i64,
                 maximum: i64|
     -> Result<u64, ApiError> {
        match value.as_deref().map(str::trim) {
            None => Ok(default as u64),
            Some(text) => match text.parse::<i64>() {
                Ok(n) if (1..=maximum).contains(&n) => Ok(n as u64),
                _ if maximum < i64::MAX => Err(ApiError::validation(&[FieldIssue::new(
                    name,
                    format!("must be a whole number from 1 to {maximum}, got `{text}`"),
                )])),
                _ => Err(ApiError::validation(&[FieldIssue::new(
                    name,
                    format!("must be a whole number of at least 1, got `{text}`"),
                )])),
            },
        }
    };
    let page = parse("page", page, 1, 1_000_000)?;
    let limit = parse("limit", limit, 20, i64::MAX)?.min(100);
    Ok((page, limit))
}

impl PageParams {
    pub fn resolve(&self) -> Result<(u64, u64), ApiError> {
        resolve_page(&self.page, &self.limit)
    }
}

/// The `pagination` object of list responses.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
    pub pages: u64,
}

/// A list response: `{data, pagination}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Paginated<T: Serialize + ToSchema> {
    pub data: Vec<T>,
    pub pagination: Pagination,
}

impl<T: Serialize + ToSchema> Paginated<T> {
    pub fn new(data: Vec<T>, total: u64, page: u64, limit: u64) -> Self {
        Self {
            data,
            pagination: Pagination {
                total,
                page,
                page_size: limit,
                pages: total.div_ceil(limit.max(1)),
            },
        }
    }
}

/// `{"data": [...]}` without pagination.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DataList<T: Serialize + ToSchema> {
    pub data: Vec<T>,
}

/// `{"success": true}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeleteResult {
    pub success: bool,
}
