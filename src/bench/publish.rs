//! `skyql bench publish`: what publishing beside the catalogue costs, through `skyql
//! serve` on loopback, one client, one request at a time:
//!
//! - an uploaded list of 10^4 positions (stars moved by 0.3 arcsec, a third by 5 arcsec)
//!   cross-matched at 1 arcsec with the catalogue's stars through TAP sync (TAP_UPLOAD);
//! - 1-arcminute cones on the stars and on the same stars exported as a HATS collection
//!   and published beside the catalogue (`--table ref.stars_hats=DIR`), through TAP (ADQL
//!   `CONTAINS`) and their cone searches;
//! - the same cones on a reference table of `--rows` rows (default: as many as the stars)
//!   made from the stars (each star repeated, each copy turned in right ascension so that
//!   the sky density stays the stars'), written to a FITS file and ingested into a
//!   catalogue of its own (so written in HEALPix order), served by a second `skyql serve`;
//! - with `--s3 s3://BUCKET/PREFIX`: the HATS collection put there (`skyql hats export`'s
//!   upload), and a cone on it beside the same cone on local disk, cold (the first request
//!   of a server just started: the catalogue's files read for the first time by skyql;
//!   for local disk they may be in the system's page cache) and warm (the same cone
//!   again).
//!
//! Every scratch file is under the system's temporary directory, removed at the end.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use tokio::io::BufReader;
use tokio::net::TcpStream;

use super::service::{Server, exchange, query_csv, sample_centres, start_skyql_with};
use super::{BenchOptions, in_scratch_dir, run_skyql, summary};

/// The request of a cone centred on (RA, Dec).
type RequestOf = Box<dyn Fn((f64, f64)) -> String>;

/// Positions of the uploaded list.
const UPLOAD_ROWS: usize = 10_000;

/// Cones per measurement.
const CONES: usize = 200;

/// Runs the benchmark on `catalog`.
pub fn bench_publish(opts: &BenchOptions, catalog: &Path) -> Result<()> {
    in_scratch_dir("publish", |dir| run(opts, catalog, dir))
}

fn run(opts: &BenchOptions, catalog: &Path, dir: &Path) -> Result<()> {
    let stars: u64 = first_value(&query_csv(catalog, "SELECT count(*) AS n FROM stars")?)?;
    let rows = opts.rows.map_or(stars, |r| r as u64);
    println!(
        "publish benchmark: {stars} stars; a reference table of {rows} rows; {CONES} 1-arcminute cones and {} upload cross-matches of {UPLOAD_ROWS} positions per measurement, one client, loopback",
        opts.repetitions
    );
    let hats = dir.join("stars_hats");
    let started = Instant::now();
    run_skyql(&[
        "hats".as_ref(),
        "export".as_ref(),
        "stars".as_ref(),
        "--catalog".as_ref(),
        catalog.as_os_str(),
        "--out".as_ref(),
        hats.as_os_str(),
    ])?;
    println!(
        "  HATS export of the stars: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let reference = dir.join("refcat_catalog");
    ingest_reference(catalog, dir, &reference, stars, rows)?;

    let centres = sample_centres(catalog)?;
    let centres: Vec<(f64, f64)> = centres.iter().take(CONES).map(|c| (c.0, c.1)).collect();
    let list = upload_list(catalog)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut survey = start_skyql_with(
        catalog,
        &[format!("--table=ref.stars_hats={}", hats.display())],
    )?;
    let mut refcat = start_skyql_with(&reference, &[])?;
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>10}",
        "request", "p50_ms", "p90_ms", "max_ms", "rows/req"
    );
    let cone_adql = |table: &str, (ra, dec): (f64, f64)| {
        format!(
            "SELECT * FROM {table} WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, 0.0166667))"
        )
    };
    let runs: Vec<(String, &Server, RequestOf)> = vec![
        (
            "SCS /scs/stars".into(),
            &survey,
            Box::new(|(ra, dec)| scs_path("stars", ra, dec)),
        ),
        (
            "SCS /scs/ref.stars_hats (HATS)".into(),
            &survey,
            Box::new(|(ra, dec)| scs_path("ref.stars_hats", ra, dec)),
        ),
        (
            "TAP eros2.stars".into(),
            &survey,
            Box::new(move |c| tap_form(&cone_adql("eros2.stars", c))),
        ),
        (
            "TAP ref.stars_hats (HATS)".into(),
            &survey,
            Box::new(move |c| tap_form(&cone_adql("ref.stars_hats", c))),
        ),
        (
            format!("SCS /scs/refcat ({rows} rows, ingested)"),
            &refcat,
            Box::new(|(ra, dec)| scs_path("refcat", ra, dec)),
        ),
        (
            format!("TAP refcat ({rows} rows, ingested)"),
            &refcat,
            Box::new(move |c| tap_form(&cone_adql("refcat", c))),
        ),
    ];
    for (label, server, request) in &runs {
        let mut times = Vec::new();
        let mut answered = 0u64;
        // A warm-up pass over a few cones, then the timed one.
        for pass in 0..2 {
            for &c in centres
                .iter()
                .take(if pass == 0 { 10 } else { centres.len() })
            {
                let (ms, rows) = runtime.block_on(timed(server, &request(c)))?;
                if pass == 1 {
                    times.push(ms);
                    answered += rows;
                }
            }
        }
        print_row(label, times, answered as f64 / centres.len() as f64);
    }
    let xmatch = "SELECT u.name, s.star_id FROM TAP_UPLOAD.mine AS u JOIN eros2.stars AS s \
                  ON 1 = CONTAINS(POINT('ICRS', s.ra, s.dec), CIRCLE('ICRS', u.ra, u.dec, 1.0/3600))";
    let request = multipart_tap(xmatch, &list);
    let mut times = Vec::new();
    let mut pairs = 0;
    for rep in 0..=opts.repetitions {
        let (ms, rows) = runtime.block_on(timed(&survey, &request))?;
        if rep > 0 {
            times.push(ms);
            pairs = rows;
        }
    }
    print_row(
        &format!("TAP_UPLOAD {UPLOAD_ROWS} positions x stars, 1\""),
        times,
        pairs as f64,
    );
    survey.stop();
    refcat.stop();
    if let Some(prefix) = &opts.s3 {
        cold_and_warm(opts, catalog, &hats, prefix, &centres, &runtime)?;
    }
    Ok(())
}

/// The cone on the HATS collection on local disk and on S3, cold and warm.
fn cold_and_warm(
    opts: &BenchOptions,
    catalog: &Path,
    hats: &Path,
    prefix: &str,
    centres: &[(f64, f64)],
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let url = crate::object_stores::remote_url(Path::new(prefix))
        .filter(|u| u.scheme() == "s3")
        .with_context(|| format!("--s3 {prefix}: give an s3://BUCKET/PREFIX URL"))?;
    let started = Instant::now();
    let files = runtime.block_on(crate::hats::upload::upload_collection(hats, &url))?;
    println!(
        "  HATS collection put at {url}: {files} files in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let cone = |table: &str, (ra, dec): (f64, f64)| {
        tap_form(&format!(
            "SELECT * FROM {table} WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, 0.0166667))"
        ))
    };
    for (label, table, location) in [
        ("local disk", "ref.local_hats", hats.display().to_string()),
        ("S3", "ref.s3_hats", url.to_string()),
    ] {
        let (mut cold, mut warm, mut rows) = (Vec::new(), Vec::new(), 0);
        // A server started anew for each cold cone (another centre each time).
        for &centre in centres.iter().take(opts.repetitions.max(3)) {
            let mut server = start_skyql_with(catalog, &[format!("--table={table}={location}")])?;
            let request = cone(table, centre);
            let (ms, n) = runtime.block_on(timed(&server, &request))?;
            cold.push(ms);
            rows = n;
            for _ in 0..5 {
                warm.push(runtime.block_on(timed(&server, &request))?.0);
            }
            server.stop();
        }
        print_row(&format!("TAP HATS cone, {label}, cold"), cold, rows as f64);
        print_row(&format!("TAP HATS cone, {label}, warm"), warm, rows as f64);
    }
    Ok(())
}

/// The first value of a one-column CSV answer.
fn first_value(csv: &str) -> Result<u64> {
    csv.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .context("no count in the answer")
}

/// Writes the reference table (`rows` rows from the stars) to a FITS file and ingests it
/// into the new catalogue `reference`.
fn ingest_reference(
    catalog: &Path,
    dir: &Path,
    reference: &Path,
    stars: u64,
    rows: u64,
) -> Result<()> {
    let input = dir.join("reference_input");
    std::fs::create_dir_all(&input)?;
    let copies = rows.div_ceil(stars.max(1));
    let fits = input.join("refcat.fits");
    // Copy g turned by g x 360/copies degrees in right ascension: the sky density, and so
    // the rows of a cone centred on a star, stay those of the stars.
    let sql = format!(
        "SELECT concat(s.star_id, '_', g.value) AS ref_id, \
                (s.ra + g.value * {step}) % 360 AS ra, s.dec AS dec, s.mean_mag_r AS mag \
         FROM stars s CROSS JOIN generate_series(0, {}) g WHERE s.ra IS NOT NULL LIMIT {rows}",
        copies - 1,
        step = 360.0 / copies as f64
    );
    let started = Instant::now();
    run_skyql(&[
        "query".as_ref(),
        "--catalog".as_ref(),
        catalog.as_os_str(),
        sql.as_ref(),
        "--output".as_ref(),
        fits.as_os_str(),
    ])?;
    let written = started.elapsed().as_secs_f64();
    let started = Instant::now();
    run_skyql(&[
        "ingest".as_ref(),
        "--catalog".as_ref(),
        reference.as_os_str(),
        input.as_os_str(),
    ])?;
    println!(
        "  reference table: {rows} rows written to FITS in {written:.1} s, ingested in HEALPix order in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_file(&fits);
    Ok(())
}

/// The upload: stars moved by 0.3 arcsec in declination, every third by 5 arcsec.
fn upload_list(catalog: &Path) -> Result<String> {
    let text = query_csv(
        catalog,
        &format!(
            "SELECT star_id, ra, dec + CASE WHEN healpix % 3 = 0 THEN 5.0 ELSE 0.3 END / 3600 AS dec \
             FROM stars WHERE ra IS NOT NULL AND healpix % 97 = 0 LIMIT {UPLOAD_ROWS}"
        ),
    )?;
    let mut csv = String::from("name,ra,dec\n");
    csv.extend(text.lines().skip(1).map(|l| format!("{l}\n")));
    if csv.lines().count() < 2 {
        bail!("no stars to upload");
    }
    Ok(csv)
}

fn scs_path(table: &str, ra: f64, dec: f64) -> String {
    format!(
        "GET /scs/{table}?RA={ra}&DEC={dec}&SR=0.0166667&VERB=1 HTTP/1.1\r\nHost: bench\r\n\r\n"
    )
}

fn tap_form(adql: &str) -> String {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("LANG", "ADQL")
        .append_pair("RESPONSEFORMAT", "csv")
        .append_pair("QUERY", adql)
        .finish();
    format!(
        "POST /tap/sync HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn multipart_tap(adql: &str, csv: &str) -> String {
    let boundary = "skyqlBenchBoundary";
    let mut body = String::new();
    for (name, value) in [
        ("LANG", "ADQL"),
        ("RESPONSEFORMAT", "csv"),
        ("UPLOAD", "mine,param:list"),
        ("QUERY", adql),
    ] {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"list\"; filename=\"list.csv\"\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    ));
    format!(
        "POST /tap/sync HTTP/1.1\r\nHost: bench\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Milliseconds of one request on a new connection, and the rows of its answer (CSV
/// lines after the header, or VOTable rows).
async fn timed(server: &Server, request: &str) -> Result<(f64, u64)> {
    let started = Instant::now();
    let mut conn = BufReader::new(TcpStream::connect(&server.addr).await?);
    let (status, body, _) = exchange(&mut conn, request).await?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if status != 200 {
        bail!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
    }
    let text = String::from_utf8_lossy(&body);
    let rows = if text.starts_with("<?xml") {
        text.matches("<TR>").count() as u64
    } else {
        text.lines().count().saturating_sub(1) as u64
    };
    Ok((ms, rows))
}

fn print_row(label: &str, times: Vec<f64>, rows: f64) {
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let p90 = sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)];
    let (p50, _, max) = summary(times);
    println!("{label:<44} {p50:>8.1} {p90:>8.1} {max:>8.1} {rows:>10.1}");
}
