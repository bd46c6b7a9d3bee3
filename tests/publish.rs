//! Publishing beside the catalogue: tables given as `skyql serve --table` and as
//! `[[tables]]` (VOTable, CDS, HATS) in TAP_SCHEMA, `/tap/tables`, ADQL and their own cone
//! searches; a table added to the configuration after SIGHUP; TAP_UPLOAD (CSV and
//! VOTable, sync and async) joined with the stars equal to the CLI's `xmatch`; the DALI
//! examples, every one of which runs.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::server::{Server, header, q, served_catalog};
use common::{Skyql, csv_rows, data};

fn csv_query(server: &Server, adql: &str) -> (u16, String) {
    let (status, _, body) = server.get(&format!(
        "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}",
        q(adql)
    ));
    (status, body)
}

#[test]
fn tables_given_on_the_command_line_and_in_the_configuration_are_published() {
    let (tmp, cat) = served_catalog();
    let hats = tmp.path().join("hats");
    Skyql::new(["hats", "export", "stars", "--out"])
        .args([&hats])
        .catalog(&cat)
        .ok();
    let cds = data("catalogues/vizier_J_A+A_511_A56/table1.dat");
    let config = format!(
        "[[tables]]\nname = \"cds.pancino\"\npath = \"{}\"\n\n[[tables]]\nname = \"survey_hats\"\npath = \"{}\"\ndescription = \"The stars as a HATS collection\"\n",
        cds.display(),
        hats.display()
    );
    let votable = format!("ref.pn={}", data("votable/vizier_b2_votable.xml").display());
    let server = Server::start_with(&cat, Some(&config), &["--table", &votable]);

    // TAP_SCHEMA: each table under its schema, with its description and its columns'
    // UCDs and units from the file.
    let (status, tables) = csv_query(
        &server,
        "SELECT table_name, description FROM TAP_SCHEMA.tables WHERE schema_name IN ('ref', 'cds')",
    );
    assert_eq!(status, 200, "{tables}");
    let rows = csv_rows(&tables);
    let described = |t: &str| {
        rows.iter()
            .find(|r| r["table_name"] == t)
            .unwrap_or_else(|| panic!("{t} in {tables}"))["description"]
            .clone()
    };
    assert!(
        described("ref.pn").contains("Planetary Nebulae"),
        "{tables}"
    );
    assert!(
        described("cds.pancino").contains("Observing logs"),
        "{tables}"
    );
    assert_eq!(
        described("ref.survey_hats"),
        "The stars as a HATS collection"
    );
    let (_, columns) = csv_query(
        &server,
        "SELECT column_name, ucd, unit FROM TAP_SCHEMA.columns WHERE table_name = 'ref.pn' ORDER BY column_index",
    );
    let columns = csv_rows(&columns);
    let ra = columns
        .iter()
        .find(|c| c["column_name"] == "raj2000")
        .unwrap();
    assert_eq!(ra["ucd"], "pos.eq.ra;meta.main");
    let (_, hats_columns) = csv_query(
        &server,
        "SELECT column_name, ucd FROM TAP_SCHEMA.columns WHERE table_name = 'ref.survey_hats' AND column_name = 'ra'",
    );
    assert!(
        hats_columns.contains("pos.eq.ra;meta.main"),
        "{hats_columns}"
    );
    let (_, _, tableset) = server.get("/tap/tables");
    for name in [
        "<name>ref.pn</name>",
        "<name>cds.pancino</name>",
        "<name>ref.survey_hats</name>",
    ] {
        assert!(tableset.contains(name), "{name}");
    }
    // Each schema once in the tableset.
    assert_eq!(tableset.matches("<name>ref</name>").count(), 1);

    // ADQL on them, joined with the catalogue.
    let (status, joined) = csv_query(
        &server,
        "SELECT COUNT(*) AS n FROM ref.survey_hats AS h JOIN eros2.stars AS s ON h.star_id = s.star_id",
    );
    assert_eq!(status, 200, "{joined}");
    let (_, stars) = csv_query(&server, "SELECT COUNT(*) AS n FROM eros2.stars");
    assert_eq!(csv_rows(&joined)[0]["n"], csv_rows(&stars)[0]["n"]);
    let (_, cds_rows) = csv_query(&server, "SELECT COUNT(*) AS n FROM cds.pancino");
    assert_eq!(csv_rows(&cds_rows)[0]["n"], "15");

    // Cone searches: the VOTable's planetary nebulae by their UCDs, the HATS stars by
    // its properties' position columns, equal to the same cone in ADQL.
    let (_, pn) = csv_query(
        &server,
        "SELECT TOP 1 png, raj2000, dej2000 FROM ref.pn ORDER BY png",
    );
    let first = &csv_rows(&pn)[0];
    let (status, _, cone) = server.get(&format!(
        "/scs/ref.pn?RA={}&DEC={}&SR=0.01&VERB=1",
        first["raj2000"], first["dej2000"]
    ));
    assert_eq!(status, 200, "{cone}");
    assert!(
        cone.contains("ucd=\"ID_MAIN\"") && cone.contains("ucd=\"POS_EQ_RA_MAIN\""),
        "{cone}"
    );
    assert!(cone.contains(first["png"].trim()), "{cone}");
    let (_, star) = csv_query(
        &server,
        "SELECT TOP 1 star_id, ra, dec FROM eros2.stars ORDER BY star_id",
    );
    let star = &csv_rows(&star)[0];
    let (ra, dec) = (&star["ra"], &star["dec"]);
    let (status, _, cone) = server.get(&format!("/scs/survey_hats?RA={ra}&DEC={dec}&SR=0.02"));
    assert_eq!(status, 200, "{cone}");
    let (_, adql) = csv_query(
        &server,
        &format!(
            "SELECT COUNT(*) AS n FROM eros2.stars WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, 0.02))"
        ),
    );
    let expected: usize = csv_rows(&adql)[0]["n"].parse().unwrap();
    assert!(expected > 1);
    assert_eq!(cone.matches("<TR>").count(), expected, "{cone}");
    let (status, _, unknown) = server.get("/scs/ref.nothing?RA=1&DEC=1&SR=0.1");
    assert_eq!(status, 404);
    assert!(unknown.contains("/scs/ref.pn"), "{unknown}");
}

#[test]
fn a_bad_table_stops_the_start_naming_it() {
    let (_tmp, cat) = served_catalog();
    let out = Skyql::new([
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--table",
        "ref.x=/nonexistent/file.vot",
    ])
    .catalog(&cat)
    .fails();
    assert!(
        out.contains("ref.x") && out.contains("/nonexistent/file.vot"),
        "{out}"
    );
    let out = Skyql::new([
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--table",
        "tap_schema.x=a.csv",
    ])
    .catalog(&cat)
    .fails();
    assert!(out.contains("the service's own"), "{out}");
}

#[test]
fn a_table_added_to_the_configuration_appears_after_sighup() {
    let (tmp, cat) = served_catalog();
    let config = tmp.path().join("service.toml");
    std::fs::write(&config, "").unwrap();
    let server = Server::start_with(&cat, None, &["--config", config.to_str().unwrap()]);
    let listed = |server: &Server| {
        let (_, body) = csv_query(server, "SELECT table_name FROM TAP_SCHEMA.tables");
        csv_rows(&body)
            .into_iter()
            .map(|r| r["table_name"].clone())
            .collect::<BTreeSet<_>>()
    };
    assert!(!listed(&server).contains("ref.pn"));
    // Relative to the configuration file's directory.
    std::fs::copy(
        data("votable/vizier_b2_votable.xml"),
        tmp.path().join("pn.xml"),
    )
    .unwrap();
    std::fs::write(&config, "[[tables]]\nname = \"pn\"\npath = \"pn.xml\"\n").unwrap();
    let hangup = |server: &Server| {
        std::process::Command::new("kill")
            .args(["-HUP", &server.child.id().to_string()])
            .status()
            .unwrap();
    };
    hangup(&server);
    let started = Instant::now();
    while !listed(&server).contains("ref.pn") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "ref.pn never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, body) = csv_query(&server, "SELECT COUNT(*) AS n FROM ref.pn");
    assert_eq!(status, 200, "{body}");
    // A configuration naming a missing file changes nothing, and the log says why.
    std::fs::write(
        &config,
        "[[tables]]\nname = \"pn\"\npath = \"missing.xml\"\n",
    )
    .unwrap();
    hangup(&server);
    let started = Instant::now();
    while !server
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("reload refused"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no refusal in the log"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(listed(&server).contains("ref.pn"));
}

/// The ids of the first stars, each moved by `offset` arcseconds in declination.
fn star_list(cat: &std::path::Path, n: usize, offset_arcsec: f64) -> String {
    let rows = common::query_csv(
        cat,
        &format!("SELECT star_id, ra, dec FROM stars ORDER BY star_id LIMIT {n}"),
    );
    let mut csv = String::from("Name,RA,Dec\n");
    for (i, r) in rows.iter().enumerate() {
        let dec: f64 = r["dec"].parse().unwrap();
        // Every third one too far to match.
        let moved = if i % 3 == 2 { 5.0 } else { offset_arcsec };
        csv.push_str(&format!("p{i},{},{}\n", r["ra"], dec + moved / 3600.0));
    }
    csv
}

const XMATCH_ADQL: &str = "SELECT u.name, s.star_id FROM TAP_UPLOAD.mine AS u JOIN eros2.stars AS s \
     ON 1 = CONTAINS(POINT('ICRS', s.ra, s.dec), CIRCLE('ICRS', u.ra, u.dec, 1.0/3600))";

/// A sync TAP request of [`XMATCH_ADQL`] with `upload` (`mine,param:PART` or
/// `mine,URL`) and the multipart `files`, answered in CSV.
fn xmatch_upload(server: &Server, upload: &str, files: &[(&str, &str)]) -> (u16, String, String) {
    server.multipart(
        "/tap/sync",
        &[
            ("LANG", "ADQL"),
            ("RESPONSEFORMAT", "csv"),
            ("UPLOAD", upload),
            ("QUERY", XMATCH_ADQL),
        ],
        files,
    )
}

fn pairs(csv: &str) -> BTreeSet<(String, String)> {
    csv_rows(csv)
        .into_iter()
        .map(|r| (r["name"].clone(), r["star_id"].clone()))
        .collect()
}

#[test]
fn an_uploaded_list_joined_with_the_stars_equals_the_cli_xmatch() {
    let (tmp, cat) = served_catalog();
    let list = star_list(&cat, 30, 0.4);
    let path = tmp.path().join("list.csv");
    std::fs::write(&path, &list).unwrap();
    let cli = Skyql::new(["query", "--format", "csv", "--table"])
        .args([format!("list={}", path.display())])
        .args(["SELECT \"Name\" AS name, star_id FROM xmatch(list, stars, 1)"])
        .catalog(&cat)
        .ok();
    let expected = pairs(&cli);
    assert_eq!(expected.len(), 20, "{cli}");

    let server = Server::start(&cat, None);
    let (status, _, body) = xmatch_upload(&server, "mine,param:list", &[("list", &list)]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(pairs(&body), expected);

    // The same list as a VOTable (written by skyql's own export).
    let votable = Skyql::new(["query", "--format", "votable", "--table"])
        .args([format!("list={}", path.display())])
        .args(["SELECT \"Name\" AS name, \"RA\" AS ra, \"Dec\" AS dec FROM list"])
        .catalog(&cat)
        .ok();
    let (status, _, body) = xmatch_upload(&server, "mine,param:v", &[("v", &votable)]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(pairs(&body), expected);

    // An asynchronous job keeps its upload until it runs.
    let (status, head, body) = server.multipart(
        "/tap/async",
        &[
            ("LANG", "ADQL"),
            ("RESPONSEFORMAT", "csv"),
            ("UPLOAD", "mine,param:list"),
            ("PHASE", "RUN"),
            ("QUERY", XMATCH_ADQL),
        ],
        &[("list", &list)],
    );
    assert_eq!(status, 303, "{head}{body}");
    let location = header(&head, "location").unwrap();
    let job = location.split_once("/tap/").unwrap().1;
    let started = Instant::now();
    loop {
        let (_, _, phase) = server.get(&format!("/tap/{job}/phase"));
        if phase.trim() == "COMPLETED" {
            break;
        }
        assert!(!phase.contains("ERROR"), "{phase}");
        assert!(started.elapsed() < Duration::from_secs(30), "{phase}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, _, result) = server.get(&format!("/tap/{job}/results/result"));
    assert_eq!(pairs(&result), expected);

    // The upload is this query's only: another query does not see it.
    let (status, body) = csv_query(&server, "SELECT COUNT(*) FROM TAP_UPLOAD.mine");
    assert_eq!(status, 400, "{body}");
}

/// Answers one connection each with `answers`, in order, on a loopback port; returns the
/// port.
fn serve_answers(answers: Vec<String>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for (stream, answer) in listener.incoming().zip(answers) {
            let mut stream = stream.unwrap();
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    port
}

#[test]
fn an_upload_by_url_is_fetched_from_an_allowed_host_only() {
    let (_tmp, cat) = served_catalog();
    let list = star_list(&cat, 30, 0.4);
    let ok = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{list}",
        list.len()
    );
    // A listed host cannot send the service elsewhere.
    let moved = "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string();
    let port = serve_answers(vec![ok, moved]);
    let config = format!("upload_url_hosts = [\"127.0.0.1:{port}\"]\n");
    let server = Server::start(&cat, Some(&config));
    let upload = format!("mine,http://127.0.0.1:{port}/list.csv");
    let by_url = xmatch_upload(&server, &upload, &[]);
    assert_eq!(by_url.0, 200, "{}", by_url.2);
    let inline = xmatch_upload(&server, "mine,param:l", &[("l", &list)]);
    assert_eq!(pairs(&by_url.2), pairs(&inline.2));
    assert_eq!(pairs(&inline.2).len(), 20);
    let redirected = xmatch_upload(&server, &upload, &[]);
    assert_eq!(redirected.0, 400, "{}", redirected.2);
    assert!(
        redirected.2.contains("redirects are not followed"),
        "{}",
        redirected.2
    );
    // Another port of the same host is not allowed.
    let other = format!("mine,http://127.0.0.1:{}/list.csv", port + 1);
    let (status, _, body) = server.multipart(
        "/tap/sync",
        &[("LANG", "ADQL"), ("UPLOAD", &other), ("QUERY", XMATCH_ADQL)],
        &[],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("upload_url_hosts"), "{body}");
}

#[test]
fn an_upload_by_url_beyond_upload_max_bytes_is_refused_with_or_without_its_length() {
    let (_tmp, cat) = served_catalog();
    let body = format!("a\n{}", "1\n".repeat(1500));
    let with_length = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // Chunked, with no length announced: the limit is kept while reading.
    let chunked = format!(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let port = serve_answers(vec![with_length, chunked]);
    let config = format!("upload_max_bytes = 2000\nupload_url_hosts = [\"127.0.0.1:{port}\"]\n");
    let server = Server::start(&cat, Some(&config));
    for _ in 0..2 {
        let upload = format!("t,http://127.0.0.1:{port}/big.csv");
        let (status, _, answer) = server.multipart(
            "/tap/sync",
            &[
                ("LANG", "ADQL"),
                ("UPLOAD", &upload),
                ("QUERY", "SELECT * FROM TAP_UPLOAD.t"),
            ],
            &[],
        );
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("upload_max_bytes"), "{answer}");
    }
}

#[test]
fn uploads_beyond_the_limits_or_by_url_are_refused_in_words() {
    let (_tmp, cat) = served_catalog();
    let server = Server::start(&cat, Some("upload_max_rows = 5\nupload_max_bytes = 2000\n"));
    let query = |upload: &str, files: &[(&str, &str)]| {
        server.multipart(
            "/tap/sync",
            &[
                ("LANG", "ADQL"),
                ("UPLOAD", upload),
                ("QUERY", "SELECT * FROM TAP_UPLOAD.t"),
            ],
            files,
        )
    };
    let six_rows = "a,b\n1,2\n3,4\n5,6\n7,8\n9,10\n11,12\n";
    let big = format!("a\n{}", "1\n".repeat(1500));
    for (upload, files, words) in [
        ("t,param:p", vec![("p", six_rows)], "upload_max_rows"),
        ("t,param:p", vec![("p", big.as_str())], "upload_max_bytes"),
        ("t,http://example.org/t.vot", vec![], "upload_url_hosts"),
        ("t,param:other", vec![("p", "a\n1\n")], "no part named"),
    ] {
        let (status, _, body) = query(upload, &files);
        assert_eq!(status, 400, "{upload}: {body}");
        assert!(body.contains(words), "{upload}: {body}");
    }
    let (_, _, caps) = server.get("/tap/capabilities");
    assert!(caps.contains("TAPRegExt#upload-inline"), "{caps}");
    assert!(caps.contains("<hard unit=\"byte\">2000</hard>"), "{caps}");
}

#[test]
fn every_dali_example_runs_and_returns_rows() {
    let (_tmp, cat) = served_catalog();
    let server = Server::start(&cat, None);
    let (status, head, doc) = server.get("/tap/examples");
    assert_eq!(status, 200);
    assert!(head.contains("application/xhtml+xml"), "{head}");
    let (_, _, caps) = server.get("/tap/capabilities");
    assert!(caps.contains("ivo://ivoa.net/std/DALI#examples"), "{caps}");
    let queries: Vec<String> = doc
        .split("property=\"query\">")
        .skip(1)
        .map(|rest| {
            rest.split("</pre>")
                .next()
                .unwrap()
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&apos;", "'")
                .replace("&quot;", "\"")
                .replace("&amp;", "&")
        })
        .collect();
    assert!(queries.len() >= 6, "{doc}");
    for adql in queries {
        let (status, body) = csv_query(&server, &adql);
        assert_eq!(status, 200, "{adql}: {body}");
        assert!(body.lines().count() > 1, "no row: {adql}");
    }
}

#[test]
fn table_files_ingested_with_table_are_catalogue_tables_the_positioned_ones_in_healpix_order() {
    let (tmp, cat) = served_catalog();
    let votable = data("votable/vizier_b2_votable.xml");
    let cds = data("catalogues/vizier_J_A+A_511_A56/table1.dat");
    let out = Skyql::new(["ingest", "--catalog"])
        .args([cat.as_os_str()])
        .args([
            format!("--table=pn={}", votable.display()),
            format!("--table=pancino={}", cds.display()),
        ])
        .ok();
    assert!(out.contains("pn") && out.contains("pancino"), "{out}");
    let q = |sql: &str| common::query_csv(&cat, sql);
    // Every row written; the VOTable (positions in degrees) with its HEALPix index, the
    // CDS table (right ascension in hours) as it is.
    let direct = Skyql::new(["query", "--format", "csv", "--table"])
        .args([format!("v={}", votable.display())])
        .args(["SELECT count(*) AS n FROM v"])
        .ok();
    assert_eq!(
        q("SELECT count(*) AS n FROM pn")[0]["n"],
        csv_rows(&direct)[0]["n"]
    );
    assert_eq!(q("SELECT count(*) AS n FROM pancino")[0]["n"], "15");
    let first = &q("SELECT * FROM pn LIMIT 1")[0];
    assert!(first.contains_key("_healpix_29"), "{first:?}");
    assert!(!q("SELECT * FROM pancino LIMIT 1")[0].contains_key("_healpix_29"));
    // A cone on it equals a test of every row; its cone search in the service.
    let centre =
        &q("SELECT \"RAJ2000\" AS ra, \"DEJ2000\" AS dec FROM pn ORDER BY \"PNG\" LIMIT 1")[0];
    let (ra, dec) = (&centre["ra"], &centre["dec"]);
    let cone = q(&format!(
        "SELECT \"PNG\" FROM pn WHERE cone_contains(\"RAJ2000\", \"DEJ2000\", {ra}, {dec}, 2) ORDER BY \"PNG\""
    ));
    let every = q(&format!(
        "SELECT \"PNG\" FROM pn WHERE ang_sep(\"RAJ2000\", \"DEJ2000\", {ra}, {dec}) <= 2 ORDER BY \"PNG\""
    ));
    assert_eq!(cone, every);
    assert!(!cone.is_empty());
    let inputs = q("SELECT format, rows_written FROM inputs WHERE format = 'table'");
    assert_eq!(inputs.len(), 2, "{inputs:?}");
    // A name of the catalogue's own, or a missing file, is refused before anything is done.
    let err = Skyql::new(["ingest", "--catalog"])
        .args([cat.as_os_str()])
        .args([format!("--table=stars={}", votable.display())])
        .fails();
    assert!(err.contains("a table of the catalogue's own"), "{err}");
    let err = Skyql::new(["ingest", "--catalog"])
        .args([cat.as_os_str()])
        .args([format!(
            "--table=x={}",
            tmp.path().join("missing.vot").display()
        )])
        .fails();
    assert!(
        err.contains("missing.vot") && err.contains("nothing was ingested"),
        "{err}"
    );
}
