//! The OpenAPI 3 document, served at `/openapi` and `/openapi.json` without authentication.
//! Each route is declared once, with its handler (utoipa-axum's `routes!`), so the router and
//! the document cannot drift; the answers the middleware gives every operation — 401/403 from
//! authentication, 429 and the rate-limit headers, 400/413/415/408/503 around request bodies,
//! 422 and `Idempotent-Replayed` from idempotency — are added here by the same rules the
//! middleware follows, so no operation can forget them.

use super::{account, documents, envelopes, evidence, keys, templates, webhooks, AppState};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::{Arc, OnceLock};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "signbridge e-signature API",
        description = "A Certyneo-compatible e-signature API: documents, envelopes, templates, webhooks, API keys. Errors are always `{error, code, details?}`; every authenticated answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until the key's burst allowance is full again). A POST with an `Idempotency-Key` is done once: a retry with the same key and body gets the first answer again (with `Idempotent-Replayed: true`), the same key with another body a 422.",
        version = "1.0.0"
    ),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    components(schemas(super::ErrorBody)),
    tags(
        (name = "documents", description = "Upload and manage PDFs"),
        (name = "envelopes", description = "Create, follow and void envelopes"),
        (name = "templates", description = "Reusable documents with their fields and roles"),
        (name = "keys", description = "API keys"),
        (name = "account", description = "Account, workspaces, templates"),
        (name = "webhooks", description = "Signed event deliveries with retries and a delivery log"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every resource route with its handler and its part of the document.
pub fn resource_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(documents::router())
        .merge(envelopes::router())
        .merge(evidence::router())
        .merge(keys::router())
        .merge(account::router())
        .merge(templates::router())
        .merge(webhooks::router())
}

fn integer() -> Object {
    ObjectBuilder::new().schema_type(Type::Integer).build()
}

fn error(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

/// Adds `status` unless the operation documents it already.
fn add(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| error(description));
}

fn has_parameter(operation: &Operation, name: &str) -> bool {
    operation
        .parameters
        .iter()
        .flatten()
        .any(|p| p.name.eq_ignore_ascii_case(name))
}

fn idempotency_key() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes a retry safe: 1 to 255 visible ASCII characters, unique per request you mean to make once",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]([ -~]*[!-~])?$")),
        ))
        .build()
}

/// Multipart form fields are named in a header (`Content-Disposition: form-data; name="…"`):
/// extra fields are ignored, but their names must be header text.
fn form_field_names(document: &mut utoipa::openapi::OpenApi) {
    let Some(components) = document.components.as_mut() else {
        return;
    };
    if let Some(RefOr::T(utoipa::openapi::Schema::Object(form))) =
        components.schemas.get_mut("UploadForm")
    {
        form.property_names = Some(Box::new(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Za-z0-9_.\\[\\]-]+$"))
                .into(),
        ));
    }
}

/// OpenAPI links from each operation that creates an object (`POST /things`, answering its
/// `id`) to every operation on `/things/{id}…`, so clients and stateful testers can follow
/// them.
fn creation_links(document: &mut utoipa::openapi::OpenApi) {
    let mut targets: Vec<(String, String)> = Vec::new();
    for (path, item) in &document.paths.paths {
        for operation in [&item.get, &item.post, &item.patch, &item.delete]
            .into_iter()
            .flatten()
        {
            if let Some(id) = &operation.operation_id {
                targets.push((path.clone(), id.clone()));
            }
        }
    }
    for (path, item) in document.paths.paths.iter_mut() {
        let Some(create) = item.post.as_mut() else {
            continue;
        };
        let prefix = format!("{path}/{{id}}");
        for (status, response) in create.responses.responses.iter_mut() {
            let RefOr::T(response) = response else {
                continue;
            };
            if !status.starts_with('2') {
                continue;
            }
            let mut links = serde_json::Map::new();
            for (target_path, operation_id) in &targets {
                if target_path == &prefix || target_path.starts_with(&format!("{prefix}/")) {
                    links.insert(
                        operation_id.clone(),
                        serde_json::json!({
                            "operationId": operation_id,
                            "parameters": {"id": "$response.body#/id"},
                        }),
                    );
                }
            }
            if !links.is_empty() {
                // utoipa 5.5 writes `Link`'s fields in snake_case (`operation_id`), which no
                // OpenAPI reader knows: the links go in as plain JSON instead.
                response
                    .extensions
                    .get_or_insert_with(Default::default)
                    .insert("links".into(), serde_json::Value::Object(links));
            }
        }
    }
}

/// Completes every operation with what the middleware may answer (see the module comment).
fn complete(document: &mut utoipa::openapi::OpenApi) {
    form_field_names(document);
    creation_links(document);
    for (path, item) in document.paths.paths.iter_mut() {
        let has_path_parameters = path.contains('{');
        let methods: [(&str, &mut Option<Operation>); 4] = [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ];
        for (method, operation) in methods {
            let Some(operation) = operation.as_mut() else {
                continue;
            };
            let secured = operation.security.is_some();
            let has_body = operation.request_body.is_some();
            if method == "post" && secured {
                if !has_parameter(operation, "Idempotency-Key") {
                    operation
                        .parameters
                        .get_or_insert_with(Vec::new)
                        .push(idempotency_key());
                }
                add(
                    operation,
                    "422",
                    "The request cannot be carried out (see `code`), or its Idempotency-Key was already used with another request (`idempotency_key_reused`)",
                );
            }
            let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
            if has_parameters || has_body || has_path_parameters {
                add(
                    operation,
                    "400",
                    "The request is invalid (`validation_failed` with `details`, `invalid_query`, `invalid_json`, `invalid_idempotency_key`, …)",
                );
            }
            if has_path_parameters {
                add(operation, "404", "No such object in the key's environment");
            }
            if has_body {
                add(
                    operation,
                    "408",
                    "The body arrived too slowly (`request_timeout`)",
                );
                add(
                    operation,
                    "413",
                    "The body is too large (`payload_too_large`)",
                );
                add(
                    operation,
                    "415",
                    "The body is not of a type this operation takes (`unsupported_media_type`)",
                );
                add(
                    operation,
                    "503",
                    "The server holds as many request bodies as it may; retry (`server_busy`, with `Retry-After`)",
                );
            }
            if secured {
                add(
                    operation,
                    "401",
                    "No valid API key (`missing_api_key`, `invalid_api_key`, `api_key_revoked`, `ambiguous_credentials`)",
                );
                add(
                    operation,
                    "403",
                    "The key lacks the scope this operation needs (`insufficient_scope`)",
                );
                add(
                    operation,
                    "429",
                    "The key's rate limit is exceeded (`rate_limited`); retry after `Retry-After` seconds",
                );
            }
            for (status, response) in operation.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                if secured && status != "401" {
                    for (name, description) in [
                        ("X-RateLimit-Limit", "Requests a minute this key may make"),
                        (
                            "X-RateLimit-Remaining",
                            "Requests left in the current allowance",
                        ),
                        (
                            "X-RateLimit-Reset",
                            "Seconds until the allowance is full again",
                        ),
                    ] {
                        response.headers.entry(name.into()).or_insert_with(|| {
                            HeaderBuilder::new()
                                .schema(integer())
                                .description(Some(description))
                                .build()
                        });
                    }
                }
                if status == "429" || status == "503" {
                    response
                        .headers
                        .entry("Retry-After".into())
                        .or_insert_with(|| {
                            HeaderBuilder::new()
                                .schema(integer())
                                .description(Some("Seconds to wait before retrying"))
                                .build()
                        });
                }
                if method == "post" && secured && status.starts_with('2') {
                    response
                        .headers
                        .entry("Idempotent-Replayed".into())
                        .or_insert_with(|| {
                            HeaderBuilder::new()
                                .schema(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["true"])))
                                .description(Some(
                                    "`true` when this is the stored answer to an earlier request with the same Idempotency-Key",
                                ))
                                .build()
                        });
                }
            }
        }
    }
}

/// The whole document.
pub fn document() -> Arc<utoipa::openapi::OpenApi> {
    static DOCUMENT: OnceLock<Arc<utoipa::openapi::OpenApi>> = OnceLock::new();
    DOCUMENT
        .get_or_init(|| {
            let mut document = resource_routes().into_openapi();
            complete(&mut document);
            Arc::new(document)
        })
        .clone()
}

/// The document as JSON text.
pub fn openapi_json() -> String {
    document().to_pretty_json().unwrap_or_else(|_| "{}".into())
}

pub fn router() -> Router<AppState> {
    let serve = || async { Json(document().as_ref().clone()) };
    Router::new()
        .route("/openapi", get(serve))
        .route("/openapi.json", get(serve))
}
