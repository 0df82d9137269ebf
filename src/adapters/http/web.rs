//! The read-only web view's routes (`/`, `/rollouts/{id}`, `/rollouts/{id}/review`): who may see
//! them, and the HTML answer with a Content-Security-Policy that allows no script at all. The
//! pages themselves come from [`WebPages`] (`commands::web` in `serve`).
//!
//! Access follows the API's rule for what is sensitive: when `serve` listens on a loopback
//! address the view is open, like the read-only API; when it listens anywhere else the view needs
//! the admin token, as a bearer token or as the password of HTTP Basic (any user name) so that a
//! browser can ask for it; without a configured token it is disabled (403).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;

use super::{ApiError, AppState, auth};

/// No script, no external resource: inline styles and inline SVG only.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                       base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One page of the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebPage {
    /// `/`: every rollout.
    Rollouts,
    /// `/rollouts/{id}`.
    Rollout(String),
    /// `/rollouts/{id}/review`.
    Review(String),
}

/// Renders the pages; `Ok(None)` when the rollout does not exist.
pub trait WebPages: Send + Sync {
    /// The HTML of `page`.
    fn render(&self, page: WebPage) -> BoxFuture<'_, anyhow::Result<Option<String>>>;
}

/// Who may see the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebAccess {
    /// Anyone who can connect (`serve` listens on loopback).
    Open,
    /// Only with the admin token (`serve` listens beyond loopback).
    AdminToken,
}

impl WebAccess {
    /// The access rule for a server listening on `addr`.
    pub fn for_listener(addr: SocketAddr) -> WebAccess {
        if addr.ip().is_loopback() {
            WebAccess::Open
        } else {
            WebAccess::AdminToken
        }
    }
}

/// The web view as `serve` mounts it.
#[derive(Clone)]
pub struct WebView {
    /// What renders the pages.
    pub pages: Arc<dyn WebPages>,
    /// Who may see them.
    pub access: WebAccess,
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn plain(status: StatusCode, text: &str) -> Response {
    let mut response = (status, text.to_string()).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn answer(state: &AppState, headers: &HeaderMap, page: WebPage) -> Response {
    let Some(web) = &state.web else {
        return plain(StatusCode::NOT_FOUND, "the web view is not enabled");
    };
    if web.access == WebAccess::AdminToken {
        match auth::authorize_browser(state.admin_token.as_ref(), headers) {
            Ok(()) => {}
            Err(ApiError::Disabled) => {
                return plain(
                    StatusCode::FORBIDDEN,
                    "the web view is disabled: serve listens beyond loopback and no admin token is \
                     set (the environment variable named by server.admin_token_env)",
                );
            }
            Err(_) => {
                let mut response = plain(
                    StatusCode::UNAUTHORIZED,
                    "the web view needs the admin token (bearer, or as the Basic password)",
                );
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"evalgate\", charset=\"UTF-8\""),
                );
                return response;
            }
        }
    }
    match web.pages.render(page).await {
        Ok(Some(body)) => html(StatusCode::OK, body),
        Ok(None) => plain(StatusCode::NOT_FOUND, "no such rollout"),
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "web page failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// `GET /`.
pub async fn rollouts(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(&state, &headers, WebPage::Rollouts).await
}

/// `GET /rollouts/{id}`.
pub async fn rollout(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(&state, &headers, WebPage::Rollout(id)).await
}

/// `GET /rollouts/{id}/review`.
pub async fn review(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(&state, &headers, WebPage::Review(id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_is_open_on_loopback_only() {
        let open = |addr: &str| WebAccess::for_listener(addr.parse().unwrap());
        assert_eq!(open("127.0.0.1:9464"), WebAccess::Open);
        assert_eq!(open("[::1]:9464"), WebAccess::Open);
        assert_eq!(open("0.0.0.0:9464"), WebAccess::AdminToken);
        assert_eq!(open("10.1.2.3:9464"), WebAccess::AdminToken);
    }
}
