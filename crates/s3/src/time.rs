//! UTC timestamps in SigV4's two formats, from the system clock.

use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug)]
pub struct Stamp {
    year: i64,
    month: u32,
    day: u32,
    secs_of_day: u64,
}

pub fn now() -> Stamp {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Stamp::from_unix(secs)
}

impl Stamp {
    pub fn from_unix(secs: u64) -> Stamp {
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        Stamp {
            year,
            month,
            day,
            secs_of_day: secs % 86_400,
        }
    }

    /// `YYYYMMDD`.
    pub fn date(&self) -> String {
        format!("{:04}{:02}{:02}", self.year, self.month, self.day)
    }

    /// `YYYYMMDDTHHMMSSZ`.
    pub fn amz_date(&self) -> String {
        let s = self.secs_of_day;
        format!(
            "{}T{:02}{:02}{:02}Z",
            self.date(),
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::Stamp;

    #[test]
    fn formats_utc() {
        assert_eq!(Stamp::from_unix(1369353600).amz_date(), "20130524T000000Z");
        assert_eq!(
            Stamp::from_unix(951_782_400 + 3661).amz_date(),
            "20000229T010101Z"
        );
        assert_eq!(
            Stamp::from_unix(1_798_761_599).amz_date(),
            "20261231T235959Z"
        );
    }
}
