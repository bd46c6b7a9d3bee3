//! Writing light curves in the EROS-2 text format (the format of `lm0010n22323.time`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use super::sky::Star;
use skyql_udfs::time::mjd_to_eros_date;

/// One row: MJD and, per colour (R, B), the magnitude and its error when measured.
pub type Row = (f64, [Option<(f64, f64)>; 2]);

/// Writes `star`'s light curve; missing values are written 99.999 / 9.999.
pub fn write(path: &Path, star: &Star, rows: &[Row], no_reference: [bool; 2]) -> Result<()> {
    let mean = |ci: usize| -> (f64, f64) {
        let v: Vec<f64> = rows.iter().filter_map(|r| r.1[ci].map(|m| m.0)).collect();
        if v.is_empty() || no_reference[ci] {
            return (99.999, 9.999);
        }
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        (m, s)
    };
    let (mr, er) = mean(0);
    let (mb, eb) = mean(1);
    let mut text = String::with_capacity(64 * rows.len() + 400);
    text.push_str(
        "# star:  erosid      MagR    ErrMR   XR      YR     MagB    ErrMB   XB      YB \n",
    );
    let _ = writeln!(
        text,
        "#        {}  {:7.3} {:6.3} {:6.2} {:6.2} {:7.3} {:6.3} {:6.2} {:6.2}",
        star.id, mr, er, star.xy_r.0, star.xy_r.1, mb, eb, star.xy_b.0, star.xy_b.1
    );
    text.push_str("#\n");
    let _ = writeln!(text, "# {}", star.variability.describe());
    text.push_str("#\n#   date      MagR    ErMagR MagB    ErMagB\n");
    for (mjd, values) in rows {
        let _ = write!(text, "  {:10.5}", mjd_to_eros_date(*mjd));
        for v in values {
            let (m, e) = v.unwrap_or((99.999, 9.999));
            let _ = write!(text, "  {m:6.3}  {e:5.3}");
        }
        text.push_str(" \n");
    }
    let tmp = path.with_extension("time.partial");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot rename to {}", path.display()))?;
    Ok(())
}
