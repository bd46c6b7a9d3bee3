//! A table's rows with sky positions: its own (UCD `pos.eq.ra`/`pos.eq.dec` or usual
//! names), or, for rows of a star (`measurements`: a `star_id` column and no position),
//! the position of their star in `stars` (null for a star without a row or a position:
//! such rows are then counted as rejected, not dropped).

use anyhow::{Context, Result, bail};
use datafusion::prelude::{DataFrame, SessionContext};
use skyql_udfs::table_functions::positions::position_columns;

/// The rows of table `name` with positions.
pub async fn positioned_table(ctx: &SessionContext, name: &str) -> Result<DataFrame> {
    let table = ctx
        .table(name)
        .await
        .with_context(|| format!("no table {name} (skyql tables lists them)"))?;
    let own = position_columns(table.schema().as_arrow(), name);
    let Err(why) = own else {
        return Ok(table);
    };
    let has_star = table
        .schema()
        .fields()
        .iter()
        .any(|f| f.name() == "star_id");
    let stars = match ctx.table("stars").await {
        Ok(stars) if has_star && name != "stars" => stars,
        _ => bail!("{why}"),
    };
    let (ra, dec) =
        position_columns(stars.schema().as_arrow(), "stars").map_err(anyhow::Error::msg)?;
    let sql = format!(
        "SELECT t.*, s.\"{ra}\" AS ra, s.\"{dec}\" AS dec FROM \"{name}\" t LEFT JOIN stars s ON t.star_id = s.star_id"
    );
    Ok(ctx.sql(&sql).await?)
}
