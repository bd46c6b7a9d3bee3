//! Uploads given by URL (`UPLOAD=name,http://HOST/PATH`): fetched only from the hosts of
//! the configuration's `upload_url_hosts` (none by default, so the service makes no
//! request to a host a client names), over plain HTTP, without following redirects,
//! within `upload_max_bytes` and a time limit.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a fetch may take, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The body at `url`, or why it is not fetched.
pub async fn fetch(
    url: &str,
    allowed_hosts: &[String],
    max_bytes: usize,
) -> Result<Vec<u8>, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        if url.starts_with("https://") {
            "only http:// URLs are fetched (no TLS client in this service); send the table with the request instead".to_string()
        } else {
            format!("'{url}' is neither an http:// URL nor param:PART")
        }
    })?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let host = authority.split(':').next().unwrap_or("");
    let allowed = allowed_hosts.iter().any(|h| {
        h.eq_ignore_ascii_case(authority) || (!h.contains(':') && h.eq_ignore_ascii_case(host))
    });
    if !allowed {
        return Err(format!(
            "this service fetches uploads only from the hosts of its upload_url_hosts, and {authority} is not one of them; send the table with the request (name,param:part) instead"
        ));
    }
    if path.contains(['\r', '\n', ' ']) || authority.contains(['\r', '\n', ' ', '@']) {
        return Err(format!("'{url}' is not a valid URL"));
    }
    let address = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let get = async {
        let mut stream = tokio::net::TcpStream::connect(&address)
            .await
            .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        let request = format!(
            "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: skyql/{}\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("cannot send the request to {authority}: {e}"))?;
        // The head and the body, at most max_bytes of body (and 64 KiB of head).
        let limit = max_bytes + (64 << 10);
        let mut raw = Vec::new();
        let read = (&mut stream)
            .take(limit as u64 + 1)
            .read_to_end(&mut raw)
            .await
            .map_err(|e| format!("cannot read {url}: {e}"))?;
        if read > limit {
            return Err(format!(
                "{url} holds more than {max_bytes} bytes, the most this service takes (upload_max_bytes)"
            ));
        }
        Ok(raw)
    };
    let raw = tokio::time::timeout(FETCH_TIMEOUT, get)
        .await
        .map_err(|_| format!("{url} did not answer within {} s", FETCH_TIMEOUT.as_secs()))??;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{url}: not an HTTP answer"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status_line = head.lines().next().unwrap_or("");
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!(
            "{url} answered '{status_line}' (redirects are not followed)"
        ));
    }
    if head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:"))
    {
        return Err(format!(
            "{url} answered with a transfer encoding this service does not read"
        ));
    }
    let body = raw[split + 4..].to_vec();
    if body.len() > max_bytes {
        return Err(format!(
            "{url} holds more than {max_bytes} bytes, the most this service takes (upload_max_bytes)"
        ));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hosts_off_the_list_and_other_schemes_are_refused_without_a_connection() {
        let hosts = vec!["data.example.org".to_string()];
        for (url, words) in [
            ("http://evil.example.org/x.vot", "not one of them"),
            ("http://127.0.0.1:22/", "not one of them"),
            ("https://data.example.org/x.vot", "only http://"),
            ("file:///etc/passwd", "neither an http:// URL"),
        ] {
            let e = fetch(url, &hosts, 1000).await.unwrap_err();
            assert!(e.contains(words), "{url}: {e}");
        }
        let e = fetch("http://x/", &[], 1000).await.unwrap_err();
        assert!(e.contains("upload_url_hosts"), "{e}");
    }
}
