//! DALI examples at `/tap/examples`: the survey's named queries (`sql/`) written in
//! ADQL against the published schema, as XHTML with RDFa (DALI 1.1 section 2.3), which
//! TOPCAT lists in its examples menu and taplint checks.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;

use super::{AppState, Caller, xml_escape};

/// The standard id of the examples capability.
pub const EXAMPLES_STANDARD: &str = "ivo://ivoa.net/std/DALI#examples";

/// An example: its id, title, what it shows, the tables it reads (without the schema)
/// and its ADQL, `{s}` standing for the survey's schema.
pub struct Example {
    /// Fragment id.
    pub id: &'static str,
    /// Title.
    pub name: &'static str,
    /// What it answers.
    pub description: &'static str,
    /// Tables it reads, without the schema.
    pub tables: &'static [&'static str],
    /// ADQL, `{s}` the survey's schema.
    pub adql: &'static str,
}

/// The examples, after `sql/`'s named queries.
pub const EXAMPLES: &[Example] = &[
    Example {
        id: "cone_search",
        name: "Stars around a field's centre",
        description: "Stars within 0.1 degree of the centre of each field, nearest first, with their distance in arcseconds (sql/cone_search.sql).",
        tables: &["stars", "fields"],
        adql: "SELECT s.star_id, s.ra, s.dec, s.field,\n       DISTANCE(POINT('ICRS', s.ra, s.dec), POINT('ICRS', f.ra_center, f.dec_center)) * 3600 AS distance_arcsec,\n       s.n_r, s.n_b, s.mean_mag_r\nFROM {s}.stars AS s\nJOIN {s}.fields AS f ON s.field = f.field\nWHERE 1 = CONTAINS(POINT('ICRS', s.ra, s.dec), CIRCLE('ICRS', f.ra_center, f.dec_center, 0.1))\nORDER BY 4, distance_arcsec",
    },
    Example {
        id: "images_per_field",
        name: "Images per field",
        description: "Reference (code d) and current (code e) images per field, and the exposures they come from (sql/images_per_field.sql).",
        tables: &["images"],
        adql: "SELECT field, code, COUNT(*) AS n_images, COUNT(DISTINCT exposure) AS exposures\nFROM {s}.images\nGROUP BY field, code\nORDER BY field, code",
    },
    Example {
        id: "lightcurve",
        name: "The light curve of the star with the most red measurements",
        description: "Both colours of one star's light curve, by time (sql/lightcurve.sql); replace the subquery by a star id, e.g. WHERE m.star_id = 'lm0010n22323'.",
        tables: &["measurements", "stars"],
        adql: "SELECT m.star_id, m.mjd, m.colour, m.mag, m.mag_err\nFROM {s}.measurements AS m\nWHERE m.star_id IN (SELECT TOP 1 star_id FROM {s}.stars ORDER BY n_r DESC, star_id)\nORDER BY mjd, colour",
    },
    Example {
        id: "measurements_per_quarter",
        name: "Measurements per field, colour, CCD and quarter",
        description: "The counts the data manager checks before a release: measurements and stars per field, colour, CCD and quarter, with the time span (sql/measurements_per_quarter.sql).",
        tables: &["measurements"],
        adql: "SELECT field, colour, ccd, quarter,\n       COUNT(*) AS n_measurements, COUNT(DISTINCT star_id) AS n_stars,\n       MIN(mjd) AS first_mjd, MAX(mjd) AS last_mjd\nFROM {s}.measurements\nGROUP BY field, colour, ccd, quarter\nORDER BY field, colour, ccd, quarter",
    },
    Example {
        id: "quarters_most_measurements",
        name: "The quarter with the most measurements on each CCD",
        description: "For every field, colour and CCD, the quarters ranked by their measurements, from the counts written with each catalogue version (sql/quarters_most_measurements.sql).",
        tables: &["measurement_counts"],
        adql: "SELECT field, colour, ccd, quarter, SUM(n) AS n_measurements\nFROM {s}.measurement_counts\nGROUP BY field, colour, ccd, quarter\nORDER BY field, colour, ccd, n_measurements DESC",
    },
    Example {
        id: "bright_stars_in_both_colours",
        name: "Bright stars measured in both colours",
        description: "Stars brighter than magnitude 18 in red, with measurements in both colours and their colour index.",
        tables: &["stars"],
        adql: "SELECT TOP 100 star_id, ra, dec, mean_mag_r, mean_mag_b, mean_mag_b - mean_mag_r AS colour_index\nFROM {s}.stars\nWHERE mean_mag_r < 18 AND n_r > 0 AND n_b > 0\nORDER BY mean_mag_r",
    },
];

/// The ObsCore example, when the service has `ivoa.obscore`.
pub const OBSCORE_EXAMPLE: Example = Example {
    id: "obscore_images_at_a_position",
    name: "Images covering a position (ObsCore)",
    description: "The images whose footprint holds a position, with their DataLink access URL: the position of the first star here; give your own as POINT('ICRS', ra, dec).",
    tables: &["obscore", "stars"],
    adql: "SELECT o.obs_publisher_did, o.obs_id, o.t_min, o.t_exptime, o.access_url\nFROM ivoa.obscore AS o, {s}.stars AS s\nWHERE o.dataproduct_type = 'image'\n  AND s.star_id IN (SELECT MIN(star_id) FROM {s}.stars)\n  AND 1 = CONTAINS(POINT('ICRS', s.ra, s.dec), o.s_region)",
};

/// The examples of a service whose survey schema is `schema`.
pub fn examples(obscore: bool) -> Vec<&'static Example> {
    let mut out: Vec<&Example> = EXAMPLES.iter().collect();
    if obscore {
        out.push(&OBSCORE_EXAMPLE);
    }
    out
}

/// An example's ADQL for the survey schema `schema`.
pub fn adql(example: &Example, schema: &str) -> String {
    example.adql.replace("{s}", schema)
}

/// The XHTML+RDFa document, with the examples whose tables (`schema.table`) are all
/// `visible` to the caller.
pub fn document(schema: &str, obscore: bool, visible: &dyn Fn(&str) -> bool) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>skyql TAP examples</title>\n</head>\n<body vocab=\"http://www.ivoa.net/rdf/examples#\">\n<h1>Example queries</h1>\n",
    );
    let table_schema = |t: &str| if t == "obscore" { "ivoa" } else { schema };
    for e in examples(obscore).into_iter().filter(|e| {
        e.tables
            .iter()
            .all(|t| visible(&format!("{}.{t}", table_schema(t))))
    }) {
        let tables = e
            .tables
            .iter()
            .map(|t| format!("<span property=\"table\">{}.{t}</span>", table_schema(t)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            x,
            "<div typeof=\"example\" id=\"{id}\" resource=\"#{id}\">\n<h2 property=\"name\">{}</h2>\n<p>{} Tables: {tables}.</p>\n<pre class=\"dali-example-query\" property=\"query\">{}</pre>\n</div>\n",
            xml_escape(e.name),
            xml_escape(e.description),
            xml_escape(&adql(e, schema)),
            id = e.id,
        );
    }
    x.push_str("</body>\n</html>\n");
    x
}

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/tap/examples", get(page))
}

async fn page(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<Caller>>,
) -> Response {
    // The examples on tables the caller may read (read grants).
    let (snap, view) = match super::current_view(&state, &caller).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut r = Response::new(Body::from(document(
        &snap.schema,
        snap.obscore_margin.is_some(),
        &|t| !view.hides(t),
    )));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xhtml+xml"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_well_formed_xml_with_one_query_per_example() {
        let doc = document("eros2", true, &|_| true);
        let without = document("eros2", true, &|t| t != "eros2.measurements");
        assert!(without.contains("ivoa.obscore") && !without.contains("eros2.measurements"));
        let mut reader = quick_xml::Reader::from_str(&doc);
        let mut queries = 0;
        let mut in_query = false;
        loop {
            match reader.read_event().expect("well-formed XML") {
                quick_xml::events::Event::Eof => break,
                quick_xml::events::Event::Start(e) => {
                    in_query = e
                        .attributes()
                        .flatten()
                        .any(|a| a.key.as_ref() == b"property" && a.value.as_ref() == b"query");
                }
                quick_xml::events::Event::Text(t) if in_query => {
                    assert!(t.unescape().unwrap().contains("FROM "));
                    queries += 1;
                    in_query = false;
                }
                _ => {}
            }
        }
        assert_eq!(queries, EXAMPLES.len() + 1);
        assert!(!doc.contains("{s}"));
    }
}
