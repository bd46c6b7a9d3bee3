//! `quicklook(path [, stretch [, size]])`: a PNG of the image for people to look at:
//! `zscale` (default), `asinh` or `linear` stretch, resampled (box average) so that the
//! longer side is `size` pixels (default: the image's own size), north of the FITS
//! convention up (row 1 at the bottom). Written as `quicklook/<stem>_<stretch>_<size>.png`.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl};

use super::fits_io::SourceImage;
use super::output::{ImageOutput, write_atomically};
use super::run_rows;
use super::stretch::Stretch;
use crate::functions::args::{arrays, float, text};

image_function_struct! {
    /// The `quicklook` function.
    Quicklook,
    "quicklook"
}

struct Job {
    path: String,
    stretch: String,
    size: Option<i64>,
}

impl ScalarUDFImpl for Quicklook {
    crate::function_basics!("quicklook");
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args, "quicklook", &[1, 2, 3])?;
        let paths = text(&a[0], "quicklook", "the image path")?;
        let stretches = a
            .get(1)
            .map(|s| text(s, "quicklook", "the stretch"))
            .transpose()?;
        let sizes = a
            .get(2)
            .map(|s| float(s, "quicklook", "the size"))
            .transpose()?;
        let jobs: Vec<Option<Job>> = (0..paths.len())
            .map(|i| {
                (!paths.is_null(i)).then(|| Job {
                    path: paths.value(i).to_string(),
                    stretch: stretches
                        .as_ref()
                        .filter(|s| !s.is_null(i))
                        .map_or("zscale".to_string(), |s| s.value(i).to_string()),
                    size: sizes
                        .as_ref()
                        .filter(|s| !s.is_null(i))
                        .map(|s| s.value(i) as i64),
                })
            })
            .collect();
        let root = &self.output;
        let out = run_rows(
            "quicklook",
            root.concurrency,
            &jobs,
            |j| j.path.clone(),
            |j| make_quicklook(root, j),
        );
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
    }
}

/// Box-averages `values` (w x h, row 1 first) to `ow` x `oh`.
fn resample(values: &[f64], w: usize, h: usize, ow: usize, oh: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; ow * oh];
    for oj in 0..oh {
        let (y0, y1) = (oj * h / oh, ((oj + 1) * h / oh).max(oj * h / oh + 1));
        for oi in 0..ow {
            let (x0, x1) = (oi * w / ow, ((oi + 1) * w / ow).max(oi * w / ow + 1));
            let (mut sum, mut n) = (0.0, 0usize);
            for y in y0..y1.min(h) {
                for x in x0..x1.min(w) {
                    let v = values[y * w + x];
                    if v.is_finite() {
                        sum += v;
                        n += 1;
                    }
                }
            }
            if n > 0 {
                out[oj * ow + oi] = sum / n as f64;
            }
        }
    }
    out
}

/// The PNG of the FITS image at `path`, and its longer side: `stretch` (zscale, asinh or
/// linear), the longer side `size` pixels (default: the image's own), FITS row 1 at the
/// bottom.
pub fn quicklook_png(
    path: &Path,
    stretch: &str,
    size: Option<i64>,
) -> Result<(Vec<u8>, usize), String> {
    let stretch = Stretch::parse(stretch)?;
    let source = SourceImage::open(path)?;
    let (w, h) = (source.naxis[0] as usize, source.naxis[1] as usize);
    let size = size.unwrap_or(w.max(h) as i64);
    if !(1..=20_000).contains(&size) {
        return Err(format!("size {size} is not between 1 and 20000"));
    }
    let size = size as usize;
    let (ow, oh) = if w >= h {
        (size, (h * size).div_ceil(w).max(1))
    } else {
        ((w * size).div_ceil(h).max(1), size)
    };
    let pixels = source.read_all()?;
    let scale = source.scale();
    let physical: Vec<f64> = (0..pixels.len())
        .map(|i| pixels.physical(i, scale))
        .collect();
    let values = resample(&physical, w, h, ow, oh);
    let bytes = stretch.apply(&values);
    // PNG rows go top down; FITS row 1 is the bottom.
    let mut flipped = Vec::with_capacity(bytes.len());
    for row in bytes.chunks(ow).rev() {
        flipped.extend_from_slice(row);
    }
    let mut png_bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut png_bytes, ow as u32, oh as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| format!("PNG: {e}"))?;
    writer
        .write_image_data(&flipped)
        .map_err(|e| format!("PNG: {e}"))?;
    writer.finish().map_err(|e| format!("PNG: {e}"))?;
    Ok((png_bytes, size))
}

fn make_quicklook(root: &ImageOutput, j: &Job) -> Result<Option<String>, String> {
    let (png_bytes, size) = quicklook_png(&root.input_path(&j.path), &j.stretch, j.size)?;
    let stem = Path::new(&j.path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let name = format!(
        "quicklook/{stem}_{}_{size}.png",
        j.stretch.to_ascii_lowercase()
    );
    let target = root.resolve(&name)?;
    write_atomically(&target, root.overwrite, |tmp| {
        std::fs::write(tmp, &png_bytes).map_err(|e| format!("{}: {e}", tmp.display()))
    })?;
    Ok(Some(target.to_string_lossy().into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_averages_boxes() {
        let v: Vec<f64> = (0..16).map(|i| i as f64).collect();
        let r = resample(&v, 4, 4, 2, 2);
        assert_eq!(r, vec![2.5, 4.5, 10.5, 12.5]);
    }
}
