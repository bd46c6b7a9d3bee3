//! `skyql plot lightcurve STAR_ID`: a light curve drawn as SVG, both colours with error
//! bars, magnitudes growing downwards as astronomers draw them; in time or folded on a
//! period; on white or, for slides, on a dark background; as an SVG file or rasterised to
//! PNG by resvg (the same drawing; its text in a font of the system's).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Float32Type, Float64Type};
use datafusion::prelude::SessionContext;

/// One measurement of the plot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// MJD.
    pub mjd: f64,
    /// Magnitude.
    pub mag: f64,
    /// Magnitude error.
    pub err: f64,
}

/// Reads the light curve of `star_id` from the `measurements` table: (red, blue).
pub async fn read_lightcurve(
    ctx: &SessionContext,
    star_id: &str,
) -> Result<(Vec<Point>, Vec<Point>)> {
    let batches = ctx.sql(&lightcurve_sql(star_id)).await?.collect().await?;
    lightcurve_points(star_id, &batches)
}

/// The query of a star's points as [`lightcurve_points`] reads them.
pub fn lightcurve_sql(star_id: &str) -> String {
    format!(
        "SELECT colour, mjd, mag, mag_err FROM measurements WHERE star_id = '{}' \
         AND mag IS NOT NULL ORDER BY mjd",
        star_id.replace('\'', "''")
    )
}

/// The red and blue points of the rows of [`lightcurve_sql`].
pub fn lightcurve_points(
    star_id: &str,
    batches: &[datafusion::arrow::array::RecordBatch],
) -> Result<(Vec<Point>, Vec<Point>)> {
    let (mut red, mut blue) = (Vec::new(), Vec::new());
    for b in batches {
        let colour = datafusion::arrow::compute::cast(
            b.column(0),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )?;
        let colour = colour.as_string::<i32>();
        let mjd = b.column(1).as_primitive::<Float64Type>();
        let mag = b.column(2).as_primitive::<Float32Type>();
        let err = b.column(3).as_primitive::<Float32Type>();
        for i in 0..b.num_rows() {
            let p = Point {
                mjd: mjd.value(i),
                mag: mag.value(i) as f64,
                err: if err.is_null(i) {
                    0.0
                } else {
                    err.value(i) as f64
                },
            };
            if colour.value(i) == "B" {
                blue.push(p);
            } else {
                red.push(p);
            }
        }
    }
    if red.is_empty() && blue.is_empty() {
        bail!("no measurement of star '{star_id}'");
    }
    Ok((red, blue))
}

/// Round tick values covering [lo, hi], about `n` of them.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-9);
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + 1e-9 * span {
        out.push(t);
        t += step;
    }
    out
}

/// How a light curve is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlotStyle {
    /// Width in pixels.
    pub width: f64,
    /// Height in pixels.
    pub height: f64,
    /// Light text and lines on a dark background (slides).
    pub dark: bool,
    /// Folded on this period (days): phase from 0 to 2, each point drawn at its phase and
    /// one cycle later.
    pub period: Option<f64>,
    /// The MJD of phase 0 (default: the brightest measurement's).
    pub epoch: Option<f64>,
}

impl Default for PlotStyle {
    fn default() -> Self {
        PlotStyle {
            width: 900.0,
            height: 480.0,
            dark: false,
            period: None,
            epoch: None,
        }
    }
}

/// The colours of a style: background, text and lines, red series, blue series.
fn palette(dark: bool) -> [&'static str; 4] {
    if dark {
        ["#14171c", "#e8e8e8", "#ff7b6b", "#6cb8f0"]
    } else {
        ["white", "black", "#c0392b", "#2e86c1"]
    }
}

/// The points folded on `period` from `epoch`: each at its phase and one cycle later.
fn folded(points: &[Point], period: f64, epoch: f64) -> Vec<Point> {
    points
        .iter()
        .flat_map(|p| {
            let phase = ((p.mjd - epoch) / period).rem_euclid(1.0);
            [phase, phase + 1.0].map(|x| Point { mjd: x, ..*p })
        })
        .collect()
}

/// Draws the light curve as SVG text.
pub fn lightcurve_svg(star_id: &str, red: &[Point], blue: &[Point], style: &PlotStyle) -> String {
    let (width, height) = (style.width, style.height);
    let [background, ink, red_ink, blue_ink] = palette(style.dark);
    let (red_drawn, blue_drawn, x_label) = match style.period {
        Some(period) => {
            let epoch = style.epoch.unwrap_or_else(|| {
                red.iter()
                    .chain(blue)
                    .min_by(|a, b| a.mag.total_cmp(&b.mag))
                    .map_or(0.0, |p| p.mjd)
            });
            (
                folded(red, period, epoch),
                folded(blue, period, epoch),
                format!("phase (P = {period} d, phase 0 at MJD {epoch})"),
            )
        }
        None => (red.to_vec(), blue.to_vec(), "MJD (d)".to_string()),
    };
    let mut frame = Frame::new(red_drawn.iter().chain(&blue_drawn), width, height);
    if style.period.is_some() {
        (frame.t0, frame.t1) = (0.0, 2.0);
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="12" fill="{ink}">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="{background}"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="14">{} ({} R, {} B measurements)</text>"#,
        width / 2.0,
        xml_text(star_id),
        red.len(),
        blue.len()
    );
    frame.axes(&mut s, ink, &xml_text(&x_label));
    for (points, colour, label, dy) in [
        (&red_drawn, red_ink, "R", 0.0),
        (&blue_drawn, blue_ink, "B", 16.0),
    ] {
        frame.series(&mut s, points, colour, label, dy);
    }
    s.push_str("</svg>\n");
    s
}

/// An SVG drawing rasterised to PNG bytes, its text in the system's fonts (a warning when
/// the system has none: the PNG then has no text).
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>> {
    use resvg::{tiny_skia, usvg};
    let options = usvg::Options {
        fontdb: system_fonts(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).context("cannot read the drawing")?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .context("the picture is too large to draw")?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().context("cannot encode the PNG")
}

/// The system's fonts, looked for once per process (the service draws many plots); the
/// warning that there are none said once too.
fn system_fonts() -> std::sync::Arc<resvg::usvg::fontdb::Database> {
    static FONTS: std::sync::OnceLock<std::sync::Arc<resvg::usvg::fontdb::Database>> =
        std::sync::OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut fonts = resvg::usvg::fontdb::Database::new();
            fonts.load_system_fonts();
            if fonts.is_empty() {
                eprintln!(
                    "warning: no font found on this system: the PNG has no text (install one, e.g. Debian's fonts-dejavu-core, or write .svg)"
                );
            }
            std::sync::Arc::new(fonts)
        })
        .clone()
}

/// The plot area: data ranges (padded) mapped to the SVG's pixels, brighter magnitudes up.
struct Frame {
    t0: f64,
    t1: f64,
    m0: f64,
    m1: f64,
    left: f64,
    top: f64,
    pw: f64,
    ph: f64,
    height: f64,
}

impl Frame {
    fn new<'a>(points: impl Iterator<Item = &'a Point>, width: f64, height: f64) -> Frame {
        let (mut t0, mut t1, mut m0, mut m1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for p in points {
            (t0, t1) = (t0.min(p.mjd), t1.max(p.mjd));
            (m0, m1) = (m0.min(p.mag - p.err), m1.max(p.mag + p.err));
        }
        let pad_t = ((t1 - t0) * 0.03).max(0.5);
        let pad_m = ((m1 - m0) * 0.08).max(0.05);
        let (left, right, top, bottom) = (70.0, 20.0, 40.0, 50.0);
        Frame {
            t0: t0 - pad_t,
            t1: t1 + pad_t,
            m0: m0 - pad_m,
            m1: m1 + pad_m,
            left,
            top,
            pw: width - left - right,
            ph: height - top - bottom,
            height,
        }
    }

    fn x(&self, t: f64) -> f64 {
        self.left + (t - self.t0) / (self.t1 - self.t0) * self.pw
    }

    fn y(&self, m: f64) -> f64 {
        self.top + (m - self.m0) / (self.m1 - self.m0) * self.ph
    }

    /// The box, the ticks and the axis labels, in `ink`.
    fn axes(&self, s: &mut String, ink: &str, x_label: &str) {
        let (left, top, pw, ph, height) = (self.left, self.top, self.pw, self.ph, self.height);
        let (t0, t1, m0, m1) = (self.t0, self.t1, self.m0, self.m1);
        let x = |t: f64| self.x(t);
        let y = |m: f64| self.y(m);
        let _ = writeln!(
            s,
            r#"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="{ink}"/>"#
        );
        for t in ticks(t0, t1, 6) {
            let _ = writeln!(
                s,
                r#"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="{ink}"/><text x="{0:.1}" y="{3}" text-anchor="middle">{4}</text>"#,
                x(t),
                top + ph,
                top + ph + 5.0,
                top + ph + 18.0,
                t
            );
        }
        for m in ticks(m0, m1, 5) {
            let _ = writeln!(
                s,
                r#"<line x1="{0}" y1="{1:.1}" x2="{2}" y2="{1:.1}" stroke="{ink}"/><text x="{3}" y="{4:.1}" text-anchor="end">{5:.2}</text>"#,
                left - 5.0,
                y(m),
                left,
                left - 8.0,
                y(m) + 4.0,
                m
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{x_label}</text>"#,
            left + pw / 2.0,
            height - 10.0
        );
        let _ = writeln!(
            s,
            r#"<text x="16" y="{0}" text-anchor="middle" transform="rotate(-90 16 {0})">magnitude</text>"#,
            top + ph / 2.0
        );
    }

    /// One colour's points with their error bars, and its legend entry.
    fn series(&self, s: &mut String, points: &[Point], colour: &str, label: &str, dy: f64) {
        let (left, top, pw) = (self.left, self.top, self.pw);
        let x = |t: f64| self.x(t);
        let y = |m: f64| self.y(m);
        let _ = writeln!(
            s,
            r#"<g class="colour-{label}" stroke="{colour}" fill="{colour}">"#
        );
        for p in points {
            let _ = writeln!(
                s,
                r#"<line x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}"/><circle cx="{0:.1}" cy="{3:.1}" r="2.5"/>"#,
                x(p.mjd),
                y(p.mag - p.err),
                y(p.mag + p.err),
                y(p.mag)
            );
        }
        let _ = writeln!(s, "</g>");
        let _ = writeln!(
            s,
            r#"<circle cx="{}" cy="{}" r="4" fill="{colour}"/><text x="{}" y="{}">{label}</text>"#,
            left + pw - 40.0,
            top + 14.0 + dy,
            left + pw - 30.0,
            top + 18.0 + dy
        );
    }
}

fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Writes the light curve of `star_id` to `output`, SVG or PNG by its extension,
/// atomically (a temporary name, fsync, rename).
pub async fn plot_lightcurve(
    ctx: &SessionContext,
    star_id: &str,
    output: &Path,
    style: &PlotStyle,
) -> Result<usize> {
    let png = match output
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .as_deref()
    {
        Some("svg") => false,
        Some("png") => true,
        _ => bail!(
            "{}: light curves are drawn as SVG or PNG: give a .svg or .png file name",
            output.display()
        ),
    };
    if !(style.width >= 100.0 && style.height >= 100.0 && style.width * style.height <= 1e8) {
        bail!(
            "a plot of {} x {} pixels: give sizes of at least 100 and at most 10^8 pixels in all",
            style.width,
            style.height
        );
    }
    if let Some(p) = style.period
        && !(p.is_finite() && p > 0.0)
    {
        bail!("--period {p}: give a period in days, greater than 0");
    }
    let (red, blue) = read_lightcurve(ctx, star_id).await?;
    let svg = lightcurve_svg(star_id, &red, &blue, style);
    let bytes = if png {
        svg_to_png(&svg)?
    } else {
        svg.into_bytes()
    };
    crate::catalog::durable::atomic_write(output, &bytes)
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(red.len() + blue.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(ticks(0.0, 10.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(
            ticks(50_012.0, 50_088.0, 4),
            vec![50_020.0, 50_040.0, 50_060.0, 50_080.0]
        );
    }

    #[test]
    fn the_drawing_has_every_point_and_error_bar() {
        let p = |mjd, mag| Point {
            mjd,
            mag,
            err: 0.05,
        };
        let style = PlotStyle {
            width: 600.0,
            height: 300.0,
            ..PlotStyle::default()
        };
        let (red, blue) = ([p(1.0, 18.0), p(2.0, 17.5)], [p(1.5, 18.4)]);
        let svg = lightcurve_svg("lm0010n1", &red, &blue, &style);
        assert_eq!(svg.matches("r=\"2.5\"").count(), 3);
        assert!(svg.contains("lm0010n1 (2 R, 1 B measurements)"));
        assert!(svg.contains(r#"fill="white""#) && svg.contains("MJD (d)"));
        // Folded: every point twice, at its phase and a cycle later; dark background.
        let folded_style = PlotStyle {
            period: Some(0.5),
            dark: true,
            ..style
        };
        let svg = lightcurve_svg("lm0010n1", &red, &blue, &folded_style);
        assert_eq!(svg.matches("r=\"2.5\"").count(), 6);
        assert!(svg.contains("phase (P = 0.5 d, phase 0 at MJD 2)"), "{svg}");
        assert!(!svg.contains(r#"fill="white""#));
    }

    #[test]
    fn phases_fold_from_the_epoch() {
        let p = Point {
            mjd: 10.75,
            mag: 15.0,
            err: 0.0,
        };
        let f = folded(&[p], 0.5, 10.0);
        assert_eq!(f.iter().map(|p| p.mjd).collect::<Vec<_>>(), [0.5, 1.5]);
    }

    #[test]
    fn the_png_is_the_drawing_rasterised() {
        let svg = lightcurve_svg(
            "s",
            &[Point {
                mjd: 1.0,
                mag: 15.0,
                err: 0.1,
            }],
            &[],
            &PlotStyle::default(),
        );
        let png = svg_to_png(&svg).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // Width and height in the IHDR chunk.
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 900);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 480);
    }
}
