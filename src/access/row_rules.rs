//! The catalogue's row rules (`skyql catalog protect`): rows matching a condition are
//! seen before a release date only by the groups the rule names, and by everyone after
//! it. Kept in `access.toml` beside the manifest, written under the catalogue's write
//! lock, atomically and durably, so that a crash leaves the old rules or the new ones;
//! readers that cannot read the file refuse to answer rather than answer without it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::clock;
use super::identity::check_groups;
use super::table_grants::{TableGrant, table_pattern};

/// The rules file's name in the catalogue directory.
pub const RULES_FILE: &str = "access.toml";

/// Every rule of a catalogue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowRules {
    /// The rules, by id.
    #[serde(default)]
    pub rules: Vec<RowRule>,
    /// The read grants on whole tables, by id (ids shared with the rules).
    #[serde(default)]
    pub grants: Vec<TableGrant>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowRule {
    /// Its number (`skyql catalog unprotect --id N`).
    pub id: u64,
    /// The SQL condition the protected rows match (`field = 'lm001'`).
    #[serde(rename = "where")]
    pub condition: String,
    /// The columns the condition names: the rule applies to every table that has them
    /// all.
    pub columns: Vec<String>,
    /// The release date (UTC, `YYYY-MM-DD`): from then on, everyone sees the rows.
    pub until: String,
    /// The groups that see the rows before the release date.
    pub groups: Vec<String>,
    /// When the rule was made (UTC).
    pub created: String,
}

impl RowRule {
    /// The release date as an MJD.
    pub fn until_mjd(&self) -> f64 {
        // Checked when the file is read.
        clock::parse_date(&self.until).unwrap_or(f64::INFINITY)
    }
}

/// The rules file of the catalogue at `catalog`.
pub fn rules_path(catalog: &Path) -> PathBuf {
    catalog.join(RULES_FILE)
}

impl RowRules {
    /// The rules of the catalogue at `catalog` (none when it has no rules file; a remote
    /// catalogue has none).
    pub fn read(catalog: &Path) -> Result<RowRules> {
        if crate::object_stores::is_remote(catalog) {
            return Ok(RowRules::default());
        }
        let path = rules_path(catalog);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RowRules::default()),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the access rules {}", path.display()));
            }
        };
        let rules: RowRules = crate::toml_text::parse(&text, &path, "access rules")?;
        rules
            .check()
            .with_context(|| format!("invalid access rules {}", path.display()))?;
        Ok(rules)
    }

    fn check(&self) -> Result<()> {
        for r in &self.rules {
            if clock::parse_date(&r.until).is_none() {
                bail!(
                    "rule {}: until = {:?} is not a date (YYYY-MM-DD)",
                    r.id,
                    r.until
                );
            }
            if r.columns.is_empty() || r.condition.trim().is_empty() {
                bail!("rule {}: no condition", r.id);
            }
            check_groups(&r.groups).with_context(|| format!("rule {}", r.id))?;
        }
        for g in &self.grants {
            g.check()?;
        }
        Ok(())
    }

    /// The id the next rule or grant takes.
    fn next_id(&self) -> u64 {
        let rules = self.rules.iter().map(|r| r.id);
        rules
            .chain(self.grants.iter().map(|g| g.id))
            .max()
            .unwrap_or(0)
            + 1
    }

    /// Changes the rules of the local catalogue at `catalog` under its write lock.
    pub fn change<T>(catalog: &Path, change: impl FnOnce(&mut RowRules) -> Result<T>) -> Result<T> {
        if crate::object_stores::is_remote(catalog) {
            bail!(
                "access rules are kept with a catalogue on a local disk; {} is remote",
                catalog.display()
            );
        }
        if !catalog
            .join(crate::catalog::manifest::MANIFEST_FILE)
            .is_file()
        {
            bail!(
                "{} is not a catalogue (it has no manifest)",
                catalog.display()
            );
        }
        let _lock = crate::catalog::lock::WriteLock::acquire(catalog)?;
        let mut rules = RowRules::read(catalog)?;
        let out = change(&mut rules)?;
        rules.check()?;
        let text = toml::to_string(&rules).context("cannot write the access rules")?;
        let header = "# skyql access rules: written by `skyql catalog protect` (docs/ACCESS.md).\n";
        crate::catalog::durable::atomic_write(
            &rules_path(catalog),
            format!("{header}{text}").as_bytes(),
        )?;
        Ok(out)
    }

    /// Adds a rule; returns its id.
    pub fn add(
        &mut self,
        condition: &str,
        columns: Vec<String>,
        until: &str,
        groups: &[String],
        now_mjd: f64,
    ) -> Result<u64> {
        check_until(until)?;
        check_groups(groups).context("--groups")?;
        let id = self.next_id();
        self.rules.push(RowRule {
            id,
            condition: condition.trim().to_string(),
            columns,
            until: until.to_string(),
            groups: groups.to_vec(),
            created: clock::iso(now_mjd),
        });
        Ok(id)
    }

    /// Adds a read grant of `table` (`schema.table` or `schema.*`) to `groups`, until a
    /// release date if one is given; returns its id.
    pub fn grant(
        &mut self,
        table: &str,
        groups: &[String],
        until: Option<&str>,
        now_mjd: f64,
    ) -> Result<u64> {
        let table = table_pattern(table)?;
        check_groups(groups).context("--groups")?;
        if let Some(until) = until {
            check_until(until)?;
        }
        let id = self.next_id();
        self.grants.push(TableGrant {
            id,
            table,
            groups: groups.to_vec(),
            until: until.map(str::to_string),
            created: clock::iso(now_mjd),
        });
        Ok(id)
    }

    /// Removes the rule or grant `id`.
    pub fn remove(&mut self, id: u64) -> Result<Removed> {
        if let Some(i) = self.rules.iter().position(|r| r.id == id) {
            return Ok(Removed::Rule(self.rules.remove(i)));
        }
        match self.grants.iter().position(|g| g.id == id) {
            Some(i) => Ok(Removed::Grant(self.grants.remove(i))),
            None => bail!("no access rule or grant {id} (`skyql catalog rules` lists them)"),
        }
    }
}

/// Refuses a release date (`--until`) that is not a date.
fn check_until(until: &str) -> Result<()> {
    if clock::parse_date(until).is_none() {
        bail!("--until {until:?} is not a date (YYYY-MM-DD, UTC)");
    }
    Ok(())
}

/// What `unprotect` removed.
#[derive(Debug)]
pub enum Removed {
    /// A row rule.
    Rule(RowRule),
    /// A read grant.
    Grant(TableGrant),
}
