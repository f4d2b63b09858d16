//! Times and the combined log format, without a date crate: a UTC civil date from Unix time
//! (Howard Hinnant's `civil_from_days`).

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use super::AccessRecord;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `time` as RFC 3339 in UTC with milliseconds: `2026-12-07T05:16:19.123Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rest = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// Year, month (1–12), day (1–31) of a day counted from 1970-01-01.
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

/// Appends the record in the combined log format:
/// `client - - [07/Dec/2026:05:16:19 +0000] "GET /x HTTP/1.1" 200 5 "-" "-"`. Referer and
/// user agent are `-`: weir does not keep header values in its records.
pub(super) fn combined(record: &AccessRecord, out: &mut String) {
    let host = record
        .client
        .rsplit_once(':')
        .map_or(record.client.as_str(), |(ip, _)| ip);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let _ = write!(
        out,
        "{host} - - [{}] \"{} {} {}\" {} ",
        clf_time(&record.time),
        record.method,
        record.target,
        record.version,
        record.status
    );
    match record.bytes_out {
        0 => out.push('-'),
        n => {
            let _ = write!(out, "{n}");
        }
    }
    out.push_str(" \"-\" \"-\"");
}

/// `2026-12-07T05:16:19.123Z` → `07/Dec/2026:05:16:19 +0000`.
fn clf_time(rfc3339: &str) -> String {
    let part = |range: std::ops::Range<usize>| rfc3339.get(range).unwrap_or("00");
    let month = part(5..7)
        .parse::<usize>()
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{}/{month}/{}:{} +0000",
        part(8..10),
        rfc3339.get(0..4).unwrap_or("1970"),
        rfc3339.get(11..19).unwrap_or("00:00:00")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_renders_utc_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_millis(951_782_400_000 + 3_723_456);
        assert_eq!(rfc3339(leap), "2000-02-29T01:02:03.456Z");
        let later = UNIX_EPOCH + Duration::from_secs(1_796_620_579);
        assert_eq!(rfc3339(later), "2026-12-07T05:16:19.000Z");
    }

    #[test]
    fn combined_lines_follow_the_apache_format() {
        let record = AccessRecord {
            time: "2026-12-07T05:16:19.123Z".to_owned(),
            client: "[::1]:5000".to_owned(),
            method: "GET".to_owned(),
            target: "/a?b=1".to_owned(),
            version: "HTTP/1.1",
            status: 200,
            bytes_out: 5,
            ..AccessRecord::default()
        };
        let mut line = String::new();
        combined(&record, &mut line);
        assert_eq!(
            line,
            "::1 - - [07/Dec/2026:05:16:19 +0000] \"GET /a?b=1 HTTP/1.1\" 200 5 \"-\" \"-\""
        );
    }
}
