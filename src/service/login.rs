//! `/login` and `/logout` (docs/ACCESS.md): a user's password, sent with HTTP Basic or
//! posted in a form (`username`, `password`), exchanged for a sign-in cookie, as the
//! `ivoa_cookie` challenges of the 401 answers announce (IVOA AuthVO,
//! `standard_id="ivo://ivoa.net/sso#BasicAA"` and `#tls-with-password`); and the
//! cookie's session ended. The form reaches this handler as HTTP Basic (the
//! authentication middleware checks it, `form_sign_in`).
//!
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (another site's page
//! cannot make a browser send it: no cross-site request forgery of queries or jobs),
//! `Secure` when the service is reached over HTTPS, and lasts `session_hours`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;

use super::authentication::unauthorized;
use super::login_sessions::cookie_value;
use super::{AppState, Caller, text_response};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/login", get(login).post(login))
        .route("/logout", get(logout).post(logout))
}

/// A new session for the user the request's Basic credentials name.
async fn login(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
    headers: HeaderMap,
) -> Response {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
    let Some(user) = caller.identity.user.as_deref().filter(|_| basic) else {
        return unauthorized(
            &state,
            "sign in here with HTTP Basic, or a form of username and password, to get a cookie",
        );
    };
    let value = match state.authenticator.open_session(&caller.identity) {
        Ok(v) => v,
        Err(e) => return text_response(StatusCode::INTERNAL_SERVER_ERROR, format!("Error: {e}\n")),
    };
    let seconds = state.authenticator.sessions.lifetime().as_secs();
    let Some(cookie) = state
        .authenticator
        .sessions
        .set_cookie(&state.base_url, &value, seconds)
    else {
        return text_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error: no cookie\n".into(),
        );
    };
    let mut r = text_response(
        StatusCode::OK,
        format!("Signed in as {user} for {} h.\n", seconds / 3600),
    );
    r.headers_mut().insert(header::SET_COOKIE, cookie);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Ends the session of the request's cookie, and tells the client to forget it.
async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let ended = cookie_value(&headers, state.authenticator.sessions.cookie())
        .is_some_and(|v| state.authenticator.sessions.close(v));
    let said = if ended {
        "Signed out.\n"
    } else {
        "No session to end.\n"
    };
    let mut r = text_response(StatusCode::OK, said.into());
    r.headers_mut().insert(
        header::SET_COOKIE,
        state.authenticator.sessions.forget_cookie(&state.base_url),
    );
    r
}
