//! `skyql hats export`: any table with positions written as a HATS collection that LSDB
//! opens: the catalogue (one Parquet file per HEALPix pixel, sorted by `_healpix_29`) and
//! its margin catalogue (for each pixel, the rows of other pixels within the margin of
//! its border, so that cross-matches near pixel edges are complete). One sorted pass over
//! the table; written under a temporary name, synced, then renamed into place.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{concat_batches, sort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::StreamExt;

use skyql_udfs::functions::{cone_cells, order_for_radius};

use super::layout::{self, Written};
use super::options::{HEALPIX29, HatsOptions};
use super::partitions::{HISTOGRAM_ORDER, Pixel, choose_pixels, pixel_of};
use crate::catalog::durable::{sync_dir, sync_file};
use crate::catalog::parquet_io::sky_ordered_properties;

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct HatsSummary {
    /// Rows read from the table.
    pub read: u64,
    /// Rows written (each in one pixel).
    pub written: u64,
    /// Rows without a position on the sky (null or impossible RA/Dec), not written.
    pub rejected: u64,
    /// Pixels of the catalogue.
    pub pixels: usize,
    /// Rows of the margin catalogue.
    pub margin_rows: u64,
    /// The columns used as positions.
    pub position: (String, String),
}

/// Exports `source` (a table's rows) to the new directory `out`.
pub async fn export_hats(
    ctx: &SessionContext,
    source: DataFrame,
    out: &Path,
    opts: &HatsOptions,
) -> Result<HatsSummary> {
    if out.exists() {
        bail!(
            "{} exists: give a new directory for the HATS catalogue",
            out.display()
        );
    }
    let (ra, dec) = skyql_udfs::table_functions::positions::position_columns(
        source.schema().as_arrow(),
        &opts.name,
    )
    .map_err(anyhow::Error::msg)?;
    ctx.register_table("__skyql_hats_source", source.into_view())?;
    let (histogram, read) = histogram(ctx, &ra, &dec).await?;
    let pixels = choose_pixels(&histogram, opts.max_rows);
    let staging = crate::catalog::durable::temporary_name(out);
    // A new directory: never one an interrupted export left (remove it by hand).
    std::fs::create_dir(&staging).with_context(|| {
        format!(
            "cannot create {} (a leftover of an interrupted export? remove it)",
            staging.display()
        )
    })?;
    let result = write_all(ctx, &staging, &pixels, (&ra, &dec), opts).await;
    let written = match result {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    std::fs::rename(&staging, out)
        .with_context(|| format!("cannot rename {} to {}", staging.display(), out.display()))?;
    sync_dir(&crate::catalog::durable::parent_dir(out))?;
    let rows: u64 = written.0.iter().map(|w| w.rows).sum();
    Ok(HatsSummary {
        read,
        written: rows,
        rejected: read - rows,
        pixels: pixels.len(),
        margin_rows: written.1.iter().map(|w| w.rows).sum(),
        position: (ra, dec),
    })
}

/// Rows per order-[`HISTOGRAM_ORDER`] cell, and the rows of the table.
async fn histogram(ctx: &SessionContext, ra: &str, dec: &str) -> Result<(BTreeMap<u64, u64>, u64)> {
    let sql = format!(
        "SELECT healpix({}, {}, {HISTOGRAM_ORDER}) AS cell, count(*) AS n \
         FROM __skyql_hats_source GROUP BY cell",
        quoted(ra),
        quoted(dec)
    );
    let mut cells = BTreeMap::new();
    let mut read = 0;
    for batch in ctx.sql(&sql).await?.collect().await? {
        let cell = batch.column(0).as_primitive::<Int64Type>();
        let n = batch.column(1).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            read += n.value(i) as u64;
            if cell.is_valid(i) {
                cells.insert(cell.value(i) as u64, n.value(i) as u64);
            }
        }
    }
    Ok((cells, read))
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The catalogue and its margin under `staging`; the files written for each.
async fn write_all(
    ctx: &SessionContext,
    staging: &Path,
    pixels: &[(Pixel, u64)],
    position: (&str, &str),
    opts: &HatsOptions,
) -> Result<(Vec<Written>, Vec<Written>)> {
    let source = ctx.table("__skyql_hats_source").await?;
    let columns: Vec<String> = source
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != HEALPIX29)
        .map(|n| quoted(&n))
        .collect();
    let h = format!(
        "healpix({}, {}, 29)",
        quoted(position.0),
        quoted(position.1)
    );
    let sql = format!(
        "SELECT {h} AS {HEALPIX29}, {} FROM __skyql_hats_source WHERE {h} IS NOT NULL \
         ORDER BY {HEALPIX29}",
        columns.join(", ")
    );
    let stream = ctx.sql(&sql).await?.execute_stream().await?;
    let schema = portable_schema(&stream.schema());
    let names = layout::Names::new(&opts.name, opts.margin_arcsec);
    let main_dir = staging.join(&names.catalog).join("dataset");
    // The leaf files' writer settings, chosen from the first rows.
    let mut stream = stream;
    let mut first = None;
    while let Some(batch) = stream.next().await {
        let batch = conform(batch?, &schema)?;
        if batch.num_rows() > 0 {
            first = Some(batch);
            break;
        }
    }
    let properties = first
        .as_ref()
        .map(sky_ordered_properties)
        .unwrap_or_default();
    let mut splitter = Splitter::new(
        pixels,
        main_dir,
        schema.clone(),
        opts.margin_arcsec,
        properties,
    );
    if let Some(batch) = first {
        splitter.push(&batch, position)?;
    }
    while let Some(batch) = stream.next().await {
        splitter.push(&conform(batch?, &schema)?, position)?;
    }
    let (main, margins, properties) = splitter.finish()?;
    let margin_dir = staging.join(&names.margin).join("dataset");
    let margin = write_margins(&margin_dir, pixels, margins, &schema, &properties)?;
    layout::write_metadata(staging, &names, &schema, &main, &margin, position, opts)?;
    Ok((main, margin))
}

/// `schema` with string and binary views as plain strings and binaries: what pandas,
/// pyarrow's older readers and LSDB expect (DataFusion reads Parquet strings as views).
fn portable_schema(schema: &SchemaRef) -> SchemaRef {
    fn portable(t: &DataType) -> DataType {
        match t {
            DataType::Utf8View => DataType::Utf8,
            DataType::BinaryView => DataType::Binary,
            DataType::Dictionary(k, v) => DataType::Dictionary(k.clone(), Box::new(portable(v))),
            other => other.clone(),
        }
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(portable(f.data_type())))
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` with its columns cast to `schema`'s types.
fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| match c.data_type() == f.data_type() {
            true => Ok(c.clone()),
            false => datafusion::arrow::compute::cast(c, f.data_type()),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Routes the sorted rows to the pixel files and collects the margin rows.
struct Splitter<'a> {
    pixels: &'a [(Pixel, u64)],
    dir: PathBuf,
    schema: SchemaRef,
    current: Option<(usize, ArrowWriter<File>, u64)>,
    /// The leaf files' writer settings (pages and dictionaries for cones:
    /// [`sky_ordered_properties`]).
    properties: WriterProperties,
    written: Vec<Written>,
    margins: Vec<Vec<RecordBatch>>,
    margin_radius: f64,
    margin_order: u8,
}

impl<'a> Splitter<'a> {
    fn new(
        pixels: &'a [(Pixel, u64)],
        dir: PathBuf,
        schema: SchemaRef,
        margin_arcsec: f64,
        properties: WriterProperties,
    ) -> Self {
        let radius = margin_arcsec / 3600.0;
        let deepest = pixels.iter().map(|(p, _)| p.order).max().unwrap_or(0);
        // Finer than the neighbourhood order of the margin cone, so that its coverage is
        // computed (cells within about M of the row), not taken as whole neighbours.
        let margin_order = order_for_radius(radius)
            .map_or(deepest, |o| deepest.max(o + 1))
            .min(29);
        Splitter {
            pixels,
            dir,
            schema,
            current: None,
            properties,
            written: Vec::new(),
            margins: vec![Vec::new(); pixels.len()],
            margin_radius: radius,
            margin_order,
        }
    }

    fn push(&mut self, batch: &RecordBatch, position: (&str, &str)) -> Result<()> {
        let h = batch.column(0).as_primitive::<Int64Type>().clone();
        let mut start = 0;
        while start < batch.num_rows() {
            let at = h.value(start) as u64;
            let pixel = pixel_of(self.pixels, at)
                .with_context(|| format!("row with {HEALPIX29} {at} outside every pixel"))?;
            let hi = self.pixels[pixel].0.range29().1;
            let len = h.values()[start..].partition_point(|v| (*v as u64) < hi);
            self.write(pixel, &batch.slice(start, len))?;
            start += len;
        }
        self.collect_margins(batch, &h, position)
    }

    fn write(&mut self, pixel: usize, rows: &RecordBatch) -> Result<()> {
        if self.current.as_ref().is_none_or(|(p, _, _)| *p != pixel) {
            self.close_current()?;
            let path = self.dir.join(self.pixels[pixel].0.relative_path());
            let writer = open_writer(&path, &self.schema, &self.properties)?;
            self.current = Some((pixel, writer, 0));
        }
        if let Some((_, writer, n)) = &mut self.current {
            writer.write(rows)?;
            *n += rows.num_rows() as u64;
        }
        Ok(())
    }

    fn close_current(&mut self) -> Result<()> {
        if let Some((pixel, writer, rows)) = self.current.take() {
            let pixel = self.pixels[pixel].0;
            self.written
                .push(close_writer(writer, &self.dir, pixel, rows)?);
        }
        Ok(())
    }

    /// Each row goes to the margin of every other pixel its margin cone overlaps.
    fn collect_margins(
        &mut self,
        batch: &RecordBatch,
        h: &datafusion::arrow::array::Int64Array,
        position: (&str, &str),
    ) -> Result<()> {
        let ra = float_column(batch, position.0)?;
        let dec = float_column(batch, position.1)?;
        let shift = 2 * (29 - self.margin_order as u32);
        let mut targets: Vec<Vec<u32>> = vec![Vec::new(); self.pixels.len()];
        for i in 0..batch.num_rows() {
            let own = pixel_of(self.pixels, h.value(i) as u64);
            let cone = cone_cells(ra[i], dec[i], self.margin_radius, self.margin_order);
            let mut seen: Vec<usize> = Vec::new();
            for cell in cone.into_iter().flatten() {
                if let Some(p) = pixel_of(self.pixels, cell << shift)
                    && Some(p) != own
                    && !seen.contains(&p)
                {
                    seen.push(p);
                    targets[p].push(i as u32);
                }
            }
        }
        for (p, rows) in targets.into_iter().enumerate() {
            if !rows.is_empty() {
                let taken = take_record_batch(batch, &UInt32Array::from(rows))?;
                self.margins[p].push(taken);
            }
        }
        Ok(())
    }

    /// The leaf files written, the margin rows, and the writer settings of both.
    fn finish(mut self) -> Result<(Vec<Written>, Vec<Vec<RecordBatch>>, WriterProperties)> {
        self.close_current()?;
        Ok((self.written, self.margins, self.properties))
    }
}

/// The values of a float column (positions are cast to double by the query).
fn float_column(batch: &RecordBatch, name: &str) -> Result<Vec<f64>> {
    let column = batch
        .column_by_name(name)
        .with_context(|| format!("no column {name}"))?;
    let cast =
        datafusion::arrow::compute::cast(column, &datafusion::arrow::datatypes::DataType::Float64)?;
    let values = cast.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
    Ok((0..values.len())
        .map(|i| {
            if values.is_valid(i) {
                values.value(i)
            } else {
                f64::NAN
            }
        })
        .collect())
}

fn open_writer(
    path: &Path,
    schema: &SchemaRef,
    properties: &WriterProperties,
) -> Result<ArrowWriter<File>> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(ArrowWriter::try_new(
        file,
        schema.clone(),
        Some(properties.clone()),
    )?)
}

fn close_writer(writer: ArrowWriter<File>, dir: &Path, pixel: Pixel, rows: u64) -> Result<Written> {
    let metadata: ParquetMetaData = writer.close()?;
    let path = dir.join(pixel.relative_path());
    sync_file(&path)?;
    Ok(Written {
        pixel,
        rows,
        metadata: Arc::new(metadata),
    })
}

/// The margin files: each pixel's margin rows sorted by `_healpix_29`.
fn write_margins(
    dir: &Path,
    pixels: &[(Pixel, u64)],
    margins: Vec<Vec<RecordBatch>>,
    schema: &SchemaRef,
    properties: &WriterProperties,
) -> Result<Vec<Written>> {
    let mut written = Vec::new();
    for ((pixel, _), batches) in pixels.iter().zip(margins) {
        if batches.is_empty() {
            continue;
        }
        let all = concat_batches(schema, &batches)?;
        let order = sort_to_indices(all.column(0), None, None)?;
        let sorted = take_record_batch(&all, &order)?;
        let mut writer = open_writer(&dir.join(pixel.relative_path()), schema, properties)?;
        writer.write(&sorted)?;
        written.push(close_writer(writer, dir, *pixel, sorted.num_rows() as u64)?);
    }
    Ok(written)
}
