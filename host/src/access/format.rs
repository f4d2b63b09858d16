//! Times and the combined log format, without a date crate: a UTC civil date from Unix time
//! (Howard Hinnant's `civil_from_days`).

use std::fmt::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use http::Uri;

use super::AccessRecord;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `time` as RFC 3339 in UTC with milliseconds: `2026-12-07T05:16:19.123Z`.
pub fn rfc3339(time: SystemTime) -> String {
    Rfc3339(time).to_string()
}

/// Displays a time as RFC 3339 in UTC with milliseconds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rfc3339(pub(super) SystemTime);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Civil {
            year,
            month,
            day,
            seconds,
        } = Civil::of(self.0);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
            self.0
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_millis()
        )
    }
}

/// A UTC date and the seconds into its day.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    seconds: u64,
}

impl Civil {
    fn of(time: SystemTime) -> Self {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        Self {
            year,
            month,
            day,
            seconds: secs % 86_400,
        }
    }
}

/// Displays a request target for the log: path and query; `host:port` for an authority
/// (CONNECT); for an absolute URI scheme, host, port, path and query, never user info (it may
/// hold a password).
#[derive(Clone, Copy, Debug)]
pub struct Target<'a>(pub &'a Uri);

impl fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uri = self.0;
        let path = uri.path_and_query().map_or("", |p| p.as_str());
        let host_port = |f: &mut fmt::Formatter<'_>, authority: &http::uri::Authority| {
            f.write_str(authority.host())?;
            match authority.port() {
                Some(port) => write!(f, ":{port}"),
                None => Ok(()),
            }
        };
        match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => {
                write!(f, "{scheme}://")?;
                host_port(f, authority)?;
                f.write_str(path)
            }
            (None, Some(authority)) => host_port(f, authority),
            _ => f.write_str(path),
        }
    }
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
    let Civil {
        year,
        month,
        day,
        seconds,
    } = Civil::of(record.time);
    let month = MONTHS
        .get((month as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("Jan");
    let _ = write!(
        out,
        "{} - - [{day:02}/{month}/{year:04}:{:02}:{:02}:{:02} +0000] \"{} {} {}\" {} ",
        record.client.ip(),
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        record.method,
        Target(&record.target),
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
    fn logged_targets_never_carry_userinfo() {
        let shown = |uri: &str| Target(&uri.parse().unwrap()).to_string();
        assert_eq!(
            shown("http://user:secret@example.com:8080/a?b=1"),
            "http://example.com:8080/a?b=1"
        );
        assert_eq!(shown("example.com:443"), "example.com:443");
        assert_eq!(shown("/x?y=2"), "/x?y=2");
    }

    #[test]
    fn combined_lines_follow_the_apache_format() {
        let record = AccessRecord {
            time: UNIX_EPOCH + Duration::from_millis(1_796_620_579_123),
            client: "[::1]:5000".parse().unwrap(),
            target: Uri::from_static("/a?b=1"),
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
