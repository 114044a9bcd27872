//! Timestamps in the form SQLAlchemy stores `DateTime` columns in SQLite: naive UTC
//! `YYYY-MM-DD HH:MM:SS.ffffff`, which is what Optuna's RDBStorage reads back.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current UTC time as `YYYY-MM-DD HH:MM:SS.ffffff`.
pub fn now_utc() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_unix_micros(d.as_secs() as i64, d.subsec_micros())
}

/// Format microseconds since the epoch as naive UTC.
pub fn format_micros(micros: i64) -> String {
    format_unix_micros(
        micros.div_euclid(1_000_000),
        micros.rem_euclid(1_000_000) as u32,
    )
}

/// Format seconds since the epoch plus microseconds as naive UTC.
pub fn format_unix_micros(secs: i64, micros: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{micros:06}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_unix_micros(0, 0), "1970-01-01 00:00:00.000000");
        assert_eq!(
            format_unix_micros(951_782_400, 7),
            "2000-02-29 00:00:00.000007"
        );
        assert_eq!(
            format_unix_micros(1_700_000_000, 123_456),
            "2023-11-14 22:13:20.123456"
        );
        assert_eq!(
            format_micros(1_700_000_000_123_456),
            "2023-11-14 22:13:20.123456"
        );
        assert_eq!(format_micros(-1), "1969-12-31 23:59:59.999999");
    }

    #[test]
    fn now_has_sqlalchemy_shape() {
        let s = now_utc();
        assert_eq!(s.len(), 26);
        assert_eq!(&s[10..11], " ");
        assert_eq!(&s[19..20], ".");
    }
}
