//! `skyql bench service`: `skyql serve` under the load of many VO clients on loopback,
//! and, with `--against URL`, another VO server on the same stars with the same client in
//! the same run (GAVO DaCHS with PostgreSQL and q3c is the reference: docs/BENCHMARKS.md).
//!
//! The client is written here, on one thread (tokio, current-thread runtime), so that it
//! takes as little as possible of the cores it shares with the servers. Each of `clients`
//! connections sends requests one after the other for `seconds`, keep-alive, each a
//! 1-arcminute cone centred on a random star of the catalogue: Simple Cone Search with
//! VERB=1, or TAP sync with ADQL `CONTAINS(POINT, CIRCLE)`. The runs: one client (the
//! latency of a cone alone), 20 clients (`--clients`) for each protocol, and 200 clients
//! on cone search (the queue). Reported: requests per second, latency percentiles,
//! errors, 503s, rows per answer, and the servers' CPU per request (from /proc: the skyql
//! process; for the other server, the processes whose command line matches
//! `--against-process` and PostgreSQL's).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{BenchOptions, run_skyql};

/// A server under test: where its endpoints are and which processes are its own.
struct Target {
    label: String,
    /// `host:port`.
    addr: String,
    /// Path of the cone search (`/scs/stars`).
    scs_path: String,
    /// The table of the ADQL query.
    table: String,
    /// Images of its catalogue a star page cuts (file name, width, height), when it has
    /// any of at least 64 x 64 pixels.
    images: Vec<(String, i64, i64)>,
    /// Processes whose CPU counts as the server's.
    pids: Box<dyn Fn() -> Vec<u32>>,
}

/// Which protocol a run uses.
#[derive(Clone, Copy, PartialEq)]
enum Protocol {
    Scs,
    Tap,
    /// One star's DataLink links document.
    Links,
    /// What the web page's star page loads: the star's links, its light curve (VOTable)
    /// and its plot (SVG), one after the other; the latency is the three together.
    StarPage,
}

/// The figures of one run.
#[derive(Default)]
struct RunFigures {
    requests: usize,
    seconds: f64,
    latencies: Vec<f64>,
    errors: usize,
    busy: usize,
    rows: u64,
    cpu_seconds: f64,
}

/// Radius of the cones, degrees (1 arcminute).
const RADIUS: f64 = 1.0 / 60.0;

/// Runs the service benchmark on `catalog`.
pub fn bench_service(opts: &BenchOptions, catalog: &Path) -> Result<()> {
    let centres = sample_centres(catalog)?;
    let seconds = opts.seconds.max(1.0);
    let mut server = start_skyql(catalog)?;
    let skyql_pid = server.child.id();
    let skyql = Target {
        label: "skyql".into(),
        addr: server.addr.clone(),
        scs_path: "/scs/stars".into(),
        table: "eros2.stars".into(),
        images: sample_images(catalog)?,
        pids: Box::new(move || vec![skyql_pid]),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "service benchmark: {} cone centres, 1-arcminute cones, {} s per load run, loopback",
        centres.len(),
        seconds
    );
    println!(
        "{:<8} {:<10} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6} {:>9} {:>10}",
        "server",
        "protocol",
        "clients",
        "requests",
        "req/s",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "errors",
        "503",
        "rows/req",
        "cpu_ms/req"
    );
    let mut throughput = Vec::new();
    let mut targets = vec![skyql];
    if let Some(url) = &opts.against {
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let pattern = opts.against_process.clone();
        targets.push(Target {
            label: "other".into(),
            addr,
            scs_path: opts.against_scs.clone(),
            table: opts.against_table.clone(),
            images: Vec::new(),
            pids: Box::new(move || processes_matching(&pattern)),
        });
    }
    for target in &targets {
        let mut runs = vec![
            (Protocol::Scs, 1usize, seconds.min(10.0)),
            (Protocol::Tap, 1, seconds.min(10.0)),
            (Protocol::Scs, opts.clients, seconds),
            (Protocol::Tap, opts.clients, seconds),
        ];
        if opts.clients < 200 {
            runs.push((Protocol::Scs, 200, seconds / 2.0));
        }
        if target.label == "skyql" {
            runs.extend([
                (Protocol::Links, 1, seconds.min(10.0)),
                (Protocol::Links, opts.clients, seconds),
                (Protocol::StarPage, 1, seconds.min(10.0)),
                (Protocol::StarPage, opts.clients, seconds),
            ]);
        }
        for (protocol, clients, secs) in runs {
            let figures = runtime.block_on(load(target, &centres, protocol, clients, secs))?;
            print_run(target, protocol, clients, &figures);
            if clients == opts.clients {
                throughput.push((
                    target.label.clone(),
                    protocol,
                    figures.requests as f64 / figures.seconds,
                ));
            }
        }
    }
    server.stop();
    if targets.len() > 1 {
        for protocol in [Protocol::Scs, Protocol::Tap] {
            let of = |label: &str| {
                throughput
                    .iter()
                    .find(|(l, p, _)| l == label && *p == protocol)
                    .map(|t| t.2)
            };
            if let (Some(s), Some(o)) = (of("skyql"), of("other")) {
                println!(
                    "{} at {} clients: skyql / other = {:.2}",
                    name(protocol),
                    opts.clients,
                    s / o
                );
            }
        }
    }
    Ok(())
}

fn name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Scs => "scs",
        Protocol::Tap => "tap-sync",
        Protocol::Links => "links",
        Protocol::StarPage => "star-page",
    }
}

/// The `p`th percentile (0 to 100) of sorted latencies in seconds, in milliseconds (NaN
/// for none).
pub(super) fn percentile_ms(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] * 1e3
}

fn print_run(target: &Target, protocol: Protocol, clients: usize, f: &RunFigures) {
    let mut lat = f.latencies.clone();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| percentile_ms(&lat, p);
    let answered = (f.requests - f.errors - f.busy).max(1);
    println!(
        "{:<8} {:<10} {:>7} {:>9} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>7} {:>6} {:>9.0} {:>10.1}",
        target.label,
        name(protocol),
        clients,
        f.requests,
        f.requests as f64 / f.seconds,
        pct(50.0),
        pct(90.0),
        pct(99.0),
        f.errors,
        f.busy,
        f.rows as f64 / answered as f64,
        f.cpu_seconds * 1e3 / f.requests.max(1) as f64
    );
}

/// A star of the sample: its position and id.
type Centre = (f64, f64, String);

/// A sample of about 5,000 stars from the catalogue, to centre cones on and to open (every
/// star whose HEALPix index is a multiple of the stars' count over 5,000).
/// The CSV answer of `skyql query --catalog CATALOG SQL`.
pub(super) fn query_csv(catalog: &Path, sql: &str) -> Result<String> {
    let args: Vec<std::ffi::OsString> = vec![
        "query".into(),
        "--catalog".into(),
        catalog.as_os_str().to_owned(),
        "--format".into(),
        "csv".into(),
        sql.into(),
    ];
    Ok(String::from_utf8_lossy(&run_skyql(&args)?).to_string())
}

pub(super) fn sample_centres(catalog: &Path) -> Result<Vec<Centre>> {
    let query = |sql: &str| query_csv(catalog, sql);
    let count = query("SELECT COUNT(*) AS n FROM stars WHERE ra IS NOT NULL")?;
    let n: u64 = count
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let every = (n / 5_000).max(1);
    let text = query(&format!(
        "SELECT ra, dec, star_id FROM stars WHERE ra IS NOT NULL AND healpix % {every} = 0 LIMIT 5000"
    ))?;
    let centres: Vec<Centre> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.trim().splitn(3, ',');
            Some((
                f.next()?.parse().ok()?,
                f.next()?.parse().ok()?,
                f.next()?.to_string(),
            ))
        })
        .collect();
    if centres.is_empty() {
        bail!("no stars in {} to centre cones on", catalog.display());
    }
    Ok(centres)
}

/// Up to 16 images of the catalogue of at least 64 x 64 pixels, the largest first.
fn sample_images(catalog: &Path) -> Result<Vec<(String, i64, i64)>> {
    let text = query_csv(
        catalog,
        "SELECT file_name, naxis1, naxis2 FROM images WHERE naxis1 >= 64 AND naxis2 >= 64 \
         ORDER BY naxis1 * naxis2 DESC, file_name LIMIT 16",
    )?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.trim().splitn(3, ',');
            Some((
                f.next()?.to_string(),
                f.next()?.parse().ok()?,
                f.next()?.parse().ok()?,
            ))
        })
        .collect())
}

/// The SODA request of a 64 x 64 cutout, as a PNG, of one of `images`, placed by `star`.
fn cutout_path(images: &[(String, i64, i64)], star: &str) -> Option<String> {
    let hash = star.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let (name, width, height) = images.get((hash % images.len().max(1) as u64) as usize)?;
    let x = 1 + ((hash >> 16) % (*width - 63) as u64) as i64;
    let y = 1 + ((hash >> 40) % (*height - 63) as u64) as i64;
    let id: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    Some(format!(
        "/soda/sync?ID={id}&PIXEL_1={x}%20{}&PIXEL_2={y}%20{}&RESPONSEFORMAT=image/png",
        x + 63,
        y + 63
    ))
}

/// `skyql serve` started on loopback with the default configuration.
pub(super) struct Server {
    child: Child,
    /// `host:port`.
    pub(super) addr: String,
}

impl Server {
    pub(super) fn stop(&mut self) {
        // SAFETY: a signal to the child this process started.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

pub(super) fn start_skyql(catalog: &Path) -> Result<Server> {
    start_skyql_with(catalog, &[])
}

/// [`start_skyql`] with more arguments (`--table NAME=PATH`).
pub(super) fn start_skyql_with(catalog: &Path, more: &[String]) -> Result<Server> {
    use std::io::BufRead;
    let binary = std::env::current_exe().context("cannot find the skyql binary")?;
    let mut child = Command::new(binary)
        .args(["serve", "--bind", "127.0.0.1:0", "--catalog"])
        .arg(catalog)
        .args(more)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start skyql serve")?;
    let mut out = std::io::BufReader::new(child.stdout.take().context("no output")?);
    let mut line = String::new();
    out.read_line(&mut line)?;
    let Some(start) = line.find("http://") else {
        let _ = child.kill();
        bail!("skyql serve did not start: {line}");
    };
    let addr = line[start + 7..]
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    // The request log is read and dropped so that the server never blocks on its pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    Ok(Server { child, addr })
}

/// One load run: `clients` keep-alive connections for `seconds`.
async fn load(
    target: &Target,
    centres: &[Centre],
    protocol: Protocol,
    clients: usize,
    seconds: f64,
) -> Result<RunFigures> {
    let cpu_before: f64 = (target.pids)().iter().map(|p| process_cpu(*p)).sum();
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|i| client(target, centres, protocol, i as u64, until))
        .collect();
    let results = futures::future::join_all(tasks).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after: f64 = (target.pids)().iter().map(|p| process_cpu(*p)).sum();
    let mut figures = RunFigures {
        seconds: elapsed,
        cpu_seconds: (cpu_after - cpu_before).max(0.0),
        ..RunFigures::default()
    };
    for r in results {
        let r = r?;
        figures.requests += r.requests;
        figures.latencies.extend(r.latencies);
        figures.errors += r.errors;
        figures.busy += r.busy;
        figures.rows += r.rows;
    }
    Ok(figures)
}

/// One client's loop: requests until `until`, reconnecting when the server closes.
async fn client(
    target: &Target,
    centres: &[Centre],
    protocol: Protocol,
    seed: u64,
    until: Instant,
) -> Result<RunFigures> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut f = RunFigures::default();
    let mut connection: Option<BufReader<TcpStream>> = None;
    while Instant::now() < until {
        // xorshift: a fixed sequence of centres per client.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let (ra, dec, star) = &centres[(state % centres.len() as u64) as usize];
        let t = Instant::now();
        // One request, or the several of a page: the first failure ends the page.
        let mut outcome = Outcome::Answered(0);
        for request in request_texts(target, protocol, *ra, *dec, star) {
            if connection.is_none() {
                let stream = TcpStream::connect(&target.addr)
                    .await
                    .with_context(|| format!("cannot connect to {}", target.addr))?;
                stream.set_nodelay(true)?;
                connection = Some(BufReader::with_capacity(64 * 1024, stream));
            }
            let Some(conn) = connection.as_mut() else {
                continue;
            };
            match exchange(conn, &request).await {
                Ok((status, body, keep)) => {
                    if !keep {
                        connection = None;
                    }
                    match status {
                        200 if !contains(&body, b"value=\"ERROR\"") => {
                            if let Outcome::Answered(rows) = &mut outcome {
                                *rows += votable_rows(&body).unwrap_or(0);
                            }
                        }
                        503 => {
                            outcome = Outcome::Busy;
                            break;
                        }
                        _ => {
                            outcome = Outcome::Failed;
                            break;
                        }
                    }
                }
                Err(_) => {
                    connection = None;
                    outcome = Outcome::Failed;
                    break;
                }
            }
        }
        f.requests += 1;
        f.latencies.push(t.elapsed().as_secs_f64());
        match outcome {
            Outcome::Answered(rows) => f.rows += rows,
            Outcome::Busy => f.busy += 1,
            Outcome::Failed => f.errors += 1,
        }
    }
    Ok(f)
}

/// What became of one request (or one page of requests).
enum Outcome {
    Answered(u64),
    Busy,
    Failed,
}

/// The HTTP requests of one unit of load.
fn request_texts(
    target: &Target,
    protocol: Protocol,
    ra: f64,
    dec: f64,
    star: &str,
) -> Vec<String> {
    let get = |path: String| format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", target.addr);
    let id: String = form_urlencoded::byte_serialize(star.as_bytes()).collect();
    match protocol {
        Protocol::Scs | Protocol::Tap => vec![request_text(target, protocol, ra, dec)],
        Protocol::Links => vec![get(format!("/datalink/links?ID={id}"))],
        Protocol::StarPage => vec![
            post_tap(
                target,
                &format!(
                    "SELECT * FROM {} WHERE star_id = '{}'",
                    target.table,
                    star.replace('\'', "''")
                ),
                &[("RESPONSEFORMAT", "csv"), ("MAXREC", "1")],
            ),
            get(format!("/datalink/lightcurve?ID={id}&RESPONSEFORMAT=csv")),
            get(format!("/datalink/links?ID={id}")),
        ]
        .into_iter()
        .chain(cutout_path(&target.images, star).map(get))
        .collect(),
    }
}

fn request_text(target: &Target, protocol: Protocol, ra: f64, dec: f64) -> String {
    match protocol {
        Protocol::Scs => format!(
            "GET {}?RA={ra:.6}&DEC={dec:.6}&SR={RADIUS:.7}&VERB=1 HTTP/1.1\r\nHost: {}\r\n\r\n",
            target.scs_path, target.addr
        ),
        // A cone in ADQL (request_texts sends the pages' requests).
        _ => {
            let adql = format!(
                "SELECT star_id, ra, dec FROM {} WHERE 1=CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra:.6}, {dec:.6}, {RADIUS:.7}))",
                target.table
            );
            post_tap(target, &adql, &[])
        }
    }
}

/// A TAP sync POST of `adql`, with `extra` parameters.
fn post_tap(target: &Target, adql: &str, extra: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("REQUEST", "doQuery")
        .append_pair("LANG", "ADQL")
        .append_pair("QUERY", adql);
    for (k, v) in extra {
        form.append_pair(k, v);
    }
    let body = form.finish();
    format!(
        "POST /tap/sync HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        target.addr,
        body.len()
    )
}

/// Sends a request and reads its response: status, body, and whether the connection
/// stays open.
pub(super) async fn exchange(
    conn: &mut BufReader<TcpStream>,
    request: &str,
) -> Result<(u16, Vec<u8>, bool)> {
    conn.get_mut().write_all(request.as_bytes()).await?;
    let mut line = String::new();
    conn.read_line(&mut line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status line")?;
    let (mut length, mut chunked, mut keep) = (None, false, true);
    loop {
        line.clear();
        if conn.read_line(&mut line).await? == 0 {
            bail!("the connection closed in the headers");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        let value = value.trim().to_ascii_lowercase();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.contains("chunked"),
            "connection" => keep = !value.contains("close"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .context("bad chunk size")?;
            if size == 0 {
                line.clear();
                conn.read_line(&mut line).await?;
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            conn.read_exact(&mut body[start..]).await?;
            let mut crlf = [0u8; 2];
            conn.read_exact(&mut crlf).await?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        conn.read_exact(&mut body).await?;
    } else {
        conn.read_to_end(&mut body).await?;
        keep = false;
    }
    Ok((status, body, keep))
}

/// Rows of a VOTable answer: `<TR>` elements of TABLEDATA, or the rows of a BINARY or
/// BINARY2 stream walked field by field (what other servers answer by default).
fn votable_rows(body: &[u8]) -> Option<u64> {
    use base64::Engine;
    if contains(body, b"<TABLEDATA") {
        return Some(count(body, b"<TR") as u64);
    }
    let text = String::from_utf8_lossy(body);
    let binary2 = text.contains("<BINARY2>");
    let start = text.find("<STREAM")?;
    let data_start = start + text[start..].find('>')? + 1;
    let data_end = data_start + text[data_start..].find("</STREAM>")?;
    let clean: String = text[data_start..data_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let data = base64::engine::general_purpose::STANDARD
        .decode(clean)
        .ok()?;
    // Each FIELD: a fixed width in bytes, or a variable-length array (element size).
    let mut fields = Vec::new();
    for f in text.split("<FIELD").skip(1) {
        let tag = &f[..f.find('>')?];
        let attr = |name: &str| {
            let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
            Some(&tag[at..at + tag[at..].find('"')?])
        };
        let size = match attr("datatype")? {
            "boolean" | "bit" | "unsignedByte" | "char" => 1,
            "short" | "unicodeChar" => 2,
            "int" | "float" => 4,
            "long" | "double" | "floatComplex" => 8,
            "doubleComplex" => 16,
            _ => return None,
        };
        fields.push(match attr("arraysize") {
            Some(a) if a.ends_with('*') => (None, size),
            Some(a) => (
                Some(
                    a.split('x')
                        .filter_map(|d| d.parse::<usize>().ok())
                        .product::<usize>()
                        * size,
                ),
                size,
            ),
            None => (Some(size), size),
        });
    }
    let flags = if binary2 { fields.len().div_ceil(8) } else { 0 };
    let (mut at, mut rows) = (0usize, 0u64);
    while at < data.len() {
        at += flags;
        for (fixed, element) in &fields {
            match fixed {
                Some(n) => at += n,
                None => {
                    let n = u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?);
                    at += 4 + n as usize * element;
                }
            }
        }
        rows += 1;
    }
    Some(rows)
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// CPU seconds of a process, its threads and its waited-for children (utime, stime,
/// cutime, cstime of /proc/PID/stat).
fn process_cpu(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    rest.split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|v| v.parse::<f64>().ok())
        .sum::<f64>()
        / ticks
}

/// Processes whose command line contains `pattern`, and PostgreSQL's.
fn processes_matching(pattern: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (!pattern.is_empty() && cmd.contains(pattern))
                || comm.trim() == "postgres"
                || cmd.starts_with("postgres:")
        })
        .collect()
}
