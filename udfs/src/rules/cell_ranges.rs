//! Sets of the sky as ranges `[lo, hi)` of order-29 NESTED HEALPix indices (what
//! `stars.healpix` and HATS's `_healpix_29` hold): normalised, intersected, widened by one
//! cell in every direction, merged into a few ranges, and written as a predicate that
//! Parquet statistics and the HATS reader can use. Every operation returns a superset of
//! the exact set where it approximates, so a filter built from it drops no row it must keep.

use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::utils::{disjunction, split_binary, split_conjunction};
use datafusion::logical_expr::{Expr, Operator, lit};

/// Ranges of order-29 indices, `[lo, hi)`.
pub type CellRanges = Vec<(u64, u64)>;

/// The deepest order of the indices.
const INDEX_ORDER: u32 = 29;

/// Most cells enumerated when widening; coarser cells are used beyond.
const MAX_WIDENED_CELLS: u64 = 4096;

/// Whether the half-open cell ranges `ranges` hold a cell of the closed range `[lo, hi]`
/// (a file's, row group's or page's `healpix` statistics).
pub fn meets(ranges: &[(u64, u64)], lo: i64, hi: i64) -> bool {
    ranges
        .iter()
        .any(|&(a, b)| (a as i64) <= hi && lo < (b as i64))
}

/// The ranges sorted, without empty ones, overlapping or touching ones joined.
pub fn normalised(mut ranges: CellRanges) -> CellRanges {
    ranges.retain(|(lo, hi)| lo < hi);
    ranges.sort_unstable();
    let mut out: CellRanges = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// The indices in both sets.
pub fn intersection(a: &[(u64, u64)], b: &[(u64, u64)]) -> CellRanges {
    let (a, b) = (normalised(a.to_vec()), normalised(b.to_vec()));
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (lo, hi) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if lo < hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// At most `max` ranges holding every index of `ranges`: the ranges separated by the
/// smallest gaps are joined first.
pub fn merged_to(ranges: CellRanges, max: usize) -> CellRanges {
    let mut ranges = normalised(ranges);
    while ranges.len() > max.max(1) {
        let i = (0..ranges.len() - 1)
            .min_by_key(|&i| ranges[i + 1].0 - ranges[i].1)
            .unwrap_or(0);
        ranges[i].1 = ranges[i + 1].1;
        ranges.remove(i + 1);
    }
    ranges
}

/// The cells of `ranges` at `order` and every cell touching them (sharing an edge or a
/// corner), as order-29 ranges: everything within one order-`order` cell of the set. When
/// the set holds more than a few thousand cells at `order`, coarser cells are widened
/// instead (a coarser cell and its neighbours hold the finer ones' neighbours too).
pub fn widened(ranges: &[(u64, u64)], order: u8) -> CellRanges {
    let ranges = normalised(ranges.to_vec());
    let mut order = u32::from(order).min(INDEX_ORDER);
    let count = |order: u32| -> u64 {
        let shift = 2 * (INDEX_ORDER - order);
        ranges
            .iter()
            .map(|(lo, hi)| ((hi - 1) >> shift) - (lo >> shift) + 1)
            .sum()
    };
    while order > 0 && count(order) > MAX_WIDENED_CELLS {
        order -= 1;
    }
    let shift = 2 * (INDEX_ORDER - order);
    let layer = cdshealpix::nested::get(order as u8);
    let mut cells: Vec<u64> = Vec::new();
    for (lo, hi) in &ranges {
        for cell in (lo >> shift)..=((hi - 1) >> shift) {
            cells.push(cell);
            layer.append_bulk_neighbours(cell, &mut cells);
        }
    }
    normalised(
        cells
            .into_iter()
            .map(|c| (c << shift, (c + 1) << shift))
            .collect(),
    )
}

/// `column BETWEEN lo AND hi - 1 OR ...` over `ranges`; `None` for no range.
pub fn ranges_predicate(column: &Column, ranges: &[(u64, u64)]) -> Option<Expr> {
    disjunction(
        ranges.iter().map(|(lo, hi)| {
            Expr::Column(column.clone()).between(lit(*lo as i64), lit(*hi as i64 - 1))
        }),
    )
}

/// The ranges `[lo, hi)` of the index `column` that `filters` allow: the intersection of
/// every conjunct that is a disjunction of `column BETWEEN lo AND hi` (what
/// [`ranges_predicate`] writes, possibly rewritten as `column >= lo AND column <= hi`)
/// and of a lone pair `>= lo`, `<= hi` (one range split by the simplifier); `None` when
/// there is none.
pub fn ranges_in_filters(filters: &[Expr], column: &str) -> Option<CellRanges> {
    let conjuncts: Vec<&Expr> = filters.iter().flat_map(split_conjunction).collect();
    let disjunctions = conjuncts.iter().filter_map(|conjunct| {
        split_binary(conjunct, Operator::Or)
            .into_iter()
            .map(|t| term_range(t, column))
            .collect::<Option<CellRanges>>()
    });
    let bound = |op: Operator| {
        conjuncts.iter().find_map(|e| match e {
            Expr::BinaryExpr(b) if b.op == op && is_column(&b.left, column) => {
                literal_i64(&b.right)
            }
            _ => None,
        })
    };
    let lone = match (bound(Operator::GtEq), bound(Operator::LtEq)) {
        (Some(lo), Some(hi)) => Some(vec![(lo.max(0) as u64, hi.max(-1).wrapping_add(1) as u64)]),
        _ => None,
    };
    disjunctions.chain(lone).reduce(|a, b| intersection(&a, &b))
}

/// `[lo, hi + 1)` of `column BETWEEN lo AND hi` or its rewritten form.
fn term_range(term: &Expr, column: &str) -> Option<(u64, u64)> {
    let (lo, hi) = match term {
        Expr::Between(b) if !b.negated && is_column(&b.expr, column) => {
            (literal_i64(&b.low)?, literal_i64(&b.high)?)
        }
        Expr::BinaryExpr(and) if and.op == Operator::And => {
            let bound = |e: &Expr, op: Operator| match e {
                Expr::BinaryExpr(b) if b.op == op && is_column(&b.left, column) => {
                    literal_i64(&b.right)
                }
                _ => None,
            };
            (
                bound(&and.left, Operator::GtEq)?,
                bound(&and.right, Operator::LtEq)?,
            )
        }
        _ => return None,
    };
    Some((lo.max(0) as u64, hi.max(-1).wrapping_add(1) as u64))
}

fn is_column(e: &Expr, column: &str) -> bool {
    matches!(e, Expr::Column(c) if c.name == column)
}

fn literal_i64(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(ScalarValue::Int64(Some(v)), _) => Some(*v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::{angular_separation, healpix_nested};

    #[test]
    fn intersection_and_merging_keep_every_index() {
        let a = vec![(10, 20), (30, 40), (15, 25)];
        assert_eq!(normalised(a.clone()), vec![(10, 25), (30, 40)]);
        assert_eq!(intersection(&a, &[(22, 35)]), vec![(22, 25), (30, 35)]);
        assert_eq!(intersection(&a, &[(0, 5)]), vec![]);
        assert_eq!(
            merged_to(vec![(0, 1), (3, 4), (100, 101)], 2),
            vec![(0, 4), (100, 101)]
        );
    }

    #[test]
    fn widening_holds_every_point_within_a_cell_of_the_set() {
        // Points near a pole, across RA 0/360 and in the LMC; a set of one point's cell.
        for (ra, dec, order) in [(0.01, 89.9, 10u8), (359.99, 0.0, 12), (80.0, -69.0, 14)] {
            let hash = healpix_nested(ra, dec, 29).unwrap();
            let wide = widened(&[(hash, hash + 1)], order);
            // Cells at `order` are about 3.4' x 2^(10 - order): points within half a
            // cell of the centre are in the widened set.
            let radius = 3.4 / 60.0 * 2f64.powi(10 - order as i32) * 0.5;
            for i in 0..360 {
                let pa = (i as f64).to_radians();
                let (dra, ddec) = (pa.sin() * radius, pa.cos() * radius);
                let (r, d) = (
                    (ra + dra / dec.to_radians().cos().max(0.01)).rem_euclid(360.0),
                    (dec + ddec).clamp(-90.0, 90.0),
                );
                if angular_separation(ra, dec, r, d) > radius {
                    continue;
                }
                let h = healpix_nested(r, d, 29).unwrap();
                assert!(
                    wide.iter().any(|(lo, hi)| *lo <= h && h < *hi),
                    "({r}, {d}) near ({ra}, {dec}) outside the widened set"
                );
            }
        }
    }

    #[test]
    fn widening_a_large_set_uses_coarser_cells() {
        let wide = widened(&[(0, 1 << 50)], 20);
        assert!(wide.len() < 4096 * 9);
        assert!(wide[0].0 == 0 && wide.iter().any(|(_, hi)| *hi >= 1 << 50));
    }
}
