//! The service's web page at `/`: a search by position, by star or in ADQL, a results
//! table with a sky plot, and a page per star (its facts, its light curve drawn in the
//! browser with a periodogram and a folded curve, downloads, reference images and SODA
//! cutouts), and "send to TOPCAT / Aladin" through SAMP's Web Profile. Plain HTML, CSS
//! and JavaScript compiled into the binary (`portal/`), with no library and no build
//! step; the page calls the service's own TAP, DataLink and SODA endpoints, so that it
//! shows what programs get. Every answer carries a Content-Security-Policy that allows
//! only the service's own scripts, styles, images and requests, and requests to a SAMP
//! hub on the user's own machine.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;

use super::{AppState, xml_escape};

const INDEX: &str = include_str!("portal/index.html");
const SCRIPT: &str = include_str!("portal/app.js");
const STYLE: &str = include_str!("portal/style.css");
const ICON: &str = include_str!("portal/icon.svg");

/// The page's Content-Security-Policy: nothing from elsewhere but the SAMP Web Profile's
/// hub on the user's machine (port 21012, the profile's), no inline script or style.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; \
     connect-src 'self' http://localhost:21012 http://127.0.0.1:21012; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(index))
        .route(
            "/portal/app.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/portal/style.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
        .route(
            "/portal/icon.svg",
            get(|| async { asset(ICON, "image/svg+xml") }),
        )
        // Browsers ask for it whatever the page says.
        .route(
            "/favicon.ico",
            get(|| async { asset(ICON, "image/svg+xml") }),
        )
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

async fn index(State(state): State<Arc<AppState>>) -> Response {
    let snap = state.versions.current().await;
    let survey = snap
        .engine
        .catalog()
        .map(|c| c.manifest.survey.clone())
        .unwrap_or_else(|| snap.schema.clone());
    let page = INDEX
        .replace("{{SCHEMA}}", &xml_escape(&snap.schema))
        .replace("{{TITLE}}", &xml_escape(&format!("{survey} catalogue")))
        .replace("{{VERSION}}", env!("CARGO_PKG_VERSION"));
    let mut r = asset("", "text/html; charset=utf-8");
    *r.body_mut() = Body::from(page);
    r
}
