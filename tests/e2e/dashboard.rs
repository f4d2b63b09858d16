//! The admin endpoint's dashboard in a real headless browser (Debian's Chromium, which
//! `scripts/test` installs): after real traffic, a faulting filter and a refused reload, the
//! page it renders shows the filters with their faults, the backends and their health, the
//! reload history with the refusal reason and the last decision traces, read with the bearer
//! token from the URL's fragment; and its screenshot is a rendered page, not a blank one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;
use weir_tests::Backend;

use crate::observability::observed;
use crate::support::TestWeir;

const TOKEN: &str = "dashboard-token-0123456789";

/// Debian's Chromium, or `WEIR_CHROMIUM`.
fn chromium() -> PathBuf {
    let path = std::env::var_os("WEIR_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "{} is missing: install Debian's chromium (scripts/test does: apt-get install -y chromium)",
        path.display()
    );
    path
}

/// Runs headless Chromium on `url` with `action` (`--dump-dom` or `--screenshot=FILE`), letting
/// the page run 5 s of (virtual) time; its stdout. At most 90 s of real time.
fn run_chromium(url: &str, action: &str, profile: &Path) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1280,1100",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(action)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("reader")
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(&png[12..16], b"IHDR");
    (be(16), be(20))
}

#[tokio::test]
async fn the_dashboard_shows_live_filters_backends_reloads_and_traces_in_chromium() {
    let backend = Backend::start("dash").await;
    let weir = TestWeir::start(&observed(&backend, "dash")).await;
    let control = weir.control();
    let admin = weir::admin::serve_with(
        "127.0.0.1:0".parse().expect("addr"),
        Some(std::sync::Arc::from(TOKEN)),
        control.clone(),
    )
    .await
    .expect("admin endpoint");
    for path in ["/fine", "/boom", "/fine/again"] {
        assert_eq!(weir.get("app.test", path).await.status, StatusCode::OK);
    }
    let mut refused = weir::config::parse(&observed(&backend, "dash"), "test.toml", Path::new("/"))
        .expect("config");
    refused.admin = Some(weir::config::AdminConfig {
        bind: "127.0.0.1:1".parse().expect("addr"),
        token: None,
    });
    control.reload(refused).await.expect_err("refused");

    let url = format!("http://{}/dashboard#token={TOKEN}", admin.addr);
    let profile = tempfile::tempdir().expect("profile dir");
    let dom = {
        let (url, profile) = (url.clone(), profile.path().to_owned());
        tokio::task::spawn_blocking(move || run_chromium(&url, "--dump-dom", &profile))
            .await
            .expect("chromium thread")
    };
    assert!(
        dom.contains("data-loaded=\"yes\""),
        "the page never loaded its data:\n{dom}"
    );
    for shown in [
        // Filters, their hooks, the trapping filter's fault, breakers.
        "obs-dash-headers",
        "obs-dash-trap",
        "trap 1",
        "closed",
        // The backend and its health.
        &backend.addr().to_string(),
        "healthy",
        // The reload history with the refusal reason.
        "refused",
        "[admin] cannot change on reload",
        // The last decision traces, edits by name, the skipped faulty filter.
        "GET /fine/again",
        "set-header x-team",
        "skipped (trap)",
    ] {
        assert!(dom.contains(shown), "{shown:?} is not on the page:\n{dom}");
    }
    // No refresh failed (the error line is empty).
    assert!(dom.contains("<span id=\"error\"></span>"), "{dom}");
    assert!(!dom.contains("team-value-secret"), "{dom}");

    // The screenshot is the rendered page: the window's size, and far more detail than a blank
    // page of the same size.
    let shot = profile.path().join("dashboard.png");
    let blank = profile.path().join("blank.png");
    for (page, file) in [(url.as_str(), &shot), ("about:blank", &blank)] {
        let (page, file, dir) = (page.to_owned(), file.clone(), profile.path().join("p"));
        tokio::task::spawn_blocking(move || {
            run_chromium(&page, &format!("--screenshot={}", file.display()), &dir)
        })
        .await
        .expect("chromium thread");
    }
    // To look at it: WEIR_DASHBOARD_SCREENSHOT=/tmp/dashboard.png cargo test ... dashboard
    if let Some(keep) = std::env::var_os("WEIR_DASHBOARD_SCREENSHOT") {
        std::fs::copy(&shot, keep).expect("copy the screenshot");
    }
    let (shot, blank) = (
        std::fs::read(&shot).expect("dashboard screenshot"),
        std::fs::read(&blank).expect("blank screenshot"),
    );
    assert_eq!(png_size(&shot), (1280, 1100));
    assert_eq!(png_size(&blank), (1280, 1100));
    assert!(
        shot.len() > 4 * blank.len() && shot.len() > 20_000,
        "the screenshot looks blank: {} bytes (a blank page: {})",
        shot.len(),
        blank.len()
    );
}
