//! ADQL 2.0/2.1 to DataFusion SQL: the statement parsed by DataFusion's own parser
//! (sqlparser, generic dialect) is rewritten before planning.
//!
//! - `SELECT TOP n` becomes `LIMIT n` (DataFusion refuses TOP); `OFFSET` is kept.
//! - `CONTAINS(POINT(frame, ra, dec), CIRCLE(frame, ra0, dec0, r)) = 1` (also `1 = ...`,
//!   `INTERSECTS`, and `= 0` for the complement) becomes `cone_contains(ra, dec, ra0, dec0,
//!   r)`, which the HEALPix pruning rule recognises; with `BOX` or `POLYGON` it becomes
//!   `sky_polygon_contains(ra, dec, corners...)`.
//! - A region column (ObsCore's `s_region`, STC-S text) inside `CONTAINS(POINT, column)`
//!   or `INTERSECTS(column, CIRCLE)` becomes `sky_region_contains` or
//!   `sky_region_meets_circle`; given the region margin (the largest distance from a row's
//!   `s_ra`, `s_dec` to its region), a test on `s_region` also gains `cone_contains(s_ra,
//!   s_dec, ra0, dec0, r + margin)`, which the pruning reads.
//! - `DISTANCE(POINT, POINT)` and `DISTANCE(ra1, dec1, ra2, dec2)` become `ang_sep`;
//!   `COORD1`/`COORD2` of a POINT its coordinates.
//! - ADQL's maths names: `LOG` (natural) -> `ln`, `CEILING` -> `ceil`, `TRUNCATE` -> `trunc`,
//!   `RAND` -> `random`, `MOD(a, b)` -> `a % b`.
//!
//! A statement that is not a query (DDL, DML, COPY, SET) is refused, and so are the image
//! functions (they write files).

use std::ops::ControlFlow;

use anyhow::{Result, bail};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, LimitClause,
    Query, SetExpr, Statement, TopQuantity, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Functions that write files: never in a service query.
const WRITING_FUNCTIONS: [&str; 3] = ["cutout", "public_image", "quicklook"];

/// The DataFusion SQL of an ADQL query, or why it cannot run.
pub fn translate(adql: &str) -> Result<String> {
    translate_with(adql, None)
}

/// [`translate`], with the margin in degrees that bounds the distance from a row's
/// `s_ra`, `s_dec` to any point of its `s_region` (the service's ObsCore table): searches
/// on `s_region` then also test the position, so that the HEALPix pruning applies.
pub fn translate_with(adql: &str, s_region_margin: Option<f64>) -> Result<String> {
    let mut statements = DFParser::parse_sql(adql).map_err(|e| anyhow::anyhow!("{e}"))?;
    if statements.len() != 1 {
        bail!(
            "one query at a time ({} statements given)",
            statements.len()
        );
    }
    let Some(DfStatement::Statement(statement)) = statements.pop_front() else {
        bail!("only SELECT queries are accepted");
    };
    let mut statement = *statement;
    if !matches!(statement, Statement::Query(_)) {
        bail!("only SELECT queries are accepted: this service is read-only");
    }
    let mut rewriter = Rewriter {
        error: None,
        s_region_margin,
    };
    let _ = statement.visit(&mut rewriter);
    if let Some(e) = rewriter.error {
        bail!(e);
    }
    // Geometry values left over stand outside CONTAINS, INTERSECTS, DISTANCE, COORD1/2.
    let mut leftover = None;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(&statement, |e| {
        if let Expr::Function(f) = e
            && matches!(
                function_name(f).as_str(),
                "point" | "circle" | "box" | "polygon"
            )
        {
            leftover = Some(function_name(f).to_uppercase());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    if let Some(g) = leftover {
        bail!("{g} is supported only inside CONTAINS, INTERSECTS, DISTANCE and COORD1/COORD2");
    }
    Ok(statement.to_string())
}

struct Rewriter {
    error: Option<String>,
    s_region_margin: Option<f64>,
}

impl Rewriter {
    /// Replaces `expr` by what `step` makes of it; an error stops the walk and is kept.
    fn apply(
        &mut self,
        expr: &mut Expr,
        step: impl Fn(&Expr) -> Result<Option<Expr>, String>,
    ) -> ControlFlow<()> {
        match step(expr) {
            Ok(Some(new)) => *expr = new,
            Ok(None) => {}
            Err(e) => {
                self.error = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        let Some(top) = select.top.take() else {
            return ControlFlow::Continue(());
        };
        let n = match top.quantity {
            Some(TopQuantity::Constant(n)) => Expr::value(Value::Number(n.to_string(), false)),
            Some(TopQuantity::Expr(e)) => e,
            None => return ControlFlow::Continue(()),
        };
        match &mut query.limit_clause {
            Some(LimitClause::LimitOffset { limit, .. }) if limit.is_none() => *limit = Some(n),
            Some(_) => self.error = Some("TOP and LIMIT together".into()),
            None => {
                query.limit_clause = Some(LimitClause::LimitOffset {
                    limit: Some(n),
                    offset: None,
                    limit_by: Vec::new(),
                })
            }
        }
        ControlFlow::Continue(())
    }

    /// Comparisons of CONTAINS with 1 or 0, before their operands are visited.
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let margin = self.s_region_margin;
        self.apply(expr, |e| rewrite_comparison(e, margin))
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let margin = self.s_region_margin;
        self.apply(expr, |e| rewrite(e, margin))
    }
}

/// The name of a function call, lower case.
fn function_name(f: &Function) -> String {
    f.name.to_string().to_ascii_lowercase()
}

/// The plain expression arguments of a function call.
fn arguments(f: &Function) -> Vec<Expr> {
    let FunctionArguments::List(list) = &f.args else {
        return Vec::new();
    };
    list.args
        .iter()
        .filter_map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn parse(sql: &str) -> Result<Expr, String> {
    Parser::new(&GenericDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| format!("internal ADQL rewrite of '{sql}': {e}"))
}

/// A geometry value: its name and its numeric arguments (the frame string dropped).
fn geometry(e: &Expr) -> Option<(String, Vec<Expr>)> {
    let Expr::Function(f) = e else { return None };
    let name = function_name(f);
    if !matches!(name.as_str(), "point" | "circle" | "box" | "polygon") {
        return None;
    }
    let mut args = arguments(f);
    // ADQL 2.0 puts a coordinate system string first; 2.1 makes it optional.
    if matches!(args.first(), Some(Expr::Value(v)) if matches!(v.value, Value::SingleQuotedString(_)))
    {
        args.remove(0);
    }
    Some((name, args))
}

fn joined(args: &[Expr]) -> String {
    args.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `CONTAINS(point, region)` (or INTERSECTS) as a boolean skyql expression.
fn containment(f: &Function, margin: Option<f64>) -> Result<Option<String>, String> {
    let name = function_name(f);
    if name != "contains" && name != "intersects" {
        return Ok(None);
    }
    let args = arguments(f);
    if let Some(test) = region_column_test(&name, &args, margin)? {
        return Ok(Some(test));
    }
    let (Some(a), Some(b)) = (
        args.first().and_then(geometry),
        args.get(1).and_then(geometry),
    ) else {
        return Err(format!(
            "{}: the arguments must be a POINT and a CIRCLE, BOX or POLYGON",
            name.to_uppercase()
        ));
    };
    // INTERSECTS is symmetric: the point may come second.
    let ((_, p), (region, r)) = if a.0 == "point" { (a, b) } else { (b, a) };
    if p.len() != 2 {
        return Err("POINT takes two coordinates (and an optional frame)".into());
    }
    match region.as_str() {
        "circle" if r.len() == 3 => Ok(Some(format!(
            "cone_contains({}, {}, {})",
            p[0],
            p[1],
            joined(&r)
        ))),
        "box" if r.len() == 4 => Ok(Some(format!(
            "sky_box_contains({}, {}, {})",
            p[0],
            p[1],
            joined(&r)
        ))),
        "polygon" if r.len() >= 6 && r.len() % 2 == 0 => Ok(Some(format!(
            "sky_polygon_contains({}, {}, {})",
            p[0],
            p[1],
            joined(&r)
        ))),
        "point" => Err("CONTAINS of a POINT in a POINT is not supported".into()),
        other => Err(format!(
            "{} with a {} of {} values is not valid ADQL",
            name.to_uppercase(),
            other.to_uppercase(),
            r.len()
        )),
    }
}

/// A column (or qualified column) that holds regions, and its qualifier.
fn region_column(e: &Expr) -> Option<(Option<String>, String)> {
    match e {
        Expr::Identifier(i) => Some((None, i.value.clone())),
        Expr::CompoundIdentifier(parts) if parts.len() > 1 => {
            let names: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
            let (last, qualifier) = names.split_last()?;
            Some((
                Some(qualifier.join(".")),
                last.trim_matches('"').to_string(),
            ))
        }
        _ => None,
    }
}

/// `CONTAINS(POINT, column)` and `INTERSECTS(column, CIRCLE or POINT)` (either order) on a
/// column of STC-S regions; `None` when neither argument is a column.
fn region_column_test(
    name: &str,
    args: &[Expr],
    margin: Option<f64>,
) -> Result<Option<String>, String> {
    let (column, shape) = match (args.first(), args.get(1)) {
        (Some(c), Some(g)) if geometry(c).is_none() && name == "intersects" => (c, geometry(g)),
        (Some(g), Some(c)) if geometry(c).is_none() => (c, geometry(g)),
        _ => return Ok(None),
    };
    let Some((qualifier, column_name)) = region_column(column) else {
        return Ok(None);
    };
    let Some((shape, values)) = shape else {
        return Err(format!(
            "{}: one argument must be a POINT or a CIRCLE",
            name.to_uppercase()
        ));
    };
    let (test, cone) = match (shape.as_str(), values.len()) {
        ("point", 2) => (
            format!("sky_region_contains({column}, {})", joined(&values)),
            format!("{}, {}", joined(&values), margin.unwrap_or(0.0)),
        ),
        ("circle", 3) if name == "intersects" => (
            format!("sky_region_meets_circle({column}, {})", joined(&values)),
            format!(
                "{}, {}, {} + {}",
                values[0],
                values[1],
                values[2],
                margin.unwrap_or(0.0)
            ),
        ),
        _ => {
            return Err(format!(
                "{} on the region column {column_name} takes a POINT (CONTAINS or INTERSECTS) or a CIRCLE (INTERSECTS)",
                name.to_uppercase()
            ));
        }
    };
    match margin {
        Some(_) if column_name.eq_ignore_ascii_case("s_region") => {
            let q = qualifier.map(|q| format!("{q}.")).unwrap_or_default();
            Ok(Some(format!(
                "(cone_contains({q}s_ra, {q}s_dec, {cone}) AND {test})"
            )))
        }
        _ => Ok(Some(test)),
    }
}

fn is_number(e: &Expr, n: &str) -> bool {
    matches!(e, Expr::Value(v) if matches!(&v.value, Value::Number(x, _) if x == n))
}

/// `CONTAINS(...) = 1` (or `1 = ...`, `= 0`) as the boolean test.
fn rewrite_comparison(expr: &Expr, margin: Option<f64>) -> Result<Option<Expr>, String> {
    match expr {
        Expr::BinaryOp { left, op, right } if *op == BinaryOperator::Eq => {
            let (call, other) = match (left.as_ref(), right.as_ref()) {
                (Expr::Function(f), o) | (o, Expr::Function(f)) => (f, o),
                _ => return Ok(None),
            };
            let Some(test) = containment(call, margin)? else {
                return Ok(None);
            };
            if is_number(other, "1") {
                parse(&test).map(Some)
            } else if is_number(other, "0") {
                parse(&format!("NOT {test}")).map(Some)
            } else {
                Err("CONTAINS and INTERSECTS compare with 1 or 0".into())
            }
        }
        _ => Ok(None),
    }
}

/// The rewrite of one expression, its operands already rewritten, if it needs one.
fn rewrite(expr: &Expr, margin: Option<f64>) -> Result<Option<Expr>, String> {
    match expr {
        Expr::Function(f) => rewrite_function(f, margin),
        _ => Ok(None),
    }
}

fn rewrite_function(f: &Function, margin: Option<f64>) -> Result<Option<Expr>, String> {
    let name = function_name(f);
    let args = arguments(f);
    let sql = match name.as_str() {
        n if WRITING_FUNCTIONS.contains(&n) => {
            return Err(format!(
                "{n} writes files, which this read-only service does not do"
            ));
        }
        n if crate::engine::FILE_READING_FUNCTIONS.contains(&n) => {
            return Err(format!(
                "{n} reads files of the server, which this service does not do"
            ));
        }
        // A CONTAINS outside a comparison: 1 or 0 as ADQL says.
        "contains" | "intersects" => match containment(f, margin)? {
            Some(test) => format!("CAST({test} AS INT)"),
            None => return Ok(None),
        },
        "distance" => match (
            args.first().and_then(geometry),
            args.get(1).and_then(geometry),
        ) {
            (Some((_, a)), Some((_, b))) if a.len() == 2 && b.len() == 2 => {
                format!("ang_sep({}, {}, {}, {})", a[0], a[1], b[0], b[1])
            }
            _ if args.len() == 4 => format!("ang_sep({})", joined(&args)),
            _ => return Err("DISTANCE takes two POINTs or four numbers".into()),
        },
        "coord1" | "coord2" => match args.first().and_then(geometry) {
            Some((g, p)) if g == "point" && p.len() == 2 => {
                p[if name == "coord1" { 0 } else { 1 }].to_string()
            }
            _ => return Err(format!("{} takes a POINT", name.to_uppercase())),
        },
        "log" if args.len() == 1 => format!("ln({})", args[0]),
        "ceiling" => format!("ceil({})", joined(&args)),
        "truncate" => format!("trunc({})", joined(&args)),
        "rand" => "random()".to_string(),
        "mod" if args.len() == 2 => format!("(({}) % ({}))", args[0], args[1]),
        "region" | "centroid" | "area" => {
            return Err(format!("{} is not supported", name.to_uppercase()));
        }
        _ => return Ok(None),
    };
    parse(&sql).map(Some)
}

#[cfg(test)]
mod tests {
    use super::{translate, translate_with};

    #[test]
    fn top_becomes_limit() {
        let sql = translate("SELECT TOP 5 star_id FROM stars ORDER BY star_id").unwrap();
        assert!(sql.ends_with("LIMIT 5"), "{sql}");
        let nested = translate("SELECT * FROM (SELECT TOP 3 * FROM stars) AS t").unwrap();
        assert!(nested.contains("LIMIT 3"), "{nested}");
    }

    #[test]
    fn contains_becomes_the_pruned_cone() {
        let sql = translate(
            "SELECT * FROM stars WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 80.9, -69.7, 0.1))",
        )
        .unwrap();
        assert!(
            sql.contains("cone_contains(ra, dec, 80.9, -69.7, 0.1)"),
            "{sql}"
        );
        let not = translate(
            "SELECT * FROM stars WHERE CONTAINS(POINT(ra, dec), CIRCLE(80.9, -69.7, 0.1)) = 0",
        )
        .unwrap();
        assert!(not.contains("NOT cone_contains"), "{not}");
    }

    #[test]
    fn distance_and_maths_names() {
        let sql = translate(
            "SELECT DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 1, 2)), LOG(x), LOG10(x), CEILING(x), MOD(a, b) FROM t",
        )
        .unwrap();
        assert!(sql.contains("ang_sep(ra, dec, 1, 2)"), "{sql}");
        assert!(
            sql.contains("ln(x)") && sql.contains("LOG10(x)") && sql.contains("CEIL(x)"),
            "{sql}"
        );
        assert!(sql.contains("% (b)"), "{sql}");
    }

    #[test]
    fn region_columns_are_searched_and_pruned_by_position() {
        let adql = "SELECT * FROM ivoa.obscore AS o WHERE INTERSECTS(o.s_region, CIRCLE('ICRS', 80.9, -69.7, 0.1)) = 1";
        let pruned = translate_with(adql, Some(0.25)).unwrap();
        assert!(
            pruned.contains("cone_contains(o.s_ra, o.s_dec, 80.9, -69.7, 0.1 + 0.25)")
                && pruned.contains("sky_region_meets_circle(o.s_region, 80.9, -69.7, 0.1)"),
            "{pruned}"
        );
        let plain =
            translate("SELECT * FROM t WHERE CONTAINS(POINT('ICRS', 10, 20), footprint) = 1")
                .unwrap();
        assert!(
            plain.contains("sky_region_contains(footprint, 10, 20)")
                && !plain.contains("cone_contains"),
            "{plain}"
        );
        let either_order = translate_with(
            "SELECT * FROM ivoa.obscore WHERE 1 = INTERSECTS(CIRCLE(1, 2, 0.5), s_region)",
            Some(0.0),
        )
        .unwrap();
        assert!(
            either_order.contains("cone_contains(s_ra, s_dec, 1, 2, 0.5 + 0)"),
            "{either_order}"
        );
        assert!(
            translate("SELECT * FROM t WHERE CONTAINS(s_region, CIRCLE(1, 2, 3)) = 1").is_err()
        );
    }

    #[test]
    fn writes_are_refused() {
        assert!(translate("DROP TABLE stars").is_err());
        assert!(translate("SELECT cutout(path, 1, 2, 3) FROM images").is_err());
        assert!(translate("SELECT 1; SELECT 2").is_err());
    }
}
