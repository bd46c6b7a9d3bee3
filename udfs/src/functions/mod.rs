//! The scalar functions registered in every session.

pub(crate) mod args;
pub mod bounded;
pub mod concat_operator;
mod healpix;
mod healpix_cover;
mod iso_time;
mod numeric;
mod pixel_sky;
mod region_text;
mod regions;
mod sphere;
mod wcs_builders;

pub use healpix::{Healpix, MAX_ORDER, healpix_nested};
pub use healpix_cover::{HealpixConeCells, cone_cells, order_for_radius};
pub use iso_time::{IsoToMjd, MjdToIso};
pub use numeric::{NumericKind, NumericUdf};
pub use pixel_sky::{Pix2Sky, Sky2Pix};
pub use region_text::{SkyRegion, SkyRegionContains, SkyRegionMeetsCircle, parse_region};
pub use regions::{SkyBoxContains, SkyPolygonContains, box_contains, polygon_contains};
pub use sphere::{AngSep, ConeContains, angular_separation};
pub use wcs_builders::{WcsFromFits, WcsFromHeader, WcsShift};

/// An argument of an aggregate cast to Float64.
pub(crate) fn args_float(
    array: &datafusion::arrow::array::ArrayRef,
    name: &str,
) -> datafusion::common::Result<datafusion::arrow::array::Float64Array> {
    args::float(array, name, "arguments")
}
