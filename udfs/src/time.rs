//! Calendar conversions between MJD and ISO 8601 (UTC, proleptic Gregorian).

/// MJD of 1970-01-01T00:00:00.
const MJD_UNIX_EPOCH: f64 = 40587.0;

/// Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Civil date of a day count from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// MJD to `YYYY-MM-DDThh:mm:ss.sss`.
pub fn mjd_to_iso(mjd: f64) -> String {
    let total_ms = ((mjd - MJD_UNIX_EPOCH) * 86_400_000.0).round() as i64;
    let days = total_ms.div_euclid(86_400_000);
    let ms = total_ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// `YYYY-MM-DD[Thh:mm:ss[.sss]]` to MJD; `None` when it does not parse.
pub fn iso_to_mjd(iso: &str) -> Option<f64> {
    let iso = iso.trim();
    let (date, time) = iso.split_once('T').unwrap_or((iso, "00:00:00"));
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let m: i64 = dp.next()?.parse().ok()?;
    let d: i64 = dp.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut tp = time.trim_end_matches('Z').split(':');
    let h: f64 = tp.next().unwrap_or("0").parse().ok()?;
    let mi: f64 = tp.next().unwrap_or("0").parse().ok()?;
    let s: f64 = tp.next().unwrap_or("0").parse().ok()?;
    let days = days_from_civil(y, m, d) as f64;
    Some(MJD_UNIX_EPOCH + days + (h * 3600.0 + mi * 60.0 + s) / 86400.0)
}

/// The EROS light-curve `date` column (JD - 2450000) to MJD.
pub fn eros_date_to_mjd(date: f64) -> f64 {
    date + 49_999.5
}

/// Julian Date to MJD.
pub fn jd_to_mjd(jd: f64) -> f64 {
    jd - 2_400_000.5
}

/// Light time for one astronomical unit, in days (499.004784 s).
const AU_LIGHT_DAYS: f64 = 499.004_784 / 86_400.0;

/// Heliocentric MJD of an observation at `mjd` (UTC) of a star at (ra, dec) in degrees
/// (ICRS): adds the light time between the Earth and the Sun projected on the star's
/// direction. The Sun's position comes from the low-precision formulae of the
/// Astronomical Almanac (0.01 degree, 1e-4 AU from 1950 to 2050), taken from the apparent
/// equinox of date to the J2000 equator (precession in longitude, annual aberration
/// removed); the correction is good to about 0.1 s (checked against astropy in CI). The
/// difference between UTC and TT is neglected (it moves the Sun by 1e-5 degree).
pub fn heliocentric_mjd(mjd: f64, ra: f64, dec: f64) -> f64 {
    let n = mjd - 51_544.5;
    let centuries = n / 36_525.0;
    let l = 280.460 + 0.985_647_4 * n;
    let g = (357.528 + 0.985_600_3 * n).to_radians();
    let apparent = l + 1.915 * g.sin() + 0.020 * (2.0 * g).sin();
    // Geometric longitude referred to the J2000 equinox.
    let lambda = (apparent + 20.496 / 3600.0 - 1.396_971 * centuries).to_radians();
    let eps = 23.439_291_1_f64.to_radians();
    let r = 1.000_14 - 0.016_71 * g.cos() - 0.000_14 * (2.0 * g).cos();
    // Geocentric unit vectors of the Sun and of the star, J2000 equatorial.
    let sun = [
        lambda.cos(),
        eps.cos() * lambda.sin(),
        eps.sin() * lambda.sin(),
    ];
    let (sa, ca) = ra.to_radians().sin_cos();
    let (sd, cd) = dec.to_radians().sin_cos();
    let star = [cd * ca, cd * sa, sd];
    let dot: f64 = sun.iter().zip(star).map(|(a, b)| a * b).sum();
    mjd - r * AU_LIGHT_DAYS * dot
}

/// MJD to the EROS `date` (JD - 2450000).
pub fn mjd_to_eros_date(mjd: f64) -> f64 {
    mjd - 49_999.5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_epochs() {
        // MJD 51544.5 is 2000-01-01T12:00:00 (J2000.0).
        assert_eq!(mjd_to_iso(51544.5), "2000-01-01T12:00:00.000");
        assert_eq!(iso_to_mjd("2000-01-01T12:00:00"), Some(51544.5));
        // The Apogee Alta header: DATE-OBS 2011-09-01T02:09:05, MJD-OBS 55805.089641204.
        let mjd = iso_to_mjd("2011-09-01T02:09:05").unwrap();
        assert!((mjd - 55805.089641204).abs() < 1e-8);
        assert_eq!(eros_date_to_mjd(294.91026), 50294.41026);
        assert!(iso_to_mjd("2011-13-01").is_none());
        assert_eq!(jd_to_mjd(2_451_545.0), 51_544.5);
    }

    #[test]
    fn heliocentric_correction_geometry() {
        // Around 2000-03-20 the Sun is near (RA, Dec) = (0, 0). For a star in that
        // direction the Sun is nearer to it than the Earth by R (0.996 AU): its light
        // reaches the Sun 497 s before the Earth. Opposite: 497 s after. At 90 degrees
        // from the Sun: no correction.
        let mjd = 51_623.3;
        let toward_sun = heliocentric_mjd(mjd, 0.0, 0.0) - mjd;
        assert!(
            (toward_sun * 86_400.0 + 496.0).abs() < 5.0,
            "{}",
            toward_sun * 86_400.0
        );
        let away = heliocentric_mjd(mjd, 180.0, 0.0) - mjd;
        assert!((away + toward_sun).abs() < 1e-9);
        let across = heliocentric_mjd(mjd, 0.0, 90.0) - mjd;
        assert!(across.abs() * 86_400.0 < 5.0);
        // Never more than the light time of the Earth's aphelion distance.
        for k in 0..365 {
            let d = heliocentric_mjd(51_544.5 + k as f64, 80.0, -69.0) - (51_544.5 + k as f64);
            assert!(d.abs() * 86_400.0 < 499.0 * 1.0168);
        }
    }
}
