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

#[test]
fn an_ingested_table_with_positions_is_in_healpix_order_and_its_cones_read_one_row_group() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::create_dir_all(&input).unwrap();
    // A grid of 300,000 positions, written row by row in id order (not sky order).
    let sql = "SELECT value AS id, 80 + (value % 1000) * 0.002 AS ra, \
               -70 + (value / 1000) * 0.0067 AS dec, value * 0.5 AS flux \
               FROM generate_series(1, 300000)";
    Skyql::new(["query", sql, "--output"])
        .args([input.join("refcat.fits")])
        .ok();
    let cat = dir.path().join("cat");
    Skyql::new(["ingest", "--catalog"])
        .args([&cat, &input])
        .ok();
    // The file: `_healpix_29` first, never decreasing; its range in the manifest.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cat.join("manifest.json")).unwrap()).unwrap();
    let version = format!("v{:06}", manifest["version"].as_u64().unwrap());
    let entry = &manifest["tables"]["refcat"];
    let range = &entry["data_files"][0]["column_ranges"]["_healpix_29"];
    assert!(
        range["min"].as_i64().unwrap() < range["max"].as_i64().unwrap(),
        "{entry}"
    );
    let file = std::fs::File::open(cat.join(version).join("refcat.parquet")).unwrap();
    let reader =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
    let mut previous = i64::MIN;
    let mut rows = 0;
    for batch in reader {
        let batch = batch.unwrap();
        assert_eq!(batch.schema().field(0).name(), "_healpix_29");
        let index = batch
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap();
        for v in index.values() {
            assert!(*v >= previous, "not in HEALPix order");
            previous = *v;
        }
        rows += batch.num_rows();
    }
    assert_eq!(rows, 300_000);
    // A 1-arcminute cone: the rows of a test of every row, from one row group of five.
    let q = |sql: &str| {
        Skyql::new(["query", "--format", "csv", "--catalog"])
            .args([cat.as_os_str()])
            .args([sql])
            .ok()
    };
    let cone = q("SELECT id FROM refcat WHERE cone_contains(ra, dec, 81, -69, 0.0167) ORDER BY id");
    let every_row =
        q("SELECT id FROM refcat WHERE ang_sep(ra, dec, 81, -69) <= 0.0167 ORDER BY id");
    assert_eq!(cone, every_row);
    assert!(csv_rows(&cone).len() > 100, "{cone}");
    let plan = q(
        "EXPLAIN ANALYZE SELECT count(*) FROM refcat WHERE cone_contains(ra, dec, 81, -69, 0.0167)",
    );
    assert!(
        plan.contains("row_groups_pruned_statistics=5 total → 1 matched"),
        "{plan}"
    );
    // Its cone search in the service.
    let server = common::server::Server::start(&cat, None);
    let (status, _, votable) = server.get("/scs/refcat?RA=81&DEC=-69&SR=0.0167&VERB=1");
    assert_eq!(status, 200, "{votable}");
    assert_eq!(votable.matches("<TR>").count(), csv_rows(&cone).len());
}
