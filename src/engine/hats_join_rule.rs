//! An optimizer rule that lets spatial joins read only the pixels of a HATS table they
//! need. A join planned on HEALPix cells (`skyql_udfs::rules::spatial_join`) at order k
//! only pairs rows whose cells at k are the same or neighbours. When one side's positions
//! come unchanged from a table whose sky coverage its metadata gives (a HATS table: its
//! pixels; the catalogue's `stars`: each file's HEALPix range, kept in the manifest), and
//! the other side's positions come unchanged from a HATS table's, that HATS scan gains
//! `_healpix_29 BETWEEN ... OR ...` over the coverage widened by one cell at k: the scan
//! then lists only the pixels meeting it, and the other leaf files are never opened. A side
//! whose unmatched rows the join keeps (the left of a left join) is never restricted, and
//! the join's exact test stays: the rows are those of a full scan.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::{Expr, JoinType, LogicalPlan, TableScan};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use skyql_udfs::rules::cell_ranges::{
    CellRanges, intersection, merged_to, normalised, ranges_in_filters, ranges_predicate, widened,
};
use skyql_udfs::rules::spatial_join::{PLANNED_PREFIX, planned_cell_order};

use crate::catalog::manifest::TableEntry;
use crate::hats::options::HEALPIX29;
use crate::hats::table::{hats_scan_coverage, hats_scan_position};

/// Most `_healpix_29` ranges written into a scan's filters.
const MAX_RANGES: usize = 16;

/// The rule, with the coverage of the catalogue's `stars` when the manifest gives it.
#[derive(Debug, Default)]
pub struct HatsJoinPruning {
    /// The URL of the catalogue's `stars` listing table, and its coverage.
    stars: Option<(String, CellRanges)>,
}

impl HatsJoinPruning {
    /// The rule; `stars` is the catalogue's `stars` entry and the URL of its listing table.
    pub fn new(stars: Option<(&TableEntry, String)>) -> Self {
        let stars = stars.and_then(|(entry, url)| Some((url, stars_coverage(entry)?)));
        HatsJoinPruning { stars }
    }

    /// Where the positions of `side` can be, when they come unchanged from a table whose
    /// coverage is known.
    fn coverage(&self, side: &LogicalPlan) -> Option<CellRanges> {
        let (scan, position) = positioned_scan(side)?;
        if let Some(hats) = hats_scan_position(scan) {
            return (hats == position).then(|| hats_scan_coverage(scan))?;
        }
        let (url, stars) = self.stars.as_ref()?;
        let is_stars = super::tables::scans_url(scan, url) && position == ["ra", "dec"];
        if !is_stars {
            return None;
        }
        Some(match ranges_in_filters(&scan.filters, "healpix") {
            Some(allowed) => intersection(stars, &allowed),
            None => stars.clone(),
        })
    }

    /// The `_healpix_29` ranges a side may keep, given the other side of a join at `order`.
    fn reach(&self, other: &LogicalPlan, order: u8) -> Option<CellRanges> {
        let coverage = self.coverage(other)?;
        (!coverage.is_empty()).then(|| merged_to(widened(&coverage, order), MAX_RANGES))
    }

    /// `side` with its HATS scan restricted to the reach of `other`, when both allow it.
    fn restricted(
        &self,
        side: Arc<LogicalPlan>,
        other: &LogicalPlan,
        order: u8,
    ) -> Result<Transformed<Arc<LogicalPlan>>> {
        let target = positioned_scan(&side)
            .is_some_and(|(scan, position)| hats_scan_position(scan) == Some(position));
        let reach = match target {
            true => self.reach(other, order),
            false => None,
        };
        let Some(reach) = reach else {
            return Ok(Transformed::no(side));
        };
        let restricted = Arc::unwrap_or_clone(side).transform_down(|node| match node {
            LogicalPlan::TableScan(scan) => Ok(with_ranges(scan, &reach)),
            other => Ok(Transformed::no(other)),
        })?;
        Ok(restricted.update_data(Arc::new))
    }
}

impl OptimizerRule for HatsJoinPruning {
    fn name(&self) -> &str {
        "hats_join_pruning"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Join(mut join) = plan else {
            return Ok(Transformed::no(plan));
        };
        let Some(order) = planned_cell_order(&join) else {
            return Ok(Transformed::no(LogicalPlan::Join(join)));
        };
        // Only a side whose unmatched rows the join drops may lose rows.
        let (left_may_lose, right_may_lose) = match join.join_type {
            JoinType::Inner => (true, true),
            JoinType::Left => (false, true),
            JoinType::Right => (true, false),
            _ => (false, false),
        };
        let mut changed = false;
        if left_may_lose {
            let left = self.restricted(join.left.clone(), &join.right, order)?;
            changed |= left.transformed;
            join.left = left.data;
        }
        if right_may_lose {
            let right = self.restricted(join.right.clone(), &join.left, order)?;
            changed |= right.transformed;
            join.right = right.data;
        }
        Ok(Transformed::new_transformed(
            LogicalPlan::Join(join),
            changed,
        ))
    }
}

/// The HEALPix ranges of the catalogue's `stars` files, `None` when a file with rows has
/// none.
fn stars_coverage(stars: &TableEntry) -> Option<CellRanges> {
    let ranges = stars
        .data_files
        .iter()
        .filter(|f| f.rows > 0)
        .map(|f| {
            let (lo, hi) = f.healpix_range()?;
            Some((lo.max(0) as u64, hi.max(0) as u64 + 1))
        })
        .collect::<Option<CellRanges>>()?;
    Some(normalised(ranges))
}

/// The scan `side` reads its rows from, and the columns of that scan its join positions
/// are, when they pass unchanged: down through projections (the one that computes the
/// join's cells names the position columns; those below must pass them through), filters,
/// aliases, the unnesting of the cells and the numbering of rows; nothing that adds,
/// merges or limits rows.
fn positioned_scan(side: &LogicalPlan) -> Option<(&TableScan, [String; 2])> {
    let mut node = side;
    let mut position: Option<[String; 2]> = None;
    loop {
        node = match node {
            LogicalPlan::TableScan(scan) => return Some((scan, position?)),
            LogicalPlan::Projection(p) => {
                match &position {
                    None => position = cell_position(&p.expr),
                    Some([ra, dec]) if passes(&p.expr, ra) && passes(&p.expr, dec) => {}
                    Some(_) => return None,
                }
                &p.input
            }
            LogicalPlan::Filter(f) => &f.input,
            LogicalPlan::SubqueryAlias(a) => &a.input,
            LogicalPlan::Unnest(u) if position.is_none() => &u.input,
            LogicalPlan::Window(w) if w.window_expr.iter().all(is_planned) => &w.input,
            _ => return None,
        };
    }
}

/// The position columns of the cells a spatial join added in this projection.
fn cell_position(exprs: &[Expr]) -> Option<[String; 2]> {
    exprs.iter().find_map(|e| match e {
        Expr::Alias(alias) if alias.name.starts_with(PLANNED_PREFIX) => match alias.expr.as_ref() {
            Expr::ScalarFunction(f)
                if matches!(f.func.name(), "healpix" | "healpix_cone_cells") =>
            {
                match (f.args.first(), f.args.get(1)) {
                    (Some(Expr::Column(ra)), Some(Expr::Column(dec))) => {
                        Some([ra.name.clone(), dec.name.clone()])
                    }
                    _ => None,
                }
            }
            _ => None,
        },
        _ => None,
    })
}

/// Whether the projection's only output named `name` is its input's column `name`.
fn passes(exprs: &[Expr], name: &str) -> bool {
    let named: Vec<&Expr> = exprs
        .iter()
        .filter(|e| match e {
            Expr::Alias(a) => a.name == name,
            Expr::Column(c) => c.name == name,
            _ => false,
        })
        .collect();
    let plain = |e: &Expr| matches!(e, Expr::Column(c) if c.name == name);
    match named.as_slice() {
        [Expr::Alias(a)] => plain(&a.expr),
        [e] => plain(e),
        _ => false,
    }
}

/// Whether a window expression is one the spatial join added (it numbers rows only).
fn is_planned(e: &Expr) -> bool {
    matches!(e, Expr::Alias(a) if a.name.starts_with(PLANNED_PREFIX))
}

/// The scan with `_healpix_29` within `ranges` among its filters, unless its filters
/// already keep it there.
fn with_ranges(mut scan: TableScan, ranges: &CellRanges) -> Transformed<LogicalPlan> {
    let already = ranges_in_filters(&scan.filters, HEALPIX29)
        .is_some_and(|current| intersection(&current, ranges) == normalised(current.clone()));
    let column = Column::new(Some(scan.table_name.clone()), HEALPIX29);
    match ranges_predicate(&column, ranges) {
        Some(predicate) if !already => {
            scan.filters.push(predicate);
            Transformed::yes(LogicalPlan::TableScan(scan))
        }
        _ => Transformed::no(LogicalPlan::TableScan(scan)),
    }
}
