//! The named queries of `sql/`, compiled in so that `skyql demo` runs anywhere.

/// (name, SQL text) of every named query, in the order the demo runs them.
pub const NAMED_QUERIES: [(&str, &str); 6] = [
    (
        "quarters_most_measurements",
        include_str!("../sql/quarters_most_measurements.sql"),
    ),
    (
        "images_per_field",
        include_str!("../sql/images_per_field.sql"),
    ),
    (
        "measurements_per_quarter",
        include_str!("../sql/measurements_per_quarter.sql"),
    ),
    ("lightcurve", include_str!("../sql/lightcurve.sql")),
    ("cone_search", include_str!("../sql/cone_search.sql")),
    ("variable_stars", include_str!("../sql/variable_stars.sql")),
];

/// The SQL of a named query.
pub fn named_query(name: &str) -> Option<&'static str> {
    NAMED_QUERIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, q)| *q)
}
