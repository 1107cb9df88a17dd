//! Plain-text output helpers for the analyst commands: aligned tables, UTC
//! times, and the time arguments analysts type (`7d`, `2024-05-01`, Unix ms).

use riskmesh_node::utc::{civil_from_days, days_from_civil};

/// Renders rows under headings as left-aligned columns separated by two
/// spaces, trailing spaces trimmed.
pub fn table<const N: usize>(headings: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = headings.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(&headings.map(String::from));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// Shortens text to at most `max` characters, marking a cut with `…`.
pub fn clip(text: &str, max: usize) -> String {
    let one_line = text.replace(['\n', '\r', '\t'], " ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A Unix-ms time as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn utc(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Parses a point in time: Unix milliseconds (all digits, 12 or more), or a
/// UTC date `YYYY-MM-DD` optionally followed by `THH:MM[:SS]` (a trailing
/// `Z` is allowed).
pub fn parse_time(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let usage = || {
        format!(
            "`{text}` is not a time: use a UTC date like 2024-05-01 or 2024-05-01T14:30Z, \
             or Unix milliseconds like 1714573800000"
        )
    };
    if text.len() >= 12 && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| usage());
    }
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let number = |s: &str| s.parse::<u32>().map_err(|_| usage());
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(usage());
    };
    if y.len() != 4 {
        return Err(usage());
    }
    let (year, month, day) = (number(y)?, number(m)?, number(d)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || year < 1970 {
        return Err(usage());
    }
    let (mut hour, mut minute, mut second) = (0, 0, 0);
    if let Some(time) = time {
        let parts: Vec<&str> = time.split(':').collect();
        match parts.as_slice() {
            [h, m] => (hour, minute) = (number(h)?, number(m)?),
            [h, m, s] => (hour, minute, second) = (number(h)?, number(m)?, number(s)?),
            _ => return Err(usage()),
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(usage());
        }
    }
    let days = days_from_civil(i64::from(year), month, day);
    if civil_from_days(days) != (i64::from(year), month, day) {
        return Err(format!("`{text}` is not a calendar date"));
    }
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    u64::try_from(secs * 1000).map_err(|_| usage())
}

/// Parses `--since`: a duration back from `now_ms` (`30m`, `24h`, `7d`,
/// `2w`) or a point in time as [`parse_time`] takes it.
pub fn parse_since(text: &str, now_ms: u64) -> Result<u64, String> {
    let trimmed = text.trim();
    let unit = trimmed.chars().last().and_then(|c| match c {
        'm' => Some(60_000u64),
        'h' => Some(3_600_000),
        'd' => Some(86_400_000),
        'w' => Some(7 * 86_400_000),
        _ => None,
    });
    if let Some(unit) = unit {
        let count = &trimmed[..trimmed.len() - 1];
        if let Ok(n) = count.parse::<u64>() {
            return Ok(now_ms.saturating_sub(n.saturating_mul(unit)));
        }
    }
    parse_time(trimmed).map_err(|_| {
        format!(
            "`{text}` is not a --since value: use a duration back from now (30m, 24h, 7d, 2w), \
             a UTC date like 2024-05-01, or Unix milliseconds"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_on_the_widest_cell() {
        let text = table(
            ["ID", "TITLE"],
            &[
                ["a".to_string(), "short".to_string()],
                ["longer".to_string(), "x".to_string()],
            ],
        );
        assert_eq!(text, "ID      TITLE\na       short\nlonger  x\n");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("a\nb", 4), "a b");
    }

    #[test]
    fn times_round_trip_through_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_714_573_800_000), "2024-05-01 14:30:00");
        assert_eq!(parse_time("2024-05-01T14:30Z"), Ok(1_714_573_800_000));
        assert_eq!(parse_time("2024-05-01 14:30:00"), Ok(1_714_573_800_000));
        assert_eq!(parse_time("2024-05-01"), Ok(1_714_521_600_000));
        assert_eq!(parse_time("1714573800000"), Ok(1_714_573_800_000));
        assert_eq!(parse_time("2000-02-29"), Ok(951_782_400_000));
        assert!(parse_time("2023-02-29").is_err());
        assert!(parse_time("yesterday").expect_err("bad").contains("UTC date"));
        assert!(parse_time("2024-13-01").is_err());
    }

    #[test]
    fn since_takes_durations_dates_and_milliseconds() {
        let now = 1_714_573_800_000;
        assert_eq!(parse_since("30m", now), Ok(now - 1_800_000));
        assert_eq!(parse_since("7d", now), Ok(now - 7 * 86_400_000));
        assert_eq!(parse_since("2024-05-01", now), Ok(1_714_521_600_000));
        assert!(parse_since("7 days", now).expect_err("bad").contains("--since"));
    }
}
