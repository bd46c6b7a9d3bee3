//! The OpenID Connect provider whose bearer tokens the service accepts (`[jwt]`,
//! docs/ACCESS.md), and its keys: read from a JWKS file at the start and again when the
//! file changes, or fetched from the provider's `jwks_uri` (`jwks_url`, or found in the
//! provider's discovery document `ISSUER/.well-known/openid-configuration` when neither
//! is given, and looked for there again after a failed fetch) at the start, every
//! `jwks_refresh_s`, and when a token names a key id the keys lack (a provider rotating
//! its keys), never more often than every [`MIN_FETCH_INTERVAL`]. Keys that cannot be read or fetched leave the last good ones
//! in force, and the log says so.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail};

use super::config::JwtConfig;
use crate::access::Identity;
use crate::access::file_stamp::FileStamp;
use crate::access::jwt::{Expected, KeySet, UNKNOWN_KEY_ID};

/// The shortest time between two fetches of the keys.
pub const MIN_FETCH_INTERVAL: Duration = Duration::from_secs(5);
/// How long a fetch may take, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest JWKS or discovery document read.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// Where the discovery document is, below the issuer.
const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Where the keys come from.
enum KeySource {
    File(std::path::PathBuf),
    Url {
        /// The keys' URL: given, or found in the discovery document (none until then).
        url: Mutex<Option<reqwest::Url>>,
        /// The discovery document, when the keys' URL is to be found there.
        discovery: Option<reqwest::Url>,
        client: reqwest::Client,
        refresh: Duration,
    },
}

/// The keys as last read, and when.
struct Held {
    keys: Arc<KeySet>,
    /// The file's stamp when it was read.
    stamp: Option<FileStamp>,
    /// When the keys were last fetched successfully.
    fetched: Option<Instant>,
    /// When a fetch was last tried.
    tried: Option<Instant>,
}

/// The provider and its keys as last read.
pub struct TokenProvider {
    source: KeySource,
    expected: Expected,
    held: Mutex<Held>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

impl TokenProvider {
    /// The provider of `config`, with its keys read (a file) or fetched (a URL: a fetch
    /// that fails at the start is said in the log and tried again at the next token).
    /// An error names the file or the setting and what is wrong with it.
    pub async fn new(config: JwtConfig) -> Result<TokenProvider> {
        let client = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .timeout(FETCH_TIMEOUT)
                .user_agent(concat!("skyql/", env!("CARGO_PKG_VERSION")))
                .build()
                .context("[jwt]: the service has no HTTP client")
        };
        let refresh = Duration::from_secs(config.jwks_refresh_s.max(60));
        let source = match (&config.jwks, &config.jwks_url) {
            (Some(path), None) => KeySource::File(path.clone()),
            (None, Some(url)) => KeySource::Url {
                url: Mutex::new(Some(provider_url(url, "jwks_url")?)),
                discovery: None,
                client: client()?,
                refresh,
            },
            (None, None) => {
                let issuer = config.issuer.trim_end_matches('/');
                KeySource::Url {
                    url: Mutex::new(None),
                    discovery: Some(provider_url(
                        &format!("{issuer}{DISCOVERY_PATH}"),
                        "issuer",
                    )?),
                    client: client()?,
                    refresh,
                }
            }
            (Some(_), Some(_)) => {
                bail!(
                    "[jwt] takes one of jwks (a file) and jwks_url (the provider's keys), not both"
                )
            }
        };
        let provider = TokenProvider {
            expected: Expected {
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                user_claim: config.user_claim.clone(),
                groups_claim: config.groups_claim.clone(),
            },
            held: Mutex::new(Held {
                keys: Arc::new(KeySet::default()),
                stamp: None,
                fetched: None,
                tried: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
            source,
        };
        match &provider.source {
            KeySource::File(path) => {
                let keys = read(path)?;
                let mut held = provider.lock();
                held.keys = Arc::new(keys);
                held.stamp = Some(FileStamp::of(path));
            }
            KeySource::Url { .. } => provider.fetch(false).await,
        }
        Ok(provider)
    }

    /// The identity a token gives now, or why it is refused.
    pub async fn identity(&self, token: &str) -> std::result::Result<Identity, &'static str> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        match &self.source {
            KeySource::File(path) => self.read_again(path),
            KeySource::Url { refresh, .. } => {
                let stale = self
                    .lock()
                    .fetched
                    .is_none_or(|at| at.elapsed() >= *refresh);
                if stale {
                    self.fetch(true).await;
                }
            }
        }
        let keys = Arc::clone(&self.lock().keys);
        match keys.identity(token, &self.expected, now) {
            // A key id the keys lack: the provider may have rotated its keys.
            Err(UNKNOWN_KEY_ID) if matches!(self.source, KeySource::Url { .. }) => {
                self.fetch(true).await;
                let keys = Arc::clone(&self.lock().keys);
                keys.identity(token, &self.expected, now)
            }
            other => other,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file read again when it has changed.
    fn read_again(&self, path: &std::path::Path) {
        let now = FileStamp::of(path);
        let mut held = self.lock();
        if held.stamp.as_ref() != Some(&now) {
            match read(path) {
                Ok(keys) => held.keys = Arc::new(keys),
                Err(e) => eprintln!("skyql serve: {e:#}; the keys read before stay in force"),
            }
            held.stamp = Some(now);
        }
    }

    /// Fetches the keys from the URL, unless a fetch was tried less than
    /// [`MIN_FETCH_INTERVAL`] ago (`limited`) or another request fetches them now.
    async fn fetch(&self, limited: bool) {
        let KeySource::Url {
            url: url_held,
            discovery,
            client,
            ..
        } = &self.source
        else {
            return;
        };
        let Ok(_one) = self.fetching.try_lock() else {
            // Another request fetches them: it is not waited for (the keys held serve).
            return;
        };
        if limited
            && self
                .lock()
                .tried
                .is_some_and(|at| at.elapsed() < MIN_FETCH_INTERVAL)
        {
            return;
        }
        self.lock().tried = Some(Instant::now());
        // The keys' URL once known (configured, or found in the discovery document).
        let keys_url = || url_held.lock().unwrap_or_else(|e| e.into_inner());
        let known = keys_url().clone();
        let url = match (known, discovery) {
            (Some(url), _) => url,
            (None, Some(document)) => {
                match discover(client, document, &self.expected.issuer).await {
                    Ok(found) => {
                        *keys_url() = Some(found.clone());
                        found
                    }
                    Err(e) => {
                        eprintln!("skyql serve: [jwt] {e:#}; tried again at the next token");
                        return;
                    }
                }
            }
            (None, None) => return,
        };
        match fetch(client, &url).await {
            Ok(keys) => {
                let mut held = self.lock();
                held.keys = Arc::new(keys);
                held.fetched = Some(Instant::now());
            }
            Err(e) => {
                eprintln!("skyql serve: [jwt] {e:#}; the keys fetched before stay in force");
                // A URL found in the discovery document is looked for there again: the
                // provider may have moved its keys.
                if discovery.is_some() {
                    *keys_url() = None;
                }
            }
        }
    }
}

/// A URL of the provider's (`setting` names where it comes from): https, or http to a
/// loopback address (keys sent in clear could be replaced on the way, and anyone signed
/// in).
fn provider_url(text: &str, setting: &str) -> Result<reqwest::Url> {
    let url = reqwest::Url::parse(text)
        .map_err(|e| anyhow!("[jwt] {setting} '{text}' is not a URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => bail!(
            "[jwt] {setting} '{text}': the provider is reached over https only (http to this host)"
        ),
    }
}

/// The keys' URL (`jwks_uri`) in the provider's discovery document at `document`, whose
/// `issuer` must be the configured one (OpenID Connect Discovery 1.0, section 4.3).
async fn discover(
    client: &reqwest::Client,
    document: &reqwest::Url,
    issuer: &str,
) -> Result<reqwest::Url> {
    let text = get_text(client, document, "the discovery document").await?;
    let found: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("the discovery document at {document} is not JSON"))?;
    let said = found.get("issuer").and_then(|v| v.as_str()).unwrap_or("");
    if said != issuer {
        bail!("the discovery document at {document} names the issuer {said:?}, not {issuer:?}");
    }
    let Some(keys) = found.get("jwks_uri").and_then(|v| v.as_str()) else {
        bail!("the discovery document at {document} has no jwks_uri");
    };
    provider_url(keys, "jwks_uri of the discovery document")
}

fn read(path: &std::path::Path) -> Result<KeySet> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the JWKS file {}", path.display()))?;
    KeySet::parse(&text).with_context(|| format!("the JWKS file {}", path.display()))
}

/// The keys at `url`.
async fn fetch(client: &reqwest::Client, url: &reqwest::Url) -> Result<KeySet> {
    let text = get_text(client, url, "the keys").await?;
    KeySet::parse(&text).with_context(|| format!("the keys at {url}"))
}

/// The text at `url` (`what` it is, for errors): HTTP 200, UTF-8, at most
/// [`MAX_JWKS_BYTES`].
async fn get_text(client: &reqwest::Client, url: &reqwest::Url, what: &str) -> Result<String> {
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .with_context(|| format!("cannot fetch {what} at {url}"))?;
    if !response.status().is_success() {
        bail!("{what} at {url}: HTTP {}", response.status());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .with_context(|| format!("cannot read {what} at {url}"))?
    {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            bail!("{what} at {url}: more than {MAX_JWKS_BYTES} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| anyhow!("{what} at {url}: not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fetched_over_https_or_from_this_host_only() {
        let keys_url = |text: &str| provider_url(text, "jwks_url");
        assert!(keys_url("https://sso.example.org/certs").is_ok());
        assert!(keys_url("http://127.0.0.1:8080/certs").is_ok());
        assert!(keys_url("http://localhost/certs").is_ok());
        let e = keys_url("http://sso.example.org/certs")
            .unwrap_err()
            .to_string();
        assert!(e.contains("https only"), "{e}");
        assert!(keys_url("file:///etc/passwd").is_err());
        assert!(keys_url("not a url").is_err());
    }
}
