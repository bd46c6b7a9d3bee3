//! Element-wise numeric functions: time scales and photometry.
//!
//! | function | result |
//! |---|---|
//! | `jd_to_mjd(jd)` | JD - 2400000.5 |
//! | `eros_date_to_mjd(date)` | the EROS `date` column (JD - 2450000) as MJD |
//! | `hjd(mjd, ra, dec)` | heliocentric MJD (correction good to about 0.1 s) |
//! | `mag_to_flux(mag, zp)` | 10^(-0.4 (mag - zp)) |
//! | `flux_to_mag(flux, zp)` | zp - 2.5 log10(flux); null for flux <= 0 |
//! | `mag_err_to_flux_err(mag, mag_err, zp)` | flux x ln(10) / 2.5 x mag_err |

use std::sync::Arc;

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature};

use super::args::{arrays, float, numeric_signature};
use crate::time::{eros_date_to_mjd, heliocentric_mjd, jd_to_mjd};

/// Which function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumericKind {
    /// `jd_to_mjd(jd)`.
    JdToMjd,
    /// `eros_date_to_mjd(date)`.
    ErosDateToMjd,
    /// `hjd(mjd, ra, dec)`.
    Hjd,
    /// `mag_to_flux(mag, zp)`.
    MagToFlux,
    /// `flux_to_mag(flux, zp)`.
    FluxToMag,
    /// `mag_err_to_flux_err(mag, mag_err, zp)`.
    MagErrToFluxErr,
}

impl NumericKind {
    /// Every numeric function.
    pub const ALL: [NumericKind; 6] = [
        NumericKind::JdToMjd,
        NumericKind::ErosDateToMjd,
        NumericKind::Hjd,
        NumericKind::MagToFlux,
        NumericKind::FluxToMag,
        NumericKind::MagErrToFluxErr,
    ];

    fn name(self) -> &'static str {
        match self {
            NumericKind::JdToMjd => "jd_to_mjd",
            NumericKind::ErosDateToMjd => "eros_date_to_mjd",
            NumericKind::Hjd => "hjd",
            NumericKind::MagToFlux => "mag_to_flux",
            NumericKind::FluxToMag => "flux_to_mag",
            NumericKind::MagErrToFluxErr => "mag_err_to_flux_err",
        }
    }

    fn arity(self) -> usize {
        match self {
            NumericKind::JdToMjd | NumericKind::ErosDateToMjd => 1,
            NumericKind::MagToFlux | NumericKind::FluxToMag => 2,
            NumericKind::Hjd | NumericKind::MagErrToFluxErr => 3,
        }
    }

    fn eval(self, v: &[f64]) -> Option<f64> {
        let out = match self {
            NumericKind::JdToMjd => jd_to_mjd(v[0]),
            NumericKind::ErosDateToMjd => eros_date_to_mjd(v[0]),
            NumericKind::Hjd => heliocentric_mjd(v[0], v[1], v[2]),
            NumericKind::MagToFlux => 10f64.powf(-0.4 * (v[0] - v[1])),
            NumericKind::FluxToMag => {
                if v[0] <= 0.0 {
                    return None;
                }
                v[1] - 2.5 * v[0].log10()
            }
            NumericKind::MagErrToFluxErr => {
                10f64.powf(-0.4 * (v[0] - v[2])) * std::f64::consts::LN_10 / 2.5 * v[1]
            }
        };
        out.is_finite().then_some(out)
    }
}

/// One element-wise numeric function; null in, null out.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NumericUdf {
    kind: NumericKind,
    signature: Signature,
}

impl NumericUdf {
    /// The function `kind`.
    pub fn new(kind: NumericKind) -> Self {
        NumericUdf {
            kind,
            signature: numeric_signature(kind.arity()),
        }
    }
}

impl ScalarUDFImpl for NumericUdf {
    fn name(&self) -> &str {
        self.kind.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        crate::docs::documentation(self.kind.name())
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = self.kind.name();
        let a = arrays(&args, name, &[self.kind.arity()])?;
        let cols: Vec<Float64Array> = a
            .iter()
            .map(|x| float(x, name, "arguments"))
            .collect::<Result<_>>()?;
        let mut values = vec![0.0; cols.len()];
        let out: Float64Array = (0..cols[0].len())
            .map(|i| {
                for (v, c) in values.iter_mut().zip(&cols) {
                    if c.is_null(i) {
                        return None;
                    }
                    *v = c.value(i);
                }
                self.kind.eval(&values)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::NumericKind::*;

    #[test]
    fn photometry_round_trips() {
        let f = MagToFlux.eval(&[15.0, 25.0]).unwrap();
        assert!((f - 1e4).abs() < 1e-9);
        assert!((FluxToMag.eval(&[f, 25.0]).unwrap() - 15.0).abs() < 1e-12);
        assert_eq!(FluxToMag.eval(&[0.0, 25.0]), None);
        // 0.01 mag is about 0.921 per cent in flux.
        let e = MagErrToFluxErr.eval(&[15.0, 0.01, 25.0]).unwrap();
        assert!((e / f - 0.009_210_340_371_976_184).abs() < 1e-12);
        assert_eq!(JdToMjd.eval(&[2_400_000.5]), Some(0.0));
        assert_eq!(ErosDateToMjd.eval(&[0.5]), Some(50_000.0));
    }
}
