//! SODA 1.0, synchronous (`/soda/sync`): a FITS cutout of one of the catalogue's images,
//! made by the code of the `cutout()` function (the source's header, CRPIX shifted so
//! that every pixel keeps its sky position, the provenance keywords).
//!
//! `ID` names the image (its `file_name`, or a publisher DID); the region is `CIRCLE=ra
//! dec radius`, `POS=CIRCLE ra dec radius`, `POS=RANGE ra_min ra_max dec_min dec_max`,
//! `POS=POLYGON ra1 dec1 ra2 dec2 ...` (degrees) and/or `PIXEL_1=lo hi`, `PIXEL_2=lo hi`
//! (1-based, inclusive). A sky region becomes the pixel box that holds its outline (sampled
//! through the image's WCS); pixel ranges cut it further; the box is then cut to the image.
//! A region that misses the image answers 204 (no content), as SODA says.
//! `RESPONSEFORMAT=image/png` (or `png`) answers the cutout's quick-look PNG (zscale) for
//! web pages, for cutouts of at most 2048 pixels a side. Errors are
//! `text/plain` beginning with `UsageError`, `NotFoundFault` or `Error`.
//!
//! Cutouts are kept in the service's directory (`soda-<key>.fits`, the key a hash of the
//! image and the box) and served again from there; beyond `soda_cache_mb` the least
//! recently served go first.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use skyql_udfs::images::cutout::{pixel_of, write_cutout};
use skyql_udfs::images::fits_io::SourceImage;
use skyql_udfs::images::output::write_atomically;

use super::AppState;
use super::datalink::{one_image, slot, text_error as text};
use super::params::Params;

pub use super::vosi::SODA_STANDARD;
/// The prefix of the cutouts kept in the service's directory.
pub const CACHE_PREFIX: &str = "soda-";
/// The largest cutout side, in pixels.
const MAX_SIDE: i64 = 8192;
/// Points sampled on each side of a sky region's outline.
const OUTLINE_STEPS: usize = 16;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/soda/sync", get(sync).post(sync))
}

fn usage(message: impl Into<String>) -> Response {
    text(
        StatusCode::BAD_REQUEST,
        format!("UsageError: {}", message.into()),
    )
}

/// The numbers of a parameter's value.
fn numbers(name: &str, value: &str) -> Result<Vec<f64>, String> {
    value
        .split_whitespace()
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("{name}={value}: '{t}' is not a number"))
        })
        .collect()
}

/// A region on the sky, as points of its outline (degrees).
fn outline(params: &Params) -> Result<Option<Vec<(f64, f64)>>, String> {
    let (shape, values) = match (params.get("CIRCLE"), params.get("POS")) {
        (Some(_), Some(_)) => return Err("give CIRCLE or POS, not both".into()),
        (Some(c), None) => ("CIRCLE", numbers("CIRCLE", c)?),
        (None, Some(p)) => {
            let mut words = p.split_whitespace();
            let shape = words.next().unwrap_or("").to_ascii_uppercase();
            let rest: Vec<&str> = words.collect();
            let values = numbers("POS", &rest.join(" "))?;
            match shape.as_str() {
                "CIRCLE" => ("CIRCLE", values),
                "RANGE" => ("RANGE", values),
                "POLYGON" => ("POLYGON", values),
                other => {
                    return Err(format!(
                        "POS={p}: '{other}' is not a shape (CIRCLE, RANGE or POLYGON)"
                    ));
                }
            }
        }
        (None, None) => return Ok(None),
    };
    let points = match (shape, values.as_slice()) {
        ("CIRCLE", [ra, dec, r]) => {
            if !(*r > 0.0 && *r <= 10.0 && (-90.0..=90.0).contains(dec)) {
                return Err(format!(
                    "CIRCLE {ra} {dec} {r}: the radius must be in (0, 10] degrees and Dec in -90..90"
                ));
            }
            let cos = dec.to_radians().cos().max(1e-6);
            (0..4 * OUTLINE_STEPS)
                .map(|i| {
                    let t = i as f64 / (4 * OUTLINE_STEPS) as f64 * std::f64::consts::TAU;
                    (
                        ra + r * t.cos() / cos,
                        (dec + r * t.sin()).clamp(-90.0, 90.0),
                    )
                })
                .collect()
        }
        ("RANGE", [ra0, ra1, dec0, dec1]) => {
            if ra1 < ra0 || dec1 < dec0 || ra1 - ra0 > 20.0 || dec1 - dec0 > 20.0 {
                return Err(format!(
                    "RANGE {ra0} {ra1} {dec0} {dec1}: give ra_min ra_max dec_min dec_max, at most 20 degrees each"
                ));
            }
            let mut points = Vec::new();
            for i in 0..=OUTLINE_STEPS {
                let f = i as f64 / OUTLINE_STEPS as f64;
                let ra = ra0 + f * (ra1 - ra0);
                let dec = dec0 + f * (dec1 - dec0);
                points.extend([(ra, *dec0), (ra, *dec1), (*ra0, dec), (*ra1, dec)]);
            }
            points
        }
        ("POLYGON", v) if v.len() >= 6 && v.len() % 2 == 0 => {
            let vertices: Vec<(f64, f64)> = v.chunks(2).map(|c| (c[0], c[1])).collect();
            let mut points = Vec::new();
            for (i, a) in vertices.iter().enumerate() {
                let b = vertices[(i + 1) % vertices.len()];
                for s in 0..OUTLINE_STEPS {
                    let f = s as f64 / OUTLINE_STEPS as f64;
                    points.push((a.0 + f * (b.0 - a.0), a.1 + f * (b.1 - a.1)));
                }
            }
            points
        }
        (shape, v) => {
            return Err(format!(
                "{shape} with {} numbers: CIRCLE takes ra dec radius, RANGE ra_min ra_max dec_min dec_max, POLYGON three or more ra dec pairs",
                v.len()
            ));
        }
    };
    Ok(Some(points))
}

/// A pixel range `lo hi` (1-based, inclusive).
fn pixel_range(params: &Params, name: &str) -> Result<Option<(i64, i64)>, String> {
    let Some(v) = params.get(name) else {
        return Ok(None);
    };
    match numbers(name, v)?.as_slice() {
        [lo, hi] if lo <= hi && lo.fract() == 0.0 && hi.fract() == 0.0 => {
            Ok(Some((*lo as i64, *hi as i64)))
        }
        _ => Err(format!("{name}={v}: give two whole pixel numbers, lo hi")),
    }
}

/// The pixel box ([x0, x1, y0, y1]) the request asks for on `source`, cut to the image;
/// None when it misses the image.
fn region(source: &SourceImage, params: &Params) -> Result<Option<[i64; 4]>, String> {
    let [n1, n2] = source.naxis;
    let mut box_ = [1, n1, 1, n2];
    let sky = outline(params)?;
    let (p1, p2) = (
        pixel_range(params, "PIXEL_1")?,
        pixel_range(params, "PIXEL_2")?,
    );
    if sky.is_none() && p1.is_none() && p2.is_none() {
        return Err("no region: give CIRCLE, POS or PIXEL_1/PIXEL_2".into());
    }
    if let Some(points) = sky {
        let mut b = [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for (ra, dec) in points {
            let Ok((x, y)) = pixel_of(source, ra.rem_euclid(360.0), dec) else {
                continue;
            };
            b = [b[0].min(x), b[1].max(x), b[2].min(y), b[3].max(y)];
        }
        if !b.iter().all(|v| v.is_finite()) {
            return Ok(None);
        }
        let clamp = |v: f64| v.clamp(-1e9, 1e9) as i64;
        box_ = [
            box_[0].max(clamp(b[0].round())),
            box_[1].min(clamp(b[1].round())),
            box_[2].max(clamp(b[2].round())),
            box_[3].min(clamp(b[3].round())),
        ];
    }
    if let Some((lo, hi)) = p1 {
        box_ = [box_[0].max(lo), box_[1].min(hi), box_[2], box_[3]];
    }
    if let Some((lo, hi)) = p2 {
        box_ = [box_[0], box_[1], box_[2].max(lo), box_[3].min(hi)];
    }
    if box_[0] > box_[1] || box_[2] > box_[3] {
        return Ok(None);
    }
    if box_[1] - box_[0] >= MAX_SIDE || box_[3] - box_[2] >= MAX_SIDE {
        return Err(format!(
            "the cutout would be {} x {} pixels: at most {MAX_SIDE} on a side",
            box_[1] - box_[0] + 1,
            box_[3] - box_[2] + 1
        ));
    }
    Ok(Some(box_))
}

/// The cache file of a cutout of `file_name` over `box_`.
fn cache_path(dir: &Path, file_name: &str, box_: [i64; 4]) -> PathBuf {
    let mut h = crc32fast::Hasher::new();
    h.update(file_name.as_bytes());
    for v in box_ {
        h.update(&v.to_le_bytes());
    }
    let key = h.finalize();
    let stem: String = file_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(64)
        .collect();
    dir.join(format!(
        "{CACHE_PREFIX}{stem}-{}-{}-{}-{}-{key:08x}.fits",
        box_[0], box_[1], box_[2], box_[3]
    ))
}

/// Removes the least recently served cutouts until the cache holds at most `limit` bytes.
fn trim_cache(dir: &Path, limit: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(CACHE_PREFIX))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, m.len(), e.path()))
        })
        .collect();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort();
    for (_, size, path) in files {
        if total <= limit {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total = total.saturating_sub(size);
        }
    }
}

/// Why a cutout was not made: the request's fault or the server's.
enum Fault {
    Usage(String),
    Server(String),
}

impl Fault {
    fn response(self) -> Response {
        match self {
            Fault::Usage(m) => usage(m),
            Fault::Server(m) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("Error: {m}")),
        }
    }
}

/// What a cutout is answered as (`RESPONSEFORMAT`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    /// The FITS cutout (the default).
    Fits,
    /// Its quick-look PNG (zscale), for people and web pages.
    Png,
}

impl Answer {
    fn from_params(params: &Params) -> Result<Answer, String> {
        match params
            .get("RESPONSEFORMAT")
            .map(|f| f.trim().to_ascii_lowercase())
        {
            None => Ok(Answer::Fits),
            Some(f) if f == "fits" || f == "application/fits" || f == "image/fits" => {
                Ok(Answer::Fits)
            }
            Some(f) if f == "png" || f == "image/png" => Ok(Answer::Png),
            Some(f) => Err(format!(
                "RESPONSEFORMAT={f} is not offered: application/fits (the default) or image/png"
            )),
        }
    }

    fn mime(self) -> &'static str {
        match self {
            Answer::Fits => "application/fits",
            Answer::Png => "image/png",
        }
    }
}

/// The longest side of a cutout drawn as a PNG (its pixels are held as 8-byte numbers).
const MAX_PNG_SIDE: i64 = 2048;

/// Makes (or finds) the cutout and returns its bytes, as FITS or as its quick-look PNG;
/// None when the region misses.
fn cutout(
    path: &Path,
    file_name: &str,
    params: &Params,
    cache: &Path,
    limit: u64,
    answer: Answer,
) -> Result<Option<Vec<u8>>, Fault> {
    let Some((fits, target, [x0, x1, y0, y1])) =
        fits_cutout(path, file_name, params, cache, limit)?
    else {
        return Ok(None);
    };
    if answer == Answer::Fits {
        return Ok(Some(fits));
    }
    if (x1 - x0 + 1).max(y1 - y0 + 1) > MAX_PNG_SIDE {
        return Err(Fault::Usage(format!(
            "a PNG is drawn for cutouts of at most {MAX_PNG_SIDE} pixels a side: ask for a smaller region, or for FITS"
        )));
    }
    skyql_udfs::images::quicklook_png(&target, "zscale", None)
        .map(|(png, _)| Some(png))
        .map_err(|e| Fault::Server(format!("the cutout of {file_name} cannot be drawn: {e}")))
}

/// A FITS cutout: its bytes, its file in the cache and its pixel box (x0, x1, y0, y1).
type FitsCutout = (Vec<u8>, PathBuf, [i64; 4]);

/// Makes (or finds) the FITS cutout; None when the region misses.
fn fits_cutout(
    path: &Path,
    file_name: &str,
    params: &Params,
    cache: &Path,
    limit: u64,
) -> Result<Option<FitsCutout>, Fault> {
    let source = SourceImage::open(path)
        .map_err(|e| Fault::Server(format!("the image {file_name} cannot be read: {e}")))?;
    let Some(box_) = region(&source, params).map_err(Fault::Usage)? else {
        return Ok(None);
    };
    let target = cache_path(cache, file_name, box_);
    if let Ok(bytes) = std::fs::read(&target) {
        // Served again: the most recently used.
        if let Ok(f) = std::fs::File::options().write(true).open(&target) {
            let _ = f.set_modified(SystemTime::now());
        }
        return Ok(Some((bytes, target, box_)));
    }
    // Under a temporary name of its own (two requests for one cutout each write theirs),
    // synced, then renamed: a cached cutout is always whole. The bytes sent are read
    // before the rename, so that a trim of the cache cannot take them away.
    let mut bytes = Vec::new();
    write_atomically(&target, true, |tmp| {
        write_cutout(&source, path, box_, None, tmp)?;
        bytes = std::fs::read(tmp).map_err(|e| e.to_string())?;
        Ok(())
    })
    .map_err(|e| Fault::Server(format!("the cutout of {file_name} failed: {e}")))?;
    trim_cache(cache, limit);
    Ok(Some((bytes, target, box_)))
}

async fn sync(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<super::Caller>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let params = Params::from_request(query.as_deref(), &body);
    let Some(id) = params.get("ID") else {
        return usage("ID is missing (an image's file_name)");
    };
    let (file_name, path) = match one_image(&state, id, &caller).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let answer = match Answer::from_params(&params) {
        Ok(a) => a,
        Err(m) => return usage(m),
    };
    let permit = match slot(&state).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let cache = state.jobs_dir.path().to_path_buf();
    let limit = state.config.soda_cache_mb << 20;
    let timeout = Duration::from_secs(state.config.sync_timeout_s);
    // The slot goes with the cut, which a timeout does not stop.
    let work = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        cutout(Path::new(&path), &file_name, &params, &cache, limit, answer)
    });
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(Ok(Some(bytes)))) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(answer.mime()),
            );
            r
        }
        Ok(Ok(Ok(None))) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        Ok(Ok(Err(fault))) => fault.response(),
        Ok(Err(e)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Error: the cutout stopped: {e}"),
        ),
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "Error: the cutout was not made within {} s",
                timeout.as_secs()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn regions_are_read_or_refused_in_words() {
        let circle = outline(&params(&[("CIRCLE", "10 -70 0.01")]))
            .unwrap()
            .unwrap();
        assert!(
            circle
                .iter()
                .all(|(_, dec)| (dec + 70.0).abs() <= 0.0100001)
        );
        let pos = outline(&params(&[("POS", "RANGE 10 10.1 -70.1 -70")]))
            .unwrap()
            .unwrap();
        assert!(pos.iter().all(|(ra, _)| (10.0..=10.1).contains(ra)));
        assert!(
            outline(&params(&[("POS", "BOX 1 2 3 4")]))
                .unwrap_err()
                .contains("not a shape")
        );
        assert!(
            outline(&params(&[("CIRCLE", "10 -70")]))
                .unwrap_err()
                .contains("2 numbers")
        );
        assert!(
            outline(&params(&[("CIRCLE", "10 -70 x")]))
                .unwrap_err()
                .contains("not a number")
        );
        assert_eq!(
            pixel_range(&params(&[("PIXEL_1", "5 20")]), "PIXEL_1").unwrap(),
            Some((5, 20))
        );
        assert!(pixel_range(&params(&[("PIXEL_1", "20 5")]), "PIXEL_1").is_err());
    }
}
