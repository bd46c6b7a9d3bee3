//! Light-curve formats described by TOML files: the shipped descriptions on real files of
//! other surveys, `--format-file` with a description of one's own, `--detect`, and the
//! accounting on bad lines. (Values against pandas and astropy: tests/validation.)

mod common;

use common::{data, query_csv, run, run_ok};

fn ingest(files: &[&str], extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat");
    let mut args = vec!["ingest", "--catalog", cat.to_str().unwrap()];
    let paths: Vec<String> = files
        .iter()
        .map(|f| data(f).to_string_lossy().to_string())
        .collect();
    args.extend(paths.iter().map(String::as_str));
    args.extend(extra);
    let out = run_ok(&args);
    (tmp, cat, out)
}

/// `skyql ingest FILE --catalog CAT EXTRA...`, its report.
fn ingest_file(file: &std::path::Path, cat: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec![
        "ingest",
        file.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ];
    args.extend(extra);
    run_ok(&args)
}

/// Data lines of a file as a plain reader counts them: not empty, not a comment, not an
/// IPAC keyword or header line.
fn data_lines(rel: &str) -> u64 {
    std::fs::read_to_string(data(rel))
        .unwrap()
        .lines()
        .filter(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with(['#', '\\', '|'])
        })
        .count() as u64
}

/// The `quarters` table describes the mosaic of the survey whose conventions the
/// catalogue is ingested with, and only once the catalogue holds something of it.
#[test]
fn a_catalogue_of_other_surveys_has_no_eros_quarters() {
    let (_tmp, cat, _) = ingest(&["lightcurves/ogle/starBLG234.6.I.218982.dat"], &[]);
    let count = || query_csv(&cat, "SELECT count(*) AS n FROM quarters")[0]["n"].clone();
    assert_eq!(count(), "0");
    ingest_file(&data("lightcurves/eros2/lm0010n22323.time"), &cat, &[]);
    assert_eq!(count(), "32");
    // Kept by later ingests of other surveys.
    ingest_file(&data("lightcurves/moa/lcMB20208.moa2r"), &cat, &[]);
    assert_eq!(count(), "32");
}

#[test]
fn file_names_choose_the_description_and_every_line_is_written() {
    let files = [
        "lightcurves/kmtnet/KMTA12_I.pysis",
        "lightcurves/moa/lcMB20208.moa2r",
        "lightcurves/ipac/OB03235_OGLE.tbl.txt",
        "lightcurves/ipac/Canopus_0300089_PLC_003.tbl",
    ];
    let (_tmp, cat, stdout) = ingest(&files, &[]);
    let lines: u64 = files.iter().map(|f| data_lines(f)).sum();
    assert_eq!(
        common::accounting(&stdout),
        (lines, lines, 0, 0),
        "{stdout}"
    );
    let inputs = query_csv(
        &cat,
        "SELECT format, rows_read, rows_written FROM inputs ORDER BY path",
    );
    let formats: Vec<&str> = inputs.iter().map(|r| r["format"].as_str()).collect();
    assert_eq!(formats, ["ipac", "ipac", "kmtnet", "moa"]);
    let stars = query_csv(
        &cat,
        "SELECT star_id, survey, field, n_r, ra, dec FROM stars ORDER BY star_id",
    );
    let ids: Vec<&str> = stars.iter().map(|r| r["star_id"].as_str()).collect();
    assert_eq!(
        ids,
        [
            "KMTA12",
            "MB20208",
            "MOA 2008-BLG-310L",
            "OGLE 2003-BLG-235L"
        ]
    );
    // The IPAC keywords give the position, sexagesimal: 18h01m16.35s -28d53m42.00s.
    let ogle = &stars[3];
    let ra: f64 = ogle["ra"].parse().unwrap();
    let dec: f64 = ogle["dec"].parse().unwrap();
    assert!((ra - 270.318125).abs() < 1e-9 && (dec + 28.895).abs() < 1e-9);
    // KMTNet field from the file name; the MOA flux kept without a magnitude.
    assert_eq!(stars[0]["field"], "BLG12");
    let moa = query_csv(
        &cat,
        "SELECT count(*) n, count(mag) mags, count(flux) fluxes, min(time_scale) ts \
         FROM measurements WHERE star_id = 'MB20208'",
    );
    assert_eq!(
        (
            moa[0]["n"].as_str(),
            moa[0]["mags"].as_str(),
            moa[0]["fluxes"].as_str()
        ),
        ("1218", "0", "1218")
    );
    assert_eq!(moa[0]["ts"], "HJD");
}

#[test]
fn ogle_dates_in_full_and_abbreviated_are_both_mjd() {
    let (_tmp, cat, _) = ingest(
        &[
            "lightcurves/ogle/ob140939_OGLE.dat",
            "lightcurves/ogle/phot_ob08092_O4.dat",
        ],
        &["--format", "ogle"],
    );
    let rows = query_csv(
        &cat,
        "SELECT star_id, min(mjd) t0 FROM measurements GROUP BY star_id ORDER BY star_id",
    );
    // 2455265.84145 - 2400000.5 and 5264.84100 + 2450000 - 2400000.5.
    let t0 = |i: usize| rows[i]["t0"].parse::<f64>().unwrap();
    assert!((t0(0) - 55265.34145).abs() < 1e-7, "{rows:?}");
    assert!((t0(1) - 55264.341).abs() < 1e-7, "{rows:?}");
}

#[test]
fn a_description_of_ones_own_reads_a_csv_with_a_header() {
    let tmp = tempfile::tempdir().unwrap();
    let desc = tmp.path().join("ztf_like.toml");
    std::fs::write(
        &desc,
        r#"
name = "ztf_like"
survey = "ZTF"
description = "CSV with a header: oid,filter,mjd,mag,magerr"
delimiter = "comma"
names_from = "first_line"
[time]
column = "mjd"
scale = "MJD"
[star]
id = "{file.stem}"
field = "ztf"
[[bands]]
band = "{file.band}"
mag = "mag"
mag_err = "magerr"
missing = [-999.0]
"#,
    )
    .unwrap();
    let text = "mjd,mag,magerr\n58300.1,17.5,0.02\n58301.2,-999.0,0.1\n58302.3,seventeen,0.1\n58303.4,17.6\n58304.5,17.4,0.03\n";
    let lc = tmp.path().join("ztf123_g.csv");
    std::fs::write(&lc, text).unwrap();
    // The band from the file name: a pattern with named groups.
    let with_pattern = std::fs::read_to_string(&desc).unwrap().replace(
        "[time]",
        "file_name_pattern = '_(?P<band>[gri])\\.csv$'\n[time]",
    );
    std::fs::write(&desc, with_pattern).unwrap();
    let cat = tmp.path().join("cat");
    let out = ingest_file(&lc, &cat, &["--format-file", desc.to_str().unwrap()]);
    // 5 values: 2 written, 1 missing (-999), 2 rejected (not a number, a column short).
    assert_eq!(common::accounting(&out), (5, 2, 1, 2), "{out}");
    let rejects = std::fs::read_to_string(cat.join("rejects/ingest-000001.tsv")).unwrap();
    assert!(
        rejects.contains("line 4\tcolumn mag is not a number: 'seventeen'"),
        "{rejects}"
    );
    assert!(
        rejects.contains("line 5\texpected 3 columns (mjd mag magerr), found 2"),
        "{rejects}"
    );
    let rows = query_csv(
        &cat,
        "SELECT star_id, colour, mjd, mag, time_scale FROM measurements ORDER BY mjd",
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["star_id"].as_str(), rows[0]["colour"].as_str()),
        ("ztf123_g", "g")
    );
    assert_eq!(
        (rows[1]["mjd"].as_str(), rows[1]["mag"].as_str()),
        ("58304.5", "17.4")
    );
    assert_eq!(rows[0]["time_scale"], "UTC");
    let inputs = query_csv(&cat, "SELECT format FROM inputs");
    assert_eq!(inputs[0]["format"], "ztf_like");
}

#[test]
fn bad_descriptions_and_unknown_formats_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let desc = tmp.path().join("broken.toml");
    std::fs::write(
        &desc,
        "name = \"broken\"\nsurvey = \"X\"\ndescription = \"\"\ndelimiter = \"whitespace\"\ncolumns = [\"t\"]\n[time]\ncolumn = \"t\"\nscale = \"TAI\"\n",
    )
    .unwrap();
    let lc = data("lightcurves/ogle/phot_ob08092_O4.dat");
    let cat = tmp.path().join("cat");
    let out = run(&[
        "ingest",
        lc.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
        "--format-file",
        desc.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("broken.toml: not a valid format description"),
        "{err}"
    );
    assert!(err.contains("TAI"), "{err}");
    assert!(!cat.exists(), "nothing written");

    let out = run(&[
        "ingest",
        lc.to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
        "--format",
        "gaia",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("no format description named 'gaia'") && err.contains("kmtnet"),
        "{err}"
    );
}

#[test]
fn detect_names_the_description_or_says_why_none_fits() {
    let out = run_ok(&[
        "ingest",
        "--detect",
        data("lightcurves/eros2/lm0010n22323.time")
            .to_str()
            .unwrap(),
    ]);
    assert!(out.trim_end().ends_with("best: --format eros"), "{out}");
    let out = run_ok(&[
        "ingest",
        "--detect",
        data("lightcurves/macho/lc_1.3444.614.B.mjd")
            .to_str()
            .unwrap(),
    ]);
    assert!(out.trim_end().ends_with("best: --format macho"), "{out}");
    // A VOTable is no light curve: every description says why, and the command fails.
    let out = run(&[
        "ingest",
        "--detect",
        data("votable/vizier_b2_votable.xml").to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no format description reads"), "{stderr}");
    let verdicts: Vec<&str> = stdout
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(verdicts, ["no"; 7], "{stdout}");
}

#[test]
fn the_example_of_docs_formats_md_reads_as_it_says() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/FORMATS.md"),
    )
    .unwrap();
    let block = |fence: &str| {
        let start = doc.find(fence).expect(fence) + fence.len();
        doc[start..][..doc[start..].find("```").unwrap()].to_string()
    };
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("obj12345_g.csv");
    let toml = tmp.path().join("mysurvey.toml");
    std::fs::write(&csv, format!("# source{}", block("```text\n# source"))).unwrap();
    std::fs::write(&toml, block("```toml\n")).unwrap();
    let cat = tmp.path().join("cat");
    let out = ingest_file(&csv, &cat, &["--format-file", toml.to_str().unwrap()]);
    assert_eq!(common::accounting(&out), (2, 1, 1, 0), "{out}");
    let rows = query_csv(
        &cat,
        "SELECT star_id, colour, field, mag, flux, time_scale FROM measurements",
    );
    let r = &rows[0];
    assert_eq!(
        [
            &r["star_id"],
            &r["colour"],
            &r["field"],
            &r["mag"],
            &r["flux"],
            &r["time_scale"]
        ],
        ["obj12345", "g", "mysurvey", "17.512", "0.0012", "UTC"]
    );
}

#[test]
fn another_file_with_the_same_star_id_never_replaces_earlier_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat");
    let ingest_one = |dir: &str| {
        let d = tmp.path().join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let file = d.join("phot.dat");
        std::fs::copy(data("lightcurves/ogle/phot_ob08092_O4.dat"), &file).unwrap();
        ingest_file(&file, &cat, &["--format", "ogle"])
    };
    // OGLE's EWS layout: the event is the directory.
    ingest_one("blg-0001");
    ingest_one("blg-0002");
    let stars = query_csv(&cat, "SELECT star_id, n_r FROM stars ORDER BY star_id");
    let ids: Vec<&str> = stars.iter().map(|r| r["star_id"].as_str()).collect();
    assert_eq!(ids, ["blg-0001", "blg-0002"]);
    // A description whose id is the same for both files: the second is rejected, the
    // first file's rows stay.
    let desc = tmp.path().join("flat.toml");
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/formats/ogle.toml"),
    )
    .unwrap()
    .replace("name = \"ogle\"", "name = \"flat\"")
    .replace(
        "id = [\"{file.field}.{file.number}\", \"{file.event}\", \"{file.stem}\"]",
        "id = \"{file.stem}\"",
    );
    std::fs::write(&desc, text).unwrap();
    let cat2 = tmp.path().join("cat2");
    for dir in ["blg-0001", "blg-0002"] {
        let file = tmp.path().join(dir).join("phot.dat");
        ingest_file(&file, &cat2, &["--format-file", desc.to_str().unwrap()]);
    }
    let rejects = std::fs::read_to_string(cat2.join("rejects/ingest-000002.tsv")).unwrap();
    assert!(
        rejects.contains("blg-0002/phot.dat\tfile\tstar phot (field ogle) was ingested from"),
        "{rejects}"
    );
    let rows = query_csv(&cat2, "SELECT count(*) n FROM measurements");
    assert_eq!(rows[0]["n"], "383");
    let inputs = query_csv(
        &cat2,
        "SELECT rows_read, rows_written, rows_rejected FROM inputs ORDER BY path",
    );
    assert_eq!(
        (
            inputs[1]["rows_read"].as_str(),
            inputs[1]["rows_rejected"].as_str()
        ),
        ("383", "383")
    );
}
