//! A query's parameters: `:name` placeholders bound to values given as text
//! (`--param name=value`). Each value is typed as the query uses it (the type DataFusion
//! infers for the placeholder: a star id is text, an MJD a number) and bound as a value in
//! the plan, never spliced into the SQL text, so no value can change what the statement
//! is. A query declares its parameters in comment lines `-- :name what it is`; one
//! declared `(optional ...)` is NULL when it is not given, so that the query can choose a
//! default (`COALESCE(:star, ...)`).

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result, bail};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::dataframe::DataFrame;

/// One `--param NAME=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The placeholder's name, without its colon.
    pub name: String,
    /// The value as given.
    pub value: String,
}

impl Param {
    /// Reads `NAME=VALUE`.
    pub fn parse(text: &str) -> Result<Param> {
        let Some((name, value)) = text.split_once('=') else {
            bail!("--param {text}: give NAME=VALUE, e.g. --param star=lm0010n22323");
        };
        let name = name.trim().trim_start_matches(':');
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("--param {text}: a parameter's name is letters, digits and _");
        }
        Ok(Param {
            name: name.to_string(),
            value: value.to_string(),
        })
    }
}

/// The parameters `sql` declares optional (`-- :name ... (optional ...)`).
fn declared_optional(sql: &str) -> BTreeSet<String> {
    sql.lines()
        .filter_map(|l| l.trim().strip_prefix("--")?.trim().strip_prefix(':'))
        .filter(|decl| decl.contains("(optional"))
        .filter_map(|decl| decl.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// `df` (planned from `sql`) with its placeholders bound to `params`; an error names a
/// parameter the query needs and was not given, one given that it does not have, and a
/// value that is not of its type.
pub fn bind(df: DataFrame, sql: &str, params: &[Param]) -> Result<DataFrame> {
    let types = df.logical_plan().get_parameter_types()?;
    let names: BTreeSet<String> = types.keys().map(|id| id[1..].to_string()).collect();
    if let Some(unused) = params.iter().find(|p| !names.contains(&p.name)) {
        if names.is_empty() {
            bail!(
                "--param {}: the query has no parameters (:name placeholders)",
                unused.name
            );
        }
        bail!(
            "--param {}: the query has no parameter :{} (it has :{})",
            unused.name,
            unused.name,
            names.iter().cloned().collect::<Vec<_>>().join(", :")
        );
    }
    if types.is_empty() {
        return Ok(df);
    }
    let optional = declared_optional(sql);
    let mut values: HashMap<String, ScalarValue> = HashMap::new();
    for (id, data_type) in &types {
        let name = &id[1..];
        let data_type = data_type.clone().unwrap_or(DataType::Utf8);
        let value = match params.iter().rev().find(|p| p.name == name) {
            Some(p) => ScalarValue::try_from_string(p.value.clone(), &data_type)
                .with_context(|| format!("--param {name}={}: not a {data_type} value", p.value))?,
            None if optional.contains(name) => ScalarValue::try_from(&data_type)?,
            None => bail!("the query needs a value for {id}: give --param {name}=VALUE"),
        };
        values.insert(name.to_string(), value);
    }
    let values: Vec<(String, ScalarValue)> = values.into_iter().collect();
    Ok(df.with_param_values(ParamValues::from(values))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_values_and_declarations() {
        let p = Param::parse("star=lm0010n22323").unwrap();
        assert_eq!(
            (p.name.as_str(), p.value.as_str()),
            ("star", "lm0010n22323")
        );
        assert_eq!(Param::parse(":x=a=b").unwrap().value, "a=b");
        assert!(Param::parse("nothing").is_err());
        assert!(Param::parse("a b=1").is_err());
        let sql = "-- :star  the star (optional: the brightest)\n-- :mjd  the date\nSELECT 1";
        assert_eq!(
            declared_optional(sql).into_iter().collect::<Vec<_>>(),
            vec!["star"]
        );
    }
}
