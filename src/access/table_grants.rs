//! Read grants on whole tables (`skyql catalog grant`): a table that a grant names is
//! read only by the groups of the grants naming it; a caller in none of them does not
//! learn that it exists (the service hides its name from TAP_SCHEMA, `/tables`, error
//! messages and name hints, and reads no row of it through a view). Tables no grant
//! names are read by everyone. A grant with a release date (`--until`) holds until then,
//! and the table is everyone's from that day. Grants live in `access.toml` with the row
//! rules.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::clock;
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
    /// The release date (UTC, `YYYY-MM-DD`), if any: from then on, everyone reads the
    /// table and the grant hides nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
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

    /// The release date as an MJD (never: infinity).
    pub fn until_mjd(&self) -> f64 {
        // Checked when the file is read.
        self.until
            .as_deref()
            .and_then(clock::parse_date)
            .unwrap_or(f64::INFINITY)
    }

    /// Checks a grant read from the file.
    pub fn check(&self) -> Result<()> {
        if let Some(until) = &self.until
            && clock::parse_date(until).is_none()
        {
            bail!(
                "grant {}: until = {until:?} is not a date (YYYY-MM-DD)",
                self.id
            );
        }
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
    /// The grants of `grants` in force at `now_mjd` (before their release date), split by
    /// whether `identity` holds them.
    pub fn new(grants: &[TableGrant], identity: &Identity, now_mjd: f64) -> HiddenTables {
        let (held, refused): (Vec<TableGrant>, Vec<TableGrant>) = grants
            .iter()
            .filter(|g| now_mjd < g.until_mjd())
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
            until: None,
            created: String::new(),
        }
    }

    const NOW: f64 = 61_000.0;

    #[test]
    fn a_table_is_read_by_the_groups_of_any_grant_naming_it() {
        let grants = [grant(1, "eros2.*", "eros"), grant(2, "eros2.images", "lmc")];
        let outsider = HiddenTables::new(&grants, &Identity::user("bob", &["macho".into()]), NOW);
        assert!(outsider.hides("eros2", "images"));
        assert!(outsider.hides("EROS2", "Stars"));
        assert!(!outsider.hides("ivoa", "obscore"));
        let lmc = HiddenTables::new(&grants, &Identity::user("carol", &["lmc".into()]), NOW);
        assert!(!lmc.hides("eros2", "images"));
        assert!(lmc.hides("eros2", "stars"));
        let eros = HiddenTables::new(&grants, &Identity::user("alice", &["eros".into()]), NOW);
        assert!(eros.is_empty());
        assert!(HiddenTables::new(&grants, &Identity::anonymous(), NOW).hides("eros2", "inputs"));
    }

    #[test]
    fn a_grant_hides_nothing_from_its_release_date() {
        let mut released = grant(1, "eros2.images", "eros");
        released.until = Some("2026-01-01".into());
        let day = clock::parse_date("2026-01-01").unwrap();
        let anonymous = Identity::anonymous();
        let grants = [released.clone()];
        assert!(HiddenTables::new(&grants, &anonymous, day - 0.5).hides("eros2", "images"));
        assert!(HiddenTables::new(&grants, &anonymous, day).is_empty());
        // Another grant of the table, without a date, still holds.
        let both = [released, grant(2, "eros2.*", "lmc")];
        assert!(HiddenTables::new(&both, &anonymous, day).hides("eros2", "images"));
        let lmc = Identity::user("carol", &["lmc".into()]);
        assert!(!HiddenTables::new(&both, &lmc, day).hides("eros2", "images"));
        let eros = Identity::user("alice", &["eros".into()]);
        assert!(!HiddenTables::new(&both, &eros, day - 0.5).hides("eros2", "images"));
        assert!(HiddenTables::new(&both, &eros, day).hides("eros2", "stars"));
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
