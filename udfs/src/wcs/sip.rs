//! Simple Imaging Polynomial distortion (Shupe et al. 2005): A/B forward, AP/BP inverse.

use super::WcsError;

/// Polynomial coefficients, indexed `[p][q]` for the term u^p v^q (q <= order - p).
type Coefficients = Vec<Vec<f64>>;

/// SIP coefficients: A and B (forward), optionally AP and BP (inverse).
#[derive(Debug, Clone, PartialEq)]
pub struct Sip {
    a: Coefficients,
    b: Coefficients,
    ap: Option<(Coefficients, Coefficients)>,
}

impl Sip {
    /// Collects `A_ORDER`, `A_p_q`, `B_...`, and optionally `AP_...`, `BP_...`.
    pub fn from_terms(terms: &[(String, f64)]) -> Result<Self, WcsError> {
        let a = matrix(terms, "A")?.ok_or_else(|| WcsError::missing("A_ORDER"))?;
        let b = matrix(terms, "B")?.ok_or_else(|| WcsError::missing("B_ORDER"))?;
        let ap = match (matrix(terms, "AP")?, matrix(terms, "BP")?) {
            (Some(ap), Some(bp)) => Some((ap, bp)),
            (None, None) => None,
            (Some(_), None) => return Err(WcsError::missing("BP_ORDER")),
            (None, Some(_)) => return Err(WcsError::missing("AP_ORDER")),
        };
        Ok(Sip { a, b, ap })
    }

    /// The distortion (f(u, v), g(u, v)) to add to the pixel offsets from CRPIX.
    pub fn forward(&self, u: f64, v: f64) -> (f64, f64) {
        (poly(&self.a, u, v), poly(&self.b, u, v))
    }

    /// Undistorted offsets (U, V) to pixel offsets (u, v): with AP/BP when given as the
    /// starting point, then Newton iterations on the forward polynomial so that the
    /// round trip is exact whatever the quality of AP/BP.
    pub fn inverse(&self, big_u: f64, big_v: f64) -> Option<(f64, f64)> {
        let (mut u, mut v) = match &self.ap {
            Some((ap, bp)) => (
                big_u + poly(ap, big_u, big_v),
                big_v + poly(bp, big_u, big_v),
            ),
            None => (big_u, big_v),
        };
        for _ in 0..50 {
            let (f, g) = self.forward(u, v);
            let ru = u + f - big_u;
            let rv = v + g - big_v;
            if ru.abs() < 1e-12 && rv.abs() < 1e-12 {
                return Some((u, v));
            }
            let (fu, fv) = partials(&self.a, u, v);
            let (gu, gv) = partials(&self.b, u, v);
            let j11 = 1.0 + fu;
            let j12 = fv;
            let j21 = gu;
            let j22 = 1.0 + gv;
            let det = j11 * j22 - j12 * j21;
            if det == 0.0 || !det.is_finite() {
                return None;
            }
            u -= (j22 * ru - j12 * rv) / det;
            v -= (-j21 * ru + j11 * rv) / det;
        }
        let (f, g) = self.forward(u, v);
        ((u + f - big_u).abs() < 1e-8 && (v + g - big_v).abs() < 1e-8).then_some((u, v))
    }
}

fn matrix(terms: &[(String, f64)], name: &str) -> Result<Option<Coefficients>, WcsError> {
    let order_key = format!("{name}_ORDER");
    let Some(order) = terms.iter().find(|(k, _)| *k == order_key).map(|(_, v)| *v) else {
        return Ok(None);
    };
    if !(0.0..=20.0).contains(&order) || order.fract() != 0.0 {
        return Err(WcsError::new(&order_key, &format!("invalid order {order}")));
    }
    let n = order as usize;
    // Row p holds the terms u^p v^q with p + q <= n.
    let mut m: Coefficients = (0..=n).map(|p| vec![0.0; n + 1 - p]).collect();
    let prefix = format!("{name}_");
    for (k, v) in terms {
        let Some(rest) = k.strip_prefix(&prefix) else {
            continue;
        };
        let Some((p, q)) = rest.split_once('_') else {
            continue;
        };
        let (Ok(p), Ok(q)) = (p.parse::<usize>(), q.parse::<usize>()) else {
            continue;
        };
        if p.checked_add(q).is_none_or(|degree| degree > n) {
            return Err(WcsError::new(k, &format!("term beyond {order_key} = {n}")));
        }
        m[p][q] = *v;
    }
    Ok(Some(m))
}

/// sum over p, q of m[p][q] u^p v^q, by Horner's scheme in v within each row and in u
/// across the rows.
fn poly(m: &[Vec<f64>], u: f64, v: f64) -> f64 {
    m.iter()
        .rev()
        .fold(0.0, |acc, row| acc * u + horner(row, v))
}

/// The polynomial's derivatives with respect to u and v, by the same scheme (the
/// derivative of a Horner sum carried alongside it).
fn partials(m: &[Vec<f64>], u: f64, v: f64) -> (f64, f64) {
    let (mut f, mut du, mut dv) = (0.0, 0.0, 0.0);
    for row in m.iter().rev() {
        let (r, dr) = horner_with_derivative(row, v);
        du = du * u + f;
        f = f * u + r;
        dv = dv * u + dr;
    }
    (du, dv)
}

fn horner(row: &[f64], v: f64) -> f64 {
    row.iter().rev().fold(0.0, |acc, c| acc * v + c)
}

fn horner_with_derivative(row: &[f64], v: f64) -> (f64, f64) {
    row.iter()
        .rev()
        .fold((0.0, 0.0), |(r, dr), c| (r * v + c, dr * v + r))
}
