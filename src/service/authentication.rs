//! Who each request speaks for (docs/ACCESS.md): HTTP Basic with a user's password, or
//! `Authorization: Bearer` with an API token, checked against the users file
//! (`users_file`), or the cookie `/login` gave ([`LoginSessions`]); anonymous otherwise,
//! when the service allows it (`anonymous`).
//!
//! Every request then carries its [`Caller`]: the identity and the catalogue's row rules
//! it is subject to now. Failed sign-ins are counted per account and per address: beyond
//! [`FREE_FAILURES`] in [`FAILURE_WINDOW`], that account or address gets 429 with
//! Retry-After until the window has passed. A password is checked with argon2id once,
//! then remembered (as a SHA-256 digest of the header, never in clear) for
//! [`REMEMBERED`], so that a client sending it with every request does not pay the hash
//! each time. Credentials are refused over plain HTTP except from loopback or behind an
//! HTTPS front (`public_url` = `https://...`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;

use super::AppState;
use super::config::JwtConfig;
use super::login_sessions::{LoginSessions, cookie_value};
use super::token_provider::TokenProvider;
use crate::access::file_stamp::FileStamp;
use crate::access::row_rules::{RowRules, rules_path};
use crate::access::table_grants::HiddenTables;
use crate::access::users_file::UsersFile;
use crate::access::{Identity, RowFilter, clock, secrets};

/// What a request may see: who asks, from where, and the row rules that hide rows from
/// them now.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The identity.
    pub identity: Identity,
    /// The rows hidden from it.
    pub rows: RowFilter,
    /// The tables hidden from it.
    pub tables: HiddenTables,
    /// The client's address (behind a trusted proxy, the one it forwarded).
    pub address: IpAddr,
}

impl Caller {
    /// What the per-caller limits count by: the user, or the address of an anonymous
    /// caller.
    pub fn key(&self) -> String {
        match &self.identity.user {
            Some(u) if self.identity.from_provider => format!("provider user {u}"),
            Some(u) => format!("user {u}"),
            None => format!("address {}", self.address),
        }
    }

    /// Whether a path that reads the catalogue without a plan (a fixed cone, star or
    /// light-curve plan, an image lookup) may answer this caller: only when no rule hides
    /// rows from them and no table is hidden from them.
    pub fn sees_everything(&self) -> bool {
        self.rows.is_empty() && self.tables.is_empty()
    }
}

/// Failed sign-ins allowed per account and per address in a window.
pub const FREE_FAILURES: u32 = 5;
/// The window failed sign-ins are counted in.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(300);
/// How long a checked password is remembered.
pub const REMEMBERED: Duration = Duration::from_secs(300);
/// Passwords remembered at most (the oldest forgotten first).
const REMEMBERED_MAX: usize = 10_000;

/// Paths answered without credentials even when `anonymous = false`: what a client reads
/// to learn how to sign in, and the web page's own files.
const OPEN_PATHS: [&str; 2] = ["/tap/capabilities", "/tap/availability"];

/// The users file as last read, the catalogue's rules as last read, and the counters.
pub struct Authenticator {
    users_path: Option<PathBuf>,
    users: Mutex<(FileStamp, Arc<UsersFile>)>,
    rules: Mutex<(FileStamp, Result<Arc<RowRules>, String>)>,
    remembered: Mutex<HashMap<String, (Identity, Instant)>>,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    /// Requests of each caller in the current minute.
    requests: Mutex<HashMap<String, (u32, Instant)>>,
    /// Queries each caller runs now.
    running: Arc<Mutex<HashMap<String, usize>>>,
    /// The time `SKYQL_NOW` sets, read at the start (else the system clock's, per request).
    fixed_now: Option<f64>,
    /// The OpenID Connect provider whose tokens are accepted (`[jwt]`).
    provider: Option<TokenProvider>,
    /// The sessions `/login` opened.
    pub sessions: LoginSessions,
}

impl Authenticator {
    /// Reads the users file (when configured), the catalogue's rules and the provider's
    /// keys.
    pub async fn new(
        users_path: Option<PathBuf>,
        jwt: Option<JwtConfig>,
        catalog: &std::path::Path,
        sessions: LoginSessions,
    ) -> anyhow::Result<Authenticator> {
        let users = match &users_path {
            Some(p) => (FileStamp::of(p), Arc::new(UsersFile::read(p)?)),
            None => (
                FileStamp::of(std::path::Path::new("")),
                Arc::new(UsersFile::default()),
            ),
        };
        let rules = RowRules::read(catalog)?;
        Ok(Authenticator {
            users_path,
            users: Mutex::new(users),
            rules: Mutex::new((FileStamp::of(&rules_path(catalog)), Ok(Arc::new(rules)))),
            remembered: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            requests: Mutex::new(HashMap::new()),
            running: Arc::new(Mutex::new(HashMap::new())),
            fixed_now: clock::fixed_now()?,
            provider: match jwt {
                Some(c) => Some(TokenProvider::new(c).await?),
                None => None,
            },
            sessions,
        })
    }

    /// The users file, read again when it has changed (`skyql users` while the service
    /// runs); a file that cannot be read keeps the last good one, and says so.
    fn users(&self) -> Arc<UsersFile> {
        let mut held = self.users.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = &self.users_path {
            let now = FileStamp::of(path);
            if now != held.0 {
                match UsersFile::read(path) {
                    Ok(f) => {
                        self.sessions.follow(&f);
                        *held = (now, Arc::new(f));
                        self.remembered
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clear();
                    }
                    Err(e) => {
                        eprintln!(
                            "skyql serve: {e:#}; the users file as it was read before stays in force"
                        );
                        held.0 = now;
                    }
                }
            }
        }
        held.1.clone()
    }

    /// A sign-in session of `identity`, a user of the users file (`/login`): the cookie's
    /// value.
    pub fn open_session(&self, identity: &Identity) -> anyhow::Result<String> {
        let users = self.users();
        let hash = identity
            .user
            .as_deref()
            .and_then(|n| users.user(n))
            .and_then(|u| u.password.as_deref())
            .ok_or_else(|| anyhow::anyhow!("only a user with a password opens a session"))?;
        self.sessions.open(identity.clone(), hash)
    }

    /// The catalogue's rules as they are on disk now (one `stat` per request); an error
    /// when the file cannot be read, so that nothing is answered without them.
    pub fn rules(&self, catalog: &std::path::Path) -> Result<Arc<RowRules>, String> {
        let stamp = FileStamp::of(&rules_path(catalog));
        let mut held = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        if held.0 != stamp {
            let read = RowRules::read(catalog)
                .map(Arc::new)
                .map_err(|e| format!("{e:#}"));
            if let Err(e) = &read {
                eprintln!("skyql serve: {e}; every query is refused until the rules can be read");
            }
            *held = (stamp, read);
        }
        held.1.clone()
    }

    /// Counts a request of `key` against `per_minute`: the seconds to wait when over it.
    fn over_rate(&self, key: &str, per_minute: u32) -> Option<u64> {
        if per_minute == 0 {
            return None;
        }
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if requests.len() >= REMEMBERED_MAX {
            requests.retain(|_, (_, since)| since.elapsed() < MINUTE);
        }
        let entry = requests
            .entry(key.to_string())
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() >= MINUTE {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        (entry.0 > per_minute).then(|| MINUTE.saturating_sub(entry.1.elapsed()).as_secs().max(1))
    }

    /// A running-query slot of `caller` within `limit` (0: no limit), held until dropped;
    /// the refusal when the caller runs that many already.
    pub fn query_slot(
        &self,
        caller: &Caller,
        limit: usize,
    ) -> Result<QuerySlot, super::QueryError> {
        let key = caller.key();
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let count = running.entry(key.clone()).or_insert(0);
        if limit > 0 && *count >= limit {
            return Err(super::QueryError::TooMany(format!(
                "{} runs {limit} queries already, the most one caller may run at once (queries_per_caller): wait for one to end",
                caller.identity.name()
            )));
        }
        *count += 1;
        Ok(QuerySlot {
            running: Arc::clone(&self.running),
            key,
        })
    }

    /// Whether `key` (`user NAME`, `address IP`) has failed too often; the seconds left.
    fn blocked(&self, key: &str) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (count, since) = failures.get(key)?;
        let left = FAILURE_WINDOW.checked_sub(since.elapsed())?;
        (*count >= FREE_FAILURES).then(|| left.as_secs().max(1))
    }

    fn failed(&self, keys: &[String]) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        for k in keys {
            let entry = failures.entry(k.clone()).or_insert((0, Instant::now()));
            entry.0 += 1;
        }
    }

    /// The identity of a request's `Authorization` header (anonymous without one), or
    /// the answer refusing it.
    async fn identify(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
        client: IpAddr,
        secure: bool,
    ) -> Result<Identity, Refusal> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return self.identify_cookie(headers, peer, secure);
        };
        if self.users_path.is_none() && self.provider.is_none() {
            return Err(Refusal::Unauthorized(
                "this service has no users: send no Authorization header".into(),
            ));
        }
        if !secure && !peer.is_loopback() {
            return Err(Refusal::Forbidden(
                "credentials are accepted over HTTPS only (or from this host): they were not checked".into(),
            ));
        }
        let address = format!("address {client}");
        if let Some(s) = self.blocked(&address) {
            return Err(Refusal::TooMany(s));
        }
        let text = value.to_str().unwrap_or("");
        let (scheme, credentials) = text.split_once(' ').unwrap_or((text, ""));
        let credentials = credentials.trim();
        let users = self.users();
        if scheme.eq_ignore_ascii_case("bearer")
            && let Some(provider) = &self.provider
            && !credentials.starts_with(secrets::TOKEN_PREFIX)
        {
            return match provider.identity(credentials).await {
                // A name of the users file is that user's (their jobs): the provider
                // may not speak for them.
                Ok(identity) if users.user(identity.name()).is_some() => {
                    Err(Refusal::Unauthorized(
                        "the token names a user of this service's users file: rename one of them"
                            .into(),
                    ))
                }
                Ok(identity) => Ok(identity),
                Err(why) => {
                    self.failed(&[address]);
                    Err(Refusal::Unauthorized(why.into()))
                }
            };
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            return match users.check_token(credentials, clock::system_mjd()) {
                Some(u) => Ok(Identity::user(&u.name, &u.groups)),
                None => {
                    self.failed(&[address]);
                    Err(Refusal::Unauthorized(
                        "the token is unknown, revoked or expired".into(),
                    ))
                }
            };
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            // The scheme is not echoed: a bare token sent without one would be.
            return Err(Refusal::Unauthorized(
                "unknown authorization scheme: Basic or Bearer".into(),
            ));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some((name, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return Err(Refusal::Unauthorized(
                "Basic credentials are base64 of NAME:PASSWORD".into(),
            ));
        };
        let account = format!("user {name}");
        if let Some(s) = self.blocked(&account) {
            return Err(Refusal::TooMany(s));
        }
        let key = secrets::sha256_hex(text);
        if let Some(identity) = self.remembered(&key) {
            return Ok(identity);
        }
        let (name, password) = (name.to_string(), password.to_string());
        // argon2id takes tens of milliseconds of one core: off the request threads.
        let checked = tokio::task::spawn_blocking(move || {
            users
                .check_password(&name, &password)
                .map(|u| Identity::user(&u.name, &u.groups))
        })
        .await
        .ok()
        .flatten();
        match checked {
            Some(identity) => {
                self.remember(key, identity.clone());
                Ok(identity)
            }
            None => {
                self.failed(&[address, account]);
                Err(Refusal::Unauthorized(
                    "unknown user or wrong password".into(),
                ))
            }
        }
    }

    /// The identity of a request's sign-in cookie (anonymous without one). A cookie the
    /// service does not know (it restarted, or the session ended) is refused, so that
    /// the client signs in again rather than read fewer rows unawares; it is not
    /// counted as a failed sign-in (a browser would send it again and again, and 256
    /// random bits are not guessed).
    fn identify_cookie(
        &self,
        headers: &HeaderMap,
        peer: IpAddr,
        secure: bool,
    ) -> Result<Identity, Refusal> {
        let Some(value) = cookie_value(headers, self.sessions.cookie()) else {
            return Ok(Identity::anonymous());
        };
        if !secure && !peer.is_loopback() {
            return Err(Refusal::Forbidden(
                "credentials are accepted over HTTPS only (or from this host): they were not checked".into(),
            ));
        }
        // The users file read again when it has changed ends its removed users' sessions.
        self.users();
        self.sessions.identity(value).ok_or(Refusal::StaleCookie)
    }

    fn remembered(&self, key: &str) -> Option<Identity> {
        let map = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(_, at)| at.elapsed() < REMEMBERED)
            .map(|(i, _)| i.clone())
    }

    fn remember(&self, key: String, identity: Identity) {
        let mut map = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= REMEMBERED_MAX {
            map.retain(|_, (_, at)| at.elapsed() < REMEMBERED);
            if map.len() >= REMEMBERED_MAX {
                map.clear();
            }
        }
        map.insert(key, (identity, Instant::now()));
    }
}

/// A caller's running query, counted until dropped.
pub struct QuerySlot {
    running: Arc<Mutex<HashMap<String, usize>>>,
    key: String,
}

impl Drop for QuerySlot {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = running.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(&self.key);
            }
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// Who made a request, for the audit log (a response extension: never sent).
#[derive(Debug, Clone)]
pub struct RequestOrigin {
    /// The user, when signed in.
    pub user: Option<String>,
    /// The client's address.
    pub address: IpAddr,
}

/// The address a request comes from: the peer's, or behind a trusted proxy the last
/// address of `X-Forwarded-For` (the one that proxy saw).
fn client_address(headers: &HeaderMap, peer: IpAddr, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .next_back()
        .unwrap_or(peer)
}

/// Why a request's credentials were refused.
enum Refusal {
    Unauthorized(String),
    Forbidden(String),
    TooMany(u64),
    /// A sign-in cookie the service does not know.
    StaleCookie,
}

/// The 401 answer, with the challenges of [`add_challenges`].
pub fn unauthorized(state: &AppState, message: &str) -> Response {
    let mut r = text(StatusCode::UNAUTHORIZED, message);
    add_challenges(state, r.headers_mut());
    r
}

/// The ways to sign in, as `WWW-Authenticate` challenges (IVOA AuthVO): HTTP Basic and
/// the cookie of `/login` when the service has users, bearer tokens (its own, or an
/// OpenID Connect provider's). Sent with a 401, and with the capabilities of a service
/// where signing in is possible.
pub fn add_challenges(state: &AppState, headers: &mut HeaderMap) {
    let config = &state.config;
    if config.users_file.is_some() {
        headers.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"skyql\""),
        );
        // `/login` takes the password in HTTP Basic and in a form.
        for standard in ["BasicAA", "tls-with-password"] {
            let cookie = format!(
                "ivoa_cookie standard_id=\"ivo://ivoa.net/sso#{standard}\", access_url=\"{}/login\"",
                state.base_url
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                headers.append(header::WWW_AUTHENTICATE, v);
            }
        }
    }
    if config.users_file.is_some() || config.jwt.is_some() {
        headers.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"skyql\""),
        );
    }
}

/// HTTP 429 with Retry-After.
fn too_many(message: &str, seconds: u64) -> Response {
    let mut r = text(StatusCode::TOO_MANY_REQUESTS, message);
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn text(status: StatusCode, message: &str) -> Response {
    super::text_response(status, format!("Error: {message}\n"))
}

/// The middleware: the request's [`Caller`] in its extensions, or the refusal; every
/// answer carries its [`RequestOrigin`] for the audit log.
pub async fn authenticate(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let address = client_address(request.headers(), peer.ip(), &state.config.trusted_proxies);
    let request = match form_sign_in(&state, request).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let (user, mut response) = admit(&state, peer.ip(), address, request, next).await;
    if let Some(name) = &user
        && let Ok(v) = HeaderValue::from_str(name)
    {
        response.headers_mut().insert("x-vo-authenticated", v);
    }
    response
        .extensions_mut()
        .insert(RequestOrigin { user, address });
    response
}

/// The largest form `/login` reads (a name and a password).
const LOGIN_FORM_BYTES: usize = 4096;

/// A `POST /login` of a form with `username` and `password` (IVOA SSO's
/// `tls-with-password`, as STILTS and browsers send it), as the same request with those
/// credentials in HTTP Basic: it is then checked as any other sign-in (HTTPS or loopback
/// only, failed sign-ins counted). Any other request is left as it is. A form posted by
/// another site's page is refused (its `Origin` or `Sec-Fetch-Site` says so): it would
/// sign the browser in as the other site's user (login cross-site request forgery).
async fn form_sign_in(state: &AppState, request: Request) -> Result<Request, Response> {
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if request.method() != axum::http::Method::POST
        || request.uri().path() != "/login"
        || !form
        || request.headers().contains_key(header::AUTHORIZATION)
    {
        return Ok(request);
    }
    if !same_site(state, request.headers()) {
        return Err(text(
            StatusCode::FORBIDDEN,
            "a sign-in form posted from another site is refused",
        ));
    }
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, LOGIN_FORM_BYTES).await else {
        return Err(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the sign-in form is larger than 4 KiB",
        ));
    };
    let (mut name, mut password) = (None, None);
    for (key, value) in form_urlencoded::parse(&bytes) {
        match key.as_ref() {
            "username" => name = Some(value.into_owned()),
            "password" => password = Some(value.into_owned()),
            _ => {}
        }
    }
    let (Some(name), Some(password)) = (name, password) else {
        return Err(text(
            StatusCode::BAD_REQUEST,
            "the sign-in form has a username and a password",
        ));
    };
    if name.contains(':') {
        return Err(text(StatusCode::BAD_REQUEST, "a user name has no ':'"));
    }
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"));
    let Ok(value) = HeaderValue::from_str(&format!("Basic {basic}")) else {
        return Err(text(StatusCode::BAD_REQUEST, "unreadable sign-in form"));
    };
    parts.headers.insert(header::AUTHORIZATION, value);
    Ok(Request::from_parts(parts, axum::body::Body::empty()))
}

/// Whether a request comes from the service's own pages or from no page at all (a
/// program): its `Sec-Fetch-Site` (browsers) is `same-origin` or `none`, and its `Origin`
/// is the service's own. A header a client does not send does not count against it.
fn same_site(state: &AppState, headers: &HeaderMap) -> bool {
    let fetch_site = headers
        .get("sec-fetch-site")
        .map(|v| v.to_str().unwrap_or(""));
    if fetch_site.is_some_and(|v| !matches!(v, "same-origin" | "none")) {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let own = url::Url::parse(&state.base_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    origin.to_str().is_ok_and(|o| !own.is_empty() && o == own)
}

/// The answer to a request from `address`, and the user it was made by.
async fn admit(
    state: &Arc<AppState>,
    peer: IpAddr,
    address: IpAddr,
    mut request: Request,
    next: Next,
) -> (Option<String>, Response) {
    let secure = state.base_url.starts_with("https://");
    let identity = match state
        .authenticator
        .identify(request.headers(), peer, address, secure)
        .await
    {
        Ok(i) => i,
        Err(Refusal::Unauthorized(m)) => return (None, unauthorized(state, &m)),
        Err(Refusal::StaleCookie) => {
            let mut r = unauthorized(
                state,
                "the sign-in cookie is unknown or has expired: sign in again (/login)",
            );
            r.headers_mut().insert(
                header::SET_COOKIE,
                state.authenticator.sessions.forget_cookie(&state.base_url),
            );
            return (None, r);
        }
        Err(Refusal::Forbidden(m)) => return (None, text(StatusCode::FORBIDDEN, &m)),
        Err(Refusal::TooMany(seconds)) => {
            let m = format!("too many failed sign-ins: try again in {seconds} s");
            return (None, too_many(&m, seconds));
        }
    };
    let user = identity.user.clone();
    let path = request.uri().path();
    if user.is_none() && !state.config.anonymous && !OPEN_PATHS.contains(&path) {
        return (
            None,
            unauthorized(state, "this service answers signed-in users only"),
        );
    }
    let now = (state.authenticator.fixed_now).unwrap_or_else(clock::system_mjd);
    let (rows, tables) = match state.authenticator.rules(&state.catalog) {
        Ok(rules) => (
            RowFilter::new(&rules, &identity, now),
            HiddenTables::new(&rules.grants, &identity, now),
        ),
        Err(e) => {
            let m = format!("the catalogue's access rules cannot be read: {e}");
            return (
                user,
                text(StatusCode::INTERNAL_SERVER_ERROR, &state.public_message(&m)),
            );
        }
    };
    let caller = Caller {
        identity,
        rows,
        tables,
        address,
    };
    let limit = state.config.requests_per_minute;
    let over = (limit > 0)
        .then(|| state.authenticator.over_rate(&caller.key(), limit))
        .flatten();
    if let Some(seconds) = over {
        let m = format!(
            "more than {limit} requests in a minute (requests_per_minute): try again in {seconds} s"
        );
        return (user, too_many(&m, seconds));
    }
    request.extensions_mut().insert(Arc::new(caller));
    (user, next.run(request).await)
}
