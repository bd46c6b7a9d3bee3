//! Aggregate functions over light curves, used with `GROUP BY star_id`.

mod lc_stats;
mod lomb_scargle;
mod paczynski_fit;
mod samples;
mod samples_groups;
mod stetson;

pub use lc_stats::{LcStats, LightCurveStats, light_curve_stats};
pub use lomb_scargle::{LombScargle, LombScarglePower};
pub use paczynski_fit::PaczynskiFit;
pub use stetson::{StetsonJ, stetson_j};
