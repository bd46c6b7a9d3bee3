//! Astronomy functions for Apache DataFusion, registered in one call.
//!
//! This crate depends on DataFusion and the field's libraries only, never on the `skyql`
//! application, so that a cluster executor can register exactly the same functions.
//!
//! ```no_run
//! let ctx = datafusion::prelude::SessionContext::new();
//! skyql_udfs::register_all(&ctx);
//! ```

/// The methods every function of this crate implements the same way: its name, its
/// signature (the `signature` field) and its documentation (from [`docs::FUNCTION_DOCS`]).
/// Used inside `impl ScalarUDFImpl` and `impl AggregateUDFImpl` blocks.
macro_rules! function_basics {
    ($name:literal) => {
        fn name(&self) -> &str {
            $name
        }
        fn signature(&self) -> &datafusion::logical_expr::Signature {
            &self.signature
        }
        fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
            crate::docs::documentation($name)
        }
    };
}
pub(crate) use function_basics;

/// A function whose only state is its signature: the struct (with its documentation
/// comment) and a `Default` that builds the signature.
macro_rules! function_struct {
    ($(#[$doc:meta])* $name:ident, $signature:expr) => {
        $(#[$doc])*
        #[derive(Debug, PartialEq, Eq, Hash)]
        pub struct $name {
            signature: datafusion::logical_expr::Signature,
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    signature: $signature,
                }
            }
        }
    };
}
pub(crate) use function_struct;

pub mod aggregates;
pub mod cfitsio;
pub mod cfitsio_name;
pub mod cfitsio_table;
pub mod docs;
pub mod file_content;
pub mod fits_card;
pub mod fits_header;
pub mod functions;
pub mod images;
pub mod rules;
pub mod science;
pub mod table_functions;
pub mod time;
pub mod wcs;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

/// Every scalar function of this crate.
pub fn all_scalar_udfs() -> Vec<ScalarUDF> {
    let mut udfs = vec![
        ScalarUDF::from(functions::Pix2Sky::default()),
        ScalarUDF::from(functions::Sky2Pix::default()),
        ScalarUDF::from(functions::WcsFromHeader::default()),
        ScalarUDF::from(functions::WcsFromFits::default()),
        ScalarUDF::from(functions::WcsShift::default()),
        ScalarUDF::from(functions::AngSep::default()),
        ScalarUDF::from(functions::ConeContains::default()),
        ScalarUDF::from(functions::SkyPolygonContains::default()),
        ScalarUDF::from(functions::SkyBoxContains::default()),
        ScalarUDF::from(functions::SkyRegionContains::default()),
        ScalarUDF::from(functions::SkyRegionMeetsCircle::default()),
        ScalarUDF::from(functions::Healpix::default()),
        ScalarUDF::from(functions::HealpixConeCells::default()),
        ScalarUDF::from(functions::MjdToIso::default()),
        ScalarUDF::from(functions::IsoToMjd::default()),
    ];
    udfs.extend(
        functions::NumericKind::ALL
            .iter()
            .map(|k| ScalarUDF::from(functions::NumericUdf::new(*k))),
    );
    udfs
}

/// Every aggregate function of this crate.
pub fn all_aggregate_udfs() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(aggregates::LcStats::default()),
        AggregateUDF::from(aggregates::StetsonJ::default()),
        AggregateUDF::from(aggregates::PaczynskiFit::default()),
        AggregateUDF::from(aggregates::LombScargle::default()),
        AggregateUDF::from(aggregates::LombScarglePower::default()),
    ]
}

/// Registers every function of this crate in `ctx`.
pub fn register_all(ctx: &SessionContext) {
    for udf in all_scalar_udfs() {
        ctx.register_udf(udf);
    }
    for udaf in all_aggregate_udfs() {
        ctx.register_udaf(udaf);
    }
    register_table_functions(ctx);
}

/// The names of the table functions [`register_table_functions`] registers.
pub const TABLE_FUNCTIONS: &[&str] = &["xmatch"];

/// Registers the table functions (`xmatch`).
pub fn register_table_functions(ctx: &SessionContext) {
    ctx.register_udtf("xmatch", std::sync::Arc::new(table_functions::Xmatch));
}
