//! The `wcs` struct column: how a [`Wcs`] is stored in Arrow and Parquet.
//!
//! Fields: `ctype1`, `ctype2` (Utf8); `crval1`, `crval2`, `crpix1`, `crpix2`,
//! `cd1_1`, `cd1_2`, `cd2_1`, `cd2_2` (Float64, degrees and pixels); `lonpole`, `latpole`,
//! `equinox` (Float64, nullable); `radesys` (Utf8, nullable); `terms`
//! (List of Struct {keyword Utf8, value Float64}: PVi_m, SIP A/B/AP/BP and their orders).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayBuilder, ArrayRef, Float64Array, Float64Builder, ListArray, StringArray,
    StringBuilder, StructArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::error::{DataFusionError, Result};

use super::Wcs;

const FLOAT_FIELDS: [&str; 8] = [
    "crval1", "crval2", "crpix1", "crpix2", "cd1_1", "cd1_2", "cd2_1", "cd2_2",
];

fn term_fields() -> Fields {
    Fields::from(vec![
        Field::new("keyword", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
    ])
}

/// The fields of the `wcs` struct, in order.
pub fn wcs_fields() -> Fields {
    let mut fields = vec![
        Field::new("ctype1", DataType::Utf8, false),
        Field::new("ctype2", DataType::Utf8, false),
    ];
    fields.extend(
        FLOAT_FIELDS
            .iter()
            .map(|n| Field::new(*n, DataType::Float64, false)),
    );
    fields.extend([
        Field::new("lonpole", DataType::Float64, true),
        Field::new("latpole", DataType::Float64, true),
        Field::new("equinox", DataType::Float64, true),
        Field::new("radesys", DataType::Utf8, true),
        Field::new(
            "terms",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(term_fields()),
                true,
            ))),
            false,
        ),
    ]);
    Fields::from(fields)
}

/// The Arrow type of the `wcs` column.
pub fn wcs_data_type() -> DataType {
    DataType::Struct(wcs_fields())
}

/// Builds a `wcs` column; `None` entries are null.
pub fn wcs_to_array(values: &[Option<Wcs>]) -> ArrayRef {
    let n = values.len();
    let mut ctype1 = StringBuilder::with_capacity(n, n * 12);
    let mut ctype2 = StringBuilder::with_capacity(n, n * 12);
    let mut floats: Vec<Float64Builder> =
        (0..8).map(|_| Float64Builder::with_capacity(n)).collect();
    let mut lonpole = Float64Builder::with_capacity(n);
    let mut latpole = Float64Builder::with_capacity(n);
    let mut equinox = Float64Builder::with_capacity(n);
    let mut radesys = StringBuilder::with_capacity(n, n * 4);
    let mut term_keys = StringBuilder::new();
    let mut term_values = Float64Builder::new();
    let mut offsets = vec![0i32];
    let mut validity = Vec::with_capacity(n);
    for value in values {
        validity.push(value.is_some());
        match value {
            Some(w) => {
                ctype1.append_value(&w.ctype1);
                ctype2.append_value(&w.ctype2);
                let v = [
                    w.crval[0], w.crval[1], w.crpix[0], w.crpix[1], w.cd[0][0], w.cd[0][1],
                    w.cd[1][0], w.cd[1][1],
                ];
                for (b, x) in floats.iter_mut().zip(v) {
                    b.append_value(x);
                }
                lonpole.append_option(w.lonpole);
                latpole.append_option(w.latpole);
                equinox.append_option(w.equinox);
                radesys.append_option(w.radesys.as_deref());
                for (k, v) in &w.terms {
                    term_keys.append_value(k);
                    term_values.append_value(*v);
                }
            }
            None => {
                ctype1.append_value("");
                ctype2.append_value("");
                for b in floats.iter_mut() {
                    b.append_value(0.0);
                }
                lonpole.append_null();
                latpole.append_null();
                equinox.append_null();
                radesys.append_null();
            }
        }
        offsets.push(term_keys.len() as i32);
    }
    let items = StructArray::new(
        term_fields(),
        vec![
            Arc::new(term_keys.finish()) as ArrayRef,
            Arc::new(term_values.finish()),
        ],
        None,
    );
    let terms = ListArray::new(
        Arc::new(Field::new("item", DataType::Struct(term_fields()), true)),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Arc::new(items),
        None,
    );
    let mut columns: Vec<ArrayRef> = vec![Arc::new(ctype1.finish()), Arc::new(ctype2.finish())];
    columns.extend(floats.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    columns.push(Arc::new(lonpole.finish()));
    columns.push(Arc::new(latpole.finish()));
    columns.push(Arc::new(equinox.finish()));
    columns.push(Arc::new(radesys.finish()));
    columns.push(Arc::new(terms));
    Arc::new(StructArray::new(
        wcs_fields(),
        columns,
        Some(NullBuffer::from(validity)),
    ))
}

/// Reads row `row` of a `wcs` struct column; `Ok(None)` when null.
pub fn wcs_from_array(array: &StructArray, row: usize) -> Result<Option<Wcs>> {
    if array.is_null(row) {
        return Ok(None);
    }
    let col = |name: &str| {
        array
            .column_by_name(name)
            .ok_or_else(|| DataFusionError::Execution(format!("wcs struct has no field '{name}'")))
    };
    let string = |name: &str| -> Result<Option<String>> {
        let c = col(name)?;
        let a = c
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| DataFusionError::Execution(format!("wcs.{name} is not Utf8")))?;
        Ok((!a.is_null(row)).then(|| a.value(row).to_string()))
    };
    let float = |name: &str| -> Result<Option<f64>> {
        let c = col(name)?;
        let a = c
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| DataFusionError::Execution(format!("wcs.{name} is not Float64")))?;
        Ok((!a.is_null(row)).then(|| a.value(row)))
    };
    let req = |name: &str| -> Result<f64> {
        float(name)?.ok_or_else(|| DataFusionError::Execution(format!("wcs.{name} is null")))
    };
    let mut terms = Vec::new();
    if let Some(list) = array
        .column_by_name("terms")
        .and_then(|c| c.as_any().downcast_ref::<ListArray>())
        && !list.is_null(row)
    {
        let items = list.value(row);
        if let Some(items) = items.as_any().downcast_ref::<StructArray>() {
            let keys = items.column(0).as_any().downcast_ref::<StringArray>();
            let values = items.column(1).as_any().downcast_ref::<Float64Array>();
            if let (Some(keys), Some(values)) = (keys, values) {
                for i in 0..items.len() {
                    terms.push((keys.value(i).to_string(), values.value(i)));
                }
            }
        }
    }
    Ok(Some(Wcs {
        ctype1: string("ctype1")?.unwrap_or_default(),
        ctype2: string("ctype2")?.unwrap_or_default(),
        crval: [req("crval1")?, req("crval2")?],
        crpix: [req("crpix1")?, req("crpix2")?],
        cd: [
            [req("cd1_1")?, req("cd1_2")?],
            [req("cd2_1")?, req("cd2_2")?],
        ],
        lonpole: float("lonpole")?,
        latpole: float("latpole")?,
        equinox: float("equinox")?,
        radesys: string("radesys")?,
        terms,
    }))
}

/// Whether rows `i` and `j` of a `wcs` column hold the same WCS, compared field by field
/// in place (no allocation), so that a function can reuse a prepared WCS across rows.
pub fn wcs_rows_equal(array: &StructArray, i: usize, j: usize) -> bool {
    if i == j {
        return true;
    }
    if array.is_null(i) || array.is_null(j) {
        return array.is_null(i) && array.is_null(j);
    }
    array
        .columns()
        .iter()
        .all(|c| column_rows_equal(c.as_ref(), i, j))
}

fn column_rows_equal(c: &dyn Array, i: usize, j: usize) -> bool {
    if c.is_null(i) || c.is_null(j) {
        return c.is_null(i) && c.is_null(j);
    }
    if let Some(f) = c.as_any().downcast_ref::<Float64Array>() {
        return f.value(i).to_bits() == f.value(j).to_bits();
    }
    if let Some(s) = c.as_any().downcast_ref::<StringArray>() {
        return s.value(i) == s.value(j);
    }
    if let Some(l) = c.as_any().downcast_ref::<ListArray>() {
        let offsets = l.value_offsets();
        let (a, b) = (
            offsets[i] as usize..offsets[i + 1] as usize,
            offsets[j] as usize..offsets[j + 1] as usize,
        );
        if a.len() != b.len() {
            return false;
        }
        let Some(items) = l.values().as_any().downcast_ref::<StructArray>() else {
            return false;
        };
        return a.zip(b).all(|(x, y)| {
            items
                .columns()
                .iter()
                .all(|c| column_rows_equal(c.as_ref(), x, y))
        });
    }
    false
}
