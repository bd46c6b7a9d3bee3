//! Every image of the catalogue by its file name, read on the first image lookup of a
//! catalogue version and kept: DataLink's image links and SODA find an image without SQL
//! planning (a lookup through SQL costs about 3 ms, most of a small cutout's time). Each
//! image keeps its path, file name and description in memory (not measured: a few hundred
//! bytes each, some tens of MB for EROS-2's 3 x 10^5 images).

use std::collections::HashMap;

use anyhow::Result;
use datafusion::prelude::SessionContext;

use super::batch_columns::{ints, texts};

/// What the service says of one image.
#[derive(Debug, Clone)]
pub struct ImageEntry {
    /// Its path on the server, as its `images` row holds it (never shown to clients).
    pub path: String,
    /// Its size in bytes.
    pub size: Option<i64>,
    /// Its survey field.
    pub field: Option<String>,
    /// What it is, in words: "reference image NAME (field F, CCD C, quarter Q, colour R)".
    pub description: String,
}

/// The catalogue's images by file name.
#[derive(Debug, Default)]
pub struct ImageIndex {
    by_name: HashMap<String, ImageEntry>,
}

impl ImageIndex {
    /// The images of the catalogue `ctx` serves (none without an `images` table).
    pub async fn read(ctx: &SessionContext) -> Result<ImageIndex> {
        let Ok(df) = ctx
            .sql("SELECT file_name, path, file_size, code, colour, field, ccd, quarter FROM images")
            .await
        else {
            return Ok(ImageIndex::default());
        };
        let mut by_name = HashMap::new();
        for batch in df.collect().await? {
            let text = |name: &str| texts(&batch, name);
            let int = |name: &str| ints(&batch, name);
            let (names, paths, codes) = (text("file_name")?, text("path")?, text("code")?);
            let (colours, fields, quarters) = (text("colour")?, text("field")?, text("quarter")?);
            let (sizes, ccds) = (int("file_size")?, int("ccd")?);
            for row in 0..batch.num_rows() {
                let (Some(name), Some(path)) = (&names[row], &paths[row]) else {
                    continue;
                };
                let kind = match codes[row].as_deref() {
                    Some("d") => "reference image",
                    Some("e") => "current image",
                    _ => "image",
                };
                let description = format!(
                    "{kind} {name} (field {}, CCD {}, quarter {}, colour {})",
                    fields[row].as_deref().unwrap_or_default(),
                    ccds[row].map(|c| c.to_string()).unwrap_or_default(),
                    quarters[row].as_deref().unwrap_or_default(),
                    colours[row].as_deref().unwrap_or_default()
                );
                by_name.insert(
                    name.clone(),
                    ImageEntry {
                        path: path.clone(),
                        size: sizes[row],
                        field: fields[row].clone(),
                        description,
                    },
                );
            }
        }
        Ok(ImageIndex { by_name })
    }

    /// The image named `file_name`.
    pub fn get(&self, file_name: &str) -> Option<&ImageEntry> {
        self.by_name.get(file_name)
    }
}
