//! The OpenID Connect provider whose bearer tokens the service accepts (`[jwt]`,
//! docs/ACCESS.md): its keys, read from the JWKS file at the start and again when the file
//! changes (a file that cannot be read keeps the last good keys, and says so).

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::access::file_stamp::FileStamp;

use anyhow::{Context, Result};

use super::config::JwtConfig;
use crate::access::Identity;
use crate::access::jwt::{Expected, KeySet};

/// The provider and its keys as last read.
pub struct TokenProvider {
    config: JwtConfig,
    expected: Expected,
    keys: Mutex<(FileStamp, Arc<KeySet>)>,
}

impl TokenProvider {
    /// Reads the provider's keys; an error names the file and what is wrong with it.
    pub fn new(config: JwtConfig) -> Result<TokenProvider> {
        let keys = read(&config)?;
        Ok(TokenProvider {
            expected: Expected {
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                user_claim: config.user_claim.clone(),
                groups_claim: config.groups_claim.clone(),
            },
            keys: Mutex::new((FileStamp::of(&config.jwks), Arc::new(keys))),
            config,
        })
    }

    /// The identity a token gives now, or why it is refused.
    pub fn identity(&self, token: &str) -> std::result::Result<Identity, &'static str> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.keys().identity(token, &self.expected, now)
    }

    fn keys(&self) -> Arc<KeySet> {
        let mut held = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let now = FileStamp::of(&self.config.jwks);
        if now != held.0 {
            match read(&self.config) {
                Ok(keys) => *held = (now, Arc::new(keys)),
                Err(e) => {
                    eprintln!("skyql serve: {e:#}; the keys read before stay in force");
                    held.0 = now;
                }
            }
        }
        Arc::clone(&held.1)
    }
}

fn read(config: &JwtConfig) -> Result<KeySet> {
    let path = &config.jwks;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the JWKS file {}", path.display()))?;
    KeySet::parse(&text).with_context(|| format!("the JWKS file {}", path.display()))
}
