//! Who a request speaks for: a user of the users file or of the OpenID Connect provider,
//! with their groups, or nobody.

/// A user and their groups, or the anonymous caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The user's name; `None` for an anonymous request.
    pub user: Option<String>,
    /// The user's groups (none when anonymous).
    pub groups: Vec<String>,
    /// Whether the OpenID Connect provider named the user (a token it signed), not the
    /// users file: the provider's `carol` and a local `carol` are two users.
    pub from_provider: bool,
}

impl Identity {
    /// The anonymous caller.
    pub fn anonymous() -> Identity {
        Identity::default()
    }

    /// A user of the users file with their groups.
    pub fn user(name: &str, groups: &[String]) -> Identity {
        Identity {
            user: Some(name.to_string()),
            groups: groups.to_vec(),
            from_provider: false,
        }
    }

    /// A user the OpenID Connect provider names, with their groups.
    pub fn provider_user(name: &str, groups: &[String]) -> Identity {
        Identity {
            from_provider: true,
            ..Identity::user(name, groups)
        }
    }

    /// Whether this caller is the one a job records as its owner (`user`, named by the
    /// provider or not): the same user of the same source, or both anonymous.
    pub fn same_user(&self, user: Option<&str>, from_provider: bool) -> bool {
        self.user.as_deref() == user && (user.is_none() || self.from_provider == from_provider)
    }

    /// The user's name, or `anonymous`.
    pub fn name(&self) -> &str {
        self.user.as_deref().unwrap_or("anonymous")
    }

    /// Whether the caller belongs to one of `groups` (never when anonymous).
    pub fn in_any(&self, groups: &[String]) -> bool {
        self.user.is_some() && self.groups.iter().any(|g| groups.contains(g))
    }
}

/// Refuses an empty list of groups or a group name [`valid_name`] refuses.
pub fn check_groups(groups: &[String]) -> anyhow::Result<()> {
    if groups.is_empty() {
        anyhow::bail!("no group named");
    }
    if let Some(g) = groups.iter().find(|g| !valid_name(g)) {
        anyhow::bail!("group name {g:?}: letters, digits, '.', '_' and '-' only");
    }
    Ok(())
}

/// Whether `name` may name a user or a group: 1 to 64 letters, digits, `.`, `_`, `-`
/// (no `:`, which HTTP Basic uses as its separator; nothing a log or a TOML file would
/// need to quote).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anonymous_caller_is_in_no_group() {
        let groups = vec!["eros".to_string()];
        assert!(!Identity::anonymous().in_any(&groups));
        assert!(Identity::user("alice", &groups).in_any(&groups));
        assert!(!Identity::user("bob", &["macho".into()]).in_any(&groups));
        assert_eq!(Identity::anonymous().name(), "anonymous");
    }

    #[test]
    fn a_provider_user_is_not_the_local_user_of_the_same_name() {
        let groups = vec!["eros".to_string()];
        let local = Identity::user("carol", &groups);
        let provided = Identity::provider_user("carol", &groups);
        assert!(local.same_user(Some("carol"), false) && !local.same_user(Some("carol"), true));
        assert!(
            provided.same_user(Some("carol"), true) && !provided.same_user(Some("carol"), false)
        );
        assert!(Identity::anonymous().same_user(None, false));
        assert!(!Identity::anonymous().same_user(Some("carol"), false));
    }

    #[test]
    fn names_are_plain_words() {
        assert!(valid_name("alice.b-2_x"));
        for bad in ["", "a:b", "a b", "é", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
