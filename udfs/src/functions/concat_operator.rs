//! `a || b` on text as a function, so that the operator gets the limits of
//! [`super::bounded`] like `concat`: DataFusion evaluates the operator inside its binary
//! expression, where no function wrapper sees it, and nested `||` doubles a value at every
//! level. The meaning is the operator's: NULL when either side is NULL, both sides turned
//! into one text type (the wider of the two; a value that is not text becomes text).
//! [`crate::rules::bounded_values`] puts it in the place of the operator.

use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::concat_elements::concat_elements_dyn;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The name the operator's function has in plans and in the messages of its limits.
pub const CONCAT_OPERATOR: &str = "concat_operator";

/// `left || right` on text.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ConcatOperator {
    signature: Signature,
}

impl Default for ConcatOperator {
    fn default() -> Self {
        ConcatOperator {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The text type both sides become: the widest text type among them (Utf8 when neither
/// is text).
fn common_text_type(types: &[DataType]) -> DataType {
    if types.contains(&DataType::LargeUtf8) {
        DataType::LargeUtf8
    } else if types.contains(&DataType::Utf8View) {
        DataType::Utf8View
    } else {
        DataType::Utf8
    }
}

impl ScalarUDFImpl for ConcatOperator {
    fn name(&self) -> &str {
        CONCAT_OPERATOR
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return exec_err!("{CONCAT_OPERATOR} takes two values (left || right)");
        }
        let text = common_text_type(arg_types);
        Ok(vec![text.clone(), text])
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(common_text_type(arg_types))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalars = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalars { 1 } else { args.number_rows };
        let [left, right] = args.args.as_slice() else {
            return exec_err!("{CONCAT_OPERATOR} takes two values (left || right)");
        };
        let (left, right) = (left.to_array(rows)?, right.to_array(rows)?);
        let right = if right.data_type() == left.data_type() {
            right
        } else {
            cast(&right, left.data_type())?
        };
        let joined = concat_elements_dyn(&left, &right)?;
        if all_scalars {
            let value = datafusion::common::ScalarValue::try_from_array(&joined, 0)?;
            return Ok(ColumnarValue::Scalar(value));
        }
        Ok(ColumnarValue::Array(joined))
    }
    fn documentation(&self) -> Option<&Documentation> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, StringArray};
    use datafusion::arrow::datatypes::Field;
    use datafusion::common::ScalarValue;
    use std::sync::Arc;

    fn call(args: Vec<ColumnarValue>, rows: usize) -> ColumnarValue {
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        ConcatOperator::default()
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: rows,
                return_field: Arc::new(Field::new("r", DataType::Utf8, true)),
                config_options: Arc::new(Default::default()),
            })
            .unwrap()
    }

    #[test]
    fn null_on_either_side_gives_null_as_the_operator_does() {
        let left = ColumnarValue::Array(Arc::new(StringArray::from(vec![
            Some("ab"),
            None,
            Some("c"),
        ])));
        let right = ColumnarValue::Scalar(ScalarValue::Utf8(Some("!".into())));
        let ColumnarValue::Array(out) = call(vec![left, right], 3) else {
            panic!("an array")
        };
        let out = out.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(out.value(0), "ab!");
        assert!(out.is_null(1));
        assert_eq!(out.value(2), "c!");
        let scalar = call(
            vec![
                ColumnarValue::Scalar(ScalarValue::Utf8(Some("x".into()))),
                ColumnarValue::Scalar(ScalarValue::Utf8(None)),
            ],
            1,
        );
        assert!(matches!(
            scalar,
            ColumnarValue::Scalar(ScalarValue::Utf8(None))
        ));
    }
}
