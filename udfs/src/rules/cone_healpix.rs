//! An optimizer rule that lets cone searches skip data: a filter
//! `cone_contains(ra, dec, RA0, DEC0, R)` with literal centre and radius, on a table that
//! also has a `healpix` column (NESTED, order 29, as `stars.healpix`) or a `_healpix_29`
//! column (HATS catalogues), gains the conjunct
//! `healpix BETWEEN lo AND hi OR ...` over the HEALPix cells covering the cone. Parquet
//! row-group and file statistics on `healpix` then skip what cannot intersect the cone;
//! the `cone_contains` filter stays, so results are exactly those of a full scan. The rule
//! must run before projections are pushed into the scans (see [`super::optimizer_rules`]).

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::cell_ranges::{CellRanges, merged_to, ranges_predicate};
use super::conjuncts::{LiteralCone, add_to_filters, literal_cone};

/// Most ranges written into a predicate; beyond, neighbouring ranges are merged.
const MAX_RANGES: usize = 16;

/// Most ranges written into the filter the scans prune with: DataFusion builds a pruning
/// predicate from it for every file it opens and every row group and page it prunes.
const PREDICATE_RANGES: usize = 4;

/// Names of order-29 NESTED index columns: skyql's `stars.healpix`, HATS's `_healpix_29`.
const INDEX_COLUMNS: [&str; 2] = ["_healpix_29", "healpix"];

/// The rule; placed in the optimizer by [`super::optimizer_rules`].
#[derive(Debug, Default)]
pub struct ConeHealpixPruning;

/// Order-29 NESTED index ranges `[lo, hi)` covering a cone (degrees), or `None` when the
/// cone is too large to be worth it (more than a few degrees: no pruning, same result).
pub fn cone_ranges(ra0: f64, dec0: f64, radius: f64) -> Option<Vec<(u64, u64)>> {
    if !(ra0.is_finite() && (-90.0..=90.0).contains(&dec0) && radius > 0.0 && radius < 10.0) {
        return None;
    }
    let r = radius.to_radians();
    if !cdshealpix::has_best_starting_depth(r) {
        return None;
    }
    let depth = (cdshealpix::best_starting_depth(r) + 2).min(20);
    let bmoc =
        cdshealpix::nested::cone_coverage_approx(depth, ra0.to_radians(), dec0.to_radians(), r);
    let shift = 2 * (29 - depth as u32);
    let ranges: CellRanges = bmoc
        .to_ranges()
        .iter()
        .map(|r| (r.start << shift, r.end << shift))
        .collect();
    Some(merged_to(ranges, MAX_RANGES))
}

/// The ranges [`cone_ranges`] gives, joined into at most [`PREDICATE_RANGES`]: what the rule
/// writes into a cone's filter.
fn filter_ranges(ra0: f64, dec0: f64, radius: f64) -> Option<CellRanges> {
    Some(merged_to(cone_ranges(ra0, dec0, radius)?, PREDICATE_RANGES))
}

impl OptimizerRule for ConeHealpixPruning {
    fn name(&self) -> &str {
        "cone_healpix_pruning"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        add_to_filters(plan, |filter| {
            let schema = filter.input.schema();
            let has = |c: &Column| schema.has_column(c);
            healpix_conjuncts(split_conjunction(&filter.predicate), &has)
        })
    }
}

fn healpix_conjuncts(conjuncts: Vec<&Expr>, has: &dyn Fn(&Column) -> bool) -> Option<Vec<Expr>> {
    if conjuncts.iter().any(|e| {
        e.column_refs()
            .iter()
            .any(|c| INDEX_COLUMNS.contains(&c.name.as_str()))
    }) {
        return None;
    }
    let mut extra = Vec::new();
    for conjunct in conjuncts {
        let Some(LiteralCone {
            ra,
            dec,
            centre: (ra0, dec0),
            radius,
        }) = literal_cone(conjunct)
        else {
            continue;
        };
        // The index describes the table's own positions: both columns of one relation.
        if ra.relation != dec.relation {
            continue;
        }
        let Some(healpix) = INDEX_COLUMNS
            .iter()
            .map(|name| Column::new(ra.relation.clone(), *name))
            .find(|c| has(c))
        else {
            continue;
        };
        let Some(ranges) = filter_ranges(ra0, dec0, radius) else {
            continue;
        };
        extra.extend(ranges_predicate(&healpix, &ranges));
    }
    (!extra.is_empty()).then_some(extra)
}

#[cfg(test)]
mod tests {
    use super::{PREDICATE_RANGES, cone_ranges, filter_ranges};
    use crate::functions::{angular_separation, healpix_nested};

    #[test]
    fn ranges_cover_every_point_of_the_cone() {
        // Across RA = 0/360, at the poles and in the LMC.
        for (ra0, dec0, r) in [
            (0.0, 0.0, 0.5),
            (359.9, 10.0, 0.2),
            (10.0, 89.95, 0.1),
            (200.0, -90.0, 1.0),
            (80.0, -69.0, 1.0 / 60.0),
        ] {
            let ranges = cone_ranges(ra0, dec0, r).unwrap();
            let written = filter_ranges(ra0, dec0, r).unwrap();
            assert!(written.len() <= PREDICATE_RANGES, "{written:?}");
            let mut inside = 0;
            for i in 0..200 {
                for j in 0..200 {
                    let ra: f64 =
                        ra0 + (i as f64 - 100.0) * r / 40.0 / dec0.to_radians().cos().max(0.01);
                    let dec: f64 = (dec0 + (j as f64 - 100.0) * r / 40.0).clamp(-90.0, 90.0);
                    let ra = ra.rem_euclid(360.0);
                    if angular_separation(ra, dec, ra0, dec0) <= r {
                        inside += 1;
                        let h = healpix_nested(ra, dec, 29).unwrap();
                        for set in [&ranges, &written] {
                            assert!(
                                set.iter().any(|(lo, hi)| *lo <= h && h < *hi),
                                "({ra}, {dec}) missed for cone ({ra0}, {dec0}, {r})"
                            );
                        }
                    }
                }
            }
            assert!(inside > 100);
        }
    }
}
