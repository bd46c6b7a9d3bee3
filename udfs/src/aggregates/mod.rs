//! Aggregate functions over light curves, used with `GROUP BY star_id`.

mod lc_stats;
mod samples;
mod samples_groups;
mod stetson;

pub use lc_stats::{LcStats, LightCurveStats, light_curve_stats};
pub use stetson::{StetsonJ, stetson_j};
