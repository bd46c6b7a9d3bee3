//! `skyql serve` over plain HTTP/1.1 on loopback: TAP sync (formats, MAXREC, errors),
//! ADQL translation, the UWS life cycle, cone search, the concurrency limit, and a stop on
//! SIGTERM. (taplint and pyvo check the same service in CI: tests/validation.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use common::server::{Server, header, q, served_catalog, unchunk};
use common::{Skyql, data};

#[test]
fn tap_sync_answers_in_every_format_and_refuses_what_it_must() {
    let (_tmp, cat) = served_catalog();
    let server = Server::start(&cat, None);
    let (status, head, body) = server.get(&format!(
        "/tap/sync?LANG=ADQL&QUERY={}",
        q("SELECT TOP 3 star_id, ra, dec FROM eros2.stars ORDER BY star_id")
    ));
    assert_eq!(status, 200, "{body}");
    assert!(
        head.to_ascii_lowercase().contains("server: skyql"),
        "{head}"
    );
    assert_eq!(body.matches("<TR>").count(), 3, "{body}");
    assert!(body.contains("<INFO name=\"QUERY_STATUS\" value=\"OK\"/>"));
    // MAXREC cuts with a trailing OVERFLOW; 0 gives the metadata only.
    let (_, _, cut) = server.get(&format!(
        "/tap/sync?LANG=ADQL&MAXREC=2&QUERY={}",
        q("SELECT star_id FROM eros2.stars")
    ));
    assert_eq!(cut.matches("<TR>").count(), 2);
    assert!(cut.find("OVERFLOW").unwrap() > cut.find("</TABLE>").unwrap());
    let (_, _, meta) = server.get(&format!(
        "/tap/sync?LANG=ADQL&MAXREC=0&QUERY={}",
        q("SELECT star_id FROM eros2.stars")
    ));
    assert!(meta.contains("<FIELD name=\"star_id\"") && !meta.contains("<TR>"));
    // POST form, CSV.
    let (status, _, csv) = server.request(
        "POST",
        "/tap/sync",
        &format!(
            "REQUEST=doQuery&LANG=ADQL-2.1&RESPONSEFORMAT=csv&QUERY={}",
            q("SELECT COUNT(*) AS n FROM eros2.stars")
        ),
    );
    assert_eq!(status, 200);
    assert!(csv.starts_with("n\r\n"), "{csv}");
    // 30,000 select items (about 600 KB encoded) are refused at once, not planned for 20 s.
    let items = (0..30_000)
        .map(|i| format!("{i} AS c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let started = std::time::Instant::now();
    let (status, _, body) = server.request(
        "POST",
        "/tap/sync",
        &format!("LANG=ADQL&QUERY={}", q(&format!("SELECT {items}"))),
    );
    assert_eq!(status, 400, "{}", &body[..body.len().min(300)]);
    assert!(
        body.contains("2000 accepted"),
        "{}",
        &body[..body.len().min(300)]
    );
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    // A value past its limit is refused before it is built, the service still answers.
    let (status, _, body) = server.get(&format!(
        "/tap/sync?LANG=ADQL&QUERY={}",
        q("SELECT LENGTH(repeat('x', 2000000000)) AS n")
    ));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("64 MiB"), "{body}");
    // Errors: a VOTable with QUERY_STATUS=ERROR and HTTP 400.
    for (params, words) in [
        ("LANG=SQL&QUERY=SELECT%201", "LANG=SQL"),
        ("LANG=ADQL&QUERY=SELEKT", "SELEKT"),
        ("LANG=ADQL&QUERY=SELECT%20nope%20FROM%20eros2.stars", "nope"),
        (
            &format!("LANG=ADQL&QUERY={}", q("DELETE FROM eros2.stars")),
            "read-only",
        ),
        (
            &format!(
                "LANG=ADQL&QUERY={}",
                q("SELECT cutout(path, 1, 2, 3) FROM images")
            ),
            "writes files",
        ),
        (
            &format!(
                "LANG=ADQL&QUERY={}",
                q("SELECT wcs_from_fits('/etc/shadow') AS w")
            ),
            "reads files of the server",
        ),
        (
            &format!(
                "LANG=ADQL&QUERY={}",
                q("SELECT * FROM information_schema.df_settings")
            ),
            "df_settings",
        ),
    ] {
        let (status, _, body) = server.get(&format!("/tap/sync?{params}"));
        assert_eq!(status, 400, "{params}: {body}");
        assert!(
            body.contains("value=\"ERROR\"") && body.contains(words),
            "{params}: {body}"
        );
        // No server path, no setting, no file's existence told to a remote client.
        assert!(
            !body.contains(&*cat.to_string_lossy()) && !body.contains("/etc/shadow\""),
            "{params}: {body}"
        );
    }
}

#[test]
fn adql_geometry_gives_the_same_stars_as_skyql_sql() {
    let (_tmp, cat) = served_catalog();
    let server = Server::start(&cat, None);
    let star = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT ra, dec FROM stars WHERE ra IS NOT NULL ORDER BY star_id LIMIT 1",
    ])
    .catalog(&cat)
    .ok();
    let (ra, dec) = star.lines().nth(1).unwrap().split_once(',').unwrap();
    let cli = Skyql::new(["query", "--format", "csv"])
        .args([format!(
            "SELECT COUNT(*) AS n FROM stars WHERE cone_contains(ra, dec, {ra}, {dec}, 0.05)"
        )])
        .catalog(&cat)
        .ok();
    let n = cli.lines().nth(1).unwrap().to_string();
    for adql in [
        format!(
            "SELECT COUNT(*) AS n FROM eros2.stars WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, 0.05))"
        ),
        format!(
            "SELECT COUNT(*) AS n FROM eros2.stars WHERE DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', {ra}, {dec})) <= 0.05"
        ),
    ] {
        let (_, _, csv) = server.get(&format!(
            "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}",
            q(&adql)
        ));
        assert_eq!(csv.lines().nth(1), Some(n.as_str()), "{adql}: {csv}");
    }
}

#[test]
fn an_async_job_lives_and_dies_as_uws_says() {
    let (_tmp, cat) = served_catalog();
    let server = Server::start(&cat, None);
    let job = submit(&server, "SELECT TOP 4 star_id FROM eros2.stars", false);
    assert_eq!(server.get(&format!("{job}/phase")).2, "PENDING");
    assert_eq!(
        server
            .request("POST", &format!("{job}/phase"), "PHASE=RUN")
            .0,
        303
    );
    let (_, _, doc) = server.get(&format!("{job}?WAIT=30"));
    let doc = if doc.contains("EXECUTING") {
        server.get(&format!("{job}?WAIT=30")).2
    } else {
        doc
    };
    assert!(doc.contains("<uws:phase>COMPLETED</uws:phase>"), "{doc}");
    let (_, _, result) = server.get(&format!("{job}/results/result"));
    assert_eq!(result.matches("<TR>").count(), 4, "{result}");
    assert_eq!(server.request("DELETE", &job, "").0, 303);
    assert_eq!(server.get(&format!("{job}/phase")).0, 404);
    // A job with a bad query ends in ERROR with its message.
    let job = submit(&server, "SELECT nope FROM eros2.stars", true);
    let (_, _, doc) = server.get(&format!("{job}?WAIT=30"));
    assert!(doc.contains("ERROR") && doc.contains("nope"), "{doc}");
    // Said once: the column named once in the message, and a value that fails as the job
    // runs with each cause of the chain once.
    let message_of = |doc: &str| -> String {
        doc.split("<uws:message>")
            .nth(1)
            .and_then(|m| m.split("</uws:message>").next())
            .unwrap_or_else(|| panic!("{doc}"))
            .to_string()
    };
    assert_eq!(message_of(&doc).matches("nope").count(), 1, "{doc}");
    let job = submit(
        &server,
        "SELECT CAST(star_id AS INT) AS n FROM eros2.stars",
        true,
    );
    let (_, _, doc) = server.get(&format!("{job}?WAIT=30"));
    let message = message_of(&doc);
    let parts: Vec<&str> = message.split(": ").collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(!parts[i + 1..].contains(p), "'{p}' twice in {message}");
    }
}

#[test]
fn one_client_cannot_keep_every_job_slot() {
    let (_tmp, cat) = served_catalog();
    let server = Server::start(
        &cat,
        Some("max_async_jobs = 5\nmax_async_jobs_per_client = 2\n"),
    );
    let first = submit(&server, "SELECT TOP 1 star_id FROM eros2.stars", false);
    submit(&server, "SELECT TOP 1 star_id FROM eros2.stars", false);
    let (status, head, body) = server.request(
        "POST",
        "/tap/async",
        &format!(
            "LANG=ADQL&QUERY={}",
            q("SELECT TOP 1 star_id FROM eros2.stars")
        ),
    );
    assert_eq!(status, 503, "{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
    assert!(
        body.contains("this client") && body.contains("(2)"),
        "{body}"
    );
    // A deleted job frees its place.
    assert_eq!(server.request("DELETE", &first, "").0, 303);
    submit(&server, "SELECT TOP 1 star_id FROM eros2.stars", false);
    let (_, _, caps) = server.get("/tap/capabilities");
    assert!(caps.contains("5 jobs, 2 per client"), "{caps}");
}

#[test]
fn cone_search_and_the_concurrency_limit() {
    let (_tmp, cat) = served_catalog();
    let server = Server::start(&cat, None);
    let (status, _, body) = server.get("/scs/stars?RA=66.7&DEC=-69.3&SR=0.5&VERB=1");
    assert_eq!(status, 200);
    assert!(
        body.contains("ucd=\"ID_MAIN\"")
            && body.contains("POS_EQ_RA_MAIN")
            && body.contains("<TR>"),
        "{body}"
    );
    let (_, _, meta) = server.get("/scs/stars?RA=66.7&DEC=-69.3&SR=0");
    assert!(meta.contains("<FIELD") && !meta.contains("<TR>"), "{meta}");
    let (_, _, bad) = server.get("/scs/stars?RA=66.7&DEC=-69.3&SR=-1");
    assert!(bad.contains("<INFO name=\"Error\""), "{bad}");
}

/// A query that holds its slot until its time limit cancels it.
const SLOW: &str = "SELECT COUNT(*) AS n FROM (SELECT a.value FROM generate_series(1, 1000000) a \
                    CROSS JOIN generate_series(1, 10000000) b) t";

#[test]
fn queries_beyond_the_running_limit_wait_in_the_queue_and_only_a_full_queue_gets_503() {
    let (_tmp, cat) = served_catalog();
    // No 503 below the queue's depth: 12 clients at once on 2 slots all get their rows.
    let server = Server::start(
        &cat,
        Some("max_concurrent_queries = 2\nqueue_depth = 20\nqueue_wait_s = 60\n"),
    );
    let server = std::sync::Arc::new(server);
    let clients: Vec<_> = (0..12)
        .map(|i| {
            let server = server.clone();
            std::thread::spawn(move || {
                server.get(&format!(
                    "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}",
                    q(&format!("SELECT COUNT(*) + {i} AS n FROM eros2.stars"))
                ))
            })
        })
        .collect();
    for c in clients {
        let (status, _, body) = c.join().unwrap();
        assert_eq!(status, 200, "{body}");
    }
    drop(server);
    // One slot, a queue of one: the slow query runs, the next waits and is answered, a
    // third finds the queue full and gets 503 with Retry-After and the true reason.
    let server = std::sync::Arc::new(Server::start(
        &cat,
        Some(
            "max_concurrent_queries = 1\nqueue_depth = 1\nqueue_wait_s = 60\nsync_timeout_s = 3\n",
        ),
    ));
    let slow = {
        let server = server.clone();
        std::thread::spawn(move || server.get(&format!("/tap/sync?LANG=ADQL&QUERY={}", q(SLOW))))
    };
    std::thread::sleep(std::time::Duration::from_millis(700));
    let waiting = {
        let server = server.clone();
        std::thread::spawn(move || {
            server.get(&format!(
                "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}",
                q("SELECT 41 + 1 AS n")
            ))
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(700));
    let (status, head, body) = server.get("/tap/sync?LANG=ADQL&QUERY=SELECT%201");
    assert_eq!(status, 503, "{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
    assert!(body.contains("queue_depth"), "{body}");
    // The slow query's time limit is a server-side failure (500) that names the limit.
    let (status, _, body) = slow.join().unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("3 s limit"), "{body}");
    let (status, _, body) = waiting.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("42"), "{body}");
}

#[test]
fn a_client_that_does_not_read_its_result_holds_no_query_slot() {
    let (_tmp, cat) = served_catalog();
    let server = Server::start(
        &cat,
        Some("max_concurrent_queries = 1\nqueue_wait_s = 20\n"),
    );
    // About 15 MB of CSV, far more than the sockets' buffers: its client reads nothing.
    let mut idle = TcpStream::connect(&server.addr).unwrap();
    let path = format!(
        "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&MAXREC=3000000&QUERY={}",
        q("SELECT value FROM generate_series(1, 2000000)")
    );
    write!(
        idle,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let started = std::time::Instant::now();
    let (status, _, body) = server.get(&format!(
        "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}",
        q("SELECT 6 * 7 AS n")
    ));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("42"), "{body}");
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    // The idle client still gets its whole result when it reads.
    idle.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut raw = Vec::new();
    idle.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let csv = if head.to_ascii_lowercase().contains("chunked") {
        unchunk(rest)
    } else {
        rest.to_string()
    };
    assert_eq!(csv.lines().count(), 2_000_001, "a header and every row");
    assert!(
        csv.ends_with("\r\n2000000\r\n"),
        "{}",
        &csv[csv.len().saturating_sub(100)..]
    );
}

/// Submits an async job of `adql` and returns its path (`/tap/async/ID`).
fn submit(server: &Server, adql: &str, run: bool) -> String {
    let run = if run { "&PHASE=RUN" } else { "" };
    let (status, head, _) = server.request(
        "POST",
        "/tap/async",
        &format!("LANG=ADQL{run}&QUERY={}", q(adql)),
    );
    assert_eq!(status, 303);
    let location = header(&head, "location").unwrap();
    location.split_once(&server.addr).unwrap().1.to_string()
}

#[test]
fn jobs_survive_a_restart_and_a_stop_removes_only_the_services_files() {
    let (tmp, cat) = served_catalog();
    let jobs = tmp.path().join("jobs");
    let config = format!("jobs_dir = \"{}\"\n", jobs.display());
    let server = Server::start(&cat, Some(&config));
    let done = submit(&server, "SELECT TOP 4 star_id FROM eros2.stars", true);
    let doc = server.get(&format!("{done}?WAIT=30")).2;
    assert!(doc.contains("<uws:phase>COMPLETED</uws:phase>"), "{doc}");
    let pending = submit(&server, "SELECT TOP 2 star_id FROM eros2.stars", false);
    let running = submit(&server, SLOW, true);
    assert!(
        server
            .get(&format!("{running}?WAIT=1"))
            .2
            .contains("EXECUTING")
    );
    // A file someone else put there stays, whatever the service does.
    std::fs::write(jobs.join("notes.txt"), "the administrator's").unwrap();
    drop(server);
    assert_eq!(
        std::fs::read_to_string(jobs.join("notes.txt")).unwrap(),
        "the administrator's"
    );
    let server = Server::start(&cat, Some(&config));
    let list = server.get("/tap/async").2;
    for job in [&done, &pending, &running] {
        let id = job.rsplit('/').next().unwrap();
        assert!(list.contains(id), "{id} in {list}");
    }
    let (_, _, result) = server.get(&format!("{done}/results/result"));
    assert_eq!(result.matches("<TR>").count(), 4, "{result}");
    assert_eq!(server.get(&format!("{pending}/phase")).2, "PENDING");
    let doc = server.get(&running).2;
    assert!(
        doc.contains("<uws:phase>ERROR</uws:phase>") && doc.contains("stopped"),
        "{doc}"
    );
    // A pending job still runs after the restart.
    server.request("POST", &format!("{pending}/phase"), "PHASE=RUN");
    let doc = server.get(&format!("{pending}?WAIT=30")).2;
    assert!(doc.contains("COMPLETED"), "{doc}");
    drop(server);
    assert!(jobs.join("notes.txt").exists());
}

#[test]
fn a_jobs_dir_holding_other_files_is_refused_and_left_intact() {
    let (tmp, cat) = served_catalog();
    let jobs = tmp.path().join("theirs");
    std::fs::create_dir(&jobs).unwrap();
    std::fs::write(jobs.join("thesis.tex"), "years of work").unwrap();
    let config = tmp.path().join("service.toml");
    std::fs::write(&config, format!("jobs_dir = \"{}\"\n", jobs.display())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_skyql"))
        .args(["serve", "--bind", "127.0.0.1:0", "--catalog"])
        .arg(&cat)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("thesis.tex") && err.contains("did not write"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&jobs).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_to_string(jobs.join("thesis.tex")).unwrap(),
        "years of work"
    );
}

/// The rows of a CSV answer after its header, sorted.
fn sorted_rows(csv: &str) -> Vec<String> {
    let mut rows: Vec<String> = csv.lines().skip(1).map(str::to_string).collect();
    rows.sort();
    rows
}

/// The CSV answer of a TAP sync query that must succeed.
fn tap_csv(server: &Server, adql: &str) -> String {
    let (status, _, body) = server.get(&format!(
        "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}",
        q(adql)
    ));
    assert_eq!(status, 200, "{body}");
    body
}

/// The FIELD declarations of a VOTable answer (names, types, units, UCDs).
fn votable_fields(body: &str) -> Vec<String> {
    body.split("<FIELD ")
        .skip(1)
        .map(|f| f.split('>').next().unwrap().to_string())
        .collect()
}

/// Six cones on `table` (TAP name; `/scs/{scs}` its cone search) by the fixed plan and
/// by the SQL plan give the same rows and FIELDs; the cone search, every verbosity, gives
/// the star ids of the CLI's `cone_contains` on `cli_table` (`cli` the CLI's arguments
/// that open it).
fn fixed_cones_equal_sql_cones(
    server: &Server,
    cat: &Path,
    (table, scs): (&str, &str),
    (cli, cli_table): (&[String], &str),
) {
    let centres = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT ra, dec FROM stars WHERE healpix % 7919 = 0 ORDER BY healpix LIMIT 6",
    ])
    .catalog(cat)
    .ok();
    let mut compared = 0;
    for (i, line) in centres.lines().skip(1).enumerate() {
        let (ra, dec) = line.split_once(',').unwrap();
        let radius = [0.01, 0.05, 0.2][i % 3];
        let cone =
            format!("1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, {radius}))");
        // The fixed shape takes the cone path; an ORDER BY sends the same query through SQL.
        let fast = format!("SELECT * FROM {table} WHERE {cone}");
        let sql = format!("SELECT * FROM {table} WHERE {cone} ORDER BY star_id");
        let (a, b) = (tap_csv(server, &fast), tap_csv(server, &sql));
        assert_eq!(a.lines().next(), b.lines().next(), "the same columns");
        assert_eq!(
            sorted_rows(&a),
            sorted_rows(&b),
            "cone at {ra} {dec} r {radius}"
        );
        assert!(!sorted_rows(&a).is_empty());
        let votable = |adql: &str| {
            let (status, _, body) = server.get(&format!("/tap/sync?LANG=ADQL&QUERY={}", q(adql)));
            assert_eq!(status, 200, "{body}");
            votable_fields(&body)
        };
        let fields = votable(&fast);
        assert!(fields.iter().any(|f| f.contains("pos.eq.ra")), "{fields:?}");
        assert_eq!(fields, votable(&sql), "the same FIELDs, units and UCDs");
        // The cone search, every verbosity, against the CLI's cone_contains.
        let cli = Skyql::new(["query", "--format", "csv"])
            .args(cli)
            .args([format!(
                "SELECT star_id FROM {cli_table} WHERE cone_contains(ra, dec, {ra}, {dec}, {radius}) ORDER BY star_id"
            )])
            .ok();
        let expected: Vec<&str> = cli.lines().skip(1).collect();
        for verb in 1..=3 {
            let (status, _, body) = server.get(&format!(
                "/scs/{scs}?RA={ra}&DEC={dec}&SR={radius}&VERB={verb}"
            ));
            assert_eq!(status, 200, "{body}");
            // A table without an identifier column has its position only at VERB=1.
            let fields = votable_fields(&body);
            let Some(column) = fields.iter().position(|f| f.contains("name=\"star_id\"")) else {
                assert_eq!(verb, 1, "{fields:?}");
                assert_eq!(body.matches("<TR>").count(), expected.len());
                continue;
            };
            let mut ids: Vec<&str> = body
                .split("<TR>")
                .skip(1)
                .map(|r| {
                    r.split("<TD>")
                        .nth(column + 1)
                        .unwrap()
                        .split("</TD>")
                        .next()
                        .unwrap()
                })
                .collect();
            ids.sort();
            assert_eq!(ids, expected, "VERB={verb} at {ra} {dec} r {radius}");
        }
        compared += 1;
    }
    assert_eq!(compared, 6);
    let log = server.log.lock().unwrap().join("\n");
    assert!(log.matches("cone path").count() >= 6 * 4, "{log}");
    assert!(log.contains("optimize="), "the SQL plan ran too: {log}");
}

#[test]
fn cones_by_the_fixed_plan_equal_the_sql_plan() {
    let (_tmp, cat) = common::generated_catalog(&["--stars", "60000", "--measurements", "0"]);
    let server = Server::start(&cat, None);
    let cli = ["--catalog".to_string(), cat.display().to_string()];
    fixed_cones_equal_sql_cones(&server, &cat, ("eros2.stars", "stars"), (&cli, "stars"));
}

#[test]
fn hats_cones_by_the_fixed_plan_equal_the_sql_plan() {
    let (tmp, cat) = common::generated_catalog(&["--stars", "60000", "--measurements", "0"]);
    let hats = tmp.path().join("hats");
    Skyql::new(["hats", "export", "stars", "--out"])
        .args([&hats])
        .catalog(&cat)
        .ok();
    let table = format!("ref.h={}", hats.display());
    let server = Server::start_with(&cat, None, &["--table", &table]);
    let cli = ["--table".to_string(), format!("h={}", hats.display())];
    fixed_cones_equal_sql_cones(&server, &cat, ("ref.h", "ref.h"), (&cli, "h"));
}

#[test]
fn a_hats_table_whose_names_the_service_lower_cases_is_planned_by_sql() {
    let (tmp, cat) = common::generated_catalog(&["--stars", "20000", "--measurements", "0"]);
    let csv = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT star_id AS \"ID\", ra AS \"RA\", dec AS \"DEC\" FROM stars",
    ])
    .catalog(&cat)
    .ok();
    let file = tmp.path().join("upper.csv");
    std::fs::write(&file, csv).unwrap();
    let hats = tmp.path().join("upper_hats");
    Skyql::new(["hats", "export", "up", "--out"])
        .args([&hats])
        .args(["--table".to_string(), format!("up={}", file.display())])
        .ok();
    let table = format!("ref.up={}", hats.display());
    let server = Server::start_with(&cat, None, &["--table", &table]);
    let centre = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT ra, dec FROM stars ORDER BY healpix LIMIT 1 OFFSET 5000",
    ])
    .catalog(&cat)
    .ok();
    let (ra, dec) = centre.lines().nth(1).unwrap().split_once(',').unwrap();
    let rows = tap_csv(
        &server,
        &format!(
            "SELECT id FROM ref.up WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, 0.05))"
        ),
    );
    let expected = Skyql::new(["query", "--format", "csv"])
        .catalog(&cat)
        .args([format!(
            "SELECT star_id AS id FROM stars WHERE cone_contains(ra, dec, {ra}, {dec}, 0.05)"
        )])
        .ok();
    assert!(sorted_rows(&expected).len() > 3, "{expected}");
    assert_eq!(sorted_rows(&rows), sorted_rows(&expected));
    let log = server.log.lock().unwrap().join("\n");
    let last = log.lines().rfind(|l| l.contains("/tap/sync")).unwrap();
    assert!(last.contains("optimize="), "planned by SQL: {last}");
}

#[test]
fn stars_by_the_fixed_plan_equal_the_sql_plan() {
    // 150,000 stars: files of several row groups (65,536 rows), pages of 1,024 rows.
    let (_tmp, cat) = common::generated_catalog(&["--stars", "150000", "--measurements", "0"]);
    let manifest = std::fs::read_to_string(cat.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("\"star_id\": {"),
        "stars files keep their star_id range"
    );
    let server = Server::start(&cat, None);
    let ids = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT star_id FROM stars WHERE healpix % 9973 = 0 ORDER BY healpix LIMIT 8",
    ])
    .catalog(&cat)
    .ok();
    let get = |adql: &str| tap_csv(&server, adql);
    let mut stars: Vec<String> = ids.lines().skip(1).map(str::to_string).collect();
    assert_eq!(stars.len(), 8);
    // Ids that are not there: before the first, after the last, between two.
    stars.extend(["a", "zz", &format!("{}0", stars[0])].map(String::from));
    for (i, star) in stars.iter().enumerate() {
        let columns = ["*", "star_id, ra, dec, field", "n_r, star_id"][i % 3];
        // The fixed shape takes the star path; an ORDER BY sends it through SQL.
        let fast = get(&format!(
            "SELECT {columns} FROM eros2.stars WHERE star_id = '{star}'"
        ));
        let sql = get(&format!(
            "SELECT {columns} FROM eros2.stars WHERE star_id = '{star}' ORDER BY star_id"
        ));
        assert_eq!(fast, sql, "{star}");
        assert_eq!(
            fast.lines().count(),
            if i < 8 { 2 } else { 1 },
            "{star}: {fast}"
        );
        // DataLink finds it by the same path.
        let (status, _, _) = server.get(&format!("/datalink/lightcurve?ID={star}"));
        assert_eq!(status, if i < 8 { 200 } else { 404 }, "{star}");
    }
    let log = server.log.lock().unwrap().join("\n");
    assert!(log.matches("star path").count() >= 11, "{log}");
}

/// The counts of measurements and stars in `cat` as the CLI sees them now.
fn counts(cat: &Path) -> String {
    let csv = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT (SELECT COUNT(*) FROM measurements) AS m, (SELECT COUNT(*) FROM stars) AS s",
    ])
    .catalog(cat)
    .ok();
    csv.lines().nth(1).unwrap().to_string()
}

#[test]
fn a_running_service_follows_ingests_and_no_query_fails_meanwhile() {
    let (tmp, cat) = served_catalog();
    let mut expected = vec![counts(&cat)];
    let server = std::sync::Arc::new(Server::start(&cat, None));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let query = format!(
        "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}",
        q(
            "SELECT (SELECT COUNT(*) FROM eros2.measurements) AS m, (SELECT COUNT(*) FROM eros2.stars) AS s"
        )
    );
    // Three clients ask the counts, and a cone, without a pause while ingests publish
    // new versions.
    let clients: Vec<_> = (0..3)
        .map(|i| {
            let (server, stop, query) = (server.clone(), stop.clone(), query.clone());
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let path = if i == 2 {
                        "/scs/stars?RA=66.7&DEC=-69.3&SR=0.5&VERB=1".to_string()
                    } else {
                        query.clone()
                    };
                    answers.push((i, server.get(&path)));
                }
                answers
            })
        })
        .collect();
    for (n, field) in ["lm036", "lm037", "lm038"].iter().enumerate() {
        let raw = tmp.path().join(format!("raw{n}"));
        common::generate_small(&raw, field, 1, 6, &[]);
        Skyql::new(["ingest"]).args([&raw]).catalog(&cat).ok();
        expected.push(counts(&cat));
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut seen = std::collections::BTreeSet::new();
    for c in clients {
        for (i, (status, _, body)) in c.join().unwrap() {
            assert_eq!(status, 200, "client {i}: {body}");
            if i < 2 {
                let row = body.lines().nth(1).unwrap_or_default().to_string();
                assert!(
                    expected.contains(&row),
                    "{row} is no version's counts: {expected:?}"
                );
                seen.insert(row);
            } else {
                assert!(body.contains("QUERY_STATUS\" value=\"OK"), "{body}");
            }
        }
    }
    // A query now sees the last version.
    let (_, _, body) = server.get(&query);
    assert_eq!(body.lines().nth(1), expected.last().map(String::as_str));
    assert!(
        seen.len() >= 2,
        "the answers followed the versions: {seen:?}"
    );
    let log = server.log.lock().unwrap().join("\n");
    assert!(log.contains("catalogue version 4"), "{log}");
    // The versions the service held are removed by the first write after it let them go.
    drop(server);
    let raw = tmp.path().join("raw-last");
    common::generate_small(&raw, "lm039", 1, 6, &[]);
    Skyql::new(["ingest"]).args([&raw]).catalog(&cat).ok();
    let versions: Vec<_> = std::fs::read_dir(&cat)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('v'))
        .collect();
    assert_eq!(versions, vec!["v000005".to_string()]);
}

#[test]
fn a_cross_join_past_its_time_limit_is_cancelled_and_frees_the_service() {
    let (_tmp, cat) = served_catalog();
    let server = Server::start(&cat, Some("sync_timeout_s = 1\n"));
    // Once its left side is collected, this join hands out one batch per row of its left
    // side (10^6 of them, each as long as the right side's current batch) before it reads
    // the right side again: without the cooperative join it does not return to the
    // runtime for tens of seconds.
    let join = "SELECT COUNT(*) AS n FROM (SELECT a.value FROM generate_series(1, 1000000) a \
                CROSS JOIN generate_series(1, 10000000) b) t";
    let started = std::time::Instant::now();
    let (_, _, body) = server.get(&format!("/tap/sync?LANG=ADQL&QUERY={}", q(join)));
    assert!(body.contains("limit"), "{body}");
    assert!(
        started.elapsed().as_secs_f64() < 6.0,
        "{:?}",
        started.elapsed()
    );
    // Its threads are free again: the next query answers at once.
    let started = std::time::Instant::now();
    let (status, _, body) = server.get(&format!(
        "/tap/sync?LANG=ADQL&QUERY={}",
        q("SELECT COUNT(*) AS n FROM generate_series(1, 1000)")
    ));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("1000"), "{body}");
    assert!(
        started.elapsed().as_secs_f64() < 6.0,
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_metadata_endpoints_agree_with_the_data() {
    let (_tmp, cat) = served_catalog();
    let server = Server::start(&cat, None);
    let (_, _, tables) = server.get("/tap/tables");
    assert!(
        tables.contains("<name>eros2.stars</name>")
            && tables.contains("<name>TAP_SCHEMA.columns</name>")
    );
    let (_, head, caps) = server.get("/tap/capabilities");
    assert!(
        head.to_ascii_lowercase().contains("content-type: text/xml"),
        "{head}"
    );
    assert!(
        caps.contains("queue_depth") || caps.contains("more wait"),
        "{caps}"
    );
    let (status, head, body) = server.get("/tap/tables/eros2.nosuch");
    assert_eq!(status, 404, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{head}"
    );
    let (status, head, _) = server.get("/tap/tables/eros2.stars");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("content-type: text/xml"),
        "{head}"
    );
    assert!(caps.contains("ivo://ivoa.net/std/TAP") && caps.contains("<hard unit=\"row\">"));
    assert!(
        server
            .get("/tap/availability")
            .2
            .contains("<vosi:available>true</vosi:available>")
    );
    let (_, _, cols) = server.get(&format!(
        "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}",
        q("SELECT column_name, datatype FROM TAP_SCHEMA.columns WHERE table_name = 'eros2.stars' AND column_name = 'ra'")
    ));
    assert!(cols.contains("ra,double"), "{cols}");
    let _ = data("fits");
}
