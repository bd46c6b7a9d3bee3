//! S3 settings from a configuration file (`[s3]` of `skyql serve --config`), for a service
//! whose environment should not hold them: the endpoint, the region, the access key, the
//! secret and session token read from files (so that the configuration itself holds no
//! secret), and whether a plain-HTTP endpoint is allowed. A setting given here wins over
//! the `AWS_*` variable of the environment; what it leaves out comes from the environment.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use anyhow::{Context, Result, bail};
use object_store::ClientConfigKey;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use serde::Deserialize;

/// The `[s3]` section of a configuration file.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// The endpoint of an S3-compatible store (`https://s3.example.org`); AWS's by default.
    pub endpoint: Option<String>,
    /// The region (`us-east-1` by default).
    pub region: Option<String>,
    /// The access key id; without one (here or in the environment) buckets are read
    /// unsigned, as public buckets are.
    pub access_key_id: Option<String>,
    /// A file holding the secret access key (its first line).
    pub secret_access_key_file: Option<PathBuf>,
    /// A file holding a session token (its first line), for temporary credentials.
    pub session_token_file: Option<PathBuf>,
    /// Whether a plain `http://` endpoint is allowed (a local S3 server).
    pub allow_http: Option<bool>,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| "***"))
            .field("secret_access_key_file", &self.secret_access_key_file)
            .field("session_token_file", &self.session_token_file)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// S3 builder keys and their values.
pub(super) type Overrides = Vec<(AmazonS3ConfigKey, String)>;

/// The overrides of the process, set once its configuration is read.
static OVERRIDES: RwLock<Overrides> = RwLock::new(Vec::new());

impl S3Settings {
    /// The builder settings these stand for, the secrets read from their files; an error
    /// names the file or the setting that is wrong, never a secret.
    fn overrides(&self) -> Result<Overrides> {
        let mut set = Vec::new();
        if let Some(endpoint) = &self.endpoint {
            let url = url::Url::parse(endpoint)
                .with_context(|| format!("[s3] endpoint '{endpoint}' is not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                bail!("[s3] endpoint '{endpoint}' is not an http(s):// URL");
            }
            if url.scheme() == "http" && self.allow_http != Some(true) {
                bail!("[s3] endpoint '{endpoint}' is plain HTTP: set allow_http = true for it");
            }
            set.push((AmazonS3ConfigKey::Endpoint, endpoint.clone()));
        }
        if let Some(region) = &self.region {
            set.push((AmazonS3ConfigKey::Region, region.clone()));
        }
        match (&self.access_key_id, &self.secret_access_key_file) {
            (Some(key), Some(file)) => {
                set.push((AmazonS3ConfigKey::AccessKeyId, key.clone()));
                set.push((
                    AmazonS3ConfigKey::SecretAccessKey,
                    first_line(file, "secret_access_key_file")?,
                ));
            }
            (None, None) => {}
            (Some(_), None) => bail!("[s3] access_key_id is given without secret_access_key_file"),
            (None, Some(_)) => bail!("[s3] secret_access_key_file is given without access_key_id"),
        }
        if let Some(file) = &self.session_token_file {
            set.push((
                AmazonS3ConfigKey::Token,
                first_line(file, "session_token_file")?,
            ));
        }
        if let Some(allow) = self.allow_http {
            set.push((
                AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp),
                allow.to_string(),
            ));
        }
        Ok(set)
    }

    /// Makes these settings the process's: every S3 store built from now on uses them,
    /// and the stores built before are dropped from the process's cache.
    pub fn apply(&self) -> Result<()> {
        let set = self.overrides()?;
        *OVERRIDES.write().unwrap_or_else(|e| e.into_inner()) = set;
        super::forget_s3_stores();
        Ok(())
    }
}

/// An S3 builder with the `AWS_*` environment and the configuration's settings over it.
/// A key given in the configuration comes without the environment's session token (that
/// token belongs to the environment's key).
pub(super) fn builder() -> AmazonS3Builder {
    let set = OVERRIDES.read().unwrap_or_else(|e| e.into_inner()).clone();
    let own_key = set
        .iter()
        .any(|(k, _)| *k == AmazonS3ConfigKey::AccessKeyId);
    let mut builder = AmazonS3Builder::new();
    for (name, value) in std::env::vars() {
        let Some(key) = name
            .starts_with("AWS_")
            .then(|| name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>().ok())
            .flatten()
        else {
            continue;
        };
        let replaced =
            set.iter().any(|(k, _)| *k == key) || (own_key && key == AmazonS3ConfigKey::Token);
        if !replaced {
            builder = builder.with_config(key, value);
        }
    }
    for (key, value) in set {
        builder = builder.with_config(key, value);
    }
    builder
}

/// The first line of a secret's file, trimmed; an error names the file and the setting.
fn first_line(file: &Path, setting: &str) -> Result<String> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("[s3] {setting}: cannot read {}", file.display()))?;
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if line.is_empty() {
        bail!("[s3] {setting}: {} is empty", file.display());
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(set: &[(AmazonS3ConfigKey, String)], key: AmazonS3ConfigKey) -> Option<String> {
        set.iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }

    #[test]
    fn settings_become_builder_keys_with_the_secret_read_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cr3t-value\n").unwrap();
        let settings: S3Settings = toml::from_str(&format!(
            "endpoint = \"http://127.0.0.1:9000\"\nregion = \"eu-west-3\"\n\
             access_key_id = \"AKIDEXAMPLE\"\nsecret_access_key_file = \"{}\"\nallow_http = true\n",
            secret.display()
        ))
        .unwrap();
        let set = settings.overrides().unwrap();
        assert_eq!(
            value(&set, AmazonS3ConfigKey::Endpoint).unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(value(&set, AmazonS3ConfigKey::Region).unwrap(), "eu-west-3");
        assert_eq!(
            value(&set, AmazonS3ConfigKey::SecretAccessKey).unwrap(),
            "s3cr3t-value"
        );
        assert_eq!(
            value(&set, AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp)).unwrap(),
            "true"
        );
        assert!(!format!("{settings:?}").contains("AKIDEXAMPLE"));
    }

    #[test]
    fn a_store_built_after_the_settings_signs_with_their_key_at_their_endpoint() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut head = vec![0u8; 8192];
            let n = stream.read(&mut head).unwrap();
            let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            String::from_utf8_lossy(&head[..n]).to_string()
        });
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "the-secret\n").unwrap();
        let settings = S3Settings {
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            region: Some("eu-west-3".into()),
            access_key_id: Some("AKIDSKYQLTEST".into()),
            secret_access_key_file: Some(secret),
            session_token_file: None,
            allow_http: Some(true),
        };
        settings.apply().unwrap();
        let url = url::Url::parse("s3://skyql-settings-test/some/key").unwrap();
        let read = crate::object_stores::block_on(crate::object_stores::read_remote(&url));
        S3Settings::default().apply().unwrap();
        assert!(
            read.unwrap().unwrap().is_none(),
            "a 404 is a missing object"
        );
        let head = heads.join().unwrap();
        assert!(
            head.starts_with("GET /skyql-settings-test/some/key"),
            "{head}"
        );
        assert!(head.contains("Credential=AKIDSKYQLTEST/"), "{head}");
        assert!(head.contains("/eu-west-3/s3/"), "{head}");
        assert!(!head.contains("the-secret"), "{head}");
    }

    #[test]
    fn wrong_settings_are_refused_in_words_without_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-secret");
        let cases = [
            (
                format!(
                    "access_key_id = \"K\"\nsecret_access_key_file = \"{}\"\n",
                    missing.display()
                ),
                "no-such-secret",
            ),
            (
                "access_key_id = \"K\"\n".to_string(),
                "without secret_access_key_file",
            ),
            (
                "endpoint = \"http://127.0.0.1:9000\"\n".to_string(),
                "allow_http",
            ),
            ("endpoint = \"ftp://h\"\n".to_string(), "not an http(s)://"),
        ];
        for (text, words) in cases {
            let settings: S3Settings = toml::from_str(&text).unwrap();
            let error = format!("{:#}", settings.overrides().err().unwrap());
            assert!(error.contains(words), "{text}: {error}");
        }
        assert!(toml::from_str::<S3Settings>("secret_access_key = \"x\"\n").is_err());
    }
}
