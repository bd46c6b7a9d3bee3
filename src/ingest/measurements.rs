//! Building, filtering and writing `measurements` Parquet files.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Result;
use datafusion::arrow::array::StringDictionaryBuilder;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Float32Builder, Float64Builder, Int32Builder, StringArray,
    StringBuilder, new_null_array,
};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::arrow::record_batch::RecordBatch;

use super::lightcurve::LightCurve;
use crate::schema::measurements_file_schema;

/// Builds one batch from light curves of one field, sorted by star id then MJD.
pub fn measurements_batch(curves: &[&LightCurve]) -> Result<RecordBatch> {
    // Curves by star id; the points of one star (one curve, or two for MACHO's R and B
    // files) by MJD. Cheaper than one global sort on (star id, MJD).
    let mut by_star: Vec<usize> = (0..curves.len()).collect();
    by_star.sort_by(|a, b| curves[*a].star_id.cmp(&curves[*b].star_id));
    let mut order: Vec<(usize, usize)> =
        Vec::with_capacity(curves.iter().map(|c| c.points.len()).sum());
    let mut start = 0;
    while start < by_star.len() {
        let id = &curves[by_star[start]].star_id;
        let mut end = start + 1;
        while end < by_star.len() && curves[by_star[end]].star_id == *id {
            end += 1;
        }
        let first = order.len();
        for &c in &by_star[start..end] {
            order.extend((0..curves[c].points.len()).map(|p| (c, p)));
        }
        order[first..].sort_by(|a, b| {
            let (pa, pb) = (curves[a.0].points[a.1], curves[b.0].points[b.1]);
            pa.mjd.total_cmp(&pb.mjd).then(pa.colour.cmp(&pb.colour))
        });
        start = end;
    }
    let n = order.len();
    let mut star = StringBuilder::with_capacity(n, n * 12);
    let mut ccd = Int32Builder::with_capacity(n);
    let mut quarter = StringDictionaryBuilder::<Int32Type>::new();
    let mut colour = StringDictionaryBuilder::<Int32Type>::new();
    let mut mjd = Float64Builder::with_capacity(n);
    let mut mag = Float32Builder::with_capacity(n);
    let mut err = Float32Builder::with_capacity(n);
    let mut flags = Int32Builder::with_capacity(n);
    let mut exposure = StringBuilder::with_capacity(n, 0);
    let mut x = Float32Builder::with_capacity(n);
    let mut y = Float32Builder::with_capacity(n);
    let mut flux = Float64Builder::with_capacity(n);
    let mut flux_err = Float32Builder::with_capacity(n);
    let mut time_scale = StringDictionaryBuilder::<Int32Type>::new();
    let some32 = |v: f32| (!v.is_nan()).then_some(v);
    for (c, p) in order {
        let lc = curves[c];
        let pt = lc.points[p];
        star.append_value(&lc.star_id);
        ccd.append_option(lc.parts.as_ref().map(|s| s.ccd));
        quarter.append_option(lc.parts.as_ref().map(|s| s.quarter.as_str()));
        colour.append_value(char::from(pt.colour).encode_utf8(&mut [0; 4]));
        mjd.append_value(pt.mjd);
        mag.append_option(some32(pt.mag));
        err.append_option(some32(pt.mag_err));
        flux.append_option((!pt.flux.is_nan()).then_some(pt.flux));
        flux_err.append_option(some32(pt.flux_err));
        time_scale.append_value(lc.time_scale);
        flags.append_value(0);
        exposure.append_null();
        x.append_null();
        y.append_null();
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(star.finish()),
        Arc::new(ccd.finish()),
        Arc::new(quarter.finish()),
        Arc::new(colour.finish()),
        Arc::new(mjd.finish()),
        Arc::new(mag.finish()),
        Arc::new(err.finish()),
        Arc::new(flags.finish()),
        Arc::new(exposure.finish()),
        Arc::new(x.finish()),
        Arc::new(y.finish()),
        Arc::new(flux.finish()),
        Arc::new(flux_err.finish()),
        Arc::new(time_scale.finish()),
    ];
    Ok(RecordBatch::try_new(measurements_file_schema(), columns)?)
}

/// Removes the rows whose (star_id, colour) a new input replaces; returns the kept batch
/// and how many rows were removed.
pub fn without_replaced(
    batch: &RecordBatch,
    replaced: &HashSet<(String, u8)>,
) -> Result<(RecordBatch, usize)> {
    let stars = batch
        .column_by_name("star_id")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
    let colours = batch
        .column_by_name("colour")
        .and_then(|c| datafusion::arrow::compute::cast(c, &DataType::Utf8).ok())
        .and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
    let (Some(stars), Some(colours)) = (stars, colours) else {
        anyhow::bail!("measurements file without star_id/colour columns");
    };
    let mut key = (String::new(), 0u8);
    let keep: BooleanArray = (0..batch.num_rows())
        .map(|i| {
            key.0.clear();
            key.0.push_str(stars.value(i));
            key.1 = colours.value(i).as_bytes().first().copied().unwrap_or(b'R');
            Some(!replaced.contains(&key))
        })
        .collect();
    let removed = keep.len() - keep.true_count();
    Ok((filter_record_batch(batch, &keep)?, removed))
}

/// A batch read from a file of an earlier catalogue in today's file schema: columns found
/// by name (cast where the type widened), columns added since then null.
pub fn to_file_schema(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = measurements_file_schema();
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => Ok(datafusion::arrow::compute::cast(c, f.data_type())?),
            None if f.is_nullable() => Ok(new_null_array(f.data_type(), batch.num_rows())),
            None => anyhow::bail!("measurements file without its {} column", f.name()),
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}
