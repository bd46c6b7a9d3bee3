//! Cluster mode (feature `cluster`): one scheduler and two executors started as separate
//! processes on loopback; every named query and a set of function queries give the
//! embedded engine's rows; an executor killed during a query; a scheduler that is not
//! there; the access-rights leak suite's query shapes under a row rule. Every process the test starts is stopped when it ends (also on failure).
#![cfg(feature = "cluster")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::run_ok;
use common::server::{header, multipart_at, request_at};
use skyql::cluster::loopback::{LoopbackCluster, free_port_pair};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_skyql")
}

fn start_cluster(dir: &Path, executors: usize) -> LoopbackCluster {
    LoopbackCluster::start(
        Path::new(bin()),
        &dir.join("cluster"),
        executors,
        2,
        &dir.join("cluster-products"),
    )
    .unwrap()
}

/// A child process killed if the test fails before it is waited for.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A small demo survey, ingested.
fn catalogue(dir: &Path) -> PathBuf {
    let raw = dir.join("raw");
    let cat = dir.join("cat");
    run_ok(&[
        "generate",
        "--out",
        raw.to_str().unwrap(),
        "--fields",
        "lm001,lm055",
        "--ccd-size",
        "256",
        "--epochs",
        "30",
    ]);
    run_ok(&[
        "ingest",
        raw.join("images").to_str().unwrap(),
        raw.join("lightcurves").to_str().unwrap(),
        "--catalog",
        cat.to_str().unwrap(),
    ]);
    cat
}

/// `skyql catalog VERB --catalog CAT ARGS --groups eros` (`protect`, `grant`).
fn catalog_verb(cat: &Path, verb: &str, args: &[&str]) {
    let mut all = vec!["catalog", verb, "--catalog", cat.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--groups", "eros"]);
    run_ok(&all);
}

/// The rows of a query as sorted CSV lines, embedded or on the cluster; image paths under
/// `root` written `ROOT/...` so that the two runs compare.
fn rows(cat: &Path, cluster: Option<&str>, root: &Path, sql_args: &[&str]) -> Vec<String> {
    let mut args = vec![
        "query",
        "--format",
        "csv",
        "--catalog",
        cat.to_str().unwrap(),
    ];
    match cluster {
        // On the cluster, image functions write under the executors' output root.
        Some(url) => args.extend(["--cluster", url]),
        None => args.extend(["--output-root", root.to_str().unwrap()]),
    }
    args.extend(sql_args);
    let out = run_ok(&args);
    let mut lines: Vec<String> = out
        .lines()
        .map(|l| l.replace(root.to_str().unwrap(), "ROOT"))
        .collect();
    lines.sort();
    lines
}

/// A named query's rows as the demo runs them: `public_images` written to a CSV file,
/// which `cutouts` then reads as the table `public` beside the generator's `events`.
fn named_rows(cat: &Path, cluster: Option<&str>, root: &Path, name: &str) -> Vec<String> {
    let dir = cat.parent().unwrap();
    let public = root.with_extension("public.csv");
    let events = format!("events={}", dir.join("raw/truth/events.csv").display());
    let public_table = format!("public={}", public.display());
    match name {
        "public_images" => {
            let out = public.to_str().unwrap();
            rows(cat, cluster, root, &["--named", name, "--output", out]);
            let text = std::fs::read_to_string(&public).unwrap();
            let mut lines: Vec<String> = text
                .lines()
                .map(|l| l.replace(root.to_str().unwrap(), "ROOT"))
                .collect();
            lines.sort();
            lines
        }
        "cutouts" => rows(
            cat,
            cluster,
            root,
            &[
                "--named",
                name,
                "--table",
                &events,
                "--table",
                &public_table,
            ],
        ),
        _ => rows(cat, cluster, root, &["--named", name]),
    }
}

#[test]
fn the_cluster_gives_the_embedded_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let cat = catalogue(tmp.path());
    let cluster = start_cluster(tmp.path(), 2);
    let local_root = tmp.path().join("local-products");
    let cluster_root = tmp.path().join("cluster-products");
    let names = run_ok(&["queries"]);
    let mut compared = 0;
    for name in names.lines().filter_map(|l| l.split_whitespace().next()) {
        let embedded = named_rows(&cat, None, &local_root, name);
        let on_cluster = named_rows(&cat, Some(&cluster.url), &cluster_root, name);
        assert!(embedded.len() > 1, "{name}: no row to compare");
        assert_eq!(embedded, on_cluster, "{name}");
        compared += 1;
    }
    assert!(compared >= 8, "{compared} named queries");
    // A cone around the first placed star, with literal centres (what the HEALPix
    // pruning rule needs).
    let first = rows(
        &cat,
        None,
        &local_root,
        &["SELECT ra, dec FROM stars WHERE ra IS NOT NULL ORDER BY star_id LIMIT 1"],
    );
    let centre = first.iter().find(|l| !l.starts_with("ra")).unwrap().clone();
    let cone = format!("SELECT star_id FROM stars WHERE cone_contains(ra, dec, {centre}, 0.05)");
    let functions = [
        cone.as_str(),
        "SELECT i.file_name, round(pix2sky(10.0, 20.0, i.wcs)['ra'], 9) ra, \
         round(pix2sky(10.0, 20.0, i.wcs)['dec'], 9) dec FROM images i WHERE i.wcs IS NOT NULL",
        "SELECT star_id, colour, lc_stats(mjd, mag, mag_err)['n'] n, \
         round(lc_stats(mjd, mag, mag_err)['weighted_mean'], 9) wmean FROM measurements \
         WHERE field = 'lm055' GROUP BY star_id, colour",
        "SELECT star_id, round(stetson_j(mjd, mag, mag_err, colour), 9) j FROM measurements \
         WHERE field = 'lm001' GROUP BY star_id",
        "SELECT count(*) pairs FROM stars a JOIN stars b \
         ON ang_sep(a.ra, a.dec, b.ra, b.dec) < 0.01 AND a.star_id < b.star_id",
    ];
    for sql in functions {
        let embedded = rows(&cat, None, &local_root, &[sql]);
        assert!(embedded.len() > 1, "{sql}: no row to compare");
        assert_eq!(
            embedded,
            rows(&cat, Some(&cluster.url), &cluster_root, &[sql]),
            "{sql}"
        );
    }
    // A Parquet table on a web server: the scheduler lists it and the executors read it
    // through the same object stores as an embedded session.
    let www = tmp.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    rows(
        &cat,
        None,
        &local_root,
        &[&format!(
            "COPY (SELECT star_id, ra, dec FROM stars) TO '{}' STORED AS PARQUET",
            www.join("stars.parquet").display()
        )],
    );
    let web = common::static_files::StaticFiles::serve(&www);
    let remote = format!("p={}/stars.parquet", web.base);
    let sql = format!("SELECT star_id FROM p WHERE cone_contains(ra, dec, {centre}, 0.05)");
    let embedded = rows(&cat, None, &local_root, &["--table", &remote, &sql]);
    assert!(embedded.len() > 1, "{sql}: no row to compare");
    assert_eq!(
        embedded,
        rows(
            &cat,
            Some(&cluster.url),
            &cluster_root,
            &["--table", &remote, &sql]
        ),
        "{sql} on {remote}"
    );
    // The cone's HEALPix pruning is in the plan the cluster runs.
    let plan = run_ok(&[
        "query",
        "--format",
        "csv",
        "--catalog",
        cat.to_str().unwrap(),
        "--cluster",
        &cluster.url,
        &format!("EXPLAIN {cone}"),
    ]);
    assert!(
        plan.contains("ShuffleWriterExec") && plan.contains("healpix_max"),
        "{plan}"
    );
    // A plan Ballista 55 answers with no row is refused, not answered wrongly.
    let out = Command::new(bin())
        .args([
            "query",
            "--catalog",
            cat.to_str().unwrap(),
            "--cluster",
            &cluster.url,
        ])
        .arg(
            "SELECT * FROM (SELECT ra FROM stars ORDER BY star_id LIMIT 1) a, \
             (SELECT dec FROM stars ORDER BY star_id LIMIT 1) b",
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("known limits"),
        "{err}"
    );
    // A cutout written by an executor, under the executors' output root.
    let written = rows(
        &cat,
        Some(&cluster.url),
        &cluster_root,
        &[
            "SELECT cutout(path, ra_center, dec_center, 16, 'c/' || file_name) p FROM images \
           WHERE code = 'd' ORDER BY file_name LIMIT 2",
        ],
    );
    let first = written[0].replace("ROOT", cluster_root.to_str().unwrap());
    assert!(Path::new(&first).is_file(), "{written:?}");
    // Functions that build large values keep their limits on the executors, `||` too.
    let star = rows(
        &cat,
        None,
        &local_root,
        &["SELECT MIN(star_id) id FROM stars"],
    );
    let star = star.iter().find(|l| *l != "id").unwrap();
    let one_star = format!(
        "SELECT length(s || s || s) n FROM (SELECT repeat(star_id, 3000000) s FROM stars \
         WHERE star_id = '{star}')"
    );
    for (sql, words) in [
        (
            "SELECT length(repeat(star_id, 10000000)) n FROM stars",
            "repeat would build",
        ),
        (one_star.as_str(), "the || operator would build"),
    ] {
        let out = Command::new(bin())
            .args(["query", "--catalog", cat.to_str().unwrap()])
            .args(["--cluster", &cluster.url, sql])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(words), "{sql}: {err}");
    }
    // A table only the client can read (read whole, or a custom provider) is refused
    // before anything runs, naming what it is and how to convert it.
    let vot = tmp.path().join("list.vot");
    std::fs::write(
        &vot,
        "<?xml version=\"1.0\"?><VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\"><RESOURCE><TABLE><FIELD name=\"star_id\" datatype=\"char\" arraysize=\"*\"/><DATA><TABLEDATA><TR><TD>x</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["query", "--catalog", cat.to_str().unwrap()])
        .args(["--cluster", &cluster.url, "--table"])
        .arg(format!("list={}", vot.display()))
        .arg("SELECT count(*) FROM list")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("is a VOTable, which a cluster cannot read")
            && err.contains("--output list.parquet")
            && !err.contains("Internal error"),
        "{err}"
    );
    // The nodes say what happened: executors registering, jobs and their tasks.
    let scheduler_log = std::fs::read_to_string(tmp.path().join("cluster/scheduler.log")).unwrap();
    assert!(
        scheduler_log.contains("register executor") && scheduler_log.contains("job"),
        "{scheduler_log}"
    );
    let executor_log = std::fs::read_to_string(tmp.path().join("cluster/executor0.log")).unwrap();
    assert!(executor_log.contains("Execute task"), "{executor_log}");
}

#[test]
fn a_lost_executor_and_an_absent_scheduler() {
    let tmp = tempfile::tempdir().unwrap();
    let cat = catalogue(tmp.path());
    let root = tmp.path().join("p");
    // Nobody there: an error within seconds, not a hang.
    let port = free_port_pair().unwrap();
    let start = Instant::now();
    let out = Command::new(bin())
        .args(["query", "--catalog", cat.to_str().unwrap(), "--cluster"])
        .arg(format!("df://127.0.0.1:{port}"))
        .arg("SELECT count(*) FROM stars")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot reach the scheduler"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));

    let mut cluster = start_cluster(tmp.path(), 2);
    // A nested-loop join that runs for seconds; one executor is killed meanwhile.
    let long = "SELECT count(*) n FROM measurements a, stars b WHERE a.mag * b.x > 20000.0";
    let expected = rows(&cat, None, &root, &[long]);
    let mut query = KillOnDrop(Some(
        Command::new(bin())
            .args(["query", "--format", "csv", "--catalog"])
            .arg(&cat)
            .args(["--cluster", &cluster.url, long])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        query.0.as_mut().unwrap().try_wait().unwrap().is_none(),
        "the query ended before an executor was lost: make it longer"
    );
    cluster.kill_executor(1).unwrap();
    let out = query.0.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let mut got: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        got.sort();
        assert_eq!(got, expected, "completed on the remaining executor");
    } else {
        assert!(stderr.to_lowercase().contains("executor"), "{stderr}");
    }
    // The scheduler serves the next query on the executor left.
    let after = rows(
        &cat,
        Some(&cluster.url),
        &root,
        &["SELECT count(*) FROM stars"],
    );
    assert_eq!(
        after,
        rows(&cat, None, &root, &["SELECT count(*) FROM stars"])
    );
}

/// `GET path` on the service at `addr`: (status line, body).
fn http_get(addr: &str, path: &str) -> (String, String) {
    let (_, head, body) = request_at(addr, "GET", path, "", &[]);
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn the_service_runs_catalogue_queries_on_the_cluster() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let cat = catalogue(tmp.path());
    let cluster = start_cluster(tmp.path(), 2);
    let mut server = KillOnDrop(Some(
        Command::new(bin())
            .args(["serve", "--bind", "127.0.0.1:0", "--cluster", &cluster.url])
            .arg("--catalog")
            .arg(&cat)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let child = server.0.as_mut().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let start = line.find("http://").expect("the base URL") + "http://".len();
    let addr = line[start..].split('/').next().unwrap().to_string();
    let sync = |adql: &str| {
        let q: String = adql
            .bytes()
            .map(|b| match b {
                b' ' => "%20".to_string(),
                b'*' => "%2A".to_string(),
                _ => (b as char).to_string(),
            })
            .collect();
        http_get(
            &addr,
            &format!("/tap/sync?REQUEST=doQuery&LANG=ADQL&FORMAT=csv&QUERY={q}"),
        )
    };
    let embedded = rows(
        &cat,
        None,
        &tmp.path().join("p"),
        &["SELECT count(*) AS n FROM stars"],
    );
    let (status, body) = sync("SELECT COUNT(*) AS n FROM stars");
    assert!(status.contains("200"), "{status} {body}");
    assert_eq!(
        body.lines().nth(1),
        embedded.first().map(String::as_str),
        "{body}"
    );
    let (status, body) = sync("SELECT COUNT(*) AS n FROM TAP_SCHEMA.tables");
    assert!(
        status.contains("200") && body.lines().count() == 2,
        "{status} {body}"
    );
    // ObsCore's view reads an in-memory table too: it runs in the service, a row per star.
    let (status, body) =
        sync("SELECT COUNT(*) AS n FROM ivoa.obscore WHERE dataproduct_type = 'timeseries'");
    let stars_with_positions = rows(
        &cat,
        None,
        &tmp.path().join("o"),
        &["SELECT count(*) AS n FROM stars WHERE ra IS NOT NULL"],
    );
    assert!(status.contains("200"), "{status} {body}");
    assert_eq!(
        body.lines().nth(1),
        stars_with_positions.first().map(String::as_str),
        "{body}"
    );
    // Row rules are in the plan the scheduler receives: an anonymous caller counts, on
    // the cluster, the measurements outside the protected field (docs/ACCESS.md).
    catalog_verb(
        &cat,
        "protect",
        &["--where", "field = 'lm001'", "--until", "2099-01-01"],
    );
    let count = |sql: &str, dir: &str| rows(&cat, None, &tmp.path().join(dir), &[sql]);
    let visible = count(
        "SELECT count(*) AS n FROM measurements WHERE field <> 'lm001'",
        "v",
    );
    assert_ne!(
        visible,
        count("SELECT count(*) AS n FROM measurements", "a")
    );
    let (status, body) = sync("SELECT COUNT(*) AS n FROM measurements");
    assert!(status.contains("200"), "{status} {body}");
    assert_eq!(
        body.lines().nth(1),
        visible.first().map(String::as_str),
        "{body}"
    );
    // The other endpoints under the rule, the service on the cluster: an asynchronous
    // job, the cone search, DataLink's light curves and SODA.
    let (_, head, _) = request_at(
        &addr,
        "POST",
        "/tap/async",
        "LANG=ADQL&RESPONSEFORMAT=csv&PHASE=RUN&QUERY=SELECT%20COUNT(*)%20AS%20n%20FROM%20measurements",
        &[],
    );
    let job = header(&head, "location").expect("the job's location");
    let job = &job[job.find("/tap/async/").unwrap()..];
    let (status, document) = http_get(&addr, &format!("{job}?WAIT=60"));
    assert!(
        status.contains("200") && document.contains("COMPLETED"),
        "{document}"
    );
    let (_, result) = http_get(&addr, &format!("{job}/results/result"));
    assert_eq!(result.lines().nth(1), visible.first().map(String::as_str));
    // One value the CLI selects, embedded.
    let first = |sql: &str| {
        let out = run_ok(&[
            "query",
            "--format",
            "csv",
            "--catalog",
            cat.to_str().unwrap(),
            sql,
        ]);
        out.lines().nth(1).expect("a row").to_string()
    };
    let hidden_star =
        first("SELECT min(star_id) AS s FROM stars WHERE field = 'lm001' AND ra IS NOT NULL");
    let seen_star = first("SELECT min(star_id) AS s FROM stars WHERE field = 'lm055'");
    let seen_points = first(&format!(
        "SELECT count(*) AS n FROM measurements WHERE star_id = '{seen_star}'"
    ));
    let (status, _) = http_get(&addr, &format!("/datalink/lightcurve?ID={hidden_star}"));
    assert!(status.contains("404"), "{status}");
    let (status, curve) = http_get(
        &addr,
        &format!("/datalink/lightcurve?ID={seen_star}&RESPONSEFORMAT=csv"),
    );
    assert!(status.contains("200"), "{status} {curve}");
    assert_eq!((curve.lines().count() - 1).to_string(), seen_points);
    let position = first(&format!(
        "SELECT ra, dec FROM stars WHERE star_id = '{hidden_star}'"
    ));
    let (ra, dec) = position.split_once(',').unwrap();
    let (status, cone) = http_get(&addr, &format!("/scs/stars?RA={ra}&DEC={dec}&SR=0.01"));
    assert!(
        status.contains("200") && !cone.contains(&hidden_star),
        "{cone}"
    );
    let image = first("SELECT min(file_name) AS f FROM images WHERE field = 'lm001'");
    let (status, _) = http_get(
        &addr,
        &format!("/soda/sync?ID={image}&CIRCLE={ra}+{dec}+0.01"),
    );
    assert!(status.contains("404"), "{status}");
    // DataLink's image of a hidden image, and a table the caller uploads joined with the
    // stars (the upload's query runs in the service's own session): visible rows only.
    let (status, _) = http_get(&addr, &format!("/datalink/image?ID={image}"));
    assert!(status.contains("404"), "{status}");
    let list = format!("star_id\n{hidden_star}\n{seen_star}\n");
    let (status, _, joined) = multipart_at(
        &addr,
        "/tap/sync",
        &[
            ("LANG", "ADQL"),
            ("RESPONSEFORMAT", "csv"),
            ("UPLOAD", "mine,param:list"),
            (
                "QUERY",
                "SELECT u.star_id FROM TAP_UPLOAD.mine AS u JOIN stars AS s ON s.star_id = u.star_id",
            ),
        ],
        &[("list", &list)],
        &[],
    );
    assert_eq!(status, 200, "{joined}");
    assert_eq!(
        joined.lines().skip(1).collect::<Vec<_>>(),
        vec![seen_star.as_str()],
        "{joined}"
    );
    // An error raised while a query runs on the cluster comes from a visible row (the
    // plans the scheduler receives keep the query's conditions that may fail above the
    // rule's filter): its text is given.
    let (status, body) =
        sync("SELECT COUNT(*) AS n FROM images WHERE CAST(file_name AS INTEGER) = 0");
    assert!(
        !status.contains("200")
            && body.contains("Cannot cast")
            && !body.contains("withheld")
            && !body.contains("lm001"),
        "{status} {body}"
    );
    // A table granted to a group is not there for the others, in the cluster's session
    // too; the others' queries still run on the cluster (checked below, once it is gone).
    catalog_verb(&cat, "grant", &["--table", "eros2.inputs"]);
    let (status, body) = sync("SELECT COUNT(*) AS n FROM eros2.inputs");
    assert!(
        status.contains("400")
            && body.contains("no table")
            && !body.replace("eros2.inputs", "").contains("inputs"),
        "{status} {body}"
    );
    let (status, body) = sync("SELECT COUNT(*) AS n FROM stars");
    assert!(status.contains("200"), "{status} {body}");
    let visible_stars = count(
        "SELECT count(*) AS n FROM stars WHERE field <> 'lm001'",
        "s",
    );
    assert_eq!(
        body.lines().nth(1),
        visible_stars.first().map(String::as_str),
        "{body}"
    );
    // Without the cluster, the catalogue's queries fail and TAP_SCHEMA still answers: the
    // first ran on the cluster, the second here.
    drop(cluster);
    let (status, _) = sync("SELECT COUNT(*) AS n FROM stars");
    assert!(!status.contains("200"), "{status}");
    let (status, _) = sync("SELECT COUNT(*) AS n FROM TAP_SCHEMA.tables");
    assert!(status.contains("200"), "{status}");
}

#[test]
fn every_query_shape_of_the_leak_suite_keeps_the_rule_on_the_cluster() {
    use common::leak_suite::{
        FAILS_ON_HIDDEN, HIDDEN_FIELD, hidden_value_error, notes_table, rounded, rows, shapes,
        visible_only,
    };
    use skyql::access::row_rules::RowRules;
    use skyql::access::{Identity, RowFilter};
    use skyql::engine::{Engine, EngineOptions};

    let tmp = tempfile::tempdir().unwrap();
    let cat = catalogue(tmp.path());
    let condition = format!("field = '{HIDDEN_FIELD}'");
    catalog_verb(
        &cat,
        "protect",
        &["--where", &condition, "--until", "2099-01-01"],
    );
    let cluster = start_cluster(tmp.path(), 2);
    let open = |cluster: Option<String>| {
        Engine::open(
            Some(&cat),
            EngineOptions {
                read_only: true,
                cluster,
                ..EngineOptions::default()
            },
        )
        .unwrap()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let local = open(None);
        let expected_ctx = visible_only(&local).await;
        let remote = open(Some(cluster.url.clone()));
        let ctx = remote.session(&[]).await.unwrap();
        let rules = RowRules::read(&cat).unwrap();
        let anonymous = RowFilter::new(&rules, &Identity::anonymous(), 60_000.0);
        assert!(!anonymous.is_empty());
        let shapes = shapes(&local.session(&[]).await.unwrap()).await;
        let mut differs = 0;
        // Sums made in another order on the cluster differ in their last digits.
        for sql in &shapes {
            let expected = rounded(&rows(&expected_ctx, sql, None).await);
            let got = rounded(&rows(&ctx, sql, Some(&anonymous)).await);
            let wrong: Vec<_> = got.iter().filter(|l| !expected.contains(l)).collect();
            assert!(
                got.len() == expected.len() && wrong.is_empty(),
                "{sql}: {} rows for {}; not expected: {:?}",
                got.len(),
                expected.len(),
                &wrong[..wrong.len().min(3)]
            );
            differs += usize::from(rounded(&rows(&ctx, sql, None).await) != expected);
        }
        // The shapes are not vacuous on the cluster either.
        assert!(differs >= shapes.len() / 2, "{differs} of {}", shapes.len());

        // The barrier between the rule's filter and the query reaches the scheduler: a
        // condition that fails on the hidden rows only (a CSV table, whose rows the rule
        // and the query would otherwise test together) gives the visible rows.
        let with_notes = remote
            .session(&[notes_table(tmp.path(), "lm055")])
            .await
            .unwrap();
        let visible = rows(&with_notes, FAILS_ON_HIDDEN, Some(&anonymous)).await;
        assert!(visible.contains("| 40 "), "{visible}");
        hidden_value_error(&with_notes).await;
    });
}
