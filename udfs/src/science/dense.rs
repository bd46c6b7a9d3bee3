//! Small dense linear algebra (a handful of parameters): solving and inverting symmetric
//! positive systems by Gaussian elimination with partial pivoting.

/// Solves `a x = b` in place (`a` is `n x n`, row-major; `b` becomes `x`). `false` when
/// the matrix is singular to working precision.
pub fn solve(a: &mut [f64], b: &mut [f64], n: usize) -> bool {
    debug_assert!(a.len() == n * n && b.len() == n);
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if !(scale.is_finite() && scale > 0.0) {
        return false;
    }
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))
            .unwrap_or(col);
        if a[pivot * n + col].abs() <= scale * 1e-14 {
            return false;
        }
        if pivot != col {
            for k in 0..n {
                a.swap(pivot * n + k, col * n + k);
            }
            b.swap(pivot, col);
        }
        let d = a[col * n + col];
        for row in col + 1..n {
            let f = a[row * n + col] / d;
            if f == 0.0 {
                continue;
            }
            for k in col..n {
                a[row * n + k] -= f * a[col * n + k];
            }
            b[row] -= f * b[col];
        }
    }
    for col in (0..n).rev() {
        let mut s = b[col];
        for k in col + 1..n {
            s -= a[col * n + k] * b[k];
        }
        b[col] = s / a[col * n + col];
    }
    b.iter().all(|v| v.is_finite())
}

/// The inverse of `a` (`n x n`, row-major), or `None` when singular.
pub fn invert(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut inverse = vec![0.0; n * n];
    for col in 0..n {
        let mut m = a.to_vec();
        let mut e = vec![0.0; n];
        e[col] = 1.0;
        if !solve(&mut m, &mut e, n) {
            return None;
        }
        for row in 0..n {
            inverse[row * n + col] = e[row];
        }
    }
    Some(inverse)
}

#[cfg(test)]
mod tests {
    use super::{invert, solve};

    #[test]
    fn a_small_system_and_its_inverse() {
        // 2x + y = 5, x + 3y = 10 -> x = 1, y = 3.
        let mut a = [2.0, 1.0, 1.0, 3.0];
        let mut b = [5.0, 10.0];
        assert!(solve(&mut a, &mut b, 2));
        assert!((b[0] - 1.0).abs() < 1e-12 && (b[1] - 3.0).abs() < 1e-12);
        let inv = invert(&[2.0, 1.0, 1.0, 3.0], 2).unwrap();
        let expected = [0.6, -0.2, -0.2, 0.4];
        for (x, y) in inv.iter().zip(expected) {
            assert!((x - y).abs() < 1e-12);
        }
        assert!(invert(&[1.0, 2.0, 2.0, 4.0], 2).is_none());
    }
}
