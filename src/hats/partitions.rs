//! The HEALPix pixels of a HATS catalogue: each holds at most `max_rows` rows where a
//! finer pixel can split it, chosen top-down from the 12 base pixels over a histogram of
//! the rows at a fine order. A pixel (order k, index p) holds the order-29 indices
//! `[p << 2(29 - k), (p + 1) << 2(29 - k))`, so pixels are ranges of `_healpix_29`.

use std::collections::BTreeMap;

/// The order of the histogram, and the deepest order a pixel may have (cells of 3.4').
pub const HISTOGRAM_ORDER: u8 = 10;

/// One pixel of the partitioning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pixel {
    /// HEALPix order (`Norder`).
    pub order: u8,
    /// NESTED index at that order (`Npix`).
    pub index: u64,
}

impl Pixel {
    /// The `_healpix_29` range `[lo, hi)` of the pixel.
    pub fn range29(&self) -> (u64, u64) {
        let shift = 2 * (29 - self.order as u32);
        (self.index << shift, (self.index + 1) << shift)
    }

    /// The `Dir` directory number: `Npix` rounded down to a multiple of 10,000.
    pub fn dir(&self) -> u64 {
        self.index / 10_000 * 10_000
    }

    /// The leaf file's path under `dataset/`.
    pub fn relative_path(&self) -> String {
        format!(
            "Norder={}/Dir={}/Npix={}.parquet",
            self.order,
            self.dir(),
            self.index
        )
    }
}

/// The pixels (with their row counts), sorted by range, of a catalogue whose rows fall
/// into the order-[`HISTOGRAM_ORDER`] cells of `histogram` (cell -> rows).
pub fn choose_pixels(histogram: &BTreeMap<u64, u64>, max_rows: u64) -> Vec<(Pixel, u64)> {
    let mut out = Vec::new();
    for base in 0..12 {
        split(
            histogram,
            Pixel {
                order: 0,
                index: base,
            },
            max_rows.max(1),
            &mut out,
        );
    }
    out
}

fn split(histogram: &BTreeMap<u64, u64>, pixel: Pixel, max_rows: u64, out: &mut Vec<(Pixel, u64)>) {
    let shift = 2 * (HISTOGRAM_ORDER - pixel.order) as u32;
    let (lo, hi) = (pixel.index << shift, (pixel.index + 1) << shift);
    let rows: u64 = histogram.range(lo..hi).map(|(_, n)| n).sum();
    if rows == 0 {
        return;
    }
    if rows <= max_rows || pixel.order == HISTOGRAM_ORDER {
        out.push((pixel, rows));
        return;
    }
    for child in 0..4 {
        let child = Pixel {
            order: pixel.order + 1,
            index: pixel.index * 4 + child,
        };
        split(histogram, child, max_rows, out);
    }
}

/// The position in `pixels` (sorted by range) of the pixel holding `healpix29`.
pub fn pixel_of(pixels: &[(Pixel, u64)], healpix29: u64) -> Option<usize> {
    let i = pixels.partition_point(|(p, _)| p.range29().1 <= healpix29);
    (i < pixels.len() && pixels[i].0.range29().0 <= healpix29).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_cells_split_and_every_row_has_one_pixel() {
        // 100 rows in one order-10 cell, 5 in a cell of another base pixel.
        let dense = (7u64 << 20) + 12_345; // an order-10 cell of base pixel 7
        let histogram = BTreeMap::from([(dense, 100), (dense + 1, 100), (3 << 20, 5)]);
        let pixels = choose_pixels(&histogram, 150);
        let total: u64 = pixels.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 205);
        assert!(pixels.iter().all(|(_, n)| *n <= 150));
        assert!(
            pixels
                .windows(2)
                .all(|w| w[0].0.range29().1 <= w[1].0.range29().0)
        );
        for cell in [dense, dense + 1, 3 << 20] {
            let h29 = cell << (2 * (29 - 10));
            assert!(pixel_of(&pixels, h29).is_some(), "{cell}");
        }
        assert_eq!(pixel_of(&pixels, 0), None);
        // A single cell over the limit cannot split beyond the histogram order.
        let pixels = choose_pixels(&BTreeMap::from([(dense, 1000)]), 10);
        assert_eq!(pixels.len(), 1);
        assert_eq!(pixels[0].0.order, HISTOGRAM_ORDER);
        assert_eq!(
            pixels[0].0.relative_path(),
            format!(
                "Norder=10/Dir={}/Npix={dense}.parquet",
                dense / 10_000 * 10_000
            )
        );
    }
}
