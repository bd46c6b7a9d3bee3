//! Tables and catalogues on a web server (`http://`), read as their local copies are: a
//! HATS collection written by `skyql hats export` and a Parquet file, through `skyql
//! query --table` and published by `skyql serve --table`, and a whole catalogue through
//! `--catalog http://...`; missing and unreachable URLs, missing and damaged files are
//! errors naming them. (S3 is tested in CI against a local S3 server:
//! tests/validation/check_object_stores.py.)

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::server::{Server, q, served_catalog};
use common::static_files::StaticFiles;
use common::{Skyql, csv_rows, generated_catalog, query_csv};

/// A generated catalogue exported as a HATS collection and a Parquet file under `www/`.
fn published_files() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, cat) = generated_catalog(&["--stars", "6000", "--measurements", "0"]);
    let www = tmp.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    Skyql::new(["hats", "export", "stars", "--max-rows", "500", "--out"])
        .args([www.join("hats")])
        .catalog(&cat)
        .ok();
    let parquet = www.join("stars.parquet");
    Skyql::new([
        "query".to_string(),
        format!(
            "COPY (SELECT star_id, ra, dec FROM stars) TO '{}' STORED AS PARQUET",
            parquet.display()
        ),
    ])
    .catalog(&cat)
    .ok();
    (tmp, cat)
}

fn ids(table: &str, sql: &str) -> BTreeSet<String> {
    let out = Skyql::new(["query", "--format", "csv", "--table", table, sql]).ok();
    csv_rows(&out)
        .into_iter()
        .map(|r| r["star_id"].clone())
        .collect()
}

fn first_position(cat: &Path) -> (f64, f64) {
    let out = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT ra, dec FROM stars ORDER BY star_id LIMIT 1",
    ])
    .catalog(cat)
    .ok();
    let row = &csv_rows(&out)[0];
    (row["ra"].parse().unwrap(), row["dec"].parse().unwrap())
}

#[test]
fn a_hats_catalogue_and_a_parquet_file_over_http_read_as_their_local_copies() {
    let (tmp, cat) = published_files();
    let www = tmp.path().join("www");
    let web = StaticFiles::serve(&www);
    let (ra, dec) = first_position(&cat);
    let cone = format!(
        "SELECT star_id FROM h WHERE cone_contains(ra, dec, {ra}, {dec}, 0.5) ORDER BY star_id"
    );
    let local = ids(&format!("h={}", www.join("hats").display()), &cone);
    let remote = ids(&format!("h={}/hats", web.base), &cone);
    assert!(!local.is_empty(), "an empty cone proves nothing");
    assert_eq!(local, remote);
    let all = ids(
        &format!("h={}/hats/", web.base),
        "SELECT star_id FROM h ORDER BY star_id",
    );
    assert_eq!(all.len(), 6000);

    // A cone opens the files of its pixels only: fewer requests than a full scan.
    let before = web.requests();
    ids(&format!("h={}/hats", web.base), &cone);
    let for_cone = web.requests() - before;
    let before = web.requests();
    ids(
        &format!("h={}/hats", web.base),
        "SELECT star_id FROM h WHERE dec > -90",
    );
    let for_all = web.requests() - before;
    assert!(
        for_cone < for_all,
        "cone {for_cone} requests, scan {for_all}"
    );

    let parquet = ids(
        &format!("p={}/stars.parquet", web.base),
        &format!("SELECT star_id FROM p WHERE cone_contains(ra, dec, {ra}, {dec}, 0.5)"),
    );
    assert_eq!(parquet, local);

    // Nothing there, nothing listening: errors naming the URL.
    let missing = format!("{}/nothing", web.base);
    let error = Skyql::new(["query", "--table", &format!("x={missing}"), "SELECT 1"]).fails();
    assert!(
        error.contains(&missing) && error.contains("neither a HATS catalogue"),
        "{error}"
    );
    let error = Skyql::new([
        "query",
        "--table",
        "x=http://127.0.0.1:9/hats",
        "SELECT count(*) FROM x",
    ])
    .fails();
    assert!(error.contains("http://127.0.0.1:9/hats"), "{error}");
}

#[test]
fn a_service_publishes_a_hats_catalogue_read_over_http() {
    let (tmp, cat) = published_files();
    let web = StaticFiles::serve(&tmp.path().join("www"));
    let (ra, dec) = first_position(&cat);
    let (_served_tmp, served) = served_catalog();
    let server = Server::start_with(
        &served,
        None,
        &["--table", &format!("web.stars={}/hats", web.base)],
    );
    let adql = format!(
        "SELECT star_id FROM web.stars WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, 0.5))"
    );
    let (status, _, body) = server.get(&format!(
        "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}",
        q(&adql)
    ));
    assert_eq!(status, 200, "{body}");
    let tap: BTreeSet<String> = csv_rows(&body)
        .into_iter()
        .map(|r| r["star_id"].clone())
        .collect();
    let local = ids(
        &format!("h={}", tmp.path().join("www/hats").display()),
        &format!("SELECT star_id FROM h WHERE cone_contains(ra, dec, {ra}, {dec}, 0.5)"),
    );
    assert!(!local.is_empty());
    assert_eq!(tap, local);
    let (status, _, votable) = server.get(&format!("/scs/web.stars?RA={ra}&DEC={dec}&SR=0.5"));
    assert_eq!(status, 200, "{votable}");
    assert_eq!(votable.matches("<TR>").count(), local.len(), "{votable}");
}

#[test]
fn a_catalogue_on_a_web_server_reads_as_its_local_copy_and_damage_is_an_error() {
    let (tmp, cat) = generated_catalog(&["--stars", "400", "--measurements", "20000"]);
    let www = tmp.path().join("www");
    common::copy_tree(&cat, &www.join("cat"));
    let web = StaticFiles::serve(&www);
    let url = format!("{}/cat", web.base);
    let remote = Path::new(&url);
    let (ra, dec) = first_position(&cat);
    for sql in [
        "SELECT field, count(*) AS n, count(DISTINCT star_id) AS stars FROM measurements GROUP BY field ORDER BY field".to_string(),
        "SELECT count(*) AS n FROM measurements".to_string(),
        format!("SELECT star_id FROM stars WHERE cone_contains(ra, dec, {ra}, {dec}, 0.5) ORDER BY star_id"),
        format!(
            "SELECT mjd, mag FROM measurements WHERE star_id = '{}' ORDER BY mjd, colour",
            common::first_star(&cat)
        ),
    ] {
        let expected = query_csv(&cat, &sql);
        assert!(!expected.is_empty(), "an empty answer proves nothing: {sql}");
        assert_eq!(query_csv(remote, &sql), expected, "{sql}");
    }

    // A service publishes it, and answers as on the local catalogue.
    let server = Server::start(remote, None);
    let (status, _, body) = server.get(&format!(
        "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}",
        q("SELECT COUNT(*) AS n FROM measurements")
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        csv_rows(&body)[0]["n"],
        query_csv(&cat, "SELECT count(*) AS n FROM measurements")[0]["n"]
    );
    drop(server);

    // A file the manifest lists that is missing is an error naming it, never fewer rows;
    // a changed byte is an error naming the file, never another answer.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cat.join("manifest.json")).unwrap()).unwrap();
    let version = manifest["version_dir"].as_str().unwrap();
    let table = &manifest["tables"]["measurements"];
    let file = format!(
        "{version}/{}/{}",
        table["path"].as_str().unwrap(),
        table["data_files"][0]["path"].as_str().unwrap()
    );
    let served = www.join("cat").join(&file);
    let mut bytes = std::fs::read(&served).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&served, &bytes).unwrap();
    let read_all = || {
        Skyql::new([
            "query",
            "--catalog",
            &url,
            "SELECT sum(mag) FROM measurements",
        ])
        .fails()
    };
    let error = read_all();
    assert!(
        error.contains(&file) && error.contains("checksum"),
        "{error}"
    );
    std::fs::remove_file(&served).unwrap();
    let error = read_all();
    assert!(error.contains(&file), "{error}");

    // Not a catalogue, and a web server is not written to.
    let error = Skyql::new(["query", "--catalog", &web.base, "SELECT 1"]).fails();
    assert!(error.contains("not a skyql catalogue"), "{error}");
    let error = Skyql::new(["ingest", "--catalog", &url])
        .args([cat.join("nothing")])
        .fails();
    assert!(error.contains("read-only"), "{error}");
}
