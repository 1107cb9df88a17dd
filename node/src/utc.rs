//! UTC calendar arithmetic for the text forms of time the node and the CLI
//! show and read: RFC 3339 timestamps (STIX and TAXII), and the proleptic
//! Gregorian day counts behind them. No clock is read here.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A Unix-ms time as an RFC 3339 UTC timestamp with milliseconds, the form
/// STIX 2.1 and TAXII 2.1 use: `2024-05-01T14:30:00.000Z`.
pub fn rfc3339_ms(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
}

/// Parses an RFC 3339 UTC timestamp (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the
/// STIX and TAXII form) into Unix ms; digits past the millisecond are
/// dropped. Offsets other than `Z`, dates before 1970 and impossible dates
/// are refused with a message that shows the expected form.
pub fn parse_rfc3339(text: &str) -> Result<u64, String> {
    let usage = || format!("`{text}` is not a UTC timestamp like 2024-05-01T14:30:00.000Z");
    let body = text.strip_suffix(['Z', 'z']).ok_or_else(usage)?;
    let (date, time) = body.split_once(['T', 't']).ok_or_else(usage)?;
    let number = |s: &str, len: usize| -> Result<u32, String> {
        if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(usage());
        }
        s.parse().map_err(|_| usage())
    };
    let mut d = date.split('-');
    let (Some(y), Some(m), Some(dd), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err(usage());
    };
    let (year, month, day) = (number(y, 4)?, number(m, 2)?, number(dd, 2)?);
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (time, None),
    };
    let mut t = clock.split(':');
    let (Some(h), Some(mi), Some(s), None) = (t.next(), t.next(), t.next(), t.next()) else {
        return Err(usage());
    };
    let (hour, minute, second) = (number(h, 2)?, number(mi, 2)?, number(s, 2)?);
    let millis = match fraction {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            let padded = format!("{f:0<3}");
            padded[..3].parse::<u64>().map_err(|_| usage())?
        }
        Some(_) => return Err(usage()),
    };
    if year < 1970 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 60 {
        return Err(usage());
    }
    let days = days_from_civil(i64::from(year), month, day);
    if civil_from_days(days) != (i64::from(year), month, day) {
        return Err(format!("`{text}` is not a calendar date"));
    }
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second.min(59));
    u64::try_from(secs)
        .map(|s| s * 1000 + millis)
        .map_err(|_| usage())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_and_refuses_what_is_not_one() {
        for ms in [0, 1_714_573_800_123, 951_782_400_000, 4_102_444_799_999] {
            assert_eq!(parse_rfc3339(&rfc3339_ms(ms)), Ok(ms), "{}", rfc3339_ms(ms));
        }
        assert_eq!(rfc3339_ms(1_714_573_800_123), "2024-05-01T14:30:00.123Z");
        assert_eq!(parse_rfc3339("2024-05-01T14:30:00Z"), Ok(1_714_573_800_000));
        assert_eq!(
            parse_rfc3339("2024-05-01T14:30:00.123456Z"),
            Ok(1_714_573_800_123)
        );
        assert_eq!(parse_rfc3339("2024-05-01T14:30:00.1Z"), Ok(1_714_573_800_100));
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01T14:30:00",
            "2024-05-01T14:30:00+01:00",
            "2024-02-30T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2024-05-01T24:00:00Z",
            "2024-5-01T14:30:00Z",
            "2024-05-01T14:30:00.Z",
            "2024-05-01T14:30:00.12a Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad} was accepted");
        }
    }
}
