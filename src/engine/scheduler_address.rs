//! The client side of cluster mode: a session's scheduler address (`df://HOST:PORT`), checked
//! before the session uses it.

use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Seconds to wait for the scheduler's port before giving up.
const CONNECT_SECONDS: u64 = 3;

/// The host and port of `HOST:PORT` (`what` names the option or URL in errors).
pub fn host_port(text: &str, what: &str) -> Result<(String, u16)> {
    let Some((host, port)) = text.rsplit_once(':').filter(|(h, _)| !h.is_empty()) else {
        bail!("{what} '{text}': expected HOST:PORT");
    };
    let Ok(port) = port.parse::<u16>() else {
        bail!("{what} '{text}': '{port}' is not a port number");
    };
    Ok((host.to_string(), port))
}

/// `HOST:PORT` of a `df://HOST:PORT` URL.
pub fn scheduler_address(url: &str) -> Result<String> {
    let Some(rest) = url.strip_prefix("df://") else {
        bail!("cluster URL '{url}': expected df://HOST:PORT");
    };
    let (host, port) = host_port(rest.trim_end_matches('/'), "cluster URL")?;
    Ok(format!("{host}:{port}"))
}

/// Fails within [`CONNECT_SECONDS`] when nothing listens at the scheduler's address.
pub async fn check_scheduler(url: &str) -> Result<()> {
    let address = scheduler_address(url)?;
    let connect = tokio::net::TcpStream::connect(address.clone());
    match tokio::time::timeout(Duration::from_secs(CONNECT_SECONDS), connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e).with_context(|| {
            format!(
                "cannot reach the scheduler at {url} (is `skyql cluster scheduler` running there?)"
            )
        }),
        Err(_) => bail!("the scheduler at {url} did not answer within {CONNECT_SECONDS} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::scheduler_address;

    #[test]
    fn urls_are_checked() {
        assert_eq!(
            scheduler_address("df://127.0.0.1:50050").unwrap(),
            "127.0.0.1:50050"
        );
        assert!(scheduler_address("http://h:1").is_err());
        assert!(scheduler_address("df://nohostport").is_err());
    }
}
