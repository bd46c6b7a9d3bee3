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

#[test]
fn ingest_takes_fits_table_files_as_tables_of_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::create_dir_all(&input).unwrap();
    let sql = "SELECT value AS id, value * 0.25 AS flux, arrow_cast(value % 3, 'Int16') AS flag \
               FROM generate_series(1, 70000)";
    let source = input.join("CALSRC-00042-1.fits");
    Skyql::new(["query", sql, "--output"]).args([&source]).ok();
    // A table of the catalogue's own name is refused, and a damaged table loses nothing
    // silently: the file is rejected with its HDU and its rows counted.
    std::fs::copy(&source, input.join("stars.fits")).unwrap();
    let bytes = std::fs::read(&source).unwrap();
    std::fs::write(input.join("cut.fits"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::copy(data("fits/apogee_alta_sip.fits"), input.join("image.fits")).unwrap();
    let cat = dir.path().join("cat");
    let out = Skyql::new(["ingest", "--catalog"])
        .args([&cat, &input])
        .ok();
    assert!(
        out.contains("FITS table rows read: 140000 = written 70000 + rejected 70000"),
        "{out}"
    );
    assert!(out.contains("images written: 1"), "{out}");
    let rejects = std::fs::read_to_string(cat.join("rejects/ingest-000001.tsv")).unwrap();
    assert!(
        rejects.contains("stars.fits\tfile\ta FITS table file would become table 'stars'"),
        "{rejects}"
    );
    assert!(rejects.contains("cut.fits\tHDU 2\t"), "{rejects}");
    let q = |sql: &str| {
        csv_rows(
            &Skyql::new(["query", "--format", "csv", "--catalog"])
                .args([cat.as_os_str()])
                .args([sql])
                .ok(),
        )
    };
    let rows = q("SELECT count(*) n, sum(id) ids, sum(flux) f, sum(flag) k FROM calsrc_00042_1");
    assert_eq!(rows[0]["n"], "70000");
    assert_eq!(rows[0]["ids"], (70000u64 * 70001 / 2).to_string());
    assert_eq!(
        rows[0]["f"].parse::<f64>().unwrap(),
        70000.0 * 70001.0 / 2.0 * 0.25
    );
    let inputs =
        q("SELECT format, rows_read, rows_written, rows_rejected FROM inputs ORDER BY path");
    let formats: Vec<&str> = inputs.iter().map(|r| r["format"].as_str()).collect();
    assert_eq!(formats, ["fits-table", "fits-table", "fits", "fits-table"]);
    // Re-ingesting the file replaces the table; the next ingest carries it over.
    Skyql::new(["ingest", "--catalog"])
        .args([&cat, &source])
        .ok();
    Skyql::new(["ingest", "--catalog"])
        .args([cat.as_path(), &data("lightcurves/eros2/lm0010n22323.time")])
        .ok();
    assert_eq!(q("SELECT count(*) n FROM calsrc_00042_1")[0]["n"], "70000");
    // Another file whose name maps to the same table is rejected, the table kept.
    let other = dir.path().join("calsrc.00042_1.fits");
    Skyql::new(["query", "SELECT 1 AS one", "--output"])
        .args([&other])
        .ok();
    let out = Skyql::new(["ingest", "--catalog"])
        .args([&cat, &other])
        .ok();
    assert!(
        out.contains("FITS table rows read: 1 = written 0 + rejected 1"),
        "{out}"
    );
    assert_eq!(q("SELECT count(*) n FROM calsrc_00042_1")[0]["n"], "70000");
    // --table may not hide a catalogue table.
    let err = Skyql::new(["query", "--catalog"])
        .args([cat.as_os_str()])
        .args([
            "--table",
            &format!("stars={}", source.display()),
            "SELECT 1",
        ])
        .fails();
    assert!(
        err.contains("--table stars: the catalogue has a table of that name"),
        "{err}"
    );
    let verify = Skyql::new(["catalog", "verify", "--catalog"])
        .args([&cat])
        .ok();
    assert!(verify.contains("the catalogue is intact"), "{verify}");
}
