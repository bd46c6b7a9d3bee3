//! Exports: VOTable (TABLEDATA, BINARY2), CSV, FITS binary tables and VOParquet, from
//! `skyql query` and from SQL `COPY`, and VOTables read back with `--table`.
//!
//! The external validators (stilts votlint, astropy, fitsverify, DuckDB) run from
//! `.ci/run` (tests/validation/check_exports.py); these tests need only the binary.

mod common;

use std::path::{Path, PathBuf};

use common::{data, run, run_ok};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use skyql::formats::votable::read_votable;

/// A tiny demo catalogue in a temporary directory.
fn tiny_catalog() -> (tempfile::TempDir, PathBuf) {
    let (tmp, _raw, cat) = common::generated_survey(&[
        "--fields",
        "lm035",
        "--ccds",
        "4",
        "--ccd-size",
        "32",
        "--epochs",
        "6",
        "--stars-per-quarter",
        "5",
    ]);
    (tmp, cat)
}

fn export(catalog: &Path, sql_file: &Path, format: &str, out: &Path) {
    run_ok(&[
        "query",
        "--catalog",
        catalog.to_str().unwrap(),
        "--file",
        sql_file.to_str().unwrap(),
        "--format",
        format,
        "--output",
        out.to_str().unwrap(),
    ]);
}

/// The CSV export of `SELECT * FROM` a file given with `--table`.
fn csv_of_table(file: &Path) -> String {
    run_ok(&[
        "query",
        "--table",
        &format!("t={}", file.display()),
        "SELECT * FROM t",
        "--format",
        "csv",
    ])
}

#[test]
fn votables_read_back_equal_the_csv_export_of_every_column_type() {
    let (tmp, cat) = tiny_catalog();
    let sql = data("all_types.sql");
    let csv = tmp.path().join("all.csv");
    export(&cat, &sql, "csv", &csv);
    // The file has CRLF line ends (RFC 4180), standard output LF.
    let expected = std::fs::read_to_string(&csv).unwrap();
    assert!(expected.contains("\r\n"));
    let expected = expected.replace("\r\n", "\n");
    assert!(expected.lines().count() > 10, "{expected}");
    for format in ["votable", "votable-binary2"] {
        let vot = tmp.path().join(format!("all.{format}.vot"));
        export(&cat, &sql, format, &vot);
        let text = std::fs::read_to_string(&vot).unwrap();
        assert!(text.contains("<INFO name=\"QUERY_STATUS\" value=\"OK\"/>"));
        assert!(text.contains("<COOSYS ID=\"icrs\" system=\"ICRS\"/>"));
        assert!(text.contains(
            "<FIELD name=\"ra_center\" datatype=\"double\" unit=\"deg\" ucd=\"pos.eq.ra\" ref=\"icrs\">"
        ));
        assert!(text.contains("<FIELD name=\"wcs.crval1\" datatype=\"double\""));
        assert!(text.contains("xtype=\"timestamp\""));
        assert!(!text.contains("arraysize=\"1\""));
        // Every value, null and type survives the trip through the VOTable.
        assert_eq!(csv_of_table(&vot), expected, "{format}");
    }
}

#[test]
fn the_votable_header_carries_units_ucds_descriptions_and_the_timesys() {
    let (tmp, cat) = tiny_catalog();
    let out = tmp.path().join("lc.vot");
    run_ok(&[
        "query",
        "--catalog",
        cat.to_str().unwrap(),
        "SELECT star_id, mjd, mag, mag_err, colour FROM measurements ORDER BY star_id, mjd LIMIT 20",
        "--format",
        "votable",
        "--output",
        out.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    let timesys = text.find("<TIMESYS ID=\"time_frame\"").expect("TIMESYS");
    let mjd = text
        .find("<FIELD name=\"mjd\" datatype=\"double\" unit=\"d\" ucd=\"time.epoch\" ref=\"time_frame\">")
        .expect("mjd FIELD");
    assert!(timesys < mjd, "TIMESYS is declared before the FIELDs");
    assert!(text.contains("timeorigin=\"MJD-origin\" timescale=\"UTC\""));
    assert!(
        text.contains("<DESCRIPTION>Modified Julian Date (UTC) of the measurement; heliocentric")
    );
    assert!(text.contains("ucd=\"stat.error;phot.mag\""));
    let table = read_votable(&out).unwrap();
    assert_eq!(table.batch.num_rows(), 20);
    let field = table.batch.schema().field_with_name("mag").unwrap().clone();
    assert_eq!(
        field.metadata().get("unit").map(String::as_str),
        Some("mag")
    );
}

#[test]
fn max_rows_cuts_the_result_and_says_so() {
    let sql = "SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c')) AS t(n, s)";
    let out = run_ok(&["query", sql, "--format", "votable", "--max-rows", "2"]);
    assert_eq!(out.matches("<TR>").count(), 2);
    let overflow = out.find("value=\"OVERFLOW\"").expect("OVERFLOW INFO");
    assert!(overflow > out.find("</TABLE>").unwrap(), "after the TABLE");
    let exact = run_ok(&["query", sql, "--format", "votable", "--max-rows", "3"]);
    assert_eq!(exact.matches("<TR>").count(), 3);
    assert!(!exact.contains("OVERFLOW"));
}

/// The values of the first cell of each TABLEDATA row, in file order.
fn first_cells(votable: &str) -> Vec<i64> {
    votable
        .split("<TR><TD>")
        .skip(1)
        .map(|row| row.split("</TD>").next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn text_exports_keep_the_row_order_across_batches_encoded_in_parallel() {
    // 100,000 rows of about 150 bytes of text are 13 batches of 8,192 rows, cut into
    // chunks of at most 1 MB of text: more chunks than are encoded at once on a machine of
    // up to 12 cores, so the texts come back from several threads and must still be
    // written in query order.
    let sql = "SELECT value AS n, value * 0.25 AS quarter, concat('s', value) AS s, \
               repeat('x', 100) AS pad FROM range(100000) ORDER BY value DESC";
    let expected: Vec<i64> = (0..100_000).rev().collect();
    let tmp = tempfile::tempdir().unwrap();
    let vot = tmp.path().join("rows.vot");
    run_ok(&[
        "query",
        sql,
        "--format",
        "votable",
        "--output",
        vot.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&vot).unwrap();
    assert_eq!(first_cells(&text), expected);
    let pad = "x".repeat(100);
    let first_row =
        format!("<TR><TD>99999</TD><TD>24999.75</TD><TD>s99999</TD><TD>{pad}</TD></TR>\n");
    assert!(text.contains(&first_row));
    assert!(text.ends_with("</TABLEDATA></DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n"));

    let csv = tmp.path().join("rows.csv");
    run_ok(&[
        "query",
        sql,
        "--format",
        "csv",
        "--output",
        csv.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "n,quarter,s,pad");
    let numbers: Vec<i64> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(numbers, expected);
    assert_eq!(lines[1], format!("99999,24999.75,s99999,{pad}"));

    // The row limit cuts across batches too, then says so.
    let cut = run_ok(&["query", sql, "--format", "votable", "--max-rows", "50000"]);
    assert_eq!(first_cells(&cut), expected[..50_000].to_vec());
    assert!(cut.contains("value=\"OVERFLOW\""));
}

#[test]
fn csv_follows_rfc_4180_with_a_chosen_delimiter() {
    let sql = "SELECT 'a,b' AS s, 'say \"hi\"' AS q, CAST('NaN' AS DOUBLE) AS nan, \
               CAST(NULL AS INT) AS n, '' AS empty, 1.5 AS x";
    // Standard output: LF line ends by default (shell pipelines), CRLF on request.
    let out = run_ok(&["query", sql, "--format", "csv"]);
    assert_eq!(
        out,
        "s,q,nan,n,empty,x\n\"a,b\",\"say \"\"hi\"\"\",,,\"\",1.5\n"
    );
    let crlf = run_ok(&["query", sql, "--format", "csv", "--csv-line-end", "crlf"]);
    assert_eq!(
        crlf,
        "s,q,nan,n,empty,x\r\n\"a,b\",\"say \"\"hi\"\"\",,,\"\",1.5\r\n"
    );
    let semi = run_ok(&["query", sql, "--format", "csv", "--csv-delimiter", ";"]);
    assert_eq!(
        semi,
        "s;q;nan;n;empty;x\na,b;\"say \"\"hi\"\"\";;;\"\";1.5\n"
    );
    // Files: RFC 4180 CRLF by default.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rfc.csv");
    run_ok(&["query", sql, "--output", file.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "s,q,nan,n,empty,x\r\n\"a,b\",\"say \"\"hi\"\"\",,,\"\",1.5\r\n"
    );
    let bad = run(&["query", sql, "--format", "csv", "--csv-delimiter", "ab"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--csv-delimiter"));
}

#[test]
fn fits_export_holds_the_values_units_and_ucds() {
    let (tmp, cat) = tiny_catalog();
    let sql = tmp.path().join("stars.sql");
    std::fs::write(
        &sql,
        "SELECT star_id, ra, dec, n_r, CASE WHEN n_r > 0 THEN n_r END AS maybe FROM stars ORDER BY star_id",
    )
    .unwrap();
    let fits_path = tmp.path().join("stars.fits");
    export(&cat, &sql, "fits", &fits_path);
    let csv = run_ok(&[
        "query",
        "--catalog",
        cat.to_str().unwrap(),
        "--file",
        sql.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    let rows: Vec<Vec<String>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let mut f = fitsio::FitsFile::open(&fits_path).unwrap();
    let hdu = f.hdu("RESULT").unwrap();
    let ids: Vec<String> = hdu.read_col(&mut f, "star_id").unwrap();
    let ra: Vec<f64> = hdu.read_col(&mut f, "ra").unwrap();
    let n_r: Vec<i64> = hdu.read_col(&mut f, "n_r").unwrap();
    assert_eq!(ids.len(), rows.len());
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(ids[i], row[0]);
        assert_eq!(ra[i], row[1].parse::<f64>().unwrap());
        assert_eq!(n_r[i], row[3].parse::<i64>().unwrap());
    }
    let unit: String = hdu.read_key(&mut f, "TUNIT2").unwrap();
    let ucd: String = hdu.read_key(&mut f, "TUCD2").unwrap();
    assert_eq!(
        (unit.as_str(), ucd.as_str()),
        ("deg", "pos.eq.ra;meta.main")
    );
    let tnull: i64 = hdu.read_key(&mut f, "TNULL5").unwrap_or(0);
    let maybe: Vec<i64> = hdu.read_col(&mut f, "maybe").unwrap();
    for (i, row) in rows.iter().enumerate() {
        if row[4].is_empty() {
            assert_eq!(maybe[i], tnull, "a null is the TNULL value");
        }
    }
}

#[test]
fn parquet_export_carries_the_voparquet_keys() {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let (tmp, cat) = tiny_catalog();
    let out = tmp.path().join("m.parquet");
    run_ok(&[
        "query",
        "--catalog",
        cat.to_str().unwrap(),
        "SELECT star_id, mjd, mag FROM measurements",
        "--format",
        "parquet",
        "--output",
        out.to_str().unwrap(),
    ]);
    let reader = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    let kv = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default();
    let get = |k: &str| {
        kv.iter()
            .find(|e| e.key == k)
            .and_then(|e| e.value.clone())
            .unwrap_or_default()
    };
    assert_eq!(get("IVOA.VOTable-Parquet.version"), "1.0");
    let content = get("IVOA.VOTable-Parquet.content");
    assert!(content.contains("<FIELD name=\"mjd\" datatype=\"double\" unit=\"d\""));
    assert!(!content.contains("<DATA>"));
}

#[test]
fn copy_to_writes_votables_and_fits_tables() {
    let (tmp, cat) = tiny_catalog();
    let vot = tmp.path().join("copy.vot");
    let b2 = tmp.path().join("copy_b2.xml");
    let fits = tmp.path().join("copy.fits");
    // Every FITS extension the rest of skyql knows (`.fts` too) is a FITS COPY target.
    let fts = tmp.path().join("copy.fts");
    let select = "SELECT star_id, ra, dec FROM stars ORDER BY star_id";
    for statement in [
        format!("COPY ({select}) TO '{}' STORED AS VOTABLE", vot.display()),
        format!(
            "COPY ({select}) TO '{}' STORED AS VOTABLE OPTIONS ('serialization' 'binary2')",
            b2.display()
        ),
        format!("COPY ({select}) TO '{}'", fits.display()),
        format!("COPY ({select}) TO '{}'", fts.display()),
    ] {
        run_ok(&["query", "--catalog", cat.to_str().unwrap(), &statement]);
    }
    assert!(std::fs::read_to_string(&b2).unwrap().contains("<BINARY2>"));
    let direct = run_ok(&[
        "query",
        "--catalog",
        cat.to_str().unwrap(),
        select,
        "--format",
        "csv",
    ]);
    assert_eq!(csv_of_table(&vot), direct);
    assert_eq!(csv_of_table(&b2), direct);
    for path in [&fits, &fts] {
        let mut f = fitsio::FitsFile::open(path).unwrap();
        let hdu = f.hdu("RESULT").unwrap();
        let ids: Vec<String> = hdu.read_col(&mut f, "star_id").unwrap();
        assert_eq!(ids.len() + 1, direct.lines().count());
    }

    let bad = run(&[
        "query",
        &format!(
            "COPY ({select}) TO '{}' STORED AS VOTABLE OPTIONS ('compression' 'gzip')",
            vot.display()
        ),
        "--catalog",
        cat.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown option 'compression'"));
}

#[test]
fn real_votables_are_read_with_their_values() {
    // Reference values from astropy 8.0.2 reading the same files.
    let vizier = read_votable(&data("votable/vizier_b2_votable.xml")).unwrap();
    assert_eq!(vizier.batch.num_rows(), 20);
    assert!(vizier.rejected_cells.is_empty());
    let b = &vizier.batch;
    let png = b.column_by_name("PNG").unwrap().as_string::<i32>();
    assert_eq!(png.value(0).trim_end(), "G209.1-08.2");
    let ra = b
        .column_by_name("RAJ2000")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(ra.value(0), 93.835);
    assert_eq!(ra.value(19), 108.61999999999999);

    let pyvo = read_votable(&data("votable/pyvo_scs_result_binary.xml")).unwrap();
    assert_eq!(pyvo.batch.num_rows(), 1273);
    let b = &pyvo.batch;
    let ra = b
        .column_by_name("raj2000")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!((ra.value(0), ra.value(1272)), (77.6581, 78.2784));
    let id = b.column_by_name("id").unwrap().as_string::<i32>();
    assert_eq!(id.value(1272), "446896630097839093");

    // astropy's torture test: five rows; the cells that are not valid for their type
    // are reported, none silently dropped.
    let regression = read_votable(&data("votable/regression.xml")).unwrap();
    assert_eq!(regression.batch.num_rows(), 5);
    assert!(
        regression
            .rejected_cells
            .iter()
            .any(|r| r.contains("row 2, column 'unsignedByte': 256 is outside"))
    );
    let long = regression
        .batch
        .column_by_name("long")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(long.value(0), 922337203685477);
    assert!(long.is_null(1));
}

#[test]
fn the_coordinate_system_of_a_votable_survives_re_export() {
    // VizieR's positions are FK5 J2000: re-exported, they must not become ICRS.
    let dir = tempfile::tempdir().unwrap();
    let table = format!("v={}", data("votable/vizier_b2_votable.xml").display());
    let first = dir.path().join("first.vot");
    run_ok(&[
        "query",
        "--table",
        &table,
        "--output",
        first.to_str().unwrap(),
        r#"SELECT "RAJ2000", "DEJ2000", 12.5 AS ra FROM v"#,
    ]);
    let again = format!("v={}", first.display());
    let second = run_ok(&[
        "query",
        "--table",
        &again,
        "--format",
        "votable",
        "SELECT * FROM v",
    ]);
    for text in [std::fs::read_to_string(&first).unwrap(), second] {
        assert!(
            text.contains(r#"<COOSYS ID="coosys1" system="eq_FK5" equinox="J2000"/>"#),
            "{text}"
        );
        let field = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("<FIELD name=\"{name}\"")))
                .unwrap()
                .to_string()
        };
        assert!(field("RAJ2000").contains(r#"ref="coosys1""#), "{text}");
        assert!(field("DEJ2000").contains(r#"ref="coosys1""#), "{text}");
        // A computed column has no position UCD and no frame.
        assert!(!field("ra").contains("ref="), "{text}");
    }
}

#[test]
fn a_broken_votable_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("broken.vot");
    std::fs::write(
        &bad,
        "<VOTABLE><RESOURCE><TABLE><FIELD name=\"a\" datatype=\"quaternion\"/></TABLE></RESOURCE></VOTABLE>",
    )
    .unwrap();
    let out = run(&[
        "query",
        "--table",
        &format!("t={}", bad.display()),
        "SELECT * FROM t",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.vot") && err.contains("unknown datatype 'quaternion'"),
        "{err}"
    );

    let truncated = tmp.path().join("truncated.vot");
    let real = std::fs::read(data("votable/pyvo_scs_result_binary.xml")).unwrap();
    std::fs::write(&truncated, &real[..real.len() / 2]).unwrap();
    let out = run(&[
        "query",
        "--table",
        &format!("t={}", truncated.display()),
        "SELECT * FROM t",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated.vot"));
}

#[test]
fn a_failed_export_leaves_no_file() {
    // The error comes at execution, after the header and many rows were written.
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("values.csv");
    let mut text = String::from("v\n");
    for i in 0..200_000 {
        text.push_str(&format!("{i}\n"));
    }
    text.push_str("not a number\n");
    std::fs::write(&input, text).unwrap();
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    for format in ["votable", "fits", "csv", "parquet"] {
        let out = out_dir.join(format!("fail.{format}"));
        let res = run(&[
            "query",
            "--table",
            &format!("t={}", input.display()),
            "SELECT CAST(v AS INT) AS n FROM t",
            "--format",
            format,
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(!res.status.success(), "{format}");
        assert!(
            String::from_utf8_lossy(&res.stderr).contains("fail."),
            "{format}"
        );
        let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
        assert!(left.is_empty(), "{format}: no partial file left: {left:?}");
    }
}
