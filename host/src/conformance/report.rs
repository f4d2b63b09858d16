//! Rendering a report for people (one line per check) and for machines (JSON, JUnit XML, TAP).

use std::fmt::Write as _;

use super::Report;

/// Output format of `weir test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One line per check, reasons indented below failures and warnings, a closing
    /// `N passed, M failed` (`, K warnings` when there are any).
    Human,
    /// One JSON object.
    Json,
    /// JUnit XML, one test suite per group.
    Junit,
    /// TAP version 13.
    Tap,
}

pub(super) fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Human => human(report),
        Format::Json => json(report),
        Format::Junit => junit(report),
        Format::Tap => tap(report),
    }
}

fn human(report: &Report) -> String {
    let mut out = format!("weir test {}\n", report.plugin);
    for check in &report.checks {
        let status = match (&check.failure, &check.warning) {
            (Some(_), _) => "FAIL",
            (None, Some(_)) => "WARN",
            (None, None) => "ok  ",
        };
        let _ = writeln!(out, "{status} {}: {}", check.group, check.name);
        if let Some(failure) = &check.failure {
            for line in failure.reason.lines().take(40) {
                let _ = writeln!(out, "       {line}");
            }
            if let Some(input) = &failure.input {
                let _ = writeln!(out, "       input: {input}");
            }
        }
        if let Some(warning) = &check.warning {
            let _ = writeln!(out, "       warning: {warning}");
        }
    }
    let _ = write!(
        out,
        "{} passed, {} failed",
        report.passed(),
        report.failed()
    );
    match report.warnings() {
        0 => out.push('\n'),
        1 => out.push_str(", 1 warning\n"),
        n => {
            let _ = writeln!(out, ", {n} warnings");
        }
    }
    out
}

fn json(report: &Report) -> String {
    let checks: Vec<serde_json::Value> = report
        .checks
        .iter()
        .map(|c| {
            serde_json::json!({
                "group": c.group,
                "name": c.name,
                "passed": c.failure.is_none(),
                "reason": c.failure.as_ref().map(|f| &f.reason),
                "input": c.failure.as_ref().and_then(|f| f.input.as_ref()),
                "warning": c.warning,
                "duration_ms": c.duration.as_secs_f64() * 1000.0,
            })
        })
        .collect();
    let value = serde_json::json!({
        "plugin": report.plugin,
        "passed": report.passed(),
        "failed": report.failed(),
        "warnings": report.warnings(),
        "checks": checks,
    });
    format!("{value:#}\n")
}

fn junit(report: &Report) -> String {
    let mut groups: Vec<&str> = Vec::new();
    for check in &report.checks {
        if !groups.contains(&check.group.as_str()) {
            groups.push(&check.group);
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\">",
        xml(&report.plugin),
        report.checks.len(),
        report.failed()
    );
    for group in groups {
        let checks: Vec<_> = report.checks.iter().filter(|c| c.group == group).collect();
        let failures = checks.iter().filter(|c| c.failure.is_some()).count();
        let time: f64 = checks.iter().map(|c| c.duration.as_secs_f64()).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"{time:.3}\">",
            xml(group),
            checks.len()
        );
        for check in checks {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml(group),
                xml(&check.name),
                check.duration.as_secs_f64()
            );
            match &check.failure {
                None => match &check.warning {
                    None => out.push_str("/>\n"),
                    Some(warning) => {
                        let _ = writeln!(
                            out,
                            ">\n      <system-out>warning: {}</system-out>\n    </testcase>",
                            xml(warning)
                        );
                    }
                },
                Some(failure) => {
                    let detail = match &failure.input {
                        Some(input) => format!("{}\ninput: {input}", failure.reason),
                        None => failure.reason.clone(),
                    };
                    let first = failure.reason.lines().next().unwrap_or_default();
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        xml(first),
                        xml(&detail)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn tap(report: &Report) -> String {
    let mut out = format!("TAP version 13\n1..{}\n", report.checks.len());
    for (i, check) in report.checks.iter().enumerate() {
        let status = if check.failure.is_some() {
            "not ok"
        } else {
            "ok"
        };
        let _ = writeln!(
            out,
            "{status} {} - {}: {}",
            i + 1,
            check.group,
            tap_text(&check.name)
        );
        if let Some(failure) = &check.failure {
            out.push_str("  ---\n");
            let _ = writeln!(out, "  reason: {}", yaml(&failure.reason));
            if let Some(input) = &failure.input {
                let _ = writeln!(out, "  input: {}", yaml(input));
            }
            out.push_str("  ...\n");
        } else if let Some(warning) = &check.warning {
            let _ = writeln!(out, "  ---\n  warning: {}\n  ...", yaml(warning));
        }
    }
    out
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if c.is_control() && !matches!(c, '\n' | '\t') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// TAP descriptions end at `#`.
fn tap_text(text: &str) -> String {
    text.replace('#', "\\#")
}

fn yaml(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::conformance::{Check, Failure};

    fn report() -> Report {
        Report {
            plugin: "p.wasm".into(),
            checks: vec![
                Check {
                    group: "battery".into(),
                    name: "loads".into(),
                    failure: None,
                    warning: None,
                    duration: Duration::ZERO,
                },
                Check {
                    group: "cases.toml".into(),
                    name: "a <tricky> #name".into(),
                    failure: Some(Failure {
                        reason: "path: expected \"/a\"\nsecond line".into(),
                        input: Some("GET /x".into()),
                    }),
                    warning: None,
                    duration: Duration::from_millis(2),
                },
            ],
        }
    }

    #[test]
    fn human_report_ends_with_the_counts() {
        let text = render(&report(), Format::Human);
        assert!(text.contains("ok   battery: loads\n"));
        assert!(text.contains("FAIL cases.toml: a <tricky> #name\n       path: expected \"/a\"\n       second line\n       input: GET /x\n"));
        assert!(text.ends_with("1 passed, 1 failed\n"));
    }

    #[test]
    fn warnings_pass_and_are_shown_and_counted_in_every_format() {
        let mut report = report();
        report.checks[0].warning = Some("init accepted \"{not json\"".into());
        let text = render(&report, Format::Human);
        assert!(text.contains("WARN battery: loads\n       warning: init accepted"));
        assert!(text.ends_with("1 passed, 1 failed, 1 warning\n"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render(&report, Format::Json)).unwrap();
        assert_eq!(json["warnings"], 1);
        assert_eq!(json["checks"][0]["passed"], true);
        assert!(json["checks"][0]["warning"].is_string());
        let junit = render(&report, Format::Junit);
        assert!(
            junit.contains("<system-out>warning: init accepted &quot;{not json&quot;</system-out>")
        );
        let tap = render(&report, Format::Tap);
        assert!(
            tap.contains("ok 1 - battery: loads\n  ---\n  warning: "),
            "{tap}"
        );
    }

    #[test]
    fn machine_formats_escape_and_count() {
        let junit = render(&report(), Format::Junit);
        assert!(junit.contains("<testsuites name=\"p.wasm\" tests=\"2\" failures=\"1\">"));
        assert!(junit.contains("name=\"a &lt;tricky&gt; #name\""));
        let tap = render(&report(), Format::Tap);
        assert!(tap.starts_with("TAP version 13\n1..2\nok 1 - battery: loads\nnot ok 2 - cases.toml: a <tricky> \\#name\n"));
        let json: serde_json::Value =
            serde_json::from_str(&render(&report(), Format::Json)).unwrap();
        assert_eq!(json["failed"], 1);
        assert_eq!(json["checks"][1]["input"], "GET /x");
    }
}
