//! `pix2sky(x, y, wcs)` and `sky2pix(ra, dec, wcs)`: FITS WCS transforms on whole columns.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBufferBuilder, Float64Array, StructArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

use crate::wcs::PreparedWcs;
use crate::wcs::arrow_struct::{wcs_from_array, wcs_rows_equal};

/// Which direction a [`PixelSkyTransform`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Direction {
    PixToSky,
    SkyToPix,
}

/// `pix2sky(x, y, wcs [, origin])` -> struct {ra, dec} in degrees (ICRS/FK5 as the
/// header says).
///
/// Pixels follow the FITS convention, the centre of the first pixel is (1.0, 1.0), unless
/// `origin` is 0 (numpy-style 0-based pixels, as astropy's `origin=0`).
/// Rows with a null input, a null or unusable WCS, or off the sky give null.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Pix2Sky {
    signature: Signature,
}

/// `sky2pix(ra, dec, wcs [, origin])` -> struct {x, y}: 1-based FITS pixels, or 0-based
/// with `origin` 0.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Sky2Pix {
    signature: Signature,
}

impl Default for Pix2Sky {
    fn default() -> Self {
        Pix2Sky {
            signature: Signature::one_of(
                vec![TypeSignature::Any(3), TypeSignature::Any(4)],
                Volatility::Immutable,
            ),
        }
    }
}

impl Default for Sky2Pix {
    fn default() -> Self {
        Sky2Pix {
            signature: Signature::one_of(
                vec![TypeSignature::Any(3), TypeSignature::Any(4)],
                Volatility::Immutable,
            ),
        }
    }
}

fn pair_fields(a: &str, b: &str) -> Fields {
    Fields::from(vec![
        Field::new(a, DataType::Float64, true),
        Field::new(b, DataType::Float64, true),
    ])
}

impl ScalarUDFImpl for Pix2Sky {
    crate::function_basics!("pix2sky");
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(pair_fields("ra", "dec")))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        transform(args, Direction::PixToSky, pair_fields("ra", "dec"))
    }
}

impl ScalarUDFImpl for Sky2Pix {
    crate::function_basics!("sky2pix");
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(pair_fields("x", "y")))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        transform(args, Direction::SkyToPix, pair_fields("x", "y"))
    }
}

fn transform(
    args: ScalarFunctionArgs,
    direction: Direction,
    fields: Fields,
) -> Result<ColumnarValue> {
    let name = match direction {
        Direction::PixToSky => "pix2sky",
        Direction::SkyToPix => "sky2pix",
    };
    let (a, b, wcs, origin) = match args.args.as_slice() {
        [a, b, wcs] => (a, b, wcs, 1.0),
        [a, b, wcs, ColumnarValue::Scalar(o)] => match o.cast_to(&DataType::Float64)? {
            datafusion::common::ScalarValue::Float64(Some(v)) if v == 0.0 || v == 1.0 => {
                (a, b, wcs, v)
            }
            other => return exec_err!("{name}: origin must be 0 or 1, got {other}"),
        },
        [_, _, _, _] => return exec_err!("{name}: origin must be a constant 0 or 1"),
        _ => return exec_err!("{name} takes 3 or 4 arguments"),
    };
    // Added to the caller's pixels to make FITS (1-based) pixels.
    let shift = 1.0 - origin;
    // A constant WCS (a literal, wcs_from_header('...')) stays one row: prepared once.
    let wcs = match wcs {
        ColumnarValue::Scalar(s) => s.to_array_of_size(1)?,
        ColumnarValue::Array(a) => a.clone(),
    };
    // Coordinates as arrays of the batch's length, also when both are constants.
    let a = to_f64(&a.to_array(args.number_rows)?, name)?;
    let b = to_f64(&b.to_array(args.number_rows)?, name)?;
    let Some(wcs) = wcs.as_struct_opt() else {
        return exec_err!("{name}: the third argument must be a wcs struct (images.wcs)");
    };
    let n = a.len();
    let mut out_a = Vec::with_capacity(n);
    let mut out_b = Vec::with_capacity(n);
    let mut valid = BooleanBufferBuilder::new(n);
    let mut push = |result: Option<(f64, f64)>| {
        let (u, v) = result.unwrap_or((0.0, 0.0));
        out_a.push(u);
        out_b.push(v);
        valid.append(result.is_some());
    };
    let apply = |p: &PreparedWcs, u: f64, v: f64| match direction {
        Direction::PixToSky => p.pix2sky(u + shift, v + shift),
        Direction::SkyToPix => p.sky2pix(u, v).map(|(x, y)| (x - shift, y - shift)),
    };
    let mut cache: Option<(usize, Option<PreparedWcs>)> = None;
    if wcs.len() == 1 {
        // One WCS for every row (a literal, wcs_from_header('...')): prepared once.
        match prepared(wcs, 0, &mut cache)? {
            Some(p) if a.null_count() == 0 && b.null_count() == 0 => {
                for (u, v) in a.values().iter().zip(b.values()) {
                    push(apply(p, *u, *v));
                }
            }
            Some(p) => {
                for row in 0..n {
                    let present = a.is_valid(row) && b.is_valid(row);
                    push(
                        present
                            .then(|| apply(p, a.value(row), b.value(row)))
                            .flatten(),
                    );
                }
            }
            None => (0..n).for_each(|_| push(None)),
        }
    } else {
        for row in 0..n {
            let result = if a.is_null(row) || b.is_null(row) {
                None
            } else {
                prepared(wcs, row, &mut cache)?.and_then(|p| apply(p, a.value(row), b.value(row)))
            };
            push(result);
        }
    }
    let nulls = NullBuffer::new(valid.finish());
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    let a: ArrayRef = Arc::new(Float64Array::new(out_a.into(), nulls.clone()));
    let b: ArrayRef = Arc::new(Float64Array::new(out_b.into(), nulls.clone()));
    Ok(ColumnarValue::Array(Arc::new(StructArray::new(
        fields,
        vec![a, b],
        nulls,
    ))))
}

/// The prepared WCS of `row`, reusing the previous one (cached with its row number) when
/// the row holds the same WCS: rows of one image cost a comparison, not an allocation.
fn prepared<'a>(
    wcs: &StructArray,
    row: usize,
    cache: &'a mut Option<(usize, Option<PreparedWcs>)>,
) -> Result<Option<&'a PreparedWcs>> {
    let fresh = cache
        .as_ref()
        .is_none_or(|(cached, _)| !wcs_rows_equal(wcs, *cached, row));
    if fresh {
        let p = wcs_from_array(wcs, row)?.and_then(|w| w.prepare().ok());
        *cache = Some((row, p));
    }
    Ok(cache.as_ref().and_then(|(_, p)| p.as_ref()))
}

fn to_f64(array: &ArrayRef, name: &str) -> Result<Float64Array> {
    let cast = datafusion::arrow::compute::cast(array, &DataType::Float64)?;
    match cast.as_primitive_opt::<Float64Type>() {
        Some(a) => Ok(a.clone()),
        None => exec_err!("{name}: coordinates must be numeric"),
    }
}
