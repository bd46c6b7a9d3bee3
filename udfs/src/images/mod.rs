//! Functions that write images when a query calls them: FITS cutouts (`cutout`), public
//! images with a given WCS (`public_image`) and PNG quick-looks (`quicklook`).
//!
//! They write under one output root ([`ImageOutput`]) given when they are registered,
//! process the rows of a batch in parallel (bounded by [`ImageOutput::concurrency`]) and
//! return the path of each file written. A row that fails (unreadable image, cutout off
//! the image, existing file) gives NULL and a line on standard error naming the row, the
//! source and the reason; the other rows' files are kept.

/// An image function: its signature (any arguments; volatile, since it writes files) and
/// the output root it writes under; equal when they share that root.
macro_rules! image_function_struct {
    ($(#[$doc:meta])* $name:ident, $sql_name:literal) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            signature: datafusion::logical_expr::Signature,
            output: std::sync::Arc<$crate::images::output::ImageOutput>,
        }

        impl $name {
            #[doc = concat!("`", $sql_name, "` writing under `output`.")]
            pub fn new(output: std::sync::Arc<$crate::images::output::ImageOutput>) -> Self {
                $name {
                    signature: datafusion::logical_expr::Signature::variadic_any(
                        datafusion::logical_expr::Volatility::Volatile,
                    ),
                    output,
                }
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                std::sync::Arc::ptr_eq(&self.output, &other.output)
            }
        }

        impl Eq for $name {}

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                $sql_name.hash(state);
            }
        }
    };
}

pub mod cutout;
pub mod fits_io;
pub mod output;
mod public_image;
mod quicklook;
pub mod stretch;

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;
use rayon::prelude::*;

pub use cutout::Cutout;
pub use output::ImageOutput;
pub use public_image::PublicImage;
pub use quicklook::{Quicklook, quicklook_png};

/// The image functions, writing under `output`.
pub fn image_udfs(output: ImageOutput) -> Vec<ScalarUDF> {
    let output = Arc::new(output);
    vec![
        ScalarUDF::from(Cutout::new(output.clone())),
        ScalarUDF::from(PublicImage::new(output.clone())),
        ScalarUDF::from(Quicklook::new(output)),
    ]
}

/// Runs `job` on every row with at most `concurrency` threads; a failed row becomes None
/// and is reported on standard error as `function: row N (what): reason`.
pub(crate) fn run_rows<J: Sync>(
    function: &str,
    concurrency: usize,
    jobs: &[Option<J>],
    describe: impl Fn(&J) -> String + Sync,
    job: impl Fn(&J) -> Result<Option<String>, String> + Sync,
) -> Vec<Option<String>> {
    let work = || {
        jobs.par_iter()
            .enumerate()
            .map(|(i, j)| {
                let j = j.as_ref()?;
                match job(j) {
                    Ok(path) => path,
                    Err(reason) => {
                        eprintln!("{function}: row {} ({}): {reason}", i + 1, describe(j));
                        None
                    }
                }
            })
            .collect()
    };
    match rayon::ThreadPoolBuilder::new()
        .num_threads(concurrency.max(1))
        .build()
    {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    }
}
