//! Result columns as the exports see them.
//!
//! Structs are flattened to dotted names (`wcs.crval1`), and every Arrow type is mapped to
//! one of a few scalar kinds, alone or as a variable-length array. Each column keeps the
//! unit, UCD, utype and description found in its Arrow field metadata (the catalogue
//! tables carry them; see `schema.rs`). Types with no counterpart in VOTable or FITS
//! (maps, lists of strings, binary) are written as text in Arrow's display form.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, GenericListArray, ListArray, OffsetSizeTrait, StringBuilder,
    make_array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

pub use super::datatype::Datatype;

/// Field metadata key of the VOTable `VALUES null` of an integer array column.
pub const NULL_KEY: &str = "votable.null";

/// One exported column: its name, kind and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportColumn {
    /// Column name (dotted for struct fields).
    pub name: String,
    /// Scalar kind of the values.
    pub kind: Datatype,
    /// Whether each value is a variable-length array of `kind`.
    pub is_array: bool,
    /// VOTable `xtype` (`timestamp` for dates and times written as ISO 8601 text).
    pub xtype: Option<String>,
    /// Unit (VOUnit), when known.
    pub unit: Option<String>,
    /// Unified Content Descriptor, when known.
    pub ucd: Option<String>,
    /// utype, when known.
    pub utype: Option<String>,
    /// Human description, when known.
    pub description: Option<String>,
    /// For integer arrays: the value that stands for a null element (VOTable `VALUES
    /// null`): the one read from a VOTable, or the type's minimum.
    pub null_value: Option<i64>,
    /// The coordinate system of a position column read from a VOTable: its COOSYS
    /// attributes (`system`, `equinox`, `epoch`), kept in the field metadata as
    /// `coosys.system`, ... Empty when unknown (positions are then written as ICRS).
    pub coosys: Vec<(String, String)>,
    /// For text: the fixed VOTable `arraysize` (the longest value, in characters), when
    /// known before the header is written (VOParquet); `*` otherwise.
    pub char_length: Option<usize>,
}

impl ExportColumn {
    /// The Arrow type of this column's normalized arrays.
    pub fn arrow_type(&self) -> DataType {
        if self.is_array {
            DataType::List(Arc::new(Field::new("item", self.kind.arrow_type(), true)))
        } else {
            self.kind.arrow_type()
        }
    }

    /// An Arrow field with the same name, normalized type and metadata.
    pub fn arrow_field(&self) -> Field {
        let mut md = std::collections::HashMap::new();
        for (key, value) in [
            ("unit", &self.unit),
            ("ucd", &self.ucd),
            ("utype", &self.utype),
            ("description", &self.description),
            ("xtype", &self.xtype),
        ] {
            if let Some(v) = value {
                md.insert(key.to_string(), v.clone());
            }
        }
        if let Some(n) = self.null_value {
            md.insert(NULL_KEY.to_string(), n.to_string());
        }
        for (key, value) in &self.coosys {
            md.insert(format!("{COOSYS_PREFIX}{key}"), value.clone());
        }
        Field::new(&self.name, self.arrow_type(), true).with_metadata(md)
    }
}

/// How one Arrow field of the result becomes exported columns.
#[derive(Debug, Clone)]
enum Plan {
    /// A scalar or array column, cast to the normalized type.
    Cast(DataType),
    /// A date, time or timestamp, written as ISO 8601 text.
    IsoText,
    /// Anything else, written as text in Arrow's display form.
    DisplayText,
    /// A struct: its children, flattened.
    Struct(Vec<Plan>),
}

/// The exported layout of a result schema: the flat columns and how to produce them.
#[derive(Debug, Clone)]
pub struct ExportLayout {
    /// The flat columns, in order.
    pub columns: Vec<ExportColumn>,
    plans: Vec<Plan>,
}

impl ExportLayout {
    /// Plans the export of `schema`.
    pub fn new(schema: &Schema) -> Self {
        let mut columns = Vec::new();
        let plans = schema
            .fields()
            .iter()
            .map(|f| plan_field(f, "", &mut columns))
            .collect();
        ExportLayout { columns, plans }
    }

    /// Flattens and normalizes one batch: one array per exported column.
    pub fn flatten(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        let mut out = Vec::with_capacity(self.columns.len());
        for ((plan, array), field) in self
            .plans
            .iter()
            .zip(batch.columns())
            .zip(batch.schema().fields())
        {
            apply(plan, array, None, field.name(), &mut out)?;
        }
        Ok(out)
    }
}

/// The text of each column's integer-array null (empty for other columns).
pub fn int_null_texts(columns: &[ExportColumn]) -> Vec<String> {
    columns
        .iter()
        .map(|c| c.null_value.map(|n| n.to_string()).unwrap_or_default())
        .collect()
}

/// The field-metadata prefix of a column's COOSYS attributes (`coosys.system`).
pub const COOSYS_PREFIX: &str = "coosys.";
/// The COOSYS attributes kept.
pub const COOSYS_ATTRIBUTES: [&str; 3] = ["system", "equinox", "epoch"];

fn metadata(field: &Field, key: &str) -> Option<String> {
    field.metadata().get(key).filter(|v| !v.is_empty()).cloned()
}

fn scalar_kind(dt: &DataType) -> Option<Datatype> {
    Some(match dt {
        DataType::Boolean => Datatype::Boolean,
        DataType::UInt8 => Datatype::UInt8,
        DataType::Int8 | DataType::Int16 => Datatype::Int16,
        DataType::UInt16 | DataType::Int32 => Datatype::Int32,
        DataType::UInt32 | DataType::Int64 | DataType::UInt64 => Datatype::Int64,
        DataType::Float16 | DataType::Float32 => Datatype::Float32,
        DataType::Float64
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => Datatype::Float64,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Datatype::Char,
        DataType::Dictionary(_, value) => return scalar_kind(value),
        _ => return None,
    })
}

fn is_temporal(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Timestamp(..)
            | DataType::Date32
            | DataType::Date64
            | DataType::Time32(_)
            | DataType::Time64(_)
    )
}

fn plan_field(field: &Field, prefix: &str, columns: &mut Vec<ExportColumn>) -> Plan {
    let name = format!("{prefix}{}", field.name());
    let mut column = ExportColumn {
        name: name.clone(),
        kind: Datatype::Char,
        is_array: false,
        xtype: metadata(field, "xtype"),
        unit: metadata(field, "unit"),
        ucd: metadata(field, "ucd"),
        utype: metadata(field, "utype"),
        description: metadata(field, "description"),
        null_value: None,
        coosys: COOSYS_ATTRIBUTES
            .iter()
            .filter_map(|k| {
                metadata(field, &format!("{COOSYS_PREFIX}{k}")).map(|v| (k.to_string(), v))
            })
            .collect(),
        char_length: None,
    };
    let dt = field.data_type();
    let plan = if let DataType::Struct(children) = dt {
        let prefix = format!("{name}.");
        return Plan::Struct(
            children
                .iter()
                .map(|c| plan_field(c, &prefix, columns))
                .collect(),
        );
    } else if let Some(kind) = scalar_kind(dt) {
        column.kind = kind;
        Plan::Cast(kind.arrow_type())
    } else if is_temporal(dt) {
        if matches!(
            dt,
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
        ) {
            column.xtype = Some("timestamp".to_string());
        }
        Plan::IsoText
    } else {
        match list_item(dt).and_then(|f| scalar_kind(f.data_type())) {
            Some(kind) if kind != Datatype::Char => {
                column.kind = kind;
                column.is_array = true;
                column.null_value = kind.minimum().map(|min| {
                    metadata(field, NULL_KEY)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(min)
                });
                Plan::Cast(column.arrow_type())
            }
            _ => Plan::DisplayText,
        }
    };
    columns.push(column);
    plan
}

fn list_item(dt: &DataType) -> Option<&FieldRef> {
    match dt {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => Some(f),
        DataType::ListView(f) | DataType::LargeListView(f) => Some(f),
        _ => None,
    }
}

fn with_parent_nulls(array: ArrayRef, parent: Option<&NullBuffer>) -> Result<ArrayRef> {
    let Some(parent) = parent else {
        return Ok(array);
    };
    let nulls = NullBuffer::union(Some(parent), array.logical_nulls().as_ref());
    let data = array.to_data().into_builder().nulls(nulls).build()?;
    Ok(make_array(data))
}

fn apply(
    plan: &Plan,
    array: &ArrayRef,
    parent_nulls: Option<&NullBuffer>,
    name: &str,
    out: &mut Vec<ArrayRef>,
) -> Result<()> {
    match plan {
        Plan::Struct(children) => {
            let s = array.as_struct();
            let nulls = NullBuffer::union(parent_nulls, s.nulls());
            for ((child_plan, child), field) in children.iter().zip(s.columns()).zip(s.fields()) {
                apply(
                    child_plan,
                    child,
                    nulls.as_ref(),
                    &format!("{name}.{}", field.name()),
                    out,
                )?;
            }
        }
        Plan::Cast(target) => {
            let source = if let DataType::LargeList(_) = array.data_type() {
                large_to_list(array.as_list::<i64>())?
            } else {
                array.clone()
            };
            let options = CastOptions {
                safe: false,
                ..Default::default()
            };
            let cast = cast_with_options(&source, target, &options)
                .with_context(|| format!("column {name}: cannot convert the values"))?;
            out.push(with_parent_nulls(cast, parent_nulls)?);
        }
        Plan::IsoText => {
            let cast = cast_with_options(array, &DataType::Utf8, &CastOptions::default())
                .with_context(|| format!("column {name}: cannot format the dates"))?;
            out.push(with_parent_nulls(cast, parent_nulls)?);
        }
        Plan::DisplayText => {
            let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
                .with_context(|| format!("column {name}: cannot format the values"))?;
            let mut b = StringBuilder::with_capacity(array.len(), array.len() * 16);
            for i in 0..array.len() {
                if array.is_null(i) {
                    b.append_null();
                } else {
                    b.append_value(formatter.value(i).to_string());
                }
            }
            out.push(with_parent_nulls(Arc::new(b.finish()), parent_nulls)?);
        }
    }
    Ok(())
}

fn large_to_list<O: OffsetSizeTrait>(list: &GenericListArray<O>) -> Result<ArrayRef> {
    let offsets: Vec<i32> = list
        .value_offsets()
        .iter()
        .map(|o| i32::try_from(o.as_usize()))
        .collect::<Result<_, _>>()
        .context("a list column holds more than 2^31 values in one batch")?;
    let field = match list.data_type() {
        DataType::LargeList(f) => f.clone(),
        _ => bail!("not a large list"),
    };
    Ok(Arc::new(ListArray::try_new(
        field,
        datafusion::arrow::buffer::OffsetBuffer::new(offsets.into()),
        list.values().clone(),
        list.nulls().cloned(),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int8Array, StructArray, UInt64Array};

    #[test]
    fn structs_flatten_with_parent_nulls() {
        let inner = StructArray::new(
            vec![Field::new("a", DataType::Float64, true)].into(),
            vec![Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef],
            Some(NullBuffer::from(vec![true, false])),
        );
        let schema = Schema::new(vec![
            Field::new("s", inner.data_type().clone(), true),
            Field::new("b", DataType::Int8, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![
                Arc::new(inner),
                Arc::new(Int8Array::from(vec![Some(3), None])),
            ],
        )
        .unwrap();
        let layout = ExportLayout::new(&schema);
        let names: Vec<_> = layout.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["s.a", "b"]);
        assert_eq!(layout.columns[1].kind, Datatype::Int16);
        let flat = layout.flatten(&batch).unwrap();
        assert!(flat[0].is_valid(0) && flat[0].is_null(1));
        assert!(flat[1].is_valid(0) && flat[1].is_null(1));
    }

    #[test]
    fn unsigned_overflow_is_an_error_not_a_null() {
        let schema = Schema::new(vec![Field::new("u", DataType::UInt64, false)]);
        let batch = RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![Arc::new(UInt64Array::from(vec![u64::MAX]))],
        )
        .unwrap();
        assert!(ExportLayout::new(&schema).flatten(&batch).is_err());
    }
}
