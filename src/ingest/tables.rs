//! The small tables rebuilt at every ingest: `fields`, `quarters`, `inputs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Builder, Int32Builder, Int64Array,
    Int64Builder, StringArray, StringBuilder, StructArray,
};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use skyql_udfs::wcs::arrow_struct::wcs_from_array;

use crate::conventions::Conventions;
use crate::schema::{fields_schema, inputs_schema, quarters_schema};

/// One row of `inputs`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRow {
    /// Absolute path.
    pub path: String,
    /// Format name.
    pub format: String,
    /// Size in bytes.
    pub size: i64,
    /// Version that ingested it.
    pub run: i64,
    /// Accounting.
    pub read: i64,
    /// Rows written.
    pub written: i64,
    /// Values marked missing.
    pub missing: i64,
    /// Values rejected.
    pub rejected: i64,
}

/// Builds the `inputs` batch.
pub fn inputs_batch(rows: &BTreeMap<String, InputRow>) -> Result<RecordBatch> {
    let mut path = StringBuilder::new();
    let mut format = StringBuilder::new();
    let mut ints: Vec<Int64Builder> = (0..6).map(|_| Int64Builder::new()).collect();
    for r in rows.values() {
        path.append_value(&r.path);
        format.append_value(&r.format);
        for (b, v) in ints
            .iter_mut()
            .zip([r.size, r.run, r.read, r.written, r.missing, r.rejected])
        {
            b.append_value(v);
        }
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(path.finish()), Arc::new(format.finish())];
    columns.extend(ints.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    Ok(RecordBatch::try_new(inputs_schema(), columns)?)
}

/// Reads `inputs` rows back.
pub fn inputs_from_batches(batches: &[RecordBatch]) -> Result<BTreeMap<String, InputRow>> {
    let mut out = BTreeMap::new();
    for b in batches {
        let s = |i: usize| b.column(i).as_any().downcast_ref::<StringArray>().cloned();
        let n = |i: usize| b.column(i).as_any().downcast_ref::<Int64Array>().cloned();
        let (Some(path), Some(format)) = (s(0), s(1)) else {
            anyhow::bail!("inputs table: unexpected columns");
        };
        let ints: Vec<Int64Array> = (2..8)
            .map(n)
            .collect::<Option<_>>()
            .context("inputs table: unexpected columns")?;
        for i in 0..b.num_rows() {
            let v = |k: usize| ints[k].value(i);
            out.insert(
                path.value(i).to_string(),
                InputRow {
                    path: path.value(i).to_string(),
                    format: format.value(i).to_string(),
                    size: v(0),
                    run: v(1),
                    read: v(2),
                    written: v(3),
                    missing: v(4),
                    rejected: v(5),
                },
            );
        }
    }
    Ok(out)
}

/// Builds the `quarters` batch from the conventions' geometry.
pub fn quarters_batch(conventions: &Conventions) -> Result<RecordBatch> {
    let mut ccd = Int32Builder::new();
    let mut quarter = StringBuilder::new();
    let mut ox = Float64Builder::new();
    let mut oy = Float64Builder::new();
    let mut cell_x = Int32Builder::new();
    let mut cell_y = Int32Builder::new();
    let mut central = BooleanBuilder::new();
    for c in 0..conventions.ccd_count() {
        let centre = conventions.central_quarter(c);
        for (q, cell) in &conventions.quarters {
            let (x, y) = conventions
                .quarter_offset(c, q)
                .unwrap_or((f64::NAN, f64::NAN));
            ccd.append_value(c);
            quarter.append_value(q);
            ox.append_value(x);
            oy.append_value(y);
            cell_x.append_value(cell[0] as i32);
            cell_y.append_value(cell[1] as i32);
            central.append_value(centre.as_deref() == Some(q.as_str()));
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ccd.finish()),
        Arc::new(quarter.finish()),
        Arc::new(ox.finish()),
        Arc::new(oy.finish()),
        Arc::new(cell_x.finish()),
        Arc::new(cell_y.finish()),
        Arc::new(central.finish()),
    ];
    Ok(RecordBatch::try_new(quarters_schema(), columns)?)
}

#[derive(Default)]
struct FieldAcc {
    n: i64,
    refs: i64,
    current: i64,
    sum: [f64; 3],
    ra: Vec<f64>,
    dec: Vec<f64>,
}

/// Builds `fields` from the `images` batches: centre (mean direction of the image
/// centres) and the RA/Dec range of all image corners, RA unwrapped around the centre.
pub fn fields_batch(images: &[RecordBatch]) -> Result<RecordBatch> {
    let mut acc: BTreeMap<String, FieldAcc> = BTreeMap::new();
    for b in images {
        accumulate_fields(b, &mut acc)?;
    }
    let mut field = StringBuilder::new();
    let mut counts: Vec<Int64Builder> = (0..3).map(|_| Int64Builder::new()).collect();
    let mut floats: Vec<Float64Builder> = (0..6).map(|_| Float64Builder::new()).collect();
    for (name, a) in &acc {
        if a.ra.is_empty() {
            continue;
        }
        let [x, y, z] = a.sum;
        let ra0 = y.atan2(x).to_degrees().rem_euclid(360.0);
        let dec0 = z.atan2((x * x + y * y).sqrt()).to_degrees();
        let unwrapped: Vec<f64> =
            a.ra.iter()
                .map(|r| ra0 + ((r - ra0 + 180.0).rem_euclid(360.0) - 180.0))
                .collect();
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        field.append_value(name);
        for (b, v) in counts.iter_mut().zip([a.n, a.refs, a.current]) {
            b.append_value(v);
        }
        for (b, v) in floats.iter_mut().zip([
            ra0,
            dec0,
            min(&unwrapped),
            max(&unwrapped),
            min(&a.dec),
            max(&a.dec),
        ]) {
            b.append_value(v);
        }
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(field.finish())];
    columns.extend(counts.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.extend(floats.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    Ok(RecordBatch::try_new(fields_schema(), columns)?)
}

/// Adds the images of one batch to their fields: counts, and the sky positions of their
/// corners through their WCS.
fn accumulate_fields(b: &RecordBatch, acc: &mut BTreeMap<String, FieldAcc>) -> Result<()> {
    let text = |n: &str| -> Result<StringArray> {
        Ok(b.column_by_name(n)
            .with_context(|| format!("images: no {n}"))?
            .as_string::<i32>()
            .clone())
    };
    let (field, code) = (text("field")?, text("code")?);
    let int = |n: &str| -> Result<Int64Array> {
        Ok(b.column_by_name(n)
            .with_context(|| format!("images: no {n}"))?
            .as_primitive::<Int64Type>()
            .clone())
    };
    let (n1, n2) = (int("naxis1")?, int("naxis2")?);
    let rac = b
        .column_by_name("ra_center")
        .context("images: no ra_center")?
        .as_primitive::<Float64Type>()
        .clone();
    let wcs = b
        .column_by_name("wcs")
        .and_then(|c| c.as_any().downcast_ref::<StructArray>().cloned())
        .context("images: no wcs struct")?;
    for i in 0..b.num_rows() {
        if field.is_null(i) || rac.is_null(i) {
            continue;
        }
        let Some(w) = wcs_from_array(&wcs, i)? else {
            continue;
        };
        let Ok(p) = w.prepare() else { continue };
        let a = acc.entry(field.value(i).to_string()).or_default();
        a.n += 1;
        match (!code.is_null(i)).then(|| code.value(i)) {
            Some("d") => a.refs += 1,
            Some("e") => a.current += 1,
            _ => {}
        }
        let (nx, ny) = (n1.value(i) as f64, n2.value(i) as f64);
        for (x, y) in [
            (0.5, 0.5),
            (nx + 0.5, 0.5),
            (0.5, ny + 0.5),
            (nx + 0.5, ny + 0.5),
        ] {
            if let Some((ra, dec)) = p.pix2sky(x, y) {
                a.ra.push(ra);
                a.dec.push(dec);
                let (r, d) = (ra.to_radians(), dec.to_radians());
                a.sum[0] += d.cos() * r.cos();
                a.sum[1] += d.cos() * r.sin();
                a.sum[2] += d.sin();
            }
        }
    }
    Ok(())
}
