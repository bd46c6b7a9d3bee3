//! Uploads given by URL (`UPLOAD=name,https://HOST/PATH` or `http://`): fetched only from
//! the hosts of the configuration's `upload_url_hosts` (none by default, so the service
//! makes no request to a host a client names), without following redirects (a listed
//! host cannot send the service elsewhere), without a proxy, within `upload_max_bytes`
//! and a time limit. https is checked against the system's certificate authorities
//! (`SSL_CERT_FILE` or `SSL_CERT_DIR` name others).

use std::sync::LazyLock;
use std::time::Duration;

use url::Url;

/// How long a fetch may take, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The client of every fetch (its connections and TLS set-up are reused), or why there is
/// none.
static CLIENT: LazyLock<Result<reqwest::Client, String>> = LazyLock::new(|| {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("skyql/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("the service has no HTTP client: {e}"))
});

/// The URL `text` names, if the configuration allows fetching it.
fn allowed_url(text: &str, allowed_hosts: &[String]) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|_| format!("'{text}' is neither a URL nor param:PART"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "'{text}': only http:// and https:// URLs are fetched"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("'{text}': a URL with credentials is not fetched"));
    }
    // An entry is `host` (every port) or `host:port`; an IPv6 address is written
    // `[::1]` or `[::1]:8443` (bare `::1` allows every port too).
    let host = url.host_str().unwrap_or("");
    let port = url.port_or_known_default().unwrap_or(0);
    let authority = format!("{host}:{port}");
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let allowed = allowed_hosts.iter().any(|h| {
        let h = h.trim();
        h.eq_ignore_ascii_case(&authority)
            || h.eq_ignore_ascii_case(host)
            || h.eq_ignore_ascii_case(bare)
    });
    if !allowed {
        return Err(format!(
            "this service fetches uploads only from the hosts of its upload_url_hosts, and {authority} is not one of them; send the table with the request (name,param:part) instead"
        ));
    }
    Ok(url)
}

/// The body at `url`, or why it is not fetched.
pub async fn fetch(
    url: &str,
    allowed_hosts: &[String],
    max_bytes: usize,
) -> Result<Vec<u8>, String> {
    let parsed = allowed_url(url, allowed_hosts)?;
    let client = CLIENT.as_ref().map_err(Clone::clone)?;
    let too_big = || {
        format!(
            "{url} holds more than {max_bytes} bytes, the most this service takes (upload_max_bytes)"
        )
    };
    let get = async {
        let mut answer = client
            .get(parsed)
            .send()
            .await
            .map_err(|e| format!("cannot fetch {url}: {}", causes(e)))?;
        let status = answer.status();
        if status.is_redirection() {
            return Err(format!(
                "{url} answered {status}: redirects are not followed"
            ));
        }
        if status != reqwest::StatusCode::OK {
            return Err(format!("{url} answered {status}"));
        }
        if answer
            .content_length()
            .is_some_and(|n| n > max_bytes as u64)
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|e| format!("cannot read {url}: {}", causes(e)))?
        {
            if body.len() + chunk.len() > max_bytes {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(FETCH_TIMEOUT, get)
        .await
        .map_err(|_| format!("{url} did not answer within {} s", FETCH_TIMEOUT.as_secs()))?
}

/// An error and its causes on one line (a TLS refusal says why only in its sources).
/// The URL is left out: the message names it already.
fn causes(error: reqwest::Error) -> String {
    let error = anyhow::Error::new(error.without_url());
    crate::engine::user_error::each_cause_once(&format!("{error:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hosts_off_the_list_and_other_schemes_are_refused_without_a_connection() {
        let hosts = vec!["data.example.org".to_string(), "127.0.0.1:8443".to_string()];
        for (url, words) in [
            ("http://evil.example.org/x.vot", "not one of them"),
            ("http://127.0.0.1:22/", "not one of them"),
            (
                "https://127.0.0.1/x.vot",
                "127.0.0.1:443 is not one of them",
            ),
            ("ftp://data.example.org/x.vot", "only http:// and https://"),
            ("file:///etc/passwd", "only http:// and https://"),
            ("https://user:pw@data.example.org/x", "credentials"),
            ("x.vot", "neither a URL"),
        ] {
            let e = fetch(url, &hosts, 1000).await.unwrap_err();
            assert!(e.contains(words), "{url}: {e}");
        }
        let e = fetch("http://x/", &[], 1000).await.unwrap_err();
        assert!(e.contains("upload_url_hosts"), "{e}");
        assert!(allowed_url("https://DATA.example.org:8443/x", &hosts).is_ok());
        assert!(allowed_url("https://127.0.0.1:8443/x", &hosts).is_ok());
        // IPv6: with a port, one port; without, every port.
        let v6 = vec!["[::1]:8443".to_string(), "[fd00::2]".to_string()];
        assert!(allowed_url("https://[::1]:8443/x", &v6).is_ok());
        assert!(allowed_url("https://[::1]:8444/x", &v6).is_err());
        assert!(allowed_url("http://[fd00::2]:9/x", &v6).is_ok());
        assert!(allowed_url("http://[fd00::3]/x", &v6).is_err());
        // A host:port entry does not allow the host's other ports.
        assert!(allowed_url("https://127.0.0.1/x", &hosts).is_err());
    }
}
