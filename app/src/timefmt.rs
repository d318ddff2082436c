//! UTC times for people, without a date library, identical on server and in the browser
//! (so hydration never disagrees): `2026-11-23 01:30 UTC`, and parsing of the value an
//! `<input type="datetime-local">` sends (`2026-11-23T01:30`, read as UTC).

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (if month <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, month, day)
}

/// `2026-11-23` and `01:30` from UTC unix milliseconds.
fn date_and_minute(ms: i64) -> (String, String) {
    let secs = ms.div_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    (format!("{year:04}-{month:02}-{day:02}"), format!("{:02}:{:02}", rem / 3600, rem % 3600 / 60))
}

/// `2026-11-23 01:30 UTC` from UTC unix milliseconds.
pub fn format_utc(ms: i64) -> String {
    let (date, minute) = date_and_minute(ms);
    format!("{date} {minute} UTC")
}

/// The start of the minute `ms` falls in.
pub fn to_minute(ms: i64) -> i64 {
    ms - ms.rem_euclid(60_000)
}

/// `2026-11-23T01:30`: the value an `<input type="datetime-local">` shows (UTC).
pub fn format_datetime_local(ms: i64) -> String {
    let (date, minute) = date_and_minute(ms);
    format!("{date}T{minute}")
}

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// The start of the UTC hour that `ms` falls in.
pub fn start_of_utc_hour(ms: i64) -> i64 {
    ms - ms.rem_euclid(HOUR_MS)
}

/// The start (midnight) of the UTC day that `ms` falls in.
pub fn start_of_utc_day(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY_MS)
}

/// The start of the first day of the UTC month that `ms` falls in.
pub fn start_of_utc_month(ms: i64) -> i64 {
    let (year, month, _) = civil_from_days(ms.div_euclid(DAY_MS));
    days_from_civil(year, month, 1) * DAY_MS
}

/// `14:00` from UTC unix milliseconds: the hour and minute only.
pub fn format_utc_time(ms: i64) -> String {
    let minutes = ms.div_euclid(60_000).rem_euclid(24 * 60);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// UTC unix milliseconds from `YYYY-MM-DDTHH:MM` (optionally `:SS`), read as UTC.
pub fn parse_datetime_local(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once(['T', ' '])?;
    let mut date = date.split('-');
    let year: i64 = date.next()?.parse().ok()?;
    let month: i64 = date.next()?.parse().ok()?;
    let day: i64 = date.next()?.parse().ok()?;
    let mut time = time.split(':');
    let hour: i64 = time.next()?.parse().ok()?;
    let minute: i64 = time.next()?.parse().ok()?;
    let second: i64 = match time.next() {
        Some(second) => second.split('.').next()?.parse().ok()?,
        None => 0,
    };
    if date.next().is_some() || time.next().is_some() {
        return None;
    }
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=9999).contains(&year) || !(1..=days_in_month).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(secs * 1000)
}

/// A time typed in a `datetime-local` form field (read as UTC); empty means none.
#[cfg(feature = "ssr")]
pub fn parse_form_time(param: &str, text: Option<&str>) -> Result<Option<i64>, crate::error::AppError> {
    match text.map(str::trim).filter(|text| !text.is_empty()) {
        None => Ok(None),
        Some(text) => parse_datetime_local(text).map(Some).ok_or_else(|| {
            crate::error::AppError::invalid(param, "Times must be a date and time such as 2030-01-31T18:00 (UTC).")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(parse_datetime_local("1970-01-01T00:00"), Some(0));
        let ms = parse_datetime_local("2030-02-28T23:59:30").unwrap();
        assert_eq!(ms, 1_898_553_570_000);
        assert_eq!(format_utc(ms), "2030-02-28 23:59 UTC");
        assert_eq!(parse_datetime_local("2024-02-29T12:00").map(format_utc).as_deref(), Some("2024-02-29 12:00 UTC"));
        assert_eq!(parse_datetime_local("2023-02-29T12:00"), None);
        assert_eq!(parse_datetime_local("tomorrow"), None);
        assert_eq!(parse_datetime_local("2030-01-01T24:00"), None);
        assert_eq!(format_datetime_local(ms), "2030-02-28T23:59");
        assert_eq!(parse_datetime_local(&format_datetime_local(ms)), Some(to_minute(ms)));
        assert_eq!(to_minute(ms), ms - 30_000);
    }

    #[test]
    fn finds_the_start_of_utc_hours_days_and_months() {
        let ms = parse_datetime_local("2024-02-29T13:45:10").unwrap();
        assert_eq!(format_utc(start_of_utc_hour(ms)), "2024-02-29 13:00 UTC");
        assert_eq!(format_utc(start_of_utc_day(ms)), "2024-02-29 00:00 UTC");
        assert_eq!(format_utc(start_of_utc_month(ms)), "2024-02-01 00:00 UTC");
        assert_eq!(start_of_utc_month(parse_datetime_local("2030-01-01T00:00").unwrap()), 1_893_456_000_000);
        assert_eq!(format_utc(start_of_utc_month(-1)), "1969-12-01 00:00 UTC");
        assert_eq!(format_utc_time(ms), "13:45");
    }
}
