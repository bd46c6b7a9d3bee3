//! Limits on the values a function builds. DataFusion's memory pool accounts for what
//! operators hold (hash tables, sorts), not for the values scalar functions compute: a
//! `repeat('x', 2000000000)` asks the allocator for 2 GB in one call, which no
//! cancellation can interrupt and which ends a process with a memory limit in an abort.
//! The functions that build values far larger than their arguments (`repeat`, `lpad`,
//! `rpad`, `array_repeat`) or as large as all of them (`concat`, `concat_ws`,
//! `array_concat`) are wrapped: before the inner function runs, the size of what
//! it would build is computed from its arguments, and a call that would build a value
//! over [`MAX_VALUE_BYTES`], or more than [`MAX_CALL_BYTES`] over one batch, is an error
//! naming the function and the limit. A call with constant arguments is checked when the
//! query is planned (constant folding runs the function), so such a query fails at once.

use super::concat_operator::{CONCAT_OPERATOR, ConcatOperator};
use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::length::length;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

/// Largest value one call may build, in bytes (64 MiB).
pub const MAX_VALUE_BYTES: i64 = 64 << 20;

/// Largest total one call may build over a batch, in bytes (128 MiB): what a query's
/// functions hold outside the memory pool is a few calls' worth at most.
pub const MAX_CALL_BYTES: i64 = 128 << 20;

/// How a wrapped function's output size follows from its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(text, n)`: the text's bytes times n.
    Repeat,
    /// `lpad(text, n [, fill])`, `rpad`: n characters (up to 4 bytes each).
    Pad,
    /// `array_repeat(element, n)`: n times the element.
    ArrayRepeat,
    /// `concat(a, b, ...)`, `array_concat`: the sum of the arguments.
    Concat,
    /// `concat_ws(sep, a, ...)`: the sum of the arguments and the separator once per
    /// argument.
    ConcatWithSeparator,
}

/// The names of the functions wrapped, and how their output grows.
const WRAPPED: [(&str, Growth); 8] = [
    ("repeat", Growth::Repeat),
    ("lpad", Growth::Pad),
    ("rpad", Growth::Pad),
    ("array_repeat", Growth::ArrayRepeat),
    ("concat", Growth::Concat),
    ("concat_ws", Growth::ConcatWithSeparator),
    ("array_concat", Growth::Concat),
    (CONCAT_OPERATOR, Growth::Concat),
];

/// Every function [`bounded`] wraps, wrapped: DataFusion's (`repeat`, `lpad`, ...) and
/// the `||` operator's ([`ConcatOperator`]). A session or a cluster node registers them in
/// the place of the plain ones.
pub fn bounded_functions() -> Vec<ScalarUDF> {
    datafusion::functions::all_default_functions()
        .into_iter()
        .chain(datafusion::functions_nested::all_default_nested_functions())
        .map(|f| f.as_ref().clone())
        .chain(std::iter::once(ScalarUDF::from(ConcatOperator::default())))
        .filter_map(|f| bounded(&f))
        .collect()
}

/// Whether `udf` is one of the wrapped functions without its wrapper (as DataFusion's SQL
/// planner puts `array_concat` in the place of `||` on arrays).
pub fn needs_bound(udf: &ScalarUDF) -> bool {
    WRAPPED.iter().any(|(n, _)| *n == udf.name()) && udf.inner().downcast_ref::<Bounded>().is_none()
}

/// `udf` with a limit on the values it builds, if it is one of the functions that need
/// one.
pub fn bounded(udf: &ScalarUDF) -> Option<ScalarUDF> {
    let growth = WRAPPED.iter().find(|(n, _)| *n == udf.name())?.1;
    Some(ScalarUDF::new_from_impl(Bounded {
        inner: udf.clone(),
        growth,
    }))
}

/// A function whose output size is checked before it runs.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: ScalarUDF,
    growth: Growth,
}

/// The arguments as arrays of `rows` rows.
fn arrays(args: &[ColumnarValue], rows: usize) -> Result<Vec<ArrayRef>> {
    args.iter()
        .map(|a| a.to_array(rows.max(1)))
        .collect::<Result<_>>()
}

/// Row by row, an integer argument (null and negative as 0).
fn counts(array: &ArrayRef) -> Result<Vec<i64>> {
    let a = cast(array, &DataType::Int64)?;
    let a = a
        .as_any()
        .downcast_ref::<Int64Array>()
        .cloned()
        .unwrap_or_else(|| Int64Array::from(vec![0; array.len()]));
    Ok((0..a.len())
        .map(|i| if a.is_null(i) { 0 } else { a.value(i).max(0) })
        .collect())
}

/// Row by row, the bytes of one value of `array` (text: its length; others: the array's
/// memory over its rows).
fn value_bytes(array: &ArrayRef) -> Result<Vec<i64>> {
    match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Binary => {
            let lengths = cast(&length(array)?, &DataType::Int64)?;
            counts(&lengths)
        }
        _ => {
            let each = (array.get_array_memory_size() / array.len().max(1)).max(1) as i64;
            Ok(vec![each; array.len()])
        }
    }
}

impl Bounded {
    /// Refuses a call whose output would pass the limits.
    fn check(&self, args: &[ColumnarValue], rows: usize) -> Result<()> {
        let a = arrays(args, rows)?;
        let sizes: Vec<i64> = match (self.growth, a.as_slice()) {
            (Growth::Repeat, [text, n, ..]) => value_bytes(text)?
                .into_iter()
                .zip(counts(n)?)
                .map(|(b, n)| b.saturating_mul(n))
                .collect(),
            (Growth::Pad, [_, n, ..]) => counts(n)?
                .into_iter()
                .map(|n| n.saturating_mul(4))
                .collect(),
            (Growth::ArrayRepeat, [element, n, ..]) => value_bytes(element)?
                .into_iter()
                .zip(counts(n)?)
                .map(|(b, n)| b.max(1).saturating_mul(n))
                .collect(),
            (Growth::Concat | Growth::ConcatWithSeparator, all) => {
                let mut sum = vec![0i64; a.first().map_or(0, |x| x.len())];
                let separators = match (self.growth, all.first()) {
                    (Growth::ConcatWithSeparator, Some(sep)) => Some(sep),
                    _ => None,
                };
                let counted = all
                    .iter()
                    .map(|arg| (arg, 1))
                    .chain(separators.map(|sep| (sep, all.len() as i64)));
                for (arg, times) in counted {
                    for (t, b) in sum.iter_mut().zip(value_bytes(arg)?) {
                        *t = t.saturating_add(b.saturating_mul(times));
                    }
                }
                sum
            }
            _ => return Ok(()),
        };
        let name = match self.inner.name() {
            CONCAT_OPERATOR => "the || operator",
            other => other,
        };
        if let Some(largest) = sizes.iter().copied().max()
            && largest > MAX_VALUE_BYTES
        {
            return exec_err!(
                "{name} would build a value of {largest} bytes, more than the {} MiB one value may hold: ask for a smaller one",
                MAX_VALUE_BYTES >> 20
            );
        }
        let total = sizes.iter().fold(0i64, |t, s| t.saturating_add(*s));
        if total > MAX_CALL_BYTES {
            return exec_err!(
                "{name} would build {total} bytes over {} rows, more than the {} MiB one call may build: ask for smaller values or fewer rows",
                sizes.len(),
                MAX_CALL_BYTES >> 20
            );
        }
        Ok(())
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.check(&args.args, args.number_rows)?;
        self.inner.invoke_with_args(args)
    }
    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}
