//! Optimizer rules that let survey queries skip data: cone searches read only the HEALPix
//! cells of the cone ([`cone_healpix`]), light curves by star id read only the star's field
//! ([`star_field`]). Both add conjuncts that statistics can use and keep the original
//! filter, so results are exactly those of a full scan. Angular-distance joins become
//! HEALPix equi-joins ([`spatial_join`]), with the same rows as the nested loop.
//! Per-star statistics that keep every sample run in one ordered pass
//! ([`sorted_samples_aggregate`], a physical rule), on every core when the files hold
//! disjoint runs of star ids ([`key_range_partitions`]), their results put back in star order
//! by concatenating the runs ([`key_ordered_concat`]). Scans filtered by a long `IN` list
//! (a join's keys included) read only the pages whose range holds a key
//! ([`key_list_pages`]). Cross and nested-loop joins yield to
//! the runtime between output batches ([`cooperative_joins`]), so that a time limit can
//! cancel them there.

pub mod bounded_values;
pub mod cell_ranges;
pub mod cone_healpix;
pub mod conjuncts;
pub mod cooperative_joins;
pub mod key_list_pages;
pub mod key_ordered_concat;
pub mod key_range_partitions;
pub mod sorted_samples_aggregate;
pub mod spatial_join;
pub mod star_field;

use std::sync::Arc;

use datafusion::optimizer::OptimizerRule;

pub use bounded_values::BoundedValues;
pub use cone_healpix::ConeHealpixPruning;
pub use cooperative_joins::CooperativeJoins;
pub use key_list_pages::KeyListPages;
pub use sorted_samples_aggregate::SortedSamplesAggregate;
pub use spatial_join::SpatialJoin;
pub use star_field::{FieldOfStar, StarFieldPruning};

/// DataFusion's default optimizer rules with skyql's pruning rules right after expression
/// simplification, before filters and projections are pushed into the scans: the cone
/// rule always, the star-id rule when the survey's convention is known; the spatial-join
/// rule right after filters are pushed down. Give them to
/// `SessionStateBuilder::with_optimizer_rules`.
pub fn optimizer_rules(
    field_of_star: Option<FieldOfStar>,
) -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    let mut rules = datafusion::optimizer::Optimizer::new().rules;
    let mut at = rules
        .iter()
        .position(|r| r.name() == "simplify_expressions")
        .map_or(0, |i| i + 1);
    rules.insert(at, Arc::new(ConeHealpixPruning));
    if let Some(field_of_star) = field_of_star {
        at += 1;
        rules.insert(at, Arc::new(StarFieldPruning::new(field_of_star)));
    }
    // Spatial joins after filters are pushed down: a WHERE on one side reaches that
    // side's scan before the left rows are numbered (left joins, nearest match).
    let after_push = rules
        .iter()
        .position(|r| r.name() == "push_down_filter")
        .map_or(rules.len(), |i| i + 1);
    rules.insert(after_push, Arc::new(SpatialJoin));
    rules
}
