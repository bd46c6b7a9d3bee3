//! Which columns of a table hold its sky position: the main `pos.eq.ra`/`pos.eq.dec`
//! columns by UCD (the `ucd` field metadata that VOTable, FITS and CDS readers keep), else
//! the names catalogues use (`ra`/`dec`, `RAJ2000`/`DEJ2000`, `RA_ICRS`/`DE_ICRS`, ...).

use datafusion::arrow::datatypes::{Field, Schema};

/// Names of right ascension columns, lower case, in order of preference.
const RA_NAMES: &[&str] = &[
    "ra",
    "raj2000",
    "_raj2000",
    "ra_icrs",
    "radeg",
    "ra_deg",
    "ra2000",
    "alpha_j2000",
];
/// Names of declination columns, lower case, in order of preference.
const DEC_NAMES: &[&str] = &[
    "dec",
    "dej2000",
    "_dej2000",
    "decj2000",
    "de_icrs",
    "dedeg",
    "dec_deg",
    "de2000",
    "delta_j2000",
];

/// The names of the (RA, Dec) columns of `schema`, in degrees, or why there are none.
pub fn position_columns(schema: &Schema, table: &str) -> Result<(String, String), String> {
    let ra = by_ucd(schema, "pos.eq.ra").or_else(|| by_name(schema, RA_NAMES));
    let dec = by_ucd(schema, "pos.eq.dec").or_else(|| by_name(schema, DEC_NAMES));
    match (ra, dec) {
        (Some(ra), Some(dec)) => Ok((ra, dec)),
        _ => Err(format!(
            "table {table} has no position columns (numeric columns with UCD pos.eq.ra and \
             pos.eq.dec, or named ra and dec, RAJ2000 and DEJ2000, RA_ICRS and DE_ICRS): \
             make a view that names them, e.g. CREATE VIEW v AS SELECT *, \"RA\" * 15 AS ra, \
             \"DECL\" AS dec FROM {table}"
        )),
    }
}

/// The numeric column in degrees (unit `deg`, or none given) whose UCD is `ucd`
/// (`;meta.main` preferred): VizieR's `RAh` is `pos.eq.ra;meta.main` in hours.
fn by_ucd(schema: &Schema, ucd: &str) -> Option<String> {
    let degrees = |f: &&Field| {
        f.metadata()
            .get("unit")
            .is_none_or(|u| matches!(u.trim(), "" | "deg" | "degree" | "degrees"))
    };
    let with_ucd = |main: bool| {
        numeric(schema).filter(degrees).find(|f| {
            f.metadata().get("ucd").is_some_and(|u| {
                let words: Vec<&str> = u.split(';').map(str::trim).collect();
                words.first().is_some_and(|w| w.eq_ignore_ascii_case(ucd))
                    && (!main || words.iter().any(|w| w.eq_ignore_ascii_case("meta.main")))
            })
        })
    };
    with_ucd(true)
        .or_else(|| with_ucd(false))
        .map(|f| f.name().clone())
}

/// The first numeric column whose name, ignoring case, is in `names`.
fn by_name(schema: &Schema, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        numeric(schema)
            .find(|f| f.name().eq_ignore_ascii_case(name))
            .map(|f| f.name().clone())
    })
}

fn numeric(schema: &Schema) -> impl Iterator<Item = &Field> {
    schema
        .fields()
        .iter()
        .map(|f| f.as_ref())
        .filter(|f| f.data_type().is_numeric())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use datafusion::arrow::datatypes::DataType;

    use super::*;

    fn field(name: &str, ucd: Option<&str>) -> Field {
        let f = Field::new(name, DataType::Float64, true);
        match ucd {
            Some(u) => f.with_metadata(HashMap::from([("ucd".to_string(), u.to_string())])),
            None => f,
        }
    }

    #[test]
    fn ucd_first_then_names() {
        let schema = Schema::new(vec![
            field("ra", None),
            field("dec", None),
            field("alpha", Some("pos.eq.ra;meta.main")),
            field("delta", Some("POS.EQ.DEC;META.MAIN")),
        ]);
        let found = position_columns(&schema, "t").unwrap();
        assert_eq!(found, ("alpha".to_string(), "delta".to_string()));
        let schema = Schema::new(vec![field("RAJ2000", None), field("DEJ2000", None)]);
        let found = position_columns(&schema, "t").unwrap();
        assert_eq!(found, ("RAJ2000".to_string(), "DEJ2000".to_string()));
        let hours = field("RAh", Some("pos.eq.ra;meta.main")).with_metadata(HashMap::from([
            ("ucd".to_string(), "pos.eq.ra;meta.main".to_string()),
            ("unit".to_string(), "h".to_string()),
        ]));
        let schema = Schema::new(vec![hours, field("RAJ2000", None), field("DEJ2000", None)]);
        let found = position_columns(&schema, "t").unwrap();
        assert_eq!(found.0, "RAJ2000", "hours are not degrees");
        let schema = Schema::new(vec![field("x", None), field("dec", None)]);
        assert!(
            position_columns(&schema, "t")
                .unwrap_err()
                .contains("table t")
        );
    }
}
