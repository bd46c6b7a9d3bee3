//! `--table NAME=file.fits[#HDU]`: FITS tables read back what skyql's FITS export wrote
//! (over several batches of rows), the HDU chosen by number or EXTNAME, and bad choices
//! refused with the file, the HDU and the reason. Every TFORM type is checked against
//! astropy in CI (`tests/validation/check_fits_tables.py`).

mod common;

use common::{Skyql, csv_rows, data};

#[test]
fn a_fits_export_reads_back_equal_over_several_batches() {
    let dir = tempfile::tempdir().unwrap();
    let fits = dir.path().join("t.fits");
    let sql = "SELECT value AS id, value * 0.5 AS x, CAST(value % 7 AS INT) AS k, \
               CASE WHEN value % 5 = 0 THEN NULL ELSE 'star' || value END AS name, \
               value % 2 = 0 AS even FROM generate_series(1, 100000)";
    Skyql::new(["query", sql, "--output"]).args([&fits]).ok();
    let table = format!("t={}", fits.display());
    let summary = "SELECT count(*) AS n, sum(id) AS ids, sum(x) AS xs, sum(k) AS ks, \
                   count(nullif(name, '')) AS names, sum(CASE WHEN even THEN 1 ELSE 0 END) AS evens";
    // FITS character columns have no null: a null string is written empty.
    let from_fits = Skyql::new([
        "query",
        "--format",
        "csv",
        "--table",
        &table,
        &format!("{summary} FROM t"),
    ])
    .ok();
    let direct = Skyql::new([
        "query",
        "--format",
        "csv",
        &format!("{summary} FROM ({sql})"),
    ])
    .ok();
    assert_eq!(from_fits, direct);
    assert_eq!(csv_rows(&from_fits)[0]["n"], "100000");
    let row = Skyql::new([
        "query",
        "--format",
        "csv",
        "--table",
        &table,
        "SELECT name FROM t WHERE id IN (5, 6) ORDER BY id",
    ])
    .ok();
    let rows = csv_rows(&row);
    assert_eq!(
        (rows[0]["name"].as_str(), rows[1]["name"].as_str()),
        ("\"\"", "star6"),
        "the empty string (CSV writes it quoted, as distinct from a null)"
    );
    let by_number = format!("t={}#1", fits.display());
    let n = Skyql::new([
        "query",
        "--format",
        "csv",
        "--table",
        &by_number,
        "SELECT count(*) AS n FROM t",
    ])
    .ok();
    assert_eq!(csv_rows(&n)[0]["n"], "100000");
}

#[test]
fn wrong_hdus_and_images_are_refused_with_the_reason() {
    let image = data("fits/apogee_alta_sip.fits");
    for (suffix, reason) in [
        ("", "no table HDU"),
        ("#0", "HDU 0: an image, not a table"),
        ("#9", "HDU 9 asked for"),
        ("#EVENTS", "no HDU named EVENTS"),
    ] {
        let table = format!("t={}{suffix}", image.display());
        let err = Skyql::new(["query", "--table", &table, "SELECT 1"]).fails();
        assert!(
            err.contains(reason) && err.contains("apogee_alta_sip.fits"),
            "{suffix}: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("notes.fits");
    std::fs::write(&fake, "not a FITS file at all").unwrap();
    let table = format!("t={}", fake.display());
    let err = Skyql::new(["query", "--table", &table, "SELECT 1"]).fails();
    assert!(err.contains("notes.fits"), "{err}");
}
