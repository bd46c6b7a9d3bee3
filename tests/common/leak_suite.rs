//! The query shapes of the access-rights leak suite (docs/ACCESS.md): each is run with a
//! caller's row rules on a session of the whole catalogue and compared with the same
//! query on a session whose tables hold only the rows outside the protected field
//! (`tests/access.rs` embedded, `tests/cluster.rs` on a cluster).

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use skyql::access::RowFilter;
use skyql::engine::Engine;

/// The protected field of the suite.
pub const HIDDEN_FIELD: &str = "lm001";

/// A count over [`notes_table`] that fails on its hidden row only (its value is not `v`
/// and a number).
pub const FAILS_ON_HIDDEN: &str =
    "SELECT count(*) AS n FROM notes WHERE CAST(replace(value, 'v', '') AS INT) >= 0";

/// A CSV table `notes` (`field`, `value`) in `dir`: 40 rows of the field `visible`, whose
/// values are `v0` to `v39`, and one of [`HIDDEN_FIELD`] whose value is `vsecret`. A CSV
/// file's rows are tested by the rule and the query's conditions in one filter (nothing
/// prunes them), where a condition that fails on the hidden row would meet it.
pub fn notes_table(dir: &std::path::Path, visible: &str) -> skyql::engine::ExtraTable {
    let csv = dir.join("notes.csv");
    let mut text = String::from("field,value\n");
    for i in 0..40 {
        text.push_str(&format!("{visible},v{i}\n"));
    }
    text.push_str(&format!("{HIDDEN_FIELD},vsecret\n"));
    std::fs::write(&csv, text).unwrap();
    skyql::engine::ExtraTable::parse(&format!("notes={}", csv.display())).unwrap()
}

/// The error of [`FAILS_ON_HIDDEN`] on `ctx` without rules: it quotes the hidden value.
pub async fn hidden_value_error(ctx: &SessionContext) -> String {
    let failed = ctx
        .sql(FAILS_ON_HIDDEN)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(failed.contains("secret"), "{failed}");
    failed
}

/// The text of a query's rows, sorted (so that only the rows count, not their order),
/// with `filter`'s rules on every scan.
pub async fn rows(ctx: &SessionContext, sql: &str, filter: Option<&RowFilter>) -> String {
    let df = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let df = match filter {
        Some(f) => f.restrict_frame(df).unwrap(),
        None => df,
    };
    let batches = df.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let text = pretty_format_batches(&batches).unwrap().to_string();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    lines.join("\n")
}

/// A session on the catalogue in which every table holding `field` has only the rows
/// outside the protected field: what a caller without the right may see.
pub async fn visible_only(engine: &Engine) -> SessionContext {
    let ctx = engine.session(&[]).await.unwrap();
    for name in engine.catalog().unwrap().manifest.tables.keys() {
        let table = ctx.table(name.as_str()).await.unwrap();
        if table.schema().field_with_unqualified_name("field").is_err() {
            continue;
        }
        let view = table
            .filter(
                datafusion::prelude::col("field").not_eq(datafusion::prelude::lit(HIDDEN_FIELD)),
            )
            .unwrap()
            .into_view();
        ctx.deregister_table(name.as_str()).unwrap();
        ctx.register_table(name.as_str(), view).unwrap();
    }
    ctx
}

/// Every query shape of the suite, a cone placed on a star of the protected field.
pub async fn shapes(ctx: &SessionContext) -> Vec<String> {
    let (ra, dec): (f64, f64) = {
        let b = ctx
            .sql(&format!(
                "SELECT ra, dec FROM stars WHERE field = '{HIDDEN_FIELD}' ORDER BY star_id LIMIT 1"
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::Float64Type;
        (
            b[0].column(0).as_primitive::<Float64Type>().value(0),
            b[0].column(1).as_primitive::<Float64Type>().value(0),
        )
    };
    [
        "SELECT * FROM stars".to_string(),
        "SELECT count(*) FROM measurements".into(),
        "SELECT count(*) FROM stars".into(),
        "SELECT field, colour, count(*) FROM measurements GROUP BY field, colour".into(),
        "SELECT field, ccd, quarter, count(*) FROM measurements WHERE field = 'lm001' GROUP BY field, ccd, quarter".into(),
        "SELECT sum(n) FROM measurement_counts".into(),
        "SELECT count(DISTINCT field) FROM images".into(),
        "SELECT DISTINCT field FROM fields".into(),
        "SELECT s.field, count(*) FROM stars s JOIN measurements m ON s.star_id = m.star_id GROUP BY s.field".into(),
        "SELECT star_id FROM stars WHERE field = 'lm001' UNION SELECT star_id FROM measurements WHERE mag < 18".into(),
        "SELECT count(*) FROM fields WHERE EXISTS (SELECT 1 FROM stars WHERE stars.field = 'lm001')".into(),
        "SELECT (SELECT max(mjd) FROM measurements WHERE field = 'lm001') AS last".into(),
        // Answered from the manifest without a rule (`partition_scalars_rule`); over the
        // visible rows under one.
        "SELECT count(*) FROM measurements WHERE field = (SELECT min(field) FROM measurements)".into(),
        "SELECT (SELECT count(DISTINCT field) FROM stars) AS n, (SELECT max(field) FROM images) AS f".into(),
        "SELECT count(*) FROM measurements WHERE star_id = (SELECT min(star_id) FROM measurements)".into(),
        "SELECT star_id FROM stars WHERE star_id IN (SELECT star_id FROM measurements WHERE field = 'lm001')".into(),
        "SELECT star_id, mag FROM measurements ORDER BY mag, star_id LIMIT 5".into(),
        "SELECT star_id, lc_stats(mjd, mag, mag_err) AS s FROM measurements GROUP BY star_id".into(),
        format!("SELECT star_id FROM stars WHERE cone_contains(ra, dec, {ra}, {dec}, 0.05)"),
        "SELECT count(*), min(sep_arcsec) FROM xmatch('stars', 'stars', 5)".into(),
        "SELECT count(*) FROM stars a JOIN stars b ON ang_sep(a.ra, a.dec, b.ra, b.dec) < 0.001".into(),
    ]
    .into()
}

/// The rows of `text` (as [`rows`] writes them) with every decimal number written to 9
/// significant digits and the table's padding left out: the rows of a query whose sums
/// are made in another order (on a cluster) compare equal.
pub fn rounded(text: &str) -> Vec<String> {
    let number = regex::Regex::new(r"-?\d+\.\d+(e-?\d+)?").unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('+'))
        .map(|l| {
            let l = number.replace_all(l, |c: &regex::Captures| {
                c[0].parse::<f64>()
                    .map(|v| format!("{v:.8e}"))
                    .unwrap_or_else(|_| c[0].to_string())
            });
            l.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect();
    lines.sort();
    lines
}
