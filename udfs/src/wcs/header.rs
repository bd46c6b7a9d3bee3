//! Reading a [`Wcs`] from FITS header cards, with errors that name the keyword.

use std::fmt;

use super::Wcs;
use crate::fits_card::{Card, CardValue};

/// A header that cannot be understood as a celestial WCS, naming the keyword at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WcsError {
    /// The keyword at fault (e.g. `CTYPE1`, `CD`, `A_ORDER`).
    pub keyword: String,
    /// What is wrong with it.
    pub reason: String,
}

impl WcsError {
    /// An error about `keyword`.
    pub fn new(keyword: &str, reason: &str) -> Self {
        WcsError {
            keyword: keyword.to_string(),
            reason: reason.to_string(),
        }
    }

    /// A required keyword is absent.
    pub fn missing(keyword: &str) -> Self {
        WcsError::new(keyword, "missing")
    }
}

impl fmt::Display for WcsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WCS keyword {}: {}", self.keyword, self.reason)
    }
}

impl std::error::Error for WcsError {}

impl Wcs {
    /// Builds a celestial WCS from the cards of one HDU.
    ///
    /// Accepts the CD matrix, PCi_j with CDELTi, and the legacy CDELTi with CROTA2.
    /// Fails, naming the keyword, when CTYPEi are missing or not celestial, when a
    /// numeric keyword holds text, or when no scale can be found.
    pub fn from_cards(cards: &[Card]) -> Result<Self, WcsError> {
        let find = |k: &str| cards.iter().rev().find(|c| c.keyword == k);
        let number = |k: &str| -> Result<Option<f64>, WcsError> {
            match find(k) {
                None => Ok(None),
                Some(c) => match &c.value {
                    CardValue::Undefined => Ok(None),
                    v => v
                        .as_f64()
                        .map(Some)
                        .ok_or_else(|| WcsError::new(k, &format!("not a number: {v}"))),
                },
            }
        };
        let text = |k: &str| find(k).and_then(|c| c.value.as_str().map(str::to_string));

        let ctype1 = text("CTYPE1").ok_or_else(|| WcsError::missing("CTYPE1"))?;
        let ctype2 = text("CTYPE2").ok_or_else(|| WcsError::missing("CTYPE2"))?;
        for (key, ctype) in [("CTYPE1", &ctype1), ("CTYPE2", &ctype2)] {
            if ctype.len() < 8 || ctype.as_bytes()[4] != b'-' {
                return Err(WcsError::new(
                    key,
                    &format!("'{ctype}' is not a celestial axis with a projection"),
                ));
            }
        }
        let crval = [
            number("CRVAL1")?.ok_or_else(|| WcsError::missing("CRVAL1"))?,
            number("CRVAL2")?.ok_or_else(|| WcsError::missing("CRVAL2"))?,
        ];
        for (key, v) in [("CRVAL1", crval[0]), ("CRVAL2", crval[1])] {
            if !v.is_finite() {
                return Err(WcsError::new(key, "not a finite number"));
            }
        }
        let crpix = [
            number("CRPIX1")?.unwrap_or(0.0),
            number("CRPIX2")?.unwrap_or(0.0),
        ];
        let cd = linear_matrix(&number)?;

        let mut terms = Vec::new();
        for card in cards {
            let k = card.keyword.as_str();
            let is_term = k.starts_with("PV")
                || k.starts_with("A_")
                || k.starts_with("B_")
                || k.starts_with("AP_")
                || k.starts_with("BP_");
            if is_term {
                let v = card
                    .value
                    .as_f64()
                    .ok_or_else(|| WcsError::new(k, &format!("not a number: {}", card.value)))?;
                terms.push((k.to_string(), v));
            }
        }
        Ok(Wcs {
            ctype1,
            ctype2,
            crval,
            crpix,
            cd,
            lonpole: number("LONPOLE")?,
            latpole: number("LATPOLE")?,
            radesys: text("RADESYS").or_else(|| text("RADECSYS")),
            equinox: number("EQUINOX")?.or(number("EPOCH")?),
            terms,
        })
    }
}

type NumberLookup<'a> = dyn Fn(&str) -> Result<Option<f64>, WcsError> + 'a;

/// CD, else PC x CDELT, else CDELT with CROTA2 (FITS WCS paper II, 6.1).
fn linear_matrix(number: &NumberLookup<'_>) -> Result<[[f64; 2]; 2], WcsError> {
    let cd = [
        number("CD1_1")?,
        number("CD1_2")?,
        number("CD2_1")?,
        number("CD2_2")?,
    ];
    if cd.iter().any(Option::is_some) {
        let v = |o: Option<f64>| o.unwrap_or(0.0);
        return Ok([[v(cd[0]), v(cd[1])], [v(cd[2]), v(cd[3])]]);
    }
    let cdelt1 = number("CDELT1")?;
    let cdelt2 = number("CDELT2")?;
    let (Some(c1), Some(c2)) = (cdelt1, cdelt2) else {
        return Err(WcsError::new(
            "CD1_1",
            "no scale: neither CDi_j nor CDELT1 and CDELT2 are given",
        ));
    };
    let pc = [
        number("PC1_1")?,
        number("PC1_2")?,
        number("PC2_1")?,
        number("PC2_2")?,
    ];
    if pc.iter().any(Option::is_some) {
        let pc11 = pc[0].unwrap_or(1.0);
        let pc12 = pc[1].unwrap_or(0.0);
        let pc21 = pc[2].unwrap_or(0.0);
        let pc22 = pc[3].unwrap_or(1.0);
        return Ok([[c1 * pc11, c1 * pc12], [c2 * pc21, c2 * pc22]]);
    }
    let rho = number("CROTA2")?.unwrap_or(0.0).to_radians();
    let (s, c) = rho.sin_cos();
    Ok([[c1 * c, -c2 * s], [c1 * s, c2 * c]])
}
