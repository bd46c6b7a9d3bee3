//! `skyql users`: the service's users file (docs/ACCESS.md): `add`, `token`, `revoke`,
//! `list`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use crate::access::users_file::{self, UsersFile};
use crate::access::{clock, secrets};

/// Arguments of `skyql users`.
#[derive(Debug, Args)]
pub(crate) struct UsersArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Add a user (the password is read from standard input, kept as an argon2id hash).
    Add {
        /// The user's name (letters, digits, '.', '_', '-').
        name: String,
        /// The groups the user belongs to, comma-separated.
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// The users file (created if absent).
        #[arg(long)]
        file: PathBuf,
        /// Change an existing user's groups and password.
        #[arg(long)]
        update: bool,
    },
    /// Make an API token for a user, printed once (sent as `Authorization: Bearer`).
    Token {
        /// The user.
        name: String,
        /// The users file.
        #[arg(long)]
        file: PathBuf,
        /// How long it works: `30d`, `12h`, or `never`.
        #[arg(long, default_value = "30d")]
        expires: String,
    },
    /// Remove a user and their tokens, or one token (--token ID).
    Revoke {
        /// The user (omit with --token).
        name: Option<String>,
        /// The users file.
        #[arg(long)]
        file: PathBuf,
        /// One token, by its id (the 8 digits after `skyql_`) or its text.
        #[arg(long)]
        token: Option<String>,
    },
    /// List the users, their groups and their tokens (never a secret).
    List {
        /// The users file.
        #[arg(long)]
        file: PathBuf,
    },
}

pub(crate) fn run(args: UsersArgs) -> Result<()> {
    match args.action {
        Action::Add {
            name,
            groups,
            file,
            update,
        } => {
            let password = read_password(&name)?;
            let hash = secrets::hash_password(&password)?;
            users_file::change(&file, |f| f.add(&name, &groups, hash, update))?;
            println!(
                "user {name} {} in {} (groups: {})",
                if update { "updated" } else { "added" },
                file.display(),
                if groups.is_empty() {
                    "none".to_string()
                } else {
                    groups.join(", ")
                }
            );
            Ok(())
        }
        Action::Token {
            name,
            file,
            expires,
        } => {
            let days = duration_days(&expires)?;
            let now = clock::system_mjd();
            let token = users_file::change(&file, |f| f.add_token(&name, days, now))?;
            eprintln!(
                "token for {name}, {}; it is shown once, keep it secret:",
                match days {
                    Some(d) => format!("valid until {}", clock::iso(now + d)),
                    None => "without expiry".into(),
                }
            );
            println!("{token}");
            Ok(())
        }
        Action::Revoke { name, file, token } => match (name, token) {
            (None, Some(token)) => {
                let t = users_file::change(&file, |f| f.remove_token(&token))?;
                println!("token {} of {} revoked", t.id, t.user);
                Ok(())
            }
            (Some(name), None) => {
                let n = users_file::change(&file, |f| f.remove_user(&name))?;
                println!("user {name} removed with {n} token(s)");
                Ok(())
            }
            _ => bail!("give a user NAME, or --token ID, not both"),
        },
        Action::List { file } => {
            let f = UsersFile::read(&file)?;
            for u in &f.users {
                println!(
                    "{:<20} groups: {:<30} password: {}",
                    u.name,
                    if u.groups.is_empty() {
                        "-".to_string()
                    } else {
                        u.groups.join(",")
                    },
                    if u.password.is_some() { "set" } else { "none" }
                );
            }
            for t in &f.tokens {
                println!(
                    "token {} of {:<14} made {}, expires {}",
                    t.id,
                    t.user,
                    t.created,
                    t.expires.as_deref().unwrap_or("never")
                );
            }
            Ok(())
        }
    }
}

/// `30d`, `12h`, `never` as days.
fn duration_days(text: &str) -> Result<Option<f64>> {
    if text == "never" {
        return Ok(None);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n > 0.0)
        .with_context(|| {
            format!("--expires {text:?}: a number of days (30d), hours (12h), or never")
        })?;
    match unit {
        "d" => Ok(Some(n)),
        "h" => Ok(Some(n / 24.0)),
        _ => bail!("--expires {text:?}: a number of days (30d), hours (12h), or never"),
    }
}

/// The password from standard input: one line (prompted, without echo, on a terminal).
fn read_password(name: &str) -> Result<String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("password for {name}: ");
        let _ = std::io::stderr().flush();
    }
    let _echo = terminal.then(EchoOff::new).flatten();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    if terminal {
        eprintln!();
    }
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!(
            "no password on standard input (`echo ... | skyql users add {name} ...`, or type it)"
        );
    }
    Ok(password)
}

/// The terminal's echo turned off until dropped.
struct EchoOff(libc::termios);

impl EchoOff {
    fn new() -> Option<EchoOff> {
        // SAFETY: termios calls on standard input with a struct this function owns.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return None;
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            (libc::tcsetattr(0, libc::TCSANOW, &t) == 0).then_some(EchoOff(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `new`.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.0);
        }
    }
}
