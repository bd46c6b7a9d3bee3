//! Passwords and tokens as the users file keeps them: a password as its argon2id hash
//! (a PHC string: algorithm, parameters, salt and hash), a token as the SHA-256 digest
//! of its text (a token is 256 random bits: a fast digest is enough, and it lets every
//! request be checked at once). Nothing here keeps or prints a secret in clear.

use anyhow::{Result, anyhow, bail};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use ring::rand::{SecureRandom, SystemRandom};

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// What a token's text begins with, so that it is recognised in a leaked log or file.
pub const TOKEN_PREFIX: &str = "skyql_";

/// `n` bytes from the system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow!("the system's random source failed"))?;
    Ok(bytes)
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// argon2id with the parameters OWASP recommends (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The argon2id hash (PHC string) of a new password.
pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        bail!("a password has at least {MIN_PASSWORD_CHARS} characters");
    }
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| anyhow!("cannot make a salt: {e}"))?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow!("cannot hash the password: {e}"))?
        .to_string())
}

/// Whether `password` is the one `hash` was made from (false for a hash that cannot be
/// read).
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        // The parameters are the hash's own: a file written with other ones still works.
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash no password matches, checked for a name that is no user's, so that a wrong
/// name takes as long to refuse as a wrong password (the time does not tell who exists).
pub fn unknown_user_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let random = hex(&random_bytes::<16>().unwrap_or([7; 16]));
        hash_password(&random).unwrap_or_default()
    })
}

/// A new token: its public id (shown in listings, used to revoke it) and its text
/// (`skyql_ID_SECRET`), which is shown once and never kept.
pub fn new_token() -> Result<(String, String)> {
    let id = hex(&random_bytes::<4>()?);
    let secret = hex(&random_bytes::<32>()?);
    let text = format!("{TOKEN_PREFIX}{id}_{secret}");
    Ok((id, text))
}

/// The id of a token's text, when the text has a token's shape.
pub fn token_id(text: &str) -> Option<&str> {
    let rest = text.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 8 && secret.len() == 64).then_some(id)
}

/// The SHA-256 digest of a text, in hexadecimal: what the users file keeps of a token,
/// what the service remembers of a checked password header, what the audit log keeps of
/// a query.
pub fn sha256_hex(text: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

/// A random identifier of `bytes` bytes in hexadecimal (asynchronous jobs' ids, which
/// must not be guessed).
pub fn random_id(bytes: usize) -> String {
    let mut out = vec![0u8; bytes];
    match SystemRandom::new().fill(&mut out) {
        Ok(()) => hex(&out),
        // Never expected on Linux; a job id then still differs from every other one.
        Err(_) => format!(
            "{:032x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_kept_as_an_argon2id_hash_that_only_it_verifies() {
        let hash = hash_password("correct horse").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("correct horse"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct hors", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(hash, hash_password("correct horse").unwrap(), "salted");
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn tokens_are_random_and_kept_as_digests() {
        let (id, text) = new_token().unwrap();
        assert_eq!(token_id(&text), Some(id.as_str()));
        assert_ne!(new_token().unwrap().1, text);
        let digest = sha256_hex(&text);
        assert_eq!(digest.len(), 64);
        assert!(!digest.contains(&text[TOKEN_PREFIX.len() + 9..]));
        assert_eq!(token_id("skyql_1234_abc"), None);
        assert_eq!(token_id("Basic abc"), None);
    }
}
