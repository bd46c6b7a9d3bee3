//! Access rights (docs/ACCESS.md): a catalogue of two fields with `lm001` embargoed for
//! the group `eros`. Every query shape, planned with the row rules of a caller from whom
//! the field is hidden, gives exactly the rows of the same query on a catalogue whose
//! tables hold only the visible rows; through the service, anonymous callers and users
//! outside the group see no row of the field on any endpoint, users in it see them, and
//! everyone sees them after the release date. UWS jobs belong to their creator. No
//! password or token reaches a log or an answer.

mod common;

use std::path::Path;

use base64::Engine as _;
use common::leak_suite::{self, rows, visible_only};
use common::server::{Server, header, q};
use common::{Skyql, two_field_survey};
use skyql::access::row_rules::RowRules;
use skyql::access::{Identity, RowFilter};
use skyql::engine::{Engine, EngineOptions};

const HIDDEN: &str = "field = 'lm001'";
const PASSWORD: &str = "alice-long-secret";

/// Protects lm001 until 2030-06-01 for `eros` with the command line.
fn protect(cat: &Path) {
    let out = Skyql::new(["catalog", "protect", "--where", HIDDEN])
        .args(["--until", "2030-06-01", "--groups", "eros"])
        .catalog(cat)
        .ok();
    assert!(out.contains("rule 1"), "{out}");
    let listed = Skyql::new(["catalog", "rules"]).catalog(cat).ok();
    assert!(
        listed.contains("field = 'lm001'") && listed.contains("eros"),
        "{listed}"
    );
}

/// The day the leak suites judge the rules at (before their release dates).
const RULES_DATE: &str = "2027-01-01";

/// The catalogue's engine, read-only, a session of it, and the row filter of a caller
/// under the catalogue's rules on [`RULES_DATE`].
async fn read_only_with_rules(
    cat: &Path,
) -> (
    Engine,
    datafusion::prelude::SessionContext,
    impl Fn(Identity) -> RowFilter,
) {
    let engine = Engine::open(
        Some(cat),
        EngineOptions {
            read_only: true,
            ..EngineOptions::default()
        },
    )
    .unwrap();
    let ctx = engine.session(&[]).await.unwrap();
    let rules = RowRules::read(cat).unwrap();
    let now = skyql::access::clock::parse_date(RULES_DATE).unwrap();
    (engine, ctx, move |who: Identity| {
        RowFilter::new(&rules, &who, now)
    })
}

#[test]
fn every_query_shape_gives_the_visible_rows_only() {
    let (_tmp, _raw, cat) = two_field_survey();
    protect(&cat);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (engine, ctx, filter) = read_only_with_rules(&cat).await;
        let expected_ctx = visible_only(&engine).await;
        let outsider = filter(Identity::user("bob", &["macho".into()]));
        let anonymous = filter(Identity::anonymous());
        let member = filter(Identity::user("alice", &["eros".into()]));
        let rules = RowRules::read(&cat).unwrap();
        let now = skyql::access::clock::parse_date(RULES_DATE).unwrap();
        let released = RowFilter::new(&rules, &Identity::anonymous(), now + 3650.0);
        assert!(member.is_empty() && released.is_empty());
        assert!(!anonymous.is_empty() && !outsider.is_empty());

        let shapes = leak_suite::shapes(&ctx).await;
        for sql in &shapes {
            let expected = rows(&expected_ctx, sql, None).await;
            for (who, filter) in [("anonymous", &anonymous), ("bob", &outsider)] {
                assert_eq!(
                    rows(&ctx, sql, Some(filter)).await,
                    expected,
                    "{who}: {sql}"
                );
            }
            let everything = rows(&ctx, sql, None).await;
            assert_eq!(
                rows(&ctx, sql, Some(&member)).await,
                everything,
                "alice: {sql}"
            );
            assert_eq!(
                rows(&ctx, sql, Some(&released)).await,
                everything,
                "released: {sql}"
            );
        }
        // The shapes are not vacuous: the field hides rows from most of them.
        let differs = |sql: &'static str| {
            let (ctx, expected_ctx) = (&ctx, &expected_ctx);
            async move { rows(ctx, sql, None).await != rows(expected_ctx, sql, None).await }
        };
        assert!(differs("SELECT count(*) FROM measurements").await);
        assert!(differs("SELECT sum(n) FROM measurement_counts").await);
        // EXPLAIN ANALYZE (whose counts would include the hidden rows) is refused.
        let analyzed = ctx
            .sql("EXPLAIN ANALYZE SELECT count(*) FROM measurements")
            .await
            .unwrap();
        let refused = anonymous.restrict_frame(analyzed).unwrap_err().to_string();
        assert!(refused.contains("EXPLAIN ANALYZE"), "{refused}");
        // EXPLAIN shows the plan with the rule's filter, not a plan without it.
        let explained = rows(
            &ctx,
            "EXPLAIN SELECT count(*) FROM measurements",
            Some(&anonymous),
        )
        .await;
        assert!(explained.contains("lm001"), "{explained}");
        assert!(
            !rows(&ctx, "EXPLAIN SELECT count(*) FROM measurements", None)
                .await
                .contains("lm001")
        );

        // EXPLAIN of a view over a table hidden from the caller would name the table (the
        // columns of the empty relation standing for its scan): refused; a plain query
        // of the view reads no row of it.
        let images = ctx.table("images").await.unwrap();
        ctx.register_table("images_view", images.into_view())
            .unwrap();
        let provider = ctx.table_provider("images").await.unwrap();
        let hidden_images = anonymous.hiding_tables(std::sync::Arc::new(
            [skyql::access::row_filter::provider_address(&provider)].into(),
        ));
        let explain = ctx
            .sql("EXPLAIN SELECT count(*) FROM images_view")
            .await
            .unwrap();
        let refused = hidden_images
            .restrict_frame(explain)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("not offered"), "{refused}");
        let counted = rows(
            &ctx,
            "SELECT count(*) AS n FROM images_view",
            Some(&hidden_images),
        )
        .await;
        assert!(counted.contains("| 0 "), "{counted}");
        let explained = rows(
            &ctx,
            "EXPLAIN SELECT count(*) FROM images_view",
            Some(&anonymous),
        )
        .await;
        assert!(explained.contains("lm001"), "{explained}");

        // A condition that fails on the hidden rows only, on a table the rule's filter
        // does not prune: it is evaluated above the rule's filter, so that a caller
        // without the right gets the visible rows, where one with it gets the error.
        let notes = leak_suite::notes_table(_tmp.path(), "lm002");
        let with_notes = engine.session(&[notes]).await.unwrap();
        for who in [&anonymous, &outsider] {
            let visible = rows(&with_notes, leak_suite::FAILS_ON_HIDDEN, Some(who)).await;
            assert!(visible.contains("| 40 "), "{visible}");
        }
        leak_suite::hidden_value_error(&with_notes).await;
        // Conditions that cannot fail still reach the scan under the rule (pruning).
        let pruned = rows(
            &ctx,
            "EXPLAIN SELECT count(*) FROM images WHERE ccd = 3 AND file_name LIKE 'x%'",
            Some(&anonymous),
        )
        .await;
        let scan = scan_line(&pruned);
        assert!(
            scan.contains("ccd@") && scan.contains("lm001") && !pruned.contains("VisibleRowsExec"),
            "{pruned}"
        );
        // A cone keeps its HEALPix ranges in the scan's predicate.
        let centre = &common::query_csv(
            &cat,
            "SELECT ra, dec FROM stars WHERE field <> 'lm001' AND ra IS NOT NULL LIMIT 1",
        )[0];
        let cone = rows(
            &ctx,
            &format!(
                "EXPLAIN SELECT count(*) FROM stars WHERE cone_contains(ra, dec, {}, {}, 0.1)",
                centre["ra"], centre["dec"]
            ),
            Some(&anonymous),
        )
        .await;
        let scan = scan_line(&cone);
        assert!(
            scan.contains("healpix@") && scan.contains("cone_contains"),
            "{cone}"
        );
    });
}

#[test]
fn a_rule_on_columns_no_table_has_or_that_is_not_a_condition_is_refused() {
    let (_tmp, _raw, cat) = two_field_survey();
    for (condition, why) in [
        (
            "nonexistent_column = 1",
            "no table of the catalogue can take this rule",
        ),
        ("field", "not true or false"),
        ("random() < 0.5", "not the same at every evaluation"),
        // A subquery names a table, which a condition on a row cannot.
        ("field IN (SELECT field FROM fields)", "not found"),
        ("true", "names no column"),
    ] {
        let e = Skyql::new(["catalog", "protect", "--where", condition])
            .args(["--until", "2030-06-01", "--groups", "eros"])
            .catalog(&cat)
            .fails();
        assert!(e.contains(why), "{condition}: {e}");
    }
    let e = Skyql::new(["catalog", "protect", "--where", HIDDEN])
        .args(["--until", "June", "--groups", "eros"])
        .catalog(&cat)
        .fails();
    assert!(e.contains("not a date"), "{e}");
    assert!(!cat.join("access.toml").exists());
    let e = Skyql::new(["catalog", "unprotect", "--id", "7"])
        .catalog(&cat)
        .fails();
    assert!(e.contains("no access rule or grant 7"), "{e}");
    // A rule on a column the summaries of the measurements lack cannot filter them: their
    // summary columns are withheld, and `protect` says so; a rule on `field` applies to
    // them all.
    for (condition, said_so) in [("mjd > 51000", true), (HIDDEN, false)] {
        let out = Skyql::new(["catalog", "protect", "--where", condition])
            .args(["--until", "2030-06-01", "--groups", "eros"])
            .catalog(&cat)
            .output();
        assert!(out.status.success());
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            said.contains("measurement_counts summarizes measurements")
                && said.contains("its n_r, n_b, mean_mag_r, mean_mag_b are withheld"),
            said_so,
            "{condition}: {said}"
        );
    }
}

/// Adds `name` in `groups` with the password `secret` to the users file `file`.
fn add_user(file: &Path, name: &str, groups: &str, secret: &str) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_skyql"))
        .args(["users", "add", name, "--groups", groups, "--file"])
        .arg(file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{secret}").unwrap();
    assert!(child.wait().unwrap().success());
}

/// The users file of the service's tests: alice in `eros` with a password and a token,
/// bob in `macho`.
fn users(dir: &Path) -> (std::path::PathBuf, String) {
    let file = dir.join("users.toml");
    add_user(&file, "alice", "eros", PASSWORD);
    add_user(&file, "bob", "macho", "bob-long-secret");
    let token = Skyql::new(["users", "token", "alice", "--expires", "2d", "--file"])
        .args([&file])
        .ok()
        .trim()
        .to_string();
    assert!(token.starts_with("skyql_"), "{token}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(PASSWORD) && !text.contains(&token));
    (file, token)
}

/// The measurements of `cat` counted by the CLI: all of them, and those outside lm001.
fn measurement_counts(cat: &Path) -> (String, String) {
    let count = |sql: &str| common::query_csv(cat, sql)[0]["n"].clone();
    (
        count("SELECT count(*) AS n FROM measurements"),
        count("SELECT count(*) AS n FROM measurements WHERE field <> 'lm001'"),
    )
}

/// The service on `cat` with the test's users file (written in `dir`), and alice's
/// token.
fn served_with_users(dir: &Path, cat: &Path) -> (Server, String) {
    let (users_file, token) = users(dir);
    let config = format!("users_file = {:?}\n", users_file.to_str().unwrap());
    (Server::start(cat, Some(&config)), token)
}

fn basic(name: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{name}:{password}"))
    )
}

/// A TAP CSV answer's status and text.
fn tap_answer(server: &Server, adql: &str, auth: Option<&str>) -> (u16, String) {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
    let (status, _, body) = server.request_with_headers(
        "POST",
        "/tap/sync",
        &format!("LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}", q(adql)),
        &headers,
    );
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A TAP CSV answer's rows (without the header), sorted, and the status.
fn tap(server: &Server, adql: &str, auth: Option<&str>) -> (u16, Vec<String>) {
    let (status, body) = tap_answer(server, adql, auth);
    let mut lines: Vec<String> = body.lines().skip(1).map(str::to_string).collect();
    lines.sort();
    (status, lines)
}

fn get(server: &Server, path: &str, auth: Option<&str>) -> (u16, String, String) {
    let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
    let (status, head, body) = server.request_with_headers("GET", path, "", &headers);
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn through_the_service_only_the_group_sees_the_embargoed_field_until_its_release() {
    let (tmp, _raw, cat) = two_field_survey();
    protect(&cat);
    let (users_file, token) = users(tmp.path());
    let config = format!("users_file = {:?}\n", users_file.to_str().unwrap());
    let server = Server::start(&cat, Some(&config));
    let alice = basic("alice", PASSWORD);
    let bob = basic("bob", "bob-long-secret");
    let bearer = format!("Bearer {token}");
    let lm001_star = common::query_csv(
        &cat,
        "SELECT star_id FROM stars WHERE field = 'lm001' ORDER BY star_id LIMIT 1",
    )[0]["star_id"]
        .clone();
    let lm001_image = common::query_csv(
        &cat,
        "SELECT file_name FROM images WHERE field = 'lm001' ORDER BY file_name LIMIT 1",
    )[0]["file_name"]
        .clone();
    let (ra, dec) = {
        let r = &common::query_csv(
            &cat,
            &format!("SELECT ra, dec FROM stars WHERE star_id = '{lm001_star}'"),
        )[0];
        (r["ra"].clone(), r["dec"].clone())
    };
    let (count_all, count_visible) = measurement_counts(&cat);
    assert_ne!(count_all, count_visible);

    // TAP sync: the counts (from the summary), the field's own rows.
    let counted = "SELECT COUNT(*) AS n FROM eros2.measurements";
    assert_eq!(
        tap(&server, counted, None),
        (200, vec![count_visible.clone()])
    );
    assert_eq!(
        tap(&server, counted, Some(&bob)),
        (200, vec![count_visible.clone()])
    );
    assert_eq!(
        tap(&server, counted, Some(&alice)),
        (200, vec![count_all.clone()])
    );
    assert_eq!(
        tap(&server, counted, Some(&bearer)),
        (200, vec![count_all.clone()])
    );
    let star = format!("SELECT star_id FROM eros2.stars WHERE star_id = '{lm001_star}'");
    assert_eq!(tap(&server, &star, None).1.len(), 0);
    assert_eq!(
        tap(&server, &star, Some(&alice)).1,
        vec![lm001_star.clone()]
    );
    let cone = format!(
        "SELECT star_id FROM eros2.stars WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, 0.001))"
    );
    assert_eq!(tap(&server, &cone, None).1.len(), 0);
    assert!(tap(&server, &cone, Some(&alice)).1.contains(&lm001_star));

    // Simple Cone Search, DataLink, the light curve, SODA.
    let scs = format!("/scs/stars?RA={ra}&DEC={dec}&SR=0.001");
    assert!(!get(&server, &scs, None).2.contains(&lm001_star));
    assert!(get(&server, &scs, Some(&alice)).2.contains(&lm001_star));
    let links = format!("/datalink/links?ID={lm001_star}");
    let (_, _, anonymous_links) = get(&server, &links, None);
    assert!(anonymous_links.contains("NotFoundFault") && !anonymous_links.contains("lightcurve?"));
    assert!(get(&server, &links, Some(&alice)).2.contains("lightcurve?"));
    let curve = format!("/datalink/lightcurve?ID={lm001_star}");
    assert_eq!(get(&server, &curve, Some(&bob)).0, 404);
    assert_eq!(get(&server, &curve, Some(&alice)).0, 200);
    let plot = format!("/datalink/plot?ID={lm001_star}&FORMAT=svg");
    assert_eq!(get(&server, &plot, None).0, 404);
    let cutout = format!("/soda/sync?ID={lm001_image}&CIRCLE={ra}+{dec}+0.001");
    assert_eq!(get(&server, &cutout, None).0, 404);
    let image = format!("/datalink/image?ID={lm001_image}");
    assert_eq!(get(&server, &image, None).0, 404);
    assert_eq!(get(&server, &image, Some(&alice)).0, 200);

    // A table the caller uploads, joined with a protected one: the caller's rows only.
    let visible_star = common::query_csv(
        &cat,
        "SELECT star_id FROM stars WHERE field <> 'lm001' ORDER BY star_id LIMIT 1",
    )[0]["star_id"]
        .clone();
    let list = format!("star_id\n{lm001_star}\n{visible_star}\n");
    let joined = "SELECT u.star_id FROM TAP_UPLOAD.mine AS u \
        JOIN eros2.stars AS s ON s.star_id = u.star_id ORDER BY 1";
    let uploaded = |auth: Option<&str>| {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let (status, _, body) = server.multipart_with_headers(
            "/tap/sync",
            &[
                ("LANG", "ADQL"),
                ("RESPONSEFORMAT", "csv"),
                ("UPLOAD", "mine,param:list"),
                ("QUERY", joined),
            ],
            &[("list", &list)],
            &headers,
        );
        assert_eq!(status, 200, "{body}");
        body.lines().skip(1).map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(uploaded(None), vec![visible_star.clone()]);
    assert_eq!(uploaded(Some(&bob)), vec![visible_star.clone()]);
    let mut both = vec![lm001_star.clone(), visible_star.clone()];
    both.sort();
    assert_eq!(uploaded(Some(&alice)), both);

    // An error raised while a query ran comes from a visible row: the query's conditions
    // that may fail are evaluated above the rule's filter (docs/ACCESS.md, "Errors").
    let failing = "SELECT COUNT(*) AS n FROM eros2.images WHERE CAST(file_name AS INTEGER) = 0";
    let (_, _, anonymous_error) = server.request_with_headers(
        "POST",
        "/tap/sync",
        &format!("LANG=ADQL&QUERY={}", q(failing)),
        &[],
    );
    let anonymous_error = String::from_utf8_lossy(&anonymous_error).into_owned();
    assert!(
        anonymous_error.contains("Cannot cast")
            && !anonymous_error.contains("withheld")
            && !anonymous_error.contains("lm001"),
        "{anonymous_error}"
    );
    let (_, _, alice_error) = server.request_with_headers(
        "POST",
        "/tap/sync",
        &format!("LANG=ADQL&QUERY={}", q(failing)),
        &[("Authorization", alice.as_str())],
    );
    assert!(!String::from_utf8_lossy(&alice_error).contains("withheld"));

    // Who answered: x-vo-authenticated; challenges on a refusal; capabilities.
    let (_, head, _) = get(&server, "/tap/availability", Some(&alice));
    assert!(
        head.to_ascii_lowercase()
            .contains("x-vo-authenticated: alice"),
        "{head}"
    );
    let (status, head, _) = get(
        &server,
        "/tap/availability",
        Some(&basic("alice", "wrong-password")),
    );
    assert_eq!(status, 401);
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("www-authenticate: basic") && lower.contains("www-authenticate: bearer"),
        "{head}"
    );
    let (_, _, capabilities) = get(&server, "/tap/capabilities", None);
    assert!(
        capabilities.contains("ivo://ivoa.net/sso#BasicAA")
            && capabilities.contains("<securityMethod/>")
    );

    // UWS: a job belongs to its creator.
    let (status, head, _) = server.request_with_headers(
        "POST",
        "/tap/async",
        &format!(
            "LANG=ADQL&RESPONSEFORMAT=csv&PHASE=RUN&QUERY={}",
            q(counted)
        ),
        &[("Authorization", alice.as_str())],
    );
    assert_eq!(status, 303, "{head}");
    let location = header(&head, "location").unwrap();
    let job = location[location.find("/tap/async/").unwrap()..].to_string();
    assert_eq!(
        job.len(),
        "/tap/async/".len() + 32,
        "128 random bits: {job}"
    );
    for other in [Some(bob.as_str()), None] {
        assert_eq!(get(&server, &job, other).0, 404);
        assert_eq!(get(&server, &format!("{job}/phase"), other).0, 404);
        let (status, _, _) =
            server.request_with_headers("DELETE", &job, "", &[("Authorization", bob.as_str())]);
        assert_eq!(status, 404);
        assert!(!get(&server, "/tap/async", other).2.contains(&job[11..]));
    }
    let (_, _, document) = get(&server, &format!("{job}?WAIT=30"), Some(&alice));
    assert!(
        document.contains("<uws:ownerId>alice</uws:ownerId>"),
        "{document}"
    );
    assert!(document.contains("COMPLETED"), "{document}");
    assert!(
        get(&server, "/tap/async", Some(&alice))
            .2
            .contains(&job[11..])
    );
    let (_, _, result) = get(&server, &format!("{job}/results/result"), Some(&alice));
    assert_eq!(result.lines().nth(1), Some(count_all.as_str()));

    // Failed sign-ins are slowed: beyond five from one address (one wrong password
    // above), 429 with Retry-After, even for the right password, until the window has
    // passed.
    for _ in 0..4 {
        assert_eq!(
            get(
                &server,
                "/tap/availability",
                Some(&basic("bob", "guess-guess"))
            )
            .0,
            401
        );
    }
    let (status, head, _) = get(&server, "/tap/availability", Some(&bob));
    assert_eq!(status, 429, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after"));

    // Nothing secret in the log.
    let log = server.log.lock().unwrap().join("\n");
    assert!(!log.contains(PASSWORD) && !log.contains(&token), "{log}");
    drop(server);

    // After the release date everyone sees the field.
    let server = Server::start_with_env(&cat, Some(&config), &[], &[("SKYQL_NOW", "2030-06-02")]);
    assert_eq!(tap(&server, counted, None), (200, vec![count_all.clone()]));
    let log = server.log.lock().unwrap().join("\n");
    assert!(!log.contains(PASSWORD) && !log.contains(&token), "{log}");
}

#[test]
fn reference_images_a_rule_hides_are_not_offered_with_a_visible_star() {
    let (tmp, _raw, cat) = two_field_survey();
    // The reference images (code d) of lm035 only: its stars stay public.
    Skyql::new([
        "catalog",
        "protect",
        "--where",
        "field = 'lm035' AND code = 'd'",
    ])
    .args(["--until", "2030-06-01", "--groups", "eros"])
    .catalog(&cat)
    .ok();
    let (server, _) = served_with_users(tmp.path(), &cat);
    let star = common::query_csv(
        &cat,
        "SELECT star_id FROM stars WHERE field = 'lm035' ORDER BY star_id LIMIT 1",
    )[0]["star_id"]
        .clone();
    let links = format!("/datalink/links?ID={star}");
    let (_, _, anonymous) = get(&server, &links, None);
    assert!(anonymous.contains("lightcurve?"), "{anonymous}");
    assert!(!anonymous.contains("reference-image"), "{anonymous}");
    let (_, _, alice) = get(&server, &links, Some(&basic("alice", PASSWORD)));
    assert!(alice.contains("reference-image"), "{alice}");
}

#[test]
fn callers_are_limited_and_audited_by_their_forwarded_address() {
    let (tmp, _raw, cat) = two_field_survey();
    let (users_file, _) = users(tmp.path());
    let audit = tmp.path().join("audit.jsonl");
    let config = format!(
        "users_file = {:?}\naudit_log = {:?}\nrequests_per_minute = 4\ntrusted_proxies = [\"127.0.0.1\"]\n",
        users_file.to_str().unwrap(),
        audit.to_str().unwrap()
    );
    let server = Server::start(&cat, Some(&config));
    let alice = basic("alice", PASSWORD);
    let counted = "SELECT COUNT(*) AS n FROM eros2.stars";
    for _ in 0..4 {
        assert_eq!(tap(&server, counted, Some(&alice)).0, 200);
    }
    let (status, head, _) = server.request_with_headers(
        "GET",
        "/tap/availability",
        "",
        &[("Authorization", alice.as_str())],
    );
    assert_eq!(status, 429, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
    // Another caller (an address forwarded by the trusted proxy) has their own count.
    let (status, _, _) = server.request_with_headers(
        "GET",
        "/tap/availability",
        "",
        &[("X-Forwarded-For", "198.51.100.7, 203.0.113.9")],
    );
    assert_eq!(status, 200);
    drop(server);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert_eq!(lines[0]["user"], "alice");
    assert_eq!(lines[0]["path"], "/tap/sync");
    assert_eq!(lines[0]["rows"], 1);
    assert_eq!(lines[0]["query_sha256"].as_str().map(str::len), Some(64));
    assert_eq!(lines[4]["status"], 429);
    assert_eq!(lines[5]["address"], "203.0.113.9");
    assert!(lines[5]["user"].is_null());
    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(
        !text.contains(PASSWORD) && !text.contains("COUNT"),
        "{text}"
    );
}

#[test]
fn a_service_without_anonymous_access_asks_everyone_to_sign_in() {
    let (tmp, _raw, cat) = two_field_survey();
    let (users_file, token) = users(tmp.path());
    let config = format!(
        "users_file = {:?}\nanonymous = false\n",
        users_file.to_str().unwrap()
    );
    let server = Server::start(&cat, Some(&config));
    let counted = "SELECT COUNT(*) AS n FROM eros2.stars";
    assert_eq!(tap(&server, counted, None).0, 401);
    assert_eq!(get(&server, "/scs/stars?RA=0&DEC=0&SR=0.1", None).0, 401);
    assert_eq!(get(&server, "/tap/capabilities", None).0, 200);
    assert_eq!(
        tap(&server, counted, Some(&format!("Bearer {token}"))).0,
        200
    );
    let revoked = Skyql::new(["users", "revoke", "--token", &token, "--file"])
        .args([&users_file])
        .ok();
    assert!(revoked.contains("revoked"), "{revoked}");
    assert_eq!(
        tap(&server, counted, Some(&format!("Bearer {token}"))).0,
        401
    );
}

/// The `Set-Cookie` header of an answer's head, without its name.
fn set_cookie(head: &str) -> Option<String> {
    header(head, "set-cookie")
}

#[test]
fn a_password_is_exchanged_at_login_for_a_cookie_that_signs_in_until_logout_or_a_change() {
    let (tmp, _raw, cat) = two_field_survey();
    protect(&cat);
    let (users_file, token) = users(tmp.path());
    let config = format!("users_file = {:?}\n", users_file.to_str().unwrap());
    let server = Server::start(&cat, Some(&config));
    let (count_all, count_visible) = measurement_counts(&cat);
    let counted = "SELECT COUNT(*) AS n FROM eros2.measurements";
    let alice = basic("alice", PASSWORD);

    // The challenges say where and how to get the cookie, with the capabilities too.
    let challenge = format!(
        "www-authenticate: ivoa_cookie standard_id=\"ivo://ivoa.net/sso#basicaa\", access_url=\"http://{}/login\"",
        server.addr
    );
    let (status, head, capabilities) = get(&server, "/tap/capabilities", None);
    assert_eq!(status, 200);
    assert!(head.to_ascii_lowercase().contains(&challenge), "{head}");
    assert!(capabilities.contains("ivo://ivoa.net/sso#cookie"));
    let (status, head, _) = get(&server, "/login", None);
    assert_eq!(status, 401);
    assert!(head.to_ascii_lowercase().contains(&challenge), "{head}");
    // Only a password opens a session: not a token.
    assert_eq!(
        get(&server, "/login", Some(&format!("Bearer {token}"))).0,
        401
    );

    let login = || {
        let (status, head, body) = get(&server, "/login", Some(&alice));
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Signed in as alice"), "{body}");
        let cookie = set_cookie(&head).expect("a cookie");
        for attribute in ["HttpOnly", "SameSite=Strict", "Max-Age=43200", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(
            !cookie.contains("Secure"),
            "plain HTTP on loopback: {cookie}"
        );
        cookie.split(';').next().unwrap().to_string()
    };
    let first = login();
    let second = login();
    assert!(first.starts_with("skyql_session_") && first != second);
    let with_cookie = |cookie: &str| {
        let (status, head, body) = server.request_with_headers(
            "POST",
            "/tap/sync",
            &format!("LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}", q(counted)),
            &[("Cookie", cookie)],
        );
        let body = String::from_utf8_lossy(&body).into_owned();
        (status, head, body.lines().nth(1).map(str::to_string))
    };
    // The same password posted in a form (SSO's tls-with-password, as STILTS sends it),
    // which the challenges name too; a wrong one is a failed sign-in.
    let form_challenge = challenge.replace("#basicaa", "#tls-with-password");
    assert!(
        head.to_ascii_lowercase().contains(&form_challenge),
        "{head}"
    );
    let posted = |form: &str| {
        let (status, head, body) = server.request_with_headers("POST", "/login", form, &[]);
        (
            status,
            set_cookie(&head),
            String::from_utf8_lossy(&body).into_owned(),
        )
    };
    let (status, cookie, body) = posted(&format!("username=alice&password={}", q(PASSWORD)));
    assert!(
        status == 200 && body.contains("Signed in as alice"),
        "{body}"
    );
    let from_form = cookie
        .expect("a cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (status, _, n) = with_cookie(&from_form);
    assert_eq!((status, n), (200, Some(count_all.clone())));
    let (status, cookie, _) = posted("username=alice&password=not-her-password");
    assert!(status == 401 && cookie.is_none());
    // Posted by another site's page (login cross-site request forgery): refused.
    let form = format!("username=alice&password={}", q(PASSWORD));
    for header in [
        ("Origin", "https://elsewhere.example"),
        ("Sec-Fetch-Site", "cross-site"),
    ] {
        let (status, head, _) = server.request_with_headers("POST", "/login", &form, &[header]);
        assert!(status == 403 && set_cookie(&head).is_none(), "{header:?}");
    }
    let own = format!("http://{}", server.addr);
    let (status, head, _) =
        server.request_with_headers("POST", "/login", &form, &[("Origin", &own)]);
    assert!(status == 200 && set_cookie(&head).is_some());
    assert_eq!(posted("username=alice").0, 400);
    let (status, head, n) = with_cookie(&format!("theme=dark; {first}"));
    assert_eq!((status, n.as_deref()), (200, Some(count_all.as_str())));
    assert!(
        head.to_ascii_lowercase()
            .contains("x-vo-authenticated: alice")
    );
    assert_eq!(tap(&server, counted, None), (200, vec![count_visible]));

    // An unknown cookie is refused and forgotten, and is no failed sign-in: more than
    // five do not slow the address down.
    let name = first.split('=').next().unwrap();
    for _ in 0..7 {
        let (status, head, _) = with_cookie(&format!("{name}={}", "0".repeat(64)));
        assert_eq!(status, 401);
        assert!(set_cookie(&head).unwrap().contains("Max-Age=0"), "{head}");
    }
    assert_eq!(get(&server, "/tap/availability", Some(&alice)).0, 200);

    // Logout ends one session; a new password ends the others; so does removing the
    // user.
    let (status, head, body) =
        server.request_with_headers("POST", "/logout", "", &[("Cookie", first.as_str())]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(set_cookie(&head).unwrap().contains("Max-Age=0"));
    assert_eq!(with_cookie(&first).0, 401);
    assert_eq!(with_cookie(&second).0, 200);
    let new_password = "alice-new-long-secret";
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_skyql"))
        .args([
            "users", "add", "alice", "--update", "--groups", "eros", "--file",
        ])
        .arg(&users_file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{new_password}").unwrap();
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(with_cookie(&second).0, 401);
    let (status, head, _) = get(&server, "/login", Some(&basic("alice", new_password)));
    assert_eq!(status, 200);
    let third = set_cookie(&head)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(with_cookie(&third).0, 200);
    Skyql::new(["users", "revoke", "alice", "--file"])
        .args([&users_file])
        .ok();
    assert_eq!(with_cookie(&third).0, 401);

    let log = server.log.lock().unwrap().join("\n");
    for secret in [PASSWORD, new_password, &token]
        .into_iter()
        .chain([&first, &second, &third].map(|c| &c[name.len() + 1..]))
    {
        assert!(!log.contains(secret), "{log}");
    }
}

#[test]
fn a_table_granted_to_a_group_does_not_exist_for_anyone_else() {
    let (tmp, _raw, cat) = two_field_survey();
    for table in ["eros2.images", "eros2.inputs"] {
        let out = Skyql::new(["catalog", "grant", "--table", table, "--groups", "eros"])
            .catalog(&cat)
            .ok();
        assert!(out.contains(&format!("{table} read by eros only")), "{out}");
    }
    // A misspelt table of the catalogue, or TAP_SCHEMA, is refused.
    let wrong = Skyql::new([
        "catalog",
        "grant",
        "--table",
        "eros2.imagez",
        "--groups",
        "eros",
    ])
    .catalog(&cat)
    .fails();
    assert!(
        wrong.contains("no such table") && wrong.contains("images"),
        "{wrong}"
    );
    let meta = Skyql::new(["catalog", "grant", "--table", "tap_schema.tables"])
        .args(["--groups", "eros"])
        .catalog(&cat)
        .fails();
    assert!(meta.contains("tap_schema"), "{meta}");
    let listed = Skyql::new(["catalog", "rules"]).catalog(&cat).ok();
    assert!(
        listed.contains("grant eros2.images  groups eros"),
        "{listed}"
    );

    let (server, _) = served_with_users(tmp.path(), &cat);
    let alice = basic("alice", PASSWORD);
    let bob = basic("bob", "bob-long-secret");
    let image_count = common::query_csv(&cat, "SELECT count(*) AS n FROM images")[0]["n"].clone();
    let an_image =
        common::query_csv(&cat, "SELECT min(file_name) AS f FROM images")[0]["f"].clone();
    let body = |adql: &str, auth: Option<&str>| tap_answer(&server, adql, auth);

    for outsider in [None, Some(bob.as_str())] {
        // The table's names (published and bare) answer as a name that does not exist, and
        // no error or hint names it.
        let (status, missing) = body("SELECT COUNT(*) FROM eros2.nosuch", outsider);
        assert_eq!(status, 400, "{missing}");
        for (query, typed) in [
            ("SELECT COUNT(*) FROM eros2.images", "eros2.images"),
            ("SELECT COUNT(*) FROM images", "images"),
            ("SELECT * FROM eros2.image", "eros2.image"),
            ("SELECT * FROM eros2.input", "eros2.input"),
        ] {
            let (status, error) = body(query, outsider);
            assert_eq!(status, 400, "{query}: {error}");
            let rest = error.replace(typed, "");
            assert!(
                !rest.contains("images") && !rest.contains("inputs"),
                "{query}: {error}"
            );
            assert_eq!(
                error
                    .replace(typed, "eros2.nosuch")
                    .replace("did you mean", ""),
                missing.replace("did you mean", ""),
                "{query}: the error differs from a missing table's"
            );
        }
        // TAP_SCHEMA and the VOSI tables describe the others only.
        let (_, described) = body(
            "SELECT table_name FROM tap_schema.tables UNION ALL SELECT table_name FROM tap_schema.columns",
            outsider,
        );
        assert!(described.contains("eros2.stars"), "{described}");
        assert!(
            !described.contains("eros2.images") && !described.contains("eros2.inputs"),
            "{described}"
        );
        let (_, _, tableset) = get(&server, "/tap/tables", outsider);
        assert!(tableset.contains("eros2.stars") && !tableset.contains("eros2.images"));
        assert_eq!(get(&server, "/tap/tables/eros2.images", outsider).0, 404);
        // A visible view reads no row of them, and DataLink finds none of the images.
        let obscore = "SELECT COUNT(*) AS n FROM ivoa.obscore WHERE dataproduct_type = 'image'";
        assert_eq!(
            tap(&server, obscore, outsider),
            (200, vec!["0".to_string()])
        );
        // TAP takes SELECT only: no EXPLAIN names them (the rule of EXPLAIN over a view
        // of hidden tables is checked in `every_query_shape_gives_the_visible_rows_only`).
        let (status, explained) = body("EXPLAIN SELECT COUNT(*) FROM ivoa.obscore", outsider);
        assert!(
            status == 400 && !explained.contains("images"),
            "{status} {explained}"
        );
        let (_, _, links) = get(&server, &format!("/datalink/links?ID={an_image}"), outsider);
        assert!(links.contains("NotFoundFault"), "{links}");
    }
    // The group reads them.
    assert_eq!(
        tap(
            &server,
            "SELECT COUNT(*) AS n FROM eros2.images",
            Some(&alice)
        ),
        (200, vec![image_count])
    );
    let obscore = "SELECT COUNT(*) AS n FROM ivoa.obscore WHERE dataproduct_type = 'image'";
    let (status, seen) = tap(&server, obscore, Some(&alice));
    assert!(status == 200 && seen != ["0"], "{seen:?}");
    let (_, _, tableset) = get(&server, "/tap/tables", Some(&alice));
    assert!(tableset.contains("eros2.images") && tableset.contains("eros2.inputs"));

    // A grant on a view of several tables hides the view, not the tables it reads.
    Skyql::new([
        "catalog",
        "grant",
        "--table",
        "ivoa.obscore",
        "--groups",
        "eros",
    ])
    .catalog(&cat)
    .ok();
    let stars = common::query_csv(&cat, "SELECT count(*) AS n FROM stars")[0]["n"].clone();
    let counted = "SELECT COUNT(*) AS n FROM eros2.stars";
    assert_eq!(tap(&server, counted, Some(&bob)), (200, vec![stars]));
    assert_eq!(
        tap(&server, "SELECT COUNT(*) FROM ivoa.obscore", Some(&bob)).0,
        400
    );
    let (_, _, capabilities) = get(&server, "/tap/capabilities", Some(&bob));
    assert!(
        !capabilities.to_ascii_lowercase().contains("obscore"),
        "{capabilities}"
    );
    // The examples name the tables the caller may read only.
    assert!(
        !get(&server, "/tap/examples", Some(&bob))
            .2
            .contains("ivoa.obscore")
    );
    assert!(
        get(&server, "/tap/examples", Some(&alice))
            .2
            .contains("ivoa.obscore")
    );
    // A grant made while the service runs holds from the next request: the cone search on
    // the stars is then not there for bob.
    Skyql::new([
        "catalog",
        "grant",
        "--table",
        "eros2.stars",
        "--groups",
        "eros",
    ])
    .catalog(&cat)
    .ok();
    let scs = "/scs/stars?RA=0&DEC=0&SR=0.1";
    assert_eq!(get(&server, scs, Some(&bob)).0, 404);
    assert!(!get(&server, "/tap", Some(&bob)).2.contains("/scs/stars"));
    assert!(get(&server, "/tap", Some(&alice)).2.contains("/scs/stars"));
    assert_eq!(get(&server, scs, Some(&alice)).0, 200);
    let id = Skyql::new(["catalog", "rules"]).catalog(&cat).ok();
    assert!(id.contains("grant eros2.stars"), "{id}");

    // A grant with a release date hides the table until then only: `fields` was released
    // on 2001-01-01 (bob reads it), `measurement_counts` is not yet (bob does not).
    for (table, until) in [
        ("eros2.fields", "2001-01-01"),
        ("eros2.measurement_counts", "2099-01-01"),
    ] {
        let out = Skyql::new(["catalog", "grant", "--table", table, "--groups", "eros"])
            .args(["--until", until])
            .catalog(&cat)
            .ok();
        assert!(out.contains(&format!("until {until}")), "{out}");
    }
    let listed = Skyql::new(["catalog", "rules"]).catalog(&cat).ok();
    assert!(
        listed.contains("grant eros2.fields  groups eros  until 2001-01-01 (released)")
            && listed.contains("until 2099-01-01\n"),
        "{listed}"
    );
    assert_eq!(
        tap_answer(&server, "SELECT COUNT(*) FROM eros2.fields", Some(&bob)).0,
        200
    );
    for who in [&bob, &alice] {
        let expected = if who == &bob { 400 } else { 200 };
        let counts = "SELECT COUNT(*) FROM eros2.measurement_counts";
        assert_eq!(tap_answer(&server, counts, Some(who)).0, expected);
    }
    let bad = Skyql::new(["catalog", "grant", "--table", "eros2.fields"])
        .args(["--groups", "eros", "--until", "soon"])
        .catalog(&cat)
        .fails();
    assert!(bad.contains("not a date"), "{bad}");
}

#[test]
fn the_cone_and_star_plans_under_a_rule_give_the_rows_of_the_sql_plan() {
    let (tmp, _raw, cat) = two_field_survey();
    protect(&cat);
    let (server, _) = served_with_users(tmp.path(), &cat);
    // Cones on stars of both fields, some large enough to hold both.
    let centres = common::query_csv(
        &cat,
        "SELECT ra, dec, field FROM (SELECT ra, dec, field, row_number() OVER (PARTITION BY field ORDER BY healpix) AS k FROM stars WHERE ra IS NOT NULL) WHERE k IN (1, 5, 20, 40) ORDER BY field, k",
    );
    let mut fields_seen = std::collections::HashSet::new();
    let mut hidden_somewhere = false;
    for (i, c) in centres.iter().enumerate() {
        fields_seen.insert(c["field"].clone());
        let (ra, dec) = (&c["ra"], &c["dec"]);
        let radius = [0.02, 0.1, 0.5, 2.0][i % 4];
        let cone = format!("cone_contains(ra, dec, {ra}, {dec}, {radius})");
        let ids = |sql: &str| star_ids(&cat, sql);
        let visible = ids(&format!(
            "SELECT star_id FROM stars WHERE {cone} AND field <> 'lm001'"
        ));
        let all = ids(&format!("SELECT star_id FROM stars WHERE {cone}"));
        hidden_somewhere |= visible.len() < all.len();
        // TAP with the rule's column not returned, and with every column.
        let adql = format!(
            "SELECT star_id FROM eros2.stars WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, {radius}))"
        );
        assert_eq!(tap(&server, &adql, None), (200, visible.clone()), "{adql}");
        let every = adql.replacen("star_id", "*", 1);
        let (status, body) = tap_answer(&server, &every, None);
        assert_eq!(status, 200);
        assert_eq!(body.lines().count() - 1, visible.len(), "{every}");
        assert!(!body.contains("lm001"), "{every}");
        // The cone search at its three verbosities.
        for verb in 1..=3 {
            let scs = format!("/scs/stars?RA={ra}&DEC={dec}&SR={radius}&VERB={verb}");
            let (status, _, body) = get(&server, &scs, None);
            assert_eq!(status, 200, "{body}");
            assert_eq!(body.matches("<TR>").count(), visible.len(), "{scs}");
        }
        // A user in the group gets every row.
        let alice = basic("alice", PASSWORD);
        assert_eq!(tap(&server, &adql, Some(&alice)).1, all);
    }
    assert!(
        fields_seen.len() == 2 && hidden_somewhere,
        "{fields_seen:?}"
    );
    // One star by its id: a star of the protected field is not there for anonymous
    // callers, one of the other is.
    for (field, seen) in [("lm001", false), ("lm035", true)] {
        let id = common::query_csv(
            &cat,
            &format!("SELECT min(star_id) AS s FROM stars WHERE field = '{field}'"),
        )[0]["s"]
            .clone();
        let adql = format!("SELECT star_id, field FROM eros2.stars WHERE star_id = '{id}'");
        let expected: Vec<String> = if seen {
            vec![format!("{id},{field}")]
        } else {
            Vec::new()
        };
        assert_eq!(tap(&server, &adql, None), (200, expected), "{adql}");
    }
    // Every one of those cones and stars took a fixed plan, with the rule checked on its
    // rows.
    let log = server
        .log_when(|l| log_lines(l, "star path") >= 2)
        .join("\n");
    assert!(
        log.matches("cone path").count() >= centres.len() * 5,
        "{log}"
    );
    assert!(log.matches("star path").count() >= 2, "{log}");
    // A rule of the query's time (`now()`) is not checked without a plan: the SQL plan
    // answers, with the same rows.
    Skyql::new(["catalog", "protect", "--where"])
        .args(["field = 'lm001' AND now() > to_timestamp(0)"])
        .args(["--until", "2030-06-01", "--groups", "eros"])
        .catalog(&cat)
        .ok();
    let c = &centres[0];
    let scs = format!("/scs/stars?RA={}&DEC={}&SR=0.5", c["ra"], c["dec"]);
    let (status, _, body) = get(&server, &scs, None);
    assert!(status == 200 && !body.contains("lm001"), "{body}");
    let planned = |l: &[String]| {
        l.iter()
            .any(|l| l.starts_with("GET /scs/stars") && l.contains("optimize="))
    };
    assert!(planned(&server.log_when(planned)), "the SQL plan answered");
}

#[test]
fn summaries_of_rows_a_rule_hides_elsewhere_are_withheld() {
    let (tmp, _raw, cat) = two_field_survey();
    // A rule on the measurements' dates: the later half of every light curve is hidden,
    // which the stars' counts and means and `measurement_counts` would still count.
    let mid = common::query_csv(
        &cat,
        "SELECT (min(mjd) + max(mjd)) / 2 AS m FROM measurements",
    )[0]["m"]
        .clone();
    Skyql::new(["catalog", "protect", "--where", &format!("mjd > {mid}")])
        .args(["--until", "2030-06-01", "--groups", "eros"])
        .catalog(&cat)
        .ok();
    let star = common::query_csv(&cat, "SELECT min(star_id) AS s FROM stars WHERE n_r > 0")[0]["s"]
        .clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (_engine, ctx, filter) = read_only_with_rules(&cat).await;
        let anonymous = filter(Identity::anonymous());
        let member = filter(Identity::user("alice", &["eros".into()]));
        let summaries = "SELECT count(*) AS stars, count(n_r) AS counted, count(mean_mag_b) AS means, \
            (SELECT count(n) FROM measurement_counts) AS counts, \
            (SELECT count(n_images) FROM fields) AS images FROM stars";
        let withheld = rows(&ctx, summaries, Some(&anonymous)).await;
        let everything = rows(&ctx, summaries, Some(&member)).await;
        assert_eq!(everything, rows(&ctx, summaries, None).await);
        // The stars are all there, their summaries null; the fields' (of the images,
        // which the rule does not touch) are kept.
        let values = |text: &str| -> Vec<i64> {
            let line = text.lines().find(|l| l.starts_with("| ") && !l.contains("stars")).unwrap();
            line.split('|').filter_map(|v| v.trim().parse().ok()).collect()
        };
        let (w, e) = (values(&withheld), values(&everything));
        assert!(e.iter().all(|&v| v > 0), "{everything}");
        assert_eq!(w, vec![e[0], 0, 0, 0, e[4]], "{withheld}");
    });
    // Through the service: the star plan gives way to SQL, with the same nulls; the
    // light curves' time spans in ObsCore (each field's, from the measurements) too.
    let (server, _) = served_with_users(tmp.path(), &cat);
    let adql = format!("SELECT star_id, n_r FROM eros2.stars WHERE star_id = '{star}'");
    assert_eq!(tap(&server, &adql, None), (200, vec![format!("{star},")]));
    let alice = basic("alice", PASSWORD);
    let (status, seen) = tap(&server, &adql, Some(&alice));
    assert!(status == 200 && seen[0].len() > star.len() + 1, "{seen:?}");
    let spans = "SELECT COUNT(*) AS n, COUNT(t_max) AS spans FROM ivoa.obscore \
        WHERE dataproduct_type = 'timeseries'";
    let (_, anonymous_spans) = tap(&server, spans, None);
    let (_, alice_spans) = tap(&server, spans, Some(&alice));
    let (n, counted) = alice_spans[0].split_once(',').unwrap();
    assert!(n == counted && n != "0", "{alice_spans:?}");
    assert_eq!(anonymous_spans, vec![format!("{n},0")]);
}

#[test]
fn hats_cones_under_a_rule_take_the_fixed_plan_with_the_rule_checked() {
    let (tmp, _raw, cat) = two_field_survey();
    // The stars as a HATS collection published beside the catalogue: it has `field`, so
    // the rule applies to it too.
    let hats = tmp.path().join("hats");
    Skyql::new(["hats", "export", "stars", "--out"])
        .args([&hats])
        .catalog(&cat)
        .ok();
    protect(&cat);
    let table = format!("ref.h={}", hats.display());
    let server = Server::start_with(&cat, None, &["--table", &table]);
    let centres = common::query_csv(
        &cat,
        "SELECT ra, dec FROM (SELECT ra, dec, row_number() OVER (PARTITION BY field ORDER BY healpix) AS k FROM stars WHERE ra IS NOT NULL) WHERE k IN (3, 30) ORDER BY ra",
    );
    let mut hidden_somewhere = false;
    for (i, c) in centres.iter().enumerate() {
        let (ra, dec) = (&c["ra"], &c["dec"]);
        let radius = [0.05, 0.5][i % 2];
        let ids = |sql: String| star_ids(&cat, &sql);
        let cone = format!("cone_contains(ra, dec, {ra}, {dec}, {radius})");
        let visible = ids(format!(
            "SELECT star_id FROM stars WHERE {cone} AND field <> 'lm001'"
        ));
        let all = ids(format!("SELECT star_id FROM stars WHERE {cone}"));
        hidden_somewhere |= visible.len() < all.len();
        let adql = format!(
            "SELECT star_id FROM ref.h WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, {radius}))"
        );
        let (status, mut got) = tap(&server, &adql, None);
        got.sort();
        assert_eq!((status, got), (200, visible), "{adql}");
    }
    assert!(hidden_somewhere, "{centres:?}");
    // Each of them took the fixed cone plan, with the rule checked on its rows.
    let log = server.log_when(|l| log_lines(l, "cone path") >= centres.len());
    assert!(
        log_lines(&log, "cone path") >= centres.len(),
        "{}",
        log.join("\n")
    );
}

/// A P-256 signing key and the JWKS document publishing it (with key id `kid`).
fn provider_key(kid: Option<&str>) -> (ring::signature::EcdsaKeyPair, String) {
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let kid = kid.map(|k| format!(r#","kid":"{k}""#)).unwrap_or_default();
    let jwks = format!(
        r#"{{"keys":[{{"kty":"EC","crv":"P-256","alg":"ES256"{kid},"x":"{}","y":"{}"}}]}}"#,
        b64(&point[1..33]),
        b64(&point[33..65])
    );
    (pair, jwks)
}

/// An ES256 token of `user` in `groups` for `audience`, valid for `seconds` from now,
/// signed by the key `kid` names, of the issuer `https://sso.test`.
fn provider_token(
    key: (&ring::signature::EcdsaKeyPair, Option<&str>),
    user: &str,
    groups: &str,
    audience: &str,
    seconds: i64,
) -> String {
    issued_token("https://sso.test", key, user, groups, audience, seconds)
}

/// [`provider_token`] of the issuer `issuer`.
fn issued_token(
    issuer: &str,
    (pair, kid): (&ring::signature::EcdsaKeyPair, Option<&str>),
    user: &str,
    groups: &str,
    audience: &str,
    seconds: i64,
) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = format!(
        r#"{{"iss":"{issuer}","aud":"{audience}","sub":"id-{user}","preferred_username":"{user}","groups":{groups},"iat":{now},"exp":{}}}"#,
        now + seconds
    );
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let kid = kid.map(|k| format!(r#","kid":"{k}""#)).unwrap_or_default();
    let input = format!(
        "{}.{}",
        b64(format!(r#"{{"alg":"ES256","typ":"JWT"{kid}}}"#).as_bytes()),
        b64(claims.as_bytes())
    );
    let sig = pair
        .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
        .unwrap();
    format!("{input}.{}", b64(sig.as_ref()))
}

#[test]
fn tokens_of_an_openid_provider_sign_its_users_in_with_their_groups() {
    let (tmp, _raw, cat) = two_field_survey();
    protect(&cat);
    let (pair, jwks) = provider_key(None);
    let jwks_file = tmp.path().join("jwks.json");
    std::fs::write(&jwks_file, jwks).unwrap();
    let (users_file, _) = users(tmp.path());
    let config = format!(
        "users_file = {:?}\n[jwt]\njwks = {:?}\nissuer = \"https://sso.test\"\naudience = \"skyql\"\n",
        users_file.to_str().unwrap(),
        jwks_file.to_str().unwrap()
    );
    let server = Server::start(&cat, Some(&config));
    let (count_all, count_visible) = measurement_counts(&cat);
    let counted = "SELECT COUNT(*) AS n FROM eros2.measurements";
    let bearer = |t: String| format!("Bearer {t}");
    let carol = bearer(provider_token(
        (&pair, None),
        "carol",
        r#"["/eros"]"#,
        "skyql",
        300,
    ));
    let dave = bearer(provider_token(
        (&pair, None),
        "dave",
        r#"["macho"]"#,
        "skyql",
        300,
    ));
    assert_eq!(
        tap(&server, counted, Some(&carol)),
        (200, vec![count_all.clone()])
    );
    assert_eq!(
        tap(&server, counted, Some(&dave)),
        (200, vec![count_visible.clone()])
    );
    assert_eq!(tap(&server, counted, None), (200, vec![count_visible]));
    let (_, head, _) = get(&server, "/tap/tables", Some(&carol));
    assert!(
        head.to_ascii_lowercase()
            .contains("x-vo-authenticated: carol"),
        "{head}"
    );
    // Expired, for another service, or signed by another key: refused with a challenge.
    let expired = bearer(provider_token(
        (&pair, None),
        "carol",
        r#"["eros"]"#,
        "skyql",
        -120,
    ));
    let elsewhere = bearer(provider_token(
        (&pair, None),
        "carol",
        r#"["eros"]"#,
        "other",
        300,
    ));
    let (stranger, stranger_jwks) = provider_key(None);
    let forged = bearer(provider_token(
        (&stranger, None),
        "carol",
        r#"["eros"]"#,
        "skyql",
        300,
    ));
    for (token, why) in [
        (&expired, "expired"),
        (&elsewhere, "another audience"),
        (&forged, "signature"),
    ] {
        let (status, head, body) = get(&server, "/tap/tables", Some(token));
        assert_eq!(status, 401, "{why}: {body}");
        assert!(
            body.contains(why) && head.to_ascii_lowercase().contains("www-authenticate"),
            "{body}"
        );
    }
    // The provider's keys change (the file is read again): the old key's tokens are
    // refused, the new key's accepted.
    std::fs::write(&jwks_file, stranger_jwks).unwrap();
    assert_eq!(get(&server, "/tap/tables", Some(&carol)).0, 401);
    assert_eq!(tap(&server, counted, Some(&forged)), (200, vec![count_all]));

    // The provider's carol and a user of the users file added later under her name are
    // two users: the local carol neither lists nor reads the provider's carol's job (and
    // the provider's tokens naming carol are refused from then on: the names clash).
    let (status, head, _) = server.request_with_headers(
        "POST",
        "/tap/async",
        &format!("LANG=ADQL&QUERY={}", q(counted)),
        &[("Authorization", forged.as_str())],
    );
    assert_eq!(status, 303, "{head}");
    let job = header(&head, "location").expect("the job's location");
    let job = job[job.find("/tap/async/").unwrap()..].to_string();
    assert_eq!(get(&server, &job, Some(&forged)).0, 200);
    add_user(&users_file, "carol", "eros", "carol-long-secret");
    let local_carol = basic("carol", "carol-long-secret");
    assert_eq!(get(&server, &job, Some(&local_carol)).0, 404);
    let (status, _, listed) = get(&server, "/tap/async", Some(&local_carol));
    assert!(status == 200 && !listed.contains(&job), "{listed}");
    assert_eq!(get(&server, &job, Some(&forged)).0, 401);
    let log = server.log.lock().unwrap().join("\n");
    assert!(!log.contains(&carol[7..40]), "a token reached the log");
}

/// A loopback HTTP server of an OpenID Connect provider whose issuer is `http://ADDRESS`:
/// its discovery document (`/.well-known/openid-configuration`, naming `/certs`), and at
/// every other path the keys `served` holds now; the keys' URL, and the number of
/// requests it has answered.
fn keys_server(
    served: std::sync::Arc<std::sync::Mutex<String>>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let url = format!("{issuer}/certs");
    let discovery = format!(r#"{{"issuer":"{issuer}","jwks_uri":"{url}"}}"#);
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&count);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let body = if head.starts_with(b"GET /.well-known/openid-configuration ") {
                discovery.clone()
            } else {
                served.lock().unwrap().clone()
            };
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, count)
}

#[test]
fn a_providers_keys_are_fetched_from_its_url_and_again_when_it_rotates_them() {
    use std::sync::atomic::Ordering;
    let (_tmp, _raw, cat) = two_field_survey();
    protect(&cat);
    let (first, first_jwks) = provider_key(Some("k1"));
    let (second, second_jwks) = provider_key(Some("k2"));
    let served = std::sync::Arc::new(std::sync::Mutex::new(first_jwks));
    let (url, fetches) = keys_server(std::sync::Arc::clone(&served));
    let config =
        format!("[jwt]\njwks_url = {url:?}\nissuer = \"https://sso.test\"\naudience = \"skyql\"\n");
    let server = Server::start(&cat, Some(&config));
    let (count_all, _) = measurement_counts(&cat);
    let counted = "SELECT COUNT(*) AS n FROM eros2.measurements";
    let bearer = |key, kid| {
        format!(
            "Bearer {}",
            provider_token((key, Some(kid)), "carol", r#"["eros"]"#, "skyql", 300)
        )
    };
    let (_, _, capabilities) = get(&server, "/tap/capabilities", None);
    assert!(
        capabilities.contains("ivo://ivoa.net/sso#OAuth"),
        "{capabilities}"
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "fetched once at the start"
    );
    let old = bearer(&first, "k1");
    assert_eq!(
        tap(&server, counted, Some(&old)),
        (200, vec![count_all.clone()])
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "a known key fetches nothing"
    );

    // The provider rotates its keys: a token naming the new key id makes the service
    // fetch them again (not within 5 s of the last fetch: waited here), and then the old
    // key's tokens are refused.
    std::thread::sleep(std::time::Duration::from_secs(5));
    *served.lock().unwrap() = second_jwks;
    let new = bearer(&second, "k2");
    assert_eq!(
        tap(&server, counted, Some(&new)),
        (200, vec![count_all.clone()])
    );
    let after_rotation = fetches.load(Ordering::SeqCst);
    assert_eq!(after_rotation, 2, "one fetch for the rotation");
    // Tokens naming keys nobody has do not make the service hammer the provider.
    // (Refused tokens are failed sign-ins of the address: 429 after five.)
    assert_eq!(get(&server, "/tap/tables", Some(&old)).0, 401);
    for _ in 0..10 {
        let status = get(&server, "/tap/tables", Some(&bearer(&first, "k9"))).0;
        assert!(status == 401 || status == 429, "{status}");
    }
    assert_eq!(fetches.load(Ordering::SeqCst), after_rotation);
    drop(server);

    // With the issuer alone, the keys' URL is found in its discovery document.
    let issuer = url.trim_end_matches("/certs").to_string();
    let config = format!("[jwt]\nissuer = {issuer:?}\naudience = \"skyql\"\n");
    let before = fetches.load(Ordering::SeqCst);
    let server = Server::start(&cat, Some(&config));
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        before + 2,
        "the discovery document, then the keys"
    );
    let token = issued_token(
        &issuer,
        (&second, Some("k2")),
        "carol",
        r#"["eros"]"#,
        "skyql",
        300,
    );
    let bearer = format!("Bearer {token}");
    assert_eq!(
        tap(&server, counted, Some(&bearer)),
        (200, vec![count_all.clone()])
    );
    // A token of another issuer is refused.
    let foreign = format!(
        "Bearer {}",
        provider_token((&second, Some("k2")), "carol", r#"["eros"]"#, "skyql", 300)
    );
    assert_eq!(get(&server, "/tap/tables", Some(&foreign)).0, 401);
}

#[test]
fn the_light_curve_plan_under_a_rule_gives_the_points_of_the_sql_plan() {
    let (tmp, _raw, cat) = two_field_survey();
    // A rule hiding the later half of every light curve (measurements have `mjd`).
    let middle =
        common::query_csv(&cat, "SELECT median(mjd) AS m FROM measurements")[0]["m"].clone();
    Skyql::new(["catalog", "protect", "--where"])
        .args([format!("mjd > {middle}")])
        .args(["--until", "2030-06-01", "--groups", "eros"])
        .catalog(&cat)
        .ok();
    let (server, _) = served_with_users(tmp.path(), &cat);
    let alice = basic("alice", PASSWORD);
    let stars = common::query_csv(
        &cat,
        "SELECT star_id FROM stars WHERE field IN ('lm001', 'lm035') ORDER BY star_id LIMIT 3",
    );
    let mut partly_hidden = 0;
    for star in stars.iter().map(|r| &r["star_id"]) {
        let points = |condition: &str| -> Vec<String> {
            let mut v: Vec<String> = common::query_csv(
                &cat,
                &format!(
                    "SELECT mjd, colour FROM measurements WHERE star_id = '{star}' {condition}"
                ),
            )
            .into_iter()
            .map(|r| format!("{},{}", r["mjd"], r["colour"]))
            .collect();
            v.sort();
            v
        };
        let served = |auth: Option<&str>| -> Vec<String> {
            let (status, _, body) = get(
                &server,
                &format!("/datalink/lightcurve?ID={star}&RESPONSEFORMAT=csv"),
                auth,
            );
            assert_eq!(status, 200, "{body}");
            let rows = common::csv_rows(&body);
            let mut v: Vec<String> = rows
                .iter()
                .map(|r| format!("{},{}", r["mjd"], r["colour"]))
                .collect();
            v.sort();
            v
        };
        let visible = points(&format!("AND NOT (mjd > {middle})"));
        let all = points("");
        partly_hidden += usize::from(!visible.is_empty() && visible.len() < all.len());
        assert_eq!(served(None), visible, "{star}");
        assert_eq!(served(Some(&alice)), all, "{star}");
    }
    assert!(
        partly_hidden >= 2,
        "the rule hides part of the light curves"
    );
    // Every one took the light-curve plan, with the rule checked on its points.
    let log = server.log_when(|l| log_lines(l, "lightcurve path") >= 6);
    assert!(
        log_lines(&log, "lightcurve path") >= 6,
        "{}",
        log.join("\n")
    );
}

/// The line of an `EXPLAIN` output that shows the table's scan (empty when there is none).
fn scan_line(plan: &str) -> &str {
    plan.lines()
        .find(|l| l.contains("DataSourceExec"))
        .unwrap_or_default()
}

/// The star ids `sql` gives on the catalogue `cat`, sorted.
fn star_ids(cat: &Path, sql: &str) -> Vec<String> {
    let mut ids: Vec<String> = common::query_csv(cat, sql)
        .into_iter()
        .map(|r| r["star_id"].clone())
        .collect();
    ids.sort();
    ids
}

/// How many lines of a service's log mention `what`.
fn log_lines(log: &[String], what: &str) -> usize {
    log.iter().filter(|l| l.contains(what)).count()
}
