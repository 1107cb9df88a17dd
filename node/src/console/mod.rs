//! The web console: server-rendered pages for an organization's analysts
//! and approvers, served under `/console/` on the node's local API (TCP,
//! 127.0.0.1). It holds the API's authority and reuses its handlers: a
//! page calls the same `/v1` handler a script would (same `Reader`, same
//! publish, request and decision checks, same `NodeError` mapping) and
//! renders its answer as HTML.
//!
//! Security (see `SECURITY.md`, "The web console"): a login exchanges the
//! API token for a session cookie (`HttpOnly; SameSite=Strict;
//! Path=/console`), never a token in a URL (a request whose query names
//! `token` is refused); every form carries the session's CSRF token; every
//! POST must carry an `Origin` (the API's layer checks it is this
//! listener's, and the `Host`); every answer carries a strict
//! Content-Security-Policy, `nosniff`, `frame-ancestors 'none'` and
//! `Cache-Control: no-store`.

mod entry;
mod feed;
mod html;
mod network;
mod publish;
pub mod session;

use crate::api::{ApiError, ApiState};
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use html::{Frame, Section, esc, message, page};
use session::{LOGIN_COOKIE, SESSION_COOKIE, SESSION_LIFETIME, Session, cookie, random_secret, set_cookie};
use std::time::Instant;
use zeroize::Zeroize;

/// The Content-Security-Policy of every console answer: scripts, styles
/// and connections only from the node itself, no inline script or style,
/// no framing, forms only to the node.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The console's routes (merged into the API router).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(feed::feed))
        .route("/console/events", get(feed::events))
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", post(logout))
        .route("/console/publish", get(publish::form).post(publish::submit))
        .route("/console/entries/{id}", get(entry::show))
        .route("/console/entries/{id}/request", post(entry::request))
        .route("/console/requests/{id}/decide", post(entry::decide))
        .route("/console/hazardous", get(entry::queue))
        .route("/console/network", get(network::show))
        .route(
            "/console/assets/console.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/console/assets/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS) }),
        )
        .layer(middleware::from_fn(guard))
}

fn asset(content_type: &'static str, text: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// Refuses a token in the URL and a POST without `Origin`, then adds the
/// console's security headers to whatever the route answers.
async fn guard(request: Request, next: Next) -> Response {
    let token_in_url = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair.split('=').next() == Some("token")));
    let mut response = if token_in_url {
        bare_page(
            StatusCode::BAD_REQUEST,
            "Token in the address refused",
            "The API token never goes in a URL (it would stay in the history and in logs). \
             Nothing was done. Open /console/login and paste the token into the form.",
        )
    } else if request.method() == Method::POST && !request.headers().contains_key(header::ORIGIN) {
        bare_page(
            StatusCode::FORBIDDEN,
            "Request refused",
            "A console form must be sent by a browser from this console (no Origin header came with it). \
             Nothing was changed.",
        )
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn bare_page(status: StatusCode, title: &str, text: &str) -> Response {
    let main = format!(
        "{}<p><a href=\"/console/login\">Log in</a></p>",
        message("error", text)
    );
    (status, Html(page(title, Section::None, None, &main))).into_response()
}

/// A request from a logged-in session.
pub(crate) struct Authed {
    session: Session,
    org: String,
}

impl std::fmt::Debug for Authed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authed")
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

impl Authed {
    fn frame(&self) -> Frame<'_> {
        Frame {
            org: &self.org,
            csrf: &self.session.csrf,
        }
    }

    /// A signed-in page.
    fn page(&self, status: StatusCode, title: &str, section: Section, main: &str) -> Response {
        (status, Html(page(title, section, Some(&self.frame()), main))).into_response()
    }

    /// The page for an error of the API's handlers, with its status.
    fn failure(&self, title: &str, section: Section, error: &ApiError) -> Response {
        self.page(error.status(), title, section, &message("error", error.message()))
    }

    /// The hidden CSRF field for this session's forms.
    fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            esc(&self.session.csrf)
        )
    }

    /// Checks a form's CSRF token: `Some` page that says what happened if
    /// it is missing or not this session's.
    fn csrf_refusal(&self, form: &Fields, section: Section) -> Option<Response> {
        if self.session.csrf_matches(form.get("csrf")) {
            return None;
        }
        Some(self.page(
            StatusCode::FORBIDDEN,
            "Form expired",
            section,
            &message(
                "error",
                "This form is stale or did not come from this console (its CSRF token is missing or \
                 belongs to another session). Nothing was changed. Reload the page and send it again.",
            ),
        ))
    }
}

impl Authed {
    /// Reads a submitted form and checks its CSRF token; on failure, the
    /// page that says why (boxed: a response is large).
    fn form(
        &self,
        form: Result<Form<Vec<(String, String)>>, FormRejection>,
        title: &str,
        section: Section,
    ) -> Result<Fields, Box<Response>> {
        let form = Fields::read(form).map_err(|why| {
            Box::new(self.page(StatusCode::BAD_REQUEST, title, section, &message("error", &why)))
        })?;
        match self.csrf_refusal(&form, section) {
            Some(page) => Err(Box::new(page)),
            None => Ok(form),
        }
    }
}

impl FromRequestParts<ApiState> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Response> {
        let session =
            cookie(&parts.headers, SESSION_COOKIE).and_then(|id| state.console.find(id, Instant::now()));
        match session {
            Some(session) => {
                let roster = state.node.current_roster();
                let org = roster
                    .org_of(&state.node.org_key)
                    .unwrap_or("this organization")
                    .to_string();
                Ok(Authed { session, org })
            }
            None if parts.method == Method::GET => Err(Redirect::to("/console/login").into_response()),
            None => Err(bare_page(
                StatusCode::UNAUTHORIZED,
                "Not logged in",
                "You are not logged in, or your session has ended. Nothing was changed. Log in and send the form again.",
            )),
        }
    }
}

/// A submitted form's fields, in order; repeated names (check boxes) kept.
/// The values are wiped when dropped: they may hold withheld text.
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// Reads a form, or says on a page why it could not be read.
    fn read(form: Result<Form<Vec<(String, String)>>, FormRejection>) -> Result<Fields, String> {
        match form {
            Ok(Form(pairs)) => Ok(Fields(pairs)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(format!(
                "The form is over the limit of {} KiB and was not read. Nothing was changed; shorten the text.",
                crate::api::MAX_REQUEST_BYTES / 1024
            )),
            Err(e) => Err(format!("The form could not be read ({e}). Nothing was changed.")),
        }
    }

    /// The first value of `name`, trimmed, if not empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

impl Drop for Fields {
    fn drop(&mut self) {
        for (_, value) in &mut self.0 {
            value.zeroize();
        }
    }
}

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    let nonce = random_secret();
    let main = format!(
        "{}<p>Paste this node's API token: the file <code>api-token</code> in the node's data directory \
         (<code>riskmesh console</code> prints its path). The token stays in this form; the browser gets \
         a session cookie instead.</p>\
         <form method=\"post\" action=\"/console/login\" class=\"login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{nonce}\">\
         <label for=\"token\">API token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required autofocus>\
         <button type=\"submit\">Log in</button></form>",
        error.map(|e| message("error", e)).unwrap_or_default(),
    );
    let mut response = (status, Html(page("Log in", Section::None, None, &main))).into_response();
    if let Ok(value) = HeaderValue::from_str(&set_cookie(LOGIN_COOKIE, &nonce, 600)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn login_form(State(state): State<ApiState>, headers: axum::http::HeaderMap) -> Response {
    if cookie(&headers, SESSION_COOKIE).is_some_and(|id| state.console.find(id, Instant::now()).is_some()) {
        return Redirect::to("/console/").into_response();
    }
    login_page(StatusCode::OK, None)
}

async fn login(
    State(state): State<ApiState>,
    headers: axum::http::HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let form = match Fields::read(form) {
        Ok(form) => form,
        Err(why) => return login_page(StatusCode::BAD_REQUEST, Some(&why)),
    };
    let nonce_ok = match (cookie(&headers, LOGIN_COOKIE), form.get("csrf")) {
        (Some(cookie), Some(field)) => crate::api::constant_time_eq(cookie.as_bytes(), field.as_bytes()),
        _ => false,
    };
    if !nonce_ok {
        return login_page(
            StatusCode::FORBIDDEN,
            Some(
                "This login form is stale or did not come from this console (CSRF check failed). Try again.",
            ),
        );
    }
    let token_ok = form
        .get("token")
        .is_some_and(|t| crate::api::constant_time_eq(t.as_bytes(), state.token.as_bytes()));
    if !token_ok {
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some(
                "That is not this node's API token. Copy the whole content of the file api-token in the node's \
                 data directory (riskmesh console prints its path).",
            ),
        );
    }
    let session = state.console.create(Instant::now());
    let mut response = Redirect::to("/console/").into_response();
    let cookies = [
        set_cookie(SESSION_COOKIE, &session.id, SESSION_LIFETIME.as_secs()),
        set_cookie(LOGIN_COOKIE, "", 0),
    ];
    for value in cookies {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

async fn logout(
    State(state): State<ApiState>,
    authed: Authed,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    if let Err(page) = authed.form(form, "Log out", Section::None) {
        return *page;
    }
    state.console.end(&authed.session.id);
    let mut response = Redirect::to("/console/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&set_cookie(SESSION_COOKIE, "", 0)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
