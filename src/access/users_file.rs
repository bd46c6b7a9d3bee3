//! The users file (`users_file` in the service's configuration; `skyql users` writes
//! it): users with their groups and argon2id password hashes, and API tokens kept as
//! SHA-256 digests with their expiry. Written atomically and durably, readable by its
//! owner only (mode 0600), one writer at a time (a lock beside it).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::clock;
use super::identity::valid_name;
use super::secrets;

/// The file's content.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    /// The users.
    #[serde(default)]
    pub users: Vec<User>,
    /// Their API tokens.
    #[serde(default)]
    pub tokens: Vec<Token>,
}

/// One user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The name (letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// The groups the user belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The argon2id hash of the password (PHC string); absent for a user who signs in
    /// with tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// One API token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Its public id (the 8 hexadecimal digits after `skyql_`).
    pub id: String,
    /// Whom it signs in.
    pub user: String,
    /// SHA-256 of the token's text.
    pub sha256: String,
    /// When it was made (UTC).
    pub created: String,
    /// When it stops working (UTC); never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl UsersFile {
    /// Reads the file.
    pub fn read(path: &Path) -> Result<UsersFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the users file {}", path.display()))?;
        let file: UsersFile = crate::toml_text::parse(&text, path, "users file")?;
        file.check()
            .with_context(|| format!("invalid users file {}", path.display()))?;
        Ok(file)
    }

    /// Reads the file, or an empty one when it does not exist yet.
    pub fn read_or_new(path: &Path) -> Result<UsersFile> {
        if path.exists() {
            UsersFile::read(path)
        } else {
            Ok(UsersFile::default())
        }
    }

    fn check(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for u in &self.users {
            if !valid_name(&u.name) {
                bail!(
                    "user name {:?}: letters, digits, '.', '_' and '-' only",
                    u.name
                );
            }
            if !seen.insert(u.name.as_str()) {
                bail!("user {} is listed twice", u.name);
            }
            if let Some(g) = u.groups.iter().find(|g| !valid_name(g)) {
                bail!(
                    "user {}: group name {g:?}: letters, digits, '.', '_' and '-' only",
                    u.name
                );
            }
        }
        for t in &self.tokens {
            if !seen.contains(t.user.as_str()) {
                bail!("token {} belongs to no user ({})", t.id, t.user);
            }
            if let Some(e) = &t.expires
                && clock::parse_date(e).is_none()
            {
                bail!("token {}: expiry {e:?} is not a date", t.id);
            }
        }
        Ok(())
    }

    /// Writes the file durably (mode 0600).
    pub fn write(&self, path: &Path) -> Result<()> {
        self.check()?;
        let text = toml::to_string(self).context("cannot write the users file")?;
        let header = "# skyql users file: written by `skyql users`; passwords as argon2id hashes,\n# tokens as SHA-256 digests (docs/ACCESS.md).\n";
        crate::catalog::durable::atomic_write_private(path, format!("{header}{text}").as_bytes())
    }

    /// The user `name`.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The user whose password this is.
    pub fn check_password(&self, name: &str, password: &str) -> Option<&User> {
        let Some(user) = self.user(name) else {
            // As long as for a user who exists, so that the time does not tell names.
            secrets::verify_password(password, secrets::unknown_user_hash());
            return None;
        };
        let hash = user.password.as_deref()?;
        secrets::verify_password(password, hash).then_some(user)
    }

    /// The user a token signs in at `now_mjd` (none for an unknown, revoked or expired
    /// token).
    pub fn check_token(&self, text: &str, now_mjd: f64) -> Option<&User> {
        let id = secrets::token_id(text)?;
        let digest = secrets::sha256_hex(text);
        let token = self
            .tokens
            .iter()
            .find(|t| t.id == id && t.sha256 == digest)?;
        let live = match &token.expires {
            Some(e) => clock::parse_date(e).is_some_and(|until| now_mjd < until),
            None => true,
        };
        live.then(|| self.user(&token.user)).flatten()
    }
}

/// Changes the users file at `path` under its lock: reads it (empty if absent), applies
/// `change`, writes it back.
pub fn change<T>(path: &Path, change: impl FnOnce(&mut UsersFile) -> Result<T>) -> Result<T> {
    let lock_path = lock_path(path);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        bail!(
            "another skyql process is changing {} (it holds {}); run this again when it is done",
            path.display(),
            lock_path.display()
        );
    }
    let mut file = UsersFile::read_or_new(path)?;
    let out = change(&mut file)?;
    file.write(path)?;
    Ok(out)
}

fn lock_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.lock"))
}

impl UsersFile {
    /// Adds a user (or, with `update`, replaces an existing user's groups and password).
    pub fn add(&mut self, name: &str, groups: &[String], hash: String, update: bool) -> Result<()> {
        if !valid_name(name) {
            bail!("user name {name:?}: letters, digits, '.', '_' and '-' only");
        }
        if let Some(g) = groups.iter().find(|g| !valid_name(g)) {
            bail!("group name {g:?}: letters, digits, '.', '_' and '-' only");
        }
        match self.users.iter_mut().find(|u| u.name == name) {
            Some(_) if !update => bail!(
                "user {name} exists: `skyql users add {name} --update` changes their groups and password"
            ),
            Some(u) => {
                u.groups = groups.to_vec();
                u.password = Some(hash);
            }
            None => self.users.push(User {
                name: name.to_string(),
                groups: groups.to_vec(),
                password: Some(hash),
            }),
        }
        Ok(())
    }

    /// A new token for `user`, valid `days` days (forever when `None`); returns its text,
    /// which is not kept.
    pub fn add_token(&mut self, user: &str, days: Option<f64>, now_mjd: f64) -> Result<String> {
        if self.user(user).is_none() {
            bail!("no user {user}: `skyql users add {user}` first");
        }
        let (id, text) = secrets::new_token()?;
        self.tokens.push(Token {
            id,
            user: user.to_string(),
            sha256: secrets::sha256_hex(&text),
            created: clock::iso(now_mjd),
            expires: days.map(|d| clock::iso(now_mjd + d)),
        });
        Ok(text)
    }

    /// Removes a user and every token of theirs; returns the tokens removed.
    pub fn remove_user(&mut self, name: &str) -> Result<usize> {
        let before = self.users.len();
        self.users.retain(|u| u.name != name);
        if self.users.len() == before {
            bail!("no user {name}");
        }
        let tokens = self.tokens.len();
        self.tokens.retain(|t| t.user != name);
        Ok(tokens - self.tokens.len())
    }

    /// Removes one token by its id (or its whole text).
    pub fn remove_token(&mut self, id_or_text: &str) -> Result<Token> {
        let id = secrets::token_id(id_or_text).unwrap_or(id_or_text);
        match self.tokens.iter().position(|t| t.id == id) {
            Some(i) => Ok(self.tokens.remove(i)),
            None => bail!("no token {id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_tokens_round_trip_and_sign_in_until_revoked_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let hash = secrets::hash_password("s3cret-words").unwrap();
        change(&path, |f| f.add("alice", &["eros".into()], hash, false)).unwrap();
        let now = 61_000.0;
        let token = change(&path, |f| f.add_token("alice", Some(30.0), now)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("s3cret-words") && !text.contains(&token),
            "{text}"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let file = UsersFile::read(&path).unwrap();
        assert_eq!(
            file.check_password("alice", "s3cret-words").unwrap().groups,
            ["eros"]
        );
        assert!(file.check_password("alice", "wrong-words").is_none());
        assert!(file.check_password("bob", "s3cret-words").is_none());
        assert_eq!(file.check_token(&token, now + 1.0).unwrap().name, "alice");
        assert!(file.check_token(&token, now + 31.0).is_none(), "expired");
        let mut forged = token.clone();
        forged.pop();
        forged.push('x');
        assert!(file.check_token(&forged, now).is_none());

        let again = change(&path, |f| f.add("alice", &[], "x".into(), false));
        assert!(format!("{:#}", again.unwrap_err()).contains("--update"));
        change(&path, |f| f.remove_token(&token)).unwrap();
        assert!(
            UsersFile::read(&path)
                .unwrap()
                .check_token(&token, now)
                .is_none()
        );
        change(&path, |f| f.remove_user("alice")).unwrap();
        assert!(UsersFile::read(&path).unwrap().users.is_empty());
    }

    #[test]
    fn a_bad_users_file_is_refused_by_line_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(
            &path,
            "[[users]]\nname = \"a\"\npassword = \"$argon2id$x\"\nbogus = 1\n",
        )
        .unwrap();
        let e = format!("{:#}", UsersFile::read(&path).unwrap_err());
        assert!(e.contains("line 4") && !e.contains("argon2id"), "{e}");
        std::fs::write(
            &path,
            "[[tokens]]\nid = \"1\"\nuser = \"ghost\"\nsha256 = \"\"\ncreated = \"\"\n",
        )
        .unwrap();
        let e = format!("{:#}", UsersFile::read(&path).unwrap_err());
        assert!(e.contains("belongs to no user"), "{e}");
    }
}
