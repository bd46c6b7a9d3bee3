//! Result columns named as people write them. A computed column without an alias is named
//! by DataFusion after its expression with each constant's Arrow type around it
//! (`quicklook(images.path,Utf8("asinh"),Int64(512))`); such a name becomes the SQL form
//! (`quicklook(images.path, 'asinh', 512)`) in every front's results, headers, VOTable
//! FIELDs and FITS TTYPEs. Names with an alias or without constants are kept, and so is
//! every name when two would become one.

use std::collections::HashSet;
use std::sync::OnceLock;

use datafusion::common::{Column, Result};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::prelude::DataFrame;
use regex::Regex;

/// `df` with its debug-formatted column names rewritten, when it is a query.
pub fn readable(df: DataFrame) -> Result<DataFrame> {
    if !matches!(
        df.logical_plan(),
        LogicalPlan::Projection(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::Aggregate(_)
            | LogicalPlan::Filter(_)
            | LogicalPlan::Distinct(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::Union(_)
    ) {
        return Ok(df);
    }
    let names: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| readable_name(f.name()))
        .collect();
    let changed = df
        .schema()
        .fields()
        .iter()
        .zip(&names)
        .any(|(f, n)| f.name() != n);
    let distinct: HashSet<&String> = names.iter().collect();
    if !changed || distinct.len() != names.len() {
        return Ok(df);
    }
    let columns: Vec<Expr> = df
        .schema()
        .iter()
        .zip(&names)
        .map(|((qualifier, field), name)| {
            Expr::Column(Column::new(qualifier.cloned(), field.name())).alias(name)
        })
        .collect();
    df.select(columns)
}

/// A column name with each constant written as SQL: `Utf8("a")` as `'a'`, `Int64(5)` as
/// `5`, arguments separated by `, `.
pub fn readable_name(name: &str) -> String {
    static TEXT: OnceLock<Regex> = OnceLock::new();
    static NUMBER: OnceLock<Regex> = OnceLock::new();
    let text = TEXT.get_or_init(|| {
        Regex::new(r#"\b(?:Utf8|Utf8View|LargeUtf8)\("((?:[^"\\]|\\.)*)"\)"#)
            .expect("a valid regex")
    });
    let number = NUMBER.get_or_init(|| {
        Regex::new(r"\b(?:Int8|Int16|Int32|Int64|UInt8|UInt16|UInt32|UInt64|Float16|Float32|Float64|Boolean)\(([^()]*)\)")
            .expect("a valid regex")
    });
    if !text.is_match(name) && !number.is_match(name) {
        return name.to_string();
    }
    let quoted = text.replace_all(name, |c: &regex::Captures| {
        format!("'{}'", c[1].replace('\'', "''"))
    });
    let plain = number.replace_all(&quoted, "$1");
    // Arguments as written: `f(a, b)`, commas inside quotes kept as they are.
    let mut out = String::with_capacity(plain.len() + 8);
    let mut in_quotes = false;
    for c in plain.chars() {
        out.push(c);
        if c == '\'' {
            in_quotes = !in_quotes;
        } else if c == ',' && !in_quotes {
            out.push(' ');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::readable_name;

    #[test]
    fn constants_are_written_as_sql() {
        assert_eq!(
            readable_name(r#"quicklook(images.path,Utf8("asinh"),Int64(512))"#),
            "quicklook(images.path, 'asinh', 512)"
        );
        assert_eq!(
            readable_name("round(measurements.mag,Int64(1))"),
            "round(measurements.mag, 1)"
        );
        assert_eq!(
            readable_name(r#"concat(Utf8("a,b"),t.x)"#),
            "concat('a,b', t.x)"
        );
        assert_eq!(readable_name("count(*)"), "count(*)");
        assert_eq!(readable_name("star_id"), "star_id");
    }
}
