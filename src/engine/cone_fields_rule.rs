//! An optimizer rule that lets a cone search on the catalogue's `stars` skip whole fields
//! before their files are listed or opened: a filter `cone_contains(ra, dec, RA0, DEC0, R)`
//! on the `ra` and `dec` columns with literal centre and radius, directly over the scan of
//! the catalogue's `stars`, gains `field IN
//! (...)` with the fields whose stars' HEALPix range (from each file's statistics, kept in
//! the manifest) meets the cone's ranges. Partition pruning then lists only those fields'
//! directories; the cone filter stays, so the rows are those of a full scan.

use std::collections::BTreeMap;

use datafusion::common::Result;
use datafusion::common::tree_node::Transformed;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, Filter, LogicalPlan, col, lit};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use skyql_udfs::rules::cell_ranges::meets;
use skyql_udfs::rules::cone_healpix::cone_ranges;
use skyql_udfs::rules::conjuncts::{add_to_filters, literal_cone};

use crate::catalog::manifest::TableEntry;

/// The rule, with each field's `healpix` ranges (one per file).
#[derive(Debug)]
pub struct ConeFieldPruning {
    fields: BTreeMap<String, Vec<(i64, i64)>>,
    /// The URL of the catalogue's `stars` listing table.
    stars: String,
}

impl ConeFieldPruning {
    /// The rule for the `stars` table of a manifest, if every file has its range.
    pub fn from_stars(stars: &TableEntry, url: String) -> Option<Self> {
        let mut fields: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
        for file in &stars.data_files {
            let field = file.partition_value("field")?;
            let entry = fields.entry(field.to_string()).or_default();
            // A file without a range adds nothing to meet; the rule is only built when
            // every file with rows has its range (`complete` below).
            if let Some(range) = file.healpix_range() {
                entry.push(range);
            }
        }
        let complete = !fields.is_empty()
            && stars
                .data_files
                .iter()
                .all(|f| f.healpix_range().is_some() || f.rows == 0);
        complete.then_some(ConeFieldPruning { fields, stars: url })
    }

    /// The fields whose ranges meet the cone's, or `None` when the cone is not prunable.
    fn fields_of_cone(&self, ra0: f64, dec0: f64, radius: f64) -> Option<Vec<String>> {
        let cone = cone_ranges(ra0, dec0, radius)?;
        let meets = |(lo, hi): &(i64, i64)| meets(&cone, *lo, *hi);
        Some(
            self.fields
                .iter()
                .filter(|(_, ranges)| ranges.iter().any(meets))
                .map(|(field, _)| field.clone())
                .collect(),
        )
    }

    fn conjunct(&self, filter: &Filter) -> Option<Vec<Expr>> {
        let is_stars = matches!(filter.input.as_ref(),
            LogicalPlan::TableScan(scan) if super::tables::scans_url(scan, &self.stars));
        if !is_stars {
            return None;
        }
        let conjuncts = split_conjunction(&filter.predicate);
        if conjuncts
            .iter()
            .any(|e| e.column_refs().iter().any(|c| c.name == "field"))
        {
            return None;
        }
        let fields = conjuncts.iter().find_map(|e| match literal_cone(e) {
            Some(cone) if cone.ra.name == "ra" && cone.dec.name == "dec" => {
                self.fields_of_cone(cone.centre.0, cone.centre.1, cone.radius)
            }
            _ => None,
        })?;
        let list: Vec<Expr> = fields.into_iter().map(lit).collect();
        Some(vec![match list.is_empty() {
            true => lit(false),
            false => col("field").in_list(list, false),
        }])
    }
}

impl OptimizerRule for ConeFieldPruning {
    fn name(&self) -> &str {
        "cone_field_pruning"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        add_to_filters(plan, |filter| self.conjunct(filter))
    }
}
