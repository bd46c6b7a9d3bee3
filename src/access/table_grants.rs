//! Read grants on whole tables (`skyql catalog grant`): a table that a grant names is
//! read only by the groups of the grants naming it; a caller in none of them does not
//! learn that it exists (the service hides its name from TAP_SCHEMA, `/tables`, error
//! messages and name hints, and reads no row of it through a view). Tables no grant
//! names are read by everyone. Grants live in `access.toml` with the row rules.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::identity::{Identity, check_groups};

/// One grant: the groups that may read a table, or every table of a schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableGrant {
    /// Its number (shared with the row rules: `skyql catalog unprotect --id N`).
    pub id: u64,
    /// The table as TAP names it, `schema.table`, or `schema.*` for every table of the
    /// schema; lower case.
    pub table: String,
    /// The groups that may read it.
    pub groups: Vec<String>,
    /// When the grant was made (UTC).
    pub created: String,
}

/// Schemas no grant may name: the service's metadata, filtered for each caller instead,
/// and each query's own uploads.
const UNGRANTABLE: [&str; 2] = ["tap_schema", "tap_upload"];

/// `schema.table` or `schema.*`, checked and lower-cased: the form grants keep.
pub fn table_pattern(text: &str) -> Result<String> {
    let lower = text.trim().to_ascii_lowercase();
    let Some((schema, table)) = lower.split_once('.') else {
        bail!(
            "--table {text:?}: name a table as TAP does, schema.table (or schema.* for every table of a schema)"
        );
    };
    let word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !word(schema) || !(table == "*" || word(table)) {
        bail!(
            "--table {text:?}: a schema and a table name of letters, digits and '_' (or schema.*)"
        );
    }
    if UNGRANTABLE.contains(&schema) {
        bail!(
            "--table {text:?}: {schema} is not granted: the service shows each caller the part of it they may read"
        );
    }
    Ok(lower)
}

impl TableGrant {
    /// Whether this grant names the table `schema.table` (any case).
    pub fn names(&self, schema: &str, table: &str) -> bool {
        let Some((s, t)) = self.table.split_once('.') else {
            return false;
        };
        s.eq_ignore_ascii_case(schema) && (t == "*" || t.eq_ignore_ascii_case(table))
    }

    /// Checks a grant read from the file.
    pub fn check(&self) -> Result<()> {
        table_pattern(&self.table).with_context(|| format!("grant {}", self.id))?;
        check_groups(&self.groups).with_context(|| format!("grant {}", self.id))
    }
}

/// The grants as one caller is subject to them: which tables are hidden from them.
#[derive(Debug, Clone, Default)]
pub struct HiddenTables {
    /// The grants naming tables this caller may not read (none held among the grants
    /// that name a table means hidden).
    refused: Vec<TableGrant>,
    /// The grants this caller holds.
    held: Vec<TableGrant>,
}

impl HiddenTables {
    /// The grants of `grants` split by whether `identity` holds them.
    pub fn new(grants: &[TableGrant], identity: &Identity) -> HiddenTables {
        let (held, refused): (Vec<TableGrant>, Vec<TableGrant>) = grants
            .iter()
            .cloned()
            .partition(|g| identity.in_any(&g.groups));
        // A refused grant of tables all of which a held grant names hides nothing.
        let refused = refused
            .into_iter()
            .filter(|r| {
                let schema_wide = r.table.split_once('.').map(|(s, _)| format!("{s}.*"));
                !held
                    .iter()
                    .any(|h| h.table == r.table || Some(&h.table) == schema_wide.as_ref())
            })
            .collect();
        HiddenTables { refused, held }
    }

    /// Whether no table is hidden.
    pub fn is_empty(&self) -> bool {
        self.refused.is_empty()
    }

    /// Whether the table `schema.table` is hidden: a grant names it, and the caller holds
    /// none of the grants that do.
    pub fn hides(&self, schema: &str, table: &str) -> bool {
        self.refused.iter().any(|g| g.names(schema, table))
            && !self.held.iter().any(|g| g.names(schema, table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(id: u64, table: &str, group: &str) -> TableGrant {
        TableGrant {
            id,
            table: table.into(),
            groups: vec![group.into()],
            created: String::new(),
        }
    }

    #[test]
    fn a_table_is_read_by_the_groups_of_any_grant_naming_it() {
        let grants = [grant(1, "eros2.*", "eros"), grant(2, "eros2.images", "lmc")];
        let outsider = HiddenTables::new(&grants, &Identity::user("bob", &["macho".into()]));
        assert!(outsider.hides("eros2", "images"));
        assert!(outsider.hides("EROS2", "Stars"));
        assert!(!outsider.hides("ivoa", "obscore"));
        let lmc = HiddenTables::new(&grants, &Identity::user("carol", &["lmc".into()]));
        assert!(!lmc.hides("eros2", "images"));
        assert!(lmc.hides("eros2", "stars"));
        let eros = HiddenTables::new(&grants, &Identity::user("alice", &["eros".into()]));
        assert!(eros.is_empty());
        assert!(HiddenTables::new(&grants, &Identity::anonymous()).hides("eros2", "inputs"));
    }

    #[test]
    fn patterns_are_schema_dot_table() {
        assert_eq!(table_pattern(" EROS2.Images ").unwrap(), "eros2.images");
        assert_eq!(table_pattern("gaia.*").unwrap(), "gaia.*");
        for bad in [
            "images",
            "eros2.",
            ".images",
            "a.b.c",
            "eros2.im ages",
            "tap_schema.tables",
            "x.*y",
        ] {
            assert!(table_pattern(bad).is_err(), "{bad}");
        }
    }
}
