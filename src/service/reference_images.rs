//! The reference images (code `d`) of each field, CCD and quarter, read once per catalogue
//! version: what a star's DataLink links list, with a cutout of each around the star. A
//! survey has a few thousand (EROS-2: 88 fields x 8 CCDs x 4 quarters x 2 colours).

use std::collections::HashMap;

use anyhow::Result;
use datafusion::prelude::SessionContext;

use super::batch_columns::{ints, texts};

/// One reference image.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Its `file_name` (its DataLink and SODA ID).
    pub file_name: String,
    /// Its size in bytes.
    pub file_size: Option<i64>,
    /// Its colour (R, B).
    pub colour: Option<String>,
}

/// The reference images by field, CCD and quarter, each list by colour then file name.
#[derive(Debug, Default)]
pub struct ReferenceImages {
    by_place: HashMap<(String, i64, String), Vec<Reference>>,
}

impl ReferenceImages {
    /// The reference images of the catalogue `ctx` serves (none without an `images` table).
    pub async fn read(ctx: &SessionContext) -> Result<ReferenceImages> {
        let Ok(df) = ctx
            .sql(
                "SELECT field, ccd, quarter, file_name, file_size, colour FROM images \
                 WHERE code = 'd' AND field IS NOT NULL AND ccd IS NOT NULL AND quarter IS NOT NULL \
                 ORDER BY colour, file_name",
            )
            .await
        else {
            return Ok(ReferenceImages::default());
        };
        let mut by_place: HashMap<(String, i64, String), Vec<Reference>> = HashMap::new();
        for batch in df.collect().await? {
            let text = |name: &str| texts(&batch, name);
            let (field, quarter, name, colour) = (
                text("field")?,
                text("quarter")?,
                text("file_name")?,
                text("colour")?,
            );
            let (ccd, size) = (ints(&batch, "ccd")?, ints(&batch, "file_size")?);
            for row in 0..batch.num_rows() {
                let (Some(f), Some(c), Some(q), Some(n)) =
                    (&field[row], ccd[row], &quarter[row], &name[row])
                else {
                    continue;
                };
                by_place
                    .entry((f.clone(), c, q.clone()))
                    .or_default()
                    .push(Reference {
                        file_name: n.clone(),
                        file_size: size[row],
                        colour: colour[row].clone(),
                    });
            }
        }
        Ok(ReferenceImages { by_place })
    }

    /// The reference images of a field, CCD and quarter.
    pub fn of(&self, field: &str, ccd: i64, quarter: &str) -> &[Reference] {
        self.by_place
            .get(&(field.to_string(), ccd, quarter.to_string()))
            .map_or(&[], Vec::as_slice)
    }
}
