//! `skyql plot lightcurve STAR_ID`: a light curve as an SVG drawing, both colours with
//! error bars, magnitudes growing downwards as astronomers draw them.

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
    let sql = format!(
        "SELECT colour, mjd, mag, mag_err FROM measurements WHERE star_id = '{}' \
         AND mag IS NOT NULL ORDER BY mjd",
        star_id.replace('\'', "''")
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let (mut red, mut blue) = (Vec::new(), Vec::new());
    for b in &batches {
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

/// Draws the light curve as SVG text (`width` x `height` pixels).
pub fn lightcurve_svg(
    star_id: &str,
    red: &[Point],
    blue: &[Point],
    width: f64,
    height: f64,
) -> String {
    let frame = Frame::new(red.iter().chain(blue), width, height);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="14">{} ({} R, {} B measurements)</text>"#,
        width / 2.0,
        xml_text(star_id),
        red.len(),
        blue.len()
    );
    frame.axes(&mut s);
    for (points, colour, label, dy) in [(red, "#c0392b", "R", 0.0), (blue, "#2e86c1", "B", 16.0)] {
        frame.series(&mut s, points, colour, label, dy);
    }
    s.push_str("</svg>\n");
    s
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

    /// The box, the ticks and the axis labels.
    fn axes(&self, s: &mut String) {
        let (left, top, pw, ph, height) = (self.left, self.top, self.pw, self.ph, self.height);
        let (t0, t1, m0, m1) = (self.t0, self.t1, self.m0, self.m1);
        let x = |t: f64| self.x(t);
        let y = |m: f64| self.y(m);
        let _ = writeln!(
            s,
            r#"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
        );
        for t in ticks(t0, t1, 6) {
            let _ = writeln!(
                s,
                r#"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="black"/><text x="{0:.1}" y="{3}" text-anchor="middle">{4}</text>"#,
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
                r#"<line x1="{0}" y1="{1:.1}" x2="{2}" y2="{1:.1}" stroke="black"/><text x="{3}" y="{4:.1}" text-anchor="end">{5:.2}</text>"#,
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
            r#"<text x="{}" y="{}" text-anchor="middle">MJD (d)</text>"#,
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

/// Writes the light curve of `star_id` to `output` (SVG), atomically.
pub async fn plot_lightcurve(ctx: &SessionContext, star_id: &str, output: &Path) -> Result<usize> {
    match output.extension().and_then(|e| e.to_str()) {
        Some("svg") => {}
        _ => bail!(
            "{}: light curves are drawn as SVG: give a .svg file name",
            output.display()
        ),
    }
    let (red, blue) = read_lightcurve(ctx, star_id).await?;
    let svg = lightcurve_svg(star_id, &red, &blue, 900.0, 480.0);
    let tmp = crate::catalog::temporary_name(output);
    std::fs::write(&tmp, svg).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, output)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), output.display()))?;
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
        let svg = lightcurve_svg(
            "lm0010n1",
            &[p(1.0, 18.0), p(2.0, 17.5)],
            &[p(1.5, 18.4)],
            600.0,
            300.0,
        );
        assert_eq!(svg.matches("r=\"2.5\"").count(), 3);
        assert!(svg.contains("lm0010n1 (2 R, 1 B measurements)"));
    }
}
