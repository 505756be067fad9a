//! The OpenAPI 3 document, generated from the handlers' annotations and the types they use,
//! served at `/openapi` and `/openapi.json` without authentication.

use super::AppState;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "signbridge e-signature API",
        description = "A Certyneo-compatible e-signature API: documents, envelopes, API keys. Errors are always `{error, code, details?}`; every authenticated answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (seconds until the key's burst allowance is full again).",
        version = "1.0.0"
    ),
    servers((url = "/api/v1")),
    paths(
        super::documents::upload_document,
        super::documents::list_documents,
        super::documents::get_document,
        super::documents::document_content,
        super::documents::delete_document,
        super::envelopes::list_envelopes,
        super::envelopes::create_envelope,
        super::envelopes::get_envelope,
        super::envelopes::update_envelope,
        super::envelopes::delete_envelope,
        super::envelopes::send_envelope,
        super::evidence::signed_document,
        super::evidence::audit_trail,
        super::keys::list_keys,
        super::keys::create_key,
        super::keys::revoke_key,
        super::account::account_me,
        super::account::list_workspaces,
        super::account::list_templates,
        super::webhooks::list_webhooks,
        super::webhooks::create_webhook,
        super::webhooks::delete_webhook,
        super::webhooks::list_deliveries,
        super::webhooks::retry_delivery,
        super::webhooks::test_webhook,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "documents", description = "Upload and manage PDFs"),
        (name = "envelopes", description = "Create, follow and void envelopes"),
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

/// The document as JSON text.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into())
}

pub fn router() -> Router<AppState> {
    let serve = || async { Json(ApiDoc::openapi()) };
    Router::new()
        .route("/openapi", get(serve))
        .route("/openapi.json", get(serve))
}
