//! What signers see and receive: the pages behind `/sign/{token}` and the notification
//! emails. Handlers here are thin; every rule is in [`crate::esign`].

mod codes;
mod i18n;
pub mod mail;
mod pages;

use crate::esign::{Actor, Esign, EsignError, SignInput};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

pub use codes::CodeDelivery;
pub use mail::{run_mail_worker, Mailer};

/// What the signing pages' handlers reach.
#[derive(Clone)]
struct Pages {
    esign: Arc<Esign>,
    delivery: Arc<CodeDelivery>,
}

impl axum::extract::FromRef<Pages> for Arc<Esign> {
    fn from_ref(pages: &Pages) -> Self {
        pages.esign.clone()
    }
}

impl axum::extract::FromRef<Pages> for Arc<CodeDelivery> {
    fn from_ref(pages: &Pages) -> Self {
        pages.delivery.clone()
    }
}

const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; \
                        frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The signing pages' router.
pub fn router(esign: Arc<Esign>, delivery: Arc<CodeDelivery>) -> Router {
    Router::new()
        .route("/sign/assets/signature.js", get(signature_js))
        .route("/sign/assets/logo", get(logo))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/sign/{token}", get(show).post(act))
        .route("/sign/{token}/documents/{index}", get(document))
        .route(
            "/sign/{token}/documents/{index}/pages/{page}",
            get(page_image),
        )
        .with_state(Pages { esign, delivery })
}

/// Where a request comes from, for the audit trail.
pub struct ClientActor(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for ClientActor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(500).collect());
        Ok(ClientActor(Actor { ip, user_agent }))
    }
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn preferred_language(headers: &HeaderMap) -> &'static str {
    crate::i18n::from_accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
}

fn failure(err: EsignError, headers: &HeaderMap) -> Response {
    match err {
        EsignError::NotFound { .. } => html(
            StatusCode::NOT_FOUND,
            pages::unknown_link_page(preferred_language(headers)),
        ),
        other => {
            tracing::error!(error = %other, "signing page failed");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                pages::unknown_link_page(preferred_language(headers)),
            )
        }
    }
}

async fn blocking<T: Send + 'static>(
    esign: &Arc<Esign>,
    work: impl FnOnce(&Esign) -> Result<T, EsignError> + Send + 'static,
) -> Result<T, EsignError> {
    let esign_for_work = esign.clone();
    let result = tokio::task::spawn_blocking(move || work(&esign_for_work))
        .await
        .map_err(|e| {
            EsignError::Store(crate::store::StoreError::Io(std::io::Error::other(
                e.to_string(),
            )))
        })??;
    esign.store().flush().await?;
    Ok(result)
}

/// The token of a signing path; a path that is not valid text opens nothing.
struct Token(String);

impl<S: Send + Sync> FromRequestParts<S> for Token {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(token)) => Ok(Token(token)),
            Err(_) => Err(html(
                StatusCode::NOT_FOUND,
                pages::unknown_link_page(preferred_language(&parts.headers)),
            )),
        }
    }
}

async fn show(
    State(esign): State<Arc<Esign>>,
    Token(token): Token,
    ClientActor(actor): ClientActor,
    headers: HeaderMap,
) -> Response {
    let opened = blocking(&esign, {
        let token = token.clone();
        move |esign| {
            let view = esign.open_signing(&token, &actor)?;
            let layouts = esign.signing_layouts(&view)?;
            Ok((view, layouts))
        }
    })
    .await;
    match opened {
        Ok((view, layouts)) => html(
            StatusCode::OK,
            pages::signing_page(&view, &layouts, &token, None),
        ),
        Err(err) => failure(err, &headers),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ActionForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    typed_name: String,
    #[serde(default)]
    consent: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    code: String,
}

fn decode_signature(data_url: Option<&str>) -> Result<Option<Vec<u8>>, String> {
    use base64::Engine;
    let Some(data_url) = data_url.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let encoded = data_url
        .strip_prefix("data:image/png;base64,")
        .ok_or_else(|| "the drawn signature must be a PNG image".to_string())?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map(Some)
        .map_err(|_| "the drawn signature could not be read".to_string())
}

async fn act(
    State(esign): State<Arc<Esign>>,
    State(delivery): State<Arc<CodeDelivery>>,
    Token(token): Token,
    ClientActor(actor): ClientActor,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: ActionForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let consent = form.consent.as_deref().is_some_and(|v| !v.is_empty());
    let drawn = decode_signature(form.signature.as_deref());
    let result = match (form.action.as_str(), drawn) {
        ("sign", Ok(drawn_png)) => {
            let field_values = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(name, value)| {
                    let number = name.strip_prefix("field_")?.parse::<u32>().ok()?;
                    Some((number, value))
                })
                .collect();
            let input = SignInput {
                typed_name: form.typed_name,
                drawn_png,
                consent,
                field_values,
            };
            let token = token.clone();
            blocking(&esign, move |esign| esign.sign(&token, input, &actor))
                .await
                .map(drop)
        }
        ("sign", Err(message)) => {
            return rerender(&esign, &token, &headers, &message, StatusCode::BAD_REQUEST).await
        }
        ("approve", _) => {
            let token = token.clone();
            blocking(&esign, move |esign| esign.approve(&token, consent, &actor))
                .await
                .map(drop)
        }
        ("decline", _) => {
            let (token, reason) = (token.clone(), form.reason);
            blocking(&esign, move |esign| esign.decline(&token, &reason, &actor))
                .await
                .map(drop)
        }
        ("send_code", _) => {
            let issued = {
                let token = token.clone();
                blocking(&esign, move |esign| esign.issue_code(&token, &actor)).await
            };
            match issued {
                Ok(Err(refusal)) => return code_refused(&esign, &token, &headers, refusal).await,
                Ok(Ok(issued)) => match delivery.send(&issued).await {
                    Ok(()) => Ok(()),
                    Err(reason) => {
                        tracing::warn!(channel = issued.channel.as_str(), to = %issued.masked, error = %reason, "a one-time code could not be sent");
                        let words = i18n::words(issued.language);
                        return rerender(
                            &esign,
                            &token,
                            &headers,
                            words.code_failed,
                            StatusCode::BAD_GATEWAY,
                        )
                        .await;
                    }
                },
                Err(err) => Err(err),
            }
        }
        ("verify_code", _) => {
            let (token_owned, code) = (token.clone(), form.code);
            match blocking(&esign, move |esign| {
                esign.verify_code(&token_owned, &code, &actor)
            })
            .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(refusal)) => {
                    return code_refused(&esign, &token, &headers, refusal).await;
                }
                Err(err) => Err(err),
            }
        }
        _ => {
            return rerender(
                &esign,
                &token,
                &headers,
                "unknown action",
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    };
    match result {
        // Post/redirect/get: a reload never submits twice.
        Ok(_) => Redirect::to(&format!("/sign/{token}")).into_response(),
        Err(EsignError::Invalid(issues)) => {
            let message = issues
                .iter()
                .map(|i| i.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            rerender(&esign, &token, &headers, &message, StatusCode::BAD_REQUEST).await
        }
        Err(EsignError::Conflict { .. }) => {
            // The state changed under the form (not your turn, voided, …): show where things stand.
            let page = rerender(&esign, &token, &headers, "", StatusCode::CONFLICT).await;
            page
        }
        Err(err) => failure(err, &headers),
    }
}

/// The code step again, saying why the code was not taken (or a new one not sent yet).
async fn code_refused(
    esign: &Arc<Esign>,
    token: &str,
    headers: &HeaderMap,
    refusal: crate::esign::CodeRefusal,
) -> Response {
    use crate::esign::CodeRefusal;
    let status = match refusal {
        CodeRefusal::Locked | CodeRefusal::NotNeeded => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    };
    rerender_with(esign, token, headers, status, |words| match refusal {
        CodeRefusal::Wrong { tries_left } => {
            words.code_wrong.replace("{n}", &tries_left.to_string())
        }
        CodeRefusal::TooSoon { wait_secs } => {
            words.code_wait.replace("{n}", &wait_secs.to_string())
        }
        CodeRefusal::Expired | CodeRefusal::NoCode => words.code_expired.to_string(),
        CodeRefusal::Locked | CodeRefusal::NotNeeded => String::new(),
    })
    .await
}

async fn rerender(
    esign: &Arc<Esign>,
    token: &str,
    headers: &HeaderMap,
    message: &str,
    status: StatusCode,
) -> Response {
    rerender_with(esign, token, headers, status, |_| message.to_string()).await
}

/// The signing page again with `status` and an error in the page's own language (none when
/// `message` makes it empty).
async fn rerender_with(
    esign: &Arc<Esign>,
    token: &str,
    headers: &HeaderMap,
    status: StatusCode,
    message: impl FnOnce(&i18n::Words) -> String,
) -> Response {
    let token_owned = token.to_string();
    let view = blocking(esign, move |esign| {
        let view = esign.open_signing(&token_owned, &Actor::default())?;
        let layouts = esign.signing_layouts(&view)?;
        Ok((view, layouts))
    })
    .await;
    match view {
        Ok((view, layouts)) => {
            let message = message(i18n::words(crate::esign::page_language(&view.envelope)));
            let error = Some(message.as_str()).filter(|m| !m.is_empty());
            html(status, pages::signing_page(&view, &layouts, token, error))
        }
        Err(err) => failure(err, headers),
    }
}

#[derive(Debug, Deserialize)]
struct DocumentQuery {
    download: Option<String>,
}

async fn document(
    State(esign): State<Arc<Esign>>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    Query(query): Query<DocumentQuery>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path((token, index))) = path else {
        return html(
            StatusCode::NOT_FOUND,
            pages::unknown_link_page(preferred_language(&headers)),
        );
    };
    let Ok(index) = index.parse::<usize>() else {
        return html(
            StatusCode::NOT_FOUND,
            pages::unknown_link_page(preferred_language(&headers)),
        );
    };
    let esign_for_work = esign.clone();
    let found =
        tokio::task::spawn_blocking(move || esign_for_work.signing_document(&token, index)).await;
    match found {
        Ok(Ok((document, bytes))) => {
            let disposition = if query.download.is_some() {
                "attachment"
            } else {
                "inline"
            };
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            );
            if let Ok(value) = HeaderValue::from_str(&crate::api::content_disposition(
                disposition,
                &document.name,
            )) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            headers.insert(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("SAMEORIGIN"),
            );
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("frame-ancestors 'self'"),
            );
            response
        }
        Ok(Err(err)) => failure(err, &headers),
        Err(_) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            pages::unknown_link_page("en"),
        ),
    }
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    w: Option<u16>,
}

/// A page of a document as an image, for the holder of the signing link only (private cache).
/// A page that cannot be drawn answers a placeholder saying so — never an error page in the
/// middle of the document.
async fn page_image(
    State(esign): State<Arc<Esign>>,
    path: Result<Path<(String, String, String)>, axum::extract::rejection::PathRejection>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let language = preferred_language(&headers);
    let parsed = path.ok().and_then(|Path((token, index, page))| {
        Some((
            token,
            index.parse::<usize>().ok()?,
            page.parse::<usize>().ok()?,
        ))
    });
    let (Some((token, index, page)), Ok(Query(query))) = (parsed, query) else {
        return html(StatusCode::NOT_FOUND, pages::unknown_link_page(language));
    };
    let width = query.w.unwrap_or(crate::pdf::raster::PHONE_WIDTH);
    let esign_for_work = esign.clone();
    let found = tokio::task::spawn_blocking(move || {
        esign_for_work.signing_page_image(&token, index, page, width)
    })
    .await;
    let (content_type, body) = match found {
        Ok(Ok(crate::esign::PageImage::Png(png))) => ("image/png", png),
        Ok(Ok(crate::esign::PageImage::Unavailable(_))) => (
            "image/svg+xml",
            pages::page_placeholder_svg(language).into_bytes(),
        ),
        Ok(Err(err)) => return failure(err, &headers),
        Err(_) => (
            "image/svg+xml",
            pages::page_placeholder_svg(language).into_bytes(),
        ),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The account's logo (404 without one). An SVG is served sandboxed: opened on its own it
/// runs nothing.
async fn logo(State(esign): State<Arc<Esign>>) -> Response {
    let Some(logo) = esign.logo() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = logo.bytes.clone().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(logo.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn signature_js() -> Response {
    let mut response = pages::SIGNATURE_JS.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
