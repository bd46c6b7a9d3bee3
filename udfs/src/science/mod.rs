//! The mathematics of the survey's science functions, free of DataFusion: models, fits,
//! periodograms and the special functions they need. The aggregates in
//! [`crate::aggregates`] feed them one light curve at a time.

pub mod dense;
pub mod lomb_scargle;
pub mod paczynski;
pub mod special;
pub mod trig_sums;
