//! The named queries of `sql/`, compiled in so that `skyql demo` runs anywhere.

/// (name, SQL text) of every named query, in the order the demo runs them.
pub const NAMED_QUERIES: [(&str, &str); 7] = [
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
    (
        "microlensing_candidates",
        include_str!("../sql/microlensing_candidates.sql"),
    ),
];

/// The SQL of a named query (also `public_images` and `cutouts`).
pub fn named_query(name: &str) -> Option<&'static str> {
    all().into_iter().find(|(n, _)| *n == name).map(|(_, q)| q)
}

/// `sql/periodic_variables.sql`: periods of the whole catalogue (a periodogram per star
/// and colour: not run by the demo, whose point is speed).
pub const PERIODIC_VARIABLES_SQL: &str = include_str!("../sql/periodic_variables.sql");

/// Every named query of `sql/`: those the demo runs, the period search, then the image
/// queries.
pub fn all() -> Vec<(&'static str, &'static str)> {
    let mut out = NAMED_QUERIES.to_vec();
    out.push(("periodic_variables", PERIODIC_VARIABLES_SQL));
    out.push(("public_images", PUBLIC_IMAGES_SQL));
    out.push(("cutouts", CUTOUTS_SQL));
    out
}

/// What a named query answers: the first line of its comment after the file name.
pub fn summary(sql: &str) -> String {
    sql.lines()
        .filter_map(|l| l.trim().strip_prefix("--"))
        .map(str::trim)
        .find(|l| !l.ends_with(".sql") && !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// `sql/public_images.sql`: public images of every current image, with the WCS of the
/// richest quarter propagated to the CCD (calls `public_image`).
pub const PUBLIC_IMAGES_SQL: &str = include_str!("../sql/public_images.sql");

/// `sql/cutouts.sql`: cutouts around microlensing events (needs an `events` table and
/// the public images; calls `cutout`).
pub const CUTOUTS_SQL: &str = include_str!("../sql/cutouts.sql");
