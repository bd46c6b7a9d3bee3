//! Sign-in cookies (docs/ACCESS.md): `/login` exchanges a user's password, sent with HTTP
//! Basic, for a cookie that signs the following requests in, as the IVOA's `ivoa_cookie`
//! challenge (AuthVO, `standard_id="ivo://ivoa.net/sso#BasicAA"`) describes. A cookie is
//! 256 random bits; the service keeps its SHA-256 digest (never the value), with the
//! identity and the time it ends, in memory: a restart signs everyone out, and the
//! clients sign in again when challenged. A user removed from the users file, or whose
//! password changes, loses their sessions at the next request; one whose groups change
//! keeps them, with the new groups.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderValue;

use crate::access::users_file::UsersFile;
use crate::access::{Identity, secrets};

/// Sessions kept at most; beyond, the one ending first is ended.
const MAX_SESSIONS: usize = 100_000;

/// The sessions open now.
pub struct LoginSessions {
    cookie: String,
    lifetime: Duration,
    open: Mutex<HashMap<String, Session>>,
}

/// One open session.
struct Session {
    identity: Identity,
    ends: Instant,
    /// The digest of the user's password hash when it was opened.
    password: String,
}

impl LoginSessions {
    /// No session yet; each new one lasts `lifetime`. The cookie's name is the service's
    /// own (`skyql_session_` and 8 hexadecimal digits of its base URL's digest): a
    /// browser sends a host's cookies to each of its ports, and one service must not
    /// take another's cookie for a stale one of its own.
    pub fn new(lifetime: Duration, base_url: &str) -> LoginSessions {
        LoginSessions {
            cookie: format!("skyql_session_{}", &secrets::sha256_hex(base_url)[..8]),
            lifetime,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The cookie's name.
    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    /// How long a new session lasts.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The `Set-Cookie` value of the cookie `value` of the service at `base_url`, lasting
    /// `seconds` (`Secure` when the service is reached over HTTPS).
    pub fn set_cookie(&self, base_url: &str, value: &str, seconds: u64) -> Option<HeaderValue> {
        let secure = if base_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        let text = format!(
            "{}={value}; Path={}; Max-Age={seconds}; HttpOnly; SameSite=Strict{secure}",
            self.cookie,
            cookie_path(base_url)
        );
        HeaderValue::from_str(&text).ok()
    }

    /// The `Set-Cookie` value that makes a client forget the cookie.
    pub fn forget_cookie(&self, base_url: &str) -> HeaderValue {
        self.set_cookie(base_url, "", 0)
            .unwrap_or_else(|| HeaderValue::from_static("x=; Max-Age=0"))
    }

    /// A new session of `identity`, signed in with the password whose hash is
    /// `password_hash`: the cookie's value (given once, never kept).
    pub fn open(&self, identity: Identity, password_hash: &str) -> anyhow::Result<String> {
        let value = secrets::hex(&secrets::random_bytes::<32>()?);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.len() >= MAX_SESSIONS {
            let now = Instant::now();
            open.retain(|_, s| s.ends > now);
            if open.len() >= MAX_SESSIONS
                && let Some(first) = open
                    .iter()
                    .min_by_key(|(_, s)| s.ends)
                    .map(|(k, _)| k.clone())
            {
                open.remove(&first);
            }
        }
        open.insert(
            secrets::sha256_hex(&value),
            Session {
                identity,
                ends: Instant::now() + self.lifetime,
                password: secrets::sha256_hex(password_hash),
            },
        );
        Ok(value)
    }

    /// The identity of the session `value` opened, while it lasts.
    pub fn identity(&self, value: &str) -> Option<Identity> {
        let key = secrets::sha256_hex(value);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        match open.get(&key) {
            Some(s) if s.ends > Instant::now() => Some(s.identity.clone()),
            Some(_) => {
                open.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session `value` opened; whether there was one.
    pub fn close(&self, value: &str) -> bool {
        let key = secrets::sha256_hex(value);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.remove(&key).is_some()
    }

    /// Follows a users file read again: the sessions of users it no longer has, or whose
    /// password has changed, end; the others take their user's groups as they are now.
    pub fn follow(&self, users: &UsersFile) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, s| {
            let Some(user) = s.identity.user.as_deref().and_then(|n| users.user(n)) else {
                return false;
            };
            let same_password = user
                .password
                .as_deref()
                .is_some_and(|h| secrets::sha256_hex(h) == s.password);
            s.identity.groups = user.groups.clone();
            same_password
        });
    }
}

/// The path the cookie is sent for: the base URL's (`/` when it has none).
fn cookie_path(base_url: &str) -> &str {
    let after_scheme = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    match after_scheme.find('/') {
        Some(i) => &after_scheme[i..],
        None => "/",
    }
}

/// The value of cookie `name` among a request's `Cookie` headers.
pub fn cookie_value<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_gives_its_identity_until_it_ends_or_is_closed() {
        let sessions = LoginSessions::new(Duration::from_secs(60), "http://127.0.0.1:1");
        assert!(sessions.cookie().starts_with("skyql_session_"));
        assert_ne!(
            sessions.cookie(),
            LoginSessions::new(Duration::ZERO, "http://127.0.0.1:2").cookie()
        );
        let alice = Identity::user("alice", &["eros".to_string()]);
        let value = sessions.open(alice.clone(), "$argon2id$x").unwrap();
        assert_eq!(value.len(), 64);
        assert_eq!(sessions.identity(&value), Some(alice));
        assert_eq!(sessions.identity("0".repeat(64).as_str()), None);
        assert!(sessions.close(&value));
        assert_eq!(sessions.identity(&value), None);
        let short = LoginSessions::new(Duration::ZERO, "http://127.0.0.1:1");
        let gone = short
            .open(Identity::user("bob", &[]), "$argon2id$y")
            .unwrap();
        assert_eq!(short.identity(&gone), None);
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = axum::http::HeaderMap::new();
        headers.append(
            axum::http::header::COOKIE,
            "theme=dark; skyql_session=abc123 ; x=y".parse().unwrap(),
        );
        assert_eq!(cookie_value(&headers, "skyql_session"), Some("abc123"));
        assert_eq!(cookie_value(&headers, "absent"), None);
    }
}
