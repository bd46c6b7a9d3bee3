//! The time row rules are judged at: the system's, or the one `SKYQL_NOW` sets
//! (`2027-06-02` or `2027-06-02T12:00:00`, UTC), so that tests and rehearsals can see the
//! catalogue as it will be after a release date.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};

/// The variable that sets the clock.
pub const NOW_VARIABLE: &str = "SKYQL_NOW";

/// The time `SKYQL_NOW` sets, if it is set (read once, when a service starts).
pub fn fixed_now() -> Result<Option<f64>> {
    match std::env::var(NOW_VARIABLE) {
        Ok(text) => match parse_date(&text) {
            Some(mjd) => Ok(Some(mjd)),
            None => bail!("{NOW_VARIABLE}={text:?} is not a date (YYYY-MM-DD[THH:MM:SS], UTC)"),
        },
        Err(_) => Ok(None),
    }
}

/// The system clock as an MJD.
pub fn system_mjd() -> f64 {
    mjd_of(SystemTime::now())
}

/// A time as an MJD (UTC).
pub fn mjd_of(t: SystemTime) -> f64 {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    secs / 86_400.0 + 40_587.0
}

/// A date (`YYYY-MM-DD`) or date and time (`YYYY-MM-DDTHH:MM:SS`, UTC) as an MJD.
pub fn parse_date(text: &str) -> Option<f64> {
    let text = text.trim().trim_end_matches('Z');
    let date = text.split('T').next()?;
    let parts: Vec<&str> = date.split('-').collect();
    let plain = parts.len() == 3
        && parts[0].len() == 4
        && parts[1].len() == 2
        && parts[2].len() == 2
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if !plain {
        return None;
    }
    skyql_udfs::time::iso_to_mjd(text)
}

/// An MJD as an ISO date and time with a Z.
pub fn iso(mjd: f64) -> String {
    format!("{}Z", skyql_udfs::time::mjd_to_iso(mjd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_as_utc_days_and_nonsense_is_refused() {
        assert_eq!(parse_date("1858-11-17"), Some(0.0));
        assert_eq!(parse_date("2027-06-01"), Some(61_557.0));
        let noon = parse_date("2027-06-01T12:00:00").unwrap();
        assert!((noon - 61_557.5).abs() < 1e-9);
        for bad in ["", "tomorrow", "2027-6-1", "27-06-01", "2027-13-01x"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
