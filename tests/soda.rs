//! SODA 1.0 sync on `skyql serve`: a cutout by pixel box holds the very pixels of the
//! `cutout()` function over the same box; by CIRCLE, RANGE and POLYGON the box that holds
//! the region; a region off the image is 204; faults are said as SODA says; the cache in
//! the service's directory stays within its size.

mod common;

use common::server::{Server, q, served_catalog};
use common::{Skyql, csv_rows};

/// The header cards and the data unit of a one-HDU FITS file.
fn split_fits(bytes: &[u8]) -> (Vec<String>, &[u8]) {
    let mut cards = Vec::new();
    for (i, card) in bytes.chunks(80).enumerate() {
        let text = String::from_utf8_lossy(card).into_owned();
        let end = text.starts_with("END ");
        cards.push(text);
        if end {
            let header = (i + 1) * 80;
            let data = header.div_ceil(2880) * 2880;
            return (cards, &bytes[data..]);
        }
    }
    panic!("no END card");
}

fn card<'a>(cards: &'a [String], key: &str) -> &'a str {
    cards
        .iter()
        .find(|c| c.starts_with(&format!("{key:<8}=")))
        .unwrap_or_else(|| panic!("no {key}"))[10..]
        .split(" /")
        .next()
        .unwrap()
        .trim()
}

#[test]
fn soda_cutouts_are_the_cutout_functions_pixels_and_faults_are_said() {
    let (tmp, cat) = served_catalog();
    let jobs = tmp.path().join("jobs");
    let server = Server::start(
        &cat,
        Some(&format!(
            "jobs_dir = \"{}\"\nsoda_cache_mb = 1\n",
            jobs.display()
        )),
    );
    // Reference images and the stars on them, the cutout function's 16 x 16 cutouts.
    let root = tmp.path().join("products");
    let rows = csv_rows(
        &Skyql::new([
            "query",
            "--format",
            "csv",
            "--output-root",
            root.to_str().unwrap(),
            "SELECT i.file_name, s.ra, s.dec, cutout(i.path, s.ra, s.dec, 16) AS file \
             FROM stars s JOIN images i ON i.field = s.field AND i.ccd = s.ccd \
             AND i.quarter = s.quarter AND i.code = 'd' WHERE s.ra IS NOT NULL ORDER BY s.star_id LIMIT 40",
        ])
        .catalog(&cat)
        .ok(),
    );
    let inside = rows
        .iter()
        .filter(|r| !r["file"].is_empty())
        .find(|r| {
            let bytes = std::fs::read(&r["file"]).unwrap();
            card(&split_fits(&bytes).0, "PADDED") == "F"
        })
        .expect("a cutout inside its image");
    let made = std::fs::read(&inside["file"]).unwrap();
    let (made_cards, made_data) = split_fits(&made);
    // SRCREGN = '[x0:x1,y0:y1]'
    let region = card(&made_cards, "SRCREGN")
        .trim_matches(['\'', '[', ']', ' '])
        .to_string();
    let (xs, ys) = region.split_once(',').unwrap();
    let (x0, x1) = xs.split_once(':').unwrap();
    let (y0, y1) = ys.split_once(':').unwrap();
    let id = q(&inside["file_name"]);
    let by_pixels = format!(
        "/soda/sync?ID={id}&PIXEL_1={}&PIXEL_2={}",
        q(&format!("{x0} {x1}")),
        q(&format!("{y0} {y1}"))
    );
    let (status, head, soda) = server.request_bytes("GET", &by_pixels, "");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&soda));
    assert!(head.to_ascii_lowercase().contains("application/fits"));
    let (soda_cards, soda_data) = split_fits(&soda);
    assert_eq!(
        soda_data, made_data,
        "the pixels of cutout() over the same box"
    );
    for key in [
        "NAXIS1", "NAXIS2", "CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "SRCREGN",
    ] {
        assert_eq!(card(&soda_cards, key), card(&made_cards, key), "{key}");
    }
    // The same cutout as a PNG for web pages: the cutout's size, one byte per pixel.
    let (status, head, png) =
        server.request_bytes("GET", &format!("{by_pixels}&RESPONSEFORMAT=image/png"), "");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&png));
    assert!(head.to_ascii_lowercase().contains("image/png"), "{head}");
    let decoder = png::Decoder::new(std::io::Cursor::new(&png));
    let info = decoder.read_info().unwrap().info().clone();
    assert_eq!(
        (info.width.to_string(), info.height.to_string()),
        (
            card(&soda_cards, "NAXIS1").to_string(),
            card(&soda_cards, "NAXIS2").to_string()
        )
    );
    // Served again from the cache: the same bytes.
    assert_eq!(server.request_bytes("GET", &by_pixels, "").2, soda);
    // Sky regions: the box holding a circle, a range, a polygon around the star.
    let (ra, dec): (f64, f64) = (
        inside["ra"].parse().unwrap(),
        inside["dec"].parse().unwrap(),
    );
    for region in [
        format!("CIRCLE={}", q(&format!("{ra} {dec} 0.002"))),
        format!("POS={}", q(&format!("CIRCLE {ra} {dec} 0.002"))),
        format!(
            "POS={}",
            q(&format!(
                "RANGE {} {} {} {}",
                ra - 0.003,
                ra + 0.003,
                dec - 0.002,
                dec + 0.002
            ))
        ),
        format!(
            "POS={}",
            q(&format!(
                "POLYGON {} {} {} {} {} {}",
                ra - 0.003,
                dec - 0.002,
                ra + 0.003,
                dec - 0.002,
                ra,
                dec + 0.002
            ))
        ),
    ] {
        let (status, _, body) =
            server.request_bytes("GET", &format!("/soda/sync?ID={id}&{region}"), "");
        assert_eq!(status, 200, "{region}: {}", String::from_utf8_lossy(&body));
        let (cards, _) = split_fits(&body);
        let n1: i64 = card(&cards, "NAXIS1").parse().unwrap();
        assert!(n1 > 1 && n1 < 200, "{region}: {n1}");
    }
    // Off the image: no content. Faults: said as SODA says.
    let far = format!(
        "/soda/sync?ID={id}&CIRCLE={}",
        q(&format!("{} {} 0.001", (ra + 180.0) % 360.0, -dec))
    );
    assert_eq!(server.get(&far).0, 204);
    for (path, status, start) in [
        ("/soda/sync?CIRCLE=1+2+0.1".to_string(), 400, "UsageError"),
        (format!("/soda/sync?ID={id}"), 400, "UsageError"),
        (format!("/soda/sync?ID={id}&CIRCLE=1+2"), 400, "UsageError"),
        (
            format!("/soda/sync?ID={id}&POS=BOX+1+2+3+4"),
            400,
            "UsageError",
        ),
        (format!("/soda/sync?ID={id}&PIXEL_1=1+100000"), 200, ""),
        (
            format!("/soda/sync?ID={id}&PIXEL_1=1+10&RESPONSEFORMAT=votable"),
            400,
            "UsageError",
        ),
        (
            "/soda/sync?ID=nosuch.fits&CIRCLE=1+2+0.1".to_string(),
            404,
            "NotFoundFault",
        ),
        (
            format!("/soda/sync?ID={}&CIRCLE=1+2+0.1", q("/etc/passwd")),
            404,
            "NotFoundFault",
        ),
    ] {
        let (got, _, body) = server.get(&path);
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.starts_with(start), "{path}: {body}");
    }
    // The cache holds at most soda_cache_mb (1 MiB here) of cutouts.
    let cached: u64 = std::fs::read_dir(&jobs)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("soda-"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(cached > 0 && cached <= 1 << 20, "{cached} bytes cached");
}

#[test]
fn cutouts_and_previews_wait_for_a_query_slot_like_queries() {
    let (_tmp, cat) = served_catalog();
    // One running slot, no queue: while a long query runs, a cutout is refused with 503.
    let server = Server::start(
        &cat,
        Some("max_concurrent_queries = 1\nqueue_depth = 0\nsync_timeout_s = 3\n"),
    );
    let image = csv_rows(
        &Skyql::new([
            "query",
            "--format",
            "csv",
            "SELECT file_name FROM images WHERE code = 'd' ORDER BY file_name LIMIT 1",
        ])
        .catalog(&cat)
        .ok(),
    )[0]["file_name"]
        .clone();
    let cutout = format!("/soda/sync?ID={}&PIXEL_1=1+8&PIXEL_2=1+8", q(&image));
    assert_eq!(
        server.get(&cutout).0,
        200,
        "a slot free: the cutout is made"
    );
    std::thread::scope(|scope| {
        scope.spawn(|| {
            server.get(&format!(
                "/tap/sync?LANG=ADQL&QUERY={}",
                q(
                    "SELECT COUNT(*) AS n FROM (SELECT a.value FROM generate_series(1, 1000000) a \
                   CROSS JOIN generate_series(1, 10000000) b) t"
                )
            ))
        });
        std::thread::sleep(std::time::Duration::from_millis(800));
        for path in [
            cutout.clone(),
            format!("/datalink/preview?ID={}", q(&image)),
        ] {
            let (status, head, body) = server.request_bytes("GET", &path, "");
            let body = String::from_utf8_lossy(&body);
            assert_eq!(status, 503, "{path}: {body}");
            assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
            assert!(
                body.starts_with("Error: the service is at capacity"),
                "{body}"
            );
        }
    });
    // The slot is given back once the cancelled query's work has stopped, not when its
    // client has the answer: the cutout is made again within a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = server.get(&cutout).0;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "busy, or made");
        assert!(
            std::time::Instant::now() < deadline,
            "the slot never came back"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
