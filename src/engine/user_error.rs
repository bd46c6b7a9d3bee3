//! Planning errors in the user's words, said once, the same in the CLI, the shell and the
//! service (every front plans through [`super::Engine::sql`]). Chosen by the error's type,
//! not by its text: a parser error shows the line and a caret under the position; a
//! table that does not exist is found before planning (from the statement's table
//! references) and named with the tables that exist and the nearest one; an unknown
//! column is named once with the nearest column. A statement that fails and holds ADQL
//! (`TOP n`, `POINT`, `CIRCLE`, `CONTAINS`, ...) gets the SQL form of what it wrote and
//! `--adql`. Other errors keep DataFusion's message.

use datafusion::common::SchemaError;
use datafusion::common::utils::datafusion_strsim::levenshtein;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// The message of a planning error in the user's words, when its type is one of those
/// worded here or the statement holds ADQL (the hint then follows DataFusion's message);
/// None keeps DataFusion's error as it is (its type tells the service whose fault it is).
pub fn planning_message(e: &DataFusionError, sql: &str) -> Option<String> {
    let worded = match e.find_root() {
        DataFusionError::SQL(p, _) => Some(parser_message(p, sql)),
        DataFusionError::SchemaError(schema_error, _) => match schema_error.as_ref() {
            SchemaError::FieldNotFound {
                field,
                valid_fields,
            } => {
                let names: Vec<String> = valid_fields.iter().map(|c| c.name.clone()).collect();
                let shown = field.flat_name();
                let listed = format!("the columns are {}", names.join(", "));
                Some(
                    match nearest(&field.name, names.iter().map(String::as_str)) {
                        Some(n) => format!("no column {shown}; did you mean {n}? ({listed})"),
                        None => format!("no column {shown}; {listed}"),
                    },
                )
            }
            _ => None,
        },
        DataFusionError::Internal(text) => signature_message(text),
        _ => None,
    };
    match (worded, adql_hint(sql)) {
        (Some(m), Some(hint)) => Some(format!("{m}\nhint: {hint}")),
        (None, Some(hint)) => Some(format!("{}\nhint: {hint}", e.find_root())),
        (worded, None) => worded,
    }
}

/// An error chain's text (`a: b: c`) with each cause once: DataFusion repeats a cause
/// through every layer it crosses (`Arrow error: Csv error: X: Csv error: X`), and an
/// anyhow chain adds its own. The CLI, the shell and the service all say it this way.
pub fn each_cause_once(text: &str) -> String {
    let parts: Vec<&str> = text.split(": ").collect();
    let kept: Vec<&str> = parts
        .iter()
        .enumerate()
        .filter(|(i, p)| !parts[i + 1..].contains(p))
        .map(|(_, p)| *p)
        .collect();
    kept.join(": ")
}

/// DataFusion's error for a skyql function called with wrong arguments, as the
/// function's usage from its documentation (`skyql describe-function`); None for other
/// errors and for DataFusion's own functions ([`signature_message`] words those).
pub fn function_usage(text: &str) -> Option<String> {
    let mismatch = [
        "failed to match any signature",
        "Failed to coerce arguments",
        "expected",
    ]
    .iter()
    .any(|k| text.contains(k));
    if !mismatch {
        return None;
    }
    let name = ["Function '", "a call to '", "function '"]
        .iter()
        .find_map(|p| {
            let start = text.find(p)? + p.len();
            Some(&text[start..start + text[start..].find('\'')?])
        })?;
    let doc = skyql_udfs::docs::function_doc(name)?;
    Some(format!(
        "wrong arguments for {name}: usage {} (skyql describe-function {name})",
        doc.usage
    ))
}

/// A function called with arguments of types it does not take. DataFusion 55 raises this
/// user's mistake as an internal error (`Function 'avg' failed to match any signature`),
/// at planning or when the plan is optimized before it runs, and its text is the only
/// place that gives the call and the accepted types: this one case is read from the text
/// (of the error or of its chain), by every front.
pub fn signature_message(text: &str) -> Option<String> {
    let start = text.find("Function '")? + "Function '".len();
    let function = text[start..].split('\'').next()?;
    if !text.contains("failed to match any signature") {
        return None;
    }
    let call = text
        .split("argument types '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or(function);
    let mut accepted: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with(&format!("{function}(")))
        .collect();
    accepted.dedup();
    let takes = if accepted.is_empty() {
        String::new()
    } else {
        format!("; it takes {}", accepted.join(", "))
    };
    Some(format!(
        "{function}() does not take these arguments: {call}{takes}. A column of text that \
         holds numbers can be cast, e.g. CAST(mag AS DOUBLE)"
    ))
}

/// A CSV file's fault in words, when `e` is one (Arrow's CSV reader error): a line with
/// more or fewer fields than the header says which line and how many of each.
pub fn csv_message(e: &DataFusionError) -> Option<String> {
    let DataFusionError::ArrowError(arrow, _) = e.find_root() else {
        return None;
    };
    let datafusion::arrow::error::ArrowError::CsvError(text) = arrow.as_ref() else {
        return None;
    };
    let numbers: Vec<usize> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    Some(
        match (text.contains("unequal lengths"), numbers.as_slice()) {
            (true, [expected, found, line]) => {
                format!("line {line} has {found} fields where the header has {expected}")
            }
            _ => text.clone(),
        },
    )
}

/// A parser error with the line it points at and a caret under the column.
fn parser_message(e: &ParserError, sql: &str) -> String {
    let text = match e {
        ParserError::ParserError(t) | ParserError::TokenizerError(t) => t.clone(),
        ParserError::RecursionLimitExceeded => {
            return "the statement nests too deeply to be read".into();
        }
    };
    let Some(at) = text.rfind(" at Line: ") else {
        return format!("syntax error: {text}");
    };
    let what = text[..at]
        .replace("Expected: ", "expected ")
        .replace(", found: ", ", found ");
    let mut numbers = text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse::<usize>().ok());
    let (Some(line), Some(column)) = (numbers.next(), numbers.next()) else {
        return format!("syntax error: {what}");
    };
    let Some(source) = sql.lines().nth(line.saturating_sub(1)) else {
        return format!("syntax error at line {line}, column {column}: {what}");
    };
    let caret = " ".repeat(column.saturating_sub(1).min(source.chars().count()));
    format!("syntax error at line {line}, column {column}: {what}\n  {source}\n  {caret}^")
}

/// The name of `names` nearest to `wanted`, when it is near enough to be a misspelling
/// (a few letters off) or a shortening (`star` for `star_id`).
pub fn nearest<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = wanted.to_lowercase();
    names
        .filter_map(|n| {
            let lower = n.to_lowercase();
            let distance = levenshtein(&wanted, &lower);
            if distance <= 2.max(n.len() / 3) {
                Some((distance, n))
            } else if wanted.len() >= 3 && lower.starts_with(&wanted) {
                Some((lower.len() - wanted.len(), n))
            } else {
                None
            }
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// The tables a user can name in `ctx`, as they would type them: bare names in the
/// default schema, `schema.table` in the others; DataFusion's own views left out.
pub fn table_names(ctx: &SessionContext) -> Vec<String> {
    let state = ctx.state();
    let defaults = &state.config().options().catalog;
    let mut names = Vec::new();
    for catalog_name in ctx.catalog_names() {
        let Some(catalog) = ctx.catalog(&catalog_name) else {
            continue;
        };
        for schema_name in catalog.schema_names() {
            if schema_name == "information_schema" {
                continue;
            }
            let Some(schema) = catalog.schema(&schema_name) else {
                continue;
            };
            let bare =
                catalog_name == defaults.default_catalog && schema_name == defaults.default_schema;
            for table in schema.table_names() {
                names.push(if bare {
                    table
                } else {
                    format!("{schema_name}.{table}")
                });
            }
        }
    }
    names.sort();
    names
}

/// The first table the parsed statements name that `ctx` does not have, as an error
/// message naming the tables it has and the nearest one; table functions and the
/// statement's own CTEs are not tables.
pub fn unknown_table(
    ctx: &SessionContext,
    statements: &[DfStatement],
    no_catalogue: bool,
) -> Option<String> {
    let state = ctx.state();
    for statement in statements {
        // Queries only: the table a CREATE or COPY names need not exist yet.
        let query = match statement {
            DfStatement::Statement(s) => matches!(**s, Statement::Query(_)),
            _ => false,
        };
        if !query {
            continue;
        }
        let references = state.resolve_table_references(statement).ok()?;
        for reference in references {
            if state.table_functions().contains_key(reference.table())
                || ctx.table_exist(reference.clone()).unwrap_or(false)
            {
                continue;
            }
            return Some(no_table_message(ctx, &reference.to_string(), no_catalogue));
        }
    }
    None
}

/// "no table NAME" with the nearest table's name and the tables `ctx` has (or how to
/// give some, without a catalogue).
pub fn no_table_message(ctx: &SessionContext, wanted: &str, no_catalogue: bool) -> String {
    fn table_part(n: &str) -> &str {
        n.rsplit('.').next().unwrap_or(n)
    }
    let names = table_names(ctx);
    // The whole name, else the table part alone (`star` for `eros2.stars`).
    let near = nearest(wanted, names.iter().map(String::as_str)).or_else(|| {
        names
            .iter()
            .find(|n| nearest(table_part(wanted), std::iter::once(table_part(n))).is_some())
            .map(String::as_str)
    });
    let listed = if names.is_empty() {
        "this session has no table".to_string()
    } else {
        format!("the tables are {}", names.join(", "))
    };
    if no_catalogue {
        return format!(
            "no table {wanted}: no catalogue was given: name one with --catalog DIR or SKYQL_CATALOG, or add files with --table NAME=PATH ({listed})"
        );
    }
    match near {
        Some(n) => format!("no table {wanted}; did you mean {n}? ({listed})"),
        None => format!("no table {wanted}; {listed}"),
    }
}

/// The SQL form of the ADQL a statement holds, if it holds some.
fn adql_hint(sql: &str) -> Option<String> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql).tokenize().ok()?;
    let tokens: Vec<&Token> = tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    // Each word, upper case, and whether a '(' follows it (a call).
    let words: Vec<(String, bool)> = tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t {
            Token::Word(w) => Some((
                w.value.to_uppercase(),
                tokens.get(i + 1) == Some(&&Token::LParen),
            )),
            _ => None,
        })
        .collect();
    let mut hints = Vec::new();
    if words.iter().any(|(w, _)| w == "TOP") {
        hints.push("TOP n is ADQL; in SQL write LIMIT n at the end");
    }
    let called = |name: &str| words.iter().any(|(w, call)| w == name && *call);
    if called("CONTAINS") || called("POINT") || called("CIRCLE") {
        hints.push(
            "CONTAINS(POINT(ra, dec), CIRCLE(ra0, dec0, r)) = 1 is ADQL; in SQL write cone_contains(ra, dec, ra0, dec0, r)",
        );
    }
    if called("DISTANCE") {
        hints.push(
            "DISTANCE(POINT(...), POINT(...)) is ADQL; in SQL write ang_sep(ra1, dec1, ra2, dec2)",
        );
    }
    if called("BOX") || called("POLYGON") {
        hints.push(
            "BOX and POLYGON are ADQL; in SQL write sky_box_contains or sky_polygon_contains",
        );
    }
    if hints.is_empty() {
        return None;
    }
    Some(format!(
        "{}; or run the statement as ADQL (skyql query --adql, \\adql in the shell)",
        hints.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parser_error_points_at_its_line_and_column() {
        let sql = "SELECT ra\nFRM stars";
        let e = datafusion::sql::parser::DFParser::parse_sql(sql).unwrap_err();
        let text = planning_message(&e, sql).unwrap();
        assert!(
            text.starts_with("syntax error at line 2, column 5"),
            "{text}"
        );
        assert!(text.ends_with("  FRM stars\n      ^"), "{text}");
        assert!(!text.contains("ParserError("), "{text}");
    }

    #[test]
    fn adql_is_recognised_by_its_tokens_not_inside_strings() {
        assert!(
            adql_hint("SELECT TOP 3 * FROM stars")
                .unwrap()
                .contains("LIMIT")
        );
        let cone = adql_hint("SELECT * FROM s WHERE CONTAINS(POINT(ra, dec), CIRCLE(1, 2, 3)) = 1");
        assert!(cone.unwrap().contains("cone_contains"));
        assert!(adql_hint("SELECT 'TOP' AS top_name, point FROM s").is_none());
    }

    #[test]
    fn the_nearest_name_is_a_misspelling_or_nothing() {
        let names = ["stars", "measurements", "images"];
        assert_eq!(nearest("star", names.iter().copied()), Some("stars"));
        assert_eq!(
            nearest("measurement", names.iter().copied()),
            Some("measurements")
        );
        assert_eq!(nearest("quasars", names.iter().copied()), None);
        let columns = ["star_id", "ra", "dec"];
        assert_eq!(nearest("star", columns.iter().copied()), Some("star_id"));
    }
}
