//! The hostile-request suite: one `skyql serve` with a small memory limit gets memory
//! bombs (values, `||`, aggregates, distinct sets), a CPU hog, a plan of 30,000 items and
//! one of 3,000 UNION arms,
//! the path functions on server files and a FIFO, a gzip bomb as a request body and a
//! fill of the job slots, three at a time, while a probe asks a small query every 200 ms.
//! Every hostile request gets an error saying why; every probe answers within a second;
//! the server's peak resident memory (the kernel's high-water mark) stays under its
//! memory limit plus a fixed margin; and a query cancelled at its time limit has given
//! its memory back to the pool within a second.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{Server, q, served_catalog};

/// The service's memory for queries, in MiB.
const MEMORY_MB: u64 = 256;

/// What the process may hold beyond `MEMORY_MB`: its own code, runtimes and caches
/// (about 60 MiB idle), the values a function call builds outside the pool (64 MiB per
/// call at most, a few calls at once) and the allocator's slack.
const MARGIN_MB: u64 = 320;

/// A line of /proc/PID/status, in KiB.
fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| {
            v.trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{key} in {status}"))
}

fn sync(server: &Server, adql: &str) -> (u16, String) {
    let (status, _, body) = server.request(
        "POST",
        "/tap/sync",
        &format!("LANG=ADQL&RESPONSEFORMAT=csv&QUERY={}", q(adql)),
    );
    (status, body)
}

/// The bytes the service's queries hold, from /tap/availability.
fn held_bytes(server: &Server) -> u64 {
    let (_, _, body) = server.get("/tap/availability");
    let at = body.find("queries hold ").expect("the memory note") + "queries hold ".len();
    body[at..].split(' ').next().unwrap().parse().unwrap()
}

/// A POST whose body is a gzip bomb (512 MiB of zeros in about 500 KB, under
/// `max_request_bytes`: one compressed MiB repeated as 512 gzip members), said to be gzip.
fn gzip_bomb(server: &Server) -> u16 {
    use flate2::{Compression, write::GzEncoder};
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&vec![0u8; 1 << 20]).unwrap();
    let body = gz.finish().unwrap().repeat(512);
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /tap/sync HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer and close before the whole body is sent.
    let _ = s.write_all(&body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw)
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn hostile_requests_keep_the_server_within_its_memory_and_answering() {
    let (tmp, cat) = served_catalog();
    let fifo = tmp.path().join("fifo");
    common::mkfifo(&fifo);
    let config = format!(
        "memory_mb = {MEMORY_MB}\nsync_timeout_s = 3\nasync_timeout_s = 3\nmax_async_jobs_per_client = 3\n"
    );
    let server = Arc::new(Server::start(&cat, Some(&config)));
    let pid = server.child.id();
    let idle_kib = status_kib(pid, "VmRSS");

    // The probe: a small query every 200 ms, timed.
    let stop = Arc::new(AtomicBool::new(false));
    let probes = Arc::new(Mutex::new(Vec::new()));
    let probe = {
        let (server, stop, probes) = (server.clone(), stop.clone(), probes.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let (status, body) = sync(&server, "SELECT TOP 1 star_id FROM eros2.stars");
                probes
                    .lock()
                    .unwrap()
                    .push((started.elapsed(), status, body.lines().count()));
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };

    let items = (0..30_000)
        .map(|i| format!("{i} AS c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let fifo_call = format!("SELECT wcs_from_fits('{}') AS w", fifo.display());
    let cases: Vec<(String, &[&str])> = vec![
        ("SELECT repeat('x', 2000000000) AS v".into(), &["64 MiB"]),
        (
            "SELECT LENGTH(repeat(CAST(value AS VARCHAR), 20000000)) AS n FROM generate_series(1, 100)".into(),
            &["MiB one call may build"],
        ),
        (
            "SELECT LENGTH(v || v || v) AS n FROM (SELECT repeat('x', value) AS v FROM generate_series(30000000, 30000000)) AS t".into(),
            &["the || operator would build"],
        ),
        (
            "SELECT cardinality(array_agg(value)) AS n FROM generate_series(1, 300000000)".into(),
            &["query_memory_mb", "s limit"],
        ),
        (
            "SELECT COUNT(*) AS n FROM (SELECT DISTINCT value FROM generate_series(1, 300000000)) AS t".into(),
            &["query_memory_mb", "s limit"],
        ),
        (
            "SELECT COUNT(*) AS n FROM (SELECT a.value FROM generate_series(1, 1000000) AS a CROSS JOIN generate_series(1, 10000000) AS b) AS t".into(),
            &["s limit"],
        ),
        (format!("SELECT {items}"), &["2000 accepted"]),
        (
            (0..3_000)
                .map(|i| format!("SELECT {i} AS x FROM eros2.stars"))
                .collect::<Vec<_>>()
                .join(" UNION ALL "),
            &["200 relations"],
        ),
        ("SELECT wcs_from_fits('/etc/passwd') AS w".into(), &["wcs_from_fits"]),
        (fifo_call, &["wcs_from_fits"]),
        (
            "SELECT cutout('/etc/passwd', 0.0, 0.0, 10, 'x') AS c".into(),
            &["cutout"],
        ),
    ];
    let started = Instant::now();
    let cases = Arc::new(Mutex::new(cases));
    let attackers: Vec<_> = (0..3)
        .map(|_| {
            let (server, cases) = (server.clone(), cases.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                loop {
                    let Some((adql, words)) = cases.lock().unwrap().pop() else {
                        break;
                    };
                    let asked = Instant::now();
                    let (status, body) = sync(&server, &adql);
                    let short = adql[..adql.len().min(60)].to_string();
                    println!("{:.2} s: {short}", asked.elapsed().as_secs_f64());
                    seen.push((short, words, status, body));
                }
                seen
            })
        })
        .collect();
    // Meanwhile: a gzip bomb as a body, and more jobs than one client may keep.
    let asked = Instant::now();
    let bomb_status = gzip_bomb(&server);
    println!(
        "{:.2} s: a gzip bomb as the body, HTTP {bomb_status}",
        asked.elapsed().as_secs_f64()
    );
    let mut job_statuses = Vec::new();
    for _ in 0..4 {
        let body = format!(
            "LANG=ADQL&PHASE=RUN&QUERY={}",
            q(
                "SELECT COUNT(*) AS n FROM generate_series(1, 100000000) AS a CROSS JOIN generate_series(1, 100) AS b"
            )
        );
        let (status, _, text) = server.request("POST", "/tap/async", &body);
        job_statuses.push((status, text));
    }
    for a in attackers {
        for (adql, words, status, body) in a.join().unwrap() {
            assert!(
                (400..600).contains(&status) && words.iter().any(|w| body.contains(w)),
                "{adql}: HTTP {status} {body}"
            );
            // Nothing tells a remote client where the server's files are.
            assert!(!body.contains(&cat.display().to_string()), "{body}");
            assert!(!body.contains("readable"), "{adql}: {body}");
        }
    }
    let hostile_s = started.elapsed().as_secs_f64();
    assert!(
        (400..500).contains(&bomb_status),
        "gzip bomb: HTTP {bomb_status}"
    );
    let accepted = job_statuses.iter().filter(|(s, _)| *s == 303).count();
    assert_eq!(accepted, 3, "{job_statuses:?}");
    assert!(
        job_statuses
            .iter()
            .any(|(s, t)| *s == 503 && t.contains("one client may keep")),
        "{job_statuses:?}"
    );

    // A query that holds memory, cancelled at its time limit, alone: its memory is back in
    // the pool within a second of the answer.
    std::thread::sleep(Duration::from_secs(4));
    let (status, body) = sync(
        &server,
        "SELECT COUNT(*) AS n FROM (SELECT DISTINCT value FROM generate_series(1, 300000000)) AS t",
    );
    assert!(status >= 400, "{body}");
    let answered = Instant::now();
    let mut held = held_bytes(&server);
    while held > 0 && answered.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
        held = held_bytes(&server);
    }
    let freed_s = answered.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    probe.join().unwrap();

    let peak_mib = status_kib(pid, "VmHWM") / 1024;
    let probes = probes.lock().unwrap();
    let slowest = probes.iter().map(|p| p.0).max().unwrap_or_default();
    println!(
        "hostile suite: {} s of attacks, {} probes, slowest {:.3} s; idle {} MiB, peak {} MiB \
         (limit {MEMORY_MB} + margin {MARGIN_MB}); memory back in the pool {:.3} s after the answer",
        hostile_s.round(),
        probes.len(),
        slowest.as_secs_f64(),
        idle_kib / 1024,
        peak_mib,
        freed_s
    );
    assert_eq!(held, 0, "the cancelled query still holds memory");
    assert!(freed_s < 1.0, "memory given back after {freed_s} s");
    assert!(probes.len() >= 10, "{} probes", probes.len());
    for (elapsed, status, lines) in probes.iter() {
        assert_eq!((*status, *lines), (200, 2), "a probe failed");
        assert!(elapsed.as_secs_f64() < 1.0, "a probe took {elapsed:?}");
    }
    assert!(
        peak_mib < MEMORY_MB + MARGIN_MB,
        "peak {peak_mib} MiB, over {MEMORY_MB} + {MARGIN_MB}"
    );
}
